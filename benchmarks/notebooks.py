"""Wall time and the kernel's peak memory of every chapter notebook in a profile
(targets: smoke <= 120 s; cpu <= 10 min and <= 1.5 GB kernel peak; gpu <= 5 min), and the
figures each chapter reports (its ``record(...)`` calls), saved as one run record per
chapter under ``results/`` (``chapter-NN-<profile>.json``), from which
``python -m medsynth_nb.course.results`` writes docs/results.md.

    MEDSYNTH_PROFILE=cpu python benchmarks/notebooks.py [--save DIR] [--no-record] [--cell-peaks]
        [notebooks/00_*.ipynb ...]

The executed notebooks (with outputs) are kept in ``_build/executed/<profile>/`` (``--save DIR``
for another folder), where the course website (``make site``) takes its pages' outputs from;
``--no-record`` writes no run record (e.g. for a quick smoke check); ``--cell-peaks`` prints the
kernel's peak memory after every code cell that raised it (where to look for memory to free).
"""
import argparse
import sys
from pathlib import Path

from medsynth_nb.course.notebook_runner import chapter_record, run_chapter
from medsynth_nb.course.site import EXECUTED, save_executed
from medsynth_nb.profiles import get_profile

root = Path(__file__).resolve().parents[1] / "notebooks"
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--save", type=Path, default=EXECUTED,
                    help="keep the executed notebooks in DIR/<profile>/ (default: _build/executed, for the site)")
parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
parser.add_argument("--cell-peaks", action="store_true", help="print the peak memory after each cell that raised it")
parser.add_argument("notebooks", nargs="*", type=Path)
args = parser.parse_args()
paths = args.notebooks or sorted(root.glob("*.ipynb"))
profile = get_profile().name  # what the kernels will choose: same environment, same machine

for path in paths:
    run = run_chapter(root / path.name, cell_peaks=args.cell_peaks)
    print(f"{path.name}: {run.seconds:.0f} s, kernel peak RSS {run.peak_mb} MB (profile {profile})", flush=True)
    previous = 0
    for index, line, peak in run.cell_peaks:
        if peak > previous:
            print(f"  cell {index:>2}: peak {peak:>5} MB (+{peak - previous:>4})  {line}", flush=True)
        previous = peak
    if not args.no_record:
        saved = chapter_record(path.name, run, profile).save()
        print(f"  record: {saved} ({len(run.figures)} figures from the chapter)", flush=True)
    print(f"  executed copy: {save_executed(run.notebook, root / path.name, profile, args.save)}", flush=True)
sys.exit(0)
