"""Figures of chapter 06: a training pair, learned renders against the physics truth,
controllability of a renderer and Dice against the number of real training subjects
(``lesion_study``). Matplotlib only, like ``viz``; each function returns the Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medsynth_nb.data.lesion_pairs import CONTRASTS, LesionSlices
from medsynth_nb.lesions.study import ARMS, dice_vs_k_summary
from medsynth_nb.viz.images import MODALITY_TITLES, overlay


def controllability_plot(frames: dict[str, pd.DataFrame]):
    """Requested against measured tumour area (left; on the dotted identity line = the
    segmenter finds what was asked) and the centroid error against the requested area
    (right), one colour per renderer ({name: ``lesions.study.controllability`` table})."""
    if not frames:
        raise ValueError("Pass at least one controllability table, e.g. {'physics': frame}.")
    fig, (ax_volume, ax_center) = plt.subplots(1, 2, figsize=(9.0, 4.0), layout="constrained")
    largest = max(float(max(f["requested_mm2"].max(), f["measured_mm2"].max())) for f in frames.values())
    ax_volume.plot([0, largest], [0, largest], color="grey", lw=0.8, ls=":", label="measured = requested")
    for i, (name, frame) in enumerate(frames.items()):
        color = f"C{i}"
        ax_volume.scatter(frame["requested_mm2"], frame["measured_mm2"], s=14, color=color, alpha=0.7, label=name)
        found = frame["centroid_error_mm"].notna()
        missed = int((~found).sum())
        ax_center.scatter(frame.loc[found, "requested_mm2"], frame.loc[found, "centroid_error_mm"], s=14,
                          color=color, alpha=0.7, label=name + (f" ({missed} not found)" if missed else ""))
    ax_volume.set_xlabel("requested tumour area (mm²)")
    ax_volume.set_ylabel("area found by the segmenter (mm²)")
    ax_volume.legend(fontsize=8)
    ax_center.set_xlabel("requested tumour area (mm²)")
    ax_center.set_ylabel("centroid error (mm)")
    ax_center.set_ylim(bottom=0)
    ax_center.legend(fontsize=8)
    return fig


def dice_vs_k_plot(frame: pd.DataFrame):
    """Mean whole-tumour test Dice against the number k of real training subjects, one line
    per arm, with the 95 % t-interval over seeds as error bars (``lesions.study.dice_vs_k``
    table)."""
    summary = dice_vs_k_summary(frame)
    fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
    for i, arm in enumerate(a for a in ARMS if a in set(summary["arm"])):
        rows = summary[summary["arm"] == arm]
        # Arms side by side at each k, so their error bars do not hide each other.
        x = rows["k"].to_numpy(float) * (1 + 0.03 * (i - 0.5))
        errors = np.abs(rows[["ci_low", "ci_high"]].to_numpy(float) - rows[["mean"]].to_numpy(float)).T
        ax.errorbar(x, rows["mean"], yerr=np.nan_to_num(errors), marker="o", capsize=3, color=f"C{i}",
                    label=f"{arm} (n = {rows['n_seeds'].min()} seeds)")
    ax.set_xscale("log", base=2)
    ks = sorted(summary["k"].unique())
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("real training subjects k")
    ax.set_ylabel("whole-tumour Dice on the test subjects")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return fig


def _labels_over(ax, image: np.ndarray, labels: np.ndarray, title: str) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    overlay(ax, labels)
    ax.set_title(title, fontsize=9)


def lesion_pair(slices: LesionSlices, index: int):
    """One training slice: its tumour labels, then per contrast the image with the lesion
    and (phantom only) its difference to the same slice rendered healthy."""
    images, labels = slices.images[index], slices.labels[index]
    rows = 2 if slices.healthy is not None else 1
    fig, axes = plt.subplots(rows, len(CONTRASTS) + 1, figsize=(2.2 * (len(CONTRASTS) + 1), 2.3 * rows),
                             layout="constrained", squeeze=False)
    _labels_over(axes[0, 0], images[CONTRASTS.index("t1")], labels, "labels on T1w")
    for c, m in enumerate(CONTRASTS):
        axes[0, c + 1].imshow(images[c], cmap="gray", vmin=0, vmax=1)
        axes[0, c + 1].set_title(MODALITY_TITLES[m], fontsize=9)
        if rows == 2:
            shown = axes[1, c + 1].imshow(images[c] - slices.healthy[index][c], cmap="RdBu_r", vmin=-0.6, vmax=0.6)
            axes[1, c + 1].set_title("lesion − healthy", fontsize=9)
    if rows == 2:
        axes[1, 0].set_visible(False)
        fig.colorbar(shown, ax=axes[1, 1:], shrink=0.8)
    for ax in axes.flat:
        ax.axis("off")
    return fig


def render_comparison(canvases, edits, renderers: dict):
    """For each edit (canvas index, labels): the labels, then per contrast the physics
    render and each renderer's difference to it ({name: (canvas, labels) -> 4 x H x W})."""
    if not edits:
        raise ValueError("Pass at least one (canvas index, labels) edit.")
    columns = 1 + len(CONTRASTS) * (1 + len(renderers))
    fig, axes = plt.subplots(len(edits), columns, figsize=(1.5 * columns, 1.6 * len(edits)), layout="constrained",
                             squeeze=False)
    for row, (index, labels) in enumerate(edits):
        canvas = canvases[index]
        truth = canvas.physics(labels)
        renders = {name: fn(canvas, labels) for name, fn in renderers.items()}
        _labels_over(axes[row, 0], canvas.healthy[0], labels, "request")
        for c, m in enumerate(CONTRASTS):
            col = 1 + c * (1 + len(renderers))
            axes[row, col].imshow(truth[c], cmap="gray", vmin=0, vmax=1)
            axes[row, col].set_title(f"{MODALITY_TITLES[m]} physics", fontsize=8)
            for j, (name, image) in enumerate(renders.items()):
                shown = axes[row, col + 1 + j].imshow(image[c] - truth[c], cmap="RdBu_r", vmin=-0.5, vmax=0.5)
                axes[row, col + 1 + j].set_title(f"{name} − physics", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.colorbar(shown, ax=axes[:, -1], shrink=0.8, label="difference (normalised units)")
    return fig
