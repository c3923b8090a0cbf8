"""LLM-judged benchmarks: MT-Bench, Arena-Hard-Auto and AlpacaEval 2.0.

The judge is any async callable ``judge(messages) -> str`` (see :data:`archon.benchmarks.base.Judge`).
The prompts below are archon's own wording of the published protocols:

* MT-Bench (single-answer grading): the judge rates each turn 1..10 and ends with
  ``Rating: [[N]]``; for turn 2 it sees the whole conversation, and it sees the
  reference answer(s) when the item has them (math, reasoning and coding questions).
  The item score is the mean of the turns' ratings. A pairwise mode compares each turn
  with a baseline's answers instead.
* Arena-Hard-Auto: pairwise against a baseline's answer on a five-level scale
  ``[[A>>B]] [[A>B]] [[A=B]] [[B>A]] [[B>>A]]``; the judge is asked to solve the
  problem itself first, except for creative writing (v2.0), where there is no answer to work out.
  v2.0 judges each category against its own baseline model (:data:`ARENA_HARD_CATEGORIES`).
* AlpacaEval 2.0: pairwise against the reference output shipped with the data set
  (GPT-4 Turbo's in ``alpaca_eval_gpt4_baseline``), verdict ``[[A]]``, ``[[B]]`` or ``[[C]]`` (tie);
  the summary adds the length-controlled win rate.

Every pairwise comparison is judged twice, with the answers in both positions
(concurrently), and the two verdicts are combined to cancel position bias: the
answer wins only if it wins in both orders, loses only if it loses in both, and
ties otherwise. A verdict that cannot be parsed after the retries counts as a tie
(pairwise) and is counted in ``ItemScore.fallbacks``; a rating that cannot be parsed
is left out of the score (an item with no parsed rating has no score, NaN) and counted
in ``ItemScore.fallbacks`` and in the summary's ``unparsed_ratings``. A judge whose calls fail
(errors raised by the judge propagate) leaves the item unscored too, recorded as a scoring error
by the runner: the judge failing is not the architecture losing. Only an item the architecture
itself failed on scores the bottom of the scale (``worst_score``).

All win rates are on the 0..1 scale.
"""

from __future__ import annotations

import asyncio
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import ArchonError, DatasetNotFound
from .base import BaselineNeed, Benchmark, Item, ItemScore, Judge, Message, ScoringContext
from .baseline_answers import read_baseline_answers
from .data import load_records, where
from .registry import register_benchmark
from .stats import arena_hard_score, bootstrap_ci, length_controlled_win_rate

__all__ = [
    "ARENA_HARD_CATEGORIES",
    "ARENA_LABELS",
    "AlpacaEval",
    "ArenaCategory",
    "ArenaHard",
    "JudgeCall",
    "MTBench",
    "PairwiseVerdict",
    "judge_verdict",
    "pairwise_both_orders",
    "pairwise_messages",
    "parse_pairwise",
    "parse_pairwise_label",
    "parse_rating",
    "single_grading_messages",
    "verdict_strength",
]

T = TypeVar("T")
PairwiseVerdict = Literal["A", "B", "tie"]
# Arena-Hard's five labels, strongest preference for A first.
ARENA_LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")


# --------------------------------------------------------------------------- parsing

_NUM = r"(\d+(?:\.\d+)?)"
_RATING_BRACKETS = re.compile(r"\[\[\s*" + _NUM + r"\s*(?:/\s*10\s*)?\]\]")
_RATING_WORD = re.compile(r"\brating\s*[:=]\s*\*{0,2}\s*" + _NUM, re.I)


def parse_rating(text: str | None) -> float | None:
    """The 1..10 rating in a judge reply: ``[[7]]``, ``Rating: [[7.5]]``, ``[[8/10]]``, or ``Rating: 7``.

    The last bracketed number wins (a judge may quote the format before using it);
    a bare ``Rating: N`` is accepted only when no bracketed number is present.
    Returns None when there is no rating or it lies outside 1..10.
    """
    if not text:
        return None
    found = _RATING_BRACKETS.findall(text)
    if not found:
        found = _RATING_WORD.findall(text)
    if not found:
        return None
    value = float(found[-1])
    return value if 1.0 <= value <= 10.0 else None


_PAIR = re.compile(
    r"\[\[\s*(A\s*>>\s*B|A\s*<<\s*B|A\s*>\s*B|A\s*<\s*B|A\s*=\s*B|"
    r"B\s*>>\s*A|B\s*<<\s*A|B\s*>\s*A|B\s*<\s*A|B\s*=\s*A|A|B|C|tie)\s*\]\]",
    re.I,
)
_NORMALISE = {
    "A>>B": "A>>B",
    "B<<A": "A>>B",
    "A>B": "A>B",
    "B<A": "A>B",
    "A": "A>B",
    "A=B": "A=B",
    "B=A": "A=B",
    "C": "A=B",
    "TIE": "A=B",
    "B>A": "B>A",
    "A<B": "B>A",
    "B": "B>A",
    "B>>A": "B>>A",
    "A<<B": "B>>A",
}
_STRENGTH = {"A>>B": 2, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -2}


def parse_pairwise_label(text: str | None) -> str | None:
    """The verdict in a judge reply as one of :data:`ARENA_LABELS`, or None.

    Accepts ``[[A]]``/``[[B]]``/``[[C]]`` (C is a tie; read as ``A>B``/``B>A``/``A=B``)
    and the Arena-Hard labels ``[[A>>B]]`` ... ``[[B>>A]]`` (also written mirrored,
    e.g. ``[[B<A]]``, and ``[[tie]]``). When the reply holds several verdicts they
    must agree on the winner (the last one is returned); contradicting verdicts give None.
    """
    if not text:
        return None
    labels = [_NORMALISE[re.sub(r"\s+", "", m).upper()] for m in _PAIR.findall(text)]
    if not labels:
        return None
    signs = {(_STRENGTH[lab] > 0) - (_STRENGTH[lab] < 0) for lab in labels}
    return labels[-1] if len(signs) == 1 else None


def verdict_strength(label: str | None) -> int | None:
    """Signed strength of a label, positive when A is better:
    ``A>>B`` 2, ``A>B`` 1, ``A=B`` 0, ``B>A`` -1, ``B>>A`` -2."""
    return None if label is None else _STRENGTH[label]


def _direction(label: str | None) -> PairwiseVerdict | None:
    s = verdict_strength(label)
    if s is None:
        return None
    return "A" if s > 0 else "B" if s < 0 else "tie"


def parse_pairwise(text: str | None) -> PairwiseVerdict | None:
    """``"A"``, ``"B"`` or ``"tie"`` from a judge reply (any strength), or None when there is no single verdict."""
    return _direction(parse_pairwise_label(text))


# --------------------------------------------------------------------------- judging with retries


@dataclass
class JudgeCall:
    """The outcome of asking a judge, with retries."""

    parsed: Any  # the parsed verdict, None when every attempt failed to parse
    replies: list[str] = field(default_factory=list)  # every raw judge reply, in order
    fallbacks: int = 0  # 1 when the verdict fell back (parsed is None), else 0

    @property
    def attempts(self) -> int:
        return len(self.replies)


async def judge_verdict(
    judge: Judge,
    messages: list[Message],
    parse: Callable[[str], T | None],
    retries: int,
    *,
    reminder: str | None = None,
) -> JudgeCall:
    """Ask ``judge`` and parse its reply; ask again up to ``retries`` times while ``parse`` returns None.

    With ``reminder``, a retry shows the judge its unparsable reply followed by
    ``reminder`` (a nudge about the required format); without it the same
    messages are sent again. Errors raised by the judge itself propagate.
    """
    replies: list[str] = []
    convo = list(messages)
    for _attempt in range(max(0, retries) + 1):
        reply = await judge(convo)
        reply = reply if isinstance(reply, str) else str(reply)
        replies.append(reply)
        parsed = parse(reply)
        if parsed is not None:
            return JudgeCall(parsed, replies, 0)
        if reminder is not None:
            convo = [
                *messages,
                {"role": "assistant", "content": reply},
                {"role": "user", "content": reminder},
            ]
    return JudgeCall(None, replies, 1)


# --------------------------------------------------------------------------- prompts (archon's own wording)

_JUDGE_SYSTEM = (
    "You are a strict and impartial evaluator of replies written by AI assistants. "
    "You judge substance: correctness, usefulness to the user, and how well the reply follows the request. "
    "Length, confident tone and formatting earn no credit by themselves. "
    "You always finish with the verdict in the exact format you are asked for."
)

_SINGLE_TASK = (
    "Grade the AI assistant's reply shown below on a scale from 1 (useless or wrong) to 10 (excellent). "
    "Weigh correctness first, then how helpful, relevant, complete and clear the reply is for this user."
)
_SINGLE_TASK_TURN = (
    "Below is a conversation between a user and an AI assistant. Grade only the assistant's reply to the "
    "user's last message, on a scale from 1 (useless or wrong) to 10 (excellent), reading the earlier turns "
    "as context (the reply should stay consistent with them). Weigh correctness first, then how helpful, "
    "relevant, complete and clear the reply is."
)
_REFERENCE_NOTE = (
    " A reference answer is included: use it to check the result. A reply that reaches a wrong result "
    "must get a low grade, however well it is written."
)
_SINGLE_FORMAT = (
    "Write a short justification (at most a few sentences) first. Then end with the grade in exactly this "
    "form: Rating: [[N]] where N is a number from 1 to 10, for example Rating: [[6]]."
)
RATING_REMINDER = (
    "Your reply did not end with a grade in the required form. "
    "Reply with only the grade, as Rating: [[N]] with N from 1 to 10."
)

_PAIR_TASK = (
    "Two AI assistants, A and B, replied to the same user request, shown below. Decide which reply serves the "
    "user better: weigh correctness first, then helpfulness, relevance, completeness and clarity. "
    "The order in which the replies are shown, their length and the assistants' labels must not influence you."
)
_PAIR_TASK_TURN = (
    "Two AI assistants, A and B, each held the conversation shown below with the same user. Compare only "
    "their replies to the user's last message, reading the earlier turns as context. Weigh correctness first, "
    "then helpfulness, relevance, completeness and clarity. The order of the assistants, their reply lengths "
    "and their labels must not influence you."
)
_PAIR_FORMAT_AB = (
    "Explain your comparison briefly, then end with exactly one verdict: [[A]] if A's reply is better, "
    "[[B]] if B's reply is better, or [[C]] if they are about equally good."
)
_ARENA_LABELS_TEXT = (
    "End with exactly one of these labels: [[A>>B]] (A is much better), [[A>B]] (A is slightly better), "
    "[[A=B]] (about equally good), [[B>A]] (B is slightly better), [[B>>A]] (B is much better)."
)
_PAIR_FORMAT_ARENA = (
    "Before reading the replies closely, work out your own answer to the request. Then compare both replies "
    "with it, noting mistakes, inaccuracies and missing information that would matter to the user. "
    + _ARENA_LABELS_TEXT
)
# Creative writing has no answer to work out first: the replies are compared with each other.
_PAIR_FORMAT_ARENA_OPEN = (
    "Compare the two replies with each other, noting mistakes, inaccuracies and missing information that would "
    "matter to the user, and weigh creativity and originality where the request calls for them. " + _ARENA_LABELS_TEXT
)
PAIR_REMINDER_AB = (
    "Your reply did not end with a verdict in the required form. Reply with only the verdict: [[A]], [[B]] or [[C]]."
)
PAIR_REMINDER_ARENA = (
    "Your reply did not end with a label in the required form. Reply with only one label: "
    "[[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]]."
)


def _block(tag: str, text: str) -> str:
    return f"<{tag}>\n{text}\n</{tag}>"


def _transcript(user_turns: Sequence[str], replies: Sequence[str], *, prefix: str = "") -> str:
    lines: list[str] = []
    for i, q in enumerate(user_turns):
        lines.append(f"### User (turn {i + 1})\n{q}")
        if i < len(replies):
            lines.append(f"### {prefix}Assistant (turn {i + 1})\n{replies[i]}")
    return "\n\n".join(lines)


def _reference_block(reference: str | Sequence[str] | None, n_turns: int) -> str | None:
    if reference is None:
        return None
    if isinstance(reference, str):
        return _block("reference_answer", reference) if reference.strip() else None
    refs = [str(r) for r in list(reference)[:n_turns]]
    if not any(r.strip() for r in refs):
        return None
    if n_turns == 1:
        return _block("reference_answer", refs[0])
    return _block("reference_answers", "\n\n".join(f"### Turn {i + 1}\n{r}" for i, r in enumerate(refs) if r.strip()))


def single_grading_messages(
    user_turns: Sequence[str], answers: Sequence[str], *, reference: str | Sequence[str] | None = None
) -> list[Message]:
    """Judge messages that grade the last answer (1..10); earlier turns are shown as context."""
    n = len(user_turns)
    if n < 1 or len(answers) < n:
        raise ArchonError("single grading needs one answer per user turn")
    ref = _reference_block(reference, n)
    task = (_SINGLE_TASK if n == 1 else _SINGLE_TASK_TURN) + (_REFERENCE_NOTE if ref else "")
    parts = [task, _SINGLE_FORMAT]
    if n == 1:
        parts.append(_block("user_question", user_turns[0]))
        if ref:
            parts.append(ref)
        parts.append(_block("assistant_reply", answers[0]))
    else:
        if ref:
            parts.append(ref)
        parts.append(_block("conversation", _transcript(user_turns, answers)))
    return [{"role": "system", "content": _JUDGE_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def _normalise_question(
    question: str | Sequence[Message] | Sequence[str],
    answer_a: str | Sequence[str],
    answer_b: str | Sequence[str],
) -> tuple[list[str], list[str], list[str], list[Message]]:
    """(user turns, A's replies, B's replies, shared context messages)."""
    if isinstance(question, str):
        if not isinstance(answer_a, str) or not isinstance(answer_b, str):
            raise ArchonError("a single question takes one answer per side")
        return [question], [answer_a], [answer_b], []
    q: list[Message | str] = list(question)
    if not q:
        raise ArchonError("empty question")
    messages = [m for m in q if isinstance(m, dict)]
    if len(messages) == len(q):
        # Shared context: the conversation so far, ending with the user turn being judged.
        if messages[-1].get("role") != "user":
            raise ArchonError("question messages must end with a user message")
        if not isinstance(answer_a, str) or not isinstance(answer_b, str):
            raise ArchonError("question messages take one answer per side")
        return [messages[-1]["content"]], [answer_a], [answer_b], messages[:-1]
    turns = [str(t) for t in q]
    a = [answer_a] if isinstance(answer_a, str) else list(answer_a)
    b = [answer_b] if isinstance(answer_b, str) else list(answer_b)
    if len(a) < len(turns) or len(b) < len(turns):
        raise ArchonError("a multi-turn comparison needs each side's answer to every turn")
    return turns, a[: len(turns)], b[: len(turns)], []


def pairwise_messages(
    question: str | Sequence[Message] | Sequence[str],
    answer_a: str | Sequence[str],
    answer_b: str | Sequence[str],
    *,
    reference: str | Sequence[str] | None = None,
    scale: Literal["ab", "arena"] = "ab",
    solve_first: bool = True,
) -> list[Message]:
    """Judge messages comparing A's and B's replies to the last user turn.

    ``question`` is a single question (str), a shared conversation ending with the
    user turn being judged (list of messages, then ``answer_a``/``answer_b`` are
    strings), or the user turns of a multi-turn conversation (list of str, then the
    answers are lists: each side's own reply to every turn). On the arena scale the judge
    works out its own answer first unless ``solve_first`` is False (Arena-Hard's creative writing).
    """
    turns, a, b, context = _normalise_question(question, answer_a, answer_b)
    ref = _reference_block(reference, len(turns))
    multi = len(turns) > 1
    task = (_PAIR_TASK_TURN if multi else _PAIR_TASK) + (_REFERENCE_NOTE if ref else "")
    arena = _PAIR_FORMAT_ARENA if solve_first else _PAIR_FORMAT_ARENA_OPEN
    fmt = arena if scale == "arena" else _PAIR_FORMAT_AB
    parts = [task, fmt]
    if context:
        parts.append(
            _block(
                "earlier_conversation",
                "\n\n".join(f"### {m.get('role', 'user').capitalize()}\n{m.get('content', '')}" for m in context),
            )
        )
    if multi:
        if ref:
            parts.append(ref)
        parts.append(_block("conversation_with_assistant_A", _transcript(turns, a, prefix="")))
        parts.append(_block("conversation_with_assistant_B", _transcript(turns, b, prefix="")))
    else:
        parts.append(_block("user_request", turns[0]))
        if ref:
            parts.append(ref)
        parts.append(_block("reply_of_assistant_A", a[0]))
        parts.append(_block("reply_of_assistant_B", b[0]))
    return [{"role": "system", "content": _JUDGE_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


async def pairwise_both_orders(
    judge: Judge,
    question: str | Sequence[Message] | Sequence[str],
    answer: str | Sequence[str],
    baseline_answer: str | Sequence[str],
    retries: int,
    *,
    reference: str | Sequence[str] | None = None,
    scale: Literal["ab", "arena"] = "ab",
    solve_first: bool = True,
) -> tuple[float, int, dict[str, Any]]:
    """Compare ``answer`` with ``baseline_answer`` in both positions; returns ``(outcome, fallbacks, details)``.

    The two games (answer as A, then answer as B) run concurrently. ``outcome`` is
    1 if the answer wins both, 0 if it loses both, else 0.5; an unparsed verdict
    counts as a tie. ``fallbacks`` is the number of unparsed verdicts (0..2).
    ``details`` holds ``outcome``, ``verdicts`` (per game, "A"/"B"/"tie"/None as the
    judge said it), ``labels`` (five-level labels), ``results`` (per game, from the
    answer's side: "win"/"tie"/"loss"/"fallback"), ``strengths`` (per game, signed
    from the answer's side: 2 much better ... -2 much worse, None if unparsed) and
    the judge ``judgments`` (raw replies of the last attempt). ``solve_first``: see :func:`pairwise_messages`.
    """
    reminder = PAIR_REMINDER_ARENA if scale == "arena" else PAIR_REMINDER_AB
    first = pairwise_messages(
        question, answer, baseline_answer, reference=reference, scale=scale, solve_first=solve_first
    )
    second = pairwise_messages(
        question, baseline_answer, answer, reference=reference, scale=scale, solve_first=solve_first
    )
    calls = await asyncio.gather(
        judge_verdict(judge, first, parse_pairwise_label, retries, reminder=reminder),
        judge_verdict(judge, second, parse_pairwise_label, retries, reminder=reminder),
    )
    labels = [c.parsed for c in calls]
    # Strength from the answer's side: it is A in game 1 and B in game 2.
    strengths: list[int | None] = []
    for game, label in enumerate(labels):
        s = verdict_strength(label)
        strengths.append(None if s is None else (s if game == 0 else -s))
    results = ["fallback" if s is None else "win" if s > 0 else "loss" if s < 0 else "tie" for s in strengths]
    if results[0] == results[1] == "win":
        outcome = 1.0
    elif results[0] == results[1] == "loss":
        outcome = 0.0
    else:
        outcome = 0.5
    fallbacks = sum(c.fallbacks for c in calls)
    details = {
        "outcome": outcome,
        "verdicts": [_direction(label) for label in labels],
        "labels": labels,
        "results": results,
        "strengths": strengths,
        "judge_attempts": [c.attempts for c in calls],
        "judgments": [c.replies[-1] if c.replies else "" for c in calls],
    }
    return outcome, fallbacks, details


# --------------------------------------------------------------------------- shared helpers for the benchmarks


def _text(x: Any) -> str:
    """A turn as text: strings as they are, ``{"content": ...}`` dicts by their content."""
    if isinstance(x, dict):
        return str(x.get("content", x.get("text", "")))
    return "" if x is None else str(x)


def _first(record: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in record and record[k] is not None:
            return record[k]
    return None


def _as_turns(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [_text(value)]
    return [_text(v) for v in value]


def _mean(xs: Sequence[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


class _JudgedBenchmark(Benchmark):
    kind = "judge"

    def _judge(self, ctx: ScoringContext) -> Judge:
        if ctx.judge is None:
            raise ArchonError(
                f"benchmark {self.name!r} is scored by an LLM judge: give a judge config with --judge CONFIG"
            )
        return ctx.judge

    def _baseline(self, item: Item, ctx: ScoringContext, n_turns: int, *, fallback: Any = None) -> list[str]:
        """The baseline's answers (one per turn): ``ctx.baseline[item.id]``, else ``fallback``
        (e.g. the data set's reference output)."""
        answers: list[str] | None = None
        if ctx.baseline is not None and item.id in ctx.baseline:
            raw = ctx.baseline[item.id]
            answers = [raw] if isinstance(raw, str) else [_text(a) for a in raw]
        elif fallback is not None:
            answers = _as_turns(fallback)
        if not answers or len(answers) < n_turns or not all(a.strip() for a in answers[:n_turns]):
            raise ArchonError(
                f"benchmark {self.name!r}: no baseline answer for item {item.id!r} "
                f"(needs {n_turns} turn(s)); provide the baseline's answers for every item"
            )
        return answers[:n_turns]

    def _check_answers(self, item: Item, answers: Sequence[str]) -> None:
        if len(answers) < len(item.turns):
            raise ArchonError(
                f"benchmark {self.name!r}: item {item.id!r} has {len(item.turns)} turn(s) but {len(answers)} answer(s)"
            )

    @staticmethod
    def _pairwise_summary(scores: Sequence[ItemScore], seed: int = 0) -> dict[str, Any]:
        # Unscored items (NaN: the judge failed) are left out, as in the run's headline.
        outcomes = [float(s.value) for s in scores if not math.isnan(s.value)]
        wr, (lo, hi) = arena_hard_score(outcomes, seed) if outcomes else (float("nan"), (float("nan"), float("nan")))
        return {
            "win_rate": wr,
            "ci_low": lo,
            "ci_high": hi,
            "n": len(outcomes),
            "items_unscored": len(scores) - len(outcomes),
            "wins": sum(1 for o in outcomes if o == 1.0),
            "ties": sum(1 for o in outcomes if o == 0.5),
            "losses": sum(1 for o in outcomes if o == 0.0),
            "fallbacks": sum(s.fallbacks for s in scores),
        }


# --------------------------------------------------------------------------- MT-Bench


@register_benchmark("mt-bench")
class MTBench(_JudgedBenchmark):
    """MT-Bench: 80 two-turn questions, graded by an LLM judge.

    Data: a local file (``--data``) with FastChat's ``question.jsonl`` fields
    ``question_id``, ``category``, ``turns`` (two user turns) and optional
    ``reference`` (reference answers per turn); or, online, the `datasets` copy
    ``HuggingFaceH4/mt_bench_prompts`` split ``train`` (fields ``prompt_id``, ``prompt``,
    ``category``, ``reference``). (``lmsys/mt_bench_human_judgments`` holds human
    judgments, not the questions.)

    ``mode="single"`` (default): each turn is rated 1..10 and the item score is the
    mean of the turns' ratings (so the headline is on 1..10). ``mode="pairwise"``:
    each turn is compared with ``ctx.baseline[item.id]`` (the baseline's answer per
    turn) in both orders; the item score is the mean turn outcome (0..1). Registered
    as ``mt-bench-pairwise``, the name this mode goes by.

    A turn whose rating does not parse after the retries is left out: the item score is the
    mean of the parsed ratings, NaN (no score; the run's summary leaves it out and counts it)
    when there is none.
    """

    name = "mt-bench"
    # FastChat: fastchat/llm_judge/data/mt_bench/ also holds model answers, judgments and reference answers.
    layouts = (("question.jsonl",), ("data/mt_bench/question.jsonl",), ("llm_judge/data/mt_bench/question.jsonl",))
    # The categories FastChat grades against reference answers.
    reference_categories = ("math", "reasoning", "coding")
    source = (
        "HuggingFaceH4/mt_bench_prompts (split 'train'), or FastChat's data/mt_bench/question.jsonl "
        "(question_id, category, turns, reference) passed with --data"
    )
    hf_path = "HuggingFaceH4/mt_bench_prompts"
    hf_split = "train"

    def __init__(self, mode: Literal["single", "pairwise"] = "single", reference_answers: str | Path | None = None):
        if mode not in ("single", "pairwise"):
            raise ArchonError(f"mt-bench mode must be 'single' or 'pairwise', not {mode!r}")
        self.mode = mode
        # FastChat's reference_answer/gpt-4.jsonl: with it, math, reasoning and coding questions are judged
        # against its answers (and the others without one), as FastChat does; without it, the questions'
        # own short 'reference' field is used.
        self.reference_answers = reference_answers
        if mode == "pairwise":
            self.name = "mt-bench-pairwise"
        # What a failed item scores: the bottom of the scale.
        self.worst_score = 1.0 if mode == "single" else 0.0

    def options(self) -> dict[str, str | int | float]:
        return {"mode": self.mode}

    def baseline_need(self) -> BaselineNeed | None:
        return "required" if self.mode == "pairwise" else None

    def load(self, data: str | Path | None = None) -> list[Item]:
        records = load_records(
            data, benchmark=self.name, hf_path=self.hf_path, split=self.hf_split, layouts=self.layouts
        )
        items: list[Item] = []
        for i, r in enumerate(records):
            turns = _as_turns(_first(r, "turns", "prompt", "prompts"))
            if not turns:
                raise DatasetNotFound(f"{self.name}: {where(records, i)} has no 'turns' (or 'prompt') field")
            refs = _as_turns(_first(r, "reference", "references"))
            reference = refs if any(x.strip() for x in refs) else None
            qid = _first(r, "question_id", "prompt_id", "id")
            items.append(
                Item(
                    id=str(qid if qid is not None else i),
                    turns=turns,
                    reference=reference,
                    metadata={"category": r.get("category")},
                )
            )
        if self.reference_answers is not None:
            self._use_reference_answers(items, self.reference_answers)
        return items

    def _use_reference_answers(self, items: list[Item], path: str | Path) -> None:
        """Reference answers from ``path`` for the reference categories, none for the others (FastChat's rule)."""
        refs = read_baseline_answers(path)
        if items and not any(it.id in refs for it in items):
            raise DatasetNotFound(
                f"{self.name}: the reference answers {str(path)!r} answer none of the {len(items)} "
                f"question(s) (by question_id); is it FastChat's reference_answer/gpt-4.jsonl?"
            )
        missing = []
        for it in items:
            if it.metadata.get("category") in self.reference_categories:
                if it.id in refs:
                    it.reference = list(refs[it.id])
                    it.metadata["reference_source"] = str(path)
                else:
                    missing.append(it.id)
            else:
                it.reference = None
        if missing:
            raise DatasetNotFound(
                f"{self.name}: the reference answers {str(path)!r} have no answer "
                f"for {len(missing)} question(s) of the "
                f"categories {', '.join(self.reference_categories)} (e.g. {', '.join(missing[:5])})"
            )

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        judge = self._judge(ctx)
        self._check_answers(item, answers)
        n = len(item.turns)
        if self.mode == "pairwise":
            baseline = self._baseline(item, ctx, n)
            results = await asyncio.gather(
                *(
                    pairwise_both_orders(
                        judge,
                        item.turns[0] if t == 0 else item.turns[: t + 1],
                        answers[0] if t == 0 else answers[: t + 1],
                        baseline[0] if t == 0 else baseline[: t + 1],
                        ctx.judge_retries,
                        reference=item.reference[: t + 1] if item.reference else None,
                    )
                    for t in range(n)
                )
            )
            outcomes = [o for o, _, _ in results]
            return ItemScore(
                value=_mean(outcomes),
                details={"mode": "pairwise", "turn_outcomes": outcomes, "turns": [d for _, _, d in results]},
                fallbacks=sum(f for _, f, _ in results),
            )
        calls = await asyncio.gather(
            *(
                judge_verdict(
                    judge,
                    single_grading_messages(
                        item.turns[: t + 1],
                        answers[: t + 1],
                        reference=item.reference[: t + 1] if item.reference else None,
                    ),
                    parse_rating,
                    ctx.judge_retries,
                    reminder=RATING_REMINDER,
                )
                for t in range(n)
            )
        )
        ratings = [c.parsed for c in calls]
        return ItemScore(
            # Unparsed ratings are left out; with none parsed the item has no score (NaN).
            value=_mean([float(r) for r in ratings if r is not None]),
            details={
                "mode": "single",
                "ratings": ratings,
                "category": item.metadata.get("category"),
                "judge_attempts": [c.attempts for c in calls],
                "judgments": [c.replies[-1] if c.replies else "" for c in calls],
            },
            fallbacks=sum(c.fallbacks for c in calls),
        )

    def summary_extra(self, scores: Sequence[ItemScore]) -> dict[str, Any]:
        """Single mode: mean score, per-turn means, per-category means and a bootstrap CI (1..10 scale),
        over parsed ratings only, with the number of ratings left out (``unparsed_ratings``) and of items
        left without a score (``items_unscored``). Pairwise: win rate with CI."""
        if self.mode == "pairwise":
            return self._pairwise_summary(scores)
        scored = [s for s in scores if not math.isnan(s.value)]
        values = [float(s.value) for s in scored]
        lo, hi = bootstrap_ci(values) if values else (float("nan"), float("nan"))
        ratings = [s.details.get("ratings") or [] for s in scores]
        per_turn: dict[str, float] = {}
        for t in range(max(map(len, ratings), default=0)):
            per_turn[f"turn_{t + 1}"] = _mean([r[t] for r in ratings if len(r) > t and r[t] is not None])
        by_cat: dict[str, list[float]] = {}
        for s in scored:
            cat = s.details.get("category")
            if cat:
                by_cat.setdefault(str(cat), []).append(float(s.value))
        return {
            "score": _mean(values),
            "ci_low": lo,
            "ci_high": hi,
            **per_turn,
            "by_category": {c: _mean(v) for c, v in sorted(by_cat.items())},
            "n": len(values),
            "unparsed_ratings": sum(1 for r in ratings for x in r if x is None),
            "items_unscored": len(scores) - len(scored),
            "fallbacks": sum(s.fallbacks for s in scores),
        }


# --------------------------------------------------------------------------- Arena-Hard-Auto

_ARENA_HF_REPO = "lmarena-ai/arena-hard-auto"
_ARENA_HF_FILE = "data/arena-hard-v0.1/question.jsonl"


register_benchmark("mt-bench-pairwise", lambda: MTBench(mode="pairwise"))


@dataclass(frozen=True)
class ArenaCategory:
    """How arena-hard-auto judges a category of questions: against whose answers (``baseline``, the model
    its ``model_answer/<baseline>.jsonl`` holds), and whether the judge works out its own answer first."""

    baseline: str
    solve_first: bool = True


# The questions' ``category`` field, as lmarena/arena-hard-auto's judge settings read it: v0.1's 500 prompts
# against GPT-4 (0314); v2.0's hard prompts (coding and math subcategories) against o3-mini, its creative
# writing against Gemini 2.0 Flash, with a judge that does not first write an answer of its own.
ARENA_HARD_CATEGORIES: dict[str, ArenaCategory] = {
    "arena-hard-v0.1": ArenaCategory("gpt-4-0314"),
    "hard_prompt": ArenaCategory("o3-mini-2025-01-31"),
    "coding": ArenaCategory("o3-mini-2025-01-31"),
    "math": ArenaCategory("o3-mini-2025-01-31"),
    "creative_writing": ArenaCategory("gemini-2.0-flash-001", solve_first=False),
}


@register_benchmark("arena-hard")
class ArenaHard(_JudgedBenchmark):
    """Arena-Hard-Auto: hard prompts judged pairwise against a baseline's answers (v0.1: 500 prompts;
    v2.0: 500 hard prompts and 250 creative writing prompts).

    Data: a local file (``--data``) with ``question_id`` (v0.1's 2024 form) or ``uid`` and ``turns``
    (list of ``{"content": ...}`` or strings) or ``prompt``, and ``category``; an optional ``baseline``
    field holds the baseline's answer. Online, the question file ``data/arena-hard-v0.1/question.jsonl``
    of the hub repo ``lmarena-ai/arena-hard-auto`` is read through `datasets`.

    Baselines: each category is judged against its own model (:data:`ARENA_HARD_CATEGORIES`, see
    :meth:`baseline_models`): given the ``model_answer`` folder, or the files of those models, each item
    is judged against the answers of its category's model, and a category whose model's answers are
    missing is an error. One other baseline answers file (e.g. another run's results.jsonl) is the baseline
    of every item. ``model_answer`` files are read in both the 2024 form (``question_id``, ``choices``)
    and the current one (``uid``, ``messages``).

    Each item is judged in both orders on the five-level scale (for creative writing without the judge's
    own answer first); the item score is the combined outcome (1, 0.5, 0) and the headline is the win
    rate (0..1) over all items; :meth:`summary_extra` adds each category's, as arena-hard-auto reports
    its leaderboard per category.
    """

    name = "arena-hard"
    # lmarena/arena-hard-auto: data/arena-hard-v0.1/ and data/arena-hard-v2.0/ also hold model answers and judgments.
    layouts = (("question.jsonl",),)
    source = (
        f"{_ARENA_HF_REPO} ({_ARENA_HF_FILE}); "
        "baseline answers (e.g. model_answer/gpt-4-0314.jsonl) supplied separately"
    )

    def baseline_need(self) -> BaselineNeed | None:
        return "reference"  # a baseline answer, or the item's own ``baseline`` field

    def baseline_models(self) -> dict[str, str]:
        return {category: c.baseline for category, c in ARENA_HARD_CATEGORIES.items()}

    def load(self, data: str | Path | None = None) -> list[Item]:
        if data is not None:
            records = load_records(data, benchmark=self.name, hf_path=_ARENA_HF_REPO, layouts=self.layouts)
        else:
            records = self._load_hub()
        items: list[Item] = []
        for i, r in enumerate(records):
            turns = _as_turns(_first(r, "turns", "prompt", "question", "instruction"))
            if not turns:
                raise DatasetNotFound(f"arena-hard: {where(records, i)} has no 'turns' or 'prompt' field")
            qid = _first(r, "question_id", "uid", "id")
            baseline = _first(r, "baseline", "baseline_answer")
            items.append(
                Item(
                    id=str(qid if qid is not None else i),
                    turns=turns,
                    reference=baseline,
                    metadata={k: r[k] for k in ("category", "subcategory", "cluster", "language") if k in r},
                )
            )
        return items

    @staticmethod
    def _load_hub() -> list[dict[str, Any]]:
        hint = (
            f"arena-hard: could not load {_ARENA_HF_FILE} from the hub repo {_ARENA_HF_REPO} with the `datasets` "
            f"library. Download that file where you have access and pass `--data question.jsonl`."
        )
        try:
            import datasets
        except ImportError:
            raise DatasetNotFound(
                hint + ' (The `datasets` library is not installed: pip install -e ".[datasets]".)'
            ) from None
        try:
            ds = datasets.load_dataset(
                "json", data_files=f"hf://datasets/{_ARENA_HF_REPO}/{_ARENA_HF_FILE}", split="train"
            )
        except Exception as e:  # offline, moved, ...
            raise DatasetNotFound(f"{hint} Cause: {type(e).__name__}: {str(e)[:200]}") from None
        return [dict(r) for r in ds]

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        judge = self._judge(ctx)
        self._check_answers(item, answers)
        n = len(item.turns)
        baseline = self._baseline(item, ctx, n, fallback=item.reference)
        question: str | list[str] = item.turns[0] if n == 1 else list(item.turns)
        category = item.metadata.get("category")
        known = ARENA_HARD_CATEGORIES.get(str(category))
        outcome, fallbacks, details = await pairwise_both_orders(
            judge,
            question,
            answers[0] if n == 1 else answers[:n],
            baseline[0] if n == 1 else baseline,
            ctx.judge_retries,
            scale="arena",
            solve_first=known.solve_first if known else True,
        )
        details["len_model"] = len(answers[n - 1])
        details["len_baseline"] = len(baseline[n - 1])
        details["category"] = category
        # The model whose answers this item was judged against, when the baseline answers name it.
        details["baseline"] = item.metadata.get("baseline")
        return ItemScore(value=outcome, details=details, fallbacks=fallbacks)

    def _scores_summary(self, scores: Sequence[ItemScore]) -> dict[str, Any]:
        out = self._pairwise_summary(scores)
        wins = ties = games = 0.0
        for s in scores:
            for st in s.details.get("strengths", []) or []:
                if st is None:
                    continue
                weight = 3 if abs(st) == 2 else 1
                games += weight
                if st > 0:
                    wins += weight
                elif st == 0:
                    ties += weight
        out["weighted_win_rate"] = (wins + 0.5 * ties) / games if games else float("nan")
        return out

    def summary_extra(self, scores: Sequence[ItemScore]) -> dict[str, Any]:
        """``win_rate``, ``ci_low``, ``ci_high`` (bootstrap over questions, 0..1), counts, and
        ``weighted_win_rate``: Arena-Hard's game weighting, where a strong verdict (>>) counts as
        three games and unparsed games are dropped. ``by_category`` holds the same for each category
        (arena-hard-auto reports each category on its own, against its own baseline), with the
        ``baseline`` model it was judged against where the baseline answers named it."""
        out = self._scores_summary(scores)
        groups: dict[str, list[ItemScore]] = {}
        for s in scores:
            if s.details.get("category") is not None:
                groups.setdefault(str(s.details["category"]), []).append(s)
        if groups:
            by_category: dict[str, dict[str, Any]] = {}
            for category, group in sorted(groups.items()):
                models = sorted({str(s.details["baseline"]) for s in group if s.details.get("baseline")})
                part = self._scores_summary(group)
                by_category[category] = {
                    **({"baseline": ", ".join(models)} if models else {}),
                    **{k: part[k] for k in ("win_rate", "ci_low", "ci_high", "weighted_win_rate", "n")},
                }
            out["by_category"] = by_category
        return out


# --------------------------------------------------------------------------- AlpacaEval 2.0


@register_benchmark("alpaca-eval")
class AlpacaEval(_JudgedBenchmark):
    """AlpacaEval 2.0: 805 instructions, judged pairwise against a reference output.

    Data: a local file (``--data``) with ``instruction`` and optional ``output`` (the
    baseline's reply), or the `datasets` source ``tatsu-lab/alpaca_eval``, split
    ``eval``, config ``alpaca_eval_gpt4_baseline`` by default (its ``output`` field
    holds GPT-4 Turbo's replies, AlpacaEval 2.0's baseline; config ``alpaca_eval``
    holds text-davinci-003's, AlpacaEval 1's).

    The baseline answer is ``ctx.baseline[item.id]`` when given (AlpacaEval's
    ``results/<model>/model_outputs.json`` has no ids: its outputs are matched to the items by
    instruction, see :mod:`archon.benchmarks.baseline_answers`), else the item's ``output``.
    The item score is the both-orders outcome (1, 0.5, 0); the headline is the win rate (0..1);
    :meth:`summary_extra` adds the length-controlled win rate computed from character lengths.
    """

    name = "alpaca-eval"
    source = (
        "tatsu-lab/alpaca_eval (config 'alpaca_eval_gpt4_baseline', split 'eval'); "
        "local files need 'instruction' and optionally 'output'"
    )
    hf_path = "tatsu-lab/alpaca_eval"
    hf_split = "eval"

    def __init__(self, config: str = "alpaca_eval_gpt4_baseline"):
        self.config = config
        # The hub repo tatsu-lab/alpaca_eval holds <config>.json; tatsu-lab/alpaca_eval's results/<model>/ a
        # model's model_outputs.json (instruction, output, generator).
        self.layouts = ((f"{config}.json",), ("model_outputs.json",))
        self.source = (
            f"{self.hf_path} (config {config!r}, split 'eval'); local files need 'instruction' and optionally 'output'"
        )

    def options(self) -> dict[str, str | int | float]:
        return {"config": self.config}

    def baseline_need(self) -> BaselineNeed | None:
        return "reference"  # a baseline answer, or the item's own ``output``

    def load(self, data: str | Path | None = None) -> list[Item]:
        records = load_records(
            data,
            benchmark=self.name,
            hf_path=self.hf_path,
            hf_name=self.config,
            split=self.hf_split,
            layouts=self.layouts,
        )
        items: list[Item] = []
        for i, r in enumerate(records):
            instruction = _first(r, "instruction", "prompt")
            if instruction is None:
                raise DatasetNotFound(f"alpaca-eval: {where(records, i)} has no 'instruction' field")
            output = r.get("output")
            rid = _first(r, "id", "question_id")
            items.append(
                Item(
                    id=str(rid if rid is not None else i),
                    turns=[_text(instruction)],
                    reference=_text(output) if output is not None and _text(output).strip() else None,
                    metadata={k: r[k] for k in ("dataset", "generator") if k in r},
                )
            )
        return items

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        judge = self._judge(ctx)
        self._check_answers(item, answers)
        from_ctx = ctx.baseline is not None and item.id in ctx.baseline
        baseline = self._baseline(item, ctx, 1, fallback=item.reference)[0]
        outcome, fallbacks, details = await pairwise_both_orders(
            judge, item.turns[0], answers[0], baseline, ctx.judge_retries, scale="ab"
        )
        details["len_model"] = len(answers[0])
        details["len_baseline"] = len(baseline)
        details["baseline_source"] = "baseline" if from_ctx else "dataset"
        return ItemScore(value=outcome, details=details, fallbacks=fallbacks)

    def summary_extra(self, scores: Sequence[ItemScore]) -> dict[str, Any]:
        """``win_rate``, ``lc_win_rate`` (length-controlled, character lengths), ``ci_low``/``ci_high``
        (bootstrap of the raw win rate), counts and average lengths. All rates are 0..1."""
        out = self._pairwise_summary(scores)
        with_len = [s for s in scores if "len_model" in s.details and "len_baseline" in s.details]
        if with_len:
            lm = [float(s.details["len_model"]) for s in with_len]
            lb = [float(s.details["len_baseline"]) for s in with_len]
            out["lc_win_rate"] = length_controlled_win_rate([float(s.value) for s in with_len], lm, lb)
            out["avg_len_model"] = _mean(lm)
            out["avg_len_baseline"] = _mean(lb)
        else:
            out["lc_win_rate"] = float("nan")
        return out
