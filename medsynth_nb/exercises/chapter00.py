"""Exercise checks of chapter 00 (synthesis in one afternoon)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from medsynth_nb.data import physics
from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict
from medsynth_nb.viz.images import MODALITY_TITLES


@check
def check_flair_ti(answer_ms: float, tr_ms: float = 8000.0) -> bool:
    """Chapter 00, exercise 1: the inversion time that nulls CSF at repetition time ``tr_ms``."""
    truth = physics.flair_ti(tr_ms)
    ok = bool(abs(float(answer_ms) - truth) <= 0.02 * truth)
    return verdict(ok, f"TI = {truth:.0f} ms nulls CSF (T1 = {physics.TISSUE_PROPERTIES['csf'].t1_ms:.0f} ms).",
                    "Set the longitudinal magnetisation 1 - 2 exp(-TI/T1) + exp(-TR/T1) to zero and solve for TI.")


@check
def check_metric_ranking(answer: str, table) -> bool:
    """Chapter 00, exercise 2: which degradation does SSIM punish more at equal PSNR?
    ``table`` is the one ``viz.metric_sensitivity`` returned."""
    noise, blur = table[table.degradation == "noise"], table[table.degradation == "blur"]
    # Compare SSIM at matched PSNR: interpolate blur's SSIM at the PSNRs of the noise levels.
    order = np.argsort(blur.psnr.values)
    blur_ssim = np.interp(noise.psnr.values, blur.psnr.values[order], blur.ssim.values[order])
    truth = "noise" if np.mean(noise.ssim.values - blur_ssim) < 0 else "blur"
    ok = str(answer).strip().lower() == truth
    return verdict(ok, f"At the same PSNR, {truth} gives the lower SSIM: SSIM compares local structure and "
                        "contrast, PSNR only the squared error.",
                    "Plot SSIM against PSNR for both degradations and compare at the same PSNR.")


@check
def check_ambiguous_tissues(answer, modality: str = "t1", min_hu_gap: float = 900.0) -> bool:
    """Chapter 00, exercise 3: two tissues (names from ``physics.TISSUES``) that look
    alike on ``modality`` but are more than ``min_hu_gap`` HU apart on CT."""
    signals = physics.signal_matrix(physics.TISSUE_PROPERTIES, physics.SITES["A"])
    s, hu = dict(zip(physics.TISSUES, signals[modality])), dict(zip(physics.TISSUES, signals["ct"]))
    names = [str(a).strip().lower() for a in answer]
    if len(names) != 2 or any(n not in s for n in names):
        return verdict(False, "", f"Give two names from {physics.TISSUES}.")
    a, b = names
    ok = bool(abs(s[a] - s[b]) < 0.05 * max(s.values()) and abs(hu[a] - hu[b]) > min_hu_gap)
    return verdict(ok, f"{a} and {b}: {modality.upper()} signal {s[a]:.3f} vs {s[b]:.3f}, CT {hu[a]:.0f} vs "
                        f"{hu[b]:.0f} HU. A pixel-wise mapping cannot tell them apart; context can.",
                    f"Look in the physics table for two rows with almost the same {modality.upper()} signal and "
                    "very different HU.")


def check_beats_baseline(model_table, baseline_table, metric: str = "mae_hu") -> bool:
    """Chapter 00, exercise 4: did the trained model beat the lookup on held-out subjects?
    Tables: per-subject frames from ``metrics.evaluate``."""
    higher_is_better = metric in ("psnr", "ssim")
    diff = (model_table[metric] - baseline_table[metric]).to_numpy()
    wins = int(np.sum(diff > 0) if higher_is_better else np.sum(diff < 0))
    ok = bool(wins == len(diff))
    return verdict(ok, f"Better on all {len(diff)} held-out subjects ({metric}).",
                    f"Better on {wins} of {len(diff)} held-out subjects ({metric}): train longer (a larger "
                    "step budget) or use a wider network, then run the evaluation again.")


def _course_mr_signal(t1_ms, t2_ms, pd, tr_ms, te_ms, ti_ms=None):
    return physics.mr_signal(t1_ms, t2_ms, pd, physics.Sequence(tr_ms=tr_ms, te_ms=te_ms, ti_ms=ti_ms))


def _mr_signal_cases() -> list[Case]:
    rng = np.random.default_rng(0)
    # Random tissues between fat and beyond CSF, so that some are still inverted at TI = 1500 ms.
    tissues = {"t1_ms": rng.uniform(300.0, 5000.0, 6), "t2_ms": rng.uniform(50.0, 2000.0, 6),
               "pd": rng.uniform(0.5, 1.0, 6)}
    t1, t2 = np.array([370.0, 830.0, 1330.0, 4300.0]), np.array([130.0, 80.0, 110.0, 2000.0])
    return [
        Case("pd = 1, TE = 0 and a very long TR (10^6 ms): every tissue fully relaxed, the signal is 1",
             {"t1_ms": t1, "t2_ms": t2, "pd": np.ones(4), "tr_ms": 1e6, "te_ms": 0.0}, expected=np.ones(4)),
        Case("inversion recovery of CSF (T1 = 4300 ms) at TI = T1 ln 2, very long TR: nulled, 0",
             {"t1_ms": 4300.0, "t2_ms": 2000.0, "pd": 1.0, "tr_ms": 1e6, "te_ms": 120.0,
              "ti_ms": 4300.0 * np.log(2.0)}, expected=0.0),
        Case("inversion recovery at TI = 0, very long TR: fully inverted (-1), so a magnitude of "
             "pd exp(-TE/T2) = 0.8 / e at TE = T2",
             {"t1_ms": 830.0, "t2_ms": 80.0, "pd": 0.8, "tr_ms": 1e6, "te_ms": 80.0, "ti_ms": 0.0},
             expected=0.8 * np.exp(-1.0)),
        Case("six random tissues (seed 0), spin echo TR = 500 ms, TE = 10 ms (site A's T1w)",
             {**tissues, "tr_ms": 500.0, "te_ms": 10.0}),
        Case("the same tissues, inversion recovery TR = 9000 ms, TE = 90 ms, TI = 1500 ms",
             {**tissues, "tr_ms": 9000.0, "te_ms": 90.0, "ti_ms": 1500.0}),
    ]


check_mr_signal = CodingExercise(
    name="mr_signal",
    course=_course_mr_signal,
    where="medsynth_nb.data.physics.mr_signal",
    cases=_mr_signal_cases,
    hint="pd x (longitudinal magnetisation) x exp(-TE/T2); spin echo: 1 - exp(-TR/T1); inversion recovery: "
         "|1 - 2 exp(-TI/T1) + exp(-TR/T1)| (the image shows the magnitude, so a still-inverted tissue is "
         "bright too). Use np.exp, which works on numbers and arrays alike.",
    good="Three tissue numbers and three sequence times give every MR contrast of the phantom.")


def signal_table(signal, sites=("A", "B"), modalities=("t1", "t2")) -> pd.DataFrame:
    """Each tissue's signal by ``signal`` (the student's ``mr_signal`` or the course's) under the
    sequences of ``sites`` (keys of ``physics.SITES``; A and B are both 3 T, the field of the
    tissue table): one row per tissue, one column per modality and site."""
    tissues = [physics.TISSUE_PROPERTIES[name] for name in physics.TISSUES]
    t1, t2, density = (np.array([getattr(t, field) for t in tissues]) for field in ("t1_ms", "t2_ms", "pd"))
    columns = {}
    for modality in modalities:
        for site in sites:
            seq = physics.SITES[site].sequences[modality]
            columns[f"{MODALITY_TITLES[modality]}, site {site}"] = signal(t1, t2, density, seq.tr_ms, seq.te_ms,
                                                                          seq.ti_ms)
    return pd.DataFrame(columns, index=list(physics.TISSUES)).round(3)
