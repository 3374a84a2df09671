"""Exercise checks accept right answers and reject wrong ones; right answers are worked
out here independently of the package (Bloch equation, literature values)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import brentq

from medsynth_nb.exercises import chapter00, chapter04, chapter05, chapter06, chapter07, chapter08, chapter09

CSF_T1_MS = 4300.0  # CSF at 3 T (Rooney et al., MRM 2007)


def _ti_null(tr_ms: float, t1_ms: float = CSF_T1_MS) -> float:
    """Root of the inversion-recovery longitudinal magnetisation, found numerically."""
    return brentq(lambda ti: 1 - 2 * np.exp(-ti / t1_ms) + np.exp(-tr_ms / t1_ms), 1.0, tr_ms)


@pytest.mark.parametrize("tr_ms", [8000.0, 9000.0, 6000.0])
def test_flair_ti(tr_ms, capsys):
    right = _ti_null(tr_ms)
    assert chapter00.check_flair_ti(right, tr_ms=tr_ms) is True
    assert "Correct" in capsys.readouterr().out
    assert chapter00.check_flair_ti(right * 1.01, tr_ms=tr_ms) is True  # rounding is fine
    # The long-TR approximation T1 ln 2 ignores incomplete recovery: wrong at these TRs.
    assert chapter00.check_flair_ti(CSF_T1_MS * np.log(2), tr_ms=tr_ms) is False
    assert "Not yet" in capsys.readouterr().out
    assert chapter00.check_flair_ti(right * 1.2, tr_ms=tr_ms) is False
    assert chapter00.check_flair_ti(CSF_T1_MS, tr_ms=tr_ms) is False


def test_flair_ti_default_tr_is_8000():
    assert chapter00.check_flair_ti(_ti_null(8000.0)) is True
    assert chapter00.check_flair_ti(_ti_null(12000.0)) is False


def _table(noise, blur):
    """A metric_sensitivity-style table from (psnr, ssim) pairs."""
    rows = [{"degradation": "noise", "level": str(i), "psnr": p, "ssim": s} for i, (p, s) in enumerate(noise)]
    rows += [{"degradation": "blur", "level": str(i), "psnr": p, "ssim": s} for i, (p, s) in enumerate(blur)]
    return pd.DataFrame(rows)


def test_metric_ranking_noise_punished_more():
    table = _table(noise=[(26, 0.55), (22, 0.40), (18, 0.25)], blur=[(30, 0.95), (24, 0.85), (17, 0.70)])
    assert chapter00.check_metric_ranking("noise", table) is True
    assert chapter00.check_metric_ranking(" Noise ", table) is True
    assert chapter00.check_metric_ranking("blur", table) is False


def test_metric_ranking_blur_punished_more():
    table = _table(noise=[(26, 0.95), (22, 0.90), (18, 0.85)], blur=[(30, 0.80), (24, 0.60), (17, 0.40)])
    assert chapter00.check_metric_ranking("blur", table) is True
    assert chapter00.check_metric_ranking("noise", table) is False


def test_metric_ranking_on_a_real_table(tiny_data):
    from medsynth_nb import viz

    image = tiny_data.test.images["t1"][0]
    table, _ = viz.metric_sensitivity(image, tiny_data.test.tissue[0] > 0)
    assert set(table.degradation) == {"noise", "blur"}
    verdicts = [chapter00.check_metric_ranking(a, table) for a in ("noise", "blur")]
    assert sorted(verdicts) == [False, True], "exactly one answer must be right"


@pytest.mark.parametrize("answer", [("air", "cortical_bone"), ("cortical_bone", "air"), (" Air ", "CORTICAL_BONE")])
def test_ambiguous_tissues_accepts_air_and_bone(answer):
    """Both are dark on T1w (no signal; bone T2* < 1 ms) yet 2600 HU apart on CT."""
    assert chapter00.check_ambiguous_tissues(answer) == True  # noqa: E712 - type checked below


@pytest.mark.parametrize("answer", [("gm", "wm"), ("csf", "gm"), ("air", "air"), ("air", "csf"), ("air",),
                                    ("air", "bone"), ("air", "cortical_bone", "fat")])
def test_ambiguous_tissues_rejects(answer):
    assert chapter00.check_ambiguous_tissues(answer) == False  # noqa: E712 - type checked below


def test_checks_return_plain_bools():
    """'returns True or False': a plain bool, which ``is True`` and json can use (a numpy
    bool is neither identical to True nor JSON-serialisable)."""
    table = _table(noise=[(26, 0.55), (18, 0.25)], blur=[(30, 0.95), (17, 0.70)])
    subjects = pd.DataFrame({"mae_hu": [1.0]}, index=["s1"])
    results = {
        "check_flair_ti": chapter00.check_flair_ti(_ti_null(8000.0)),
        "check_metric_ranking": chapter00.check_metric_ranking("noise", table),
        "check_ambiguous_tissues(right)": chapter00.check_ambiguous_tissues(("air", "cortical_bone")),
        "check_ambiguous_tissues(wrong)": chapter00.check_ambiguous_tissues(("gm", "wm")),
        "check_beats_baseline": chapter00.check_beats_baseline(subjects, subjects * 2),
    }
    not_bool = {name: f"{type(v).__module__}.{type(v).__qualname__}" for name, v in results.items() if type(v) is not bool}
    assert not not_bool, f"checks returning something else than bool: {not_bool}"


def test_beats_baseline():
    subjects = ["s1", "s2", "s3"]
    baseline = pd.DataFrame({"mae_hu": [120.0, 110.0, 130.0], "psnr": [20.0, 21.0, 19.0]}, index=subjects)
    better = pd.DataFrame({"mae_hu": [80.0, 90.0, 100.0], "psnr": [25.0, 24.0, 23.0]}, index=subjects)
    mixed = pd.DataFrame({"mae_hu": [80.0, 115.0, 100.0], "psnr": [25.0, 20.0, 23.0]}, index=subjects)
    assert chapter00.check_beats_baseline(better, baseline) is True
    assert chapter00.check_beats_baseline(better, baseline, metric="psnr") is True
    assert chapter00.check_beats_baseline(mixed, baseline) is False
    assert chapter00.check_beats_baseline(mixed, baseline, metric="psnr") is False
    # Lower MAE is better, higher PSNR is better: swapping the tables flips the verdict.
    assert chapter00.check_beats_baseline(baseline, better) is False
    assert chapter00.check_beats_baseline(baseline, better, metric="psnr") is False


def test_prediction_reads_blur_mm_as_measured():
    """Chapter 01: "higher" / "lower" is the measured value's direction; on blur_mm the
    sharper model is the lower one."""
    from medsynth_nb.exercises import chapter01

    table = pd.DataFrame({"psnr": [24.0, 23.0], "blur_mm": [1.4, 0.6]}, index=["L1 only", "pix2pix"])
    right = {"psnr": "lower", "blur_mm": "lower"}
    assert chapter01.check_prediction(right, table, model="pix2pix", reference="L1 only") is True
    assert chapter01.check_prediction({**right, "blur_mm": "higher"}, table, model="pix2pix", reference="L1 only") is False
    assert chapter01.check_prediction({"psnr": "higher", "blur_mm": "higher"}, table, model="L1 only",
                                      reference="pix2pix") is True


def test_check_catch_up_reads_the_transfer_table():
    import pandas as pd

    from medsynth_nb.exercises.chapter02 import check_catch_up

    rows = [(1, "fine-tuned from site A", 0.10), (1, "from scratch", 0.20),
            (2, "fine-tuned from site A", 0.09), (2, "from scratch", 0.08)]
    table = pd.DataFrame(rows, columns=["k", "start", "mae"])
    assert check_catch_up(2, table) is True
    assert check_catch_up(None, table) is False
    never = table.assign(mae=[0.1, 0.2, 0.09, 0.15])
    assert check_catch_up(None, never) is True


def test_check_snr_crossing_reads_the_schedule():
    from medsynth_nb.exercises.chapter03 import check_snr_crossing
    from medsynth_nb.models import build_model
    from medsynth_nb.profiles import get_profile

    scheduler = build_model("diffusion", "t1:t2", get_profile("smoke")).scheduler
    abar = scheduler.alphas_cumprod.double().numpy()
    truth = int(np.argmax(abar < 0.5))
    assert 100 < truth < 900
    assert check_snr_crossing(truth + 3, scheduler) is True
    assert check_snr_crossing(truth + 100, scheduler) is False


def test_check_fewest_ddim_steps_reads_the_sampling_table():
    from medsynth_nb.exercises.chapter03 import check_fewest_ddim_steps

    table = pd.DataFrame({"sampler": ["ddpm", "ddim", "ddim", "ddim"], "steps": [1000, 50, 25, 10],
                          "psnr": [20.0, 20.2, 19.9, 18.0]})
    assert check_fewest_ddim_steps(25, table) is True
    assert check_fewest_ddim_steps(50, table) is False
    assert check_fewest_ddim_steps(None, table.assign(psnr=[25.0, 20.0, 20.0, 20.0])) is True


def test_best_single_input_for_imputation():
    table = pd.DataFrame({"target": ["flair", "flair", "flair", "flair", "t2"],
                          "inputs": ["t1", "t2", "pd", "t1 + t2", "pd"],
                          "n_inputs": [1, 1, 1, 2, 1], "psnr": [15.0, 19.0, 17.0, 25.0, 30.0]})
    assert chapter04.check_best_single_input("T2", table, "flair")  # the two-input row and other targets don't count
    assert not chapter04.check_best_single_input("pd", table, "flair")
    with pytest.raises(ValueError, match="no single-input rows"):
        chapter04.check_best_single_input("t1", table, "ct")


def test_lowest_ause_reads_the_uncertainty_report(capsys):
    report = pd.DataFrame({"rank_corr": [0.1, 0.4, 0.5, 0.3], "ause": [0.30, 0.12, 0.05, 0.20]},
                          index=["MC dropout", "deep ensemble", "edge magnitude (baseline) of deep ensemble",
                                 "diffusion samples"])
    assert chapter05.check_lowest_ause("deep ensemble", report) is True  # the baseline row is no method
    assert chapter05.check_lowest_ause("MC dropout", report) is False  # a higher rank correlation is not the question
    assert chapter05.check_lowest_ause("Deep ensemble", report) is False
    assert "not a method in the table" in capsys.readouterr().out


def test_hardest_shift_is_the_column_most_rows_detect_worst():
    auroc = pd.DataFrame({"tumor": [0.40, 0.55, 0.52], "noise": [0.90, 0.45, 0.95], "motion": [0.70, 0.80, 0.60]},
                         index=["a", "b", "c"])
    assert chapter05.check_hardest_shift("tumor", auroc) is True  # lowest in rows a and c
    assert chapter05.check_hardest_shift("noise", auroc) is False
    assert chapter05.check_hardest_shift("site B", auroc) is False


def test_randomization_passers_are_read_at_the_last_stage():
    rows = [("saliency", "none", 1.0), ("integrated_gradients", "none", 1.0),
            ("saliency", "top 3", 0.3), ("integrated_gradients", "top 3", 0.45),
            ("saliency", "all", 0.2), ("integrated_gradients", "all", 0.6)]
    table = pd.DataFrame(rows, columns=["method", "stage", "rank_correlation"])
    assert chapter05.check_randomization_passers(["saliency"], table) is True
    assert chapter05.check_randomization_passers("saliency", table) is True
    assert chapter05.check_randomization_passers(["saliency", "integrated_gradients"], table) is False
    assert chapter05.check_randomization_passers([], table) is False


def test_area_factor_is_measured_with_the_editor():
    assert chapter06.check_area_factor(2.25, scale=1.5) is True
    assert chapter06.check_area_factor(1.5, scale=1.5) is False  # the scale itself is not the area factor
    assert chapter06.check_area_factor(0.49, scale=0.7) is True


def test_worst_region_averages_over_contrasts():
    table = pd.DataFrame([("concat", "t1", "necrosis", 0.30), ("concat", "t2", "necrosis", 0.02),
                          ("concat", "t1", "edema", 0.15), ("concat", "t2", "edema", 0.15),
                          ("spade", "t1", "edema", 0.90)], columns=["renderer", "contrast", "region", "mae"])
    assert chapter06.check_worst_region("necrosis", table, "concat") is True  # mean 0.16 against 0.15
    assert chapter06.check_worst_region("edema", table, "concat") is False
    assert chapter06.check_worst_region("edema", table, "spade") is True  # either spelling
    with pytest.raises(ValueError, match="No rows"):
        chapter06.check_worst_region("edema", table, "diffusion")


def test_biggest_gain_reads_the_paired_differences():
    rows = [(k, seed, arm, dice) for k, base, gain in ((2, 0.40, 0.30), (8, 0.70, 0.05))
            for seed, noise in ((0, 0.02), (1, -0.02))
            for arm, dice in (("real only", base + noise), ("real + synthetic", base + noise + gain))]
    dice = pd.DataFrame(rows, columns=["k", "seed", "arm", "dice_wt"])
    assert chapter06.check_biggest_gain(2, dice) is True
    assert chapter06.check_biggest_gain("8", dice) is False
    with pytest.raises(ValueError, match="no 'real \\+ synthetic'"):
        chapter06.check_biggest_gain(2, dice[dice["arm"] == "real only"])


def test_measured_fraction_counts_the_masks_lines():
    # 64 lines at 8x: the 5 central lines (8 % of 64, |k| <= 2) and random pairs +-k making up
    # 64 / 8 = 8 lines, rounded to whole pairs: (8 - 5) / 2 = 1.5 -> 2 pairs, 9 lines in all.
    assert chapter07.check_measured_fraction(9 / 64, width=64, acceleration=8) is True
    assert chapter07.check_measured_fraction(1 / 8, width=64, acceleration=8) is False  # the nominal 1/R


def test_data_consistency_exercise_accepts_the_projection_and_rejects_the_guess():
    def projection(guess, kspace, lines):  # written out here, apart from the package
        guess_k = torch.fft.fft2(guess.to(torch.complex64), norm="ortho")
        return torch.fft.ifft2(torch.where(lines, kspace, guess_k), norm="ortho").real

    def zero_filled(guess, kspace, lines):
        return torch.fft.ifft2(kspace * lines, norm="ortho").real

    exercise = chapter07.check_data_consistency
    assert exercise.review(projection).passed
    assert exercise.review(exercise.course).passed  # the course's function meets the hand-known cases
    assert not exercise.review(lambda guess, kspace, lines: guess).passed
    assert not exercise.review(zero_filled).passed


def test_fastest_degradation_and_fragile_uptake_read_their_tables():
    table = pd.DataFrame([("zero-filled", 4, 25.0), ("zero-filled", 8, 21.0), ("U-Net", 4, 30.0), ("U-Net", 8, 24.0)],
                         columns=["method", "acceleration", "psnr"])
    assert chapter07.check_fastest_degradation("u-net", table) is True
    assert chapter07.check_fastest_degradation("zero-filled", table) is False
    uptake = pd.DataFrame([("low-dose image", 1.0, 1.0, 1.1), ("low-dose image", 0.01, 0.98, 2.5)],
                          columns=["method", "dose", "tumor mean", "tumor max"])
    assert chapter07.check_fragile_uptake("max", uptake) is True
    assert chapter07.check_fragile_uptake("mean", uptake) is False
    with pytest.raises(ValueError, match="No rows"):
        chapter07.check_fragile_uptake("max", uptake, method="denoiser")


def test_low_field_t1_and_gompertz_volume_are_computed_not_looked_up():
    # 830 ms x (0.064 / 3) ** 0.3 = 261.6 ms (worked by hand: ln(0.02133) = -3.848, x 0.3 -> e^-1.154 = 0.3153).
    assert chapter08.check_low_field_t1(261.6) is True
    assert chapter08.check_low_field_t1(830.0) is False  # the 3 T value
    # 100 exp(ln(0.01) e^-1) = 100 e^-1.6942 = 18.38 ml.
    assert chapter08.check_gompertz_volume(18.38, v0_ml=1.0, carrying_ml=100.0, rate_per_day=0.01, t_days=100) is True
    assert chapter08.check_gompertz_volume(2.72, v0_ml=1.0, carrying_ml=100.0, rate_per_day=0.01, t_days=100) is False


def test_sharpest_enhancer_and_two_priors_read_their_tables():
    table = pd.DataFrame({"resolution_fwhm_mm": [4.2, 4.5, 3.5, 2.5, 0.0]},
                         index=["low-field input", "U-Net", "diffusion", "high-field scan", "high-field truth"])
    assert chapter08.check_sharpest_enhancer("Diffusion", table) is True
    assert chapter08.check_sharpest_enhancer("U-Net", table) is False
    forecasts = pd.DataFrame([("one", "s1", 0.05), ("one", "s2", 0.03), ("two", "s1", 0.04), ("two", "s2", 0.03)],
                             columns=["method", "subject", "mae"])
    assert chapter08.check_two_priors_help("yes", forecasts, one="one", two="two") is True
    assert chapter08.check_two_priors_help("no", forecasts, one="one", two="two") is False
    with pytest.raises(ValueError, match="No rows"):
        chapter08.check_two_priors_help("yes", forecasts, one="one", two="three")


def test_frechet_1d_and_trials_needed_are_computed_not_looked_up():
    reference, sample = [0.0, 2.0, 4.0], [1.0, 2.0, 3.0]
    # Means 2 and 2, standard deviations (ddof=1) 2 and 1: (2 - 2)^2 + (2 - 1)^2 = 1.
    assert chapter09.check_frechet_1d(1.0, reference, sample) is True
    assert chapter09.check_frechet_1d(3.0, reference, sample) is False  # the variances' difference
    # Wilson interval of 60 right in 100: 0.6 -/+ ... with lower bound 0.502 (of 59 in 98: 0.503, 58 in 97: 0.498).
    assert chapter09.check_trials_needed(100) is True
    assert chapter09.check_trials_needed(20) is False


def test_disagreeing_metrics_and_least_discontinuous_read_their_tables():
    board = pd.DataFrame({"psnr": [18.1, 17.3], "FID (segmenter)": [0.9, 0.4]}, index=["L1 only", "pix2pix"])
    assert chapter09.check_disagreeing_metrics({"psnr": "L1 only", "realism": "pix2pix"}, board,
                                               "L1 only", "pix2pix") is True
    assert chapter09.check_disagreeing_metrics({"psnr": "pix2pix", "realism": "pix2pix"}, board,
                                               "L1 only", "pix2pix") is False
    volumes = pd.DataFrame({"discontinuity_index": [1.0, 2.4, 1.3, 1.1]},
                           index=["acquired scan", "2-D", "2.5-D", "3-D patch"])
    assert chapter09.check_least_discontinuous("3-D patch", volumes) is True
    assert chapter09.check_least_discontinuous("2-D", volumes) is False
