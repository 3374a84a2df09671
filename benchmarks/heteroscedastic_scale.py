"""Which way of predicting the Laplace scale trains sanely at chapter 05's budget?

    python benchmarks/heteroscedastic_scale.py [--no-record]

Chapter 05's set-up (cpu profile sizes at 64 px, FLAIR from T1w + T2w, tumour-free training
slices, seed 0), trained for a short run and for the chapter's cpu budget, four ways:

- ``hard clamp, b0 = 1``: log b clamped to [-7, 1], the network's raw output as log b, the
  plain Laplace NLL (the course's model before issue 16);
- ``smooth floor, b0 = 1``: a softplus floor at -7 instead of the clamp, no ceiling;
- ``smooth floor, b0 = 0.05``: and log b starts at -3 (an offset on the raw output);
- ``beta-NLL (the course's)``: and each pixel's NLL weighted by its own b, held constant
  (``models.heteroscedastic`` as it is).

Per run: the share of head pixels whose predicted std exceeds 1 (wider than the whole
[0, 1] intensity range: degenerate), the largest std, the test MAE of the MC-dropout mean,
and whether the total uncertainty ranks the error (rank correlation, AURG > 0 = better
than random), as chapter 05 scores it.
"""
import argparse
import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from medsynth_nb.analysis import uncertainty
from medsynth_nb.course.results import RunRecord, this_command
from medsynth_nb.data import load_dataset
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.metrics import rank_correlation
from medsynth_nb.metrics import uncertainty as scores
from medsynth_nb.models import build_model
from medsynth_nb.models.heteroscedastic import INITIAL_LOG_SCALE, LOG_SCALE_FLOOR, HeteroscedasticUNet
from medsynth_nb.profiles import get_profile, seed_everything

TASK, SIZE, STEPS = "t1,t2:flair", 64, (120, 700)  # 700: chapter 05's cpu budget for this model


class PlainNLL(HeteroscedasticUNet):
    """The variants before the course's: plain NLL, scale from ``offset`` + raw output."""
    offset, clamp = 0.0, True

    def mean_and_log_scale(self, source):
        out = self.net(source)
        raw = out[:, 1:] + self.offset
        if self.clamp:
            return out[:, :1], raw.clamp(LOG_SCALE_FLOOR, 1.0)
        return out[:, :1], LOG_SCALE_FLOOR + F.softplus(raw - LOG_SCALE_FLOOR)

    def train_step(self, batch, update):
        mean, log_scale = self.mean_and_log_scale(batch["source"])
        nll = ((batch["target"] - mean).abs() * torch.exp(-log_scale) + log_scale).mean() + math.log(2)
        update(nll, "net")
        return {"laplace_nll": nll}


VARIANTS = {
    "hard clamp, b0 = 1": type("Clamp", (PlainNLL,), {"offset": 0.0, "clamp": True}),
    "smooth floor, b0 = 1": type("Floor", (PlainNLL,), {"offset": 0.0, "clamp": False}),
    "smooth floor, b0 = 0.05": type("FloorStart", (PlainNLL,), {"offset": INITIAL_LOG_SCALE, "clamp": False}),
    "beta-NLL (the course's)": None,
}


def run(name: str, steps: int, profile, data) -> dict:
    seed_everything(0)
    model = build_model("heteroscedastic", TASK, profile)
    if VARIANTS[name] is not None:  # the same network and initial weights; only the scale and the loss differ
        model.__class__ = VARIANTS[name]
    train(model, data.healthy_training(), TASK, TrainConfig.from_profile(profile, seed=0, steps=steps, seconds=None),
          progress=False)
    test = data.test
    head = test.tissue > 0
    estimate = uncertainty.estimate_set(uncertainty.Heteroscedastic(model, n_samples=16), test, TASK, progress=False)
    _, scale = model.predict_with_scale(test.batch(TASK, np.arange(len(test)))["source"])
    std = math.sqrt(2) * scale[:, 0].numpy()[head]
    error = np.abs(estimate["mean"] - test.images["flair"])
    return {"variant": name, "steps": steps, "head pixels with std > 1": float((std > 1).mean()),
            "largest std": float(std.max()), "median std": float(np.median(std)), "MAE": float(error[head].mean()),
            "rank corr": float(rank_correlation(estimate["std"][head], error[head])),
            "AURG": scores.aurg(scores.sparsification(estimate["std"], error, head))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
    args = parser.parse_args()
    profile = get_profile("cpu")
    data = load_dataset("phantom", profile=profile, seed=0, image_size=SIZE, n_subjects=profile.n_subjects)
    rows = []
    for steps in STEPS:
        for name in VARIANTS:
            rows.append(run(name, steps, profile, data))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows).set_index(["steps", "variant"]).round(4)
    print(table.to_string())
    if not args.no_record:
        record = RunRecord(name="heteroscedastic_scale", title="Heteroscedastic scale: four parameterisations",
                           command=this_command(), profile="cpu")
        record.add("scale sanity and error ranking", table.reset_index(),
                   note=f"chapter 05 set-up at {SIZE} px, seed 0; std > 1 is wider than the [0, 1] intensity range")
        print(f"record: {record.save()}")


if __name__ == "__main__":
    main()
