"""Ending a run: every process of it killed, those handed to us reaped."""

from __future__ import annotations

import ctypes
import os
import signal
import time
import warnings

from .cgroups import Cgroup
from .linux import IS_LINUX, PR_GET_CHILD_SUBREAPER, load_libc
from .procs import processes


def _has_capabilities() -> bool:
    """Whether this process holds any effective capability (Linux; elsewhere the uid says it all)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16) != 0
    except OSError:
        pass
    return IS_LINUX  # unreadable on Linux: assume the worst


def _kill_uid(uid: int) -> None:
    """Kill every process of ``uid``: a forked helper takes that uid and sends kill(-1, SIGKILL), which
    the kernel delivers to all of them at once (a fork under way when it comes is cancelled)."""
    with warnings.catch_warnings():  # Python 3.12+ warns about fork() in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the helper: a few system calls, then _exit
        try:
            os.setgid(uid)
            os.setuid(uid)
            # kill(-1) from anything privileged would hit the whole system: make sure we are not.
            if os.getuid() == os.geteuid() == uid and not _has_capabilities():
                os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _is_subreaper() -> bool:
    """Whether orphaned descendants are handed to us rather than to an init that reaps them."""
    if os.getpid() == 1:
        return True
    libc = load_libc()
    if libc is None:
        return False
    flag = ctypes.c_int(0)
    return libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.addressof(flag), 0, 0, 0) == 0 and flag.value != 0


def _reap_orphans(sid: int, uid: int | None, timeout: float = 1.0) -> None:
    """Reap the run's killed processes that were handed to us (we are PID 1 or a subreaper): those of
    its session or its per-run uid, but not the run's main process, which the caller reaps."""
    me = os.getpid()
    deadline = time.monotonic() + timeout
    while True:
        waiting = False
        for p in processes():
            if p.pid == sid or not (p.sid == sid or (uid is not None and p.uid == uid)):
                continue
            if p.ppid == me:
                try:
                    waiting |= os.waitpid(p.pid, os.WNOHANG)[0] == 0
                except ChildProcessError:
                    pass
            elif p.state != "Z":
                waiting = True  # still exiting: it may yet be handed to us
        if not waiting or time.monotonic() >= deadline:
            return
        time.sleep(0.01)


def kill_all(pid: int, uid: int | None, cgroup: Cgroup | None) -> None:
    """SIGKILL the run: its process group, every process of its per-run uid, everything in its cgroup;
    then reap those of its processes that were handed to us."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is not None:
        _kill_uid(uid)
    if cgroup is not None:
        cgroup.kill()
    if _is_subreaper():
        _reap_orphans(pid, uid)
