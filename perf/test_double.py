"""How many requests the HTTP test double serves at once (the tests and perf/latency.py lean on it).

128 connections, each one chat request, latency L = 0.5 s:  wall / L    target <= 5
Usage: python perf/test_double.py [--connections 128] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time

from archon.testing.fake_openai import FakeOpenAIServer


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=128)
    ap.add_argument("--latency", type=float, default=0.5)
    args = ap.parse_args()
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    codes: list[int] = []

    with FakeOpenAIServer(latency=args.latency) as server:

        def call() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            try:
                conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                codes.append(resp.status)
            finally:
                conn.close()

        threads = [threading.Thread(target=call) for _ in range(args.connections)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        peak = server.max_in_flight

    ratio = wall / args.latency
    ok = "ok" if ratio <= 5 and codes == [200] * args.connections else "MISSED"
    print(
        f"{args.connections} connections, latency {args.latency:g}s: wall {wall:.2f}s, ratio {ratio:.2f}, "
        f"{peak} in flight at once, {codes.count(200)} answered  (target <= 5: {ok})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
