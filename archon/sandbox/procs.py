"""The processes of this machine, read from /proc."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from .linux import IS_LINUX


@dataclass(frozen=True)
class Proc:
    pid: int
    state: str  # "Z" for a zombie
    ppid: int
    sid: int
    threads: int
    uid: int  # the owner of /proc/PID: the effective uid


def processes() -> Iterator[Proc]:
    """Every process visible in /proc (none where there is no /proc)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                yield Proc(
                    int(name),
                    fields[0],
                    int(fields[1]),
                    int(fields[3]),
                    int(fields[17]),
                    os.stat(f"/proc/{name}").st_uid,
                )
            except (OSError, ValueError, IndexError):
                continue


def user_task_count(uid: int) -> int | None:
    """Threads run by ``uid`` now (what RLIMIT_NPROC counts), from /proc; None where unknown."""
    if not (IS_LINUX and os.path.isdir("/proc")):
        return None
    return sum(p.threads or 1 for p in processes() if p.uid == uid)
