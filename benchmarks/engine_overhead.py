"""What the training engine costs over a bare PyTorch loop, and what the usual speed-ups give
on this machine.

    python benchmarks/engine_overhead.py [--profile cpu] [--steps 40] [--rounds 3] [--no-record]

1. **Overhead.** The same network (a fresh copy with the same initial weights) is trained on
   the same pre-drawn batches by ``engine.train`` (progress bar off, no validation inside the
   loop, no checkpoint) and by the bare loop a tutorial would write (forward, L1, zero_grad,
   backward, step). Rounds alternate engine and bare; the ratio is of the medians. Target <= 1.10.
2. **Variants of the bare loop**: ``channels_last`` memory format, bf16 autocast on the CPU,
   ``torch.compile``, one thread instead of all, and the cost of drawing a batch
   (``SliceSet.sample_batch``) against the step. The engine adopts only what helps here
   (see the note printed and ``engine/training.py``).

The table is saved as the run record ``results/engine_overhead-<profile>.json`` unless ``--no-record``.
"""
import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from medsynth_nb.data.loaders import load_dataset
from medsynth_nb.data.slices import SynthesisData
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.models import build_model
from medsynth_nb.profiles import get_profile

TASK = "t1:t2"


class ReplayBatches:
    """Stands in for a training SliceSet: hands out the same pre-drawn batches, in order."""

    def __init__(self, batches):
        self.batches, self.i = batches, 0

    def __len__(self):
        return len(self.batches)

    def sample_batch(self, task, batch_size, generator):
        batch = self.batches[self.i % len(self.batches)]
        self.i += 1
        return batch


def bare_loop(model, batches, *, channels_last=False, autocast=False, compiled=False) -> float:
    """Seconds for a tutorial's loop over ``batches``."""
    net = model.net.to(memory_format=torch.channels_last) if channels_last else model.net
    forward = torch.compile(net) if compiled else net
    optimizer = model.make_optimizers()["net"]  # the model's own optimizer settings: only the loop differs
    if compiled:  # compilation is paid once, not per step: done before the clock starts
        F.l1_loss(forward(batches[0]["source"]), batches[0]["target"]).backward()
        optimizer.zero_grad(set_to_none=True)
    start = time.perf_counter()
    for batch in batches:
        source = batch["source"].contiguous(memory_format=torch.channels_last) if channels_last else batch["source"]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = F.l1_loss(forward(source).float(), batch["target"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def engine_loop(model, data, batches, profile) -> float:
    replay = SynthesisData(ReplayBatches(batches), data.val, data.test, data.info)
    config = TrainConfig.from_profile(profile, steps=len(batches), seconds=None, eval_every=10**9, seed=0)
    history = train(model, replay, TASK, config, progress=False)
    return history.elapsed_s  # the loop's own time (the final validation is outside it)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    profile = get_profile(args.profile)
    data = load_dataset("phantom", profile=profile, n_subjects=6, slices_per_subject=4, progress=False)
    generator = torch.Generator().manual_seed(0)
    batches = [data.train.sample_batch(TASK, profile.batch_size, generator) for _ in range(args.steps)]
    torch.manual_seed(0)
    reference = build_model("unet", TASK, profile)

    def fresh():
        return copy.deepcopy(reference)

    bare_loop(fresh(), batches[:5])  # warm-up: allocator, oneDNN kernel choice
    times = {"engine": [], "bare": []}
    for _ in range(args.rounds):
        times["engine"].append(engine_loop(fresh(), data, batches, profile))
        times["bare"].append(bare_loop(fresh(), batches))
    engine_s, bare_s = (statistics.median(times[k]) for k in ("engine", "bare"))
    rows = {"bare loop": bare_s, "engine": engine_s}
    variants = {"channels_last": {"channels_last": True}, "bf16 autocast": {"autocast": True},
                "torch.compile": {"compiled": True}}
    for name, options in variants.items():
        try:
            rows[f"bare, {name}"] = min(bare_loop(fresh(), batches, **options) for _ in range(2))
        except Exception as err:  # e.g. torch.compile without a C++ compiler: say so, do not stop
            print(f"{name}: not available here ({type(err).__name__}: {str(err).splitlines()[0][:120]})")
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
        rows["bare, 1 thread"] = bare_loop(fresh(), batches)
        torch.set_num_threads(threads)
    start = time.perf_counter()
    for _ in range(args.steps):
        data.train.sample_batch(TASK, profile.batch_size, generator)
    rows["drawing the batches only"] = time.perf_counter() - start

    print(f"unet, profile {profile.name} ({profile.image_size} px, batch {profile.batch_size}, {threads} threads), "
          f"{args.steps} steps; median of {args.rounds} rounds for engine and bare:")
    for name, seconds in rows.items():
        print(f"  {name:>26}: {args.steps / seconds:7.2f} steps/s  ({seconds / bare_s:.3f} x the bare loop's time)")
    print(f"engine / bare = {engine_s / bare_s:.3f} (target <= 1.10)")
    if not args.no_record:
        import pandas as pd

        from medsynth_nb.course.results import RunRecord, this_command

        run = RunRecord(f"engine_overhead-{profile.name}", "Engine overhead and speed-up variants", this_command(),
                        profile=profile.name)
        table = pd.DataFrame({"steps/s": {k: round(args.steps / v, 2) for k, v in rows.items()},
                              "time vs bare loop": {k: round(v / bare_s, 3) for k, v in rows.items()}})
        run.add("unet training loops on the same batches", table,
                note=f"{args.steps} steps, {threads} threads; engine and bare: median of {args.rounds} rounds")
        run.add("engine / bare time ratio", round(engine_s / bare_s, 3), note="target <= 1.10")
        print(f"record: {run.save()}")


if __name__ == "__main__":
    main()
