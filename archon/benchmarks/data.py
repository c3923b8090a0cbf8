"""Loading benchmark data: a local file or folder the user names, else the `datasets` library.

Nothing but `datasets` downloads at run time, and only when no local data was named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DatasetNotFound

LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet")


def read_local(path: str | Path) -> list[dict[str, Any]]:
    """Records from a JSONL, JSON (a list, or an object holding one list) or Parquet file, or from every such file in a folder (sorted by name)."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFound(f"data path {str(p)!r} does not exist")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in LOCAL_SUFFIXES)
        if not files:
            raise DatasetNotFound(f"no .jsonl, .json or .parquet file under {str(p)!r}")
        return [r for f in files for r in read_local(f)]
    if p.suffix == ".jsonl":
        with p.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    if p.suffix == ".json":
        obj = json.loads(p.read_text(encoding="utf-8"))
        if isinstance(obj, dict):
            lists = [v for v in obj.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise DatasetNotFound(f"{str(p)!r}: expected a JSON list of records or an object holding one list")
            obj = lists[0]
        return list(obj)
    if p.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise DatasetNotFound("reading Parquet needs pyarrow: pip install 'archon[datasets]'") from e
        return pq.read_table(p).to_pylist()
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
