"""The one interface every benchmark implements.

A benchmark loads items, turns an item into the conversation the architecture
answers (turn by turn for multi-turn items), scores the answers of one item,
and aggregates item scores into a headline number. Everything else a run asks of
a benchmark is an optional hook declared on :class:`Benchmark` with its default.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..components.majority import default_vote_key

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
    """The score of one item. ``value`` is on the benchmark's scale (0..1 for accuracy and win rates,
    1..10 for MT-Bench single grading); NaN when the item could not be scored (e.g. no judge rating
    parsed): a run's summary leaves it out and counts it."""

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


BaselineNeed = Literal["required", "reference"]


class Benchmark(ABC):
    """Load items, build prompts, score answers, aggregate.

    ``load`` and ``score`` are required; the other methods and attributes are hooks with defaults
    that suit a benchmark scored against references.
    """

    name: str
    # ground_truth: compared with a reference; judge: needs an LLM judge; code: runs programs in the sandbox.
    kind: Literal["ground_truth", "judge", "code"] = "ground_truth"
    # Where `datasets` finds the data when online, and a sentence for the "not found" error.
    source: str = ""
    # The score of an item whose architecture failed: it lost, so the bottom of the scale
    # (1 for ratings on a 1-10 scale).
    worst_score: float = 0.0

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

    # --- optional hooks ------------------------------------------------------------------

    @property
    def needs_judge(self) -> bool:
        """Whether scoring asks an LLM judge (a run without one is refused before any call). Default: judged kind."""
        return self.kind == "judge"

    def baseline_need(self) -> BaselineNeed | None:
        """Whether items are judged against a baseline's answers: ``"required"`` (every item needs one),
        ``"reference"`` (a baseline answer, or else the item's own reference, the data set's baseline output),
        or None (default: no baseline). A run checks this before any call."""
        return None

    def baseline_models(self) -> dict[str, str]:
        """For a benchmark that judges each category of items (``item.metadata["category"]``) against its own
        baseline model: category -> model. Answers named after these models (``<model>.jsonl``) are picked per
        item by its category. Default: none (one baseline for every item)."""
        return {}

    def options(self) -> dict[str, str | int | float]:
        """Settings that change what the scores mean (e.g. single grading vs pairwise). A run folder records
        them and refuses to resume with others. Default: none."""
        return {}

    def vote_key(self, answer: str) -> Hashable | None:
        """What majority voting compares answers by (e.g. the final number of a math answer); None: the
        answer does not vote. Default: the whitespace-normalised, lower-cased text."""
        return default_vote_key(answer)

    def summary_extra(self, scores: Sequence[ItemScore]) -> dict[str, Any]:
        """Benchmark-specific numbers for a run's summary (``extra``), e.g. per-category scores. Default: none."""
        return {}
