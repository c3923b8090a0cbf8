"""The one interface every benchmark implements.

A benchmark loads items, turns an item into the conversation the architecture
answers (turn by turn for multi-turn items), scores the answers of one item,
and aggregates item scores into a headline number.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Literal, Sequence

Message = dict[str, str]
# An LLM judge: takes a conversation, returns the judge's reply text.
Judge = Callable[[list[Message]], Awaitable[str]]


@dataclass
class Item:
    """One benchmark question. ``turns`` holds the user turns (one for most benchmarks, two for MT-Bench)."""

    id: str
    turns: list[str]
    reference: Any = None  # ground truth: a number, a LaTeX answer, test code, stdin/stdout cases, ...
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ItemScore:
    """The score of one item. ``value`` is on the benchmark's scale (0..1 for accuracy and win rates, 1..10 for MT-Bench single grading);
    NaN when the item could not be scored (e.g. no judge rating parsed): a run's summary leaves it out and counts it."""

    value: float
    details: dict[str, Any] = field(default_factory=dict)
    # Number of judge verdicts or answers that could not be parsed and fell back (to a tie, wrong, or left out).
    fallbacks: int = 0


@dataclass
class ScoringContext:
    """What a scorer may need beyond the item and the answers."""

    judge: Judge | None = None
    # Baseline answers for pairwise judging, keyed by item id; one answer per turn.
    baseline: dict[str, list[str]] | None = None
    judge_retries: int = 2


class Benchmark(ABC):
    """Load items, build prompts, score answers, aggregate."""

    name: str
    # ground_truth: compared with a reference; judge: needs an LLM judge; code: runs programs in the sandbox.
    kind: Literal["ground_truth", "judge", "code"]
    # Where `datasets` finds the data when online, and a sentence for the "not found" error.
    source: str = ""

    @abstractmethod
    def load(self, data: str | Path | None = None) -> list[Item]:
        """Load all items from ``data`` (a local JSONL/JSON/Parquet file or folder) or from the default source."""

    def conversation(self, item: Item, turn: int, previous_answers: Sequence[str]) -> list[Message]:
        """The messages for ``turn`` (0-based); ``previous_answers`` are the architecture's own earlier answers."""
        messages: list[Message] = []
        for i in range(turn):
            messages.append({"role": "user", "content": self.prompt(item, i)})
            messages.append({"role": "assistant", "content": previous_answers[i]})
        messages.append({"role": "user", "content": self.prompt(item, turn)})
        return messages

    def prompt(self, item: Item, turn: int) -> str:
        """The user message of one turn. Benchmarks override this to add instructions (e.g. answer format)."""
        return item.turns[turn]

    @abstractmethod
    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        """Score the architecture's answers (one per turn) to ``item``."""

    def aggregate(self, scores: Sequence[ItemScore]) -> float:
        """The headline number: by default the mean item score."""
        return sum(s.value for s in scores) / len(scores) if scores else float("nan")
