"""Helpers of the search tests."""

from __future__ import annotations

import sys

from archon.testing.simulated import SimulatedPool


def http_models(srv, pool: SimulatedPool) -> list[dict]:
    return [{"model": m.name, "model_type": "OpenAI_API", "base_url": srv.base_url} for m in pool.models]


def samples_served(srv) -> int:
    """LLM calls the test double answered (a request for n samples counts n)."""
    return sum(int(r.body.get("n") or 1) for r in srv.requests if r.path.rstrip("/").endswith("chat/completions"))


def search_command(space, data, out, *, benchmark: str = "gsm8k") -> list[str]:
    """``archon search`` run as a user runs it, without its options."""
    return [
        sys.executable,
        "-m",
        "archon.cli",
        "search",
        str(space),
        "--benchmark",
        benchmark,
        "--data",
        str(data),
        "--out",
        str(out),
    ]
