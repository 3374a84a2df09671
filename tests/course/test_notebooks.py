"""Every chapter runs top to bottom in the smoke profile, as a student would run it.

Each notebook is executed in a temporary copy of notebooks/ (so runs never modify the
tracked files) by a fresh kernel with MEDSYNTH_PROFILE=smoke; the executed copy is kept in
_build/executed/smoke/ for the course website. The time each took is
printed; the speed target (smoke <= 120 s per notebook) is checked by
benchmarks/notebooks.py, not here.
"""
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from medsynth_nb.course.notebook_runner import execute_notebook
from medsynth_nb.course.site import save_executed

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
    save_executed(nb, path, "smoke")  # the site (make site) shows these outputs unless a cpu run saved its own


def _cells(path: Path, kind: str) -> list[str]:
    return ["".join(c["source"]) for c in nbformat.read(path, as_version=4).cells if c["cell_type"] == kind]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapters_size_training_in_steps_not_seconds(path):
    """A time budget makes results move with the machine's speed; the time cap is a guard only."""
    for source in _cells(path, "code"):
        assert "train_seconds" not in source, source
        assert not re.search(r"from_profile\((?:[^()]|\([^()]*\))*\bseconds\s*=", source), source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_prose_quotes_no_run_of_its_own(path):
    """Figures of a run belong in the run's output and its claims check, not in the text."""
    for text in _cells(path, "markdown"):
        assert not re.search(r"\b(in )?our (cpu[- ]|gpu[- ])?(profile[- ])?runs?\b", text, re.IGNORECASE), text
