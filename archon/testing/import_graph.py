"""The import graph of the ``archon`` package, read from the source with ``ast``, and the dependency rule.

The rule (ARCHITECTURE.md): each package may import only the packages in the layers before it,

    errors -> registry -> sandbox -> providers -> config -> components -> engine -> benchmarks
        -> search, server, report -> cli

Packages in one layer are peers and do not import each other. ``archon/__init__.py`` is the public face: it
may re-export from any core package, and only ``cli`` and ``archon.testing`` may import it. ``archon.testing``
is test tooling: it may import anything, and nothing else imports it. Every import counts, wherever it
stands (module top, inside a function, under ``if TYPE_CHECKING:``): moving an import into a function does
not change which way the dependency points.

Print the package-level graph (to show it before and after a change)::

    python -m archon.testing.import_graph            # package -> packages it imports
    python -m archon.testing.import_graph --check    # the violations and cycles; exit 1 if any
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT_PACKAGE = "archon"
FACADE = "archon"
TEST_TOOLING = "testing"

# Layer of each top-level part of ``archon`` (its first dotted name after ``archon.``).
LAYERS: dict[str, int] = {
    "errors": 0,
    "registry": 1,
    "sandbox": 2,
    "providers": 3,
    "config": 4,
    "components": 5,
    "engine": 6,
    "benchmarks": 7,
    "search": 8,
    "server": 8,
    "report": 8,
    "cli": 10,
}
FACADE_LAYER = 9  # after every core package, before cli


@dataclass(frozen=True)
class Edge:
    """One import statement of an ``archon`` module by another ``archon`` module."""

    source: str  # importing module, dotted
    target: str  # imported module, dotted
    path: str  # importing file, relative to the repository root
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def package_root() -> Path:
    return Path(__file__).resolve().parent.parent


def module_files(root: Path | None = None) -> dict[str, Path]:
    """Every module of the package by its dotted name (``archon.engine`` for ``archon/engine/__init__.py``)."""
    root = root or package_root()
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    """The ``archon`` modules one import statement names (a submodule where ``from X import name`` names one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == ROOT_PACKAGE]
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if base.split(".")[0] != ROOT_PACKAGE:
        return []
    targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
    if len(targets) < len(node.names):  # some names are attributes of ``base`` itself
        targets.append(base)
    return targets


def module_edges(root: Path | None = None) -> list[Edge]:
    """Every import of an ``archon`` module in the package, including those inside functions."""
    modules = module_files(root)
    known = set(modules)
    repo = (root or package_root()).parent
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _resolve(module, path, node, known):
                    if target != module:
                        edges.append(Edge(module, target, str(path.relative_to(repo)), node.lineno))
    return edges


def part_of(module: str) -> str:
    """The top-level part of ``archon`` a module belongs to: ``engine`` for ``archon.engine.trace``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else FACADE


def layer_of(part: str) -> int | None:
    if part == FACADE:
        return FACADE_LAYER
    return LAYERS.get(part)


def rule_violations(edges: list[Edge]) -> list[str]:
    """Each import that points against the dependency rule, with the reason."""
    problems = []
    for edge in edges:
        source, target = part_of(edge.source), part_of(edge.target)
        if source == target:
            continue
        if target == TEST_TOOLING:
            problems.append(f"{edge}  (archon.testing is test tooling; nothing in archon imports it)")
            continue
        if source == TEST_TOOLING:
            continue
        source_layer, target_layer = layer_of(source), layer_of(target)
        if source_layer is None or target_layer is None:
            unplaced = source if source_layer is None else target
            problems.append(f"{edge}  (archon.{unplaced} has no place in the layer map LAYERS)")
        elif target_layer >= source_layer:
            peer = " (a peer)" if target_layer == source_layer else ""
            problems.append(f"{edge}  ({source} may not import {target}{peer})")
    return problems


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The import cycles between modules: each strongly connected group of two or more modules, sorted."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def cycle_report(edges: list[Edge], group: list[str]) -> str:
    members = set(group)
    inside = sorted({str(e) for e in edges if e.source in members and e.target in members})
    return "cycle between " + ", ".join(group) + ":\n" + "\n".join(f"    {line}" for line in inside)


def package_graph(edges: list[Edge]) -> dict[str, set[str]]:
    """Which top-level parts of ``archon`` each part imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        source, target = part_of(edge.source), part_of(edge.target)
        graph[source]  # list parts that import nothing too
        if source != target:
            graph[source].add(target)
    return graph


def _order(part: str) -> tuple[int, str]:
    layer = layer_of(part)
    return (99 if layer is None else layer, part)


def format_package_graph(edges: list[Edge]) -> str:
    graph = package_graph(edges)
    width = max(map(len, graph))
    lines = []
    for part in sorted(graph, key=_order):
        targets = sorted(graph[part], key=_order)
        upward = {
            t
            for t in targets
            if t == TEST_TOOLING or (part != TEST_TOOLING and (layer_of(t) or 0) >= (layer_of(part) or 0))
        }
        shown = [f"{t} (!)" if t in upward else t for t in targets]
        lines.append(f"{part:<{width}} -> {', '.join(shown) or '-'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    edges = module_edges()
    if "--check" not in argv:
        print(format_package_graph(edges))
        print("\n(!) marks an import against the dependency rule; --check lists them.")
        return 0
    problems = rule_violations(edges) + [cycle_report(edges, g) for g in cycles(edges)]
    print("\n".join(problems) or "the dependency rule holds and there are no import cycles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
