"""Metrics: agreement with MONAI and scikit-image, known values, masks, tables."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from monai.metrics import PSNRMetric, SSIMMetric
from scipy import ndimage
from skimage.metrics import structural_similarity

from medsynth_nb import metrics
from medsynth_nb.data import phantom
from medsynth_nb.metrics.image_quality import FWHM_PER_SIGMA
from medsynth_nb.orientation import FOV_MM


@pytest.fixture(scope="module")
def pair():
    """Two related random images, batch of 3 (B x 1 x H x W) in [0, 1]."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 1, 40, 44, generator=g)
    target = torch.nn.functional.avg_pool2d(target, 3, 1, 1)  # some structure
    pred = (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    return pred, target


def test_psnr_equals_monai(pair):
    pred, target = pair
    ours = metrics.psnr(pred, target)
    ref = PSNRMetric(max_val=1.0)(pred, target).flatten()
    assert ours.shape == (3,)
    torch.testing.assert_close(ours, ref.float(), atol=1e-4, rtol=1e-5)


def test_ssim_equals_monai(pair):
    pred, target = pair
    ours = metrics.ssim(pred, target)
    ref = SSIMMetric(spatial_dims=2, data_range=1.0)(pred, target).flatten()
    assert ours.shape == (3,)
    torch.testing.assert_close(ours, ref.float(), atol=1e-4, rtol=1e-4)


def test_ssim_equals_scikit_image(pair):
    pred, target = pair
    ours = metrics.ssim(pred, target)
    for i in range(len(pred)):
        ref = structural_similarity(pred[i, 0].double().numpy(), target[i, 0].double().numpy(),
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        assert float(ours[i]) == pytest.approx(ref, abs=1e-3)


def test_mae_is_mean_absolute_error(pair):
    pred, target = pair
    expected = (pred - target).abs().flatten(1).mean(1)
    torch.testing.assert_close(metrics.mae(pred, target), expected)


def test_known_values():
    target = np.full((32, 32), 0.5, np.float32)
    assert float(metrics.psnr(target + 0.1, target)[0]) == pytest.approx(20.0, abs=1e-3)
    assert float(metrics.psnr(target - 0.01, target)[0]) == pytest.approx(40.0, abs=1e-2)
    image = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    assert float(metrics.ssim(image, image)[0]) == pytest.approx(1.0, abs=1e-6)
    assert float(metrics.mae(image, image)[0]) == 0.0
    assert float(metrics.mae(target + 0.25, target)[0]) == pytest.approx(0.25)
    # PSNR scales with the data range: range 2 -> +6.02 dB.
    assert float(metrics.psnr(target + 0.1, target, data_range=2.0)[0]) == pytest.approx(20 + 20 * np.log10(2), abs=1e-3)


def test_accepts_arrays_and_2d_images():
    a = np.zeros((16, 16), np.float32)
    b = np.full((16, 16), 0.1, np.float32)
    assert metrics.mae(a, b).shape == (1,)
    assert metrics.mae(torch.from_numpy(a), torch.from_numpy(b)).shape == (1,)


def test_mask_restricts_the_computation():
    rng = np.random.default_rng(2)
    target = rng.random((48, 48)).astype(np.float32)
    mask = np.zeros((48, 48), bool)
    mask[:, :20] = True
    pred = target.copy()
    pred[:, 32:] = rng.random((48, 16))  # error far (> 5 px, half the SSIM window) outside the mask
    assert float(metrics.mae(pred, target, mask)[0]) == 0.0
    assert float(metrics.mae(pred, target)[0]) > 0.0
    assert float(metrics.psnr(pred, target, mask)[0]) > 100
    assert float(metrics.ssim(pred, target, mask)[0]) == pytest.approx(1.0, abs=1e-6)
    assert float(metrics.ssim(pred, target)[0]) < 0.8
    # Error only inside the mask: the masked error is the error itself, the unmasked one diluted.
    pred2 = target.copy()
    pred2[mask] += 0.1
    assert float(metrics.mae(pred2, target, mask)[0]) == pytest.approx(0.1, abs=1e-6)
    assert float(metrics.psnr(pred2, target, mask)[0]) == pytest.approx(20.0, abs=1e-3)
    assert float(metrics.mae(pred2, target)[0]) == pytest.approx(0.1 * mask.mean(), abs=1e-6)


def test_ssim_mask_is_aligned_with_the_map():
    """A mask on the right side only sees errors on the right side, also for a
    non-square image (the map is cropped by the window radius on every side)."""
    rng = np.random.default_rng(3)
    target = rng.random((40, 56)).astype(np.float32)
    pred = target.copy()
    pred[:, :20] = 0.5  # destroy the left part
    right = np.zeros_like(target, bool)
    right[:, 28:] = True
    left = ~right
    assert float(metrics.ssim(pred, target, right)[0]) == pytest.approx(1.0, abs=1e-6)
    assert float(metrics.ssim(pred, target, left)[0]) < 0.7


def test_image_metrics_ct_reports_hu():
    target = np.full((1, 1, 24, 24), 0.4, np.float32)
    pred = target + 0.01
    out = metrics.image_metrics(pred, target, modality="ct")
    assert set(out) == {"psnr", "ssim", "mae", "mae_hu"}
    # 0.01 of the 3000 HU window is 30 HU.
    assert float(out["mae_hu"][0]) == pytest.approx(30.0, rel=1e-3)
    assert "mae_hu" not in metrics.image_metrics(pred, target, modality="t2")


def test_error_by_label():
    labels = np.array([[0, 0, 1], [1, 2, 2]])
    target = np.zeros((2, 3))
    pred = np.array([[1.0, 3.0, -2.0], [4.0, 5.0, 7.0]])
    series = metrics.error_by_label(pred, target, labels, {0: "air", 1: "csf", 2: "gm", 3: "wm"})
    assert isinstance(series, pd.Series)
    # Every pixel of this tiny map touches another label: no interior anywhere, all boundary.
    assert series.drop("boundary").isna().all()
    assert series["boundary"] == pytest.approx(np.abs(pred).mean())
    assert "wm" not in series  # absent label: no row, not NaN


def test_error_by_label_splits_each_tissue_into_interior_and_boundary():
    """Interior rows and the boundary row partition the labelled pixels: the pixel-weighted
    mean of the rows is the mean error over all of them, and each tissue's interior lies
    inside it, away from every other tissue."""
    rng = np.random.default_rng(0)
    labels = np.zeros((2, 24, 24), np.uint8)
    labels[:, 4:20, 4:20] = 1
    labels[:, 8:14, 8:16] = 2
    error = rng.uniform(0, 1, labels.shape)
    names = {0: "air", 1: "csf", 2: "gm"}
    series = metrics.error_by_label(error, np.zeros_like(error), labels, names)
    interior = metrics.interior_mask(labels)
    counts = {name: int(((labels == code) & interior).sum()) for code, name in names.items()}
    counts["boundary"] = int((~interior).sum())
    assert sum(counts.values()) == labels.size and min(counts.values()) > 0
    pooled = sum(series[name] * n for name, n in counts.items()) / labels.size
    assert pooled == pytest.approx(error.mean())
    assert (ndimage.binary_erosion(labels[0] == 2, np.ones((3, 3))) == (interior[0] & (labels[0] == 2))).all()
    assert series["gm"] == pytest.approx(error[(labels == 2) & interior].mean())


def test_error_by_label_interior_of_the_phantom_is_purer_tissue():
    """On a phantom slice, a tissue's interior pixels hold mostly that tissue more often than
    all the pixels its argmax label names (for the thin CSF and scalp-fat layers, where the
    course's per-tissue errors were mostly edge)."""
    subject = phantom.make_subject(3, *phantom.axial_grid(96, 1), tumor=None)
    labels = subject.tissue[..., 0]
    interior = metrics.interior_mask(labels)
    for code, channel in ((1, 1), (5, 6)):  # csf; fat (tissue code 5 is fraction channel 6)
        named = labels == code
        pure = subject.fractions[channel][..., 0] >= 0.9
        assert (named & interior).sum() >= 5
        assert pure[named & interior].mean() > pure[named].mean() + 0.1


def test_ceiling_is_the_noise_free_acquisition_and_beats_the_clean_image(tiny_data):
    """A task's ceiling: the noise-free acquisition scored against the acquired target. It
    keeps the session's receive field, so it scores above the field-free clean image, and
    its blur against itself is zero."""
    test = tiny_data.test
    top = metrics.ceiling(test, "t1:t2")
    assert list(top.index) == test.subjects
    clean = metrics.evaluate(test.clean["t2"], test, "t1:t2")
    assert (top["psnr"] > clean["psnr"] + 3).all()
    assert np.allclose(top["blur_mm"], 0.0)
    table = metrics.summarize({"lookup": clean, "ceiling": top,
                               "half way": top.assign(psnr=(top["psnr"] + clean["psnr"]) / 2)})
    closed = metrics.gap_closed(table, "lookup", "ceiling")
    assert closed.to_dict() == pytest.approx({"lookup": 0.0, "ceiling": 1.0, "half way": 0.5})
    no_truth = dataclasses.replace(test, noise_free=None)
    with pytest.raises(ValueError, match="noise-free"):
        metrics.ceiling(no_truth, "t1:t2")
    # Real scans: the table goes on without the row, and the gap is unknown.
    assert set(metrics.with_ceiling({"lookup": clean}, no_truth, "t1:t2")) == {"lookup"}
    assert set(metrics.with_ceiling({"lookup": clean}, test, "t1:t2")) == {"lookup", metrics.CEILING}
    assert metrics.gap_closed(metrics.summarize({"lookup": clean}), "lookup", metrics.CEILING).isna().all()


def test_evaluate_blur_reads_a_known_blur(tiny_data):
    """``blur_mm`` of the noise-free target blurred by a known Gaussian is that blur."""
    test = tiny_data.test
    pixel_mm = FOV_MM / test.images["t2"].shape[-1]  # tiny_data's pixels are coarse: blur by one of them
    sigma = 1.0 / FWHM_PER_SIGMA
    blurred = ndimage.gaussian_filter(test.noise_free["t2"], (0, sigma, sigma))
    assert metrics.evaluate(blurred, test, "t1:t2")["blur_mm"].to_numpy() == pytest.approx(pixel_mm, abs=0.5)
    assert np.allclose(metrics.evaluate(test.noise_free["t2"], test, "t1:t2")["blur_mm"], 0.0)


def test_evaluate_per_subject(tiny_data):
    test = tiny_data.test
    perfect = metrics.evaluate(test.images["t2"], test, "t1:t2")
    assert list(perfect.index) == test.subjects
    assert {"psnr", "ssim", "mae"} <= set(perfect.columns)
    assert (perfect["mae"] == 0).all()
    assert np.allclose(perfect["ssim"], 1.0, atol=1e-5)
    # Against the clean truth, the acquired image itself has an error (the noise).
    noisy = metrics.evaluate(test.images["t2"], test, "t1:t2", against="clean")
    assert (noisy["mae"] > 0).all()
    assert (noisy["psnr"] < perfect["psnr"]).all()
    ct = metrics.evaluate(test.images["ct"], test, "t1:ct")
    assert "mae_hu" in ct.columns


def test_evaluate_masks_out_air(tiny_data):
    """Errors in the air around the head do not count."""
    test = tiny_data.test
    pred = test.images["t2"].copy()
    pred[test.tissue == 0] = 1.0
    frame = metrics.evaluate(pred, test, "t1:t2")
    assert (frame["mae"] == 0).all()


def test_predict_set_covers_every_slice(tiny_data):
    seen = []

    def predict(source):
        seen.append(source.shape[0])
        return source[:, :1] * 0.5

    out = metrics.predict_set(predict, tiny_data.train, "t1:t2", batch_size=3)
    assert out.shape == tiny_data.train.images["t1"].shape
    assert sum(seen) == len(tiny_data.train) and max(seen) <= 3
    np.testing.assert_allclose(out, tiny_data.train.images["t1"] * 0.5)


def test_summarize_mean_and_sd_over_subjects():
    a = pd.DataFrame({"psnr": [20.0, 22.0, 24.0], "mae": [0.1, 0.2, 0.3]}, index=["s1", "s2", "s3"])
    b = pd.DataFrame({"psnr": [18.0], "mae": [0.4]}, index=["s1"])
    table = metrics.summarize({"model": a, "baseline": b})
    assert table.loc["model", "psnr"] == pytest.approx(22.0)
    assert table.loc["model", "psnr_sd"] == pytest.approx(2.0)
    assert table.loc["model", "mae_sd"] == pytest.approx(0.1)
    assert table.loc["model", "subjects"] == 3
    assert np.isnan(table.loc["baseline", "psnr_sd"])
    assert table.loc["baseline", "subjects"] == 1


def test_worst_slices(tiny_data):
    s = tiny_data.test
    pred = s.images["t2"].copy()
    pred[1][s.tissue[1] > 0] += 0.5
    assert metrics.worst_slices(pred, s, "t1:t2", n=1).tolist() == [1]


def test_paired_comparison_over_subjects():
    subjects = [f"s{i}" for i in range(6)]
    b = pd.DataFrame({"psnr": [18.0, 19, 20, 21, 22, 23], "mae": [0.2] * 6}, index=subjects)
    a = b.assign(psnr=b["psnr"] + [1.0, 2, 1, 3, 1, 2], mae=b["mae"] - 0.05)
    table = metrics.paired_comparison(a, b, columns=("psnr", "mae"))
    assert table.loc["psnr", "mean a - b"] == pytest.approx(10 / 6)
    assert table.loc["psnr", "a better on"] == 6 and table.loc["mae", "a better on"] == 6  # lower MAE is better
    assert table.loc["psnr", "wilcoxon p"] == pytest.approx(2 / 2**6)  # exact two-sided, all six agree
    same = metrics.paired_comparison(b, b, columns=("psnr",))
    assert same.loc["psnr", "wilcoxon p"] == 1.0 and same.loc["psnr", "a better on"] == 0
    with pytest.raises(ValueError, match="same subjects"):
        metrics.paired_comparison(a, b.rename(index=lambda s: s + "x"))


def test_imputation_table_scores_every_subset_and_target(tiny_data):
    from medsynth_nb.models import build_model
    from medsynth_nb.profiles import get_profile

    model = build_model("resvit", "t1,t2,pd:flair", get_profile("smoke"), unified=True, image_size=32)
    table = metrics.evaluate_imputation(model, tiny_data.test)
    assert len(table) == 4 * 7  # 4 targets, each from the 7 non-empty subsets of the other 3
    assert sorted(table["n_inputs"].unique()) == [1, 2, 3]
    assert set(table["target"]) == {"t1", "t2", "pd", "flair"}
    assert all(row.target not in row.inputs.split(" + ") for row in table.itertuples())
    assert table[["psnr", "ssim", "mae"]].notna().all().all()
