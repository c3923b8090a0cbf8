"""Isolation modes: the combinations of layers worth trying here, strongest first."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from .ids import id_pool
from .linux import IS_LINUX, load_libc


@dataclass(frozen=True)
class Mode:
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


def candidate_modes() -> list[Mode]:
    """Every mode worth trying here, strongest first."""
    root = os.geteuid() == 0
    libc = IS_LINUX and load_libc() is not None
    unshare = IS_LINUX and shutil.which("unshare") is not None
    modes: list[Mode] = []
    if root:
        if id_pool():
            if libc:
                modes += [
                    Mode(
                        "netns+pidns+mountns+ro+uid", netns=True, pidns=True, mountns=True, ro_root=True, drop_uid=True
                    ),
                    Mode("netns+mountns+ro+uid", netns=True, mountns=True, ro_root=True, drop_uid=True),
                    Mode("netns+mountns+uid", netns=True, mountns=True, drop_uid=True),
                    Mode("netns+uid", netns=True, drop_uid=True),
                ]
            if unshare:
                modes.append(Mode("unshare-binary+uid", unshare_bin=True, drop_uid=True))
            modes.append(Mode("uid", drop_uid=True))
        # No per-run id (or none works): root without capabilities, kept in by the namespaces.
        if libc:
            modes += [
                Mode(
                    "netns+pidns+mountns+ro+nocaps", netns=True, pidns=True, mountns=True, ro_root=True, drop_caps=True
                ),
                Mode("netns+nocaps", netns=True, drop_caps=True),
            ]
        if unshare:
            modes.append(Mode("unshare-binary+nocaps", unshare_bin=True, drop_caps=True))
        if libc:
            modes.append(Mode("nocaps", drop_caps=True))
    else:
        if libc:
            modes += [
                Mode("userns+netns+pidns+mountns+ro", netns=True, userns=True, pidns=True, mountns=True, ro_root=True),
                Mode("userns+netns+mountns+ro", netns=True, userns=True, mountns=True, ro_root=True),
                Mode("userns+netns+mountns", netns=True, userns=True, mountns=True),
                Mode("userns+netns", netns=True, userns=True),
            ]
        if unshare:
            modes.append(Mode("unshare-binary", unshare_bin=True))
    modes.append(Mode("basic"))
    return modes
