import asyncio
import json
import time

import pytest

from archon import Archon, CallCache, QueryFailed, RetryPolicy
from archon.testing.fake_openai import Behaviour

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=2.0)


@pytest.fixture
def three_layers(comp):
    """The paper's MoA shape: 5 generator calls, 2 fusers, 1 fuser."""
    return {"name": "moa", "layers": [
        [comp(model="a", samples=3), comp(model="b", samples=2)],
        [comp("fuser", model="f1"), comp("fuser", model="f2")],
        [comp("fuser", model="final")],
    ]}


def test_layers_run_in_order_and_components_at_once(server, three_layers):
    server.latency = 0.3
    with Archon(three_layers) as a:
        t0 = time.monotonic()
        r = a.run("hi")
        wall = time.monotonic() - t0
    # Three layers deep: the critical path is 3 latencies, not one per call.
    assert 0.9 <= wall < 1.5
    assert r.answer.startswith("[final]")
    assert r.trace.usage.calls == 8
    # Samples of one component went in one request with n.
    assert sorted(q.body.get("n", 1) for q in server.requests) == [1, 1, 1, 2, 3]


def test_trace_records_layers_components_calls_and_usage(server, three_layers, tmp_path):
    with Archon(three_layers) as a:
        r = a.run("hi")
    assert [len(l.components) for l in r.trace.layers] == [2, 2, 1]
    gen = r.trace.layers[0].components[0]
    assert gen.type == "generator" and gen.model == "a" and len(gen.outputs) == 3
    assert gen.calls[0].samples == 3 and gen.calls[0].input_tokens > 0 and gen.calls[0].latency_s > 0
    fuser = r.trace.layers[1].components[0]
    assert fuser.inputs == r.trace.layers[0].components[0].outputs + r.trace.layers[0].components[1].outputs
    u = r.trace.usage
    assert u.calls == 8 and u.input_tokens > 0 and u.output_tokens > 0 and u.unpriced_models
    from archon.engine import write_jsonl

    write_jsonl([r], tmp_path / "t.jsonl")
    row = json.loads((tmp_path / "t.jsonl").read_text())
    assert row["answer"] == r.answer and row["trace"]["usage"]["calls"] == 8


def test_cost_estimate_uses_price_table(server, comp):
    from archon import register_price

    register_price("priced-model", 1_000_000.0, 0.0)  # $1 per input token
    with Archon({"layers": [[comp(model="priced-model")]]}) as a:
        r = a.run("one two three")
    assert r.trace.usage.cost_usd == pytest.approx(r.trace.usage.input_tokens)


def test_batch_uses_cache_rerun_makes_no_calls(server, three_layers, tmp_path):
    cache = tmp_path / "calls.sqlite"
    with Archon(three_layers, cache=cache) as a:
        first = a.run_batch([f"question {i}" for i in range(5)])
    n = len(server.requests)
    assert n == 5 * 5
    with Archon(three_layers, cache=cache) as a:
        again = a.run_batch([f"question {i}" for i in range(5)])
    assert len(server.requests) == n
    assert [r.answer for r in again] == [r.answer for r in first]
    assert all(r.trace.usage.new_calls == 0 and r.trace.usage.cached_calls == r.trace.usage.calls == 8 for r in again)


def test_identical_calls_in_different_architectures_are_made_once(server, comp, tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    gen = comp(model="shared", samples=2)
    with Archon({"layers": [[gen]]}, cache=cache) as a:
        a.run("q")
    with Archon({"layers": [[gen], [comp("fuser", model="f")]]}, cache=cache) as b:
        r = b.run("q")
    assert [q.body["model"] for q in server.requests] == ["shared", "f"]
    assert r.trace.usage.cached_calls == 2 and r.trace.usage.new_calls == 1 and r.trace.usage.calls == 3


def test_crashed_batch_resumes_where_it_stopped(server, comp, tmp_path):
    cache = tmp_path / "c.sqlite"
    cfg = {"layers": [[comp(model="g")], [comp("fuser", model="f")]]}
    server.latency = 0.05

    async def crash_midway():
        a = Archon(cfg, cache=cache, concurrency={"OpenAI_API": 2})
        task = asyncio.ensure_future(a.arun_batch([f"q{i}" for i in range(10)]))
        while len(server.requests) < 8:
            await asyncio.sleep(0.01)
        task.cancel()  # the process dies: nothing is awaited any more
        with pytest.raises(asyncio.CancelledError):
            await task
        await a.aclose()

    asyncio.run(crash_midway())
    done_before = len(CallCache(cache))
    assert 0 < done_before < 20
    server.requests.clear()
    with Archon(cfg, cache=cache) as a:
        results = a.run_batch([f"q{i}" for i in range(10)])
    assert all(r.answer for r in results)
    assert len(server.requests) == 20 - done_before


def test_single_query_cache_is_off_by_default_and_can_be_disabled(server, comp):
    cfg = {"layers": [[comp()]]}
    with Archon(cfg) as a:
        a.run("q")
        a.run("q")
    assert len(server.requests) == 2
    with Archon(cfg, cache=False) as a:
        a.run_batch(["q", "q"])
    assert len(server.requests) == 4


def test_failed_component_layer_goes_on_with_others(server, comp):
    server.responder = lambda b: "ok"
    server.enqueue(*[Behaviour(status=500, model="broken")] * 3)
    cfg = {"layers": [[comp(model="broken"), comp(model="fine")], [comp("fuser", model="f")]]}
    with Archon(cfg, retry=FAST) as a:
        r = a.run("q")
    assert r.answer == "ok"
    assert r.trace.layers[1].components[0].inputs == ["ok"]
    err = r.trace.layers[0].components[0].error
    assert "broken" in err and "HTTP 500" in err and "2 attempts" in err


def test_failed_final_fuser_falls_back_to_previous_candidates(server, comp):
    server.enqueue(*[Behaviour(status=500, model="f")] * 2)
    cfg = {"layers": [[comp(model="g")], [comp("fuser", model="f")]]}
    with Archon(cfg, retry=FAST) as a:
        r = a.run("q")
    assert r.answer.startswith("[g]")
    assert "every component failed" in r.trace.layers[1].note


def test_query_fails_only_when_nothing_is_left(server, comp):
    server.enqueue(*[Behaviour(status=500)] * 4)
    cfg = {"layers": [[comp(model="g")], [comp("fuser", model="f")]]}
    with Archon(cfg, retry=FAST) as a:
        with pytest.raises(QueryFailed) as e:
            a.run("q")
        assert e.value.result.trace.layers[0].components[0].error
        # In a batch the failure is recorded and the other queries are answered.
        def responder(body):
            if body["messages"][-1]["content"] == "x":
                raise RuntimeError("down for x")
            return "fine"

        server.responder = responder
        results = a.run_batch(["x", "y"])
    assert sum(r.error is not None for r in results) == 1
    assert sum(r.answer is not None for r in results) == 1


def test_partial_samples_are_kept(server, comp):
    # A provider without `n`: three separate requests, one of which fails for good.
    import itertools

    count = itertools.count()

    def responder(body):
        if next(count) >= 2:
            raise RuntimeError("overloaded")
        return "sample"

    server.responder = responder
    cfg = {"layers": [[{"type": "generator", "model": "g", "model_type": "tgi", "base_url": server.base_url, "samples": 3}]]}
    with Archon(cfg, retry=FAST) as a:
        r = a.run("q")
    assert len(r.candidates) == 2
    assert sum(1 for c in r.trace.layers[0].components[0].calls if c.error) == 1


async def test_async_api_and_message_lists(server, comp):
    a = Archon({"layers": [[comp()]]})
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"}, {"role": "user", "content": "second"}]
    answer = await a.agenerate(msgs)
    assert answer.endswith("second")
    assert server.requests[0].body["messages"] == msgs
    results = await a.arun_batch(["x", msgs])
    assert [r.answer is not None for r in results] == [True, True]
    await a.aclose()


def test_bad_messages_are_rejected(server, comp):
    from archon import ArchonError

    with Archon({"layers": [[comp()]]}) as a:
        with pytest.raises(ArchonError, match="end with a user message"):
            a.generate([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}])
        with pytest.raises(ArchonError, match="message 0"):
            a.generate([{"role": "wizard", "content": "x"}])


def test_unknown_component_or_provider_is_a_config_error(server, comp):
    from archon import ConfigError

    with Archon({"layers": [[comp(type="nonsense")]]}) as a, pytest.raises(ConfigError, match="layer 1, component 1"):
        a.generate("q")
    with Archon({"layers": [[{"type": "generator", "model_type": "NoSuch_API"}]]}) as a, pytest.raises(ConfigError, match="NoSuch_API"):
        a.generate("q")


def test_identical_components_in_a_layer_draw_different_samples(server, comp, tmp_path):
    server.responder = lambda b: [f"sample seed {i}" for i in range(b.get("n", 1))]
    cache = tmp_path / "c.sqlite"
    with Archon({"layers": [[comp(model="g"), comp(model="g")]]}, cache=cache) as a:
        twice = a.run_batch(["q"])[0]
    # Two one-sample generators of a model are that model's samples 0 and 1, so they share
    # the cache with one generator of two samples.
    with Archon({"layers": [[comp(model="g", samples=2)]]}, cache=cache) as a:
        once = a.run_batch(["q"])[0]
    assert len(server.requests) == 2 and len(twice.candidates) == 2
    assert once.trace.usage.cached_calls == 2 and once.trace.usage.new_calls == 0
