"""A size limit on replies read by the SDK providers' own HTTP clients, counted as the bytes
arrive, so that a compressed bomb or an endless body fails the call without being held in memory.

httpx-style clients (Anthropic's and Google's SDKs, on httpx or its successor httpx2: whichever
the client comes from): the SDKs read a whole reply before handing it back; a response hook
swaps the reply's byte stream for one that counts the bytes as they arrive, decoded (gzip and
deflate are inflated in bounded steps only to be counted), and stops at the limit. Only gzip and
deflate are asked for, and a reply in any other encoding is refused, since it could not be counted.

botocore clients (Bedrock): botocore reads a whole reply inside its HTTP session's ``send``, before
any hook sees it, and never decodes it (it asks for no compression). Its ``before-send`` event,
whose handler may answer a request itself, sends the request through the client's own session as
a streamed one and hands botocore a body that counts its bytes as botocore reads them.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

#: The encodings asked for: the ones counted here.
ACCEPT_ENCODING = "gzip, deflate"
_STEP = 64 * 1024


class ReplyTooLarge(Exception):
    """A reply went past the size limit (or came in an encoding that cannot be counted)."""


def limit_replies(client: Any, limit: int) -> Any:
    """Make ``client`` (an httpx-style AsyncClient) refuse replies that decode to more than ``limit`` bytes."""
    stream_class = _capped_stream_class(_http_package(client).AsyncByteStream)

    async def cap(response: Any) -> None:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "deflate", ""):
            raise ReplyTooLarge(f"reply in encoding {encoding!r}, whose size cannot be checked")
        response.stream = stream_class(response.stream, limit, encoding)

    client.event_hooks = {**client.event_hooks, "response": [*client.event_hooks.get("response", []), cap]}
    client.headers["Accept-Encoding"] = ACCEPT_ENCODING
    return client


def limit_botocore_replies(client: Any, limit: int) -> Any:
    """Make ``client`` (a botocore client) refuse replies of more than ``limit`` bytes, whole or streamed."""
    # The client's own session: its connection pool, proxies, certificates and timeouts, unchanged.
    session = client._endpoint.http_session

    def send(request: Any, **_: Any) -> Any:
        streamed = request.stream_output
        request.stream_output = True  # the session returns before reading the body
        try:
            response = session.send(request)
        finally:
            request.stream_output = streamed
        response.raw = _CountedBody(response.raw, limit)
        if not streamed:
            _ = response.content  # read here, as the session would have, but counted
        return response

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-send.{service}", send)
    return client


class _CountedBody:
    """A botocore reply's body (a urllib3 response read as it arrives) that stops at the limit,
    dropping the connection."""

    def __init__(self, raw: Any, limit: int):
        self._raw, self._limit, self._size = raw, limit, 0

    def stream(self, amt: int = _STEP, decode_content: bool | None = None) -> Iterator[bytes]:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            yield self._counted(chunk)

    def read(self, amt: int | None = None, **kwargs: Any) -> bytes:
        if amt is None:
            return b"".join(self.stream())
        return self._counted(self._raw.read(amt, **kwargs))

    def _counted(self, chunk: bytes) -> bytes:
        self._size += len(chunk)
        if self._size > self._limit:
            self._raw.close()
            self._raw.release_conn()  # closed: the pool opens a fresh one in its place
            raise ReplyTooLarge(f"reply larger than {self._limit} bytes (decoded)")
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _http_package(client: Any) -> Any:
    """The httpx-style package ``client``'s class comes from (httpx, httpx2, ...)."""
    for cls in type(client).__mro__:
        package = cls.__module__.partition(".")[0]
        if package.startswith("httpx"):
            return importlib.import_module(package)
    raise TypeError(f"{type(client).__name__} is not an httpx client")


@functools.cache
def _capped_stream_class(base: type) -> type:
    class CappedStream(base):  # type: ignore[misc]
        def __init__(self, inner: Any, limit: int, encoding: str):
            self._inner, self._limit = inner, limit
            # wbits 47: a gzip or zlib header, detected.
            self._inflate = zlib.decompressobj(47) if encoding in ("gzip", "deflate") else None

        async def __aiter__(self) -> AsyncIterator[bytes]:
            size = 0
            async for chunk in self._inner:
                size += self._decoded_size(chunk, size)
                if size > self._limit:
                    raise ReplyTooLarge(f"reply larger than {self._limit} bytes (decoded)")
                yield chunk

        def _decoded_size(self, chunk: bytes, size_so_far: int) -> int:
            if self._inflate is None:
                return len(chunk)
            added, data = 0, chunk
            while data and size_so_far + added <= self._limit:
                try:
                    added += len(self._inflate.decompress(data, _STEP))
                except zlib.error:
                    break  # the client's own decoder reports the bad data
                data = self._inflate.unconsumed_tail
            return added

        async def aclose(self) -> None:
            await self._inner.aclose()

    return CappedStream
