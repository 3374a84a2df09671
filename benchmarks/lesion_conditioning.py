"""Concat vs SPADE label conditioning of chapter 06's lesion renderer, at equal training
time and at equal steps: steps, seconds and the error against the physics render inside
the lesion sub-regions (``render_fidelity``) on random edits of unseen subjects.

    python benchmarks/lesion_conditioning.py [--seconds 72] [--size 64] [--edits 50] [--no-record]

Equal time is what a user on this machine gets; equal steps asks whether SPADE's extra
work per step buys a better renderer when time is not the limit. The table is saved as the run
record ``results/lesion_conditioning-<size>px-<seconds>s.json`` unless ``--no-record``.
"""
import argparse
import time

import pandas as pd
import torch

from medsynth_nb.course.results import RunRecord, this_command
from medsynth_nb.data.lesion_pairs import edit_canvases, load_lesion_pairs
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.lesions.fidelity import fidelity_summary, fidelity_table
from medsynth_nb.lesions.study import random_edits
from medsynth_nb.models import build_model
from medsynth_nb.models.lesion_renderer import CONDITIONINGS
from medsynth_nb.profiles import get_profile, seed_everything

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seconds", type=float, default=72.0, help="training time of each equal-time run")
parser.add_argument("--size", type=int, default=64)
parser.add_argument("--edits", type=int, default=50)
parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
args = parser.parse_args()

profile = get_profile("cpu")
data = load_lesion_pairs(profile.n_subjects, args.size, profile.slices_per_subject, seed=0, progress=False)
canvases = edit_canvases(10, args.size, seed=1)
edits = random_edits(canvases, args.edits, seed=0)


def run(conditioning: str, **budget) -> tuple[str, object, dict]:
    seed_everything(0)
    renderer = build_model("lesion_renderer", None, profile, conditioning=conditioning)
    config = TrainConfig.from_profile(profile, seed=0, eval_every=10**6, **budget)
    start = time.perf_counter()
    history = train(renderer, data, None, config, progress=False)
    return conditioning, renderer, {"steps": history.step, "seconds": round(time.perf_counter() - start, 1)}


equal_time = [run(c, seconds=args.seconds, steps=10**6) for c in CONDITIONINGS]
fewest = min(info["steps"] for _, _, info in equal_time)
equal_steps = [run(c, seconds=None, steps=fewest) for c in CONDITIONINGS]
rows = []
for budget, runs in ((f"equal time ({args.seconds:g} s)", equal_time), (f"equal steps ({fewest})", equal_steps)):
    summary = fidelity_summary(fidelity_table({c: r.render_on for c, r, _ in runs}, canvases, edits))
    for conditioning, _, info in runs:
        rows.append({"budget": budget, "conditioning": conditioning, **info,
                     **summary.loc[conditioning, ["mae (all regions)", "wasserstein (all regions)"]].round(4)})
print(f"{args.size}x{args.size}, {len(data.train.subjects)} training subjects, {len(edits)} edits on unseen subjects; "
      f"torch threads {torch.get_num_threads()}")
print(pd.DataFrame(rows).to_string(index=False))

if not args.no_record:
    command = this_command()
    run = RunRecord(f"lesion_conditioning-{args.size}px-{args.seconds:g}s",
                    f"Lesion renderer: concat vs SPADE conditioning at {args.size} px", command, profile=profile.name)
    run.add("training subjects", len(data.train.subjects))
    run.add("edits on unseen subjects", len(edits))
    run.add("torch threads", torch.get_num_threads())
    run.add("concat vs SPADE", pd.DataFrame(rows), note="seconds: training wall time; mae and wasserstein: "
            "against the physics render inside the lesion sub-regions (render_fidelity), all regions")
    print(f"record: {run.save()}")
