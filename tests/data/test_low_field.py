"""Chapter 08's low-field site: T1 follows the field, and the acquisition's noise, slice
thickness and resolution follow its parameters."""
import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from medsynth_nb.data import load_dataset, phantom, physics
from medsynth_nb.data.tumor import TumorParams
from medsynth_nb.metrics.image_quality import resolution_fwhm_mm

GRID = phantom.axial_grid(96, 1, 5.0, 20.0)


def test_t1_shortens_at_low_field_except_free_water():
    wm = physics.TISSUE_PROPERTIES["wm"].t1_ms
    assert physics.t1_at_field(wm, "wm", 3.0) == pytest.approx(wm)
    # b = 0.3: (0.064 / 3) ** 0.3 = 0.315
    assert physics.t1_at_field(wm, "wm", 0.064) == pytest.approx(0.315 * wm, rel=0.01)
    assert physics.t1_at_field(4300.0, "csf", 0.064) == pytest.approx(4300.0)
    low = physics.signal_matrix(physics.TISSUE_PROPERTIES, physics.SITES["LF"])["t1"]
    high = physics.signal_matrix(physics.TISSUE_PROPERTIES, physics.SITES["A"])["t1"]
    wm_i, gm_i = physics.TISSUES.index("wm"), physics.TISSUES.index("gm")
    # Same protocol, shorter T1: more T1w signal, and far less GM/WM contrast.
    assert low[wm_i] > high[wm_i]
    assert (low[wm_i] - low[gm_i]) / low[wm_i] < 0.5 * (high[wm_i] - high[gm_i]) / high[wm_i]


@pytest.mark.parametrize("site", ["A", "LF"])
def test_the_noise_follows_the_site_snr(site):
    subject = phantom.make_subject(3, *GRID, site=site, tumor=None)
    signals = physics.signal_matrix({k: physics.Tissue(**v) for k, v in subject.params["tissues"].items()},
                                    physics.SITES[site])
    sigma = signals["t1"][physics.TISSUES.index("wm")] / physics.SITES[site].mr_snr
    air = ~ndimage.binary_dilation(subject.tissue[..., 0] > 0, iterations=3)
    measured = subject.images["t1"][..., 0][air].mean() / np.sqrt(np.pi / 2)  # Rayleigh mean in air
    assert measured == pytest.approx(sigma, rel=0.05)


def test_the_resolution_follows_the_site_blur():
    pixel_mm = abs(GRID[1][0, 0])
    widths = {}
    for site in ("A", "LF"):
        subject = phantom.make_subject(3, *GRID, site=site, tumor=None)
        widths[site] = resolution_fwhm_mm(subject.images["t1"][..., 0], subject.tissue[..., 0],
                                          subject.tissue[..., 0] > 0, pixel_mm)
    # Site A adds no blur: what it shows is the anatomy's own soft edges (partial volume). Gaussian
    # widths add in quadrature, so the low-field blur comes on top of that.
    assert widths["A"] < 2.5
    expected = np.hypot(widths["A"], physics.SITES["LF"].blur_mm)
    assert widths["LF"] == pytest.approx(expected, abs=0.75)


def test_a_thick_slice_averages_the_planes_across_it(monkeypatch):
    shape, affine = GRID
    tumor = TumorParams(center_mm=(-24.0, -12.0, 21.0), radius_mm=8.0)
    thick = phantom.make_subject(5, shape, affine, site="LF", tumor=tumor)
    # The same subject and tumour, thin planes at -2..2 mm around the slice, at the low field.
    monkeypatch.setitem(physics.SITES, "thin", dataclasses.replace(physics.SITES["LF"], name="thin", slice_mm=0.0))
    planes = []
    for dz in (-2.0, -1.0, 0.0, 1.0, 2.0):
        moved = affine.copy()
        moved[2, 3] += dz
        plane = phantom.make_subject(5, shape, moved, site="thin", tumor=tumor)
        planes.append(plane.clean["t1"])
    np.testing.assert_allclose(thick.clean["t1"], np.mean(planes, 0), atol=1e-5)
    # The truth maps stay those of the slice's centre: the site changes the image, not the subject.
    centre = phantom.make_subject(5, shape, affine, site="A", tumor=tumor)
    np.testing.assert_array_equal(thick.tissue, centre.tissue)


def test_low_field_scans_of_the_same_subjects_pair_with_the_high_field_ones():
    sizes = dict(seed=2, n_subjects=4, image_size=32, slices_per_subject=2, progress=False)
    high = load_dataset("phantom", **sizes)
    air = ndimage.binary_erosion(high.train.tissue == 0, np.ones((1, 7, 7)))  # away from the blurred head

    def noise_correlation(visit):
        paired = high.with_site(load_dataset("phantom", site="LF", visit=visit, **sizes))
        assert "t1@LF" in paired.test.images
        return np.corrcoef(paired.train.images["t1"][air], paired.train.images["t1@LF"][air])[0, 1]

    # Another session has its own noise; the same session number would repeat the draws.
    assert abs(noise_correlation(1)) < 0.1
    assert noise_correlation(0) > 0.5
