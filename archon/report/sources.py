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

try:  # a running search's trials are in its study (the `search` extra)
    import optuna
except ImportError:  # pragma: no cover - exercised where the extra is missing
    optuna = None  # type: ignore[assignment]

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
    """A search folder: its trials (rows of trials.jsonl, or of study.db while it runs), summary and study.

    ``trials`` are dicts with the fields of trials.jsonl rows. A search writes trials.jsonl and summary.json
    when it ends; while it runs, or once it was killed, the trials so far are read from its study.db instead
    (``from_study``), and a summary.json left by an earlier run of the same study is not shown as current.
    Trials cut off before summary.json was written (during the test split) are read from trials.jsonl.
    """

    path: Path
    trials: list[dict[str, Any]]
    summary: dict[str, Any] | None
    study_db: Path | None
    from_study: bool = False
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


def _study_rows(db: Path, name: str | None) -> list[dict[str, Any]] | None:
    """The decided trials of the study in ``db`` as trials.jsonl rows (what a running or killed search holds).

    These are the user attributes the search sets on each trial, under the names it writes to trials.jsonl.
    None when optuna is missing or the study cannot be read.
    """
    if optuna is None:
        return None
    storage = f"sqlite:///{db.resolve()}"
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if name is None and len(names) == 1:
            name = names[0]
        if name not in names:
            return None
        study = optuna.load_study(study_name=name, storage=storage)
        dev_items = (study.user_attrs.get("setup") or {}).get("items")
        rows = []
        for t in study.get_trials(deepcopy=False):
            a = t.user_attrs
            if a.get("decision") is None:
                continue
            rows.append(
                {
                    "number": t.number,
                    "params": t.params,
                    "label": a.get("label"),
                    "decision": a["decision"],
                    "state": t.state.name.lower(),
                    "config_path": a.get("config_path"),
                    "score": t.values[0] if t.values else a.get("running_score"),
                    "cost": t.values[1] if t.values and len(t.values) > 1 else None,
                    "pruned": t.state == optuna.trial.TrialState.PRUNED,
                    "items": a.get("items", 0),
                    "dev_items": len(dev_items) if isinstance(dev_items, list) else None,
                    "calls_per_query": a.get("calls_per_query"),
                    "estimated_cost_per_query": a.get("estimated_cost_per_query"),
                    "calls": a.get("calls", 0),
                    "new_calls": a.get("new_calls", 0),
                    "cached_calls": a.get("calls", 0) - a.get("new_calls", 0),
                    "judge_calls": a.get("judge_calls", 0),
                    "cost_usd": a.get("cost_usd", 0.0),
                    "new_cost_usd": a.get("new_cost_usd", 0.0),
                    "calls_saved": a.get("calls_saved", 0),
                }
            )
        return rows
    except Exception:  # a study being created or a locked file: the report falls back to the files
        return None


def _load_search(path: Path) -> SearchRun:
    trials_file = path / "trials.jsonl"
    trials = read_jsonl(trials_file) if trials_file.exists() else []
    summary = read_json(path / "summary.json")
    db = path / "study.db"
    run = SearchRun(path, sorted(trials, key=lambda t: t["number"]), summary, db if db.exists() else None)
    if run.study_db is not None:
        name = ((summary or {}).get("study") or {}).get("name")
        rows = _study_rows(run.study_db, name)
        # The study is ahead of the files: the search is running, was killed, or was resumed (then the
        # summary.json there is the earlier run's).
        if rows is not None and len(rows) > len(trials):
            run.trials, run.summary, run.from_study = rows, None, True
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
