"""Figures of chapter 09: synthetic volumes seen across their slices.

An axial slice of a slice-wise synthesis looks like any other chapter's; the steps between
slices show only in the planes that cut across them. ``orthogonal_views`` puts the three
planes through one point side by side, one row per method, stretched by the voxel spacing
so that a millimetre is as long in every direction. ``difference_profile`` plots, slice
pair by slice pair, how far each method's steps between neighbouring slices are from the
truth's (``analysis.volumes.through_plane_profile``).

Volumes are ``D x H x W`` stacks of axial slices as the course shows them (``orientation``):
anterior up, the patient's right on the left, slices from inferior to superior. Coronal and
sagittal views put superior up; the sagittal view has anterior on the left.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from medsynth_nb.analysis.volumes import through_plane_profile
from medsynth_nb.viz.images import QUERY_COLOR, as_numpy


def _same_volumes(volumes: dict) -> dict[str, np.ndarray]:
    volumes = {name: as_numpy(v) for name, v in volumes.items()}
    shapes = {name: v.shape for name, v in volumes.items()}
    if not volumes or len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 3:
        raise ValueError(f"Give one or more volumes of one shape, D x H x W; got shapes {shapes}.")
    return volumes


def orthogonal_views(volumes: dict, *, slice_gap_mm: float, pixel_mm: float, index: tuple[int, int, int] | None = None,
                     vmin: float = 0.0, vmax: float = 1.0, size: float = 2.4):
    """One row per volume (``{name: D x H x W}``, in the order given: put the truth first),
    columns axial / coronal / sagittal through slice, row and column ``index`` (default: the
    volume's centre), the dashed lines marking where the other two planes cut. Slices are
    ``slice_gap_mm`` apart, pixels ``pixel_mm`` wide."""
    volumes = _same_volumes(volumes)
    depth, height, width = next(iter(volumes.values())).shape
    k, r, c = index if index is not None else (depth // 2, height // 2, width // 2)
    if not (0 <= k < depth and 0 <= r < height and 0 <= c < width):
        raise ValueError(f"index={(k, r, c)} lies outside the volumes, {depth} x {height} x {width}.")
    stretch = slice_gap_mm / pixel_mm  # a slice step is this many pixels long
    tall = max(height, depth * stretch)
    fig, axes = plt.subplots(len(volumes), 3, figsize=(size * (2 * width + height) / tall, size * len(volumes) + 0.4),
                             squeeze=False, gridspec_kw={"width_ratios": [width, width, height]})
    views = [("axial", lambda v: v[k], 1.0, [("h", r), ("v", c)]),
             ("coronal", lambda v: v[::-1, r, :], stretch, [("h", depth - 1 - k), ("v", c)]),
             ("sagittal (anterior left)", lambda v: v[::-1, :, c], stretch, [("h", depth - 1 - k), ("v", r)])]
    for row, (name, volume) in enumerate(volumes.items()):
        for ax, (title, cut, aspect, lines) in zip(axes[row], views):
            ax.imshow(cut(volume), cmap="gray", vmin=vmin, vmax=vmax, aspect=aspect, interpolation="nearest")
            for direction, at in lines:
                (ax.axhline if direction == "h" else ax.axvline)(at, color=QUERY_COLOR, lw=0.6, ls="--", alpha=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
        axes[row, 0].set_ylabel(name)
    fig.tight_layout()
    return fig


def difference_profile(volumes: dict, truth, mask=None, *, slice_gap_mm: float | None = None):
    """Each volume's through-plane gradient error per pair of neighbouring slices, against
    ``truth`` (D x H x W), inside ``mask``: a slice-wise model's steps are its peaks. The x
    axis is in millimetres when ``slice_gap_mm`` is given."""
    volumes, truth = _same_volumes(volumes), as_numpy(truth)
    if truth.shape != next(iter(volumes.values())).shape:
        raise ValueError(f"truth has shape {truth.shape}; it must match the volumes, "
                         f"{next(iter(volumes.values())).shape}.")
    pairs = np.arange(len(truth) - 1) + 0.5
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, volume in volumes.items():
        ax.plot(pairs * (slice_gap_mm or 1.0), through_plane_profile(volume, truth, mask), "o-", ms=3, label=name)
    ax.set_xlabel("between slices (mm)" if slice_gap_mm else "between slices k and k + 1")
    ax.set_ylabel("|step error| (intensity)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
