"""Import directions of the package, checked by walking every module's imports with ``ast``.

Function-level imports count (a lazy import is still a dependency); imports inside an
``if TYPE_CHECKING:`` block do not (they never run). Relative imports are resolved.
Each rule is its own test, and a failure names the module, the line and the import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "eventkit"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE

ERRORS = "eventkit.errors"
STORE = "eventkit.log.store"
STORE_PUBLIC_NAMES = {"EventStore", "NewEvent"}
DATAFRAME_ENGINES = ("duckdb", "pandas", "pyarrow")


# --------------------------------------------------------------------------- the walk


@dataclass(frozen=True)
class Import:
    """One imported thing: a module, or a name taken from a module."""

    module: str
    """The importing module (``eventkit.log.jsonl``)."""
    line: int
    target: str
    """The module imported: for ``from x import y``, ``x.y`` if that is a module, else ``x``."""
    name: str | None
    """For ``from x import y`` where ``y`` is not a module: ``y``."""
    module_level: bool
    """Runs when the module is imported (not inside a function)."""
    text: str
    """The statement (as ``ast.unparse`` writes it), for messages."""

    def __str__(self) -> str:
        taken = f"{self.target}.{self.name}" if self.name else self.target
        return f"{relpath(self.module)}:{self.line} `{self.text}` (→ {taken})"


def relpath(module: str) -> str:
    path = MODULES[module]
    return str(path.relative_to(PACKAGE_DIR.parent))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    module_name(path): path
    for path in sorted(PACKAGE_DIR.rglob("*.py"))
    if "__pycache__" not in path.parts
}


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def in_package(module: str, prefix: str) -> bool:
    """``module`` is ``prefix`` or inside it (``eventkit.log.files`` in ``eventkit.log``)."""
    return module == prefix or module.startswith(prefix + ".")


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve_from(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if is_package(module) else module.rpartition(".")[0]
    base = package.split(".")
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


class _Walker(ast.NodeVisitor):
    """Collects a module's imports, noting which run only inside a function."""

    def __init__(self, module: str):
        self.module = module
        self.imports: list[Import] = []
        self.bound_modules: dict[str, str] = {}
        """Local names bound to an eventkit module (``duck`` → ``eventkit.read.duck``)."""
        self.bound_names: dict[str, str] = {}
        """Local names bound to a class or function of an eventkit module (``EventStore``)."""
        self.depth = 0

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):  # never runs: only its else branch counts
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _add(self, node: ast.stmt, target: str, name: str | None) -> None:
        text = ast.unparse(node)
        self.imports.append(Import(self.module, node.lineno, target, name, self.depth == 0, text))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name, None)
            if alias.asname:
                self.bound_modules[alias.asname] = alias.name
            else:
                top = alias.name.partition(".")[0]
                self.bound_modules[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve_from(self.module, node)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in MODULES:
                self._add(node, submodule, None)
                self.bound_modules[alias.asname or alias.name] = submodule
            else:
                self._add(node, base, alias.name)
                if in_package(base, PACKAGE):
                    self.bound_names[alias.asname or alias.name] = f"{base}.{alias.name}"


@dataclass(frozen=True)
class PrivateAccess:
    """An attribute use such as ``duck._Reader`` (or ``store.conn``) found in a module."""

    module: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{relpath(self.module)}:{self.line} `{self.text}`"


@cache
def walk(module: str) -> tuple[list[Import], list[PrivateAccess], ast.Module]:
    """The module's imports, its ``mod._private`` uses of imported modules, and its tree."""
    source = MODULES[module].read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(MODULES[module]))
    walker = _Walker(module)
    walker.visit(tree)
    return walker.imports, private_uses(tree, walker, module), tree


def private_uses(tree: ast.Module, walker: _Walker, module: str) -> list[PrivateAccess]:
    """``x._y`` where ``x`` is another eventkit module, or a class or function taken from one."""
    private = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not is_private(node.attr):
            continue
        chain = _dotted(node.value)
        if chain is None:
            continue
        text = f"{'.'.join(chain)}.{node.attr}"
        if chain[0] in walker.bound_names:
            if walker.bound_names[chain[0]].rpartition(".")[0] != module:
                private.append(PrivateAccess(module, node.lineno, text))
            continue
        if chain[0] not in walker.bound_modules:
            continue
        target = ".".join([walker.bound_modules[chain[0]], *chain[1:]])
        if target in MODULES and target != module:
            private.append(PrivateAccess(module, node.lineno, text))
    return sorted(private, key=lambda access: access.line)


def _dotted(node: ast.expr) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def imports_of(prefix: str) -> list[Import]:
    return [imp for module in MODULES if in_package(module, prefix) for imp in walk(module)[0]]


def own(imports: list[Import]) -> list[Import]:
    return [imp for imp in imports if in_package(imp.target, PACKAGE)]


def report(problems: list[object], rule: str) -> str:
    return f"{rule}; {len(problems)} violation(s):\n" + "\n".join(f"  {p}" for p in problems)


# --------------------------------------------------------------------------- the walk itself


def _walk_source(source: str, module: str = "eventkit.log.store") -> list[tuple]:
    walker = _Walker(module)
    walker.visit(ast.parse(source))
    return [(imp.target, imp.name, imp.module_level) for imp in walker.imports]


def test_the_walk_sees_every_kind_of_import():
    """The walker resolves the forms the rules rely on (else the rules prove nothing)."""
    source = """
import sqlite3, eventkit.read.duck as duck
from eventkit.log import projections
from eventkit.errors import ConcurrencyError
from . import migrations
from ..catalog.events import Event
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from eventkit.read.frames import turns_df
else:
    import json
def lazy():
    from eventkit.apps import audit
"""
    assert _walk_source(source) == [
        ("sqlite3", None, True),
        ("eventkit.read.duck", None, True),
        ("eventkit.log.projections", None, True),
        ("eventkit.errors", "ConcurrencyError", True),
        ("eventkit.log.migrations", None, True),
        ("eventkit.catalog.events", "Event", True),
        ("typing", "TYPE_CHECKING", True),
        ("json", None, True),
        ("eventkit.apps.audit", None, False),
    ]
    assert len(MODULES) > 30 and "eventkit.catalog.events" in MODULES


def test_relative_imports_in_a_package_init_start_from_the_package():
    assert _walk_source("from .store import EventStore", module="eventkit.log") == [
        ("eventkit.log.store", "EventStore", True)
    ]


# --------------------------------------------------------------------------- the rules


def test_errors_import_nothing_of_eventkit():
    problems = own(imports_of(ERRORS))
    assert not problems, report(problems, "eventkit.errors (the error tree) imports no eventkit")


def test_catalog_imports_only_the_catalog_and_errors():
    problems = [
        imp
        for imp in own(imports_of("eventkit.catalog"))
        if not (in_package(imp.target, "eventkit.catalog") or imp.target == ERRORS)
    ]
    assert not problems, report(
        problems, "the catalog imports nothing of eventkit but the catalog and eventkit.errors"
    )


def test_write_side_imports_no_dataframe_engine_nor_what_is_built_on_it():
    above = ("read", "scale", "apps", "importers", "cli")
    problems = [
        imp
        for imp in imports_of("eventkit.log")
        if imp.target.partition(".")[0] in DATAFRAME_ENGINES
        or any(in_package(imp.target, f"{PACKAGE}.{layer}") for layer in above)
    ]
    assert not problems, report(
        problems,
        "the write side (eventkit.log) never imports duckdb, pandas, pyarrow, nor the read "
        "side, scale-out, apps, importers or the CLI",
    )


def test_read_side_opens_logs_through_log_files_only():
    problems = [
        imp
        for imp in imports_of("eventkit.read")
        if in_package(imp.target, "eventkit.log")
        and imp.target not in ("eventkit.log", "eventkit.log.files")
    ]
    assert not problems, report(
        problems,
        "the read side (eventkit.read) imports of the write side only eventkit.log.files "
        "(never the store, projections or migrations)",
    )


def test_importers_use_the_write_side_through_the_store_public_api_only():
    allowed = ("eventkit.catalog", "eventkit.importers", ERRORS, "eventkit.progress")
    problems = []
    for imp in own(imports_of("eventkit.importers")):
        if any(in_package(imp.target, prefix) for prefix in allowed):
            continue
        if imp.target == "eventkit.log.files":
            continue
        if imp.target == STORE and imp.name in STORE_PUBLIC_NAMES:
            continue
        problems.append(imp)
    assert not problems, report(
        problems,
        f"importers use the write side only through {STORE} "
        f"({', '.join(sorted(STORE_PUBLIC_NAMES))}), plus the catalog, errors, progress "
        "and eventkit.log.files",
    )


def test_importers_do_not_reach_into_the_store_connection():
    """Reads go through EventStore's methods, not ``store.conn.execute(...)`` on the log."""
    problems = []
    for module in MODULES:
        if in_package(module, "eventkit.importers"):
            tree = walk(module)[2]
            problems += [
                PrivateAccess(module, node.lineno, f"{'.'.join(_dotted(node) or ['…'])}")
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and node.attr == "conn"
            ]
    assert not problems, report(problems, "importers read the log through EventStore's methods")


def test_nothing_imports_the_cli():
    problems = [
        imp
        for module in MODULES
        if not in_package(module, "eventkit.cli") and module != "eventkit.__main__"
        for imp in walk(module)[0]
        if in_package(imp.target, "eventkit.cli") or (imp.target == PACKAGE and imp.name == "cli")
    ]
    assert not problems, report(problems, "nothing imports eventkit.cli (it sits on top)")


def test_no_module_takes_another_modules_private_name():
    problems: list[object] = []
    for module in MODULES:
        imports, private, _ = walk(module)
        for imp in own(imports):
            if imp.name is not None and is_private(imp.name) and imp.target != module:
                problems.append(imp)
                continue
            # A private module (``read/_engine.py``) is for its own package only.
            parts = imp.target.split(".")
            for depth, part in enumerate(parts):
                if is_private(part) and not in_package(module, ".".join(parts[:depth])):
                    problems.append(imp)
                    break
        problems += private
    assert not problems, report(
        problems,
        "no module imports another module's _private name (`from x import _y` or `x._y`)",
    )


def test_no_import_cycle():
    problems = _cycles(lazy=False)
    assert not problems, report(problems, "no import cycle among modules (module-level imports)")


def test_no_cycle_hidden_behind_a_function_level_import():
    """An import moved into a function to break a cycle hides the tie, it does not undo it."""
    problems = _cycles(lazy=True)
    assert not problems, report(problems, "no two modules depend on each other (any import)")


def _cycles(*, lazy: bool) -> list[str]:
    graph: dict[str, dict[str, Import]] = {module: {} for module in MODULES}
    for module in MODULES:
        for imp in own(walk(module)[0]):
            if (lazy or imp.module_level) and imp.target in MODULES and imp.target != module:
                graph[module].setdefault(imp.target, imp)
    problems = []
    for scc in _strongly_connected(graph):
        if len(scc) > 1:  # name one cycle through the group, and how many modules it holds
            path = _cycle_through(min(scc), graph, set(scc))
            edges = "".join(f"\n      {graph[a][b]}" for a, b in zip(path, path[1:], strict=False))
            problems.append(f"{' → '.join(path)} ({len(scc)} modules tied){edges}")
    return problems


def _cycle_through(start: str, graph: dict[str, dict[str, Import]], group: set[str]) -> list[str]:
    """A shortest path ``start → … → start`` inside ``group`` (breadth-first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in graph[node]:
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if child in group and child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def _strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                scc = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    scc.append(member)
                    if member == node:
                        break
                found.append(scc)
    return found


def test_cycle_finder_finds_a_cycle():
    edge = Import("a", 1, "b", None, True, "import b")
    graph = {
        "a": {"b": edge},
        "b": {"c": edge, "e": edge},
        "c": {"a": edge},
        "d": {"a": edge},
        "e": {"b": edge},
    }
    assert sorted(map(sorted, _strongly_connected(graph))) == [["a", "b", "c", "e"], ["d"]]
    assert _cycle_through("a", graph, {"a", "b", "c", "e"}) == ["a", "b", "c", "a"]
    assert _cycle_through("e", graph, {"a", "b", "c", "e"}) == ["e", "b", "e"]


# --------------------------------------------------------------------------- docstrings


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_has_a_docstring(module):
    docstring = ast.get_docstring(walk(module)[2])
    assert docstring and docstring.strip(), f"{relpath(module)} has no module docstring"


def test_every_folder_of_the_package_is_a_package_with_a_docstring():
    folders = {path.parent for path in MODULES.values()}
    missing = sorted(
        str(folder.relative_to(PACKAGE_DIR.parent))
        for folder in folders
        if not (folder / "__init__.py").is_file()
    )
    assert not missing, f"folders of Python modules without an __init__.py: {missing}"
    undocumented = [
        relpath(module)
        for module in MODULES
        if is_package(module) and not (ast.get_docstring(walk(module)[2]) or "").strip()
    ]
    assert not undocumented, f"package __init__ files without a docstring: {undocumented}"


# --------------------------------------------------------------------------- beyond one hop


def test_only_the_cli_uses_the_top_level_package():
    """``import eventkit`` inside the package hides which layer a module really uses."""
    problems = [
        imp
        for module in MODULES
        if module != PACKAGE and not in_package(module, "eventkit.cli")
        for imp in walk(module)[0]
        if imp.target == PACKAGE
    ]
    assert not problems, report(
        problems, "modules import the layer they use, never the `eventkit` facade (the CLI may)"
    )


def _reachable(start: str) -> dict[str, Import]:
    """Every module (eventkit's and third-party tops) ``start`` imports, directly or not."""
    seen: dict[str, Import] = {}
    todo = [start]
    while todo:
        for imp in walk(todo.pop())[0]:
            target = imp.target if in_package(imp.target, PACKAGE) else imp.target.split(".")[0]
            if target in seen or target == start:
                continue
            seen[target] = imp
            if target in MODULES and target != PACKAGE:
                todo.append(target)
    return seen


def test_the_write_side_reaches_no_dataframe_engine_through_anything():
    problems = [
        f"{module} reaches {target} via {imp}"
        for module in MODULES
        if in_package(module, "eventkit.log") or in_package(module, "eventkit.catalog")
        for target, imp in _reachable(module).items()
        if target in DATAFRAME_ENGINES
    ]
    assert not problems, report(
        problems, "the catalog and the write side reach no duckdb, pandas or pyarrow, however deep"
    )


def test_the_read_side_reaches_no_store_through_anything():
    writers = ("eventkit.log.store", "eventkit.log.projections", "eventkit.log.migrations")
    problems = [
        f"{module} reaches {target} via {imp}"
        for module in MODULES
        if in_package(module, "eventkit.read")
        for target, imp in _reachable(module).items()
        if any(in_package(target, w) for w in writers)
    ]
    assert not problems, report(
        problems, "the read side reaches no store, projections or migrations"
    )


def test_a_private_name_taken_from_a_class_is_found():
    source = "from eventkit.log.store import EventStore\nEventStore._write(None)\n"
    tree = ast.parse(source)
    walker = _Walker("eventkit.importers.common")
    walker.visit(tree)
    found = private_uses(tree, walker, "eventkit.importers.common")
    assert [access.text for access in found] == ["EventStore._write"]
    assert private_uses(tree, walker, "eventkit.log.store") == []  # its own class
