"""One run in a given isolation mode: the run directory, the child's start, its supervision and the cleanup."""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable

from .bootstrap import BOOTSTRAP, INTERPRETER
from .cgroups import Cgroup, cgroup_homes
from .child import make_preexec
from .ids import acquire_id, release_id
from .kill import kill_all
from .limits import ExecutionResult, SandboxLimits
from .linux import IS_LINUX, load_libc
from .modes import Mode
from .mounts import SCRATCH, host_sockets, mount_plan, sandbox_base
from .procs import user_task_count
from .rundir import rmtree
from .supervise import supervise


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


def execute(code: str, stdin: str, limits: SandboxLimits, mode: Mode, audit_hook: bool = True) -> ExecutionResult:
    start = time.monotonic()
    root = os.geteuid() == 0
    uid: int | None = None
    run_dir: str | None = None
    cgroup: Cgroup | None = None
    proc: subprocess.Popen[bytes] | None = None
    try:
        if mode.drop_uid and root:
            uid = acquire_id()
        base, masks, exposures = mount_plan() if mode.mountns else (sandbox_base(), [], [])
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
        sockets = host_sockets(masks + list(SCRATCH)) if mode.mountns else []
        if sockets:
            open(os.path.join(stage, "socket"), "x").close()

        # The PID namespace's supervisor is not the program's, but runs as the same user.
        extra = 1 if mode.pidns else 0
        homes = cgroup_homes()
        if homes is not None:
            try:
                cgroup = Cgroup(homes, limits.memory_mb * 1024 * 1024, limits.max_processes + extra)
            except OSError as e:
                return ExecutionResult(
                    "error", None, "", f"sandbox: could not make the run's cgroup: {e}", time.monotonic() - start
                )
        nproc: int | None
        if uid is not None or mode.userns:
            # Counted for the per-run uid, or within the new user namespace: only the program's own processes.
            nproc = limits.max_processes + extra
        else:
            # Counted for the caller's uid (root in the first user namespace ignores it).
            count = user_task_count(os.getuid())
            nproc = None if count is None else count + limits.max_processes + extra

        home = "/tmp" if mode.mountns and os.path.isdir("/tmp") else work
        argv = [INTERPRETER, "-I", "-B", "-c", BOOTSTRAP]
        if mode.unshare_bin:
            # Root keeps its own user namespace; anyone else needs a new one.
            prefix = (
                ["unshare", "--net", "--ipc"] if root else ["unshare", "--user", "--map-root-user", "--net", "--ipc"]
            )
            argv = [*prefix, "--", *argv]

        with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as stdin_file:
            src.write(code.encode("utf-8", "surrogateescape"))
            src.seek(0)
            stdin_file.write(stdin.encode("utf-8", "surrogateescape"))
            stdin_file.seek(0)
            flags = (audit_hook, mode.pidns, mode.pidns and mode.mountns)
            argv += [str(src.fileno())] + ["1" if f else "0" for f in flags]
            argv += [
                str(-1 if uid is None else uid),
                "1" if mode.drop_caps else "0",
                "1" if IS_LINUX and load_libc() is not None else "0",
            ]
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=stdin_file,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=work,
                    env=_minimal_env(home),
                    start_new_session=True,
                    pass_fds=(src.fileno(),),
                    preexec_fn=make_preexec(mode, limits, nproc, work, stage, masks, exposures, sockets, cgroup),
                )
            except (OSError, subprocess.SubprocessError) as e:
                return ExecutionResult(
                    "error", None, "", f"sandbox: could not start the program: {e}", time.monotonic() - start
                )
        return supervise(proc, limits, uid, cgroup, start)
    finally:
        _clean_up(proc, uid, run_dir, cgroup)


def _clean_up(
    proc: subprocess.Popen[bytes] | None, uid: int | None, run_dir: str | None, cgroup: Cgroup | None
) -> None:
    """After a run, however it ended: each step is tried even if one before it failed (a failure is
    a warning, not an exception), and the per-run id is released in any case."""

    def stop(running: subprocess.Popen[bytes]) -> None:
        if running.returncode is None:  # only after an unexpected exception
            kill_all(running.pid, uid, cgroup)
            running.wait()
        for stream in (running.stdout, running.stderr):
            if stream is not None:
                stream.close()

    steps: list[Callable[[], None]] = []
    if proc is not None:
        steps.append(functools.partial(stop, proc))
    if run_dir is not None:
        steps.append(lambda: rmtree(run_dir))
    if cgroup is not None:
        steps.append(cgroup.remove)
    try:
        for step in steps:
            try:
                step()
            except Exception as e:  # clean up what can be; say what could not
                warnings.warn(f"sandbox: cleanup after a run failed: {e!r}", RuntimeWarning, stacklevel=3)
    finally:
        release_id(uid)
