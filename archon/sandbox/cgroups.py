"""A cgroup per run, where the caller may make one: the memory and process count of the whole run."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from .bootstrap import INTERPRETER
from .linux import IS_LINUX


@dataclass(frozen=True)
class CgroupHomes:
    """Where per-run cgroups go: for cgroup v2 one directory (both fields), for v1 one per hierarchy."""

    v2: bool
    memory: str | None
    pids: str | None


def _unescape_mount_path(path: str) -> str:
    """A path as /proc/self/mountinfo writes it, with octal escapes ("\\040" for a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _find_cgroup_homes() -> CgroupHomes | None:
    """Our own cgroups, where we may make child cgroups with memory and process limits."""
    try:
        with open("/proc/self/cgroup") as f:
            own: dict[str, str] = {}  # controller ("" for v2) -> our cgroup's path in that hierarchy
            for line in f:
                _, listed, own_path = line.rstrip("\n").split(":", 2)
                for c in listed.split(",") if listed else [""]:
                    own[c] = own_path
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split() for line in f]
    except (OSError, ValueError):
        return None
    v1: dict[str, str] = {}
    for fields in mounts:
        sep = fields.index("-")
        root, point, fstype, options = fields[3], _unescape_mount_path(fields[4]), fields[sep + 1], fields[sep + 3]
        controllers = [""] if fstype == "cgroup2" else options.split(",") if fstype == "cgroup" else []
        for c in controllers:
            path = own.get(c)
            if path is None or not (path == root or path.startswith(root.rstrip("/") + "/")):
                continue
            here = os.path.join(point, path[len(root.rstrip("/")) :].lstrip("/")).rstrip("/")
            if c == "":
                try:
                    with open(os.path.join(here, "cgroup.subtree_control")) as f:
                        delegated = f.read().split()
                except OSError:
                    continue
                if {"memory", "pids"} <= set(delegated) and os.access(here, os.W_OK):
                    return CgroupHomes(True, here, here)
            elif c in ("memory", "pids") and os.access(here, os.W_OK):
                v1[c] = here
    return CgroupHomes(False, v1.get("memory"), v1.get("pids")) if v1 else None


class Cgroup:
    """A run's own cgroup(s), made before it starts and removed after it: the memory and the number of
    processes of the whole run, and a way to find every process of it."""

    def __init__(self, homes: CgroupHomes, memory_bytes: int, max_pids: int):
        self.v2 = homes.v2
        self.dirs: list[str] = []
        self.memory: str | None = None
        name = f"archon-sandbox-{secrets.token_hex(8)}"
        try:
            for home, controller in ((homes.memory, "memory"), (homes.pids, "pids")):
                if home is None or (self.v2 and self.dirs):
                    continue
                d = os.path.join(home, name)
                os.mkdir(d)
                self.dirs.append(d)
                if self.v2 or controller == "memory":
                    self.memory = d
                    settings = (
                        [("memory.max", memory_bytes), ("memory.swap.max", 0), ("memory.oom.group", 1)]
                        if self.v2
                        else [("memory.limit_in_bytes", memory_bytes), ("memory.memsw.limit_in_bytes", memory_bytes)]
                    )
                    for i, (key, value) in enumerate(settings):
                        if i == 0 or os.path.exists(os.path.join(d, key)):  # the others are optional
                            self._write(d, key, value)
                if self.v2 or controller == "pids":
                    self._write(d, "pids.max", max_pids)
        except BaseException:
            with contextlib.suppress(OSError):
                self.remove(0)
            raise

    @staticmethod
    def _write(d: str, key: str, value: int) -> None:
        with open(os.path.join(d, key), "w") as f:
            f.write(str(value))

    def join(self) -> None:
        """Move the calling process in (from the child, before it execs)."""
        for d in self.dirs:
            fd = os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError), open(os.path.join(d, "cgroup.procs")) as f:
                found.update(int(line) for line in f if line.strip())
        return found

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer ended a process of the run for going over the memory limit."""
        if self.memory is None:
            return False
        try:
            with open(os.path.join(self.memory, "memory.events" if self.v2 else "memory.oom_control")) as f:
                return any(line.split()[:1] == ["oom_kill"] and int(line.split()[1]) > 0 for line in f)
        except (OSError, ValueError, IndexError):
            return False

    def kill(self) -> None:
        """SIGKILL everything in the cgroup: ``cgroup.kill`` (cgroup v2, Linux 5.14+), else each member
        in turn through a pidfd, checked to be a member, until none is left."""
        kill_file = os.path.join(self.dirs[0], "cgroup.kill") if self.v2 and self.dirs else None
        if kill_file and os.path.exists(kill_file):
            with contextlib.suppress(OSError), open(kill_file, "w") as f:
                f.write("1")
            return
        for _ in range(100):
            members = self.pids()
            if not members:
                return
            for pid in members:
                with contextlib.suppress(OSError):
                    fd = os.pidfd_open(pid)
                    try:
                        if pid in self.pids():  # the pidfd is of a member, not of a process that took its pid
                            signal.pidfd_send_signal(fd, signal.SIGKILL)
                    finally:
                        os.close(fd)
            time.sleep(0.005)

    def remove(self, wait_s: float = 2.0) -> None:
        """Remove the cgroup(s), waiting up to ``wait_s`` for killed processes to finish exiting."""
        deadline = time.monotonic() + wait_s
        for d in reversed(self.dirs):
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.01)
        self.dirs = []


_cgroup_lock = threading.Lock()
_cgroup_cache: list[CgroupHomes | None] = []


def cgroup_homes() -> CgroupHomes | None:
    """Where runs get cgroups here, tried once with a trivial process; None where they cannot."""
    with _cgroup_lock:
        if not _cgroup_cache:
            homes = _find_cgroup_homes() if IS_LINUX and os.geteuid() == 0 else None
            if homes is not None:
                try:
                    probe = Cgroup(homes, 64 << 20, 8)
                    try:
                        subprocess.run(
                            [INTERPRETER, "-I", "-S", "-c", ""],
                            preexec_fn=probe.join,
                            check=True,
                            timeout=30,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    finally:
                        probe.remove()
                except (OSError, subprocess.SubprocessError):
                    homes = None
            _cgroup_cache.append(homes)
        return _cgroup_cache[0]
