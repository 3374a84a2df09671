"""Uncertainty evaluation: sparsification and AUSE against the oracle, interval coverage
of calibrated and over-confident scales, OOD AUROC with ties, per-subject tables, shapes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medsynth_nb.metrics import uncertainty as ue


@pytest.fixture(scope="module")
def error():
    return np.random.default_rng(0).random((8, 50, 50))  # 20 000 pixels


def test_oracle_ordering_has_zero_ause(error):
    for uncertainty in (error, 2 * error + 1):  # only the order matters
        curve = ue.sparsification(uncertainty, error)
        assert ue.ause(curve) == 0.0
        assert np.array_equal(curve["by_uncertainty"], curve["oracle"])
    assert curve["oracle"].iloc[0] == 1.0
    assert (np.diff(curve["oracle"]) < 0).all()  # removing the worst pixels lowers the error
    assert ue.aurg(curve) > 0.3


def test_random_uncertainty_is_flat_and_far_from_the_oracle(error):
    curve = ue.sparsification(np.random.default_rng(1).random(error.shape), error)
    assert list(curve.columns) == ["fraction_removed", "by_uncertainty", "oracle", "random"]
    assert len(curve) == 50 and curve["fraction_removed"].iloc[-1] == pytest.approx(0.98)
    assert curve["by_uncertainty"].iloc[0] == pytest.approx(1.0)
    early = curve[curve["fraction_removed"] <= 0.9]
    np.testing.assert_allclose(early["by_uncertainty"], 1.0, atol=0.06)
    assert (curve["random"] == 1.0).all()
    assert ue.ause(curve) > 0.3
    assert abs(ue.aurg(curve)) < 0.03


def test_a_misleading_map_is_worse_than_random(error):
    curve = ue.sparsification(-error, error)
    assert ue.aurg(curve) < -0.3
    assert ue.ause(curve) > ue.ause(ue.sparsification(np.random.default_rng(1).random(error.shape), error))


def test_ties_do_not_borrow_the_pixel_or_error_order():
    # Error falling along raster order: breaking ties by pixel order would copy the oracle.
    error = np.linspace(1, 0.01, 400).reshape(1, 20, 20)
    curve = ue.sparsification(np.ones_like(error), error)
    np.testing.assert_allclose(curve["by_uncertainty"], 1.0, rtol=1e-12)
    assert ue.ause(curve) > 0.3


def test_partial_ties_count_the_mean_error_of_their_group():
    error = np.array([[[4.0, 0.0, 3.0, 1.0]]])  # mean 2
    uncertainty = np.array([[[1.0, 1.0, 0.5, 0.0]]])  # the first two tied at the top
    curve = ue.sparsification(uncertainty, error, fractions=[0.25, 0.5, 0.75])
    # Removing one of the tied pair removes error 2 on average (6 / 3 left), not the 4.
    np.testing.assert_allclose(curve["by_uncertainty"], [1.0, 1.0, 0.5])
    np.testing.assert_allclose(curve["oracle"], [(4 / 3) / 2, (1 / 2) / 2, 0.0])


def test_pixels_outside_the_mask_are_ignored(error):
    uncertainty = np.random.default_rng(2).random(error.shape)
    mask = np.zeros(error.shape, bool)
    mask[:, 10:40, 10:40] = True
    noisy = np.where(mask, error, 100.0)  # huge errors outside, ranked last by the map
    masked = ue.sparsification(np.where(mask, uncertainty, -1), noisy, mask)
    inside = ue.sparsification(uncertainty[mask], error[mask])
    pd.testing.assert_frame_equal(masked, inside)


def test_sparsification_rejects_bad_input(error):
    with pytest.raises(ValueError, match=r"uncertainty \(8, 50, 49\), error \(8, 50, 50\)"):
        ue.sparsification(error[..., :49], error)
    with pytest.raises(ValueError, match=r"mask \(50, 50\)"):
        ue.sparsification(error, error, mask=np.ones((50, 50), bool))
    with pytest.raises(ValueError, match="fractions"):
        ue.sparsification(error, error, fractions=[0, 1.0])
    with pytest.raises(ValueError, match="zero at every pixel"):
        ue.sparsification(error, np.zeros_like(error))
    with pytest.raises(ValueError, match="no pixel"):
        ue.sparsification(error, error, mask=np.zeros(error.shape, bool))


def test_torch_tensors_are_accepted(error):
    torch = pytest.importorskip("torch")
    curve = ue.sparsification(torch.tensor(error, requires_grad=True), torch.tensor(error))
    assert ue.ause(curve) == 0.0


@pytest.fixture(scope="module")
def predictive():
    """200 000 pixels: means and scales, and targets drawn from N(mean, sigma) and
    Laplace(mean, b) with the same scales (so both are calibrated by construction)."""
    rng = np.random.default_rng(0)
    shape = (2, 100, 1000)
    mean, scale = rng.random(shape), rng.uniform(0.01, 0.1, shape)
    return mean, scale, mean + scale * rng.standard_normal(shape), mean + rng.laplace(0, scale)


@pytest.mark.parametrize("distribution", ["gaussian", "laplace"])
def test_calibrated_scales_cover_their_nominal_level(predictive, distribution):
    mean, scale, gaussian_target, laplace_target = predictive
    target = gaussian_target if distribution == "gaussian" else laplace_target
    table = ue.interval_coverage(mean, scale, target, distribution=distribution)
    assert list(table.columns) == ["nominal", "observed", "mean_width"]
    np.testing.assert_allclose(table["nominal"], [0.5, 0.8, 0.9, 0.95])
    np.testing.assert_allclose(table["observed"], table["nominal"], atol=0.01)
    assert ue.calibration_error(table) < 0.01


def test_the_wrong_distribution_or_too_small_a_scale_miscovers(predictive):
    mean, scale, gaussian_target, laplace_target = predictive
    overconfident = ue.interval_coverage(mean, scale / 2, gaussian_target, distribution="gaussian")
    assert (overconfident["observed"] < overconfident["nominal"] - 0.1).all()
    assert ue.calibration_error(overconfident) > 0.1
    # Laplace intervals on Gaussian targets: too wide at 95 % (Laplace tails are heavier).
    mismatched = ue.interval_coverage(mean, scale / np.sqrt(2), gaussian_target, levels=[0.95])
    assert mismatched["observed"].iloc[0] > 0.96


def test_interval_width_uses_the_unit_quantile():
    ones = np.ones((1, 2, 2))
    gaussian = ue.interval_coverage(0 * ones, ones, ones, levels=[0.95], distribution="gaussian")
    laplace = ue.interval_coverage(0 * ones, ones, ones, levels=[0.9], distribution="laplace")
    assert gaussian["mean_width"].iloc[0] == pytest.approx(2 * 1.959964, rel=1e-6)
    assert laplace["mean_width"].iloc[0] == pytest.approx(2 * np.log(10), rel=1e-12)
    assert laplace["observed"].iloc[0] == 1.0  # |1 - 0| <= ln 10


def test_interval_coverage_rejects_bad_input():
    ones = np.ones((1, 4, 4))
    with pytest.raises(ValueError, match="'laplace'.*'gaussian'"):
        ue.interval_coverage(ones, ones, ones, distribution="normal")
    with pytest.raises(ValueError, match="levels"):
        ue.interval_coverage(ones, ones, ones, levels=[0.5, 1.0])
    with pytest.raises(ValueError, match="negative"):
        ue.interval_coverage(ones, -ones, ones)
    with pytest.raises(ValueError, match=r"scale \(1, 4, 3\)"):
        ue.interval_coverage(ones, ones[..., :3], ones)


def test_ood_auroc_known_values():
    assert ue.ood_auroc([0, 1, 2], [3, 4]) == 1.0
    assert ue.ood_auroc([3, 4], [0, 1, 2]) == 0.0
    assert ue.ood_auroc([1.0] * 5, [1.0] * 7) == 0.5
    # Pairs (out > in) of [2, 4] over [1, 2, 3]: 1 + 0.5 (tie) + 3 = 4.5 of 6.
    assert ue.ood_auroc([1, 2, 3], [2, 4]) == pytest.approx(0.75)
    rng = np.random.default_rng(0)
    assert ue.ood_auroc(rng.normal(size=4000), rng.normal(size=3000)) == pytest.approx(0.5, abs=0.03)


def test_ood_auroc_equals_scikit_learn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    scores_in, scores_out = rng.integers(0, 5, 300), rng.integers(1, 6, 200)  # many ties
    expected = metrics.roc_auc_score(np.r_[np.zeros(300), np.ones(200)], np.r_[scores_in, scores_out])
    assert ue.ood_auroc(scores_in, scores_out) == pytest.approx(expected, abs=1e-12)


def test_ood_auroc_rejects_empty_or_nan():
    with pytest.raises(ValueError, match="0 in-distribution and 2 out-of-distribution"):
        ue.ood_auroc([], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        ue.ood_auroc([1, np.nan], [1, 2])


def test_per_subject_means_by_hand():
    uncertainty = np.array([[[1, 2]], [[5, 6]], [[9, 10]]], float)  # 3 slices of 1 x 2
    error = uncertainty + 2
    mask = np.array([[[True, True]], [[True, True]], [[True, False]]])
    table = ue.per_subject(uncertainty, error, ["a", "b", "a"], mask)
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["uncertainty", "error", "n_pixels"]
    np.testing.assert_allclose(table.loc["a"], [(1 + 2 + 9) / 3, (3 + 4 + 11) / 3, 3])
    np.testing.assert_allclose(table.loc["b"], [5.5, 7.5, 2])
    with pytest.raises(ValueError, match=r"subject_ids \(2,\).*\(3, 1, 2\)"):
        ue.per_subject(uncertainty, error, ["a", "b"])


def test_subject_rank_correlation():
    table = pd.DataFrame({"uncertainty": [0.1, 0.3, 0.2, 0.4], "error": [1.0, 3.0, 2.0, 5.0],
                          "n_pixels": [10, 10, 10, 10]}, index=list("abcd"))
    assert ue.subject_rank_correlation(table) == pytest.approx(1.0)
    table.loc["d", "error"] = 0.5
    assert ue.subject_rank_correlation(table) == pytest.approx(-0.2)  # d goes from rank 4 to 1
    assert np.isnan(ue.subject_rank_correlation(table.iloc[:2]))


def test_uncertainty_report_one_row_per_method(error):
    rng = np.random.default_rng(3)
    maps = {"oracle": error, "noise": rng.random(error.shape), "inverse": -error}
    mask = np.ones(error.shape, bool)
    report = ue.uncertainty_report(maps, error, mask, ood={"oracle": ([0, 1], [2, 3])},
                                   cost={"oracle": "needs the truth"})
    assert list(report.index) == list(maps)
    assert list(report.columns) == ["rank_corr", "ause", "aurg", "ood_auroc", "cost"]
    assert report.loc["oracle", "rank_corr"] == pytest.approx(1.0)
    assert report.loc["inverse", "rank_corr"] == pytest.approx(-1.0)
    assert report.loc["oracle", "ause"] == 0.0
    assert report.loc["inverse", "aurg"] < 0 < report.loc["oracle", "aurg"]
    assert report.loc["oracle", "ood_auroc"] == 1.0 and np.isnan(report.loc["noise", "ood_auroc"])
    assert report.loc["noise", "cost"] == ""
    assert list(ue.uncertainty_report(maps, error).columns) == ["rank_corr", "ause", "aurg"]
    with pytest.raises(ValueError, match=r"\['ensemble'\]"):
        ue.uncertainty_report(maps, error, ood={"ensemble": ([0], [1])})
    with pytest.raises(ValueError, match="Shapes differ"):
        ue.uncertainty_report({"bad": error[:2]}, error)


def test_region_ratio_by_hand():
    values = np.array([[[4.0, 2.0], [1.0, 9.0]]])
    region = np.array([[[True, False], [False, False]]])
    mask = np.array([[[True, True], [True, False]]])
    assert ue.region_ratio(values, region, mask) == pytest.approx(4.0 / 1.5)  # the 9 lies outside the mask
    with pytest.raises(ValueError, match="some inside and some outside"):
        ue.region_ratio(values, np.zeros_like(region), mask)


def test_sparsification_computes_its_curves_with_the_curve_it_is_given(error):
    uncertainty = np.random.default_rng(3).random(error.shape)
    calls = []

    def curve(ranking, err, fractions):
        calls.append(ranking.shape)
        return ue.sparsification_curve(ranking, err, fractions) * 2

    doubled = ue.sparsification(uncertainty, error, curve=curve)
    plain = ue.sparsification(uncertainty, error)
    assert len(calls) == 2, "one call for the map, one for the oracle"
    np.testing.assert_allclose(doubled["by_uncertainty"], 2 * plain["by_uncertainty"])
    np.testing.assert_allclose(doubled["oracle"], 2 * plain["oracle"])
