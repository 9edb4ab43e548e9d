"""Package layout: one folder rule, one-way imports, no cycles, no hidden project imports.

The rule (README, code map): every top-level package folder ``X/`` installs as ``leukoscan.X``
and is one layer; ``leukoscan/`` itself is the core. Layers, top to bottom::

    tools/ (commands)  ->  pipeline/ (application)  ->  detect/ | classify/ (stages)  ->  leukoscan/ (core)
    experiments/ (the research harness): used only by its own command

Walks the source of the installed packages and builds the import graph with ``ast``
(module level, function-local and ``TYPE_CHECKING`` imports alike):

- ``pyproject.toml`` maps each top-level package folder to ``leukoscan.<folder>`` and lists
  every package below them; ``leukoscan/`` holds no other layer;
- each layer imports only the layers below it: the stages never import each other, the
  application layer or the commands; the core imports none of them;
- nothing but ``leukoscan benchmark-classifiers`` imports the research harness;
- project imports form no cycle, type-only imports and the dispatcher's by-name
  loading of the commands included; nothing imports the dispatcher;
- a function-local import of a project module is allowed only to defer a heavy optional
  dependency, and then says so in a comment on its line.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SETUP = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
DATA_ONLY = ("configs", "datasets")  # package data (YAML configs, dataset cards), no code

#: layer -> the import name of its folder
CORE, STAGES = "leukoscan", ("leukoscan.detect", "leukoscan.classify")
APP, TOOLS, RESEARCH = "leukoscan.pipeline", "leukoscan.tools", "leukoscan.experiments"
DISPATCHER = "leukoscan.tools.cli"
RESEARCH_COMMAND = "leukoscan.tools.benchmark_classifiers"
ROOTS = (CORE, *STAGES, APP, TOOLS, RESEARCH)


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


def test_every_top_level_package_folder_is_leukoscan_dot_its_name():
    folders = sorted(p.parent.name for p in REPO.glob("*/__init__.py"))
    mapping = SETUP["package-dir"]
    assert mapping.pop("leukoscan") == "leukoscan"
    assert mapping == {f"leukoscan.{d}": d for d in sorted({*folders, *DATA_ONLY} - {"leukoscan"})}
    assert {f"leukoscan.{d}" for d in folders if d != "leukoscan"} == set(ROOTS) - {CORE}
    # every package below a mapped folder is listed (a missing one would not install)
    found = {f"leukoscan.{d}" for d in DATA_ONLY}
    for d in folders:
        for init in (REPO / d).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / d).parts
            found.add(".".join(("leukoscan", *((d,) if d != "leukoscan" else ()), *rel)))
    assert sorted(SETUP["packages"]) == sorted(found)


def test_the_core_folder_holds_the_core_alone():
    subpackages = sorted(p.parent.name for p in (REPO / "leukoscan").glob("*/__init__.py"))
    assert subpackages == ["data"], subpackages  # dataset converters: core, used by both stages
    for layer in (*STAGES, APP, TOOLS, RESEARCH):
        folder = layer.removeprefix("leukoscan.")
        assert Path(importlib.import_module(layer).__file__).parent.name == folder, layer


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


def _imports(mod: str) -> list[tuple[str, bool, int]]:
    """(imported project module, at module level?, line) for every import in ``mod``,
    ``TYPE_CHECKING`` blocks included (they count as module level)."""
    path = MODULES[mod]
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                out.extend((a.name, top, child.lineno) for a in child.names if a.name.startswith("leukoscan"))
            elif isinstance(child, ast.ImportFrom):
                out.extend((m, top, child.lineno) for m in _resolve(mod, child) if m.startswith("leukoscan"))
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inner)

    visit(tree, True)
    return out


def _loaded_by_name(mod: str) -> list[str]:
    """Modules ``mod`` imports by name at run time (the dispatcher: every command)."""
    if mod != DISPATCHER:
        return []
    from leukoscan.tools.cli import COMMANDS

    return [f"{TOOLS}.{m}" for m in COMMANDS.values()]


def _layer(mod: str) -> str:
    for prefix in (*STAGES, APP, TOOLS, RESEARCH):
        if mod == prefix or mod.startswith(prefix + "."):
            return prefix
    return CORE


ALLOWED = {
    CORE: {CORE},
    "leukoscan.detect": {CORE, "leukoscan.detect"},
    "leukoscan.classify": {CORE, "leukoscan.classify"},
    APP: {CORE, *STAGES, APP},
    RESEARCH: {CORE, *STAGES, RESEARCH},
    TOOLS: {CORE, *STAGES, APP, RESEARCH, TOOLS},
}


def test_walk_finds_every_part():
    for name in (
        "leukoscan.detect.backends.yolo",
        "leukoscan.classify.models.torch_zoo",
        "leukoscan.pipeline.infer.cascade",
        "leukoscan.pipeline.batch.runner",
        "leukoscan.tools.infer",
        DISPATCHER,
        "leukoscan.experiments.seed_table",
        "leukoscan.schema",
        "leukoscan.runs",
        "leukoscan.errors",
    ):
        assert name in MODULES, name


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_imports_follow_the_layers(mod):
    bad = [(m, line) for m, _, line in _imports(mod) if m in MODULES and _layer(m) not in ALLOWED[_layer(mod)]]
    assert not bad, f"{mod} ({_layer(mod)}) imports {bad}"


def test_nothing_shipped_imports_the_research_harness():
    users = sorted(
        {mod for mod in MODULES for m, _, _ in _imports(mod) if _layer(m) == RESEARCH and _layer(mod) != RESEARCH}
    )
    assert users == [RESEARCH_COMMAND], users


def test_nothing_imports_the_dispatcher():
    users = sorted({mod for mod in MODULES for m, _, _ in _imports(mod) if m == DISPATCHER and mod != DISPATCHER})
    assert not users, users


def _packages_run_by(importer: str, target: str) -> set[str]:
    """``target`` and the packages whose ``__init__`` importing it runs first (those that are
    not already ancestors of ``importer``, whose ``__init__`` has started by then)."""
    parts = target.split(".")
    chain = {".".join(parts[:k]) for k in range(2, len(parts))} | {target}
    return {m for m in chain if m in MODULES and not (importer + ".").startswith(m + ".")}


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state and (found := dfs(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := dfs(m)):
            return found
    return None


def test_no_import_cycles():
    """No cycle among the imports that run on import (module level), nor among all of them
    (type-only, function-local and by-name loading included)."""
    run = {
        m: sorted({p for i, top, _ in _imports(m) if top and i in MODULES for p in _packages_run_by(m, i)} - {m})
        for m in MODULES
    }
    cycle = _find_cycle(run)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
    every = {m: sorted({i for i, _, _ in _imports(m) if i in MODULES} | set(_loaded_by_name(m)) - {m}) for m in MODULES}
    cycle = _find_cycle(every)
    assert cycle is None, "import cycle (counting type-only and deferred imports): " + " -> ".join(cycle)


def test_function_local_project_imports_say_why():
    hidden = []
    for mod, path in MODULES.items():
        lines = path.read_text().splitlines()
        for m, top, line in _imports(mod):
            if not top and "#" not in lines[line - 1]:
                hidden.append(f"{path.name}:{line} {m}")
    assert not hidden, "function-local imports of project modules without a reason: " + ", ".join(hidden)
