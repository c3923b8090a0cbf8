from __future__ import annotations

import asyncio

from ._format import conversation_text
from .base import Component, Output, State, asks_per_reply
from .parsing import parse_verdict

REASONING_PROMPT = """Check whether the response below correctly and fully answers the query. Reason step by step about its claims, calculations and logic, and point out any error.

Query:
{query}

Response:
{candidate}"""  # noqa: E501 - prompt text: one paragraph a line, sent as written

VERDICT_PROMPT = """Given your analysis, is the response correct? Reply with exactly [Correct] or [Incorrect]."""


class Verifier(Component):
    """Two calls per candidate (reasoning, then verdict); keeps the candidates judged correct.

    If none is judged correct, all are kept (there is nothing better to pass on). A verdict that
    does not parse is re-asked, then the candidate is kept (recorded).
    """

    type = "verifier"
    solo = True
    layer = "later"
    one_type_per_layer = True
    passes_candidates_through = False
    extra_fields = frozenset()
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        # Per candidate: the reasoning, then a verdict that must parse.
        return n_candidates * (1 + asks_per_reply(config, with_parse_retries))

    @classmethod
    def candidates_out(cls, config, n_candidates):
        return n_candidates  # all of them when all are judged correct (or none is)

    async def _check(self, ctx, state: State, i: int, candidate: str) -> tuple[bool, str]:
        ask = [
            {
                "role": "user",
                "content": REASONING_PROMPT.format(query=conversation_text(state.messages), candidate=candidate),
            }
        ]
        reasoning = (await ctx.complete(ask, n=1, tag=f"reason{i}"))[0]
        verdict_msgs = [*ask, {"role": "assistant", "content": reasoning}, {"role": "user", "content": VERDICT_PROMPT}]
        verdict = await self.ask_until_parsed(
            ctx,
            verdict_msgs,
            parse_verdict,
            what=f"verdict for candidate {i + 1}",
            fallback=lambda: True,
            key=f"verdict{i}",
        )
        return verdict, reasoning

    async def run(self, ctx, state: State) -> Output:
        checks = await asyncio.gather(*(self._check(ctx, state, i, c) for i, c in enumerate(state.candidates)))
        verdicts = [ok for ok, _ in checks]
        keep = [i for i, ok in enumerate(verdicts) if ok] or list(range(len(state.candidates)))
        critiques = (
            [state.critiques[i] for i in keep] if state.critiques and len(state.critiques) == len(verdicts) else None
        )
        return Output(
            candidates=[state.candidates[i] for i in keep],
            critiques=critiques,
            named={"verdicts": verdicts, "verifier_reasoning": [r for _, r in checks]},
        )
