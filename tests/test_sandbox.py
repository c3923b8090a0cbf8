"""The code sandbox: normal programs run and report, hostile ones are contained and later runs still work.

Each hostile case checks what the layers available here promise (see ``archon.benchmarks.sandbox``);
where a layer is missing on this machine (no namespaces, not Linux) the test says so and skips.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from archon.benchmarks import sandbox
from archon.benchmarks.sandbox import (
    ExecutionResult,
    SandboxLimits,
    arun_python,
    network_isolation_available,
    run_python,
)

pytestmark = pytest.mark.timeout(30)

LINUX = sys.platform.startswith("linux")
ROOT = os.geteuid() == 0
MODE = sandbox._isolation()
# Whether a runaway number of processes is stopped here (root ignores RLIMIT_NPROC unless it drops to
# a per-run uid; a normal user's limit needs /proc to count what the user already runs).
PROCESS_LIMIT = MODE.drop_uid if ROOT else LINUX
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
IDENT = ("import os as _os, sys as _sys; print('IDENT', _os.getuid(), _os.readlink('/proc/self/ns/pid'), "
         "_os.getsid(0), file=_sys.stderr, flush=True); del _os, _sys\n")


def leftovers(result: ExecutionResult) -> list[int]:
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
            if MODE.drop_uid:
                mine = os.stat(f"/proc/{name}").st_uid == int(uid)
            elif MODE.pidns:
                mine = os.readlink(f"/proc/{name}/ns/pid") == pidns
            else:
                mine = fields[3] == sid
        except (OSError, IndexError):
            continue
        if mine:
            found.append(int(name))
    return found


def wait_until_empty(probe, timeout: float = 2.0) -> list[int]:
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
    r = run_python("import sys\nnums = [int(x) for x in sys.stdin.read().split()]\nprint(sum(nums))",
                   stdin="1 2 3\n4\n")
    assert r.status == "passed" and r.stdout == "10\n"
    # Larger than a pipe buffer, read line by line.
    big = "".join(f"{i}\n" for i in range(50_000))
    r = run_python("import sys\nprint(sum(int(l) for l in sys.stdin))", stdin=big)
    assert r.stdout == f"{sum(range(50_000))}\n"


def test_unicode_output():
    r = run_python("print('héllo ✓'); import sys; print('ünï', file=sys.stderr)")
    assert r.stdout == "héllo ✓\n" and r.stderr == "ünï\n"


def test_standard_library_and_unix_sockets_work():
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

    monkeypatch.setattr(sandbox.subprocess, "Popen", spy)
    assert run_python("pass").passed
    assert seen["start_new_session"] is True
    assert callable(seen["preexec_fn"])
    args = seen["args"]
    i = args.index(os.path.realpath(sys.executable))
    assert args[i + 1: i + 3] == ["-I", "-B"]
    assert set(seen["env"]) <= {"PATH", "LANG", "PYTHONHASHSEED", "HOME", "TMPDIR",
                                "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}
    # The session and process group are really its own: not ours.
    assert seen["sid"] == seen["pgid"] != os.getpgrp()
    assert seen["sid"] != os.getsid(0)


def test_resource_limits_are_set_in_the_child():
    limits = SandboxLimits(cpu_seconds=3, memory_mb=300, max_file_mb=2, max_processes=20)
    r = run_python(
        "import resource as r\n"
        "print(r.getrlimit(r.RLIMIT_CPU)[0], r.getrlimit(r.RLIMIT_AS)[0] >> 20, r.getrlimit(r.RLIMIT_FSIZE)[0] >> 20,"
        " r.getrlimit(r.RLIMIT_CORE)[0])",
        limits=limits,
    )
    assert r.stdout.split() == ["3", "300", "2", "0"]


def test_error_status_when_the_program_cannot_start(monkeypatch):
    monkeypatch.setattr(sandbox, "_INTERPRETER", "/nonexistent/python3")
    r = sandbox._run("print(1)", "", SandboxLimits(), sandbox._Mode("basic"))
    assert r.status == "error" and r.returncode is None and not r.passed
    monkeypatch.undo()
    assert_still_works()


def test_cwd_is_a_fresh_empty_directory_deleted_afterwards(monkeypatch):
    made = []
    real_mkdtemp = tempfile.mkdtemp

    def spy(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(sandbox.tempfile, "mkdtemp", spy)
    code = ("import os\nprint(sorted(os.listdir('.')))\nprint(os.getcwd() == os.environ['HOME'])\n"
            "open('leftover.txt', 'w').write('x')\nos.mkdir('sub'); os.chmod('sub', 0)")
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
    if not (MODE.drop_uid or MODE.userns):
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
    r = sandbox._run(connect_code(port), "", SandboxLimits(), MODE, audit_hook=False)
    assert r.status == "passed" and r.stdout.startswith("refused OSError"), r
    assert "PermissionError" not in r.stdout  # the kernel refused, not the hook
    assert not accepted()


def test_audit_hook_alone_blocks_connections_and_lookups(listening_port):
    port, accepted = listening_port
    basic = sandbox._Mode("basic")  # no namespaces: only the in-process hook
    r = sandbox._run(connect_code(port), "", SandboxLimits(), basic)
    assert r.stdout.startswith("refused PermissionError"), r
    assert not accepted()
    r = sandbox._run("import socket\nsocket.getaddrinfo('localhost', 80)", "", SandboxLimits(), basic)
    assert r.status == "failed" and "PermissionError" in r.stderr
    # The hook cannot be taken away: there is no API to remove audit hooks, and clearing
    # sys.audit's callers does nothing.
    r = sandbox._run("import sys, socket\nsys.addaudithook(lambda *a: None)\nsocket.socket()", "", SandboxLimits(), basic)
    assert r.status == "failed" and "PermissionError" in r.stderr


def test_network_isolation_available_is_a_bool():
    assert network_isolation_available() is MODE.network_isolated
    if LINUX and MODE.name.startswith(("netns", "userns")):
        assert network_isolation_available()


# --------------------------------------------------------------------------------------------------
# Runaway programs: contained, reported, and the next run still works.


def test_infinite_loop_times_out():
    start = time.monotonic()
    r = run_python("while True:\n    pass", limits=SandboxLimits(cpu_seconds=1, wall_seconds=3))
    assert r.status == "timeout" and not r.passed, r
    assert time.monotonic() - start < 4
    assert_still_works()


def test_wall_clock_limit_on_a_sleeping_program():
    start = time.monotonic()
    r = run_python("import time\nprint('started', flush=True)\ntime.sleep(30)",
                   limits=SandboxLimits(wall_seconds=1))
    assert r.status == "timeout" and r.returncode == -9
    assert r.stdout == "started\n"  # what it wrote before the kill is kept
    assert 1 <= time.monotonic() - start < 3
    assert_still_works()


@pytest.mark.skipif(not LINUX, reason="process scan through /proc")
def test_fork_bomb_is_contained():
    if not PROCESS_LIMIT:
        pytest.skip(f"no enforceable process limit here ({MODE.name}); not starting a fork bomb")
    code = IDENT + (
        "import os, time\n"
        "made = failed = 0\n"
        "for _ in range(10_000):\n"
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
    start = time.monotonic()
    r = run_python(code, limits=SandboxLimits(max_processes=16, wall_seconds=10))
    assert time.monotonic() - start < 10
    made, failed = map(int, r.stdout.split())
    assert made <= 16 and failed >= 10_000 - 16
    assert r.status == "failed" and "fork failed" in r.stderr, r
    assert wait_until_empty(lambda: leftovers(r)) == []  # the sleeping children are gone
    assert_still_works()


def test_huge_allocation_is_memory():
    r = run_python("x = bytearray(10**10)\nprint('allocated')")
    if sys.platform == "darwin":  # RLIMIT_AS is not enforced there
        pytest.skip("macOS does not enforce RLIMIT_AS")
    assert r.status == "memory" and "MemoryError" in r.stderr and "allocated" not in r.stdout
    r = run_python("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))",
                   limits=SandboxLimits(memory_mb=256))
    assert r.status == "memory"
    assert_still_works()


def test_file_size_is_limited():
    r = run_python("open('big.bin', 'wb').write(b'x' * (2 * 2**20))", limits=SandboxLimits(max_file_mb=1))
    assert r.status == "failed" and "File too large" in r.stderr


def test_huge_output_is_cut_and_reported():
    start = time.monotonic()
    limits = SandboxLimits(max_output_bytes=10_000, wall_seconds=5)
    r = run_python("while True:\n    print('x' * 1000)", limits=limits)
    assert r.status == "output_limit" and not r.passed
    assert 0 < len(r.stdout) <= 10_000
    assert time.monotonic() - start < 3  # killed when the limit was hit, not at the wall limit
    r = run_python("import sys\nwhile True:\n    sys.stderr.write('e' * 1000)", limits=limits)
    assert r.status == "output_limit" and len(r.stderr) <= 10_000
    # Just under the limit: complete and passing.
    r = run_python("print('y' * 9_000)", limits=limits)
    assert r.status == "passed" and r.stdout == "y" * 9_000 + "\n"
    assert_still_works()


def _write_attempt(path: Path) -> str:
    return (f"try:\n    open({str(path)!r}, 'w').write('escaped')\n    print('WROTE')\n"
            "except OSError as e:\n    print('refused', type(e).__name__)\n")


def test_writing_outside_the_sandbox_fails():
    if not FS_CONTAINED:
        pytest.skip(f"the program has the caller's own file permissions here ({MODE.name})")
    tag = uuid.uuid4().hex
    # A directory of ours with mode 0755, in the temporary directory everybody uses.
    own = Path(tempfile.mkdtemp(prefix="archon-test-", dir=sandbox._sandbox_base()))
    own.chmod(0o755)
    # The repository itself.
    repo_target = Path(sandbox.__file__).resolve().parents[2] / f"archon_sandbox_escape_{tag}"
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
    start = time.monotonic()
    r = run_python(code)
    assert r.status == "passed" and r.stdout == "main done\n"
    assert time.monotonic() - start < 5  # it did not wait for the children
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
# Async.


async def test_arun_python_does_not_block_the_event_loop():
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(ticker())
    start = time.monotonic()
    results = await asyncio.gather(*(arun_python(f"import time; time.sleep(1); print({i})") for i in range(3)))
    elapsed = time.monotonic() - start
    stop.set()
    await task
    assert [r.stdout for r in results] == ["0\n", "1\n", "2\n"]
    assert all(r.passed for r in results)
    assert elapsed < 2.5  # side by side: one after the other would take over 3 s
    assert ticks >= 10  # and the loop kept turning meanwhile


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
    assert sandbox._ids_in_use == set()
    if ROOT and MODE.drop_uid:
        lo, hi = sandbox._UID_BASE, sandbox._UID_BASE + sandbox._UID_SPAN
        stale = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    uid = os.stat(f"/proc/{name}").st_uid
                    with open(f"/proc/{name}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if lo <= uid < hi and fields[0] != "Z" and _age_s(int(fields[19])) > 30:
                    stale.append(name)
        assert stale == []


def _age_s(start_ticks: int) -> float:
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
