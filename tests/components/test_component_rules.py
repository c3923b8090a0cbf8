"""Construction rules and cost come from what each component type declares, built-in or custom."""

import pytest

import archon
from archon import Archon, Component, ConfigError, Output, calls_per_query, check_rules, load_config
from archon.components import Needs, component_registry
from archon.providers import provider_registry


def errors(layers):
    return [f.message for f in check_rules(load_config({"layers": layers})) if f.level == "error"]


class Judge(Component):
    """Picks one candidate with one call per candidate; alone, after layer 1, after a critic."""

    type = "judge"
    solo = True
    layer = "later"
    passes_candidates_through = False
    extra_fields = frozenset({"rubric"})
    exact_counts = True

    @classmethod
    def worst_case_calls(cls, config, n_candidates, *, with_parse_retries=True):
        return n_candidates

    @classmethod
    def candidates_out(cls, config, n_candidates):
        return min(n_candidates, 1)

    @classmethod
    def needs(cls, config):
        return (Needs("critic", "earlier", "judges by the critiques"),)

    async def run(self, ctx, state):
        return Output(candidates=state.candidates[:1])


def test_a_custom_class_declares_its_rules_and_cost():
    archon.register_component("judge", Judge)
    gen = {"type": "generator", "samples": 4}
    assert errors([[gen], [{"type": "critic"}], [{"type": "judge"}]]) == []
    assert errors([[gen], [{"type": "judge"}, {"type": "judge"}]]) == [
        "layer 2: a judge must be alone in its layer",
        "layer 2: judge judges by the critiques but no critic comes before it",
    ]
    assert "layer 1 must hold generators (only they start from the bare conversation)" in errors([[{"type": "judge"}]])
    config = load_config(
        {"layers": [[gen], [{"type": "critic", "parse_retries": 1}], [{"type": "judge", "rubric": "x"}]]}
    )
    assert calls_per_query(config) == 4 + 2 + 4
    assert calls_per_query(config, with_parse_retries=False) == 4 + 1 + 4
    findings = check_rules(load_config({"layers": [[gen], [{"type": "critic"}], [{"type": "judge", "rubrik": "x"}]]}))
    assert [f.message for f in findings] == [
        "layer 3, component 1 (judge): unknown field 'rubrik', ignored (did you mean 'rubric'?)"
    ]


def test_a_function_without_declarations_gets_the_documented_defaults_and_may_declare_its_own():
    archon.register_component("shortest", lambda ctx, state: [min(state.candidates, key=len)])
    layers = [[{"type": "generator", "samples": 3}], [{"type": "shortest", "samples": 2, "anything": 1}]]
    config = load_config({"layers": layers})
    assert calls_per_query(config) == 3 + 2  # one call per sample, candidates passed through
    assert check_rules(config) == []  # its own fields, and no claim on how many candidates it leaves
    archon.register_component(
        "shortest",
        lambda ctx, state: [min(state.candidates, key=len)],
        worst_case_calls=lambda config, n, **kw: 0,
        candidates_out=lambda config, n: min(n, 1),
        passes_candidates_through=False,
        layer="later",
    )
    assert calls_per_query(config) == 3
    assert errors([[{"type": "shortest"}]]) == [
        "layer 1 must hold generators (only they start from the bare conversation)"
    ]
    with pytest.raises(TypeError, match="unknown component declaration"):
        archon.register_component("x", lambda ctx, state: [], sollo=True)


def test_reference_fields_are_accepted_by_the_type_that_had_them_only():
    def warnings(component):
        cfg = load_config({"layers": [[{"type": "generator", "samples": 2}], [component]]})
        return [f.message for f in check_rules(cfg) if "unknown field" in f.message]

    assert warnings({"type": "ranker", "top_k": 1, "ranker_batch_size": 16}) == []
    assert warnings({"type": "fuser", "top_k_generations": 3}) == []
    assert warnings({"type": "fuser", "ranker_batch_size": 16}) == [
        "layer 2, component 1 (fuser): unknown field 'ranker_batch_size', ignored"
    ]
    assert warnings({"type": "majority_vote", "benchmark": "gsm8k"}) == []


def test_unknown_types_and_providers_block_running_with_the_closest_name():
    findings = check_rules(
        load_config({"layers": [[{"type": "generator"}], [{"type": "rankr", "model_type": "opena"}]]})
    )
    blocking = [f.message for f in findings if f.blocks_running]
    assert blocking[0].startswith(
        "layer 2, component 1 (rankr): unknown component type 'rankr' (did you mean 'ranker'?)"
    )
    assert blocking[1].startswith(
        "layer 2, component 1 (rankr): unknown model_type 'opena' (did you mean 'OpenAI_API'?)"
    )
    assert all(f.level == "error" for f in findings if f.blocks_running)


def test_majority_vote_needs_candidates_before_it():
    assert errors([[{"type": "majority_vote"}]]) == [
        "layer 1 must hold generators (only they start from the bare conversation)"
    ]


def test_an_archons_own_components_and_generators_stay_its_own():
    config = {
        "layers": [
            [{"type": "generator", "model": "m", "model_type": "mine", "samples": 2}],
            [{"type": "longest", "model_type": "mine"}],
        ]
    }
    texts = iter(["short", "much longer"])
    with Archon(config) as a:
        a.add_generator("mine", lambda messages, **kw: next(texts))
        a.add_component("longest", lambda ctx, state: [max(state.candidates, key=len)])
        assert a.run("Hi").answer == "much longer"
    assert "longest" not in component_registry and "mine" not in provider_registry
    with pytest.raises(ConfigError, match="unknown model_type 'mine'"):
        Archon(config).run("Hi")
    with pytest.raises(ConfigError, match="unknown component type 'longest'"):
        Archon({"layers": [[{"type": "generator"}], [{"type": "longest"}]]}).run("Hi")
