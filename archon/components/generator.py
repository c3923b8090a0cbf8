from __future__ import annotations

from ._format import latest_turn
from .base import Component, Output, State


class Generator(Component):
    """``samples`` answers to the conversation from one model (one request when the provider takes ``n``)."""

    type = "generator"
    layer = "first"
    one_type_per_layer = True
    passes_candidates_through = False
    extra_fields = frozenset()
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        return config.samples

    @classmethod
    def candidates_out(cls, config, n_candidates):
        return config.samples

    async def run(self, ctx, state: State) -> Output:
        texts = await ctx.complete(latest_turn(state.messages), n=self.config.samples)
        return Output(candidates=texts)
