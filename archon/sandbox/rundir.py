"""The run directory's removal, however the program left it."""

from __future__ import annotations

import os


def rmtree(path: str) -> None:
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
