"""Resolution and SNR in physical units: they must return the blur and the noise put in."""
import numpy as np
import pytest
from scipy import ndimage

from medsynth_nb.data import phantom, physics
from medsynth_nb.metrics.image_quality import (FWHM_PER_SIGMA, background_snr, blur_fwhm_mm, noise_in_region,
                                               resolution_fwhm_mm)


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


@pytest.fixture(scope="module")
def t2_slab():
    """Noise-free T2w of a phantom slab at the cpu profile's grid (96 px, 2.4 mm pixels), its
    head mask, and the sigma of site A's noise on it (WM signal / SNR)."""
    subject = phantom.make_subject(5, *phantom.axial_grid(96, 4, 5.0, 20.0), tumor=None)
    truth = subject.noise_free["t2"].transpose(2, 1, 0)  # slices x H x W
    wm = physics.signal_matrix(physics.TISSUE_PROPERTIES, physics.SITES["A"])["t2"][physics.TISSUES.index("wm")]
    return truth, subject.tissue.transpose(2, 1, 0) > 0, wm / physics.SITES["A"].mr_snr, 230.0 / 96


def _blurred(image, fwhm_mm, pixel_mm):
    sigma = fwhm_mm / FWHM_PER_SIGMA / pixel_mm
    return ndimage.gaussian_filter(image, (0, sigma, sigma)) if fwhm_mm else image


def test_blur_ruler_reads_a_known_blur_and_is_monotone(t2_slab):
    truth, head, _, pixel_mm = t2_slab
    put_in = [0.0, 1.0, 2.0, 3.0, 4.5, 6.0]
    read = [blur_fwhm_mm(_blurred(truth, fwhm, pixel_mm), truth, head, pixel_mm) for fwhm in put_in]
    assert np.all(np.diff(read) > 0)
    assert read == pytest.approx(put_in, abs=0.3)


def test_blur_ruler_is_stable_under_the_phantoms_noise(t2_slab):
    """Noise at the phantom's SNR, independent of the truth, moves the reading little once
    the blur is half a pixel or more (a smaller blur is hidden in the noise: it reads up to
    about 1.2 mm, half a pixel, which the docstring says). A gradient-energy ratio, the
    course's earlier ruler, counted that noise as sharpness."""
    truth, head, sigma, pixel_mm = t2_slab
    rng = np.random.default_rng(0)
    for fwhm in (2.0, 3.0, 5.0):
        clean = _blurred(truth, fwhm, pixel_mm)
        noisy = np.hypot(clean + rng.normal(0, sigma, clean.shape), rng.normal(0, sigma, clean.shape))  # Rician
        assert abs(blur_fwhm_mm(noisy, truth, head, pixel_mm) - blur_fwhm_mm(clean, truth, head, pixel_mm)) < 0.3
    noisy_sharp = np.hypot(truth + rng.normal(0, sigma, truth.shape), rng.normal(0, sigma, truth.shape))
    assert blur_fwhm_mm(noisy_sharp, truth, head, pixel_mm) < 0.5 * pixel_mm + 0.2


def test_blur_ruler_reads_nothing_from_an_image_unlike_its_truth(t2_slab):
    """Noise, or another slab's anatomy, has no blur to read (NaN), not "as sharp as the truth"."""
    truth, head, _, pixel_mm = t2_slab
    rng = np.random.default_rng(1)
    assert np.isnan(blur_fwhm_mm(rng.uniform(0, 1, truth.shape), truth, head, pixel_mm))
    assert np.isnan(blur_fwhm_mm(truth[::-1, ::-1, :], truth, head, pixel_mm))


def test_blur_ruler_refuses_mismatched_or_empty_inputs(t2_slab):
    truth, head, _, pixel_mm = t2_slab
    with pytest.raises(ValueError, match="one shape"):
        blur_fwhm_mm(truth, truth[:2], head, pixel_mm)
    with pytest.raises(ValueError, match="fewer than 10"):
        blur_fwhm_mm(truth, truth, np.zeros_like(head), pixel_mm)
