"""Running an architecture on a benchmark: answer items, score them, summarise.

Two faces of one item loop:

:func:`arun_benchmark` / :func:`run_benchmark` (the keyword fronts of :class:`RunSpec` and :func:`arun`)
    A recorded run: selects the items (:mod:`~archon.benchmarks.splits`), keeps everything in a run
    folder (:mod:`~archon.benchmarks.run_folder`), resumes it, writes the summary
    (:mod:`~archon.benchmarks.summary`) and, on request, the compute-matched baselines
    (:mod:`~archon.benchmarks.baselines`, under ``baselines/<name>/``).
:func:`aevaluate`
    Given items, in memory: what a search asks of each trial. It reports every finished item
    (``on_record``) with the running score and usage, and takes a shared :class:`CallCache`.

Each item gives one record (a line of ``results.jsonl``): ``id``, ``answers`` (one per turn),
``score`` (null when the item could not be scored, e.g. no judge rating parsed), ``details``,
``fallbacks`` (``judge``: count, ``architecture``: the trace's fallback notes), ``usage`` (see
:func:`~archon.benchmarks.summary.usage_of`), ``judge_usage``, ``latency_s`` (the architecture's
time, all turns) and ``error`` (None, or why the item failed). An item whose architecture failed
gets the benchmark's ``worst_score`` (it lost); one whose scoring failed (e.g. the judge's calls
failed) is left unscored (null), since it says nothing about the architecture. A resumed run skips
the ids already recorded (``retry_errors=True`` redoes the failed ones).

Calls go through the call cache (``$ARCHON_CACHE`` or ``~/.cache/archon/calls.sqlite`` by
default), so a rerun, or an item answered before a kill but not yet written, costs nothing.
Usage counts both: ``calls`` are what the architecture needed (made + answered from the cache,
its real cost), ``new_calls`` are the requests this run actually sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..components import calls_per_query
from ..config import ArchitectureConfig, load_config
from ..engine.archon import Archon
from ..engine.cache import CallCache
from ..engine.trace import Trace
from ..errors import ArchonError, QueryFailed
from ..providers.base import RetryPolicy
from . import baselines as compute_matched
from .base import Benchmark, Item, ItemScore, Judge, ScoringContext
from .baseline_answers import BaselineSource, check_baseline_option, check_baselines, source_arg
from .registry import get_benchmark
from .run_folder import (
    RunFolder,
    baseline_source,
    benchmark_info,
    config_dict,
    items_source,
    json_line,
    load_baseline_answers,
)
from .splits import select_items
from .summary import add_usage, empty_usage, summarize, usage_of

__all__ = ["Evaluation", "RunSpec", "aevaluate", "arun", "arun_benchmark", "evaluate", "run", "run_benchmark"]

ConfigSource = str | Path | dict | ArchitectureConfig
# A record of one finished item, and the evaluation it belongs to (with the running score and usage).
OnRecord = Callable[[dict[str, Any], "Evaluation"], None]


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """What one recorded benchmark run is: the architecture, the items, how they are scored, and how it runs.

    Attributes:
        config: the architecture (dict, ArchitectureConfig, JSON/YAML path, or an Archon).
        benchmark: a registered name (see ``list_benchmarks()``) or a Benchmark.
        out_dir: the run folder (created; resumed if it exists; one run at a time).
        data: local data file or folder (else the benchmark's default source).
        split, seed, dev_fraction: ``all``, or the seeded ``dev`` (20%) / ``test`` (80%) part
            (see :func:`~archon.benchmarks.splits.split_items`).
        sample, limit: a seeded random ``sample`` of the split, then its first ``limit`` items.
        items: run exactly these items (skips loading and selection; their fingerprint stands for the data).
        judge: the judge's architecture config (or an async ``judge(messages) -> str``); needed by judged benchmarks.
        judge_retries: how often a judge is re-asked when its verdict does not parse.
        baseline_answers: pairwise baseline answers (JSONL path with id + answers, or {id: [answer per turn]}); for
            a benchmark that judges each category against its own model (Arena-Hard-Auto v2.0), its model answer
            files (a list) or their folder (see :mod:`archon.benchmarks.baseline_answers`).
        baseline_config: generate the pairwise baseline's answers with this config (stored under ``out_dir/baseline/``).
        baselines: also run the compute-matched baselines (single, best-of-N, majority vote; see
            :mod:`archon.benchmarks.baselines`) on the same items under ``out_dir/baselines/<name>/``.
        cache: call cache: None/True the default file, False none, a path that file, or a CallCache (shared).
        concurrency: items answered at once (providers keep their own request limits).
        progress: show a progress bar on stderr (only when it is a terminal).
        retry: the provider retry policy (default: ``RetryPolicy()``).
        keys: API keys (dict or JSON file; the environment and ``.env`` are read too).
        retry_errors: on resume, redo items recorded with an error (default: keep them).

    Resuming into ``out_dir`` is refused (ArchonError) when the architecture, benchmark, judge, data,
    split, seed, sample or pairwise baseline differ from the saved run's; a different ``limit`` is fine.
    """

    config: ConfigSource | Archon
    benchmark: str | Benchmark
    out_dir: str | Path
    data: str | Path | None = None
    split: str = "all"
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    dev_fraction: float = 0.2
    items: Sequence[Item] | None = None
    judge: ConfigSource | Judge | None = None
    judge_retries: int = 2
    baseline_answers: BaselineSource | None = None
    baseline_config: ConfigSource | None = None
    baselines: bool = False
    cache: bool | str | Path | CallCache | None = None
    concurrency: int = 64
    progress: bool = False
    retry: RetryPolicy | None = None
    keys: Mapping[str, str] | str | Path | None = None
    retry_errors: bool = False


@dataclass
class Evaluation:
    """The records of the items answered so far (in finishing order), and what they add up to."""

    benchmark: Benchmark
    name: str  # the architecture's name
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float:
        """The benchmark's headline over the scored items so far (NaN while none is scored)."""
        scored = [ItemScore(float(r["score"])) for r in self.records if r.get("score") is not None]
        scored = [s for s in scored if not math.isnan(s.value)]
        return self.benchmark.aggregate(scored) if scored else float("nan")

    @property
    def usage(self) -> dict[str, Any]:
        """The architecture's calls, tokens and cost so far: ``calls`` (needed; cached ones included),
        ``cached_calls``, ``new_calls`` (sent now), tokens and cost, new and in all."""
        return self._sum("usage")

    @property
    def judge_usage(self) -> dict[str, Any]:
        """The judge's calls, tokens and cost so far (same keys as :attr:`usage`)."""
        return self._sum("judge_usage")

    def summary(self) -> dict[str, Any]:
        """The summary of the records so far (see :func:`~archon.benchmarks.summary.summarize`)."""
        return summarize(self.benchmark, self.records, name=self.name, new_records=self.records)

    def _sum(self, key: str) -> dict[str, Any]:
        total = empty_usage()
        for r in self.records:
            add_usage(total, r.get(key) or {})
        return total


# --------------------------------------------------------------------------- building blocks


def _open_cache(cache: Any) -> tuple[CallCache | None, bool]:
    """(cache, owned): None/True → the default file; False → none; a path → that file; a CallCache → itself."""
    if cache is False:
        return None, False
    if isinstance(cache, CallCache):
        return cache, False
    return CallCache(None if cache in (None, True) else cache), True


def _archon_for(
    config: ConfigSource | Archon, *, keys: Any, cache: CallCache | None, retry: RetryPolicy | None
) -> Archon:
    """An Archon with its components built: unknown component types or providers fail here, before any item runs."""
    a = (
        config
        if isinstance(config, Archon)
        else Archon(config, keys=keys, cache=cache if cache is not None else False, retry=retry)
    )
    a.components  # noqa: B018 - builds them
    return a


def _split_judge(judge: ConfigSource | Judge | None) -> tuple[Judge | None, ArchitectureConfig | None]:
    """(judge function, judge config): a judge is either an async ``judge(messages) -> str`` or an architecture."""
    if judge is None:
        return None, None
    if callable(judge) and not isinstance(judge, (str, Path, dict, ArchitectureConfig)):
        return judge, None
    return None, load_config(judge)


def _check_judge(bench: Benchmark, judge: Any) -> None:
    if bench.needs_judge and judge is None:
        raise ArchonError(
            f"benchmark {bench.name!r} is scored by an LLM judge: give a judge config with --judge CONFIG"
        )


@dataclass
class _Scoring:
    """How items are scored: the judge (an architecture or a function) and the pairwise baseline's answers."""

    judge_archon: Archon | None = None
    judge_fn: Judge | None = None
    baseline: dict[str, list[str]] | None = None
    judge_retries: int = 2

    def context(self, judge_usage: dict[str, Any]) -> ScoringContext:
        """The scoring context of one item; the judge's calls are added to ``judge_usage``."""
        return ScoringContext(judge=self._judge(judge_usage), baseline=self.baseline, judge_retries=self.judge_retries)

    def _judge(self, usage: dict[str, Any]) -> Judge | None:
        if self.judge_fn is not None:
            return self.judge_fn
        judge_archon = self.judge_archon
        if judge_archon is None:
            return None

        async def judge(messages: list[dict[str, str]]) -> str:
            try:
                result = await judge_archon.arun(messages)
            except QueryFailed as e:
                failed = getattr(e, "result", None)  # the engine attaches the failed query's result
                if failed is not None:
                    usage_of([failed.trace], usage)
                raise ArchonError(f"the judge failed: {e}") from None
            usage_of([result.trace], usage)
            return result.answer or ""

        return judge


# --------------------------------------------------------------------------- the item loop


async def _answer_item(archon: Archon, bench: Benchmark, item: Item, scoring: _Scoring | None) -> dict[str, Any]:
    """Answer one item, turn by turn, and score it (unless ``scoring`` is None): its record."""
    answers: list[str] = []
    traces: list[Trace] = []
    latency = queued = 0.0  # queued: waiting for the providers' concurrency caps with no call running
    error: str | None = None
    for t in range(len(item.turns)):
        messages = bench.conversation(item, t, answers)
        try:
            result = await archon.arun(messages)
        except QueryFailed as e:
            error = f"turn {t + 1}: query failed: {e}" if len(item.turns) > 1 else f"query failed: {e}"
            failed = getattr(e, "result", None)  # the engine attaches the failed query's result
            if failed is not None:
                traces.append(failed.trace)
                latency += failed.trace.latency_s
                queued += failed.trace.queued_s
            break
        traces.append(result.trace)
        latency += result.trace.latency_s
        queued += result.trace.queued_s
        answers.append(result.answer or "")
    judge_usage = empty_usage()
    score: float | None = None
    details: dict[str, Any] = {}
    judge_fallbacks = 0
    if scoring is not None and error is not None:
        # The architecture failed: it lost, the bottom of the benchmark's scale.
        score, details = float(bench.worst_score), {"error": error}
    elif scoring is not None:
        try:
            s = await bench.score(item, list(answers), scoring.context(judge_usage))
            score, details, judge_fallbacks = float(s.value), dict(s.details), int(s.fallbacks)
        except Exception as e:  # one item's scoring must not sink the run
            # The judge (or the scorer) failed, not the architecture: the item is left unscored.
            error = f"scoring failed: {type(e).__name__}: {e}"
            details = {"error": error}
    rec: dict[str, Any] = {
        "id": item.id,
        "answers": answers,
        "score": score,
        "details": details,
        "fallbacks": {"judge": judge_fallbacks, "architecture": [f for tr in traces for f in tr.fallbacks]},
        "usage": usage_of(traces),
        "judge_usage": judge_usage,
        "latency_s": latency,
        "queue_s": queued,
        "error": error,
    }
    if any(tr.errors for tr in traces):
        rec["component_errors"] = [e for tr in traces for e in tr.errors]
    return rec


@contextlib.contextmanager
def _progress_bar(enabled: bool, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (when it is a terminal); yields ``advance(errors_so_far)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True, markup=False)  # the description is a config's name, shown as written
    bar = Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total, info="")
        yield lambda errors: bar.update(task, advance=1, info=f"[red]{errors} errors[/red]" if errors else "")


async def _run_items(
    archon: Archon,
    bench: Benchmark,
    items: Sequence[Item],
    *,
    scoring: _Scoring | None,
    concurrency: int,
    progress: bool,
    label: str,
    on_record: Callable[[dict[str, Any]], None],
) -> None:
    """Answer (and score) ``items``, ``concurrency`` at a time; ``on_record`` gets each record as it finishes.
    If ``on_record`` raises, the items still running are cancelled and the error goes on."""
    gate = asyncio.Semaphore(max(1, concurrency))
    errors = 0
    with _progress_bar(progress, label, len(items)) as advance:

        async def one(item: Item) -> None:
            nonlocal errors
            async with gate:
                rec = await _answer_item(archon, bench, item, scoring)
            on_record(rec)
            errors += rec["error"] is not None
            advance(errors)

        tasks = [asyncio.ensure_future(one(it)) for it in items]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# --------------------------------------------------------------------------- evaluating given items


async def aevaluate(
    config: ConfigSource | Archon,
    benchmark: str | Benchmark,
    items: Sequence[Item],
    *,
    judge: ConfigSource | Judge | None = None,
    judge_retries: int = 2,
    baseline_answers: BaselineSource | None = None,
    cache: bool | str | Path | CallCache | None = None,
    concurrency: int = 64,
    retry: RetryPolicy | None = None,
    keys: Mapping[str, str] | str | Path | None = None,
    progress: bool = False,
    on_record: OnRecord | None = None,
) -> Evaluation:
    """Answer and score ``items`` with ``config``, in memory (no run folder): what a search asks of a trial.

    ``on_record(record, evaluation)`` is called as each item finishes, with the evaluation so far
    (its running :attr:`Evaluation.score` and :attr:`Evaluation.usage`); an exception it raises
    (e.g. a pruned trial) cancels the items still running and goes on to the caller. Pass one
    :class:`CallCache` as ``cache`` to share answers between calls: ``usage["new_calls"]`` counts the
    requests this call sent, ``usage["cached_calls"]`` those the cache answered. An Archon passed as
    ``config`` is used as it is (its own cache setting) and left open for the next call.
    """
    bench = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    items = list(items)
    _check_judge(bench, judge)
    judge_fn, judge_cfg = _split_judge(judge)
    baseline = load_baseline_answers(baseline_answers) if baseline_answers is not None else None
    check_baselines(bench, items, baseline)
    cache_obj, owned = _open_cache(cache)
    archon = judge_archon = None
    try:
        archon = _archon_for(config, keys=keys, cache=cache_obj, retry=retry)
        if judge_cfg is not None:
            judge_archon = _archon_for(judge_cfg, keys=keys, cache=cache_obj, retry=retry)
        evaluation = Evaluation(bench, archon.config.name)

        def record(rec: dict[str, Any]) -> None:
            evaluation.records.append(rec)
            if on_record is not None:
                on_record(rec, evaluation)

        scoring = _Scoring(judge_archon, judge_fn, baseline, judge_retries)
        await _run_items(
            archon,
            bench,
            items,
            scoring=scoring,
            concurrency=concurrency,
            progress=progress,
            label=archon.config.name,
            on_record=record,
        )
    finally:
        for a in (archon, judge_archon):
            if a is not None and a is not config:
                await a.aclose()
        if owned and cache_obj is not None:
            cache_obj.close()
    return evaluation


def evaluate(*args: Any, **kwargs: Any) -> Evaluation:
    """Sync face of :func:`aevaluate` (same arguments)."""
    return _sync(aevaluate(*args, **kwargs))


# --------------------------------------------------------------------------- recorded runs


async def _resume(
    folder: RunFolder,
    archon: Archon,
    bench: Benchmark,
    items: Sequence[Item],
    *,
    scoring: _Scoring | None,
    concurrency: int,
    progress: bool,
    label: str,
    retry_errors: bool = False,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Answer the items not yet recorded in ``folder`` (and the failed ones with ``retry_errors``), appending
    each record as it finishes. Returns all records by id and those made now."""
    recorded = folder.results()
    todo = [it for it in items if it.id not in recorded or (retry_errors and recorded[it.id].get("error"))]
    new: list[dict[str, Any]] = []
    if todo:
        with folder.append_results() as fh:

            def record(rec: dict[str, Any]) -> None:
                fh.write(json_line(rec) + "\n")
                fh.flush()
                recorded[rec["id"]] = rec
                new.append(rec)

            await _run_items(
                archon,
                bench,
                todo,
                scoring=scoring,
                concurrency=concurrency,
                progress=progress,
                label=label,
                on_record=record,
            )
    return recorded, new


async def _generate_answers(
    config: ArchitectureConfig,
    bench: Benchmark,
    items: Sequence[Item],
    folder: RunFolder,
    *,
    items_record: dict[str, Any],
    spec: RunSpec,
    cache: CallCache | None,
) -> dict[str, list[str]]:
    """Answers only (no scoring), e.g. a pairwise baseline's; stored and resumed like a run."""
    archon = _archon_for(config, keys=spec.keys, cache=cache, retry=spec.retry)
    try:
        with folder.locked():
            folder.record(
                {
                    "architecture": config_dict(archon.config),
                    "benchmark": benchmark_info(bench),
                    "judge": None,
                    "generate_only": True,
                    "items": items_record,
                    "baseline": None,
                    "args": {"items": len(items)},
                }
            )
            records, _ = await _resume(
                folder,
                archon,
                bench,
                items,
                scoring=None,
                concurrency=spec.concurrency,
                progress=spec.progress,
                label=f"baseline {archon.config.name}",
            )
    finally:
        await archon.aclose()
    return {i: r["answers"] for i, r in records.items() if not r.get("error") and r.get("answers")}


def _cache_arg(cache: Any) -> Any:
    """How the cache was asked for, as config.json records it."""
    if cache is None or cache is True:
        return None
    if cache is False:
        return False
    return str(cache.path if isinstance(cache, CallCache) else cache)


async def arun(spec: RunSpec, *, _sources: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run ``spec``; write ``out_dir/{config.json,results.jsonl,summary.json}``; return the summary.

    ``_sources`` (internal): the compute-matched baselines' sub-runs record their parent run's items and baseline.
    """
    bench = get_benchmark(spec.benchmark) if isinstance(spec.benchmark, str) else spec.benchmark
    folder = RunFolder(spec.out_dir)

    # Everything that can be wrong is checked before the first call (the judge before loading any data).
    judge_fn, judge_cfg = _split_judge(spec.judge)
    _check_judge(bench, spec.judge)
    if spec.baseline_answers is not None and spec.baseline_config is not None:
        raise ArchonError("give either baseline answers or a baseline config, not both")
    for given, what in ((spec.baseline_answers, "baseline answers"), (spec.baseline_config, "a baseline config")):
        if given is not None:
            check_baseline_option(bench, what)
    arch_cfg = spec.config.config if isinstance(spec.config, Archon) else load_config(spec.config)
    base_cfg = load_config(spec.baseline_config) if spec.baseline_config is not None else None
    if spec.items is None:
        loaded = bench.load(spec.data)
        items = select_items(
            loaded,
            split=spec.split,
            limit=spec.limit,
            sample=spec.sample,
            seed=spec.seed,
            dev_fraction=spec.dev_fraction,
        )
    else:
        loaded = items = list(spec.items)
    baseline = load_baseline_answers(spec.baseline_answers) if spec.baseline_answers is not None else None
    if base_cfg is None and _sources is None:  # a sub-run scores like its parent: a missing answer is an item's error
        check_baselines(bench, items, baseline)
    sources = _sources or {
        "items": items_source(
            spec.data, loaded, split=spec.split, dev_fraction=spec.dev_fraction, seed=spec.seed, sample=spec.sample
        ),
        "baseline": baseline_source(baseline, base_cfg),
    }

    cache_obj, owned = _open_cache(spec.cache)
    archon = judge_archon = None
    try:
        archon = _archon_for(
            spec.config if isinstance(spec.config, Archon) else arch_cfg,
            keys=spec.keys,
            cache=cache_obj,
            retry=spec.retry,
        )
        if judge_cfg is not None:
            judge_archon = _archon_for(judge_cfg, keys=spec.keys, cache=cache_obj, retry=spec.retry)
        info = {
            "architecture": config_dict(arch_cfg),
            "benchmark": benchmark_info(bench),
            "judge": config_dict(judge_cfg) if judge_cfg is not None else ("custom" if judge_fn else None),
            "generate_only": False,
            **sources,
            "args": {
                "data": str(spec.data) if spec.data is not None else None,
                "split": spec.split,
                "limit": spec.limit,
                "sample": spec.sample,
                "seed": spec.seed,
                "dev_fraction": spec.dev_fraction,
                "concurrency": spec.concurrency,
                "cache": _cache_arg(spec.cache),
                "baseline_answers": source_arg(spec.baseline_answers),
                "baseline_config": config_dict(base_cfg),
                "baselines": spec.baselines,
                "n_items": len(items),
            },
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with folder.locked():
            folder.record(info)
            if base_cfg is not None:
                # Items the baseline failed on are recorded as scoring errors (no baseline answer).
                baseline = await _generate_answers(
                    base_cfg,
                    bench,
                    items,
                    RunFolder(folder.path / "baseline"),
                    items_record=sources["items"],
                    spec=spec,
                    cache=cache_obj,
                )
            scoring = _Scoring(judge_archon, judge_fn, baseline, spec.judge_retries)
            records, new = await _resume(
                folder,
                archon,
                bench,
                items,
                scoring=scoring,
                concurrency=spec.concurrency,
                progress=spec.progress,
                label=arch_cfg.name,
                retry_errors=spec.retry_errors,
            )
            summary = summarize(
                bench,
                [records[it.id] for it in items if it.id in records],
                name=arch_cfg.name,
                new_records=new,
                extra_info={
                    "out_dir": str(folder.path),
                    "split": spec.split,
                    "seed": spec.seed,
                    "limit": spec.limit,
                    "sample": spec.sample,
                    # A query is an item: a multi-turn item runs the architecture once per turn.
                    "calls_per_query_worst_case": calls_per_query(arch_cfg)
                    * max((len(it.turns) for it in items), default=1),
                    "cache": cache_obj is not None,
                },
            )
            folder.write_summary(summary)

            if spec.baselines:
                rows = {}
                for bname, bcfg in compute_matched.compute_matched_baselines(arch_cfg, bench).items():
                    sub = dataclasses.replace(
                        spec,
                        config=bcfg,
                        benchmark=bench,
                        out_dir=folder.path / "baselines" / bname,
                        data=None,
                        items=items,
                        judge=judge_fn if judge_fn is not None else judge_cfg,
                        baseline_answers=baseline,
                        baseline_config=None,
                        baselines=False,
                        cache=cache_obj if cache_obj is not None else False,
                    )
                    rows[bname] = await arun(sub, _sources=sources)
                summary["baselines"] = rows
                note = compute_matched.baselines_note(arch_cfg)
                if note:
                    summary["baselines_note"] = note
                folder.write_summary(summary)
    finally:
        for a in (archon, judge_archon):
            if a is not None and a is not spec.config:
                await a.aclose()
        if owned and cache_obj is not None:
            cache_obj.close()
    return summary


def _sync(coro: Any) -> Any:
    """Run a coroutine to the end from sync code. Inside a running event loop (a Jupyter cell) it goes on a
    private event loop in a worker thread, and this call waits for it, as ``Archon.generate`` does."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="archon-bench") as worker:
        return worker.submit(asyncio.run, coro).result()


def run(spec: RunSpec) -> dict[str, Any]:
    """Sync face of :func:`arun`."""
    return _sync(arun(spec))


async def arun_benchmark(config: ConfigSource | Archon, benchmark: str | Benchmark, **options: Any) -> dict[str, Any]:
    """Run ``config`` on ``benchmark`` with the keyword ``options`` of :class:`RunSpec` (``out_dir`` required);
    write ``out_dir/{config.json,results.jsonl,summary.json}``; return the summary."""
    return await arun(RunSpec(config=config, benchmark=benchmark, **options))


def run_benchmark(config: ConfigSource | Archon, benchmark: str | Benchmark, **options: Any) -> dict[str, Any]:
    """Sync face of :func:`arun_benchmark` (same arguments)."""
    return run(RunSpec(config=config, benchmark=benchmark, **options))
