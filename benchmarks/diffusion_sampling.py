"""Sampling cost vs quality of one trained conditional diffusion model: DDPM with all its
steps against DDIM with 100/50/25/10, as seconds per batch and held-out PSNR/SSIM.
Target (issue 4): DDIM-50 at least 15x faster than DDPM-1000, at most 1 dB PSNR lost.

    python benchmarks/diffusion_sampling.py [--run DIR] [--profile cpu] [--train-seconds 240]
                                            [--slices 16] [--task t1:t2] [--image-size 64] [--no-record]

Without ``--run`` a model is trained first (the profile's sizes, ``--train-seconds``);
``--run`` reuses the checkpoint folder of ``medsynth train diffusion``. The figures are saved
as the run record ``results/diffusion_sampling-<profile>-<task>-<size>px.json`` unless ``--no-record``.
"""
import argparse

import numpy as np

from medsynth_nb import metrics
from medsynth_nb.course.results import RunRecord, this_command
from medsynth_nb.data.loaders import load_dataset
from medsynth_nb.engine import TrainConfig, load_trained, train
from medsynth_nb.models import build_model
from medsynth_nb.profiles import start_chapter

SETTINGS = [("ddpm", None), ("ddim", 100), ("ddim", 50), ("ddim", 25), ("ddim", 10)]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--run", default=None)
parser.add_argument("--profile", default=None)
parser.add_argument("--train-seconds", type=float, default=240)
parser.add_argument("--slices", type=int, default=16, help="held-out slices sampled, spread over the test subjects")
parser.add_argument("--task", default="t1:t2")
parser.add_argument("--image-size", type=int, default=None, help="default: the profile's (chapter 03 uses 64 on CPU)")
parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
args = parser.parse_args()

profile = start_chapter(seed=0, profile=args.profile)
image_size = args.image_size or profile.image_size
data = load_dataset("phantom", profile=profile, seed=0, image_size=image_size, progress=False)
if args.run:
    model, _ = load_trained(args.run, device=profile.device)
else:
    model = build_model("diffusion", args.task, profile)
    config = TrainConfig.from_profile(profile, seed=0, steps=10**6, seconds=args.train_seconds, eval_every=10**9)
    history = train(model, data, args.task, config, progress=False)
    print(f"trained {history.step} steps in {history.elapsed_s:.0f} s")
chosen = data.test.select(np.linspace(0, len(data.test) - 1, min(args.slices, len(data.test))).round().astype(int))
table = metrics.compare_samplers(model, chosen, model.config["task"], SETTINGS, device=profile.device)
ddpm = table.iloc[0]
table["speed-up"] = ddpm["seconds"] / table["seconds"]
table["ΔPSNR"] = table["psnr"] - ddpm["psnr"]
print(f"\n{len(chosen)} held-out slices in one batch, {image_size} px, device {profile.device}")
print(table.round(3).to_string(index=False))
ddim50 = table[(table["sampler"] == "ddim") & (table["steps"] == 50)].iloc[0]
ok = ddim50["speed-up"] >= 15 and ddim50["ΔPSNR"] >= -1.0
print(f"target DDIM-50 >= 15x faster than DDPM with <= 1 dB lost: {'met' if ok else 'NOT met'}")

if not args.no_record:
    task = model.config["task"]  # with --run, the checkpoint's
    command = this_command()
    run = RunRecord(f"diffusion_sampling-{profile.name}-{task.replace(':', '-')}-{image_size}px",
                    f"Diffusion sampling: DDPM vs DDIM, {task} at {image_size} px ({profile.name} profile)",
                    command, profile=profile.name)
    if not args.run:
        run.add("training steps", history.step, note=f"in {history.elapsed_s:.0f} s")
    run.add("held-out slices (one batch)", len(chosen))
    run.add("samplers", table.round(3), note=f"seconds per batch and per image on {profile.device}; psnr and ΔPSNR "
                                             "in dB, mean per subject; speed-up and ΔPSNR against DDPM")
    run.add("DDIM-50 target met", bool(ok), note=">= 15x faster than DDPM with <= 1 dB PSNR lost")
    print(f"record: {run.save()}")
