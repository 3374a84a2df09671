"""Chapter 07's measurement operators: undersampled k-space and low-dose PET counts."""
import pytest
import torch

from medsynth_nb.data.measurement import UndersampledMRI, cartesian_mask, low_dose, residual_on_measured


@pytest.mark.parametrize("acceleration", [4, 8])
def test_mask_keeps_the_centre_and_about_one_line_in_r(acceleration):
    mask = cartesian_mask(96, acceleration, center_fraction=0.08)
    assert mask.dtype == torch.bool and mask.shape == (96,)
    assert mask[44:52].all(), "the centre of k-space (here, at 48) must be fully sampled"
    assert abs(UndersampledMRI(mask).acceleration - acceleration) < 0.15 * acceleration
    assert torch.equal(mask, mask[(96 - torch.arange(96)) % 96]), "every line with its mirror"
    assert cartesian_mask(96, 1).all()


def test_forward_and_adjoint_pass_the_dot_product_test():
    operator = UndersampledMRI.accelerated(32, 4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 32, 32, generator=g)
    y = torch.complex(torch.randn(2, 1, 32, 32, generator=g), torch.randn(2, 1, 32, 32, generator=g))
    left = torch.vdot(operator.forward(x).flatten(), y.flatten())                   # <A x, y>
    right = torch.vdot(x.to(torch.complex64).flatten(), operator.adjoint(y).flatten())  # <x, A^H y>
    assert torch.allclose(left, right, rtol=1e-4, atol=1e-4), (left, right)


def test_data_consistency_keeps_the_measured_samples_and_only_changes_the_others():
    operator = UndersampledMRI.accelerated(32, 4)
    g = torch.Generator().manual_seed(1)
    truth, guess = torch.rand(2, 1, 1, 32, 32, generator=g)
    measured = operator.forward(truth)
    corrected = operator.data_consistency(guess, measured)
    assert residual_on_measured(operator, guess, measured) > 0.1
    assert residual_on_measured(operator, corrected, measured) < 1e-5
    k_corrected = torch.fft.fft2(corrected.to(torch.complex64), norm="ortho")
    k_guess = torch.fft.fft2(guess.to(torch.complex64), norm="ortho")
    lines = operator.lines
    assert torch.allclose(k_corrected[..., lines], measured[..., lines], atol=1e-5)
    assert torch.allclose(k_corrected[..., ~lines], k_guess[..., ~lines], atol=1e-5)
    assert not torch.allclose(corrected, guess, atol=1e-3)


def test_zero_filled_keeps_the_image_and_misses_its_detail():
    """At 4x the centre of k-space carries the head's contrast: zero-filling is far closer to the
    truth than nothing, but not the truth (its aliasing is what the chapter's models remove)."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 48), indexing="ij")
    head = ((x**2 / 0.6 + y**2 / 0.8) < 1).float()[None, None] * (0.5 + 0.3 * (x > 0.2).float())
    recon = UndersampledMRI.accelerated(48, 4).zero_filled(UndersampledMRI.accelerated(48, 4).forward(head))
    error = float((recon - head).abs().mean())
    assert error < 0.5 * float(head.abs().mean())
    assert error > 0.01


def test_zero_filled_of_a_fully_sampled_scan_is_the_image():
    image = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    operator = UndersampledMRI(torch.ones(16, dtype=torch.bool))
    assert torch.allclose(operator.zero_filled(operator.forward(image)), image, atol=1e-6)
    assert residual_on_measured(operator, image, operator.forward(image)) < 1e-5


def test_low_dose_is_unbiased_with_variance_growing_as_one_over_dose():
    image = torch.full((1, 1, 200, 200), 0.5)
    for fraction in (1.0, 0.1):
        noisy = low_dose(image, fraction, full_dose_counts=100.0, seed=3)
        assert abs(float(noisy.mean()) - 0.5) < 0.01
        expected = 0.5 / (100.0 * fraction)
        assert abs(float(noisy.var()) / expected - 1) < 0.05
    assert torch.equal(low_dose(image, 0.1, seed=3), low_dose(image, 0.1, seed=3))
    with pytest.raises(ValueError, match="dose_fraction"):
        low_dose(image, 0)
    with pytest.raises(ValueError, match="negative"):
        low_dose(-image, 0.5)
