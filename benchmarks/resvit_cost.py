"""What ResViT's attention costs: train step time and peak memory against the token count, and
ResViT against pix2pix, at a profile's sizes.

    python benchmarks/resvit_cost.py [--steps 10] [--no-record] [smoke cpu gpu]

For every patch size that tiles the profile's bottleneck into at least 9 tokens (smaller
patches, more tokens: attention grows with tokens^2), ResViT (the profile's other sizes, L1 +
LSGAN, through the engine) trains for ``--steps`` steps after a warm-up. Then pix2pix at the
same profile, for the steps/s comparison. Each setting runs in its own process so that
memory peaks don't mix. Default profiles: cpu, and gpu when CUDA is available. The figures
are saved as the run record ``results/resvit_cost-<profiles>.json`` unless ``--no-record``.
"""
import argparse
import json
import resource
import subprocess
import sys

MIN_TOKENS = 9


def _peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(model_name: str, profile_name: str, patch_size: int | None, steps: int) -> dict:
    import torch

    from medsynth_nb.data.loaders import load_dataset
    from medsynth_nb.engine import TrainConfig, train
    from medsynth_nb.models import build_model, parameter_count
    from medsynth_nb.profiles import get_profile

    profile = get_profile(profile_name)
    data = load_dataset("phantom", profile=profile, n_subjects=6, slices_per_subject=4, progress=False)
    overrides = {"patch_size": patch_size} if patch_size else {}

    def run(n):
        model = build_model(model_name, "t1:t2", profile, **overrides)
        config = TrainConfig.from_profile(profile, steps=n, seconds=None, eval_every=10**9, max_eval_slices=1)
        return model, train(model, data, "t1:t2", config, progress=False)

    idle_rss = _peak_rss_mb()  # imports and data: what every setting pays before training
    run(2)  # warm-up: first-call allocations and kernel choices
    if profile.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model, history = run(steps)
    row = {"model": model_name, "profile": profile_name, "device": profile.device, "image": profile.image_size,
           "batch": profile.batch_size, "params_m": round(parameter_count(model) / 1e6, 2),
           "ms_per_step": round(1000 * history.elapsed_s / steps), "peak_rss_mb": _peak_rss_mb(),
           "rss_growth_mb": _peak_rss_mb() - idle_rss, "torch_threads": torch.get_num_threads(),
           "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if profile.device == "cuda" else None}
    if model_name == "resvit":
        row.update(patch=model.config["patch_size"], tokens=model.token_grid[0] * model.token_grid[1])
    return row


def _in_subprocess(model_name: str, profile_name: str, patch_size: int | None, steps: int) -> dict:
    command = [sys.executable, __file__, "--one", model_name, profile_name, str(patch_size or 0), str(steps)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _memory(r: dict) -> str:
    gpu = f"{r['peak_gpu_mb']:>8}" if r["peak_gpu_mb"] is not None else f"{'-':>8}"
    return f"{r['peak_rss_mb']:>8} {r['rss_growth_mb']:>8} {gpu}"


def _figures(r: dict) -> dict:
    return {"params (M)": r["params_m"], "ms/step": r["ms_per_step"], "peak RSS (MB)": r["peak_rss_mb"],
            "RSS growth in training (MB)": r["rss_growth_mb"], "peak GPU (MB)": r["peak_gpu_mb"]}


def report(profile_name: str, steps: int, run) -> None:
    """Measure and print one profile's settings, and add their figures to ``run`` (a RunRecord)."""
    import pandas as pd

    from medsynth_nb.models.resvit import DOWNSAMPLING
    from medsynth_nb.profiles import get_profile

    profile = get_profile(profile_name)
    bottleneck = profile.image_size // DOWNSAMPLING
    patches = [p for p in range(bottleneck, 0, -1) if bottleneck % p == 0 and (bottleneck // p) ** 2 >= MIN_TOKENS]
    print(f"\nResViT, profile {profile_name} on {profile.device}: {profile.image_size} px, batch {profile.batch_size}, "
          f"bottleneck {bottleneck} x {bottleneck}, {steps} steps per setting", flush=True)
    print(f"{'patch':>5} {'tokens':>6} {'params M':>8} {'ms/step':>8} {'peak MB':>8} {'+train MB':>9} {'GPU MB':>8}")
    by_patch = []
    for patch in patches:
        r = _in_subprocess("resvit", profile_name, patch, steps)
        by_patch.append(r)
        print(f"{r['patch']:>5} {r['tokens']:>6} {r['params_m']:>8} {r['ms_per_step']:>8} {_memory(r)}", flush=True)
    resvit = _in_subprocess("resvit", profile_name, None, steps)
    pix2pix = _in_subprocess("pix2pix", profile_name, None, steps)
    for name, r in [(f"ResViT (default patch {resvit['patch']}, {resvit['tokens']} tokens)", resvit),
                    ("pix2pix", pix2pix)]:
        print(f"{name}: {r['params_m']} M parameters, {r['ms_per_step']} ms/step "
              f"({1000 / r['ms_per_step']:.1f} steps/s), peak RSS {r['peak_rss_mb']} MB"
              + (f", peak GPU {r['peak_gpu_mb']} MB" if r["peak_gpu_mb"] is not None else ""), flush=True)
    print(f"ResViT / pix2pix step time: {resvit['ms_per_step'] / pix2pix['ms_per_step']:.1f}x "
          f"(torch threads: {resvit['torch_threads']})")
    setting = (f"{profile.image_size} px, batch {profile.batch_size}, bottleneck {bottleneck} x {bottleneck}, "
               f"{steps} steps per setting on {profile.device}, torch threads {resvit['torch_threads']}")
    run.add(f"{profile_name}: ResViT by patch size",
            pd.DataFrame([{"tokens": r["tokens"], **_figures(r)} for r in by_patch],
                         index=[f"patch {r['patch']}" for r in by_patch]), note=setting)
    run.add(f"{profile_name}: ResViT vs pix2pix",
            pd.DataFrame([{**_figures(r), "steps/s": round(1000 / r["ms_per_step"], 1)} for r in (resvit, pix2pix)],
                         index=[f"ResViT (default patch {resvit['patch']}, {resvit['tokens']} tokens)", "pix2pix"]),
            note=setting)
    run.add(f"{profile_name}: ResViT / pix2pix step time (x)",
            round(resvit["ms_per_step"] / pix2pix["ms_per_step"], 1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        model_name, profile_name, patch_size, steps = sys.argv[2:6]
        print(json.dumps(measure(model_name, profile_name, int(patch_size) or None, int(steps))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="*", help="smoke, cpu or gpu (default: cpu, and gpu with CUDA)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
    args = parser.parse_args()
    import torch

    from medsynth_nb.course.results import RunRecord, this_command  # here, not in the measuring processes

    profiles = args.profiles or (["cpu", "gpu"] if torch.cuda.is_available() else ["cpu"])
    command = this_command()
    run = RunRecord("-".join(["resvit_cost", *profiles]), "ResViT's attention cost, and ResViT against pix2pix",
                    command, profile=", ".join(profiles))
    for name in profiles:
        report(name, args.steps, run)
    if not args.no_record:
        print(f"record: {run.save()}")
