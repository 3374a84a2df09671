"""Exercise checks of chapter 06 (controlled lesion synthesis)."""
from __future__ import annotations

import numpy as np

from medsynth_nb.exercises.verdict import check, verdict


@check
def check_area_factor(answer_factor: float, scale: float = 1.5, radius_px: float = 8.0) -> bool:
    """Chapter 06, exercise 1: by what factor does a lesion's area change when the painter
    scales it by ``scale``? Measured on a disc scaled by the course's ``LabelEditor``."""
    from medsynth_nb.data.tumor import ENHANCING
    from medsynth_nb.lesions.editor import LabelEditor

    size = int(8 * radius_px)
    editor = LabelEditor(np.zeros((size, size), np.uint8), np.ones((size, size), bool))
    editor.brush(ENHANCING, [size / 2, size / 2], radius_px)
    before = np.count_nonzero(editor.labels)
    editor.scale(scale)
    truth = np.count_nonzero(editor.labels) / before
    ok = bool(abs(float(answer_factor) - truth) <= 0.1 * truth)
    return verdict(ok, f"Measured: {truth:.2f} (scale² = {scale ** 2:.2f}): area grows with the square of the "
                        "scale, so the volume of a 3-D lesion would grow with its cube.",
                    "Scaling stretches both directions of the slice by the same factor.")


@check
def check_worst_region(answer: str, table, renderer: str) -> bool:
    """Chapter 06, exercise 2: the tumour sub-region where ``renderer`` departs most from
    the physics truth (mean absolute error over the four contrasts; ``fidelity_table``)."""
    rows = table[table["renderer"] == renderer]
    if rows.empty:
        raise ValueError(f"No rows for renderer {renderer!r}; the table has {sorted(set(table['renderer']))}.")
    by_region = rows.groupby("region")["mae"].mean()
    truth = str(by_region.idxmax())
    spelled = {"edema": "edema"}.get(str(answer).strip().lower(), str(answer).strip().lower())
    return verdict(spelled == truth, f"{truth}: mean error {by_region.max():.3f} against "
                                      f"{', '.join(f'{k} {v:.3f}' for k, v in by_region.items() if k != truth)}.",
                    "Group the fidelity table's rows of this renderer by region and average the MAE.")


@check
def check_biggest_gain(answer_k: int, dice) -> bool:
    """Chapter 06, exercise 3: at which number k of real subjects do the synthetic lesions
    help most (largest mean paired difference in whole-tumour Dice; ``lesions.study.dice_vs_k``
    table)?"""
    from medsynth_nb.lesions.study import DIFFERENCE, dice_vs_k_summary

    summary = dice_vs_k_summary(dice)
    gains = summary[summary["arm"] == DIFFERENCE].set_index("k")["mean"]
    if gains.empty:
        raise ValueError("The table has no 'real + synthetic' arm; run dice_vs_k with synthetic slices.")
    truth = int(gains.idxmax())
    ok = str(answer_k).strip() == str(truth)
    return verdict(ok, f"k = {truth}: Dice gain {gains.max():+.2f} ({', '.join(f'k = {k}: {v:+.2f}' for k, v in gains.items())}). "
                        "Synthetic images add most where real labels are scarce.",
                    "Read the 'synthetic − real' rows of the Dice summary and find the largest mean.")
