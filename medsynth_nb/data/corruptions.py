"""Corrupted inputs for chapter 05: does a model's uncertainty rise when its input is
unlike anything it was trained on?

The chapter uses two artefact families, the two a deployed MR synthesis model meets most:

- ``add_noise``: more noise than in training, as in low-dose or fast (accelerated,
  low-SNR) scans. Magnitude images have Rician noise: the scanner's complex signal gets
  Gaussian noise in both channels and the image is its magnitude, which also lifts the
  dark background (Gudbjartsson & Patz, MRM 1995).
- ``motion_artefact``: patient motion, the commonest MR artefact. An MR image is acquired
  line by line in k-space (one phase-encode line per repetition); when the head moves
  between lines, those lines see a shifted head, and the image gets ghosts along the
  phase-encode direction. Simulated here as in Shaw et al., MIDL 2019 ("MRI k-space
  motion artefact augmentation: model robustness and task-specific uncertainty"):
  replace some k-space lines by those of a translated copy of the image.

Images are floats in [0, 1], H x W or N x H x W (or any leading axes, e.g. a torch
B x C x H x W batch); each function returns the same type, shape and dtype, clipped
to [0, 1]. Rows are the phase-encode direction. The same seed gives the same corruption.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _as_float_images(images) -> tuple[np.ndarray, Callable]:
    """A float64 numpy copy of ``images`` (at least 2-D), and a function that turns a
    result back into the caller's type and dtype (a torch tensor stays a tensor, on its
    device)."""
    if hasattr(images, "detach"):
        array = images.detach().cpu().numpy()
        back = images.new_tensor  # same dtype and device as the input
    else:
        array = np.asarray(images)
        back = lambda out: out.astype(array.dtype)  # noqa: E731
    if array.ndim < 2 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"images must be float images in [0, 1] shaped H x W or N x H x W; got {array.dtype} "
                         f"{array.shape}. Normalise them first (e.g. medsynth_nb.data.normalize).")
    return array.astype(np.float64), back


def add_noise(images, sigma: float, seed: int = 0):
    """Rician noise: sqrt((x + n1)^2 + n2^2) with n1, n2 ~ N(0, sigma^2), clipped to
    [0, 1]. Where the signal is well above sigma this is about Gaussian with standard
    deviation sigma; in the background it is positive (Rayleigh), as on a scanner."""
    if sigma < 0:
        raise ValueError(f"sigma={sigma} must be >= 0 (the noise standard deviation, in image units).")
    x, back = _as_float_images(images)
    rng = np.random.default_rng(seed)
    real, imaginary = rng.normal(0, sigma, (2, *x.shape))
    return back(np.clip(np.hypot(x + real, imaginary), 0, 1))


def _moved_lines(image: np.ndarray, lines: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """The k-space of ``image`` with each row in ``lines`` taken from the image translated
    by the matching (dy, dx) in ``shifts``: a translation is a phase ramp in k-space, so
    sub-pixel shifts need no interpolation."""
    kspace = np.fft.fft2(image)
    ky = np.fft.fftfreq(image.shape[0])[lines, None]  # cycles per pixel
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    dy, dx = shifts[:, :1], shifts[:, 1:]
    kspace[lines] *= np.exp(-2j * np.pi * (ky * dy + kx * dx))
    return kspace


def motion_artefact(images, severity: float = 0.3, seed: int = 0, max_shift_px: float = 4):
    """Rigid in-plane motion during the scan: in each image's k-space, a random
    ``severity`` fraction of the phase-encode lines (rows) is acquired with the head
    translated by a random shift of up to ``max_shift_px`` pixels in each direction
    (one shift per line); the result is the magnitude of the inverse FFT.

    Ghosts of bright structures appear along the columns (the phase-encode direction).
    ``severity=0`` returns the input (up to float error). Rotations are left out:
    translations alone give the characteristic ghosting.
    """
    if not 0 <= severity <= 1:
        raise ValueError(f"severity={severity} must be in [0, 1]: the fraction of k-space lines acquired moved.")
    if max_shift_px < 0:
        raise ValueError(f"max_shift_px={max_shift_px} must be >= 0 (the largest translation, in pixels).")
    x, back = _as_float_images(images)
    height = x.shape[-2]
    rng = np.random.default_rng(seed)
    flat = x.reshape(-1, *x.shape[-2:])
    out = np.empty_like(flat)
    for i, image in enumerate(flat):
        lines = rng.choice(height, size=round(severity * height), replace=False)
        shifts = rng.uniform(-max_shift_px, max_shift_px, (len(lines), 2))
        out[i] = np.abs(np.fft.ifft2(_moved_lines(image, lines, shifts)))
    return back(np.clip(out.reshape(x.shape), 0, 1))
