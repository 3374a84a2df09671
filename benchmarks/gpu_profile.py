"""Every chapter notebook in the gpu profile, in one command: wall time, the kernel's peak
resident memory and its peak GPU memory (``torch.cuda.max_memory_allocated``) per chapter
(target: each chapter <= 5 min on a GPU, as in ``benchmarks/notebooks.py``), and each
chapter's run record ``results/chapter-NN-gpu.json`` with the GPU peak added, from which
``python -m medsynth_nb.course.results`` writes docs/results.md.

    python benchmarks/gpu_profile.py [--save DIR] [--no-record] [notebooks/03_*.ipynb ...]
    python benchmarks/gpu_profile.py --allow-cpu notebooks/00_synthesis_in_one_afternoon.ipynb

The script sets ``MEDSYNTH_PROFILE=gpu`` for the kernels itself. The gpu profile (128 px,
wider models, mixed precision) is made for a CUDA GPU, and without one the script refuses.
``--allow-cpu`` runs one named chapter at the gpu profile's sizes on the CPU: a dry check
that the chapter runs at those sizes, in float32 (``profiles.get_profile`` turns mixed
precision off without CUDA) and with every training run cut by the profile's time cap
(``train_seconds``), so it is slow and its numbers say nothing about a GPU; it writes no record.
Some chapters also size themselves by the device: on a CPU chapters 03, 04, 07 and 08 keep 64 px
images and ResViT 6 ART blocks, so the dry check is not the GPU run at every size
(``tests/engine/test_gpu_profile.py`` checks every model at the gpu sizes).
A chapter that fails is reported and the others still run; the exit status is then 1.
"""
import argparse
import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1] / "notebooks"
TARGET_S = 300  # a chapter's wall-time target on a GPU

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--save", type=Path, help="keep the executed notebooks in this folder")
parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
parser.add_argument("--allow-cpu", action="store_true",
                    help="without CUDA, run the one chapter named at the gpu profile's sizes on the CPU (dry check)")
parser.add_argument("notebooks", nargs="*", type=Path, help="chapters to run (default: all of notebooks/)")


def main(argv=None) -> int:
    args = parser.parse_args(argv)
    paths = [ROOT / p.name for p in args.notebooks] or sorted(ROOT.glob("*.ipynb"))
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        print(f"No such chapter in {ROOT}: {', '.join(missing)}.", file=sys.stderr)
        return 2

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        print("No CUDA device here (torch.cuda.is_available() is False): the gpu profile is sized for a GPU, and "
              "its chapters would run for hours on this CPU, without mixed precision, measuring nothing a GPU "
              "does. Run this on a CUDA machine (e.g. Colab with a T4), or check that one chapter runs at the "
              "gpu profile's sizes with --allow-cpu notebooks/NN_....ipynb.", file=sys.stderr)
        return 2
    if not cuda and len(args.notebooks) != 1:
        print("--allow-cpu is a dry check of one chapter on the CPU: name exactly one notebook, e.g. "
              "--allow-cpu notebooks/00_synthesis_in_one_afternoon.ipynb.", file=sys.stderr)
        return 2

    if os.environ.get("MEDSYNTH_PROFILE", "gpu").strip().lower() != "gpu":
        print(f"MEDSYNTH_PROFILE={os.environ['MEDSYNTH_PROFILE']} is replaced by gpu for this run.")
    os.environ["MEDSYNTH_PROFILE"] = "gpu"  # the kernels inherit it
    from medsynth_nb.course.notebook_runner import chapter_record, run_chapter
    from medsynth_nb.profiles import get_profile

    profile = get_profile()  # what the kernels will choose: same environment, same machine
    where = torch.cuda.get_device_name(0) if cuda else "the CPU (dry check: float32, time-capped runs)"
    print(f"gpu profile on {where}: {profile.describe()}", flush=True)
    record = cuda and not args.no_record
    rows, failed = [], []
    for path in paths:
        try:
            run = run_chapter(path)
        except Exception as error:  # one broken chapter must not hide the others' numbers
            failed.append(path.name)
            print(f"{path.name}: FAILED: {type(error).__name__}: {str(error).strip()[-1500:]}", flush=True)
            continue
        late = f" (over the {TARGET_S} s target)" if cuda and run.seconds > TARGET_S else ""
        gpu = f", peak GPU memory {run.gpu_peak_mb} MB" if run.gpu_peak_mb is not None else ""
        print(f"{path.name}: {run.seconds:.0f} s{late}, kernel peak RSS {run.peak_mb} MB{gpu}", flush=True)
        rows.append((path.name, run.seconds, run.peak_mb, run.gpu_peak_mb))
        if record:  # chapter_record adds the GPU peak the run measured
            chapter = chapter_record(path.name, run, profile.name)
            chapter.command = f"python benchmarks/gpu_profile.py notebooks/{path.name}"
            print(f"  record: {chapter.save()} ({len(run.figures)} figures from the chapter)", flush=True)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            nbformat.write(run.notebook, args.save / path.name)

    print(f"\n{'chapter':<48} {'wall s':>7} {'peak RSS MB':>12} {'peak GPU MB':>12}")
    for name, seconds, rss, gpu_mb in rows:
        print(f"{name:<48} {seconds:>7.0f} {rss:>12} {'-' if gpu_mb is None else gpu_mb:>12}")
    for name in failed:
        print(f"{name:<48} {'FAILED':>7}")
    if not cuda:
        print("Dry check on the CPU: no record written; these times and memory say nothing about a GPU.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
