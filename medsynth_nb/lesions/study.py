"""Measuring a lesion renderer (chapter 06): does it paint what was asked, and does what it
paints help?

Two studies, both with a lesion segmenter (``models.lesion_segmenter``) as the ruler:

- **Controllability.** Request lesions (``random_edits``: presets of the ``LabelEditor``,
  scaled and moved, at random places in healthy canvases), render them, segment the
  renders and compare what the segmenter finds with what was requested: volume,
  position, overlap (``controllability`` / ``controllability_summary``). The same
  segmenter on the physics renderer's images (``lambda c, l: c.physics(l)``) is the
  ceiling: there the lesion *is* what was requested, so what remains is the ruler's own
  error. A learned renderer is as controllable as its numbers are close to that ceiling.
- **Synthetic training data.** Train the segmenter on k real subjects, with and without
  the rendered slices added, and score both on the same held-out subjects
  (``dice_vs_k`` / ``dice_vs_k_summary``). Seeds are paired (same subjects, same initial
  weights in both arms), so the difference is measured per seed.

"Volume" is a slice's tumour area in mm^2 (the studies work on single slices).
"""
from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from scipy import stats

from medsynth_nb.data.lesion_pairs import CONTRASTS, EditCanvas, LesionData, LesionSlices, concat_slices
from medsynth_nb.engine.training import TrainConfig, train
from medsynth_nb.lesions.editor import PRESETS, LabelEditor
from medsynth_nb.models.lesion_segmenter import LesionSegmenter, region_dice, segment_images

SCALE_RANGE = (0.6, 1.5)   # area changes by factor^2: 0.36 to 2.25 times the preset's
MOVE_FRACTION = 0.05       # largest move, as a fraction of the image size
MAX_TRIES = 200            # draws per edit before giving up on a canvas
ARMS = ("real only", "real + synthetic")
DIFFERENCE = "synthetic − real"


def lesion_measures(labels_2d, mm_per_px: float) -> tuple[float, tuple[float, float]]:
    """Whole-tumour area (labels > 0) in mm^2 and its centroid (row, column) in pixels;
    for a map without tumour 0 and (NaN, NaN)."""
    labels = np.asarray(labels_2d)
    if labels.ndim != 2:
        raise ValueError(f"lesion_measures takes one H x W label map; got shape {labels.shape}.")
    if not mm_per_px > 0:
        raise ValueError(f"mm_per_px must be a positive pixel size; got {mm_per_px}.")
    tumor = np.argwhere(labels > 0)
    if len(tumor) == 0:
        return 0.0, (float("nan"), float("nan"))
    row, col = tumor.mean(0)
    return float(len(tumor) * mm_per_px**2), (float(row), float(col))


def canvas_mm_per_px(canvas: EditCanvas) -> float:
    """In-plane pixel size of a canvas, from its subject's affine."""
    spacing = np.linalg.norm(canvas.subject.affine[:3, :2], axis=0)
    if not np.isclose(spacing[0], spacing[1]):
        raise ValueError(f"The canvas has anisotropic pixels {spacing} mm; the measures assume square pixels.")
    return float(spacing[0])


def random_edits(canvases: list[EditCanvas], n: int, seed: int = 0) -> list[tuple[int, np.ndarray]]:
    """``n`` requested label maps as (canvas index, H x W uint8 labels), the canvases taken
    in turn. Each is made with a ``LabelEditor`` on the canvas's brain mask: a random
    preset centred on a random brain pixel, scaled by a factor in ``SCALE_RANGE`` and moved
    by up to ``MOVE_FRACTION`` of the image; so areas span about 0.4 to 2.3 times each
    preset's, and presets differ by ~6x in area. An edit the editor refuses (tumour
    outside the brain) is drawn again, up to ``MAX_TRIES`` times: the accepted lesions
    are therefore a little more central than the drawn points."""
    if not canvases:
        raise ValueError("random_edits needs at least one canvas (see lesion_pairs.edit_canvases).")
    if n < 1:
        raise ValueError(f"n must be at least 1 edit; got {n}.")
    rng = np.random.default_rng(seed)
    edits = []
    for k in range(n):
        index = k % len(canvases)
        brain = canvases[index].brain
        inside = np.argwhere(brain)
        max_move = MOVE_FRACTION * brain.shape[0]
        for _ in range(MAX_TRIES):
            preset = PRESETS[rng.integers(len(PRESETS))]
            center = inside[rng.integers(len(inside))]
            factor = rng.uniform(*SCALE_RANGE)
            dy, dx = rng.uniform(-max_move, max_move, size=2)
            editor = LabelEditor(np.zeros_like(brain, np.uint8), brain)
            try:
                editor.preset(preset, [int(center[0]), int(center[1])])
                editor.scale(factor)
                editor.move(dy, dx)
            except ValueError:
                continue  # refused: outside the brain; draw another
            edits.append((index, editor.labels.copy()))
            break
        else:
            raise RuntimeError(f"No edit on canvas {index} fitted in its brain after {MAX_TRIES} draws (brain of "
                               f"{int(brain.sum())} px); use larger images or canvases with more brain.")
    return edits


def _render(render_fn, canvases: list[EditCanvas], edits) -> np.ndarray:
    """All edits rendered: N x 4 x H x W float32, after checking what ``render_fn`` returns."""
    images = []
    for i, (index, labels) in enumerate(edits):
        canvas = canvases[index]
        image = np.asarray(render_fn(canvas, labels), np.float32)
        expected = (len(CONTRASTS), *canvas.brain.shape)
        if image.shape != expected:
            raise ValueError(f"render_fn returned shape {image.shape} for edit {i}; it must return "
                             f"{expected} ({', '.join(CONTRASTS)} x H x W).")
        if not np.isfinite(image).all():
            raise ValueError(f"render_fn returned NaN or infinite values for edit {i}.")
        images.append(image)
    return np.stack(images)


def controllability(render_fn, segmenter, canvases: list[EditCanvas], edits, device="cpu") -> pd.DataFrame:
    """One row per edit: the requested lesion's area (mm^2) and centroid (px), what
    ``segmenter`` measures on ``render_fn(canvas, labels)`` (4 x H x W), the area error
    (% of the requested), the centroid error (mm; NaN when nothing was found) and the
    BraTS-region Dice of the segmentation against the requested labels."""
    images = _render(render_fn, canvases, edits)
    if hasattr(segmenter, "to"):  # a LesionSegmenter; a stand-in may be a plain object
        segmenter.to(device)
    found = segment_images(segmenter.predict, images, device)
    rows = []
    for i, ((index, labels), pred) in enumerate(zip(edits, found)):
        mm = canvas_mm_per_px(canvases[index])
        asked, (ar, ac) = lesion_measures(labels, mm)
        got, (gr, gc) = lesion_measures(pred, mm)
        if asked == 0:
            raise ValueError(f"Edit {i} requests no tumour; controllability compares requested lesions.")
        rows.append({"edit": i, "canvas": index, "requested_mm2": asked, "measured_mm2": got,
                     "volume_error_pct": 100.0 * (got - asked) / asked,
                     "requested_row": ar, "requested_col": ac, "measured_row": gr, "measured_col": gc,
                     "centroid_error_mm": float(np.hypot(gr - ar, gc - ac) * mm),
                     **region_dice(pred, labels)})
    return pd.DataFrame(rows)


def controllability_summary(frame: pd.DataFrame) -> pd.Series:
    """``volume_r``: Pearson r of requested against measured area (NaN when either is
    constant, e.g. nothing found anywhere); ``median_abs_volume_error_pct``;
    ``median_centroid_error_mm`` over the edits where something was found; ``missed``:
    the fraction where nothing was; ``mean_dice_wt``."""
    if len(frame) == 0:
        raise ValueError("The controllability table is empty; run controllability on at least one edit.")
    asked, got = frame["requested_mm2"].to_numpy(float), frame["measured_mm2"].to_numpy(float)
    constant = np.std(asked) == 0 or np.std(got) == 0
    return pd.Series({"volume_r": float("nan") if constant else float(np.corrcoef(asked, got)[0, 1]),
                      "median_abs_volume_error_pct": float(frame["volume_error_pct"].abs().median()),
                      "median_centroid_error_mm": float(frame["centroid_error_mm"].median()),  # skips NaN
                      "missed": float((got == 0).mean()),
                      "mean_dice_wt": float(frame["dice_wt"].mean()),
                      "n_edits": len(frame)})


def synthetic_slices(render_fn, canvases: list[EditCanvas], edits) -> LesionSlices:
    """The rendered edits as training slices: images from ``render_fn``, labels the
    requested ones, brain masks and healthy twins from the canvases."""
    images = _render(render_fn, canvases, edits)
    return LesionSlices(images, np.stack([labels for _, labels in edits]).astype(np.uint8),
                        np.stack([canvases[i].brain for i, _ in edits]),
                        np.array([canvases[i].subject.subject_id for i, _ in edits]),
                        np.stack([canvases[i].healthy for i, _ in edits]), {"name": "synthetic"})


def dice_vs_k(data: LesionData, synthetic: LesionSlices | None, ks, seeds, profile, *,
              steps: int | Mapping[str, int]) -> pd.DataFrame:
    """Test Dice of segmenters trained on ``k`` real training subjects, alone ("real only")
    and with ``synthetic`` added ("real + synthetic"; skipped when None), for each k and
    seed. Rows: k, seed, arm, subjects (the real ones, comma-separated), dice_wt, dice_tc,
    dice_et, steps (done), train_s.

    A seed fixes the subjects (nested: the first k of one random order, so the k = 2
    subjects are among the k = 4 ones), the initial weights (the same in both arms) and
    the batch order. Both arms get the same step budget, ``steps`` (one number, or one per
    profile as ``TrainConfig.from_profile`` takes it). Synthetic slices
    are mixed in by concatenation, so a batch holds them in proportion to their number.
    Scores are on all of ``data.test``."""
    ks = sorted({int(k) for k in ks})
    n_train = len(data.train.subjects)
    if not ks or ks[0] < 1 or ks[-1] > n_train:
        raise ValueError(f"ks must be numbers of training subjects between 1 and {n_train}; got {ks}.")
    if synthetic is not None and synthetic.image_size != data.train.image_size:
        raise ValueError(f"The synthetic slices are {synthetic.image_size} px, the data {data.train.image_size} px; "
                         "render them on canvases of the data's image size.")
    steps = TrainConfig.from_profile(profile, steps=steps).steps
    if steps < 1:
        raise ValueError(f"steps must be at least 1; got {steps}.")
    rows = []
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(data.train.subjects)
        for k in ks:
            real = data.train.by_subjects(order[:k])
            arms = {ARMS[0]: real} if synthetic is None else {ARMS[0]: real, ARMS[1]: concat_slices(real, synthetic)}
            for arm, part in arms.items():
                torch.manual_seed(seed)  # the same initial weights in both arms
                model = LesionSegmenter.for_task(None, profile)
                # validate once, at the end
                config = TrainConfig.from_profile(profile, seed=int(seed), steps=steps, eval_every=steps)
                start = time.perf_counter()
                history = train(model, LesionData(part, data.val, data.test, data.info), None, config,
                                progress=False)
                train_s = time.perf_counter() - start
                scores = model.validation_scores(data.test, config.device)
                rows.append({"k": k, "seed": int(seed), "arm": arm, "subjects": ",".join(order[:k]),
                             **{key: scores[key] for key in ("dice_wt", "dice_tc", "dice_et")},
                             "steps": history.step, "train_s": train_s})
    return pd.DataFrame(rows)


def _t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of the mean; NaN bounds for fewer than two values."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * stats.sem(values)
    return mean, mean - half, mean + half


def dice_vs_k_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per k and arm: ``n_seeds``, ``mean`` whole-tumour Dice and its 95 % interval over
    seeds (``ci_low``, ``ci_high``; Student t with n_seeds - 1 degrees of freedom, NaN for
    one seed); and, when both arms ran, rows with arm ``DIFFERENCE``: the paired
    difference (real + synthetic) - (real only) per seed, with its interval. An interval
    of the difference that excludes 0 means the synthetic slices changed the Dice."""
    missing = {"k", "seed", "arm", "dice_wt"} - set(frame.columns)
    if missing:
        raise ValueError(f"The table lacks columns {sorted(missing)}; pass what dice_vs_k returned.")
    rows = []
    for (k, arm), group in frame.groupby(["k", "arm"], sort=True):
        mean, low, high = _t_interval(group["dice_wt"].to_numpy(float))
        rows.append({"k": k, "arm": arm, "n_seeds": len(group), "mean": mean, "ci_low": low, "ci_high": high})
    if set(ARMS) <= set(frame["arm"]):
        paired = frame.pivot_table(index=["k", "seed"], columns="arm", values="dice_wt").dropna()
        for k, group in (paired[ARMS[1]] - paired[ARMS[0]]).groupby(level="k"):
            mean, low, high = _t_interval(group.to_numpy(float))
            rows.append({"k": k, "arm": DIFFERENCE, "n_seeds": len(group), "mean": mean, "ci_low": low,
                         "ci_high": high})
    return pd.DataFrame(rows).sort_values(["k", "arm"], ignore_index=True)


def erase_and_invent(renderer, segmenter, slices: LesionSlices, canvases: list[EditCanvas], device="cpu") -> pd.DataFrame:
    """Does the renderer do what the map says, and nothing else? (the contrast with chapter
    02's unpaired model, which erased lesions unasked). Tumour area the segmenter finds,
    mean per slice in mm^2, on: the real tumour slices of ``slices``; the same re-rendered
    from their own labels; the same with the labels removed (erase on request); healthy
    ``canvases`` rendered with no labels (nothing may appear). ``requested_mm2`` is what
    the map asks for."""
    slices = slices.select(slices.with_lesion)
    if len(slices) == 0 or not canvases:
        raise ValueError("erase_and_invent needs slices with a tumour and at least one healthy canvas.")
    mm2 = canvas_mm_per_px(canvases[0]) ** 2
    batch = slices.tensors(np.arange(len(slices)))
    no_labels = torch.zeros_like(batch["labels"])
    healthy = torch.from_numpy(np.stack([c.healthy for c in canvases]))
    asked = float((slices.labels > 0).sum((1, 2)).mean() * mm2)
    cases = {"real tumour slices": (batch["images"], asked),
             "re-rendered from their labels": (renderer.render(batch["images"], batch["labels"]), asked),
             "labels removed (erase on request)": (renderer.render(batch["images"], no_labels, batch["labels"]), 0.0),
             "healthy slices, no labels": (renderer.render(healthy, no_labels[:1].expand(len(canvases), -1, -1, -1)),
                                           0.0)}
    rows = {}
    for name, (images, requested) in cases.items():
        found = segment_images(segmenter.predict, images.cpu().numpy(), device)
        rows[name] = {"requested_mm2": requested, "found_mm2": float((found > 0).sum((1, 2)).mean() * mm2),
                      "slices": len(images)}
    return pd.DataFrame(rows).T
