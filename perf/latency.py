"""Engine overhead against the OpenAI-compatible test double with a fixed latency L.

(a) one query through a 3-layer architecture (5 generator calls, 2 fusers, 1 fuser):
    wall time / critical path 3·L                       target <= 1.10
(b) 200 such queries with at most 64 calls in flight:
    wall time / max(3·L, calls·L/64)                    target <= 1.15
plus engine CPU time per LLM call (target <= 2 ms) and peak memory of the batch (target <= 200 MB).

The test double runs in its own process, so its CPU time is not counted.
Usage: python perf/latency.py [--latency 0.2] [--queries 200] [--in-flight 64] [--cache]

``--cache`` runs with a fresh SQLite call cache (the default for batches), so its cost is counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from archon import Archon


def architecture(base_url: str) -> dict:
    def c(type: str, model: str) -> dict:
        return {"type": type, "model": model, "model_type": "OpenAI_API", "base_url": base_url, "max_tokens": 256}

    return {
        "name": "bench-3-layer",
        "layers": [
            [c("generator", f"gen-{i}") for i in range(5)],
            [c("fuser", "fuser-a"), c("fuser", "fuser-b")],
            [c("fuser", "final")],
        ],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--in-flight", type=int, default=64)
    ap.add_argument("--cache", action="store_true", help="with a fresh SQLite call cache, as batches have by default")
    args = ap.parse_args()
    L = args.latency

    server = subprocess.Popen(
        [sys.executable, "-m", "archon.testing.fake_openai", "--port", "0", "--latency", str(L)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()
        cfg = architecture(base_url)
        calls_per_query = 8

        async def run(cache) -> dict:
            archon = Archon(cfg, cache=cache, concurrency={"OpenAI_API": args.in_flight})
            await archon.arun("warm-up: open connections")
            t0 = time.perf_counter()
            one = await archon.arun("a single question")
            single_wall = time.perf_counter() - t0
            assert one.trace.usage.calls == calls_per_query

            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            cpu0, t0 = time.process_time(), time.perf_counter()
            results = await archon.arun_batch([f"question {i}" for i in range(args.queries)])
            batch_wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            await archon.aclose()
            calls = sum(r.trace.usage.new_calls for r in results)
            assert calls == calls_per_query * args.queries and all(r.answer for r in results)
            return {
                "single_wall": single_wall,
                "batch_wall": batch_wall,
                "cpu": cpu,
                "calls": calls,
                "rss_before": rss_before,
                "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }

        with tempfile.TemporaryDirectory() as tmp:
            m = asyncio.run(run(Path(tmp) / "calls.sqlite" if args.cache else False))
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()

    bound_a = 3 * L
    bound_b = max(3 * L, m["calls"] * L / args.in_flight)
    ratio_a = m["single_wall"] / bound_a
    ratio_b = m["batch_wall"] / bound_b
    cpu_ms = 1000 * m["cpu"] / m["calls"]
    peak_mb = m["rss_peak"] / 1024

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(
        f"latency L = {L:g}s, {args.queries} queries x {calls_per_query} calls, {args.in_flight} calls in flight, "
        f"call cache {'on' if args.cache else 'off'}"
    )
    print(
        f"(a) one query:   wall {m['single_wall']:.3f}s / critical path {bound_a:.3f}s = {ratio_a:.3f}  (target <= 1.10: {verdict(ratio_a <= 1.10)})"
    )
    print(
        f"(b) batch:       wall {m['batch_wall']:.3f}s / lower bound {bound_b:.3f}s = {ratio_b:.3f}  (target <= 1.15: {verdict(ratio_b <= 1.15)})"
    )
    print(f"engine CPU per LLM call: {cpu_ms:.2f} ms  (target <= 2 ms: {verdict(cpu_ms <= 2)})")
    print(
        f"peak memory (RSS) through the batch: {peak_mb:.0f} MB, {m['rss_before'] / 1024:.0f} MB before it  (target <= 200 MB: {verdict(peak_mb <= 200)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
