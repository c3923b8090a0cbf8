"""The README's Python API snippets run as written (their hosted models answered by the test double)."""

import re
from pathlib import Path

import pytest

from archon.providers import specs

ROOT = Path(__file__).parents[1]


def _python_api_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python API") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.mark.parametrize("which", ["sync", "async"])
def test_python_api_snippets_run_as_written(which, server, monkeypatch, capsys):
    blocks = [b for b in _python_api_blocks() if "add_component" not in b]  # that one: tests/cli/test_cli.py
    block = next(b for b in blocks if ("asyncio.run(" in b) == (which == "async"))
    for s in specs():
        if s.base_url_env and not s.extra:
            monkeypatch.setenv(s.base_url_env, server.base_url)
    monkeypatch.chdir(ROOT)  # the snippets name examples/ relative to the repository
    exec(compile(block, "README.md", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip()
    assert server.requests
