"""Budgets, checked before anything is spent.

Per query: an architecture whose worst-case LLM calls, estimated input or output tokens, or estimated
cost exceed the limits is never evaluated (it is not part of the space searched). Calls are the exact
worst case (``archon.calls_per_query``: every reply that must parse re-asked); tokens and dollars are
estimates from the models' measured token counts once known (:class:`TokenStats`), and from each
component's ``max_tokens`` (the worst case) before.

Per search: a whole-search budget in calls or dollars stops the search cleanly when reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..components import calls_per_query
from ..config import ArchitectureConfig, ComponentConfig
from ..engine.pricing import estimate_cost
from ..errors import ArchonError
from ..providers.registry import get_spec

# Token lengths of what components write, when nothing is measured yet (a ranking, a verdict, a test verdict).
_RANKING_TOKENS = 8
_VERDICT_TOKENS = 4
_TEST_TOKENS = 25
_CRITIQUE_TOKENS = 80  # per candidate
_PROMPT_OVERHEAD = 120  # a component's own instructions around the candidates
DEFAULT_PROMPT_TOKENS = 200


@dataclass
class Budget:
    """Limits per query (None: no limit) and for the whole search."""

    max_calls_per_query: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_cost_per_query: float | None = None
    search_budget_calls: int | None = None
    search_budget_usd: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "max_calls_per_query",
            "max_input_tokens",
            "max_output_tokens",
            "max_cost_per_query",
            "search_budget_calls",
            "search_budget_usd",
        ):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0):
                raise ArchonError(f"budget {name.replace('_', '-')} must be a positive number, not {v!r}")
        if self.search_budget_calls is not None and self.search_budget_usd is not None:
            raise ArchonError("give a whole-search budget in calls or in dollars, not both")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TokenStats:
    """Measured token counts: the prompt's length, and each model's answer length (per call)."""

    prompt_tokens: float | None = None
    output_tokens: dict[str, float] = field(default_factory=dict)  # by model name

    def answer(self, c: ComponentConfig) -> float:
        """Tokens one answer of this component's model takes: measured, else its max_tokens (the worst case)."""
        measured = self.output_tokens.get(c.model or "")
        return min(measured, c.max_tokens) if measured is not None else float(c.max_tokens)

    def prompt(self) -> float:
        return self.prompt_tokens if self.prompt_tokens is not None else DEFAULT_PROMPT_TOKENS


@dataclass
class QueryCost:
    """What one query of an architecture is estimated to take."""

    calls: int  # worst case
    input_tokens: float
    output_tokens: float
    cost_usd: float | None  # None when a model has no known price

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": round(self.input_tokens),
            "output_tokens": round(self.output_tokens),
            "cost_usd": self.cost_usd,
        }


def query_cost(config: ArchitectureConfig, stats: TokenStats | None = None) -> QueryCost:
    """Worst-case calls and estimated tokens and dollars of one query (one turn) of ``config``."""
    stats = stats or TokenStats()
    calls = calls_per_query(config)
    prompt = stats.prompt()
    cand_tokens: list[float] = []  # token length of each candidate the layer hands on
    tokens_in = tokens_out = 0.0
    cost: float | None = 0.0

    def spend(c: ComponentConfig, n: float, t_in: float, t_out: float) -> None:
        nonlocal tokens_in, tokens_out, cost
        tokens_in += n * t_in
        tokens_out += n * t_out
        if cost is not None:
            try:
                provider = get_spec(c.model_type).name
            except ArchonError:
                provider = c.model_type or "local"
            usd = estimate_cost(provider, c.model or "", round(n * t_in), round(n * t_out))
            cost = None if usd is None else cost + usd

    for layer in config.layers:
        new: list[float] = []
        produced = False
        for c in layer:
            shown = sum(cand_tokens)
            n = len(cand_tokens)
            if c.type == "generator":
                spend(c, c.samples, prompt, stats.answer(c))
                new += [stats.answer(c)] * c.samples
                produced = True
            elif c.type == "fuser":
                spend(c, c.samples, prompt + _PROMPT_OVERHEAD + shown, stats.answer(c))
                new += [stats.answer(c)] * c.samples
                produced = True
            elif c.type == "critic":
                spend(c, 1, prompt + _PROMPT_OVERHEAD + shown, min(c.max_tokens, _CRITIQUE_TOKENS * n))
            elif c.type == "ranker":
                spend(c, 1, prompt + _PROMPT_OVERHEAD + shown, _RANKING_TOKENS * max(n, 1))
                k = c.top_k or 5
                new += sorted(cand_tokens, reverse=True)[:k]
                produced = True
            elif c.type == "verifier":
                each = cand_tokens or [0.0]
                reason = stats.answer(c)
                for t in each:
                    spend(c, 1, prompt + _PROMPT_OVERHEAD + t, reason)
                    spend(c, 1, prompt + _PROMPT_OVERHEAD + t + reason, _VERDICT_TOKENS)
            elif c.type == "unit_test_generator":
                spend(c, 1, prompt + _PROMPT_OVERHEAD, _TEST_TOKENS * (c.unit_test_cap or 5))
            elif c.type == "unit_test_evaluator":
                if c.evaluation == "llm":
                    tests = _TEST_TOKENS * (c.unit_test_cap or 5)
                    for t in cand_tokens:
                        spend(c, 1, prompt + _PROMPT_OVERHEAD + t + tests, _VERDICT_TOKENS * (c.unit_test_cap or 5))
            else:  # a custom component: one call per sample on the candidates
                spend(c, c.samples, prompt + shown, stats.answer(c))
        if produced:
            cand_tokens = new
    return QueryCost(calls=calls, input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost)


def over_budget(cost: QueryCost, budget: Budget, turns: int = 1) -> list[str]:
    """Why a query of this cost breaks the per-query limits (empty: within budget). A query is one
    benchmark item, all its turns."""
    why = []
    if budget.max_calls_per_query is not None and cost.calls * turns > budget.max_calls_per_query:
        why.append(f"{cost.calls * turns} calls > {budget.max_calls_per_query}")
    if budget.max_input_tokens is not None and cost.input_tokens * turns > budget.max_input_tokens:
        why.append(f"~{cost.input_tokens * turns:.0f} input tokens > {budget.max_input_tokens}")
    if budget.max_output_tokens is not None and cost.output_tokens * turns > budget.max_output_tokens:
        why.append(f"~{cost.output_tokens * turns:.0f} output tokens > {budget.max_output_tokens}")
    if budget.max_cost_per_query is not None:
        if cost.cost_usd is None:
            why.append("no known price for a model (register_price) to check the cost limit")
        elif cost.cost_usd * turns > budget.max_cost_per_query:
            why.append(f"~${cost.cost_usd * turns:.4f} > ${budget.max_cost_per_query}")
    return why


@dataclass
class SpendEstimate:
    """What a search is expected to spend at most: every trial on every dev item, nothing shared."""

    trials: int
    items: int
    calls: float
    cost_usd: float | None

    def text(self) -> str:
        usd = "" if self.cost_usd is None else f", ~${self.cost_usd:.2f}"
        return (
            f"at most ~{self.calls:,.0f} LLM calls{usd} for {self.trials} trials on {self.items} dev items "
            "(less: trials share generations through the call cache, and hopeless ones stop early)"
        )


def spend_estimate(costs: Iterable[QueryCost], trials: int, items: int, turns: int = 1) -> SpendEstimate:
    """The mean in-budget architecture's cost times the trials and items (an upper estimate)."""
    costs = list(costs)
    if not costs:
        return SpendEstimate(trials, items, 0.0, 0.0)
    trials = min(trials, len(costs))
    mean_calls = sum(c.calls for c in costs) / len(costs)
    priced = [c.cost_usd for c in costs if c.cost_usd is not None]
    mean_usd = sum(priced) / len(priced) if len(priced) == len(costs) else None
    return SpendEstimate(
        trials,
        items,
        mean_calls * trials * items * turns,
        None if mean_usd is None else mean_usd * trials * items * turns,
    )


def spent_usd(usage: Mapping[str, Any]) -> float:
    v = usage.get("new_cost_usd") or 0.0
    return 0.0 if (isinstance(v, float) and math.isnan(v)) else float(v)
