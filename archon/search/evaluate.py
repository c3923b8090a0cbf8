"""Scoring one architecture on some items: the search's only tie to the benchmark runner.

Each evaluation is an ordinary benchmark run folder (``results.jsonl``, ``summary.json``), so a trial
cut off mid-way resumes where it stopped, and every LLM call goes through the one shared call cache.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..benchmarks.base import Benchmark, Item, ItemScore
from ..benchmarks.registry import get_benchmark
from ..benchmarks.run_folder import RESULTS_FILE, load_results
from ..benchmarks.runner import arun_benchmark
from ..config import ArchitectureConfig
from ..engine.cache import CallCache

__all__ = ["Evaluation", "Evaluator"]


@dataclass
class Evaluation:
    """Scores and spend of one architecture on some items."""

    item_scores: dict[str, float | None] = field(default_factory=dict)  # None: the item could not be scored
    calls: int = 0  # calls the architecture needed (made now + answered from the cache)
    new_calls: int = 0  # requests actually sent
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0  # what the calls cost (cached ones too)
    new_cost_usd: float = 0.0  # what was spent now
    judge_calls: int = 0
    judge_new_calls: int = 0
    errors: int = 0
    unpriced_models: list[str] = field(default_factory=list)

    @property
    def cached_calls(self) -> int:
        return self.calls - self.new_calls

    @property
    def items(self) -> int:
        return len(self.item_scores)

    def add(self, other: Evaluation) -> Evaluation:
        self.item_scores.update(other.item_scores)
        for f in (
            "calls",
            "new_calls",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "new_cost_usd",
            "judge_calls",
            "judge_new_calls",
            "errors",
        ):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.unpriced_models += [m for m in other.unpriced_models if m not in self.unpriced_models]
        return self

    def per_query(self, what: str) -> float:
        return getattr(self, what) / self.items if self.items else float("nan")


def _num(v: Any) -> float:
    try:
        f = float(v or 0)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(f) else f


class Evaluator:
    """Runs architectures on items of one benchmark, with one call cache for all of them."""

    def __init__(
        self,
        benchmark: str | Benchmark,
        *,
        cache: CallCache | None,
        judge: str | Path | dict | ArchitectureConfig | None = None,
        baseline_answers: str | Path | Mapping[str, Any] | None = None,
        keys: Any = None,
        concurrency: int = 64,
    ):
        self.benchmark = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
        self.cache = cache
        self.judge = judge
        self.baseline_answers = baseline_answers
        self.keys = keys
        self.concurrency = concurrency

    def load_items(self, data: str | Path | None) -> list[Item]:
        return self.benchmark.load(data)

    def aggregate(self, scores: Sequence[float | None]) -> float:
        """The benchmark's headline number from item scores (the scored ones)."""
        vals = [s for s in scores if s is not None and not math.isnan(s)]
        return self.benchmark.aggregate([ItemScore(value=v) for v in vals]) if vals else float("nan")

    async def aevaluate(
        self, config: ArchitectureConfig | dict, items: Sequence[Item], out_dir: str | Path, *, baselines: bool = False
    ) -> tuple[Evaluation, dict[str, Any]]:
        """Run ``config`` on ``items`` in the run folder ``out_dir`` (resumed if it holds part of this run).
        Returns the evaluation and the run's summary (with the compute-matched baselines when asked)."""
        summary = await arun_benchmark(
            config,
            self.benchmark,
            out_dir=out_dir,
            items=list(items),
            judge=self.judge,
            baseline_answers=self.baseline_answers,
            cache=self.cache if self.cache is not None else False,
            concurrency=self.concurrency,
            progress=False,
            keys=self.keys,
            baselines=baselines,
        )
        records = load_results(Path(out_dir) / RESULTS_FILE)
        ev = Evaluation()
        for it in items:
            rec = records.get(str(it.id))
            if rec is None:
                continue
            score = rec.get("score")
            ev.item_scores[str(it.id)] = None if score is None else float(score)
            usage, judge = rec.get("usage") or {}, rec.get("judge_usage") or {}
            ev.calls += int(usage.get("calls", 0))
            ev.new_calls += int(usage.get("new_calls", 0))
            ev.input_tokens += int(usage.get("input_tokens", 0))
            ev.output_tokens += int(usage.get("output_tokens", 0))
            ev.cost_usd += _num(usage.get("cost_usd"))
            ev.new_cost_usd += _num(usage.get("new_cost_usd"))
            ev.judge_calls += int(judge.get("calls", 0))
            ev.judge_new_calls += int(judge.get("new_calls", 0))
            ev.errors += bool(rec.get("error"))
            ev.unpriced_models += [m for m in usage.get("unpriced_models") or [] if m not in ev.unpriced_models]
        return ev, summary
