"""The real `archon` command, as a user runs it (in-process via main(), and as a subprocess)."""

import json
import subprocess
import sys

import pytest

from archon.cli import main


@pytest.fixture
def config_file(tmp_path, comp):
    cfg = {"name": "cli-test", "layers": [[comp(model="a", samples=2), comp(model="b")], [comp("fuser", model="final")]]}
    p = tmp_path / "arch.json"
    p.write_text(json.dumps(cfg))
    return p


def test_run_prints_answer_and_writes_trace(config_file, tmp_path, capsys):
    assert main(["run", str(config_file), "What is up?", "--trace", str(tmp_path / "t.jsonl")]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "[final] reply 0 to: What is up?"
    assert "4 calls" in err
    row = json.loads((tmp_path / "t.jsonl").read_text())
    assert row["trace"]["usage"]["calls"] == 4


def test_run_json(config_file, capsys):
    assert main(["run", str(config_file), "Hi", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"].startswith("[final]") and len(data["trace"]["layers"]) == 2


def test_run_failure_exit_code(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"layers": [[{"type": "generator", "model": "x", "model_type": "Together_API"}]]}))
    assert main(["run", str(cfg), "Hi"]) == 1
    assert "no API key" in capsys.readouterr().err


def test_chat_is_multi_turn(config_file, server, monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("first question\nsecond question\n"))
    assert main(["chat", str(config_file)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["[final] reply 0 to: first question", "[final] reply 0 to: second question"]
    last_final = [q for q in server.requests if q.body["model"] == "final"][-1]
    roles = [m["role"] for m in last_final.body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_validate_reports_rules_and_calls(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"layers": [[{"type": "generator", "samples": 5}], [{"type": "critic"}],
                                           [{"type": "ranker", "use_critiques": True, "top_k": 3}], [{"type": "fuser"}]]}))
    assert main(["validate", str(good)]) == 0
    assert "LLM calls per query (worst case): 8" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"layers": [[{"type": "generator"}], [{"type": "fuser", "use_critiques": True}]]}))
    assert main(["validate", str(bad)]) == 1
    assert "no critic comes before" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"layers": [[{"type": "generator", "temperature": "hot"}]]}))
    assert main(["validate", str(broken)]) == 2
    assert "layer 1, component 1 (generator), field 'temperature'" in capsys.readouterr().err


def test_examples_are_valid(capsys):
    from pathlib import Path

    examples = sorted((Path(__file__).parent.parent / "examples").glob("*.json"))
    assert len(examples) >= 6
    for ex in examples:
        assert main(["validate", str(ex)]) == 0, ex


def test_providers_never_prints_keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-visible-secret-999")
    monkeypatch.setenv("OPENAI_API_KEY_2", "sk-visible-secret-888")
    proc = subprocess.run([sys.executable, "-m", "archon.cli", "providers"], capture_output=True, text=True,
                          env={**__import__("os").environ, "COLUMNS": "200"})
    assert proc.returncode == 0
    assert "secret" not in proc.stdout + proc.stderr
    line = next(l for l in proc.stdout.splitlines() if "OpenAI_API" in l)
    assert "yes (2 keys)" in line
    assert "Together_API" in proc.stdout and "local" in proc.stdout
    google = next(l for l in proc.stdout.splitlines() if "Google_API" in l)
    assert "install archon[google]" in google or "needs key" in google


def test_archon_command_as_subprocess(config_file):
    proc = subprocess.run(["archon", "run", str(config_file), "ping"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[final] reply 0 to: ping"
