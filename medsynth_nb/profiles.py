"""One switch that sizes every chapter: the run profile.

- ``smoke``: the test suite on 2 CPU cores; every notebook in about two minutes. Results
  are not meant to look good, only to prove that everything runs.
- ``cpu``: a laptop or Binder (2 cores, 2 GB): a visibly useful result in minutes.
- ``gpu``: Colab T4 or better: larger images, wider models, longer training.

The profile is chosen automatically (CUDA available -> ``gpu``, else ``cpu``); the
environment variable ``MEDSYNTH_PROFILE`` overrides it, and the test suite sets it to
``smoke``. Chapters read their sizes from the profile, so their text never changes.

Training runs are sized in steps (``engine.TrainConfig.from_profile``), so the same seed
and profile print the same numbers on any machine with the same number of torch threads
(float sums are reduced in a thread-dependent order).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace

import numpy as np
import torch

DEFAULT_SEED = 0


@dataclass(frozen=True)
class Profile:
    name: str
    image_size: int           # axial slices are image_size x image_size
    n_subjects: int           # phantom subjects in a chapter's dataset
    slices_per_subject: int
    channels: tuple[int, ...]  # U-Net widths, level by level
    batch_size: int
    train_steps: int          # default step budget of one training run (chapters name their own)
    train_seconds: float      # time cap of one training run: a guard for slow machines, not a budget
    eval_every: int           # validation every N steps
    max_eval_slices: int      # validation slices per evaluation (full test set at the end)
    volume_mm: float = 2.0    # voxel size of the 3-D phantom volumes chapters show
    amp: bool = False         # mixed precision (GPU only)
    device: str = "cpu"

    def describe(self, seed: int | None = None) -> str:
        torch_threads = torch.get_num_threads()
        parts = [f"profile={self.name}", f"device={self.device}", f"image={self.image_size}x{self.image_size}",
                 f"subjects={self.n_subjects}", f"time cap per run={self.train_seconds:.0f}s",
                 f"torch threads={torch_threads}"]
        if seed is not None:
            parts.append(f"seed={seed}")
        return "  ".join(parts)


PROFILES = {
    "smoke": Profile("smoke", image_size=48, n_subjects=10, slices_per_subject=3, channels=(8, 16, 32),
                     batch_size=8, train_steps=40, train_seconds=30, eval_every=20, max_eval_slices=16,
                     volume_mm=4.0),
    "cpu": Profile("cpu", image_size=96, n_subjects=40, slices_per_subject=8, channels=(16, 32, 64, 128),
                   batch_size=8, train_steps=1500, train_seconds=240, eval_every=250, max_eval_slices=64),
    "gpu": Profile("gpu", image_size=128, n_subjects=60, slices_per_subject=12, channels=(32, 64, 128, 256),
                   batch_size=16, train_steps=6000, train_seconds=240, eval_every=500, max_eval_slices=128,
                   amp=True, device="cuda"),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile to run with: ``name``, else ``$MEDSYNTH_PROFILE``, else gpu/cpu by hardware."""
    name = name or os.environ.get("MEDSYNTH_PROFILE") or ("gpu" if torch.cuda.is_available() else "cpu")
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r} (from MEDSYNTH_PROFILE or the argument); "
                         f"choose one of {', '.join(PROFILES)}.")
    profile = PROFILES[name]
    if profile.device == "cuda" and not torch.cuda.is_available():
        # A forced gpu profile on a CPU machine keeps its sizes but runs on the CPU.
        profile = replace(profile, device="cpu", amp=False)
    return profile


def seed_everything(seed: int = DEFAULT_SEED) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (weights initialisation, dropout, data order) and
    return a generator for sampling. Same seed + same profile -> same numbers on the
    same machine; GPU kernels may differ in the last digits."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def start_chapter(seed: int = DEFAULT_SEED, profile: str | None = None) -> Profile:
    """First call of every chapter: pick the profile, seed everything, print both."""
    chosen = get_profile(profile)
    seed_everything(seed)
    print(chosen.describe(seed))
    return chosen
