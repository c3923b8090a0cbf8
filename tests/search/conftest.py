from __future__ import annotations

import pytest

from archon.testing.fake_openai import FakeOpenAIServer
from archon.testing.simulated import SimulatedPool, register


@pytest.fixture
def pool():
    """The simulated pool, answering as ``model_type: simulated`` in this process."""
    return register(SimulatedPool(n_models=4, n_items=40))


@pytest.fixture
def pool_server():
    """The simulated pool over HTTP: the OpenAI-compatible test double answering as the pool."""
    sim = SimulatedPool(n_models=4, n_items=40)
    with FakeOpenAIServer(responder=sim.responder) as srv:
        srv.pool = sim
        yield srv


def http_models(srv, pool: SimulatedPool) -> list[dict]:
    return [{"model": m.name, "model_type": "OpenAI_API", "base_url": srv.base_url} for m in pool.models]


def samples_served(srv) -> int:
    """LLM calls the test double answered (a request for n samples counts n)."""
    return sum(int(r.body.get("n") or 1) for r in srv.requests if r.path.rstrip("/").endswith("chat/completions"))
