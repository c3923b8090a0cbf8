from __future__ import annotations

from ._format import latest_turn, numbered
from .base import Component, Needs, Output, State

FUSER_SYSTEM = """You are given several candidate responses to the user's new message{crit}.
Combine them into one response of higher quality than any of them: keep what is correct and useful, fix or drop what is wrong, and resolve disagreements by reasoning about which claim is right. Do not mention the candidates or that you combined anything; answer the user directly.{length}

Candidate responses:

{candidates}"""  # noqa: E501 - prompt text: one paragraph a line, sent as written


class Fuser(Component):
    """Fuses the candidates (and critiques, when ``use_critiques``) into one answer per sample."""

    type = "fuser"
    layer = "later"
    one_type_per_layer = True
    passes_candidates_through = False
    extra_fields = frozenset()
    # Unused by the reference code itself.
    reference_fields = frozenset({"top_k_generations"})
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        return config.samples  # with no candidates it answers the conversation: the same calls

    @classmethod
    def candidates_out(cls, config, n_candidates):
        return config.samples

    @classmethod
    def needs(cls, config):
        return (Needs("critic", "earlier", "uses critiques"),) if config.use_critiques else ()

    async def run(self, ctx, state: State) -> Output:
        if not state.candidates:
            texts = await ctx.complete(latest_turn(state.messages), n=self.config.samples)
            ctx.fallback("no candidates to fuse; answered the conversation directly")
            return Output(candidates=texts)
        cands = state.candidates[: self.config.first_k] if self.config.first_k else state.candidates
        crits = state.critiques[: len(cands)] if self.config.use_critiques and state.critiques else None
        length = ""
        if self.config.length_control:
            words = sorted(len(c.split()) for c in cands)
            length = (
                f" Keep your response about as long as a typical candidate "
                f"(around {words[len(words) // 2]} words) or shorter."
            )
        system = FUSER_SYSTEM.format(
            crit=", each followed by a critique of its strengths and weaknesses" if crits else "",
            length=length,
            candidates=numbered(cands, crits),
        )
        texts = await ctx.complete(latest_turn(state.messages, system), n=self.config.samples)
        return Output(candidates=texts)
