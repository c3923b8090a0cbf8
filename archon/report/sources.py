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

from ..benchmarks.run_folder import read_jsonl
from ..errors import ArchonError

__all__ = ["BenchRun", "SearchRun", "TraceFile", "load_sources"]

SEARCH_MARKERS = ("trials.jsonl", "study.db")
BENCH_MARKERS = ("results.jsonl",)


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


# --------------------------------------------------------------------------- search


@dataclass
class SearchRun:
    """A search folder: its trials (rows of trials.jsonl), summary and study.

    ``trials`` are dicts with the fields of trials.jsonl rows. A search rewrites trials.jsonl as each trial
    ends and writes summary.json when it ends (removing an earlier run's as it starts): without a summary,
    the search is running or was cut off, and its trials so far are shown.
    """

    path: Path
    trials: list[dict[str, Any]]
    summary: dict[str, Any] | None
    study_db: Path | None
    label: str = ""

    @property
    def finished(self) -> bool:
        return self.summary is not None

    @property
    def sampler(self) -> str | None:
        study = (self.summary or {}).get("study") or {}
        return study.get("sampler")

    @property
    def cost_unit(self) -> str:
        """What a trial's cost per query counts: "usd" when the search priced its calls, else "calls"."""
        if self.summary is not None:
            return str(self.summary.get("cost_unit"))
        return "usd" if any((number(t.get("cost_usd")) or 0) > 0 for t in self.trials) else "calls"

    def evaluated(self) -> list[dict[str, Any]]:
        """The trials that ran on the dev split (the others were over budget, duplicates, ...)."""
        return [t for t in self.trials if t.get("decision") == "evaluate"]

    def cost_per_query(self, trial: dict[str, Any]) -> float | None:
        """What one query cost this trial on the dev split (the search's cost objective): $ or calls."""
        items = number(trial.get("items"))
        spent = number(trial.get("cost_usd" if self.cost_unit == "usd" else "calls"))
        return spent / items if items and spent is not None else None

    def config(self, trial: dict[str, Any]) -> dict[str, Any] | None:
        """The trial's architecture (config_path is absolute; a moved folder is looked up in its own place)."""
        path = trial.get("config_path")
        if not isinstance(path, str):
            return None
        p = Path(path)
        return read_json(p) or read_json(self.path / "architectures" / p.parent.name / p.name)


def _load_search(path: Path) -> SearchRun:
    trials_file = path / "trials.jsonl"
    trials = read_jsonl(trials_file) if trials_file.exists() else []
    summary = read_json(path / "summary.json")
    db = path / "study.db"
    run = SearchRun(path, sorted(trials, key=lambda t: t["number"]), summary, db if db.exists() else None)
    run.label = run.sampler or path.name
    return run


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
