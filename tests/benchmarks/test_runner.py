"""`arun_benchmark`/`run_benchmark`: selection, scoring, results files, resume, errors, judges, baselines.

All LLMs are FakeOpenAIServer responders that compute their answers, so scores are known.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archon import Archon, RetryPolicy
from archon.benchmarks.base import Benchmark, Item, ItemScore
from archon.benchmarks.baselines import baselines_note, compute_matched_baselines, default_vote_key, majority_vote
from archon.benchmarks.registry import register_benchmark
from archon.benchmarks.run_folder import load_baseline_answers, load_results
from archon.benchmarks.runner import arun_benchmark, run_benchmark
from archon.benchmarks.splits import select_items, split_items
from archon.errors import ArchonError
from archon.testing.fake_openai import FakeOpenAIServer

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=60)  # timeout: a guard, not under test
N_ITEMS = 6


# ---------------------------------------------------------------- helpers


def gold(i: int) -> int:
    return 2 * i + 1


def write_gsm8k(path: Path, n: int = N_ITEMS) -> Path:
    recs = [
        {
            "id": f"q{i}",
            "question": f"Question {i}: what is {i} + {i + 1}?",
            "answer": f"{i} + {i + 1} = {gold(i)}\n#### {gold(i)}",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def _all_text(body: dict) -> str:
    return "\n".join(m.get("content") or "" for m in body.get("messages", []) if isinstance(m.get("content"), str))


def gsm8k_responder(body: dict):
    """Right for even questions, wrong for odd ones; a ranker gets an identity ranking."""
    text = _all_text(body)
    n = body.get("n") or 1
    m = re.search(r"Rank the (\d+) candidate", text)
    if m:
        return " > ".join(f"[{k}]" for k in range(1, int(m.group(1)) + 1))
    i = int(re.search(r"Question (\d+):", text).group(1))
    answer = f"So the sum is {gold(i)}. The answer is {gold(i)}." if i % 2 == 0 else "The answer is 999."
    return [answer] * n


def gen(srv: FakeOpenAIServer, model: str = "m", **kw) -> dict:
    return {"type": "generator", "model": model, "model_type": "OpenAI_API", "base_url": srv.base_url, **kw}


def single_config(srv, name="single-m", **kw) -> dict:
    return {"name": name, "layers": [[gen(srv, **kw)]]}


def judged_run(arch: FakeOpenAIServer, judge: FakeOpenAIServer, benchmark: str, **kwargs) -> dict:
    """A run of ``benchmark`` answered by ``arch`` and judged by ``judge``."""
    return run_benchmark(single_config(arch), benchmark, judge=single_config(judge, name="judge"), retry=FAST, **kwargs)


@pytest.fixture
def srv():
    with FakeOpenAIServer(responder=gsm8k_responder) as s:
        yield s


@pytest.fixture
def data(tmp_path):
    return write_gsm8k(tmp_path / "gsm8k.jsonl")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- selection


def _items(n: int) -> list[Item]:
    return [Item(id=f"item-{i}", turns=[f"q{i}"]) for i in range(n)]


def test_split_items_deterministic_disjoint_and_covering():
    items = _items(50)
    dev, test = split_items(items, "dev", seed=3), split_items(items, "test", seed=3)
    assert len(dev) == 10 and len(test) == 40
    assert {i.id for i in dev}.isdisjoint({i.id for i in test})
    assert {i.id for i in dev} | {i.id for i in test} == {i.id for i in items}
    # Stable: the same call again, and the input in another order, give the same split.
    assert [i.id for i in split_items(items, "dev", seed=3)] == [i.id for i in dev]
    assert {i.id for i in split_items(list(reversed(items)), "dev", seed=3)} == {i.id for i in dev}
    # Original order is kept; another seed gives another split; "all" is everything.
    assert [i.id for i in dev] == [i.id for i in items if i in dev]
    assert {i.id for i in split_items(items, "dev", seed=4)} != {i.id for i in dev}
    assert split_items(items, "all") == items
    with pytest.raises(ArchonError):
        split_items(items, "train")


def test_select_items_sample_and_limit():
    items = _items(30)
    a = select_items(items, sample=7, seed=1)
    assert len(a) == 7 and a == select_items(items, sample=7, seed=1)
    assert [i.id for i in a] == [i.id for i in items if i in a]  # original order
    assert select_items(items, sample=7, seed=2) != a
    assert select_items(items, limit=4) == items[:4]
    assert select_items(items, split="test", limit=3) == split_items(items, "test")[:3]
    with pytest.raises(ArchonError, match="duplicate"):
        select_items(items + items[:1])


# ---------------------------------------------------------------- a scored run


def test_run_scores_and_writes_files(srv, data, tmp_path):
    out = tmp_path / "run"
    config = {"name": "gen2-fuse", "layers": [[gen(srv, samples=2)], [{**gen(srv), "type": "fuser"}]]}
    summary = run_benchmark(config, "gsm8k", data=data, out_dir=out, retry=FAST)

    assert summary["n"] == N_ITEMS and summary["errors"] == 0
    assert summary["score"] == pytest.approx(0.5)
    assert summary["ci_low"] <= 0.5 <= summary["ci_high"] and summary["ci_low"] < summary["ci_high"]
    assert summary["calls_per_query"] == 3 and summary["calls_per_query_worst_case"] == 3
    assert summary["new_calls"] == 3 * N_ITEMS
    assert summary["input_tokens_per_query"] > 0 and summary["output_tokens_per_query"] > 0
    assert set(summary["latency_s"]) >= {"p50", "p90", "p99"}
    assert summary["fallbacks"] == {"architecture": 0, "judge": 0, "items_with_fallbacks": 0}
    assert json.loads((out / "summary.json").read_text()) == summary

    recs = lines(out / "results.jsonl")
    assert sorted(r["id"] for r in recs) == [f"q{i}" for i in range(N_ITEMS)]
    for r in recs:
        assert set(r) >= {"id", "answers", "score", "details", "fallbacks", "usage", "latency_s", "error"}
        assert len(r["answers"]) == 1 and r["error"] is None
        assert r["score"] == (1.0 if int(r["id"][1:]) % 2 == 0 else 0.0)
        assert r["usage"]["calls"] == 3 and r["usage"]["new_calls"] == 3 and r["usage"]["cached_calls"] == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["architecture"]["name"] == "gen2-fuse" and saved["benchmark"]["name"] == "gsm8k"


def test_split_and_sample_select_the_items_run(srv, data, tmp_path):
    s = run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=tmp_path / "dev", split="dev", retry=FAST)
    t = run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=tmp_path / "test", split="test", retry=FAST)
    assert s["n"] + t["n"] == N_ITEMS and s["n"] == 1
    ids = lambda d: {r["id"] for r in lines(tmp_path / d / "results.jsonl")}  # noqa: E731
    assert ids("dev").isdisjoint(ids("test"))
    sm = run_benchmark(
        single_config(srv), "gsm8k", data=data, out_dir=tmp_path / "sample", sample=4, limit=3, retry=FAST
    )
    assert sm["n"] == 3


# ---------------------------------------------------------------- resume and cache


def test_resume_runs_only_missing_items_then_nothing(srv, data, tmp_path):
    out = tmp_path / "run"
    first = run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=out, limit=3, retry=FAST)
    assert first["n"] == 3 and len(srv.requests) == 3

    srv.reset()
    full = run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=out, retry=FAST)
    asked = {re.search(r"Question (\d+):", _all_text(r.body)).group(1) for r in srv.requests}
    assert asked == {"3", "4", "5"}
    assert full["n"] == N_ITEMS and full["items_run"] == 3 and full["new_calls"] == 3
    assert full["score"] == pytest.approx(0.5)

    srv.reset()
    again = run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=out, retry=FAST)
    assert len(srv.requests) == 0
    assert again["items_run"] == 0 and again["new_calls"] == 0
    assert again["score"] == full["score"] and again["calls_per_query"] == 1
    assert len(lines(out / "results.jsonl")) == N_ITEMS


def test_call_cache_makes_a_fresh_run_free(srv, data, tmp_path):
    run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=tmp_path / "a", retry=FAST)
    srv.reset()
    b = run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=tmp_path / "b", retry=FAST)
    assert len(srv.requests) == 0
    assert b["new_calls"] == 0 and b["calls_per_query"] == 1 and b["cached_calls_per_query"] == 1
    assert b["input_tokens_per_query"] > 0  # cached calls still count as the architecture's cost
    srv.reset()
    run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=tmp_path / "c", cache=False, retry=FAST)
    assert len(srv.requests) == N_ITEMS


def test_truncated_last_line_is_tolerated(srv, data, tmp_path):
    out = tmp_path / "run"
    run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=out, limit=3, retry=FAST)
    with open(out / "results.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"id": "q3", "answers": ["The ans')  # killed mid-write
    assert set(load_results(out / "results.jsonl")) == {"q0", "q1", "q2"}
    srv.reset()
    s = run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=out, retry=FAST)
    assert s["n"] == N_ITEMS and len(srv.requests) == 3
    recs = lines(out / "results.jsonl")  # every line parses again
    assert sorted(r["id"] for r in recs) == [f"q{i}" for i in range(N_ITEMS)]


def test_refuses_to_resume_a_different_run(srv, data, tmp_path):
    out = tmp_path / "run"
    run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=out, limit=1, retry=FAST)
    with pytest.raises(ArchonError, match="different architecture"):
        run_benchmark(single_config(srv, temperature=0.1), "gsm8k", data=data, out_dir=out, retry=FAST)
    with pytest.raises(ArchonError, match="different benchmark"):
        run_benchmark(single_config(srv), "math", data=data, out_dir=out, retry=FAST)
    # The same architecture with another limit resumes fine: it takes the first N of the same selection.
    assert run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=out, limit=2, retry=FAST)["n"] == 2


def test_refuses_to_resume_with_other_data_split_sample_or_baseline(srv, tmp_path):
    def write(path, prefix):  # no ids: items get ids 0, 1, ... so two files line up
        path.write_text(
            "".join(
                json.dumps({"question": f"Question {i}: {prefix}?", "answer": f"#### {gold(i)}"}) + "\n"
                for i in range(N_ITEMS)
            ),
            encoding="utf-8",
        )
        return path

    a, b = write(tmp_path / "a.jsonl", "apples"), write(tmp_path / "b.jsonl", "bananas")
    out = tmp_path / "run"
    run_benchmark(single_config(srv), "gsm8k", data=a, out_dir=out, limit=2, retry=FAST)
    saved, results = (out / "config.json").read_text(), (out / "results.jsonl").read_text()
    srv.reset()
    for kwargs, message in (
        ({"data": b}, f"different data set ({a.resolve()} there, {b.resolve()} now)"),
        ({"data": a, "split": "test"}, "different split ('all' there, 'test' now)"),
        ({"data": a, "sample": 3}, "different sample (none there, 3 now)"),
        # GSM8K has no baseline: answers given for one would be ignored, so they are refused.
        ({"data": a, "baseline_answers": {"0": ["x"]}}, "benchmark 'gsm8k' is not judged against a baseline"),
    ):
        with pytest.raises(ArchonError, match=re.escape(message)):
            run_benchmark(single_config(srv), "gsm8k", out_dir=out, retry=FAST, **kwargs)
    # Nothing was asked, and the folder still tells the truth about its run.
    assert not srv.requests
    assert (out / "config.json").read_text() == saved and (out / "results.jsonl").read_text() == results

    # The file edited in place is other data too; the same items copied elsewhere are not.
    copy = tmp_path / "copy.jsonl"
    copy.write_text(a.read_text(encoding="utf-8"), encoding="utf-8")
    write(a, "cherries")
    with pytest.raises(ArchonError, match=re.escape(f"different data set (the items of {a.resolve()} changed)")):
        run_benchmark(single_config(srv), "gsm8k", data=a, out_dir=out, retry=FAST)
    assert run_benchmark(single_config(srv), "gsm8k", data=copy, out_dir=out, limit=2, retry=FAST)["items_run"] == 0
    assert not srv.requests

    # The seeded dev split resumes with the same seed, not another one.
    run_benchmark(single_config(srv), "gsm8k", data=b, out_dir=tmp_path / "dev", split="dev", seed=1, retry=FAST)
    with pytest.raises(ArchonError, match=re.escape("different seed (1 there, 2 now)")):
        run_benchmark(single_config(srv), "gsm8k", data=b, out_dir=tmp_path / "dev", split="dev", seed=2, retry=FAST)


def test_a_run_folder_that_cannot_be_created_is_a_clear_error(srv, data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ArchonError, match=f"cannot create the run folder {re.escape(str(blocker / 'run'))}: "):
        run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=blocker / "run", retry=FAST)
    assert not srv.requests


# ---------------------------------------------------------------- failures


def test_failed_query_is_an_error_item_and_the_run_goes_on(data, tmp_path):
    def responder(body):
        if body["model"] == "bad" or "Question 3:" in _all_text(body):
            raise RuntimeError("boom")
        return gsm8k_responder(body)

    with FakeOpenAIServer(responder=responder) as s:
        out = tmp_path / "run"
        summary = run_benchmark(single_config(s), "gsm8k", data=data, out_dir=out, retry=FAST)
        assert summary["n"] == N_ITEMS and summary["errors"] == 1
        assert summary["score"] == pytest.approx(0.5)  # q3 was wrong anyway; errors score 0
        bad = [r for r in lines(out / "results.jsonl") if r["error"]]
        assert [r["id"] for r in bad] == ["q3"] and bad[0]["score"] == 0.0 and "query failed" in bad[0]["error"]
        assert bad[0]["usage"]["failed_calls"] == 1 and summary["error_examples"][0]["id"] == "q3"

        # Error items are kept on resume, unless retry_errors.
        s.reset()
        run_benchmark(single_config(s), "gsm8k", data=data, out_dir=out, retry=FAST)
        assert len(s.requests) == 0
        run_benchmark(single_config(s), "gsm8k", data=data, out_dir=out, retry=FAST, retry_errors=True)
        assert len(s.requests) == FAST.max_attempts

        # A model that always fails: every item is an error, none is lost.
        all_bad = run_benchmark(
            single_config(s, model="bad", name="bad"), "gsm8k", data=data, out_dir=tmp_path / "bad", retry=FAST
        )
        assert all_bad["errors"] == N_ITEMS and all_bad["score"] == 0.0


def test_unknown_component_fails_before_any_call(srv, data, tmp_path):
    config = {"layers": [[gen(srv)], [{"type": "no_such_component"}]]}
    with pytest.raises(ArchonError, match="no_such_component"):
        run_benchmark(config, "gsm8k", data=data, out_dir=tmp_path / "run", retry=FAST)
    assert len(srv.requests) == 0


# ---------------------------------------------------------------- judged benchmarks


def write_mt_bench(path: Path) -> Path:
    recs = [
        {
            "question_id": 81 + i,
            "category": "writing",
            "turns": [f"Write a poem about topic {i}.", f"Now shorten the poem about topic {i}."],
        }
        for i in range(2)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def test_judged_benchmark_without_judge_fails_before_generation(srv, tmp_path):
    data = write_mt_bench(tmp_path / "mt.jsonl")
    with pytest.raises(ArchonError, match="--judge"):
        run_benchmark(single_config(srv), "mt-bench", data=data, out_dir=tmp_path / "run", retry=FAST)
    assert len(srv.requests) == 0 and not (tmp_path / "run" / "results.jsonl").exists()


def test_mt_bench_two_turns_uses_own_answers_and_judge(tmp_path):
    def answerer(body):
        last = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        return f"ANSWER to <{last}>"

    data = write_mt_bench(tmp_path / "mt.jsonl")
    with (
        FakeOpenAIServer(responder=answerer) as arch,
        FakeOpenAIServer(responder=lambda body: "The reply is decent. Rating: [[7]]") as judge,
    ):
        summary = judged_run(arch, judge, "mt-bench", data=data, out_dir=tmp_path / "run")
        assert len(arch.requests) == 4 and len(judge.requests) == 4
        # Turn 2 is sent after turn 1 and the architecture's own answer to it.
        turn2 = [r.body["messages"] for r in arch.requests if len(r.body["messages"]) == 3]
        assert len(turn2) == 2
        for msgs in turn2:
            topic = re.search(r"topic (\d)", msgs[0]["content"]).group(1)
            assert msgs[1] == {"role": "assistant", "content": f"ANSWER to <Write a poem about topic {topic}.>"}
        assert summary["score"] == pytest.approx(7.0) and summary["n"] == 2
        assert summary["extra"]["turn_2"] == pytest.approx(7.0)
        assert summary["judge_usage"]["calls"] == 4
        recs = lines(tmp_path / "run" / "results.jsonl")
        assert all(len(r["answers"]) == 2 and r["judge_usage"]["calls"] == 2 for r in recs)
        assert json.loads((tmp_path / "run" / "config.json").read_text())["judge"]["name"] == "judge"
        # One architecture call per turn: the worst case per query (item) counts both turns.
        assert summary["calls_per_query"] == 2 and summary["calls_per_query_worst_case"] == 2


def test_mt_bench_unparsed_ratings_give_no_score_rather_than_a_default(tmp_path):
    data = write_mt_bench(tmp_path / "mt.jsonl")
    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=lambda body: "I will not grade this.") as judge:
        summary = judged_run(arch, judge, "mt-bench", data=data, out_dir=tmp_path / "run", judge_retries=0)
    assert summary["score"] is None and summary["ci_low"] is None  # not a confident-looking 5.5
    assert summary["n"] == 2 and summary["unscored"] == 2 and summary["errors"] == 0
    assert summary["extra"]["unparsed_ratings"] == 4 and summary["fallbacks"]["judge"] == 4
    assert all(r["score"] is None for r in lines(tmp_path / "run" / "results.jsonl"))
    from rich.console import Console

    from archon.cli.bench import summary_table

    console = Console(record=True, width=200)
    console.print(summary_table(summary))
    assert "2 unscored: no judge verdict parsed" in console.export_text()


def test_a_failing_judge_leaves_items_unscored_but_a_failing_architecture_loses(tmp_path):
    data = write_mt_bench(tmp_path / "mt.jsonl")

    def judge_responder(body):  # HTTP 500 (after the retries) for every judgment of topic 1
        if "topic 1" in _all_text(body):
            raise RuntimeError("judge down")
        return "Fine. Rating: [[7]]"

    def arch_responder(body):
        if "topic 0" in _all_text(body):
            raise RuntimeError("model down")
        return "an answer"

    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=judge_responder) as judge:
        s = judged_run(arch, judge, "mt-bench", data=data, out_dir=tmp_path / "judge")
        # Topic 1's judge failed: it is an error and unscored, left out of the headline as of turn_1/turn_2/by_category.
        assert s["score"] == pytest.approx(7.0) and s["n"] == 2
        assert s["errors"] == 1 and s["unscored"] == 1 and s["scoring_errors"] == 1
        assert s["extra"]["turn_1"] == s["extra"]["turn_2"] == pytest.approx(7.0)
        assert s["extra"]["by_category"] == {"writing": pytest.approx(7.0)} and s["extra"]["items_unscored"] == 1
        bad = next(r for r in lines(tmp_path / "judge" / "results.jsonl") if r["error"])
        assert bad["id"] == "82" and bad["score"] is None and "the judge failed" in bad["error"]

    with (
        FakeOpenAIServer(responder=arch_responder) as arch,
        FakeOpenAIServer(responder=lambda body: "Fine. Rating: [[7]]") as judge,
    ):
        s = judged_run(arch, judge, "mt-bench", data=data, out_dir=tmp_path / "arch")
        # Topic 0's architecture failed: it lost, at the bottom of the scale, and counts.
        assert s["score"] == pytest.approx((1.0 + 7.0) / 2) and s["errors"] == 1 and s["unscored"] == 0

    with (
        FakeOpenAIServer() as arch,
        FakeOpenAIServer(
            responder=lambda body: _raise() if "Instruction 1" in _all_text(body) else "Verdict: [[A]]"
        ) as judge,
    ):
        s = judged_run(
            arch, judge, "alpaca-eval", data=write_alpaca(tmp_path / "a.jsonl", True), out_dir=tmp_path / "alpaca"
        )
        # Pairwise: the item the judge failed on is not a loss either.
        assert s["score"] == pytest.approx(0.5) and s["unscored"] == 1 and s["errors"] == 1
        assert s["extra"]["win_rate"] == pytest.approx(0.5) and s["extra"]["n"] == 2
        assert s["extra"]["items_unscored"] == 1 and s["extra"]["losses"] == 0


def _raise():
    raise RuntimeError("judge down")


def write_alpaca(path: Path, with_output: bool) -> Path:
    recs = [
        {"id": f"a{i}", "instruction": f"Instruction {i}", **({"output": f"reference {i}"} if with_output else {})}
        for i in range(3)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def test_pairwise_baselines_reference_file_and_config(tmp_path):
    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=lambda body: "Verdict: [[A]]") as judge:
        # The data set's own reference outputs (AlpacaEval): judged "A" in both orders -> a tie.
        s = judged_run(
            arch, judge, "alpaca-eval", data=write_alpaca(tmp_path / "ref.jsonl", True), out_dir=tmp_path / "ref"
        )
        assert s["score"] == pytest.approx(0.5) and s["n"] == 3 and s["errors"] == 0
        assert len(judge.requests) == 6

        bare = write_alpaca(tmp_path / "bare.jsonl", False)
        arch.reset()
        with pytest.raises(ArchonError, match="baseline"):
            judged_run(arch, judge, "alpaca-eval", data=bare, out_dir=tmp_path / "x")
        assert len(arch.requests) == 0

        # Another run's results.jsonl as the baseline answers.
        b = judged_run(
            arch,
            judge,
            "alpaca-eval",
            data=bare,
            out_dir=tmp_path / "file",
            baseline_answers=tmp_path / "ref" / "results.jsonl",
        )
        assert b["n"] == 3 and b["errors"] == 0

        # A baseline config: its answers are generated first, under RUN_DIR/baseline/.
        c = judged_run(
            arch,
            judge,
            "alpaca-eval",
            data=bare,
            out_dir=tmp_path / "cfg",
            baseline_config=single_config(arch, model="base", name="base"),
        )
        assert c["n"] == 3 and c["errors"] == 0
        base = lines(tmp_path / "cfg" / "baseline" / "results.jsonl")
        assert len(base) == 3 and all(r["answers"][0].startswith("[base]") for r in base)
        recs = lines(tmp_path / "cfg" / "results.jsonl")
        assert all(r["details"]["baseline_source"] == "baseline" for r in recs)


def test_baseline_answers_in_arena_hard_model_answer_format(tmp_path):
    # Arena-Hard's model_answer/gpt-4-0314.jsonl (FastChat's format), one record per question.
    p = tmp_path / "gpt-4-0314.jsonl"
    recs = [
        {
            "question_id": "328c149e",
            "answer_id": "x",
            "model_id": "gpt-4-0314",
            "choices": [{"index": 0, "turns": [{"content": "Baseline answer", "token_len": 3}]}],
            "tstamp": 1.0,
        },
        {
            "question_id": 81,
            "model_id": "m",
            "choices": [{"index": 0, "turns": [{"content": "t1"}, {"content": "t2"}]}],
        },
        {"id": "a0", "answers": ["own format"]},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    assert load_baseline_answers(p) == {"328c149e": ["Baseline answer"], "81": ["t1", "t2"], "a0": ["own format"]}


# ---------------------------------------------------------------- compute-matched baselines


def test_compute_matched_baseline_configs(srv):
    config = {
        "name": "arch",
        "layers": [
            [gen(srv, model="best", samples=3, temperature=0.3, max_tokens=99), gen(srv, model="other")],
            [{**gen(srv, model="fuse"), "type": "fuser"}],
        ],
    }
    cfgs = compute_matched_baselines(config, "gsm8k")  # N = 3 + 1 + 1 = 5 calls per query
    assert set(cfgs) == {"single", "best_of_n", "majority"}
    ((g,),) = cfgs["single"]["layers"]
    assert (g["model"], g["samples"], g["temperature"], g["max_tokens"], g["base_url"]) == (
        "best",
        1,
        0.3,
        99,
        srv.base_url,
    )
    assert [c["type"] for layer in cfgs["best_of_n"]["layers"] for c in layer] == ["generator", "ranker"]
    assert cfgs["best_of_n"]["layers"][0][0]["samples"] == 5 - 1 and cfgs["best_of_n"]["layers"][1][0]["top_k"] == 1
    assert cfgs["majority"]["layers"][0][0]["samples"] == 5
    assert cfgs["majority"]["layers"][1][0] == {"type": "majority_vote", "benchmark": "gsm8k"}
    # Below 3 calls best-of-N and majority vote would be the single model again: only single is built.
    assert set(compute_matched_baselines(config, n=3)) == {"single", "best_of_n", "majority"}
    for n in (1, 2):
        assert compute_matched_baselines(config, n=n) == {"single": cfgs["single"]}
        assert "left out" in baselines_note(config, n=n)
    assert baselines_note(config) is None


def test_baselines_of_a_two_call_architecture_say_why_only_single_ran(srv, data, tmp_path):
    config = {"name": "gen-fuse", "layers": [[gen(srv)], [{**gen(srv), "type": "fuser"}]]}
    summary = run_benchmark(config, "gsm8k", data=data, out_dir=tmp_path / "run", baselines=True, limit=2, retry=FAST)
    assert set(summary["baselines"]) == {"single"}
    assert "makes 2 calls per query" in summary["baselines_note"]
    assert not (tmp_path / "run" / "baselines" / "best_of_n").exists()


def test_baselines_run_on_the_same_items_at_the_same_calls(srv, data, tmp_path):
    config = {"name": "gen3-fuse", "layers": [[gen(srv, samples=3)], [{**gen(srv), "type": "fuser"}]]}
    summary = run_benchmark(config, "gsm8k", data=data, out_dir=tmp_path / "run", baselines=True, limit=4, retry=FAST)
    rows = summary["baselines"]
    assert set(rows) == {"single", "best_of_n", "majority"}
    assert rows["single"]["calls_per_query"] == 1
    assert rows["best_of_n"]["calls_per_query"] == 4 == summary["calls_per_query"]
    assert rows["majority"]["calls_per_query"] == 4
    for name, row in rows.items():
        assert row["n"] == 4 and row["score"] == pytest.approx(0.5)
        assert {r["id"] for r in lines(tmp_path / "run" / "baselines" / name / "results.jsonl")} == {
            "q0",
            "q1",
            "q2",
            "q3",
        }
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["baselines"]["majority"]["name"].startswith(
        "majority-of-4"
    )


def test_majority_vote_picks_the_most_common_key():
    assert majority_vote(["A", " b", "B ", "c"]) == (1, {"a": 1, "b": 2, "c": 1})
    assert majority_vote(["x", "y", "y", "x"])[0] == 0  # tie: the key seen first
    last_number = lambda t: (re.findall(r"\d+", t) or [None])[-1]  # noqa: E731
    assert majority_vote(["so 4", "it is 5", "answer: 5", "no idea"], last_number)[0] == 1
    assert majority_vote(["no", "numbers", "numbers"], last_number)[0] == 1  # nobody votes: plain text
    assert default_vote_key("  The  Answer\nIS 5 ") == "the answer is 5"


def test_majority_vote_groups_equivalent_benchmark_answers():
    from archon.benchmarks.baselines import vote_key_for

    mc = ["A. Paris", "The answer is B.", "B", "(B) London", "Answer: B"]
    assert majority_vote(mc, vote_key_for("mixeval")) == (1, {"(A)": 1, "(B)": 4})
    free = ["It is Canberra.", "The answer is 17 apples.", "Canberra", "**Answer:** 17", "\\boxed{17}"]
    assert majority_vote(free, vote_key_for("mixeval"))[0] == 1
    math_answers = [
        "So $x=\\boxed{\\frac{1}{2}}$",
        "\\boxed{3}",
        "Thus \\boxed{0.5}",
        "\\boxed{\\dfrac12}",
        "\\boxed{3}",
    ]
    winner, counts = majority_vote(math_answers, vote_key_for("math"))
    assert winner == 0 and sorted(counts.values()) == [2, 3]


@register_benchmark("vote-test")
class _VoteBench(Benchmark):
    name = "vote-test"
    kind = "ground_truth"

    def load(self, data=None):
        return [Item(id="v", turns=["pick"])]

    async def score(self, item, answers, ctx):
        return ItemScore(1.0)

    @staticmethod
    def vote_key(answer: str):
        found = re.findall(r"\d+", answer)
        return found[-1] if found else None


async def test_majority_vote_component_uses_the_benchmark_vote_key():
    with FakeOpenAIServer(responder=lambda body: ["a 1", "b 2", "c 2", "d 3", "e 2"]) as s:
        archon = Archon(
            {"layers": [[gen(s, samples=5)], [{"type": "majority_vote", "benchmark": "vote-test"}]]},
            cache=False,
            retry=FAST,
        )  # majority_vote is registered by importing baselines
        result = await archon.arun("pick")
        await archon.aclose()
    assert result.answer == "b 2"
    assert result.state["votes"] == {"1": 1, "2": 3, "3": 1}


async def test_run_benchmark_works_inside_a_running_event_loop(srv, data, tmp_path, recwarn):
    # As in a Jupyter cell: the sync face called while an event loop runs.
    summary = run_benchmark(single_config(srv), "gsm8k", data=data, out_dir=tmp_path / "run", limit=2, retry=FAST)
    assert summary["n"] == 2 and summary["score"] == pytest.approx(0.5)
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


async def test_async_api(srv, data, tmp_path):
    summary = await arun_benchmark(
        single_config(srv), "gsm8k", data=data, out_dir=tmp_path / "run", limit=2, retry=FAST, concurrency=1
    )
    assert summary["n"] == 2 and summary["score"] == pytest.approx(0.5)
