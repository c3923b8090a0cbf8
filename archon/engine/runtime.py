"""How components reach LLMs: provider lookup, per-provider concurrency, the call cache, retries, tracing."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..config import ComponentConfig
from ..errors import ConfigError, ProviderError
from ..providers.base import ChatRequest, ChatResult, Provider, RetryPolicy, chat_with_retries, stream_with_retries
from ..providers.keys import KeyStore
from ..providers.local import DEFAULT_LOCAL_MODEL
from ..providers.registry import ProviderSettings, ProviderSpec, get_spec
from ..registry import Registry
from .cache import CallCache, call_key
from .trace import CallRecord, ComponentTrace


class Runtime:
    """Shared by every query an ``Archon`` runs: providers are made once, limits hold across queries."""

    def __init__(
        self,
        *,
        keys: KeyStore,
        retry: RetryPolicy,
        concurrency: dict[str, int] | None = None,
        providers: Registry[ProviderSpec] | None = None,
    ):
        self.keys = keys
        self.retry = retry
        self.providers = providers  # None: the global registry
        self.concurrency = _concurrency_caps(concurrency or {}, providers)
        self._providers: dict[tuple[str, str | None, str | None], Provider] = {}  # (provider, base URL, key variable)
        # Semaphores belong to one event loop; keep a set per loop.
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
            weakref.WeakKeyDictionary()
        )
        self._in_flight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[str | None]]] = (
            weakref.WeakKeyDictionary()
        )

    def provider(self, cfg: ComponentConfig) -> Provider:
        spec = get_spec(cfg.model_type, registry=self.providers)
        key = (spec.name, cfg.base_url, cfg.api_key_env)
        p = self._providers.get(key)
        if p is None:
            p = spec.factory(ProviderSettings(base_url=cfg.base_url, api_key_env=cfg.api_key_env, keys=self.keys))
            self._providers[key] = p
        return p

    def in_flight(self) -> dict[str, asyncio.Future[str | None]]:
        """Futures of the cached calls being made now on the running loop, by cache key."""
        return self._in_flight.setdefault(asyncio.get_running_loop(), {})

    def forget_provider(self, name: str) -> None:
        """Drop the provider made for ``name``, so that the next call uses its new registration."""
        for key in [k for k in self._providers if k[0] == name]:
            del self._providers[key]

    def limit(self, provider: Provider) -> asyncio.Semaphore:
        limits = self._limits.setdefault(asyncio.get_running_loop(), {})
        ident = provider.identity()
        sem = limits.get(ident)
        if sem is None:
            n = self.concurrency.get(provider.name) or self.concurrency.get(ident) or provider.default_concurrency
            # First come, first served: a batch's first-layer calls, which have the most work
            # after them, go first, which keeps the cap busy to the end (perf/latency.py).
            sem = limits[ident] = asyncio.Semaphore(n)
        return sem

    async def aclose(self) -> None:
        for p in self._providers.values():
            await p.aclose()


def _share(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` whole shares that add up to it."""
    q, r = divmod(total, max(1, parts))
    return [q + (k < r) for k in range(parts)]


def _concurrency_caps(caps: dict[str, int], providers: Registry[ProviderSpec] | None = None) -> dict[str, int]:
    """Caps by registered provider name (aliases resolved) or by provider identity ("vLLM@URL")."""
    out = {}
    for name, n in caps.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"concurrency for {name!r} must be a positive integer, not {n!r}")
        out[name if "@" in name else get_spec(name, registry=providers).name] = n
    return out


class ComponentContext:
    """What a component may use while it runs: LLM calls through the engine, fallbacks, named state."""

    def __init__(
        self,
        runtime: Runtime,
        config: ComponentConfig,
        trace: ComponentTrace,
        cache: CallCache | None,
        sample_offset: int = 0,
        query_start: float | None = None,
        on_delta: Callable[[str], None] | None = None,
    ):
        self.runtime = runtime
        # Set for the one call whose text is the answer (see ``Archon.astream``): that call is
        # streamed and its text deltas handed to ``on_delta`` as they arrive.
        self.on_delta = on_delta
        # Identical components in one layer draw different samples: the second of two
        # one-sample generators of a model is that model's sample 1, as if one had samples=2.
        self.sample_offset = sample_offset
        self.config = config
        self.trace = trace
        self.cache = cache
        # perf_counter() at the start of the query: calls record when they started relative to it.
        self.query_start = time.perf_counter() if query_start is None else query_start

    def _since_start(self, t: float | None = None) -> float:
        return (time.perf_counter() if t is None else t) - self.query_start

    def fallback(self, reason: str) -> None:
        """Record that the component took its stated default instead of a parsed reply."""
        self.trace.fallback(reason)

    def _record_cached(self, provider: str, model: str, samples: int, hits: dict[str, tuple[str, int, int]]) -> None:
        """Samples answered without a request of ours, as one cached call (tokens as the cache has them)."""
        if samples:
            self.trace.calls.append(
                CallRecord(
                    provider,
                    model,
                    samples=samples,
                    cached=True,
                    input_tokens=sum(h[1] for h in hits.values()),
                    output_tokens=sum(h[2] for h in hits.values()),
                    start_s=self._since_start(),
                )
            )

    async def complete(
        self,
        messages: list[dict[str, str]],
        n: int = 1,
        *,
        tag: str = "",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> list[str]:
        """``n`` samples for ``messages`` from this component's model.

        Cached samples are reused; the rest go in one request where the provider takes ``n``, else
        in concurrent single requests. Samples that fail for good are dropped (and recorded); the
        call raises only when none succeeded.
        """
        cfg = self.config
        provider = self.runtime.provider(cfg)
        model = model or cfg.model or DEFAULT_LOCAL_MODEL
        params: dict[str, Any] = {
            "temperature": cfg.temperature if temperature is None else temperature,
            "max_tokens": max_tokens or cfg.max_tokens,
        }
        if tag:
            params["tag"] = tag
        first = self.sample_offset
        texts: list[str | None] = [None] * n
        keys: list[str] = []
        # With a cache, a call that another component or query is making right now is not made
        # twice: this one waits for that one's answer (single flight).
        shared: dict[int, asyncio.Future[str | None]] = {}
        in_flight = None
        if self.cache is not None:
            ident = provider.identity()
            keys = [call_key(ident, model, messages, params, first + i) for i in range(n)]
            hits = self.cache.get_many(keys)
            for i, k in enumerate(keys):
                if k in hits:
                    texts[i] = hits[k][0]
            self._record_cached(provider.name, model, len(hits), hits)
            in_flight = self.runtime.in_flight()
            for i in range(n):
                if texts[i] is None:
                    if keys[i] in in_flight:
                        shared[i] = in_flight[keys[i]]
                    else:
                        in_flight[keys[i]] = asyncio.get_running_loop().create_future()
        missing = [i for i in range(n) if texts[i] is None and i not in shared]
        errors: list[ProviderError] = []
        streamed = False

        # (No nested function here refers to itself: a closure cycle would leave every call's
        # context for the cyclic garbage collector, whose passes then dominate a busy server.)
        async def request(indices: list[int]) -> list[int]:
            """Ask for ``indices`` in one request; returns those the reply left unanswered."""
            nonlocal streamed
            req = ChatRequest(
                model=model,
                messages=messages,
                temperature=params["temperature"],
                max_tokens=params["max_tokens"],
                n=len(indices),
                seed=first + indices[0],
            )
            queued = time.perf_counter()
            t0 = None  # when the call got past the provider's concurrency cap
            try:
                async with self.runtime.limit(provider):
                    t0 = time.perf_counter()
                    if self.on_delta is not None and n == 1:
                        streamed = True
                        result, attempts = await self._streamed(provider, req, self.on_delta)
                    else:
                        result, attempts = await chat_with_retries(provider, req, self.runtime.retry)
            except ProviderError as e:
                errors.append(e.with_traceback(None))  # its traceback would hold this frame
                t0 = queued if t0 is None else t0
                self.trace.calls.append(
                    CallRecord(
                        provider.name,
                        model,
                        samples=len(indices),
                        attempts=e.attempts,
                        latency_s=time.perf_counter() - t0,
                        error=str(e),
                        start_s=self._since_start(t0),
                        queue_s=t0 - queued,
                    )
                )
                return []
            got = result.texts[: len(indices)]
            if not got:
                errors.append(ProviderError("reply had no choices", provider=provider.name, model=model))
            self.trace.calls.append(
                CallRecord(
                    provider.name,
                    model,
                    samples=len(got),
                    input_tokens=result.input_tokens,
                    output_tokens=result.output_tokens,
                    attempts=attempts,
                    latency_s=time.perf_counter() - t0,
                    start_s=self._since_start(t0),
                    queue_s=t0 - queued,
                    usage_estimated=result.usage_estimated,
                    prompt_tokens_dropped=result.prompt_tokens_dropped,
                )
            )
            for i, text in zip(indices, got):
                texts[i] = text
            if self.cache is not None:
                # One request's tokens shared out over its samples, so that cached totals match.
                ins, outs = _share(result.input_tokens, len(got)), _share(result.output_tokens, len(got))
                self.cache.put_many([(keys[i], t, ins[k], outs[k]) for k, (i, t) in enumerate(zip(indices, got))])
            # A server that ignored `n` gave fewer choices: the rest are asked for one by one.
            return indices[len(got) :] if got else []

        async def request_all(indices: list[int]) -> None:
            rest = await request(indices)
            if rest:
                await asyncio.gather(*(request([i]) for i in rest))

        async def make_own() -> None:
            try:
                if len(missing) == 1:
                    await request_all(missing)
                elif provider.supports_n and missing:
                    step = provider.max_n
                    await asyncio.gather(*(request_all(missing[i : i + step]) for i in range(0, len(missing), step)))
                else:
                    await asyncio.gather(*(request([i]) for i in missing))
            finally:  # waiters get the text, or None when it failed (or this task was cancelled)
                if in_flight is not None:
                    for i in missing:
                        future = in_flight.pop(keys[i], None)
                        if future is not None and not future.done():
                            future.set_result(texts[i])

        async def await_shared() -> None:
            assert self.cache is not None  # calls are shared only through the cache
            got = await asyncio.gather(*shared.values())
            for i, text in zip(shared, got):
                texts[i] = text
            answered = [keys[i] for i in shared if texts[i] is not None]
            self._record_cached(provider.name, model, len(answered), self.cache.get_many(answered))
            # Where the other call failed, try on our own.
            await asyncio.gather(*(request([i]) for i in shared if texts[i] is None))

        if shared:
            await asyncio.gather(make_own(), await_shared())
        else:
            await make_own()
        out = [t for t in texts if t is not None]
        if not out and errors:
            raise errors[0]
        if self.on_delta is not None and n == 1 and out and not streamed:
            self.on_delta(out[0])  # answered from the cache or another query's call: all at once
        return out

    async def _streamed(
        self, provider: Provider, request: ChatRequest, on_delta: Callable[[str], None]
    ) -> tuple[ChatResult, int]:
        """``chat_with_retries``, streamed: deltas go to ``on_delta`` as they arrive."""
        async for event in stream_with_retries(provider, request, self.runtime.retry):
            if isinstance(event, str):
                on_delta(event)
            else:
                return event
        raise AssertionError("stream_with_retries ends with its result")  # pragma: no cover
