"""Linux constants and libc through ctypes, for namespaces, mounts and process control."""

from __future__ import annotations

import ctypes
import os
import sys

IS_LINUX = sys.platform.startswith("linux")
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
LINUX_CAPABILITY_VERSION_3 = 0x20080522


class MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


_libc_cache: list[ctypes.CDLL | None] = []


def load_libc() -> ctypes.CDLL | None:
    """libc through ctypes, loaded in the parent (never first in a forked child); None if unusable."""
    if not _libc_cache:
        lib: ctypes.CDLL | None = None
        if IS_LINUX:
            try:
                lib = ctypes.CDLL(None, use_errno=True)
                lib.unshare.argtypes = [ctypes.c_int]
                lib.mount.argtypes = [
                    ctypes.c_char_p,
                    ctypes.c_char_p,
                    ctypes.c_char_p,
                    ctypes.c_ulong,
                    ctypes.c_void_p,
                ]
                lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
                lib.syscall.restype = ctypes.c_long
            except (OSError, AttributeError):
                lib = None
        _libc_cache.append(lib)
    return _libc_cache[0]


def check_errno(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
