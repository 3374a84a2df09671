"""The coding exercises' solutions, kept apart from the student notebooks.

A chapter's coding exercise is a code cell tagged ``student-exercise`` that defines a stub
function raising ``NotImplementedError("Student exercise: ...")``. Its solution is the
function of the same name in ``notebooks/solutions/<chapter>.py``. ``with_solutions``
writes a copy of the chapter with each stub replaced by its solution (``medsynth
solutions 01``, or ``make solutions`` for every chapter); the student notebooks are never
changed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import nbformat

from medsynth_nb.io import atomic_write

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
OUT_DIR = ROOT / "_build" / "with_solutions"
TAG = "student-exercise"


@dataclass(frozen=True)
class Stub:
    cell: int              # index of the tagged cell in the notebook
    name: str              # the function the student writes
    source: str            # the stub function's source, as in the cell


def chapter_notebook(chapter: str | Path, folder: Path = NOTEBOOKS) -> Path:
    """The notebook of ``chapter``: a path, or a chapter number such as "01" or 1."""
    path = Path(chapter)
    if path.suffix == ".ipynb":
        if not path.exists():
            raise FileNotFoundError(f"No notebook {path}.")
        return path
    matches = sorted(folder.glob(f"{int(str(chapter)):02d}_*.ipynb")) if str(chapter).isdigit() else []
    if len(matches) != 1:
        chapters = ", ".join(p.name[:2] for p in sorted(folder.glob("[0-9][0-9]_*.ipynb")))
        raise FileNotFoundError(f"No chapter {chapter!r} in {folder}; the chapters are {chapters or 'missing'} "
                                "(this command needs a checkout of the course repository).")
    return matches[0]


def _functions(source: str) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}


def _segment(source: str, node: ast.FunctionDef) -> str:
    """A function's source with its decorators."""
    lines = source.splitlines()
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "\n".join(lines[first - 1:node.end_lineno])


def stubs(nb: nbformat.NotebookNode) -> list[Stub]:
    """The stub functions of the cells tagged ``student-exercise``."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and TAG in cell.metadata.get("tags", []):
            for name, node in _functions(cell.source).items():
                found.append(Stub(index, name, _segment(cell.source, node)))
    return found


def solutions_file(notebook: Path, folder: Path = SOLUTIONS) -> Path:
    return folder / f"{Path(notebook).stem}.py"


def solutions(path: Path) -> dict[str, str]:
    """The solution functions of a solutions file, by name: {name: source}."""
    source = Path(path).read_text()
    return {name: _segment(source, node) for name, node in _functions(source).items()}


def with_solutions(notebook, out: Path | None = None, *, solutions_folder: Path = SOLUTIONS,
                   overwrite: bool = False) -> Path:
    """Write ``notebook`` (a path or a chapter number) with every stub replaced by its
    solution to ``out`` (default ``_build/with_solutions/<name>.ipynb``); the outputs
    are left empty, as in the student version. Returns the path written."""
    notebook = chapter_notebook(notebook)
    out = Path(out) if out is not None else OUT_DIR / notebook.name
    if out.resolve() == notebook.resolve():
        raise ValueError("The with-solutions copy must not replace the student notebook; give another --out.")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it.")
    nb = nbformat.read(notebook, as_version=4)
    found = stubs(nb)
    if not found:
        raise ValueError(f"{notebook.name} has no coding exercise (no code cell tagged {TAG!r}).")
    solved_file = solutions_file(notebook, solutions_folder)
    if not solved_file.exists():
        raise FileNotFoundError(f"No solutions for {notebook.name}: expected {solved_file}.")
    solved = solutions(solved_file)
    missing = [s.name for s in found if s.name not in solved]
    if missing:
        raise ValueError(f"{solved_file.name} has no solution for {', '.join(missing)}.")
    for stub in found:
        cell = nb.cells[stub.cell]
        cell.source = cell.source.replace(stub.source, solved[stub.name])
        cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != TAG] + ["solution"]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: nbformat.write(nb, tmp))
    return out
