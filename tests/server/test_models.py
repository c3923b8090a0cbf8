"""What ``archon serve`` serves: each config a model named by its ``name`` (else its file's stem),
a search run folder its ``best.json``; every model on one set of per-provider caps."""

from __future__ import annotations

import json

import httpx
import pytest

from archon.errors import ConfigError
from archon.server.app import create_app
from archon.server.models import load_models

from .conftest import moa_config


def _write(path, cfg):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg))
    return path


async def test_models_are_named_by_name_else_stem_and_a_search_folder_serves_its_best(upstream, tmp_path):
    named = _write(tmp_path / "a.json", moa_config(upstream.base_url, name="fused"))
    unnamed_cfg = moa_config(upstream.base_url)
    del unnamed_cfg["name"]
    unnamed = _write(tmp_path / "plain-moa.json", unnamed_cfg)
    run = tmp_path / "search-run"
    _write(run / "best.json", moa_config(upstream.base_url, name="search-g2-s1-f1"))
    _write(run / "trials" / "0001" / "config.json", moa_config(upstream.base_url, name="worse"))

    models = load_models([named, unnamed, run])

    assert list(models) == ["fused", "plain-moa", "search-g2-s1-f1"]
    assert len({id(m.runtime) for m in models.values()}) == 1  # one set of caps and connections
    transport = httpx.ASGITransport(app=create_app(models))
    async with httpx.AsyncClient(transport=transport, base_url="http://archon") as client:
        listed = (await client.get("/v1/models")).json()
        assert [m["id"] for m in listed["data"]] == list(models)
        r = await client.post(
            "/v1/chat/completions",
            json={"model": "search-g2-s1-f1", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "search-g2-s1-f1"


def test_a_best_json_without_a_name_is_named_after_its_folder(upstream, tmp_path):
    cfg = moa_config(upstream.base_url)
    del cfg["name"]
    _write(tmp_path / "maths-run" / "best.json", cfg)
    assert list(load_models([tmp_path / "maths-run"])) == ["maths-run"]


def test_a_folder_without_best_json_and_two_models_of_one_name_are_errors(upstream, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"best\.json"):
        load_models([tmp_path / "empty"])
    a = _write(tmp_path / "a.json", moa_config(upstream.base_url, name="same"))
    b = _write(tmp_path / "b.json", moa_config(upstream.base_url, name="same"))
    with pytest.raises(ConfigError, match="'same'"):
        load_models([a, b])
