"""A served query leaves no reference cycles of archon's: reference counting frees it as soon as
it is answered. A busy server pays for every pass of the cyclic collector over the queries in
flight (``archon.server.models.GC_YOUNG_THRESHOLD``), so what archon leaves for it is a cost.

The check runs in a process of its own, so that nothing other tests left behind is counted."""

from __future__ import annotations

import json
import subprocess
import sys

CHECK = r'''
import asyncio, gc, json, sys
from collections import Counter

import httpx

from archon.engine import Archon
from archon.server.app import create_app


def archon_objects(objects):
    """archon's among ``objects``: its classes' instances, its functions and closures, its
    coroutines' and generators' frames."""
    found = Counter()
    for o in objects:
        code = getattr(o, "f_code", None) or getattr(o, "__code__", None)
        if code is not None and "/archon/" in code.co_filename:
            found[f"{type(o).__name__} {code.co_name}"] += 1
        elif type(o).__module__.startswith("archon."):
            found[type(o).__qualname__] += 1
    return found


async def main(config):
    app = create_app({"moa": Archon(config, cache=False)})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://archon") as client:

        async def ask(stream):
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
        for _ in range(3):
            await ask(False)
            await ask(True)
        gc.collect()
        print(json.dumps(archon_objects(gc.garbage)))


asyncio.run(main(json.loads(sys.argv[1])))
'''


def test_answered_queries_leave_no_reference_cycles(upstream, h):
    done = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(h.config(upstream.base_url))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    left = json.loads(done.stdout.strip().splitlines()[-1])
    assert not left, f"objects only the cyclic collector would free: {left}"
