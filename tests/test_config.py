import json

import pytest

from archon import ConfigError, calls_per_query, check_rules, load_config

REFERENCE_STYLE = {
    "name": "archon-testing",
    "layers": [
        [
            {
                "type": "generator",
                "model": "Qwen/Qwen2-72B-Instruct",
                "model_type": "Together_API",
                "temperature": 0.7,
                "max_context_length": 2048,
                "samples": 10,
            }
        ],
        [
            {
                "type": "critic",
                "model": "claude-3-5-sonnet-20240620",
                "model_type": "Anthropic_API",
                "temperature": 0.7,
                "max_tokens": 8192,
                "samples": 1,
            }
        ],
        [
            {
                "type": "fuser",
                "model": "Qwen/Qwen1.5-110B-Chat",
                "model_type": "Together_API",
                "top_k": 1,
                "temperature": 0.7,
                "max_tokens": 2048,
                "samples": 1,
                "use_critiques": True,
            }
        ],
    ],
}


def test_reference_config_loads_unchanged(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(REFERENCE_STYLE))
    cfg = load_config(p)
    assert cfg.name == "archon-testing"
    gen = cfg.layers[0][0]
    assert (gen.model_type, gen.samples, gen.max_tokens) == ("Together_API", 10, 2048)
    assert cfg.layers[2][0].use_critiques is True
    assert [f for f in check_rules(cfg) if f.level == "error"] == []


def test_old_models_layer_form_and_yaml(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "name: old\nlayers:\n  - models:\n      - {type: generator, model: a, model_type: vLLM}\n"
        "      - {type: generator, model: b, model_type: tgi, custom_field: 3}\n"
        "  - [{type: fuser, model: a, model_type: vLLM}]\n"
    )
    cfg = load_config(p)
    assert [c.model for c in cfg.layers[0]] == ["a", "b"]
    assert cfg.layers[0][1].extra == {"custom_field": 3}


def test_broken_config_names_layer_component_and_field():
    bad = {"layers": [[{"type": "generator", "model": "x"}], [{"type": "fuser", "samples": 0}]]}
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    msg = str(e.value)
    assert "layer 2, component 1 (fuser)" in msg and "'samples'" in msg


def test_unparseable_and_missing_files(tmp_path):
    p = tmp_path / "c.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="layer 1 is empty"):
        load_config({"layers": [[]]})


@pytest.mark.parametrize(
    "layers, message",
    [
        ([[{"type": "generator"}], [{"type": "generator"}]], "generators go only in layer 1"),
        ([[{"type": "fuser"}]], "layer 1 must hold generators"),
        ([[{"type": "generator"}], [{"type": "fuser", "use_critiques": True}]], "no critic comes before"),
        ([[{"type": "generator"}], [{"type": "ranker"}, {"type": "ranker"}]], "must be alone"),
        ([[{"type": "generator"}], [{"type": "unit_test_generator"}], [{"type": "fuser"}]], "followed directly"),
        ([[{"type": "generator"}], [{"type": "unit_test_evaluator"}]], "needs a unit_test_generator"),
        ([[{"type": "generator"}], [{"type": "fuser"}, {"type": "ranker"}]], "mixes component types"),
    ],
)
def test_construction_rules(layers, message):
    findings = check_rules(load_config({"layers": layers}))
    assert any(f.level == "error" and message in f.message for f in findings), findings


def test_several_final_candidates_warns():
    findings = check_rules(load_config({"layers": [[{"type": "generator", "samples": 3}]]}))
    assert [f.level for f in findings] == ["warning"]
    assert "first one is the answer" in findings[0].message


def test_calls_per_query_worst_case():
    cfg = load_config(
        {
            "layers": [
                [{"type": "generator", "samples": 3}, {"type": "generator", "samples": 2}],  # 5 calls, 5 candidates
                [{"type": "critic"}],  # 1
                [{"type": "ranker", "top_k": 3, "use_critiques": True}],  # 1 -> 3 candidates
                [{"type": "verifier"}],  # 2 per candidate = 6
                [{"type": "unit_test_generator"}],  # 1
                [{"type": "unit_test_evaluator"}],  # 1 per candidate = 3
                [{"type": "fuser", "samples": 2}],  # 2
                [{"type": "fuser"}],  # 1
            ]
        }
    )
    assert calls_per_query(cfg, with_parse_retries=False) == 5 + 1 + 1 + 6 + 1 + 3 + 2 + 1
    # The worst case asks every reply that must parse 1 + parse_retries (default 2) times.
    assert calls_per_query(cfg) == 5 + 3 + 3 + (1 + 3) * 3 + 3 + 3 * 3 + 2 + 1


def test_last_layer_warning_counts_the_candidates_that_reach_it():
    def warns(layers):
        return [f.message for f in check_rules(load_config({"layers": layers})) if "last layer" in f.message]

    gen = [{"type": "generator", "samples": 3}]
    assert warns([gen, [{"type": "ranker", "top_k": 1}]]) == []
    assert warns([gen, [{"type": "unit_test_generator"}], [{"type": "unit_test_evaluator", "top_k": 1}]]) == []
    # A ranker keeps at most what it is given: 3, not its top_k of 5.
    assert warns([gen, [{"type": "ranker"}]]) == [
        "the last layer can leave 3 candidates; the first one is the answer. End with a single fuser (samples 1), "
        "or a ranker with top_k 1, for one final answer."
    ]


def test_ranker_without_top_k_keeps_five_in_the_cost_estimate():
    cfg = load_config({"layers": [[{"type": "generator", "samples": 8}], [{"type": "ranker"}], [{"type": "verifier"}]]})
    assert calls_per_query(cfg, with_parse_retries=False) == 8 + 1 + 2 * 5


def test_a_hosted_model_name_without_model_type_is_warned_about():
    cfg = load_config(
        {
            "layers": [
                [{"type": "generator", "model": "gpt-4o"}, {"type": "generator"}],
                [{"type": "fuser", "model": "weights/my-model.gguf"}],
            ]
        }
    )
    warnings = [f.message for f in check_rules(cfg) if "model_type" in f.message]
    assert warnings == [
        "layer 1, component 1 (generator): model 'gpt-4o' has no model_type, so the embedded "
        "SmolLM2-135M-Instruct answers for it; set model_type (e.g. OpenAI_API) to use that model"
    ]
