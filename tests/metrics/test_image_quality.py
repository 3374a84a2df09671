"""Resolution and SNR in physical units: they must return the blur and the noise put in."""
import numpy as np
import pytest
from scipy import ndimage

from medsynth_nb.metrics.image_quality import FWHM_PER_SIGMA, background_snr, noise_in_region, resolution_fwhm_mm


def _disc_phantom(size=64):
    """Labels 0 (air), 1 (a disc), 2 (a smaller disc inside it); an image with one intensity
    per label; the region to measure in."""
    y, x = np.mgrid[:size, :size] - size / 2
    labels = (np.hypot(x, y) < 20).astype(int) + (np.hypot(x - 5, y) < 8)
    return np.array([0.0, 0.4, 0.9])[labels], labels, np.hypot(x, y) < 26


@pytest.mark.parametrize("fwhm_mm", [0.0, 3.0, 6.0])
@pytest.mark.parametrize("contrast", [(0.0, 0.4, 0.9), (0.1, 0.8, 0.3)])  # the second inverts the inner disc
def test_resolution_returns_the_blur_put_in_whatever_the_contrast(fwhm_mm, contrast):
    _, labels, mask = _disc_phantom()
    pixel_mm = 1.5
    sharp = np.array(contrast)[labels]
    image = ndimage.gaussian_filter(sharp, fwhm_mm / FWHM_PER_SIGMA / pixel_mm) if fwhm_mm else sharp
    assert resolution_fwhm_mm(image, labels, mask, pixel_mm) == pytest.approx(fwhm_mm, abs=0.25)


def test_resolution_refuses_mismatched_or_empty_inputs():
    sharp, labels, mask = _disc_phantom()
    with pytest.raises(ValueError, match="one shape"):
        resolution_fwhm_mm(sharp, labels[:10], mask, 1.0)
    with pytest.raises(ValueError, match="10 pixels"):
        resolution_fwhm_mm(sharp, labels, np.zeros_like(mask), 1.0)


def test_two_region_snr_recovers_the_noise_of_a_magnitude_image():
    rng = np.random.default_rng(0)
    sharp, _, _ = _disc_phantom(128)
    sigma = 0.05
    magnitude = np.hypot(sharp + rng.normal(0, sigma, sharp.shape), rng.normal(0, sigma, sharp.shape))
    inside, air = sharp == 0.4, sharp == 0
    assert background_snr(magnitude, inside, air) == pytest.approx(0.4 / sigma, rel=0.05)
    with pytest.raises(ValueError, match="air mask"):
        background_snr(magnitude, inside, np.zeros_like(air))


def test_noise_in_region_ignores_a_constant_offset():
    rng = np.random.default_rng(1)
    truth = np.full((4, 32, 32), 0.5)
    noisy = truth + 0.1 + rng.normal(0, 0.02, truth.shape)
    assert noise_in_region(noisy, truth, np.ones_like(truth, bool)) == pytest.approx(0.02, rel=0.05)
