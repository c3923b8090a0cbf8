"""Helpers of the search tests."""

from __future__ import annotations

from archon.testing.simulated import SimulatedPool


def http_models(srv, pool: SimulatedPool) -> list[dict]:
    return [{"model": m.name, "model_type": "OpenAI_API", "base_url": srv.base_url} for m in pool.models]


def samples_served(srv) -> int:
    """LLM calls the test double answered (a request for n samples counts n)."""
    return sum(int(r.body.get("n") or 1) for r in srv.requests if r.path.rstrip("/").endswith("chat/completions"))
