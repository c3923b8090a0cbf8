"""The one interface every provider implements, and the retry loop shared by all of them."""

from __future__ import annotations

import asyncio
import math
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ProviderError

Message = dict[str, str]

#: HTTP statuses worth another attempt (rate limits, overload, gateway and server errors).
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})

#: The most bytes one reply may decode to: far above any real completion (128 choices of
#: 32k tokens is about 16 MiB of JSON), far below what would exhaust memory.
DEFAULT_MAX_REPLY_BYTES = 16 * 2**20


@dataclass
class ChatRequest:
    model: str
    messages: list[Message]
    temperature: float = 0.7
    max_tokens: int = 2048
    # Number of samples wanted from this one request; only sent as `n` to providers that accept it.
    n: int = 1
    # Distinguishes otherwise identical requests (sample index); local models use it as a seed.
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # A reply that decodes to more bytes fails the call (not retried); set from RetryPolicy by the retry loop.
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES


@dataclass
class ChatResult:
    texts: list[str]
    input_tokens: int = 0
    output_tokens: int = 0
    # True when the server's token counts were missing or unusable and these are estimates.
    usage_estimated: bool = False
    # Prompt tokens cut to make the prompt fit the model's context (0: it was sent whole).
    prompt_tokens_dropped: int = 0


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters per token), for replies that report none."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def token_count(value: Any) -> int | None:
    """A token count as a server reported it, or None when it is not a finite count
    (usage fields are untrusted: strings, negatives, NaN, infinities, huge floats)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if 0 <= value < 2**53 else None


def result_with_usage(request: ChatRequest, texts: list[str], input_tokens: Any, output_tokens: Any) -> ChatResult:
    """The result with the token counts a server reported, or estimates (marked as such) where
    those are missing or not counts: usage is untrusted input."""
    ins, outs = token_count(input_tokens), token_count(output_tokens)
    estimated = ins is None or outs is None
    if ins is None:
        ins = estimate_tokens(
            "".join(m["content"] if isinstance(m.get("content"), str) else "" for m in request.messages)
        )
    if outs is None:
        outs = sum(map(estimate_tokens, texts))
    return ChatResult(texts, ins, outs, usage_estimated=estimated)


def retry_after_seconds(value: Any) -> float | None:
    """A Retry-After value in seconds, or None when it is not a usable number (an HTTP date,
    a negative, NaN, infinity): then the usual backoff applies. Huge values are capped by
    ``RetryPolicy.delay``."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter on retryable errors (429, 5xx, connection errors, timeouts)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # Per-call deadline in seconds for the whole reply (not between bytes); a call past it
    # counts as a retryable failure.
    timeout: float = 120.0
    # The most bytes one reply may decode to; a larger reply fails its call without being
    # read further, and is not retried.
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the jittered backoff, or the server's
        Retry-After when longer, never more than ``max_delay`` (a negative one is ignored)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        d = random.uniform(0, cap)
        retry_after = retry_after_seconds(retry_after)
        if retry_after is not None:
            d = max(d, min(retry_after, self.max_delay))
        return d


class Provider(ABC):
    """A source of chat completions, registered by name (see ``archon.providers.registry``)."""

    #: Registered name, for traces and errors.
    name: str = "provider"
    #: Whether one request may ask for several samples (`n`).
    supports_n: bool = False
    #: The most samples one request may ask for (OpenAI's limit is 128); more go in several requests.
    max_n: int = 128
    #: Default cap on concurrent requests to this provider (per process).
    default_concurrency: int = 16

    @abstractmethod
    async def chat(self, request: ChatRequest) -> ChatResult:
        """One attempt. Raise ProviderError(retryable=True) for failures worth retrying."""

    def missing_key(self) -> str | None:
        """Why every call would fail for want of an API key (the same words ``chat`` raises), or None."""
        return None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | ChatResult, None]:
        """One attempt at one sample, streamed: text deltas as the model produces them, then the
        ``ChatResult`` (with the whole text). Providers with a streaming API override this; the
        default makes one ``chat`` call and hands its text over as one delta."""
        result = await self.chat(request)
        if result.texts and result.texts[0]:
            yield result.texts[0]
        yield result

    def identity(self) -> str:
        """What tells this provider apart from others of its kind in cache keys (e.g. its base URL)."""
        return self.name

    async def aclose(self) -> None:  # pragma: no cover - default does nothing
        return None


async def chat_with_retries(provider: Provider, request: ChatRequest, policy: RetryPolicy) -> tuple[ChatResult, int]:
    """Call ``provider`` until it answers or the policy gives up; returns the result and the attempts made."""
    request = _capped(request, policy)
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await asyncio.wait_for(provider.chat(request), timeout=policy.timeout)
            return result, attempt
        except TimeoutError:
            err = _timed_out(provider, request, policy)
        except ProviderError as e:
            err = e
        await _before_retry(provider, request, policy, err, attempt)


class StreamBroken(ProviderError):
    """A stream that failed after its first token: what was sent cannot be taken back, so it is
    not retried; the caller must report the answer as cut, never pass it off as whole."""


async def stream_with_retries(
    provider: Provider, request: ChatRequest, policy: RetryPolicy
) -> AsyncGenerator[str | tuple[ChatResult, int], None]:
    """``provider.stream`` under the retry policy: text deltas, then ``(result, attempts)``.

    An attempt that fails before its first delta is retried like any call; one that fails after
    raises ``StreamBroken``. The policy's timeout is a deadline for the whole reply."""
    request = _capped(request, policy)
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        attempt += 1
        deadline = loop.time() + policy.timeout
        sent = 0
        events = provider.stream(request)
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        event = await anext(events)
                except StopAsyncIteration:
                    raise ProviderError(
                        "stream ended without a result", provider=provider.name, model=request.model, retryable=True
                    ) from None
                if isinstance(event, ChatResult):
                    yield event, attempt
                    return
                sent += len(event)
                yield event
        except (TimeoutError, ProviderError) as e:
            err = e if isinstance(e, ProviderError) else _timed_out(provider, request, policy)
        finally:
            await events.aclose()
        if sent:
            raise StreamBroken(
                f"stream broke after {sent} characters: {_reason(err)}",
                provider=provider.name,
                model=request.model,
                status=err.status,
                attempts=attempt,
            ) from None
        await _before_retry(provider, request, policy, err, attempt)


def _capped(request: ChatRequest, policy: RetryPolicy) -> ChatRequest:
    if request.max_reply_bytes == policy.max_reply_bytes:
        return request
    return replace(request, max_reply_bytes=policy.max_reply_bytes)


def _timed_out(provider: Provider, request: ChatRequest, policy: RetryPolicy) -> ProviderError:
    return ProviderError(
        f"timed out after {policy.timeout:g}s", provider=provider.name, model=request.model, retryable=True
    )


async def _before_retry(
    provider: Provider, request: ChatRequest, policy: RetryPolicy, err: ProviderError, attempt: int
) -> None:
    """Raise the final error if ``err`` ends the calls, else wait as long as the policy asks."""
    if not err.retryable or attempt >= policy.max_attempts:
        raise ProviderError(
            f"failed after {attempt} attempt{'s' if attempt > 1 else ''}: {_reason(err)}",
            provider=provider.name,
            model=request.model,
            status=err.status,
            attempts=attempt,
        ) from None
    # A provider that just switched to a fresh key asks to go again at once.
    if not getattr(err, "retry_now", False):
        await asyncio.sleep(policy.delay(attempt, getattr(err, "retry_after", None)))


def _reason(err: ProviderError) -> str:
    msg = str(err)
    prefix = f"{err.provider} model {err.model!r}: "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg
