"""What runs in the child before the program: the interpreter, and the bootstrap that contains the
program (audit hook, PID-namespace supervisor, dropped ids or capabilities) and then runs it."""

from __future__ import annotations

import os
import sys

from .linux import (
    LINUX_CAPABILITY_VERSION_3,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
)

# The base interpreter, not a virtual environment's: programs need only the standard library, see
# none of the project's packages, and keep working when the environment lives under /tmp (which
# the mount namespace replaces with the run's own directory).
INTERPRETER = os.path.realpath(sys.executable)

# The marker lets tests find stray processes. The bootstrap starts with the caller's privileges inside the
# new namespaces and leaves the program without them.
MARKER = "archon-sandbox-bootstrap"

BOOTSTRAP = f"""# {MARKER}
import os, sys
_src, _hook, _pidns, _newproc, _uid, _nocaps, _linux = map(int, sys.argv[1:8])
def _archon_guard(event, args):
    if not event.startswith("socket."):
        return
    if event == "socket.__new__":
        if args[1] != 1:  # only AF_UNIX (socketpair)
            raise PermissionError("network access is disabled in the sandbox")
    elif event in ("socket.connect", "socket.bind", "socket.sendto") or (
            event == "socket.sendmsg" and args[1] is not None):
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
        check(libc.capset((ctypes.c_uint32 * 2)({LINUX_CAPABILITY_VERSION_3}, 0), (ctypes.c_uint32 * 6)()), "capset")
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
