"""A size limit on replies read through httpx, for the SDK providers built on it (Anthropic).

The SDKs read a whole reply before handing it back; an httpx response hook swaps the reply's
byte stream for one that counts the bytes as they arrive, decoded (gzip and deflate are
inflated in bounded steps only to be counted), and stops at the limit, so that a compressed
bomb or an endless body fails the call without being held in memory. Only gzip and deflate are
asked for, and a reply in any other encoding is refused, since it could not be counted.
"""

from __future__ import annotations

import zlib
from typing import AsyncIterator

import httpx

#: The encodings asked for: the ones counted here.
ACCEPT_ENCODING = "gzip, deflate"
_STEP = 64 * 1024


class ReplyTooLarge(Exception):
    """A reply went past the size limit (or came in an encoding that cannot be counted)."""


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, encoding: str):
        self._inner, self._limit = inner, limit
        # wbits 47: gzip or zlib header, detected; -15: raw deflate is tried when zlib fails.
        self._inflate = zlib.decompressobj(47) if encoding in ("gzip", "deflate") else None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            if self._inflate is None:
                size += len(chunk)
            else:
                data = chunk
                while data:
                    try:
                        size += len(self._inflate.decompress(data, _STEP))
                    except zlib.error:
                        break  # httpx's own decoder reports the bad data
                    data = self._inflate.unconsumed_tail
                    if size > self._limit:
                        break
            if size > self._limit:
                raise ReplyTooLarge(f"reply larger than {self._limit} bytes (decoded)")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def capped_client(limit: int, **kwargs) -> httpx.AsyncClient:
    """An httpx client whose replies may not decode to more than ``limit`` bytes."""

    async def cap(response: httpx.Response) -> None:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "deflate", ""):
            raise ReplyTooLarge(f"reply in encoding {encoding!r}, whose size cannot be checked")
        response.stream = _CappedStream(response.stream, limit, encoding)

    headers = {"Accept-Encoding": ACCEPT_ENCODING, **kwargs.pop("headers", {})}
    return httpx.AsyncClient(headers=headers, event_hooks={"response": [cap]}, **kwargs)
