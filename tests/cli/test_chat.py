"""`archon chat` as a user meets it: turns that move on, commands, a missing key, Ctrl-C, a pipe."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from archon.cli import main
from archon.testing.fake_openai import Behaviour, FakeOpenAIServer

from .test_cli import PATIENCE, _wait_for_requests


@pytest.fixture
def config_file(tmp_path, comp):
    cfg = {"name": "chat-test", "layers": [[comp(model="gen", samples=2)], [comp("fuser", model="final")]]}
    p = tmp_path / "arch.json"
    p.write_text(json.dumps(cfg))
    return p


def _chat(lines: str, monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    return main(["chat", *args])


def test_on_turn_three_the_generator_gets_the_conversation_and_the_fuser_the_new_message_to_fuse_for(
    config_file, server, monkeypatch, capsys
):
    assert (
        _chat(
            "What is the capital of France?\nAnd of Germany?\nWhat river flows through it?\n",
            monkeypatch,
            str(config_file),
            "--system",
            "Be brief.",
        )
        == 0
    )
    out, err = capsys.readouterr()
    # Piped input: one line is one turn, and stdout has one answer per turn (no prompts, no start line).
    assert out.splitlines() == [
        "[final] reply 0 to: What is the capital of France?",
        "[final] reply 0 to: And of Germany?",
        "[final] reply 0 to: What river flows through it?",
    ]
    assert err == ""
    turn3 = server.requests[-2:]  # the generator's request (n=2), then the fuser's
    assert [q.body["model"] for q in turn3] == ["gen", "final"]
    generator, fuser = (q.body["messages"] for q in turn3)
    # A hosted generator answers the conversation as it is: the earlier turns (with the final answers,
    # not the candidates) as turns, the new question last.
    assert generator == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "[final] reply 0 to: What is the capital of France?"},
        {"role": "user", "content": "And of Germany?"},
        {"role": "assistant", "content": "[final] reply 0 to: And of Germany?"},
        {"role": "user", "content": "What river flows through it?"},
    ]
    # The fuser fuses this turn's candidates for the new question: no earlier reply stands as its own last
    # turn (a model copies it); the earlier turns are context in the system message, before the candidates.
    assert [m["role"] for m in fuser] == ["system", "user"]
    assert fuser[1] == {"role": "user", "content": "What river flows through it?"}
    system = fuser[0]["content"]
    assert system.startswith("Be brief.\n\nThe conversation so far")
    assert (
        "USER: What is the capital of France?\n\nASSISTANT: [final] reply 0 to: What is the capital of France?"
        "\n\nUSER: And of Germany?\n\nASSISTANT: [final] reply 0 to: And of Germany?"
    ) in system
    assert system.index("ASSISTANT: [final] reply 0 to: And of Germany?") < system.index("Candidate responses:")
    assert system.endswith(
        "[1]\n[gen] reply 0 to: What river flows through it?\n\n[2]\n[gen] reply 1 to: What river flows through it?"
    )


def test_slash_commands_are_handled_not_sent(config_file, server, monkeypatch, capsys, tmp_path):
    saved = tmp_path / "conv.json"
    assert (
        _chat(
            f"/help\nhello\n/save {saved}\n/reset\nagain\n/bogus\n/save\n/exit\nnever sent\n",
            monkeypatch,
            str(config_file),
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert out.splitlines() == ["[final] reply 0 to: hello", "[final] reply 0 to: again"]
    assert "/save FILE" in err and "/reset" in err  # the help
    assert f"saved 2 messages to {saved}" in err
    assert "error: unknown command /bogus: /help lists the commands" in err
    assert "error: /save needs a file name" in err
    assert json.loads(saved.read_text()) == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "[final] reply 0 to: hello"},
    ]
    user_lines = {m["content"] for q in server.requests for m in q.body["messages"] if m["role"] == "user"}
    assert user_lines == {"hello", "again"}
    # After /reset the conversation starts over: nothing of "hello" is sent with "again".
    assert all("hello" not in json.dumps(q.body["messages"]) for q in server.requests[-2:])


def test_a_provider_without_a_key_fails_once_with_the_reason(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "together.json"
    cfg.write_text(json.dumps({"layers": [[{"type": "generator", "model": "x", "model_type": "Together_API"}]]}))
    assert _chat("one\ntwo\nthree\n", monkeypatch, str(cfg)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("no API key") == 1 and "TOGETHER_API_KEY" in err and "failed:" not in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminal test")
def test_in_a_terminal_chat_says_what_runs_and_ctrl_c_cancels_only_the_turn(tmp_path):
    import pty

    with FakeOpenAIServer() as srv:
        srv.enqueue(Behaviour(delay=30))  # the first answer never comes in time: the user presses Ctrl-C
        cfg = tmp_path / "c.json"
        cfg.write_text(
            json.dumps(
                {
                    "name": "slowpoke",
                    "layers": [
                        [{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": srv.base_url}]
                    ],
                }
            )
        )
        main_fd, sub_fd = pty.openpty()
        proc = subprocess.Popen(
            ["archon", "chat", str(cfg)],
            stdin=sub_fd,
            stdout=sub_fd,
            stderr=sub_fd,
            close_fds=True,
            start_new_session=True,
        )
        os.close(sub_fd)
        seen = b""

        def read_until(marker: bytes, count: int) -> None:
            nonlocal seen
            deadline = time.monotonic() + PATIENCE
            while seen.count(marker) < count and time.monotonic() < deadline:
                seen += os.read(main_fd, 4096)
            assert seen.count(marker) >= count, seen

        read_until(b"you> ", 1)
        os.write(main_fd, b"first\n")
        _wait_for_requests(srv, 1)
        proc.send_signal(signal.SIGINT)
        read_until(b"you> ", 2)  # the turn is cancelled, the chat goes on
        os.write(main_fd, b"second\n")
        read_until(b"reply 0 to: second", 1)
        read_until(b"you> ", 3)
        proc.send_signal(signal.SIGINT)  # at the prompt: leave
        rc = proc.wait(timeout=PATIENCE)
        try:
            while chunk := os.read(main_fd, 4096):
                seen += chunk
        except OSError:
            pass
        os.close(main_fd)
    shown = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", seen.decode(errors="replace"))
    assert rc == 130
    assert shown.startswith("archon chat: slowpoke, m (OpenAI_API). /help for commands; /exit or Ctrl-D to leave.")
    assert "cancelled this turn" in shown
    # The cancelled question is gone from the conversation: "second" is sent alone.
    assert srv.requests[-1].body["messages"] == [{"role": "user", "content": "second"}]
