"""Figures and the physics table (matplotlib only, Agg backend from conftest)."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from medsynth_nb import viz
from medsynth_nb.data import physics
from medsynth_nb.data.intensity import CT_WINDOW_HU
from medsynth_nb.engine import History
from medsynth_nb.orientation import axial


@pytest.mark.parametrize("site", sorted(physics.SITES))
def test_physics_table_nominal_contrasts(site):
    table = viz.physics_table(site)
    assert list(table.index) == list(physics.TISSUES)
    t1w, t2w, flair = table["T1w"], table["T2w"], table["FLAIR"]
    if physics.SITES[site].field_t < 1:
        # At 0.064 T every T1 is short against TR: the T1w GM/WM contrast all but vanishes (grey matter's
        # higher proton density can even tip it), while CSF stays darkest.
        assert abs(t1w["wm"] - t1w["gm"]) < 0.05 * t1w["wm"] and min(t1w["wm"], t1w["gm"]) > t1w["csf"]
    else:
        assert t1w["wm"] > t1w["gm"] > t1w["csf"]
    assert t2w["csf"] > t2w["gm"] > t2w["wm"]
    # The protocol's inversion time nulls CSF of nominal T1.
    assert flair["csf"] < 0.01 * flair["gm"]
    # Vasogenic oedema is bright on FLAIR; enhancing tumour brightens with gadolinium.
    assert flair["edema"] > flair["wm"]
    assert table.loc["enhancing", "T1w + Gd"] > table.loc["enhancing", "T1w"]
    assert table.loc["wm", "T1w + Gd"] == pytest.approx(table.loc["wm", "T1w"])
    assert table.loc["air", "CT (HU)"] == -1000
    assert table.loc["cortical_bone", "CT (HU)"] > 1000


def test_flair_ti_nulls_the_longitudinal_magnetisation():
    for tr in (6000.0, 8000.0, 9000.0, 11000.0):
        ti = physics.flair_ti(tr)
        t1 = physics.TISSUE_PROPERTIES["csf"].t1_ms
        assert 1 - 2 * np.exp(-ti / t1) + np.exp(-tr / t1) == pytest.approx(0.0, abs=1e-9)
        assert ti < t1 * np.log(2)  # incomplete recovery shortens the null point


def test_axial_is_display_orientation():
    volume = np.zeros((4, 5, 2))
    volume[1, 4, 1] = 1.0  # x = 1 (right of x = 0), y = 4 (most anterior)
    image = axial(volume, 1)
    assert image.shape == (5, 4)
    assert image[0, 1] == 1.0  # anterior at the top row, x along columns


def test_show_modalities_and_overlay():
    rng = np.random.default_rng(0)
    images = {"t1": rng.random((16, 16)), "ct": rng.uniform(-1000, 1500, (16, 16))}
    tumor = np.zeros((16, 16), np.uint8)
    tumor[4:8, 4:8] = 3
    fig = viz.show_modalities(images, tumor, title="x")
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["T1w", "CT", "tumour labels"]
    ct_image = fig.axes[1].images[0]
    assert ct_image.get_clim() == viz.WINDOWS_PHYSICAL["ct"]


def test_show_predictions_reports_ct_error_in_hu():
    target = np.full((2, 12, 12), 0.4, np.float32)
    pred = target + 0.01
    sources = {"t1": np.zeros((2, 12, 12), np.float32)}
    fig = viz.show_predictions(sources, pred, target, modality="ct")
    error = fig.axes[3].images[0].get_array()
    hu_per_unit = CT_WINDOW_HU[1] - CT_WINDOW_HU[0]
    np.testing.assert_allclose(error, 0.01 * hu_per_unit, rtol=1e-3)
    assert "(HU)" in fig.axes[3].get_title()


def test_plot_history_with_baseline():
    history = History(step=3, loss_steps=[1, 2, 3], losses={"l1": [0.5, 0.4, 0.3]},
                      val=[{"step": 3, "psnr": 18.0, "ssim": 0.6, "mae": 0.1}])
    fig = viz.plot_history(history, baseline={"psnr": 17.0, "ssim": 0.55})
    assert [ax.get_title() for ax in fig.axes] == ["training loss", "val PSNR (dB)", "val SSIM"]
    # Redrawing into the same axes replaces the curves (live plots).
    viz.plot_history(history, axes=fig.axes)
    assert len(fig.axes[0].lines) == 1


def test_metric_sensitivity_degrades_monotonically(tiny_data):
    image = tiny_data.test.clean["t1"][0]
    table, fig = viz.metric_sensitivity(image, tiny_data.test.tissue[0] > 0)
    assert len(table) == 6 and isinstance(fig, Figure)
    for kind in ("noise", "blur"):
        rows = table[table.degradation == kind]
        assert np.all(np.diff(rows.psnr.values) < 0), f"{kind}: PSNR must fall as the degradation grows"
        assert np.all(np.diff(rows.ssim.values) < 0), f"{kind}: SSIM must fall as the degradation grows"
        assert np.all(rows.ssim.values < 1)


def test_bar_by_label():
    import pandas as pd

    fig = viz.bar_by_label({"unet": pd.Series({"air": 1.0, "bone": 2.0}), "lookup": pd.Series({"air": 2.0, "bone": 4.0})},
                           ylabel="MAE (HU)")
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_ylabel() == "MAE (HU)"
