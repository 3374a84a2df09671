"""Layering rule: only ``medsynth_nb.widgets``, ``medsynth_nb.lesion_painter``,
``medsynth_nb.lesion_view3d`` (and notebooks) import ipywidgets/IPython,
so the CLI, the engine, the data and the figures work in plain Python (scripts, CI,
servers without Jupyter). Checked in a fresh interpreter, where nothing else has
imported those packages yet."""
from __future__ import annotations

import json
import os
import subprocess
import sys

FORBIDDEN = ("ipywidgets", "IPython")
HEADLESS_MODULES = [
    "medsynth_nb.cli",
    "medsynth_nb.engine",
    "medsynth_nb.metrics",
    "medsynth_nb.data.datasets",
    "medsynth_nb.data.phantom",
    "medsynth_nb.viz",
    "medsynth_nb.models",
    "medsynth_nb.io",
    "medsynth_nb.profiles",
    "medsynth_nb.exercises",
    # not medsynth_nb.explain: captum itself imports IPython (for its visualisation helpers)
    "medsynth_nb.uncertainty",
    "medsynth_nb.uncertainty_eval",
    "medsynth_nb.data.corruptions",
    "medsynth_nb.lesion_edit",
    "medsynth_nb.data.lesion_pairs",
    "medsynth_nb.lesion_study",
    "medsynth_nb.lesion_plots",
    "medsynth_nb.render_fidelity",
]

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
    code = PROBE.format(modules=list(modules), forbidden=FORBIDDEN, parser=parser)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_headless_modules_do_not_import_jupyter():
    result = _probe(HEADLESS_MODULES)
    assert not result["leaked"], f"importing {HEADLESS_MODULES} pulled in {result['leaked']}"
    # Nor does package code pick a matplotlib backend: that is the caller's choice
    # (inline in notebooks, Agg in the tests' conftest).
    assert result["backend_unchanged"], "importing the package changed matplotlib's backend"


def test_the_probe_can_see_a_leak():
    """The check itself works: importing ipywidgets is seen (and brings IPython)."""
    result = _probe(["ipywidgets"], parser=False)
    assert "ipywidgets" in result["leaked"] and "IPython" in result["leaked"]
