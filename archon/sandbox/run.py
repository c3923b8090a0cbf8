"""Running a program with limits, sync and async, at most :data:`MAX_CONCURRENT_RUNS` at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator

from .execute import execute
from .isolation import current_mode
from .limits import ExecutionResult, SandboxLimits

__all__ = ["MAX_CONCURRENT_RUNS", "arun_python", "run_python"]


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: How many programs :func:`run_python` and :func:`arun_python` run at once in this process; later
#: calls wait (their wall-clock limit starts when they run). Read at each call, so it may be changed.
MAX_CONCURRENT_RUNS = _usable_cpus()

_slots = threading.Condition()
_active_runs = 0


@contextlib.contextmanager
def _run_slot() -> Iterator[None]:
    global _active_runs
    with _slots:
        _slots.wait_for(lambda: _active_runs < max(1, MAX_CONCURRENT_RUNS))
        _active_runs += 1
    try:
        yield
    finally:
        with _slots:
            _active_runs -= 1
            _slots.notify_all()


def run_python(code: str, *, stdin: str = "", limits: SandboxLimits = SandboxLimits()) -> ExecutionResult:
    """Run ``code`` as a Python program in the sandbox, feeding it ``stdin``; blocks until it ends.

    Status: ``passed`` (exit 0), ``failed`` (non-zero exit, uncaught exception, syntax error),
    ``timeout`` (wall or CPU limit), ``memory`` (ended with ``MemoryError``, or killed for the run's
    memory), ``output_limit`` (stdout or stderr passed ``limits.max_output_bytes``; both are returned
    cut to that length) or ``error`` (the sandbox could not start the program).
    """
    mode = current_mode()
    with _run_slot():
        return execute(code, stdin, limits, mode)


async def arun_python(code: str, *, stdin: str = "", limits: SandboxLimits = SandboxLimits()) -> ExecutionResult:
    """:func:`run_python` in a worker thread, so that the event loop keeps running."""
    return await asyncio.to_thread(run_python, code, stdin=stdin, limits=limits)
