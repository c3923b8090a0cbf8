"""Watching a running program: its output as it comes, the wall clock, and its status at the end."""

from __future__ import annotations

import math
import os
import selectors
import signal
import subprocess
import time
from typing import Literal

from .cgroups import Cgroup
from .kill import kill_all
from .limits import ExecutionResult, SandboxLimits, Status


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (so its pid and process group stay ours)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def supervise(
    proc: subprocess.Popen[bytes], limits: SandboxLimits, uid: int | None, cgroup: Cgroup | None, start: float
) -> ExecutionResult:
    deadline = start + limits.wall_seconds
    cap = limits.max_output_bytes
    assert proc.stdout is not None and proc.stderr is not None  # started with stdout=PIPE, stderr=PIPE
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    sel = selectors.DefaultSelector()
    for fd in bufs:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(proc.pid)
            sel.register(pidfd, selectors.EVENT_READ)
        except OSError:
            pidfd = None

    def read(fd: int) -> bool:
        """Read what is there; False at end of file."""
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            sel.unregister(fd)
            return False
        buf = bufs[fd]
        buf += data[: max(0, cap + 1 - len(buf))]  # one byte over the cap marks the overflow
        return True

    reason: Literal["timeout", "output_limit"] | None = None  # why we killed it
    try:
        while True:
            if _exited(proc.pid):
                break
            now = time.monotonic()
            if now >= deadline:
                reason = "timeout"
                break
            for key, _ in sel.select(min(deadline - now, 0.05 if pidfd is None else 1.0)):
                if key.fd != pidfd:
                    read(key.fd)
            if any(len(b) > cap for b in bufs.values()):
                reason = "output_limit"
                break
        kill_all(proc.pid, uid, cgroup)
        # Reap the main process; after SIGKILL this is immediate.
        _, wait_status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        duration = time.monotonic() - start
        # Drain what the program wrote before it ended; writers that escaped the kill get a short grace.
        grace = time.monotonic() + 0.25
        while reason != "output_limit" and any(fd in sel.get_map() for fd in bufs) and time.monotonic() < grace:
            for key, _ in sel.select(0.05):
                if key.fd != pidfd:
                    read(key.fd)
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)

    out, err = bufs[out_fd], bufs[err_fd]
    if len(out) > cap or len(err) > cap:
        reason = "output_limit"
    stdout, stderr = _decode(out[:cap]), _decode(err[:cap])
    rc = proc.returncode
    cpu_used = rusage.ru_utime + rusage.ru_stime
    status: Status
    if reason is not None:
        status = reason
    elif rc == 0:
        status = "passed"
    elif cgroup is not None and cgroup.oom_killed():
        status = "memory"  # the run as a whole went over its memory limit
    elif rc == -signal.SIGXCPU or (rc == -signal.SIGKILL and cpu_used >= 0.5 * max(1, math.ceil(limits.cpu_seconds))):
        # A SIGKILL we did not send, after much CPU: the hard CPU limit. (The usage the kernel reports
        # is sampled at clock ticks and, on a busy machine, comes out several percent short.)
        status = "timeout"
    elif _last_line(stderr).startswith("MemoryError"):
        status = "memory"
    else:
        status = "failed"
    return ExecutionResult(status, rc, stdout, stderr, duration)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
