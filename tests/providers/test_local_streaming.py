"""The embedded llama.cpp model, streamed for real (slow: loads the model, generates a few tokens)."""

from __future__ import annotations

import asyncio

import pytest

from archon import RetryPolicy
from archon.providers import ChatRequest, ChatResult, local
from archon.providers.base import stream_with_retries
from archon.providers.local import LocalProvider

pytestmark = pytest.mark.slow


def request(max_tokens=12, prompt="Count from one to ten in words."):
    return ChatRequest(
        model="", messages=[{"role": "user", "content": prompt}], temperature=0.0, max_tokens=max_tokens, seed=1
    )


async def test_the_local_model_streams_its_tokens_and_gives_the_same_text_as_chat():
    provider = LocalProvider()
    deltas, final = [], None
    async for event in stream_with_retries(provider, request(), RetryPolicy(timeout=300)):
        if isinstance(event, tuple):
            final = event
        else:
            deltas.append(event)
    result, _ = final
    assert len(deltas) > 1 and isinstance(result, ChatResult)
    assert "".join(deltas) == result.texts[0] and result.texts[0] == result.texts[0].strip()
    assert result.output_tokens >= len(deltas) and result.input_tokens > 0 and result.usage_estimated
    # The same seed and temperature 0 give the text a plain call gives.
    assert (await provider.chat(request())).texts == result.texts


async def test_a_stream_given_up_ends_its_generation_at_the_next_token():
    provider = LocalProvider()
    long = request(max_tokens=400, prompt="Write a very long story about a dragon and a knight.")
    stream = provider.stream(long)
    first = await anext(stream)
    assert isinstance(first, str) and first
    await stream.aclose()
    # Once the abandoned generation lets go of the model, the model has evaluated only a few
    # tokens past the prompt, not the 400 asked for.
    await asyncio.to_thread(local._lock.acquire)
    try:
        llm = next(iter(local._models.values()))
        prompt = len(llm.tokenize(long.messages[0]["content"].encode()))
        assert llm.n_tokens < prompt + 40
    finally:
        local._lock.release()
    # And the model serves the next call.
    assert (await provider.chat(request(max_tokens=4))).texts[0]
