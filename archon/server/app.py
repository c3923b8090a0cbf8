"""The HTTP face of archon: architectures served as OpenAI-compatible models (FastAPI).

One ``Archon`` per model, all sharing one runtime (per-provider concurrency caps, providers,
connections) and, when configured, one call cache. A query runs as an asyncio task; a client
that disconnects cancels it, which cancels its outstanding LLM calls.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..engine import Archon, Result, normalize_messages
from ..errors import ArchonError, QueryFailed
from . import openai_schema as wire
from .metrics import Metrics
from .openai_schema import RequestError


@dataclass
class Limits:
    """What one server takes on at once, and the most one request may ask for."""

    max_concurrent_queries: int = 64
    #: Queries that may wait for a slot; past that, 429 with Retry-After.
    max_queued: int = 256
    max_body_bytes: int = 4 * 2**20
    max_messages: int = 512
    max_n: int = 16
    #: Seconds a client told 429 is asked to wait.
    retry_after_s: int = 1


class Gate:
    """At most ``capacity`` architecture runs at once (a request with ``n`` takes ``n`` of them:
    it costs n times the LLM calls), ``queued`` more requests waiting, first come first served;
    the rest are turned away."""

    def __init__(self, capacity: int, queued: int):
        self.capacity = capacity
        self._queued_max = queued
        self._line: deque[tuple[int, asyncio.Future[None]]] = deque()
        self.running = 0
        self.waiting = 0

    def _weight(self, n: int) -> int:
        # A request wanting more than the whole capacity runs alone rather than never.
        return max(1, min(n, self.capacity))

    def reserve(self, n: int = 1) -> bool:
        """Take a place in line now (no await between the check and the count), or say there is none."""
        if (self._line or self.running + self._weight(n) > self.capacity) and self.waiting >= self._queued_max:
            return False
        self.waiting += 1
        return True

    @asynccontextmanager
    async def slot(self, n: int = 1) -> AsyncIterator[None]:
        """Run once ``n`` runs fit; call only after ``reserve(n)`` said yes."""
        weight = self._weight(n)
        try:
            await self._acquire(weight)
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.running -= weight
            self._wake()

    async def _acquire(self, weight: int) -> None:
        if not self._line and self.running + weight <= self.capacity:
            self.running += weight
            return
        entry = (weight, asyncio.get_running_loop().create_future())
        self._line.append(entry)
        try:
            await entry[1]
        except BaseException:
            if entry[1].done() and not entry[1].cancelled():  # let in just as it was given up
                self.running -= weight
            elif entry in self._line:
                self._line.remove(entry)
            self._wake()
            raise

    def _wake(self) -> None:
        """Let in those at the head of the line that fit (in order: a large request is not passed by small ones)."""
        while self._line and self.running + self._line[0][0] <= self.capacity:
            weight, future = self._line.popleft()
            if not future.done():
                self.running += weight
                future.set_result(None)


def _authorized(header: str | None, keys: list[bytes]) -> bool:
    scheme, _, given = (header or "").partition(" ")
    token = given.strip().encode()
    # Every key compared, in constant time, whatever matched: the time taken tells nothing.
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(token, key)
    return ok and scheme.lower() == "bearer"


def _error(e: RequestError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, headers=e.headers)


def create_app(
    models: dict[str, Archon],
    *,
    api_keys: Sequence[str] = (),
    limits: Limits | None = None,
    allowed_origins: Sequence[str] = (),
) -> FastAPI:
    """The app serving ``models`` (name → Archon). Without ``api_keys`` no request is checked.
    ``allowed_origins``: web pages (origins, or "*") whose scripts may call the API from a browser (CORS)."""
    limits = limits or Limits()
    keys = [k.encode() for k in api_keys if k]
    metrics = Metrics()
    gate = Gate(limits.max_concurrent_queries, limits.max_queued)
    metrics.in_flight.set_function(lambda: gate.running)
    metrics.queued.set_function(lambda: gate.waiting)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Shutdown: in-flight queries have finished or been cancelled; close connections and caches.
        for archon in models.values():
            await archon.aclose()

    app = FastAPI(title="archon", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    if allowed_origins:
        # Browsers ask first (a preflight OPTIONS, without the key), then send the key itself.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
        )

    def check_auth(request: Request) -> None:
        if keys and not _authorized(request.headers.get("authorization"), keys):
            raise RequestError(401, "Incorrect API key provided.", code="invalid_api_key")

    @app.exception_handler(RequestError)
    async def request_error(request: Request, e: RequestError) -> JSONResponse:
        return _error(e)

    @app.exception_handler(404)
    async def not_found(request: Request, e: Exception) -> JSONResponse:
        return _error(RequestError(404, f"no such path: {request.method} {request.url.path}", code="not_found"))

    @app.exception_handler(405)
    async def bad_method(request: Request, e: Exception) -> JSONResponse:
        return _error(RequestError(405, f"method {request.method} not allowed on {request.url.path}"))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": len(models), "in_flight": gate.running, "queued": gate.waiting}

    @app.get("/metrics")
    async def metrics_page(request: Request) -> Response:
        # Behind the keys when there are keys: the page names the models served and what they
        # spend. (Prometheus sends one with ``authorization: {credentials: KEY}``.)
        check_auth(request)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    def model_card(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": created, "owned_by": "archon"}

    def unknown_model(name: str) -> RequestError:
        return RequestError(
            404,
            f"The model '{name}' does not exist; GET /v1/models lists the models served",
            param="model",
            code="model_not_found",
        )

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict[str, Any]:
        check_auth(request)
        return {"object": "list", "data": [model_card(name) for name in models]}

    @app.get("/v1/models/{name:path}")
    async def retrieve_model(request: Request, name: str) -> dict[str, Any]:
        check_auth(request)
        if name not in models:
            raise unknown_model(name)
        return model_card(name)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        check_auth(request)
        raw = await _read_body(request, limits.max_body_bytes)
        req, messages, options = wire.parse_request(raw, max_messages=limits.max_messages, max_n=limits.max_n)
        archon = models.get(req.model)
        if archon is None:
            raise unknown_model(req.model)
        try:  # checked before a slot is taken
            normalize_messages(messages)
        except ArchonError as e:
            raise RequestError(400, str(e), param="messages") from None
        if not gate.reserve(req.n):
            metrics.requests.labels(req.model, "429").inc()
            raise RequestError(
                429,
                "too many queries in flight; try again shortly",
                type="requests",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(limits.retry_after_s)},
            )
        ignored = wire.ignored_parameters(req)
        with_trace = bool(options.get("trace"))
        if req.stream:
            include_usage = bool((req.stream_options or {}).get("include_usage"))
            return StreamingResponse(
                _stream(archon, req.model, messages, req.n, include_usage, ignored, with_trace),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await _complete(request, archon, req.model, messages, req.n, ignored, with_trace)

    async def _complete(
        request: Request,
        archon: Archon,
        model: str,
        messages: list[dict[str, str]],
        n: int,
        ignored: list[str],
        with_trace: bool,
    ) -> Response:
        t0 = time.perf_counter()
        status = "499"
        try:
            async with gate.slot(n):
                runs = asyncio.gather(*(_result(archon, messages) for _ in range(n)))
                gone = asyncio.ensure_future(_disconnected(request))
                try:
                    waiting: set[asyncio.Future[Any]] = {runs, gone}
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    gone.cancel()
                    if not runs.done():  # the client left (or the server stops): cancel the query's LLM calls
                        runs.cancel()
                        await asyncio.gather(runs, return_exceptions=True)
            if runs.cancelled():
                return Response(status_code=499)
            results: list[Result] = runs.result()
            metrics.record(model, results)
            failed = next((r.error for r in results if r.error), None)
            if failed:
                status = "502"
                return _error(
                    RequestError(502, f"the architecture found no answer: {failed}", code="architecture_failed")
                )
            status = "200"
            return JSONResponse(
                wire.completion(wire.completion_id(), model, results, wire.archon_block(results, ignored, with_trace))
            )
        finally:
            metrics.requests.labels(model, status).inc()
            metrics.latency.labels(model, "false").observe(time.perf_counter() - t0)

    async def _stream(
        archon: Archon,
        model: str,
        messages: list[dict[str, str]],
        n: int,
        include_usage: bool,
        ignored: list[str],
        with_trace: bool,
    ) -> AsyncIterator[bytes]:
        """The answer as Server-Sent Events; ``n`` runs interleaved. Cancelled (with the
        query's LLM calls) when the client disconnects."""
        t0 = time.perf_counter()
        cid, created_at = wire.completion_id(), int(time.time())
        usage_field = {"usage": None} if include_usage else {}
        status = "499"
        try:
            async with gate.slot(n):
                events: asyncio.Queue[tuple[int, str | Result]] = asyncio.Queue()

                async def run(i: int) -> None:
                    async with aclosing(archon.astream(messages)) as stream:
                        async for event in stream:
                            events.put_nowait((i, event))

                tasks = [asyncio.ensure_future(run(i)) for i in range(n)]
                try:
                    results: list[Result | None] = [None] * n
                    first = True
                    for i in range(n):
                        yield wire.chunk(
                            cid,
                            created_at,
                            model,
                            [
                                {
                                    "index": i,
                                    "delta": {"role": "assistant", "content": ""},
                                    "logprobs": None,
                                    "finish_reason": None,
                                }
                            ],
                            **usage_field,
                        )
                    while any(r is None for r in results):
                        i, event = await events.get()
                        if isinstance(event, Result):
                            results[i] = event
                            if event.error:
                                break
                            yield wire.chunk(
                                cid,
                                created_at,
                                model,
                                [{"index": i, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
                                **usage_field,
                            )
                            continue
                        if first:
                            metrics.first_token.labels(model).observe(time.perf_counter() - t0)
                            first = False
                        yield wire.chunk(
                            cid,
                            created_at,
                            model,
                            [{"index": i, "delta": {"content": event}, "logprobs": None, "finish_reason": None}],
                            **usage_field,
                        )
                finally:
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            done = [r for r in results if r is not None]
            metrics.record(model, done)
            failed = next((r.error for r in done if r.error), None)
            if failed:
                # Never a silently cut answer: the stream ends with an error event, no [DONE].
                status = "502"
                yield wire.error_event(f"the architecture found no answer: {failed}", "architecture_failed")
                return
            if include_usage:
                yield wire.chunk(
                    cid,
                    created_at,
                    model,
                    [],
                    usage=wire.usage_block(done),
                    archon=wire.archon_block(done, ignored, with_trace),
                )
            yield b"data: [DONE]\n\n"
            status = "200"
        finally:
            metrics.requests.labels(model, status).inc()
            metrics.latency.labels(model, "true").observe(time.perf_counter() - t0)

    return app


async def _result(archon: Archon, messages: list[dict[str, str]]) -> Result:
    try:
        return await archon.arun(messages)
    except QueryFailed as e:
        return e.result


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone (the body is already read: the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) once past ``limit`` bytes, whether or not a Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body larger than {limit} bytes", code="request_too_large")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise RequestError(413, f"request body larger than {limit} bytes", code="request_too_large")
    return bytes(body)
