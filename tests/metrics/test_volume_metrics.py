"""Through-plane discontinuity: 0 for a volume that is its own truth, growing with errors
that change from slice to slice, blind to errors that do not."""
import numpy as np
import pytest
from scipy import ndimage

from medsynth_nb.metrics.volume import discontinuity_index, through_plane_gradient_error


@pytest.fixture(scope="module")
def truth():
    rng = np.random.default_rng(0)
    return ndimage.gaussian_filter(rng.random((12, 40, 40)), 2.0)  # slices x H x W, smooth anatomy


def test_a_volume_that_is_its_own_truth_has_no_through_plane_error(truth):
    assert through_plane_gradient_error(truth, truth) == 0
    assert np.isnan(discontinuity_index(truth, truth))
    assert through_plane_gradient_error(truth + 0.3, truth) == pytest.approx(0), "the same error in every slice"


@pytest.mark.parametrize("sigma", [0.01, 0.05])
def test_independent_slice_offsets_give_the_expected_error(truth, sigma):
    # An offset per slice, N(0, sigma^2): neighbouring differences are N(0, 2 sigma^2), whose mean
    # absolute value is 2 sigma / sqrt(pi).
    rng = np.random.default_rng(1)
    offsets = rng.normal(0, sigma, (4000, 1, 1))
    volume = np.zeros((4000, 2, 2))
    assert through_plane_gradient_error(volume + offsets, volume) == pytest.approx(2 * sigma / np.sqrt(np.pi),
                                                                                   rel=0.05)
    assert discontinuity_index(truth + offsets[:12], truth) > 1e6, "no in-plane error (but rounding)"


def test_slice_wise_errors_are_discontinuous_and_voxel_noise_is_not(truth):
    rng = np.random.default_rng(2)
    per_voxel = rng.normal(0, 0.05, truth.shape)
    # What a 2-D model does: an error smooth within each slice, drawn anew for every slice.
    per_slice = np.stack([ndimage.gaussian_filter(rng.normal(0, 0.5, truth.shape[1:]), 3.0) for _ in truth])
    assert discontinuity_index(truth + per_voxel, truth) == pytest.approx(1.0, abs=0.05)
    assert discontinuity_index(truth + per_slice, truth) > 3
    assert through_plane_gradient_error(truth + 2 * per_slice, truth) == pytest.approx(
        2 * through_plane_gradient_error(truth + per_slice, truth))


def test_the_mask_and_the_slice_axis_are_honoured_and_bad_input_is_refused(truth):
    rng = np.random.default_rng(3)
    noisy = truth + rng.normal(0, 0.05, truth.shape)
    mask = np.zeros(truth.shape, bool)
    mask[:, :20] = True
    noisy[:, 20:] = truth[:, 20:] + 5.0 * rng.normal(size=truth[:, 20:].shape)  # outside the mask: huge errors
    assert through_plane_gradient_error(noisy, truth, mask) < 0.1
    moved = np.moveaxis(noisy, 0, 2)
    assert through_plane_gradient_error(moved, np.moveaxis(truth, 0, 2), np.moveaxis(mask, 0, 2), slice_axis=2) == \
        pytest.approx(through_plane_gradient_error(noisy, truth, mask))
    with pytest.raises(ValueError, match="one shape"):
        through_plane_gradient_error(truth, truth[:5])
    with pytest.raises(ValueError, match="two slices"):
        through_plane_gradient_error(truth[:1], truth[:1])
    with pytest.raises(ValueError, match="mask"):
        through_plane_gradient_error(truth, truth, mask[:3])
