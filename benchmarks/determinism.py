"""Does a chapter print the same numbers twice? Runs each given chapter twice in the
current profile, compares every figure its ``record(...)`` calls keep, and reports per
figure how many entries differ and the largest difference (times and memory measure the
machine and are not compared). Same seed + profile + machine kind should give 0.

    MEDSYNTH_PROFILE=cpu python benchmarks/determinism.py notebooks/05_*.ipynb [--save DIR] [--no-record]

The record (``results/determinism-chapter-NN-<profile>.json``) keeps the comparison table;
the first run also refreshes the chapter's own record, as ``benchmarks/notebooks.py`` would.
"""
import argparse
import sys
from pathlib import Path

import nbformat
import pandas as pd

from medsynth_nb.course.notebook_runner import chapter_record, run_chapter
from medsynth_nb.course.results import RunRecord, compare_figures, this_command
from medsynth_nb.profiles import get_profile

root = Path(__file__).resolve().parents[1] / "notebooks"
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--save", type=Path, help="keep the first run's executed notebook in this folder")
parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
parser.add_argument("notebooks", nargs="+", type=Path)
args = parser.parse_args()
profile = get_profile().name
pd.set_option("display.width", 200, "display.max_colwidth", 70)

for path in args.notebooks:
    runs = [run_chapter(root / path.name) for _ in range(2)]  # each in a fresh copy: nothing carries over
    print(f"{path.name}: runs of {runs[0].seconds:.0f} s and {runs[1].seconds:.0f} s, "
          f"{len(runs[0].figures)} figures", flush=True)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        nbformat.write(runs[0].notebook, args.save / path.name)
    table = pd.DataFrame(compare_figures(runs[0].figures, runs[1].figures))
    print(table.to_string(index=False))
    differ = table["differ"].fillna(0)
    largest = float(table["largest difference"].max()) if table["largest difference"].notna().any() else 0.0
    text_changed = int((table["largest difference"].isna() & (differ > 0)).sum())  # None = a text changed
    print(f"{path.name}: largest difference of any printed figure {largest:.3g}; "
          f"{int(differ.sum())} entries differ; {text_changed} figures with changed text\n")
    if not args.no_record:
        chapter = path.name[:2]
        rec = RunRecord(name=f"determinism-chapter-{chapter}-{profile}",
                        title=f"Determinism: chapter {chapter} run twice ({profile} profile)",
                        command=this_command(), profile=profile)
        rec.add("wall time of the two runs (s)", [round(r.seconds) for r in runs])
        rec.add("largest difference of any printed figure", largest)
        rec.add("figures compared", table.set_index("figure"), note="times and memory are not compared")
        print(f"records: {rec.save()}, {chapter_record(path.name, runs[0], profile).save()}")
sys.exit(0)
