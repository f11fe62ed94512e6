"""One way down: no import circle between bot's modules or packages, and layers import downwards.

Every import is counted, those inside functions too (a lazy import is still a dependency).
Packages are compared at the level a newcomer reads them: `bot.engine.kb`, `bot.telegram.api`,
`bot.store`, `bot.cli`...
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BOT = REPO / "bot"
DEEP = ("bot.engine", "bot.telegram")
"""Packages whose subpackages are layers of their own."""
LAYERS = {
    "bot.engine": {"bot.telegram", "bot.store", "bot.render", "bot.observability", "bot.cli"},
    "bot.store": {"bot.telegram", "bot.render", "bot.observability", "bot.cli"},
    "bot.render": {"bot.telegram", "bot.store", "bot.observability", "bot.cli"},
    "bot.observability": {"bot.telegram.features", "bot.telegram.app", "bot.cli"},
    "bot.telegram": {"bot.cli"},
}
"""Package -> what it must never import: the engine is at the bottom, the command line on top."""


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    return name.removesuffix(".__init__")


MODULES = {module_name(path): path for path in sorted(BOT.rglob("*.py"))}


def imports_of(path: Path) -> Iterator[str]:
    """Yield the bot modules `path` imports (a package when the name is not a module)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                yield child if child in MODULES else node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


GRAPH = {
    name: {target for target in imports_of(path) if target in MODULES and target != name}
    for name, path in MODULES.items()
}


def package_of(module: str) -> str:
    parts = module.split(".")
    depth = 3 if module.startswith(DEEP) and len(parts) > 2 else 2
    return ".".join(parts[:depth])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_bot() -> None:
    assert len(MODULES) > 50
    assert "bot.engine.kb.models" in GRAPH["bot.engine.kb.loader"]


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back() -> None:
    assert cycles(GRAPH) == []


def test_no_two_packages_import_each_other() -> None:
    packages: dict[str, set[str]] = {}
    for source, targets in GRAPH.items():
        for target in targets:
            if package_of(source) != package_of(target):
                packages.setdefault(package_of(source), set()).add(package_of(target))

    assert cycles(packages) == []


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_never_imports_the_layers_above_it(layer: str) -> None:
    above = LAYERS[layer]
    wrong = sorted(
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        if source == layer or source.startswith(f"{layer}.")
        for target in targets
        if any(target == name or target.startswith(f"{name}.") for name in above)
    )

    assert wrong == []
