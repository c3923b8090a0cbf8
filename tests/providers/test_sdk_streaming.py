"""Streaming through the Anthropic, Google and Bedrock SDKs, against the HTTP test double speaking
each API's own streaming form (Anthropic SSE events, Gemini ``streamGenerateContent?alt=sse``,
Bedrock ``converse-stream`` in the AWS event-stream framing, decoded by botocore)."""

from __future__ import annotations

import time

import pytest

from archon import ProviderError, RetryPolicy
from archon.providers import ChatRequest, ChatResult
from archon.providers.base import StreamBroken, stream_with_retries
from archon.providers.keys import KeyStore
from archon.testing.fake_openai import Behaviour

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=20.0)
ANSWER = "the answer comes in eight pieces one by one"
KEY = "sk-ant-test-key-123456"


def anthropic(server):
    from archon.providers.sdk import AnthropicProvider

    return AnthropicProvider([KEY], base_url=server.url)


def google(server):
    from archon.providers.sdk import GoogleProvider

    return GoogleProvider([KEY], base_url=server.url)


def bedrock(server):
    from archon.providers.sdk import BedrockProvider

    keys = KeyStore(
        {
            "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake-secret-do-not-leak",
            "AWS_REGION": "us-east-1",
        },
        env_file=None,
    )
    return BedrockProvider(keys, base_url=server.url)


SDKS = {
    "anthropic": ("anthropic", anthropic, "/v1/messages"),
    "google": ("google.genai", google, ":streamGenerateContent"),
    "bedrock": ("boto3", bedrock, "/converse-stream"),
}


@pytest.fixture(params=list(SDKS))
async def sdk(request, server):
    module, make, path = SDKS[request.param]
    pytest.importorskip(module)
    provider = make(server)
    yield provider, path
    await provider.aclose()


def chat(model="m"):
    return ChatRequest(
        model=model,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "say it"}],
        max_tokens=50,
    )


async def collect(provider, request, policy=FAST):
    """The deltas, when each arrived, and the final (result, attempts)."""
    deltas, arrived, final = [], [], None
    async for event in stream_with_retries(provider, request, policy):
        if isinstance(event, tuple):
            final = event
        else:
            deltas.append(event)
            arrived.append(time.monotonic())
    return deltas, arrived, final


async def test_tokens_arrive_as_the_model_produces_them(server, sdk):
    provider, path = sdk
    server.responder = lambda body: ANSWER
    server.token_delay = 0.05
    deltas, arrived, (result, attempts) = await collect(provider, chat())
    sent = server.requests[-1]
    assert sent.path.endswith(path) and sent.body["stream"] is True
    assert sent.body["messages"][0] == {"role": "system", "content": "be brief"}
    # Several deltas, the first of them received before the double sent its last token.
    assert len(deltas) > 1 and arrived[0] < sent.token_times[-1]
    assert "".join(deltas) == ANSWER and isinstance(result, ChatResult) and result.texts == [ANSWER]
    assert attempts == 1
    # The usage the server reported in the stream (the double counts words), not an estimate.
    assert (result.input_tokens, result.output_tokens) == (4, 9) and not result.usage_estimated


async def test_a_stream_that_fails_before_its_first_token_is_retried(server, sdk):
    provider, _ = sdk
    server.responder = lambda body: ANSWER
    server.enqueue(Behaviour(fail_after_tokens=0), Behaviour(status=503))
    deltas, _, (result, attempts) = await collect(provider, chat())
    assert "".join(deltas) == ANSWER and result.texts == [ANSWER]
    assert attempts == 3 and server.outcomes() == ["failed", "done", "done"]


async def test_a_stream_that_fails_after_its_first_token_is_an_error_not_a_short_answer(server, sdk):
    provider, _ = sdk
    server.responder = lambda body: ANSWER
    server.enqueue(Behaviour(fail_after_tokens=3))
    deltas = []
    with pytest.raises(StreamBroken, match="stream broke after"):
        async for event in stream_with_retries(provider, chat(), FAST):
            assert not isinstance(event, tuple), "a cut stream must not end with a result"
            deltas.append(event)
    assert 0 < len("".join(deltas)) < len(ANSWER)
    assert len(server.requests) == 1  # not retried: what was sent cannot be taken back


async def test_an_error_status_before_the_stream_is_clear_and_keyless(server, sdk):
    provider, _ = sdk
    server.enqueue(*[Behaviour(status=400)] * 3)
    with pytest.raises(ProviderError) as e:
        await collect(provider, chat())
    assert "HTTP 400" in str(e.value) and e.value.attempts == 1
    assert KEY not in str(e.value) and "fake-secret" not in str(e.value)


async def test_a_key_echoed_into_the_stream_is_redacted_even_when_cut_in_pieces(server, sdk):
    provider, _ = sdk
    server.responder = lambda body: "your key is {key} and more"
    server.enqueue(Behaviour(text=f"your key is {KEY} right here"))
    # The double splits at whitespace; the provider's redaction must also hold across pieces,
    # so a bare key also goes through whole.
    deltas, _, (result, _) = await collect(provider, chat())
    assert KEY not in "".join(deltas) and KEY not in result.texts[0]
    assert "".join(deltas) == result.texts[0] == "your key is *** right here"


async def test_the_reply_size_cap_applies_to_streams(server, sdk):
    provider, _ = sdk
    server.responder = lambda body: "word " * 400
    with pytest.raises(ProviderError, match="reply larger than"):
        await collect(provider, chat(), RetryPolicy(max_attempts=3, base_delay=0.01, timeout=20.0, max_reply_bytes=600))
    assert len(server.requests) == 1  # not retried
