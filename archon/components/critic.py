from __future__ import annotations

from ._format import conversation_text, numbered
from .base import Component, Output, State, asks_per_reply
from .parsing import parse_critiques

CRITIC_PROMPT = """Critique each of the {n} candidate responses to the query below. For every candidate list its strengths and its weaknesses (errors, omissions, unclear parts), briefly and concretely.

Query:
{query}

Candidates:

{candidates}

Write exactly {n} sections, in order, each starting on its own line with the candidate's index in brackets:
[1]
Strengths: ...
Weaknesses: ...
"""  # noqa: E501 - prompt text: one paragraph a line, sent as written

NO_CRITIQUE = "(no critique available)"


class Critic(Component):
    """One call: strengths and weaknesses for every candidate. Candidates pass through unchanged."""

    type = "critic"
    solo = True
    layer = "later"
    one_type_per_layer = True
    extra_fields = frozenset()
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        return asks_per_reply(config, with_parse_retries) if n_candidates else 0

    async def run(self, ctx, state: State) -> Output:
        n = len(state.candidates)
        if n == 0:
            return Output(critiques=[])
        prompt = CRITIC_PROMPT.format(
            n=n, query=conversation_text(state.messages), candidates=numbered(state.candidates)
        )
        critiques = await self.ask_until_parsed(
            ctx,
            [{"role": "user", "content": prompt}],
            lambda t: parse_critiques(t, n),
            what="critique list",
            fallback=lambda: [NO_CRITIQUE] * n,
        )
        return Output(critiques=critiques)
