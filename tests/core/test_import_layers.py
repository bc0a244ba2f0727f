"""No import loops: no module imports back into a module or package that imports it.

The modules are read, not imported: every import statement counts, one inside a function
too (it runs when the function does); only `if TYPE_CHECKING:` imports, which never run, do
not. The packages are the stages (train, convert, device, explain), the device's parts
(sources, inference, outputs, capture, service) and the core, `edgecnn` with its own
sub-packages (reference, demo: the core is one layer, in which only module loops count).
The CLI (`edgecnn.cli`) is the top of everything: it imports every stage and no module
imports it, so it is left out of the package check.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import pkgutil
from pathlib import Path

STAGES = ("edgecnn", "edgecnn.train", "edgecnn.convert", "edgecnn.device", "edgecnn.explain")
CORE = "edgecnn"
ENTRY_POINT = "edgecnn.cli"


def module_files() -> dict[str, Path]:
    """Every module of the project, by name."""
    files = {}
    for stage in STAGES:
        package = importlib.import_module(stage)
        files[stage] = Path(package.__file__)
        for info in pkgutil.walk_packages(package.__path__, f"{stage}."):
            files[info.name] = Path(importlib.util.find_spec(info.name).origin)
    return files


def package_of(name: str, files: dict[str, Path]) -> str:
    package = name if files[name].name == "__init__.py" else name.rpartition(".")[0]
    stage = next((s for s in STAGES[1:] if package == s or package.startswith(f"{s}.")), None)
    return package if stage is not None else CORE  # the core's sub-packages are the core


def type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The import statements under `if TYPE_CHECKING:`."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(ast.walk(child))
    return skipped


def imports_of(name: str, files: dict[str, Path]) -> dict[str, int]:
    """The project modules `name` imports, each with the line of its first import."""
    tree = ast.parse(files[name].read_text())
    skipped = type_checking_only(tree)
    package = package_of(name, files)
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # `from package import module` imports the module; `from module import name` the module
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target in files and target != name:
                found.setdefault(target, node.lineno)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@functools.cache
def import_graph() -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    files = module_files()
    return files, {name: imports_of(name, files) for name in files}


def test_no_module_imports_back_into_a_module_that_imports_it() -> None:
    _, imports = import_graph()
    loops = cycles({name: set(found) for name, found in imports.items()})
    described = [
        " <-> ".join(loop)
        + ": "
        + "; ".join(
            f"{a}:{imports[a][b]} imports {b}" for a in loop for b in loop if b in imports[a]
        )
        for loop in loops
    ]
    assert not loops, "\n".join(described)


def test_no_package_imports_back_into_a_package_that_imports_it() -> None:
    files, imports = import_graph()
    packages: dict[str, set[str]] = {}
    why: dict[tuple[str, str], str] = {}
    for name, found in imports.items():
        if name == ENTRY_POINT:
            continue
        for target, line in found.items():
            a, b = package_of(name, files), package_of(target, files)
            if a != b:
                packages.setdefault(a, set()).add(b)
                why.setdefault((a, b), f"{name}:{line} imports {target}")
    loops = cycles(packages)
    described = [
        " <-> ".join(loop)
        + ": "
        + "; ".join(why[a, b] for a in loop for b in loop if (a, b) in why)
        for loop in loops
    ]
    assert not loops, "\n".join(described)


def test_nothing_imports_the_cli() -> None:
    _, imports = import_graph()
    assert not [name for name, found in imports.items() if ENTRY_POINT in found]


def test_the_walk_sees_every_stage_and_the_imports_inside_functions() -> None:
    files, imports = import_graph()
    assert {"edgecnn.device.loop", "edgecnn.train.training", "edgecnn.cli"} <= set(files)
    assert len(files) > 80
    # cli.py imports each stage inside its command functions
    assert "edgecnn.train.command" in imports[ENTRY_POINT]
