"""Running an architecture on a benchmark: select items, answer them, score them, summarise.

Everything a run produces lives in one folder (``out_dir``):

``config.json``
    The architecture, the benchmark, the judge, the items (data path and a fingerprint of the
    loaded items' ids, prompts and references; split, seed, sample) and the pairwise baseline
    (answers fingerprint or config), and the arguments. A run refuses to resume into a folder
    where any of these differ, so results of different questions never mix. ``--limit`` may
    change: it takes the first N of the same selection, so a larger limit runs the extra items
    and a smaller one summarises the first N (the other results stay in ``results.jsonl``).
``.lock``
    Held (``flock``) while a run uses the folder: a second run on it fails at once.
``results.jsonl``
    One JSON object per item, appended as each item finishes: ``id``, ``answers`` (one
    per turn), ``score`` (null when the item could not be scored, e.g. no judge rating parsed), ``details``, ``fallbacks`` (``judge``: count, ``architecture``:
    the trace's fallback notes), ``usage`` (see :func:`usage_of`), ``judge_usage``,
    ``latency_s`` (the architecture's time, all turns) and ``error`` (None, or why the
    item failed). An item whose architecture failed gets the bottom of the benchmark's scale (it
    lost); one whose scoring failed (e.g. the judge's calls failed) is left unscored (null), since
    it says nothing about the architecture. A restarted run skips the ids already there
    (``retry_errors=True`` redoes the failed ones); a truncated last line, as a kill
    leaves it, is dropped.
``summary.json``
    The headline score with a bootstrap 95% interval (over the scored items; ``unscored``
    counts the others), errors, calls, tokens, cost and latency percentiles per query (a
    query is an item, all its turns; so is ``calls_per_query_worst_case``), fallbacks, the benchmark's own extra summary and,
    with ``baselines=True``, the compute-matched baselines (run under ``baselines/<name>/``; see
    :mod:`archon.benchmarks.baselines` for when best-of-N and majority vote are left out).

Calls go through the call cache (``$ARCHON_CACHE`` or ``~/.cache/archon/calls.sqlite``
by default), so a rerun, or an item answered before a kill but not yet written, costs
nothing. Usage counts both: ``calls`` are what the architecture needed (made + answered
from the cache, its real cost), ``new_calls`` are the requests this run actually sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import math
import random
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..config import ArchitectureConfig, calls_per_query, load_config
from ..engine.cache import CallCache
from ..engine.runner import Archon
from ..engine.trace import Trace, Usage
from ..errors import ArchonError, QueryFailed
from ..providers.base import RetryPolicy
from .base import Benchmark, Item, ItemScore, Judge, ScoringContext
from .baseline_answers import check_baselines, read_baseline_answers
from .registry import get_benchmark
from .stats import bootstrap_ci, percentiles

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "arun_benchmark",
    "run_benchmark",
    "split_items",
    "select_items",
    "load_results",
    "load_baseline_answers",
    "usage_of",
]

SPLITS = ("all", "dev", "test")
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"


# --------------------------------------------------------------------------- item selection


def _split_rank(item_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{item_id}".encode()).hexdigest()


def split_items(items: Sequence[Item], split: str = "all", seed: int = 0, dev_fraction: float = 0.2) -> list[Item]:
    """The ``dev`` or ``test`` part of ``items`` (or ``all``), in their original order.

    The items are ranked by a hash of ``(seed, id)`` and the first ``round(n * dev_fraction)``
    form the dev split (the paper searches on a random 20% and reports on the other 80%).
    A pure function of the item ids: the same ids and seed give the same split on every run
    and machine, whatever the input order, and dev and test are disjoint and cover all items.
    """
    if split not in SPLITS:
        raise ArchonError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    if not 0.0 <= dev_fraction <= 1.0:
        raise ArchonError(f"dev_fraction must be in [0, 1], not {dev_fraction}")
    items = list(items)
    if split == "all":
        return items
    ranked = sorted(items, key=lambda it: (_split_rank(str(it.id), seed), str(it.id)))
    n_dev = int(round(len(items) * dev_fraction))
    dev_ids = {str(it.id) for it in ranked[:n_dev]}
    return [it for it in items if (str(it.id) in dev_ids) == (split == "dev")]


def select_items(
    items: Sequence[Item],
    *,
    split: str = "all",
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    dev_fraction: float = 0.2,
) -> list[Item]:
    """Split, then a seeded random ``sample`` (original order kept), then the first ``limit``."""
    ids = [str(it.id) for it in items]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ArchonError(f"benchmark items have duplicate ids ({', '.join(dupes)}); ids must be unique to record and resume a run")
    chosen = split_items(items, split, seed, dev_fraction)
    if sample is not None:
        if sample < 0:
            raise ArchonError("--sample must be >= 0")
        if sample < len(chosen):
            keep = set(random.Random(seed).sample(range(len(chosen)), sample))
            chosen = [it for i, it in enumerate(chosen) if i in keep]
    if limit is not None:
        if limit < 0:
            raise ArchonError("--limit must be >= 0")
        chosen = chosen[:limit]
    return chosen


# --------------------------------------------------------------------------- files


def _read_jsonl_tolerant(p: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, skipping lines that are not (a run killed mid-write leaves a
    truncated last line). With ``repair``, such an unterminated tail is cut off so appends start clean."""
    raw = p.read_bytes()
    if repair and raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        with open(p, "r+b") as fh:
            fh.truncate(cut)
        raw = raw[:cut]
    out = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def load_results(path: str | Path, *, repair: bool = False) -> dict[str, dict[str, Any]]:
    """Records of a ``results.jsonl`` by item id (the last record of an id wins).

    Lines that are not JSON objects are skipped: a run killed mid-write leaves a truncated
    last line. With ``repair``, such an unterminated tail is cut off so appends start clean.
    """
    p = Path(path)
    if not p.exists():
        return {}
    return {str(rec["id"]): rec for rec in _read_jsonl_tolerant(p, repair=repair) if "id" in rec}


def load_baseline_answers(source: str | Path | Mapping[str, Any]) -> dict[str, list[str]]:
    """Baseline answers by item id from a file or a mapping, in every published form: archon's ``id`` with
    ``answers`` (another run's results.jsonl works; its failed items are skipped), FastChat's and Arena-Hard's
    ``model_answer`` files (2024 and current forms), AlpacaEval's ``model_outputs.json`` (matched to the items
    by instruction when the run starts). See :mod:`archon.benchmarks.baseline_answers`."""
    return read_baseline_answers(source)


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN and infinities become None, tuples lists, unknown objects strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_clean(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _dump(obj: Any) -> str:
    return json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False)


# --------------------------------------------------------------------------- usage


def _empty_usage() -> dict[str, Any]:
    return Usage().to_dict()


def usage_of(traces: Iterable[Trace], into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Calls, tokens and estimated cost of some traces, as :class:`Usage` counts them, added to ``into``."""
    total = Usage()
    for trace in traces:
        total.merge(trace.usage)
    out = total.to_dict()
    return out if into is None else _add_usage(into, out)


def _add_usage(into: dict[str, Any], usage: Mapping[str, Any]) -> dict[str, Any]:
    """Add one usage dict (``Usage.to_dict`` form) to another; keys ``into`` lacks are ignored."""
    for k, v in usage.items():
        if k == "unpriced_models":
            into[k].extend(m for m in v if m not in into[k])
        elif k in into:
            into[k] += v
    return into


# --------------------------------------------------------------------------- checks


def _benchmark_info(bench: Benchmark) -> dict[str, Any]:
    options = {k: getattr(bench, k) for k in ("mode", "config") if isinstance(getattr(bench, k, None), (str, int, float))}
    return {"name": bench.name, "kind": getattr(bench, "kind", None), "options": options}


def _baseline_need(bench: Benchmark) -> str | None:
    """``"required"``: every item needs a baseline answer; ``"reference"``: a baseline answer or the
    item's own reference (the data set's baseline output) will do; None: no baseline."""
    need = getattr(bench, "needs_baseline", None)
    if need is not None:
        return need() if callable(need) else need
    if getattr(bench, "kind", None) != "judge":
        return None
    if getattr(bench, "mode", None) == "pairwise":
        return "required"
    if bench.name in ("arena-hard", "alpaca-eval"):
        return "reference"
    return None


def _check_baselines(bench: Benchmark, items: Sequence[Item], baseline: dict[str, list[str]] | None) -> None:
    check_baselines(bench.name, _baseline_need(bench), items, baseline)


def _config_dict(config: ArchitectureConfig | None) -> dict[str, Any] | None:
    return None if config is None else config.model_dump(mode="json")


def _same_config(saved: Any, current: dict[str, Any] | None) -> bool:
    if saved is None or current is None:
        return saved is None and current is None
    if saved == "custom" or current == "custom":
        return True
    try:
        return load_config(saved).model_dump(mode="json") == current
    except ArchonError:
        return False


def _fingerprint(obj: Any) -> str:
    """A short hash of some JSON-able content (what a run's results were made from)."""
    return hashlib.sha256(json.dumps(_clean(obj), sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _items_source(data: str | Path | None, loaded: Sequence[Item], *, split: str, dev_fraction: float, seed: int,
                  sample: int | None) -> dict[str, Any]:
    """Where a run's items come from: the data (path and a fingerprint of the loaded items) and the selection.
    The limit is not part of it: it takes the first N of the same selection, so it may change on resume."""
    return {
        "data": str(Path(data).resolve()) if data is not None else None,
        "fingerprint": _fingerprint([[it.id, it.turns, it.reference] for it in loaded]),
        "split": split,
        "dev_fraction": dev_fraction if split != "all" else None,
        "seed": seed if split != "all" or sample is not None else None,
        "sample": sample,
    }


def _baseline_source(answers: Mapping[str, Any] | None, config: ArchitectureConfig | None) -> dict[str, Any] | None:
    """The pairwise baseline a run is judged against: its config, or a fingerprint of its answers."""
    if config is not None:
        return {"config": _config_dict(config)}
    return None if answers is None else {"answers": _fingerprint(sorted(answers.items()))}


def _show(v: Any) -> str:
    return "none" if v is None else repr(v)


def _source_problems(saved: Mapping[str, Any], info: Mapping[str, Any]) -> list[str]:
    """How the items and the baseline of a saved run differ from this one's (folders made before they were
    recorded are not checked)."""
    problems = []
    si, ci = saved.get("items"), info["items"]
    if si is not None:
        for key, what in (("split", "split"), ("sample", "sample"), ("dev_fraction", "dev fraction"), ("seed", "seed")):
            # A dev fraction or seed that only one side uses differs because the split or sample does.
            implied = key in ("dev_fraction", "seed") and None in (si.get(key), ci[key])
            if si.get(key) != ci[key] and not implied:
                problems.append(f"{what} ({_show(si.get(key))} there, {_show(ci[key])} now)")
        if si.get("fingerprint") != ci["fingerprint"]:
            default = "the benchmark's default source"
            problems.append("data set (" + (f"{si.get('data') or default} there, {ci['data'] or default} now"
                                            if si.get("data") != ci["data"] else
                                            f"the items of {ci['data'] or default} changed") + ")")
    if "baseline" in saved:
        sb, cb = saved["baseline"] or {}, info["baseline"] or {}
        if not _same_config(sb.get("config"), cb.get("config")) or sb.get("answers") != cb.get("answers"):
            problems.append("pairwise baseline (answers or config)")
    return problems


@contextlib.contextmanager
def _locked_run_dir(out: Path):
    """Create ``out`` and hold an exclusive lock on it while the block runs: a second run on the same folder
    fails at once, instead of doing all the work again and appending every result twice."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / LOCK_FILE, "a")
    except OSError as e:
        raise ArchonError(f"cannot create the run folder {out}: {e.strerror or e}") from None
    with fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ArchonError(f"another run is using {out}; wait for it to finish, or use another --out") from None
        yield


def _prepare_dir(out: Path, info: dict[str, Any]) -> None:
    """Refuse to resume into a run of another architecture, benchmark, judge, items or baseline; record this one."""
    cfg_path = out / CONFIG_FILE
    if cfg_path.exists():
        try:
            saved = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ArchonError(f"{cfg_path}: cannot read the saved run config ({e}); use another --out") from None
        problems = []
        if not _same_config(saved.get("architecture"), info["architecture"]):
            problems.append("architecture config")
        sb, cb = saved.get("benchmark") or {}, info["benchmark"]
        if sb.get("name") != cb["name"] or (sb.get("options") or {}) != cb["options"]:
            problems.append(f"benchmark ({sb.get('name')!r} there, {cb['name']!r} now)")
        if not _same_config(saved.get("judge"), info["judge"]):
            problems.append("judge config")
        if saved.get("generate_only", False) != info.get("generate_only", False):
            problems.append("kind of run (answers only vs scored)")
        problems += _source_problems(saved, info)
        if problems:
            raise ArchonError(
                f"{out} holds a run with a different {' and '.join(problems)}; refusing to mix results. "
                f"Use another --out (or delete that folder to start over)."
            )
    cfg_path.write_text(json.dumps(_clean(info), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- running


def _progress(enabled: bool, description: str, total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True, markup=False)  # the description is a config's name, shown as written
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, disable=not (enabled and console.is_terminal), transient=False,
    ), description, total


def _make_judge(judge_archon: Archon | None, judge_fn: Judge | None, usage: dict[str, Any]) -> Judge | None:
    if judge_fn is not None:
        return judge_fn
    if judge_archon is None:
        return None

    async def judge(messages: list[dict[str, str]]) -> str:
        try:
            result = await judge_archon.arun(messages)
        except QueryFailed as e:
            if getattr(e, "result", None) is not None:
                usage_of([e.result.trace], usage)
            raise ArchonError(f"the judge failed: {e}") from None
        usage_of([result.trace], usage)
        return result.answer or ""

    return judge


async def _run_items(
    archon: Archon,
    bench: Benchmark,
    items: Sequence[Item],
    results_path: Path,
    *,
    scoring: Callable[[dict[str, Any]], ScoringContext] | None,
    concurrency: int,
    progress: bool,
    label: str,
    retry_errors: bool = False,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Answer (and score, unless ``scoring`` is None) the items not yet in ``results_path``.

    Returns all records by id and the ids processed by this call.
    """
    existing = load_results(results_path, repair=True)
    todo = [it for it in items
            if it.id not in existing or (retry_errors and existing[it.id].get("error"))]
    done_now: list[str] = []
    gate = asyncio.Semaphore(max(1, concurrency))
    prog, desc, total = _progress(progress, label, len(todo))
    errors = 0

    async def one(item: Item, fh) -> None:
        nonlocal errors
        async with gate:
            answers: list[str] = []
            traces: list[Trace] = []
            latency = 0.0
            error: str | None = None
            for t in range(len(item.turns)):
                messages = bench.conversation(item, t, answers)
                try:
                    result = await archon.arun(messages)
                except QueryFailed as e:
                    result = getattr(e, "result", None)
                    error = f"turn {t + 1}: query failed: {e}" if len(item.turns) > 1 else f"query failed: {e}"
                    if result is not None:
                        traces.append(result.trace)
                        latency += result.trace.latency_s
                    break
                traces.append(result.trace)
                latency += result.trace.latency_s
                answers.append(result.answer or "")
            judge_usage = _empty_usage()
            score: float | None = None
            details: dict[str, Any] = {}
            judge_fallbacks = 0
            if scoring is not None and error is not None:
                # The architecture failed: it lost, the bottom of the benchmark's scale (1 for MT-Bench ratings).
                score, details = float(getattr(bench, "worst_score", 0.0)), {"error": error}
            elif scoring is not None:
                try:
                    s = await bench.score(item, list(answers), scoring(judge_usage))
                    score, details, judge_fallbacks = float(s.value), dict(s.details), int(s.fallbacks)
                except Exception as e:  # noqa: BLE001 - one item's scoring must not sink the run
                    # The judge (or the scorer) failed, not the architecture: the item is left unscored.
                    error = f"scoring failed: {type(e).__name__}: {e}"
                    details = {"error": error}
            arch_fallbacks = [f for tr in traces for f in tr.fallbacks]
            rec = {
                "id": item.id,
                "answers": answers,
                "score": score,
                "details": details,
                "fallbacks": {"judge": judge_fallbacks, "architecture": arch_fallbacks},
                "usage": usage_of(traces),
                "judge_usage": judge_usage,
                "latency_s": latency,
                "error": error,
            }
            if traces and any(tr.errors for tr in traces):
                rec["component_errors"] = [e for tr in traces for e in tr.errors]
        fh.write(_dump(rec) + "\n")
        fh.flush()
        existing[item.id] = rec
        done_now.append(item.id)
        errors += error is not None
        prog.update(task, advance=1, info=f"[red]{errors} errors[/red]" if errors else "")

    with prog:
        task = prog.add_task(desc, total=total, info="")
        if todo:
            with open(results_path, "a", encoding="utf-8") as fh:
                await asyncio.gather(*(one(it, fh) for it in todo))
    return existing, done_now


def _score_value(record: Mapping[str, Any]) -> float:
    """An item record's score; NaN when it has none (written as null)."""
    v = record.get("score")
    return float("nan") if v is None else float(v)


def summarize(
    bench: Benchmark,
    records: Sequence[Mapping[str, Any]],
    *,
    name: str,
    new_records: Sequence[Mapping[str, Any]] = (),
    extra_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary of a run from its item records (see the module docstring)."""
    scores = [ItemScore(value=_score_value(r), details=dict(r.get("details") or {}),
                        fallbacks=int((r.get("fallbacks") or {}).get("judge", 0) or 0)) for r in records]
    # An item without a score (NaN: no judge rating parsed, or its scoring failed) is left out of the score and counted.
    scored = [s for s in scores if not math.isnan(s.value)]
    values = [s.value for s in scored]
    n = len(records)
    headline = bench.aggregate(scored) if scored else float("nan")
    lo, hi = bootstrap_ci(values) if values else (float("nan"), float("nan"))
    usage = _empty_usage()
    judge = _empty_usage()
    for r in records:
        _add_usage(usage, r.get("usage") or {})
        _add_usage(judge, r.get("judge_usage") or {})
    new_usage = _empty_usage()
    for r in new_records:
        _add_usage(new_usage, r.get("usage") or {})
    lat = [float(r.get("latency_s") or 0.0) for r in records]
    per = (lambda x: x / n) if n else (lambda x: float("nan"))
    errors = [r for r in records if r.get("error")]
    summary: dict[str, Any] = {
        "name": name,
        "benchmark": bench.name,
        "n": n,
        "score": headline,
        "ci_low": lo,
        "ci_high": hi,
        "confidence": 0.95,
        "unscored": n - len(scored),
        "errors": len(errors),
        # Items whose scoring failed (e.g. the judge's calls failed): errors, and among the unscored.
        "scoring_errors": sum(1 for r in errors if r.get("score") is None),
        "error_examples": [{"id": r["id"], "error": r["error"]} for r in errors[:5]],
        "calls_per_query": per(usage["calls"]),
        "cached_calls_per_query": per(usage["cached_calls"]),
        "failed_calls_per_query": per(usage["failed_calls"]),
        "input_tokens_per_query": per(usage["input_tokens"]),
        "output_tokens_per_query": per(usage["output_tokens"]),
        "cost_per_query_usd": per(usage["cost_usd"]),
        "cost_usd": usage["cost_usd"],
        "unpriced_models": usage["unpriced_models"],
        "new_calls": new_usage["new_calls"],
        "new_input_tokens": new_usage["new_input_tokens"],
        "new_output_tokens": new_usage["new_output_tokens"],
        "new_cost_usd": new_usage["new_cost_usd"],
        "items_run": len(new_records),
        "latency_s": {**percentiles(lat), "mean": statistics.fmean(lat) if lat else float("nan")},
        "fallbacks": {
            "architecture": sum(len((r.get("fallbacks") or {}).get("architecture") or []) for r in records),
            "judge": sum(s.fallbacks for s in scores),
            "items_with_fallbacks": sum(1 for r in records if (r.get("fallbacks") or {}).get("architecture")
                                        or (r.get("fallbacks") or {}).get("judge")),
        },
        "judge_usage": {k: judge[k] for k in ("calls", "new_calls", "cached_calls", "input_tokens", "output_tokens", "cost_usd",
                                             "unpriced_models")},
    }
    extra_fn = getattr(bench, "summary_extra", None)
    if callable(extra_fn) and scores:
        summary["extra"] = extra_fn(scores)
    if extra_info:
        summary.update(extra_info)
    return _clean(summary)


def _archon_for(config: Any, *, keys: Any, cache: CallCache | None, retry: RetryPolicy | None) -> Archon:
    a = config if isinstance(config, Archon) else Archon(config, keys=keys, cache=cache if cache is not None else False,
                                                          retry=retry)
    a._components()  # unknown component types or providers fail here, before any item runs
    return a


async def _generate_answers(
    config: Any,
    bench: Benchmark,
    items: Sequence[Item],
    out_dir: Path,
    *,
    items_source: dict[str, Any],
    keys: Any,
    cache: CallCache | None,
    retry: RetryPolicy | None,
    concurrency: int,
    progress: bool,
) -> dict[str, list[str]]:
    """Answers only (no scoring), e.g. a pairwise baseline's; stored and resumed like a run."""
    archon = _archon_for(config, keys=keys, cache=cache, retry=retry)
    try:
        with _locked_run_dir(out_dir):
            _prepare_dir(out_dir, {"architecture": _config_dict(archon.config), "benchmark": _benchmark_info(bench),
                                   "judge": None, "generate_only": True, "items": items_source, "baseline": None,
                                   "args": {"items": len(items)}})
            records, _ = await _run_items(archon, bench, items, out_dir / RESULTS_FILE, scoring=None,
                                          concurrency=concurrency, progress=progress,
                                          label=f"baseline {archon.config.name}")
    finally:
        await archon.aclose()
    return {i: r["answers"] for i, r in records.items() if not r.get("error") and r.get("answers")}


def _open_cache(cache: Any) -> tuple[CallCache | None, bool]:
    """(cache, owned): None/True → the default file; False → none; a path → that file; a CallCache → itself."""
    if cache is False:
        return None, False
    if isinstance(cache, CallCache):
        return cache, False
    return CallCache(None if cache in (None, True) else cache), True


async def arun_benchmark(
    config: str | Path | dict | ArchitectureConfig | Archon,
    benchmark: str | Benchmark,
    *,
    out_dir: str | Path,
    data: str | Path | None = None,
    split: str = "all",
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    dev_fraction: float = 0.2,
    judge: str | Path | dict | ArchitectureConfig | Judge | None = None,
    baseline_answers: str | Path | Mapping[str, Any] | None = None,
    baseline_config: str | Path | dict | ArchitectureConfig | None = None,
    baselines: bool = False,
    cache: bool | str | Path | CallCache | None = None,
    concurrency: int = 64,
    progress: bool = False,
    retry: RetryPolicy | None = None,
    keys: Mapping[str, str] | str | Path | None = None,
    retry_errors: bool = False,
    judge_retries: int = 2,
    items: Sequence[Item] | None = None,
    # Internal: the compute-matched baselines' sub-runs record their parent run's data and baseline.
    _sources: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``config`` on ``benchmark``; write ``out_dir/{config.json,results.jsonl,summary.json}``; return the summary.

    Args:
        config: the architecture (dict, ArchitectureConfig, JSON/YAML path, or an Archon).
        benchmark: a registered name (see ``list_benchmarks()``) or a Benchmark.
        data: local data file or folder (else the benchmark's default source).
        split, seed, dev_fraction: ``all``, or the seeded ``dev`` (20%) / ``test`` (80%) part (see :func:`split_items`).
        sample, limit: a seeded random ``sample`` of the split, then its first ``limit`` items.
        judge: the judge's architecture config (or an async ``judge(messages) -> str``); needed by judged benchmarks.
        baseline_answers: pairwise baseline answers (JSONL path with id + answers, or {id: [answer per turn]}).
        baseline_config: generate the pairwise baseline's answers with this config (stored under ``out_dir/baseline/``).
        baselines: also run the compute-matched baselines (single, best-of-N, majority vote; see
            :mod:`archon.benchmarks.baselines`) on the same items under ``out_dir/baselines/<name>/``.
        cache: call cache: None/True the default file, False none, a path that file.
        concurrency: items answered at once (providers keep their own request limits).
        progress: show a progress bar on stderr (only when it is a terminal).
        retry: the provider retry policy (default: ``RetryPolicy()``).
        retry_errors: on resume, redo items recorded with an error (default: keep them).
        items: run exactly these items (skips loading and selection; their fingerprint stands for the data).

    Resuming into ``out_dir`` is refused (ArchonError) when the architecture, benchmark, judge, data,
    split, seed, sample or pairwise baseline differ from the saved run's; a different ``limit`` is fine.
    Only one run at a time may use ``out_dir``.
    """
    bench = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    out = Path(out_dir)

    # Everything that can be wrong is checked before the first call (the judge before loading any data).
    judge_fn: Judge | None = None
    judge_cfg: ArchitectureConfig | None = None
    if judge is not None:
        if callable(judge) and not isinstance(judge, (str, Path, dict, ArchitectureConfig)):
            judge_fn = judge  # type: ignore[assignment]
        else:
            judge_cfg = load_config(judge)
    if getattr(bench, "kind", None) == "judge" and judge is None:
        raise ArchonError(f"benchmark {bench.name!r} is scored by an LLM judge: give a judge config with --judge CONFIG")
    if baseline_answers is not None and baseline_config is not None:
        raise ArchonError("give either baseline answers or a baseline config, not both")
    arch_cfg = config.config if isinstance(config, Archon) else load_config(config)
    base_cfg = load_config(baseline_config) if baseline_config is not None else None
    if items is None:
        loaded = bench.load(data)
        items = select_items(loaded, split=split, limit=limit, sample=sample, seed=seed, dev_fraction=dev_fraction)
    else:
        loaded = items
    items = list(items)
    baseline: dict[str, list[str]] | None = None
    if baseline_answers is not None:
        baseline = load_baseline_answers(baseline_answers)
    if base_cfg is None and _sources is None:  # a sub-run scores like its parent: a missing answer is an item's error
        _check_baselines(bench, items, baseline)
    # What the results are made from; the compute-matched baselines' sub-runs record their parent's.
    sources = _sources or {
        "items": _items_source(data, loaded, split=split, dev_fraction=dev_fraction, seed=seed, sample=sample),
        "baseline": _baseline_source(baseline, base_cfg),
    }
    # Registers the majority_vote component (custom components must exist before building).
    from . import baselines as _baselines  # noqa: F401

    cache_obj, owned = _open_cache(cache)
    archon = judge_archon = None
    try:
        archon = _archon_for(config if isinstance(config, Archon) else arch_cfg, keys=keys, cache=cache_obj, retry=retry)
        if judge_cfg is not None:
            judge_archon = _archon_for(judge_cfg, keys=keys, cache=cache_obj, retry=retry)
        info = {
            "architecture": _config_dict(arch_cfg),
            "benchmark": _benchmark_info(bench),
            "judge": _config_dict(judge_cfg) if judge_cfg is not None else ("custom" if judge_fn else None),
            "generate_only": False,
            **sources,
            "args": {
                "data": str(data) if data is not None else None, "split": split, "limit": limit, "sample": sample,
                "seed": seed, "dev_fraction": dev_fraction, "concurrency": concurrency,
                "cache": None if cache is None or cache is True else (False if cache is False else str(getattr(cache, "path", cache))),
                "baseline_answers": str(baseline_answers) if isinstance(baseline_answers, (str, Path)) else (
                    "mapping" if baseline_answers is not None else None),
                "baseline_config": _config_dict(base_cfg),
                "baselines": baselines, "n_items": len(items),
            },
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with _locked_run_dir(out):
            _prepare_dir(out, info)

            if base_cfg is not None:
                baseline = await _generate_answers(base_cfg, bench, items, out / "baseline", items_source=sources["items"],
                                                   keys=keys, cache=cache_obj, retry=retry, concurrency=concurrency,
                                                   progress=progress)
                # Items the baseline failed on are recorded as scoring errors (no baseline answer).

            def scoring(judge_usage: dict[str, Any]) -> ScoringContext:
                return ScoringContext(judge=_make_judge(judge_archon, judge_fn, judge_usage), baseline=baseline,
                                      judge_retries=judge_retries)

            records, done_now = await _run_items(archon, bench, items, out / RESULTS_FILE, scoring=scoring,
                                                 concurrency=concurrency, progress=progress, label=arch_cfg.name,
                                                 retry_errors=retry_errors)
            selected = [records[it.id] for it in items if it.id in records]
            summary = summarize(
                bench, selected, name=arch_cfg.name, new_records=[records[i] for i in done_now],
                extra_info={
                    "out_dir": str(out), "split": split, "seed": seed, "limit": limit, "sample": sample,
                    # A query is an item: a multi-turn item runs the architecture once per turn.
                    "calls_per_query_worst_case": calls_per_query(arch_cfg) * max((len(it.turns) for it in items), default=1),
                    "cache": cache_obj is not None,
                },
            )
            (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

            if baselines:
                rows = {}
                for bname, bcfg in _baselines.compute_matched_baselines(arch_cfg, bench).items():
                    rows[bname] = await arun_benchmark(
                        bcfg, bench, out_dir=out / "baselines" / bname, items=items, _sources=sources,
                        judge=judge_fn if judge_fn is not None else judge_cfg,
                        baseline_answers=baseline, cache=cache_obj if cache_obj is not None else False,
                        concurrency=concurrency, progress=progress, retry=retry, keys=keys,
                        retry_errors=retry_errors, judge_retries=judge_retries,
                        split=split, seed=seed, limit=limit, sample=sample,
                    )
                summary["baselines"] = rows
                note = _baselines.baselines_note(arch_cfg)
                if note:
                    summary["baselines_note"] = note
                (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    finally:
        for a in (archon, judge_archon):
            if a is not None and not (a is config):
                await a.aclose()
        if owned and cache_obj is not None:
            cache_obj.close()
    return summary


def run_benchmark(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Sync face of :func:`arun_benchmark` (same arguments).

    Inside a running event loop (a Jupyter cell) the run goes on a private event loop in a worker
    thread, and this call waits for it, as ``Archon.generate`` does.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_benchmark(*args, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="archon-bench") as worker:
        return worker.submit(lambda: asyncio.run(arun_benchmark(*args, **kwargs))).result()
