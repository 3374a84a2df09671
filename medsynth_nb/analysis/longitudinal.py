"""What chapter 08 measures about forecast follow-up scans, on held-out subjects: the image
against the real follow-up, and the tumour's volume change read from it.

Forecasts are ``{method: E x H x W}`` arrays, one image per entry of a ``FollowUpSlices``
test set (``models.longitudinal.forecast_set``), and masks ``{method: E x H x W}`` boolean
whole-tumour masks. Two baselines need no network:

- ``no_change``: the last prior scan as the forecast. Its image error is what the change
  costs; its volume change is zero by construction.
- ``extrapolated_labels``: the tumour's outline moved on in time. The signed distance to
  the outline of each prior's tumour (negative inside) is extrapolated linearly to the
  target day and cut at zero (level sets, as in shape interpolation between slices), inside
  the skull: a front moving at constant speed is followed exactly. It needs two priors, and
  it overshoots a tumour whose growth slows down, as a Gompertz tumour's does.

A forecast image's tumour is read with a segmenter (``segment_forecast``), e.g. a
``LesionSegmenter(in_channels=1)`` trained on the training subjects' visits
(``LongitudinalData.visit_slices``). Tables have one row per method, subject and target
visit: the slices of one subject are not independent samples, the subjects are.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from medsynth_nb.metrics.image import mae, psnr
from medsynth_nb.models.lesion_segmenter import dice, segment_images

INTRACRANIAL = (1, 2, 3, 6)  # tissue codes (phantom.TISSUE_LABELS) where a tumour can grow: csf, gm, wm, tumour


def no_change(slices) -> np.ndarray:
    """The last prior's acquired image for every entry, E x H x W."""
    entries = slices.entries()
    return slices.images[entries["slice"], entries["last_prior"]]


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Distance in pixels to the outline of a 2-D ``mask``: positive outside, negative inside.
    The outline runs halfway between the pixels in and out of the mask, so zero lies there."""
    mask = np.asarray(mask, bool)
    return np.where(mask, 0.5 - ndimage.distance_transform_edt(mask), ndimage.distance_transform_edt(~mask) - 0.5)


def extrapolated_labels(slices) -> np.ndarray:
    """Each entry's whole tumour (labels > 0) extrapolated in time from its last two priors
    and kept inside the skull, E x H x W bool (see the module docstring). With one prior, or
    where a prior has no tumour in the slice (no outline to move), the last prior's mask is
    kept unchanged."""
    entries = slices.entries()
    row = entries["slice"][:, None]
    visits = slices.prior_visits()
    priors, days = slices.tumor[row, visits] > 0, slices.days[row, visits]
    target_day = entries["target_day"]
    out = priors[:, -1].copy()
    if slices.n_priors < 2:
        return out
    for i, (earlier, last) in enumerate(priors[:, -2:]):
        if not earlier.any() or not last.any():
            continue
        step = (target_day[i] - days[i, -1]) / (days[i, -1] - days[i, -2])
        last_distance = signed_distance(last)
        out[i] = last_distance + step * (last_distance - signed_distance(earlier)) < 0
    return out & np.isin(slices.tissue[row[:, 0]], INTRACRANIAL)


def segment_forecast(predict, forecasts: dict, device="cpu") -> dict[str, np.ndarray]:
    """Whole-tumour masks (labels > 0) of every forecast, read by ``predict`` (B x 1 x H x W
    images -> B x 1 x H x W labels, e.g. ``LesionSegmenter(in_channels=1).predict``)."""
    return {name: segment_images(predict, np.asarray(stack, np.float32)[:, None], device) > 0
            for name, stack in forecasts.items()}


def _check(stack: np.ndarray, slices, what: str) -> np.ndarray:
    stack = np.asarray(stack)
    expected = (slices.n_entries, *slices.images.shape[2:])
    if stack.shape != expected:
        raise ValueError(f"{what} has shape {stack.shape}; expected one image per entry, {expected} "
                         "(models.longitudinal.forecast_set gives that order).")
    return stack


def forecast_table(forecasts: dict, slices) -> pd.DataFrame:
    """MAE and PSNR inside the head against the acquired follow-up, per method, subject and
    target visit (the mean over the subject's slices), with the days from the last prior.
    Not against the phantom's noise-free image: that has no receive-field bias, which every
    visit of a subject shares and a forecast rightly keeps (and the noise is small beside it)."""
    entries = pd.DataFrame(slices.entries())
    every = slices.batch(None, np.arange(slices.n_entries))
    head = every["tissue"] > 0
    frames = []
    for method, stack in forecasts.items():
        images = torch.from_numpy(_check(stack, slices, f"Forecast {method!r}").astype(np.float32))[:, None]
        frames.append(entries.assign(method=method, mae=mae(images, every["target"], head).numpy(),
                                     psnr=psnr(images, every["target"], head).numpy()))
    per_entry = pd.concat(frames)
    return (per_entry.groupby(["method", "subject", "target"], sort=False)[["gap_days", "mae", "psnr"]]
            .mean().reset_index())


def volume_table(masks: dict, slices) -> pd.DataFrame:
    """Per method, subject and target visit: the tumour volume change from the last prior to
    the target (ml, over the subject's slab: pixel area x slice gap), true and predicted, and
    the Dice of the predicted tumour against the target's."""
    entries = pd.DataFrame(slices.entries())
    truth = slices.tumor[entries["slice"], entries["target"]] > 0
    last = slices.tumor[entries["slice"], entries["last_prior"]] > 0
    rows = []
    for method, stack in masks.items():
        predicted = _check(stack, slices, f"Mask {method!r}").astype(bool)
        for (subject, target), part in entries.groupby(["subject", "target"], sort=False):
            index = part.index.to_numpy()
            before = last[index].sum() * slices.voxel_ml
            rows.append({"method": method, "subject": subject, "target": target,
                         "gap_days": float(part["gap_days"].iloc[0]),
                         "true_change_ml": truth[index].sum() * slices.voxel_ml - before,
                         "predicted_change_ml": predicted[index].sum() * slices.voxel_ml - before,
                         "dice": dice(predicted[index], truth[index])})
    table = pd.DataFrame(rows)
    table["error_ml"] = table["predicted_change_ml"] - table["true_change_ml"]
    return table


def volume_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per method of a ``volume_table``: mean true and predicted change (ml), mean
    absolute error of the change (ml) and mean Dice over subjects and target visits."""
    return table.groupby("method", sort=False).agg(
        true_change_ml=("true_change_ml", "mean"), predicted_change_ml=("predicted_change_ml", "mean"),
        abs_error_ml=("error_ml", lambda error: error.abs().mean()), dice=("dice", "mean"))


def error_by_gap(table: pd.DataFrame, bins) -> pd.DataFrame:
    """The mean of every score of a ``forecast_table`` or ``volume_table`` per method and
    range of ``gap_days`` (``bins``: edges in days, as ``pandas.cut`` takes them), with the
    number of rows (subject and target) in each."""
    if "gap_days" not in table.columns:
        raise ValueError(f"error_by_gap needs a gap_days column (forecast_table, volume_table); this table has "
                         f"{list(table.columns)}.")
    scores = [c for c in table.select_dtypes("number").columns if c not in ("gap_days", "target")]
    grouped = table.groupby(["method", pd.cut(table["gap_days"], bins)], observed=True, sort=False)
    return grouped[scores].mean().join(grouped.size().rename("n")).reset_index()
