"""A persistent call cache: one SQLite file, one row per sample of an LLM call.

Keyed by provider, model, messages, parameters and sample index, so a rerun makes no new calls,
a crashed batch resumes where it stopped, and identical calls made by different architectures
are made once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..errors import ArchonError

log = logging.getLogger("archon.cache")


def default_cache_path() -> Path:
    env = os.environ.get("ARCHON_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "archon" / "calls.sqlite"


def call_key(provider: str, model: str, messages: list[dict], params: dict[str, Any], sample: int) -> str:
    payload = json.dumps([provider, model, messages, params, sample], sort_keys=True, ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class CallCache:
    """Thread-safe; every write is committed at once (WAL mode keeps that cheap)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
                " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL)"
            )
        except (OSError, sqlite3.Error) as e:
            raise ArchonError(f"cannot use the call cache {str(self.path)!r}: {e} "
                              "(use another cache file, or turn the cache off)") from None

    # Reads and writes never fail a query: the answer is good without the cache (a file another
    # process holds locked past sqlite's timeout, a full disk). A failed read is a miss; a failed
    # write is skipped; both are logged.

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, int, int]]:
        if not keys:
            return {}
        try:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT key, text, input_tokens, output_tokens FROM calls WHERE key IN ({','.join('?' * len(keys))})",
                    keys,
                ).fetchall()
        except sqlite3.Error as e:
            log.warning("call cache %s: read failed (%s); asking the model", self.path, e)
            return {}
        # A row another program wrote (SQLite does not enforce column types: a blob, a number) is a miss.
        good = {k: (t, i, o) for k, t, i, o in rows
                if isinstance(t, str) and isinstance(i, int) and isinstance(o, int)}
        if len(good) < len(rows):
            log.warning("call cache %s: %d row(s) not of the cache's types, ignored; asking the model",
                        self.path, len(rows) - len(good))
        return good

    def put_many(self, rows: list[tuple[str, str, int, int]]) -> None:
        if not rows:
            return
        try:
            with self._lock:
                self._db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as e:
            log.warning("call cache %s: write failed (%s); %d answers not cached", self.path, e, len(rows))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM calls")

    def close(self) -> None:
        with self._lock:
            self._db.close()
