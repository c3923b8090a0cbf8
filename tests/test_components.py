"""Each component over real HTTP, with a test double that answers like a model would (or wouldn't)."""

import re

import pytest

from archon import Archon, Output, State


def prompt_of(body):
    return body["messages"][-1]["content"]


def n_candidates(text):
    return len(set(re.findall(r"(?m)^\[(\d+)\]$", text)))


def run(cfg, query="What is 2+2?"):
    with Archon(cfg) as a:
        return a.run(query)


def gens(comp, *texts):
    """Layer 1: one generator per text, answering with that text."""
    return [comp(model=f"g{i}") for i in range(len(texts))]


@pytest.fixture
def answers(server):
    """Generators g0, g1, ... answer with fixed texts; other prompts go to `handlers`."""
    texts = {"g0": "four", "g1": "five", "g2": "4"}
    handlers = []

    def responder(body):
        if body["model"] in texts:
            return texts[body["model"]]
        for h in handlers:
            out = h(body)
            if out is not None:
                return out
        return "unhandled"

    server.responder = responder
    return handlers


def test_ranker_keeps_top_k_in_ranked_order(server, comp, answers):
    answers.append(lambda b: "[3] > [1] > [2]" if "Rank the 3" in prompt_of(b) else None)
    r = run({"layers": [gens(comp, 1, 2, 3), [comp("ranker", model="r", top_k=2)]]})
    assert r.candidates == ["4", "four"]
    assert r.trace.fallbacks == []


def test_ranker_bad_ranking_is_retried_then_falls_back(server, comp, answers):
    answers.append(lambda b: "[1] > [1] > [2]" if "Rank the" in prompt_of(b) else None)  # repeated index
    r = run({"layers": [gens(comp, 1, 2, 3), [comp("ranker", model="r", top_k=2, parse_retries=2)]]})
    assert r.candidates == ["four", "five"]  # original order kept
    ranker_calls = [q for q in server.requests if q.body["model"] == "r"]
    assert len(ranker_calls) == 3
    assert len(r.trace.fallbacks) == 1 and "ranking did not parse" in r.trace.fallbacks[0]


def test_critic_then_ranker_reorders_critiques_and_fuser_sees_them(server, comp, answers):
    def critic(b):
        p = prompt_of(b)
        if "Critique each" in p:
            return "\n".join(f"[{i}]\nStrengths: s{i}\nWeaknesses: w{i}" for i in range(1, n_candidates(p) + 1))

    answers.append(critic)
    answers.append(lambda b: "[2] > [1] > [3]" if "Rank the" in prompt_of(b) else None)
    answers.append(lambda b: "fused" if b["messages"][0]["role"] == "system" else None)
    cfg = {
        "layers": [
            gens(comp, 1, 2, 3),
            [comp("critic", model="c")],
            [comp("ranker", model="r", top_k=2, use_critiques=True)],
            [comp("fuser", model="f", use_critiques=True)],
        ]
    }
    r = run(cfg)
    assert r.answer == "fused"
    fuser_req = next(q for q in server.requests if q.body["model"] == "f")
    system = fuser_req.body["messages"][0]["content"]
    # Candidate [1] of the fuser is the ranker's best (five) with its own critique (s2).
    assert system.index("five") < system.index("s2") < system.index("four") < system.index("s1")
    assert "w3" not in system


def test_critic_with_wrong_number_of_critiques_falls_back(server, comp, answers):
    answers.append(lambda b: "[1]\nStrengths: ok" if "Critique each" in prompt_of(b) else None)
    r = run({"layers": [gens(comp, 1, 2), [comp("critic", model="c", parse_retries=1)]]})
    assert r.candidates == ["four", "five"]
    assert len(r.trace.fallbacks) == 1 and "critique list" in r.trace.fallbacks[0]


def test_verifier_keeps_correct_and_keeps_all_when_none_pass(server, comp, answers):
    def verdict(b):
        msgs = b["messages"]
        if msgs[-1]["content"].startswith("Given your analysis"):
            return (
                "[Correct]"
                if "Response:\n4" in msgs[0]["content"] or "Response:\nfour" in msgs[0]["content"]
                else "[Incorrect]"
            )
        if "Reason step by step" in msgs[-1]["content"]:
            return "some reasoning"

    answers.append(verdict)
    r = run({"layers": [gens(comp, 1, 2, 3), [comp("verifier", model="v")]]})
    assert r.candidates == ["four", "4"]
    assert len([q for q in server.requests if q.body["model"] == "v"]) == 6  # two calls per candidate

    answers.insert(0, lambda b: "[Incorrect]" if b["messages"][-1]["content"].startswith("Given") else None)
    r = run({"layers": [gens(comp, 1, 2, 3), [comp("verifier", model="v2")]]})
    assert r.candidates == ["four", "five", "4"]


def test_verifier_without_verdict_keeps_candidate_and_records(server, comp, answers):
    answers.append(lambda b: "I am not sure." if b["model"] == "v" else None)
    r = run({"layers": [gens(comp, 1), [comp("verifier", model="v", parse_retries=1)]]})
    assert r.candidates == ["four"]
    assert any("verdict for candidate 1" in f for f in r.trace.fallbacks)


def test_unit_tests_rank_candidates_by_tests_passed(server, comp, answers):
    def tests(b):
        p = prompt_of(b)
        if "Write 3 unit tests" in p:
            return "Test 1: says four\nTest 2: is a word\nTest 3: is short"
        if "Decide for each unit test" in p:
            if "Response:\nfive" in p:
                return "Test 1: [Fail]\nTest 2: [Pass]\nTest 3: [Pass]"
            if "Response:\n4" in p:
                return "Test 1: [Pass]\nTest 2: [Fail]\nTest 3: [Pass]"
            return "Test 1: [Pass]\nTest 2: [Pass]\nTest 3: [Pass]"

    answers.append(tests)
    cfg = {
        "layers": [
            gens(comp, 1, 2, 3),
            [comp("unit_test_generator", model="t", unit_test_cap=3)],
            [comp("unit_test_evaluator", model="t")],
        ]
    }
    r = run(cfg)
    assert r.candidates == ["four"]  # only one passes all
    assert r.state["unit_test_passes"] == [3, 2, 2]
    cfg["layers"][2][0]["top_k"] = 2
    assert run(cfg).candidates == ["four", "five"]


def test_unit_test_evaluator_execution_mode_runs_code(server, comp):
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    bad = "```python\ndef add(a, b):\n    return a - b\n```"

    def responder(b):
        if b["model"] == "good":
            return good
        if b["model"] == "bad":
            return bad
        return "Test 1: assert add(1, 2) == 3\nTest 2: assert add(0, 0) == 0\nTest 3: assert add(-1, 1) == 0"

    server.responder = responder
    cfg = {
        "layers": [
            [comp(model="bad"), comp(model="good")],
            [comp("unit_test_generator", model="t", evaluation="execute")],
            [comp("unit_test_evaluator", evaluation="execute")],
        ]
    }
    r = run(cfg, "Write add(a, b).")
    assert r.candidates == [good]
    assert r.state["unit_test_passes"] == [1, 3]
    # Execution mode makes no LLM call for evaluation.
    assert [q.body["model"] for q in server.requests].count("m") == 0


async def test_executed_passes_count_only_the_harness_lines_once_each():
    from archon.components.unit_tests import UnitTestEvaluator

    count = UnitTestEvaluator._executed_passes
    tests = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(2, 2) == 4"]
    # Prints the old marker and lines shaped like the harness's, then fails every test.
    forger = (
        "```python\nfor i in range(10):\n    print('ARCHON_TEST_PASS')\n    print(f'{i} pass')\n"
        "    print(f'deadbeef {i % 3} pass')\ndef add(a, b):\n    return 42\n```"
    )
    assert await count(None, forger, tests) == 0
    # Passing tests count once each, however often the candidate repeats them.
    echo = "```python\ndef add(a, b):\n    print('pass')\n    return a + b\n```"
    assert await count(None, echo, tests + tests) == 6
    assert await count(None, echo, [*tests[:2], "assert add(1, 1) == 3"]) == 2


def test_fuser_length_control_and_samples(server, comp, answers):
    answers.append(lambda b: [f"fused{i}" for i in range(b.get("n", 1))] if b["model"] == "f" else None)
    r = run({"layers": [gens(comp, 1, 2), [comp("fuser", model="f", samples=2, length_control=True)]]})
    assert r.candidates == ["fused0", "fused1"]
    system = next(q for q in server.requests if q.body["model"] == "f").body["messages"][0]["content"]
    assert "around 1 words" in system


def test_custom_component_reads_and_writes_named_state(server, comp, answers):
    def count_words(ctx, state: State):
        return Output(named={"word_counts": [len(c.split()) for c in state.candidates]})

    async def shortest(ctx, state: State):
        counts = state.named["word_counts"]
        return [state.candidates[counts.index(min(counts))]]

    answers.append(lambda b: "a much longer answer" if b["model"] == "long" else None)
    layer1 = [comp(model="long"), comp(model="g0")]
    with Archon({"layers": [layer1, [{"type": "count_words"}], [{"type": "pick_shortest"}]]}) as a:
        a.add_component("count_words", count_words)
        a.add_component("pick_shortest", shortest)
        r = a.run("q")
    assert r.answer == "four" and r.state["word_counts"] == [4, 1]
