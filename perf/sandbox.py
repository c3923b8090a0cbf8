"""How promptly the sandbox ends programs at their limits, and how runs overlap.

(a) a program sleeping past a 1 s wall-clock limit:  ended after / limit      target <= 3
(b) a program printing without end, 10 kB output cap: ended after             target <= 3 s
(c) three programs sleeping 1 s, side by side:        wall / 1 s              target <= 2.5
(d) a program whose children sleep on past its end:   ended after             target <= 5 s
(e) an endless loop with a 1 s CPU limit:             ended after             target <= 4 s
(The targets are the bounds the tests used to assert; the tests now check outcomes and overlap.)
Usage: python perf/sandbox.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from archon.sandbox import SandboxLimits, arun_python, isolation_mode, run_python
from archon.sandbox import run as sandbox_run


def timed(code: str, limits: SandboxLimits | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = run_python(code, limits=limits or SandboxLimits())
    return time.perf_counter() - t0, r.status


async def side_by_side(n: int) -> float:
    t0 = time.perf_counter()
    await asyncio.gather(*(arun_python("import time; time.sleep(1)") for _ in range(n)))
    return time.perf_counter() - t0


def main() -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    run_python("print(1)")  # warm-up: the isolation mode is probed once
    print(f"isolation mode: {isolation_mode()}")
    wall, status = timed("import time\ntime.sleep(30)", SandboxLimits(wall_seconds=1))
    print(f"(a) wall limit 1 s:     ended after {wall:.2f}s ({status})  (target <= 3 s: {verdict(wall <= 3)})")
    wall, status = timed("while True:\n    print('x' * 1000)", SandboxLimits(max_output_bytes=10_000, wall_seconds=5))
    print(f"(b) output cap 10 kB:   ended after {wall:.2f}s ({status})  (target <= 3 s: {verdict(wall <= 3)})")
    sandbox_run.MAX_CONCURRENT_RUNS = max(sandbox_run.MAX_CONCURRENT_RUNS, 3)
    wall = asyncio.run(side_by_side(3))
    print(f"(c) 3 x sleep 1 s:      wall {wall:.2f}s, ratio {wall:.2f}  (target <= 2.5: {verdict(wall <= 2.5)})")
    wall, status = timed("import os, time\nif os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)\nprint('done')")
    print(f"(d) children left over: ended after {wall:.2f}s ({status})  (target <= 5 s: {verdict(wall <= 5)})")
    wall, status = timed("while True:\n    pass", SandboxLimits(cpu_seconds=1, wall_seconds=3))
    print(f"(e) CPU limit 1 s:      ended after {wall:.2f}s ({status})  (target <= 4 s: {verdict(wall <= 4)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
