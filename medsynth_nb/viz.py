"""Figures the chapters show: modalities side by side, predictions with error maps,
training curves, the physics table. Matplotlib only (no widgets), so scripts and tests
can call them too; notebooks display the returned figures inline."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .data import physics
from .data.datasets import base_modality, to_hu

# Display windows in the units the images are in.
WINDOWS_PHYSICAL = {"ct": (-200.0, 1500.0)}        # HU: brain-to-bone window
MODALITY_TITLES = {"t1": "T1w", "t2": "T2w", "pd": "PDw", "flair": "FLAIR", "t1ce": "T1w + Gd",
                   "ct": "CT", "pet": "FDG-PET"}
TUMOR_COLORS = np.array([[0, 0, 0, 0], [0.9, 0.2, 0.2, 0.8], [0.2, 0.8, 0.2, 0.55], [1.0, 0.85, 0.1, 0.8]])
TISSUE_COLORS = plt.get_cmap("tab10")(np.arange(7))


def axial(volume: np.ndarray, k: int) -> np.ndarray:
    """Slice ``k`` of an ``[x, y, z]`` volume in display orientation (anterior up)."""
    return volume[:, ::-1, k].T


def window(modality: str, image: np.ndarray, physical: bool) -> tuple[float, float]:
    if physical and modality in WINDOWS_PHYSICAL:
        return WINDOWS_PHYSICAL[modality]
    if not physical:
        return 0.0, 1.0
    return 0.0, float(np.percentile(image, 99.5)) or 1.0


def overlay(ax, labels: np.ndarray, kind: str = "tumor") -> None:
    colors = TUMOR_COLORS if kind == "tumor" else np.c_[TISSUE_COLORS[:, :3], np.full(7, 0.45)]
    rgba = colors[np.clip(labels, 0, len(colors) - 1)]
    if kind != "tumor":
        rgba[labels == 0, 3] = 0
    ax.imshow(rgba, interpolation="nearest")


def show_modalities(images: dict[str, np.ndarray], tumor: np.ndarray | None = None, *, physical: bool = True,
                    title: str | None = None, size: float = 2.2):
    """One 2-D image per modality side by side (plus the tumour labels if given)."""
    names = list(images)
    n = len(names) + (tumor is not None)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.15), squeeze=False)
    for ax, name in zip(axes[0], names):
        lo, hi = window(name, images[name], physical)
        ax.imshow(images[name], cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(MODALITY_TITLES.get(name, name))
    if tumor is not None:
        ax = axes[0, -1]
        ax.imshow(images[names[0]], cmap="gray", vmin=0, vmax=window(names[0], images[names[0]], physical)[1])
        overlay(ax, tumor)
        ax.set_title("tumour labels")
    for ax in axes[0]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def physics_table(site: str = "A") -> pd.DataFrame:
    """Tissue properties and the resulting signal of each tissue in each contrast
    (MR columns: signal of a pure-tissue voxel, arbitrary units)."""
    tissues = physics.TISSUE_PROPERTIES
    signals = physics.signal_matrix(tissues, physics.SITES[site])
    rows = {}
    for i, name in enumerate(physics.TISSUES):
        t = tissues[name]
        rows[name] = {"T1 (ms)": t.t1_ms, "T2 (ms)": t.t2_ms, "proton density": t.pd,
                      **{f"{MODALITY_TITLES[m]}": round(float(signals[m][i]), 3) for m in physics.MR_MODALITIES},
                      "CT (HU)": t.hu, "FDG uptake": t.fdg}
    return pd.DataFrame(rows).T


def show_predictions(sources: dict[str, np.ndarray], prediction: np.ndarray, target: np.ndarray, *,
                     modality: str, rows: int | None = None, titles: tuple[str, str] = ("synthetic", "real"),
                     error_max: float | None = None):
    """Per row: source(s), prediction, target and |error| (HU for CT). Arrays: N x H x W."""
    n = rows or len(prediction)
    names = list(sources)
    modality = base_modality(modality)
    to_phys = to_hu if modality == "ct" else (lambda x: x)
    cols = len(names) + 3
    fig, axes = plt.subplots(n, cols, figsize=(2.1 * cols, 2.1 * n + 0.3), squeeze=False)
    lo, hi = WINDOWS_PHYSICAL.get(modality, (0.0, 1.0))
    err_max = error_max or (400.0 if modality == "ct" else 0.3)
    for r in range(n):
        for c, name in enumerate(names):
            axes[r, c].imshow(sources[name][r], cmap="gray", vmin=0, vmax=1)
            axes[0, c].set_title(f"input {MODALITY_TITLES.get(name, name)}")
        pred, tgt = to_phys(prediction[r]), to_phys(target[r])
        axes[r, -3].imshow(pred, cmap="gray", vmin=lo, vmax=hi)
        axes[r, -2].imshow(tgt, cmap="gray", vmin=lo, vmax=hi)
        im = axes[r, -1].imshow(np.abs(pred - tgt), cmap="magma", vmin=0, vmax=err_max)
    unit = " (HU)" if modality == "ct" else ""
    axes[0, -3].set_title(f"{titles[0]} {MODALITY_TITLES.get(modality, modality)}")
    axes[0, -2].set_title(f"{titles[1]} {MODALITY_TITLES.get(modality, modality)}")
    axes[0, -1].set_title(f"|error|{unit}")
    for ax in axes.flat:
        ax.axis("off")
    fig.colorbar(im, ax=axes[:, -1].tolist(), shrink=0.8)
    return fig


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
    for ax, key, label in ((axes[1], "psnr", "val PSNR (dB)"), (axes[2], "ssim", "val SSIM")):
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

    from .metrics import psnr, ssim

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


def forward_process(image: np.ndarray, schedulers: dict, steps, seed: int = 0):
    """The diffusion forward process: ``image`` (in [0, 1]) noised to each of ``steps``
    under each schedule (one row per schedule, the same noise everywhere), and beside
    them each schedule's signal-to-noise ratio abar_t / (1 - abar_t), log scale."""
    import torch

    steps = [int(t) for t in np.atleast_1d(steps)]
    x0 = torch.as_tensor(image, dtype=torch.float32)[None, None] * 2 - 1
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    fig, axes = plt.subplots(len(schedulers), len(steps) + 1, squeeze=False,
                             figsize=(2.2 * len(steps) + 3.4, 2.3 * len(schedulers)),
                             gridspec_kw={"width_ratios": [1] * len(steps) + [1.6]})
    for row, (name, scheduler) in zip(axes, schedulers.items()):
        abar = scheduler.alphas_cumprod.double().numpy()
        for ax, t in zip(row, steps):
            noisy = scheduler.add_noise(x0, noise, torch.tensor([t]))[0, 0].numpy()
            ax.imshow((noisy + 1) / 2, cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}, t = {t}", fontsize=9)
            ax.axis("off")
        snr = abar / (1 - abar)
        row[-1].semilogy(snr, color="0.3")
        row[-1].semilogy(steps, snr[steps], "o", color="tab:red")
        row[-1].set_xlabel("step t")
        row[-1].set_ylabel("SNR")
        row[-1].set_ylim(1e-5, 1e4)
    fig.tight_layout()
    return fig
