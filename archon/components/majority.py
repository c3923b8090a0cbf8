"""Majority vote: keeps the most common candidate by a key, with no LLM call.

The key is a benchmark's ``vote_key(answer)`` (config field ``benchmark``; e.g. the final number
of a math answer), else the whitespace-normalised lower-cased text. Used by the compute-matched
majority baseline, and usable in any architecture.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Callable, Hashable, Sequence

from ..config import ComponentConfig
from ..errors import ArchonError
from .base import Component, Output, State

if TYPE_CHECKING:
    from ..benchmarks.base import Benchmark

# vote_key functions of benchmarks handed over as objects (e.g. unregistered ones), by benchmark name.
_VOTE_KEYS: dict[str, Callable[[str], Hashable | None]] = {}


def default_vote_key(text: str) -> str:
    """Whitespace-normalised, lower-cased text."""
    return " ".join(str(text).lower().split())


def vote_key_for(benchmark: str | Benchmark | None) -> Callable[[str], Hashable | None]:
    """The benchmark's ``vote_key`` if it has one, else :func:`default_vote_key`."""
    if benchmark is None:
        return default_vote_key
    if isinstance(benchmark, str):
        if benchmark.lower() in _VOTE_KEYS:
            return _VOTE_KEYS[benchmark.lower()]
        from ..benchmarks.registry import get_benchmark

        try:
            benchmark = get_benchmark(benchmark)
        except ArchonError:
            return default_vote_key
    key = getattr(benchmark, "vote_key", None)
    return key if callable(key) else default_vote_key


def majority_vote(candidates: Sequence[str], key: Callable[[str], Hashable | None] = default_vote_key) -> tuple[int, dict[str, int]]:
    """Index of the winning candidate (the first one with the most common key; ties go to the key
    seen first) and the vote counts by key (as strings)."""
    if not candidates:
        raise ValueError("no candidates to vote on")
    keys: list[Hashable | None] = []
    for c in candidates:
        try:
            keys.append(key(c))
        except Exception:  # noqa: BLE001 - an answer the key cannot read does not vote
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

    def __init__(self, config: ComponentConfig):
        super().__init__(config)
        self.benchmark = self.config.extra.get("benchmark")
        self.key = vote_key_for(self.benchmark)

    async def run(self, ctx, state: State) -> Output:
        if not state.candidates:
            return Output(candidates=[])
        winner, counts = majority_vote(state.candidates, self.key)
        return Output(candidates=[state.candidates[winner]], named={"votes": counts})
