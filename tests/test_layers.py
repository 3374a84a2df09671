"""The import rule of the whole package, read from the source (every import, also those
inside functions):

    base (profiles, tasks, orientation, io, dicom) <- data <- metrics <- models <- engine
        <- analysis, lesions <- viz <- widgets <- exercises, course <- cli

A module imports only its own folder and folders to its left; the two folders of one
rank (analysis and lesions; exercises and course) do not import each other; no import
cycle anywhere. And only ``widgets`` (and notebooks) import ipywidgets/IPython, so the
CLI, the engine, the data and the figures work in plain Python (scripts, CI, servers
without Jupyter): checked in the source and, in a fresh interpreter, in what importing
them actually loads.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "medsynth_nb"
RANKS = {"base": 0, "data": 1, "metrics": 2, "models": 3, "engine": 4, "analysis": 5, "lesions": 5, "viz": 6,
         "widgets": 7, "exercises": 8, "course": 8, "cli": 9}
BASE = {"profiles", "tasks", "orientation", "io", "dicom", "__init__"}
JUPYTER = ("ipywidgets", "IPython", "ipyevents", "ipyniivue", "ipycanvas")
MAX_LINES = 450
MAX_FLAT_MODULES = 6  # at the package top, besides __init__, __main__, cli and profiles


def module_name(path: Path) -> str:
    parts = ("medsynth_nb",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def unit(module: str) -> str:
    """The folder (layer) a module belongs to."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in BASE:
        return "base"
    return "cli" if parts[1] in ("cli", "__main__") else parts[1]


def imports(path: Path, modules) -> set[str]:
    """The package's modules that ``path`` imports (``from a import b``: the module a.b if
    there is one, else a)."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: {m for m in imports(path, modules) if m in modules and m != name} for name, path in modules.items()}


def layering_violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for source, targets in edges.items():
        for target in targets:
            a, b = unit(source), unit(target)
            if a != b and RANKS[b] >= RANKS[a]:
                bad.append(f"{source} ({a}) imports {target} ({b})")
    return sorted(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_import_points_left_and_none_forms_a_cycle():
    edges = graph()
    assert not layering_violations(edges)
    assert not cycles(edges)


def test_the_checks_see_an_upward_import_and_a_cycle():
    edges = {"medsynth_nb.data.slices": {"medsynth_nb.models.unet"}, "medsynth_nb.models.unet": set(),
             "medsynth_nb.analysis.cost": {"medsynth_nb.lesions.study"}}
    assert len(layering_violations(edges)) == 2
    loop = {"medsynth_nb.metrics.image": {"medsynth_nb.metrics.evaluation"},
            "medsynth_nb.metrics.evaluation": {"medsynth_nb.metrics.image"}}
    assert cycles(loop) == [["medsynth_nb.metrics.evaluation", "medsynth_nb.metrics.image"]]


def test_every_folder_is_a_known_layer_and_modules_stay_small():
    modules = all_modules()
    assert {unit(m) for m in modules} <= set(RANKS)
    long = {m: n for m, p in modules.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
    flat = [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__", "cli", "profiles")]
    assert len(flat) <= MAX_FLAT_MODULES, flat


def test_every_subpackage_says_what_it_exports():
    for init in PACKAGE.glob("*/__init__.py"):
        tree = ast.parse(init.read_text())
        assert ast.get_docstring(tree), f"{init} has no docstring"
        assert any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
                   for n in tree.body), f"{init} has no __all__"


def test_only_widgets_import_jupyter_in_the_source():
    for name, path in all_modules().items():
        if unit(name) == "widgets":
            continue
        jupyter = {m for m in imports(path, {}) if m.split(".")[0] in JUPYTER}
        assert not jupyter, f"{name} imports {jupyter}"


PROBE = """
import importlib, json, sys
import matplotlib
backend_before = matplotlib.rcParams._get_backend_or_none()
for name in {modules!r}:
    importlib.import_module(name)
if {parser!r}:
    import medsynth_nb.cli
    medsynth_nb.cli.build_parser()   # imports the model registry too
print(json.dumps({{"leaked": sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}),
                  "backend_unchanged": matplotlib.rcParams._get_backend_or_none() == backend_before}}))
"""


def _probe(modules, parser: bool = True) -> dict:
    code = PROBE.format(modules=list(modules), forbidden=JUPYTER, parser=parser)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_headless_modules_do_not_import_jupyter():
    # all but widgets, and analysis.attribution: captum itself imports IPython (for its
    # visualisation helpers)
    headless = [m for m in all_modules()
                if unit(m) != "widgets" and m not in ("medsynth_nb.analysis.attribution", "medsynth_nb.__main__")]
    result = _probe(headless)
    assert not result["leaked"], f"importing the headless modules pulled in {result['leaked']}"
    # Nor does package code pick a matplotlib backend: that is the caller's choice
    # (inline in notebooks, Agg in the tests' conftest).
    assert result["backend_unchanged"], "importing the package changed matplotlib's backend"


def test_the_probe_can_see_a_leak():
    """The check itself works: importing ipywidgets is seen (and brings IPython)."""
    result = _probe(["ipywidgets"], parser=False)
    assert "ipywidgets" in result["leaked"] and "IPython" in result["leaked"]


def test_the_task_grammar_knows_the_sites_the_physics_renders():
    from medsynth_nb import tasks
    from medsynth_nb.data import physics

    assert set(tasks.SITES) == set(physics.SITES)
