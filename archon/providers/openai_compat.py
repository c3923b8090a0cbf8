"""OpenAI-compatible chat completions over HTTP: OpenAI, Together, Groq, vLLM, SGLang, Ollama, TGI, llama.cpp server.

Talks to ``{base_url}/chat/completions`` with aiohttp directly: one pooled session per event
loop, no SDK-side retries (the shared retry loop handles those), and key rotation on 429.
aiohttp rather than httpx because its connection pool stays cheap with hundreds of requests in
flight (httpx's pool scans every connection per request; see bench/latency.py).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import AsyncGenerator

import aiohttp

from ..errors import ProviderError
from .base import RETRYABLE_STATUS, ChatRequest, ChatResult, Provider, result_with_usage, retry_after_seconds
from .keys import KeyRing, redact, url_password

#: Bytes read from a reply at a time (decoded), so that a reply over the limit is refused as it arrives.
_READ_CHUNK = 64 * 1024
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
        self._sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = weakref.WeakKeyDictionary()
        self._closers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator]" = weakref.WeakKeyDictionary()

    def identity(self) -> str:
        return f"{self.name}@{self.base_url}"

    async def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            # No connection cap here: the engine's per-provider limit bounds requests in flight.
            # No total timeout either: the retry policy's per-call timeout applies.
            session = aiohttp.ClientSession(
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
        return (f"no API key: set {self._key_env or 'the key variable'} (environment or .env) or give a key file "
                "(--keys FILE; keys=... in Python)")

    async def chat(self, request: ChatRequest) -> ChatResult:
        if reason := self.missing_key():
            raise ProviderError(reason, provider=self.name, model=request.model)
        key_index, key = self._keys.current() if self._keys else (0, None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
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
        try:
            async with (await self._session()).post(f"{self.base_url}/chat/completions", json=body, headers=headers) as resp:
                status = resp.status
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
                raw = await self._read_capped(resp, request)
        except asyncio.TimeoutError:
            raise ProviderError("request timed out", provider=self.name, model=request.model, retryable=True) from None
        except aiohttp.ClientError as e:
            raise ProviderError(f"connection error ({type(e).__name__}) to {_without_userinfo(self.base_url)}",
                                provider=self.name, model=request.model, retryable=True) from None
        if status != 200:
            err = ProviderError(
                f"HTTP {status}: {self._error_message(raw)}",
                provider=self.name, model=request.model, status=status,
                retryable=status in RETRYABLE_STATUS,
            )
            if status == 429:
                err.retry_after = retry_after
                err.retry_now = self._keys.rate_limited(key_index, retry_after)
            raise err
        try:
            data = json.loads(raw)
            choices = data["choices"]
            messages = [c.get("message") or {} for c in choices]
            contents = [m.get("content") for m in messages]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise ProviderError("reply is not a chat completion", provider=self.name, model=request.model,
                                status=200, retryable=True) from None
        # A key echoed back by the server (or the model) goes no further than here.
        texts = [redact(self._content_text(c, request), self._secrets) for c in contents]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return result_with_usage(request, texts, usage.get("prompt_tokens"), usage.get("completion_tokens"))

    async def _read_capped(self, resp: aiohttp.ClientResponse, request: ChatRequest) -> bytes:
        """The reply's body, decoded, read as it arrives and refused once past ``request.max_reply_bytes``."""
        limit = request.max_reply_bytes
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_READ_CHUNK):
            body += chunk
            if len(body) > limit:
                resp.close()  # the rest is never read: the connection is dropped
                raise ProviderError(f"reply larger than {limit} bytes (decoded), the most allowed per reply "
                                    "(RetryPolicy.max_reply_bytes); not retried",
                                    provider=self.name, model=request.model, status=resp.status)
        return bytes(body)

    def _content_text(self, content: object, request: ChatRequest) -> str:
        """A choice's text: a string, or OpenAI's list of parts with their text parts joined."""
        if isinstance(content, str):
            return content
        if content is None:
            raise ProviderError("reply has no content (null); retried", provider=self.name, model=request.model,
                                status=200, retryable=True)
        if isinstance(content, list) and all(isinstance(p, dict) for p in content):
            return "".join(p["text"] for p in content if p.get("type", "text") == "text" and isinstance(p.get("text"), str))
        raise ProviderError(f"reply content is {type(content).__name__}, not text or a list of text parts; not retried",
                            provider=self.name, model=request.model, status=200)

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
