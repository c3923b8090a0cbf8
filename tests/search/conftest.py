from __future__ import annotations

import pytest

from archon.testing.fake_openai import FakeOpenAIServer
from archon.testing.simulated import SimulatedPool, register


@pytest.fixture
def pool():
    """The simulated pool, answering as ``model_type: simulated`` in this process (for this test only:
    the suite's conftest undoes every registration after each test)."""
    return register(SimulatedPool(n_models=4, n_items=40))


@pytest.fixture
def pool_server():
    """The simulated pool over HTTP: the OpenAI-compatible test double answering as the pool."""
    sim = SimulatedPool(n_models=4, n_items=40)
    with FakeOpenAIServer(responder=sim.responder) as srv:
        srv.pool = sim
        yield srv
