"""``archon serve`` called with the official OpenAI SDK: sync, async, streaming with usage."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from archon.testing.fake_openai import Behaviour, default_responder


def upstream_usage(fake) -> tuple[int, int]:
    """What the double reported, summed over every call it answered (its word counts)."""
    prompt = completion = 0
    for r in fake.requests:
        words = sum(len(str(m.get("content", "")).split()) for m in r.body["messages"])
        prompt += max(1, words)
        completion += sum(max(1, len(t.split())) for t in default_responder(r.body))
    return prompt, completion


def test_models_and_a_sync_completion_count_every_call(server, fake, h):
    client = openai.OpenAI(base_url=server.base_url, api_key=h.key, max_retries=0)
    assert [m.id for m in client.models.list()] == ["moa"]
    assert client.models.retrieve("moa").owned_by == "archon"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"
    reply = client.chat.completions.create(
        model="moa",
        temperature=0.1,
        max_tokens=5,
        user="someone",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "what now"},
        ],
    )
    assert reply.choices[0].message.content == "[fuse] reply 0 to: what now"
    assert reply.choices[0].finish_reason == "stop"
    # Every call of the architecture counted: two generator samples (one request, n=2) and the fuser.
    gens = [r for r in fake.requests if r.body["model"] == "gen"]
    assert len(gens) == 1 and gens[0].body["n"] == 2 and len(fake.requests) == 2
    assert [m["content"] for m in gens[0].body["messages"]] == [
        "Be brief.",
        "first question",
        "first answer",
        "what now",
    ]
    prompt, completion = upstream_usage(fake)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (prompt, completion)
    assert reply.usage.total_tokens == prompt + completion
    extra = reply.model_extra["archon"]
    assert extra["calls"] == 3 and [layer["calls"] for layer in extra["layers"]] == [2, 1]
    assert sum(layer["prompt_tokens"] for layer in extra["layers"]) == prompt
    # Parameters an architecture does not apply are named, not silently misread.
    assert extra["ignored_parameters"] == ["max_tokens", "temperature", "user"]
    assert all(r.body["max_tokens"] != 5 for r in fake.requests)
    assert "traces" not in extra


def test_n_runs_the_architecture_n_times_and_trace_on_request(server, fake, h):
    client = openai.OpenAI(base_url=server.base_url, api_key=h.key, max_retries=0)
    reply = client.chat.completions.create(
        model="moa", n=2, messages=[{"role": "user", "content": "hello"}], extra_body={"archon": {"trace": True}}
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert len(fake.requests) == 4
    traces = reply.model_extra["archon"]["traces"]
    assert len(traces) == 2 and traces[0]["layers"][1]["components"][0]["type"] == "fuser"
    assert reply.usage.prompt_tokens == upstream_usage(fake)[0]


async def test_async_clients_at_once(server, fake, h):
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=h.key, max_retries=0)
    replies = await asyncio.gather(
        *(
            client.chat.completions.create(model="moa", messages=[{"role": "user", "content": f"question {i}"}])
            for i in range(8)
        )
    )
    assert [r.choices[0].message.content for r in replies] == [f"[fuse] reply 0 to: question {i}" for i in range(8)]
    assert len(fake.requests) == 16
    await client.close()


def test_streaming_is_real_and_reports_usage(server, fake, h):
    fake.token_delay = 0.05
    client = openai.OpenAI(base_url=server.base_url, api_key=h.key, max_retries=0)
    stream = client.chat.completions.create(
        model="moa",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "tell me"}],
    )
    pieces, first_content_at, usage = [], None, None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if first_content_at is None:
                first_content_at = time.monotonic()
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) == "[fuse] reply 0 to: tell me"
    assert len(pieces) > 1
    fuser = next(r for r in fake.requests if r.body["model"] == "fuse")
    assert fuser.body.get("stream") is True
    # The first token reached the client before the upstream model had sent its last one.
    assert first_content_at < fuser.token_times[-1]
    assert (usage.prompt_tokens, usage.completion_tokens) == upstream_usage(fake)


def test_stream_that_breaks_after_its_first_token_ends_in_an_error(server, fake, h):
    fake.enqueue(Behaviour(model="fuse", fail_after_tokens=2))
    client = openai.OpenAI(base_url=server.base_url, api_key=h.key, max_retries=0)
    got = []
    with pytest.raises(openai.APIError, match="stream broke"):
        for chunk in client.chat.completions.create(
            model="moa", stream=True, messages=[{"role": "user", "content": "go"}]
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
    assert "".join(got) == "[fuse] reply "  # what came before the break, never passed off as whole
    assert [r.outcome for r in fake.requests if r.body["model"] == "fuse"] == ["failed"]


def test_stream_that_fails_before_its_first_token_is_retried(server, fake, h):
    fake.enqueue(Behaviour(model="fuse", fail_after_tokens=0), Behaviour(model="fuse", status=503))
    client = openai.OpenAI(base_url=server.base_url, api_key=h.key, max_retries=0)
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="moa", stream=True, messages=[{"role": "user", "content": "go"}])
        if c.choices
    )
    assert text == "[fuse] reply 0 to: go"
    fake.outcomes()  # every upstream call ended (the client may have its reply before the double notes it)
    assert [r.outcome for r in fake.requests if r.body["model"] == "fuse"] == ["failed", "done", "done"]


def test_a_last_layer_of_several_calls_is_sent_when_known(upstream, start_server, fake, h):
    cfg = {
        "name": "gens",
        "layers": [
            [{"type": "generator", "model_type": "vLLM", "model": "gen", "base_url": upstream.base_url, "samples": 3}]
        ],
    }
    srv = start_server([cfg])
    client = openai.OpenAI(base_url=srv.base_url, api_key=h.key, max_retries=0)
    chunks = [
        c.choices[0].delta.content
        for c in client.chat.completions.create(model="gens", stream=True, messages=[{"role": "user", "content": "x"}])
        if c.choices and c.choices[0].delta.content
    ]
    assert chunks == ["[gen] reply 0 to: x"]
    assert not any(r.body.get("stream") for r in fake.requests)
