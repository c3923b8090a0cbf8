from __future__ import annotations

import pytest

from archon.testing.fake_openai import FakeOpenAIServer
from archon.testing.simulated import SimulatedPool, register


@pytest.fixture
def pool(monkeypatch):
    """The simulated pool, answering as ``model_type: simulated`` in this process (for this test only)."""
    from archon.providers import registry

    monkeypatch.setattr(registry, "_SPECS", dict(registry._SPECS))
    monkeypatch.setattr(registry, "_ALIASES", dict(registry._ALIASES))
    return register(SimulatedPool(n_models=4, n_items=40))


@pytest.fixture
def pool_server():
    """The simulated pool over HTTP: the OpenAI-compatible test double answering as the pool."""
    sim = SimulatedPool(n_models=4, n_items=40)
    with FakeOpenAIServer(responder=sim.responder) as srv:
        srv.pool = sim
        yield srv
