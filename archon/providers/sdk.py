"""Providers behind optional SDKs: Anthropic, Google (Gemini) and Bedrock.

Each SDK is imported only when its provider is first used, with an install hint if missing.
The SDKs' own retries are turned off: archon's retry loop (backoff, jitter, bounded attempts)
applies, and the errors they raise become ProviderErrors with the HTTP status, retryable or not
by the same rule as for OpenAI-compatible servers. Anthropic and Google keys rotate on a 429.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import ProviderError
from .base import RETRYABLE_STATUS, ChatRequest, ChatResult, Provider, result_with_usage, retry_after_seconds
from .http_limits import limit_replies
from .keys import KeyRing, KeyStore, redact

#: Characters of an SDK's error message kept in an error (after redaction).
_ERROR_CHARS = 300


def _import_sdk(provider: str, extra: str, module: str) -> Any:
    """Import an optional SDK, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ProviderError(f"install the extra: pip install 'archon[{extra}]'", provider=provider, model="-") from None


def _split_system(messages: list[dict]) -> tuple[str, list[dict]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    return system, [m for m in messages if m["role"] != "system"]


def _status_of(e: Exception) -> int | None:
    """The HTTP status an SDK error carries: Anthropic's ``status_code``, Google's ``code``,
    botocore's ``response["ResponseMetadata"]["HTTPStatusCode"]``."""
    for value in (getattr(e, "status_code", None), getattr(e, "code", None)):
        if isinstance(value, int):
            return value
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def _retry_after_of(e: Exception) -> float | None:
    response = getattr(e, "response", None)
    headers = (response.get("ResponseMetadata", {}).get("HTTPHeaders") if isinstance(response, dict)
               else getattr(response, "headers", None))
    try:
        return retry_after_seconds(headers.get("retry-after")) if headers else None
    except (AttributeError, TypeError):
        return None


def _is_transient(e: Exception) -> bool:
    """Connection failures and timeouts, whichever HTTP stack the SDK uses (httpx, aiohttp, urllib3)."""
    if isinstance(e, (ConnectionError, TimeoutError)):
        return True
    return any("Connection" in c.__name__ or "Timeout" in c.__name__ for c in type(e).__mro__)


def _too_large(e: BaseException) -> BaseException | None:
    """The reply-size refusal behind an SDK's error (the SDKs wrap it as a connection error)."""
    seen = set()
    while e is not None and id(e) not in seen:
        if type(e).__name__ == "ReplyTooLarge":
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def sdk_error(provider: str, model: str, e: Exception, secrets: list[str] = ()) -> ProviderError:
    if (too_large := _too_large(e)) is not None:
        return ProviderError(f"{too_large}, the most allowed per reply (RetryPolicy.max_reply_bytes); not retried",
                             provider=provider, model=model)
    status = _status_of(e)
    # Redacted before it is cut, so that no key cut in two escapes.
    detail = redact(str(e).strip(), secrets, limit=_ERROR_CHARS)
    err = ProviderError(f"{type(e).__name__}" + (f" (HTTP {status})" if status else "") + (f": {detail}" if detail else ""),
                        provider=provider, model=model, status=status,
                        retryable=status in RETRYABLE_STATUS if status is not None else _is_transient(e))
    err.retry_after = _retry_after_of(e)
    return err


class _KeyedSDKProvider(Provider):
    """An SDK client per (event loop, key); a rate-limited key hands over to the next one."""

    default_concurrency = 16
    key_env = ""

    def __init__(self, api_keys: list[str], base_url: str | None = None, key_env: str | None = None):
        self._keys = KeyRing(api_keys)
        self._base_url = base_url
        self.key_env = key_env or self.key_env
        # SDK clients belong to the loop that made them.
        self._clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Any]]" = weakref.WeakKeyDictionary()

    def identity(self) -> str:
        return f"{self.name}@{self._base_url}" if self._base_url else self.name

    def _make_client(self, key: str, max_reply_bytes: int) -> Any:
        raise NotImplementedError

    async def _call(self, client: Any, request: ChatRequest) -> ChatResult:
        raise NotImplementedError

    def missing_key(self) -> str | None:
        if self._keys:
            return None
        return f"no API key: set {self.key_env} (environment or .env) or give a key file (--keys FILE; keys=... in Python)"

    async def chat(self, request: ChatRequest) -> ChatResult:
        if reason := self.missing_key():
            raise ProviderError(reason, provider=self.name, model=request.model)
        index, key = self._keys.current()
        clients = self._clients.setdefault(asyncio.get_running_loop(), {})
        slot = (index, request.max_reply_bytes)
        if slot not in clients:
            clients[slot] = self._make_client(key, request.max_reply_bytes)
        try:
            result = await self._call(clients[slot], request)
            # A key echoed back by the server (or the model) goes no further than here.
            result.texts = [redact(t, self._keys.keys) for t in result.texts]
            return result
        except Exception as e:
            err = sdk_error(self.name, request.model, e, self._keys.keys)
            if err.status == 429:
                err.retry_now = self._keys.rate_limited(index, err.retry_after)
            raise err from None

    async def aclose(self) -> None:
        for client in self._clients.pop(asyncio.get_running_loop(), {}).values():
            await self._close(client)

    async def _close(self, client: Any) -> None:
        await client.close()


class AnthropicProvider(_KeyedSDKProvider):
    name = "Anthropic_API"
    key_env = "ANTHROPIC_API_KEY"

    def __init__(self, api_keys: list[str], base_url: str | None = None, key_env: str | None = None):
        self._sdk = _import_sdk(self.name, "anthropic", "anthropic")
        super().__init__(api_keys, base_url, key_env)

    def _make_client(self, key: str, max_reply_bytes: int) -> Any:
        # The SDK's own HTTP client and settings, with the reply size limit on top.
        http = limit_replies(self._sdk.DefaultAsyncHttpxClient(), max_reply_bytes)
        return self._sdk.AsyncAnthropic(api_key=key, base_url=self._base_url, max_retries=0, http_client=http)

    async def _call(self, client: Any, request: ChatRequest) -> ChatResult:
        system, msgs = _split_system(request.messages)
        create = client.messages.create
        kwargs: dict[str, Any] = dict(model=request.model, messages=msgs, max_tokens=request.max_tokens)
        # Recent SDKs dropped the `temperature` argument; the API still takes it for the models that use it.
        temperature = min(request.temperature, 1.0)
        if "temperature" in inspect.signature(create).parameters:
            kwargs["temperature"] = temperature
        else:
            kwargs["extra_body"] = {"temperature": temperature}
        if system:
            kwargs["system"] = system
        r = await create(**kwargs)
        text = "".join(getattr(b, "text", "") for b in r.content)
        usage = getattr(r, "usage", None)
        return result_with_usage(request, [text], getattr(usage, "input_tokens", None),
                                 getattr(usage, "output_tokens", None))


class GoogleProvider(_KeyedSDKProvider):
    name = "Google_API"
    key_env = "GOOGLE_API_KEY"

    def __init__(self, api_keys: list[str], base_url: str | None = None, key_env: str | None = None):
        self._genai = _import_sdk(self.name, "google", "google.genai")
        self._types = self._genai.types
        super().__init__(api_keys, base_url, key_env)

    def _make_client(self, key: str, max_reply_bytes: int) -> Any:
        # No reply size limit: the SDK reads replies with its own HTTP client (see README, Limits).
        options = self._types.HttpOptions(base_url=self._base_url, retry_options=self._types.HttpRetryOptions(attempts=1))
        return self._genai.Client(api_key=key, http_options=options).aio

    async def _call(self, client: Any, request: ChatRequest) -> ChatResult:
        system, msgs = _split_system(request.messages)
        contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                    for m in msgs]
        config: dict[str, Any] = {"temperature": request.temperature, "max_output_tokens": request.max_tokens}
        if system:
            config["system_instruction"] = system
        r = await client.models.generate_content(model=request.model, contents=contents, config=config)
        u = r.usage_metadata
        # No candidate (a blocked prompt) is an empty answer, not a failure.
        return result_with_usage(request, [r.text or ""], getattr(u, "prompt_token_count", None),
                                 getattr(u, "candidates_token_count", None))

    async def _close(self, client: Any) -> None:
        await client.aclose()


class BedrockProvider(Provider):
    """Bedrock's Converse API through boto3, whose blocking calls run on a thread pool of this
    provider's own, so that the engine's concurrency cap, not the default pool, bounds them."""

    name = "Bedrock_API"
    default_concurrency = 16
    max_threads = 64

    def __init__(self, keys: KeyStore, base_url: str | None = None):
        self._boto3 = _import_sdk(self.name, "bedrock", "boto3")
        self._config = _import_sdk(self.name, "bedrock", "botocore.config").Config(
            retries={"total_max_attempts": 1}, max_pool_connections=self.max_threads,
            # archon's per-call timeout applies; botocore's 60 s default would cut long generations.
            read_timeout=600)
        # Credentials from a key file or .env when given there; else boto3's usual chain.
        self._credentials = {name.lower(): v for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
                             if (v := keys.get(name))}
        self._region = keys.get("AWS_REGION") or keys.get("AWS_DEFAULT_REGION")
        self._base_url = base_url
        self._client: Any = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def identity(self) -> str:
        return f"{self.name}@{self._base_url or self._region}"

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._boto3.session.Session().client(
                    "bedrock-runtime", region_name=self._region, endpoint_url=self._base_url, config=self._config,
                    **self._credentials)
            return self._client

    def _converse(self, kwargs: dict) -> dict:
        return self._get_client().converse(**kwargs)

    async def chat(self, request: ChatRequest) -> ChatResult:
        system, msgs = _split_system(request.messages)
        kwargs: dict[str, Any] = dict(
            modelId=request.model,
            messages=[{"role": m["role"], "content": [{"text": m["content"]}]} for m in msgs],
            inferenceConfig={"temperature": request.temperature, "maxTokens": request.max_tokens},
        )
        if system:
            kwargs["system"] = [{"text": system}]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_threads, thread_name_prefix="archon-bedrock")
        try:
            r = await asyncio.get_running_loop().run_in_executor(self._pool, self._converse, kwargs)
        except Exception as e:
            raise sdk_error(self.name, request.model, e, list(self._credentials.values())) from None
        text = "".join(c.get("text", "") for c in r["output"]["message"]["content"])
        u = r.get("usage") if isinstance(r.get("usage"), dict) else {}
        return result_with_usage(request, [text], u.get("inputTokens"), u.get("outputTokens"))

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
