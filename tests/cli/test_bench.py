"""`archon bench` and `archon compare`, in-process and once as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archon.cli import main
from archon.testing.fake_openai import Behaviour, FakeOpenAIServer

N_ITEMS = 6


def gold(i: int) -> int:
    return 2 * i + 1


def responder(body: dict):
    text = "\n".join(m.get("content") or "" for m in body["messages"])
    m = re.search(r"Rank the (\d+) candidate", text)
    if m:
        return " > ".join(f"[{k}]" for k in range(1, int(m.group(1)) + 1))
    i = int(re.search(r"Question (\d+):", text).group(1))
    return [f"The answer is {gold(i)}." if i % 2 == 0 else "The answer is 999."] * (body.get("n") or 1)


@pytest.fixture
def srv():
    with FakeOpenAIServer(responder=responder) as s:
        yield s


def write_gsm8k(path: Path, n_items: int) -> Path:
    """GSM8K-shaped items: "Question i: what is i + (i + 1)?"."""
    path.write_text(
        "".join(
            json.dumps(
                {"id": f"q{i}", "question": f"Question {i}: what is {i} + {i + 1}?", "answer": f"#### {gold(i)}"}
            )
            + "\n"
            for i in range(n_items)
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def data(tmp_path) -> Path:
    return write_gsm8k(tmp_path / "gsm8k.jsonl", N_ITEMS)


def bench_command(cfg: str, data: Path, out: Path, *options: str) -> list[str]:
    """`archon bench` on the GSM8K file ``data``, run as a subprocess."""
    return [
        sys.executable,
        "-m",
        "archon.cli",
        "bench",
        cfg,
        "--benchmark",
        "gsm8k",
        "--data",
        str(data),
        "--out",
        str(out),
        *options,
    ]


def write_config(path: Path, srv: FakeOpenAIServer, name: str, samples: int = 1, fuse: bool = False) -> str:
    g = {"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": srv.base_url, "samples": samples}
    layers = [[g]] + ([[{**g, "type": "fuser", "samples": 1}]] if fuse else [])
    path.write_text(json.dumps({"name": name, "layers": layers}), encoding="utf-8")
    return str(path)


def test_bench_prints_summary_and_writes_run(srv, data, tmp_path, capsys):
    cfg = write_config(tmp_path / "a.json", srv, "alpha-arch")
    rc = main(
        ["bench", cfg, "--benchmark", "gsm8k", "--data", str(data), "--out", str(tmp_path / "run"), "--no-progress"]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "alpha-arch on gsm8k" in out and "0.500 [" in out and "calls / query" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["n"] == N_ITEMS and summary["score"] == pytest.approx(0.5)
    assert len((tmp_path / "run" / "results.jsonl").read_text().splitlines()) == N_ITEMS

    # --json, a resumed run: same numbers, no new calls.
    srv.reset()
    rc = main(["bench", cfg, "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "run"), "--json"])
    assert rc == 0 and len(srv.requests) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["score"] == summary["score"] and again["new_calls"] == 0


def test_bench_split_limit_and_no_cache(srv, data, tmp_path, capsys):
    cfg = write_config(tmp_path / "a.json", srv, "alpha")
    rc = main(
        [
            "bench",
            cfg,
            "-b",
            "gsm8k",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--split",
            "test",
            "--limit",
            "2",
            "--seed",
            "1",
            "--no-cache",
            "--concurrency",
            "1",
            "--json",
        ]
    )
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["n"] == 2 and s["split"] == "test" and s["seed"] == 1
    assert not (tmp_path / "cache.sqlite").exists()  # conftest points ARCHON_CACHE here


def test_bench_errors_are_clear(srv, data, tmp_path, capsys):
    cfg = write_config(tmp_path / "a.json", srv, "alpha")
    mt = tmp_path / "mt.jsonl"
    mt.write_text(json.dumps({"question_id": 1, "turns": ["a", "b"]}) + "\n", encoding="utf-8")
    assert main(["bench", cfg, "-b", "mt-bench", "--data", str(mt), "--out", str(tmp_path / "mt")]) == 2
    assert "--judge" in capsys.readouterr().err
    assert main(["bench", cfg, "-b", "no-such-bench", "--out", str(tmp_path / "x")]) == 2
    assert "unknown benchmark" in capsys.readouterr().err

    assert main(["bench", cfg, "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "run"), "--limit", "1"]) == 0
    other = write_config(tmp_path / "b.json", srv, "beta")
    capsys.readouterr()
    assert main(["bench", other, "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "run")]) == 2
    assert "different architecture" in capsys.readouterr().err
    assert len(srv.requests) == 1


def test_bench_baselines_and_compare(srv, data, tmp_path, capsys):
    cfg = write_config(tmp_path / "a.json", srv, "alpha-arch", samples=2, fuse=True)  # 3 calls per query
    rc = main(
        ["bench", cfg, "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "a"), "--baselines", "--limit", "4"]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "compute-matched baselines" in out
    for label in ("single (m)", "best-of-3 (m)", "majority-of-3 (m)"):
        assert label in out
    assert "note:" not in out
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert {k: v["calls_per_query"] for k, v in summary["baselines"].items()} == {
        "single": 1,
        "best_of_n": 3,
        "majority": 3,
    }

    cfg_b = write_config(tmp_path / "b.json", srv, "beta-arch")
    assert main(["bench", cfg_b, "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    rc = main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "a" / "baselines" / "majority")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "alpha-arch" in out and "beta-arch" in out and "majority-of-3 (m)" in out
    assert "0.500 [" in out

    assert main(["compare", str(tmp_path / "a"), "--baselines", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["alpha-arch", "single (m)", "best-of-3 (m)", "majority-of-3 (m)"]

    assert main(["compare", str(tmp_path / "nowhere")]) == 2
    assert "summary.json" in capsys.readouterr().err

    # Two calls per query: best-of-2 and majority-of-2 would be the single model again, and the table says so.
    cfg_c = write_config(tmp_path / "c.json", srv, "gamma-arch", fuse=True)
    assert main(["bench", cfg_c, "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "c"), "--baselines"]) == 0
    out = capsys.readouterr().out
    assert "single (m)" in out and "best-of-2 (m)" not in out and "majority-of-2 (m)" not in out
    assert "note: best-of-N and majority vote are left out: the architecture makes 2 calls per query" in out


def test_bench_as_a_subprocess(srv, data, tmp_path):
    cfg = write_config(tmp_path / "a.json", srv, "sub-arch")
    env = {**os.environ, "ARCHON_CACHE": str(tmp_path / "sub-cache.sqlite")}
    run = subprocess.run(
        bench_command(cfg, data, tmp_path / "run"),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "sub-arch on gsm8k" in run.stdout and "0.500 [" in run.stdout
    assert "\x1b[" not in run.stderr  # no progress bar or colours when not a terminal
    assert len(srv.requests) == N_ITEMS
    assert (tmp_path / "sub-cache.sqlite").exists()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["n"] == N_ITEMS


def test_killed_run_restarted_with_the_same_command_redoes_nothing_done(srv, tmp_path):
    """kill -9 in the middle of a run; the same command finishes it without redoing finished work."""
    import signal
    import time

    n_items = 24
    data = write_gsm8k(tmp_path / "many.jsonl", n_items)
    cfg = write_config(tmp_path / "a.json", srv, "killed", fuse=True)  # 2 calls per item
    # Eight calls are answered, then the two workers' next calls hang: the run is stuck part way when killed.
    srv.enqueue(*[Behaviour()] * 8, Behaviour(hang=True), Behaviour(hang=True))
    env = {**os.environ, "ARCHON_CACHE": str(tmp_path / "cache.sqlite")}
    cmd = bench_command(cfg, data, tmp_path / "run", "--concurrency", "2")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    results = tmp_path / "run" / "results.jsonl"
    deadline = time.monotonic() + 120  # generous: reached only when something is wrong
    while time.monotonic() < deadline and not (len(srv.requests) == 10 and srv.in_flight == 2):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    done_before = len(results.read_text().splitlines())
    assert 3 <= done_before < n_items  # 8 calls finish at least 3 items of 2 calls with 2 workers
    requests_before = len(srv.requests)

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(f"q{i}" for i in range(n_items))
    # Finished items were not asked again; at most the calls in flight at the kill are repeated.
    new_requests = len(srv.requests) - requests_before
    assert new_requests <= 2 * (n_items - done_before)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["score"] == pytest.approx(0.5)


def test_two_runs_on_one_folder_the_second_is_refused_at_once(srv, data, tmp_path):
    """Two `archon bench` processes on the same --out: the second fails at once; the first does the work once."""
    import time

    srv.hold(2)  # the first run's first call waits until released: the second run meets it at work
    cfg = write_config(tmp_path / "a.json", srv, "locked")
    env = {**os.environ, "ARCHON_CACHE": str(tmp_path / "cache.sqlite")}
    cmd = bench_command(cfg, data, tmp_path / "run", "--concurrency", "1")
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120  # generous: reached only when something is wrong
    while time.monotonic() < deadline and not srv.requests:  # the first run holds the folder
        time.sleep(0.02)
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    srv.release()
    assert second.returncode == 2
    assert (
        second.stderr.startswith(f"error: another run is using {tmp_path / 'run'}") and "Traceback" not in second.stderr
    )
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    ids = [json.loads(line)["id"] for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(f"q{i}" for i in range(N_ITEMS))  # each item once
    assert len(srv.requests) == N_ITEMS
    # Once the first run is over, the folder is free again.
    assert subprocess.run(cmd, capture_output=True, env=env, cwd=tmp_path, timeout=60).returncode == 0


def test_unusable_cache_or_run_folder_is_an_error_line_not_a_traceback(srv, data, tmp_path, monkeypatch):
    cfg = write_config(tmp_path / "a.json", srv, "alpha")
    corrupt = tmp_path / "notdb.sqlite"
    corrupt.write_text("this is not a database\n" * 100)
    env = {**os.environ, "ARCHON_CACHE": str(corrupt)}
    base = [sys.executable, "-m", "archon.cli", "bench", cfg, "-b", "gsm8k", "--data", str(data)]
    for extra, env_, message in (
        (["--out", str(tmp_path / "r1")], env, f"error: cannot use the call cache '{corrupt}'"),
        (["--out", str(tmp_path / "r2"), "--cache", str(tmp_path)], os.environ, "error: cannot use the call cache"),
    ):
        run = subprocess.run(base + extra, capture_output=True, text=True, env=env_, timeout=60, cwd=tmp_path)
        assert run.returncode == 2 and run.stderr.startswith(message) and "Traceback" not in run.stderr, run.stderr
    if Path("/proc").is_dir():  # a folder nobody can create
        run = subprocess.run([*base, "--out", "/proc/archon-test/run"], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert run.stderr.startswith("error: cannot create the run folder /proc/archon-test/run: ")
    assert not srv.requests


def test_failed_items_come_with_a_hint_to_retry_them(data, tmp_path, capsys):
    def responder_failing_q3(body):
        if "Question 3:" in "\n".join(m.get("content") or "" for m in body["messages"]):
            raise RuntimeError("boom")
        return responder(body)

    with FakeOpenAIServer(responder=responder_failing_q3) as s:
        cfg = write_config(tmp_path / "a.json", s, "alpha")
        cmd = ["bench", cfg, "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "run"), "--max-attempts", "1"]
        assert main(cmd) == 0
        assert "--retry-errors" in capsys.readouterr().err
        assert main(cmd) == 0  # resumed: the error is kept, and the hint says how to redo it
        out, err = capsys.readouterr()
        assert "(0 run now, 1 errors)" in out
        assert "hint: 1 failed item is kept as it is when the run is resumed; add --retry-errors" in err
        s.responder = responder
        assert main([*cmd, "--retry-errors"]) == 0
        assert "hint:" not in capsys.readouterr().err


def test_bench_where_every_item_failed_shows_the_first_error_not_a_score(data, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    cfg = tmp_path / "nokey.json"
    cfg.write_text(
        json.dumps({"name": "nokey", "layers": [[{"type": "generator", "model": "x", "model_type": "Together_API"}]]})
    )
    assert main(["bench", str(cfg), "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "run")]) == 1
    out, err = capsys.readouterr()
    assert "0.000" not in out + err
    assert f"error: every item failed ({N_ITEMS} of {N_ITEMS}), so there is no score" in err
    assert "no API key: set TOGETHER_API_KEY (environment or .env) or give a key file (--keys FILE" in err
    assert main(["bench", str(cfg), "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "run"), "--json"]) == 1
    assert "every item failed" in capsys.readouterr().err


def test_a_baseline_for_a_benchmark_without_pairwise_judging_is_refused(srv, data, tmp_path, capsys):
    cfg = write_config(tmp_path / "a.json", srv, "alpha")
    answers = tmp_path / "base.jsonl"
    answers.write_text(json.dumps({"id": "q0", "answers": ["The answer is 1."]}) + "\n", encoding="utf-8")
    mt = tmp_path / "mt.jsonl"
    mt.write_text(json.dumps({"question_id": 1, "turns": ["a", "b"]}) + "\n", encoding="utf-8")
    for benchmark, bench_data, option, value in (
        ("gsm8k", data, "--baseline-answers", answers),
        ("gsm8k", data, "--baseline-config", cfg),
        ("humaneval", data, "--baseline-answers", answers),
        ("mt-bench", mt, "--baseline-answers", answers),  # single grading: no baseline
    ):
        out = tmp_path / f"{benchmark}-{option}"
        argv = ["bench", cfg, "-b", benchmark, "--data", str(bench_data), "--out", str(out), option, str(value)]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: benchmark {benchmark!r} is not judged against a baseline, so {option} would")
        assert not out.exists()
    assert not srv.requests


def test_bench_usage_errors_are_one_line_without_traceback(srv, data, tmp_path, capsys):
    cfg = write_config(tmp_path / "a.json", srv, "alpha")
    a_file = tmp_path / "taken"
    a_file.write_text("")
    for out_dir, message in (
        (a_file, f"--out {a_file} is a file"),
        (a_file / "run", f"--out {a_file / 'run'}: {a_file} is a file"),
    ):
        assert main(["bench", cfg, "-b", "gsm8k", "--data", str(data), "--out", str(out_dir)]) == 2
        assert capsys.readouterr().err.startswith(f"error: {message}")
    assert (
        main(["bench", cfg, "-b", "gsm8k", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r")])
        == 2
    )
    assert capsys.readouterr().err.startswith("error: data path")
    broken = tmp_path / "broken.json"
    broken.write_text('{"layers": [[{"type": "generator", "temperature": "hot"}]]}')
    assert main(["bench", str(broken), "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith("error: invalid architecture config")
    assert not srv.requests
    # The whole command, as a user runs it: no traceback.
    run = subprocess.run(
        bench_command(cfg, data, a_file),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr and run.stderr.startswith("error: ")


def test_bench_prints_names_and_errors_literally(srv, data, tmp_path, capsys):
    cfg = write_config(tmp_path / "a.json", srv, "moa [v2] :smile:")
    assert main(["bench", cfg, "-b", "gsm8k", "--data", str(data), "--out", str(tmp_path / "run"), "--limit", "2"]) == 0
    assert "moa [v2] :smile: on gsm8k" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "run")]) == 0
    assert "moa [v2] :smile:" in capsys.readouterr().out
    # An error message with brackets keeps them.
    assert main(["bench", cfg, "-b", "gsm8k", "--data", "gsm8k[test].jsonl", "--out", str(tmp_path / "r")]) == 2
    assert "error: data path 'gsm8k[test].jsonl' does not exist" in capsys.readouterr().err


def test_readme_shows_run_benchmark_real_arguments():
    import dataclasses

    from archon.benchmarks.runner import RunSpec

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "run_benchmark(" in b)
    params = {f.name for f in dataclasses.fields(RunSpec)}
    named = set(re.findall(r"(\w+)=", block))
    assert "out_dir" in named and named <= set(params), named - set(params)
