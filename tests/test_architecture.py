"""The package's import graph, read from the source with ``ast`` (nothing is imported).

Every ``import`` counts, at module level and inside functions, except those under
``if TYPE_CHECKING:`` (never executed). ``from a.b import c`` is an edge to ``a.b.c`` when
that is a module, else to ``a.b``; importing ``a.b.c`` also runs ``a/__init__`` and
``a/b/__init__``, but that implicit edge to the parent packages is not drawn.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("moderation", "workers")
SERVICE_ROOTS = (
    "moderation.api.main",
    "moderation.web",
    "moderation.serve",
    "workers.worker",
    "workers.jobs",
)
"""Where requests and jobs run: nothing they reach may be an offline tool."""
OFFLINE = "moderation.offline"


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> source file, for every module of ``PACKAGES``."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
        else:
            yield from _imports(node)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` if it is a module of ours, else its nearest enclosing module of ours."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = module.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [
                    f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in modules else prefix
                    for alias in node.names
                ]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    edges.add(resolved)
        graph[module] = edges
    return graph


def reachable(graph: dict[str, set[str]], roots: tuple[str, ...]) -> dict[str, str | None]:
    """Every module reachable from ``roots`` -> the module that first imported it."""
    seen: dict[str, str | None] = {root: None for root in roots}
    todo = list(roots)
    while todo:
        module = todo.pop()
        for target in sorted(graph.get(module, ())):
            if target not in seen:
                seen[target] = module
                todo.append(target)
    return seen


def _chain(parents: dict[str, str | None], module: str) -> list[str]:
    chain = [module]
    while (parent := parents[chain[-1]]) is not None:
        chain.append(parent)
    return chain[::-1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path of modules) for each strongly connected group (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_closed_path(graph, group) for group in groups]


def _closed_path(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    parents: dict[str, str | None] = {start: None}
    todo = [start]
    while todo:
        module = todo.pop(0)
        for target in sorted(graph[module] & group):
            if target == start:
                return [*_chain(parents, module), start]
            if target not in parents:
                parents[target] = module
                todo.append(target)
    raise AssertionError(f"{sorted(group)} is not a cycle")  # pragma: no cover


# --- the rules --------------------------------------------------------------------------


def test_the_service_does_not_reach_the_offline_tools():
    modules = module_files()
    assert set(SERVICE_ROOTS) <= set(modules)
    parents = reachable(import_graph(modules), SERVICE_ROOTS)
    offline = sorted(m for m in parents if m == OFFLINE or m.startswith(OFFLINE + "."))
    assert not offline, "the request/worker path imports offline tools:\n" + "\n".join(
        " -> ".join(_chain(parents, m)) for m in offline
    )


def test_the_package_has_no_import_cycle():
    found = cycles(import_graph(module_files()))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


# --- the checks above can fail ----------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(tmp_path)


def test_the_graph_sees_function_level_and_relative_imports_and_cycles(tmp_path: Path):
    modules = _tree(
        tmp_path,
        {
            "moderation/__init__.py": "",
            "moderation/api/__init__.py": "",
            "moderation/api/main.py": "def app():\n    from moderation import helpers\n",
            "moderation/helpers.py": "from .offline.tool import run\n",
            "moderation/offline/__init__.py": "",
            "moderation/offline/tool.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from moderation.api import main\n"
                "def run():\n    import moderation.helpers\n"
            ),
            "workers/__init__.py": "import moderation.api.main\n",
        },
    )
    graph = import_graph(modules)
    assert graph["moderation.api.main"] == {"moderation.helpers"}
    assert graph["moderation.helpers"] == {"moderation.offline.tool"}
    assert graph["moderation.offline.tool"] == {"moderation.helpers"}  # not the TYPE_CHECKING one
    assert graph["workers"] == {"moderation.api.main"}
    parents = reachable(graph, ("moderation.api.main",))
    assert _chain(parents, "moderation.offline.tool") == [
        "moderation.api.main",
        "moderation.helpers",
        "moderation.offline.tool",
    ]
    assert cycles(graph) == [
        ["moderation.helpers", "moderation.offline.tool", "moderation.helpers"]
    ]
