"""A pairwise baseline's answers, read from the files benchmarks publish, and matched to the items.

One reader for every format a baseline's answers come in:

* archon's own: ``id`` with ``answers`` (one per turn) or ``answer`` (another run's ``results.jsonl``;
  its failed items are skipped);
* FastChat's and Arena-Hard's 2024 ``model_answer/*.jsonl`` (and FastChat's ``reference_answer/gpt-4.jsonl``):
  ``question_id`` with ``choices[0].turns[*].content``;
* Arena-Hard's current ``model_answer/*.jsonl``: ``uid`` with ``messages``, the assistant's ``content``
  a string or an object ``{"answer": ...}``;
* AlpacaEval's ``results/<model>/model_outputs.json``: a JSON list of ``instruction`` and ``output``, without
  ids, matched to the items by instruction as AlpacaEval matches them.

A record in none of these forms is an error naming its file and place. A baseline file that matches
none of the items, or leaves some without an answer, is an error too: a run is never judged against
another baseline than the one it records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ArchonError, DatasetNotFound
from .base import Item
from .data import read_json, read_json_lines, read_text

__all__ = ["BaselineAnswers", "answers_of_record", "check_baselines", "match_items", "read_baseline_answers"]


class BaselineAnswers(dict):
    """Answers per turn keyed by item id. ``by_instruction`` holds the answers of records without an id
    (AlpacaEval's model outputs), keyed by their instruction, until :func:`match_items` gives them ids."""

    def __init__(self, *args: Any, source: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.source = source
        self.by_instruction: dict[str, list[str]] = {}


def _text(content: Any) -> Any:
    """A turn's text: a string as it is;
    ``{"content": ...}`` (FastChat) or ``{"answer": ...}`` (Arena-Hard) by that field."""
    if isinstance(content, Mapping):
        for key in ("answer", "content", "text"):
            if isinstance(content.get(key), str):
                return content[key]
        return None
    return content


def answers_of_record(rec: Mapping[str, Any]) -> tuple[str | None, str | None, list[str] | None]:
    """(id, instruction, answers per turn) of one baseline record; the answers are None when the record
    is in no known form. A record has an id, or else an instruction to be matched by."""
    item_id = next((rec[k] for k in ("id", "question_id", "uid") if rec.get(k) is not None), None)
    answers: Any = rec.get("answers", rec.get("answer"))
    choices = rec.get("choices")
    messages = rec.get("messages")
    if answers is None and isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        answers = [_text(t) for t in choices[0].get("turns") or []]
    elif answers is None and isinstance(messages, list):
        answers = [_text(m.get("content")) for m in messages if isinstance(m, Mapping) and m.get("role") == "assistant"]
    instruction = None
    if item_id is None and isinstance(rec.get("instruction"), str):
        instruction = rec["instruction"].strip()
        if answers is None:
            answers = rec.get("output")
    if isinstance(answers, str):
        answers = [answers]
    ok = isinstance(answers, list) and answers and all(isinstance(a, str) for a in answers)
    return (None if item_id is None else str(item_id)), instruction, (list(answers) if ok else None)


def _records(p: Path) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """(where, record) pairs of a JSON or JSON Lines file (gzip too)."""
    if p.name.endswith((".json", ".json.gz")):
        obj = read_json(p)
        if isinstance(obj, Mapping):
            lists = [v for v in obj.values() if isinstance(v, list)]
            obj = lists[0] if len(lists) == 1 else obj
        if not isinstance(obj, list):
            raise DatasetNotFound(f"baseline answers {str(p)!r}: expected a JSON list of records")
        return [(f"record {n} of {str(p)!r}", r) for n, r in enumerate(obj)]
    lines = read_text(p).splitlines()
    # A run killed mid-write leaves an unterminated last line: its answers are not there, the rest is.
    if lines and lines[-1].strip():
        try:
            json.loads(lines[-1])
        except json.JSONDecodeError:
            lines = lines[:-1]
    return [
        (f"line {n} of {str(p)!r}", r)
        for n, r in zip((i + 1 for i, line in enumerate(lines) if line.strip()), read_json_lines(lines, p))
    ]


def read_baseline_answers(source: str | Path | Mapping[str, Any]) -> BaselineAnswers:
    """Baseline answers from a file in any of the forms above, or from a mapping ``{id: answers}``."""
    if isinstance(source, BaselineAnswers):
        return source
    if isinstance(source, Mapping):
        out = BaselineAnswers(source="mapping")
        for k, v in source.items():
            v = [v] if isinstance(v, str) else v
            if isinstance(v, list) and v and all(isinstance(a, str) for a in v):
                out[str(k)] = list(v)
        return out
    p = Path(source)
    if not p.exists():
        raise ArchonError(f"baseline answers file {str(p)!r} does not exist")
    if p.is_dir():
        raise ArchonError(
            f"baseline answers {str(p)!r} is a folder; pass one model's answers file "
            f"(e.g. model_answer/gpt-4-0314.jsonl or results/<model>/model_outputs.json)"
        )
    out = BaselineAnswers(source=str(p))
    for at, rec in _records(p):
        if not isinstance(rec, Mapping):
            raise DatasetNotFound(f"baseline answers: {at} is not a JSON object")
        if rec.get("error"):  # an archon run's failed item: no answer to compare with
            continue
        item_id, instruction, answers = answers_of_record(rec)
        if answers is None or (item_id is None and instruction is None):
            raise DatasetNotFound(
                f"baseline answers: {at} is in no known form (id + answers, question_id + choices, uid + messages, "
                f"or instruction + output); fields present: {', '.join(sorted(rec)) or 'none'}"
            )
        if item_id is not None:
            out[item_id] = answers
        elif instruction is not None:
            out.by_instruction[instruction] = answers
    return out


def match_items(answers: BaselineAnswers, items: Sequence[Item]) -> None:
    """Give the answers kept by instruction the ids of the items they answer (by their first turn's text)."""
    if not answers.by_instruction:
        return
    for it in items:
        if it.id not in answers and it.turns:
            found = answers.by_instruction.get(it.turns[0].strip())
            if found is not None:
                answers[it.id] = found


def check_baselines(
    benchmark: str, need: str | None, items: Sequence[Item], baseline: Mapping[str, Any] | None
) -> None:
    """Refuse a run whose baseline is not what it records.

    ``need``: ``"required"`` (every item needs a baseline answer), ``"reference"`` (a baseline answer, else the
    item's own reference output), None (the benchmark has no baseline). Baseline answers given must match
    the items (after matching by instruction) and cover every one of them.
    """
    if baseline is not None and isinstance(baseline, BaselineAnswers):
        match_items(baseline, items)
    source = getattr(baseline, "source", None) or "the baseline answers"
    if need is None:
        return
    if baseline is not None:
        matched = [it.id for it in items if it.id in baseline]
        if items and not matched:
            known = list(baseline)[:3] + list(getattr(baseline, "by_instruction", {}))[:2]
            raise ArchonError(
                f"benchmark {benchmark!r}: {source} answers none of the {len(items)} item(s), by id or by instruction "
                f"(items e.g. {', '.join(repr(it.id) for it in items[:3])}; baseline records e.g. "
                f"{', '.join(repr(k[:60]) for k in known) or 'none'}): is it the baseline for this data?"
            )
    missing = [
        it.id
        for it in items
        if not (baseline is not None and it.id in baseline)
        and not (baseline is None and need == "reference" and it.reference)
    ]
    if missing:
        if baseline is not None:
            raise ArchonError(
                f"benchmark {benchmark!r}: {source} has no answer for {len(missing)} of {len(items)} item(s) "
                f"(e.g. {', '.join(map(str, missing[:5]))}); give a baseline that answers every item "
                f"(a run is judged against one baseline)"
            )
        raise ArchonError(
            f"benchmark {benchmark!r} is judged pairwise against a baseline, "
            f"but {len(missing)} item(s) have no baseline answer (e.g. {', '.join(map(str, missing[:5]))}): "
            f"pass --baseline-answers FILE (JSONL with id and answers, "
            f"an Arena-Hard/FastChat model_answer file, or AlpacaEval's model_outputs.json) "
            f"or --baseline-config CONFIG"
        )
