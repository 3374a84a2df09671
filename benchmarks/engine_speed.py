"""Training-engine throughput and peak memory per model and profile, on this machine.

    python benchmarks/engine_speed.py [--no-record] [--models unet,pix2pix] [smoke cpu gpu]

Each model is trained at each profile's sizes (image, widths, batch) for a fixed number
of steps; prints steps/s and the peak memory of the process (and of the GPU when one is
used). Every (model, profile) runs in its own process so that peaks don't mix. The table is
saved as the run record ``results/engine_speed-<models>-<profiles>.json`` unless ``--no-record``.
"""
import json
import resource
import subprocess
import sys
import time

STEPS = 30


def measure(model_name: str, name: str) -> dict:
    import torch

    from medsynth_nb.data.loaders import load_dataset
    from medsynth_nb.engine import TrainConfig, train
    from medsynth_nb.models import build_model
    from medsynth_nb.profiles import get_profile

    profile = get_profile(name)
    data = load_dataset("phantom", profile=profile, n_subjects=6, slices_per_subject=4, progress=False)
    model = build_model(model_name, "t1:t2", profile)
    config = TrainConfig.from_profile(profile, steps=STEPS, seconds=None, eval_every=10**9)
    train(model, data, "t1:t2", TrainConfig.from_profile(profile, steps=3, seconds=None, eval_every=10**9),
          progress=False)  # warm-up
    model = build_model(model_name, "t1:t2", profile)
    if profile.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    train(model, data, "t1:t2", config, progress=False)
    if profile.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"model": model_name, "profile": name, "device": profile.device, "image": profile.image_size, "batch": profile.batch_size,
            "steps_per_s": round(STEPS / seconds, 2), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if profile.device == "cuda" else None,
            "torch_threads": torch.get_num_threads()}


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "--one":
        print(json.dumps(measure(args[1], args[2])))
        sys.exit(0)
    save = "--no-record" not in args
    args = [a for a in args if a != "--no-record"]
    models = ["unet", "pix2pix"]
    if args[:1] == ["--models"]:
        models, args = args[1].split(","), args[2:]
    profiles = args or ["smoke", "cpu", "gpu"]
    rows = []
    for model_name in models:
        for name in profiles:
            out = subprocess.run([sys.executable, __file__, "--one", model_name, name], capture_output=True, text=True,
                                 check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(r)
            gpu = f", peak GPU {r['peak_gpu_mb']} MB" if r["peak_gpu_mb"] is not None else ""
            print(f"{r['model']:>8} {r['profile']:>5} on {r['device']} ({r['image']}px, batch {r['batch']}, "
                  f"{r['torch_threads']} threads): {r['steps_per_s']} steps/s, peak RSS {r['peak_rss_mb']} MB{gpu}",
                  flush=True)
    if save:  # here in the parent: imports in the measuring processes would count in their peaks
        import pandas as pd

        from medsynth_nb.course.results import RunRecord, this_command

        command = this_command()
        run = RunRecord("-".join(["engine_speed", *models, *profiles]), "Training-engine throughput and peak memory",
                        command, profile=", ".join(profiles))
        columns = {"device": "device", "image": "image (px)", "batch": "batch", "torch_threads": "torch threads",
                   "steps_per_s": "steps/s", "peak_rss_mb": "peak RSS (MB)", "peak_gpu_mb": "peak GPU (MB)"}
        table = pd.DataFrame(rows, index=[f"{r['model']} {r['profile']}" for r in rows])[list(columns)]
        run.add("throughput and peak memory per model and profile", table.rename(columns=columns),
                note=f"{STEPS} training steps after a 3-step warm-up, each in its own process")
        print(f"record: {run.save()}")
