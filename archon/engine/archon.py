"""``Archon``: runs an architecture on one conversation or a batch, async first, with a sync face.

Layers run in order; within a layer every component (and every sample) runs at once; a batch
runs all its queries at once, bounded by per-provider concurrency limits.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from ..components.base import Component, Output, State
from ..components.registry import build_component, component_class, component_registry
from ..config import ArchitectureConfig, load_config
from ..errors import ArchonError, ConfigError, QueryFailed
from ..providers.base import RetryPolicy
from ..providers.keys import KeyStore, redact
from ..providers.registry import generator_spec, get_spec, provider_registry, register_provider
from .cache import CallCache
from .otel import export_trace, otel_enabled, require_otel
from .runtime import ComponentContext, Runtime
from .trace import ComponentTrace, LayerTrace, Result, Trace, json_data

T = TypeVar("T")
Messages = str | Sequence[Mapping[str, str]]


def normalize_messages(messages: Messages) -> list[dict[str, str]]:
    """A prompt string or an OpenAI-style message list, checked."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    out = []
    for i, m in enumerate(messages):
        role, content = (m.get("role"), m.get("content")) if isinstance(m, Mapping) else (None, None)
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise ArchonError(f"message {i}: expected {{'role': system|user|assistant, 'content': str}}")
        out.append({"role": role, "content": content})
    if not out or out[-1]["role"] != "user":
        raise ArchonError("the conversation must end with a user message")
    if not out[-1]["content"].strip():
        raise ArchonError("the prompt is empty: there is nothing to answer")
    return out


class _Planned(NamedTuple):
    component: Component
    provider: str  # registered provider name, for traces
    sample_offset: int


class _LoopThread:
    """A private event loop in a daemon thread, so the sync API reuses connections and limits across calls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="archon-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class Archon:
    """An architecture, ready to answer.

    Args:
        config: a dict, an ``ArchitectureConfig``, or a JSON/YAML file path.
        keys: API keys as a dict or a JSON file path (the environment and ``.env`` are always read too).
        cache: call cache. Default: on for batches (``~/.cache/archon/calls.sqlite`` or ``$ARCHON_CACHE``),
            off for single queries. ``True``: on for both; ``False``: off; a path: that file, on for both.
        retry: retry policy for provider calls (attempts, backoff, per-call timeout).
        concurrency: per-provider caps on concurrent requests, by provider name.
        otel: emit every query's trace as OpenTelemetry spans to the global TracerProvider
            (see :mod:`archon.engine.otel`). Default: ``$ARCHON_OTEL``.
    """

    def __init__(
        self,
        config: str | Path | dict[str, Any] | ArchitectureConfig,
        *,
        keys: Mapping[str, str] | str | Path | None = None,
        cache: bool | str | Path | CallCache | None = None,
        retry: RetryPolicy | None = None,
        concurrency: dict[str, int] | None = None,
        env_file: str | Path | None = ".env",
        otel: bool | None = None,
    ):
        self.config = load_config(config)
        # This Archon's own component types and providers (add_component, add_generator), over the global ones.
        self.component_types = component_registry.child()
        self.providers = provider_registry.child()
        self.otel = otel_enabled(otel)
        if self.otel:
            require_otel()
        self.runtime = Runtime(
            keys=KeyStore(keys, env_file=env_file),
            retry=retry or RetryPolicy(),
            concurrency=concurrency,
            providers=self.providers,
        )
        self._cache_setting = cache
        self._cache: CallCache | None = cache if isinstance(cache, CallCache) else None
        self._layers: list[list[_Planned]] | None = None
        self._loop: _LoopThread | None = None
        self._loop_lock = threading.Lock()

    # --- extension points (the reference code's names) ---------------------------------

    def add_component(self, name: str, component: Any, **declarations: Any) -> None:
        """Register a custom component type (a Component subclass or ``fn(ctx, state)``) for this Archon
        only; ``declarations`` as for :func:`archon.register_component`."""
        self.component_types.register(name, component_class(name, component, **declarations))
        self._layers = None

    def add_generator(self, name: str, fn: Callable[..., Any]) -> None:
        """Register a generator function usable as ``model_type: NAME`` by this Archon only."""
        register_provider(generator_spec(name, fn), registry=self.providers)
        self.runtime.forget_provider(name)
        self._layers = None

    def missing_keys(self) -> list[str]:
        """Why calls of this architecture would fail for want of an API key: one line per provider and model,
        none when all is set.

        Raises ``ConfigError`` for an unknown component type or provider, as building the components does.
        """
        reasons: dict[str, None] = {}
        for layer in self._planned():
            for planned in layer:
                cfg = planned.component.config
                provider = self.runtime.provider(cfg)
                if reason := provider.missing_key():  # worded as the calls' ProviderError would be
                    reasons[f"{provider.name} model {cfg.model!r}: {reason}"] = None
        return list(reasons)

    # --- running ----------------------------------------------------------------------

    @property
    def components(self) -> list[list[Component]]:
        """The architecture's components, per layer, built on first use (then kept).

        Reading it builds them: an unknown component type or provider raises ``ConfigError`` here,
        before any query is sent (e.g. a benchmark run checks its architecture this way).
        """
        return [[p.component for p in layer] for layer in self._planned()]

    def _planned(self) -> list[list[_Planned]]:
        """The built components, per layer, with what every query needs of them (built once)."""
        if self._layers is None:
            layers = []
            for li, layer in enumerate(self.config.layers):
                planned: list[_Planned] = []
                seen: dict[tuple[str, str | None, str | None, float, int], int] = {}  # (provider, base URL, model, ...)
                for ci, cfg in enumerate(layer):
                    try:
                        provider = get_spec(cfg.model_type, registry=self.providers).name
                        component = build_component(cfg, self.component_types)
                    except ConfigError as e:
                        raise ConfigError(f"layer {li + 1}, component {ci + 1} ({cfg.type}): {e}") from None
                    # Components of a layer that make the same calls (same provider, model and
                    # sampling parameters, as the call cache keys them) draw consecutive samples.
                    same = (provider, cfg.base_url, cfg.model, cfg.temperature, cfg.max_tokens)
                    offset = seen.get(same, 0)
                    seen[same] = offset + cfg.samples
                    planned.append(_Planned(component, provider, offset))
                layers.append(planned)
            self._layers = layers
        return self._layers

    def _cache_for(self, batch: bool) -> CallCache | None:
        s = self._cache_setting
        if s is False or (s is None and not batch):
            return None
        if self._cache is None:
            self._cache = CallCache(s if isinstance(s, (str, Path)) else None)  # True, None: the default file
        return self._cache

    async def _run_component(self, component: Component, ctx: ComponentContext, state: State) -> Output | None:
        t0 = time.perf_counter()
        try:
            return await component.run(ctx, state)
        except Exception as e:  # one component failing must not sink the layer
            ctx.trace.error = redact(f"{type(e).__name__}: {e}")
            return None
        finally:
            ctx.trace.latency_s = time.perf_counter() - t0

    def streams_answer(self) -> bool:
        """Whether the answer is one LLM call's text (the last layer is one fuser or generator
        drawing one sample), so that ``astream`` can pass its tokens on as they come."""
        last = self.config.layers[-1]
        return len(last) == 1 and last[0].type in ("fuser", "generator") and last[0].samples == 1

    async def _run_query(
        self, messages: list[dict[str, str]], cache: CallCache | None, on_delta: Callable[[str], None] | None = None
    ) -> Result:
        t0 = time.perf_counter()
        state = State(messages=messages)
        trace = Trace(architecture=self.config.name, started_at=time.time())
        error = None
        for li, layer in enumerate(self._planned()):
            lt = LayerTrace(index=li)
            trace.layers.append(lt)
            lt0 = time.perf_counter()
            lt.start_s = lt0 - t0
            contexts = []
            for p in layer:
                cfg = p.component.config
                ct = ComponentTrace(type=cfg.type, model=cfg.model, provider=p.provider, inputs=state.candidates)
                lt.components.append(ct)
                last = li == len(self.config.layers) - 1
                contexts.append(
                    ComponentContext(
                        self.runtime,
                        cfg,
                        ct,
                        cache,
                        sample_offset=p.sample_offset,
                        query_start=t0,
                        on_delta=on_delta if last and self.streams_answer() else None,
                    )
                )
            outputs = await asyncio.gather(
                *(self._run_component(p.component, ctx, state) for p, ctx in zip(layer, contexts))
            )
            for ct, out in zip(lt.components, outputs):
                if out is not None:
                    ct.outputs = out.candidates if out.candidates is not None else []
                    ct.critiques, ct.unit_tests = out.critiques, out.unit_tests
                    ct.named = json_data(out.named) if out.named else {}
            state = _merge(state, outputs, lt)
            lt.latency_s = time.perf_counter() - lt0
            # A layer may leave no candidates on purpose (unit tests or named state first); the
            # query stops early only when the whole layer failed with nothing to go on.
            all_failed = all(c.error for c in lt.components)
            if not state.candidates and (all_failed or li == len(self.config.layers) - 1):
                error = f"layer {li + 1} left nothing to answer with: " + "; ".join(
                    c.error or f"{c.type} gave no candidates" for c in lt.components
                )
                break
        trace.latency_s = time.perf_counter() - t0
        trace.finish()
        result = Result(
            answer=state.candidates[0] if state.candidates and not error else None,
            candidates=state.candidates if not error else [],
            trace=trace,
            messages=messages,
            state=state.named,
            error=error,
        )
        if self.otel:
            export_trace(trace, messages=messages, answer=result.answer, error=error)
        return result

    async def arun(self, messages: Messages) -> Result:
        """Answer one conversation; raises QueryFailed (with the trace) when nothing is left to answer with."""
        result = await self._run_query(normalize_messages(messages), self._cache_for(batch=False))
        if result.error:
            raise QueryFailed(result.error, result=result)
        return result

    async def astream(self, messages: Messages) -> AsyncGenerator[str | Result, None]:
        """Answer one conversation as a stream: text deltas, then the ``Result`` (with the trace).

        When the answer is one call's text (``streams_answer``), its tokens come as the model
        produces them; otherwise the whole answer comes as one delta once known. A stream cut
        after its first token ends with a Result whose ``error`` says so (the deltas sent are
        not the whole answer); a failed query ends with its Result (``error`` set, no deltas).
        Closing the iterator early cancels the query's outstanding LLM calls."""
        msgs = normalize_messages(messages)
        deltas: asyncio.Queue[str | None] = asyncio.Queue()
        sent: list[str] = []

        def on_delta(text: str) -> None:
            sent.append(text)
            deltas.put_nowait(text)

        async def query() -> Result:
            try:
                return await self._run_query(msgs, self._cache_for(batch=False), on_delta)
            finally:
                deltas.put_nowait(None)

        task = asyncio.ensure_future(query())
        try:
            while (delta := await deltas.get()) is not None:
                yield delta
            result = await task
        finally:
            if not task.done():  # the caller stopped listening: nothing more is spent for nobody
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if sent and result.answer != "".join(sent):
            # The answer's call broke mid-stream (the layer fell back to other candidates, or
            # nothing): what was sent is not the answer.
            causes = "; ".join(result.trace.errors) or "the answer differs from what was streamed"
            result.error = f"the answer's stream broke after {len(''.join(sent))} characters: {causes}"
            result.answer, result.candidates = None, []
        elif not sent and result.answer is not None:
            yield result.answer
        yield result

    async def agenerate(self, messages: Messages) -> str:
        result = await self.arun(messages)
        assert result.answer is not None  # arun raises QueryFailed when nothing answers
        return result.answer

    async def arun_batch(
        self,
        queries: Iterable[Messages],
        *,
        on_result: Callable[[int, Result], Any] | None = None,
        max_concurrent_queries: int = 512,
    ) -> list[Result]:
        """Answer many conversations at once. Failed queries come back with ``error`` set; none is lost.

        ``on_result(index, result)`` is called as each query finishes (e.g. to append to a file).
        """
        cache = self._cache_for(batch=True)
        gate = asyncio.Semaphore(max_concurrent_queries)
        queries = list(queries)
        results: list[Result | None] = [None] * len(queries)

        async def one(i: int, query: Messages) -> None:
            try:
                msgs = normalize_messages(query)
            except ArchonError as e:  # one malformed query fails alone
                r = results[i] = Result(
                    answer=None, candidates=[], trace=Trace(architecture=self.config.name), error=f"query {i}: {e}"
                )
            else:
                async with gate:
                    results[i] = r = await self._run_query(msgs, cache)
            if on_result is not None:
                out = on_result(i, r)
                if asyncio.iscoroutine(out):
                    await out

        await asyncio.gather(*(one(i, q) for i, q in enumerate(queries)))
        return results  # type: ignore[return-value]

    # --- sync face --------------------------------------------------------------------

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._loop_lock:  # threads calling at once must share one loop (and its limits)
            if self._loop is None:
                self._loop = _LoopThread()
                # Closed at exit (or when this object goes) if the caller never calls close().
                self._closer = weakref.finalize(self, _shut_down, self._loop, self.runtime)
            loop = self._loop
        return loop.run(coro)

    def run(self, messages: Messages) -> Result:
        return self._sync(self.arun(messages))

    def generate(self, messages: Messages) -> str:
        """The answer to one conversation (a string or a message list), as in the reference code."""
        return self._sync(self.agenerate(messages))

    def run_batch(self, queries: Iterable[Messages], **kwargs: Any) -> list[Result]:
        return self._sync(self.arun_batch(queries, **kwargs))

    def close(self) -> None:
        """Close provider connections and the private event loop (``with Archon(...)`` does this)."""
        with self._loop_lock:
            if self._loop is not None:
                self._closer()
                self._loop = None
        self._close_cache()

    def _close_cache(self) -> None:
        # A cache the caller passed in is theirs to close.
        if self._cache is not None and not isinstance(self._cache_setting, CallCache):
            self._cache.close()
            self._cache = None

    async def aclose(self) -> None:
        """Close the provider connections made on the running loop, and the call cache
        (``async with Archon(...)`` does this)."""
        await self.runtime.aclose()
        self._close_cache()

    def __enter__(self) -> Archon:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> Archon:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _shut_down(loop: _LoopThread, runtime: Runtime) -> None:
    if threading.current_thread() is loop._thread:
        # Collected on its own loop's thread: it cannot wait for itself; just stop.
        loop.loop.call_soon(loop.loop.stop)
        return
    try:
        loop.run(asyncio.wait_for(runtime.aclose(), 5))
    except Exception:  # closing is best effort at exit
        pass
    loop.stop()


def _merge(state: State, outputs: list[Output | None], lt: LayerTrace) -> State:
    """One layer's outputs become the next layer's input.

    Candidates from the components that produce them are concatenated in component order; if none
    does (critic, unit-test generator) or all failed, the old candidates pass through. Critiques
    stay attached to the candidates they describe: replaced when a component supplies them, dropped
    when new candidates arrive without them.
    """
    done = [o for o in outputs if o is not None]
    if not done:
        lt.note = "every component failed; the previous candidates pass through"
        return state
    producers = [o for o in done if o.candidates is not None]
    named = dict(state.named)
    for o in done:
        named.update(o.named)
    unit_tests = next((o.unit_tests for o in done if o.unit_tests is not None), state.unit_tests)
    if producers:
        candidates = [c for o in producers for c in o.candidates]  # type: ignore[union-attr]
        critiques = (
            [c for o in producers for c in o.critiques]  # type: ignore[union-attr]
            if all(o.critiques is not None for o in producers)
            else None
        )
    else:
        candidates = state.candidates
        critiques = next((o.critiques for o in done if o.critiques is not None), state.critiques)
    return State(
        messages=state.messages, candidates=candidates, critiques=critiques, unit_tests=unit_tests, named=named
    )
