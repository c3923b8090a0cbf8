"""Run untrusted Python programs (model-written code for HumanEval, MBPP, CodeContests) in a contained child.

Standard library only. :func:`run_python` runs one program and returns an :class:`ExecutionResult`;
:func:`arun_python` does the same in a worker thread, so the event loop keeps running.

Layers of containment
=====================

On every POSIX system (Linux, macOS, the BSDs):

* **Own process, session and process group.** The program runs in a fresh interpreter (the caller's
  base interpreter of ``sys.executable`` with ``-I``, isolated mode, and ``-B``, no bytecode files) started with
  ``start_new_session``. When the program ends, times out or floods its output, the whole process
  group is killed with ``SIGKILL``, background children included.
* **Resource limits**, set by ``setrlimit`` in a ``preexec_fn``: CPU seconds (``RLIMIT_CPU``: ``SIGXCPU``,
  then ``SIGKILL``), address space (``RLIMIT_AS``: a huge allocation raises ``MemoryError``), processes
  and threads (``RLIMIT_NPROC``), the size of any file written (``RLIMIT_FSIZE``) and no core dumps.
  The parent enforces the wall-clock limit and the output limit: it reads stdout and stderr as they
  come and kills the program once either passes ``max_output_bytes`` (status ``"output_limit"``).
* **A fresh working directory**, empty, also ``HOME`` and ``TMPDIR``, deleted afterwards. The source
  reaches the child through an inherited, already-unlinked file, so the directory really is empty.
* **A scrubbed environment.** Only ``PATH``, ``LANG``, ``PYTHONHASHSEED``, ``HOME``, ``TMPDIR`` and the
  ``*_NUM_THREADS`` variables (set to 1) reach the child; API keys and other secrets of the caller do
  not. (``-I`` makes the interpreter itself ignore all ``PYTHON*`` variables, ``PYTHONHASHSEED`` too;
  it is there for Python processes the program starts.)
* **An audit hook.** A small bootstrap installs a ``sys.addaudithook`` hook, which cannot be removed,
  before running the program. It refuses sockets of any family but ``AF_UNIX``, connecting, binding or
  sending to other addresses, and host name lookups. It keeps the program's own Python code off the
  network, not programs it starts nor code called through ``ctypes``: a last line, not a boundary.

Only on Linux, each where the kernel allows it (tried once per process, strongest first, see
``_isolation()``):

* **No network**: a new network namespace (``unshare(CLONE_NEWNET)`` through ``ctypes``, as
  ``os.unshare`` needs Python 3.12) has no interface up, not even loopback, so every connection
  fails. Root needs nothing more; anyone else gets an unprivileged user namespace that maps only
  their own uid and gid (``CLONE_NEWUSER``). Failing both, the ``unshare`` binary is tried.
  :func:`network_isolation_available` says whether any of these works.
* **A new PID namespace**: a bootstrap process stays outside as a supervisor and the program runs as
  the namespace's init. When it ends, the kernel kills and reaps everything left in the namespace,
  even processes that left the process group with ``setsid``, and no zombies pile up when the caller
  is PID 1 of a container. (The program sees ``os.getpid() == 1``; as an init, it ignores signals
  it sends itself, and its CPU limit ends it with ``SIGKILL`` rather than ``SIGXCPU``.)
* **A private mount namespace**: ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are the run's directory, so
  writes to the usual scratch places stay inside it and vanish with it, and every other mount is
  read-only and ``nosuid`` (``mount_setattr``, Linux 5.12+). Directories an unprivileged child could
  not pass through on the way to the interpreter (a Python under a ``0700`` ``/root``, say) are
  covered by an empty tmpfs into which only the interpreter's installation is mounted back.
* **A per-run user, when the caller is root.** Root ignores ``RLIMIT_NPROC`` and may write anywhere,
  so a root caller runs each program as a uid and gid of its own (``setresgid``/``setresuid``, no
  supplementary groups), picked at random above ``0x7A000000`` where no account lives. The process
  limit then counts exactly the program's processes; it can write only where anyone may; it cannot
  read the caller's ``/proc/PID/environ``; and at the end one ``kill(-1, SIGKILL)`` sent as that uid
  kills every process it has, wherever they are. ``PR_SET_NO_NEW_PRIVS`` stops set-uid programs from
  giving privileges back, and ``PR_SET_PDEATHSIG`` kills the program if the caller dies.

What you get where
------------------

* **Linux as root** (CI, containers): all of the above. Where namespaces are refused (some
  container runtimes' seccomp profiles), the per-run user remains if the interpreter is readable by
  everyone; otherwise the program runs as root with only the portable layers.
* **Linux as a normal user**, with unprivileged user namespaces (most distributions): all but the
  per-run user. The process limit counts the program's processes inside its user namespace. Without
  user namespaces (where only the ``unshare`` binary, or nothing, works) it is the user's current
  thread count plus ``max_processes``, as ``RLIMIT_NPROC`` counts all of a user's processes, and
  children that leave the process group with ``setsid`` outlive the run.
* **macOS and other POSIX systems**: the portable layers only. macOS does not enforce ``RLIMIT_AS``,
  so huge allocations are not contained, and for a normal user the process limit is left alone.
  Network and filesystem access are those of the calling user, less what the audit hook refuses.
* **Windows** is not supported.

Not contained anywhere: the disk space used inside the working directory (each file is limited, not
their number), reads of world-readable files, and CPU time split over many processes beyond what the
wall-clock limit bounds.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import os
import random
import resource
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
from dataclasses import dataclass
from typing import Callable, Literal

__all__ = ["SandboxLimits", "ExecutionResult", "run_python", "arun_python", "network_isolation_available"]

Status = Literal["passed", "failed", "timeout", "memory", "output_limit", "error"]


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for one run. CPU and file limits are per process; wall time covers the whole run."""

    cpu_seconds: float = 5.0
    wall_seconds: float = 10.0
    memory_mb: int = 512  # RLIMIT_AS
    max_processes: int = 64  # RLIMIT_NPROC, counting threads; see the module docstring for non-root callers
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
# The bootstrap: runs in the child before the program. The marker lets tests find stray processes.

_MARKER = "archon-sandbox-bootstrap"

_BOOTSTRAP = f"""# {_MARKER}
import sys
def _archon_guard(event, args):
    if not event.startswith("socket."):
        return
    if event == "socket.__new__":
        if args[1] != 1:  # only AF_UNIX
            raise PermissionError("network access is disabled in the sandbox")
    elif event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
        if getattr(args[0], "family", None) != 1:
            raise PermissionError("network access is disabled in the sandbox")
    elif event.startswith(("socket.getaddrinfo", "socket.gethostby", "socket.getnameinfo")):
        raise PermissionError("network access is disabled in the sandbox")
if int(sys.argv[2]):
    sys.addaudithook(_archon_guard)
del _archon_guard
if int(sys.argv[3]):
    # New PID namespace: this process stays outside as a supervisor and the program runs as the
    # namespace's init. When that ends, the kernel kills and reaps everything else in the namespace.
    import os
    _pid = os.fork()
    if _pid:
        _code = os.waitstatus_to_exitcode(os.waitpid(_pid, 0)[1])
        if _code < 0:
            import signal
            if -_code != signal.SIGKILL:
                signal.signal(-_code, signal.SIG_DFL)
            os.kill(os.getpid(), -_code)  # end the same way, for the parent to see
        os._exit(_code & 0xFF if _code >= 0 else 1)
    import ctypes
    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the supervisor
    del _pid, ctypes
def _archon_main():
    import linecache, types
    with open(int(sys.argv[1]), "rb") as f:
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

# --------------------------------------------------------------------------------------------------
# Linux constants and libc.

_IS_LINUX = sys.platform.startswith("linux")
CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 2, 4, 4096, 8192, 16384, 1 << 18
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 0x1, 0x2
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
SYS_mount_setattr = 442  # the same on every architecture that has it (x86_64, arm64, ...)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

# Per-run user ids for a root caller: far above any account, within what a user namespace maps.
_UID_BASE = 0x7A000000
_UID_SPAN = 1 << 20


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
    netns: bool = False  # unshare(CLONE_NEWNET) through libc
    userns: bool = False  # ... preceded by CLONE_NEWUSER (non-root caller)
    pidns: bool = False  # the program runs as init of a new PID namespace
    mountns: bool = False  # private mount namespace with scratch dirs replaced
    ro_root: bool = False  # ... and every other mount read-only, nosuid
    drop_uid: bool = False  # root caller: run as a per-run uid
    unshare_bin: bool = False  # network namespace through the unshare binary

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
        if not _ids_available():
            modes = []
        # Last resorts: the program runs as root.
        if libc:
            modes.append(_Mode("netns-as-root", netns=True))
        if unshare:
            modes.append(_Mode("unshare-binary", unshare_bin=True))
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
    """The strongest mode that works here: each candidate runs a trivial program once, in order."""
    with _mode_lock:
        if not _mode_cache:
            chosen = _Mode("basic")
            for mode in _candidate_modes():
                r = _run(f"print({mode.name!r})", "", _PROBE_LIMITS, mode)
                if r.status == "passed" and r.stdout.strip() == mode.name:
                    chosen = mode
                    break
            _mode_cache.append(chosen)
        return _mode_cache[0]


def network_isolation_available() -> bool:
    """Whether programs run without any network (a network namespace works here); the audit hook
    that blocks Python-level sockets is installed either way."""
    return _isolation().network_isolated


# --------------------------------------------------------------------------------------------------
# Helpers for the parent.

_ids_lock = threading.Lock()
_ids_in_use: set[int] = set()


def _id_range_mapped(path: str, lo: int, hi: int) -> bool:
    """Whether ids [lo, hi) exist in this (possibly nested) user namespace."""
    try:
        with open(path) as f:
            for line in f:
                inside, _outside, count = (int(x) for x in line.split())
                if inside <= lo and hi <= inside + count:
                    return True
        return False
    except OSError:
        return not _IS_LINUX  # no user namespaces: every id is valid


def _ids_available() -> bool:
    """Whether the per-run ids exist here (a rootless container may map only 0..65535)."""
    return (_id_range_mapped("/proc/self/uid_map", _UID_BASE, _UID_BASE + _UID_SPAN)
            and _id_range_mapped("/proc/self/gid_map", _UID_BASE, _UID_BASE + _UID_SPAN))


def _acquire_id() -> int:
    with _ids_lock:
        while True:
            uid = _UID_BASE + random.randrange(_UID_SPAN)
            if uid not in _ids_in_use:
                _ids_in_use.add(uid)
                return uid


def _release_id(uid: int | None) -> None:
    if uid is not None:
        with _ids_lock:
            _ids_in_use.discard(uid)


def _user_task_count(uid: int) -> int | None:
    """Threads run by ``uid`` now (what RLIMIT_NPROC counts), from /proc; None where unknown."""
    if not _IS_LINUX:
        return None
    total = 0
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                real_uid = threads = None
                for line in f:
                    if line.startswith("Uid:"):
                        real_uid = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
                if real_uid == uid:
                    total += threads or 1
        except (OSError, ValueError, IndexError):
            continue
    return total


# The base interpreter, not a virtual environment's: programs need only the standard library, see
# none of the project's packages, and keep working when the environment lives under /tmp (which
# the mount namespace replaces with the run's own directory).
_INTERPRETER = os.path.realpath(sys.executable)


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


def _exposure_plan() -> tuple[list[str], list[str]]:
    """(masks, exposures): directories an unprivileged child cannot traverse that lie on the way to the
    interpreter's installation; inside the mount namespace each is replaced by a tmpfs into which the
    installation directories (exposures) are mounted back."""
    needed = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix, os.path.dirname(_INTERPRETER))}
    exposures: list[str] = []
    masks: list[str] = []
    for p in sorted(needed):
        if any(p == e or p.startswith(e + os.sep) for e in exposures):
            continue
        blocked = next((a for a in _ancestors(p) if not _world_traversable(a)), None)
        if blocked is None or blocked == "/":
            continue
        exposures.append(p)
        if blocked not in masks:
            masks.append(blocked)
    return masks, exposures


def _sandbox_base() -> str:
    """A world-traversable directory for run directories (the child must reach its own)."""
    for d in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(d) and all(_world_traversable(a) for a in _ancestors(d) + [d]):
            return d
    return tempfile.gettempdir()


def _rmtree(path: str) -> None:
    """Delete a run directory, also where the program took permissions away from its own files."""
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        for dirpath, dirnames, _ in os.walk(path):  # top-down: each directory is opened before its walk
            for d in dirnames:
                p = os.path.join(dirpath, d)
                if not os.path.islink(p):
                    try:
                        os.chmod(p, 0o700)
                    except OSError:
                        pass
        shutil.rmtree(path, ignore_errors=True)


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


# --------------------------------------------------------------------------------------------------
# The child's setup, run between fork and exec.


def _make_preexec(mode: _Mode, limits: SandboxLimits, uid: int | None, nproc: int | None,
                  work: str, stage: str, masks: list[str], exposures: list[str]) -> Callable[[], None]:
    libc = _libc()
    my_uid, my_gid = os.getuid(), os.getgid()
    scratch = [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d) and not os.path.islink(d)]
    # Bind last the one that holds the run directory: once covered, ``work`` no longer resolves.
    scratch.sort(key=lambda d: work.startswith(d.rstrip("/") + "/"))

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
        # 1. Namespaces.
        if mode.netns:
            flags = (CLONE_NEWNET | (CLONE_NEWNS if mode.mountns else 0) | (CLONE_NEWUSER if mode.userns else 0)
                     | (CLONE_NEWPID if mode.pidns else 0))
            _check(libc.unshare(flags), "unshare")
            if mode.userns:  # map only our own ids, so nothing gains or loses access
                for name, text in (("setgroups", "deny"), ("uid_map", f"{my_uid} {my_uid} 1"),
                                   ("gid_map", f"{my_gid} {my_gid} 1")):
                    fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
                    try:
                        os.write(fd, text.encode())
                    finally:
                        os.close(fd)
        # 2. Mounts.
        if mode.mountns:
            mount("none", "/", None, MS_REC | MS_PRIVATE)
            for i, path in enumerate(exposures):
                mount(path, os.path.join(stage, str(i)), None, MS_BIND | MS_REC)
            for m in masks:
                mount("tmpfs", m, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
            for i, path in enumerate(exposures):
                os.makedirs(path, 0o755, exist_ok=True)
                mount(os.path.join(stage, str(i)), path, None, MS_MOVE)
            for d in scratch:
                mount(work, d, None, MS_BIND)
            if mode.ro_root:
                mount_setattr("/", AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0)
                for d in scratch:
                    mount_setattr(d, 0, 0, MOUNT_ATTR_RDONLY)
            os.chdir("/tmp" if "/tmp" in scratch else scratch[0] if scratch else work)
        # 3. Limits.
        cpu = max(1, math.ceil(limits.cpu_seconds))
        # SIGXCPU at the soft limit, SIGKILL a second later; a namespace's init ignores SIGXCPU, so
        # there SIGKILL comes at once.
        setrlimit(resource.RLIMIT_CPU, cpu, cpu if mode.pidns else cpu + 1)
        setrlimit(resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024)
        setrlimit(resource.RLIMIT_FSIZE, limits.max_file_mb * 1024 * 1024)
        setrlimit(resource.RLIMIT_CORE, 0)
        if nproc is not None:
            setrlimit(resource.RLIMIT_NPROC, nproc)
        # 4. Privileges.
        if libc is not None:
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if uid is not None:  # as root, these set the real, effective and saved ids
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        if libc is not None:  # after the uid change, which clears it; dies with the parent
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
    uid = _acquire_id() if (mode.drop_uid and root) else None
    run_dir = tempfile.mkdtemp(prefix="archon-sandbox-", dir=_sandbox_base())
    proc: subprocess.Popen | None = None
    try:
        os.chmod(run_dir, 0o711)
        work = os.path.join(run_dir, "work")
        os.mkdir(work, 0o700)
        if uid is not None:
            os.chown(work, uid, uid)
        masks, exposures = _exposure_plan() if (mode.mountns and uid is not None) else ([], [])
        stage = os.path.join(run_dir, "stage")
        os.mkdir(stage, 0o700)
        for i in range(len(exposures)):
            os.mkdir(os.path.join(stage, str(i)))

        if uid is not None or mode.userns:
            # Counted for the per-run uid, or within the new user namespace: only the program's own
            # processes. The PID namespace's supervisor is not the program's.
            nproc = limits.max_processes + (1 if mode.pidns else 0)
        elif root:
            nproc = None  # root ignores RLIMIT_NPROC
        else:
            count = _user_task_count(os.getuid())
            nproc = None if count is None else count + limits.max_processes + (1 if mode.pidns else 0)

        home = "/tmp" if mode.mountns and os.path.isdir("/tmp") else work
        argv = [_INTERPRETER, "-I", "-B", "-c", _BOOTSTRAP]
        if mode.unshare_bin:
            # Root keeps its own user namespace; anyone else (a per-run uid too) needs a new one.
            prefix = ["unshare", "--net"] if (root and uid is None) else ["unshare", "--user", "--map-root-user", "--net"]
            argv = prefix + ["--"] + argv

        with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as stdin_file:
            src.write(code.encode("utf-8", "surrogateescape"))
            src.seek(0)
            stdin_file.write(stdin.encode("utf-8", "surrogateescape"))
            stdin_file.seek(0)
            argv += [str(src.fileno()), "1" if audit_hook else "0", "1" if mode.pidns else "0"]
            try:
                proc = subprocess.Popen(
                    argv, stdin=stdin_file, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work,
                    env=_minimal_env(home), start_new_session=True, pass_fds=(src.fileno(),),
                    preexec_fn=_make_preexec(mode, limits, uid, nproc, work, stage, masks, exposures),
                )
            except (OSError, subprocess.SubprocessError) as e:
                return ExecutionResult("error", None, "", f"sandbox: could not start the program: {e}",
                                       time.monotonic() - start)
        return _supervise(proc, limits, uid, start)
    finally:
        if proc is not None and proc.returncode is None:  # only on an unexpected exception
            _kill_all(proc.pid, uid)
            proc.wait()
        if proc is not None:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        _rmtree(run_dir)
        _release_id(uid)


def _kill_all(pid: int, uid: int | None) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is not None:
        _kill_uid(uid)


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (so its pid and process group stay ours)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _supervise(proc: subprocess.Popen, limits: SandboxLimits, uid: int | None, start: float) -> ExecutionResult:
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
        _kill_all(proc.pid, uid)
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


def run_python(code: str, *, stdin: str = "", limits: SandboxLimits = SandboxLimits()) -> ExecutionResult:
    """Run ``code`` as a Python program in the sandbox, feeding it ``stdin``; blocks until it ends.

    Status: ``passed`` (exit 0), ``failed`` (non-zero exit, uncaught exception, syntax error),
    ``timeout`` (wall or CPU limit), ``memory`` (ended with ``MemoryError``), ``output_limit``
    (stdout or stderr passed ``limits.max_output_bytes``; both are returned cut to that length) or
    ``error`` (the sandbox could not start the program).
    """
    return _run(code, stdin, limits, _isolation())


async def arun_python(code: str, *, stdin: str = "", limits: SandboxLimits = SandboxLimits()) -> ExecutionResult:
    """:func:`run_python` in a worker thread, so that the event loop keeps running."""
    return await asyncio.to_thread(run_python, code, stdin=stdin, limits=limits)
