"""Reports on real benchmark runs (`archon bench` against the HTTP test double)
and real traces (`archon run --trace`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archon.cli import main
from archon.report import write_report
from archon.testing.fake_openai import Behaviour, FakeOpenAIServer

N_ITEMS = 8


def gold(i: int) -> int:
    return 2 * i + 1


def responder(body: dict):
    text = "\n".join(m.get("content") or "" for m in body["messages"])
    m = re.search(r"Rank the (\d+) candidate", text)
    if m:
        return " > ".join(f"[{k}]" for k in range(1, int(m.group(1)) + 1))
    q = re.search(r"Question (\d+):", text)
    i = int(q.group(1)) if q else 0
    return [f"The answer is {gold(i)}." if i % 2 == 0 else "The answer is 999."] * (body.get("n") or 1)


@pytest.fixture
def srv():
    with FakeOpenAIServer(responder=responder, latency=0.02) as s:
        yield s


@pytest.fixture
def data(tmp_path) -> Path:
    p = tmp_path / "gsm8k.jsonl"
    p.write_text(
        "".join(
            json.dumps(
                {"id": f"q{i}", "question": f"Question {i}: what is {i} + {i + 1}?", "answer": f"#### {gold(i)}"}
            )
            + "\n"
            for i in range(N_ITEMS)
        ),
        encoding="utf-8",
    )
    return p


def arch(path: Path, srv: FakeOpenAIServer) -> str:
    g = {"type": "generator", "model_type": "OpenAI_API", "base_url": srv.base_url}
    cfg = {
        "name": "two-gens-fused",
        "layers": [
            [{**g, "model": "gen-a", "samples": 2}, {**g, "model": "gen-b"}],
            [{**g, "type": "fuser", "model": "fuse-f"}],
        ],
    }
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return str(path)


def test_bench_report_has_the_runs_numbers_baselines_and_errors(srv, data, tmp_path, read_page):
    cfg = arch(tmp_path / "a.json", srv)
    # The first item's generators both fail for good: that item errors.
    srv.enqueue(Behaviour(status=400, model="gen-a"), Behaviour(status=400, model="gen-b"))
    run = tmp_path / "run"
    assert (
        main(
            [
                "bench",
                cfg,
                "-b",
                "gsm8k",
                "--data",
                str(data),
                "--out",
                str(run),
                "--baselines",
                "--concurrency",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["errors"] == 1 and summary["baselines"]

    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    page = read_page(tmp_path / "r.html")
    rows = {r["run"].text: r for r in page.table_with("run", "score", "95% low", "95% high", "calls/query")}
    # The architecture and each compute-matched baseline, with the numbers of their summary.json.
    expected = {
        "two-gens-fused": summary,
        **{f"two-gens-fused · {name}": s for name, s in summary["baselines"].items()},
    }
    assert set(rows) == set(expected)
    for label, s in expected.items():
        assert rows[label]["score"].value == s["score"]
        assert rows[label]["95% low"].value == s["ci_low"] and rows[label]["95% high"].value == s["ci_high"]
        assert rows[label]["calls/query"].value == s["calls_per_query"]
        assert rows[label]["n"].value == s["n"] == N_ITEMS
        assert rows[label]["errors"].value == s["errors"]
        assert rows[label]["cost/query"].text == "unpriced"  # the test double's models have no price, not $0
        # Latency split: time in calls and time queued behind the concurrency cap are told apart.
        assert rows[label]["p50 latency"].value == s["latency_s"]["p50"]
        assert rows[label]["p50 in calls"].value == s["call_latency_s"]["p50"]
        assert rows[label]["p50 queued"].value == s["queue_s"]["p50"]
        assert rows[label]["from cache"].value == s["answers_from_cache"]
    assert any("score with 95% interval" in c for c in page.captions)
    assert any("score vs LLM calls per query" in c for c in page.captions)
    assert any(c.startswith("Latency per query: time in calls") for c in page.captions)
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    if any(r["queue_s"] > 0 for r in records):  # calls that waited for a provider's slot: shown apart
        assert any(c.startswith("Latency per query: time queued") for c in page.captions)
    assert any(c.startswith("LLM calls per query (no prices known") for c in page.captions)

    # The failed item, by id, with why.
    failed = [
        json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if json.loads(line).get("error")
    ]
    problems = page.table_with("run", "item", "what happened")
    assert [(p["run"].text, p["item"].text) for p in problems if "query failed" in p["what happened"].text] == [
        ("two-gens-fused", failed[0]["id"])
    ]
    assert page.resources == [] and page.scripts == 0

    # Interrupted: no summary, a half-written last line. The report shows the items done.
    (run / "summary.json").unlink()
    whole = (run / "results.jsonl").read_text().splitlines()
    (run / "results.jsonl").write_text("\n".join(whole[:5]) + "\n" + whole[5][:40])
    page = read_page(write_report([run], tmp_path / "r2.html"))
    assert "Run in progress or interrupted (no summary.json yet): 5 item(s) done" in page.text


@pytest.fixture
def traced(srv, tmp_path):
    """Two queries through `archon run --trace` (the second answered from the call cache), one call retried."""
    cfg = arch(tmp_path / "a.json", srv)
    trace = tmp_path / "t.jsonl"
    srv.enqueue(Behaviour(status=500, model="fuse-f"))  # the fuser's first attempt fails; its retry works
    for _ in range(2):
        assert (
            main(
                [
                    "run",
                    cfg,
                    "Question 4: what is 4 + 5?",
                    "--trace",
                    str(trace),
                    "--cache",
                    str(tmp_path / "calls.sqlite"),
                ]
            )
            == 0
        )
    return trace


def test_trace_report_has_a_timeline_and_every_call(traced, tmp_path, read_page):
    queries = [json.loads(line) for line in traced.read_text().splitlines()]
    page = read_page(write_report([traced], tmp_path / "r.html"))
    assert sum(c.startswith("Timeline of the LLM calls") for c in page.captions) == 2
    tables = [t for t in page.tables if t and [c.text for c in t[0]][:3] == ["layer", "component", "model"]]
    assert len(tables) == 2
    for q, t in zip(queries, tables):
        records = [
            (layer["index"] + 1, c["type"], r)
            for layer in q["trace"]["layers"]
            for c in layer["components"]
            for r in c["calls"]
        ]
        rows = [dict(zip([c.text for c in t[0]], r)) for r in t[1:]]
        assert len(rows) == len(records)
        for row, (layer, kind, rec) in zip(rows, records):
            assert (row["layer"].text, row["component"].text, row["model"].text) == (str(layer), kind, rec["model"])
            assert row["tokens in"].value == rec["input_tokens"] and row["tokens out"].value == rec["output_tokens"]
            assert row["latency (s)"].value == rec["latency_s"] and row["start (s)"].value == rec["start_s"]
            assert row["cached"].text == ("yes" if rec["cached"] else "no")
        assert page.row("LLM calls").value == queries[0]["trace"]["usage"]["calls"]

    first, second = tables
    fuser = [r for r in first[1:] if r[1].text == "fuser"]
    assert fuser and fuser[0][8].value == 1  # one retry shown
    assert all(r[9].text == "yes" for r in second[1:])  # the rerun came from the cache
    # The layer-1 calls ran at once, and the fuser after them: what the timeline draws.
    l1 = [r for r in first[1:] if r[0].text == "1"]
    starts = [r[4].value for r in l1]
    ends = [r[4].value + r[5].value for r in l1]
    assert max(starts) < min(ends) and fuser[0][4].value >= max(ends) - 1e-3


def test_old_traces_without_call_start_times_still_render(traced, tmp_path, read_page):
    q = json.loads(traced.read_text().splitlines()[0])
    for layer in q["trace"]["layers"]:
        layer.pop("start_s", None)
        for c in layer["components"]:
            for r in c["calls"]:
                r.pop("start_s", None)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(q))
    page = read_page(write_report([old], tmp_path / "r.html"))
    assert any(c.startswith("Timeline of the LLM calls") for c in page.captions)


def test_report_command_as_a_subprocess(traced, tmp_path):
    out = tmp_path / "sub.html"
    p = subprocess.run(
        [sys.executable, "-m", "archon.cli", "report", str(traced), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert f"wrote {out}" in p.stderr and out.read_text().startswith("<!DOCTYPE html>")
