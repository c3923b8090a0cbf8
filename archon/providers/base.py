"""The one interface every provider implements, and the retry loop shared by all of them."""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderError

Message = dict[str, str]

#: HTTP statuses worth another attempt (rate limits, overload, gateway and server errors).
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


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


@dataclass
class ChatResult:
    texts: list[str]
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter on retryable errors (429, 5xx, connection errors, timeouts)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # Per-call timeout in seconds; a hung call counts as a retryable failure.
    timeout: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        d = random.uniform(0, cap)
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

    def identity(self) -> str:
        """What tells this provider apart from others of its kind in cache keys (e.g. its base URL)."""
        return self.name

    async def aclose(self) -> None:  # pragma: no cover - default does nothing
        return None


async def chat_with_retries(provider: Provider, request: ChatRequest, policy: RetryPolicy) -> tuple[ChatResult, int]:
    """Call ``provider`` until it answers or the policy gives up; returns the result and the attempts made."""
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await asyncio.wait_for(provider.chat(request), timeout=policy.timeout)
            return result, attempt
        except asyncio.TimeoutError:
            err = ProviderError(f"timed out after {policy.timeout:g}s", provider=provider.name,
                                model=request.model, retryable=True)
        except ProviderError as e:
            err = e
        if not err.retryable or attempt >= policy.max_attempts:
            raise ProviderError(
                f"failed after {attempt} attempt{'s' if attempt > 1 else ''}: {_reason(err)}",
                provider=provider.name, model=request.model, status=err.status, attempts=attempt,
            ) from None
        # A provider that just switched to a fresh key asks to go again at once.
        if getattr(err, "retry_now", False):
            continue
        await asyncio.sleep(policy.delay(attempt, getattr(err, "retry_after", None)))


def _reason(err: ProviderError) -> str:
    msg = str(err)
    prefix = f"{err.provider} model {err.model!r}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg
