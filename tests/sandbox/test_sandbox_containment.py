"""The code sandbox: normal programs run and report, hostile ones are contained and later runs still work.

Each hostile case checks what the layers available here promise (see docs/sandbox.md);
where a layer is missing on this machine (no namespaces, not Linux) the test says so and skips.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import archon.sandbox
from archon.sandbox import (
    ExecutionResult,
    SandboxLimits,
    arun_python,
    cgroups,
    execute,
    ids,
    isolation,
    modes,
    mounts,
    network_isolation_available,
    run_python,
)
from archon.sandbox import run as sandbox_run

pytestmark = pytest.mark.timeout(30)

LINUX = sys.platform.startswith("linux")
ROOT = os.geteuid() == 0
MODE = isolation.current_mode()
CGROUPS = cgroups.cgroup_homes()
# Whether a runaway number of processes is stopped here (root ignores RLIMIT_NPROC unless it drops to
# a per-run uid or a cgroup counts the run's processes; a normal user's limit needs /proc to count
# what the user already runs).
PROCESS_LIMIT = (MODE.drop_uid or (CGROUPS is not None and CGROUPS.pids is not None)) if ROOT else LINUX
# Whether the program is kept from writing outside its directory, beyond the user's own permissions.
FS_CONTAINED = MODE.drop_uid or MODE.ro_root
# Whether processes that left the process group with setsid are killed too.
ESCAPEES_KILLED = MODE.drop_uid or MODE.pidns


def assert_still_works() -> None:
    r = run_python("print(6 * 7)")
    assert r.status == "passed" and r.stdout == "42\n", r


def processes_with(token: str) -> list[int]:
    """Live processes whose command line contains ``token`` (zombies have an empty one)."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if token.encode() in f.read():
                        pids.append(int(name))
            except OSError:
                pass
    return pids


# A line a program prints (to stderr) to say which processes are its own, so that checks for
# leftovers ignore sandboxes that other test sessions run at the same time.
IDENT = (
    "import os as _os, sys as _sys; print('IDENT', _os.getuid(), _os.readlink('/proc/self/ns/pid'), "
    "_os.getsid(0), file=_sys.stderr, flush=True); del _os, _sys\n"
)


def leftovers(result: ExecutionResult, mode: modes.Mode = MODE) -> list[int]:
    """Live processes of the run that printed IDENT: by its per-run uid, else its PID namespace,
    else its session."""
    line = next(line for line in result.stderr.splitlines() if line.startswith("IDENT "))
    _, uid, pidns, sid = line.split()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            if mode.drop_uid:
                mine = os.stat(f"/proc/{name}").st_uid == int(uid)
            elif mode.pidns:
                mine = os.readlink(f"/proc/{name}/ns/pid") == pidns
            else:
                mine = fields[3] == sid
        except (OSError, IndexError):
            continue
        if mine:
            found.append(int(name))
    return found


def wait_until_empty(probe, timeout: float = 30.0) -> list[int]:  # generous: reached only on failure
    deadline = time.monotonic() + timeout
    while (left := probe()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# --------------------------------------------------------------------------------------------------
# Normal programs.


def test_passing_program():
    r = run_python("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')")
    assert isinstance(r, ExecutionResult)
    assert r.status == "passed" and r.passed and r.returncode == 0
    assert r.stdout == "ok\n" and r.stderr == ""
    assert 0 < r.duration_s < 5


def test_assertion_error_fails():
    r = run_python("def add(a, b):\n    return a - b\nassert add(2, 3) == 5, 'wrong sum'")
    assert r.status == "failed" and not r.passed and r.returncode == 1
    assert "AssertionError: wrong sum" in r.stderr
    assert 'File "solution.py", line 3' in r.stderr  # the program's own line, not the bootstrap's
    assert "assert add(2, 3) == 5" in r.stderr


def test_syntax_error_fails():
    r = run_python("def f(:\n    pass\n")
    assert r.status == "failed" and r.returncode == 1
    assert "SyntaxError" in r.stderr


def test_nonzero_exit_fails_and_zero_exit_passes():
    assert run_python("import sys; sys.exit(3)").returncode == 3
    assert run_python("import sys; sys.exit(3)").status == "failed"
    assert run_python("import sys; print('x'); sys.exit(0)").status == "passed"


def test_stdin_is_fed():
    r = run_python(
        "import sys\nnums = [int(x) for x in sys.stdin.read().split()]\nprint(sum(nums))", stdin="1 2 3\n4\n"
    )
    assert r.status == "passed" and r.stdout == "10\n"
    # Larger than a pipe buffer, read line by line.
    big = "".join(f"{i}\n" for i in range(50_000))
    r = run_python("import sys\nprint(sum(int(l) for l in sys.stdin))", stdin=big)
    assert r.stdout == f"{sum(range(50_000))}\n"


def test_unicode_output():
    r = run_python("print('héllo ✓'); import sys; print('ünï', file=sys.stderr)")
    assert r.stdout == "héllo ✓\n" and r.stderr == "ünï\n"


def test_standard_library_and_socketpair_work():
    code = (
        "import json, collections, itertools, socket, subprocess\n"
        "a, b = socket.socketpair(); a.sendall(b'hi'); assert b.recv(2) == b'hi'\n"
        "print(subprocess.run(['echo', 'sub'], capture_output=True, text=True).stdout.strip())\n"
        "print(json.dumps(collections.Counter('aab')))"
    )
    r = run_python(code)
    assert r.status == "passed", r
    assert r.stdout == 'sub\n{"a": 2, "b": 1}\n'


def test_interpreter_is_isolated_and_the_callers():
    r = run_python("import sys; print(sys.flags.isolated, sys.flags.dont_write_bytecode, sys.version)")
    assert r.stdout == f"1 1 {sys.version}\n"


def test_child_is_started_in_its_own_session_with_limits(monkeypatch):
    seen = {}
    real_popen = subprocess.Popen

    def spy(args, **kwargs):
        seen.update(kwargs, args=list(args))
        proc = real_popen(args, **kwargs)
        # Read from our side (ids inside a PID namespace mean nothing here); the child is not
        # reaped yet, so its ids are still there even if it already exited.
        seen["sid"], seen["pgid"] = os.getsid(proc.pid), os.getpgid(proc.pid)
        return proc

    monkeypatch.setattr(execute.subprocess, "Popen", spy)
    assert run_python("pass").passed
    assert seen["start_new_session"] is True
    assert callable(seen["preexec_fn"])
    args = seen["args"]
    i = args.index(os.path.realpath(sys.executable))
    assert args[i + 1 : i + 3] == ["-I", "-B"]
    assert set(seen["env"]) <= {
        "PATH",
        "LANG",
        "PYTHONHASHSEED",
        "HOME",
        "TMPDIR",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    }
    # The session and process group are really its own: not ours.
    assert seen["sid"] == seen["pgid"] != os.getpgrp()
    assert seen["sid"] != os.getsid(0)


def test_resource_limits_are_set_in_the_child():
    limits = SandboxLimits(cpu_seconds=3, memory_mb=300, max_file_mb=2, max_processes=20)
    r = run_python(
        "import resource as r\n"
        "print(r.getrlimit(r.RLIMIT_CPU)[0], r.getrlimit(r.RLIMIT_AS)[0] >> 20, r.getrlimit(r.RLIMIT_FSIZE)[0] >> 20,"
        " r.getrlimit(r.RLIMIT_CORE)[0], r.getrlimit(r.RLIMIT_NOFILE)[0])",
        limits=limits,
    )
    assert r.stdout.split() == ["3", "300", "2", "0", "64"]


def test_error_status_when_the_program_cannot_start(monkeypatch):
    monkeypatch.setattr(execute, "INTERPRETER", "/nonexistent/python3")
    r = execute.execute("print(1)", "", SandboxLimits(), modes.Mode("basic"))
    assert r.status == "error" and r.returncode is None and not r.passed
    monkeypatch.undo()
    assert_still_works()


def test_cwd_is_a_fresh_empty_directory_deleted_afterwards(monkeypatch):
    made = []
    real_mkdtemp = tempfile.mkdtemp

    def spy(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(execute.tempfile, "mkdtemp", spy)
    code = (
        "import os\nprint(sorted(os.listdir('.')))\nprint(os.getcwd() == os.environ['HOME'])\n"
        "open('leftover.txt', 'w').write('x')\nos.mkdir('sub'); os.chmod('sub', 0)"
    )
    first = run_python(code)
    second = run_python(code)
    assert first.status == "passed", first
    assert first.stdout == second.stdout == "[]\nTrue\n"
    assert len(made) == 2 and not any(os.path.exists(d) for d in made)


# --------------------------------------------------------------------------------------------------
# Secrets and network.


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    r = run_python("import os; print(dict(os.environ))")
    assert r.status == "passed"
    assert "sk-secret" not in r.stdout and "OPENAI_API_KEY" not in r.stdout
    assert "aws-secret" not in r.stdout
    assert "'PATH'" in r.stdout and "'HOME'" in r.stdout


@pytest.mark.skipif(not LINUX, reason="/proc is Linux's")
def test_parent_environment_not_readable_through_proc(monkeypatch):
    if not (MODE.drop_uid or MODE.userns or (MODE.drop_caps and MODE.pidns)):
        pytest.skip(f"the program runs as the caller here ({MODE.name})")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-proc")
    code = (
        "import os\nfound = []\n"
        "for p in os.listdir('/proc'):\n"
        "    try:\n"
        "        if b'sk-secret-proc' in open(f'/proc/{p}/environ', 'rb').read(): found.append(p)\n"
        "    except OSError: pass\n"
        "print('FOUND' if found else 'clean')"
    )
    # Our own environ file reflects what the process started with; a child of ours does have it.
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"]) as holder:
        try:
            r = run_python(code)
        finally:
            holder.kill()
    assert r.stdout == "clean\n", r


@pytest.fixture
def listening_port():
    """A server on loopback only; yields (port, accepted) where accepted() says whether anyone came."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)

    def accepted() -> bool:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    yield srv.getsockname()[1], accepted
    srv.close()


def connect_code(port: int) -> str:
    return (
        "import socket\n"
        "try:\n"
        f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "    print('CONNECTED')\n"
        "except Exception as e:\n"
        "    print('refused', type(e).__name__, e)\n"
    )


def test_socket_connection_fails(listening_port):
    port, accepted = listening_port
    # Sanity: the port is really open to us.
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert accepted()
    r = run_python(connect_code(port))
    assert r.status == "passed" and r.stdout.startswith("refused"), r
    assert not accepted()


@pytest.mark.skipif(not network_isolation_available(), reason="no network namespace here")
def test_network_namespace_alone_blocks_connections(listening_port):
    port, accepted = listening_port
    r = execute.execute(connect_code(port), "", SandboxLimits(), MODE, audit_hook=False)
    assert r.status == "passed" and r.stdout.startswith("refused OSError"), r
    assert "PermissionError" not in r.stdout  # the kernel refused, not the hook
    assert not accepted()


def test_audit_hook_alone_blocks_connections_and_lookups(listening_port):
    port, accepted = listening_port
    basic = modes.Mode("basic")  # no namespaces: only the in-process hook
    r = execute.execute(connect_code(port), "", SandboxLimits(), basic)
    assert r.stdout.startswith("refused PermissionError"), r
    assert not accepted()
    r = execute.execute("import socket\nsocket.getaddrinfo('localhost', 80)", "", SandboxLimits(), basic)
    assert r.status == "failed" and "PermissionError" in r.stderr
    # The hook cannot be taken away: there is no API to remove audit hooks, and clearing
    # sys.audit's callers does nothing.
    r = execute.execute(
        "import sys, socket\nsys.addaudithook(lambda *a: None)\nsocket.socket()", "", SandboxLimits(), basic
    )
    assert r.status == "failed" and "PermissionError" in r.stderr


def test_network_isolation_available_is_a_bool():
    assert network_isolation_available() is MODE.network_isolated
    if LINUX and MODE.name.startswith(("netns", "userns")):
        assert network_isolation_available()


# --------------------------------------------------------------------------------------------------
# Runaway programs: contained, reported, and the next run still works.


def test_infinite_loop_times_out():
    r = run_python("while True:\n    pass", limits=SandboxLimits(cpu_seconds=1, wall_seconds=3))
    assert r.status == "timeout" and not r.passed, r
    assert_still_works()


def test_wall_clock_limit_on_a_sleeping_program():
    start = time.monotonic()
    r = run_python("import time\nprint('started', flush=True)\ntime.sleep(30)", limits=SandboxLimits(wall_seconds=1))
    assert r.status == "timeout" and r.returncode == -9
    assert r.stdout == "started\n"  # what it wrote before the kill is kept
    assert time.monotonic() - start >= 1  # not before the limit; killed long before its 30 s sleep ends (-9)
    assert_still_works()


# Enough forks to pass the limit many times over; few enough that, failing, they finish well inside the
# CPU and wall limits even on a loaded machine (the status then shows the limit, not a timeout, stopped them).
FORKS = 1_000
FORK_BOMB = (
    IDENT
    + f"FORKS = {FORKS}\n"
    + (
        "import os, time\n"
        "made = failed = 0\n"
        "for _ in range(FORKS):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        failed += 1\n"
        "        continue\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    made += 1\n"
        "print(made, failed, flush=True)\n"
        "raise SystemExit('fork failed' if failed else 0)\n"
    )
)


def check_fork_bomb(mode: modes.Mode) -> None:
    r = execute.execute(FORK_BOMB, "", SandboxLimits(max_processes=16, cpu_seconds=60, wall_seconds=120), mode)
    assert r.status == "failed" and "fork failed" in r.stderr, r  # ended by itself, not at the wall limit
    made, failed = map(int, r.stdout.split())
    assert made <= 16 and failed >= FORKS - 16
    assert wait_until_empty(lambda: leftovers(r, mode)) == []  # the sleeping children are gone
    assert_still_works()


@pytest.mark.skipif(not LINUX, reason="process scan through /proc")
def test_fork_bomb_is_contained():
    if not PROCESS_LIMIT:
        pytest.skip(f"no enforceable process limit here ({MODE.name}); not starting a fork bomb")
    check_fork_bomb(MODE)


def test_huge_allocation_is_memory():
    r = run_python("x = bytearray(10**10)\nprint('allocated')")
    if sys.platform == "darwin":  # RLIMIT_AS is not enforced there
        pytest.skip("macOS does not enforce RLIMIT_AS")
    assert r.status == "memory" and "MemoryError" in r.stderr and "allocated" not in r.stdout
    r = run_python(
        "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))", limits=SandboxLimits(memory_mb=256)
    )
    assert r.status == "memory"
    assert_still_works()


def test_file_size_is_limited():
    r = run_python("open('big.bin', 'wb').write(b'x' * (2 * 2**20))", limits=SandboxLimits(max_file_mb=1))
    assert r.status == "failed" and "File too large" in r.stderr


def test_huge_output_is_cut_and_reported():
    limits = SandboxLimits(max_output_bytes=10_000, wall_seconds=5)
    r = run_python("while True:\n    print('x' * 1000)", limits=limits)
    assert r.status == "output_limit" and not r.passed  # killed when the limit was hit, not at the wall limit
    assert 0 < len(r.stdout) <= 10_000
    r = run_python("import sys\nwhile True:\n    sys.stderr.write('e' * 1000)", limits=limits)
    assert r.status == "output_limit" and len(r.stderr) <= 10_000
    # Just under the limit: complete and passing.
    r = run_python("print('y' * 9_000)", limits=limits)
    assert r.status == "passed" and r.stdout == "y" * 9_000 + "\n"
    assert_still_works()


def _write_attempt(path: Path) -> str:
    return (
        f"try:\n    open({str(path)!r}, 'w').write('escaped')\n    print('WROTE')\n"
        "except OSError as e:\n    print('refused', type(e).__name__)\n"
    )


def test_writing_outside_the_sandbox_fails():
    if not FS_CONTAINED:
        pytest.skip(f"the program has the caller's own file permissions here ({MODE.name})")
    tag = uuid.uuid4().hex
    # A directory of ours with mode 0755, in the temporary directory everybody uses.
    own = Path(tempfile.mkdtemp(prefix="archon-test-", dir=mounts.sandbox_base()))
    own.chmod(0o755)
    # The repository itself.
    repo_target = Path(archon.sandbox.__file__).resolve().parents[2] / f"archon_sandbox_escape_{tag}"
    targets = [own / "escape.txt", repo_target]
    try:
        for target in targets:
            r = run_python(_write_attempt(target))
            assert r.stdout.startswith("refused"), (target, r)
            assert not target.exists()
    finally:
        repo_target.unlink(missing_ok=True)
        (own / "escape.txt").unlink(missing_ok=True)
        own.rmdir()
    assert_still_works()


@pytest.mark.skipif(not MODE.mountns, reason="no private mount namespace here")
def test_world_writable_tmp_is_private():
    target = Path("/tmp") / f"archon_sandbox_escape_{uuid.uuid4().hex}"
    try:
        r = run_python(_write_attempt(target) + "import os\nprint(sorted(os.listdir('.')))")
        assert r.status == "passed"
        # Inside, /tmp is the program's own directory; the real /tmp is untouched.
        assert f"['{target.name}']" in r.stdout
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


@pytest.mark.skipif(not LINUX, reason="process scan through /proc")
def test_background_children_are_killed():
    token = f"archon-bg-{uuid.uuid4().hex}"
    code = IDENT + (
        "import os, subprocess, time\n"
        f"subprocess.Popen(['sh', '-c', 'sleep 60; echo late > late.txt; : {token}'])\n"
        "if os.fork() == 0:\n"
        "    time.sleep(60)\n"
        "    open('late.txt', 'w').write('late')\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
        "print('main done')\n"
    )
    r = run_python(code)
    # It did not wait for the children: they sleep 60 s, past the 10 s wall limit that would make it a timeout.
    assert r.status == "passed" and r.stdout == "main done\n"
    assert wait_until_empty(lambda: processes_with(token)) == []
    assert wait_until_empty(lambda: leftovers(r)) == []


@pytest.mark.skipif(not LINUX, reason="process scan through /proc")
def test_children_that_leave_the_process_group_are_killed():
    if not ESCAPEES_KILLED:
        pytest.skip(f"only the process group is killed here ({MODE.name})")
    token = f"archon-setsid-{uuid.uuid4().hex}"
    code = IDENT + (
        "import os, subprocess, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    subprocess.Popen(['sh', '-c', 'sleep 60; : {token}'], start_new_session=True)\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
    )
    r = run_python(code)
    assert r.status == "passed"
    assert wait_until_empty(lambda: processes_with(token)) == []
    assert wait_until_empty(lambda: leftovers(r)) == []


# --------------------------------------------------------------------------------------------------
# Private files, local services, other processes.

# The package copied, as a top-level package ``sb``, to a directory anyone may read, so that a separate
# interpreter (in a user namespace, as another user, as a subreaper) can load it: it imports only
# the standard library.
_PACKAGE_COPY = Path(tempfile.mkdtemp(prefix="archon-sandbox-copy-"))
shutil.copytree(
    Path(archon.sandbox.__file__).parent, _PACKAGE_COPY / "sb", ignore=shutil.ignore_patterns("__pycache__")
)
for _d in (_PACKAGE_COPY, *_PACKAGE_COPY.rglob("*")):
    _d.chmod(0o755)
atexit.register(shutil.rmtree, _PACKAGE_COPY, True)
LOAD_SANDBOX = f"import sys\nsys.path.insert(0, {str(_PACKAGE_COPY)!r})\nimport sb\n"


@pytest.fixture
def outside_dir():
    """A fresh 0755 directory the sandbox's program could reach but for the sandbox (not a scratch
    directory, not a home), removed afterwards."""
    home = os.path.realpath(os.path.expanduser("~"))
    parent = next(
        (
            d
            for d in ("/home", "/srv", "/opt", "/var/lib", "/mnt")
            if os.path.isdir(d) and os.access(d, os.W_OK) and not (d + "/").startswith(home + "/")
        ),
        None,
    )
    if parent is None:
        pytest.skip("no writable directory outside the scratch directories and the home")
    path = Path(tempfile.mkdtemp(prefix="archon-test-", dir=parent))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(not LINUX, reason="Unix sockets and mount namespaces")
def test_unix_sockets_of_the_host_are_unreachable(outside_dir):
    path = outside_dir / "service.sock"  # like a session bus or docker.sock, open to everyone
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(str(path))
        path.chmod(0o777)
        srv.listen(4)
        srv.setblocking(False)
        code = (
            "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n"
            f"    s.connect({str(path)!r})\n    print('CONNECTED')\n"
            "except OSError as e:\n    print('refused', type(e).__name__, e.errno)\n"
        )
        # The audit hook refuses the connection outright (no errno: no system call was made).
        r = run_python(code)
        assert r.status == "passed" and r.stdout == "refused PermissionError None\n", r
        # Without it, the kernel does: the socket is covered with an empty file of root's.
        if MODE.mountns:
            r = execute.execute(code, "", SandboxLimits(), MODE, audit_hook=False)
            assert r.status == "passed" and r.stdout.split()[0] == "refused", r
            assert int(r.stdout.split()[2]) in (errno.EACCES, errno.ECONNREFUSED), r
        with pytest.raises(BlockingIOError):
            srv.accept()
    finally:
        srv.close()


def test_private_directories_are_covered(monkeypatch, outside_dir):
    if not MODE.mountns:
        pytest.skip(f"no private mount namespace here ({MODE.name})")
    home, runtime = outside_dir / "home", outside_dir / "runtime"
    for d in (home, runtime):
        d.mkdir(mode=0o755)
        (d / "secret").write_text("sk-private")
        (d / "secret").chmod(0o644)  # readable by anyone who gets there
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    code = (
        "import os\n"
        f"for p in ({str(home / 'secret')!r}, {str(runtime / 'secret')!r}):\n"
        "    try:\n        print(open(p).read())\n"
        "    except OSError as e:\n        print('refused', type(e).__name__)\n"
        "print(sorted(os.listdir('/run')), sorted(os.listdir('/dev')))\n"
    )
    r = run_python(code)
    assert r.status == "passed", r
    assert "sk-private" not in r.stdout
    lines = r.stdout.splitlines()
    assert lines[:2] == ["refused FileNotFoundError"] * 2
    assert lines[2] == ("[] ['fd', 'full', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']")


@pytest.mark.skipif(not (LINUX and ROOT), reason="starts a process as another user")
def test_a_normal_user_cannot_read_their_own_private_files(outside_dir):
    # The interpreter must be usable by that user: a system Python, not one under /root.
    python = next(
        (
            p
            for p in ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3")
            if os.path.exists(p) and all(mounts.world_traversable(a) for a in mounts.ancestors(os.path.realpath(p)))
        ),
        None,
    )
    if python is None:
        pytest.skip("no interpreter outside /root for an unprivileged user")
    user = ids.UID_BASE - 4242  # no account, no process
    home = outside_dir / "home"
    home.mkdir(mode=0o700)
    (home / ".env").write_text("OPENAI_API_KEY=sk-home-secret\n")
    (home / ".env").chmod(0o600)
    for p in (home, home / ".env"):
        os.chown(p, user, user)
    program = (
        f"try:\n    print(open({str(home / '.env')!r}).read())\n"
        "except OSError as e:\n    print('refused', type(e).__name__)\n"
    )
    inner = LOAD_SANDBOX + (
        f"mode = sb.isolation.current_mode()\nr = sb.run_python({program!r})\n"
        "print(mode.name, int(mode.mountns))\nprint(r.status, r.stdout, r.stderr)\n"
    )
    out = subprocess.run(
        [python, "-I", "-c", inner],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
        user=user,
        group=user,
        extra_groups=[],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    mode_line, result = out.stdout.split("\n", 1)
    if mode_line.endswith(" 0"):
        pytest.skip(f"no mount namespace for a normal user here ({mode_line.split()[0]})")
    assert "sk-home-secret" not in result
    assert result.startswith("passed refused FileNotFoundError"), out.stdout


@pytest.mark.skipif(not LINUX, reason="/proc is Linux's")
def test_proc_shows_only_the_run():
    if not MODE.pidns:
        pytest.skip(f"no PID namespace here ({MODE.name})")
    r = run_python("import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))")
    assert r.status == "passed" and r.stdout == "[1]\n", r


@pytest.mark.skipif(not LINUX, reason="System V IPC namespaces are Linux's")
def test_system_v_shared_memory_dies_with_the_run():
    if not MODE.network_isolated:
        pytest.skip(f"no IPC namespace here ({MODE.name})")
    key = int.from_bytes(os.urandom(3), "big") + 1
    r = run_python(
        f"import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.shmget({key}, 1 << 20, 0o1000 | 0o600))"
    )  # IPC_CREAT, left behind
    assert r.status == "passed" and int(r.stdout) >= 0, r

    def ours() -> list[int]:
        with open("/proc/sysvipc/shm") as f:
            rows = [line.split() for line in f][1:]
        return [int(row[1]) for row in rows if int(row[0]) == key]

    left = ours()
    libc = ctypes.CDLL(None, use_errno=True)
    for shmid in left:
        libc.shmctl(shmid, 0, None)  # IPC_RMID
    assert left == []


# --------------------------------------------------------------------------------------------------
# Rootless containers and root without a per-run id.

# Runs argv[2:] as root of a new user namespace that maps the ids in argv[1] ("0 0 65536": a rootless
# container) one to one; exits 77 where user namespaces are refused.
USERNS_LAUNCHER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(ready_r); os.close(go_w)
    if libc.unshare(0x10000000) != 0:
        os._exit(77)
    os.write(ready_w, b"x"); os.read(go_r, 1)
    os.setgid(0); os.setuid(0)
    os.execv(sys.argv[2], sys.argv[2:])
os.close(ready_w); os.close(go_r)
if os.read(ready_r, 1):
    for name, text in (("setgroups", "allow"), ("uid_map", sys.argv[1]), ("gid_map", sys.argv[1])):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)
    os.write(go_w, b"x")
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
sys.exit(code if code >= 0 else 128 - code)
"""

# In the namespace: run a program that tries to kill its caller and leave a setsid child behind.
ROOTLESS_PROBE = (
    LOAD_SANDBOX
    + r"""
import json, os, time
token = sys.argv[1]
program = (
    "import os, signal, subprocess\n"
    f"subprocess.Popen(['sh', '-c', 'sleep 60; : {token}'], start_new_session=True)\n"
    "caps = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff'))\n"
    "try:\n"
    f"    os.kill({os.getpid()}, signal.SIGKILL)\n"
    "    killed = 'sent'\n"
    "except OSError as e:\n"
    "    killed = type(e).__name__\n"
    "print(os.getuid(), caps, killed)\n"
)
mode = sb.isolation.current_mode()
r = sb.run_python(program)
time.sleep(0.3)
print(json.dumps({"mode": mode.name, "drop_uid": mode.drop_uid, "drop_caps": mode.drop_caps, "pidns": mode.pidns,
                  "status": r.status, "out": r.stdout.split(), "err": r.stderr}))
"""
)


@pytest.mark.skipif(not (LINUX and ROOT), reason="simulating a rootless container needs root")
@pytest.mark.parametrize("id_map", ["0 0 65536", "0 0 1"])
def test_rootless_container(id_map):
    token = f"archon-rootless-{uuid.uuid4().hex}"
    try:
        out = subprocess.run(
            [sys.executable, "-c", USERNS_LAUNCHER, id_map, sys.executable, "-c", ROOTLESS_PROBE, token],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode == 77:
            pytest.skip("user namespaces are refused here")
        assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)  # the caller was not killed
        seen = json.loads(out.stdout.splitlines()[-1])
        assert seen["status"] == "passed", seen
        uid, caps, killed = seen["out"]
        assert int(caps, 16) == 0, seen
        if id_map == "0 0 65536":  # spare ids: a per-run one, from the top of the mapped range
            assert seen["drop_uid"] and 1000 <= int(uid) < 65534, seen
        else:  # none: root, but without capabilities
            assert seen["drop_caps"] and uid == "0", seen
        assert seen["pidns"] and killed == "ProcessLookupError", seen  # the caller is out of sight
        assert wait_until_empty(lambda: processes_with(token)) == []
    finally:
        for pid in processes_with(token):
            os.kill(pid, 9)


@pytest.mark.skipif(not (LINUX and ROOT), reason="root callers only")
def test_root_without_capabilities_is_contained():
    mode = next((m for m in modes.candidate_modes() if m.drop_caps and m.pidns), None)
    probe = execute.execute("print('ok')", "", SandboxLimits(), mode) if mode else None
    if probe is None or not probe.passed:
        pytest.skip("the namespaces are refused here")
    target = f"/etc/archon_sandbox_escape_{uuid.uuid4().hex}"
    code = (
        "import os\n"
        "print(os.getuid(), int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')), 16))\n"
        f"for p in ({target!r}, '/etc/passwd'):\n"
        "    try:\n        open(p, 'a')\n        print('WROTE')\n"
        "    except OSError as e:\n        print('refused', type(e).__name__)\n"
    )
    try:
        r = execute.execute(code, "", SandboxLimits(), mode)
    finally:
        Path(target).unlink(missing_ok=True)
    assert r.stdout == "0 0\nrefused OSError\nrefused OSError\n", r  # read-only file system
    if CGROUPS is not None and CGROUPS.pids is not None:  # root ignores RLIMIT_NPROC: the cgroup counts
        check_fork_bomb(mode)


# --------------------------------------------------------------------------------------------------
# Memory, concurrency, cleanup, zombies.


@pytest.mark.skipif(not LINUX, reason="memfd and cgroups are Linux's")
def test_memory_of_the_whole_run_is_limited():
    if CGROUPS is None or CGROUPS.memory is None:
        pytest.skip("no cgroup for runs here (not root, or a cgroup v2 that does not delegate memory)")
    # 320 MiB in memfds, which RLIMIT_AS does not count, against a 128 MiB limit.
    code = (
        "import os\nfds = []\nfor _ in range(20):\n    fd = os.memfd_create('x')\n"
        "    os.write(fd, b'1' * (16 << 20))\n    fds.append(fd)\nprint('held', 16 * len(fds))"
    )
    r = run_python(code, limits=SandboxLimits(memory_mb=128))
    assert r.status == "memory" and "held" not in r.stdout, r
    assert_still_works()


def test_cgroup_v2_settings_simulated(tmp_path):
    # cgroup v2 with delegated controllers is rare on test machines: plain files stand in for its
    # control files (the kernel's would exist; the optional ones here do not, so they are skipped).
    cg = cgroups.Cgroup(cgroups.CgroupHomes(True, str(tmp_path), str(tmp_path)), 128 << 20, 17)
    (d,) = cg.dirs
    assert (Path(d) / "memory.max").read_text() == str(128 << 20) and (Path(d) / "pids.max").read_text() == "17"
    assert not cg.oom_killed()
    (Path(d) / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.oom_killed()
    (Path(d) / "cgroup.kill").write_text("")
    cg.kill()
    assert (Path(d) / "cgroup.kill").read_text() == "1"


async def test_concurrent_runs_are_bounded(monkeypatch):
    assert sandbox_run.MAX_CONCURRENT_RUNS >= 1
    monkeypatch.setattr(sandbox_run, "MAX_CONCURRENT_RUNS", 2)
    code = "import time\nprint(time.time(), flush=True)\ntime.sleep(0.4)\nprint(time.time())"
    results = await asyncio.gather(*(arun_python(code) for _ in range(5)))
    assert all(r.passed for r in results), results
    spans = [tuple(map(float, r.stdout.split())) for r in results]
    assert max(sum(s <= t < e for s, e in spans) for t, _ in spans) <= 2


@pytest.mark.skipif(not LINUX, reason="deep paths past PATH_MAX")
def test_deep_directory_tree_is_removed(monkeypatch):
    made = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(execute.tempfile, "mkdtemp", lambda *a, **k: made.append(real_mkdtemp(*a, **k)) or made[-1])
    code = (
        "import os\nos.mkdir('locked'); open('locked/f', 'w').close(); os.chmod('locked', 0)\n"
        "for _ in range(3000):\n    os.mkdir('d'); os.chdir('d')\nopen('f', 'w').write('x')\nprint('deep')"
    )
    r = run_python(code, limits=SandboxLimits(wall_seconds=20))
    assert r.stdout == "deep\n", r
    assert not os.path.lexists(made[0])
    assert ids.ids_in_use == set()


def test_failed_cleanup_is_a_warning_and_releases_the_id(monkeypatch):
    made = []
    real_mkdtemp, real_rmtree = tempfile.mkdtemp, execute.rmtree
    monkeypatch.setattr(execute.tempfile, "mkdtemp", lambda *a, **k: made.append(real_mkdtemp(*a, **k)) or made[-1])

    def broken(path):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(execute, "rmtree", broken)
    try:
        with pytest.warns(RuntimeWarning, match="cleanup"):
            r = run_python("print(1)")
        assert r.passed
        assert ids.ids_in_use == set()
    finally:
        real_rmtree(made[0])


ZOMBIE_PROBE = (
    LOAD_SANDBOX
    + r"""
import ctypes, json, os, time
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
for _ in range(10):
    r = sb.run_python("import subprocess, time\nsubprocess.Popen(['sleep', '30'])\ntime.sleep(30)",
                      limits=sb.SandboxLimits(wall_seconds=0.3))
    assert r.status == "timeout", r
time.sleep(0.5)
states = []
for name in os.listdir("/proc"):
    try:
        with open(f"/proc/{name}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        continue
    if int(fields[1]) == os.getpid():
        states.append(fields[0])
print(json.dumps(states))
"""
)


@pytest.mark.skipif(not LINUX, reason="child subreapers are Linux's")
def test_no_zombies_when_the_caller_is_a_subreaper():
    out = subprocess.run([sys.executable, "-c", ZOMBIE_PROBE], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []  # no children left of ours, zombie or alive


# --------------------------------------------------------------------------------------------------
# Async.


async def test_arun_python_does_not_block_the_event_loop(monkeypatch):
    monkeypatch.setattr(sandbox_run, "MAX_CONCURRENT_RUNS", 3)
    runs_seen = []  # programs running, as seen by a task on the event loop at each turn
    stop = asyncio.Event()

    async def ticker():
        while not stop.is_set():
            runs_seen.append(sandbox_run._active_runs)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(arun_python(f"import time; time.sleep(1); print({i})") for i in range(3)))
    stop.set()
    await task
    assert [r.stdout for r in results] == ["0\n", "1\n", "2\n"]
    assert all(r.passed for r in results)
    assert max(runs_seen) == 3  # side by side, and the loop kept turning while they ran


async def test_arun_python_reports_like_run_python():
    r = await arun_python("import sys; print(sys.stdin.read().upper())", stdin="abc")
    assert r.status == "passed" and r.stdout == "ABC\n"
    r = await arun_python("assert False")
    assert r.status == "failed" and "AssertionError" in r.stderr


# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not LINUX, reason="process scan through /proc")
def test_no_stray_processes_left():
    # Each hostile run above checked its own processes. Here: no per-run id is still reserved, and no
    # process of a per-run uid is older than a run can be (other sessions' sandboxes may be running).
    assert ids.ids_in_use == set()
    if ROOT and MODE.drop_uid:
        pool = set(ids.id_pool())
        stale = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    uid = os.stat(f"/proc/{name}").st_uid
                    with open(f"/proc/{name}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if uid in pool and fields[0] != "Z" and _age_s(int(fields[19])) > 30:
                    stale.append(name)
        assert stale == []


def _age_s(start_ticks: int) -> float:
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
