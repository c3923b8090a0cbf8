"""A run folder: where one benchmark run keeps what it was made from, its results and its summary.

``config.json``
    The architecture, the benchmark, the judge, the items (data path and a fingerprint of the
    loaded items' ids, prompts and references; split, seed, sample) and the pairwise baseline
    (answers fingerprint or config), and the arguments. A run refuses to resume into a folder
    where any of these differ, so results of different questions never mix. ``--limit`` may
    change: it takes the first N of the same selection, so a larger limit runs the extra items
    and a smaller one summarises the first N (the other results stay in ``results.jsonl``).
``.lock``
    Held (``flock``) while a run uses the folder: a second run on it fails at once.
``results.jsonl``
    One JSON object per item, appended as each item finishes (see :mod:`archon.benchmarks.runner`
    for its fields). A truncated last line, as a kill leaves it, is dropped.
``summary.json``
    See :func:`archon.benchmarks.summary.summarize`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ..config import ArchitectureConfig, load_config
from ..errors import ArchonError
from ..providers.keys import without_password
from ..sandbox import hide_path
from .base import Benchmark, Item
from .baseline_answers import BaselineSource, read_baseline_answers
from .summary import json_safe

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CONFIG_FILE",
    "LOCK_FILE",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "RunFolder",
    "baseline_source",
    "config_dict",
    "items_source",
    "load_baseline_answers",
    "load_results",
    "read_jsonl",
]

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"


# --------------------------------------------------------------------------- JSON lines


def read_jsonl(p: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, skipping lines that are not (a run killed mid-write leaves a
    truncated last line). With ``repair``, such an unterminated tail is cut off so appends start clean."""
    raw = p.read_bytes()
    if repair and raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        with open(p, "r+b") as fh:
            fh.truncate(cut)
        raw = raw[:cut]
    out = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def json_line(obj: Any) -> str:
    """One JSONL line (without the newline) of ``obj``, made JSON-safe."""
    return json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False)


def load_results(path: str | Path, *, repair: bool = False) -> dict[str, dict[str, Any]]:
    """Records of a ``results.jsonl`` by item id (the last record of an id wins).

    Lines that are not JSON objects are skipped: a run killed mid-write leaves a truncated
    last line. With ``repair``, such an unterminated tail is cut off so appends start clean.
    """
    p = Path(path)
    if not p.exists():
        return {}
    return {str(rec["id"]): rec for rec in read_jsonl(p, repair=repair) if "id" in rec}


def load_baseline_answers(source: BaselineSource) -> dict[str, list[str]]:
    """Baseline answers by item id from a file or a mapping, in every published form: archon's ``id`` with
    ``answers`` (another run's results.jsonl works; its failed items are skipped), FastChat's and Arena-Hard's
    ``model_answer`` files (2024 and current forms), AlpacaEval's ``model_outputs.json`` (matched to the items
    by instruction when the run starts). See :mod:`archon.benchmarks.baseline_answers`."""
    return read_baseline_answers(source)


# --------------------------------------------------------------------------- what a run is made from


def config_dict(config: ArchitectureConfig | None) -> dict[str, Any] | None:
    """The config as written to a run's config.json: a password in a base URL masked."""
    if config is None:
        return None
    data = config.model_dump(mode="json")
    for layer in data["layers"]:
        for component in layer:
            if component.get("base_url"):
                component["base_url"] = without_password(component["base_url"])
    return data


def benchmark_info(bench: Benchmark) -> dict[str, Any]:
    return {"name": bench.name, "kind": bench.kind, "options": dict(bench.options())}


def _fingerprint(obj: Any) -> str:
    """A short hash of some JSON-able content (what a run's results were made from)."""
    return hashlib.sha256(json.dumps(json_safe(obj), sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def items_source(
    data: str | Path | None, loaded: Sequence[Item], *, split: str, dev_fraction: float, seed: int, sample: int | None
) -> dict[str, Any]:
    """Where a run's items come from: the data (path and a fingerprint of the loaded items) and the selection.
    The limit is not part of it: it takes the first N of the same selection, so it may change on resume."""
    return {
        "data": str(Path(data).resolve()) if data is not None else None,
        "fingerprint": _fingerprint([[it.id, it.turns, it.reference] for it in loaded]),
        "split": split,
        "dev_fraction": dev_fraction if split != "all" else None,
        "seed": seed if split != "all" or sample is not None else None,
        "sample": sample,
    }


def baseline_source(answers: Mapping[str, Any] | None, config: ArchitectureConfig | None) -> dict[str, Any] | None:
    """The pairwise baseline a run is judged against: its config, or a fingerprint of its answers."""
    if config is not None:
        return {"config": config_dict(config)}
    return None if answers is None else {"answers": _fingerprint(sorted(answers.items()))}


def _same_config(saved: Any, current: dict[str, Any] | None) -> bool:
    if saved is None or current is None:
        return saved is None and current is None
    if saved == "custom" or current == "custom":
        return True
    try:
        return config_dict(load_config(saved)) == current
    except ArchonError:
        return False


def _show(v: Any) -> str:
    return "none" if v is None else repr(v)


def _source_problems(saved: Mapping[str, Any], info: Mapping[str, Any]) -> list[str]:
    """How the items and the baseline of a saved run differ from this one's (folders made before they were
    recorded are not checked)."""
    problems = []
    si, ci = saved.get("items"), info["items"]
    if si is not None:
        for key, what in (("split", "split"), ("sample", "sample"), ("dev_fraction", "dev fraction"), ("seed", "seed")):
            # A dev fraction or seed that only one side uses differs because the split or sample does.
            implied = key in ("dev_fraction", "seed") and None in (si.get(key), ci[key])
            if si.get(key) != ci[key] and not implied:
                problems.append(f"{what} ({_show(si.get(key))} there, {_show(ci[key])} now)")
        if si.get("fingerprint") != ci["fingerprint"]:
            default = "the benchmark's default source"
            problems.append(
                "data set ("
                + (
                    f"{si.get('data') or default} there, {ci['data'] or default} now"
                    if si.get("data") != ci["data"]
                    else f"the items of {ci['data'] or default} changed"
                )
                + ")"
            )
    if "baseline" in saved:
        sb, cb = saved["baseline"] or {}, info["baseline"] or {}
        if not _same_config(sb.get("config"), cb.get("config")) or sb.get("answers") != cb.get("answers"):
            problems.append("pairwise baseline (answers or config)")
    return problems


# --------------------------------------------------------------------------- the folder


class RunFolder:
    """One run's folder: ``config.json``, ``.lock``, ``results.jsonl`` and ``summary.json``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        # Programs under test (code benchmarks, executed unit tests) must not read the run's results.
        hide_path(self.path)
        self.results_path = self.path / RESULTS_FILE
        self.summary_path = self.path / SUMMARY_FILE
        self.config_path = self.path / CONFIG_FILE

    @contextlib.contextmanager
    def locked(self) -> Iterator[RunFolder]:
        """Create the folder and hold an exclusive lock on it while the block runs: a second run on the same
        folder fails at once, instead of doing all the work again and appending every result twice."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fh = open(self.path / LOCK_FILE, "a")  # noqa: SIM115 - the with block below closes it; opened here for a clear error
        except OSError as e:
            raise ArchonError(f"cannot create the run folder {self.path}: {e.strerror or e}") from None
        with fh:
            if fcntl is not None:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise ArchonError(
                        f"another run is using {self.path}; wait for it to finish, or use another --out"
                    ) from None
            yield self

    def record(self, info: dict[str, Any]) -> None:
        """Refuse to resume into a run of another architecture, benchmark, judge, items or baseline; record this one."""
        if self.config_path.exists():
            try:
                saved = json.loads(self.config_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise ArchonError(
                    f"{self.config_path}: cannot read the saved run config ({e}); use another --out"
                ) from None
            problems = []
            if not _same_config(saved.get("architecture"), info["architecture"]):
                problems.append("architecture config")
            sb, cb = saved.get("benchmark") or {}, info["benchmark"]
            if sb.get("name") != cb["name"] or (sb.get("options") or {}) != cb["options"]:
                problems.append(f"benchmark ({sb.get('name')!r} there, {cb['name']!r} now)")
            if not _same_config(saved.get("judge"), info["judge"]):
                problems.append("judge config")
            if saved.get("generate_only", False) != info.get("generate_only", False):
                problems.append("kind of run (answers only vs scored)")
            problems += _source_problems(saved, info)
            if problems:
                raise ArchonError(
                    f"{self.path} holds a run with a different {' and '.join(problems)}; refusing to mix results. "
                    f"Use another --out (or delete that folder to start over)."
                )
        self.config_path.write_text(json.dumps(json_safe(info), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def results(self) -> dict[str, dict[str, Any]]:
        """The recorded item results by id; a truncated last line (a kill mid-write) is cut off."""
        return load_results(self.results_path, repair=True)

    def append_results(self) -> TextIO:
        """``results.jsonl`` opened for appending records (one :func:`json_line` each)."""
        return open(self.results_path, "a", encoding="utf-8")

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        self.summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
