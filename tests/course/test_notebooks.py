"""Every chapter runs top to bottom in the smoke profile, as a student would run it.

Each notebook is executed in a temporary copy of notebooks/ (so runs never modify the
tracked files) by a fresh kernel with MEDSYNTH_PROFILE=smoke. The time each took is
printed; the speed target (smoke <= 120 s per notebook) is checked by
benchmarks/notebooks.py, not here.
"""
import shutil
from pathlib import Path

import nbformat
import pytest

from medsynth_nb.course.notebook_runner import execute_notebook

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.notebook
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_profile(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSYNTH_PROFILE", "smoke")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("MEDSYNTH_RECORD", raising=False)  # a test run writes no run record
    work = tmp_path / "notebooks"
    shutil.copytree(path.parent, work)
    nb = nbformat.read(work / path.name, as_version=4)
    seconds = execute_notebook(nb, work, timeout=600)
    print(f"{path.name}: {seconds:.1f} s")
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    assert "profile=smoke" in printed, "the notebook must print the profile it runs with"
