"""Attack suite for config loading and the call cache: hostile files get a clear error (or, in the
cache, count as a miss), never a traceback, a hang or gigabytes of memory."""

from __future__ import annotations

import sqlite3

import pytest

from archon import Archon, RetryPolicy
from archon.cli import main
from archon.config import load_config
from archon.errors import ConfigError

# Nine levels of nine aliases: 387 bytes that expand to 9**9 (387 million) strings.
ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(97 + i)}: &{chr(97 + i)} [{','.join(['*' + chr(96 + i)] * 9)}]" for i in range(1, 9)]
    + ["layers: [[{type: generator, model_type: local, extra: *i}]]"]
)

HOSTILE = {
    "alias-bomb.yaml": (ALIAS_BOMB, "aliases expand to more than"),
    "recursive-alias.yaml": ("layers: &l [[{type: generator, loop: *l}]]\n", "refers to itself"),
    "deep.yaml": ("layers: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested more than"),
    "deep.json": ('{"layers": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than"),
    "shallow-but-deep.json": ('{"layers": ' + "[" * 500 + "]" * 500 + "}", "nested more than 100"),
    "long-int.json": ('{"layers": [[{"type": "generator", "max_tokens": ' + "9" * 5000 + "}]]}", "digits"),
    "long-int.yaml": ("layers: [[{type: generator, max_tokens: " + "9" * 5000 + "}]]\n", "digits"),
}


def test_the_alias_bomb_is_small():
    assert len(ALIAS_BOMB) < 450


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_config_is_a_clear_error(tmp_path, name):
    text, why = HOSTILE[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=why):
        load_config(path)
    with pytest.raises(ConfigError, match=why):
        load_config(text)


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize(
    "command",
    [["validate", "{cfg}"], ["run", "{cfg}", "hi"], ["bench", "{cfg}", "-b", "gsm8k", "-o", "run", "--no-progress"]],
)
def test_commands_refuse_a_hostile_config_without_a_traceback(tmp_path, capsys, name, command):
    text, why = HOSTILE[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    rc = main([a.replace("{cfg}", str(path)) for a in command])
    err = capsys.readouterr().err
    assert rc == 2 and why in err and "Traceback" not in err


def test_ordinary_aliases_still_load(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text(
        "gen: &gen {type: generator, model_type: local, max_tokens: 64}\n"
        "layers: [[*gen, *gen], [{type: fuser, model_type: local}]]\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert [c.type for c in config.layers[0]] == ["generator", "generator"]
    assert config.layers[0][0].max_tokens == 64


@pytest.mark.parametrize("bad", ["X'00ff'", "CAST(X'80ff' AS TEXT)"], ids=["blob", "not-utf8"])
def test_a_cache_row_of_the_wrong_type_is_a_miss(server, tmp_path, bad):
    cache = tmp_path / "calls.sqlite"
    cfg = {"layers": [[{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": server.base_url}]]}
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, timeout=5)
    with Archon(cfg, cache=cache, retry=policy) as a:
        first = a.generate("hi")
    with sqlite3.connect(cache) as db:
        db.execute(f"UPDATE calls SET text = {bad}")
    with Archon(cfg, cache=cache, retry=policy) as a:
        again = a.generate("hi")
    assert again == first and len(server.requests) == 2  # asked the model again
    with Archon(cfg, cache=cache, retry=policy) as a:
        assert a.generate("hi") == first and len(server.requests) == 2  # the fresh answer was cached
