"""Run records and the results page generated from them (medsynth_nb.course.results)."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from medsynth_nb.course import results


def test_a_record_keeps_tables_numbers_and_where_they_came_from(tmp_path):
    run = results.RunRecord(name="chapter-09-cpu", title="Chapter 09", command="python x.py", profile="cpu")
    table = pd.DataFrame({"psnr": [20.5, np.float32(21.25)], "mae": [0.1, float("nan")]}, index=["lookup", "unet"])
    run.add("scores", table, note="test subjects")
    run.add("rho", np.float64(0.33))
    path = run.save(tmp_path)
    loaded = results.RunRecord.load(path)
    assert loaded.figures["scores"]["value"] == {"columns": ["psnr", "mae"], "index": ["lookup", "unet"],
                                                 "rows": [[20.5, 0.1], [21.25, None]]}
    assert loaded.figures["rho"] == {"value": 0.33, "note": ""}
    assert loaded.machine and loaded.date and loaded.commit and loaded.command == "python x.py"


def test_record_returns_its_value_and_appends_only_when_a_run_asks(tmp_path, monkeypatch):
    monkeypatch.delenv(results.RECORD_ENV, raising=False)
    assert results.record("x", 3) == 3                     # outside a recorded run: nothing written
    target = tmp_path / "figures.json"
    monkeypatch.setenv(results.RECORD_ENV, str(target))
    series = pd.Series({"tumor": 0.5, "rest": 0.25}, name="ratio")
    assert results.record("ratio", series, note="std / error") is series
    results.record("steps", 40)
    figures = json.loads(target.read_text())
    assert figures["steps"]["value"] == 40
    assert figures["ratio"]["value"]["rows"] == [[0.5], [0.25]] and figures["ratio"]["note"] == "std / error"


def test_the_page_shows_every_figure_with_its_run(tmp_path):
    run = results.RunRecord(name="b", title="Benchmark B", command="python benchmarks/b.py", profile="smoke",
                            machine="test machine", date="2026-12-03 07:00 UTC", commit="abc123")
    run.add("speed (steps/s)", 12.345)
    run.add("table", pd.DataFrame({"a": [1.0]}, index=["row"]))
    run.save(tmp_path)
    out = tmp_path / "results.md"
    assert results.main(["--results", str(tmp_path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Benchmark B" in text and "`python benchmarks/b.py`" in text and "commit abc123" in text
    assert "test machine" in text and "2026-12-03 07:00 UTC" in text
    assert "**speed (steps/s)**: 12.35" in text
    assert "| row | 1 |" in text


def test_a_numbered_table_is_shown_without_its_row_numbers(tmp_path):
    run = results.RunRecord(name="c", title="C", command="c", profile="cpu", machine="m", date="d", commit="x")
    run.add("samplers", pd.DataFrame({"sampler": ["DDIM-10", "DDPM"], "psnr": [18.2, 18.1]}))
    assert run.figures["samplers"]["value"]["index"] is None
    text = results.render([run])
    assert "| sampler | psnr |\n|---|---|\n| DDIM-10 | 18.2 |" in text


def test_no_records_is_an_error_that_says_what_to_run(tmp_path, capsys):
    assert results.main(["--results", str(tmp_path), "--out", str(tmp_path / "r.md")]) == 1
    assert "benchmarks/notebooks.py" in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists()


def test_a_dict_of_series_is_kept_as_one_table():
    """{model: errors by label} (what metrics.error_by_label gives per model) is one table."""
    per_tissue = {"lookup": pd.Series({"bone": 995.0, "wm": 25.8}), "U-Net": pd.Series({"bone": 269.9, "wm": 16.9})}
    assert results.plain(per_tissue) == {"columns": ["lookup", "U-Net"], "index": ["bone", "wm"],
                                         "rows": [[995.0, 269.9], [25.8, 16.9]]}
    assert results.plain({"steps": 40, "seconds": 9}) == {"steps": 40, "seconds": 9}  # plain numbers stay a dict


def test_compare_figures_finds_the_largest_difference_and_skips_machine_figures():
    table = pd.DataFrame({"psnr": [20.5, 21.0], "seconds": [3.0, 4.0]}, index=["lookup", "unet"])
    first = {"scores": results.figure(table), "wall time (s)": results.figure(100),
             "steps": results.figure({"U-Net": 700, "ResViT": 180}), "verdict": results.figure("holds")}
    moved = table.assign(psnr=[20.5, 21.25], seconds=[9.0, 9.0])
    second = {"scores": results.figure(moved), "wall time (s)": results.figure(250),
              "steps": results.figure({"U-Net": 700, "ResViT": 180}), "verdict": results.figure("does not hold"),
              "new": results.figure(1)}
    rows = {r["figure"]: r for r in results.compare_figures(first, second)}
    assert rows["scores"]["compared"] == 2 and rows["scores"]["differ"] == 1      # seconds not compared
    assert rows["scores"]["largest difference"] == 0.25 and rows["scores"]["where"] == "unet / psnr"
    assert rows["wall time (s)"]["compared"] == 0 and "machine" in rows["wall time (s)"]["where"]
    assert rows["steps"]["differ"] == 0 and rows["steps"]["largest difference"] == 0
    assert rows["verdict"]["largest difference"] is None and "'holds' -> 'does not hold'" in rows["verdict"]["where"]
    assert rows["new"]["where"] == "only in one run"
    same = results.compare_figures(first, first)
    assert all(not r["differ"] for r in same)


def test_run_chapter_runs_a_scratch_copy_and_collects_its_figures(tmp_path, monkeypatch):
    import nbformat

    from medsynth_nb.course.notebook_runner import chapter_record, run_chapter

    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from medsynth_nb.course.results import record\nrecord('psnr', 21.5, note='dB')\n"
        "open('written.txt', 'w').write('x')")])
    nbformat.write(nb, folder / "09_test.ipynb")
    monkeypatch.delenv(results.RECORD_ENV, raising=False)
    run = run_chapter(folder / "09_test.ipynb", timeout=120)
    assert run.figures == {"psnr": {"value": 21.5, "note": "dB"}}
    assert run.peak_mb > 0 and run.seconds > 0
    assert sorted(p.name for p in folder.iterdir()) == ["09_test.ipynb"], "the run wrote beside the notebook"
    record = chapter_record("09_test.ipynb", run, "smoke")
    assert record.name == "chapter-09-smoke" and record.figures["psnr"]["value"] == 21.5
    assert results.RECORD_ENV not in os.environ, "run_chapter must restore the environment"
