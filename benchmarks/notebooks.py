"""Wall time and the kernel's peak memory of every chapter notebook in a profile
(targets: smoke <= 120 s; cpu <= 10 min and <= 2 GB, Binder's limit; gpu <= 5 min).

    MEDSYNTH_PROFILE=smoke python benchmarks/notebooks.py [--save DIR] [notebooks/00_*.ipynb ...]

``--save DIR`` keeps the executed notebooks (with outputs) in DIR, to look at the figures.
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from medsynth_nb.notebook_runner import execute_notebook

root = Path(__file__).resolve().parents[1] / "notebooks"
args = sys.argv[1:]
save = Path(args[1]) if args[:1] == ["--save"] else None
args = args[2:] if save else args
paths = [Path(p) for p in args] or sorted(root.glob("*.ipynb"))
profile = os.environ.get("MEDSYNTH_PROFILE", "(auto)")
with tempfile.TemporaryDirectory() as tmp:
    work = Path(tmp) / "notebooks"
    shutil.copytree(root, work)
    for path in paths:
        nb = nbformat.read(work / path.name, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(
            "import resource; print('PEAK_RSS_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"))
        seconds = execute_notebook(nb, work, timeout=1800)
        peak = nb.cells[-1].outputs[0]["text"].split()[-1]
        print(f"{path.name}: {seconds:.0f} s, kernel peak RSS {peak} MB (profile {profile})", flush=True)
        if save:
            save.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, save / path.name)
