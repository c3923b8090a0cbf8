"""The real `archon` command, as a user runs it (in-process via main(), and as a subprocess)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archon import cli
from archon.cli import main
from archon.testing.fake_openai import Behaviour, FakeOpenAIServer

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture
def config_file(tmp_path, comp):
    cfg = {
        "name": "cli-test",
        "layers": [[comp(model="a", samples=2), comp(model="b")], [comp("fuser", model="final")]],
    }
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
    err = capsys.readouterr().err
    assert "no API key" in err
    assert "TOGETHER_API_KEY" in err and "--keys FILE" in err


def test_validate_reports_rules_and_calls(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "layers": [
                    [{"type": "generator", "samples": 5}],
                    [{"type": "critic"}],
                    [{"type": "ranker", "use_critiques": True, "top_k": 3}],
                    [{"type": "fuser"}],
                ]
            }
        )
    )
    assert main(["validate", str(good)]) == 0
    # Critic and ranker replies must parse: each may be asked parse_retries (2) more times.
    assert "LLM calls per query (worst case): 12 (8 if every reply parses at once)" in capsys.readouterr().out
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

    examples = sorted((Path(__file__).parents[2] / "examples").glob("*.json"))
    assert len(examples) >= 6
    for ex in examples:
        assert main(["validate", str(ex)]) == 0, ex


def test_providers_never_prints_keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-visible-secret-999")
    monkeypatch.setenv("OPENAI_API_KEY_2", "sk-visible-secret-888")
    proc = subprocess.run(
        [sys.executable, "-m", "archon.cli", "providers"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0
    assert "secret" not in proc.stdout + proc.stderr
    line = next(row for row in proc.stdout.splitlines() if "OpenAI_API" in row)
    assert "yes (2 keys)" in line
    assert "Together_API" in proc.stdout and "local" in proc.stdout
    google = next(row for row in proc.stdout.splitlines() if "Google_API" in row)
    assert "install archon[google]" in google or "needs key" in google


def test_archon_command_as_subprocess(config_file):
    proc = subprocess.run(["archon", "run", str(config_file), "ping"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[final] reply 0 to: ping"


def test_text_from_users_models_and_errors_is_printed_literally(tmp_path, capsys):
    """Square brackets (rich markup) and :codes: (emoji) in replies, config names and errors stay as they are."""

    def responder(body):
        return "[/INST] [bold]yes[/bold] :smile:"  # never parses as a ranking: a fallback quotes it

    with FakeOpenAIServer(responder=responder) as srv:
        g = {"model": "m", "model_type": "OpenAI_API", "base_url": srv.base_url}
        cfg = tmp_path / "moa.json"
        cfg.write_text(
            json.dumps(
                {
                    "name": "moa [v2] baseline",
                    "layers": [[{"type": "generator", "samples": 2, **g}], [{"type": "ranker", "top_k": 1, **g}]],
                }
            )
        )
        assert main(["run", str(cfg), "Hi"]) == 0
        out, err = capsys.readouterr()
        assert out == "[/INST] [bold]yes[/bold] :smile:\n"
        assert "fallback layer 2 ranker" in err and "(last reply: '[/INST] [bold]yes[/bold] :smile:')" in err

        chat_in = tmp_path / "in.txt"
        chat_in.write_text("Hi [/INST]\n")
        proc = subprocess.run(["archon", "chat", str(cfg)], stdin=chat_in.open(), capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "[/INST] [bold]yes[/bold] :smile:\n"

    assert main(["validate", str(cfg)]) == 0
    assert capsys.readouterr().out.startswith("moa [v2] baseline: 2 layers")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "layers": [[{"type": "generator", "model_type": "Foo[bar]"}]]}))
    assert main(["run", str(bad), "Hi"]) == 2
    assert "unknown model_type 'Foo[bar]'" in capsys.readouterr().err


def test_run_with_a_config_and_no_prompt_is_an_error(config_file, server, capsys, monkeypatch):
    assert main(["run", str(config_file)]) == 2
    assert f"missing PROMPT ({config_file} looks like a config file)" in capsys.readouterr().err
    assert not server.requests
    # A lone prompt runs on the default architecture, even one that mentions a file name.
    monkeypatch.setattr(cli, "DEFAULT_CONFIG", json.loads(config_file.read_text()))
    assert main(["run", "What is in package.json?"]) == 0
    assert capsys.readouterr().out == "[final] reply 0 to: What is in package.json?\n"


def test_run_with_an_unquoted_prompt_says_to_quote_it(config_file, server, capsys):
    assert main(["run", str(config_file), "What", "is", "the", "capital"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the prompt must be one argument: quote it, as in\n")
    assert f'archon run {config_file} "What is the capital"' in err and 'usage: archon run [CONFIG] "PROMPT"' in err
    for words in (["What", "is", "the", "capital"], ["What", "now"]):  # no config: the words are the prompt
        assert main(["run", *words]) == 2
        assert f'archon run "{" ".join(words)}"' in capsys.readouterr().err
    assert not server.requests


def test_run_checks_the_trace_file_before_paying_for_calls(config_file, server, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for trace, message in (
        (blocker / "t.jsonl", f"cannot write there: {blocker} is not a folder"),
        (tmp_path, "is a folder"),
        # A path that passes a permission check but cannot be written: the file itself is tried.
        (Path("/proc/archon-trace.jsonl"), "cannot write there"),
    ):
        assert main(["run", str(config_file), "Hi", "--trace", str(trace)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --trace {trace}") and message in err
    assert not server.requests
    # A missing folder is made, as for --cache.
    for option, path in (("--trace", tmp_path / "traces" / "t.jsonl"), ("--cache", tmp_path / "caches" / "c.sqlite")):
        assert main(["run", str(config_file), "Hi", option, str(path)]) == 0
        assert path.is_file()


def test_run_prints_the_answer_even_when_the_trace_cannot_be_written(config_file, tmp_path, capsys, monkeypatch):
    import archon.engine

    def fail(results, path, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archon.engine, "write_jsonl", fail)
    assert main(["run", str(config_file), "Hi", "--trace", str(tmp_path / "t.jsonl")]) == 1
    out, err = capsys.readouterr()
    assert out == "[final] reply 0 to: Hi\n"
    assert f"error: cannot write the trace to {tmp_path / 't.jsonl'}: No space left on device" in err


def test_run_and_chat_help_say_the_cache_is_off_unless_asked(capsys):
    for cmd in ("run", "chat"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "~/.cache/archon/calls.sqlite" not in text
        assert "run and chat cache nothing by default, and $ARCHON_CACHE does not change that" in text


def test_run_and_chat_warn_about_rule_violations_but_run(tmp_path, comp, capsys):
    cfg = tmp_path / "custom.json"
    cfg.write_text(json.dumps({"layers": [[comp()], [comp("fuser", use_critiques=True)]]}))
    assert main(["validate", str(cfg)]) == 1
    capsys.readouterr()
    assert main(["run", str(cfg), "Hi"]) == 0
    out, err = capsys.readouterr()
    assert "warning: layer 2: fuser uses critiques but no critic comes before it" in err
    assert out.startswith("[m] reply 0 to:")


def test_validate_rejects_what_run_rejects_and_warns_about_unknown_fields(tmp_path, comp, capsys):
    unknown_provider = tmp_path / "p.json"
    unknown_provider.write_text(json.dumps({"layers": [[comp()], [comp("fuser", model_type="FooBar_API")]]}))
    assert main(["validate", str(unknown_provider)]) == 1
    err = capsys.readouterr().err
    assert "error: layer 2, component 1 (fuser): unknown model_type 'FooBar_API'" in err
    assert main(["run", str(unknown_provider), "Hi"]) == 2
    assert "unknown model_type 'FooBar_API'" in capsys.readouterr().err

    unknown_type = tmp_path / "t.json"
    unknown_type.write_text(json.dumps({"layers": [[comp()], [comp("fusr")]]}))
    assert main(["validate", str(unknown_type)]) == 1
    assert (
        "error: layer 2, component 1 (fusr): unknown component type 'fusr' (did you mean 'fuser'?)"
        in capsys.readouterr().err
    )
    assert main(["run", str(unknown_type), "Hi"]) == 2
    assert "unknown component type 'fusr'" in capsys.readouterr().err

    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"layers": [[comp(temprature=0.1)]]}))
    assert main(["validate", str(typo)]) == 0
    assert (
        "warning: layer 1, component 1 (generator): unknown field 'temprature', ignored (did you mean 'temperature'?)"
    ) in capsys.readouterr().err
    assert main(["run", str(typo), "Hi"]) == 0
    assert "unknown field 'temprature'" in capsys.readouterr().err

    # Fields of the reference code's configs that archon does not use are accepted without a warning.
    reference = tmp_path / "reference.json"
    reference.write_text(
        json.dumps(
            {
                "layers": [
                    [comp(samples=3)],
                    [comp("ranker", top_k=1, ranker_batch_size=16)],
                    [comp("fuser", top_k_generations=3)],
                ]
            }
        )
    )
    assert main(["validate", str(reference)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["run", str(reference), "Hi"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_run_says_unpriced_when_no_price_is_known(config_file, capsys):
    assert main(["run", str(config_file), "Hi"]) == 0
    err = capsys.readouterr().err
    assert "unpriced (a, b, final)" in err and "$0.0000" not in err


# Bounds on waits for a subprocess: generous, as they are reached only when something is wrong (a loaded
# two-core machine can take many seconds to start Python and import the package).
PATIENCE = 120


def _wait_for_requests(srv, n, timeout=PATIENCE):
    deadline = time.monotonic() + timeout
    while len(srv.requests) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(srv.requests) >= n


def test_ctrl_c_during_run_and_chat_is_a_clean_exit_130(tmp_path):
    with FakeOpenAIServer() as srv:
        cfg = tmp_path / "slow.json"
        cfg.write_text(
            json.dumps(
                {
                    "layers": [
                        [{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": srv.base_url}]
                    ]
                }
            )
        )
        for cmd in (["run", str(cfg), "Hi"], ["chat", str(cfg)]):
            srv.reset()
            srv.enqueue(Behaviour(hang=True))  # the call is answered never: only Ctrl-C ends the command
            proc = subprocess.Popen(
                ["archon", *cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            proc.stdin.write("Hi\n")
            proc.stdin.flush()
            _wait_for_requests(srv, 1)  # the call is in flight
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=PATIENCE)
            assert proc.returncode == 130, err
            assert err == "interrupted\n", err


def _in_a_terminal(cmd: list[str], keys: bytes, timeout: float = PATIENCE) -> tuple[int, str]:
    """Run cmd with a pseudo-terminal as stdin/stdout/stderr, type keys, return (exit code, what it printed)."""
    import pty

    main_fd, sub_fd = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=sub_fd, stdout=sub_fd, stderr=sub_fd, close_fds=True)
    os.close(sub_fd)
    seen = b""
    deadline = time.monotonic() + timeout
    while b"you> " not in seen and time.monotonic() < deadline:
        seen += os.read(main_fd, 4096)
    os.write(main_fd, keys)
    rc = proc.wait(timeout=timeout)
    try:
        while chunk := os.read(main_fd, 4096):
            seen += chunk
    except OSError:  # the terminal closed
        pass
    os.close(main_fd)
    return rc, re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", seen.decode(errors="replace"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminal test")
def test_ctrl_d_in_chat_leaves_the_prompt_line(config_file):
    rc, shown = _in_a_terminal(["archon", "chat", str(config_file)], b"\x04")
    assert rc == 0
    assert shown.endswith("you> \r\n")


def test_providers_never_truncates_names_or_key_variables():
    from archon.providers import specs

    proc = subprocess.run(
        [sys.executable, "-m", "archon.cli", "providers"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert proc.returncode == 0
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    words = set(re.findall(r"[\w.-]+", proc.stdout))
    for s in specs():
        assert s.name in words
        assert s.key_env is None or s.key_env in words


def test_readme_custom_component_example_runs_as_written(capsys):
    """The README's example of a custom component and a generator function, run exactly as written."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = next(b for b in blocks if "add_component" in b)
    assert "async def" in example and "await ctx.complete(" in example
    exec(compile(example, str(README), "exec"), {})
    # The answer (the shortest of my_model's answers), then the critique my_model gave through ctx.complete.
    assert capsys.readouterr().out == (
        "an answer to 'Name a colour.' an answer to \"Critique this answer: an answer to 'Name a colour.'\"\n"
    )
