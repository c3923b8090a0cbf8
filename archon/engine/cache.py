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
from ..sandbox import hide_path

log = logging.getLogger("archon.cache")


def default_cache_path() -> Path:
    env = os.environ.get("ARCHON_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "archon" / "calls.sqlite"


def call_key(provider: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any], sample: int) -> str:
    payload = json.dumps(
        [provider, model, messages, params, sample], sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://")


def is_postgres_url(target: Any) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


class CallCache:
    """Thread-safe; every write is committed at once.

    ``CallCache(path)`` is a SQLite file (:class:`SQLiteCallCache`); ``CallCache("postgresql://user:pw@host/db")``
    is the same cache in a PostgreSQL database (:class:`PostgresCallCache`), so processes on several machines
    share their generations.
    """

    path: Path | str  # where the cache lives, as messages show it (a PostgreSQL URL without its password)

    def __new__(cls, path: str | Path | None = None) -> CallCache:
        if cls is CallCache:
            return object.__new__(PostgresCallCache if is_postgres_url(path) else SQLiteCallCache)
        return object.__new__(cls)

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, int, int]]:
        """(text, input tokens, output tokens) of the keys found; a failed read is a miss."""
        raise NotImplementedError

    def put_many(self, rows: list[tuple[str, str, int, int]]) -> None:
        """Store (key, text, input tokens, output tokens) rows; a failed write is skipped."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteCallCache(CallCache):
    """The call cache in one SQLite file (WAL mode keeps a commit per write cheap)."""

    path: Path

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        hide_path(self.path.parent)  # sandboxed programs must not read the cached calls
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
            raise ArchonError(
                f"cannot use the call cache {str(self.path)!r}: {e} (use another cache file, or turn the cache off)"
            ) from None

    # Reads and writes never fail a query: the answer is good without the cache (a file another
    # process holds locked past sqlite's timeout, a full disk). A failed read is a miss; a failed
    # write is skipped; both are logged.

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, int, int]]:
        if not keys:
            return {}
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT key, text, input_tokens, output_tokens FROM calls "
                    f"WHERE key IN ({','.join('?' * len(keys))})",
                    keys,
                ).fetchall()
        except sqlite3.Error as e:
            log.warning("call cache %s: read failed (%s); asking the model", self.path, e)
            return {}
        # A row another program wrote (SQLite does not enforce column types: a blob, a number) is a miss.
        good = {k: (t, i, o) for k, t, i, o in rows if isinstance(t, str) and isinstance(i, int) and isinstance(o, int)}
        if len(good) < len(rows):
            log.warning(
                "call cache %s: %d row(s) not of the cache's types, ignored; asking the model",
                self.path,
                len(rows) - len(good),
            )
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
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM calls")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresCallCache(CallCache):
    """The call cache in a PostgreSQL database (table ``archon_calls``), through psycopg (the ``search`` extra).

    Same behaviour as the SQLite file: reads and writes never fail a query; the first answer stored
    for a key is kept.
    """

    path: str

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            raise ArchonError("a PostgreSQL call cache needs psycopg: pip install 'archon[search]'") from None
        self.path = _redact(url)  # shown in messages, never the password
        self._lock = threading.Lock()
        self._psycopg = psycopg
        self._url = "postgresql://" + url.split("://", 1)[1]
        try:
            self._db: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(self._url, autocommit=True)
            with self._db.transaction():  # workers starting together: one creates the table, under a lock
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext('archon_calls'))")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS archon_calls (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
                    " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL)"
                )
        except psycopg.Error as e:
            raise ArchonError(
                f"cannot use the call cache {self.path}: {type(e).__name__}: {_redact(str(e)).strip()}"
            ) from None

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, int, int]]:
        if not keys:
            return {}
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT key, text, input_tokens, output_tokens FROM archon_calls WHERE key = ANY(%s)", (keys,)
                ).fetchall()
        except self._psycopg.Error as e:
            log.warning("call cache %s: read failed (%s); asking the model", self.path, type(e).__name__)
            self._reconnect()
            return {}
        return {k: (t, i, o) for k, t, i, o in rows}

    def put_many(self, rows: list[tuple[str, str, int, int]]) -> None:
        if not rows:
            return
        try:
            with self._lock, self._db.cursor() as cur:
                cur.executemany("INSERT INTO archon_calls VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO NOTHING", rows)
        except self._psycopg.Error as e:
            log.warning(
                "call cache %s: write failed (%s); %d answers not cached", self.path, type(e).__name__, len(rows)
            )
            self._reconnect()

    def _reconnect(self) -> None:
        with self._lock:
            try:
                if self._db.closed or self._db.broken:
                    self._db = self._psycopg.connect(self._url, autocommit=True)
            except self._psycopg.Error:
                pass

    def __len__(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM archon_calls").fetchone()
        assert row is not None  # an aggregate without GROUP BY always returns one row
        return int(row[0])

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM archon_calls")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _redact(url: str) -> str:
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_cache(target: str | Path | CallCache | None = None, *, storage: str | None = None) -> CallCache:
    """The call cache for ``target``: a SQLite path, a PostgreSQL URL, or None for the default, which is
    the PostgreSQL database of ``storage`` when that is one (workers on several machines share it), else
    the default file."""
    if isinstance(target, CallCache):
        return target
    if target is None and is_postgres_url(storage):
        return CallCache(storage)
    return CallCache(target)
