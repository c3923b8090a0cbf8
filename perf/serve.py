"""``archon serve`` under load: 200 concurrent OpenAI SDK clients, half streaming, against a
3-layer architecture whose upstream (the HTTP test double) answers every call after L seconds.

The architecture's critical path is 3·L (layer 1: three generators, layer 2: two fusers,
layer 3: one fuser, each layer's calls at once). Prints
  p50 / p99 latency over the critical path          targets <= 1.05 / <= 1.20
  time to first token (streaming) over its bound 3·L  target  <= 1.10 (p50; p99 shown)
  server CPU time per request, and the server's own view of its latency (from /metrics),
  which tells the server's share of the overhead from the clients'.

Arrivals:
  steady (default)  every client sends its requests one after another, ``--rounds`` of them;
                    clients start at independent, uniformly random times within the first
                    critical path, so ``--clients`` requests are in flight at any time, arriving
                    spread out as independent users' do.
  burst             rounds of ``--clients`` requests sent in the same instant, the next round
                    once all are answered: the lockstep worst case, where every layer's replies
                    of all requests arrive together and wait for the CPU in one queue.
The upstream double (its asyncio face, archon.testing.load_double: the threaded one spends more
CPU on its threads than the server under test), the server and the clients run in processes of
their own; the CPU of each is reported apart, with the machine's load.
Usage: python perf/serve.py [--latency 0.5] [--clients 200] [--rounds 5] [--arrivals steady|burst]
    [--threaded-double]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families


def architecture(base_url: str) -> dict:
    def c(type: str, model: str) -> dict:
        return {"type": type, "model_type": "vLLM", "model": model, "base_url": base_url, "max_tokens": 64}

    return {
        "name": "three-layers",
        "layers": [
            [c("generator", "g1"), c("generator", "g2"), c("generator", "g3")],
            [c("fuser", "f1"), c("fuser", "f2")],
            [c("fuser", "final")],
        ],
    }


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(url: str) -> tuple[float, float]:
    """Seconds the server spent on requests, and how many, by its own /metrics."""
    total = count = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        if family.name == "archon_request_latency_seconds":
            for sample in family.samples:
                if sample.name.endswith("_sum"):
                    total += sample.value
                elif sample.name.endswith("_count"):
                    count += sample.value
    return total, count


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def one(client: openai.AsyncOpenAI, i: int, stream: bool) -> tuple[float, float | None]:
    t0 = time.perf_counter()
    messages = [{"role": "user", "content": f"question number {i} about the load"}]
    if not stream:
        await client.chat.completions.create(model="three-layers", messages=messages)
        return time.perf_counter() - t0, None
    first = None
    async for chunk in await client.chat.completions.create(model="three-layers", messages=messages, stream=True):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - t0
    return time.perf_counter() - t0, first


async def load(
    base_url: str, clients: int, rounds: int, arrivals: str = "burst", spread: float = 0.0
) -> tuple[list[float], list[float]]:
    client = openai.AsyncOpenAI(
        base_url=base_url,
        api_key="unused",
        max_retries=0,
        timeout=120,
        http_client=openai.DefaultAsyncHttpxClient(
            limits=httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients)
        ),
    )
    latencies: list[float] = []
    firsts: list[float] = []

    def record(total: float, first: float | None) -> None:
        latencies.append(total)
        if first is not None:
            firsts.append(first)

    if arrivals == "burst":
        for _ in range(rounds):
            for total, first in await asyncio.gather(*(one(client, i, i % 2 == 0) for i in range(clients))):
                record(total, first)
    else:
        starts = random.Random(0)

        async def user(i: int, start: float) -> None:
            await asyncio.sleep(start)
            for _ in range(rounds):
                record(*await one(client, i, i % 2 == 0))

        await asyncio.gather(*(user(i, starts.uniform(0, spread)) for i in range(clients)))
    await client.close()
    return latencies, firsts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5, help="requests per client")
    ap.add_argument("--arrivals", choices=["steady", "burst"], default="steady")
    ap.add_argument("--threaded-double", action="store_true", help="upstream: the threaded test double")
    args = ap.parse_args()
    double = "archon.testing.fake_openai" if args.threaded_double else "archon.testing.load_double"
    fake = subprocess.Popen(
        [sys.executable, "-m", double, "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True
    )
    upstream = fake.stdout.readline().strip()
    folder = tempfile.mkdtemp()
    with open(f"{folder}/three-layers.json", "w") as fh:
        json.dump(architecture(upstream), fh)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "ARCHON_SERVER_API_KEYS"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "archon.cli",
            "serve",
            f"{folder}/three-layers.json",
            "--port",
            str(port),
            "--max-concurrent-queries",
            str(args.clients),
            "--concurrency",
            f"vLLM={args.clients * 4}",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(load(f"{url}/v1", 20, 1))  # warm up: imports, connections
        served0 = served(url)
        cpu0, up0, me0, t0 = (
            cpu_seconds(server.pid),
            cpu_seconds(fake.pid),
            cpu_seconds(os.getpid()),
            time.perf_counter(),
        )
        latencies, firsts = asyncio.run(
            load(f"{url}/v1", args.clients, args.rounds, args.arrivals, spread=3 * args.latency)
        )
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(server.pid) - cpu0
        up_cpu, me_cpu = cpu_seconds(fake.pid) - up0, cpu_seconds(os.getpid()) - me0
        served1 = served(url)
    finally:
        server.terminate()
        server.wait()
        fake.terminate()
        fake.wait()
    path = 3 * args.latency
    print(
        f"{args.clients} concurrent clients (half streaming), {args.rounds} requests each, {args.arrivals} arrivals, "
        f"upstream latency L={args.latency}s, critical path 3L={path:.2f}s"
    )

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    p50, p99 = statistics.median(latencies) / path, percentile(latencies, 0.99) / path
    first50, first99 = statistics.median(firsts) / path, percentile(firsts, 0.99) / path
    print(f"p50 latency / critical path: {p50:.3f}   (target <= 1.05: {verdict(p50 <= 1.05)})")
    print(f"p99 latency / critical path: {p99:.3f}   (target <= 1.20: {verdict(p99 <= 1.20)})")
    print(
        f"time to first token / 3L:    p50 {first50:.3f} (target <= 1.10: {verdict(first50 <= 1.10)}), "
        f"p99 {first99:.3f}"
    )
    server_mean = (served1[0] - served0[0]) / max(1.0, served1[1] - served0[1])
    print(
        f"mean latency / critical path: {statistics.mean(latencies) / path:.3f} at the clients, "
        f"{server_mean / path:.3f} in the server (its /metrics)"
    )
    print(
        f"server CPU per request:      {1000 * cpu / len(latencies):.2f} ms "
        f"({len(latencies)} requests, 6 LLM calls each)"
    )
    print(
        f"CPU seconds over {wall:.2f}s of load on {os.cpu_count()} cores: server {cpu:.2f}, "
        f"upstream double {up_cpu:.2f}, clients {me_cpu:.2f}; machine load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
