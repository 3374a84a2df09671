"""Corruptions: Rician noise statistics, k-space motion ghosting along the phase-encode
axis, reproducibility, identity at zero severity, types and shapes."""
from __future__ import annotations

import numpy as np
import pytest

from medsynth_nb.data.corruptions import add_noise, motion_artefact


@pytest.fixture(scope="module")
def images():
    """Smooth random images (3 x 32 x 32) in [0, 1], float32."""
    rng = np.random.default_rng(0)
    raw = rng.random((3, 8, 8))
    return np.kron(raw, np.ones((4, 4))).astype(np.float32)


@pytest.fixture(scope="module")
def square():
    """A bright 4 x 4 square in the middle of a dark 32 x 32 image."""
    image = np.zeros((32, 32))
    image[14:18, 14:18] = 1.0
    return image


@pytest.mark.parametrize("corrupt", [lambda x, seed: add_noise(x, 0.05, seed),
                                     lambda x, seed: motion_artefact(x, 0.5, seed)])
def test_same_seed_same_corruption_other_seed_another(images, corrupt):
    np.testing.assert_array_equal(corrupt(images, 0), corrupt(images, 0))
    assert not np.allclose(corrupt(images, 0), corrupt(images, 1))


@pytest.mark.parametrize("corrupt", [lambda x: add_noise(x, 0.1), lambda x: motion_artefact(x, 0.5)])
def test_type_shape_dtype_and_range_are_kept(images, corrupt):
    for x in (images, images[0]):
        out = corrupt(x)
        assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == np.float32
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    torch = pytest.importorskip("torch")
    batch = torch.from_numpy(images[:, None]).double()  # B x C x H x W
    out = corrupt(batch)
    assert isinstance(out, torch.Tensor) and out.shape == batch.shape and out.dtype == torch.float64


def test_noise_std_on_flat_grey_and_rician_background():
    grey = np.full((4, 64, 64), 0.5)
    noisy = add_noise(grey, 0.05)
    assert noisy.std() == pytest.approx(0.05, rel=0.05)
    assert noisy.mean() == pytest.approx(0.5, abs=0.005)
    # Magnitude noise on zero signal is Rayleigh: mean sigma * sqrt(pi / 2), never negative.
    assert add_noise(np.zeros((64, 64)), 0.05).mean() == pytest.approx(0.05 * np.sqrt(np.pi / 2), rel=0.05)
    np.testing.assert_array_equal(add_noise(grey, 0.0), grey)


def test_motion_severity_zero_is_the_identity(images):
    np.testing.assert_allclose(motion_artefact(images, severity=0.0), images, atol=1e-6)
    np.testing.assert_allclose(motion_artefact(images, severity=0.5, max_shift_px=0), images, atol=1e-6)


def test_motion_ghosts_lie_along_the_phase_encode_axis(square):
    moved = motion_artefact(square, severity=0.5, seed=0, max_shift_px=2)
    assert np.abs(moved - square).max() > 0.1
    far_rows = np.r_[0:8, 24:32]  # well above and below the square
    same_columns = moved[np.ix_(far_rows, np.r_[14:18])].mean()
    other_columns = moved[np.ix_(far_rows, np.r_[0:6, 26:32])].mean()
    assert same_columns > 0.05
    assert same_columns > 20 * other_columns
    # The rows of the square stay clean away from it: the ghosts run along columns only.
    assert same_columns > 20 * moved[np.ix_(np.r_[14:18], far_rows)].mean()


def test_more_severe_motion_changes_more(images):
    changes = [np.abs(motion_artefact(images, s) - images).mean() for s in (0.1, 0.3, 0.6)]
    assert changes[0] < changes[1] < changes[2]


def test_bad_arguments_raise(images):
    with pytest.raises(ValueError, match="sigma"):
        add_noise(images, -0.1)
    with pytest.raises(ValueError, match="severity"):
        motion_artefact(images, severity=1.5)
    with pytest.raises(ValueError, match="max_shift_px"):
        motion_artefact(images, max_shift_px=-1)
    with pytest.raises(ValueError, match=r"uint8 \(32, 32\).*Normalise"):
        add_noise((images[0] * 255).astype(np.uint8), 0.1)
    with pytest.raises(ValueError, match="H x W"):
        motion_artefact(np.ones(5))
