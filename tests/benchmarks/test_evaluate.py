"""`evaluate`/`aevaluate`: given items, in memory, with a running score and usage (what a search asks of a trial)."""

from __future__ import annotations

import re

import pytest

from archon import Archon, CallCache, RetryPolicy
from archon.benchmarks.base import Benchmark, Item, ItemScore
from archon.benchmarks.registry import get_benchmark
from archon.benchmarks.runner import aevaluate, evaluate
from archon.errors import ArchonError, ConfigError
from archon.testing.fake_openai import FakeOpenAIServer

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=5)


def responder(body: dict):
    """Question i: right (2i + 1) for even i, wrong for odd i."""
    i = int(re.search(r"Question (\d+):", body["messages"][-1]["content"]).group(1))
    return [f"The answer is {2 * i + 1 if i % 2 == 0 else 999}."] * (body.get("n") or 1)


def items(n: int) -> list[Item]:
    return [
        Item(id=f"q{i}", turns=[f"Question {i}: what is {i} + {i + 1}?"], reference=str(2 * i + 1)) for i in range(n)
    ]


@pytest.fixture
def srv():
    with FakeOpenAIServer(responder=responder) as s:
        yield s


def config(srv, samples=1) -> dict:
    return {
        "name": "gen",
        "layers": [
            [
                {
                    "type": "generator",
                    "model": "m",
                    "model_type": "OpenAI_API",
                    "base_url": srv.base_url,
                    "samples": samples,
                }
            ]
        ],
    }


def test_evaluate_scores_given_items_and_a_shared_cache_counts_new_and_cached_calls(srv, tmp_path):
    cache = CallCache(tmp_path / "calls.sqlite")
    first = evaluate(config(srv, samples=2), "gsm8k", items(4), cache=cache, retry=FAST)
    assert first.score == pytest.approx(0.5)
    assert first.usage["calls"] == 8 and first.usage["new_calls"] == 8 and first.usage["cached_calls"] == 0
    assert len(srv.requests) == 4  # one request of n=2 per item
    assert sorted(r["id"] for r in first.records) == ["q0", "q1", "q2", "q3"]

    # The next chunk shares the cache: the two items seen before cost nothing new.
    srv.reset()
    second = evaluate(config(srv, samples=2), "gsm8k", items(6)[2:], cache=cache, retry=FAST)
    assert second.usage["calls"] == 8 and second.usage["cached_calls"] == 4 and second.usage["new_calls"] == 4
    assert len(srv.requests) == 2
    summary = second.summary()
    assert summary["n"] == 4 and summary["score"] == pytest.approx(0.5) and summary["new_calls"] == 4
    cache.close()


async def test_on_record_sees_each_item_with_the_running_score(srv):
    seen = []
    ev = await aevaluate(
        config(srv),
        "gsm8k",
        items(5),
        cache=False,
        retry=FAST,
        concurrency=1,
        on_record=lambda rec, e: seen.append((rec["id"], len(e.records), e.score, e.usage["calls"])),
    )
    assert [s[0] for s in seen] == ["q0", "q1", "q2", "q3", "q4"]  # concurrency 1: in order
    assert [s[1] for s in seen] == [1, 2, 3, 4, 5]
    assert [s[2] for s in seen] == pytest.approx([1.0, 0.5, 2 / 3, 0.5, 0.6])
    assert [s[3] for s in seen] == [1, 2, 3, 4, 5]
    assert ev.score == pytest.approx(0.6)


class Pruned(Exception):
    pass


async def test_an_exception_from_on_record_stops_the_evaluation(srv):
    def prune(rec, ev):
        if len(ev.records) == 2:
            raise Pruned

    with pytest.raises(Pruned):
        await aevaluate(config(srv), "gsm8k", items(20), cache=False, retry=FAST, concurrency=1, on_record=prune)
    # The items still waiting were cancelled (the next one may have been on its way already).
    assert 2 <= len(srv.requests) <= 3


async def test_an_archon_given_is_used_as_it_is_and_left_open(srv):
    archon = Archon(config(srv), cache=False, retry=FAST)
    a = await aevaluate(archon, "gsm8k", items(2))
    b = await aevaluate(archon, "gsm8k", items(2))
    assert a.score == b.score == pytest.approx(0.5) and len(srv.requests) == 4
    await archon.aclose()


def test_evaluate_checks_the_architecture_and_the_judge_before_any_call(srv):
    bad = {
        "layers": [[{"type": "no_such_component", "model": "m", "model_type": "OpenAI_API", "base_url": srv.base_url}]]
    }
    with pytest.raises(ConfigError, match="no_such_component"):
        evaluate(bad, "gsm8k", items(2), cache=False)
    with pytest.raises(ArchonError, match="--judge"):
        evaluate(config(srv), "mt-bench", items(2), cache=False)
    assert srv.requests == []


# ---------------------------------------------------------------- the Benchmark hooks' defaults


class Plain(Benchmark):
    name = "plain"

    def load(self, data=None):
        return items(3)

    async def score(self, item, answers, ctx):
        return ItemScore(1.0)


def test_a_benchmark_with_only_load_and_score_gets_the_documented_defaults():
    b = Plain()
    assert b.kind == "ground_truth" and not b.needs_judge and b.worst_score == 0.0
    assert b.baseline_need() is None and b.options() == {} and b.summary_extra([ItemScore(1.0)]) == {}
    assert b.vote_key("  The  Answer\nIS 5 ") == "the answer is 5"


def test_the_judged_benchmarks_declare_their_judge_and_baseline_needs():
    assert get_benchmark("mt-bench").needs_judge and get_benchmark("mt-bench").baseline_need() is None
    assert get_benchmark("mt-bench-pairwise").baseline_need() == "required"
    assert get_benchmark("mt-bench-pairwise").options() == {"mode": "pairwise"}
    assert get_benchmark("arena-hard").baseline_need() == "reference"
    assert get_benchmark("alpaca-eval").baseline_need() == "reference"
    assert "config" in get_benchmark("alpaca-eval").options()
    assert not get_benchmark("gsm8k").needs_judge and get_benchmark("gsm8k").baseline_need() is None


def test_a_custom_benchmark_needing_a_baseline_is_refused_without_one_before_any_call(srv):
    class NeedsBaseline(Plain):
        def baseline_need(self):
            return "required"

    with pytest.raises(ArchonError, match="baseline"):
        evaluate(config(srv), NeedsBaseline(), items(2), cache=False)
    ev = evaluate(
        config(srv), NeedsBaseline(), items(2), cache=False, retry=FAST, baseline_answers={"q0": ["a"], "q1": ["b"]}
    )
    assert ev.score == 1.0
