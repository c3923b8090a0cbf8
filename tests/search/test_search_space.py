"""Search spaces: the paper's axes and a config with axes make valid configs; bad files name the axis."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from archon.components import check_rules
from archon.search import SpaceError, load_space
from archon.search.space import config_key

from .search_helpers import search_command


def _models(n):
    return [{"model": f"m{i}", "model_type": "OpenAI_API", "base_url": "http://127.0.0.1:9/v1"} for i in range(n)]


def test_paper_axes_default_to_the_papers_ranges_and_every_point_is_a_valid_config():
    space = load_space({"models": _models(3)})
    axes = space.describe()
    assert axes["generators"] == [1, 2, 3]  # the default 1..10 stops at the number of models
    assert axes["samples"] == [1, 2, 3, 4, 5]
    assert axes["fusion_layers"] == [1, 2, 3, 4]
    assert axes["fusers_per_layer"] == [2, 4, 6, 8, 10]
    assert axes["critic_ranker"] == [False, True]
    assert axes["evaluation"] == ["none", "verifier", "unit_tests"]
    points = list(space.points())
    keys = {config_key(space.config(p)) for p in points}
    assert len(keys) == len(points)  # one point per distinct architecture
    for p in points:
        cfg = space.config(p)
        assert not [f for f in check_rules(cfg) if f.level == "error"], p
        last = cfg.layers[-1]
        assert len(last) == 1 and last[0].type == "fuser" and last[0].samples == 1


def test_paper_point_builds_the_named_architecture():
    space = load_space({"models": _models(3), "fuser_model": {"model": "judge", "model_type": "OpenAI_API"}})
    cfg = space.config(
        {
            "generators": 2,
            "samples": 3,
            "fusion_layers": 2,
            "fusers_per_layer": 4,
            "critic_ranker": True,
            "evaluation": "verifier",
        }
    )
    types = [[c.type for c in layer] for layer in cfg.layers]
    assert types == [
        ["generator"] * 2,
        ["critic"],
        ["ranker"],
        ["fuser"] * 4,
        ["critic"],
        ["ranker"],
        ["verifier"],
        ["fuser"],
    ]
    assert [c.model for c in cfg.layers[0]] == ["m0", "m1"] and cfg.layers[0][0].samples == 3
    assert all(c.model == "judge" for layer in cfg.layers[1:] for c in layer)


def test_validate_accepts_a_trial_config(tmp_path):
    space = load_space({"models": _models(2)})
    cfg = space.config(
        {
            "generators": 2,
            "samples": 2,
            "fusion_layers": 3,
            "fusers_per_layer": 2,
            "critic_ranker": True,
            "evaluation": "unit_tests",
        }
    )
    path = tmp_path / "trial.json"
    path.write_text(json.dumps(cfg.model_dump(mode="json", exclude_none=True)))
    done = subprocess.run([sys.executable, "-m", "archon.cli", "validate", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_config_with_axes_enumerates_valid_configs():
    space = load_space(
        {
            "name": "x",
            "layers": [
                [
                    {
                        "type": "generator",
                        "model": "a",
                        "model_type": "OpenAI_API",
                        "samples": {"int": [1, 5, 2]},
                        "temperature": {"choice": [0.2, 0.9]},
                    }
                ],
                [
                    {
                        "choice": [
                            {"type": "fuser", "model": "a", "model_type": "OpenAI_API"},
                            {"type": "ranker", "model": "a", "model_type": "OpenAI_API", "top_k": 1},
                        ]
                    }
                ],
            ],
        }
    )
    assert [a.name for a in space.axes] == ["layers.0.0.samples", "layers.0.0.temperature", "layers.1.0"]
    points = list(space.points())
    assert len(points) == 3 * 2 * 2
    kinds = {space.config(p).layers[1][0].type for p in points}
    assert kinds == {"fuser", "ranker"}
    assert {space.config(p).layers[0][0].samples for p in points} == {1, 3, 5}


@pytest.mark.parametrize(
    "raw, axis",
    [
        ({"models": _models(2), "axes": {"samples": [0, 3]}}, "samples"),
        ({"models": _models(2), "axes": {"fusers": [1, 2]}}, "fusers"),
        ({"models": _models(2), "axes": {"evaluation": ["none", "judge"]}}, "evaluation"),
        ({"models": _models(2), "axes": {"generators": [1, 5]}}, "generators"),
        ({"models": _models(2), "axes": {"fusion_layers": [3, 1]}}, "fusion_layers"),
        ({"models": _models(2), "axes": {"critic_ranker": ["yes"]}}, "critic_ranker"),
        ({"layers": [[{"type": "generator", "samples": {"int": [5, 1]}}]]}, "layers.0.0.samples"),
        ({"layers": [[{"type": "generator", "temperature": {"float": [0.1]}}]]}, "layers.0.0.temperature"),
        ({"layers": [[{"type": "generator", "temperature": {"choice": [0.5, 7.0]}}]]}, "layers.0.0.temperature"),
    ],
)
def test_bad_space_names_the_axis(raw, axis):
    with pytest.raises(SpaceError) as e:
        load_space(raw)
    assert repr(axis) in str(e.value)


def test_bad_space_file_via_the_command_names_the_axis(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("models:\n  - {model: a, model_type: OpenAI_API}\naxes:\n  samples: [1, 0]\n")
    done = subprocess.run(
        [
            *search_command(space, "x.jsonl", tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "'samples'" in done.stderr and "Traceback" not in done.stderr
