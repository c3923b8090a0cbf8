"""OpenAI-compatible chat completions over HTTP: OpenAI, Together, Groq, vLLM, SGLang, Ollama, TGI, llama.cpp server.

Talks to ``{base_url}/chat/completions`` with aiohttp directly: one pooled session per event
loop, no SDK-side retries (the shared retry loop handles those), and key rotation on 429.
aiohttp rather than httpx because its connection pool stays cheap with hundreds of requests in
flight (httpx's pool scans every connection per request; see perf/latency.py).
"""

from __future__ import annotations

import asyncio
import json
import weakref
import zlib
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from ..errors import ProviderError
from .base import RETRYABLE_STATUS, ChatRequest, ChatResult, Provider, result_with_usage, retry_after_seconds
from .keys import KeyRing, StreamRedactor, redact, url_password

#: Bytes read from a reply at a time, so that a reply over the limit is refused as it arrives.
_READ_CHUNK = 64 * 1024
#: What the client decodes itself. aiohttp's own decoder would inflate each network chunk whole
#: (64 KiB of gzip can be 64 MB); ours inflates no more than the limit leaves room for.
_ACCEPT_ENCODING = "gzip, deflate"


class _BoundedDecoder:
    """Content-Encoding decoding that never produces more than it is asked for."""

    def __init__(self, encoding: str):
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise ValueError(f"content encoding {encoding!r} was not asked for")

    def decode(self, chunk: bytes, at_most: int) -> bytes:
        """Up to ``at_most`` decoded bytes of ``chunk`` (more than that means the reply is over its limit)."""
        return chunk if self._z is None else self._z.decompress(chunk, max(1, at_most))


#: Characters of a server's error message kept in an error (after redaction).
_ERROR_CHARS = 300


class OpenAICompatibleProvider(Provider):
    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_keys: list[str],
        supports_n: bool = True,
        concurrency: int = 32,
        key_required: bool = True,
        key_env: str | None = None,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._keys = KeyRing(api_keys)
        # Never shown: the keys, and a password written into the base URL.
        self._secrets = [*api_keys, *filter(None, [url_password(base_url)])]
        self.supports_n = supports_n
        self.default_concurrency = concurrency
        self._key_required = key_required
        self._key_env = key_env
        # Sessions belong to the loop that created them: one per running loop.
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
            weakref.WeakKeyDictionary()
        )
        self._closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
            weakref.WeakKeyDictionary()
        )

    def identity(self) -> str:
        return f"{self.name}@{self.base_url}"

    async def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            # No connection cap here: the engine's per-provider limit bounds requests in flight.
            # No total timeout either: the retry policy's per-call timeout applies.
            session = aiohttp.ClientSession(
                auto_decompress=False,  # decoded by _BoundedDecoder, within the reply size limit
                headers={"Accept-Encoding": _ACCEPT_ENCODING},
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10.0),
            )
            self._sessions[loop] = session
            # Closed when its loop shuts down (asyncio.run finalizes async generators), even if
            # nobody calls aclose().
            closer = _close_at_shutdown(session)
            await closer.__anext__()
            self._closers[loop] = closer
        return session

    def missing_key(self) -> str | None:
        if self._keys or not self._key_required:
            return None
        return (
            f"no API key: set {self._key_env or 'the key variable'} (environment or .env) or give a key file "
            "(--keys FILE; keys=... in Python)"
        )

    def _check_key(self, request: ChatRequest) -> None:
        if reason := self.missing_key():
            raise ProviderError(reason, provider=self.name, model=request.model)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body = {
            "model": request.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.n > 1:
            body["n"] = request.n
        if request.seed is not None and request.extra.get("send_seed"):
            body["seed"] = request.seed
        body.update({k: v for k, v in request.extra.items() if k != "send_seed"})
        return body

    def _http_error(
        self, status: int, raw: bytes, retry_after: float | None, key_index: int, request: ChatRequest
    ) -> ProviderError:
        err = ProviderError(
            f"HTTP {status}: {self._error_message(raw)}",
            provider=self.name,
            model=request.model,
            status=status,
            retryable=status in RETRYABLE_STATUS,
        )
        if status == 429:
            err.retry_after = retry_after
            err.retry_now = self._keys.rate_limited(key_index, retry_after)
        return err

    def _connection_error(self, e: Exception, request: ChatRequest) -> ProviderError:
        return ProviderError(
            f"connection error ({type(e).__name__}) to {_without_userinfo(self.base_url)}",
            provider=self.name,
            model=request.model,
            retryable=True,
        )

    async def chat(self, request: ChatRequest) -> ChatResult:
        self._check_key(request)
        key_index, key = self._keys.current() if self._keys else (0, None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = self._body(request)
        try:
            async with (await self._session()).post(
                f"{self.base_url}/chat/completions", json=body, headers=headers
            ) as resp:
                status = resp.status
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
                raw = await self._read_capped(resp, request)
        except TimeoutError:
            raise ProviderError("request timed out", provider=self.name, model=request.model, retryable=True) from None
        except aiohttp.ClientError as e:
            raise self._connection_error(e, request) from None
        if status != 200:
            raise self._http_error(status, raw, retry_after, key_index, request)
        try:
            data = json.loads(raw)
            choices = data["choices"]
            messages = [c.get("message") or {} for c in choices]
            contents = [m.get("content") for m in messages]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise ProviderError(
                "reply is not a chat completion", provider=self.name, model=request.model, status=200, retryable=True
            ) from None
        # A key echoed back by the server (or the model) goes no further than here.
        texts = [redact(self._content_text(c, request), self._secrets) for c in contents]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return result_with_usage(request, texts, usage.get("prompt_tokens"), usage.get("completion_tokens"))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | ChatResult, None]:
        """One sample as Server-Sent Events (``"stream": true``), deltas passed on as they arrive."""
        if request.n > 1:
            raise ValueError("a stream carries one sample")
        self._check_key(request)
        key_index, key = self._keys.current() if self._keys else (0, None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {**self._body(request), "stream": True, "stream_options": {"include_usage": True}}
        redactor = StreamRedactor(self._secrets)
        parts: list[str] = []
        usage: dict[str, Any] = {}
        try:
            async with (await self._session()).post(
                f"{self.base_url}/chat/completions", json=body, headers=headers
            ) as resp:
                if resp.status != 200:
                    raw = await self._read_capped(resp, request)
                    raise self._http_error(
                        resp.status, raw, retry_after_seconds(resp.headers.get("retry-after")), key_index, request
                    )
                done = False
                async for line in self._lines(resp, request):
                    line = line.strip()
                    if not line.startswith(b"data:"):
                        continue  # comments, event names, keep-alives
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        done = True
                        break
                    delta, chunk_usage = self._stream_event(data, request)
                    if isinstance(chunk_usage, dict):
                        usage = chunk_usage
                    if delta:
                        parts.append(delta)
                        safe = redactor.feed(delta)
                        if safe:
                            yield safe
        except TimeoutError:
            raise ProviderError("request timed out", provider=self.name, model=request.model, retryable=True) from None
        except aiohttp.ClientError as e:
            raise self._connection_error(e, request) from None
        if not done:
            raise ProviderError(
                "stream ended before [DONE]", provider=self.name, model=request.model, status=200, retryable=True
            )
        rest = redactor.flush()
        if rest:
            yield rest
        yield result_with_usage(
            request, [redact("".join(parts), self._secrets)], usage.get("prompt_tokens"), usage.get("completion_tokens")
        )

    def _stream_event(self, data: bytes, request: ChatRequest) -> tuple[str, object]:
        """One event's text delta and usage block (either may be empty)."""
        try:
            event = json.loads(data)
            if "error" in event:
                raise ProviderError(
                    f"error event: {self._error_message(data)}",
                    provider=self.name,
                    model=request.model,
                    status=200,
                    retryable=True,
                )
            choices = event.get("choices") or []
            content = (choices[0].get("delta") or {}).get("content") if choices else None
        except (ValueError, TypeError, AttributeError, IndexError, RecursionError):
            raise ProviderError(
                "stream event is not a chat completion chunk",
                provider=self.name,
                model=request.model,
                status=200,
                retryable=True,
            ) from None
        text = self._content_text(content, request) if content is not None else ""
        return text, event.get("usage")

    async def _decoded(self, resp: aiohttp.ClientResponse, request: ChatRequest) -> AsyncGenerator[bytes, None]:
        """The reply's body, decoded as it arrives and refused once past ``request.max_reply_bytes``
        (the rest is never read: the connection is dropped)."""
        limit = request.max_reply_bytes
        try:
            decoder = _BoundedDecoder(resp.headers.get("Content-Encoding", ""))
        except ValueError as e:
            raise ProviderError(
                f"{e}; not retried", provider=self.name, model=request.model, status=resp.status
            ) from None
        size = 0
        async for chunk in resp.content.iter_chunked(_READ_CHUNK):
            try:
                data = decoder.decode(chunk, limit - size + 1)
            except zlib.error:
                resp.close()
                raise ProviderError(
                    "reply body does not decode as its Content-Encoding says; retried",
                    provider=self.name,
                    model=request.model,
                    status=resp.status,
                    retryable=True,
                ) from None
            size += len(data)
            if size > limit:
                resp.close()
                raise ProviderError(
                    f"reply larger than {limit} bytes (decoded), the most allowed per reply "
                    "(RetryPolicy.max_reply_bytes); not retried",
                    provider=self.name,
                    model=request.model,
                    status=resp.status,
                )
            yield data

    async def _read_capped(self, resp: aiohttp.ClientResponse, request: ChatRequest) -> bytes:
        return b"".join([data async for data in self._decoded(resp, request)])

    async def _lines(self, resp: aiohttp.ClientResponse, request: ChatRequest) -> AsyncGenerator[bytes, None]:
        """The decoded reply, line by line (Server-Sent Events)."""
        pending = b""
        async for data in self._decoded(resp, request):
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                yield line
        if pending:
            yield pending

    def _content_text(self, content: object, request: ChatRequest) -> str:
        """A choice's text: a string, or OpenAI's list of parts with their text parts joined."""
        if isinstance(content, str):
            return content
        if content is None:
            raise ProviderError(
                "reply has no content (null); retried",
                provider=self.name,
                model=request.model,
                status=200,
                retryable=True,
            )
        if isinstance(content, list) and all(isinstance(p, dict) for p in content):
            return "".join(
                p["text"] for p in content if p.get("type", "text") == "text" and isinstance(p.get("text"), str)
            )
        raise ProviderError(
            f"reply content is {type(content).__name__}, not text or a list of text parts; not retried",
            provider=self.name,
            model=request.model,
            status=200,
        )

    def _error_message(self, raw: bytes) -> str:
        try:
            msg = json.loads(raw).get("error", {})
            msg = msg.get("message", "") if isinstance(msg, dict) else str(msg)
        except Exception:
            msg = raw.decode("utf-8", "replace")
        return redact(str(msg), self._secrets, limit=_ERROR_CHARS)

    async def aclose(self) -> None:
        # Only the running loop's client can be closed from here; others close with their loops.
        loop = asyncio.get_running_loop()
        self._sessions.pop(loop, None)
        closer = self._closers.pop(loop, None)
        if closer is not None:
            await closer.aclose()  # its finally closes the session


async def _close_at_shutdown(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.close()


def _without_userinfo(url: str) -> str:
    """The URL as safe to show: any ``user:password@`` part removed."""
    scheme, sep, rest = url.partition("://")
    host, at, path = rest.partition("/")
    return scheme + sep + host.rpartition("@")[2] + at + path
