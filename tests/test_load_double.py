"""The test double's asyncio face (for load benchmarks) answers as the threaded one does."""

from __future__ import annotations

from aiohttp.test_utils import TestServer

from archon import RetryPolicy
from archon.providers import ChatRequest
from archon.providers.base import chat_with_retries, stream_with_retries
from archon.providers.openai_compat import OpenAICompatibleProvider
from archon.testing.fake_openai import default_responder
from archon.testing.load_double import make_app


async def test_the_load_double_answers_whole_and_streamed():
    server = TestServer(make_app(latency=0.0))
    await server.start_server()
    provider = OpenAICompatibleProvider(
        name="vLLM", base_url=str(server.make_url("/v1")), api_keys=[], key_required=False
    )
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "say something long enough"}])
    expected = default_responder({"model": "m", "messages": request.messages})[0]
    try:
        result, _ = await chat_with_retries(provider, request, RetryPolicy())
        assert result.texts == [expected] and result.input_tokens == 4 and not result.usage_estimated
        events = [e async for e in stream_with_retries(provider, request, RetryPolicy())]
        deltas, (streamed, _) = events[:-1], events[-1]
        assert len(deltas) > 1 and "".join(deltas) == expected and streamed.texts == [expected]
        assert streamed.output_tokens == len(expected.split())
    finally:
        await provider.aclose()
        await server.close()
