"""Providers behind optional SDKs: Anthropic, Google (Gemini) and Bedrock.

Each SDK is imported only when its provider is first used, with an install hint if missing.
The SDKs' own retries are turned off: archon's retry loop (backoff, jitter, bounded attempts)
applies, and the errors they raise become ProviderErrors with the HTTP status, retryable or not
by the same rule as for OpenAI-compatible servers. Anthropic and Google keys rotate on a 429.
Each streams through its SDK's streaming call (Anthropic ``stream=True`` events, Google
``generate_content_stream``, Bedrock ``converse_stream``); a stream that ends without its API's
end event is a failed (retryable) call, never a short answer. Each reads replies with its SDK's
own HTTP client, given the size limit of ``RetryPolicy.max_reply_bytes`` (see ``http_limits``).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, get_args

import pydantic

from ..errors import ProviderError
from .base import RETRYABLE_STATUS, ChatRequest, ChatResult, Message, Provider, result_with_usage, retry_after_seconds
from .http_limits import limit_botocore_replies, limit_replies
from .keys import KeyRing, KeyStore, StreamRedactor, redact

#: What an SDK stream yields: text deltas, then (input tokens, output tokens) once its end event
#: has come (the counts as the server reported them, checked by ``result_with_usage``).
SDKEvents = AsyncGenerator[str | tuple[Any, Any], None]

#: Characters of an SDK's error message kept in an error (after redaction).
_ERROR_CHARS = 300


def _import_sdk(provider: str, extra: str, module: str) -> Any:
    """Import an optional SDK, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ProviderError(f"install the extra: pip install 'archon[{extra}]'", provider=provider, model="-") from None


def _split_system(messages: list[Message]) -> tuple[str, list[Message]]:
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
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None


def _retry_after_of(e: Exception) -> float | None:
    response = getattr(e, "response", None)
    headers = (
        response.get("ResponseMetadata", {}).get("HTTPHeaders")
        if isinstance(response, dict)
        else getattr(response, "headers", None)
    )
    try:
        return retry_after_seconds(headers.get("retry-after")) if headers else None
    except (AttributeError, TypeError):
        return None


def _is_transient(e: Exception) -> bool:
    """Connection failures, timeouts and replies cut short (httpx's RemoteProtocolError, aiohttp's
    ClientPayloadError, urllib3's ProtocolError, botocore's ResponseStreamingError), whichever HTTP
    stack the SDK uses."""
    if isinstance(e, (ConnectionError, TimeoutError)):
        return True
    return any(
        word in c.__name__
        for c in type(e).__mro__
        for word in ("Connection", "Timeout", "Protocol", "Payload", "StreamingError", "IncompleteRead")
    )


def _too_large(e: BaseException) -> BaseException | None:
    """The reply-size refusal behind an SDK's error (the SDKs wrap it as a connection error)."""
    seen = set()
    link: BaseException | None = e
    while link is not None and id(link) not in seen:
        if type(link).__name__ == "ReplyTooLarge":
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return None


def sdk_error(provider: str, model: str, e: Exception, secrets: list[str] | tuple[str, ...] = ()) -> ProviderError:
    if (too_large := _too_large(e)) is not None:
        return ProviderError(
            f"{too_large}, the most allowed per reply (RetryPolicy.max_reply_bytes); not retried",
            provider=provider,
            model=model,
        )
    status = _status_of(e)
    # Redacted before it is cut, so that no key cut in two escapes.
    detail = redact(str(e).strip(), secrets, limit=_ERROR_CHARS)
    if status is None and isinstance(e, (json.JSONDecodeError, pydantic.ValidationError)):
        # A reply the SDK could not read: retried, as an OpenAI-compatible reply that does not parse is.
        return ProviderError(
            f"reply does not parse ({type(e).__name__}: {detail})", provider=provider, model=model, retryable=True
        )
    err = ProviderError(
        f"{type(e).__name__}" + (f" (HTTP {status})" if status else "") + (f": {detail}" if detail else ""),
        provider=provider,
        model=model,
        status=status,
        retryable=status in RETRYABLE_STATUS if status is not None else _is_transient(e),
    )
    err.retry_after = _retry_after_of(e)
    return err


async def _relay(
    provider: str,
    request: ChatRequest,
    secrets: list[str],
    events: SDKEvents,
    error: Callable[[Exception], ProviderError],
) -> AsyncGenerator[str | ChatResult, None]:
    """An SDK's stream as a provider's: deltas passed on with keys redacted (a key cut over two
    pieces too), the SDK's errors made ProviderErrors by ``error``; then the ``ChatResult``. The
    reply's size is limited below, as its bytes arrive (see ``http_limits``)."""
    redactor = StreamRedactor(secrets)
    parts: list[str] = []
    usage: tuple[Any, Any] | None = None
    try:
        async for event in events:
            if isinstance(event, tuple):
                usage = event
                continue
            parts.append(event)
            if safe := redactor.feed(event):
                yield safe
    except ProviderError:
        raise
    except Exception as e:
        raise error(e) from None
    finally:
        await events.aclose()
    if usage is None:
        raise ProviderError(
            "stream ended before its end event", provider=provider, model=request.model, status=200, retryable=True
        )
    if rest := redactor.flush():
        yield rest
    yield result_with_usage(request, [redact("".join(parts), secrets)], *usage)


class _KeyedSDKProvider(Provider):
    """An SDK client per (event loop, key); a rate-limited key hands over to the next one."""

    default_concurrency = 16
    key_env = ""

    def __init__(self, api_keys: list[str], base_url: str | None = None, key_env: str | None = None):
        self._keys = KeyRing(api_keys)
        self._base_url = base_url
        self.key_env = key_env or self.key_env
        # SDK clients belong to the loop that made them.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, int], Any]] = (
            weakref.WeakKeyDictionary()
        )

    def identity(self) -> str:
        return f"{self.name}@{self._base_url}" if self._base_url else self.name

    def _make_client(self, key: str, max_reply_bytes: int) -> Any:
        raise NotImplementedError

    async def _call(self, client: Any, request: ChatRequest) -> ChatResult:
        raise NotImplementedError

    async def _stream(self, client: Any, request: ChatRequest) -> SDKEvents:
        raise NotImplementedError
        yield ""

    def missing_key(self) -> str | None:
        if self._keys:
            return None
        return (
            f"no API key: set {self.key_env} (environment or .env) or give a key file (--keys FILE; keys=... in Python)"
        )

    def _client(self, request: ChatRequest) -> tuple[int, Any]:
        """The index of the key in use, and this loop's client for it."""
        if reason := self.missing_key():
            raise ProviderError(reason, provider=self.name, model=request.model)
        index, key = self._keys.current()
        clients = self._clients.setdefault(asyncio.get_running_loop(), {})
        slot = (index, request.max_reply_bytes)
        if slot not in clients:
            clients[slot] = self._make_client(key, request.max_reply_bytes)
        return index, clients[slot]

    def _error(self, index: int, request: ChatRequest, e: Exception) -> ProviderError:
        err = sdk_error(self.name, request.model, e, self._keys.keys)
        if err.status == 429:
            err.retry_now = self._keys.rate_limited(index, err.retry_after)
        return err

    async def chat(self, request: ChatRequest) -> ChatResult:
        index, client = self._client(request)
        try:
            result = await self._call(client, request)
        except Exception as e:
            raise self._error(index, request, e) from None
        # A key echoed back by the server (or the model) goes no further than here.
        result.texts = [redact(t, self._keys.keys) for t in result.texts]
        return result

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | ChatResult, None]:
        index, client = self._client(request)
        async for event in _relay(
            self.name, request, self._keys.keys, self._stream(client, request), lambda e: self._error(index, request, e)
        ):
            yield event

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

    def _kwargs(self, client: Any, request: ChatRequest) -> dict[str, Any]:
        system, msgs = _split_system(request.messages)
        kwargs: dict[str, Any] = {"model": request.model, "messages": msgs, "max_tokens": request.max_tokens}
        # Recent SDKs dropped the `temperature` argument; the API still takes it for the models that use it.
        temperature = min(request.temperature, 1.0)
        if "temperature" in inspect.signature(client.messages.create).parameters:
            kwargs["temperature"] = temperature
        else:
            kwargs["extra_body"] = {"temperature": temperature}
        if system:
            kwargs["system"] = system
        return kwargs

    async def _call(self, client: Any, request: ChatRequest) -> ChatResult:
        r = await client.messages.create(**self._kwargs(client, request))
        text = "".join(getattr(b, "text", "") for b in r.content)
        usage = getattr(r, "usage", None)
        return result_with_usage(
            request, [text], getattr(usage, "input_tokens", None), getattr(usage, "output_tokens", None)
        )

    async def _stream(self, client: Any, request: ChatRequest) -> SDKEvents:
        # The raw events (``stream=True``), not the SDK's helper that also builds the whole message.
        events = await client.messages.create(**self._kwargs(client, request), stream=True)
        input_tokens = output_tokens = None
        async with events:
            async for event in events:
                if event.type == "message_start":
                    input_tokens = getattr(getattr(event.message, "usage", None), "input_tokens", None)
                elif event.type == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    if event.delta.text:
                        yield event.delta.text
                elif event.type == "message_delta":
                    output_tokens = getattr(getattr(event, "usage", None), "output_tokens", None)
                elif event.type == "message_stop":
                    yield input_tokens, output_tokens


class GoogleProvider(_KeyedSDKProvider):
    name = "Google_API"
    key_env = "GOOGLE_API_KEY"

    def __init__(self, api_keys: list[str], base_url: str | None = None, key_env: str | None = None):
        self._genai = _import_sdk(self.name, "google", "google.genai")
        self._types = self._genai.types
        super().__init__(api_keys, base_url, key_env)

    def _make_client(self, key: str, max_reply_bytes: int) -> Any:
        # The SDK reads replies with the httpx client it is given (and then never with aiohttp):
        # one with the reply size limit on top. It follows redirects, as the SDK's own does.
        http = limit_replies(self._httpx_async_client_class()(follow_redirects=True), max_reply_bytes)
        options = self._types.HttpOptions(
            base_url=self._base_url, retry_options=self._types.HttpRetryOptions(attempts=1), httpx_async_client=http
        )
        return _GoogleClient(self._genai.Client(api_key=key, http_options=options).aio, http)

    def _httpx_async_client_class(self) -> Any:
        """The AsyncClient class the installed SDK takes (``HttpOptions.httpx_async_client``):
        httpx2's where it takes that (its default then), else httpx's."""
        accepted = get_args(self._types.HttpOptions.model_fields["httpx_async_client"].annotation)
        classes = [c for c in accepted if c is not type(None)]
        return next((c for c in classes if c.__module__.startswith("httpx2")), classes[0])

    @staticmethod
    def _kwargs(request: ChatRequest) -> dict[str, Any]:
        system, msgs = _split_system(request.messages)
        contents = [
            {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]} for m in msgs
        ]
        config: dict[str, Any] = {"temperature": request.temperature, "max_output_tokens": request.max_tokens}
        if system:
            config["system_instruction"] = system
        return {"model": request.model, "contents": contents, "config": config}

    async def _call(self, client: Any, request: ChatRequest) -> ChatResult:
        r = await client.aio.models.generate_content(**self._kwargs(request))
        u = r.usage_metadata
        # No candidate (a blocked prompt) is an empty answer, not a failure.
        return result_with_usage(
            request, [r.text or ""], getattr(u, "prompt_token_count", None), getattr(u, "candidates_token_count", None)
        )

    async def _stream(self, client: Any, request: ChatRequest) -> SDKEvents:
        chunks = await client.aio.models.generate_content_stream(**self._kwargs(request))
        usage = None
        finished = False
        try:
            async for chunk in chunks:
                candidates = chunk.candidates or []
                first = next((c for c in candidates if (c.index or 0) == 0), None)
                parts = (first.content.parts if first is not None and first.content else None) or []
                # Text parts only (not the model's "thought" parts), as ``.text`` takes them.
                text = "".join(p.text for p in parts if isinstance(p.text, str) and not p.thought)
                if text:
                    yield text
                usage = chunk.usage_metadata or usage
                finished = finished or any(c.finish_reason for c in candidates)
        finally:
            await chunks.aclose()
        # Gemini's stream has no end event of its own: a finish reason says the reply is whole
        # (a blocked prompt gets one too, with no text).
        if finished:
            yield getattr(usage, "prompt_token_count", None), getattr(usage, "candidates_token_count", None)

    async def _close(self, client: Any) -> None:
        # The SDK leaves a client it was given open.
        await client.aio.aclose()
        await client.http.aclose()


class _GoogleClient(NamedTuple):
    """The SDK's async client, and the HTTP client it reads replies with."""

    aio: Any
    http: Any


class BedrockProvider(Provider):
    """Bedrock's Converse API through boto3, whose blocking calls run on a thread pool of this
    provider's own, so that the engine's concurrency cap, not the default pool, bounds them."""

    name = "Bedrock_API"
    default_concurrency = 16
    max_threads = 64

    def __init__(self, keys: KeyStore, base_url: str | None = None):
        self._boto3 = _import_sdk(self.name, "bedrock", "boto3")
        self._config = _import_sdk(self.name, "bedrock", "botocore.config").Config(
            retries={"total_max_attempts": 1},
            max_pool_connections=self.max_threads,
            # archon's per-call timeout applies; botocore's 60 s default would cut long generations.
            read_timeout=600,
        )
        # Credentials from a key file or .env when given there; else boto3's usual chain.
        self._credentials = {
            name.lower(): v
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
            if (v := keys.get(name))
        }
        self._region = keys.get("AWS_REGION") or keys.get("AWS_DEFAULT_REGION")
        self._base_url = base_url
        # A client per reply size limit (one, unless retry policies differ).
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def identity(self) -> str:
        return f"{self.name}@{self._base_url or self._region}"

    def _get_client(self, max_reply_bytes: int) -> Any:
        with self._lock:
            if max_reply_bytes not in self._clients:
                client = self._boto3.session.Session().client(
                    "bedrock-runtime",
                    region_name=self._region,
                    endpoint_url=self._base_url,
                    config=self._config,
                    **self._credentials,
                )
                self._clients[max_reply_bytes] = limit_botocore_replies(client, max_reply_bytes)
            return self._clients[max_reply_bytes]

    def _converse(self, request: ChatRequest) -> Any:
        return self._get_client(request.max_reply_bytes).converse(**self._kwargs(request))

    def _converse_stream(self, request: ChatRequest) -> Any:
        return self._get_client(request.max_reply_bytes).converse_stream(**self._kwargs(request))

    @staticmethod
    def _kwargs(request: ChatRequest) -> dict[str, Any]:
        system, msgs = _split_system(request.messages)
        kwargs: dict[str, Any] = {
            "modelId": request.model,
            "messages": [{"role": m["role"], "content": [{"text": m["content"]}]} for m in msgs],
            "inferenceConfig": {"temperature": request.temperature, "maxTokens": request.max_tokens},
        }
        if system:
            kwargs["system"] = [{"text": system}]
        return kwargs

    def _run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """``fn(*args)`` on this provider's own threads."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_threads, thread_name_prefix="archon-bedrock")
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _error(self, request: ChatRequest, e: Exception) -> ProviderError:
        return sdk_error(self.name, request.model, e, list(self._credentials.values()))

    async def chat(self, request: ChatRequest) -> ChatResult:
        try:
            r = await self._run(self._converse, request)
        except Exception as e:
            raise self._error(request, e) from None
        try:
            text = "".join(c.get("text", "") for c in r["output"]["message"]["content"])
        except (KeyError, TypeError, AttributeError):
            # botocore hands back what it could parse, even from a body that is not a Converse reply.
            raise ProviderError(
                "reply is not a Converse reply", provider=self.name, model=request.model, status=200, retryable=True
            ) from None
        u = r.get("usage") if isinstance(r.get("usage"), dict) else {}
        return result_with_usage(request, [text], u.get("inputTokens"), u.get("outputTokens"))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | ChatResult, None]:
        async for event in _relay(
            self.name,
            request,
            list(self._credentials.values()),
            self._stream(request),
            lambda e: self._error(request, e),
        ):
            yield event

    async def _stream(self, request: ChatRequest) -> SDKEvents:
        events = (await self._run(self._converse_stream, request))["stream"]
        usage: dict[str, Any] = {}
        stopped = False
        each = iter(events)
        try:
            # botocore reads the event stream with blocking calls: one event at a time on a thread.
            while (event := await self._run(next, each, None)) is not None:
                if "contentBlockDelta" in event:
                    text = (event["contentBlockDelta"].get("delta") or {}).get("text")
                    if isinstance(text, str) and text:
                        yield text
                elif "messageStop" in event:
                    stopped = True
                elif "metadata" in event and isinstance(event["metadata"].get("usage"), dict):
                    usage = event["metadata"]["usage"]
        finally:
            events.close()  # also ends a read still waiting on a thread, once the stream is given up
        if stopped:
            yield usage.get("inputTokens"), usage.get("outputTokens")

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
