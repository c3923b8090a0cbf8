from __future__ import annotations

import pytest

from archon.testing.fake_openai import FakeOpenAIServer


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test touches the user's cache, keys or working directory."""
    monkeypatch.setenv("ARCHON_CACHE", str(tmp_path / "cache.sqlite"))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TOGETHER_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def comp(server):
    """Makes component configs that talk to the test double."""

    def make(type="generator", model="m", **kw):
        return {"type": type, "model": model, "model_type": "OpenAI_API", "base_url": server.base_url, **kw}

    return make
