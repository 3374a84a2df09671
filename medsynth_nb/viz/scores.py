"""Figures of scores: training curves, how metrics react to noise and blur, errors by
label, edge profiles."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medsynth_nb.viz.images import MODALITY_TITLES


def plot_history(history, baseline: dict | None = None, axes=None):
    """Training loss and validation metrics against step; ``baseline`` draws the
    lookup table's validation values as dashed lines for comparison."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    else:
        fig = axes[0].figure
    for ax in axes:
        ax.clear()
    for name, values in history.losses.items():
        axes[0].plot(history.loss_steps, values, lw=0.8, label=name)
    axes[0].set_yscale("log")
    axes[0].set_title("training loss")
    axes[0].legend(fontsize=8)
    steps = [v["step"] for v in history.val]
    # Synthesis models report PSNR and SSIM; a segmenter its Dice scores (whole tumour, mean).
    shown = (("psnr", "val PSNR (dB)"), ("ssim", "val SSIM"))
    if history.val and "psnr" not in history.val[0]:
        shown = (("dice_wt", "val Dice, whole tumour"), ("dice", "val Dice, mean of regions"))
    for ax, (key, label) in zip(axes[1:], shown):
        ax.plot(steps, [v[key] for v in history.val], "o-", label="model")
        if baseline and key in baseline:
            ax.axhline(baseline[key], ls="--", color="gray", label="lookup baseline")
        ax.set_title(label)
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("step")
    fig.tight_layout()
    return fig


def metric_sensitivity(image: np.ndarray, mask: np.ndarray | None = None, seed: int = 0):
    """PSNR and SSIM of noisy and of blurred copies of one image, at levels chosen so
    that their PSNRs overlap and the two metrics can be compared at equal PSNR."""
    from scipy import ndimage

    from medsynth_nb.metrics import psnr, ssim

    rng = np.random.default_rng(seed)
    rows = []
    for level in (0.05, 0.1, 0.2):
        noisy = np.clip(image + rng.normal(0, level, image.shape), 0, 1).astype(np.float32)
        rows.append(("noise", f"sigma={level}", noisy))
    for sigma in (0.4, 0.7, 1.2):
        rows.append(("blur", f"sigma={sigma}px", ndimage.gaussian_filter(image, sigma).astype(np.float32)))
    table = pd.DataFrame([{"degradation": kind, "level": level, "psnr": float(psnr(img, image, mask)[0]),
                           "ssim": float(ssim(img, image, mask)[0])} for kind, level, img in rows])
    fig, axes = plt.subplots(1, len(rows), figsize=(2.1 * len(rows), 2.6))
    for ax, (kind, level, img), (_, r) in zip(axes, rows, table.iterrows()):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{kind} {level}\nPSNR {r.psnr:.1f}  SSIM {r.ssim:.2f}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return table, fig


def bar_by_label(values: dict[str, pd.Series], ylabel: str = ""):
    """Grouped bars: one group per label (e.g. tissue), one bar per method."""
    frame = pd.DataFrame(values)
    ax = frame.plot.bar(figsize=(1.2 * len(frame) + 2, 3.2), rot=0)
    ax.set_ylabel(ylabel)
    ax.figure.tight_layout()
    return ax.figure


def edge_profiles(images: dict[str, np.ndarray], row: int | None = None, modality: str = ""):
    """Intensity along one image row for several versions of the same slice (real,
    L1-only, pix2pix, ...): blur shows as rounded steps where the real image jumps."""
    first = next(iter(images.values()))
    row = first.shape[0] // 2 if row is None else row
    fig, (ax_img, ax) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 2.4]})
    ax_img.imshow(first, cmap="gray", vmin=0, vmax=1)
    ax_img.axhline(row, color="tab:orange")
    ax_img.set_title(f"row {row}")
    ax_img.axis("off")
    for name, image in images.items():
        ax.plot(image[row], label=name, lw=1.2)
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel(f"{MODALITY_TITLES.get(modality, modality)} (normalised)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
