"""The dependency rule of ARCHITECTURE.md holds for every import in archon/, and no modules import each other."""

from pathlib import Path

import pytest

from archon.testing.import_graph import cycle_report, cycles, format_package_graph, module_edges, rule_violations


def test_every_import_follows_the_dependency_rule():
    problems = rule_violations(module_edges())
    if problems:  # pytest.fail: the list as written, without the assertion's repr of it
        pytest.fail(
            "imports against the dependency rule (errors -> sandbox -> providers -> config -> components -> engine -> "
            "benchmarks -> search, server -> cli; see ARCHITECTURE.md):\n  "
            + "\n  ".join(problems)
            + "\n\npackage graph:\n"
            + format_package_graph(module_edges()),
            pytrace=False,
        )


def test_no_import_cycles_between_modules():
    edges = module_edges()
    found = [cycle_report(edges, group) for group in cycles(edges)]
    if found:
        pytest.fail("import cycles:\n" + "\n".join(found), pytrace=False)


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "archon" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "archon"


def test_the_check_sees_relative_absolute_lazy_and_type_checking_imports(tmp_path):
    package = _package(
        tmp_path,
        {
            "__init__.py": "from .engine import Archon\n",
            "errors.py": "",
            "config.py": "from .errors import ConfigError\n",
            "engine/__init__.py": "from .run import Archon\n",
            "engine/run.py": "from ..config import load\n",
            "components/__init__.py": "",
            "components/base.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..engine.run import Context\n"
            ),
            "components/vote.py": "def f():\n    import archon.benchmarks.registry\n",
            "benchmarks/__init__.py": "",
            "benchmarks/registry.py": "from archon import cli\n",
            "cli.py": "from archon.testing import fake\n",
            "testing/__init__.py": "",
            "testing/fake.py": "from archon.cli import main\n",
        },
    )
    problems = rule_violations(module_edges(package))
    assert [p.split(": ", 1)[0] for p in problems] == [
        "archon/benchmarks/registry.py:1",
        "archon/cli.py:1",
        "archon/components/base.py:3",
        "archon/components/vote.py:2",
    ]
    assert "archon.components.base imports archon.engine.run" in problems[2]
    assert "nothing in archon imports it" in problems[1]


def test_the_check_finds_a_cycle_inside_one_package(tmp_path):
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "benchmarks/__init__.py": "",
            "benchmarks/registry.py": "def load():\n    from . import builtin\n",
            "benchmarks/builtin.py": "from . import code\n",
            "benchmarks/code.py": "from .registry import register\n",
            "benchmarks/stats.py": "from .code import x\n",
        },
    )
    edges = module_edges(package)
    assert cycles(edges) == [["archon.benchmarks.builtin", "archon.benchmarks.code", "archon.benchmarks.registry"]]
    assert "archon/benchmarks/registry.py:2: archon.benchmarks.registry imports archon.benchmarks.builtin" in (
        cycle_report(edges, cycles(edges)[0])
    )
