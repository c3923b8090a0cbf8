from __future__ import annotations

from ._format import conversation_text, numbered
from .base import Component, Needs, Output, State, asks_per_reply
from .parsing import parse_ranking

# How many candidates a ranker keeps when its config names no top_k.
DEFAULT_RANKER_TOP_K = 5

RANKER_PROMPT = """Rank the {n} candidate responses below by how well they answer the query: correctness first, then helpfulness, completeness and clarity.{crit}

Query:
{query}

Candidates:

{candidates}

Reply with the ranking only, best first, using every index exactly once, in this form: {example}"""  # noqa: E501 - prompt text: one paragraph a line, sent as written


class Ranker(Component):
    """One list-wise ranking call; keeps the ``top_k`` best (critiques reordered to match).

    A ranking that does not parse is re-asked, then the current order is kept (recorded).
    """

    type = "ranker"
    solo = True
    layer = "later"
    one_type_per_layer = True
    passes_candidates_through = False
    extra_fields = frozenset()
    # The reference code's PairRM ranker's batch size; archon's ranker is an LLM.
    reference_fields = frozenset({"ranker_batch_size"})
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        # One candidate (or none) needs no ranking.
        return asks_per_reply(config, with_parse_retries) if n_candidates > 1 else 0

    @classmethod
    def candidates_out(cls, config, n_candidates):
        return min(n_candidates, config.top_k or DEFAULT_RANKER_TOP_K)

    @classmethod
    def needs(cls, config):
        return (Needs("critic", "earlier", "uses critiques"),) if config.use_critiques else ()

    async def run(self, ctx, state: State) -> Output:
        n = len(state.candidates)
        top_k = self.config.top_k or DEFAULT_RANKER_TOP_K
        if n <= 1:
            return Output(candidates=list(state.candidates), critiques=state.critiques)
        crits = state.critiques if self.config.use_critiques else None
        prompt = RANKER_PROMPT.format(
            n=n,
            crit=" Each candidate comes with a critique; use it." if crits else "",
            query=conversation_text(state.messages),
            candidates=numbered(state.candidates, crits),
            example=" > ".join(f"[{i}]" for i in [2, 1, 3, *range(4, n + 1)][:n]) if n >= 2 else "[1]",
        )
        order = await self.ask_until_parsed(
            ctx,
            [{"role": "user", "content": prompt}],
            lambda t: parse_ranking(t, n),
            what="ranking",
            fallback=lambda: list(range(n)),
        )
        keep = order[:top_k]
        critiques = [state.critiques[i] for i in keep] if state.critiques and len(state.critiques) == n else None
        return Output(candidates=[state.candidates[i] for i in keep], critiques=critiques, named={"ranking": order})
