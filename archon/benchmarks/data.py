"""Loading benchmark data: a local file or folder the user names, else the `datasets` library.

Nothing but `datasets` downloads at run time, and only when no local data was named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ..errors import DatasetNotFound

LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet")


def _where(p: Path, line: int | None = None) -> str:
    return f"{str(p)!r}" + (f" line {line}" if line is not None else "")


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetNotFound(f"{_where(p)}: cannot read the file as UTF-8 text ({type(e).__name__}: {e})") from None


def read_json_lines(lines: Iterable[str], path: str | Path, *, first_line: int = 1) -> list[dict[str, Any]]:
    """Records from JSON Lines, one object per non-blank line; a bad line raises
    :class:`DatasetNotFound` naming ``path`` and the line number."""
    p = Path(path)
    out = []
    for n, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetNotFound(f"{_where(p, n)}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(rec, dict):
            raise DatasetNotFound(f"{_where(p, n)}: expected a JSON object (a record), found {type(rec).__name__}")
        out.append(rec)
    return out


def read_json(path: str | Path) -> Any:
    """The content of a ``.json`` file: one JSON document, or, when the file holds JSON Lines
    (what ``datasets.Dataset.to_json`` writes), the list of its records."""
    p = Path(path)
    text = _read_text(p)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        error = e
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    try:
        first_ok = first is not None and isinstance(json.loads(lines[first]), dict)
    except json.JSONDecodeError:
        first_ok = False
    if not first_ok:  # not JSON Lines either: report the JSON error where it is
        raise DatasetNotFound(f"{_where(p, error.lineno)}: not valid JSON ({error.msg} at column {error.colno})") from None
    return read_json_lines(lines, p)


def read_local(path: str | Path) -> list[dict[str, Any]]:
    """Records from a JSONL, JSON (a list, an object holding one list, or JSON Lines) or Parquet file,
    or from every such file in a folder (sorted by name). A file that cannot be read raises
    :class:`DatasetNotFound` naming it (and the line, for JSON)."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFound(f"data path {str(p)!r} does not exist")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in LOCAL_SUFFIXES)
        if not files:
            raise DatasetNotFound(f"no .jsonl, .json or .parquet file under {str(p)!r}")
        return [r for f in files for r in read_local(f)]
    if p.suffix == ".jsonl":
        return read_json_lines(_read_text(p).splitlines(), p)
    if p.suffix == ".json":
        obj = read_json(p)
        if isinstance(obj, dict):
            lists = [v for v in obj.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise DatasetNotFound(f"{str(p)!r}: expected a JSON list of records or an object holding one list")
            obj = lists[0]
        if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
            raise DatasetNotFound(f"{str(p)!r}: expected a JSON list of records (objects)")
        return obj
    if p.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise DatasetNotFound("reading Parquet needs pyarrow: pip install 'archon[datasets]'") from e
        try:
            return pq.read_table(p).to_pylist()
        except Exception as e:  # noqa: BLE001 - pyarrow raises several kinds for a corrupt file
            raise DatasetNotFound(f"{str(p)!r}: not a readable Parquet file ({type(e).__name__}: {str(e)[:200]})") from None
    raise DatasetNotFound(f"{str(p)!r}: unsupported file type (use .jsonl, .json or .parquet)")


def load_records(
    data: str | Path | None,
    *,
    benchmark: str,
    hf_path: str,
    hf_name: str | None = None,
    split: str = "test",
) -> list[dict[str, Any]]:
    """Records from ``data`` if given, else from the Hugging Face hub via `datasets`.

    A failure says where the data lives and how to point archon at a local copy.
    """
    if data is not None:
        return read_local(data)
    hint = (
        f"{benchmark}: could not load {hf_path}"
        + (f" ({hf_name})" if hf_name else "")
        + f" split {split!r} with the `datasets` library. Download it where you have access "
        f"(e.g. `datasets.load_dataset({hf_path!r}{', ' + repr(hf_name) if hf_name else ''}, split={split!r}).to_json('{benchmark}.jsonl')`) "
        f"and pass `--data {benchmark}.jsonl`."
    )
    try:
        import datasets  # type: ignore
    except ImportError:
        raise DatasetNotFound(hint + " (The `datasets` library is not installed: pip install 'archon[datasets]'.)") from None
    try:
        ds = datasets.load_dataset(hf_path, hf_name, split=split)
    except Exception as e:  # offline, gated, renamed: all end the same way for the user
        raise DatasetNotFound(f"{hint} Cause: {type(e).__name__}: {str(e)[:200]}") from None
    return [dict(r) for r in ds]
