"""Chapter 07's measurements of reconstructions, on reconstructions whose answer is known:
the truth itself, the truth with its lesion erased, a blurred or scaled truth."""
import dataclasses

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from medsynth_nb.analysis import reconstruction as rec
from medsynth_nb.data.inverse_problems import MeasuredSlices


def _set(problem: str, settings=(4.0, 8.0), size: int = 32) -> MeasuredSlices:
    """Two slices per setting: a smooth head (wm = 3, gm = 2 ring, csf = 1 centre) with a
    bright square lesion in the first slice of each setting."""
    yy, xx = np.mgrid[:size, :size] - size / 2
    radius = np.hypot(yy, xx)
    tissue = np.select([radius < 3, radius < 10, radius < 13], [1, 3, 2], 0).astype(np.uint8)
    base = np.where(tissue == 3, 0.5, np.where(tissue == 2, 0.35, np.where(tissue == 1, 0.9, 0.0)))
    tumor = np.zeros((size, size), np.uint8)
    tumor[5:9, 18:22] = 2
    lesion = np.where(tumor > 0, 0.9, base)
    n = 2 * len(settings)
    truth = np.stack([lesion if i % 2 == 0 else base for i in range(n)]).astype(np.float32)
    return MeasuredSlices(truth[:, None].copy(), truth, np.repeat(settings, 2).astype(float),
                          np.stack([tissue] * n), np.stack([tumor if i % 2 == 0 else tumor * 0 for i in range(n)]),
                          np.array(["s0", "s1"] * len(settings)), problem)


def test_the_truth_keeps_its_lesion_and_an_eraser_removes_it():
    test = _set("mri")
    erased = test.truth.copy()
    for i in range(len(test)):
        wm_mean = test.truth[i][(test.tissue[i] == 3) & (test.tumor[i] == 0)].mean()
        erased[i][test.tumor[i] > 0] = wm_mean
    table = rec.hallucination_table({"truth": test.truth, "eraser": erased}, test).set_index(["method", "acceleration"])
    assert table.loc[("truth", 4.0), "contrast kept"] == pytest.approx(1.0)
    assert table.loc[("eraser", 8.0), "contrast kept"] == pytest.approx(0.0, abs=1e-6)
    assert table.loc[("eraser", 4.0), "lesion / brain error"] > 10
    assert (table["tumour slices"] == 1).all()


def test_method_table_and_degradation_rank_a_method_that_falls_faster():
    test = _set("mri")
    noise = np.random.default_rng(0).normal(0, 1, test.truth.shape).astype(np.float32)
    sd = np.where(test.setting == 8.0, 0.2, 0.02)[:, None, None]
    steady = test.truth + 0.05 * noise
    falling = test.truth + sd * noise
    table = rec.method_table({"steady": steady, "falling": falling}, test)
    assert set(table.columns) >= {"method", "acceleration", "psnr", "ssim", "mae", "psnr_sd", "subjects"}
    lost = rec.degradation(table)
    assert lost.idxmax() == "falling" and lost["steady"] == pytest.approx(0.0, abs=0.5)


def test_consistency_residual_is_zero_for_the_truth_and_not_for_a_blur():
    test = _set("mri")
    blurred = np.stack([gaussian_filter(image, 1.5) for image in test.truth])
    table = rec.consistency_residuals({"truth": test.truth, "blur": blurred}, test).set_index("method")
    assert (table.loc["truth", "relative residual"] < 1e-6).all()
    assert (table.loc["blur", "relative residual"] > 1e-2).all()
    with pytest.raises(ValueError, match="MRI"):
        rec.consistency_residuals({}, _set("pet", (1.0,)))


def test_uptake_ratios_read_one_for_the_truth_and_see_a_smoothed_lesion():
    test = _set("pet", (1.0, 0.1))
    smoothed = np.stack([gaussian_filter(image, 2.0) for image in test.truth])
    table = rec.uptake_table({"truth": test.truth, "smoothed": smoothed}, test).set_index(["method", "dose"])
    assert table.loc[("truth", 0.1), ["tumor mean", "tumor max", "brain mean"]].to_numpy() == pytest.approx(1.0)
    assert np.isnan(table.loc[("truth", 0.1), "small tumor mean"]), "one tumour slice: none below the median area"
    assert table.loc[("smoothed", 1.0), "tumor mean"] < 0.9  # a small hot lesion loses its mean first
    assert table.loc[("smoothed", 1.0), "brain mean"] == pytest.approx(1.0, abs=0.1)


def test_hu_error_by_tissue_is_in_hu():
    test = dataclasses.replace(_set("ct", (180.0, 30.0)), problem="ct")
    shifted = test.truth + 10 / 3000  # 10 HU everywhere (the CT window spans 3000 HU)
    table = rec.hu_error_by_tissue({"shifted": shifted}, test)
    assert table[["csf", "gm", "wm", "boundary"]].to_numpy() == pytest.approx(10.0, rel=1e-3)
    with pytest.raises(ValueError, match="CT"):
        rec.hu_error_by_tissue({}, _set("mri"))


def test_hu_error_by_tissue_puts_a_misplaced_edge_in_the_boundary_column():
    """Every edge moved by one pixel: the error lies on the pixels next to another tissue,
    so each tissue's interior reads 0 and the boundary column carries it all."""
    test = _set("ct", (180.0, 30.0))
    healthy = np.stack([test.truth[1]] * len(test))  # the lesion is not in the tissue map
    test = dataclasses.replace(test, truth=healthy)
    table = rec.hu_error_by_tissue({"moved": np.roll(healthy, 1, axis=-1)}, test)
    assert table[["csf", "gm", "wm"]].to_numpy() == pytest.approx(0.0, abs=1e-3)
    assert (table["boundary"] > 10).all()


def test_smoothing_costs_a_small_lesion_more_of_its_mean_than_a_large_one():
    test = _set("pet", (1.0,), size=48)
    big = np.zeros_like(test.tumor[1])
    big[16:32, 16:32] = 3
    truth = test.truth.copy()
    truth[1][big > 0] = 0.9
    test = dataclasses.replace(test, truth=truth, tumor=np.stack([test.tumor[0], big]))
    smoothed = np.stack([gaussian_filter(image, 1.5) for image in test.truth])
    row = rec.uptake_table({"smoothed": smoothed}, test).iloc[0]
    assert row["small tumor mean"] < row["tumor mean"] < 1.0
