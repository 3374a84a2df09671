"""How sharp and how noisy an image is, in physical units (chapter 08's enhancement).

- ``resolution_fwhm_mm``: the effective resolution. The image is compared with the sharp
  label map of the same anatomy (tissues, tumour): each label's indicator is blurred by a
  Gaussian of growing width, the image is fitted as a sum of them (one intensity per
  label, so any contrast fits: a low-field T1w and a 3 T T1w alike), and the width whose
  fit is closest is the answer. This is the edge-spread method applied to every tissue
  boundary of the slice at once: a Gaussian edge of this FWHM rises from 10 % to 90 % over
  1.09 FWHM.
- ``blur_fwhm_mm``: the course's sharpness ruler for a synthetic image. Against the
  noise-free truth of the same scan: the FWHM of the Gaussian that, applied to the truth,
  best explains the image (least squares with a gain and an offset). 0 = as sharp as the
  truth; a known Gaussian blur reads as its own FWHM. Noise in the image is independent of
  the truth, so it does not move the fit (tested: stable at the phantom's SNR for blurs
  from about half a pixel up; below that, noise can read as up to ~1 mm of blur). A
  gradient-energy ratio against the acquired image, which the course used before,
  counts noise as sharpness: a 0.5-pixel blur alone halved it.
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


def _blur_residual(image: np.ndarray, indicators: np.ndarray, mask: np.ndarray, fwhm_px: float) -> float:
    """Mean squared residual of ``image`` fitted, inside ``mask``, by the label indicators
    (L x H x W) blurred to ``fwhm_px``: one intensity per label."""
    sigma = fwhm_px / FWHM_PER_SIGMA
    blurred = np.stack([ndimage.gaussian_filter(i, sigma) if fwhm_px > 0 else i for i in indicators])
    design = blurred[:, mask].T
    coef, *_ = np.linalg.lstsq(design, image[mask], rcond=None)
    return float(np.mean((design @ coef - image[mask]) ** 2))


def resolution_fwhm_mm(images, labels, masks, pixel_mm: float, max_fwhm_mm: float = 12.0,
                       step_mm: float = 0.25) -> float:
    """The median over slices of the Gaussian FWHM (mm) that best explains each ``images``
    slice by its ``labels`` slice (integer label map: tissue codes) inside ``masks``
    (arrays N x H x W, or one H x W)."""
    images, labels, masks = (np.atleast_3d(np.asarray(a).T).T for a in (images, labels, masks))
    if not images.shape == labels.shape == masks.shape:
        raise ValueError(f"images, labels and masks must have one shape; got {images.shape}, {labels.shape}, "
                         f"{masks.shape}.")
    widths = np.arange(0.0, max_fwhm_mm + step_mm / 2, step_mm)
    best = []
    for image, label, mask in zip(images.astype(np.float64), labels, masks.astype(bool)):
        if mask.sum() < 10:
            continue
        indicators = np.stack([label == value for value in np.unique(label)]).astype(np.float64)
        residuals = [_blur_residual(image, indicators, mask, w / pixel_mm) for w in widths]
        best.append(widths[int(np.argmin(residuals))])
    if not best:
        raise ValueError("No slice has a mask of 10 pixels or more: nothing to measure the resolution on.")
    return float(np.median(best))


MIN_BLUR_FIT_R2 = 0.3


def blur_fwhm_mm(image, reference, mask, pixel_mm: float, max_fwhm_mm: float = 8.0,
                 step_mm: float = 0.5) -> float:
    """The extra blur (Gaussian FWHM, mm) of ``image`` against ``reference`` (its noise-free
    truth), fitted over all slices given at once (N x H x W, or one H x W: one subject's
    slices, so that the fit pools their pixels) inside ``mask``; the grid minimum is refined
    by a parabola through its neighbours. NaN when even the best fit explains less than
    ``MIN_BLUR_FIT_R2`` of the image's variance: an image that does not resemble its truth
    (an untrained model's) has no blur to read, and would otherwise read as sharp."""
    images, references, masks = (np.atleast_3d(np.asarray(a).T).T for a in (image, reference, mask))
    if not images.shape == references.shape == masks.shape:
        raise ValueError(f"image, reference and mask must have one shape; got {images.shape}, "
                         f"{references.shape}, {masks.shape}.")
    masks = masks.astype(bool)
    if masks.sum() < 10:
        raise ValueError("The mask holds fewer than 10 pixels: nothing to measure the blur on.")
    target = images[masks].astype(np.float64)
    references = references.astype(np.float64)
    widths = np.arange(0.0, max_fwhm_mm + step_mm / 2, step_mm)
    residuals = []
    for width in widths:
        sigma = (0.0, width / FWHM_PER_SIGMA / pixel_mm, width / FWHM_PER_SIGMA / pixel_mm)  # in-plane only
        blurred = ndimage.gaussian_filter(references, sigma) if width > 0 else references
        design = np.stack([blurred[masks], np.ones(len(target))], 1)
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        residuals.append(float(np.mean((design @ coef - target) ** 2)))
    i = int(np.argmin(residuals))
    if residuals[i] > (1 - MIN_BLUR_FIT_R2) * target.var():
        return float("nan")
    if 0 < i < len(widths) - 1:
        left, mid, right = residuals[i - 1:i + 2]
        curvature = left - 2 * mid + right
        if curvature > 0:
            return float(widths[i] + 0.5 * (left - right) / curvature * step_mm)
    return float(widths[i])


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
