from __future__ import annotations

from .base import Component, Output, State


class Generator(Component):
    """``samples`` answers to the conversation from one model (one request when the provider takes ``n``)."""

    type = "generator"

    async def run(self, ctx, state: State) -> Output:
        texts = await ctx.complete(state.messages, n=self.config.samples)
        return Output(candidates=texts)
