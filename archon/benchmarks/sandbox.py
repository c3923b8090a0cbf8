"""Run untrusted Python programs (model-written code for HumanEval, MBPP, CodeContests) in a contained child.

Standard library only. :func:`run_python` runs one program and returns an :class:`ExecutionResult`;
:func:`arun_python` does the same in a worker thread, so the event loop keeps running. At most
:data:`MAX_CONCURRENT_RUNS` programs (by default one per CPU this process may use) run at once per
process; further calls wait for a slot before their clock starts.

This is containment for code that is wrong, greedy or careless, and a good deal of hostile code; it is
not a boundary proven against a determined attacker with a kernel exploit. Where the kernel refuses a
layer, a weaker fallback is used (see *What you get where*).

Layers of containment
=====================

On every POSIX system (Linux, macOS, the BSDs):

* **Own process, session and process group.** The program runs in a fresh interpreter (the caller's
  base interpreter of ``sys.executable`` with ``-I``, isolated mode, and ``-B``, no bytecode files) started with
  ``start_new_session``. When the program ends, times out or floods its output, the whole process
  group is killed with ``SIGKILL``, background children included. When the caller is PID 1 or a child
  subreaper, killed processes of the run that were handed to it are reaped, so no zombies pile up.
* **Resource limits**, set by ``setrlimit`` in a ``preexec_fn``: CPU seconds (``RLIMIT_CPU``: ``SIGXCPU``,
  then ``SIGKILL``), address space (``RLIMIT_AS``: a huge allocation raises ``MemoryError``), processes
  and threads (``RLIMIT_NPROC``), open files (``RLIMIT_NOFILE``), the size of any file written
  (``RLIMIT_FSIZE``) and no core dumps. The parent enforces the wall-clock limit and the output limit:
  it reads stdout and stderr as they come and kills the program once either passes ``max_output_bytes``
  (status ``"output_limit"``).
* **A fresh working directory**, empty, also ``HOME`` and ``TMPDIR``, deleted afterwards (however deep
  or unreadable the program left it). The source reaches the child through an inherited, already-unlinked
  file, so the directory really is empty.
* **A scrubbed environment.** Only ``PATH``, ``LANG``, ``PYTHONHASHSEED``, ``HOME``, ``TMPDIR`` and the
  ``*_NUM_THREADS`` variables (set to 1) reach the child; API keys and other secrets of the caller do
  not. (``-I`` makes the interpreter itself ignore all ``PYTHON*`` variables, ``PYTHONHASHSEED`` too;
  it is there for Python processes the program starts.)
* **An audit hook.** A small bootstrap installs a ``sys.addaudithook`` hook, which cannot be removed,
  before running the program. It refuses sockets of any family but ``AF_UNIX``, connecting, binding or
  sending to any address (Unix sockets included: only ``socket.socketpair()`` works, which asyncio
  needs), and host name lookups. It keeps the program's own Python code off the network and off local
  services, not programs it starts nor code called through ``ctypes``: a last line, not a boundary.

Only on Linux, each where the kernel allows it (tried once per process, strongest first, see
``_isolation()``):

* **No network, no shared IPC**: new network and IPC namespaces (``unshare`` through ``ctypes``, as
  ``os.unshare`` needs Python 3.12). The network namespace has no interface up, not even loopback, so
  every connection fails, and abstract Unix sockets of the host are out of reach; System V IPC objects
  and POSIX message queues the program makes die with it. Root needs nothing more; anyone else gets an
  unprivileged user namespace that maps only their own uid and gid (``CLONE_NEWUSER``). Failing both,
  the ``unshare`` binary is tried. :func:`network_isolation_available` says whether any of these works.
* **A new PID namespace**: a bootstrap process stays outside as a supervisor and the program runs as
  the namespace's init, with a fresh read-only ``/proc`` that shows only the namespace (where the
  kernel allows the mount; otherwise the caller's ``/proc``, read-only). When the program ends, the
  kernel kills and reaps everything left in the namespace, even processes that left the process group
  with ``setsid``, and the program cannot see or signal the caller. (The program sees
  ``os.getpid() == 1``; as an init, it ignores signals it sends itself, and its CPU limit ends it with
  ``SIGKILL`` rather than ``SIGXCPU``.)
* **A private mount namespace**: ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are the run's directory, so
  writes to the usual scratch places stay inside it and vanish with it, and every other mount is
  read-only and ``nosuid`` (``mount_setattr``, Linux 5.12+). ``/dev`` is a fresh tmpfs with only
  ``null``, ``zero``, ``full``, ``random``, ``urandom`` and the ``fd``/``std*`` links. The caller's home
  (``$HOME`` and the account's), ``/root``, ``/run`` (also ``/var/run``) and ``$XDG_RUNTIME_DIR``, where
  private files and service sockets (D-Bus, ``docker.sock``, ...) live, are covered by empty tmpfs, as are
  directories an unprivileged child could not pass through on the way to the interpreter; the
  interpreter's installation is mounted back where it lies under one of them. Every other listening
  Unix socket of the caller's network namespace (from ``/proc/net/unix``, when the run starts) is
  covered with an empty file, so ``connect()`` to it is refused by the kernel too.
* **A per-run user, when the caller is root.** Root ignores ``RLIMIT_NPROC`` and may write anywhere,
  so a root caller runs each program as a uid and gid of its own (``setresgid``/``setresuid``, no
  supplementary groups). They are picked at random above ``0x7A000000`` where no account lives, or,
  where the user namespace maps fewer ids (rootless Podman or Docker, Kubernetes user namespaces: often
  only 0-65535), among the highest mapped ids not in ``/etc/passwd`` or ``/etc/group`` and not running
  a process when first looked at. The process limit then counts exactly the program's processes; it
  can write only where anyone may; it cannot read the caller's ``/proc/PID/environ``; and at the end
  one ``kill(-1, SIGKILL)`` sent as that uid kills every process it has, wherever they are. Where no
  such id is mapped, the program runs as root **without any capability** (bounding set emptied,
  ``capset`` to nothing), inside the same namespaces. ``PR_SET_NO_NEW_PRIVS`` stops set-uid programs
  and root's ``execve`` from giving privileges back, and ``PR_SET_PDEATHSIG`` kills the program if the
  caller dies.
* **A cgroup per run, when the caller may make one** (root, usually): cgroup v2 where the caller's
  cgroup delegates ``memory`` and ``pids`` to children (in practice only the root cgroup, as cgroup v2
  forbids enabling controllers for a cgroup that holds processes), else the cgroup v1 ``memory`` and
  ``pids`` hierarchies. ``memory_mb`` then also bounds the memory of all the run's processes together
  (anonymous memory, tmpfs and ``memfd`` pages, page cache; no swap) and ``max_processes`` their
  number, whoever they run as; a program the kernel's OOM killer ends is reported as ``"memory"``.
  Everything left in the cgroup is killed at the end.

What you get where
------------------

* **Linux as root** (CI, containers, rootless containers): all of the above. Without a usable cgroup,
  the memory limit is per process: a program that forks can use up to about ``max_processes`` times
  ``memory_mb``, and memory in ``memfd``/tmpfs files is bounded only by ``max_file_mb`` per file and
  ``max_open_files`` per process. Where namespaces are refused (some container runtimes' seccomp
  profiles), the per-run user remains if the interpreter is readable by everyone; failing that, the
  program runs as root without capabilities, and where even that fails, as plain root with only the
  portable layers.
* **Linux as a normal user**, with unprivileged user namespaces (most distributions): all but the
  per-run user and the cgroup. The process limit counts the program's processes inside its user
  namespace. Without user namespaces (where only the ``unshare`` binary, or nothing, works) it is the
  user's current thread count plus ``max_processes``, as ``RLIMIT_NPROC`` counts all of a user's
  processes; children that leave the process group with ``setsid`` outlive the run; and the program
  can read whatever the user can, the home directory included.
* **macOS and other POSIX systems**: the portable layers only. macOS does not enforce ``RLIMIT_AS``,
  so huge allocations are not contained, and for a normal user the process limit is left alone.
  Network and filesystem access are those of the calling user, less what the audit hook refuses.
* **Windows** is not supported.

Not contained anywhere: the disk space used inside the working directory (each file is limited, not
their number), reads of world-readable files outside the covered directories, Unix sockets bound after
the run started or in other network namespaces (reachable only through paths outside the covered
directories, and only from code the audit hook does not see), and CPU time split over many processes
beyond what the wall-clock limit bounds. A program shares its process with whatever its caller appends
to it: a result the program reports about itself (the benchmarks' "tests done" marker, the unit test
evaluator's pass lines) can be forged by a program that sets out to, e.g. by reading the harness's
source from ``linecache``; random markers only stop accidental and naive matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import os
import random
import re
import resource
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_CONCURRENT_RUNS",
    "ExecutionResult",
    "SandboxLimits",
    "arun_python",
    "network_isolation_available",
    "run_python",
]

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


# --------------------------------------------------------------------------------------------------
# Linux constants and libc.

_IS_LINUX = sys.platform.startswith("linux")
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 4096, 8192, 16384, 1 << 18
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 0x1, 0x2
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
SYS_mount_setattr = 442  # the same on every architecture that has it (x86_64, arm64, ...)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_GET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 37, 38, 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


# --------------------------------------------------------------------------------------------------
# The bootstrap: runs in the child before the program. The marker lets tests find stray processes.
# It starts with the caller's privileges inside the new namespaces and leaves the program without them.

_MARKER = "archon-sandbox-bootstrap"

_BOOTSTRAP = f"""# {_MARKER}
import os, sys
_src, _hook, _pidns, _newproc, _uid, _nocaps, _linux = map(int, sys.argv[1:8])
def _archon_guard(event, args):
    if not event.startswith("socket."):
        return
    if event == "socket.__new__":
        if args[1] != 1:  # only AF_UNIX (socketpair)
            raise PermissionError("network access is disabled in the sandbox")
    elif event in ("socket.connect", "socket.bind", "socket.sendto") or (event == "socket.sendmsg" and args[1] is not None):
        raise PermissionError("network access is disabled in the sandbox")
    elif event.startswith(("socket.getaddrinfo", "socket.gethostby", "socket.getnameinfo")):
        raise PermissionError("network access is disabled in the sandbox")
if _hook:
    sys.addaudithook(_archon_guard)
del _archon_guard
def _archon_contain():
    child = os.fork() if _pidns else 0  # in a new PID namespace the child is its init
    if _linux:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        def check(ret, what):
            if ret != 0:
                err = ctypes.get_errno()
                raise OSError(err, what + ": " + os.strerror(err))
        if _pidns and not child and _newproc:
            # The namespace's own /proc: the caller's processes are not in it. Where the kernel refuses
            # (a /proc partly covered by a container runtime), the old one stays, read-only.
            libc.mount(b"proc", b"/proc", b"proc", {MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC}, None)
    if _uid >= 0:
        os.setgroups([])
        os.setgid(_uid)
        os.setuid(_uid)
    elif _nocaps:
        for cap in range(64):  # empty the bounding set, up to the last capability this kernel has
            if libc.prctl({PR_CAPBSET_DROP}, cap, 0, 0, 0) != 0:
                break
        libc.prctl({PR_CAP_AMBIENT}, {PR_CAP_AMBIENT_CLEAR_ALL}, 0, 0, 0)
        check(libc.capset((ctypes.c_uint32 * 2)({_LINUX_CAPABILITY_VERSION_3}, 0), (ctypes.c_uint32 * 6)()), "capset")
    if _linux:
        # After the id change, which clears both: our own processes may read our /proc files, and we
        # die with our parent (the caller, or for the init the supervisor).
        check(libc.prctl({PR_SET_DUMPABLE}, 1, 0, 0, 0), "PR_SET_DUMPABLE")
        check(libc.prctl({PR_SET_PDEATHSIG}, 9, 0, 0, 0), "PR_SET_PDEATHSIG")
    if child:
        # The supervisor: when the init ends, the kernel kills and reaps everything else in the namespace.
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        if code < 0:
            import signal
            if -code != signal.SIGKILL:
                signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)  # end the same way, for the parent to see
        os._exit(code & 0xFF if code >= 0 else 1)
_archon_contain()
del _archon_contain
def _archon_main():
    import linecache, types
    with open(_src, "rb") as f:
        source = f.read().decode("utf-8", "replace")
    path = "solution.py"
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    sys.argv = [path]
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next
        import traceback  # the Python one: it reads source lines through linecache
        traceback.print_exception(e.with_traceback(tb))
        sys.exit(1)
_archon_main()
"""


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


_libc_cache: list = []


def _libc():
    """libc through ctypes, loaded in the parent (never first in a forked child); None if unusable."""
    if not _libc_cache:
        lib = None
        if _IS_LINUX:
            try:
                lib = ctypes.CDLL(None, use_errno=True)
                lib.unshare.argtypes = [ctypes.c_int]
                lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
                lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
                lib.syscall.restype = ctypes.c_long
            except (OSError, AttributeError):
                lib = None
        _libc_cache.append(lib)
    return _libc_cache[0]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


# --------------------------------------------------------------------------------------------------
# Isolation modes, probed once.


@dataclass(frozen=True)
class _Mode:
    name: str
    netns: bool = False  # unshare(CLONE_NEWNET | CLONE_NEWIPC) through libc
    userns: bool = False  # ... preceded by CLONE_NEWUSER (non-root caller)
    pidns: bool = False  # the program runs as init of a new PID namespace, with its own /proc
    mountns: bool = False  # private mount namespace with scratch dirs replaced, private dirs covered
    ro_root: bool = False  # ... and every other mount read-only, nosuid
    drop_uid: bool = False  # root caller: run as a per-run uid
    drop_caps: bool = False  # root caller without per-run ids: run as root without capabilities
    unshare_bin: bool = False  # network and IPC namespaces through the unshare binary

    @property
    def network_isolated(self) -> bool:
        return self.netns or self.unshare_bin


def _candidate_modes() -> list[_Mode]:
    """Every mode worth trying here, strongest first."""
    root = os.geteuid() == 0
    libc = _IS_LINUX and _libc() is not None
    unshare = _IS_LINUX and shutil.which("unshare") is not None
    modes: list[_Mode] = []
    if root:
        if _id_pool():
            if libc:
                modes += [
                    _Mode("netns+pidns+mountns+ro+uid", netns=True, pidns=True, mountns=True, ro_root=True, drop_uid=True),
                    _Mode("netns+mountns+ro+uid", netns=True, mountns=True, ro_root=True, drop_uid=True),
                    _Mode("netns+mountns+uid", netns=True, mountns=True, drop_uid=True),
                    _Mode("netns+uid", netns=True, drop_uid=True),
                ]
            if unshare:
                modes.append(_Mode("unshare-binary+uid", unshare_bin=True, drop_uid=True))
            modes.append(_Mode("uid", drop_uid=True))
        # No per-run id (or none works): root without capabilities, kept in by the namespaces.
        if libc:
            modes += [
                _Mode("netns+pidns+mountns+ro+nocaps", netns=True, pidns=True, mountns=True, ro_root=True, drop_caps=True),
                _Mode("netns+nocaps", netns=True, drop_caps=True),
            ]
        if unshare:
            modes.append(_Mode("unshare-binary+nocaps", unshare_bin=True, drop_caps=True))
        if libc:
            modes.append(_Mode("nocaps", drop_caps=True))
    else:
        if libc:
            modes += [
                _Mode("userns+netns+pidns+mountns+ro", netns=True, userns=True, pidns=True, mountns=True, ro_root=True),
                _Mode("userns+netns+mountns+ro", netns=True, userns=True, mountns=True, ro_root=True),
                _Mode("userns+netns+mountns", netns=True, userns=True, mountns=True),
                _Mode("userns+netns", netns=True, userns=True),
            ]
        if unshare:
            modes.append(_Mode("unshare-binary", unshare_bin=True))
    modes.append(_Mode("basic"))
    return modes


_mode_lock = threading.Lock()
_mode_cache: list[_Mode] = []
_PROBE_LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=10)


def _isolation() -> _Mode:
    """The strongest mode that works here: each candidate runs a small program once, in order. The
    program imports modules the interpreter has not loaded at startup, so a mode whose program cannot
    read the standard library fails here rather than later."""
    with _mode_lock:
        if not _mode_cache:
            chosen = _Mode("basic")
            for mode in _candidate_modes():
                r = _run(f"import json, decimal\nprint({mode.name!r})", "", _PROBE_LIMITS, mode)
                if r.status == "passed" and r.stdout.strip() == mode.name:
                    chosen = mode
                    break
            _mode_cache.append(chosen)
        return _mode_cache[0]


def isolation_mode() -> str:
    """The name of the containment mode programs run in here, e.g. ``netns+pidns+mountns+ro+uid``
    (the layers it has); ``basic`` means only the portable layers."""
    return _isolation().name


def network_isolation_available() -> bool:
    """Whether programs run without any network (a network namespace works here); the audit hook
    that blocks Python-level sockets is installed either way."""
    return _isolation().network_isolated


# --------------------------------------------------------------------------------------------------
# Processes, through /proc.


@dataclass(frozen=True)
class _Proc:
    pid: int
    state: str  # "Z" for a zombie
    ppid: int
    sid: int
    threads: int
    uid: int  # the owner of /proc/PID: the effective uid


def _processes() -> Iterator[_Proc]:
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
                yield _Proc(int(name), fields[0], int(fields[1]), int(fields[3]), int(fields[17]),
                            os.stat(f"/proc/{name}").st_uid)
            except (OSError, ValueError, IndexError):
                continue


def _user_task_count(uid: int) -> int | None:
    """Threads run by ``uid`` now (what RLIMIT_NPROC counts), from /proc; None where unknown."""
    if not (_IS_LINUX and os.path.isdir("/proc")):
        return None
    return sum(p.threads or 1 for p in _processes() if p.uid == uid)


# --------------------------------------------------------------------------------------------------
# Per-run ids for a root caller.

_UID_BASE = 0x7A000000  # far above any account, within what a full user namespace maps
_UID_SPAN = 1 << 20
_LOW_ID_MIN = 1000  # in a small mapping (a rootless container): never below the usual first account
_LOW_POOL_SIZE = 4096
_MIN_POOL_SIZE = 64

_ids_lock = threading.Lock()
_ids_in_use: set[int] = set()
_id_pool_cache: list[Sequence[int]] = []


def _mapped_ranges(path: str) -> list[tuple[int, int]]:
    """The ids [lo, hi) that exist in this (possibly nested) user namespace, from uid_map or gid_map."""
    try:
        with open(path) as f:
            return [(int(inside), int(inside) + int(count)) for inside, _outside, count in (line.split() for line in f)]
    except (OSError, ValueError):
        return [] if _IS_LINUX else [(0, 1 << 32)]  # no user namespaces: every id is valid


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


def _id_pool() -> Sequence[int]:
    """Ids to run programs as (each the uid and the gid of one run), worked out once: a wide range far
    above any account where the user namespace maps it, else the highest ids it maps (a rootless
    container's 0-65535, say) that no account, group or running process uses; empty where too few are
    left for per-run ids to be worth it."""
    with _ids_lock:
        if not _id_pool_cache:
            uids, gids = _mapped_ranges("/proc/self/uid_map"), _mapped_ranges("/proc/self/gid_map")

            def mapped(lo: int, hi: int) -> bool:
                return (any(a <= lo and hi <= b for a, b in uids)
                        and any(a <= lo and hi <= b for a, b in gids))

            pool: Sequence[int]
            if mapped(_UID_BASE, _UID_BASE + _UID_SPAN):
                pool = range(_UID_BASE, _UID_BASE + _UID_SPAN)
            else:
                taken = _account_ids() | {p.uid for p in _processes()} | {65534, 65535, (1 << 32) - 1}
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


def _acquire_id() -> int:
    pool = _id_pool()
    with _ids_lock:
        if len(_ids_in_use) >= len(pool):
            raise RuntimeError("sandbox: every per-run id is in use")
        while True:
            uid = pool[random.randrange(len(pool))]
            if uid not in _ids_in_use:
                _ids_in_use.add(uid)
                return uid


def _release_id(uid: int | None) -> None:
    if uid is not None:
        with _ids_lock:
            _ids_in_use.discard(uid)


# --------------------------------------------------------------------------------------------------
# Per-run cgroups.


@dataclass(frozen=True)
class _CgroupHomes:
    """Where per-run cgroups go: for cgroup v2 one directory (both fields), for v1 one per hierarchy."""

    v2: bool
    memory: str | None
    pids: str | None


def _unescape_mount_path(path: str) -> str:
    """A path as /proc/self/mountinfo writes it, with octal escapes ("\\040" for a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _find_cgroup_homes() -> _CgroupHomes | None:
    """Our own cgroups, where we may make child cgroups with memory and process limits."""
    try:
        with open("/proc/self/cgroup") as f:
            own = {}  # controller ("" for v2) -> our cgroup's path in that hierarchy
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for c in controllers.split(",") if controllers else [""]:
                    own[c] = path
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
            here = os.path.join(point, path[len(root.rstrip("/")):].lstrip("/")).rstrip("/")
            if c == "":
                try:
                    with open(os.path.join(here, "cgroup.subtree_control")) as f:
                        delegated = f.read().split()
                except OSError:
                    continue
                if {"memory", "pids"} <= set(delegated) and os.access(here, os.W_OK):
                    return _CgroupHomes(True, here, here)
            elif c in ("memory", "pids") and os.access(here, os.W_OK):
                v1[c] = here
    return _CgroupHomes(False, v1.get("memory"), v1.get("pids")) if v1 else None


class _Cgroup:
    """A run's own cgroup(s), made before it starts and removed after it: the memory and the number of
    processes of the whole run, and a way to find every process of it."""

    def __init__(self, homes: _CgroupHomes, memory_bytes: int, max_pids: int):
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
                    settings = ([("memory.max", memory_bytes), ("memory.swap.max", 0), ("memory.oom.group", 1)]
                                if self.v2 else [("memory.limit_in_bytes", memory_bytes),
                                                 ("memory.memsw.limit_in_bytes", memory_bytes)])
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
_cgroup_cache: list[_CgroupHomes | None] = []


def _cgroup_homes() -> _CgroupHomes | None:
    """Where runs get cgroups here, tried once with a trivial process; None where they cannot."""
    with _cgroup_lock:
        if not _cgroup_cache:
            homes = _find_cgroup_homes() if _IS_LINUX and os.geteuid() == 0 else None
            if homes is not None:
                try:
                    probe = _Cgroup(homes, 64 << 20, 8)
                    try:
                        subprocess.run([_INTERPRETER, "-I", "-S", "-c", ""], preexec_fn=probe.join, check=True,
                                       timeout=30, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
                    finally:
                        probe.remove()
                except (OSError, subprocess.SubprocessError):
                    homes = None
            _cgroup_cache.append(homes)
        return _cgroup_cache[0]


# --------------------------------------------------------------------------------------------------
# What the program may see of the filesystem.

# The base interpreter, not a virtual environment's: programs need only the standard library, see
# none of the project's packages, and keep working when the environment lives under /tmp (which
# the mount namespace replaces with the run's own directory).
_INTERPRETER = os.path.realpath(sys.executable)
_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
_DEVICES = ("null", "zero", "full", "random", "urandom")
_DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}


def _world_traversable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IXOTH)
    except OSError:
        return False


def _ancestors(path: str) -> list[str]:
    """Proper ancestors of an absolute path, from the root down."""
    out, cur = [], os.path.dirname(path)
    while True:
        out.append(cur)
        if cur == os.path.dirname(cur):
            break
        cur = os.path.dirname(cur)
    return out[::-1]


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _private_dirs() -> list[str]:
    """Directories to cover with an empty tmpfs: the caller's home, root's, where services keep their
    sockets, ``/dev`` (rebuilt with a few devices), and directories an unprivileged child could not
    pass through on the way to the interpreter's installation."""
    candidates = [os.environ.get("HOME"), "/root", "/run", "/var/run", os.environ.get("XDG_RUNTIME_DIR"), "/dev"]
    with contextlib.suppress(ImportError, KeyError):
        import pwd
        candidates.append(pwd.getpwuid(os.getuid()).pw_dir)
    for p in _interpreter_dirs():
        candidates.append(next((a for a in _ancestors(p) if not _world_traversable(a)), None))
    found: list[str] = []
    for c in candidates:
        if c and os.path.isabs(c) and os.path.isdir(c):
            real = os.path.realpath(c)
            if real != "/" and real not in found:
                found.append(real)
    found.sort()
    return [d for d in found if not any(d != o and _under(d, o) for o in found)]  # not inside another


def _interpreter_dirs() -> list[str]:
    return sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix, os.path.dirname(_INTERPRETER))})


def _sandbox_base(avoid: Sequence[str] = ()) -> str:
    """A world-traversable directory for run directories (the child must reach its own), outside the
    directories in ``avoid`` where possible."""
    options = [d for d in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm")
               if os.path.isdir(d) and all(_world_traversable(a) for a in _ancestors(d) + [d])]
    return next((d for d in options if not any(_under(os.path.realpath(d), m) for m in avoid)),
                options[0] if options else tempfile.gettempdir())


def _mount_plan() -> tuple[str, list[str], list[str]]:
    """(base, masks, exposures): where the run directory goes; the directories to cover with an empty
    tmpfs (never one holding the run directory); and what is mounted back into them, the interpreter's
    installation and the devices in /dev, each staged through the run directory."""
    masks = _private_dirs()
    base = _sandbox_base(masks)
    masks = [m for m in masks if not _under(os.path.realpath(base), m)]
    exposures: list[str] = []
    for p in _interpreter_dirs():
        if any(_under(p, m) for m in masks) and not any(_under(p, e) for e in exposures):
            exposures.append(p)
    if "/dev" in masks:
        exposures += [f"/dev/{d}" for d in _DEVICES if os.path.exists(f"/dev/{d}")]
    return base, masks, exposures


def _host_sockets(hidden: Sequence[str]) -> list[str]:
    """Unix sockets bound to a path in our network namespace, outside the directories in ``hidden``."""
    found: list[str] = []
    try:
        with open("/proc/net/unix", errors="replace") as f:
            next(f, None)
            for line in f:
                fields = line.rstrip("\n").split(None, 7)
                if len(fields) == 8 and fields[7].startswith("/"):
                    path = fields[7]
                    if path not in found and not any(_under(path, h) for h in hidden):
                        with contextlib.suppress(OSError):
                            if stat.S_ISSOCK(os.lstat(path).st_mode):
                                found.append(path)
    except OSError:
        pass
    return found


def _rmtree(path: str) -> None:
    """Delete a run directory however the program left it: any depth (iterative, each directory opened
    relative to its parent, as the paths of a deep tree pass PATH_MAX), directories it made unreadable,
    never following a symbolic link and never leaving the tree (checked on the way back up)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

    def open_dir(name: str, dir_fd: int | None) -> int:
        try:
            return os.open(name, flags, dir_fd=dir_fd)
        except PermissionError:
            os.chmod(name, 0o700, dir_fd=dir_fd)
            return os.open(name, flags, dir_fd=dir_fd)

    def clear_files(fd: int) -> list[str]:
        """Delete what is not a directory; the subdirectories' names."""
        try:
            os.fchmod(fd, 0o700)
        except OSError:
            pass
        dirs = []
        with os.scandir(fd) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    dirs.append(e.name)
                else:
                    os.unlink(e.name, dir_fd=fd)
        return dirs

    def ident(fd: int) -> tuple[int, int]:
        st = os.fstat(fd)
        return st.st_dev, st.st_ino

    if not os.path.lexists(path):
        return
    fd = open_dir(path, None)
    try:
        levels = [(ident(fd), clear_files(fd))]  # for each directory from the top down: its id, subdirs left
        names: list[str] = []  # the name of each level below the top, in its parent
        while True:
            pending = levels[-1][1]
            if pending:
                name = pending.pop()
                child = open_dir(name, fd)
                os.close(fd)
                fd = child
                names.append(name)
                levels.append((ident(fd), clear_files(fd)))
            elif names:
                parent = os.open("..", flags, dir_fd=fd)
                os.close(fd)
                fd = parent
                levels.pop()
                if ident(fd) != levels[-1][0]:
                    raise OSError(f"sandbox: {path} changed while it was being deleted")
                os.rmdir(names.pop(), dir_fd=fd)
            else:
                break
    finally:
        os.close(fd)
    os.rmdir(path)


# --------------------------------------------------------------------------------------------------
# Killing.


def _has_capabilities() -> bool:
    """Whether this process holds any effective capability (Linux; elsewhere the uid says it all)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16) != 0
    except OSError:
        pass
    return _IS_LINUX  # unreadable on Linux: assume the worst


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
    libc = _libc()
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
        for p in _processes():
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


def _kill_all(pid: int, uid: int | None, cgroup: _Cgroup | None) -> None:
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


# --------------------------------------------------------------------------------------------------
# The child's setup, run between fork and exec.


def _make_preexec(mode: _Mode, limits: SandboxLimits, nproc: int | None, work: str, stage: str,
                  masks: list[str], exposures: list[str], sockets: list[str],
                  cgroup: _Cgroup | None) -> Callable[[], None]:
    libc = _libc()
    my_uid, my_gid = os.getuid(), os.getgid()
    scratch = [d for d in _SCRATCH if os.path.isdir(d) and not os.path.islink(d)]
    # Bind last the one that holds the run directory: once covered, ``work`` no longer resolves.
    scratch.sort(key=lambda d: work.startswith(d.rstrip("/") + "/"))
    staged = [(path, os.path.join(stage, str(i)), os.path.isdir(path)) for i, path in enumerate(exposures)]

    def setrlimit(res: int, soft: int, hard: int | None = None) -> None:
        hard = soft if hard is None else hard
        _, old_hard = resource.getrlimit(res)
        if old_hard != resource.RLIM_INFINITY:  # never try to raise a limit
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        try:
            resource.setrlimit(res, (soft, hard))
        except (ValueError, OSError):
            if _IS_LINUX:
                raise  # lowering a limit never fails on Linux; elsewhere (macOS RLIMIT_AS) skip it

    def mount(src, target, fstype, flags, data=None) -> None:
        _check(libc.mount(src and os.fsencode(src), os.fsencode(target), fstype and os.fsencode(fstype),
                          flags, data and os.fsencode(data)), f"mount {target}")

    def mount_setattr(path: str, flags: int, attr_set: int, attr_clr: int) -> None:
        attr = _MountAttr(attr_set, attr_clr, 0, 0)
        ret = libc.syscall(ctypes.c_long(SYS_mount_setattr), ctypes.c_int(AT_FDCWD), ctypes.c_char_p(os.fsencode(path)),
                           ctypes.c_uint(flags), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
        _check(ret, f"mount_setattr {path}")

    def preexec() -> None:
        os.umask(0o022)
        # 1. The cgroup, while its files are still writable.
        if cgroup is not None:
            cgroup.join()
        # 2. Namespaces.
        if mode.netns:
            flags = (CLONE_NEWNET | CLONE_NEWIPC | (CLONE_NEWNS if mode.mountns else 0)
                     | (CLONE_NEWUSER if mode.userns else 0) | (CLONE_NEWPID if mode.pidns else 0))
            _check(libc.unshare(flags), "unshare")
            if mode.userns:  # map only our own ids, so nothing gains or loses access
                for name, text in (("setgroups", "deny"), ("uid_map", f"{my_uid} {my_uid} 1"),
                                   ("gid_map", f"{my_gid} {my_gid} 1")):
                    fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
                    try:
                        os.write(fd, text.encode())
                    finally:
                        os.close(fd)
        # 3. Mounts.
        if mode.mountns:
            mount("none", "/", None, MS_REC | MS_PRIVATE)
            for path, at, _ in staged:
                mount(path, at, None, MS_BIND | MS_REC)
            for m in masks:
                mount("tmpfs", m, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
            for path, at, is_dir in staged:
                if is_dir:
                    os.makedirs(path, 0o755, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
                mount(at, path, None, MS_MOVE)
            if "/dev" in masks:
                for name, target in _DEV_LINKS.items():
                    os.symlink(target, f"/dev/{name}")
            for path in sockets:
                try:
                    mount(os.path.join(stage, "socket"), path, None, MS_BIND)
                except OSError:
                    pass  # gone since we looked
            for d in scratch:
                os.makedirs(d, 0o755, exist_ok=True)  # /dev/shm in the new /dev
                mount(work, d, None, MS_BIND)
            if mode.ro_root:
                mount_setattr("/", AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0)
                for d in scratch:
                    mount_setattr(d, 0, 0, MOUNT_ATTR_RDONLY)
            os.chdir("/tmp" if "/tmp" in scratch else scratch[0] if scratch else work)
        # 4. Limits.
        cpu = max(1, math.ceil(limits.cpu_seconds))
        # SIGXCPU at the soft limit, SIGKILL a second later; a namespace's init ignores SIGXCPU, so
        # there SIGKILL comes at once.
        setrlimit(resource.RLIMIT_CPU, cpu, cpu if mode.pidns else cpu + 1)
        setrlimit(resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024)
        setrlimit(resource.RLIMIT_FSIZE, limits.max_file_mb * 1024 * 1024)
        setrlimit(resource.RLIMIT_NOFILE, limits.max_open_files)
        setrlimit(resource.RLIMIT_CORE, 0)
        if nproc is not None:
            setrlimit(resource.RLIMIT_NPROC, nproc)
        # 5. No privileges from set-uid programs, and death with the caller until the bootstrap drops
        # its ids (which clears this) and sets it again.
        if libc is not None:
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)

    return preexec


# --------------------------------------------------------------------------------------------------
# Running.


def _minimal_env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "HOME": home,
        "TMPDIR": home,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


def _run(code: str, stdin: str, limits: SandboxLimits, mode: _Mode, audit_hook: bool = True) -> ExecutionResult:
    start = time.monotonic()
    root = os.geteuid() == 0
    uid: int | None = None
    run_dir: str | None = None
    cgroup: _Cgroup | None = None
    proc: subprocess.Popen | None = None
    try:
        if mode.drop_uid and root:
            uid = _acquire_id()
        base, masks, exposures = _mount_plan() if mode.mountns else (_sandbox_base(), [], [])
        run_dir = tempfile.mkdtemp(prefix="archon-sandbox-", dir=base)
        os.chmod(run_dir, 0o711)
        work = os.path.join(run_dir, "work")
        os.mkdir(work, 0o700)
        if uid is not None:
            os.chown(work, uid, uid)
        stage = os.path.join(run_dir, "stage")
        os.mkdir(stage, 0o700)
        for i, path in enumerate(exposures):
            if os.path.isdir(path):
                os.mkdir(os.path.join(stage, str(i)))
            else:
                open(os.path.join(stage, str(i)), "x").close()
        sockets = _host_sockets(masks + list(_SCRATCH)) if mode.mountns else []
        if sockets:
            open(os.path.join(stage, "socket"), "x").close()

        # The PID namespace's supervisor is not the program's, but runs as the same user.
        extra = 1 if mode.pidns else 0
        homes = _cgroup_homes()
        if homes is not None:
            try:
                cgroup = _Cgroup(homes, limits.memory_mb * 1024 * 1024, limits.max_processes + extra)
            except OSError as e:
                return ExecutionResult("error", None, "", f"sandbox: could not make the run's cgroup: {e}",
                                       time.monotonic() - start)
        if uid is not None or mode.userns:
            # Counted for the per-run uid, or within the new user namespace: only the program's own processes.
            nproc = limits.max_processes + extra
        else:
            # Counted for the caller's uid (root in the first user namespace ignores it).
            count = _user_task_count(os.getuid())
            nproc = None if count is None else count + limits.max_processes + extra

        home = "/tmp" if mode.mountns and os.path.isdir("/tmp") else work
        argv = [_INTERPRETER, "-I", "-B", "-c", _BOOTSTRAP]
        if mode.unshare_bin:
            # Root keeps its own user namespace; anyone else needs a new one.
            prefix = ["unshare", "--net", "--ipc"] if root else ["unshare", "--user", "--map-root-user", "--net", "--ipc"]
            argv = prefix + ["--"] + argv

        with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as stdin_file:
            src.write(code.encode("utf-8", "surrogateescape"))
            src.seek(0)
            stdin_file.write(stdin.encode("utf-8", "surrogateescape"))
            stdin_file.seek(0)
            flags = (audit_hook, mode.pidns, mode.pidns and mode.mountns)
            argv += [str(src.fileno())] + ["1" if f else "0" for f in flags]
            argv += [str(-1 if uid is None else uid), "1" if mode.drop_caps else "0",
                     "1" if _IS_LINUX and _libc() is not None else "0"]
            try:
                proc = subprocess.Popen(
                    argv, stdin=stdin_file, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work,
                    env=_minimal_env(home), start_new_session=True, pass_fds=(src.fileno(),),
                    preexec_fn=_make_preexec(mode, limits, nproc, work, stage, masks, exposures, sockets, cgroup),
                )
            except (OSError, subprocess.SubprocessError) as e:
                return ExecutionResult("error", None, "", f"sandbox: could not start the program: {e}",
                                       time.monotonic() - start)
        return _supervise(proc, limits, uid, cgroup, start)
    finally:
        _clean_up(proc, uid, run_dir, cgroup)


def _clean_up(proc: subprocess.Popen | None, uid: int | None, run_dir: str | None, cgroup: _Cgroup | None) -> None:
    """After a run, however it ended: each step is tried even if one before it failed (a failure is
    a warning, not an exception), and the per-run id is released in any case."""

    def stop() -> None:
        if proc.returncode is None:  # only after an unexpected exception
            _kill_all(proc.pid, uid, cgroup)
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    steps: list[Callable[[], None]] = []
    if proc is not None:
        steps.append(stop)
    if run_dir is not None:
        steps.append(lambda: _rmtree(run_dir))
    if cgroup is not None:
        steps.append(cgroup.remove)
    try:
        for step in steps:
            try:
                step()
            except Exception as e:  # noqa: BLE001 - clean up what can be; say what could not
                warnings.warn(f"sandbox: cleanup after a run failed: {e!r}", RuntimeWarning, stacklevel=3)
    finally:
        _release_id(uid)


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (so its pid and process group stay ours)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _supervise(proc: subprocess.Popen, limits: SandboxLimits, uid: int | None, cgroup: _Cgroup | None,
               start: float) -> ExecutionResult:
    deadline = start + limits.wall_seconds
    cap = limits.max_output_bytes
    bufs = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
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

    reason = None  # why we killed it: "timeout" or "output_limit"
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
        _kill_all(proc.pid, uid, cgroup)
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

    out, err = bufs[proc.stdout.fileno()], bufs[proc.stderr.fileno()]
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


# --------------------------------------------------------------------------------------------------
# The public API.


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
    mode = _isolation()
    with _run_slot():
        return _run(code, stdin, limits, mode)


async def arun_python(code: str, *, stdin: str = "", limits: SandboxLimits = SandboxLimits()) -> ExecutionResult:
    """:func:`run_python` in a worker thread, so that the event loop keeps running."""
    return await asyncio.to_thread(run_python, code, stdin=stdin, limits=limits)
