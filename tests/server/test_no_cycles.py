"""A served query leaves no reference cycles of archon's: reference counting frees it as soon as
it is answered. A busy server pays for every pass of the cyclic collector over the queries in
flight (``archon.server.models.GC_YOUNG_THRESHOLD``), so what archon leaves for it is a cost."""

from __future__ import annotations

import gc
from collections import Counter

import httpx

from archon.engine import Archon
from archon.server.app import create_app

from .conftest import moa_config


def _archon_objects(objects: list[object]) -> Counter[str]:
    """The objects of archon's code among ``objects``: its classes' instances, its functions and
    closures, its coroutines' and generators' frames."""
    found: Counter[str] = Counter()
    for o in objects:
        code = getattr(o, "f_code", None) or getattr(o, "__code__", None)
        if code is not None and "/archon/" in code.co_filename and "/testing/" not in code.co_filename:
            found[f"{type(o).__name__} {code.co_name}"] += 1
        elif type(o).__module__.startswith("archon."):
            found[type(o).__qualname__] += 1
    return found


async def test_answered_queries_leave_no_reference_cycles(upstream):
    app = create_app({"moa": Archon(moa_config(upstream.base_url), cache=False)})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://archon") as client:

        async def ask(stream: bool) -> None:
            body = {"model": "moa", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
            if stream:
                body["stream_options"] = {"include_usage": True}
            r = await client.post("/v1/chat/completions", json=body)
            assert r.status_code == 200, r.text

        await ask(False)  # first use: connections, imports
        await ask(True)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage, to look at
        try:
            for _ in range(3):
                await ask(False)
                await ask(True)
            gc.collect()
            left = _archon_objects(gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert not left, f"objects only the cyclic collector would free: {dict(left)}"
