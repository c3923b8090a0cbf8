"""Loading benchmark data: a local file or folder the user names, else the `datasets` library.

Nothing but `datasets` downloads at run time, and only when no local data was named.

A folder is read the way its publisher lays it out: a benchmark names the files it takes from
its official layouts (GSM8K's ``data/`` gives ``test.jsonl``, FastChat's ``mt_bench/`` gives
``question.jsonl``, ...); a folder holding a single data file gives that file; any other folder
is an error that lists the files found. Files are never merged silently.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import DatasetNotFound

# What a data file's name ends with (gzip-compressed JSON and JSON Lines included).
LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".jsonl.gz", ".json.gz")
_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


class Records(list):
    """Records, each with the file (and its place in that file) it was read from, so an error can name it."""

    def __init__(self, records: Iterable[dict[str, Any]] = (), origins: Iterable[tuple[str, int]] = ()):
        super().__init__(records)
        self.origins: list[tuple[str, int]] = list(origins)

    def extend_from(self, path: Path, records: Sequence[dict[str, Any]]) -> None:
        self.extend(records)
        self.origins.extend((str(path), k) for k in range(len(records)))


def where(records: Sequence[Any], index: int) -> str:
    """Where record ``index`` of ``records`` came from: "record 3 of 'data/test.jsonl'", or "record 3"."""
    origins = getattr(records, "origins", None)
    if origins and index < len(origins):
        path, k = origins[index]
        return f"record {k} of {path!r}"
    return f"record {index}"


def data_file_name(p: Path) -> bool:
    return p.name.endswith(LOCAL_SUFFIXES)


def _where(p: Path, line: int | None = None) -> str:
    return f"{str(p)!r}" + (f" line {line}" if line is not None else "")


def _check_not_lfs_pointer(p: Path) -> None:
    """A Git LFS pointer (a small text file standing for the real one) gets its own message."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(_LFS_POINTER))
    except OSError as e:
        raise DatasetNotFound(f"{_where(p)}: cannot read the file ({type(e).__name__}: {e})") from None
    if head == _LFS_POINTER:
        raise DatasetNotFound(
            f"{_where(p)}: this is a Git LFS pointer, not the data; run `git lfs pull` in its repository "
            f"or download the file itself"
        )


def read_text(path: str | Path) -> str:
    """The text of a file (gzip-compressed when its name ends in .gz); an unreadable file or a Git LFS pointer
    raises :class:`DatasetNotFound` naming it."""
    p = Path(path)
    _check_not_lfs_pointer(p)
    try:
        if p.name.endswith(".gz"):
            with gzip.open(p, "rt", encoding="utf-8") as fh:
                return fh.read()
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as e:
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
    text = read_text(p)
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
        raise DatasetNotFound(
            f"{_where(p, error.lineno)}: not valid JSON ({error.msg} at column {error.colno})"
        ) from None
    return read_json_lines(lines, p)


def _read_file(p: Path) -> list[dict[str, Any]]:
    name = p.name
    if name.endswith((".jsonl", ".jsonl.gz")):
        return read_json_lines(read_text(p).splitlines(), p)
    if name.endswith((".json", ".json.gz")):
        obj = read_json(p)
        if isinstance(obj, dict):
            lists = [v for v in obj.values() if isinstance(v, list)]
            if len(lists) == 1:
                obj = lists[0]
            elif not lists and not any(isinstance(v, dict) for v in obj.values()):
                obj = [obj]  # one record per file, as in the MATH tree (test/<subject>/<n>.json)
            else:
                raise DatasetNotFound(
                    f"{str(p)!r}: expected a JSON list of records, an object holding one list, or one record"
                )
        if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
            raise DatasetNotFound(f"{str(p)!r}: expected a JSON list of records (objects)")
        return obj
    if name.endswith(".parquet"):
        _check_not_lfs_pointer(p)
        try:
            import pyarrow.parquet as pq
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise DatasetNotFound('reading Parquet needs pyarrow: pip install -e ".[datasets]"') from e
        try:
            return pq.read_table(p).to_pylist()
        except Exception as e:  # pyarrow raises several kinds for a corrupt file
            raise DatasetNotFound(
                f"{str(p)!r}: not a readable Parquet file ({type(e).__name__}: {str(e)[:200]})"
            ) from None
    raise DatasetNotFound(f"{str(p)!r}: unsupported file type (use .jsonl, .json, .parquet, .jsonl.gz or .json.gz)")


# A benchmark's official folder layouts: each layout is a tuple of glob patterns (relative to the
# folder named), and a layout applies when every one of its patterns matches a file.
Layouts = Sequence[Sequence[str]]


def _data_files_under(p: Path) -> list[Path]:
    return sorted(f for f in p.rglob("*") if f.is_file() and data_file_name(f))


def folder_files(folder: str | Path, *, benchmark: str | None = None, layouts: Layouts = ()) -> list[Path]:
    """The data files to read from ``folder``: those of the first official layout it matches, else its
    only data file; anything else raises :class:`DatasetNotFound` listing the files found."""
    p = Path(folder)
    for layout in layouts:
        matched = [sorted(f for f in p.glob(pattern) if f.is_file()) for pattern in layout]
        if all(matched):
            return [f for files in matched for f in files]
    found = _data_files_under(p)
    if len(found) == 1:
        return found
    who = f"{benchmark}: " if benchmark else ""
    if not found:
        raise DatasetNotFound(f"{who}no data file ({', '.join(LOCAL_SUFFIXES)}) under {str(p)!r}")
    shown = ", ".join(str(f.relative_to(p)) for f in found[:12]) + (
        f", ... ({len(found)} in all)" if len(found) > 12 else ""
    )
    expected = "; ".join(" + ".join(layout) for layout in layouts)
    raise DatasetNotFound(
        f"{who}the folder {str(p)!r} holds several data files ({shown}) and is not in a layout archon knows"
        + (f" (expected {expected})" if expected else "")
        + "; pass the evaluation file itself with --data (files are never merged)"
    )


def read_local(path: str | Path, *, benchmark: str | None = None, layouts: Layouts = ()) -> Records:
    """Records from a JSONL, JSON (a list, an object holding one list, one record, or JSON Lines), Parquet,
    ``.jsonl.gz`` or ``.json.gz`` file, or from a folder (see :func:`folder_files`). A file that cannot be
    read raises :class:`DatasetNotFound` naming it (and the line, for JSON); :func:`where` names a record's file."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFound(f"data path {str(p)!r} does not exist")
    files = folder_files(p, benchmark=benchmark, layouts=layouts) if p.is_dir() else [p]
    out = Records()
    for f in files:
        out.extend_from(f, _read_file(f))
    return out


def load_records(
    data: str | Path | None,
    *,
    benchmark: str,
    hf_path: str,
    hf_name: str | None = None,
    split: str = "test",
    layouts: Layouts = (),
) -> list[dict[str, Any]]:
    """Records from ``data`` if given (a folder in one of ``layouts``, see :func:`folder_files`), else from
    the Hugging Face hub via `datasets`.

    A failure says where the data lives and how to point archon at a local copy.
    """
    if data is not None:
        return read_local(data, benchmark=benchmark, layouts=layouts)
    hint = (
        f"{benchmark}: could not load {hf_path}"
        + (f" ({hf_name})" if hf_name else "")
        + f" split {split!r} with the `datasets` library. Download it where you have access "
        f"(e.g. `datasets.load_dataset({hf_path!r}{', ' + repr(hf_name) if hf_name else ''}, split={split!r})"
        f".to_json('{benchmark}.jsonl')`, or the official file the README's benchmark table names) "
        f"and pass it with --data: "
        f"`archon bench CONFIG --benchmark {benchmark} --data {benchmark}.jsonl --out RUN_DIR`."
    )
    try:
        import datasets
    except ImportError:
        raise DatasetNotFound(
            hint + ' (The `datasets` library is not installed: pip install -e ".[datasets]".)'
        ) from None
    try:
        ds = datasets.load_dataset(hf_path, hf_name, split=split)
    except Exception as e:  # offline, gated, renamed: all end the same way for the user
        raise DatasetNotFound(f"{hint} Cause: {type(e).__name__}: {str(e)[:200]}") from None
    return [dict(r) for r in ds]


class HubRecords:
    """For a benchmark whose records are one split of a Hugging Face data set, or local files in ``layouts``."""

    name: str
    hf_path: str
    hf_name: str | None = None
    split: str = "test"
    layouts: Layouts = ()

    def records(self, data: str | Path | None, layouts: Layouts | None = None) -> list[dict[str, Any]]:
        """:func:`load_records` with this benchmark's source (``layouts`` in place of its own, if given)."""
        return load_records(
            data,
            benchmark=self.name,
            hf_path=self.hf_path,
            hf_name=self.hf_name,
            split=self.split,
            layouts=self.layouts if layouts is None else layouts,
        )
