"""Figures of chapter 07: the null-space split of an image, reconstructions side by side
with their errors, metrics against acceleration / views / dose, and lesion close-ups."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from medsynth_nb.data.intensity import to_hu
from medsynth_nb.data.inverse_problems import PROBLEMS, mri_operator, setting_column
from medsynth_nb.viz.images import WINDOWS_PHYSICAL, overlay


def _display(image: np.ndarray, problem: str) -> tuple[np.ndarray, float, float]:
    """An image in display units (HU for CT) and its window."""
    if problem == "ct":
        return to_hu(image), *WINDOWS_PHYSICAL["ct"]
    return image, 0.0, 1.0


def null_space_split(truth: np.ndarray, estimates: dict[str, np.ndarray], acceleration: float):
    """Row 1: an image, what the measurements fix (A^H A x, the range part) and what they
    say nothing about ((I - A^H A) x, the null-space part). Row 2: the null-space part that
    each method filled in, beside the truth's; a method that keeps the data differs from
    the truth only here."""
    operator = mri_operator(truth.shape[-1], acceleration)

    def split(image):
        x = torch.from_numpy(np.asarray(image, np.float32))[None, None]
        measured = operator.zero_filled(operator.forward(x))[0, 0].numpy()
        return measured, np.asarray(image) - measured

    measured, unmeasured = split(truth)
    rows, cols = (2 if estimates else 1), max(3, len(estimates) + 1)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.5 * rows), squeeze=False)
    limit = float(np.abs(unmeasured).max())
    panels = [(axes[0, 0], truth, "image x"), (axes[0, 1], measured, "measured part A$^H$A x"),
              (axes[0, 2], unmeasured, "null-space part (I − A$^H$A) x")]
    if estimates:
        panels.append((axes[1, 0], unmeasured, "truth's null-space part"))
        panels += [(axes[1, c], split(image)[1], f"{name}: filled in")
                   for c, (name, image) in enumerate(estimates.items(), start=1)]
    for ax, image, title in panels:
        signed = title != "image x" and not title.startswith("measured")
        ax.imshow(image, cmap="RdBu_r" if signed else "gray", vmin=-limit if signed else 0, vmax=limit if signed else 1)
        ax.set_title(title, fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"{acceleration:g}x undersampling: what the scanner measured, what a prior must supply", y=1.0)
    fig.tight_layout()
    return fig


def reconstruction_gallery(images: dict[str, np.ndarray], test, slice_index: int, *, settings=None,
                           error_max: float | None = None):
    """One slice at every setting (or those in ``settings``), one pair of rows each: each
    method's reconstruction and, below it, its |error| against the truth (last column)."""
    problem, name = test.problem, PROBLEMS[test.problem]["setting"]
    settings = test.settings if settings is None else list(settings)
    cols = len(images) + 1
    fig, axes = plt.subplots(2 * len(settings), cols, figsize=(2.0 * cols, 4.1 * len(settings)), squeeze=False)
    err_max = error_max or (300.0 if problem == "ct" else 0.25)
    for r, setting in enumerate(settings):
        entry = int(np.flatnonzero((test.setting == setting))[slice_index])
        truth, lo, hi = _display(test.truth[entry], problem)
        for c, (method, stack) in enumerate(images.items()):
            shown = _display(stack[entry], problem)[0]
            axes[2 * r, c].imshow(shown, cmap="gray", vmin=lo, vmax=hi)
            axes[2 * r, c].set_title(f"{method}\n{name} {setting:g}", fontsize=8)
            im = axes[2 * r + 1, c].imshow(np.abs(shown - truth), cmap="magma", vmin=0, vmax=err_max)
        axes[2 * r, -1].imshow(truth, cmap="gray", vmin=lo, vmax=hi)
        axes[2 * r, -1].set_title("truth", fontsize=8)
        axes[2 * r + 1, -1].imshow(truth, cmap="gray", vmin=lo, vmax=hi)
        overlay(axes[2 * r + 1, -1], test.tumor[entry])
        axes[2 * r + 1, -1].set_title("tumour", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.5, pad=0.02,
                 label="|error| (HU)" if problem == "ct" else "|error|")
    return fig


def metric_vs_setting(table: pd.DataFrame, metrics=("psnr", "ssim")):
    """Each method's mean (± sd over subjects) against the setting, one panel per metric;
    ``table`` is ``analysis.reconstruction.method_table``'s."""
    problem, setting = setting_column(table)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.3), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method, rows in table.groupby("method", sort=False):
            rows = rows.sort_values(setting)
            ax.errorbar(rows[setting], rows[metric], yerr=rows.get(f"{metric}_sd"), marker="o", capsize=3, label=method)
        ax.set_xlabel(setting)
        ax.set_ylabel(metric.upper().replace("_HU", " (HU)"))
        if setting == "dose":
            ax.set_xscale("log")  # 100 % to 1 %: two decades
        if PROBLEMS[problem]["larger_measures_more"]:
            ax.invert_xaxis()  # the measurement shrinks to the right, as acceleration grows
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def lesion_closeups(images: dict[str, np.ndarray], test, setting, *, half_width: int = 12):
    """The largest test tumour at one setting, cropped: truth (with its outline) and every
    method. Does the lesion survive, fade, or come back as something else?"""
    index = np.flatnonzero(test.setting == setting)
    area = test.tumor[index].reshape(len(index), -1).astype(bool).sum(1)
    entry = int(index[area.argmax()])
    rows, cols = np.nonzero(test.tumor[entry])
    r0 = int(np.clip(rows.mean() - half_width, 0, test.truth.shape[-2] - 2 * half_width))
    c0 = int(np.clip(cols.mean() - half_width, 0, test.truth.shape[-1] - 2 * half_width))
    crop = (slice(r0, r0 + 2 * half_width), slice(c0, c0 + 2 * half_width))
    truth, lo, hi = _display(test.truth[entry], test.problem)
    fig, axes = plt.subplots(1, len(images) + 1, figsize=(2.0 * (len(images) + 1), 2.4), squeeze=False)
    axes[0, 0].imshow(truth[crop], cmap="gray", vmin=lo, vmax=hi)
    axes[0, 0].contour(test.tumor[entry][crop] > 0, levels=[0.5], colors="yellow", linewidths=0.8)
    axes[0, 0].set_title("truth (tumour outlined)", fontsize=8)
    for c, (method, stack) in enumerate(images.items(), start=1):
        axes[0, c].imshow(_display(stack[entry], test.problem)[0][crop], cmap="gray", vmin=lo, vmax=hi)
        axes[0, c].set_title(method, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"A tumour no network saw in training — {PROBLEMS[test.problem]['setting']} {setting:g}", y=1.02)
    return fig


def sample_spread(samples: np.ndarray, truth: np.ndarray, tumor: np.ndarray | None = None):
    """Zero-shot reconstructions of one slice (``samples``: k x H x W): two samples, their
    mean, their spread (standard deviation) and the mean's |error|. The samples agree on
    everything measured; where they differ, the prior is guessing."""
    samples = np.asarray(samples)
    mean, spread = samples.mean(0), samples.std(0)
    error = np.abs(mean - truth)
    limit = float(max(spread.max(), error.max()))
    panels = [(samples[0], "sample 1", "gray", 1.0), (samples[1], "sample 2", "gray", 1.0),
              (mean, f"mean of {len(samples)}", "gray", 1.0), (spread, "spread (sd)", "magma", limit),
              (error, "|mean − truth|", "magma", limit)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6))
    for ax, (image, title, cmap, top) in zip(axes, panels):
        im = ax.imshow(image, cmap=cmap, vmin=0, vmax=top)
        if tumor is not None and tumor.any():
            ax.contour(tumor > 0, levels=[0.5], colors="cyan", linewidths=0.6)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=axes[-2:].tolist(), shrink=0.7)
    return fig
