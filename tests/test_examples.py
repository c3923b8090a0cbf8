"""Every file in examples/ runs: hosted models against the test double (their base-URL variables
pointed at it), the local ones through the double too (model_type swapped) and, slow, on the real
embedded model."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from archon.cli import main
from archon.providers import specs
from archon.testing.fake_openai import FakeOpenAIServer


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())


FILES = sorted(p for p in (Path(__file__).parents[1] / "examples").iterdir() if p.suffix in (".json", ".yaml", ".yml"))
# Architectures have layers; the rest are search spaces (archon search SPACE).
EXAMPLES = [p for p in FILES if "layers" in _load(p)]
SPACES = [p for p in FILES if p not in EXAMPLES]
LOCAL = [p for p in EXAMPLES if p.name.startswith("local")]


def test_there_are_keyless_examples_of_each_kind():
    kinds = {p.name: {c["type"] for layer in _load(p)["layers"] for c in layer} for p in LOCAL}
    assert all(c.get("model_type") == "local" for p in LOCAL for layer in _load(p)["layers"] for c in layer)
    assert any({"critic", "ranker", "fuser"} <= k for k in kinds.values())
    assert any("verifier" in k for k in kinds.values())
    assert any(
        c.get("evaluation") == "execute"
        for p in LOCAL
        for layer in _load(p)["layers"]
        for c in layer
        if c["type"] == "unit_test_evaluator"
    )
    assert any(p.suffix == ".yaml" for p in LOCAL)
    assert (Path(__file__).parents[1] / "examples" / "judge.json").is_file()


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_runs(example, tmp_path, monkeypatch, capsys):
    with FakeOpenAIServer() as srv:
        for s in specs():  # every provider an example names answers from the double
            if s.base_url_env:
                monkeypatch.setenv(s.base_url_env, srv.url if s.extra else srv.base_url)
            if s.key_env and s.extra:
                monkeypatch.setenv(s.key_env, "test-key")
        cfg = _load(example)
        for layer in cfg["layers"]:
            for c in layer:
                if c.get("model_type") in (None, "local"):
                    c.update(model_type="OpenAI_API", model=c.get("model") or "embedded-stand-in")
                c.pop("base_url", None)
        copy = tmp_path / f"{example.stem}.json"
        copy.write_text(json.dumps(cfg))
        assert main(["run", str(copy), "Write a Python function add(a, b) that returns a + b."]) == 0
        out, err = capsys.readouterr()
        assert out.strip() and "error" not in err, err
        models = {q.body.get("model") for q in srv.requests}
    named = {c.get("model") for layer in cfg["layers"] for c in layer}
    assert models and models <= named  # every call went to the double, for a model the example names


@pytest.mark.parametrize("space", SPACES, ids=[p.name for p in SPACES])
def test_every_search_space_example_loads_into_valid_architectures(space):
    from archon.components import check_rules
    from archon.search import load_space

    loaded = load_space(space)
    points = list(loaded.points())
    assert points
    for point in points[:: max(1, len(points) // 20)]:  # a spread of the space
        assert not [f for f in check_rules(loaded.config(point)) if f.level == "error"], point


@pytest.mark.slow
def test_local_examples_run_on_the_embedded_model(tmp_path):
    for example in LOCAL:
        proc = subprocess.run(
            ["archon", "run", str(example), "Write a Python function add(a, b) that returns a + b."],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, (example.name, proc.stderr)
        assert proc.stdout.strip(), example.name
