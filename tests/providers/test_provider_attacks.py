"""Attack suite for the provider client: hostile servers on 127.0.0.1 (the HTTP test double's
hostile behaviours). Each case once got through: an unbounded reply, a key leaked by cutting
before redacting, a crash on odd content or usage, a skipped backoff, a call held by a trickle."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from archon import Archon, ProviderError, QueryFailed, RetryPolicy
from archon.benchmarks.runner import run_benchmark
from archon.cli import main
from archon.providers import ChatRequest, KeyStore, chat_with_retries
from archon.providers.base import stream_with_retries
from archon.providers.openai_compat import OpenAICompatibleProvider
from archon.testing.fake_openai import Behaviour

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=10.0)
GB = 2**30


@pytest.fixture
async def provider():
    made = []

    def make(server, keys=("sk-test-key-000001",), **kw):
        made.append(OpenAICompatibleProvider(name="OpenAI_API", base_url=server.base_url, api_keys=list(keys), **kw))
        return made[-1]

    yield make
    for p in made:
        await p.aclose()


def req():
    return ChatRequest(model="gpt-x", messages=[{"role": "user", "content": "hi"}])


# ------------------------------------------------------------- 2: reply size

KEY = "sk-test-key-000001"
AWS_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE", "AWS_SECRET_ACCESS_KEY": "fake-secret", "AWS_REGION": "us-east-1"}
# The Google and Bedrock SDKs read replies with HTTP clients of their own (httpx, botocore's urllib3).
SDK_MODULES = {"google": "google.genai", "bedrock": "boto3"}


def make_provider(kind, server):
    if kind == "openai":
        return OpenAICompatibleProvider(name="OpenAI_API", base_url=server.base_url, api_keys=[KEY])
    pytest.importorskip(SDK_MODULES[kind])
    from archon.providers.sdk import BedrockProvider, GoogleProvider

    if kind == "google":
        return GoogleProvider([KEY], base_url=server.url)
    return BedrockProvider(KeyStore(AWS_KEYS, env_file=None), base_url=server.url)


@pytest.fixture
async def providers():
    made = []

    def make(kind, server):
        made.append(make_provider(kind, server))
        return made[-1]

    yield make
    for p in made:
        await p.aclose()


# The client runs in a process of its own, so that its peak memory is its own.
_CLIENT = textwrap.dedent("""
    import asyncio, sys
    from archon import ProviderError, RetryPolicy
    from archon.providers import ChatRequest, KeyStore, chat_with_retries
    from archon.providers.base import stream_with_retries
    from archon.providers.openai_compat import OpenAICompatibleProvider

    kind, url, streamed = sys.argv[1], sys.argv[2], sys.argv[3] == "stream"

    def make():
        if kind == "openai":
            return OpenAICompatibleProvider(name="OpenAI_API", base_url=url + "/v1", api_keys=["sk-test-key-000001"])
        from archon.providers.sdk import BedrockProvider, GoogleProvider
        if kind == "google":
            return GoogleProvider(["sk-test-key-000001"], base_url=url)
        keys = {"AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_REGION": "us-east-1"}
        return BedrockProvider(KeyStore(keys, env_file=None), base_url=url)

    async def main():
        p = make()
        request = ChatRequest(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        policy = RetryPolicy(max_attempts=3, base_delay=0.01, timeout=120)
        try:
            if streamed:
                async for _ in stream_with_retries(p, request, policy):
                    pass
            else:
                await chat_with_retries(p, request, policy)
            print("ANSWERED")
        except ProviderError as e:
            print(f"ERROR {e.attempts} {e}")
        finally:
            await p.aclose()

    asyncio.run(main())
    # VmHWM, not ru_maxrss: the latter keeps the peak of the forked parent (the test process) across exec.
    hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print("PEAK_MB", hwm_kb // 1024)
""")

GZIP_BOMB, CHUNKED = Behaviour(gzip_bomb=GB), Behaviour(chunked_bytes=GB)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory read from /proc")
@pytest.mark.parametrize(
    ("kind", "streamed", "behaviour"),
    [
        ("openai", False, GZIP_BOMB),
        ("openai", False, CHUNKED),
        ("google", False, GZIP_BOMB),
        ("google", False, CHUNKED),
        # One line of 1 GB, which the SDK's own line reader would gather whole.
        ("google", True, CHUNKED),
        # botocore never decodes a reply: a gzip bomb reaches it as the megabyte sent.
        ("bedrock", False, CHUNKED),
    ],
    ids=[
        "openai-gzip-1MB-to-1GB",
        "openai-chunked-1GB",
        "google-gzip-1MB-to-1GB",
        "google-chunked-1GB",
        "google-stream-one-line-of-1GB",
        "bedrock-chunked-1GB",
    ],
)
def test_a_huge_reply_fails_its_call_unread_and_memory_stays_bounded(server, kind, streamed, behaviour):
    if kind in SDK_MODULES:
        pytest.importorskip(SDK_MODULES[kind])
    server.enqueue(behaviour)
    out = subprocess.run(
        [sys.executable, "-c", _CLIENT, kind, server.url, "stream" if streamed else "whole"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    error = next(line for line in out.stdout.splitlines() if line.startswith(("ERROR", "ANSWERED")))
    peak_mb = int(out.stdout.split("PEAK_MB")[1])
    print(f"{kind} {behaviour}: peak RSS {peak_mb} MB")
    assert error.startswith("ERROR 1 ") and "larger than 16777216 bytes" in error and "not retried" in error
    assert len(server.requests) == 1  # not retried
    # A 16 MiB limit (the interpreter, archon and an SDK take ~60-120 MB), far from the 1 GB sent.
    assert peak_mb < 250


@pytest.mark.parametrize("kind", ["openai", "google", "bedrock"])
async def test_the_reply_limit_is_set_by_the_retry_policy(server, providers, kind):
    server.enqueue(Behaviour(text="x" * 50_000))
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, timeout=10, max_reply_bytes=20_000)
    with pytest.raises(ProviderError, match=r"larger than 20000 bytes.*not retried") as e:
        await chat_with_retries(providers(kind, server), req(), policy)
    assert e.value.attempts == 1 and len(server.requests) == 1
    server.enqueue(Behaviour(text="x" * 10_000))
    result, _ = await chat_with_retries(providers(kind, server), req(), policy)
    assert result.texts == ["x" * 10_000]


@pytest.mark.parametrize("kind", ["google", "bedrock"])
async def test_the_limit_counts_a_streams_bytes_as_they_arrive_not_only_its_text(server, providers, kind):
    # 2,000 bytes of text in 1,000 events: well over 20,000 bytes as sent (each event's framing
    # and JSON), so the call fails, however short the text.
    server.responder = lambda body: "a " * 1000
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, timeout=10, max_reply_bytes=20_000)
    with pytest.raises(ProviderError, match=r"larger than 20000 bytes.*not retried") as e:
        async for _ in stream_with_retries(providers(kind, server), req(), policy):
            pass
    assert e.value.attempts == 1 and len(server.requests) == 1
    # A limit above what is sent lets the same stream through whole.
    roomy = RetryPolicy(max_attempts=3, base_delay=0.01, timeout=10, max_reply_bytes=2_000_000)
    events = [e async for e in stream_with_retries(providers(kind, server), req(), roomy)]
    result, attempts = events[-1]
    assert "".join(events[:-1]) == result.texts[0] == "a " * 1000 and attempts == 1


def test_the_anthropic_sdk_reply_is_limited_too(server):
    pytest.importorskip("anthropic")
    server.enqueue(Behaviour(gzip_bomb=GB))
    cfg = {
        "layers": [[{"type": "generator", "model": "claude-x", "model_type": "Anthropic_API", "base_url": server.url}]]
    }
    with (
        Archon(cfg, keys={"ANTHROPIC_API_KEY": "sk-ant-test-000001"}, retry=FAST, env_file=None) as a,
        pytest.raises(QueryFailed, match=r"failed after 1 attempt: reply larger than 16777216 bytes.*not retried"),
    ):
        a.run("hi")
    assert len(server.requests) == 1


# ------------------------------------------------------------- 4: redaction


@pytest.mark.parametrize("prefix", ["gsk_", "tgp_", "sk-proj-", "AKIA", "plainkey"])
async def test_a_key_cut_by_the_error_length_limit_is_still_redacted(server, provider, prefix):
    key = prefix + "Q7w9E2r4T6y8U1i3O5p7A9s2D4f6G8h1"
    for offset in (290, 296, 299):  # the 300-character cut falls inside the key
        server.enqueue(Behaviour(status=400, message="x" * offset + "{key} was rejected"))
        with pytest.raises(ProviderError) as e:
            await chat_with_retries(provider(server, keys=(key,)), req(), FAST)
        message = str(e.value)
        assert "HTTP 400: xxx" in message and ("***" in message or offset > 297)  # the mark itself may be cut
        assert key[len(prefix) : len(prefix) + 6] not in message and key[-6:] not in message


async def test_a_key_echoed_in_a_200_reply_is_redacted(server, provider):
    key = "gsk_EchoedBackByTheServer1234"
    server.enqueue(Behaviour(text="your key is {key}, kept safe"))
    result = await provider(server, keys=(key,)).chat(req())
    assert result.texts == ["your key is ***, kept safe"]


def test_a_password_in_a_base_url_stays_out_of_errors_and_the_run_folder(server, tmp_path):
    url = server.base_url.replace("http://", "http://user:hunter2-secret@")
    data = tmp_path / "gsm8k.jsonl"
    data.write_text(json.dumps({"id": "q0", "question": "1+1?", "answer": "#### 2"}) + "\n", encoding="utf-8")
    server.enqueue(Behaviour(status=400, message="bad request from hunter2-secret"))
    cfg = {"layers": [[{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": url}]]}
    run_benchmark(cfg, "gsm8k", data=data, out_dir=tmp_path / "run", retry=FAST, cache=False, progress=False)
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "run").rglob("*") if p.is_file())
    assert "HTTP 400" in written and "user:***@127.0.0.1" in written
    assert "hunter2" not in written


# ------------------------------------------------------------- 7: content


async def test_content_as_a_list_of_parts_is_joined(server, provider):
    parts = [
        {"type": "text", "text": "Hello, "},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "world"},
    ]
    server.enqueue(Behaviour(reply_message={"role": "assistant", "content": parts}))
    result = await provider(server).chat(req())
    assert result.texts == ["Hello, world"]


@pytest.mark.parametrize("content", [42, {"text": "hi"}, [1, 2], True])
async def test_content_that_is_not_text_is_a_clear_error_not_retried(server, provider, content):
    server.enqueue(Behaviour(reply_message={"role": "assistant", "content": content}))
    with pytest.raises(ProviderError, match=r"reply content is \w+, not text.*not retried") as e:
        await chat_with_retries(provider(server), req(), FAST)
    assert e.value.attempts == 1


async def test_null_content_is_an_error_that_is_retried(server, provider):
    server.enqueue(Behaviour(reply_message={"role": "assistant", "content": None}))
    result, attempts = await chat_with_retries(provider(server), req(), FAST)
    assert attempts == 2 and result.texts[0].startswith("[gpt-x]")
    server.enqueue(*[Behaviour(reply_message={"role": "assistant", "content": None})] * 3)
    with pytest.raises(ProviderError, match=r"3 attempts.*no content \(null\)"):
        await chat_with_retries(provider(server), req(), FAST)


@pytest.mark.parametrize(("sdk", "says"), [("google", "reply does not parse"), ("bedrock", "not a Converse reply")])
async def test_an_sdk_reply_that_does_not_parse_is_an_error_that_is_retried(server, providers, sdk, says):
    server.enqueue(Behaviour(bad_json=True))
    result, attempts = await chat_with_retries(providers(sdk, server), req(), FAST)
    assert attempts == 2 and result.texts[0].startswith("[gpt-x]")
    server.enqueue(*[Behaviour(bad_json=True)] * 3)
    with pytest.raises(ProviderError, match=rf"3 attempts.*{says}"):
        await chat_with_retries(providers(sdk, server), req(), FAST)


def test_run_reports_non_text_content_without_a_traceback(server, tmp_path, capsys):
    server.enqueue(*[Behaviour(reply_message={"role": "assistant", "content": {"a": 1}})] * 5)
    cfg = tmp_path / "c.json"
    cfg.write_text(
        json.dumps(
            {"layers": [[{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": server.base_url}]]}
        )
    )
    rc = main(["run", str(cfg), "hi"])
    err = capsys.readouterr().err
    assert rc == 1 and "reply content is dict" in err and "Traceback" not in err


# ------------------------------------------------------------- 8: usage


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": "many", "completion_tokens": "12"},
        {"prompt_tokens": float("inf"), "completion_tokens": float("nan")},
        {"prompt_tokens": -5, "completion_tokens": -1},
        {"prompt_tokens": 1e300, "completion_tokens": 10**30},
        {"prompt_tokens": [1], "completion_tokens": {"n": 1}},
        "not an object",
        [],
    ],
)
async def test_untrusted_usage_is_estimated_and_marked(server, provider, usage):
    server.enqueue(Behaviour(text="four words of answer", usage=usage))
    result = await provider(server).chat(req())
    assert result.texts == ["four words of answer"] and result.usage_estimated
    assert isinstance(result.input_tokens, int) and isinstance(result.output_tokens, int)
    assert 0 < result.input_tokens < 100 and 0 < result.output_tokens < 100


def test_estimated_usage_is_marked_in_the_trace(server):
    server.enqueue(Behaviour(usage={"prompt_tokens": "x"}))
    cfg = {"layers": [[{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": server.base_url}]]}
    with Archon(cfg, retry=FAST, cache=False) as a:
        r = a.run("hi")
        honest = a.run("again")
    assert r.answer and r.to_dict()["trace"]["layers"][0]["components"][0]["calls"][0]["usage_estimated"] is True
    assert honest.to_dict()["trace"]["layers"][0]["components"][0]["calls"][0]["usage_estimated"] is False


# ------------------------------------------------------------- 10: Retry-After


class _RecordingPolicy(RetryPolicy):
    def delay(self, attempt, retry_after=None):
        d = super().delay(attempt, retry_after)
        self.delays.append(d)
        return d


async def test_a_negative_retry_after_does_not_skip_the_backoff(server, provider):
    policy = _RecordingPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=10)
    object.__setattr__(policy, "delays", [])
    server.enqueue(Behaviour(status=429, retry_after=-30), Behaviour(status=429, retry_after=-1))
    _, attempts = await chat_with_retries(provider(server), req(), policy)
    assert attempts == 3 and len(policy.delays) == 2  # both retries waited


async def test_a_huge_retry_after_is_capped_by_the_policy(server, provider):
    policy = _RecordingPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, timeout=10)
    object.__setattr__(policy, "delays", [])
    server.enqueue(Behaviour(status=429, retry_after=10**9))
    _, attempts = await chat_with_retries(provider(server), req(), policy)
    assert attempts == 2 and policy.delays == [0.05]


# ------------------------------------------------------------- 11: deadline


async def test_a_trickling_reply_fails_at_the_deadline(server, provider):
    server.enqueue(Behaviour(trickle=0.2))  # a few hundred bytes: a minute at this pace
    with pytest.raises(ProviderError, match="timed out after 1s"):
        await chat_with_retries(provider(server), req(), RetryPolicy(max_attempts=1, timeout=1.0))


def test_run_takes_a_per_call_timeout(server, tmp_path, capsys):
    server.enqueue(*[Behaviour(trickle=1.0)] * 5)
    cfg = tmp_path / "c.json"
    cfg.write_text(
        json.dumps(
            {"layers": [[{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": server.base_url}]]}
        )
    )
    rc = main(["run", str(cfg), "hi", "--timeout", "0.5"])
    err = capsys.readouterr().err
    assert rc == 1 and "timed out after 0.5s" in err and "5 attempts" in err


@pytest.mark.parametrize(
    "argv", [["chat", "--timeout", "7"], ["bench", "c.json", "-b", "gsm8k", "-o", "r", "--timeout", "7"]]
)
def test_chat_and_bench_take_a_per_call_timeout(argv):
    from archon.cli import build_parser

    assert build_parser().parse_args(argv).timeout == 7.0
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv[:-1], "-3"])
