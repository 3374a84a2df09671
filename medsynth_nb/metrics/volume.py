"""Volumes, not slices (chapter 09): what slice-by-slice synthesis does across the slices.

A 2-D model synthesises each axial slice on its own. Its errors then agree within a slice
and not from one slice to the next, and a sagittal or coronal view shows steps between the
slices. The error of the through-plane gradient measures this directly: the finite
difference between neighbouring slices, synthetic against true. It is 0 for a volume that
is its own truth and for any error that is the same in every slice, and it grows with
errors that change from slice to slice. ``discontinuity_index`` compares it with the
in-plane gradient error, so that a model that is simply worse everywhere does not look
discontinuous: about 1 for errors smooth in 3-D or independent per voxel alike, above 1
when the errors jump between slices.
"""
from __future__ import annotations

import numpy as np


def _gradient_error(prediction: np.ndarray, truth: np.ndarray, mask, axis: int) -> float:
    prediction, truth = np.asarray(prediction, np.float64), np.asarray(truth, np.float64)
    if prediction.shape != truth.shape or prediction.ndim != 3:
        raise ValueError(f"prediction and truth must be volumes of one shape (3-D); got {prediction.shape} and "
                         f"{truth.shape}.")
    if prediction.shape[axis] < 2:
        raise ValueError(f"A volume needs at least two slices along axis {axis} to have a gradient there; "
                         f"got shape {prediction.shape}.")
    error = np.abs(np.diff(prediction, axis=axis) - np.diff(truth, axis=axis))
    if mask is None:
        return float(error.mean())
    mask = np.asarray(mask, bool)
    if mask.shape != truth.shape:
        raise ValueError(f"mask has shape {mask.shape}; it must match the volume, {truth.shape}.")
    both = np.take(mask, range(1, mask.shape[axis]), axis=axis) & np.take(mask, range(mask.shape[axis] - 1), axis=axis)
    if not both.any():
        raise ValueError("The mask holds no two neighbouring voxels along this axis: nothing to measure.")
    return float(error[both].mean())


def through_plane_gradient_error(prediction, truth, mask=None, slice_axis: int = 0) -> float:
    """Mean |difference between neighbouring slices, prediction minus truth| (intensity units
    per slice step), over voxel pairs that are both inside ``mask`` (all if None)."""
    return _gradient_error(prediction, truth, mask, slice_axis)


def discontinuity_index(prediction, truth, mask=None, slice_axis: int = 0) -> float:
    """The through-plane gradient error over the mean in-plane one (both in-plane axes); NaN
    for a prediction without any error (nothing to compare)."""
    in_plane = [a for a in range(3) if a != slice_axis % 3]
    within = np.mean([_gradient_error(prediction, truth, mask, a) for a in in_plane])
    across = _gradient_error(prediction, truth, mask, slice_axis)
    if within == 0:
        return float("inf") if across > 0 else float("nan")
    return float(across / within)
