"""Every synthesis task's ceiling on the cpu profile's phantom data (seed 0, 96 px, 40
subjects, the 8 test subjects): what a perfect synthesiser scores against the acquired
target (the noise-free acquisition: the session's receive field and the site's blur kept,
the noise removed), beside the clean tissue contrast (no field, no noise: what chapter 09
once called the "noise-free truth"). Saved as ``results/ceilings.json`` unless ``--no-record``.

    python benchmarks/ceilings.py [--no-record]
"""
import sys

import pandas as pd

from medsynth_nb import metrics
from medsynth_nb.course.results import RunRecord, this_command
from medsynth_nb.data import load_dataset
from medsynth_nb.profiles import get_profile
from medsynth_nb.tasks import parse_task

TASKS = ["t1:t2", "t2:t1", "t1:flair", "t1,t2:flair", "t1:pd", "t1:t1ce", "t1:ct", "t1:pet"]

profile = get_profile("cpu")
data = load_dataset("phantom", profile=profile, seed=0, progress=False)
rows = {}
for task in TASKS:
    for name, frame in (("ceiling (noise-free acquisition)", metrics.ceiling(data.test, task)),
                        ("clean contrast (no field, no noise)",
                         metrics.evaluate(data.test.clean[parse_task(task).target], data.test, task))):
        means = frame.mean()
        rows[(task, name)] = {"psnr": means["psnr"], "ssim": means["ssim"], "mae": means["mae"],
                              "blur_mm": means["blur_mm"]}
table = pd.DataFrame(rows).T.round(3)
table.index = [f"{task}: {name}" for task, name in table.index]
print(table.to_string())
run = RunRecord("ceilings", "Every task's ceiling (cpu-profile phantom data, test subjects)", this_command(),
                profile="cpu (data only)")
run.add("Ceiling and clean contrast per task", table,
        note="means over the 8 test subjects, inside the head, against the acquired target")
if "--no-record" not in sys.argv[1:]:
    print(f"record: {run.save()}")
