"""Per-run user and group ids for a root caller: picked where no account or process uses them."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Sequence

from .linux import IS_LINUX
from .procs import processes

UID_BASE = 0x7A000000  # far above any account, within what a full user namespace maps
_UID_SPAN = 1 << 20
_LOW_ID_MIN = 1000  # in a small mapping (a rootless container): never below the usual first account
_LOW_POOL_SIZE = 4096
_MIN_POOL_SIZE = 64

_ids_lock = threading.Lock()
ids_in_use: set[int] = set()
_id_pool_cache: list[Sequence[int]] = []


def _mapped_ranges(path: str) -> list[tuple[int, int]]:
    """The ids [lo, hi) that exist in this (possibly nested) user namespace, from uid_map or gid_map."""
    try:
        with open(path) as f:
            return [(int(inside), int(inside) + int(count)) for inside, _outside, count in (line.split() for line in f)]
    except (OSError, ValueError):
        return [] if IS_LINUX else [(0, 1 << 32)]  # no user namespaces: every id is valid


def _account_ids() -> set[int]:
    """Ids named in /etc/passwd and /etc/group."""
    ids: set[int] = set()
    for path, columns in (("/etc/passwd", (2, 3)), ("/etc/group", (2,))):
        try:
            with open(path) as f:
                for line in f:
                    fields = line.split(":")
                    ids.update(int(fields[c]) for c in columns if len(fields) > c and fields[c].isdigit())
        except OSError:
            pass
    return ids


def id_pool() -> Sequence[int]:
    """Ids to run programs as (each the uid and the gid of one run), worked out once: a wide range far
    above any account where the user namespace maps it, else the highest ids it maps (a rootless
    container's 0-65535, say) that no account, group or running process uses; empty where too few are
    left for per-run ids to be worth it."""
    with _ids_lock:
        if not _id_pool_cache:
            uids, gids = _mapped_ranges("/proc/self/uid_map"), _mapped_ranges("/proc/self/gid_map")

            def mapped(lo: int, hi: int) -> bool:
                return any(a <= lo and hi <= b for a, b in uids) and any(a <= lo and hi <= b for a, b in gids)

            pool: Sequence[int]
            if mapped(UID_BASE, UID_BASE + _UID_SPAN):
                pool = range(UID_BASE, UID_BASE + _UID_SPAN)
            else:
                taken = _account_ids() | {p.uid for p in processes()} | {65534, 65535, (1 << 32) - 1}
                for name in ("overflowuid", "overflowgid"):
                    with contextlib.suppress(OSError, ValueError), open(f"/proc/sys/kernel/{name}") as f:
                        taken.add(int(f.read()))
                picked: list[int] = []
                for lo, hi in sorted(uids, reverse=True):
                    for i in range(hi - 1, max(lo, _LOW_ID_MIN) - 1, -1):
                        if len(picked) == _LOW_POOL_SIZE:
                            break
                        if i not in taken and mapped(i, i + 1):
                            picked.append(i)
                pool = picked if len(picked) >= _MIN_POOL_SIZE else []
            _id_pool_cache.append(pool)
        return _id_pool_cache[0]


def acquire_id() -> int:
    pool = id_pool()
    with _ids_lock:
        if len(ids_in_use) >= len(pool):
            raise RuntimeError("sandbox: every per-run id is in use")
        while True:
            uid = pool[random.randrange(len(pool))]
            if uid not in ids_in_use:
                ids_in_use.add(uid)
                return uid


def release_id(uid: int | None) -> None:
    if uid is not None:
        with _ids_lock:
            ids_in_use.discard(uid)
