"""Figures of chapter 08's part 2: a tumour that grows, and forecasts of its next scan."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medsynth_nb.viz.images import overlay


def growth_curves(slices, n_subjects: int = 6):
    """The whole-tumour volume over the slab at every visit, per subject (the first
    ``n_subjects``): each tumour grows at a rate of its own, which one scan cannot show."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for subject in slices.subjects[:n_subjects]:
        rows = slices.subject_ids == subject
        volume = (slices.tumor[rows] > 0).sum((0, 2, 3)) * slices.voxel_ml
        rate = float(slices.rate_per_day[rows][0])
        ax.plot(slices.days[rows][0], volume, "o-", label=f"{subject}: a = {rate:.3f}/day")
    ax.set_xlabel("day of the visit")
    ax.set_ylabel("tumour + oedema in the slab (ml)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def forecast_gallery(forecasts: dict, slices, entry: int):
    """One test entry: its prior scans, the real follow-up (tumour outlined) and every
    forecast with its |error| underneath."""
    info = pd.DataFrame(slices.entries()).iloc[entry]
    row, priors = int(info["slice"]), slices.prior_visits()[entry]
    truth = slices.images[row, int(info["target"])]
    columns = [(slices.images[row, v], f"prior: day {slices.days[row, v]:.0f}") for v in priors]
    columns.append((truth, f"real follow-up: day {info['target_day']:.0f}"))
    columns += [(stack[entry], name) for name, stack in forecasts.items()]
    fig, axes = plt.subplots(2, len(columns), figsize=(2.1 * len(columns), 4.4), squeeze=False)
    for c, (image, title) in enumerate(columns):
        axes[0, c].imshow(image, cmap="gray", vmin=0, vmax=1)
        axes[0, c].set_title(title, fontsize=8)
        if c >= len(priors) + 1:
            axes[1, c].imshow(np.abs(image - truth), cmap="magma", vmin=0, vmax=0.5)
            axes[1, c].set_title("|forecast − real|", fontsize=8)
    overlay(axes[0, len(priors)], slices.tumor[row, int(info["target"])])
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"{info['subject']}: {info['gap_days']:.0f} days after the last prior", y=1.0)
    fig.tight_layout()
    return fig


def error_vs_gap(table: pd.DataFrame, metric: str = "mae"):
    """``metric`` of every method against the days from the last prior to the forecast
    (one point per test subject and target visit, a line through the methods' trends)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for method, rows in table.groupby("method", sort=False):
        rows = rows.sort_values("gap_days")
        line, = ax.plot(rows["gap_days"], rows[metric], "o", alpha=0.5, label=method)
        if rows["gap_days"].nunique() > 1:
            slope, intercept = np.polyfit(rows["gap_days"], rows[metric], 1)
            ax.plot(rows["gap_days"], intercept + slope * rows["gap_days"], color=line.get_color())
    ax.set_xlabel("days from the last prior scan to the forecast")
    ax.set_ylabel(metric.upper() if metric in ("mae", "psnr") else metric)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
