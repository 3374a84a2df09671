"""Realism: how far a set of synthetic images lies from real ones, as distributions.

PSNR and SSIM compare each synthetic image with its own truth; they reward the blurry
average where a model is unsure. A realism distance compares *populations*: do the
synthetic images, taken together, look like a sample of real ones? It needs no paired
truth, and it is blind to whether an image shows the right patient.

- ``frechet_distance``: the Fréchet distance between Gaussians fitted to the two feature
  sets, FID's formula (Heusel et al., NeurIPS 2017), computed by MONAI's ``FIDMetric``;
  the features come from a network trained in the course (``models.tissue_segmenter``),
  not from Inception weights to download.
- ``kernel_mmd``: the unbiased squared maximum mean discrepancy (Gretton et al., JMLR
  2012) by MONAI's ``MMDMetric``. MONAI's kernel is linear, which sees only the means; the
  features are first lifted to (x, x²) on the reference's standardised scale, so the kernel
  is quadratic and also sees the spread: a generator that always outputs the same image
  has the right mean, perhaps, but no spread. It is divided by the number of lifted
  features, so that its size does not grow with the feature count.
- ``texture_features``: radiomics-style hand-made features that need no network: first
  order (mean, standard deviation, skewness, kurtosis, percentiles inside the head) and the
  grey-level co-occurrence matrix (Haralick 1973: contrast, homogeneity, energy,
  correlation, at 1 and 2 pixels, averaged over four directions; scikit-image). pyradiomics
  computes the same families, but on Python 3.11 pip finds no wheel for it and its source
  packages fail to build (3.1.0's metadata names another version; 3.0.1's build fails).

Distances grow with the difference; 0 means the two samples have the same statistics.
With few images both are biased upwards (a real held-out set is not at 0 from the real
reference), so compare methods on sets of the same size.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from monai.metrics import FIDMetric, MMDMetric
from scipy.linalg import LinAlgWarning
from scipy.stats import kurtosis, skew
from skimage.feature import graycomatrix, graycoprops

GLCM_LEVELS = 32
GLCM_DISTANCES = (1, 2)
GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
GLCM_PROPERTIES = ("contrast", "homogeneity", "energy", "correlation")


def _check_features(reference, features) -> tuple[np.ndarray, np.ndarray]:
    reference, features = np.asarray(reference, np.float64), np.asarray(features, np.float64)
    if reference.ndim != 2 or features.ndim != 2 or reference.shape[1] != features.shape[1]:
        raise ValueError(f"Pass two N x F feature arrays with the same F; got {reference.shape} and {features.shape}.")
    if min(len(reference), len(features)) < 2:
        raise ValueError("A distance between distributions needs at least two images on each side.")
    return reference, features


def frechet_distance(reference, features) -> float:
    """FID's Fréchet distance between two N x F feature sets (MONAI ``FIDMetric``)."""
    reference, features = _check_features(reference, features)
    if reference.shape[1] == 1:  # MONAI squeezes a 1 x 1 covariance to a scalar; in 1-D the formula is this
        return float((reference.mean() - features.mean()) ** 2 + (reference.std(ddof=1) - features.std(ddof=1)) ** 2)
    with warnings.catch_warnings():
        # MONAI 1.6 passes scipy's deprecated ``disp`` to sqrtm; and a collapsed set (one image
        # repeated) has a singular covariance, whose square root scipy warns about but gets right.
        warnings.filterwarnings("ignore", message="The `disp` argument is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="Matrix is singular", category=LinAlgWarning)
        warnings.filterwarnings("ignore", message="invalid value encountered in scalar divide", category=RuntimeWarning)
        return float(FIDMetric()(torch.from_numpy(features), torch.from_numpy(reference)))


def kernel_mmd(reference, features, seed: int = 0) -> float:
    """Unbiased squared MMD with the quadratic lift of the module docstring (MONAI
    ``MMDMetric``). MONAI pairs the two sets row by row, so the larger set is subsampled
    (seeded) to the size of the smaller."""
    reference, features = _check_features(reference, features)
    n = min(len(reference), len(features))
    rng = np.random.default_rng(seed)
    pick = lambda x: x[np.sort(rng.choice(len(x), n, replace=False))] if len(x) > n else x  # noqa: E731
    centre, scale = reference.mean(0), reference.std(0) + 1e-8

    def lift(x: torch.Tensor) -> torch.Tensor:
        z = (x - torch.from_numpy(centre)) / torch.from_numpy(scale)
        return torch.cat([z, z**2 / np.sqrt(2)], 1)

    mmd = MMDMetric(y_mapping=lift)(torch.from_numpy(pick(reference)), torch.from_numpy(pick(features)))
    return float(mmd) / (2 * reference.shape[1])  # per lifted feature: comparable across feature counts


def texture_features(images, masks) -> np.ndarray:
    """Radiomics-style features (module docstring) of N x H x W images in [0, 1] inside the
    N x H x W ``masks`` (the head): N x F, F = 8 first-order + 4 GLCM properties x 2 distances."""
    images, masks = np.asarray(images, np.float64), np.asarray(masks, bool)
    if images.shape != masks.shape or images.ndim != 3:
        raise ValueError(f"Pass N x H x W images and masks of one shape; got {images.shape} and {masks.shape}.")
    rows = []
    for image, mask in zip(images, masks):
        if mask.sum() < 16:
            raise ValueError("A mask holds fewer than 16 pixels: texture needs a region; pass the head mask.")
        inside = image[mask]
        first = [inside.mean(), inside.std(), skew(inside), kurtosis(inside),
                 *np.percentile(inside, (10, 50, 90)), (inside > 0.5).mean()]
        # Quantised to GLCM_LEVELS grey levels; level 0 is kept for outside the mask and left out.
        quantised = np.where(mask, 1 + np.clip(image, 0, 1) * (GLCM_LEVELS - 2), 0).round().astype(np.uint8)
        glcm = graycomatrix(quantised, GLCM_DISTANCES, GLCM_ANGLES, levels=GLCM_LEVELS)[1:, 1:]
        glcm = glcm / np.maximum(glcm.sum((0, 1), keepdims=True), 1)
        texture = [graycoprops(glcm, prop).mean(1) for prop in GLCM_PROPERTIES]  # averaged over directions
        rows.append(np.concatenate([first, *texture]))
    return np.nan_to_num(np.asarray(rows))
