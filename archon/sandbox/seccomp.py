"""A seccomp filter that keeps the program away from the kernel's keyrings.

A process starts in its parent's session keyring, and the caller's keys (and its user keyring) would be
open to the program through ``keyctl``, ``add_key`` and ``request_key``. Those three system calls fail
with ``EPERM`` under this filter; so do system calls of a foreign ABI (i386 ``int 0x80`` or x32 on
x86_64), through which the numbers below could be dodged. Python needs none of them.
"""

from __future__ import annotations

import ctypes
import platform
import struct

from .linux import IS_LINUX

__all__ = ["KeyringFilter", "keyring_filter"]

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_EPERM = 1
_X32_BIT = 0x40000000

# machine -> (AUDIT_ARCH_*, (add_key, request_key, keyctl))
_ARCHES = {
    "x86_64": (0xC000003E, (248, 249, 250)),
    "amd64": (0xC000003E, (248, 249, 250)),
    "aarch64": (0xC00000B7, (217, 218, 219)),
    "arm64": (0xC00000B7, (217, 218, 219)),
}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class KeyringFilter:
    """The filter, built in the parent; :meth:`install` runs in the child (after ``PR_SET_NO_NEW_PRIVS``)."""

    def __init__(self, arch: int, numbers: tuple[int, ...]):
        checks = [(_BPF_JGE_K, _X32_BIT)] + [(_BPF_JEQ_K, nr) for nr in numbers]
        deny = 4 + len(checks) + 1  # the last instruction
        prog = [
            (_BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
            (_BPF_JEQ_K, 1, 0, arch),  # ours: skip the next one
            (_BPF_RET_K, 0, 0, _RET_ERRNO | _EPERM),  # a foreign ABI
            (_BPF_LD_W_ABS, 0, 0, 0),
        ]  # seccomp_data.nr
        prog += [(code, deny - (4 + i) - 1, 0, k) for i, (code, k) in enumerate(checks)]  # a match jumps to deny
        prog += [(_BPF_RET_K, 0, 0, _RET_ALLOW), (_BPF_RET_K, 0, 0, _RET_ERRNO | _EPERM)]
        fixed = [struct.pack("=HBBI", *ins) for ins in prog]
        self._buffer = ctypes.create_string_buffer(b"".join(fixed))
        self._prog = _SockFprog(len(fixed), ctypes.addressof(self._buffer))

    def install(self, libc: ctypes.CDLL) -> int:
        """Install it in the calling process; 0 on success (``errno`` set otherwise)."""
        return int(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(self._prog), 0, 0))


_cache: list[KeyringFilter | None] = []


def keyring_filter() -> KeyringFilter | None:
    """The filter for this machine's architecture; None where it is not known (or not Linux)."""
    if not _cache:
        known = _ARCHES.get(platform.machine().lower()) if IS_LINUX else None
        _cache.append(KeyringFilter(*known) if known else None)
    return _cache[0]
