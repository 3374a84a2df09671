"""Exercise checks of chapter 06 (controlled lesion synthesis)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict
from medsynth_nb.models.lesion_segmenter import dice, segment_images, tumor_regions


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


def _painted_preset() -> np.ndarray:
    """The painter's largest preset (necrosis, enhancing rim, oedema) on a 40 x 40 disc of brain."""
    from medsynth_nb.lesions.editor import LabelEditor

    rows, cols = np.mgrid[:40, :40]
    brain = (rows - 19.5) ** 2 + (cols - 19.5) ** 2 < 19**2
    editor = LabelEditor(np.zeros((40, 40), np.uint8), brain)
    editor.preset("large necrotic tumour with oedema", [20, 20])
    return editor.labels.copy()


def _regions_cases() -> list[Case]:
    rng = np.random.default_rng(6)
    return [
        Case("the 2 x 3 map [[0, 1, 2], [3, 2, 0]] (1 necrosis, 2 oedema, 3 enhancing), worked out by hand",
             {"labels": np.array([[0, 1, 2], [3, 2, 0]], np.uint8)},
             expected={"wt": np.array([[0, 1, 1], [1, 1, 0]], bool), "tc": np.array([[0, 1, 0], [1, 0, 0]], bool),
                       "et": np.array([[0, 0, 0], [1, 0, 0]], bool)}),
        Case("a 3 x 3 map without tumour: three empty masks",
             {"labels": np.zeros((3, 3), np.uint8)}, expected={k: np.zeros((3, 3), bool) for k in ("wt", "tc", "et")}),
        Case("the painter's 'large necrotic tumour with oedema' preset on a 40 x 40 slice",
             {"labels": _painted_preset()}),
        Case("a random 2 x 8 x 8 stack of codes 0-3 (seed 6): any shape, the masks keep it",
             {"labels": rng.integers(0, 4, (2, 8, 8)).astype(np.uint8)}),
    ]


check_tumor_regions = CodingExercise(
    name="tumor_regions",
    course=tumor_regions,
    cases=_regions_cases,
    hint="return {'wt': ..., 'tc': ..., 'et': ...}, boolean arrays of the labels' shape: the whole tumour is every "
         "tumour code (1, 2 and 3), the core necrosis and enhancing (1 and 3; np.isin helps), the enhancing tumour "
         "code 3 alone.",
    good="The regions nest, et inside tc inside wt: BraTS scores them as three overlapping targets, not code by code.")


def regions_found(regions, segmenter, render_fn, canvases, edits) -> pd.DataFrame:
    """Per BraTS region, by ``regions`` (the student's ``tumor_regions`` or the course's): its
    mean area in pixels in the painted ``edits`` (requested) and in what ``segmenter`` finds
    in their renders by ``render_fn`` (found), and the mean Dice of the two over the edits."""
    from medsynth_nb.lesions.study import synthetic_slices

    rendered = synthetic_slices(render_fn, canvases, edits)  # images rendered from the requested labels
    device = next(segmenter.parameters()).device
    found = segment_images(segmenter.predict, rendered.images, device)
    pairs = [(regions(asked), regions(got)) for asked, got in zip(rendered.labels, found)]
    names = list(pairs[0][0])
    return pd.DataFrame({"requested px": [np.mean([np.count_nonzero(a[k]) for a, _ in pairs]) for k in names],
                         "found px": [np.mean([np.count_nonzero(g[k]) for _, g in pairs]) for k in names],
                         "mean Dice": [np.mean([dice(g[k], a[k]) for a, g in pairs]) for k in names]}, index=names)
