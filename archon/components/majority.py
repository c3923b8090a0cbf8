"""Majority vote: keeps the most common candidate by a key, with no LLM call.

The key is the one registered for the config's ``benchmark`` (benchmarks register their
``vote_key(answer)`` as they register themselves; e.g. the final number of a math answer), else
the whitespace-normalised lower-cased text. Used by the compute-matched majority baseline, and
usable in any architecture.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from ..config import ComponentConfig
from ..registry import Registry
from .base import Component, Output, State

VoteKey = Callable[[str], Hashable | None]

# Vote keys by benchmark name. Benchmarks fill it when they register (archon's own are found
# through the ``archon.plugins`` entry points on the first lookup), so components never import them.
vote_key_registry: Registry[VoteKey] = Registry("vote key", fold_case=True)


def register_vote_key(name: str, key: VoteKey) -> None:
    """Make ``key(answer) -> hashable | None`` the vote key of ``majority_vote`` components whose
    ``benchmark`` is ``name``. Answers whose key is None do not vote."""
    vote_key_registry.register(name, key)


def default_vote_key(text: str) -> str:
    """Whitespace-normalised, lower-cased text."""
    return " ".join(str(text).lower().split())


def vote_key_for(benchmark: str | Any | None) -> VoteKey:
    """The vote key registered for a benchmark name, or a benchmark object's own ``vote_key``;
    else :func:`default_vote_key`."""
    if benchmark is None:
        return default_vote_key
    if isinstance(benchmark, str):
        return vote_key_registry.find(benchmark) or default_vote_key
    key = getattr(benchmark, "vote_key", None)
    return key if callable(key) else default_vote_key


def majority_vote(
    candidates: Sequence[str], key: Callable[[str], Hashable | None] = default_vote_key
) -> tuple[int, dict[str, int]]:
    """Index of the winning candidate (the first one with the most common key; ties go to the key
    seen first) and the vote counts by key (as strings)."""
    if not candidates:
        raise ValueError("no candidates to vote on")
    keys: list[Hashable | None] = []
    for c in candidates:
        try:
            keys.append(key(c))
        except Exception:  # an answer the key cannot read does not vote
            keys.append(None)
    if all(k is None for k in keys):
        keys = [default_vote_key(c) for c in candidates]
    counts = Counter(k for k in keys if k is not None)
    best = max(counts.values())
    for i, k in enumerate(keys):  # earliest first occurrence among the most common keys
        if k is not None and counts[k] == best:
            return i, {str(k): v for k, v in counts.items()}
    raise AssertionError("unreachable")


class MajorityVote(Component):
    """Keeps the most common candidate by the benchmark's vote key (config field ``benchmark``). No LLM call."""

    type = "majority_vote"
    layer = "later"
    passes_candidates_through = False
    extra_fields = frozenset({"benchmark"})
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        return 0

    @classmethod
    def candidates_out(cls, config, n_candidates):
        return min(n_candidates, 1)

    def __init__(self, config: ComponentConfig):
        super().__init__(config)
        self.benchmark = self.config.extra.get("benchmark")
        self.key = vote_key_for(self.benchmark)

    async def run(self, ctx, state: State) -> Output:
        if not state.candidates:
            return Output(candidates=[])
        winner, counts = majority_vote(state.candidates, self.key)
        return Output(candidates=[state.candidates[winner]], named={"votes": counts})
