"""A model's escape sequences never act on the user's terminal; piped output stays byte-exact."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from archon.testing.fake_openai import Behaviour, FakeOpenAIServer

# OSC 52 (write the clipboard), a window title, a cursor move and a one-byte CSI, between words.
HOSTILE = "safe\x1b]52;c;ZXZpbA==\x07 text\x1b]0;title\x1b\\ more\x1b[2J\ttab\nline \x9b31m end"


@pytest.fixture
def config(tmp_path):
    with FakeOpenAIServer() as srv:
        srv.enqueue(Behaviour(text=HOSTILE))
        path = tmp_path / "one.json"
        path.write_text(
            json.dumps(
                {
                    "name": "one",
                    "layers": [[{"type": "generator", "model_type": "vLLM", "model": "m", "base_url": srv.base_url}]],
                }
            )
        )
        yield str(path)


def test_piped_answer_is_byte_exact(config):
    proc = subprocess.run([sys.executable, "-m", "archon.cli", "run", config, "hi"], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == HOSTILE.encode() + b"\n"


def test_terminal_answer_has_no_live_control_sequences(config):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "archon.cli", "run", config, "hi"],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "200"},
    )
    os.close(follower)
    data = b""
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not piece:
            break
        data += piece
    proc.wait(timeout=120)
    os.close(leader)
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    # The answer is there, its escapes shown rather than acted on; newlines and tabs kept.
    assert "safe\\x1b]52;c;ZXZpbA==\\x07 text" in text
    assert "\\x9b31m end" in text and "\ttab\nline" in text
    assert "\x1b]" not in text and "\x07" not in text and "\x9b" not in text
