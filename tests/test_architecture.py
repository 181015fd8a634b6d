"""The project's layering, checked on the source: no import cycle between files, no
import from a lower layer to a higher one, a Django-free `gpu_worker`, and no loading
by name between the project's own apps.

Imports are read with `ast`, at module level and inside functions alike (a deferred
import is still a dependency), so a cycle hidden behind a function-level import is
found too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "accounts", "frontend", "restoration", "voting", "gpu_worker")

#: Lowest first: a layer may import itself and the layers before it. The curation app
#: is nested in restoration/ but sits above voting; config (settings, URLs, ASGI)
#: assembles everything.
LAYERS = ("accounts", "frontend", "restoration", "voting", "restoration.curation", "config")


def project_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name an import statement in the file refers to."""
    names: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(include_migrations: bool = False) -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        if ".migrations." in f".{module}." and not include_migrations:
            continue
        for name in imported_names(module, path):
            target = resolve(name, modules)
            # A package's __init__ is imported with its submodules; an edge from a
            # module to its own package (or back) is the same file tree, not a cycle.
            if target and target != module and not module.startswith(f"{target}."):
                graph[module].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> str | None:
    best = None
    for layer in LAYERS:
        if module == layer or module.startswith(f"{layer}."):
            if best is None or len(layer) > len(best):
                best = layer
    return best


def test_no_import_cycle_between_files():
    cycles = strongly_connected(import_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_from_a_lower_layer_to_a_higher_one():
    wrong = []
    for module, targets in import_graph().items():
        source = layer_of(module)
        if source is None:
            continue
        for target in targets:
            goal = layer_of(target)
            if goal is not None and LAYERS.index(goal) > LAYERS.index(source):
                wrong.append(f"{module} ({source}) imports {target} ({goal})")
    assert wrong == []


def test_gpu_worker_imports_no_django_and_no_site_app():
    wrong = []
    modules = project_modules()
    for module, path in modules.items():
        if not module.startswith("gpu_worker"):
            continue
        for name in imported_names(module, path):
            top = name.split(".")[0]
            if top in ("django", "channels", "daphne") or top in set(PACKAGES) - {"gpu_worker"}:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_no_loading_by_name_between_the_projects_apps():
    """`importlib` and `__import__` only where a name truly selects code at run time."""
    out = subprocess.run(["git", "grep", "-n", r"importlib\|__import__", "--", *PACKAGES],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        pytest.skip(f"git grep unavailable: {out.stderr.strip()}")
    hits = [line for line in out.stdout.splitlines() if line.strip()]
    assert hits == [], "\n".join(hits)

