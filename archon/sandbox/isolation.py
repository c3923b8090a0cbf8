"""The isolation mode programs run in here, probed once."""

from __future__ import annotations

import threading

from .execute import execute
from .limits import SandboxLimits
from .modes import Mode, candidate_modes

_mode_lock = threading.Lock()
_mode_cache: list[Mode] = []
_PROBE_LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=10)


def current_mode() -> Mode:
    """The strongest mode that works here: each candidate runs a small program once, in order. The
    program imports modules the interpreter has not loaded at startup, so a mode whose program cannot
    read the standard library fails here rather than later."""
    with _mode_lock:
        if not _mode_cache:
            chosen = Mode("basic")
            for mode in candidate_modes():
                r = execute(f"import json, decimal\nprint({mode.name!r})", "", _PROBE_LIMITS, mode)
                if r.status == "passed" and r.stdout.strip() == mode.name:
                    chosen = mode
                    break
            _mode_cache.append(chosen)
        return _mode_cache[0]


def isolation_mode() -> str:
    """The name of the containment mode programs run in here, e.g. ``netns+pidns+mountns+ro+uid``
    (the layers it has); ``basic`` means only the portable layers."""
    return current_mode().name


def network_isolation_available() -> bool:
    """Whether programs run without any network (a network namespace works here); the audit hook
    that blocks Python-level sockets is installed either way."""
    return current_mode().network_isolated
