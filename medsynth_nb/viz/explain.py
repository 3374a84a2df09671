"""Figures of interpretability and uncertainty (chapter 05): the explain panel, uncertainty
maps, sparsification and calibration curves, attribution maps, the randomization check."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medsynth_nb.viz.attention import ATTENTION_CMAP
from medsynth_nb.viz.images import MODALITY_TITLES, as_numpy, image_2d, outline_box


def explain_panel(inputs: dict, output, uncertainty, *, truth=None, attribution=None, region=None,
                  shares: pd.Series | None = None, captions: dict[str, str] | None = None,
                  title: str = "", target: str = ""):
    """Chapter 05's "explain this image" picture. Top row: the inputs ({modality: H x W}), the
    synthetic ``output`` and the ``truth`` when there is one; bottom row: the absolute error
    (with a truth), the ``uncertainty`` (std), the ``attribution`` of the ``region`` (a box
    (r0, r1, c0, c1), outlined) to the first input's pixels (summed over inputs) and the
    share of each input sequence. ``captions``: plain-language text per panel, keyed
    "inputs", "output", "truth", "error", "uncertainty", "attribution"."""
    import textwrap

    captions = captions or {}
    inputs = {m: image_2d(v) for m, v in inputs.items()}
    output, uncertainty = image_2d(output), image_2d(uncertainty)
    name = MODALITY_TITLES.get(target, target)
    n_top = len(inputs) + 1 + (truth is not None)
    n_cols = max(n_top, 4)
    fig, axes = plt.subplots(2, n_cols, figsize=(2.55 * n_cols, 6.4), layout="constrained", squeeze=False)
    for ax in axes.flat:
        ax.axis("off")

    def show(ax, image, heading, caption_key, **kw):
        im = ax.imshow(image, **{"cmap": "gray", "vmin": 0, "vmax": 1, **kw})
        ax.set_title(heading, fontsize=9)
        if captions.get(caption_key):
            ax.text(0.5, -0.03, textwrap.fill(captions[caption_key], 34), transform=ax.transAxes, ha="center",
                    va="top", fontsize=7.5)
        return im

    top = list(axes[0])
    for i, (m, image) in enumerate(inputs.items()):
        show(top[i], image, f"input: {MODALITY_TITLES.get(m, m)}", "inputs" if i == 0 else "")
    show(top[len(inputs)], output, f"synthetic {name}", "output")
    if truth is not None:
        truth = image_2d(truth)
        show(top[len(inputs) + 1], truth, f"acquired {name} (truth)", "truth")
        error = np.abs(output - truth)
        im = show(axes[1, 0], error, "|synthetic − truth|", "error", cmap="inferno", vmax=max(0.25, float(error.max())))
        fig.colorbar(im, ax=axes[1, 0], shrink=0.7)
    else:
        axes[1, 0].text(0.5, 0.5, "no truth for this image:\nthe error cannot be shown", ha="center", va="center",
                        fontsize=8, transform=axes[1, 0].transAxes)
    im = show(axes[1, 1], uncertainty, "uncertainty (std)", "uncertainty", cmap="viridis",
              vmax=float(np.percentile(uncertainty, 99.5)) or 1.0)
    fig.colorbar(im, ax=axes[1, 1], shrink=0.7)
    if attribution is not None:
        values = np.abs(as_numpy(attribution)).reshape(-1, *output.shape).sum(0)
        show(axes[1, 2], next(iter(inputs.values())), "attribution of the box", "attribution")
        axes[1, 2].imshow(values, cmap=ATTENTION_CMAP, alpha=0.65, vmin=0, vmax=values.max() or 1.0)
    else:
        axes[1, 2].text(0.5, 0.5, textwrap.fill(captions.get("attribution", "no attribution"), 30), ha="center",
                        va="center", fontsize=8, transform=axes[1, 2].transAxes)
    if region is not None:
        for ax in (axes[0, len(inputs)], axes[1, 2]):
            outline_box(ax, region)
    if shares is not None:
        ax = axes[1, 3]
        ax.axis("on")
        ax.barh([MODALITY_TITLES.get(m, m) for m in shares.index], shares.values, color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title("which input it used here", fontsize=9)
        ax.set_xlabel("share of |attribution|", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def uncertainty_maps(estimates: dict[str, dict], truth: np.ndarray, index: int):
    """One slice (``index``) through every method's eyes. Columns: the truth, then per
    method ({name: ``uncertainty.estimate_set`` result}) its synthetic image's error (one
    colour scale for all) and its uncertainty."""
    truth = image_2d(truth[index])
    n = len(estimates)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.3 * (n + 1), 4.9), layout="constrained", squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(truth, cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("truth", fontsize=9)
    errors = {name: np.abs(e["mean"][index] - truth) for name, e in estimates.items()}
    stds = {name: e["std"][index] for name, e in estimates.items()}
    error_max = max(float(np.percentile(np.concatenate([e.ravel() for e in errors.values()]), 99.5)), 1e-3)
    for col, name in enumerate(estimates, start=1):
        im_e = axes[0, col].imshow(errors[name], cmap="inferno", vmin=0, vmax=error_max)
        axes[0, col].set_title(f"{name}\n|error|", fontsize=8.5)
        std = stds[name]
        # Each method's std on its own scale: their ranking of pixels, not their units, is compared.
        axes[1, col].imshow(std, cmap="viridis", vmin=0, vmax=float(np.percentile(std, 99.5)) or 1.0)
        axes[1, col].set_title(f"uncertainty (std)\nmax {std.max():.3f}", fontsize=8.5)
    fig.colorbar(im_e, ax=list(axes[0, 1:]), shrink=0.8, label="|error|")
    return fig


def aleatoric_epistemic(estimate: dict, index: int, name: str = "", mask=None):
    """The two parts of one method's uncertainty on one slice, side by side with the total.
    With ``mask`` (N x H x W, e.g. the head) only its pixels are shown and averaged: outside
    the head a predicted scale was never trained against anything but air."""
    keep = np.ones_like(estimate["std"][index], bool) if mask is None else np.asarray(mask[index], bool)
    parts = {k: np.where(keep, estimate[k][index], 0.0) for k in ("aleatoric", "epistemic", "std")}
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.0), layout="constrained")
    titles = {"aleatoric": "aleatoric (in the data)", "epistemic": "epistemic (in the model)", "std": "total"}
    vmax = float(np.percentile(parts["std"][keep], 99.5)) or 1.0
    for ax, (key, image) in zip(axes, parts.items()):
        im = ax.imshow(image, cmap="viridis", vmin=0, vmax=vmax)
        ax.set_title(f"{titles[key]}\nmean {image[keep].mean():.4f}", fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="std")
    if name:
        fig.suptitle(name, fontsize=10)
    return fig


def sparsification_plot(curves: dict[str, pd.DataFrame]):
    """Sparsification curves ({method: ``metrics.uncertainty.sparsification`` table}): remove the
    most uncertain pixels first; the error of what is left should fall as fast as when the
    truly worst pixels are removed (the oracle, dashed, one per method)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    for i, (name, curve) in enumerate(curves.items()):
        color = f"C{i}"
        ax.plot(curve["fraction_removed"], curve["by_uncertainty"], color=color, label=name)
        ax.plot(curve["fraction_removed"], curve["oracle"], color=color, ls="--", lw=0.8)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":", label="random order")
    ax.set_xlabel("fraction of pixels removed (most uncertain first)")
    ax.set_ylabel("mean error of the rest / mean error")
    ax.legend(fontsize=8)
    ax.set_ylim(bottom=0)
    return fig


def calibration_plot(coverages: dict[str, pd.DataFrame]):
    """Observed against nominal coverage of the predicted intervals ({method:
    ``metrics.uncertainty.interval_coverage`` table}); on the diagonal = calibrated, below it =
    over-confident (intervals too narrow)."""
    fig, ax = plt.subplots(figsize=(4.4, 4.2), layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="calibrated")
    for name, table in coverages.items():
        ax.plot(table["nominal"], table["observed"], "o-", label=name)
    ax.set_xlabel("nominal coverage of the interval")
    ax.set_ylabel("observed: truth inside the interval")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return fig


def attribution_maps(maps: dict, image, region: tuple[int, int, int, int] | None = None, *, title: str = ""):
    """Attribution maps of one output region ({method: C x H x W or H x W}) over the input
    ``image``; |attribution| summed over input channels, each on its own scale (methods
    differ in units), the region outlined."""
    image = image_2d(image)
    n = len(maps) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.8), layout="constrained", squeeze=False)
    axes = axes[0]
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input", fontsize=9)
    for ax, (name, values) in zip(axes[1:], maps.items()):
        values = np.abs(as_numpy(values)).reshape(-1, *image.shape).sum(0)
        ax.imshow(image, cmap="gray")
        ax.imshow(values, cmap=ATTENTION_CMAP, alpha=0.7, vmin=0, vmax=values.max() or 1.0)
        ax.set_title(name.replace("_", " "), fontsize=9)
    for ax in axes:
        if region is not None:
            outline_box(ax, region, lw=1.2)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def randomization_plot(table: pd.DataFrame):
    """The cascading randomisation check (``explain.cascading_randomisation``'s table: columns
    method, stage, rank_correlation, in stage order): per method, how similar its map stays to the
    trained model's as layers are re-initialised from the output backwards. Flat near 1 =
    the map ignores the model."""
    stages = list(dict.fromkeys(table["stage"]))
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for method, rows in table.groupby("method", sort=False):
        rows = rows.set_index("stage").loc[stages]
        ax.plot(range(len(stages)), rows["rank_correlation"], "o-", label=method.replace("_", " "))
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(stages)), stages, rotation=20, ha="right", fontsize=8)
    ax.set_xlabel("layers re-initialised (from the output backwards)")
    ax.set_ylabel("rank correlation with the\ntrained model's map")
    ax.set_ylim(-0.2, 1.05)
    ax.legend(fontsize=8)
    return fig
