import asyncio
import itertools
import json

import pytest

from archon import Archon, CallCache, QueryFailed, RetryPolicy
from archon.testing.fake_openai import Behaviour

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=60)  # timeout: a guard, not under test


@pytest.fixture
def three_layers(comp):
    """The paper's MoA shape: 5 generator calls, 2 fusers, 1 fuser."""
    return {
        "name": "moa",
        "layers": [
            [comp(model="a", samples=3), comp(model="b", samples=2)],
            [comp("fuser", model="f1"), comp("fuser", model="f2")],
            [comp("fuser", model="final")],
        ],
    }


def test_layers_run_in_order_and_components_at_once(server, three_layers):
    server.hold(2)  # layer 1's two requests (3 and 2 samples) must both arrive before either is answered
    with Archon(three_layers) as a:
        r = a.run("hi")
    assert server.max_in_flight == 2
    # Each layer starts only after the one before it has all its answers: the critical path is 3 calls deep.
    by_layer = [
        [q for q in server.requests if q.body["model"] in models] for models in ({"a", "b"}, {"f1", "f2"}, {"final"})
    ]
    assert [len(requests) for requests in by_layer] == [2, 2, 1]
    for earlier, later in itertools.pairwise(by_layer):
        assert max(q.replied_at for q in earlier) <= min(q.received_at for q in later)
    assert r.answer.startswith("[final]")
    assert r.trace.usage.calls == 8
    # Samples of one component went in one request with n.
    assert sorted(q.body.get("n", 1) for q in server.requests) == [1, 1, 1, 2, 3]


def test_trace_records_layers_components_calls_and_usage(server, three_layers, tmp_path):
    with Archon(three_layers) as a:
        r = a.run("hi")
    assert [len(layer.components) for layer in r.trace.layers] == [2, 2, 1]
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
    cfg = {
        "layers": [
            [{"type": "generator", "model": "g", "model_type": "tgi", "base_url": server.base_url, "samples": 3}]
        ]
    }
    with Archon(cfg, retry=FAST) as a:
        r = a.run("q")
    assert len(r.candidates) == 2
    assert sum(1 for c in r.trace.layers[0].components[0].calls if c.error) == 1


async def test_async_api_and_message_lists(server, comp):
    a = Archon({"layers": [[comp()]]})
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    answer = await a.agenerate(msgs)
    assert answer.endswith("second")
    assert server.requests[0].body["messages"] == msgs  # a hosted model gets the turns as they are
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
    with (
        Archon({"layers": [[{"type": "generator", "model_type": "NoSuch_API"}]]}) as a,
        pytest.raises(ConfigError, match="NoSuch_API"),
    ):
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


def test_components_differing_in_other_fields_still_draw_different_samples(server, comp, tmp_path):
    counter = iter(range(1000))
    server.responder = lambda b: [f"unique-{next(counter)}" for _ in range(b.get("n", 1))]
    cache = tmp_path / "c.sqlite"
    cfg = {"layers": [[comp(model="g", name="first"), comp(model="g", samples=2, top_k=3)]]}
    with Archon(cfg, cache=cache) as a:
        first = a.run_batch(["q"])[0].candidates
    with Archon(cfg, cache=cache) as a:
        again = a.run_batch(["q"])[0].candidates
    # Three different samples, and the cached rerun gives back the same three.
    assert len(set(first)) == 3 and again == first


def test_concurrent_identical_calls_are_made_once(server, comp, tmp_path):
    server.latency = 0.3
    gen = comp(model="shared", samples=2)
    with Archon({"layers": [[gen]]}, cache=tmp_path / "c.sqlite") as a:
        results = a.run_batch(["same question"] * 4)
    assert len(server.requests) == 1  # one request with n=2 served all four queries
    assert all(r.candidates == results[0].candidates for r in results)
    usage = [r.trace.usage for r in results]
    assert sorted(u.new_calls for u in usage) == [0, 0, 0, 2] and all(u.calls == 2 for u in usage)


def test_a_shared_call_that_fails_is_made_again_by_the_waiter(server, comp, tmp_path):
    server.latency = 0.2
    server.enqueue(Behaviour(status=400))  # the first request fails for good
    with Archon({"layers": [[comp(model="g")]]}, cache=tmp_path / "c.sqlite", retry=FAST) as a:
        results = a.run_batch(["q", "q"])
    assert sorted(r.error is None for r in results) == [False, True]
    assert len(server.requests) == 2


def test_a_layer_may_leave_no_candidates_when_a_later_one_makes_them(server, comp):
    # The reference code's "unit tests first" shape: tests, then generators, then the evaluator.
    server.responder = lambda b: ["1. It works.\n2. It is short."] if b["model"] == "t" else [f"[{b['model']}] answer"]
    cfg = {
        "layers": [
            [comp("unit_test_generator", model="t")],
            [comp(model="g", samples=2)],
            [comp("unit_test_evaluator", model="e", top_k=1)],
        ]
    }
    with Archon(cfg) as a:
        r = a.run("q")
    assert r.answer == "[g] answer" and len(r.candidates) == 1
    assert [len(layer.components[0].outputs or []) for layer in r.trace.layers] == [0, 2, 1]
    assert r.trace.layers[2].components[0].calls  # the evaluator judged the candidates against the tests


def test_fuser_keeps_the_users_system_prompt(server, comp):
    cfg = {"layers": [[comp(model="g")], [comp("fuser", model="f")]]}
    with Archon(cfg) as a:
        a.run([{"role": "system", "content": "Always answer in French."}, {"role": "user", "content": "hi"}])
    fuser = next(q for q in server.requests if q.body["model"] == "f")
    system = fuser.body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Always answer in French.")
    assert "candidate" in system["content"] and fuser.body["messages"][1:] == [{"role": "user", "content": "hi"}]


def test_more_samples_than_one_request_may_ask_for_go_in_several(server, comp):
    with Archon({"layers": [[comp(model="g", samples=200)]]}) as a:
        r = a.run("q")
    assert len(r.candidates) == 200
    assert sorted(q.body["n"] for q in server.requests) == [72, 128]


def test_threads_calling_the_sync_api_at_once_share_one_loop_and_its_caps(server, comp):
    import threading

    server.hold(2)  # the cap is reached: two wait for each other; a third would join them were it not kept back
    server.latency = 0.05
    with Archon({"layers": [[comp(model="g")]]}, concurrency={"OpenAI_API": 2}) as a:
        threads = [threading.Thread(target=a.generate, args=(f"q{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(server.requests) == 8 and server.max_in_flight == 2
    assert not [t for t in threading.enumerate() if t.name == "archon-loop"]


def test_concurrency_caps_by_alias_and_bad_caps(server, comp):
    server.hold(3)  # the cap is reached: three wait for each other; a fourth would join them were it not kept back
    server.latency = 0.05
    with Archon({"layers": [[comp(model="g")]]}, concurrency={"openai": 3}) as a:
        a.run_batch([f"q{i}" for i in range(9)])
    assert server.max_in_flight == 3
    from archon import ConfigError

    for bad in ({"OpenAI_API": 0}, {"OpenAI_API": "4"}, {"NoSuchProvider": 2}):
        with pytest.raises(ConfigError):
            Archon({"layers": [[comp(model="g")]]}, concurrency=bad)


def test_registering_a_generator_again_replaces_it(server):
    cfg = {"layers": [[{"type": "generator", "model": "m", "model_type": "mygen"}]]}
    with Archon(cfg) as a:
        a.add_generator("mygen", lambda messages, **kw: "from f1")
        assert a.generate("hi") == "from f1"
        a.add_generator("mygen", lambda messages, **kw: "from f2")
        assert a.generate("hi") == "from f2"


def test_a_changed_generator_function_is_asked_again_not_answered_from_the_cache(tmp_path):
    cfg = {"layers": [[{"type": "generator", "model": "m", "model_type": "versioned"}]]}
    cache = tmp_path / "c.sqlite"

    def answers(fn):
        with Archon(cfg, cache=cache) as a:
            a.add_generator("versioned", fn)
            return [r.answer for r in a.run_batch(["x", "y"])]

    assert answers(lambda messages, **kw: "v1: " + messages[-1]["content"]) == ["v1: x", "v1: y"]
    assert answers(lambda messages, **kw: "v2: " + messages[-1]["content"]) == ["v2: x", "v2: y"]
    # The same code is the same function: served from the cache.
    with Archon(cfg, cache=cache) as a:
        a.add_generator("versioned", lambda messages, **kw: "v2: " + messages[-1]["content"])
        assert a.run_batch(["x"])[0].trace.usage.cached_calls == 1


def test_trace_keeps_critiques_tests_and_verdicts(server, comp):
    def reply(body):
        text = body["messages"][-1]["content"]
        if "critique" in text.lower() and "strengths" in text.lower():
            return "[1] Strengths: clear. Weaknesses: none.\n[2] Strengths: short. Weaknesses: vague."
        if "[Correct] or [Incorrect]" in text:
            return "[Correct]"
        return f"[{body['model']}] answer"

    server.responder = reply
    cfg = {
        "layers": [
            [comp(model="g", samples=2)],
            [comp("critic", model="c")],
            [comp("verifier", model="v")],
            [comp("fuser", model="f", use_critiques=True)],
        ]
    }
    with Archon(cfg) as a:
        r = a.run("q")
    critic, verifier = r.trace.layers[1].components[0], r.trace.layers[2].components[0]
    assert critic.critiques and len(critic.critiques) == 2
    assert verifier.named["verdicts"] == [True, True] and len(verifier.named["verifier_reasoning"]) == 2
    data = r.to_dict()
    assert data["trace"]["layers"][1]["components"][0]["critiques"] == critic.critiques
    assert data["state"]["verdicts"] == [True, True]


def test_one_malformed_query_fails_alone_in_a_batch(server, comp):
    with Archon({"layers": [[comp(model="g")]]}) as a:
        results = a.run_batch(["fine", [{"role": "user", "content": None}], "also fine"])
    assert [r.answer is not None for r in results] == [True, False, True]
    assert results[1].error.startswith("query 1: message 0")


def test_a_cache_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    from archon import ArchonError

    bad = tmp_path / "notdb.sqlite"
    bad.write_text("this is not a database, " * 100)
    with pytest.raises(ArchonError, match=r"cannot use the call cache .*notdb.sqlite"):
        CallCache(bad)


def test_a_locked_cache_does_not_fail_queries(server, comp, tmp_path):
    import sqlite3

    path = tmp_path / "c.sqlite"
    cache = CallCache(path)
    cache._db.execute("PRAGMA busy_timeout=100")  # give up on the lock quickly
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with Archon({"layers": [[comp(model="g")]]}, cache=cache) as a:
            results = a.run_batch(["q1", "q2"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert all(r.answer and r.error is None for r in results)


def test_cached_samples_keep_the_token_totals(server, comp, tmp_path):
    cache = tmp_path / "c.sqlite"
    cfg = {"layers": [[comp(model="g", samples=3)]]}
    with Archon(cfg, cache=cache) as a:
        fresh = a.run_batch(["a question of several words"])[0].trace.usage
    with Archon(cfg, cache=cache) as a:
        again = a.run_batch(["a question of several words"])[0].trace.usage
    assert again.cached_calls == 3 and (again.input_tokens, again.output_tokens) == (
        fresh.input_tokens,
        fresh.output_tokens,
    )


def test_connections_close_with_the_callers_event_loop(server):
    import subprocess
    import sys

    script = f"""
import asyncio
from archon import Archon
a = Archon({{"layers": [[{{"type": "generator", "model": "g", "model_type": "OpenAI_API",
                         "base_url": "{server.base_url}"}}]]}}, keys={{"OPENAI_API_KEY": "x"}})
print(asyncio.run(a.agenerate("hi")))
print(asyncio.run(a.agenerate("again")))
a.close()
"""
    proc = subprocess.run([sys.executable, "-W", "always", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.count("[g] reply") == 2, proc.stderr
    assert "Unclosed" not in proc.stderr
