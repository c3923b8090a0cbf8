"""The one registry shape, and plugins found through the ``archon.plugins`` entry points."""

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from archon.errors import ArchonError, ConfigError
from archon.registry import PLUGIN_GROUP, Registry

ROOT = Path(__file__).resolve().parents[1]


def test_register_get_unregister_and_names():
    r = Registry("colour", error=ConfigError)
    r.register("red", 1)
    r.register("green", 2)
    assert r.get("red") == 1 and "green" in r and "blue" not in r
    assert r.names() == ["green", "red"]
    r.register("red", 3)  # registering a name again replaces it
    assert r.get("red") == 3
    r.unregister("red")
    assert "red" not in r and r.find("red") is None
    with pytest.raises(ConfigError, match=r"no colour 'red' is registered"):
        r.unregister("red")


def test_an_unknown_name_says_the_closest_one_and_all_known():
    r = Registry("component type", error=ConfigError)
    for name in ("fuser", "ranker", "critic"):
        r.register(name, name)
    with pytest.raises(ConfigError) as e:
        r.get("fusr")
    assert str(e.value) == "unknown component type 'fusr' (did you mean 'fuser'?); known: critic, fuser, ranker"
    with pytest.raises(ConfigError) as e:
        r.get("zzz")
    assert "did you mean" not in str(e.value)


def test_case_folding_and_aliases():
    r = Registry("model_type", fold_case=True)
    r.register("OpenAI_API", "spec", aliases=("openai",))
    assert r.get("openai_api") == r.get("OPENAI") == "spec"
    assert r.names() == ["OpenAI_API"]  # names keep their case; aliases are not listed
    r.unregister("OpenAI")  # by an alias: the entry and all its aliases go
    assert "openai_api" not in r and "openai" not in r
    r.register("OpenAI_API", "spec")
    with pytest.raises(ArchonError, match=r"did you mean 'OpenAI_API'"):
        r.get("openai_apl")


def test_a_child_adds_to_its_parent_without_changing_it():
    parent = Registry("thing")
    parent.register("a", 1)
    child = parent.child()
    child.register("b", 2)
    child.register("a", 10)  # hides the parent's in the child only
    assert (child.get("a"), child.get("b")) == (10, 2)
    assert child.names() == ["a", "b"]
    assert parent.get("a") == 1 and "b" not in parent
    parent.register("c", 3)  # what the parent gets later, the child sees
    assert child.get("c") == 3


def test_isolated_and_registered_undo_their_changes():
    r = Registry("thing")
    r.register("kept", 1)
    with r.isolated():
        r.register("added", 2)
        r.unregister("kept")
        assert r.names() == ["added"]
    assert r.names() == ["kept"]
    with r.registered("kept", 5):
        assert r.get("kept") == 5
    assert r.get("kept") == 1


def _site_with_plugin(tmp_path: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """A folder holding an installed distribution's metadata (entry points) and its modules."""
    site = tmp_path / "site"
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{PLUGIN_GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )
    for name, code in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(code))
    return site


def _run(site: Path, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_third_party_plugin_registers_on_first_lookup_and_a_broken_one_is_named(tmp_path):
    site = _site_with_plugin(
        tmp_path,
        "archon-shortest",
        {"shortest": "archon_shortest", "prices": "archon_shortest:register_prices", "broken": "no_such_module_here"},
        {
            "archon_shortest": """
            import archon

            def shortest(ctx, state):
                return [min(state.candidates, key=len)]

            archon.register_component("shortest", shortest, passes_candidates_through=False,
                                      candidates_out=lambda config, n: min(n, 1),
                                      worst_case_calls=lambda config, n, **kw: 0)

            def register_prices():
                archon.register_price("plugin-model", 1.0, 2.0)
            """
        },
    )
    proc = _run(
        site,
        """
        import sys, warnings
        warnings.simplefilter("always")
        import archon
        from archon.components import known_types
        from archon.engine.pricing import estimate_cost
        assert "archon_shortest" not in sys.modules  # nothing is loaded before it is looked up
        cfg = archon.load_config({"layers": [[{"type": "generator", "samples": 4}], [{"type": "shortest"}]]})
        cost = estimate_cost("x", "plugin-model", 10**6, 10**6)
        print(archon.calls_per_query(cfg), "shortest" in known_types(), cost)
        print([f.message for f in archon.check_rules(cfg)])
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["4 True 3.0", "[]"]
    assert "archon plugin 'broken' (no_such_module_here) failed to load: ModuleNotFoundError" in proc.stderr


def test_builtin_benchmarks_are_an_entry_point_that_components_find_by_name(tmp_path):
    """majority_vote finds a benchmark's vote key by name without importing benchmarks: the entry
    point archon declares in pyproject.toml loads them on the first lookup."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][PLUGIN_GROUP]
    site = _site_with_plugin(tmp_path, "archon-entry-points-under-test", declared, {})
    proc = _run(
        site,
        """
        import sys
        from archon.components import vote_key_for
        assert not any(m.startswith("archon.benchmarks") for m in sys.modules)
        key = vote_key_for("gsm8k")
        print(key("So the answer is 42.") == key("42"), "archon.benchmarks.builtin" in sys.modules)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]
