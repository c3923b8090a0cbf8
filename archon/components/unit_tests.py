from __future__ import annotations

import asyncio

from ..sandbox import ajudge_asserts, called_names, extract_code
from ._format import conversation_text
from .base import Component, Needs, Output, State, asks_per_reply
from .parsing import parse_test_results, parse_unit_tests

DEFAULT_TEST_COUNT = 5

TEXT_TESTS_PROMPT = """Write {k} unit tests that a correct, complete answer to the query below must pass. Each test is one concrete, checkable requirement on the answer.

Query:
{query}

Write one test per line, in the form:
Test 1: ...
Test 2: ..."""  # noqa: E501 - prompt text: one paragraph a line, sent as written

CODE_TESTS_PROMPT = """Write {k} unit tests for a correct solution to the programming task below, as Python assert statements that call the required function(s) with concrete inputs and check the outputs. Cover ordinary cases and edge cases.

Task:
{query}

Write one assert statement per line, in the form:
Test 1: assert f(1) == 2
Test 2: ..."""  # noqa: E501 - prompt text: one paragraph a line, sent as written

EVALUATE_PROMPT = """Decide for each unit test whether the response below passes it.

Query:
{query}

Response:
{candidate}

Unit tests:
{tests}

For each test, in order, write its number and then [Pass] or [Fail], one per line, e.g. "Test 1: [Pass]"."""


class UnitTestGenerator(Component):
    """One call: unit tests for the query (natural language, or Python asserts for ``evaluation: execute``)."""

    type = "unit_test_generator"
    solo = True
    layer = "later"
    one_type_per_layer = True
    extra_fields = frozenset()
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        return asks_per_reply(config, with_parse_retries)

    @classmethod
    def needs(cls, config):
        return (Needs("unit_test_evaluator", "next"),)

    async def run(self, ctx, state: State) -> Output:
        cap = self.config.unit_test_cap or DEFAULT_TEST_COUNT
        template = CODE_TESTS_PROMPT if self.config.evaluation == "execute" else TEXT_TESTS_PROMPT
        prompt = template.format(k=cap, query=conversation_text(state.messages))
        tests = await self.ask_until_parsed(
            ctx,
            [{"role": "user", "content": prompt}],
            lambda t: parse_unit_tests(t, cap),
            what="unit test list",
            fallback=list[str],
        )
        return Output(unit_tests=tests)


class UnitTestEvaluator(Component):
    """Ranks candidates by unit tests passed; keeps the ``top_k`` best, or (no top_k) those passing all.

    ``evaluation: llm`` asks a model to judge each candidate against the tests (one call each, as in
    the paper); ``evaluation: execute`` runs each candidate's code with the asserts in the sandbox.
    """

    type = "unit_test_evaluator"
    solo = True
    layer = "later"
    one_type_per_layer = True
    passes_candidates_through = False
    extra_fields = frozenset()
    # The reference code's switch that cuts "Your response should pass the following unit tests:" off
    # the query; no archon prompt holds that sentence.
    reference_fields = frozenset({"remove_unit_tests_from_prompt"})
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        # With tests to judge by (none: no call): one judgement per candidate, or a sandboxed run (no call).
        return n_candidates * asks_per_reply(config, with_parse_retries) if config.evaluation == "llm" else 0

    @classmethod
    def candidates_out(cls, config, n_candidates):
        return min(n_candidates, config.top_k or n_candidates)  # no top_k: those passing all, or all

    @classmethod
    def needs(cls, config):
        return (Needs("unit_test_generator", "previous"),)

    async def _llm_passes(self, ctx, state: State, i: int, candidate: str, tests: list[str]) -> int:
        prompt = EVALUATE_PROMPT.format(
            query=conversation_text(state.messages),
            candidate=candidate,
            tests="\n".join(f"Test {k}: {t}" for k, t in enumerate(tests, 1)),
        )
        results = await self.ask_until_parsed(
            ctx,
            [{"role": "user", "content": prompt}],
            lambda t: parse_test_results(t, len(tests)),
            what=f"test results for candidate {i + 1}",
            fallback=lambda: [False] * len(tests),
            key=f"cand{i}",
        )
        return sum(results)

    async def _executed_passes(self, candidate: str, tests: list[str]) -> int:
        # The candidate's code and the asserts run in separate sandboxed processes, and only plain data
        # (the functions' results) crosses: nothing the candidate prints or returns can forge a pass.
        verdict = await ajudge_asserts(extract_code(candidate), tests, called_names(tests))
        return sum(verdict.passed)

    async def run(self, ctx, state: State) -> Output:
        tests = state.unit_tests or []
        n = len(state.candidates)
        if not tests or n == 0:
            if not tests:
                ctx.fallback("no unit tests to evaluate with; candidates kept in order")
            k = self.config.top_k or n
            return Output(candidates=state.candidates[:k], critiques=state.critiques[:k] if state.critiques else None)
        if self.config.evaluation == "execute":
            passes = await asyncio.gather(*(self._executed_passes(c, tests) for c in state.candidates))
        else:
            passes = await asyncio.gather(
                *(self._llm_passes(ctx, state, i, c, tests) for i, c in enumerate(state.candidates))
            )
        order = sorted(range(n), key=lambda i: -passes[i])  # stable: ties keep their order
        if self.config.top_k:
            keep = order[: self.config.top_k]
        else:
            keep = [i for i in order if passes[i] == len(tests)] or order
        critiques = [state.critiques[i] for i in keep] if state.critiques and len(state.critiques) == n else None
        return Output(
            candidates=[state.candidates[i] for i in keep],
            critiques=critiques,
            named={"unit_test_passes": list(passes)},
        )
