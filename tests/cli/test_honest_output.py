"""What the command says is what happened: empty prompts, usable providers, typos, key files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archon import Archon
from archon.cli import main
from archon.errors import ArchonError

README = Path(__file__).parents[2] / "README.md"


def test_an_empty_or_blank_prompt_is_an_error_not_a_call(server, comp, tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"layers": [[comp()]]}))
    for prompt in ("", "   \n"):
        assert main(["run", str(cfg), prompt]) == 2
        assert "error: the prompt is empty" in capsys.readouterr().err
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
    assert main(["run", str(cfg), "-"]) == 2
    with Archon({"layers": [[comp()]]}) as a:
        for messages in (
            "  ",
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yes"},
                {"role": "user", "content": "\t"},
            ],
        ):
            with pytest.raises(ArchonError, match="the prompt is empty"):
                a.run(messages)
    assert not server.requests


def _providers(**env) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "archon.cli", "providers"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
    )
    assert proc.returncode == 0, proc.stderr
    rows = [
        [c.strip() for c in line.strip("│ ").split("│")] for line in proc.stdout.splitlines() if line.startswith("│")
    ]
    return {r[0]: r[-1] for r in rows}


def test_providers_counts_a_keyless_server_at_a_base_url_as_usable():
    assert _providers()["OpenAI_API"] == "needs key"
    usable = _providers(OPENAI_BASE_URL="http://127.0.0.1:8000/v1", TOGETHER_BASE_URL="http://127.0.0.1:8001/v1")
    assert usable["OpenAI_API"] == usable["Together_API"] == "yes (if the server runs)"
    assert usable["Groq_API"] == "needs key"


def test_every_providers_base_url_variable_is_in_the_readme():
    from archon.providers import specs

    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Providers") : text.index("`archon providers` shows")]
    for s in specs():
        if s.base_url_env:
            assert f"`{s.base_url_env}`" in table, s.name


def test_a_mistyped_model_type_gets_did_you_mean(tmp_path, capsys):
    for typo, meant in (("OpenAI_AP", "OpenAI_API"), ("Togther_API", "Together_API"), ("gemni", "Google_API")):
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps({"layers": [[{"type": "generator", "model": "x", "model_type": typo}]]}))
        assert main(["validate", str(cfg)]) == 1
        assert f"unknown model_type {typo!r} (did you mean {meant!r}?)" in capsys.readouterr().err


def test_key_file_errors_say_what_is_wrong_in_words(tmp_path, capsys):
    secret = "sk-do-not-print-me-1234"
    cases = {
        "missing.json": (None, "does not exist"),
        "folder": ("<dir>", "is a folder, not a file"),
        "broken.json": ('{"OPENAI_API_KEY": "' + secret + '",}', "is not valid JSON: Expecting property name"),
        "list.json": (f'["{secret}"]', 'must hold a JSON object of NAME: key, as in {"OPENAI_API_KEY": "sk-..."}'),
        "number.json": (
            '{"OPENAI_API_KEY": 12345}',
            "the value of 'OPENAI_API_KEY' must be a key (a string) or a list",
        ),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content == "<dir>":
            path.mkdir()
        elif content is not None:
            path.write_text(content)
        assert main(["providers", "--keys", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Error" not in err, err
        assert secret not in err


def test_a_missing_data_set_says_how_to_install_and_what_to_pass(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):  # as on a machine without the `datasets` extra
        if name == "datasets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"layers": [[{"type": "generator"}]]}))
    assert main(["bench", str(cfg), "--benchmark", "gsm8k", "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "openai/gsm8k" in err and "split 'test'" in err
    assert 'pip install -e ".[datasets]"' in err and "pip install -e ." in README.read_text()
    assert "archon bench CONFIG --benchmark gsm8k --data gsm8k.jsonl --out RUN_DIR" in err
