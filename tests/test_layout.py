"""Package layout: one namespace, one-way imports, no cycles, no hidden project imports.

Walks the source of the installed ``leukoscan`` package (``leukoscan``, ``leukoscan.detect``,
``leukoscan.classify`` and their submodules) and builds its import graph with ``ast``:

- the stages never import each other: ``leukoscan.detect`` never imports
  ``leukoscan.classify`` and vice versa; neither imports the application layer
  (``leukoscan.app``) or the commands; the core imports none of them;
- module-level imports between project modules form no cycle;
- a function-local import of a project module is allowed only to defer a heavy optional
  dependency, and then says so in a comment on its line.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

ROOTS = ("leukoscan", "leukoscan.detect", "leukoscan.classify")
STAGES = ("leukoscan.detect", "leukoscan.classify")
UPPER = ("leukoscan.app", "leukoscan.commands", "leukoscan.cli")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in ROOTS:
        pkg = importlib.import_module(root)
        found[root] = Path(pkg.__file__)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{root}."):
            spec = importlib.util.find_spec(info.name)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                found[info.name] = Path(spec.origin)
    return found


MODULES = _modules()


def _resolve(mod: str, node: ast.ImportFrom) -> list[str]:
    base = node.module or ""
    if node.level:
        pkg = mod if MODULES[mod].name == "__init__.py" else mod.rsplit(".", 1)[0]
        parts = pkg.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
    out = []
    for alias in node.names:
        cand = f"{base}.{alias.name}"
        out.append(cand if cand in MODULES else base)
    return out


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(mod: str) -> list[tuple[str, bool, int]]:
    """(imported project module, at module level?, line) for every import in ``mod``."""
    path = MODULES[mod]
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # annotations only
            if isinstance(child, ast.Import):
                out.extend((a.name, top, child.lineno) for a in child.names if a.name.startswith("leukoscan"))
            elif isinstance(child, ast.ImportFrom):
                out.extend((m, top, child.lineno) for m in _resolve(mod, child) if m.startswith("leukoscan"))
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inner)

    visit(tree, True)
    return out


def _layer(mod: str) -> str:
    for prefix in (*STAGES, *UPPER):
        if mod == prefix or mod.startswith(prefix + "."):
            return prefix
    return "core"


ALLOWED = {
    "core": {"core"},
    "leukoscan.detect": {"core", "leukoscan.detect"},
    "leukoscan.classify": {"core", "leukoscan.classify"},
    "leukoscan.app": {"core", *STAGES, "leukoscan.app"},
    "leukoscan.commands": {"core", *STAGES, *UPPER},
    "leukoscan.cli": {"core", "leukoscan.cli"},
}


def test_walk_finds_every_part():
    for name in ("leukoscan.detect.backends.yolo", "leukoscan.classify.models.torch_zoo", "leukoscan.app.pipeline",
                 "leukoscan.commands.infer", "leukoscan.schema", "leukoscan.runs", "leukoscan.errors"):
        assert name in MODULES, name


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_imports_follow_the_layers(mod):
    bad = [(m, line) for m, _, line in _imports(mod) if m in MODULES and _layer(m) not in ALLOWED[_layer(mod)]]
    assert not bad, f"{mod} ({_layer(mod)}) imports {bad}"


def _packages_run_by(importer: str, target: str) -> set[str]:
    """``target`` and the packages whose ``__init__`` importing it runs first (those that are
    not already ancestors of ``importer``, whose ``__init__`` has started by then)."""
    parts = target.split(".")
    chain = {".".join(parts[:k]) for k in range(2, len(parts))} | {target}
    return {m for m in chain if m in MODULES and not (importer + ".").startswith(m + ".")}


def test_no_import_cycles():
    graph = {m: sorted({p for i, top, _ in _imports(m) if top and i in MODULES for p in _packages_run_by(m, i)} - {m})
             for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                dfs(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)


def test_function_local_project_imports_say_why():
    hidden = []
    for mod, path in MODULES.items():
        lines = path.read_text().splitlines()
        for m, top, line in _imports(mod):
            if not top and "#" not in lines[line - 1]:
                hidden.append(f"{path.name}:{line} {m}")
    assert not hidden, "function-local imports of project modules without a reason: " + ", ".join(hidden)
