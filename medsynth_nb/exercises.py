"""Checks for the chapters' exercises. Each check computes the right answer from the
course's own physics and metrics (nothing is looked up from a table of answers), prints
a verdict with the reason, and returns True or False."""
from __future__ import annotations

import numpy as np

from .data import physics


def _verdict(ok: bool, good: str, bad: str) -> bool:
    print(("✅ Correct. " + good) if ok else ("❌ Not yet. " + bad))
    return ok


def check_flair_ti(answer_ms: float, tr_ms: float = 8000.0) -> bool:
    """Chapter 00, exercise 1: the inversion time that nulls CSF at repetition time ``tr_ms``."""
    truth = physics.flair_ti(tr_ms)
    ok = bool(abs(float(answer_ms) - truth) <= 0.02 * truth)
    return _verdict(ok, f"TI = {truth:.0f} ms nulls CSF (T1 = {physics.TISSUE_PROPERTIES['csf'].t1_ms:.0f} ms).",
                    "Set the longitudinal magnetisation 1 - 2 exp(-TI/T1) + exp(-TR/T1) to zero and solve for TI.")


def check_metric_ranking(answer: str, table) -> bool:
    """Chapter 00, exercise 2: which degradation does SSIM punish more at equal PSNR?
    ``table`` is the one ``viz.metric_sensitivity`` returned."""
    noise, blur = table[table.degradation == "noise"], table[table.degradation == "blur"]
    # Compare SSIM at matched PSNR: interpolate blur's SSIM at the PSNRs of the noise levels.
    order = np.argsort(blur.psnr.values)
    blur_ssim = np.interp(noise.psnr.values, blur.psnr.values[order], blur.ssim.values[order])
    truth = "noise" if np.mean(noise.ssim.values - blur_ssim) < 0 else "blur"
    ok = str(answer).strip().lower() == truth
    return _verdict(ok, f"At the same PSNR, {truth} gives the lower SSIM: SSIM compares local structure and "
                        "contrast, PSNR only the squared error.",
                    "Plot SSIM against PSNR for both degradations and compare at the same PSNR.")


def check_ambiguous_tissues(answer, modality: str = "t1", min_hu_gap: float = 900.0) -> bool:
    """Chapter 00, exercise 3: two tissues (names from ``physics.TISSUES``) that look
    alike on ``modality`` but are more than ``min_hu_gap`` HU apart on CT."""
    signals = physics.signal_matrix(physics.TISSUE_PROPERTIES, physics.SITES["A"])
    s, hu = dict(zip(physics.TISSUES, signals[modality])), dict(zip(physics.TISSUES, signals["ct"]))
    names = [str(a).strip().lower() for a in answer]
    if len(names) != 2 or any(n not in s for n in names):
        return _verdict(False, "", f"Give two names from {physics.TISSUES}.")
    a, b = names
    ok = bool(abs(s[a] - s[b]) < 0.05 * max(s.values()) and abs(hu[a] - hu[b]) > min_hu_gap)
    return _verdict(ok, f"{a} and {b}: {modality.upper()} signal {s[a]:.3f} vs {s[b]:.3f}, CT {hu[a]:.0f} vs "
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
    return _verdict(ok, f"Better on all {len(diff)} held-out subjects ({metric}).",
                    f"Better on {wins} of {len(diff)} held-out subjects ({metric}): train longer (a larger "
                    "step budget) or use a wider network, then run the evaluation again.")


def check_prediction(prediction: dict[str, str], table, model: str, reference: str) -> bool:
    """Chapter 01, exercise 1: predict, before training, whether ``model`` scores
    "higher" or "lower" than ``reference`` on each metric; checked against the measured
    ``table`` (``metrics.summarize`` output, one row per method)."""
    wrong = []
    for metric, guess in prediction.items():
        measured = "higher" if table.loc[model, metric] > table.loc[reference, metric] else "lower"
        if str(guess).strip().lower() != measured:
            wrong.append(f"{metric}: measured {measured} ({table.loc[model, metric]:.3f} vs "
                         f"{table.loc[reference, metric]:.3f})")
    return _verdict(not wrong, "Your predictions match the measurement.",
                    "Some predictions differ from the measurement: " + "; ".join(wrong) + ".")


def check_catch_up(answer, transfer) -> bool:
    """Chapter 02, exercise 1: the smallest tested number of site-B subjects at which
    training from scratch is at least as good (MAE) as fine-tuning, or None.
    ``transfer``: the chapter's table with columns k, start, mae."""
    table = transfer.pivot(index="k", columns="start", values="mae").sort_index()
    caught = table.index[table["from scratch"] <= table["fine-tuned from site A"]]
    truth = int(caught[0]) if len(caught) else None
    ok = answer == truth
    return _verdict(bool(ok), f"{'k = ' + str(truth) if truth is not None else 'Not within the tested k'}: "
                              "pre-training on site A is worth most when few site-B subjects are labelled.",
                    "Compare the two curves point by point: where does 'from scratch' first reach the other?")


def check_snr_crossing(answer_step: int, scheduler) -> bool:
    """Chapter 03, exercise 1: the first step t at which the schedule's signal-to-noise
    ratio abar_t / (1 - abar_t) falls below 1 (signal and noise equally strong)."""
    abar = scheduler.alphas_cumprod.double().numpy()
    truth = int(np.argmax(abar / (1 - abar) < 1))
    ok = abs(int(answer_step) - truth) <= max(5, 0.02 * len(abar))
    return _verdict(ok, f"t = {truth}: from there on a noised image holds more noise than anatomy.",
                    "SNR < 1 means abar_t < 1/2: find where the cumulative product of (1 - beta) crosses 0.5.")


def check_fewest_ddim_steps(answer_steps: int, table, tolerance_db: float = 0.5) -> bool:
    """Chapter 03, exercise 2: the fewest DDIM steps whose PSNR is within ``tolerance_db``
    of the best PSNR in the sampling table (columns sampler, steps, psnr)."""
    ddim = table[table["sampler"] == "ddim"].sort_values("steps")
    good = ddim[ddim["psnr"] >= table["psnr"].max() - tolerance_db]
    truth = int(good["steps"].iloc[0]) if len(good) else None
    ok = answer_steps == truth
    return _verdict(ok, f"{truth} DDIM steps: more steps cost time in proportion and buy less than "
                        f"{tolerance_db} dB here." if truth is not None else
                    f"No DDIM setting came within {tolerance_db} dB: DDPM's full chain was needed.",
                    "Read the PSNR column: which is the smallest step count close enough to the best row?")


def check_attention_growth(answer_factor: float, table) -> bool:
    """Chapter 04, exercise 1: how many times more attention memory the smallest patch size
    in the cost table (columns patch, tokens, "attention MB") needs than the largest."""
    rows = table.sort_values("patch")
    truth = float(rows["attention MB"].iloc[0] / rows["attention MB"].iloc[-1])
    ok = abs(float(answer_factor) - truth) <= 0.05 * truth
    token_ratio = rows["tokens"].iloc[0] / rows["tokens"].iloc[-1]
    return _verdict(ok, f"{truth:.0f}x: {token_ratio:.0f}x the tokens, and attention stores tokens x tokens "
                        "numbers per head.",
                    "Count the tokens for each patch size ((bottleneck / patch)^2), then remember that every token "
                    "attends to every token.")


def check_best_single_input(answer: str, table, target: str) -> bool:
    """Chapter 04, exercise 2: from the imputation table (columns target, inputs, n_inputs,
    psnr), the one input sequence that synthesises ``target`` best."""
    single = table[(table["target"] == target) & (table["n_inputs"] == 1)]
    if single.empty:
        raise ValueError(f"The table has no single-input rows for target {target!r}; targets: {sorted(set(table.target))}.")
    best = single.sort_values("psnr", ascending=False).iloc[0]
    ok = str(answer).strip().lower() == best["inputs"]
    return _verdict(ok, f"{best['inputs']} ({best['psnr']:.1f} dB): the contrast that shares most of {target}'s "
                        "physics.",
                    f"Filter the table to target {target!r} with one input and sort by PSNR.")


def check_lowest_ause(answer: str, report) -> bool:
    """Chapter 05, exercise 1: the method (a row of ``uncertainty_eval.uncertainty_report``)
    whose uncertainty ranks the errors best, i.e. has the lowest AUSE."""
    if str(answer) not in report.index:
        return _verdict(False, "", f"{answer!r} is not a method in the table; the rows are {list(report.index)}.")
    best = report["ause"].idxmin()
    return _verdict(str(answer) == best, f"{best} (AUSE {report.loc[best, 'ause']:.3f}): removing its most "
                                         "uncertain pixels first lowers the remaining error closest to the oracle.",
                    "Read the AUSE column (lower is better: 0 means the uncertainty orders pixels exactly "
                    "like the true error).")


def check_hardest_shift(answer: str, auroc) -> bool:
    """Chapter 05, exercise 2: the shift (a column of the method x shift AUROC table) that
    the most methods detected worst (lowest AUROC in their row)."""
    if str(answer) not in auroc.columns:
        return _verdict(False, "", f"{answer!r} is not a shift in the table; the columns are {list(auroc.columns)}.")
    votes = auroc.idxmin(axis=1).value_counts()
    hardest = list(votes[votes == votes.max()].index)
    return _verdict(str(answer) in hardest, f"{' / '.join(hardest)}: lowest AUROC for {votes.max()} of "
                                            f"{len(auroc)} methods — an input the uncertainty barely notices.",
                    "In each row find the smallest AUROC, then count which column wins most rows.")


def check_randomisation_passers(answer, table, threshold: float = 0.5) -> bool:
    """Chapter 05, exercise 3: the attribution methods that pass the cascading randomisation
    check (``explain.cascading_randomisation``): rank correlation with the trained model's
    map below ``threshold`` once every layer is randomised."""
    answer = {answer} if isinstance(answer, str) else set(answer)
    final = table[table["stage"] == table["stage"].iloc[-1]].set_index("method")["rank_correlation"]
    truth = set(final[final < threshold].index)
    return _verdict(answer == truth, f"{sorted(truth) or 'none'}: their maps change when the model is destroyed, "
                                     "so they show the model, not just the image.",
                    f"Look at the last stage (every layer randomised) and list the methods with rank correlation "
                    f"below {threshold}.")


def check_area_factor(answer_factor: float, scale: float = 1.5, radius_px: float = 8.0) -> bool:
    """Chapter 06, exercise 1: by what factor does a lesion's area change when the painter
    scales it by ``scale``? Measured on a disc scaled by the course's ``LabelEditor``."""
    from .lesion_edit import ENHANCING, LabelEditor

    size = int(8 * radius_px)
    editor = LabelEditor(np.zeros((size, size), np.uint8), np.ones((size, size), bool))
    editor.brush(ENHANCING, [size / 2, size / 2], radius_px)
    before = np.count_nonzero(editor.labels)
    editor.scale(scale)
    truth = np.count_nonzero(editor.labels) / before
    ok = bool(abs(float(answer_factor) - truth) <= 0.1 * truth)
    return _verdict(ok, f"Measured: {truth:.2f} (scale² = {scale ** 2:.2f}): area grows with the square of the "
                        "scale, so the volume of a 3-D lesion would grow with its cube.",
                    "Scaling stretches both directions of the slice by the same factor.")


def check_worst_region(answer: str, table, renderer: str) -> bool:
    """Chapter 06, exercise 2: the tumour sub-region where ``renderer`` departs most from
    the physics truth (mean absolute error over the four contrasts; ``fidelity_table``)."""
    rows = table[table["renderer"] == renderer]
    if rows.empty:
        raise ValueError(f"No rows for renderer {renderer!r}; the table has {sorted(set(table['renderer']))}.")
    by_region = rows.groupby("region")["mae"].mean()
    truth = str(by_region.idxmax())
    spelled = {"oedema": "edema"}.get(str(answer).strip().lower(), str(answer).strip().lower())
    return _verdict(spelled == truth, f"{truth}: mean error {by_region.max():.3f} against "
                                      f"{', '.join(f'{k} {v:.3f}' for k, v in by_region.items() if k != truth)}.",
                    "Group the fidelity table's rows of this renderer by region and average the MAE.")


def check_biggest_gain(answer_k: int, dice) -> bool:
    """Chapter 06, exercise 3: at which number k of real subjects do the synthetic lesions
    help most (largest mean paired difference in whole-tumour Dice; ``lesion_study.dice_vs_k``
    table)?"""
    from .lesion_study import DIFFERENCE, dice_vs_k_summary

    gains = dice_vs_k_summary(dice).query("arm == @DIFFERENCE").set_index("k")["mean"]
    if gains.empty:
        raise ValueError("The table has no 'real + synthetic' arm; run dice_vs_k with synthetic slices.")
    truth = int(gains.idxmax())
    ok = str(answer_k).strip() == str(truth)
    return _verdict(ok, f"k = {truth}: Dice gain {gains.max():+.2f} ({', '.join(f'k = {k}: {v:+.2f}' for k, v in gains.items())}). "
                        "Synthetic images add most where real labels are scarce.",
                    "Read the 'synthetic − real' rows of the Dice summary and find the largest mean.")
