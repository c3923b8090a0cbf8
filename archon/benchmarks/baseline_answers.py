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

A benchmark that judges each category of items against its own baseline model (Arena-Hard-Auto v2.0:
hard prompts against o3-mini's answers, creative writing against Gemini 2.0 Flash's) declares them in
:meth:`~archon.benchmarks.base.Benchmark.baseline_models`. Its baseline answers come as several files or a
folder of ``model_answer`` files, each named after its model as arena-hard-auto names them
(``<model>.jsonl``), and each item is judged against the file of its category's model.

A record in none of these forms is an error naming its file and place. A baseline file that matches
none of the items, or leaves some without an answer, is an error too, and so is a category whose
model's file is missing: a run is never judged against another baseline than the one it records.
Baseline answers given to a benchmark that judges against no baseline are an error, not ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ArchonError, DatasetNotFound
from .base import Benchmark, Item
from .data import read_json, read_json_lines, read_text

__all__ = [
    "BaselineAnswers",
    "BaselineSource",
    "answers_of_record",
    "check_baseline_option",
    "check_baselines",
    "match_items",
    "model_name",
    "read_baseline_answers",
    "source_arg",
]

# One file or folder, several of them, or answers already keyed by item id.
BaselineSource = str | Path | Mapping[str, Any] | Sequence[str | Path]
_ANSWER_FILES = (".jsonl.gz", ".jsonl", ".json.gz", ".json")


class BaselineAnswers(dict):
    """Answers per turn keyed by item id. ``by_instruction`` holds the answers of records without an id
    (AlpacaEval's model outputs), keyed by their instruction, until :func:`match_items` gives them ids.

    ``models`` names the model answer files given (by :func:`model_name`), for benchmarks that judge each
    category against its own baseline model; ``by_model_only`` says the answers came as a folder or as
    several files, whose answers are known only once each item's model is picked (:func:`check_baselines`).
    """

    def __init__(self, *args: Any, source: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.source = source
        self.by_instruction: dict[str, list[str]] = {}
        self.models: dict[str, Path] = {}
        self.by_model_only = False
        self.folder: Path | None = None


def model_name(path: Path) -> str:
    """The model whose answers a file holds, as arena-hard-auto names it: the file name without its
    extension (``model_answer/o3-mini-2025-01-31.jsonl`` holds o3-mini-2025-01-31's)."""
    for ext in _ANSWER_FILES:
        if path.name.endswith(ext) and len(path.name) > len(ext):
            return path.name[: -len(ext)]
    return path.name


def source_arg(source: BaselineSource | None) -> str | list[str] | None:
    """How a run folder records where its baseline answers came from: the path(s), or "mapping"."""
    if source is None:
        return None
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, Mapping):
        return "mapping"
    return [str(p) for p in source]


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


def _read_file(p: Path) -> BaselineAnswers:
    """The answers in one file, in any of the forms above."""
    out = BaselineAnswers(source=str(p))
    out.models = {model_name(p): p}
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


def _answer_files(folder: Path) -> dict[str, Path]:
    """A model_answer folder's files by model name (arena-hard-auto reads ``*.jsonl``; compressed ones too)."""
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.name.endswith((".jsonl", ".jsonl.gz")))
    if not files:
        raise ArchonError(
            f"baseline answers {str(folder)!r} is a folder without model answer files (<model>.jsonl); "
            f"pass arena-hard-auto's data/<version>/model_answer folder, or one answers file"
        )
    return {model_name(f): f for f in files}


def read_baseline_answers(source: BaselineSource) -> BaselineAnswers:
    """Baseline answers from a file in any of the forms above, from a mapping ``{id: answers}``, or, for
    benchmarks that judge each category against its own baseline model, from a folder of ``<model>.jsonl``
    files or several files (read once the items' models are known, see :func:`check_baselines`)."""
    if isinstance(source, BaselineAnswers):
        return source
    if isinstance(source, Mapping):
        out = BaselineAnswers(source="mapping")
        for k, v in source.items():
            v = [v] if isinstance(v, str) else v
            if isinstance(v, list) and v and all(isinstance(a, str) for a in v):
                out[str(k)] = list(v)
        return out
    paths = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
    if not paths:
        raise ArchonError("no baseline answers file given")
    for p in paths:
        if not p.exists():
            raise ArchonError(f"baseline answers file {str(p)!r} does not exist")
    if len(paths) == 1 and paths[0].is_file():
        return _read_file(paths[0])
    out = BaselineAnswers(source=", ".join(map(str, paths)))
    out.by_model_only = True
    for p in paths:
        found = _answer_files(p) if p.is_dir() else {model_name(p): p}
        if p.is_dir():
            out.folder = p
        for name, f in found.items():
            if name in out.models and out.models[name] != f:
                raise ArchonError(
                    f"baseline answers: two files hold {name}'s answers ({str(out.models[name])!r} and {str(f)!r}); "
                    f"give one"
                )
            out.models[name] = f
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


def _expected_file(answers: BaselineAnswers, model: str) -> str:
    """Where the answers of ``model`` were looked for: beside the files given, or in the folder given."""
    where = answers.folder or next(iter(answers.models.values())).parent
    return str(where / f"{model}.jsonl")


def _by_model(models: Mapping[str, str]) -> str:
    """``model (category, ...)`` for each baseline model."""
    categories: dict[str, list[str]] = {}
    for category, model in models.items():
        categories.setdefault(model, []).append(category)
    return "; ".join(f"{model} ({', '.join(cats)})" for model, cats in categories.items())


def _pick_by_model(bench: Benchmark, answers: BaselineAnswers, items: Sequence[Item]) -> None:
    """Judge each item against the answers of its category's baseline model (:meth:`Benchmark.baseline_models`),
    when the answers given are named after those models (or come as a folder or several files). Otherwise
    the one file given is the baseline of every item. Records the model picked in ``item.metadata["baseline"]``."""
    models = bench.baseline_models()
    wanted = {models.get(str(it.metadata.get("category"))) for it in items} - {None}
    if not (answers.by_model_only or wanted & answers.models.keys()):
        for it in items:  # one baseline for every item
            if len(answers.models) == 1:
                it.metadata["baseline"] = next(iter(answers.models))
        return
    if not models:
        raise ArchonError(
            f"benchmark {bench.name!r} judges every item against one baseline: pass one baseline answers file, "
            f"not {'a folder' if answers.folder else 'several'} ({answers.source})"
        )
    unknown = sorted(set(answers.models) - set(models.values())) if answers.folder is None else []
    if unknown:
        raise ArchonError(
            f"benchmark {bench.name!r}: the baseline answers of {', '.join(unknown)} are the baseline of no category "
            f"(each category is judged against its own model: {_by_model(models)}); leave them out"
        )
    groups: dict[tuple[str, str | None], list[Item]] = {}
    for it in items:
        cat = str(it.metadata.get("category"))
        groups.setdefault((cat, models.get(cat)), []).append(it)
    missing = [(cat, model, group) for (cat, model), group in groups.items() if model not in answers.models]
    if missing:
        raise ArchonError(
            f"benchmark {bench.name!r} judges each category against its own baseline model, and "
            + "; ".join(
                f"the {len(group)} {cat} item(s) have "
                + (
                    f"no baseline model (categories with one: {', '.join(models)})"
                    if model is None
                    else f"no answers of {model}: expected {_expected_file(answers, model)}"
                )
                for cat, model, group in missing
            )
            + ". Pass --baseline-answers once per model's file, or the model_answer folder that holds them"
        )
    own = dict(answers) if not answers.by_model_only else {}
    answers.clear()
    answers.by_instruction.clear()
    for (cat, model), group in groups.items():
        assert model is not None
        path = answers.models[model]
        found = own if own else _read_file(path)
        absent = [it.id for it in group if it.id not in found]
        if absent:
            raise ArchonError(
                f"benchmark {bench.name!r}: {str(path)!r} ({model}, the baseline of the {cat} items) has no answer "
                f"for {len(absent)} of the {len(group)} {cat} item(s) (e.g. {', '.join(map(str, absent[:5]))}); "
                f"is it the baseline for this data?"
            )
        for it in group:
            answers[it.id] = found[it.id]
            it.metadata["baseline"] = model


def _refuse_unused(bench: Benchmark, given: str) -> None:
    raise ArchonError(
        f"benchmark {bench.name!r} is not judged against a baseline, so {given} would be ignored; "
        f"leave it out (it applies to the pairwise benchmarks: mt-bench-pairwise, arena-hard, alpaca-eval)"
    )


def check_baseline_option(bench: Benchmark, given: str) -> None:
    """Refuse a baseline (``given`` names the option, e.g. ``--baseline-config``) for a benchmark without one."""
    if bench.baseline_need() is None:
        _refuse_unused(bench, given)


def check_baselines(bench: Benchmark, items: Sequence[Item], baseline: Mapping[str, Any] | None) -> None:
    """Refuse a run whose baseline is not what it records.

    ``bench.baseline_need()``: ``"required"`` (every item needs a baseline answer), ``"reference"`` (a baseline
    answer, else the item's own reference output), None (the benchmark has no baseline: baseline answers given
    are an error). Baseline answers given must match the items (by id, by instruction, or by the baseline model
    of their category, see :func:`_pick_by_model`) and cover every one of them.
    """
    need = bench.baseline_need()
    benchmark = bench.name
    if need is None:
        if baseline is not None:
            _refuse_unused(bench, "baseline answers")
        return
    if isinstance(baseline, BaselineAnswers):
        _pick_by_model(bench, baseline, items)
        match_items(baseline, items)
    source = getattr(baseline, "source", None) or "the baseline answers"
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
            f"an Arena-Hard/FastChat model_answer file or folder, or AlpacaEval's model_outputs.json) "
            f"or --baseline-config CONFIG"
        )
