"""Tests of the LLM-judged benchmarks with fake async judges (no network)."""

from __future__ import annotations

import asyncio
import json
import math
import re

import pytest

from archon.benchmarks.base import Item, ItemScore, ScoringContext
from archon.benchmarks.judged import (
    AlpacaEval,
    ArenaHard,
    MTBench,
    judge_verdict,
    pairwise_both_orders,
    pairwise_messages,
    parse_pairwise,
    parse_pairwise_label,
    parse_rating,
    single_grading_messages,
    verdict_strength,
)
from archon.benchmarks.registry import get_benchmark, list_benchmarks
from archon.errors import ArchonError

# ---------------------------------------------------------------- fake judges


class CountingJudge:
    """Replies from a fixed list (the last one repeats), recording every call."""

    def __init__(self, *replies: str):
        self.replies = list(replies)
        self.calls: list[list[dict]] = []

    async def __call__(self, messages):
        self.calls.append(messages)
        i = min(len(self.calls) - 1, len(self.replies) - 1)
        return self.replies[i]


async def always_a(messages):
    return "Both are fine but the first is better. [[A]]"


def _reply(messages, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", messages[-1]["content"], re.S)
    return m.group(1) if m else ""


async def prefers_good(messages):
    """Prefers whichever reply contains GOOD, whatever its position."""
    a, b = _reply(messages, "reply_of_assistant_A"), _reply(messages, "reply_of_assistant_B")
    if "GOOD" in a and "GOOD" not in b:
        return "A is clearly better. [[A]]"
    if "GOOD" in b and "GOOD" not in a:
        return "B is clearly better. [[B]]"
    return "Same. [[C]]"


async def prefers_good_arena(messages):
    a, b = _reply(messages, "reply_of_assistant_A"), _reply(messages, "reply_of_assistant_B")
    if "GOOD" in a and "GOOD" not in b:
        return "My answer: ... A matches it. [[A>>B]]"
    if "GOOD" in b and "GOOD" not in a:
        return "My answer: ... B matches it. [[B>A]]"
    return "[[A=B]]"


async def rating_8(messages):
    return "The answer is accurate and clear. Rating: [[8]]"


async def gibberish(messages):
    return "I refuse to grade."


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Good answer. Rating: [[7]]", 7.0),
        ("Rating: [[7.5]]", 7.5),
        ("[[10]]", 10.0),
        ("[[ 3 ]]", 3.0),
        ("Score [[8/10]]", 8.0),
        ("Format is [[N]] ... final: [[4]]", 4.0),
        ("Rating: 6", 6.0),
        ("[[11]]", None),
        ("[[0]]", None),
        ("[[seven]]", None),
        ("no rating here", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_rating(text, expected):
    assert parse_rating(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[[A]]", "A"),
        ("Final verdict: [[B]]", "B"),
        ("[[C]]", "tie"),
        ("[[A>>B]]", "A"),
        ("[[A>B]]", "A"),
        ("[[A=B]]", "tie"),
        ("[[B>A]]", "B"),
        ("My final verdict is [[B>>A]].", "B"),
        ("[[ a > b ]]", "A"),
        ("[[B<A]]", "A"),
        ("[[A]] ... on reflection [[B]]", None),  # contradicting verdicts
        ("[[A>B]] and again [[A>>B]]", "A"),  # agree on the winner
        ("A is better", None),
        ("[A]", None),
        ("[[D]]", None),
        ("", None),
    ],
)
def test_parse_pairwise(text, expected):
    assert parse_pairwise(text) == expected


def test_parse_pairwise_label_and_strength():
    assert parse_pairwise_label("[[A>>B]]") == "A>>B"
    assert parse_pairwise_label("[[A]]") == "A>B"
    assert parse_pairwise_label("[[C]]") == "A=B"
    assert parse_pairwise_label("[[B=A]]") == "A=B"
    assert parse_pairwise_label("[[A<<B]]") == "B>>A"
    assert [verdict_strength(x) for x in ("A>>B", "A>B", "A=B", "B>A", "B>>A", None)] == [2, 1, 0, -1, -2, None]


# ---------------------------------------------------------------- retries


async def test_judge_verdict_retries_then_gives_none():
    judge = CountingJudge("nothing", "still nothing")
    call = await judge_verdict(judge, [{"role": "user", "content": "q"}], parse_rating, 2)
    assert call.parsed is None and call.fallbacks == 1
    assert len(judge.calls) == 3


async def test_judge_verdict_succeeds_on_retry():
    judge = CountingJudge("hmm", "Rating: [[6]]")
    call = await judge_verdict(judge, [{"role": "user", "content": "q"}], parse_rating, 2)
    assert call.parsed == 6.0 and call.fallbacks == 0
    assert len(judge.calls) == 2


async def test_judge_verdict_zero_retries_and_reminder():
    judge = CountingJudge("hmm")
    call = await judge_verdict(judge, [{"role": "user", "content": "q"}], parse_rating, 0)
    assert (call.parsed, call.fallbacks, len(judge.calls)) == (None, 1, 1)
    judge = CountingJudge("hmm", "[[5]]")
    call = await judge_verdict(judge, [{"role": "user", "content": "q"}], parse_rating, 1, reminder="use [[N]]")
    assert call.parsed == 5.0 and call.attempts == 2
    assert judge.calls[1][-2] == {"role": "assistant", "content": "hmm"}
    assert judge.calls[1][-1] == {"role": "user", "content": "use [[N]]"}


async def test_judge_errors_propagate():
    async def broken(messages):
        raise RuntimeError("HTTP 500")

    with pytest.raises(RuntimeError):
        await judge_verdict(broken, [{"role": "user", "content": "q"}], parse_rating, 2)


# ---------------------------------------------------------------- pairwise both orders


async def test_pairwise_both_orders_cancels_position_bias():
    outcome, fallbacks, details = await pairwise_both_orders(always_a, "Q?", "answer", "baseline", 1)
    assert outcome == 0.5 and fallbacks == 0
    assert details["verdicts"] == ["A", "A"]
    assert details["results"] == ["win", "loss"]


async def test_pairwise_both_orders_real_preference():
    outcome, fallbacks, details = await pairwise_both_orders(prefers_good, "Q?", "a GOOD answer", "meh", 1)
    assert outcome == 1.0 and fallbacks == 0
    assert details["verdicts"] == ["A", "B"]
    outcome, _, _ = await pairwise_both_orders(prefers_good, "Q?", "meh", "a GOOD answer", 1)
    assert outcome == 0.0
    outcome, _, _ = await pairwise_both_orders(prefers_good, "Q?", "GOOD", "GOOD too", 1)
    assert outcome == 0.5


async def test_pairwise_both_orders_runs_concurrently():
    started = asyncio.Event()
    seen = 0

    async def waits_for_other(messages):
        nonlocal seen
        seen += 1
        if seen == 2:
            started.set()
        await asyncio.wait_for(started.wait(), timeout=2)  # deadlocks if run one after the other
        return "[[C]]"

    outcome, _, _ = await pairwise_both_orders(waits_for_other, "Q?", "x", "y", 0)
    assert outcome == 0.5


async def test_pairwise_unparsed_counts_as_tie_with_fallbacks():
    judge = CountingJudge("no verdict")
    outcome, fallbacks, details = await pairwise_both_orders(judge, "Q?", "x", "y", 1)
    assert outcome == 0.5 and fallbacks == 2
    assert details["results"] == ["fallback", "fallback"]
    assert len(judge.calls) == 4


async def test_pairwise_arena_scale_strengths():
    outcome, _, details = await pairwise_both_orders(prefers_good_arena, "Q?", "GOOD", "meh", 0, scale="arena")
    assert outcome == 1.0
    assert details["labels"] == ["A>>B", "B>A"]
    assert details["strengths"] == [2, 1]


def test_pairwise_messages_shapes():
    msgs = pairwise_messages("Q?", "first", "second", scale="arena")
    text = msgs[-1]["content"]
    assert "[[A>>B]]" in text and "first" in text and "second" in text
    assert text.index("first") < text.index("second")
    multi = pairwise_messages(["q1", "q2"], ["a1", "a2"], ["b1", "b2"])[-1]["content"]
    assert all(s in multi for s in ("q1", "q2", "a1", "a2", "b1", "b2"))
    ctx = pairwise_messages(
        [
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "now"},
        ],
        "x",
        "y",
    )[-1]["content"]
    assert "earlier" in ctx and "now" in ctx
    with pytest.raises(ArchonError):
        pairwise_messages(["q1", "q2"], ["a1"], ["b1", "b2"])


# ---------------------------------------------------------------- MT-Bench


def _mt_item(reference=None) -> Item:
    return Item(
        id="81",
        turns=["Write a haiku about rain.", "Now make it about snow."],
        reference=reference,
        metadata={"category": "writing"},
    )


def test_mt_bench_registered_and_kind():
    for name in ("mt-bench", "arena-hard", "alpaca-eval"):
        assert name in list_benchmarks()
        assert get_benchmark(name).kind == "judge"
    assert MTBench().mode == "single"
    with pytest.raises(ArchonError):
        MTBench(mode="bogus")


def test_mt_bench_conversation_turn_two_has_first_answer():
    bench = MTBench()
    item = _mt_item()
    msgs = bench.conversation(item, 1, ["Drops on the window"])
    assert msgs == [
        {"role": "user", "content": item.turns[0]},
        {"role": "assistant", "content": "Drops on the window"},
        {"role": "user", "content": item.turns[1]},
    ]


def test_mt_bench_load_local_and_hf_shapes(tmp_path):
    rows = [
        {"question_id": 81, "category": "writing", "turns": ["t1", "t2"]},
        {"question_id": 111, "category": "math", "turns": ["m1", "m2"], "reference": ["r1", "r2"]},
    ]
    p = tmp_path / "question.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows))
    items = MTBench().load(p)
    assert [i.id for i in items] == ["81", "111"]
    assert items[0].turns == ["t1", "t2"] and items[0].reference is None
    assert items[1].reference == ["r1", "r2"] and items[1].metadata["category"] == "math"
    # The HuggingFaceH4/mt_bench_prompts shape: prompt / prompt_id / empty reference.
    hf = tmp_path / "hf.json"
    hf.write_text(json.dumps([{"prompt": ["a", "b"], "prompt_id": 5, "category": "x", "reference": []}]))
    (item,) = MTBench().load(hf)
    assert item.id == "5" and item.turns == ["a", "b"] and item.reference is None


async def test_mt_bench_single_grading():
    judge = CountingJudge("Rating: [[8]]")
    score = await MTBench().score(_mt_item(), ["ans one", "ans two"], ScoringContext(judge=judge))
    assert score.value == 8.0
    assert score.fallbacks == 0
    assert score.details["ratings"] == [8.0, 8.0]
    assert len(judge.calls) == 2
    # Turn 2's judge prompt shows the whole conversation.
    turn2 = next(c for c in judge.calls if "ans two" in c[-1]["content"])[-1]["content"]
    assert all(s in turn2 for s in ("Write a haiku about rain.", "ans one", "Now make it about snow.", "ans two"))


async def test_mt_bench_single_grading_plain_function_judge():
    score = await MTBench().score(_mt_item(), ["a", "b"], ScoringContext(judge=rating_8))
    assert score.value == 8.0


async def test_mt_bench_reference_shown_to_judge():
    judge = CountingJudge("[[3]]")
    item = _mt_item(reference=["REF-ONE", "REF-TWO"])
    await MTBench().score(item, ["x", "y"], ScoringContext(judge=judge))
    texts = [c[-1]["content"] for c in judge.calls]
    assert all("REF-ONE" in t for t in texts)
    assert sum("REF-TWO" in t for t in texts) == 1


async def test_mt_bench_unparsed_ratings_are_left_out_not_scored_as_a_default():
    judge = CountingJudge("I refuse to grade.")
    score = await MTBench().score(_mt_item(), ["a", "b"], ScoringContext(judge=judge, judge_retries=1))
    assert score.fallbacks == 2
    assert math.isnan(score.value)  # no rating parsed: the item has no score
    assert score.details["ratings"] == [None, None]
    assert len(judge.calls) == 4  # 2 turns x (1 + 1 retry)
    rated = ItemScore(value=8.0, details={"ratings": [8.0, 8.0]})
    extra = MTBench().summary_extra([score, rated])
    # The summary rests on the one rated item and says how many ratings were left out.
    assert extra["score"] == 8.0 and extra["ci_low"] == extra["ci_high"] == 8.0 and extra["n"] == 1
    assert extra["unparsed_ratings"] == 2 and extra["items_unscored"] == 1 and extra["fallbacks"] == 2


async def test_mt_bench_mixed_parse():
    async def judge(messages):
        return "[[9]]" if "b-answer" in messages[-1]["content"] else "nope"

    score = await MTBench().score(_mt_item(), ["a-answer", "b-answer"], ScoringContext(judge=judge, judge_retries=0))
    assert score.details["ratings"] == [None, 9.0]
    assert score.value == 9.0  # the unparsed turn is left out
    assert score.fallbacks == 1
    extra = MTBench().summary_extra([score])
    assert extra["turn_2"] == 9.0 and math.isnan(extra["turn_1"]) and extra["unparsed_ratings"] == 1


async def test_mt_bench_needs_judge_and_answers():
    with pytest.raises(ArchonError, match="--judge"):
        await MTBench().score(_mt_item(), ["a", "b"], ScoringContext(judge=None))
    with pytest.raises(ArchonError):
        await MTBench().score(_mt_item(), ["a"], ScoringContext(judge=rating_8))


async def test_mt_bench_pairwise_mode():
    async def judge(messages):
        text = messages[-1]["content"]
        a = (
            text.split("<conversation_with_assistant_A>")[-1].split("</conversation_with_assistant_A>")[0]
            if "conversation_with" in text
            else _reply(messages, "reply_of_assistant_A")
        )
        b = (
            text.split("<conversation_with_assistant_B>")[-1].split("</conversation_with_assistant_B>")[0]
            if "conversation_with" in text
            else _reply(messages, "reply_of_assistant_B")
        )
        a_last = a.strip().split("\n")[-1]
        b_last = b.strip().split("\n")[-1]
        if "GOOD" in a_last and "GOOD" not in b_last:
            return "[[A]]"
        if "GOOD" in b_last and "GOOD" not in a_last:
            return "[[B]]"
        return "[[C]]"

    bench = MTBench(mode="pairwise")
    ctx = ScoringContext(judge=judge, baseline={"81": ["base one", "base two"]})
    score = await bench.score(_mt_item(), ["GOOD one", "plain two"], ctx)
    assert score.details["turn_outcomes"] == [1.0, 0.5]
    assert score.value == 0.75
    with pytest.raises(ArchonError, match="81"):
        await bench.score(_mt_item(), ["a", "b"], ScoringContext(judge=judge, baseline={}))
    extra = bench.summary_extra([score])
    assert extra["win_rate"] == 0.75


async def test_mt_bench_summary_extra():
    bench = MTBench()
    scores = [
        ItemScore(value=7.0, details={"ratings": [8.0, 6.0], "category": "writing"}),
        ItemScore(value=5.0, details={"ratings": [6.0, 4.0], "category": "math"}, fallbacks=1),
    ]
    extra = bench.summary_extra(scores)
    assert extra["score"] == 6.0 and extra["turn_1"] == 7.0 and extra["turn_2"] == 5.0
    assert extra["by_category"] == {"math": 5.0, "writing": 7.0}
    assert extra["fallbacks"] == 1


# ---------------------------------------------------------------- Arena-Hard


def test_arena_hard_load_v01_and_v2(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(
        json.dumps({"question_id": "abc", "category": "arena-hard-v0.1", "cluster": "c", "turns": [{"content": "Q1"}]})
        + "\n"
        + json.dumps({"uid": "u2", "category": "hard_prompt", "prompt": "Q2", "baseline": "B2"})
        + "\n"
    )
    items = ArenaHard().load(p)
    assert [(i.id, i.turns, i.reference) for i in items] == [("abc", ["Q1"], None), ("u2", ["Q2"], "B2")]


async def test_arena_hard_scoring_and_summary():
    bench = ArenaHard()
    items = [Item(id=str(i), turns=[f"question {i}"]) for i in range(4)]
    baseline = {str(i): [f"baseline {i}"] for i in range(4)}
    answers = [["GOOD a"], ["meh"], ["GOOD c"], ["meh"]]
    ctx = ScoringContext(judge=prefers_good_arena, baseline=baseline)
    scores = [await bench.score(it, ans, ctx) for it, ans in zip(items, answers)]
    assert [s.value for s in scores] == [1.0, 0.5, 1.0, 0.5]
    assert bench.aggregate(scores) == 0.75
    extra = bench.summary_extra(scores)
    assert extra["win_rate"] == 0.75
    assert extra["ci_low"] <= 0.75 <= extra["ci_high"]
    assert extra["weighted_win_rate"] > 0.5


async def test_arena_hard_position_bias_and_errors():
    bench = ArenaHard()
    item = Item(id="q7", turns=["question"])
    score = await bench.score(item, ["x"], ScoringContext(judge=always_a, baseline={"q7": ["y"]}))
    assert score.value == 0.5
    with pytest.raises(ArchonError, match="q7"):
        await bench.score(item, ["x"], ScoringContext(judge=always_a, baseline=None))
    with pytest.raises(ArchonError, match="--judge"):
        await bench.score(item, ["x"], ScoringContext(judge=None, baseline={"q7": ["y"]}))
    # A baseline carried in the data file works too.
    item2 = Item(id="q8", turns=["question"], reference="GOOD baseline")
    score2 = await bench.score(item2, ["meh"], ScoringContext(judge=prefers_good_arena))
    assert score2.value == 0.0


# ---------------------------------------------------------------- AlpacaEval


async def test_alpaca_eval_local_json_uses_output_as_baseline(tmp_path):
    p = tmp_path / "alpaca.json"
    p.write_text(
        json.dumps(
            [
                {
                    "instruction": "Name a fruit.",
                    "output": "GOOD: apple",
                    "generator": "gpt4_turbo",
                    "dataset": "helpful_base",
                },
                {"instruction": "Name a colour.", "output": "blue"},
            ]
        )
    )
    bench = AlpacaEval()
    items = bench.load(p)
    assert [i.turns for i in items] == [["Name a fruit."], ["Name a colour."]]
    assert items[0].reference == "GOOD: apple"
    assert items[0].metadata["generator"] == "gpt4_turbo"
    ctx = ScoringContext(judge=prefers_good)
    s0 = await bench.score(items[0], ["banana"], ctx)
    s1 = await bench.score(items[1], ["GOOD: red"], ctx)
    assert s0.value == 0.0 and s1.value == 1.0
    assert s0.details["len_model"] == len("banana")
    assert s0.details["len_baseline"] == len("GOOD: apple")
    assert s0.details["baseline_source"] == "dataset"
    assert s0.details["verdicts"] == ["B", "A"]
    # ctx.baseline overrides the data set's output.
    s2 = await bench.score(items[0], ["banana"], ScoringContext(judge=prefers_good, baseline={items[0].id: ["pear"]}))
    assert s2.value == 0.5 and s2.details["baseline_source"] == "baseline"


async def test_alpaca_eval_errors():
    bench = AlpacaEval()
    item = Item(id="3", turns=["Do X."])
    with pytest.raises(ArchonError, match="'3'"):
        await bench.score(item, ["x"], ScoringContext(judge=prefers_good))
    with pytest.raises(ArchonError, match="--judge"):
        await bench.score(Item(id="4", turns=["Do X."], reference="y"), ["x"], ScoringContext())


async def test_alpaca_eval_unparsed_verdicts_counted():
    bench = AlpacaEval()
    item = Item(id="0", turns=["Do X."], reference="y")
    score = await bench.score(item, ["x"], ScoringContext(judge=gibberish, judge_retries=0))
    assert score.value == 0.5 and score.fallbacks == 2


def test_alpaca_eval_summary_extra_lc():
    bench = AlpacaEval()
    scores = []
    for i in range(60):
        longer = i % 3 != 0
        scores.append(
            ItemScore(
                value=1.0 if longer else 0.0,
                details={"len_model": 1000 + (300 + i if longer else -200 - i), "len_baseline": 1000},
            )
        )
    extra = bench.summary_extra(scores)
    assert extra["win_rate"] == pytest.approx(40 / 60)
    assert abs(extra["lc_win_rate"] - 0.5) < abs(extra["win_rate"] - 0.5)
    assert extra["ci_low"] <= extra["win_rate"] <= extra["ci_high"]
    assert extra["avg_len_model"] > extra["avg_len_baseline"]


def test_single_grading_messages_format():
    msgs = single_grading_messages(["q"], ["a"], reference="r")
    assert msgs[0]["role"] == "system"
    body = msgs[-1]["content"]
    assert "Rating: [[" in body and "<reference_answer>" in body and "<assistant_reply>\na\n" in body


def test_mt_bench_pairwise_is_registered_and_failures_score_bottom_of_scale():
    from archon.benchmarks.registry import get_benchmark

    assert get_benchmark("mt-bench-pairwise").mode == "pairwise"
    assert get_benchmark("mt-bench").worst_score == 1.0
    assert get_benchmark("mt-bench-pairwise").worst_score == 0.0


async def test_mt_bench_pairwise_errors_name_the_pairwise_benchmark():
    from archon.benchmarks.registry import get_benchmark

    bench = get_benchmark("mt-bench-pairwise")
    assert bench.name == "mt-bench-pairwise"
    with pytest.raises(ArchonError, match=r"benchmark 'mt-bench-pairwise'.*no baseline answer"):
        await bench.score(_mt_item(), ["a", "b"], ScoringContext(judge=rating_8, baseline={}))
    with pytest.raises(ArchonError, match=r"benchmark 'mt-bench-pairwise'.*--judge"):
        await bench.score(_mt_item(), ["a", "b"], ScoringContext(judge=None))
