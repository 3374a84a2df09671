"""Figures of images: modalities side by side, predictions with error maps, label
overlays, the physics table. Matplotlib only (no widgets), so scripts and tests can call
them too; notebooks display the returned figures inline."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medsynth_nb.data import physics
from medsynth_nb.data.intensity import to_hu
from medsynth_nb.tasks import base_modality

# Display windows in the units the images are in.
WINDOWS_PHYSICAL = {"ct": (-200.0, 1500.0)}        # HU: brain-to-bone window


MODALITY_TITLES = {"t1": "T1w", "t2": "T2w", "pd": "PDw", "flair": "FLAIR", "t1ce": "T1w + Gd",
                   "ct": "CT", "pet": "FDG-PET"}


TUMOR_COLORS = np.array([[0, 0, 0, 0], [0.9, 0.2, 0.2, 0.8], [0.2, 0.8, 0.2, 0.55], [1.0, 0.85, 0.1, 0.8]])


TISSUE_COLORS = plt.get_cmap("tab10")(np.arange(7))


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


QUERY_COLOR = "cyan"  # the query patch's outline (and its button in widgets.AttentionExplorer)


def as_numpy(x) -> np.ndarray:
    """A torch tensor (any device) or an array-like as a float numpy array."""
    return x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=float)


def first_image(x, ndim: int) -> np.ndarray:
    """``x`` with a leading batch axis dropped (its first image kept) if it has one."""
    x = as_numpy(x)
    return x[0] if x.ndim == ndim + 1 else x


def image_2d(image) -> np.ndarray:
    """An H x W image from H x W, 1 x H x W or 1 x 1 x H x W (numpy or torch)."""
    image = np.squeeze(as_numpy(image))
    if image.ndim != 2:
        raise ValueError(f"Give one 2-D image (H x W, or 1 x 1 x H x W); got shape {np.shape(image)}.")
    return image


def outline_box(ax, box: tuple[int, int, int, int], lw: float = 1.5) -> None:
    """Outline rows r0..r1-1 and columns c0..c1-1 of an image shown with imshow."""
    from matplotlib.patches import Rectangle

    r0, r1, c0, c1 = box
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, edgecolor=QUERY_COLOR, lw=lw))
