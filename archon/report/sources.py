"""What a report is made from: search folders, benchmark run folders and trace files, read as their JSON.

Everything is read tolerantly: a search or a run still going (no summary yet, a half-written last
line) gives what is done so far; a field that is missing is shown as n/a, never guessed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ArchonError

__all__ = ["BenchRun", "SearchRun", "TraceFile", "load_sources", "read_jsonl"]

SEARCH_MARKERS = ("trials.jsonl", "study.db")
BENCH_MARKERS = ("results.jsonl",)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file; lines that are not (a writer cut off mid-line) are skipped."""
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when it is missing or (being rewritten) not valid JSON yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def number(value: Any) -> float | None:
    """A finite number, or None (missing, null, NaN, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def first(rec: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present (not None) in ``rec``."""
    return next((rec[k] for k in keys if rec.get(k) is not None), None)


# --------------------------------------------------------------------------- search


@dataclass
class Trial:
    """One line of a search's trials.jsonl, with the fields a report uses pulled out."""

    number: int
    score: float | None
    state: str
    pruned: bool
    calls_per_query: float | None
    cost_per_query: float | None  # $ per query, when the search knew prices
    new_calls: float | None
    cached_calls: float | None
    spent_usd: float | None  # what evaluating this trial cost (new calls only)
    params: dict[str, Any]
    config_path: str | None
    raw: dict[str, Any]

    @classmethod
    def from_record(cls, rec: dict[str, Any], index: int) -> Trial:
        state = str(
            rec.get("state")
            or ("PRUNED" if rec.get("pruned") else "COMPLETE" if rec.get("score") is not None else "UNKNOWN")
        ).upper()
        n, params = rec.get("number"), rec.get("params")
        return cls(
            number=int(n) if isinstance(n, int) else index,
            score=number(first(rec, "score", "value")),
            state=state,
            pruned=bool(rec.get("pruned")) or state == "PRUNED",
            calls_per_query=number(first(rec, "calls_per_query", "calls")),
            cost_per_query=number(first(rec, "cost_per_query_usd", "cost_per_query", "cost")),
            new_calls=number(rec.get("new_calls")),
            cached_calls=number(rec.get("cached_calls")),
            spent_usd=number(first(rec, "new_cost_usd", "spent_usd", "cost_usd")),
            params=params if isinstance(params, dict) else {},
            config_path=first(rec, "config", "config_path"),
            raw=rec,
        )


@dataclass
class SearchRun:
    path: Path
    trials: list[Trial]
    summary: dict[str, Any] | None
    study_db: Path | None
    label: str = ""

    @property
    def finished(self) -> bool:
        return self.summary is not None

    def config(self, trial: Trial) -> dict[str, Any] | None:
        """The trial's architecture config (its path is relative to the search folder or absolute)."""
        if not trial.config_path or not isinstance(trial.config_path, str):
            return None
        p = Path(trial.config_path)
        for candidate in (p,) if p.is_absolute() else (self.path / p, self.path.parent / p, p):
            data = read_json(candidate)
            if data is not None:
                return data
        return None


def _load_search(path: Path) -> SearchRun:
    trials_file = path / "trials.jsonl"
    trials = [Trial.from_record(r, i) for i, r in enumerate(read_jsonl(trials_file))] if trials_file.exists() else []
    summary = read_json(path / "summary.json")
    db = path / "study.db"
    label = str(first(summary or {}, "sampler", "study") or path.name)
    return SearchRun(path, sorted(trials, key=lambda t: t.number), summary, db if db.exists() else None, label)


# --------------------------------------------------------------------------- benchmark runs


@dataclass
class BenchRun:
    path: Path
    summary: dict[str, Any] | None
    results: list[dict[str, Any]]
    config: dict[str, Any] | None
    baselines: dict[str, BenchRun] = field(default_factory=dict)

    @property
    def name(self) -> str:
        s = self.summary or {}
        arch = (self.config or {}).get("architecture") or {}
        return str(s.get("name") or arch.get("name") or self.path.name)

    @property
    def benchmark(self) -> str:
        s = self.summary or {}
        bench = (self.config or {}).get("benchmark") or {}
        return str(s.get("benchmark") or (bench.get("name") if isinstance(bench, dict) else bench) or "?")


def _load_bench(path: Path) -> BenchRun:
    results_file = path / "results.jsonl"
    run = BenchRun(
        path,
        read_json(path / "summary.json"),
        read_jsonl(results_file) if results_file.exists() else [],
        read_json(path / "config.json"),
    )
    base_dir = path / "baselines"
    if base_dir.is_dir():
        for sub in sorted(p for p in base_dir.iterdir() if p.is_dir()):
            if any((sub / f).exists() for f in ("summary.json", "results.jsonl")):
                run.baselines[sub.name] = _load_bench(sub)
    # A summary that holds the baselines' summaries but whose folders are gone still shows them.
    for name, s in ((run.summary or {}).get("baselines") or {}).items():
        if name not in run.baselines and isinstance(s, dict):
            run.baselines[name] = BenchRun(base_dir / name, s, [], None)
    return run


# --------------------------------------------------------------------------- traces


@dataclass
class TraceFile:
    path: Path
    queries: list[dict[str, Any]]  # Result.to_dict() records: answer, messages, error, trace


def _load_traces(path: Path) -> TraceFile:
    data = read_json(path)
    records = [data] if data is not None else read_jsonl(path)
    queries = [r for r in records if isinstance(r.get("trace"), dict) or isinstance(r.get("layers"), list)]
    # A bare Trace (no Result around it) is a query without its messages.
    queries = [r if isinstance(r.get("trace"), dict) else {"trace": r} for r in queries]
    return TraceFile(path, queries)


# --------------------------------------------------------------------------- dispatch


def _what(path: Path) -> SearchRun | BenchRun | TraceFile:
    if not path.exists():
        raise ArchonError(f"{path} does not exist")
    if path.is_file():
        t = _load_traces(path)
        if not t.queries:
            raise ArchonError(
                f"{path} holds no trace: give a file written by `archon run --trace FILE` (one JSON line per query)"
            )
        return t
    if any((path / m).exists() for m in SEARCH_MARKERS):
        return _load_search(path)
    summary = read_json(path / "summary.json")
    if any((path / m).exists() for m in BENCH_MARKERS) or (summary is not None and "benchmark" in summary):
        return _load_bench(path)
    if summary is not None and any(k in summary for k in ("best", "front", "sharing", "spend")):
        return _load_search(path)
    raise ArchonError(
        f"{path} holds nothing to report on: expected a search folder (trials.jsonl, summary.json, "
        "study.db), a benchmark run folder (results.jsonl, summary.json) or a trace file"
    )


def load_sources(paths: Iterable[str | Path]) -> list[SearchRun | BenchRun | TraceFile]:
    """Each path read as what it holds; an unknown or empty one is an error naming it."""
    given = [Path(p) for p in paths]
    if not given:
        raise ArchonError("give at least one search folder, benchmark run folder or trace file")
    return [_what(p) for p in given]
