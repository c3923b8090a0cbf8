"""Benchmarks scored against a reference answer: GSM8K, MATH, MixEval and MixEval-Hard.

Scoring is rule-based and never raises on a malformed answer: an answer that
cannot be read scores 0.0 and says why in ``ItemScore.details``. MixEval may
additionally ask an LLM judge (``ScoringContext.judge``) to read an answer the
rules could not, as the MixEval authors do with their model parser.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import DatasetNotFound
from .base import Benchmark, Item, ItemScore, Judge, ScoringContext
from .data import HubRecords, folder_files, load_records, read_json, read_local, where
from .judged import judge_verdict
from .registry import register_benchmark

__all__ = [
    "GSM8K",
    "MATHBenchmark",
    "MixEval",
    "MixEvalHard",
    "extract_gsm8k_number",
    "extract_option_letter",
    "math_final_answer",
    "normalize_text",
]


# --------------------------------------------------------------------------- helpers

_ID_FIELDS = ("id", "task_id", "unique_id", "idx", "index", "question_id")


def _first(record: dict[str, Any], *names: str, default: Any = None) -> Any:
    """The first field of ``record`` among ``names`` that is present and not empty."""
    for n in names:
        v = record.get(n)
        if v is not None and v != "" and v != []:
            return v
    return default


def _record_id(record: dict[str, Any], fallback: str) -> str:
    v = _first(record, *_ID_FIELDS)
    return str(v) if v is not None else fallback


def _require(record: dict[str, Any], benchmark: str, at: str, *names: str) -> Any:
    """The first of ``names`` in ``record``; ``at`` says where the record is (see :func:`where`)."""
    v = _first(record, *names)
    if v is None:
        raise DatasetNotFound(
            f"{benchmark}: {at} has none of the fields {', '.join(names)} "
            f"(fields present: {', '.join(sorted(record)) or 'none'})"
        )
    return v


# A number as written in prose: optional sign (not a hyphen between words), thousands commas, decimals.
_NUM = r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_NUM_RE = re.compile(_NUM)
_ANSWER_IS_RE = re.compile(r"(?:final\s+)?answer\s*(?:is|:|=)", re.IGNORECASE)


def _number(s: str) -> Fraction | None:
    """Parse a number written with commas, ``$``, ``%`` or a trailing period; None if it is not one."""
    t = s.strip().replace(",", "").replace("$", "").replace("%", "").replace(" ", "")
    t = t.rstrip(".")
    try:
        return Fraction(t)
    except (ValueError, ZeroDivisionError):
        return None


def _last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces, or None."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    start = starts[-1]
    depth, i = 1, start
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None  # unbalanced


def _clean_for_numbers(text: str) -> str:
    return text.replace("{,}", ",").replace("\\!", "").replace("$", "").replace("\\%", "%")


# The end of a sentence: a line break, or . ! ? ; followed by a space or the end (not a decimal point).
_SENTENCE_END_RE = re.compile(r"\n|[.!?;](?=\s|$)")
# A number right after an answer marker: spaces, colons, bold or a backslash between them, on the same line.
_RIGHT_AFTER_RE = re.compile(r"[ \t:*_\\]*(" + _NUM + r")")
# What makes a number the start of a calculation rather than the answer: "10 + 8 = 18".
_OPERATOR_AFTER_RE = re.compile(r"\s*(?:[-+*/×÷=^<>]|\\times|\\cdot|\\div)")


def _first_sentence(text: str) -> str:
    """``text`` up to the end of its first sentence or line."""
    m = _SENTENCE_END_RE.search(text)
    return text[: m.start()] if m else text


def _final_segment(answer: str) -> str | None:
    """The text after the last "answer is" / "Answer:" marker, if any."""
    ms = list(_ANSWER_IS_RE.finditer(answer))
    return answer[ms[-1].end() :] if ms else None


def _number_after_marker(text: str) -> str | None:
    """The answer number in the text that follows an answer marker: the number right after it,
    unless a calculation starts there; else the last number of the marker's sentence."""
    m = _RIGHT_AFTER_RE.match(text)
    if m and not _OPERATOR_AFTER_RE.match(text, m.end()):
        return m.group(1)
    nums = _NUM_RE.findall(_first_sentence(text))
    return nums[-1] if nums else None


def extract_gsm8k_number(text: str) -> tuple[str | None, str]:
    """The final number of a GSM8K answer and how it was found.

    Preference: after the last "The answer is" / "Answer:" that has one (the number right after
    the marker, else the last number of the marker's sentence, so "Final answer: 10 + 8 = 18" gives
    18), then after the last "####", then inside the last ``\\boxed{}``, else the last number in the text.
    """
    t = _clean_for_numbers(text or "")
    for marker in reversed(list(_ANSWER_IS_RE.finditer(t))):
        found = _number_after_marker(t[marker.end() :])
        if found is not None:
            return found, "answer_is"
    if "####" in t:
        m = _NUM_RE.search(t.rsplit("####", 1)[1])
        if m:
            return m.group(0), "hashes"
    boxed = _last_boxed(t)
    if boxed is not None:
        m = _NUM_RE.search(boxed)
        if m:
            return m.group(0), "boxed"
    nums = _NUM_RE.findall(t)
    if nums:
        return nums[-1], "last_number"
    return None, "none"


# --------------------------------------------------------------------------- GSM8K


@register_benchmark("gsm8k")
class GSM8K(HubRecords, Benchmark):
    """Grade-school math word problems; the answer is a number."""

    name = "gsm8k"
    kind = "ground_truth"
    source = "openai/gsm8k (config 'main', split 'test') on the Hugging Face hub"
    hf_path, hf_name, split = "openai/gsm8k", "main", "test"
    # openai/grade-school-math: grade_school_math/data/ also holds train, the socratic variants and model solutions.
    layouts = (("test.jsonl",), ("data/test.jsonl",), ("grade_school_math/data/test.jsonl",))

    INSTRUCTION = (
        "Solve the problem step by step. End your reply with the sentence "
        '"The answer is N." where N is the final number, with no units.'
    )

    def load(self, data: str | Path | None = None) -> list[Item]:
        records = self.records(data)
        items = []
        for i, r in enumerate(records):
            question = _require(r, self.name, where(records, i), "question", "problem", "input", "prompt")
            answer = _require(r, self.name, where(records, i), "answer", "final_answer", "target", "solution", "output")
            text = str(answer)
            gold = text.rsplit("####", 1)[1].strip() if "####" in text else extract_gsm8k_number(text)[0]
            if gold is None or _number(gold) is None:
                raise DatasetNotFound(f"{self.name}: {where(records, i)} has no numeric answer in {text[-80:]!r}")
            items.append(
                Item(
                    id=_record_id(r, str(i)),
                    turns=[str(question)],
                    reference=gold.replace(",", ""),
                    metadata={"solution": text},
                )
            )
        return items

    def prompt(self, item: Item, turn: int) -> str:
        return f"{item.turns[turn]}\n\n{self.INSTRUCTION}"

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        answer = answers[-1] if answers else ""
        extracted, method = extract_gsm8k_number(answer or "")
        gold = _number(str(item.reference))
        got = _number(extracted) if extracted is not None else None
        details: dict[str, Any] = {"extracted": extracted, "gold": str(item.reference), "method": method}
        if got is None:
            details["parse_error"] = "no number found in the answer"
            return ItemScore(0.0, details)
        return ItemScore(1.0 if got == gold else 0.0, details)

    def vote_key(self, answer: str) -> Fraction | None:
        """Majority voting compares final numbers, not reasoning text."""
        extracted, _ = extract_gsm8k_number(answer or "")
        return _number(extracted) if extracted is not None else None


# --------------------------------------------------------------------------- MATH


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _math_parse(text: str, *, bare: bool = False) -> list:
    """math_verify's parse of ``text``. ``bare``: ``text`` is one expression (a reference answer, the
    content of a box), tried as ``$text$``, ``\boxed{text}`` and as it is."""
    from math_verify import parse  # imported lazily: sympy is slow to import

    # math_verify's time limits use SIGALRM, which only works in the main thread.
    kw: dict[str, Any] = {} if _in_main_thread() else {"parsing_timeout": None}
    if not bare:
        return parse(text, **kw)
    t = text.strip()
    candidates = [t] if ("$" in t or "\\boxed" in t or "\\(" in t or "\\[" in t) else []
    candidates += [f"${t}$", f"\\boxed{{{t}}}", t]
    for c in candidates:
        parsed = parse(c, **kw)
        if parsed:
            return parsed
    return []


_MATH_DELIMS_RE = re.compile(r"^(?:\$\$?|\\\(|\\\[)(.*?)(?:\$\$?|\\\)|\\\])$", re.DOTALL)


def _single_expression(expr: str) -> bool:
    """Whether ``expr`` reads as one mathematical answer: no run of words ("1 or maybe 3", "3 apples"),
    one word at most when it is the whole answer ("Monday")."""
    rest = re.sub(r"\\[A-Za-z]+", " ", expr)
    words = re.findall(r"[A-Za-z]{2,}", rest)
    return not words or (len(words) == 1 and re.sub(r"[\s{}()]", "", rest) == words[0])


def math_final_answer(answer: str) -> tuple[str | None, str]:
    """The final answer of a MATH solution and how it was found: the content of the last ``\\boxed{}``;
    without a box, the single expression that follows the last "The answer is" / "Answer:" (to the end
    of its sentence); else None (and ``"none"``, or ``"unclear"`` when the marker is followed by prose)."""
    boxed = _last_boxed(answer or "")
    if boxed is not None:
        return (boxed if boxed.strip() else None), "boxed"
    segment = _final_segment(answer or "")
    if segment is None:
        return None, "none"
    expr = _first_sentence(segment).strip().strip("*").strip().rstrip(".").strip()
    m = _MATH_DELIMS_RE.match(expr)
    if m:
        expr = m.group(1).strip()
    if not expr or not _single_expression(expr):
        return None, "unclear"
    return expr, "answer_is"


def _math_verify(gold: list, answer: list) -> bool:
    from math_verify import verify

    kw: dict[str, Any] = {} if _in_main_thread() else {"timeout_seconds": None}
    return bool(verify(gold, answer, **kw))


# The subject folders of the MATH tree (hendrycks/math: MATH/test/<subject>/<n>.json, one problem per file).
MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)


def _math_layouts(data: str | Path | None) -> tuple[tuple[str, ...], ...]:
    """MATH's official layouts: the tree (``MATH/`` holding ``test/<subject>/``, or ``MATH/test/`` itself),
    MATH-500's ``test.jsonl`` (HuggingFaceH4/MATH-500, openai/prm800k's ``math_splits/``)."""
    layouts: list[tuple[str, ...]] = [("test/*/*.json",), ("test.jsonl",), ("math_splits/test.jsonl",)]
    p = Path(data) if data is not None else None
    if p is not None and p.is_dir():
        subdirs = {d.name for d in p.iterdir() if d.is_dir()}
        if subdirs and subdirs <= set(MATH_SUBJECTS):  # the folder is test/ (or train/) of the tree
            layouts.insert(1, ("*/*.json",))
    return tuple(layouts)


def _math_level(level: Any) -> Any:
    """5 from "Level 5" (the MATH tree) or 5 (MATH-500); anything else ("Level ?") as it is."""
    text = str(level).strip()
    if text.lower().startswith("level"):
        text = text[5:].strip()
    return int(text) if text.isdigit() else level


def _math_tree_id(records: Sequence[Any], index: int) -> str:
    """A MATH-tree problem's id as MATH-500 writes it ("test/algebra/1.json"), from the file it came from."""
    origins = getattr(records, "origins", None)
    if not origins:
        return str(index)
    path, k = origins[index]
    parts = Path(path).parts
    tail = parts[-3:] if len(parts) >= 3 and parts[-2] in MATH_SUBJECTS else parts[-1:]
    return "/".join(tail) + (f"#{k}" if k else "")


@register_benchmark("math")
class MATHBenchmark(HubRecords, Benchmark):
    """Competition math (the paper samples 200 MATH test problems; the default source is MATH-500)."""

    name = "math"
    kind = "ground_truth"
    source = "HuggingFaceH4/MATH-500 (split 'test') on the Hugging Face hub"
    hf_path, hf_name, split = "HuggingFaceH4/MATH-500", None, "test"

    INSTRUCTION = "Solve the problem step by step. Put your final answer within \\boxed{}."

    def load(self, data: str | Path | None = None) -> list[Item]:
        records = self.records(data, _math_layouts(data))
        items = []
        for i, r in enumerate(records):
            at = where(records, i)
            problem = _require(r, self.name, at, "problem", "question", "input", "prompt")
            answer = _first(r, "answer", "final_answer", "target")
            solution = _first(r, "solution", "output")
            if answer is None and solution is not None:
                answer = _last_boxed(str(solution))
            if answer is None:
                raise DatasetNotFound(
                    f"{self.name}: {at} has no 'answer' field and no \\boxed{{}} answer in its 'solution'"
                )
            meta: dict[str, Any] = {k: r[k] for k in ("subject", "type", "level") if k in r}
            # The MATH tree names the subject 'type' and writes the level "Level 5"; MATH-500 has 'subject' and 5.
            subject = _first(r, "subject", "type")
            if subject is not None:
                meta["subject"] = str(subject)
            if "level" in r:
                meta["level"] = _math_level(r["level"])
            if solution is not None:
                meta["solution"] = str(solution)
            rid = _first(r, *_ID_FIELDS)
            items.append(
                Item(
                    id=str(rid) if rid is not None else _math_tree_id(records, i),
                    turns=[str(problem)],
                    reference=str(answer),
                    metadata=meta,
                )
            )
        return items

    def summary_extra(self, scores: Sequence[ItemScore]) -> dict[str, Any]:
        """Accuracy per subject and per level (items whose details record them), as MATH reports it."""
        out: dict[str, Any] = {}
        for key in ("subject", "level"):
            groups: dict[str, list[float]] = {}
            for s in scores:
                if s.details.get(key) is not None and s.value == s.value:  # NaN: unscored
                    groups.setdefault(str(s.details[key]), []).append(float(s.value))
            if groups:
                out[f"by_{key}"] = {k: sum(v) / len(v) for k, v in sorted(groups.items())}
                out[f"n_by_{key}"] = {k: len(v) for k, v in sorted(groups.items())}
        return out

    def prompt(self, item: Item, turn: int) -> str:
        return f"{item.turns[turn]}\n\n{self.INSTRUCTION}"

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        answer = answers[-1] if answers else ""
        details: dict[str, Any] = {"gold": str(item.reference)}
        details.update({k: item.metadata[k] for k in ("subject", "level") if item.metadata.get(k) is not None})
        try:
            gold = _math_parse(str(item.reference), bare=True)
        except Exception as e:  # a broken reference must not stop a run
            details["parse_error"] = f"gold: {type(e).__name__}: {str(e)[:200]}"
            return ItemScore(0.0, details)
        if not gold:
            details["parse_error"] = "could not parse the reference answer"
            return ItemScore(0.0, details)
        final, method = math_final_answer(answer or "")
        details["method"] = method
        if final is None:
            details["parse_error"] = (
                "no \\boxed{} answer and no single expression after 'The answer is'"
                if method == "unclear"
                else "no \\boxed{} final answer"
            )
            return ItemScore(0.0, details)
        try:
            parsed = _math_parse(final, bare=True)
        except Exception as e:
            details["parse_error"] = f"{type(e).__name__}: {str(e)[:200]}"
            return ItemScore(0.0, details)
        if not parsed:
            details["parse_error"] = f"could not read the final answer {final[:100]!r}"
            return ItemScore(0.0, details)
        details["extracted"] = str(parsed[-1])[:200]
        try:
            ok = _math_verify(gold, parsed)
        except Exception as e:
            details["parse_error"] = f"verify: {type(e).__name__}: {str(e)[:200]}"
            return ItemScore(0.0, details)
        return ItemScore(1.0 if ok else 0.0, details)

    def vote_key(self, answer: str) -> str | None:
        """Majority voting compares final answers, equivalent forms together: a number by its value
        (``\\frac{1}{2}``, ``0.5`` and ``\\dfrac12`` vote as one), anything else as math_verify reads it,
        else the answer's text without spaces."""
        final, _ = math_final_answer(answer or "")
        if final is None:
            return None
        try:
            parsed = _math_parse(final, bare=True)
        except Exception:  # an answer math_verify cannot read votes by its text
            parsed = []
        if parsed and hasattr(parsed[0], "free_symbols"):
            expr = parsed[0]
            if getattr(expr, "is_number", False):
                try:
                    return f"{float(expr.evalf()):.10g}"
                except (TypeError, ValueError):  # complex, undefined
                    pass
            return str(expr)
        return "".join(final.split())


# --------------------------------------------------------------------------- MixEval

_MC_INSTRUCTION = "Answer with the option letter from the given choices directly."
_FF_INSTRUCTION = "Answer the question shortly."
_FF_STEP_BY_STEP = "Answer the question. \nLet's think step by step."
_STEP_BY_STEP_SOURCES = {"bbh", "gsm8k", "math"}

_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT_TABLE = str.maketrans("", "", string.punctuation + "‘’“”")


def normalize_text(s: str) -> str:
    """Lowercase, drop punctuation and English articles, collapse whitespace (SQuAD-style)."""
    s = str(s).lower().translate(_PUNCT_TABLE)
    s = _ARTICLES_RE.sub(" ", s)
    return " ".join(s.split())


def _contains_words(haystack: str, needle: str) -> bool:
    """Whether normalised ``needle`` occurs in normalised ``haystack`` on word boundaries."""
    return bool(needle) and f" {needle} " in f" {haystack} "


def _strip_markup(text: str) -> str:
    return re.sub(r"[*_`#]", "", text or "").strip()


def extract_option_letter(answer: str, options: Sequence[str]) -> int | None:
    """The index of the option an answer picks, by letter or by option text; None if unclear."""
    n = len(options)
    if n == 0:
        return None
    letters = string.ascii_uppercase[:n]
    text = _strip_markup(answer)

    def ok(letter: str) -> int | None:
        letter = letter.upper()
        return letters.index(letter) if letter in letters else None

    # 1. The whole answer, or its first line, is a letter: "B", "(B)", "B.", "[B]".
    for line in (text, text.split("\n", 1)[0].strip()):
        m = re.fullmatch(r"[\(\[]?([A-Za-z])[\)\]]?[.:]?", line)
        if m and ok(m.group(1)) is not None:
            return ok(m.group(1))
    # 2. \boxed{B}
    boxed = _last_boxed(text)
    if boxed is not None:
        m = re.fullmatch(r"\s*(?:\\text\{)?\(?([A-Z])\)?\}?\s*", boxed)
        if m and ok(m.group(1)) is not None:
            return ok(m.group(1))
    # 3. "The answer is (B)", "Answer: B", "option B", "correct choice is B" (the last such phrase wins).
    found = None
    for m in re.finditer(
        r"(?i:answer|option|choice)\s*(?i:is|:|=)?\s*(?i:option\s*|choice\s*)?:?\s*[\(\[]?([A-Z])(?![A-Za-z0-9])",
        text,
    ):
        if ok(m.group(1)) is not None:
            found = ok(m.group(1))
    if found is not None:
        return found
    # 4. Starts with a letter: "B. Paris", "(B) because ...", "B) ...", "B: ...".
    m = re.match(r"[\(\[]?([A-Z])(?:[\)\]]|[.:])(?:\s|$)", text)
    if m and ok(m.group(1)) is not None:
        return ok(m.group(1))
    # 5. The option text itself: equal to one option, or exactly one option quoted within the answer.
    norm = normalize_text(text)
    norm_options = [normalize_text(o) for o in options]
    exact = [i for i, o in enumerate(norm_options) if o and o == norm]
    if len(exact) == 1:
        return exact[0]
    contained = [i for i, o in enumerate(norm_options) if _contains_words(norm, o)]
    if len(contained) == 1:
        return contained[0]
    if (
        len(contained) > 1
    ):  # one option may be part of another ("No" inside "No, never"): keep the longest if it covers the rest
        longest = max(contained, key=lambda i: len(norm_options[i]))
        if all(_contains_words(norm_options[longest], norm_options[i]) for i in contained):
            return longest
    return None


# At most this many words (after normalisation) make an answer short enough to be read whole.
_SHORT_ANSWER_WORDS = 6
_NEGATIONS = {
    "not",
    "no",
    "never",
    "neither",
    "nor",
    "none",
    "isnt",
    "wasnt",
    "arent",
    "werent",
    "dont",
    "doesnt",
    "didnt",
    "cannot",
    "cant",
    "wont",
}


def _free_form_final(answer: str) -> tuple[str, str] | None:
    """The final answer of a free-form reply and where it came from: the last ``\\boxed{}``, the
    sentence after the last answer marker, or a short reply as a whole; None when there is none."""
    boxed = _last_boxed(answer)
    if boxed is not None:
        return boxed, "boxed"
    segment = _final_segment(answer)
    if segment is not None:
        return _first_sentence(segment.lstrip(" \t\r\n:*")), "answer_is"
    text = _strip_markup(answer)
    if text and len(normalize_text(text).split()) <= _SHORT_ANSWER_WORDS:
        return text, "short"
    return None


def _final_number(final: str, how: str) -> Fraction | None:
    """The number a final answer gives: after a marker or in a box as GSM8K reads it, in a short
    reply only when it holds exactly one number."""
    text = _clean_for_numbers(final)
    if how == "short":
        nums = _NUM_RE.findall(text)
        return _number(nums[0]) if len(nums) == 1 else None
    found = _number_after_marker(text)
    return _number(found) if found is not None else None


def _free_form_match(answer: str, targets: Sequence[str]) -> bool:
    """Whether the reply's final answer (see :func:`_free_form_final`) is one of ``targets``.

    A number target must be the final answer's number; a text target must be the whole final answer,
    come right after the answer marker, or appear in the final answer (on word boundaries) with no
    negation the target lacks ("not Sydney"). A reply with no clear final answer does not match:
    the judge parser, if any, reads it.
    """
    found = _free_form_final(answer or "")
    if found is None:
        return False
    final, how = found
    norm = normalize_text(_strip_markup(final))
    words = set(norm.split())
    number = _final_number(final, how)
    for t in targets:
        gold = _number(str(t))
        if gold is not None:
            if number == gold:
                return True
            continue
        nt = normalize_text(t)
        if not nt:
            continue
        if norm == nt or (how != "short" and norm.startswith(nt + " ")):  # right after the marker
            return True
        if _contains_words(norm, nt) and not (words & _NEGATIONS) - set(nt.split()):
            return True
    return False


_MC_JUDGE_PROMPT = """You read a response to a multiple-choice question and report which option it chose. You do not solve the question yourself.

Question:
{question}

Options:
{options}

Response:
{response}

Which option did the response choose? Reply with the option letter in double square brackets, for example [[B]]. If the response chose no option or several, reply [[none]]."""  # noqa: E501 - prompt text: one paragraph a line, sent as written

_FF_JUDGE_PROMPT = """You grade a response to a question against the reference answers. Judge only whether the response's final answer means the same as one of the reference answers; ignore style and length.

Question:
{question}

Reference answer(s):
{targets}

Response:
{response}

Reply with [[1]] if the response's final answer is correct, or [[0]] if it is wrong or gives no answer."""  # noqa: E501 - prompt text: one paragraph a line, sent as written


_MC_JUDGE_REMINDER = (
    "Your reply did not end with the option letter in the required form. Reply with only the letter in double "
    "square brackets, for example [[B]], or [[none]] if the response chose no option or several."
)
_FF_JUDGE_REMINDER = (
    "Your reply did not end with a verdict in the required form. Reply with only [[1]] (correct) or [[0]] (wrong)."
)


def _format_options(options: Sequence[str]) -> str:
    return "\n".join(f"{string.ascii_uppercase[i]}. {o}" for i, o in enumerate(options))


def _has_context(ctx: Any) -> bool:
    return ctx is not None and str(ctx).strip().lower() not in ("", "none", "null", "nan")


def _read_mixeval_local(path: str | Path, benchmark: str, layouts) -> list[tuple[str, dict[str, Any], str]]:
    """(key, record, where) triples from MixEval's own files (a JSON object of id -> record) or any file
    read_local reads; a folder gives the files of its official layout (see :func:`folder_files`)."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFound(f"data path {str(p)!r} does not exist")
    files = folder_files(p, benchmark=benchmark, layouts=layouts) if p.is_dir() else [p]
    out: list[tuple[str, dict[str, Any], str]] = []
    for f in files:
        if f.name.endswith((".json", ".json.gz")):
            obj = read_json(f)
            if isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
                out += [(str(k), v, f"record {str(k)!r} of {str(f)!r}") for k, v in obj.items()]
                continue
        records = read_local(f)
        out += [(str(i), r, where(records, i)) for i, r in enumerate(records)]
    return out


@register_benchmark("mixeval")
class MixEval(Benchmark):
    """MixEval: free-form and multiple-choice questions mixed from many benchmarks; accuracy over both."""

    name = "mixeval"
    kind = "ground_truth"
    source = "MixEval/MixEval (config 'MixEval', splits 'free_form' and 'multiple_choice') on the Hugging Face hub"
    hf_path, hf_name = "MixEval/MixEval", "MixEval"
    splits = ("free_form", "multiple_choice")
    # Psycoy/MixEval: mix_eval/data/mixeval-<version>/{mixeval,mixeval-hard}/{free-form,multiple-choice}.json;
    # the benchmark is both files of its folder.
    layouts: tuple[tuple[str, ...], ...] = (
        ("free-form.json", "multiple-choice.json"),
        ("mixeval/free-form.json", "mixeval/multiple-choice.json"),
    )

    def load(self, data: str | Path | None = None) -> list[Item]:
        if data is not None:
            pairs = _read_mixeval_local(data, self.name, self.layouts)
        else:
            pairs = []
            for split in self.splits:
                recs = load_records(None, benchmark=self.name, hf_path=self.hf_path, hf_name=self.hf_name, split=split)
                for i, r in enumerate(recs):
                    r = dict(r)
                    r.setdefault("problem_type", split)
                    pairs.append((str(i), r, f"record {i} of split {split!r}"))
        items: list[Item] = []
        seen: set[str] = set()
        for key, r, at in pairs:
            item = self._item(key, r, at)
            if item.id in seen:  # the same key in the free-form and multiple-choice files, say
                item.id = f"{item.id}#{len(items)}"
            seen.add(item.id)
            items.append(item)
        return items

    def _item(self, key: str, r: dict[str, Any], at: str) -> Item:
        prompt = str(_require(r, self.name, at, "prompt", "question", "input"))
        options = list(r.get("options") or [])
        ptype = str(r.get("problem_type") or "").lower().replace("-", "_")
        mc = bool(options) and "free" not in ptype
        raw_target = r.get("target", r.get("answer", r.get("targets")))
        if raw_target is None:
            raise DatasetNotFound(f"{self.name}: {at} has no 'target'")
        targets = list(raw_target) if isinstance(raw_target, (list, tuple)) else [raw_target]
        kind = "multiple_choice" if mc else "free_form"
        if mc:
            idx = [self._target_index(t, options) for t in targets]
            if any(i is None for i in idx):
                raise DatasetNotFound(
                    f"{self.name}: {at}: target {targets!r} does not name one of {len(options)} options"
                )
            reference: dict[str, Any] = {"type": kind, "options": [str(o) for o in options], "target": idx}
        else:
            reference = {"type": kind, "target": [str(t) for t in targets]}
        explicit = _first(r, "id", "question_id", "idx")
        item_id = str(explicit) if explicit is not None else f"{kind}-{key}"
        meta = {"problem_type": kind, "benchmark_name": r.get("benchmark_name"), "context": r.get("context")}
        return Item(id=item_id, turns=[prompt], reference=reference, metadata=meta)

    @staticmethod
    def _target_index(t: Any, options: Sequence[Any]) -> int | None:
        if isinstance(t, bool):
            return None
        if isinstance(t, int):
            return t if 0 <= t < len(options) else None
        s = str(t).strip()
        if s.isdigit():
            return int(s) if int(s) < len(options) else None
        if len(s) == 1 and s.upper() in string.ascii_uppercase[: len(options)]:
            return string.ascii_uppercase.index(s.upper())
        norm = [normalize_text(o) for o in options]
        return norm.index(normalize_text(s)) if normalize_text(s) in norm else None

    def prompt(self, item: Item, turn: int) -> str:
        question = item.turns[turn]
        context = item.metadata.get("context")
        ref = item.reference
        if ref["type"] == "multiple_choice":
            body = f"{question}\n{_format_options(ref['options'])}\n{_MC_INSTRUCTION}"
            return f"{context}\n{body}" if _has_context(context) else body
        source = str(item.metadata.get("benchmark_name") or "").lower()
        instruction = _FF_STEP_BY_STEP if source in _STEP_BY_STEP_SOURCES else _FF_INSTRUCTION
        body = f"{question}\n{instruction}"
        return f"Question: {context}\n{body}" if _has_context(context) else f"Question: {body}"

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        answer = answers[-1] if answers else ""
        ref = item.reference
        if ref["type"] == "multiple_choice":
            return await self._score_mc(item, answer or "", ctx)
        return await self._score_ff(item, answer or "", ctx)

    async def _score_mc(self, item: Item, answer: str, ctx: ScoringContext) -> ItemScore:
        options, target = item.reference["options"], item.reference["target"]
        details: dict[str, Any] = {"type": "multiple_choice", "target": target}
        choice = extract_option_letter(answer, options)
        if choice is not None:
            details.update(choice=choice, parsed_by="rules")
            return ItemScore(1.0 if choice in target else 0.0, details)
        if ctx.judge is None:
            details["parse_error"] = "no option found in the answer"
            return ItemScore(0.0, details)
        prompt = _MC_JUDGE_PROMPT.format(
            question=self.prompt(item, 0), options=_format_options(options), response=answer
        )

        def read(reply: str) -> tuple[bool, int | None]:
            m = re.findall(r"\[\[\s*([A-Za-z]+)\s*\]\]", reply)
            if not m:
                return False, None
            v = m[-1].strip()
            if v.lower() == "none":
                return True, None
            if len(v) == 1 and v.upper() in string.ascii_uppercase[: len(options)]:
                return True, string.ascii_uppercase.index(v.upper())
            return False, None

        parsed, value, info = await self._ask_judge(ctx.judge, ctx.judge_retries, prompt, read, _MC_JUDGE_REMINDER)
        details.update(info)
        if not parsed:
            details["parse_error"] = "neither the rules nor the judge found an option"
            return ItemScore(0.0, details, fallbacks=1)
        details.update(choice=value, parsed_by="judge")
        return ItemScore(1.0 if value is not None and value in target else 0.0, details)

    async def _score_ff(self, item: Item, answer: str, ctx: ScoringContext) -> ItemScore:
        targets = item.reference["target"]
        details: dict[str, Any] = {"type": "free_form", "target": targets}
        if _free_form_match(answer, targets):
            details["parsed_by"] = "rules"
            return ItemScore(1.0, details)
        if ctx.judge is None:
            details["parsed_by"] = "rules"
            return ItemScore(0.0, details)
        prompt = _FF_JUDGE_PROMPT.format(
            question=self.prompt(item, 0), targets="\n".join(f"- {t}" for t in targets), response=answer
        )

        def read(reply: str) -> tuple[bool, int | None]:
            m = re.findall(r"\[\[\s*([01](?:\.0+)?)\s*\]\]", reply)
            return (True, int(float(m[-1]))) if m else (False, None)

        parsed, value, info = await self._ask_judge(ctx.judge, ctx.judge_retries, prompt, read, _FF_JUDGE_REMINDER)
        details.update(info)
        if not parsed:
            details["parse_error"] = "the judge's verdict could not be read"
            return ItemScore(0.0, details, fallbacks=1)
        details["parsed_by"] = "judge"
        return ItemScore(float(value or 0), details)

    @staticmethod
    async def _ask_judge(
        judge: Judge, retries: int, prompt: str, read: Callable[[str], tuple[bool, Any]], reminder: str
    ) -> tuple[bool, Any, dict[str, Any]]:
        """Ask ``judge`` up to 1 + ``retries`` times; (parsed, value, details). A retry shows the
        judge its unreadable reply and ``reminder``, so it is a new request (not a cache hit)."""

        def parse(reply: str) -> tuple[Any] | None:
            ok, value = read(reply)
            return (value,) if ok else None

        info: dict[str, Any] = {}
        # A judge that fails for good raises: the runner leaves the item unscored (a judge error
        # is not the architecture's wrong answer).
        call = await judge_verdict(judge, [{"role": "user", "content": prompt}], parse, retries, reminder=reminder)
        info["judge_attempts"] = call.attempts
        if call.replies:
            info["judge_reply"] = call.replies[-1][:500]
        if call.parsed is None:
            return False, None, info
        return True, call.parsed[0], info

    def vote_key(self, answer: str) -> str | None:
        """Majority voting compares final answers: the option letter a multiple-choice reply names
        (``"B"``, ``"The answer is (B)"`` vote as ``"(B)"``), else a free-form reply's final answer (a
        number by its value, text normalised); None when there is no clear final answer."""
        letter = extract_option_letter(answer or "", [""] * len(string.ascii_uppercase))
        if letter is not None:
            return f"({string.ascii_uppercase[letter]})"
        found = _free_form_final(answer or "")
        if found is None:
            return None
        number = _final_number(*found)
        if number is not None:
            return str(number)
        return normalize_text(_strip_markup(found[0])) or None


@register_benchmark("mixeval-hard")
class MixEvalHard(MixEval):
    """MixEval-Hard: the harder 1,000-question subset of MixEval."""

    name = "mixeval-hard"
    source = "MixEval/MixEval (config 'MixEval_Hard', splits 'free_form' and 'multiple_choice') on the Hugging Face hub"
    hf_name = "MixEval_Hard"
    layouts = (
        ("free-form.json", "multiple-choice.json"),
        ("mixeval-hard/free-form.json", "mixeval-hard/multiple-choice.json"),
    )
