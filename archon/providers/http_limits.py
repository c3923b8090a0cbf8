"""A size limit on replies read through an httpx-style client, for the SDK providers built on
one (Anthropic's SDK uses httpx or its successor httpx2: whichever its client comes from).

The SDKs read a whole reply before handing it back; a response hook swaps the reply's byte
stream for one that counts the bytes as they arrive, decoded (gzip and deflate are inflated in
bounded steps only to be counted), and stops at the limit, so that a compressed bomb or an
endless body fails the call without being held in memory. Only gzip and deflate are asked for,
and a reply in any other encoding is refused, since it could not be counted.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import AsyncIterator
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
