"""An OpenAI-compatible HTTP test double.

Tests and benchmarks start :class:`FakeOpenAIServer` on 127.0.0.1 and point an
OpenAI-compatible client at :attr:`FakeOpenAIServer.base_url`.  The server is
built on the standard library only (``http.server.ThreadingHTTPServer``, one
daemon thread per connection, HTTP/1.1 keep-alive) so it adds no dependency and
little overhead, and it handles hundreds of concurrent connections.

Endpoints
---------
``POST /v1/chat/completions``
    Replies in the ``chat.completion`` format with ``n`` choices (default 1)
    and a ``usage`` block whose token counts are whitespace-split word counts
    (at least 1).  ``"stream": true`` gets a Server-Sent-Events reply, one event per word
    (``token_delay`` seconds apart, after the latency); ``stream_options.include_usage`` adds
    the usage event.
``POST /v1/messages``, ``POST /v1beta/models/{model}:generateContent``, ``POST /model/{id}/converse``
    The Anthropic Messages, Gemini and Bedrock Converse APIs, answered by the same responder,
    behaviours and key checks in their own formats (see :mod:`archon.testing.dialects`), and
    streamed in their own forms: ``"stream": true`` on Messages, ``:streamGenerateContent``,
    ``/converse-stream`` (the same tokens, delays and ``fail_after_tokens`` drops).
``GET /v1/models``
    Lists ``fake-model`` and every model requested so far.
``POST /_control``
    JSON object with any of ``{"reset": true}``, ``{"latency": float}``,
    ``{"enqueue": [behaviour dicts]}``, ``{"rate_limited_keys": [...]}``,
    ``{"required_key": str | null}``, ``{"token_delay": float}`` (applied in that order), so a server
    running in another process can be steered.
``GET /_stats``
    ``{"requests": count, "max_in_flight": n, "in_flight": n, "queued": n,
    "latency": s}``.

The same paths without the ``/v1`` prefix are accepted too.

Command line::

    python -m archon.testing.fake_openai --port 0 --latency 0.2

prints the base URL on its first stdout line and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import select
import signal
import socket
import socketserver
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .dialects import Dialect, Stream, dialect_of

__all__ = [
    "Behaviour",
    "FakeOpenAIServer",
    "RecordedRequest",
    "default_responder",
    "main",
]

Responder = Callable[[dict], "str | list[str]"]

DEFAULT_MODEL_ID = "fake-model"
BAD_JSON_BODY = b'this is not JSON {"choices": ['
MAX_CHOICES = 128
_MAX_LINE = 65537

# status -> (error type, error code), in OpenAI's style.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout", "timeout"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
}

_ERROR_MESSAGES: dict[int, str] = {
    401: "Incorrect API key provided (fake server).",
    429: "Rate limit reached for requests (fake server).",
    500: "The server had an error while processing your request (fake server).",
    503: "The engine is currently overloaded, please try again later (fake server).",
}


# --------------------------------------------------------------------------- data


@dataclass
class Behaviour:
    """A one-shot behaviour consumed by the next matching chat request.

    Attributes:
        status: HTTP status; anything other than 200 replies with an
            OpenAI-style error JSON ``{"error": {"message", "type", "code"}}``.
        delay: extra seconds before replying (overrides the server latency).
        hang: accept the request and never reply; when the server stops the
            connection is closed without a reply.
        bad_json: reply (with ``status``, 200 by default) with a body that is
            not JSON.
        text: reply content; a list gives one string per choice (cycled when
            shorter than ``n``).
        retry_after: sets the ``Retry-After`` header on an error reply.
        model: only applies to requests for this model; ``None`` applies to
            any.  A request takes the first queued behaviour that applies.

    Hostile behaviours, for attack tests (``{key}`` in ``text`` or ``message`` is
    replaced by the API key the request came with, to echo it back):
        message: the error message of a reply with ``status`` other than 200.
        reply_message: the ``message`` object of every choice, sent as it is
            (e.g. ``{"role": "assistant", "content": null}`` or a list of parts).
        usage: the ``usage`` block, sent as it is (any JSON value).
        gzip_bomb: a reply of this many decoded bytes, gzip-compressed as it is
            sent (about 1 KB per MB), chunked, with ``Content-Encoding: gzip``.
        chunked_bytes: a chunked reply of this many bytes, made as it is sent.
        trickle: send the reply one byte at a time, this many seconds apart.

    Streaming (``"stream": true`` requests):
        token_delay: seconds between streamed tokens (overrides the server's ``token_delay``).
        fail_after_tokens: send this many tokens, then drop the connection (0: drop it before the first).
    """

    status: int = 200
    delay: float | None = None
    hang: bool = False
    bad_json: bool = False
    text: str | list[str] | None = None
    retry_after: float | None = None
    model: str | None = None
    message: str | None = None
    reply_message: Any = None
    usage: Any = None
    gzip_bomb: int | None = None
    chunked_bytes: int | None = None
    trickle: float | None = None
    token_delay: float | None = None
    fail_after_tokens: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Behaviour:
        if not isinstance(data, dict):
            raise ValueError(f"a behaviour must be a JSON object, got {data!r}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown behaviour field(s): {sorted(unknown)}")
        b = cls(**data)
        if not isinstance(b.status, int) or not 100 <= b.status <= 599:
            raise ValueError(f"bad status: {b.status!r}")
        if b.delay is not None and (not isinstance(b.delay, (int, float)) or b.delay < 0):
            raise ValueError(f"bad delay: {b.delay!r}")
        return b

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def applies_to(self, model: str | None) -> bool:
        return self.model is None or self.model == model


@dataclass
class RecordedRequest:
    """A chat-completion request the server received.

    ``headers`` has lower-case names; ``body`` is the parsed JSON object (``{}``
    when the body was not a JSON object); ``received_at`` is
    ``time.monotonic()`` when the body had been read, ``replied_at`` when the
    reply was ready (``None`` until then, and for a request that got none).
    Tests read order and overlap from these stamps, never durations. What became of it: ``outcome`` is
    ``None`` while it runs, then ``"done"`` (replied in full), ``"disconnected"`` (the client
    went away first: the call was stopped), ``"failed"`` (a ``fail_after_tokens`` drop) or
    ``"stopped"`` (the server stopped); ``finished_at`` when that was known. A streamed reply's
    ``token_times`` are when each token was sent.
    """

    path: str
    headers: dict[str, str]
    body: dict
    received_at: float
    replied_at: float | None = None
    outcome: str | None = None
    finished_at: float | None = None
    token_times: list[float] = field(default_factory=list)

    def finish(self, outcome: str) -> None:
        if self.outcome is None:
            self.outcome, self.finished_at = outcome, time.monotonic()


# ------------------------------------------------------------------ helpers


def _text_of(content: Any) -> str:
    """The text of a message ``content`` (a string, a list of parts, or None)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return str(content)


def _word_count(text: str) -> int:
    return len(text.split())


def default_responder(body: dict) -> list[str]:
    """``"[<model>] reply <k> to: <first 60 chars of last user message>"`` per choice."""
    model = body.get("model", DEFAULT_MODEL_ID)
    last_user = ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            last_user = _text_of(message.get("content"))
            break
    prefix = last_user[:60]
    n = body.get("n") or 1
    return [f"[{model}] reply {k} to: {prefix}" for k in range(n)]


def _choice_texts(out: Any, n: int) -> list[str]:
    if isinstance(out, str):
        return [out] * n
    texts = [t if isinstance(t, str) else str(t) for t in (out or [])] or [""]
    return [texts[i % len(texts)] for i in range(n)]


def _bearer_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth is None:
        return None
    scheme, _, key = auth.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _error_body(status: int, message: str | None = None) -> bytes:
    err_type, code = _ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    if message is None:
        message = _ERROR_MESSAGES.get(status)
        if message is None:
            try:
                message = f"{HTTPStatus(status).phrase} (fake server)."
            except ValueError:
                message = f"Error {status} (fake server)."
    return _dumps({"error": {"message": message, "type": err_type, "param": None, "code": code}})


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Reply:
    __slots__ = ("body", "chunks", "content_type", "headers", "pause", "status", "stream")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        chunks: Iterable[bytes] | None = None,
        pause: float = 0.0,
        stream: Stream | None = None,
    ):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers
        # A body made as it is sent (chunked transfer encoding), ``pause`` seconds between pieces.
        self.chunks = chunks
        self.pause = pause
        # A streamed reply, to be sent in another API's format (``chunks`` is its OpenAI form).
        self.stream = stream


_BOMB_STEP = 1 << 20


def _gzip_bomb(size: int) -> Iterable[bytes]:
    """``size`` bytes of a JSON-looking reply, gzip-compressed a megabyte at a time."""
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = b'{"choices": [{"message": {"content": "'
    yield gz.compress(head)
    left = size - len(head)
    zeros = b"0" * _BOMB_STEP
    while left > 0:
        piece = gz.compress(zeros[: min(left, _BOMB_STEP)])
        left -= _BOMB_STEP
        if piece:
            yield piece
    yield gz.flush()


def _filler(size: int) -> Iterable[bytes]:
    """``size`` bytes of a JSON-looking reply, made a megabyte at a time."""
    head = b'{"choices": [{"message": {"content": "'
    yield head
    left = size - len(head)
    block = b"x" * _BOMB_STEP
    while left > 0:
        yield block[: min(left, _BOMB_STEP)]
        left -= _BOMB_STEP


def _in_dialect(dialect: Dialect, reply: _Reply) -> _Reply:
    """A chat-completions reply (or error) in the format of ``dialect``'s API."""
    if reply.stream is not None:
        return _Reply(
            200,
            b"",
            content_type=dialect.stream_content_type,
            headers={"Cache-Control": "no-cache"},
            chunks=dialect.stream(reply.stream),
        )
    if reply.chunks is not None:  # a hostile body: sent as it is
        return reply
    try:
        data = json.loads(reply.body)
    except ValueError:  # a bad_json behaviour: sent as it is
        return reply
    if reply.status == 200:
        return _Reply(200, _dumps(dialect.from_completion(data)))
    message = (data.get("error") or {}).get("message", "") if isinstance(data, dict) else ""
    body, extra = dialect.error(reply.status, message)
    return _Reply(reply.status, _dumps(body), headers={**(reply.headers or {}), **extra})


def _error(status: int, message: str | None = None, retry_after: float | None = None) -> _Reply:
    headers = {"Retry-After": _format_seconds(retry_after)} if retry_after is not None else None
    return _Reply(status, _error_body(status, message), headers=headers)


# --------------------------------------------------------------- HTTP plumbing


class _DropConnection(ConnectionAbortedError):
    """Raised by a reply's body to drop the connection mid-reply (a stream that breaks)."""


def _hung_up(conn: socket.socket) -> bool:
    """Whether the client closed its end (an idle, readable socket with nothing to read)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address, handler, fake: FakeOpenAIServer):
        self.fake = fake
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup
        # that can take seconds in sandboxes; the name is only cosmetic.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def handle_error(self, request, client_address) -> None:  # quiet
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._untrack(self.connection)

    def do_GET(self) -> None:
        self.server.fake._dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._dispatch(self, "POST")

    # -- small I/O helpers ------------------------------------------------

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(_MAX_LINE)
                if not line:
                    raise ConnectionError("connection closed mid-body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        line = self.rfile.readline(_MAX_LINE)
                        if line in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(_MAX_LINE)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_reply(self, reply: _Reply) -> None:
        try:
            reason = HTTPStatus(reply.status).phrase
        except ValueError:
            reason = "Unknown"
        if reply.chunks is not None:
            self.close_connection = True  # the client may hang up mid-body
        lines = [
            f"HTTP/1.1 {reply.status} {reason}",
            f"Server: {self.server_version}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
            "Connection: close" if self.close_connection else "Connection: keep-alive",
        ]
        if reply.headers:
            lines.extend(f"{k}: {v}" for k, v in reply.headers.items())
        if reply.chunks is not None:
            lines[3] = "Transfer-Encoding: chunked"
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if reply.chunks is None:
            self.wfile.write(head + reply.body)  # one write: no Nagle/delayed-ACK stall
            return
        self.wfile.write(head)
        stop = self.server.fake._stop_event
        for piece in reply.chunks:  # ends with an OSError when the client hangs up
            if reply.pause and stop.wait(reply.pause):
                return
            if _hung_up(self.connection):
                raise ConnectionResetError("the client hung up")
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


# ------------------------------------------------------------------ the server


class FakeOpenAIServer:
    """An OpenAI-compatible chat-completions server for tests and benchmarks.

    Use as a context manager (``with FakeOpenAIServer() as srv: ...``) or call
    :meth:`start` / :meth:`stop`.  ``latency``, ``responder``,
    ``rate_limited_keys`` and ``required_key`` may be changed while it runs.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        token_delay: float = 0.0,
        responder: Responder | None = None,
        rate_limited_keys: Iterable[str] = (),
        required_key: str | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.latency = float(latency)
        self.token_delay = float(token_delay)
        self.responder = responder
        self.rate_limited_keys: set[str] = set(rate_limited_keys)
        self.required_key = required_key
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._models_seen: set[str] = set()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._port: int | None = None
        self._hold: threading.Barrier | None = None
        self._hold_left = 0

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._server is not None:
            return self
        port = self._port if (self._port and not self._requested_port) else self._requested_port
        self._stop_event = threading.Event()
        server = _HTTPServer((self.host, port), _Handler, self)
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-openai:{self._port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self._stop_event.set()  # wakes hung and sleeping handlers
        if self._hold is not None:
            self._hold.abort()
        server.shutdown()
        server.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive and hung connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=1.0)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` (no ``/v1``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``, for an OpenAI client's ``base_url``."""
        return f"{self.url}/v1"

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<FakeOpenAIServer {where} latency={self.latency}>"

    # -- steering -------------------------------------------------------------

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Queue one-shot behaviours, first in first out."""
        for b in behaviours:
            if not isinstance(b, Behaviour):
                raise TypeError(f"expected Behaviour, got {type(b).__name__}")
        with self._lock:
            self._queue.extend(behaviours)

    def hold(self, parties: int, timeout: float = 30.0) -> None:
        """Hold each of the next ``parties`` chat requests until all of them have arrived, then let all go on.

        A barrier the client must fill: the proof that it sends those requests at once, whatever the
        machine's load. Should they not all arrive within ``timeout`` seconds, the held ones go on anyway
        (and ``max_in_flight`` shows how many came together).
        """
        with self._lock:
            self._hold = threading.Barrier(parties, timeout=timeout)
            self._hold_left = parties

    def outcomes(self, timeout: float = 30.0) -> list[str | None]:
        """What became of each recorded request, once every one of them has ended (or ``timeout`` passed).

        A client can have a whole reply before the server has marked it done: wait for that, not a guess.
        """
        end = time.monotonic() + timeout
        while any(r.outcome is None for r in self.requests) and time.monotonic() < end:
            time.sleep(0.01)
        return [r.outcome for r in self.requests]

    def release(self) -> None:
        """Let the requests held by :meth:`hold` go on now, however many have arrived."""
        with self._lock:
            barrier, self._hold = self._hold, None
        if barrier is not None:
            barrier.abort()

    def reset(self) -> None:
        """Forget recorded requests, queued behaviours and ``max_in_flight``."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self.max_in_flight = self._in_flight

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": len(self.requests),
                "max_in_flight": self.max_in_flight,
                "in_flight": self._in_flight,
                "queued": len(self._queue),
                "latency": self.latency,
            }

    def _take_behaviour(self, model: str | None) -> Behaviour | None:
        with self._lock:
            for i, b in enumerate(self._queue):
                if b.applies_to(model):
                    del self._queue[i]
                    return b
        return None

    # -- connection tracking -------------------------------------------------

    def _track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    # -- request handling ---------------------------------------------------

    def _dispatch(self, h: _Handler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/")
        try:
            if method == "POST" and (path in ("/v1/chat/completions", "/chat/completions") or dialect_of(path)):
                self._chat(h, path)
            elif method == "GET" and path in ("/v1/models", "/models"):
                h.send_reply(self._models(h))
            elif method == "POST" and path == "/_control":
                h.send_reply(self._control(h.read_body()))
            elif method == "GET" and path == "/_stats":
                h.send_reply(_Reply(200, _dumps(self.stats())))
            else:
                if method == "POST":
                    h.read_body()
                h.send_reply(_error(404, f"Unknown path: {method} {path}"))
        except OSError:  # client went away, or the server is stopping
            h.close_connection = True
        except Exception as exc:  # a bug here should not kill the connection silently
            h.close_connection = True
            try:
                h.send_reply(_error(500, f"fake server error: {type(exc).__name__}: {exc}"))
            except OSError:
                pass

    def _models(self, h: _Handler) -> _Reply:
        headers = {k.lower(): v for k, v in h.headers.items()}
        denied = self._auth_error(_bearer_key(headers))
        if denied is not None:
            return denied
        with self._lock:
            ids = [DEFAULT_MODEL_ID, *sorted(self._models_seen - {DEFAULT_MODEL_ID})]
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "archon-fake"} for m in ids]
        return _Reply(200, _dumps({"object": "list", "data": data}))

    def _auth_error(self, key: str | None) -> _Reply | None:
        if self.required_key is not None and key != self.required_key:
            return _error(401)
        if key is not None and key in self.rate_limited_keys:
            return _error(429)
        return None

    def _control(self, raw: bytes) -> _Reply:
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the control body must be a JSON object")
            latency = body.get("latency")
            if latency is not None:
                latency = float(latency)
                if latency < 0:
                    raise ValueError("latency must be >= 0")
            token_delay = body.get("token_delay")
            if token_delay is not None:
                token_delay = float(token_delay)
                if token_delay < 0:
                    raise ValueError("token_delay must be >= 0")
            behaviours = [Behaviour.from_dict(d) for d in body.get("enqueue") or []]
            keys = body.get("rate_limited_keys")
            if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
                raise ValueError("rate_limited_keys must be a list of strings")
            required = body.get("required_key")
            if required is not None and not isinstance(required, str):
                raise ValueError("required_key must be a string or null")
        except (ValueError, TypeError) as exc:
            return _error(400, f"bad control request: {exc}")
        if body.get("reset"):
            self.reset()
        if latency is not None:
            self.latency = latency
        if token_delay is not None:
            self.token_delay = token_delay
        if keys is not None:
            self.rate_limited_keys = set(keys)
        if "required_key" in body:
            self.required_key = required
        if behaviours:
            self.enqueue(*behaviours)
        return _Reply(200, _dumps({"ok": True, **self.stats()}))

    def _chat(self, h: _Handler, path: str) -> None:
        raw = h.read_body()
        received_at = time.monotonic()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in h.headers.items()}
        dialect = dialect_of(path)
        if dialect is not None:
            body, headers = dialect.to_chat(body, headers, path)
        record = RecordedRequest(
            path=path,
            headers=headers,
            body=body if isinstance(body, dict) else {},
            received_at=received_at,
        )
        with self._lock:
            self.requests.append(record)
            self._in_flight += 1
            if self._in_flight > self.max_in_flight:
                self.max_in_flight = self._in_flight
        reply: _Reply | None = None
        try:
            reply = self._chat_reply(body, headers, h, record)
            if dialect is not None and reply is not None:
                reply = _in_dialect(dialect, reply)
        finally:
            # Counted as done before the reply goes out, so a client that has its answer
            # never sees the request still in flight.
            with self._lock:
                self._in_flight -= 1
                if reply is not None:
                    record.replied_at = time.monotonic()
        if reply is None:  # hung, or the server stopped or the client left while waiting
            record.finish("disconnected" if not self._stop_event.is_set() else "stopped")
            h.close_connection = True
            return
        try:
            h.send_reply(reply)
        except _DropConnection:
            record.finish("failed")
            raise
        except OSError:
            record.finish("disconnected" if not self._stop_event.is_set() else "stopped")
            raise
        record.finish("done")

    def _wait(self, h: _Handler, seconds: float | None) -> bool:
        """Wait ``seconds`` (``None``: for ever); False when the server stops or the client
        hangs up first (so that the log shows a cancelled call stopped)."""
        end = None if seconds is None else time.monotonic() + seconds
        while True:
            step = 0.02 if end is None else min(0.02, end - time.monotonic())
            if step <= 0:
                return True
            if self._stop_event.wait(step) or _hung_up(h.connection):
                return False

    def _chat_reply(self, body: Any, headers: dict[str, str], h: _Handler, record: RecordedRequest) -> _Reply | None:
        behaviour: Behaviour | None = None
        reply = self._auth_error(_bearer_key(headers))
        if reply is None:
            reply = self._validate(body)
        if reply is None:
            model = body["model"]
            with self._lock:
                self._models_seen.add(model)
            behaviour = self._take_behaviour(model)
            if behaviour is not None and behaviour.hang:
                self._wait(h, None)
                return None
        self._wait_for_hold()
        delay = self.latency
        if behaviour is not None and behaviour.delay is not None:
            delay = behaviour.delay
        if delay > 0 and not self._wait(h, delay):
            return None
        if reply is not None:
            return reply
        if behaviour is None:
            return self._completion(body, None, None, record)
        key = _bearer_key(headers) or ""
        if behaviour.bad_json:
            return _Reply(behaviour.status, BAD_JSON_BODY)
        if behaviour.gzip_bomb is not None:
            return _Reply(
                behaviour.status, b"", headers={"Content-Encoding": "gzip"}, chunks=_gzip_bomb(behaviour.gzip_bomb)
            )
        if behaviour.chunked_bytes is not None:
            return _Reply(behaviour.status, b"", chunks=_filler(behaviour.chunked_bytes))
        if behaviour.status != 200:
            message = behaviour.message.replace("{key}", key) if behaviour.message is not None else None
            reply = _error(behaviour.status, message, retry_after=behaviour.retry_after)
        else:
            text = behaviour.text
            if text is not None:
                text = [t.replace("{key}", key) for t in text] if isinstance(text, list) else text.replace("{key}", key)
            reply = self._completion(body, text, behaviour, record)
        if behaviour.trickle is not None:
            reply.chunks, reply.pause = [bytes([b]) for b in reply.body], behaviour.trickle
        return reply

    def _wait_for_hold(self) -> None:
        with self._lock:
            barrier = self._hold
            if barrier is not None:
                self._hold_left -= 1
                if self._hold_left == 0:
                    self._hold = None
        if barrier is not None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:  # timed out, or the server stopped
                pass

    @staticmethod
    def _validate(body: Any) -> _Reply | None:
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return _error(400, "You must provide a model parameter.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array.")
        if not all(isinstance(m, dict) for m in messages):
            return _error(400, "Each message must be an object.")
        n = body.get("n")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHOICES):
            return _error(400, f"'n' must be an integer between 1 and {MAX_CHOICES}.")
        return None

    def _completion(
        self,
        body: dict,
        text: str | list[str] | None,
        behaviour: Behaviour | None = None,
        record: RecordedRequest | None = None,
    ) -> _Reply:
        n = body.get("n") or 1
        if text is None:
            responder = self.responder or default_responder
            try:
                text = responder(body)
            except Exception as exc:
                return _error(500, f"responder raised {type(exc).__name__}: {exc}")
        texts = _choice_texts(text, n)
        prompt_tokens = max(1, sum(_word_count(_text_of(m.get("content"))) for m in body["messages"]))
        completion_tokens = sum(max(1, _word_count(t)) for t in texts)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        ident = f"chatcmpl-fake{next(self._ids)}"
        created = int(time.time())
        model = body["model"]
        if body.get("stream"):
            delay = self.token_delay
            if behaviour is not None and behaviour.token_delay is not None:
                delay = behaviour.token_delay
            fail_after = behaviour.fail_after_tokens if behaviour is not None else None
            return self._stream(ident, created, model, texts, usage, body, delay, fail_after, record)
        payload = {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": t},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                for i, t in enumerate(texts)
            ],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }
        if behaviour is not None and behaviour.reply_message is not None:
            for choice in payload["choices"]:
                choice["message"] = behaviour.reply_message
        if behaviour is not None and behaviour.usage is not None:
            payload["usage"] = behaviour.usage
        return _Reply(200, _dumps(payload))

    @staticmethod
    def _stream(
        ident: str,
        created: int,
        model: str,
        texts: list[str],
        usage: dict[str, int],
        body: dict,
        token_delay: float = 0.0,
        fail_after: int | None = None,
        record: RecordedRequest | None = None,
    ) -> _Reply:
        """Server-Sent Events, one per word (its following whitespace included), sent as chunked
        pieces ``token_delay`` seconds apart. (Other APIs' streams are made from the same tokens.)"""

        def tokens() -> Iterable[tuple[int, str]]:
            sent = 0
            for i, t in enumerate(texts):
                for token in re.findall(r"\s*\S+\s*|\s+", t):
                    if fail_after is not None and sent >= fail_after:
                        raise _DropConnection()
                    if token_delay:
                        time.sleep(token_delay)
                    yield i, token
                    sent += 1
                    if record is not None:
                        record.token_times.append(time.monotonic())
            if fail_after is not None:
                raise _DropConnection()

        options = body.get("stream_options")
        stream = Stream(
            ident,
            model,
            texts,
            usage,
            tokens(),
            include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
        )

        def chunk(choices: list[dict], **extra: Any) -> bytes:
            obj = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
            return b"data: " + _dumps(obj) + b"\n\n"

        def events() -> Iterable[bytes]:
            for i in range(len(texts)):
                yield chunk(
                    [
                        {
                            "index": i,
                            "delta": {"role": "assistant", "content": ""},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ]
                )
            for i, token in stream.tokens:
                yield chunk([{"index": i, "delta": {"content": token}, "logprobs": None, "finish_reason": None}])
            for i in range(len(texts)):
                yield chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": "stop"}])
            if stream.include_usage:
                yield chunk([], usage=usage)
            yield b"data: [DONE]\n\n"

        return _Reply(
            200,
            b"",
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
            chunks=events(),
            stream=stream,
        )


# ------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m archon.testing.fake_openai",
        description="Serve a fake OpenAI-compatible API; print its base URL on the first line.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per reply")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed tokens")
    parser.add_argument("--required-key", default=None, help="other API keys get 401")
    parser.add_argument(
        "--rate-limited-key", action="append", default=[], help="API key that always gets 429 (repeatable)"
    )
    args = parser.parse_args(argv)

    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server = FakeOpenAIServer(
        host=args.host,
        port=args.port,
        latency=args.latency,
        token_delay=args.token_delay,
        rate_limited_keys=args.rate_limited_key,
        required_key=args.required_key,
    ).start()
    try:
        sys.stdout.write(server.base_url + "\n")
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
