"""The child's setup, run between fork and exec: cgroup, namespaces, mounts, limits."""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
from collections.abc import Callable

from .cgroups import Cgroup
from .limits import SandboxLimits
from .linux import (
    AT_FDCWD,
    AT_RECURSIVE,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    IS_LINUX,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    MS_BIND,
    MS_MOVE,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    MountAttr,
    SYS_mount_setattr,
    check_errno,
    load_libc,
)
from .modes import Mode
from .mounts import DEV_LINKS, SCRATCH
from .seccomp import keyring_filter

_MAX_FILES = 16384  # files and directories a run may make (tmpfs inodes)


def make_preexec(
    mode: Mode,
    limits: SandboxLimits,
    nproc: int | None,
    work: str,
    stage: str,
    masks: list[str],
    exposures: list[str],
    sockets: list[str],
    cgroup: Cgroup | None,
) -> Callable[[], None]:
    libc = load_libc()
    keyrings = keyring_filter() if libc is not None else None
    my_uid, my_gid = os.getuid(), os.getgid()
    owner = os.stat(work)
    # The run's files live in memory, in a tmpfs of their own: their total size and number are bounded.
    quota = f"size={limits.max_disk_mb}m,nr_inodes={_MAX_FILES},mode=0700,uid={owner.st_uid},gid={owner.st_gid}"
    scratch = [d for d in SCRATCH if os.path.isdir(d) and not os.path.islink(d)]
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
            if IS_LINUX:
                raise  # lowering a limit never fails on Linux; elsewhere (macOS RLIMIT_AS) skip it

    # Modes with namespaces are offered only where libc loads (candidate_modes), so these have it.
    def mount(src: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        assert libc is not None
        check_errno(
            libc.mount(
                src and os.fsencode(src),
                os.fsencode(target),
                fstype and os.fsencode(fstype),
                flags,
                data and os.fsencode(data),
            ),
            f"mount {target}",
        )

    def mount_setattr(path: str, flags: int, attr_set: int, attr_clr: int) -> None:
        assert libc is not None
        attr = MountAttr(attr_set, attr_clr, 0, 0)
        ret = libc.syscall(
            ctypes.c_long(SYS_mount_setattr),
            ctypes.c_int(AT_FDCWD),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.c_uint(flags),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        )
        check_errno(ret, f"mount_setattr {path}")

    def preexec() -> None:
        os.umask(0o022)
        # 1. The cgroup, while its files are still writable.
        if cgroup is not None:
            cgroup.join()
        # 2. Namespaces.
        if mode.netns:
            flags = (
                CLONE_NEWNET
                | CLONE_NEWIPC
                | (CLONE_NEWNS if mode.mountns else 0)
                | (CLONE_NEWUSER if mode.userns else 0)
                | (CLONE_NEWPID if mode.pidns else 0)
            )
            assert libc is not None
            check_errno(libc.unshare(flags), "unshare")
            if mode.userns:  # map only our own ids, so nothing gains or loses access
                for name, text in (
                    ("setgroups", "deny"),
                    ("uid_map", f"{my_uid} {my_uid} 1"),
                    ("gid_map", f"{my_gid} {my_gid} 1"),
                ):
                    fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
                    try:
                        os.write(fd, text.encode())
                    finally:
                        os.close(fd)
        # 3. Mounts.
        if mode.mountns:
            mount("none", "/", None, MS_REC | MS_PRIVATE)
            mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, quota)
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
                for name, target in DEV_LINKS.items():
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
            # 6. No kernel keyrings: the caller's session keyring would otherwise be the program's.
            if keyrings is not None:
                check_errno(keyrings.install(libc), "seccomp")

    return preexec
