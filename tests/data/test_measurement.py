"""Chapter 07's measurement operators: undersampled k-space, sparse-view CT and low-dose PET counts."""
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from medsynth_nb.data.measurement import ParallelBeamCT, UndersampledMRI, cartesian_mask, low_dose, residual_on_measured


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


def _ct_head(size: int, blur: float = 0.0) -> torch.Tensor:
    """A 1 x 1 x size x size head: soft tissue, a bright skull ring and one brighter disc,
    with sharp edges, or smooth ones after a Gaussian blur of ``blur`` pixels."""
    y, x = np.mgrid[:size, :size] / (size - 1) * 2 - 1
    r2 = x**2 / 0.6 + y**2 / 0.8
    image = (r2 < 1) * 0.3 + ((r2 < 1) & (r2 > 0.8)) * 0.5 + ((x - 0.25)**2 + y**2 < 0.04) * 0.2
    image = gaussian_filter(image, blur) if blur else image
    return torch.from_numpy(image.astype(np.float32))[None, None]


def test_fbp_of_a_full_scan_recovers_a_smooth_image():
    """At 180 views the error left is the discrete Radon transform's interpolation, largest at
    sharp edges: 0.013 relative RMSE inside this blurred head (measured; 0.13 for the same head
    unblurred, 0.15 for a 64 px phantom CT slice with its skull). 0.016 leaves room for rounding."""
    assert np.allclose(ParallelBeamCT(4, 16).angles, [0, 45, 90, 135]), "equally spaced over [0, 180)"
    head = _ct_head(64, blur=2.0)
    recon = ParallelBeamCT(180, 64).fbp_of(head)
    assert recon.shape == head.shape and recon.dtype == torch.float32
    inside = head > 0.05
    assert float((recon - head)[inside].norm() / head[inside].norm()) < 0.016


def test_fewer_views_give_a_worse_fbp():
    """Sparse-view streaks: at 128 px, 30 / 60 / 180 views leave 0.22 / 0.14 / 0.12 relative RMSE over
    the image (measured; streaks run outside the head, so the whole image counts). Each step at least 10 %."""
    head = _ct_head(128)
    errors = [float((ParallelBeamCT(n, 128).fbp_of(head) - head).norm() / head.norm()) for n in (30, 60, 180)]
    assert errors[0] > 1.1 * errors[1] and errors[1] > 1.1 * errors[2], errors
    assert float(ParallelBeamCT(30, 128).fbp_of(head).min()) < -0.05, "streaks go negative; FBP is not clipped"


def test_projection_is_linear_and_keeps_the_input_kind():
    operator = ParallelBeamCT(45, 32)
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(2, 3, 1, 32, 32, generator=g)
    combined = operator.project(2.5 * x - 0.7 * y)
    separate = 2.5 * operator.project(x) - 0.7 * operator.project(y)
    assert combined.shape == (3, 1, operator.n_detectors, 45) and combined.dtype == torch.float32
    assert torch.allclose(combined, separate, rtol=1e-5, atol=1e-5 * float(separate.abs().max()))
    as_numpy = operator.project(x[:, 0].numpy())
    assert isinstance(as_numpy, np.ndarray) and as_numpy.shape == (3, operator.n_detectors, 45)
    assert np.allclose(as_numpy, operator.project(x)[:, 0].numpy())


def test_measure_adds_seeded_gaussian_noise_of_the_given_sd():
    operator = ParallelBeamCT(90, 32)
    image = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(5))
    noise = operator.measure(image, noise_sd=0.5, seed=6) - operator.project(image)
    assert abs(float(noise.std()) - 0.5) < 0.02 and abs(float(noise.mean())) < 0.02
    assert torch.equal(operator.measure(image, 0.5, seed=6), operator.measure(image, 0.5, seed=6))
    assert not torch.equal(operator.measure(image, 0.5, seed=6), operator.measure(image, 0.5, seed=7))


def test_bad_ct_settings_and_shapes_say_what_to_change():
    with pytest.raises(ValueError, match="n_views must be at least 1"):
        ParallelBeamCT(0, 64)
    with pytest.raises(ValueError, match="image_size must be at least 8"):
        ParallelBeamCT(30, 4)
    operator = ParallelBeamCT(30, 64)
    with pytest.raises(ValueError, match="Expected images of 64 x 64.*got 32 x 32.*Resize"):
        operator.project(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="B x 1 x H x W"):
        operator.project(torch.zeros(64, 64))
    with pytest.raises(ValueError, match="sinograms"):
        operator.fbp(torch.zeros(1, 1, operator.n_detectors, 60))
    with pytest.raises(ValueError, match="noise_sd"):
        operator.measure(torch.zeros(1, 1, 64, 64), noise_sd=-1)


def test_a_stack_of_masks_acts_image_by_image():
    g = torch.Generator().manual_seed(2)
    images, guesses = torch.rand(2, 3, 1, 32, 32, generator=g)
    masks = torch.stack([cartesian_mask(32, r) for r in (2, 4, 8)])
    batched = UndersampledMRI(masks)
    kspace = batched.forward(images)
    for i, mask in enumerate(masks):
        single = UndersampledMRI(mask)
        assert torch.allclose(kspace[i:i + 1], single.forward(images[i:i + 1]))
        assert torch.allclose(batched.data_consistency(guesses, kspace)[i:i + 1],
                              single.data_consistency(guesses[i:i + 1], kspace[i:i + 1]), atol=1e-6)
    assert residual_on_measured(batched, batched.data_consistency(guesses, kspace), kspace) < 1e-5
    with pytest.raises(ValueError, match="one mask per image"):
        batched.forward(images[:2])
