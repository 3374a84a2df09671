"""Scoring reconstructions (chapter 07): a method is a function of a measured batch, and it
is scored per subject *and* per setting (acceleration, views, dose), since how fast a
method degrades as the measurement shrinks is the question."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from medsynth_nb.metrics.image import image_metrics


@torch.no_grad()
def reconstruct_set(reconstruct, data, *, device="cpu", batch_size: int = 32) -> np.ndarray:
    """``reconstruct`` (a batch dict of ``MeasuredSlices.batch`` -> B x C x H x W) over every
    entry of ``data``: N x H x W for one channel, N x C x H x W for several (e.g. samples)."""
    out = []
    for start in range(0, len(data), batch_size):
        batch = data.batch(None, np.arange(start, min(start + batch_size, len(data))))
        out.append(reconstruct({k: v.to(device) for k, v in batch.items()}).float().cpu().numpy())
    images = np.concatenate(out)
    return images[:, 0] if images.shape[1] == 1 else images


def score_reconstruction(images: np.ndarray, data) -> pd.DataFrame:
    """Per subject and setting: PSNR, SSIM, MAE (and MAE in HU for CT) inside the head,
    against the truth; the index is (setting, subject)."""
    head = (data.tissue > 0)[:, None]
    per_entry = image_metrics(torch.from_numpy(np.asarray(images, np.float32))[:, None],
                              torch.from_numpy(data.truth)[:, None], torch.from_numpy(head), data.modality)
    frame = pd.DataFrame({k: v.numpy() for k, v in per_entry.items() if k != "sharpness"})
    frame["setting"], frame["subject"] = data.setting, data.subject_ids
    return frame.groupby(["setting", "subject"]).mean()


def evaluate_reconstruction(reconstruct, data, *, device="cpu") -> pd.DataFrame:
    """``reconstruct_set`` then ``score_reconstruction``."""
    return score_reconstruction(reconstruct_set(reconstruct, data, device=device), data)
