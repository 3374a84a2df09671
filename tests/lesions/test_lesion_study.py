"""Chapter 06's measurement side: the lesion segmenter, the controllability study and the
Dice-vs-k study of synthetic training data.

Oracles make the studies checkable without training: a segmenter that returns the
requested labels must score perfectly, one that finds nothing must fail. Data are tiny
phantoms (32 px) and training runs a few steps, so the file runs in seconds.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from medsynth_nb import viz
from medsynth_nb.data.lesion_pairs import EditCanvas, concat_slices, edit_canvases, load_lesion_pairs
from medsynth_nb.lesions.study import (
    ARMS,
    DIFFERENCE,
    canvas_mm_per_px,
    controllability,
    controllability_summary,
    dice_vs_k,
    dice_vs_k_summary,
    erase_and_invent,
    lesion_measures,
    random_edits,
    synthetic_slices,
)
from medsynth_nb.models.lesion_segmenter import LesionSegmenter, dice, region_dice
from medsynth_nb.profiles import get_profile

SIZE = 32
CHANNELS = (8, 16)


@pytest.fixture(scope="module")
def data():
    # 7 subjects: 4 train, 1-2 val/test (split 0.6/0.2/0.2).
    return load_lesion_pairs(7, SIZE, 3, progress=False)


@pytest.fixture(scope="module")
def canvases():
    return edit_canvases(3, SIZE)


@pytest.fixture(scope="module")
def edits(canvases):
    return random_edits(canvases, 12, seed=0)


class Oracle:
    """A stand-in segmenter that knows the answer: the labels belonging to each image it was
    told about, background for any other image."""

    def __init__(self, images, labels):
        self.answers = {np.asarray(image, np.float32).tobytes(): label for image, label in zip(images, labels)}

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        shape = images.shape[2:]
        found = [self.answers.get(image.numpy().tobytes(), np.zeros(shape, np.uint8)) for image in images]
        return torch.from_numpy(np.stack(found).astype(np.int64))[:, None]


def physics(canvas, labels):
    return canvas.physics(labels)


# --------------------------------------------------------------------------- the segmenter


def test_train_step_reduces_the_loss_on_a_fixed_batch(data):
    torch.manual_seed(0)
    model = LesionSegmenter(channels=CHANNELS)
    optimizer = model.make_optimizers()["net"]

    def update(loss, name):
        assert name == "net"
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    batch = data.train.tensors(data.train.with_lesion[:8])
    model.train()
    losses = [float(model.train_step(batch, update)["dice_ce"].detach()) for _ in range(30)]
    assert losses[-1] < 0.8 * losses[0], losses


def test_predict_gives_a_label_map_and_the_config_rebuilds_the_model(data):
    model = LesionSegmenter.for_task(None, get_profile("smoke"))
    pred = model.predict(data.train.tensors([0, 1])["images"])
    assert pred.shape == (2, 1, SIZE, SIZE) and pred.dtype == torch.long
    assert set(pred.unique().tolist()) <= {0, 1, 2, 3}
    assert not model.training
    assert LesionSegmenter(**model.config).config == model.config
    with pytest.raises(ValueError, match="task=None"):
        LesionSegmenter.for_task("t1:t2", get_profile("smoke"))
    with pytest.raises(ValueError, match="B x 4 x H x W"):
        model.predict(torch.zeros(1, 3, SIZE, SIZE))


def test_validation_scores_are_one_for_a_perfect_predictor_and_less_for_background(data, monkeypatch):
    model = LesionSegmenter(channels=CHANNELS)
    val = data.val
    monkeypatch.setattr(model, "predict", Oracle(val.images, val.labels).predict)
    assert model.validation_scores(val, "cpu") == {"dice_wt": 1.0, "dice_tc": 1.0, "dice_et": 1.0, "dice": 1.0}
    monkeypatch.setattr(model, "predict", Oracle([], []).predict)
    scores = model.validation_scores(val, "cpu")
    assert scores["dice_wt"] == 0.0 and scores["dice"] < 1.0  # every subject has a tumour


def test_dice_definitions():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    assert dice(a, b) == 1.0  # both empty: nothing to find, nothing found
    b[0, :2] = True
    assert dice(a, b) == 0.0
    a[0, 1:3] = True
    assert dice(a, b) == pytest.approx(0.5)  # 2 * 1 / (2 + 2)
    labels = np.array([[0, 1, 2, 3]])
    assert region_dice(labels, labels) == {"dice_wt": 1.0, "dice_tc": 1.0, "dice_et": 1.0}
    # Necrosis called enhancing: the whole tumour and the core are right, the enhancing part is not.
    swapped = region_dice(np.array([[0, 3, 2, 3]]), labels)
    assert swapped["dice_wt"] == 1.0 and swapped["dice_tc"] == 1.0 and swapped["dice_et"] == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- measures and edits


def test_lesion_measures_of_a_disc():
    rows, cols = np.mgrid[:64, :64]
    center, radius, mm = (30.0, 21.0), 9.0, 0.7
    disc = ((rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius**2).astype(np.uint8) * 2
    area, (row, col) = lesion_measures(disc, mm)
    assert area == pytest.approx(math.pi * radius**2 * mm**2, rel=0.03)
    assert (row, col) == pytest.approx(center, abs=1e-9)
    area, centroid = lesion_measures(np.zeros((8, 8), np.uint8), mm)
    assert area == 0.0 and np.isnan(centroid).all()
    with pytest.raises(ValueError, match="H x W"):
        lesion_measures(np.zeros((1, 8, 8)), mm)


def test_random_edits_are_reproducible_inside_the_brain_and_spread(canvases, edits):
    again = random_edits(canvases, 12, seed=0)
    assert [i for i, _ in again] == [i for i, _ in edits]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(again, edits))
    other = random_edits(canvases, 12, seed=1)
    assert not all(np.array_equal(a, b) for (_, a), (_, b) in zip(other, edits))
    assert len(edits) == 12 and {i for i, _ in edits} == {0, 1, 2}
    areas = []
    for index, labels in edits:
        assert labels.dtype == np.uint8 and labels.any()
        assert not (labels > 0)[~canvases[index].brain].any()
        areas.append(lesion_measures(labels, canvas_mm_per_px(canvases[index]))[0])
    assert max(areas) > 3 * min(areas), areas


def test_random_edits_redraw_refused_edits_and_give_up_clearly(canvases):
    # A brain of a few pixels along the border: almost every preset falls outside it.
    tiny = EditCanvas(canvases[0].subject, canvases[0].healthy, np.zeros_like(canvases[0].brain),
                                 canvases[0].scale)
    tiny.brain[0, :2] = True
    with pytest.raises(RuntimeError, match="fitted in its brain"):
        random_edits([tiny], 1, seed=0)


# --------------------------------------------------------------------------- controllability


def test_controllability_of_an_oracle_is_perfect_and_of_a_blank_renderer_fails(canvases, edits):
    rendered = [physics(canvases[i], labels) for i, labels in edits]
    oracle = Oracle(rendered, [labels for _, labels in edits])
    frame = controllability(physics, oracle, canvases, edits)
    assert len(frame) == len(edits)
    assert (frame["measured_mm2"] == frame["requested_mm2"]).all()
    summary = controllability_summary(frame)
    assert summary["volume_r"] == pytest.approx(1.0)
    assert summary["median_abs_volume_error_pct"] == 0 and summary["median_centroid_error_mm"] == 0
    assert summary["mean_dice_wt"] == 1.0 and summary["missed"] == 0

    def blank(canvas, labels):
        return np.zeros((4, *labels.shape), np.float32)

    failing = controllability_summary(controllability(blank, oracle, canvases, edits))
    assert np.isnan(failing["volume_r"]) and np.isnan(failing["median_centroid_error_mm"])
    assert failing["median_abs_volume_error_pct"] == 100 and failing["missed"] == 1 and failing["mean_dice_wt"] == 0


def test_controllability_rejects_a_renderer_of_the_wrong_shape(canvases, edits):
    with pytest.raises(ValueError, match="render_fn returned shape"):
        controllability(lambda c, l: np.zeros((3, *l.shape)), Oracle([], []), canvases, edits)


def test_synthetic_slices_concatenate_with_real_ones(data, canvases, edits):
    synthetic = synthetic_slices(physics, canvases, edits)
    assert len(synthetic) == len(edits) and synthetic.images.shape[1:] == (4, SIZE, SIZE)
    assert np.array_equal(synthetic.labels[3], edits[3][1])
    both = concat_slices(data.train, synthetic)
    assert len(both) == len(data.train) + len(synthetic) and both.healthy is not None
    assert set(both.subjects) == set(data.train.subjects) | set(synthetic.subjects)
    without = synthetic.select(np.arange(2))
    without.healthy = None
    assert concat_slices(data.train, without).healthy is None
    with pytest.raises(ValueError, match="different image sizes"):
        concat_slices(data.train, load_lesion_pairs(5, 24, 1, progress=False).train)


# --------------------------------------------------------------------------- synthetic data for training


def test_dice_vs_k_rows_nested_subjects_and_equal_budgets(data, canvases, edits):
    profile = dataclasses.replace(get_profile("smoke"), channels=CHANNELS, batch_size=4, max_eval_slices=4)
    synthetic = synthetic_slices(physics, canvases, edits)
    frame = dice_vs_k(data, synthetic, ks=(2, 1), seeds=(0, 1), profile=profile, steps=1)
    assert len(frame) == 2 * 2 * 2
    assert set(zip(frame["k"], frame["seed"], frame["arm"])) == {(k, s, a) for k in (1, 2) for s in (0, 1)
                                                                  for a in ARMS}
    assert (frame["steps"] == 1).all()
    for seed, rows in frame.groupby("seed"):
        chosen = {k: set(group["subjects"].iloc[0].split(",")) for k, group in rows.groupby("k")}
        assert chosen[1] < chosen[2] and len(chosen[2]) == 2
        assert rows.groupby("k")["subjects"].nunique().eq(1).all()  # both arms, the same real subjects
    assert frame[["dice_wt", "dice_tc", "dice_et"]].stack().between(0, 1).all()
    with pytest.raises(ValueError, match="between 1 and"):
        dice_vs_k(data, None, ks=(9,), seeds=(0,), profile=profile, steps=1)


def test_dice_vs_k_summary_intervals_and_paired_difference():
    real = [0.5, 0.6, 0.7]
    gain = [0.05, 0.06, 0.07]
    frame = pd.DataFrame([{"k": 2, "seed": s, "arm": arm, "dice_wt": real[s] + (g if arm == ARMS[1] else 0)}
                          for s, g in enumerate(gain) for arm in ARMS])
    summary = dice_vs_k_summary(frame).set_index("arm")
    assert (summary["ci_low"] < summary["mean"]).all() and (summary["mean"] < summary["ci_high"]).all()
    half = stats.t.ppf(0.975, 2) * np.std(real, ddof=1) / np.sqrt(3)
    assert summary.loc[ARMS[0], ["mean", "ci_low", "ci_high"]].tolist() == pytest.approx([0.6, 0.6 - half,
                                                                                         0.6 + half])
    assert summary.loc[DIFFERENCE, "mean"] == pytest.approx(np.mean(gain))
    # Paired: the subjects' spread cancels, so the gain is resolved though the arms' intervals overlap.
    assert summary.loc[DIFFERENCE, "ci_low"] > 0 and summary.loc[ARMS[1], "ci_low"] < summary.loc[ARMS[0], "mean"]
    one_seed = dice_vs_k_summary(frame[frame["seed"] == 0])
    assert one_seed["ci_low"].isna().all()


def test_plots_return_figures(canvases, edits):
    rendered = [physics(canvases[i], labels) for i, labels in edits]
    frame = controllability(physics, Oracle(rendered, [labels for _, labels in edits]), canvases, edits)
    fig = viz.controllability_plot({"physics": frame, "blank": frame.assign(measured_mm2=0.0)})
    assert len(fig.axes) == 2 and len(fig.axes[0].collections) == 2
    table = pd.DataFrame([{"k": k, "seed": s, "arm": arm, "dice_wt": 0.1 * k + 0.01 * s}
                          for k in (1, 2, 4) for s in range(3) for arm in ARMS])
    fig = viz.dice_vs_k_plot(table)
    assert len(fig.axes[0].get_legend().get_texts()) == 2


def test_erase_and_invent_reads_what_the_renderer_painted():
    data = load_lesion_pairs(4, 32, 3, seed=1, progress=False)
    canvases = edit_canvases(2, 32, seed=0)
    MARK = 2.0  # outside [0, 1]: only a fake renderer's lesion has it

    class Marker:  # a segmenter that finds exactly the marked pixels
        def predict(self, images):
            return (images[:, :1] == MARK).long() * 2

    class Obedient:  # paints the mark where the labels ask, nothing elsewhere
        def render(self, images, labels, previous=None):
            return torch.where(labels > 0, MARK, 0.0).expand_as(images).clone()

    class Stubborn(Obedient):  # keeps an old lesion whatever the new map says
        def render(self, images, labels, previous=None):
            return super().render(images, labels if previous is None else previous)

    table = erase_and_invent(Obedient(), Marker(), data.test, canvases)
    requested = table.loc["re-rendered from their labels", "requested_mm2"]
    assert requested > 0 and table.loc["re-rendered from their labels", "found_mm2"] == pytest.approx(requested)
    assert table.loc["labels removed (erase on request)", "found_mm2"] == 0
    assert table.loc["healthy slices, no labels", "found_mm2"] == 0
    stubborn = erase_and_invent(Stubborn(), Marker(), data.test, canvases)
    assert stubborn.loc["labels removed (erase on request)", "found_mm2"] == pytest.approx(requested)
