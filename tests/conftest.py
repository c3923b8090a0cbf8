from __future__ import annotations

from contextlib import ExitStack

import pytest

import archon.benchmarks.builtin  # noqa: F401 - registered before any test, so no test's isolation undoes it
from archon.benchmarks.registry import benchmark_registry
from archon.components import component_registry, vote_key_registry
from archon.engine.pricing import price_registry
from archon.providers import provider_registry
from archon.registry import load_plugins
from archon.search import sampler_registry
from archon.testing.fake_openai import FakeOpenAIServer

load_plugins()
REGISTRIES = (
    component_registry,
    provider_registry,
    benchmark_registry,
    price_registry,
    vote_key_registry,
    sampler_registry,
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test touches the user's cache, keys or working directory."""
    monkeypatch.setenv("ARCHON_CACHE", str(tmp_path / "cache.sqlite"))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TOGETHER_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _registrations_do_not_leak():
    """What a test registers (components, providers, benchmarks, prices, vote keys) is gone after it."""
    with ExitStack() as stack:
        for registry in REGISTRIES:
            stack.enter_context(registry.isolated())
        yield


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
