"""The shape of the ``grants`` package: no module too long to read, and no import cycle.

The import graph is read from the source with :mod:`ast`, not by importing anything, so an
import hidden inside a function counts as much as one at the top of a module. An edge goes
from a module to the module it names:

- ``import grants.a.b`` and ``from grants.a.b import name`` name ``grants.a.b``;
- ``from grants.a import b`` names the submodule ``grants.a.b`` when there is one, and the
  package ``grants.a`` (its ``__init__``) when ``b`` is a name defined there;
- relative imports are resolved against the importing module's package.

A package's ``__init__`` importing its submodules (to re-export them, or to register views)
is an edge like any other. A module's own parent packages, which Python initialises before
it, are not edges (else every submodule would depend on its package). Imports under
``if TYPE_CHECKING:`` are not edges either: they never run, and they exist so that two
models can name each other in their annotations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import grants

PACKAGE = Path(grants.__file__).parent
MAX_LINES = 600
"""The longest a module may be (the design asks for about 500)."""


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name; a package by its ``__init__``."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``nodes`` at any depth, except under ``if TYPE_CHECKING``."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.orelse)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node))


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement imports from."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of the package that ``module`` names in its imports."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in _import_nodes([ast.parse(path.read_text(), filename=str(path))]):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = _base(module, is_package, node)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            names.add(submodule if submodule in known else base)
    return {name for name in names if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports."""
    found = modules()
    known = set(found)
    return {module: imported(module, path, known) for module, path in found.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` that hold a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(start: str) -> None:
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the first module of ``component``, as the path around it."""
    members = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if successor not in came_from:
                    came_from[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def describe_cycles(graph: dict[str, set[str]]) -> list[str]:
    """One line per group of modules that import each other: the group, then one cycle."""
    return [
        f"{len(component)} modules ({', '.join(component)}); "
        f"for example {' -> '.join(shortest_cycle(graph, component))}"
        for component in strongly_connected(graph)
    ]


def test_the_graph_reader_resolves_imports_as_python_does(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg import sub\n",
        "sub/__init__.py": "from .leaf import thing\n",
        "sub/leaf.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.other import Hint\n"
            "def later():\n    from .. import other\n"
        ),
        "other.py": "import pkg.sub.leaf\nfrom pkg import sub\nfrom pkg.sub import thing\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    known = {"pkg", "pkg.sub", "pkg.sub.leaf", "pkg.other"}

    def edges(module: str, name: str) -> set[str]:
        return imported(module, package / name, known)

    assert edges("pkg", "__init__.py") == {"pkg.sub"}
    assert edges("pkg.sub", "sub/__init__.py") == {"pkg.sub.leaf"}
    assert edges("pkg.sub.leaf", "sub/leaf.py") == {"pkg.other"}
    assert edges("pkg.other", "other.py") == {"pkg.sub.leaf", "pkg.sub"}
    graph = {
        "pkg": {"pkg.sub"},
        "pkg.sub": {"pkg.sub.leaf"},
        "pkg.sub.leaf": {"pkg.other"},
        "pkg.other": {"pkg.sub.leaf", "pkg.sub"},
    }
    assert strongly_connected(graph) == [["pkg.other", "pkg.sub", "pkg.sub.leaf"]]
    assert shortest_cycle(graph, ["pkg.other", "pkg.sub", "pkg.sub.leaf"]) == [
        "pkg.other",
        "pkg.sub.leaf",
        "pkg.other",
    ]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_600_lines() -> None:
    lengths = {module: len(path.read_text().splitlines()) for module, path in modules().items()}
    too_long = sorted(
        (f"{module}: {count} lines" for module, count in lengths.items() if count > MAX_LINES),
    )
    assert not too_long, f"modules over {MAX_LINES} lines: " + "; ".join(too_long)


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert "grants.web" in graph
    assert graph["grants.web.errors"], "the reader found no imports in grants.web.errors"
    cycles = describe_cycles(graph)
    assert not cycles, "modules that import each other:\n" + "\n".join(cycles)
