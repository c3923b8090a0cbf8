"""Seconds per HumanEval item to score an answer: the judged design against one process.

"one process" is the scoring before the judged design: the answer's code, the tests and a completion
marker in one sandboxed program (forgeable by the answer). "judged" is
:func:`archon.sandbox.ajudge_asserts` as HumanEval uses it: the judge and the candidate in separate
sandboxed processes, plain data between them (usually three runs). Both score the canonical solutions
(each must pass) one item at a time, then all items with the sandbox's default concurrency.

Usage: python perf/humaneval_scoring.py [--items 164]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time

from archon.benchmarks.base import ScoringContext
from archon.benchmarks.code import HumanEval
from archon.sandbox import arun_python, isolation_mode


async def one_process(bench: HumanEval, item, answer: str) -> bool:
    ref = item.reference
    marker = f"archon-tests-done-{secrets.token_hex(16)}"
    program = (
        f"{bench.solution(item, answer)}\n\n{ref['test']}\n\ncheck({ref['entry_point']})\n\n"
        f"import os as _archon_os\n_archon_os.write(1, b'\\n{marker}\\n')\n"
    )
    r = await arun_python(program, limits=bench.limits)
    return r.passed and marker in r.stdout


async def judged(bench: HumanEval, item, answer: str) -> bool:
    return (await bench.score(item, [answer], ScoringContext())).value == 1.0


async def measure(name, score, bench, items) -> None:
    answers = [i.metadata["canonical_solution"] for i in items]
    start = time.perf_counter()
    passed = [await score(bench, i, a) for i, a in zip(items, answers)]
    serial = (time.perf_counter() - start) / len(items)
    start = time.perf_counter()
    together = await asyncio.gather(*(score(bench, i, a) for i, a in zip(items, answers)))
    parallel = (time.perf_counter() - start) / len(items)
    failed = [i.id for i, ok in zip(items, passed) if not ok]
    print(
        f"{name:12s} {sum(passed)}/{len(items)} canonical pass ({sum(together)} in parallel); "
        f"{serial:.3f} s/item one at a time, {parallel:.3f} s/item in parallel"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=164)
    args = parser.parse_args()
    bench = HumanEval()
    items = bench.load(None)[: args.items]
    print(f"sandbox: {isolation_mode()}")
    await measure("one process", one_process, bench, items)
    await measure("judged", judged, bench, items)


if __name__ == "__main__":
    asyncio.run(main())
