"""Training-engine throughput against what this machine can do, per model and profile.

    python benchmarks/engine_speed.py [--no-record] [--models unet,pix2pix] [smoke cpu gpu]

Each model is trained at each profile's sizes (image, widths, batch) for a fixed number
of steps; prints steps/s, the FLOPs of one training step (forward, backward, all networks
of the model; counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts matmuls
and convolutions), the FLOP/s that gives, and its fraction of this machine's peak, measured
in the same run by the best of a float32 matmul and a 3x3 convolution microbenchmark with
the same threads (a peak the hardware reaches, not the datasheet's). Also the peak memory
of the process (and of the GPU when one is used). Every (model, profile) runs in its own
process so that peaks don't mix. The table is saved as the run record
``results/engine_speed-<models>-<profiles>.json`` unless ``--no-record``.
"""
import json
import resource
import subprocess
import sys
import time

STEPS = 30


def machine_peak_gflops(device: str = "cpu") -> float:
    """The best float32 GFLOP/s of a large matmul and of a 3x3 convolution on ``device``."""
    import torch

    def best(fn, flops: float, repeats: int = 5) -> float:
        fn()  # warm-up (allocations, kernel choice)
        times = []
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return flops / min(times) / 1e9

    n = 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    x, w = torch.randn(8, 64, 96, 96, device=device), torch.randn(64, 64, 3, 3, device=device)
    conv_flops = 2 * 8 * 64 * 96 * 96 * 64 * 9
    with torch.no_grad():
        return max(best(lambda: a @ b, 2 * n**3), best(lambda: torch.nn.functional.conv2d(x, w, padding=1),
                                                       conv_flops))


def step_flops(model, data, task, batch_size: int, device: str) -> float:
    """FLOPs of one training step of ``model`` (forward and backward of every network it runs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    optimizers = model.make_optimizers()

    def update(loss, name):
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[name].step()

    batch = {k: v.to(device) for k, v in data.train.sample_batch(task, batch_size, torch.Generator().manual_seed(0))
             .items()}
    model.train()
    with FlopCounterMode(display=False) as counter:
        model.train_step(batch, update)
    return float(counter.get_total_flops())


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
    peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # before the counting below
    flops = step_flops(build_model(model_name, "t1:t2", profile).to(profile.device), data, "t1:t2",
                       profile.batch_size, profile.device)
    peak = machine_peak_gflops(profile.device)
    achieved = flops * STEPS / seconds / 1e9
    return {"model": model_name, "profile": name, "device": profile.device, "image": profile.image_size,
            "batch": profile.batch_size, "steps_per_s": round(STEPS / seconds, 2),
            "gflop_per_step": round(flops / 1e9, 2),
            "gflop_per_s": round(achieved, 1), "peak_gflop_per_s": round(peak, 1),
            "fraction_of_peak": round(achieved / peak, 3), "peak_rss_mb": peak_rss_mb,
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
                  f"{r['torch_threads']} threads): {r['steps_per_s']} steps/s x {r['gflop_per_step']} GFLOP/step = "
                  f"{r['gflop_per_s']} GFLOP/s, {100 * r['fraction_of_peak']:.0f} % of the measured peak "
                  f"{r['peak_gflop_per_s']} GFLOP/s; peak RSS {r['peak_rss_mb']} MB{gpu}",
                  flush=True)
    if save:  # here in the parent: imports in the measuring processes would count in their peaks
        import pandas as pd

        from medsynth_nb.course.results import RunRecord, this_command

        command = this_command()
        run = RunRecord("-".join(["engine_speed", *models, *profiles]), "Training-engine throughput and peak memory",
                        command, profile=", ".join(profiles))
        columns = {"device": "device", "image": "image (px)", "batch": "batch", "torch_threads": "torch threads",
                   "steps_per_s": "steps/s", "gflop_per_step": "GFLOP/step", "gflop_per_s": "GFLOP/s",
                   "peak_gflop_per_s": "measured peak GFLOP/s", "fraction_of_peak": "fraction of peak",
                   "peak_rss_mb": "peak RSS (MB)", "peak_gpu_mb": "peak GPU (MB)"}
        table = pd.DataFrame(rows, index=[f"{r['model']} {r['profile']}" for r in rows])[list(columns)]
        run.add("throughput and peak memory per model and profile", table.rename(columns=columns),
                note=f"{STEPS} training steps after a 3-step warm-up, each in its own process")
        print(f"record: {run.save()}")
