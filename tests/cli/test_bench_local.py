"""`archon bench` end to end on the embedded model over real HumanEval items (slow)."""

import json
import subprocess

import pytest

pytestmark = pytest.mark.slow


def test_bench_humaneval_on_embedded_model(tmp_path):
    cfg = tmp_path / "local.json"
    cfg.write_text(
        json.dumps(
            {
                "name": "local-code",
                "layers": [
                    [{"type": "generator", "model_type": "local", "samples": 2, "max_tokens": 160, "temperature": 0.7}],
                    [
                        {
                            "type": "unit_test_generator",
                            "model_type": "local",
                            "max_tokens": 120,
                            "evaluation": "execute",
                            "parse_retries": 0,
                        }
                    ],
                    [{"type": "unit_test_evaluator", "evaluation": "execute", "top_k": 1}],
                ],
            }
        )
    )
    out = tmp_path / "run"
    cmd = [
        "archon",
        "bench",
        str(cfg),
        "--benchmark",
        "humaneval",
        "--limit",
        "3",
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "calls.sqlite"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] != [] and len(rows) == 3
    assert all(r["error"] is None and r["score"] in (0.0, 1.0) for r in rows)
    assert all("status" in r["details"] for r in rows)  # each answer really ran in the sandbox
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 3 and summary["calls_per_query"] >= 2
    # The summary says which containment the programs ran under.
    from archon.sandbox import isolation_mode

    assert summary["extra"]["sandbox"] == isolation_mode() and "sandbox_network_isolated" in summary["extra"]
    # A rerun of the same command redoes nothing.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
