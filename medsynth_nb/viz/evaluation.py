"""Figures of chapter 09: image sets side by side, fidelity against realism, and a reader
study's trial (the two images, no hint of which is real)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def image_sets(sets: dict[str, np.ndarray], index: int, *, title: str | None = None, crop=None):
    """Slice ``index`` of every image set (N x H x W, [0, 1]) in one row, one grey window."""
    fig, axes = plt.subplots(1, len(sets), figsize=(2.2 * len(sets), 2.6), squeeze=False)
    for ax, (name, images) in zip(axes[0], sets.items()):
        image = np.asarray(images[index])
        ax.imshow(image if crop is None else image[crop], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def fidelity_vs_realism(table: pd.DataFrame, fidelity: str = "psnr", realism: str = "FID (segmenter)", ax=None):
    """One point per row of ``table`` (a leaderboard or a realism table): ``fidelity``
    (higher is better) across, ``realism`` (a distance: lower is better) up. A method that
    is better on both lies towards the lower right; the two metrics agree only if the
    points fall on one rising line."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    x, y = table[fidelity].astype(float), table[realism].astype(float)
    ax.scatter(x, y, color="C0")
    for name in table.index:
        ax.annotate(str(name), (x[name], y[name]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(f"{fidelity} (higher: closer to the truth) →")
    ax.set_ylabel(f"{realism} (lower: more like real scans) →")
    ax.set_title("fidelity against realism")
    ax.figure.tight_layout()
    return ax.figure


def trial_pair(left: np.ndarray, right: np.ndarray):
    """A reader-study trial: its two images side by side in one grey window (the 1st to 99.5th
    percentile of both together): a window per image could hide, or make, a difference."""
    low, high = np.percentile(np.concatenate([left.ravel(), right.ravel()]), [1, 99.5])
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
    for ax, image, side in zip(axes, (left, right), ("left", "right")):
        ax.imshow(image, cmap="gray", vmin=low, vmax=high if high > low else low + 1, interpolation="nearest")
        ax.set_title(side)
        ax.axis("off")
    fig.tight_layout()
    return fig
