"""The course website: one page per chapter with its learning goals as the summary, the
outputs of an executed run (stale copies refused), launch links, the results page, and a
build that fails on a broken internal link."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from medsynth_nb.course import site
from medsynth_nb.course.notebook_runner import execute_notebook

CHAPTERS = sorted(site.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _tiny_chapter(folder: Path, name: str, extra_markdown: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# Chapter {name[:2]} — a tiny chapter\n\n**Learning goals.** After this "
                                      "chapter you can\n1. draw a line;\n2. say why it\n   is straight.\n\nText."),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nprint('profile=smoke')\n"
                                  "fig = plt.plot([0, 1], [0, 1])"),
        nbformat.v4.new_markdown_cell("**Exercise 1.** Which way does it slope? " + extra_markdown),
    ]
    path = folder / name
    nbformat.write(nb, path)
    return path


def test_learning_goals_are_read_across_continued_lines():
    nb = nbformat.read(CHAPTERS[4], as_version=4)
    goals = site.learning_goals(nb)
    assert len(goals) == 5 and goals[0].endswith("bottleneck of a CNN")
    for chapter in CHAPTERS:
        assert len(site.learning_goals(nbformat.read(chapter, as_version=4))) >= 3, chapter.name


def test_an_executed_copy_is_used_only_while_the_chapter_is_unchanged(tmp_path):
    chapter = _tiny_chapter(tmp_path, "00_tiny.ipynb")
    executed = tmp_path / "executed"
    nb = nbformat.read(chapter, as_version=4)
    site.save_executed(nb, chapter, "smoke", executed)
    assert site.fresh_copy(chapter, executed).metadata["medsynth"]["profile"] == "smoke"
    site.save_executed(nb, chapter, "cpu", executed)
    assert site.fresh_copy(chapter, executed).metadata["medsynth"]["profile"] == "cpu", "cpu outputs come first"
    nb.cells[1].source += "\nprint('changed')"
    nbformat.write(nb, chapter)
    assert site.fresh_copy(chapter, executed) is None, "a copy of an older text is stale"


def test_the_site_has_one_page_per_chapter_with_goals_launch_links_and_results(tmp_path):
    executed = tmp_path / "executed"
    for chapter in CHAPTERS:  # unexecuted copies stand in for runs: this test is about the pages
        site.save_executed(nbformat.read(chapter, as_version=4), chapter, "smoke", executed)
    html = tmp_path / "html"
    profiles = site.build_site(html, executed_folder=executed, execute_missing=False)
    assert set(profiles) == {c.name for c in CHAPTERS}
    index = (html / "index.html").read_text()
    for chapter in CHAPTERS:
        page = (html / "notebooks" / chapter.with_suffix(".html").name).read_text()
        assert f'href="notebooks/{chapter.stem}.html"' in index, f"index links {chapter.name}"
        assert page.count("Learning goals") == 1 and 'name="description"' in page, "the goals once, as the summary"
        assert f"mybinder.org/v2/gh/{site.REPOSITORY}/main?urlpath=lab/tree/notebooks/{chapter.name}" in page
        assert f"colab.research.google.com/github/{site.REPOSITORY}/blob/main/notebooks/{chapter.name}" in page
        assert "smoke profile" in page
        assert re.search(r"Exercise|exercise", page)
        assert 'src="../_static/mathjax/tex-chtml.js"' in page and "cdn.jsdelivr.net" not in page, "MathJax offline"
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert (html / "results.html").exists() and "results.html" in index


def test_pages_show_the_figures_of_the_executed_run(tmp_path):
    chapters = tmp_path / "notebooks"
    chapters.mkdir()
    chapter = _tiny_chapter(chapters, "00_tiny.ipynb")
    nb = nbformat.read(chapter, as_version=4)
    execute_notebook(nb, chapters, timeout=120)
    site.save_executed(nb, chapter, "cpu", tmp_path / "executed")
    html = tmp_path / "html"
    site.build_site(html, executed_folder=tmp_path / "executed", execute_missing=False, chapters=[chapter])
    page = (html / "notebooks" / "00_tiny.html").read_text()
    assert re.search(r'<img[^>]+src="[^"]+\.png"', page), "the executed run's plot is on the page"
    assert "profile=smoke" in page and "cpu profile" in page


def test_a_broken_internal_link_fails_the_build(tmp_path):
    chapters = tmp_path / "notebooks"
    chapters.mkdir()
    chapter = _tiny_chapter(chapters, "00_tiny.ipynb", extra_markdown="See [chapter 05](05_missing.ipynb).")
    site.save_executed(nbformat.read(chapter, as_version=4), chapter, "smoke", tmp_path / "executed")
    with pytest.raises(site.SiteError, match="did not build"):
        site.build_site(tmp_path / "html", executed_folder=tmp_path / "executed", execute_missing=False,
                        chapters=[chapter])


def test_a_chapter_without_a_fresh_run_is_refused_when_running_is_not_allowed(tmp_path):
    chapters = tmp_path / "notebooks"
    chapters.mkdir()
    chapter = _tiny_chapter(chapters, "00_tiny.ipynb")
    with pytest.raises(site.SiteError, match="No executed copy of 00_tiny.ipynb"):
        site.build_site(tmp_path / "html", executed_folder=tmp_path / "executed", execute_missing=False,
                        chapters=[chapter])
