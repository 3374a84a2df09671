"""Chapter 08's evaluation: the baselines, volume change and the tables per subject and gap."""
import numpy as np
import pandas as pd
import pytest
import torch

from medsynth_nb.analysis.longitudinal import (
    error_by_gap,
    extrapolated_labels,
    forecast_table,
    no_change,
    segment_forecast,
    volume_summary,
    volume_table,
)
from medsynth_nb.data.longitudinal import FollowUpSlices, load_longitudinal

SIZE = 48


@pytest.fixture(scope="module")
def data():
    return load_longitudinal(4, 32, 2, seed=0, progress=False)


def disc(radius: float, center=(24.3, 23.6)) -> np.ndarray:
    rows, cols = np.mgrid[:SIZE, :SIZE]
    return np.hypot(rows - center[0], cols - center[1]) < radius


def growing_discs(radii, days, pairs) -> FollowUpSlices:
    """One slice whose tumour is a disc of ``radii[k]`` pixels at visit k, on ``days``."""
    tumor = np.stack([disc(r) for r in radii])[None].astype(np.uint8) * 2
    images = tumor.astype(np.float32) / 2
    return FollowUpSlices(images, images.copy(), tumor, np.asarray([days], float), np.ones((1, SIZE, SIZE), np.uint8),
                          np.array([0.01]), np.array(["s"]), (1.0, 1.0, 5.0), pairs)


def test_extrapolated_labels_follow_a_front_moving_at_constant_speed():
    # Radius 4 + 0.03 px/day: visits on days 0, 100, 150, 300.
    days = [0, 100, 150, 300]
    slices = growing_discs([4 + 0.03 * d for d in days], days, [((0, 1), 2), ((0, 1), 3)])
    masks = extrapolated_labels(slices)
    for mask, day in zip(masks, (150, 300)):
        radius = np.sqrt(mask.sum() / np.pi)
        assert radius == pytest.approx(4 + 0.03 * day, abs=0.5), (day, radius)
    assert np.sqrt(masks[1].sum() / np.pi) > np.sqrt(slices.tumor[0, 1].astype(bool).sum() / np.pi) + 3
    one = extrapolated_labels(slices.with_pairs([((1,), 2)]))
    assert np.array_equal(one[0], slices.tumor[0, 1] > 0), "one prior: the mask stays as it was"


def test_no_change_has_no_volume_change_and_the_truth_has_no_error(data):
    test = data.test
    entries = test.entries()
    last = no_change(test)
    assert np.array_equal(last, test.images[entries["slice"], 1])
    truth = test.tumor[entries["slice"], entries["target"]] > 0
    table = volume_table({"no change": test.tumor[entries["slice"], 1] > 0, "truth": truth,
                          "extrapolated": extrapolated_labels(test)}, test)
    assert len(table) == 3 * len(test.subjects) * 2
    frozen = table[table.method == "no change"]
    assert np.allclose(frozen["predicted_change_ml"], 0) and (frozen["true_change_ml"] > 0).all(), "it grows"
    exact = table[table.method == "truth"]
    assert np.allclose(exact["error_ml"], 0) and np.allclose(exact["dice"], 1)
    # The volume of one subject's slab: pixel area (mm^2) x 5 mm / 1000.
    row = exact.iloc[0]
    part = entries["subject"] == row.subject
    part &= entries["target"] == row.target
    grown = truth[part].sum() - (test.tumor[entries["slice"][part], 1] > 0).sum()
    assert row.true_change_ml == pytest.approx(grown * (230 / 32) ** 2 * 5 / 1000)
    summary = volume_summary(table)
    assert list(summary.index) == ["no change", "truth", "extrapolated"]
    assert summary.loc["truth", "abs_error_ml"] == 0 and summary.loc["truth", "dice"] == pytest.approx(1)
    assert summary.loc["no change", "abs_error_ml"] == pytest.approx(frozen["true_change_ml"].mean())


def test_forecast_table_scores_each_subject_and_gap(data):
    test = data.test
    perfect = test.batch(None, np.arange(test.n_entries))["target"][:, 0].numpy()
    table = forecast_table({"no change": no_change(test), "truth": perfect}, test)
    assert list(table.columns) == ["method", "subject", "target", "gap_days", "mae", "psnr"]
    assert len(table) == 2 * len(test.subjects) * 2
    assert (table[table.method == "truth"]["mae"] == 0).all()
    assert (table[table.method == "no change"]["mae"] > 0).all()
    gaps = pd.DataFrame(test.entries()).groupby(["subject", "target"])["gap_days"].first()
    for _, row in table.iterrows():
        assert row.gap_days == pytest.approx(gaps[(row.subject, row.target)])
    by_gap = error_by_gap(table, [0, 100, 1000])
    assert set(by_gap.columns) == {"method", "gap_days", "mae", "psnr", "n"}
    assert by_gap.groupby("method")["n"].sum().tolist() == [2 * len(test.subjects)] * 2
    with pytest.raises(ValueError, match="one image per entry"):
        forecast_table({"wrong": perfect[:1]}, test)
    with pytest.raises(ValueError, match="gap_days"):
        error_by_gap(table.drop(columns="gap_days"), [0, 100])


def test_segment_forecast_reads_each_forecast_with_the_segmenter(data):
    def bright(images: torch.Tensor) -> torch.Tensor:  # a stand-in segmenter: bright = oedema
        assert images.shape[1] == 1
        return (images > 0.7).long() * 2

    forecasts = {"no change": no_change(data.test)}
    masks = segment_forecast(bright, forecasts)
    assert masks["no change"].dtype == bool and np.array_equal(masks["no change"], forecasts["no change"] > 0.7)
