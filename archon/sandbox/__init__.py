"""Run untrusted Python programs (model-written code) in a contained child process.

:func:`run_python` runs one program under :class:`SandboxLimits` and returns an
:class:`ExecutionResult`; :func:`arun_python` does the same without blocking the event loop.
:func:`extract_code` pulls the program out of an LLM answer, and :func:`ajudge_asserts` judges a
program's functions by assert tests in a process that holds none of its code. The layers of containment, and what
each platform gets, are described in ``docs/sandbox.md``.
"""

from .asserts import AssertVerdict, ajudge_asserts, called_names
from .extract import extract_code
from .isolation import isolation_mode, network_isolation_available
from .limits import ExecutionResult, SandboxLimits, Status
from .mounts import hide_path
from .run import arun_python, run_python

__all__ = [
    "AssertVerdict",
    "ExecutionResult",
    "SandboxLimits",
    "Status",
    "ajudge_asserts",
    "arun_python",
    "called_names",
    "extract_code",
    "hide_path",
    "isolation_mode",
    "network_isolation_available",
    "run_python",
]
