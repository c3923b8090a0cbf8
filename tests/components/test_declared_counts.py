"""The calls and candidates each built-in component type declares are what a real run makes.

Every architecture runs over real HTTP against the test double, which logs every request. Each
component has a model of its own, so the double's log tells the calls of each apart. With replies
that always parse, the calls match the count without re-asks; with replies that never parse, the
worst case with re-asks (the unit tests then parse at their last try, so that the evaluator has
tests to judge by: its worst case).
"""

import re

import pytest

from archon import Archon, calls_per_query, load_config
from archon.components import BUILTIN_COMPONENTS, component_registry, layer_counts
from archon.components.verifier import VERDICT_PROMPT

SAMPLES = 3  # candidates from layer 1


def architectures(comp):
    gen = comp("generator", model="generator", samples=SAMPLES)

    def c(type, **kw):
        return comp(type, model=type, **kw)

    return {
        "generator": [[gen]],
        "fuser": [[gen], [c("fuser", samples=2)]],
        "ranker": [[gen], [c("ranker", top_k=2)]],
        "critic": [[gen], [c("critic")], [c("ranker", top_k=1, use_critiques=True)]],
        "verifier": [[gen], [c("verifier")]],
        "unit_tests_llm": [[gen], [c("unit_test_generator", unit_test_cap=2)], [c("unit_test_evaluator")]],
        "unit_tests_execute": [
            [gen],
            [c("unit_test_generator", evaluation="execute")],
            [c("unit_test_evaluator", evaluation="execute", top_k=2)],
        ],
        "majority_vote": [[gen], [{"type": "majority_vote"}]],
    }


def replies(parse: bool, parse_retries: int = 2):
    """A responder answering like a model that always follows the format, or one that never does."""
    unit_test_asks = []

    def respond(body):
        model, prompt = body["model"], body["messages"][-1]["content"]
        if model == "generator":
            return [f"answer {i}" for i in range(body.get("n", 1))]
        if model == "fuser":
            return [f"fused {i}" for i in range(body.get("n", 1))]
        if model == "verifier" and prompt != VERDICT_PROMPT:
            return "Let me check each step."  # the reasoning: free text, never parsed
        if model == "unit_test_generator":
            unit_test_asks.append(1)
            if parse or len(unit_test_asks) == parse_retries + 1:
                return "Test 1: assert 1 + 1 == 2\nTest 2: assert True"
        if not parse:
            return "I would rather not say."
        if model == "ranker":
            n = int(re.search(r"Rank the (\d+) candidate", prompt).group(1))
            return " > ".join(f"[{i}]" for i in range(n, 0, -1))
        if model == "critic":
            n = int(re.search(r"Critique each of the (\d+)", prompt).group(1))
            return "\n".join(f"[{i}]\nStrengths: s\nWeaknesses: w" for i in range(1, n + 1))
        if model == "verifier":
            return "[Correct]"
        if model == "unit_test_evaluator":
            k = len(re.findall(r"(?m)^Test \d+:", prompt))
            return "\n".join(f"Test {i}: [Pass]" for i in range(1, k + 1))
        raise AssertionError(f"unexpected request for {model}")

    return respond


def test_every_builtin_type_is_exercised(comp):
    used = {c["type"] for layers in architectures(comp).values() for layer in layers for c in layer}
    assert used == {cls.type for cls in BUILTIN_COMPONENTS}


@pytest.mark.parametrize("parse", [True, False], ids=["replies-parse", "replies-never-parse"])
@pytest.mark.parametrize(
    "name",
    ["generator", "fuser", "ranker", "critic", "verifier", "unit_tests_llm", "unit_tests_execute", "majority_vote"],
)
def test_declared_calls_and_candidates_match_a_real_run(server, comp, name, parse):
    server.responder = replies(parse)
    config = load_config({"name": name, "layers": architectures(comp)[name]})
    with Archon(config) as archon:
        result = archon.run("What is 2+2?")

    def samples_asked(model):
        return sum(q.body.get("n", 1) for q in server.requests if q.body["model"] == model)

    # Each component: the calls it made, for the candidates it got, are the calls its type declares.
    for layer_cfg, layer_trace in zip(config.layers, result.trace.layers):
        for cfg, ct in zip(layer_cfg, layer_trace.components):
            cls = component_registry.get(cfg.type)
            declared = cls.worst_case_calls(cfg, len(ct.inputs), with_parse_retries=not parse)
            assert samples_asked(cfg.model or "") == declared, (cfg.type, len(ct.inputs))

    # The whole query: the double's log, the trace and calls_per_query agree.
    made = sum(q.body.get("n", 1) for q in server.requests)
    assert made == result.trace.usage.calls == calls_per_query(config, with_parse_retries=not parse)

    # Candidates: never more than declared; as many as declared when no reply parses (the worst case).
    counts = layer_counts(config)
    after_each_layer = [len(lt.components[0].inputs) for lt in result.trace.layers[1:]] + [len(result.candidates)]
    for got, declared in zip(after_each_layer, counts):
        assert got <= declared.candidates_out
    if not parse:
        assert after_each_layer == [lc.candidates_out for lc in counts]
    if parse:
        assert result.trace.fallbacks == []


def test_majority_vote_makes_no_call(comp):
    config = load_config({"layers": [[comp(samples=5)], [{"type": "majority_vote"}]]})
    assert calls_per_query(config) == calls_per_query(config, with_parse_retries=False) == 5
