import asyncio
import json

import pytest

from archon import Archon, ProviderError, QueryFailed, RetryPolicy
from archon.providers import ChatRequest, KeyStore, chat_with_retries
from archon.providers.openai_compat import OpenAICompatibleProvider
from archon.testing.fake_openai import Behaviour

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=60)  # timeout: a guard, not under test


@pytest.fixture
async def provider():
    made = []

    def make(server, keys=("sk-test-1",), **kw):
        made.append(OpenAICompatibleProvider(name="OpenAI_API", base_url=server.base_url, api_keys=list(keys), **kw))
        return made[-1]

    yield make
    for p in made:
        await p.aclose()


def req(n=1):
    return ChatRequest(model="gpt-x", messages=[{"role": "user", "content": "hi"}], n=n)


async def test_samples_go_in_one_request_with_n(server, provider):
    result = await provider(server).chat(req(n=4))
    assert len(result.texts) == 4 and len(set(result.texts)) == 4
    assert len(server.requests) == 1 and server.requests[0].body["n"] == 4
    assert result.input_tokens > 0 and result.output_tokens > 0


async def test_retries_429_and_5xx_then_succeeds(server, provider):
    server.enqueue(Behaviour(status=429), Behaviour(status=500), Behaviour(status=503))
    policy = RetryPolicy(max_attempts=5, base_delay=0.01, timeout=60)
    result, attempts = await chat_with_retries(provider(server), req(), policy)
    assert attempts == 4 and result.texts


async def test_gives_up_with_clear_error_without_the_key(server, provider):
    server.enqueue(*[Behaviour(status=500)] * 5)
    with pytest.raises(ProviderError) as e:
        await chat_with_retries(provider(server, keys=("sk-supersecret-123456",)), req(), FAST)
    msg = str(e.value)
    assert "OpenAI_API" in msg and "gpt-x" in msg and "3 attempts" in msg and "HTTP 500" in msg
    assert "supersecret" not in msg
    assert len(server.requests) == 3


async def test_non_retryable_error_is_not_retried(server, provider):
    server.required_key = "sk-right"
    with pytest.raises(ProviderError, match="HTTP 401") as e:
        await chat_with_retries(provider(server, keys=("sk-wrong-key-000",)), req(), FAST)
    assert len(server.requests) == 1 and "sk-wrong" not in str(e.value)


async def test_hang_times_out_and_is_retried(server, provider):
    server.enqueue(Behaviour(hang=True))
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, timeout=0.3)
    # The hung request is never answered: only the client's timeout ends it (30 s guards a test that would hang).
    result, attempts = await asyncio.wait_for(chat_with_retries(provider(server), req(), policy), timeout=30)
    assert attempts == 2 and result.texts
    assert server.requests[0].replied_at is None and server.requests[1].replied_at is not None


async def test_bad_json_is_retried(server, provider):
    server.enqueue(Behaviour(bad_json=True))
    result, attempts = await chat_with_retries(provider(server), req(), FAST)
    assert attempts == 2 and result.texts


async def test_rate_limited_key_rotates_to_next(server, provider):
    server.rate_limited_keys = {"sk-first-aaaaaa"}
    _, attempts = await chat_with_retries(provider(server, keys=("sk-first-aaaaaa", "sk-second-bbbbbb")), req(), FAST)
    assert attempts == 2
    used = [r.headers["authorization"] for r in server.requests]
    assert used == ["Bearer sk-first-aaaaaa", "Bearer sk-second-bbbbbb"]


async def test_when_every_key_is_rate_limited_the_client_backs_off_as_told(server, provider):
    keys = ("sk-first-aaaaaa", "sk-second-bbbbbb")
    server.enqueue(*[Behaviour(status=429, retry_after=0.2)] * 4)
    waits = []

    class RecordedPolicy(RetryPolicy):
        def delay(self, attempt, retry_after=None):
            waits.append(super().delay(attempt, retry_after))
            return waits[-1]

    policy = RecordedPolicy(max_attempts=4, base_delay=0.01, max_delay=1.0, timeout=10.0)
    with pytest.raises(ProviderError, match="HTTP 429"):
        await chat_with_retries(provider(server, keys=keys), req(), policy)
    # The second key is tried at once; then both keys rest, and the one backoff waits Retry-After
    # (after which the first key has rested and is tried at once again).
    assert [r.headers["authorization"][-6:] for r in server.requests] == ["aaaaaa", "bbbbbb", "bbbbbb", "aaaaaa"]
    assert len(waits) == 1 and waits[0] >= 0.2
    assert server.requests[2].received_at - server.requests[1].received_at >= 0.2


async def test_a_server_that_is_not_running_is_named_in_the_error():
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAICompatibleProvider(
        name="vLLM", base_url=f"http://user:pw-secret@127.0.0.1:{port}/v1", api_keys=[], key_required=False
    )
    with pytest.raises(ProviderError) as e:
        await chat_with_retries(p, req(), FAST)
    await p.aclose()
    assert f"connection error (ClientConnectorError) to http://127.0.0.1:{port}/v1" in str(e.value)
    assert "pw-secret" not in str(e.value) and e.value.attempts == 3


def test_key_store_sources(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("TOGETHER_API_KEY=from-dotenv\nTOGETHER_API_KEY_2=second\n")
    (tmp_path / "keys.json").write_text(json.dumps({"GROQ_API_KEY": ["g1", "g2", "g3"]}))
    monkeypatch.setenv("TOGETHER_API_KEY", "from-env")
    store = KeyStore(tmp_path / "keys.json", env_file=tmp_path / ".env")
    assert store.ring("TOGETHER_API_KEY") == ["from-env", "second"]
    assert store.ring("GROQ_API_KEY") == ["g1", "g2", "g3"]
    assert KeyStore({"X": "y"}, env_file=None).ring("X") == ["y"]


def test_openai_base_url_is_honoured(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-123456")
    with Archon({"layers": [[{"type": "generator", "model": "gpt-4o", "model_type": "OpenAI_API"}]]}) as a:
        assert a.generate("hello").startswith("[gpt-4o]")
    assert server.requests[0].headers["authorization"] == "Bearer sk-env-key-123456"


def test_component_names_its_own_key_variable(server, comp, monkeypatch):
    monkeypatch.setenv("MY_SERVER_KEY", "sk-mine-123456")
    server.required_key = "sk-mine-123456"
    cfg = {"layers": [[comp(api_key_env="MY_SERVER_KEY")]]}
    with Archon(cfg) as a:
        assert a.generate("hi")


def test_missing_key_for_hosted_service_is_a_clear_failure():
    cfg = {"layers": [[{"type": "generator", "model": "m", "model_type": "Together_API"}]]}
    with Archon(cfg, retry=FAST) as a, pytest.raises(QueryFailed, match="no API key: set TOGETHER_API_KEY"):
        a.generate("hi")


def test_custom_generator_function():
    def echo(messages, model, temperature, max_tokens):
        return f"{model} says {messages[-1]['content'][::-1]}"

    with Archon({"layers": [[{"type": "generator", "model": "rev", "model_type": "echo_fn"}]]}) as a:
        a.add_generator("echo_fn", echo)
        assert a.generate("abc") == "rev says cba"


def test_per_provider_concurrency_limit(server, comp):
    server.hold(3)  # the cap is reached: three wait for each other; a fourth would join them were it not kept back
    server.latency = 0.05
    cfg = {"layers": [[comp(samples=1)]]}
    with Archon(cfg, concurrency={"OpenAI_API": 3}, cache=False) as a:
        results = a.run_batch([f"q{i}" for i in range(9)])
    assert all(r.answer for r in results)
    assert server.max_in_flight == 3


def test_missing_optional_sdk_says_which_extra(monkeypatch):
    import sys

    # As if not installed, even when an earlier test imported it.
    for module in ("google", "google.genai"):
        monkeypatch.setitem(sys.modules, module, None)
    cfg = {"layers": [[{"type": "generator", "model": "gemini-1.5-pro", "model_type": "Google_API"}]]}
    with Archon(cfg) as a, pytest.raises(Exception, match=r"archon\[google\]"):
        a.generate("hi")


def test_local_model_file_that_does_not_exist_is_a_clear_error(tmp_path):
    cfg = {"layers": [[{"type": "generator", "model_type": "local", "model": str(tmp_path / "missing.gguf")}]]}
    with Archon(cfg) as a, pytest.raises(QueryFailed, match=r"missing.gguf' not found"):
        a.generate("hi")


def test_anthropic_provider_over_http(server, monkeypatch):
    pytest.importorskip("anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-123456")
    server.required_key = "sk-ant-test-123456"
    server.enqueue(Behaviour(status=529))  # overloaded: retried by archon, not by the SDK
    cfg = {
        "layers": [
            [
                {
                    "type": "generator",
                    "model": "claude-x",
                    "model_type": "Anthropic_API",
                    "base_url": server.url,
                    "samples": 2,
                }
            ]
        ]
    }
    with Archon(cfg, retry=FAST) as a:
        r = a.run([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}])
    assert len(r.candidates) == 2 and r.answer.startswith("[claude-x]")
    assert r.trace.usage.input_tokens > 0
    sent = server.requests[-1]
    assert sent.path == "/v1/messages" and sent.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent.body["temperature"] == 0.7
    assert len(server.requests) == 3  # two samples (no `n`), one of them retried once


def test_anthropic_moves_to_the_next_key_on_a_rate_limit(server):
    pytest.importorskip("anthropic")
    server.rate_limited_keys = {"sk-ant-first-000000"}
    keys = {"ANTHROPIC_API_KEY": "sk-ant-first-000000", "ANTHROPIC_API_KEY_2": "sk-ant-second-00000"}
    cfg = {
        "layers": [[{"type": "generator", "model": "claude-x", "model_type": "Anthropic_API", "base_url": server.url}]]
    }
    with Archon(cfg, keys=keys, retry=FAST, env_file=None) as a:
        assert a.generate("hi").startswith("[claude-x]")
        assert a.generate("again").startswith("[claude-x]")
    used = [r.headers["authorization"].removeprefix("Bearer ") for r in server.requests]
    # The first key's 429 hands over to the second at once; later calls start there.
    assert used == ["sk-ant-first-000000", "sk-ant-second-00000", "sk-ant-second-00000"]


def test_google_provider_over_http(server, monkeypatch):
    pytest.importorskip("google.genai")
    server.rate_limited_keys = {"g-key-first-00000"}
    server.enqueue(Behaviour(status=503))  # retried by archon, not by the SDK
    monkeypatch.setenv("GOOGLE_API_KEY", "g-key-first-00000")
    monkeypatch.setenv("GOOGLE_API_KEY_2", "g-key-second-0000")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
    cfg = {
        "layers": [
            [
                {
                    "type": "as_sent",
                    "model": "gemini-x",
                    "model_type": "gemini",
                    "samples": 2,
                    "temperature": 0.3,
                    "max_tokens": 77,
                }
            ]
        ]
    }

    async def as_sent(ctx, state):  # the conversation as the caller gives it: every role reaches the SDK
        return await ctx.complete(state.messages, n=ctx.config.samples)

    with Archon(cfg, retry=FAST, env_file=None) as a:
        a.add_component("as_sent", as_sent)
        r = a.run(
            [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi!"},
                {"role": "user", "content": "and now?"},
            ]
        )
    assert len(r.candidates) == 2 and r.answer.startswith("[gemini-x]") and "and now?" in r.answer
    assert r.trace.usage.input_tokens > 0 and r.trace.usage.output_tokens > 0
    sent = server.requests[-1]
    assert sent.path.endswith("/models/gemini-x:generateContent")
    assert sent.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi!"},
        {"role": "user", "content": "and now?"},
    ]
    assert sent.body["temperature"] == 0.3 and sent.body["max_tokens"] == 77
    # The two samples start at once on the first key and get 429s; then one 503 and two answers,
    # all on the second key.
    keys = [q.headers["authorization"].removeprefix("Bearer ") for q in server.requests]
    assert 1 <= keys.count("g-key-first-00000") <= 2 and keys[-3:] == ["g-key-second-0000"] * 3


def test_google_errors_are_clear_and_keyless(server):
    pytest.importorskip("google.genai")
    server.required_key = "g-right-key-00000"
    cfg = {"layers": [[{"type": "generator", "model": "gemini-x", "model_type": "Google_API", "base_url": server.url}]]}
    with (
        Archon(cfg, keys={"GOOGLE_API_KEY": "g-wrong-key-12345"}, retry=FAST, env_file=None) as a,
        pytest.raises(QueryFailed) as e,
    ):
        a.generate("hi")
    msg = str(e.value)
    assert "Google_API" in msg and "HTTP 401" in msg and "g-wrong-key" not in msg
    assert len(server.requests) == 1  # a bad key is not retried


BEDROCK_KEYS = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE",
    "AWS_SECRET_ACCESS_KEY": "fake-secret-do-not-leak",
    "AWS_REGION": "us-east-1",
}


def test_bedrock_provider_over_http(server):
    pytest.importorskip("boto3")
    server.required_key = "AKIAFAKEFAKEFAKE"  # the access key id, read from the SigV4 signature
    server.enqueue(Behaviour(status=429))  # ThrottlingException: retried by archon
    cfg = {
        "layers": [
            [
                {
                    "type": "generator",
                    "model": "anthropic.claude-3-haiku-20240307-v1:0",
                    "model_type": "Bedrock_API",
                    "base_url": server.url,
                    "samples": 2,
                    "max_tokens": 50,
                }
            ]
        ]
    }
    with Archon(cfg, keys=BEDROCK_KEYS, retry=FAST, env_file=None) as a:
        r = a.run([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}])
    assert len(r.candidates) == 2 and r.answer.startswith("[anthropic.claude-3-haiku-20240307-v1:0]")
    assert r.trace.usage.input_tokens > 0
    sent = server.requests[-1]
    assert sent.path.startswith("/model/anthropic.claude-3-haiku") and sent.path.endswith("/converse")
    assert sent.body["messages"][0] == {"role": "system", "content": "be brief"} and sent.body["max_tokens"] == 50
    assert len(server.requests) == 3


def test_bedrock_errors_are_clear_and_keyless(server):
    pytest.importorskip("boto3")
    server.enqueue(*[Behaviour(status=400)] * 3)
    cfg = {"layers": [[{"type": "generator", "model": "m", "model_type": "bedrock", "base_url": server.url}]]}
    with Archon(cfg, keys=BEDROCK_KEYS, retry=FAST, env_file=None) as a, pytest.raises(QueryFailed) as e:
        a.generate("hi")
    msg = str(e.value)
    assert "Bedrock_API" in msg and "ValidationException" in msg and "HTTP 400" in msg
    assert "fake-secret" not in msg
    assert len(server.requests) == 1  # a validation error is not retried


def test_secrets_never_reach_errors_or_traces(server, monkeypatch, tmp_path):
    secret = "sk-live-do-not-leak-4242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)

    def echo_key(body):  # a server that puts the key into its error message
        raise RuntimeError(f"invalid key {secret} (api_key={secret})")

    server.responder = echo_key
    cfg = {"layers": [[{"type": "generator", "model": "gpt-x", "model_type": "OpenAI_API"}]]}
    with Archon(cfg, retry=FAST) as a, pytest.raises(QueryFailed) as e:
        a.generate("hi")
    from archon.engine import write_jsonl

    write_jsonl([e.value.result], tmp_path / "trace.jsonl")
    trace_text = (tmp_path / "trace.jsonl").read_text()
    assert "HTTP 500" in trace_text
    assert secret not in str(e.value) and secret not in trace_text
