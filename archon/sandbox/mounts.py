"""What the program may see of the filesystem: the directories covered, those mounted back, the scratch
directories and the host's Unix sockets."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Sequence

from .bootstrap import INTERPRETER

SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
_DEVICES = ("null", "zero", "full", "random", "urandom")
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


def world_traversable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IXOTH)
    except OSError:
        return False


def ancestors(path: str) -> list[str]:
    """Proper ancestors of an absolute path, from the root down."""
    out, cur = [], os.path.dirname(path)
    while True:
        out.append(cur)
        if cur == os.path.dirname(cur):
            break
        cur = os.path.dirname(cur)
    return out[::-1]


def is_under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


# Directories never covered as the caller's working directory: the system the program runs on.
_SYSTEM_DIRS = (
    "/",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/var",
    "/opt",
    "/srv",
    "/proc",
    "/sys",
    "/dev",
    "/tmp",
    "/home",
    "/mnt",
    "/media",
)
_hidden: list[str] = []


def hide_path(path: str | os.PathLike[str]) -> None:
    """Cover ``path`` (a directory) with an empty tmpfs in every later run, where runs get a mount
    namespace: for folders of the caller's data (a cache, traces, run folders) outside its working
    directory and home, which are covered anyway."""
    real = os.path.realpath(os.fspath(path))
    if real not in _hidden:
        _hidden.append(real)


def _working_dir() -> str | None:
    """The caller's working directory (its project, usually), unless it is a system directory or holds
    the interpreter."""
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:
        return None
    if cwd in _SYSTEM_DIRS or any(is_under(p, cwd) for p in _interpreter_dirs()):
        return None
    return cwd


def _private_dirs() -> list[str]:
    """Directories to cover with an empty tmpfs: the caller's working directory and home, root's, where
    services keep their sockets, those given to :func:`hide_path`, ``/dev`` (rebuilt with a few devices),
    and directories an unprivileged child could not pass through on the way to the interpreter's
    installation."""
    candidates = [
        os.environ.get("HOME"),
        "/root",
        "/run",
        "/var/run",
        os.environ.get("XDG_RUNTIME_DIR"),
        "/dev",
        _working_dir(),
        *_hidden,
    ]
    with contextlib.suppress(ImportError, KeyError):
        import pwd

        candidates.append(pwd.getpwuid(os.getuid()).pw_dir)
    for p in _interpreter_dirs():
        candidates.append(next((a for a in ancestors(p) if not world_traversable(a)), None))
    found: list[str] = []
    for c in candidates:
        if c and os.path.isabs(c) and os.path.isdir(c):
            real = os.path.realpath(c)
            if real != "/" and real not in found:
                found.append(real)
    found.sort()
    return [d for d in found if not any(d != o and is_under(d, o) for o in found)]  # not inside another


def _interpreter_dirs() -> list[str]:
    return sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix, os.path.dirname(INTERPRETER))})


def sandbox_base(avoid: Sequence[str] = ()) -> str:
    """A world-traversable directory for run directories (the child must reach its own), outside the
    directories in ``avoid`` where possible."""
    options = [
        d
        for d in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm")
        if os.path.isdir(d) and all(world_traversable(a) for a in [*ancestors(d), d])
    ]
    return next(
        (d for d in options if not any(is_under(os.path.realpath(d), m) for m in avoid)),
        options[0] if options else tempfile.gettempdir(),
    )


def mount_plan() -> tuple[str, list[str], list[str]]:
    """(base, masks, exposures): where the run directory goes; the directories to cover with an empty
    tmpfs (never one holding the run directory); and what is mounted back into them, the interpreter's
    installation and the devices in /dev, each staged through the run directory."""
    masks = _private_dirs()
    base = sandbox_base(masks)
    masks = [m for m in masks if not is_under(os.path.realpath(base), m)]
    exposures: list[str] = []
    for p in _interpreter_dirs():
        if any(is_under(p, m) for m in masks) and not any(is_under(p, e) for e in exposures):
            exposures.append(p)
    if "/dev" in masks:
        exposures += [f"/dev/{d}" for d in _DEVICES if os.path.exists(f"/dev/{d}")]
    return base, masks, exposures


def host_sockets(hidden: Sequence[str]) -> list[str]:
    """Unix sockets bound to a path in our network namespace, outside the directories in ``hidden``."""
    found: list[str] = []
    try:
        with open("/proc/net/unix", errors="replace") as f:
            next(f, None)
            for line in f:
                fields = line.rstrip("\n").split(None, 7)
                if len(fields) == 8 and fields[7].startswith("/"):
                    path = fields[7]
                    if path not in found and not any(is_under(path, h) for h in hidden):
                        with contextlib.suppress(OSError):
                            if stat.S_ISSOCK(os.lstat(path).st_mode):
                                found.append(path)
    except OSError:
        pass
    return found
