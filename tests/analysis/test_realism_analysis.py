"""The realism scores earn trust: with the course's tissue segmenter trained briefly, each
score ranks real held-out scans below mildly and then heavily degraded ones, and a mode
collapse above the real scans; the scorecard measures what it says and refuses what it
cannot compare."""
import dataclasses

import numpy as np
import pytest

from medsynth_nb.analysis.realism import RealismScorer, check_ranking, degradation_ladder, realism_table
from medsynth_nb.analysis.scorecard import (CEILING, Scorecard, leaderboard, mean_with_interval, score_ceiling,
                                             score_synthesis)
from medsynth_nb.data.slices import SynthesisData
from medsynth_nb.data.tissue_slices import TissueSlices
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.models.tissue_segmenter import TissueSegmenter


@pytest.fixture(scope="module")
def world():
    from medsynth_nb.data.loaders import load_dataset

    data = load_dataset("phantom", n_subjects=16, image_size=48, slices_per_subject=4, seed=3, tumor_prob=0.5,
                        split=(0.5, 0.125, 0.375), progress=False)
    tissue_data = SynthesisData(*(TissueSlices.of(s) for s in (data.train, data.val, data.test)), {})
    segmenter = TissueSegmenter(channels=(8, 16, 32))
    train(segmenter, tissue_data, None, TrainConfig(steps=120, batch_size=8, eval_every=1000, max_eval_slices=8),
          progress=False)
    scorer = RealismScorer(segmenter, data.train.images["t2"], data.train.tissue > 0)
    return data, segmenter, scorer


def test_every_score_ranks_the_degradation_ladder_and_sees_mode_collapse(world):
    data, _, scorer = world
    test = data.test
    ladder = degradation_ladder(test.images["t2"], seed=0)
    table = realism_table(scorer, ladder, test.tissue > 0, test.noise_free["t2"], test.tissue)
    ranking = check_ranking(table)
    assert ranking.to_numpy().all(), f"\n{table}\n{ranking}"
    # The segmenter, a downstream task, does worse on heavily blurred scans than on real ones.
    assert table.loc["heavy blur", "tissue Dice"] < table.loc["real held-out", "tissue Dice"]


def test_check_ranking_reports_a_score_that_does_not_rise():
    import pandas as pd

    table = pd.DataFrame({"FID (segmenter)": [1.0, 2.0, 3.0, 0.5], "MMD (segmenter)": [1.0, 2.0, 3.0, 4.0],
                          "FD (texture)": [1.0, 0.5, 3.0, 4.0]},
                         index=["real held-out", "mild blur", "heavy blur", "mode collapse"])
    ranking = check_ranking(table, families={"blur": ("real held-out", "mild blur", "heavy blur"),
                                             "collapse": ("real held-out", "mode collapse")})
    assert ranking.loc["blur"].tolist() == [True, True, False]
    assert ranking.loc["collapse"].tolist() == [False, True, True]


def test_features_are_one_row_per_image_and_refuse_several_contrasts(world):
    _, segmenter, _ = world
    features = segmenter.features(np.zeros((3, 48, 48), np.float32))
    assert features.shape == (3, 2 * (8 + 16 + 32))  # mean and std of every encoder level's channels
    with pytest.raises(ValueError, match="one contrast"):
        segmenter.features(np.zeros((3, 2, 48, 48), np.float32))


def test_scorecard_measures_the_truth_perfectly_and_a_blur_worse(world):
    data, _, scorer = world
    test, task = data.test, "t1:t2"
    truth = test.images["t2"]
    perfect = score_synthesis("truth", truth, test, task, scorer=scorer)
    assert isinstance(perfect, Scorecard)
    assert perfect.per_subject["mae"].max() == 0
    assert perfect.per_subject["ms_ssim"].min() == pytest.approx(1, abs=1e-5)
    assert perfect.realism["tissue Dice"] == perfect.realism["tissue Dice on real"]
    blurred = score_synthesis("blurred", degradation_ladder(truth)["heavy blur"], test, task, scorer=scorer)
    board = leaderboard([blurred, perfect])
    assert board.index.tolist() == ["truth", "blurred"]  # best PSNR first
    assert board.loc["blurred", "FID (segmenter)"] > board.loc["truth", "FID (segmenter)"]
    assert (blurred.per_tissue.dropna() > 0).all() and "mae_tumor" in blurred.per_subject
    summary = blurred.summary
    assert (summary["ci_low"] <= summary["mean"]).all() and (summary["mean"] <= summary["ci_high"]).all()


def test_the_ceiling_is_scored_like_a_model_and_the_leaderboard_says_how_much_of_the_gap_each_row_closed(world):
    data, _, _ = world
    test, task = data.test, "t1:t2"
    top = score_ceiling(test, task)
    assert top.name == CEILING and top.per_subject["blur_mm"].max() == 0  # as sharp as the truth: it is the truth
    interior = top.per_tissue.drop("boundary")
    assert "boundary" in top.per_tissue and interior.notna().any()
    clean = score_synthesis("clean contrast", test.clean["t2"], test, task)  # no receive field: below the ceiling
    half = score_synthesis("half way", (test.clean["t2"] + test.noise_free["t2"]) / 2, test, task)
    board = leaderboard([clean, half, top], baseline="clean contrast")
    assert board.index[0] == CEILING
    assert board.loc[CEILING, "gap closed (psnr)"] == 1 and board.loc["clean contrast", "gap closed (psnr)"] == 0
    assert 0 < board.loc["half way", "gap closed (psnr)"] < 1
    with pytest.raises(ValueError, match="ceiling"):
        leaderboard([clean, half], baseline="clean contrast")
    with pytest.raises(ValueError, match="noise-free"):
        score_ceiling(dataclasses.replace(test, noise_free=None), task)  # real scans: no truth to score


def test_scorecard_refuses_predictions_of_other_slices_and_leaderboards_of_other_tasks(world):
    data, _, _ = world
    test = data.test
    with pytest.raises(ValueError, match="Predict every test slice"):
        score_synthesis("half", test.images["t2"][:2], test, "t1:t2")
    a = score_synthesis("a", test.images["t2"], test, "t1:t2")
    b = score_synthesis("b", test.images["flair"], test, "t1:flair")
    with pytest.raises(ValueError, match="one task"):
        leaderboard([a, b])


def test_mean_with_interval_matches_a_t_interval():
    result = mean_with_interval([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, sd 1.291, t(0.975, 3) = 3.182: half-width 2.054
    assert result["mean"] == 2.5 and result["ci_high"] - 2.5 == pytest.approx(2.054, abs=1e-3)
    assert np.isnan(mean_with_interval([1.0])["ci_low"])
