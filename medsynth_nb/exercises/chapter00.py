"""Exercise checks of chapter 00 (synthesis in one afternoon)."""
from __future__ import annotations

import numpy as np

from medsynth_nb.data import physics
from medsynth_nb.exercises.verdict import check, verdict


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
