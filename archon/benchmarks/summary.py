"""What a run's item records add up to: the headline score with its 95% interval, errors, and
calls, tokens, cost and latency per query (a query is an item, all its turns).

Usage counts both sides of the call cache: ``calls`` are what the architecture needed (made +
answered from the cache, its real cost), ``new_calls`` are the requests actually sent.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..engine.trace import Trace, Usage
from .base import Benchmark, ItemScore
from .stats import bootstrap_ci, percentiles

__all__ = ["add_usage", "empty_usage", "json_safe", "summarize", "usage_of"]


def json_safe(obj: Any) -> Any:
    """JSON-safe: NaN and infinities become None, tuples lists, unknown objects strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def empty_usage() -> dict[str, Any]:
    """Zero calls, tokens and cost, in ``Usage.to_dict`` form."""
    return Usage().to_dict()


def usage_of(traces: Iterable[Trace], into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Calls, tokens and estimated cost of some traces, as :class:`Usage` counts them, added to ``into``."""
    total = Usage()
    for trace in traces:
        total.merge(trace.usage)
    out = total.to_dict()
    return out if into is None else add_usage(into, out)


def add_usage(into: dict[str, Any], usage: Mapping[str, Any]) -> dict[str, Any]:
    """Add one usage dict (``Usage.to_dict`` form) to another; keys ``into`` lacks are ignored."""
    for k, v in usage.items():
        if k == "unpriced_models":
            into[k].extend(m for m in v if m not in into[k])
        elif k in into:
            into[k] += v
    return into


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
    """The summary of a run from its item records (see :mod:`archon.benchmarks.runner` for the fields)."""
    scores = [
        ItemScore(
            value=_score_value(r),
            details=dict(r.get("details") or {}),
            fallbacks=int((r.get("fallbacks") or {}).get("judge", 0) or 0),
        )
        for r in records
    ]
    # An item without a score (NaN: no judge rating parsed, or its scoring failed) is left out of the score and counted.
    scored = [s for s in scores if not math.isnan(s.value)]
    values = [s.value for s in scored]
    n = len(records)
    headline = bench.aggregate(scored) if scored else float("nan")
    lo, hi = bootstrap_ci(values) if values else (float("nan"), float("nan"))
    usage = empty_usage()
    judge = empty_usage()
    for r in records:
        add_usage(usage, r.get("usage") or {})
        add_usage(judge, r.get("judge_usage") or {})
    new_usage = empty_usage()
    for r in new_records:
        add_usage(new_usage, r.get("usage") or {})
    # Latency is measured on the items whose answers took calls: one the cache answered whole took
    # no time worth comparing. Time queued behind a provider's concurrency cap (the local model takes
    # one call at a time) is told apart from time in calls; records from before it was measured count as unqueued.
    timed = [r for r in records if not _from_cache(r)]
    lat = [float(r.get("latency_s") or 0.0) for r in timed]
    queued = [min(float(r.get("queue_s") or 0.0), t) for r, t in zip(timed, lat)]
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
        "latency_s": _spread(lat),
        "call_latency_s": _spread([t - q for t, q in zip(lat, queued)]),
        "queue_s": _spread(queued),
        "answers_from_cache": n - len(timed),
        "fallbacks": {
            "architecture": sum(len((r.get("fallbacks") or {}).get("architecture") or []) for r in records),
            "judge": sum(s.fallbacks for s in scores),
            "items_with_fallbacks": sum(
                1
                for r in records
                if (r.get("fallbacks") or {}).get("architecture") or (r.get("fallbacks") or {}).get("judge")
            ),
        },
        "judge_usage": {
            k: judge[k]
            for k in (
                "calls",
                "new_calls",
                "cached_calls",
                "input_tokens",
                "output_tokens",
                "cost_usd",
                "unpriced_models",
            )
        },
    }
    extra = bench.summary_extra(scores) if scores else {}
    if extra:
        summary["extra"] = extra
    if extra_info:
        summary.update(extra_info)
    return json_safe(summary)


def _spread(values: list[float]) -> dict[str, float]:
    return {**percentiles(values), "mean": statistics.fmean(values) if values else float("nan")}


def _from_cache(record: Mapping[str, Any]) -> bool:
    """Whether the cache gave every call of the item's answers (none was sent)."""
    u = record.get("usage") or {}
    return bool(u.get("calls")) and not u.get("failed_calls") and u.get("cached_calls") == u.get("calls")
