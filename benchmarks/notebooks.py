"""Wall time and the kernel's peak memory of every chapter notebook in a profile
(targets: smoke <= 120 s; cpu <= 10 min and <= 1.5 GB kernel peak; gpu <= 5 min), and the
figures each chapter reports (its ``record(...)`` calls), saved as one run record per
chapter under ``results/`` (``chapter-NN-<profile>.json``), from which
``python -m medsynth_nb.course.results`` writes docs/results.md.

    MEDSYNTH_PROFILE=cpu python benchmarks/notebooks.py [--save DIR] [--no-record] [notebooks/00_*.ipynb ...]

``--save DIR`` keeps the executed notebooks (with outputs) in DIR, to look at the figures;
``--no-record`` writes no run record (e.g. for a quick smoke check).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from medsynth_nb.course.notebook_runner import execute_notebook
from medsynth_nb.course.results import RECORD_ENV, RunRecord
from medsynth_nb.profiles import get_profile

root = Path(__file__).resolve().parents[1] / "notebooks"
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--save", type=Path, help="keep the executed notebooks in this folder")
parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
parser.add_argument("notebooks", nargs="*", type=Path)
args = parser.parse_args()
paths = args.notebooks or sorted(root.glob("*.ipynb"))
profile = get_profile().name  # what the kernels will choose: same environment, same machine

with tempfile.TemporaryDirectory() as tmp:
    work = Path(tmp) / "notebooks"
    shutil.copytree(root, work)
    for path in paths:
        nb = nbformat.read(work / path.name, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(
            "import resource; print('PEAK_RSS_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"))
        figures_file = Path(tmp) / f"{path.stem}.figures.json"
        os.environ[RECORD_ENV] = str(figures_file)  # the kernel inherits it; record() appends there
        seconds = execute_notebook(nb, work, timeout=1800)
        peak = int(nb.cells[-1].outputs[0]["text"].split()[-1])
        print(f"{path.name}: {seconds:.0f} s, kernel peak RSS {peak} MB (profile {profile})", flush=True)
        if not args.no_record:
            chapter = path.name[:2]
            run = RunRecord(name=f"chapter-{chapter}-{profile}", title=f"Chapter {chapter} ({profile} profile)",
                            command=f"MEDSYNTH_PROFILE={profile} python benchmarks/notebooks.py notebooks/{path.name}",
                            profile=profile)
            run.add("wall time (s)", round(seconds))
            run.add("kernel peak memory (MB)", peak)
            figures = json.loads(figures_file.read_text()) if figures_file.exists() else {}
            run.figures.update(figures)
            print(f"  record: {run.save()} ({len(figures)} figures from the chapter)", flush=True)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, args.save / path.name)
sys.exit(0)
