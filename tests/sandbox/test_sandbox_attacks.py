"""Hostile programs and answers that once got through: each case must stay closed.

The sandbox's own containment (filesystem, network, processes, memory) is tested in
test_sandbox_containment.py; here are the attacks on what it shares with its caller (the kernel's
keyrings, the disk, the caller's folders) and on the scores computed from what it runs.
"""

from __future__ import annotations

import ctypes
import os
import platform
import secrets
import sys
import uuid
from pathlib import Path

import pytest

from archon.benchmarks.base import Item, ScoringContext
from archon.benchmarks.code import MBPP, HumanEval
from archon.components.unit_tests import UnitTestEvaluator
from archon.sandbox import SandboxLimits, mounts, run_python
from archon.sandbox import isolation as sandbox_isolation

pytestmark = pytest.mark.timeout(120)

LINUX = sys.platform.startswith("linux")
MODE = sandbox_isolation.current_mode()

# --------------------------------------------------------------------------------------------------
# Kernel keyrings.

# add_key, keyctl on the architectures the sandbox knows.
_KEY_SYSCALLS = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(platform.machine())
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -3, -4
KEYCTL_READ, KEYCTL_SEARCH, KEYCTL_INVALIDATE = 11, 10, 21


def _keyctl(*args) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(ctypes.c_long(_KEY_SYSCALLS[1]), *args)


def _add_key(description: bytes, payload: bytes, keyring: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(
        ctypes.c_long(_KEY_SYSCALLS[0]),
        b"user",
        description,
        payload,
        ctypes.c_size_t(len(payload)),
        ctypes.c_long(keyring),
    )


def _search(keyring: int, description: bytes) -> int:
    return _keyctl(ctypes.c_long(KEYCTL_SEARCH), ctypes.c_long(keyring), b"user", description, ctypes.c_long(0))


@pytest.fixture
def planted_key():
    """A secret in the caller's session keyring, as a credential helper would leave it."""
    if not LINUX or _KEY_SYSCALLS is None:
        pytest.skip("kernel keyrings on x86_64 or aarch64 Linux only")
    payload = f"sk-planted-{secrets.token_hex(8)}".encode()
    serial = _add_key(f"archon-test-{uuid.uuid4().hex}".encode(), payload, KEY_SPEC_SESSION_KEYRING)
    if serial < 0:
        pytest.skip(f"keyrings are not available here (errno {ctypes.get_errno()})")
    yield serial, payload
    _keyctl(ctypes.c_long(KEYCTL_INVALIDATE), ctypes.c_long(serial))


KEY_PROGRAM = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL = {numbers}
buf = ctypes.create_string_buffer(256)
n = libc.syscall(ctypes.c_long(KEYCTL), ctypes.c_long(11), ctypes.c_long({serial}), buf, ctypes.c_long(256))
print("read", n, buf.raw[:max(n, 0)].decode(errors="replace"))
for keyring in (-3, -4, -5):  # session, user, user session
    made = libc.syscall(ctypes.c_long(ADD_KEY), b"user", {description!r}, b"left-behind", ctypes.c_size_t(11),
                        ctypes.c_long(keyring))
    print("added", keyring, made)
"""


def test_a_program_cannot_read_the_callers_session_keyring(planted_key):
    serial, payload = planted_key
    # Sanity: the key is readable here.
    buf = ctypes.create_string_buffer(256)
    assert _keyctl(ctypes.c_long(KEYCTL_READ), ctypes.c_long(serial), buf, ctypes.c_long(256)) == len(payload)
    description = f"archon-test-left-{uuid.uuid4().hex}".encode()
    r = run_python(KEY_PROGRAM.format(numbers=_KEY_SYSCALLS, serial=serial, description=description))
    assert r.status == "passed", r
    assert payload.decode() not in r.stdout
    assert r.stdout.splitlines()[0].split()[:2] == ["read", "-1"], r.stdout


def test_keys_a_program_adds_do_not_reach_the_caller_or_outlive_the_run(planted_key):
    serial, _ = planted_key
    description = f"archon-test-left-{uuid.uuid4().hex}".encode()
    r = run_python(KEY_PROGRAM.format(numbers=_KEY_SYSCALLS, serial=serial, description=description))
    assert r.status == "passed", r
    added = [line.split() for line in r.stdout.splitlines() if line.startswith("added")]
    assert len(added) == 3 and all(int(made) < 0 for _, _, made in added), r.stdout
    for keyring in (KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING):
        assert _search(keyring, description) < 0  # not in the caller's keyrings


# --------------------------------------------------------------------------------------------------
# Disk and the caller's folders.


def test_the_files_of_a_run_are_capped_in_total():
    if not MODE.mountns:
        pytest.skip(f"no mount namespace here ({MODE.name}): only each file's size is limited")
    # Each file under the per-file limit, together four times the run's quota.
    code = (
        "import os\nwritten = 0\ntry:\n    for i in range(32):\n"
        "        with open(f'f{i}', 'wb') as f:\n            f.write(b'x' * (1 << 20))\n        written += 1\n"
        "except OSError as e:\n    print('stopped', e.errno)\nprint('written', written)\n"
    )
    r = run_python(code, limits=SandboxLimits(max_disk_mb=8, max_file_mb=2))
    assert r.status == "passed", r
    assert "stopped 28" in r.stdout  # ENOSPC
    assert int(r.stdout.split()[-1]) <= 8
    # Nor can it make files without end.
    r = run_python(
        "import os\ntry:\n    for i in range(100_000):\n        open(str(i), 'w').close()\n"
        "except OSError as e:\n    print('stopped', e.errno, i)\n"
    )
    assert r.stdout.startswith("stopped 28"), r


@pytest.fixture
def project_dir(tmp_path_factory):
    """A project folder outside the scratch directories, with a secret in it."""
    parent = next(
        (d for d in ("/srv", "/opt", "/var/lib", "/mnt", "/home") if os.path.isdir(d) and os.access(d, os.W_OK)), None
    )
    if parent is None:
        pytest.skip("no writable directory outside the scratch directories")
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="archon-project-", dir=parent))
    path.chmod(0o755)
    (path / "secret.txt").write_text("sk-project-secret")
    (path / "secret.txt").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


READ_PROGRAM = (
    "import sys\nfor p in sys.argv_paths:\n    try:\n        print(open(p).read())\n"
    "    except OSError as e:\n        print('refused', type(e).__name__)\n"
)


def _read(paths: list[Path]) -> str:
    return run_python(READ_PROGRAM.replace("sys.argv_paths", repr([str(p) for p in paths]))).stdout


def test_the_callers_working_directory_is_covered(monkeypatch, project_dir):
    if not MODE.mountns:
        pytest.skip(f"no mount namespace here ({MODE.name})")
    monkeypatch.chdir(project_dir)
    out = _read([project_dir / "secret.txt"])
    assert "sk-project-secret" not in out and out == "refused FileNotFoundError\n"
    # The project this suite runs from too (its sources, caches, run folders), from its own folder.
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    assert _read([repo / "pyproject.toml"]) == "refused FileNotFoundError\n"


def test_folders_given_to_hide_path_are_covered(monkeypatch, project_dir):
    if not MODE.mountns:
        pytest.skip(f"no mount namespace here ({MODE.name})")
    monkeypatch.setattr(mounts, "_hidden", [])
    assert "sk-project-secret" in _read([project_dir / "secret.txt"])  # readable by anyone until hidden
    mounts.hide_path(project_dir)
    assert _read([project_dir / "secret.txt"]) == "refused FileNotFoundError\n"


def test_an_answer_cannot_read_its_run_folder_or_the_call_cache(tmp_path_factory, project_dir):
    """Folders outside the working directory that hold archon's own data are covered too: a benchmark
    run's folder and the call cache's folder."""
    if not MODE.mountns:
        pytest.skip(f"no mount namespace here ({MODE.name})")
    import json

    from archon.benchmarks.runner import run_benchmark
    from archon.testing.fake_openai import FakeOpenAIServer

    # Readable by anyone, outside the working directory (which is covered anyway).
    out, cache = project_dir / "runs" / "he", project_dir / "caches" / "calls.sqlite"
    data = tmp_path_factory.mktemp("data") / "he.jsonl"
    data.write_text(json.dumps({"task_id": "T/0", "entry_point": "add", **HE_ITEM.reference}) + "\n")
    peek = (
        "def add(a, b):\n"
        f"    for path in ({str(out / 'config.json')!r}, {str(cache)!r}):\n"
        "        try:\n"
        "            open(path, 'rb').read(1)\n"
        "            return 'LEAKED ' + path\n"
        "        except OSError:\n"
        "            pass\n"
        "    return a + b\n"
    )
    with FakeOpenAIServer(responder=lambda body: f"```python\n{peek}```") as srv:
        config = {
            "layers": [[{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": srv.base_url}]]
        }
        summary = run_benchmark(config, "humaneval", data=data, out_dir=out, cache=cache)
    assert (out / "config.json").is_file() and cache.is_file()  # both there, readable to archon
    assert summary["score"] == 1.0  # the answer found neither, so it added up


# --------------------------------------------------------------------------------------------------
# Scores forged by the code being scored.

CTX = ScoringContext()

HE_ITEM = Item(
    id="T/0",
    turns=['def add(a, b):\n    """Add."""\n'],
    reference={
        "prompt": 'def add(a, b):\n    """Add."""\n',
        "test": "def check(candidate):\n"
        + "".join(f"    assert candidate({a}, {b}) == {a + b}\n" for a, b in [(1, 2), (0, 0), (-1, 5)]),
        "entry_point": "add",
    },
)
MBPP_ITEM = Item(
    id="1",
    turns=["Write add."],
    reference={
        "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
)


def fenced(code: str) -> str:
    return f"```python\n{code}\n```"


EQUAL_TO_EVERYTHING = (
    "class Anything:\n    def __eq__(self, other):\n        return True\n"
    "    def __ne__(self, other):\n        return False\n\n"
    "def add(a, b):\n    return Anything()\n"
)
EQUAL_INT = (
    "class Anything(int):\n    def __eq__(self, other):\n        return True\n\n"
    "def add(a, b):\n    return Anything(0)\n"
)
# Finds the harness's "tests done" marker (or pass lines) in the program's own source, prints it, exits.
MARKER_THIEF = (
    "import linecache, os, re\n"
    "source = ''.join(''.join(entry[2]) for entry in list(linecache.cache.values()) if len(entry) > 2)\n"
    "for m in re.findall(r'archon-tests-done-[0-9a-f]+', source):\n"
    "    os.write(1, ('\\n' + m + '\\n').encode())\n"
    "for m in re.findall(r\"'([0-9a-f]{32} \\d+ pass)'\", source):\n"
    "    os.write(1, (m + '\\n').encode())\n"
    "os._exit(0)\n"
    "def add(a, b):\n    return 0\n"
)
RIGHT = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize("attack", [EQUAL_TO_EVERYTHING, EQUAL_INT, MARKER_THIEF])
async def test_humaneval_answers_cannot_forge_their_score(attack):
    s = await HumanEval().score(HE_ITEM, [fenced(attack)], CTX)
    assert s.value == 0.0, s.details
    assert (await HumanEval().score(HE_ITEM, [fenced(RIGHT)], CTX)).value == 1.0  # the item itself is fair


@pytest.mark.parametrize("attack", [EQUAL_TO_EVERYTHING, EQUAL_INT, MARKER_THIEF])
async def test_mbpp_answers_cannot_forge_their_score(attack):
    s = await MBPP().score(MBPP_ITEM, [fenced(attack)], CTX)
    assert s.value == 0.0, s.details
    assert (await MBPP().score(MBPP_ITEM, [fenced(RIGHT)], CTX)).value == 1.0


@pytest.mark.parametrize("attack", [EQUAL_TO_EVERYTHING, EQUAL_INT, MARKER_THIEF])
async def test_unit_test_evaluator_candidates_cannot_forge_passes(attack):
    tests = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(2, 2) == 4"]
    assert await UnitTestEvaluator._executed_passes(None, fenced(attack), tests) == 0
    assert await UnitTestEvaluator._executed_passes(None, fenced(RIGHT), tests) == 3
