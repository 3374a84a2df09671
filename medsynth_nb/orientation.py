"""Slice geometry shared by every image of the course.

Volumes are ``[x, y, z]`` arrays in RAS (x to the right, y anterior, z superior); pictures
show axial slices upright (anterior up) as ``[z, rows, cols]``. The functions here are the
only place that knows the transpose. Every axial grid, phantom or resampled real scan,
spans ``FOV_MM`` in-plane.
"""
from __future__ import annotations

import numpy as np

FOV_MM = 230.0  # in-plane field of view of the axial grids (a whole adult head with margin)


def display_slices(volume: np.ndarray) -> np.ndarray:
    """A slab [x, y, z] as axial slices in display orientation: [z, rows = -y, cols = x]."""
    return np.ascontiguousarray(np.transpose(volume[:, ::-1, :], (2, 1, 0)))


def slab_from_display(slices: np.ndarray) -> np.ndarray:
    """The inverse of ``display_slices``: [z, rows, cols] -> a slab [x, y, z]."""
    return np.ascontiguousarray(np.transpose(slices, (2, 1, 0))[:, ::-1, :])


def axial(volume: np.ndarray, k: int) -> np.ndarray:
    """Slice ``k`` of an ``[x, y, z]`` volume in display orientation (anterior up)."""
    return volume[:, ::-1, k].T
