"""The limits a program runs under and the result it comes back with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ExecutionResult", "SandboxLimits", "Status"]

Status = Literal["passed", "failed", "timeout", "memory", "output_limit", "error"]


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for one run. CPU, memory and file limits are per process (memory also for the whole run
    where a cgroup is available); wall time covers the whole run."""

    cpu_seconds: float = 5.0
    wall_seconds: float = 10.0
    memory_mb: int = 512  # RLIMIT_AS; with a cgroup, also the run's total
    max_processes: int = 64  # RLIMIT_NPROC (counting threads) or the cgroup's pids.max; see the module docstring
    max_open_files: int = 64  # RLIMIT_NOFILE
    max_file_mb: int = 16  # RLIMIT_FSIZE
    max_disk_mb: int = 64  # all files the run writes (a tmpfs of this size, where a mount namespace is available)
    max_output_bytes: int = 1_000_000  # per stream; more than this kills the program ("output_limit")


@dataclass
class ExecutionResult:
    """What a run produced. ``returncode`` is negative for a signal (``-9`` for ``SIGKILL``) and ``None``
    when the program could not be started (``status == "error"``)."""

    status: Status
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"
