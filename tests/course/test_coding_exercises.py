"""Every chapter has a coding exercise: its stub is still a stub (the course's implementation
takes over), its solution in notebooks/solutions/ passes the check in the notebook's own
namespace, a wrong answer gets the check's hint, and the with-solutions copy is written
without touching the student notebook."""
from __future__ import annotations

import ast
import hashlib
import importlib
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from medsynth_nb.course import solutions as course_solutions
from medsynth_nb.exercises.coding import STUB_PREFIX, CodingExercise

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _exercises(path: Path) -> dict[str, CodingExercise]:
    module = importlib.import_module(f"medsynth_nb.exercises.chapter{path.name[:2]}")
    return {e.name: e for e in vars(module).values() if isinstance(e, CodingExercise)}


def _namespace(nb) -> dict:
    """What the notebook's import statements bring in: the names a stub or a solution may use."""
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        # IPython magics (the Colab install line) become `pass`, keeping the code around them valid.
        lines = [line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
                 for line in cell.source.splitlines()]
        tree = ast.parse("\n".join(lines))
        for node in tree.body:  # top level only: not the Colab-only imports inside `if "google.colab" ...`
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                exec(compile(ast.Module([node], []), "<imports>", "exec"), namespace)
    return namespace


def _defined(source: str, name: str, namespace: dict):
    exec(source, namespace)
    return namespace[name]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_chapter_has_a_coding_exercise_whose_stub_is_still_a_stub(path):
    nb = nbformat.read(path, as_version=4)
    stubs = course_solutions.stubs(nb)
    assert stubs, f"{path.name}: no code cell tagged {course_solutions.TAG!r}"
    registered = _exercises(path)
    checks = "".join(c.source for c in nb.cells if c.cell_type == "code")
    for stub in stubs:
        assert stub.name in registered, f"{path.name}: no CodingExercise named {stub.name!r} in its exercise module"
        exercise = registered[stub.name]
        function = _defined(stub.source, stub.name, _namespace(nb))
        with pytest.raises(NotImplementedError, match=f"^{STUB_PREFIX}"):
            function(**exercise.cases()[0].arguments)
        review = exercise.review(function)
        assert review.status == "stub", review.message
        assert review.use is exercise.course, "while the stub is a stub, the course's implementation takes over"
        assert "course's own implementation" in review.message
        assert f"({stub.name})" in checks, f"{path.name}: no cell passes {stub.name} to its check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_solution_passes_its_check_in_the_notebooks_namespace(path):
    nb = nbformat.read(path, as_version=4)
    solved = course_solutions.solutions(course_solutions.solutions_file(path))
    registered = _exercises(path)
    assert set(registered) <= set(solved), f"no solution for {set(registered) - set(solved)}"
    for name, exercise in registered.items():
        function = _defined(solved[name], name, _namespace(nb))
        review = exercise.review(function)
        assert review.status == "right", review.message
        assert review.use is function, "a right answer is the one the chapter goes on with"


def _perturbed(value):
    if isinstance(value, dict):
        return {k: _perturbed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_perturbed(v) for v in value)
    if isinstance(value, torch.Tensor):
        return value * 1.5 + 0.1
    return np.asarray(value, dtype=float) * 1.5 + 0.1


ALL = [(path, name) for path in NOTEBOOKS for name in _exercises(path)]


@pytest.mark.parametrize("path,name", ALL, ids=[f"{p.name[:2]}-{n}" for p, n in ALL])
def test_a_wrong_answer_gets_the_checks_hint_and_the_course_takes_over(path, name):
    exercise = _exercises(path)[name]

    def wrong(**arguments):
        return _perturbed(exercise.course(**arguments))

    review = exercise.review(wrong)
    assert review.status == "wrong" and review.use is exercise.course
    assert exercise.hint in review.message and "Not yet" in review.message

    def crashing(**arguments):
        raise ZeroDivisionError("division by zero")

    review = exercise.review(crashing)
    assert review.status == "wrong" and "ZeroDivisionError" in review.message
    assert exercise.review(3.0).status == "wrong"  # a value, not a function


@pytest.mark.parametrize("path,name", ALL, ids=[f"{p.name[:2]}-{n}" for p, n in ALL])
def test_the_courses_own_implementation_meets_the_hand_worked_cases(path, name):
    exercise = _exercises(path)[name]
    assert any(case.expected is not None for case in exercise.cases()), "at least one case worked out by hand"
    review = exercise.review(exercise.course)
    assert review.passed, review.message


def test_a_complex_answer_to_a_real_question_is_refused():
    from medsynth_nb.exercises.coding import Case, CodingExercise

    exercise = CodingExercise(name="f", course=lambda x: x * 2, where="here", hint="double it",
                              cases=lambda: [Case("x = 1", {"x": torch.ones(3)})])
    assert exercise.review(lambda x: (x * 2).to(torch.complex64)).status == "wrong"
    assert "complex" in exercise.review(lambda x: (x * 2).to(torch.complex64)).message
    assert exercise.review(lambda x: x + x).passed


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_with_solutions_writes_a_solved_copy_and_leaves_the_chapter_alone(tmp_path):
    chapter = course_solutions.chapter_notebook("01")
    before = _digest(chapter)
    out = course_solutions.with_solutions(chapter.name[:2], tmp_path / "solved.ipynb")
    assert _digest(chapter) == before
    nb = nbformat.read(out, as_version=4)
    assert not course_solutions.stubs(nb), "no cell is tagged as a student exercise any more"
    solved = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert solved and all(STUB_PREFIX not in c.source for c in solved)
    student = nbformat.read(chapter, as_version=4)
    assert len(nb.cells) == len(student.cells)
    with pytest.raises(FileExistsError, match="--overwrite"):
        course_solutions.with_solutions(chapter, out)
    with pytest.raises(ValueError, match="must not replace"):
        course_solutions.with_solutions(chapter, chapter, overwrite=True)
    with pytest.raises(FileNotFoundError, match="No chapter '42'"):
        course_solutions.chapter_notebook("42")


def test_cli_writes_the_with_solutions_copy(tmp_path, capsys):
    from medsynth_nb.cli import main

    out = tmp_path / "ch01.ipynb"
    assert main(["solutions", "01", "--out", str(out)]) == 0
    assert out.exists() and "with solutions" in capsys.readouterr().out
    assert main(["solutions", "01", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.notebook
@pytest.mark.timeout(600)
def test_the_with_solutions_chapter_runs_with_the_students_functions(tmp_path, monkeypatch):
    """Chapter 00 with its solutions, run in the smoke profile: the check accepts the solution, so
    the chapter goes on with it, not with the course's implementation."""
    from medsynth_nb.course.notebook_runner import execute_notebook

    monkeypatch.setenv("MEDSYNTH_PROFILE", "smoke")
    monkeypatch.delenv("MEDSYNTH_RECORD", raising=False)
    work = tmp_path / "notebooks"
    work.mkdir()
    solved = course_solutions.with_solutions("00", work / "solved.ipynb")
    nb = nbformat.read(solved, as_version=4)
    execute_notebook(nb, work, timeout=600)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    assert "✅ Correct. `mr_signal`" in printed and "Not written yet" not in printed
