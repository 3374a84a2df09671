"""The course website: ``make site`` writes ``_build/html/``, one page per chapter with the
figures of an executed run, the learning goals as each page's summary, the exercises,
Colab and Binder launch buttons, the results page and the instructors' guide.

Built with Sphinx + MyST-NB + the Sphinx Book Theme (the engine of Jupyter Book 1), not
Jupyter Book 2 / mystmd: mystmd's HTML build fetches its theme from api.mystmd.org and
GitHub at build time (tried: ``jupyter-book build --html``, 2.1.7, fails with ENOTFOUND
offline), and the theme is on no package registry, so it cannot build on the course's CI
or a workshop machine without internet. Sphinx builds offline from PyPI packages, and
``-W -n`` turns every broken internal link into a failed build.

Outputs come from executed copies of the chapters under ``_build/executed/<profile>/``:
the cpu profile's when present (``MEDSYNTH_PROFILE=cpu python benchmarks/notebooks.py``
saves them there), otherwise the smoke profile's (the notebook tests save those). A copy
whose chapter changed since it ran is stale and is not used; a chapter with no fresh copy
is run in the smoke profile first. Each page says which run its outputs come from.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat

from medsynth_nb.course.notebook_runner import run_chapter
from medsynth_nb.course.results import ROOT, commit, machine
from medsynth_nb.course.static_widgets import freeze_widgets
from medsynth_nb.io import atomic_write

NOTEBOOKS = ROOT / "notebooks"
CONFIG = ROOT / "site"                  # conf.py and the index page's text
BUILD = ROOT / "_build"
EXECUTED = BUILD / "executed"
HTML = BUILD / "html"
PREFERRED = ("cpu", "smoke")            # whose outputs a page shows, first found
REPOSITORY = "medsynth-notebooks/medsynth-notebooks"
DOCS = {"results": ROOT / "docs" / "results.md", "instructors": ROOT / "docs" / "instructors.md"}


class SiteError(RuntimeError):
    pass


def source_digest(nb: nbformat.NotebookNode) -> str:
    """A chapter's text (cell types and sources, not outputs): what makes an executed copy stale."""
    text = "\0".join(f"{cell.cell_type}:{cell.source}" for cell in nb.cells)
    return hashlib.sha256(text.encode()).hexdigest()


def save_executed(executed: nbformat.NotebookNode, chapter: Path, profile: str, folder: Path = EXECUTED) -> Path:
    """Keep an executed copy of ``chapter`` for the site, stamped with what ran it. The
    probe cells ``run_chapter`` appends (memory peaks) are not part of the chapter: dropped."""
    source = nbformat.read(chapter, as_version=4)
    executed = nbformat.from_dict(executed)
    executed.cells = [c for c in executed.cells if c.get("id") in {s.get("id") for s in source.cells}]
    executed.metadata["medsynth"] = {
        "source_sha256": source_digest(source), "profile": profile, "commit": commit(), "machine": machine(),
        "executed": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    out = folder / profile / chapter.name
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: nbformat.write(executed, tmp))
    return out


def fresh_copy(chapter: Path, folder: Path = EXECUTED, profiles=PREFERRED) -> nbformat.NotebookNode | None:
    """The executed copy of ``chapter`` from the first of ``profiles`` that has one matching
    the chapter's current text; None if there is none."""
    digest = source_digest(nbformat.read(chapter, as_version=4))
    for profile in profiles:
        path = folder / profile / chapter.name
        if path.exists():
            nb = nbformat.read(path, as_version=4)
            if nb.metadata.get("medsynth", {}).get("source_sha256") == digest:
                return nb
    return None


def _goals_block(nb: nbformat.NotebookNode) -> tuple[int, int, list[str]]:
    """Where the "**Learning goals.**" paragraph and its numbered list are in the first cell's
    lines (start, end), and the goals."""
    lines = nb.cells[0].source.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("**Learning goals.**")), None)
    if start is None:
        raise SiteError("The chapter's first cell has no '**Learning goals.**' paragraph; every chapter states its "
                        "goals there (the site shows them as the page's summary).")
    goals, end = [], len(lines)
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if match := re.match(r"\d+\.\s+(.*)", line):
            goals.append(match.group(1))
        elif goals and line.startswith(" ") and line.strip():  # a goal continued on the next line
            goals[-1] += " " + line.strip()
        elif goals or line.strip():
            end = index
            break
    return start, end, [goal.rstrip(";. ") for goal in goals]


def learning_goals(nb: nbformat.NotebookNode) -> list[str]:
    """The numbered goals after "**Learning goals.**" in the chapter's first cell."""
    return _goals_block(nb)[2]


def _plain(markdown: str) -> str:
    return re.sub(r"[*`$\\]", "", markdown).replace('"', "'")


def _title(nb: nbformat.NotebookNode) -> str:
    return nb.cells[0].source.splitlines()[0].lstrip("# ").strip()


def chapter_page(executed: nbformat.NotebookNode, chapter: Path) -> nbformat.NotebookNode:
    """The executed chapter as a site page: its learning goals become the page's summary box
    (and its meta description), followed by the launch links and where the outputs come from;
    its widgets are shown as the run left them (``static_widgets``)."""
    page = freeze_widgets(executed)
    start, end, goals = _goals_block(page)
    run = page.metadata.get("medsynth", {})
    lab = f"https://mybinder.org/v2/gh/{REPOSITORY}/main?urlpath=lab/tree/notebooks/{chapter.name}"
    colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{chapter.name}"
    page.metadata.setdefault("myst", {})["html_meta"] = {"description": _plain("; ".join(goals))}
    summary = [
        ":::{admonition} Learning goals: after this chapter you can", ":class: tip",
        *[f"{n}. {goal}" for n, goal in enumerate(goals, 1)], ":::", "",
        f"[Run it on Colab]({colab}) · [Run it on Binder]({lab}) · or locally: `make lab`. "
        f"The outputs below come from a run in the **{run.get('profile', '?')} profile** "
        f"({run.get('executed', '?')}, commit {run.get('commit', '?')}, {run.get('machine', '?')}); "
        "your run prints the numbers of your profile.", ""]
    lines = page.cells[0].source.splitlines()
    page.cells[0].source = "\n".join(lines[:start] + summary + lines[end:])
    return page


def _run_in_smoke(chapter: Path) -> nbformat.NotebookNode:
    before = os.environ.get("MEDSYNTH_PROFILE")
    os.environ["MEDSYNTH_PROFILE"] = "smoke"  # the kernel inherits it
    try:
        return run_chapter(chapter).notebook
    finally:
        if before is None:
            os.environ.pop("MEDSYNTH_PROFILE")
        else:
            os.environ["MEDSYNTH_PROFILE"] = before


def _index(chapters: dict[str, tuple[str, list[str]]], docs: list[str]) -> str:
    """The home page: each chapter's title ({name: (title, goals)}) with its learning goals."""
    entries = [f"[{title}](notebooks/{name})\n: " + "; ".join(goals) + ".\n"
               for name, (title, goals) in chapters.items()]
    toc = "\n".join([f"notebooks/{name}" for name in chapters] + docs)
    return (CONFIG / "index.md").read_text().replace("{{ chapters }}", "\n".join(entries)).replace("{{ toc }}", toc)


def assemble(source: Path, *, executed_folder: Path = EXECUTED, execute_missing: bool = True,
             chapters: list[Path] | None = None) -> dict[str, str]:
    """Write the site's sources into ``source``; returns {chapter: profile of its outputs}."""
    chapters = chapters or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if source.exists():
        shutil.rmtree(source)
    (source / "notebooks").mkdir(parents=True)
    summaries, profiles = {}, {}
    for chapter in chapters:
        executed = fresh_copy(chapter, executed_folder)
        if executed is None:
            if not execute_missing:
                raise SiteError(f"No executed copy of {chapter.name} matches its current text; run the chapter "
                                "(make test, or benchmarks/notebooks.py) or let the site run it (--execute-missing).")
            print(f"{chapter.name}: no fresh executed copy; running it in the smoke profile", flush=True)
            save_executed(_run_in_smoke(chapter), chapter, "smoke", executed_folder)
            executed = fresh_copy(chapter, executed_folder)
        summaries[chapter.name] = (_title(executed), learning_goals(executed))
        page = chapter_page(executed, chapter)
        nbformat.write(page, source / "notebooks" / chapter.name)
        profiles[chapter.name] = page.metadata["medsynth"]["profile"]
    docs = []
    for name, path in DOCS.items():
        if path.exists():
            shutil.copy(path, source / f"{name}.md")
            docs.append(name)
    (source / "index.md").write_text(_index(summaries, docs))
    return profiles


def build_site(out: Path = HTML, *, executed_folder: Path = EXECUTED, execute_missing: bool = True,
               chapters: list[Path] | None = None) -> dict[str, str]:
    """Assemble the sources and build the HTML into ``out`` with Sphinx, warnings as
    errors (a broken internal link fails the build). Returns {chapter: profile}."""
    from sphinx.cmd.build import build_main

    source = BUILD / "site_src" if out == HTML else out.parent / f"{out.name}_src"
    profiles = assemble(source, executed_folder=executed_folder, execute_missing=execute_missing,
                        chapters=chapters)
    status = build_main(["-b", "html", "-W", "--keep-going", "-n", "-q", "-E", "-c", str(CONFIG),
                         str(source), str(out)])
    if status != 0:
        raise SiteError(f"The site did not build (sphinx exit status {status}); the warnings above say where.")
    return profiles


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medsynth_nb.course.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HTML)
    parser.add_argument("--no-execute", action="store_true",
                        help="fail instead of running a chapter that has no fresh executed copy")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        profiles = build_site(args.out, execute_missing=not args.no_execute)
    except SiteError as error:
        print(f"site: error: {error}", file=sys.stderr)
        return 1
    shown = ", ".join(f"{name[:2]} {profile}" for name, profile in profiles.items())
    print(f"Site built in {time.perf_counter() - start:.0f} s: {args.out / 'index.html'} (outputs: {shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
