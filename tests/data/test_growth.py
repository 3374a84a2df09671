"""Chapter 08's growing tumour: the law, the rendered volume, and follow-ups of one subject."""
import numpy as np
import pytest

from medsynth_nb.data import phantom
from medsynth_nb.data.growth import Gompertz, follow_up, sphere_volume_ml
from medsynth_nb.data.tumor import ENHANCING, NECROSIS, TumorParams

DEEP_WM_MM = (-24.0, -12.0, 28.0)  # left centrum semiovale: a 15 mm tumour stays inside the skull


def test_gompertz_solves_its_equation_and_saturates():
    law = Gompertz(carrying_ml=60.0, rate_per_day=0.01)
    # Worked by hand: 60 exp(ln(0.1) e^-1) = 25.72 ml at 100 days from 6 ml.
    assert law.volume_ml(6.0, 100.0) == pytest.approx(25.72, abs=0.01)
    assert law.volume_ml(6.0, 0.0) == pytest.approx(6.0)
    assert law.volume_ml(6.0, 5000.0) == pytest.approx(60.0, rel=1e-6)
    # dV/dt = a V ln(K / V), checked by a central difference at a few times.
    t, h = np.array([10.0, 80.0, 300.0]), 1e-3
    slope = (law.volume_ml(6.0, t + h) - law.volume_ml(6.0, t - h)) / (2 * h)
    v = law.volume_ml(6.0, t)
    assert slope == pytest.approx(0.01 * v * np.log(60.0 / v), rel=1e-5)
    with pytest.raises(ValueError, match="starting volume"):
        law.volume_ml(80.0, 10.0)


@pytest.mark.parametrize("t_days", [0.0, 60.0, 120.0])
def test_the_rendered_core_grows_as_the_law_says(t_days):
    law = Gompertz(carrying_ml=60.0, rate_per_day=0.01)
    tumor = TumorParams(center_mm=DEEP_WM_MM, radius_mm=5.0, necrosis_fraction=0.5, irregularity=0.0)
    shape = (72, 72, 72)  # 0.5 mm voxels: the smallest core (5 mm) is counted to about 2 %
    affine = phantom.grid_affine(shape, 0.5, DEEP_WM_MM)
    subject = phantom.make_subject(3, shape, affine, tumor=law.grown(tumor, t_days))
    core_ml = np.isin(subject.tumor, (NECROSIS, ENHANCING)).sum() * 0.125 / 1000.0
    expected = float(law.volume_ml(sphere_volume_ml(5.0), t_days))
    assert core_ml == pytest.approx(expected, rel=0.05), (core_ml, expected)


def test_follow_ups_share_the_anatomy_and_differ_in_noise_and_position():
    law = Gompertz()
    shape, affine = phantom.axial_grid(64, 3, 4.0, z_mm=DEEP_WM_MM[2])
    tumor = TumorParams(center_mm=DEEP_WM_MM, radius_mm=8.0, irregularity=0.1)
    first = follow_up(5, shape, affine, tumor, 0.0, law, visit=0)
    still = follow_up(5, shape, affine, tumor, 90.0, law, visit=1, shift_mm=0.0, rotation_deg=0.0)
    outside = (first.tumor == 0) & (still.tumor == 0)
    assert np.array_equal(first.tissue[outside], still.tissue[outside]), "same anatomy outside the tumour"
    assert np.allclose(first.clean["t2"][outside], still.clean["t2"][outside])
    assert not np.allclose(first.images["t2"][outside], still.images["t2"][outside]), "a new noise realisation"
    assert (still.tumor > 0).sum() > (first.tumor > 0).sum(), "the tumour grew"

    moved = follow_up(5, shape, affine, tumor, 90.0, law, visit=1)
    rotation = moved.affine[:3, :3] @ np.linalg.inv(affine[:3, :3])
    angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1)))
    assert 0 < angle <= 2.0 + 1e-6
    # Only the grid moved: the same head rendered on the moved grid is the follow-up without noise.
    same_head = phantom.make_subject(5, shape, moved.affine, tumor=law.grown(tumor, 90.0), visit=1)
    assert np.array_equal(same_head.tissue, moved.tissue) and np.allclose(same_head.clean["t2"], moved.clean["t2"])
    with pytest.raises(ValueError, match="visit"):
        follow_up(5, shape, affine, tumor, 1.0, law, visit=-1)
