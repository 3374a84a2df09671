"""Chapter 09, coding exercise solved: the Fréchet distance of two feature sets. For
instructors: ``medsynth solutions 09`` writes the chapter with this filled in."""
import numpy as np
from scipy.linalg import sqrtm


def frechet_distance(reference, features):
    """The Fréchet distance between Gaussians fitted to two feature sets (FID's formula).
    reference, features: N x D and M x D numpy arrays, one row per image, one column per feature (D >= 2).
    Means over the rows; covariances over the rows with N - 1 in the denominator (ddof=1, as MONAI's FIDMetric).
    Returns a float: |mu_r - mu_s|^2 + tr(S_r + S_s - 2 sqrtm(S_r S_s)), with the real part of sqrtm."""
    means = np.sum((reference.mean(0) - features.mean(0)) ** 2)
    # rowvar=False: rows are images, columns features; np.cov divides by N - 1 by default.
    s_r, s_s = np.cov(reference, rowvar=False), np.cov(features, rowvar=False)
    # The product of two covariances is not symmetric, and sqrtm can pick up a rounding-sized imaginary part.
    cross = sqrtm(s_r @ s_s).real
    return float(means + np.trace(s_r + s_s - 2 * cross))
