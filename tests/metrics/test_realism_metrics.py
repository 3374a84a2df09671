"""Realism distances: zero for one sample against itself, FID's closed form for Gaussians,
the kernel MMD sees a change of spread (a linear kernel would not), and texture features
see noise and blur."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from medsynth_nb.metrics.realism import frechet_distance, kernel_mmd, texture_features


def test_frechet_distance_is_zero_for_the_same_sample_and_the_squared_shift_for_a_moved_one():
    rng = np.random.default_rng(0)
    sample = rng.normal(size=(4000, 3))
    assert frechet_distance(sample, sample) == pytest.approx(0, abs=1e-6)
    # Two Gaussians with the same covariance: the distance is the squared distance of the means.
    moved = rng.normal(size=(4000, 3)) + np.array([2.0, 0, 0])
    assert frechet_distance(sample, moved) == pytest.approx(4.0, rel=0.05)
    # One feature: the means' distance squared plus the standard deviations' (MONAI needs F >= 2).
    assert frechet_distance(sample[:, :1], 3 * sample[:, :1]) == pytest.approx(
        4 * sample[:, 0].mean() ** 2 + (2 * sample[:, 0].std(ddof=1)) ** 2)
    assert frechet_distance(sample[:, :2], 3 * sample[:, :2]) == pytest.approx(
        4 * np.sum(sample[:, :2].mean(0) ** 2) + np.sum((2 * sample[:, :2].std(0, ddof=1)) ** 2), rel=0.02)


def test_kernel_mmd_sees_a_change_of_spread_with_the_same_mean():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(400, 5))
    same = rng.normal(size=(400, 5))
    narrow = 0.2 * rng.normal(size=(400, 5))  # the same mean, no spread: a mode collapse
    assert abs(kernel_mmd(reference, same)) < 0.05
    assert kernel_mmd(reference, narrow) > 10 * abs(kernel_mmd(reference, same))


def test_distances_refuse_mismatched_features():
    with pytest.raises(ValueError, match="same F"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least two"):
        kernel_mmd(np.zeros((5, 3)), np.zeros((1, 3)))


def test_texture_features_see_noise_and_blur():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:48, :48]
    base = np.clip(0.5 + 0.3 * np.sin(xx / 4.0) * np.cos(yy / 5.0), 0, 1)
    images = np.stack([base, np.clip(base + rng.normal(0, 0.1, base.shape), 0, 1), gaussian_filter(base, 2.0)])
    masks = np.ones_like(images, bool)
    features = texture_features(images, masks)
    assert features.shape == (3, 16)
    contrast = features[:, 8]  # GLCM contrast at 1 pixel: neighbouring grey levels apart
    assert contrast[1] > contrast[0] > contrast[2]
    with pytest.raises(ValueError, match="fewer than 16"):
        texture_features(images, np.zeros_like(masks))
