"""How sharp and how noisy an image is, in physical units (chapter 08's enhancement).

- ``resolution_fwhm_mm``: the effective resolution. The image is compared with a sharp
  truth of the same anatomy: the truth is blurred by Gaussians of growing width and the
  width whose blur (after a linear intensity fit) is closest to the image is the answer.
  This is the edge-spread method applied to every tissue boundary of the slice at once: a
  Gaussian edge of this FWHM rises from 10 % to 90 % over 1.09 FWHM.
- ``background_snr``: the two-region SNR of a magnitude image (mean signal in a tissue /
  noise sigma estimated from air, where the magnitude of pure noise is Rayleigh
  distributed with mean sigma * sqrt(pi / 2); as in NEMA MS 1).
- ``noise_in_region``: what is left for a processed image, whose air is no longer noise:
  the spread of its error inside a uniform tissue.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _blur_residual(image: np.ndarray, truth: np.ndarray, mask: np.ndarray, fwhm_px: float) -> float:
    blurred = ndimage.gaussian_filter(truth, fwhm_px / FWHM_PER_SIGMA) if fwhm_px > 0 else truth
    x, y = blurred[mask], image[mask]
    design = np.stack([x, np.ones_like(x)], 1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.mean((design @ coef - y) ** 2))


def resolution_fwhm_mm(images, truths, masks, pixel_mm: float, max_fwhm_mm: float = 12.0,
                       step_mm: float = 0.25) -> float:
    """The median over slices of the Gaussian FWHM (mm) that best turns each ``truths``
    slice into the ``images`` slice inside ``masks`` (arrays N x H x W, or one H x W)."""
    images, truths, masks = (np.atleast_3d(np.asarray(a).T).T for a in (images, truths, masks))
    if not images.shape == truths.shape == masks.shape:
        raise ValueError(f"images, truths and masks must have one shape; got {images.shape}, {truths.shape}, "
                         f"{masks.shape}.")
    widths = np.arange(0.0, max_fwhm_mm + step_mm / 2, step_mm)
    best = []
    for image, truth, mask in zip(images.astype(np.float64), truths.astype(np.float64), masks.astype(bool)):
        if mask.sum() < 10:
            continue
        residuals = [_blur_residual(image, truth, mask, w / pixel_mm) for w in widths]
        best.append(widths[int(np.argmin(residuals))])
    if not best:
        raise ValueError("No slice has a mask of 10 pixels or more: nothing to measure the resolution on.")
    return float(np.median(best))


def background_snr(images, signal_masks, air_masks) -> float:
    """Mean signal inside ``signal_masks`` over the noise sigma estimated from the
    magnitude in ``air_masks`` (Rayleigh mean = sigma sqrt(pi/2)), pooled over slices."""
    images = np.asarray(images, dtype=np.float64)
    air = images[np.asarray(air_masks, bool)]
    if air.size < 10:
        raise ValueError("The air mask holds fewer than 10 pixels: the noise cannot be estimated.")
    sigma = air.mean() / np.sqrt(np.pi / 2)
    return float(images[np.asarray(signal_masks, bool)].mean() / sigma)


def noise_in_region(images, truths, masks) -> float:
    """The standard deviation of (image - truth) inside ``masks``, pooled over slices: the
    noise a processed image still carries (a constant offset does not count)."""
    error = np.asarray(images, np.float64) - np.asarray(truths, np.float64)
    return float(error[np.asarray(masks, bool)].std())
