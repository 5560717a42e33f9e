"""The package has no import cycle (function-level imports included), and its layers
import downwards only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "pipeline"


def imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline"):
                found.add(node.module or "")
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("pipeline")}
        graph[module] = found
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = imports()
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for dep in sorted(graph.get(module, ())):
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep in graph and dep not in done:
                visit(dep, [*path, dep])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == []


# Lowest first; ARCHITECTURE.md describes them. A module imports its own layer and lower ones.
LAYERS = (
    ("core", ("pipeline", "pipeline.core")),
    ("wire formats", ("pipeline.manifests",)),
    ("storage", ("pipeline.storage",)),
    ("media", ("pipeline.media",)),
    ("vision", ("pipeline.detect", "pipeline.follow", "pipeline.superres", "pipeline.render")),
    ("stages", ("pipeline.stages",)),
    ("status", ("pipeline.status",)),
    ("client", ("pipeline.client",)),
    ("jobs", ("pipeline.jobs", "pipeline.runners")),
    ("service", ("pipeline.service",)),
    ("cli", ("pipeline.cli",)),
)


def layer_of(module: str) -> int:
    """The index of ``module``'s layer."""
    best, length = len(LAYERS), -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            fits = module == prefix or (prefix != "pipeline" and module.startswith(prefix + "."))
            if fits and len(prefix) > length:
                best, length = index, len(prefix)
    return best


def test_every_module_has_a_layer() -> None:
    assert [m for m in imports() if layer_of(m) == len(LAYERS)] == []


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = [
        f"{module} -> {dep}"
        for module, deps in imports().items()
        for dep in deps
        if layer_of(dep) > layer_of(module)
    ]
    assert upward == []
