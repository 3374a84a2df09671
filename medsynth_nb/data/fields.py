"""Smooth random fields in millimetre space, for deformations, bias fields, skull
thickness and tumour outlines.

A field is a sum of random plane waves with wavelengths in a chosen range: smooth by
construction, cheap to evaluate at any set of points, and the same at every resolution
(which a noise image blurred on a voxel grid is not).
"""
from __future__ import annotations

import numpy as np


def plane_wave_field(seed: int | list[int], coords_mm: np.ndarray, wavelength_mm: tuple[float, float],
                     channels: int = 1, n_waves: int = 8) -> np.ndarray:
    """Field of shape ``coords_mm.shape[:-1] + (channels,)`` with zero mean and about unit
    variance per channel, for the same ``seed`` (an integer or a list of them, as numpy's
    ``default_rng`` takes) always the same field."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(channels, n_waves, 3))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    wavenumbers = 2 * np.pi / rng.uniform(*wavelength_mm, size=(channels, n_waves, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(channels, n_waves))
    k = (directions * wavenumbers).astype(np.float32)           # channels x waves x 3
    flat = coords_mm.reshape(-1, 3).astype(np.float32)
    waves = np.cos(np.einsum("nd,cwd->ncw", flat, k) + phases.astype(np.float32))
    field = waves.sum(-1) * np.float32(np.sqrt(2.0 / n_waves))  # cos has variance 1/2
    return field.reshape(coords_mm.shape[:-1] + (channels,))
