"""One evaluation for every model of the course: the scorecard (chapter 09).

``score_synthesis`` takes any method's predictions of a test set (a 2-D, 2.5-D or 3-D
model, a diffusion sample, a baseline) and measures, on the held-out subjects:
- fidelity per subject: PSNR, SSIM, MS-SSIM, MAE (and MAE in HU for CT), ``blur_mm`` (the
  extra blur against the noise-free truth, FWHM in mm: 0 = as sharp as the truth, lower is
  sharper) and the MAE inside the tumours; means over subjects with a 95 % t-interval
  (subjects, not slices, are the independent samples);
- where the error is: MAE in each tissue's interior, and one "boundary" row for the pixels
  next to another tissue (an edge error is not a tissue's error);
- realism and a downstream task, when a ``RealismScorer`` is given: the distances of
  ``analysis.realism`` and the tissue segmenter's Dice on the synthetic images beside its
  Dice on the real ones.
``score_ceiling`` scores a perfect synthesiser the same way (the noise-free acquisition,
``metrics.ceiling``); ``leaderboard`` lines scorecards up and, given the baseline's row and
the ceiling's card, says how much of the gap between them each row closed.
``PUBLISHED_ANCHORS`` are published figures on real data, beside which the phantom's numbers
are *not* comparable (another anatomy, noise, resolution and normalisation): they show the
scale of real results, not a ranking.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from monai.metrics import MultiScaleSSIMMetric
from scipy.stats import t as student_t

from medsynth_nb.data.phantom import TISSUE_LABELS
from medsynth_nb.metrics.evaluation import (CEILING, error_by_label, evaluate, gap_closed, noise_free_target,
                                           predict_set)
from medsynth_nb.tasks import parse_task

# Wang et al.'s first three scale weights: 96-pixel slices are too small for five 11-pixel scales.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001)

# Published results on real data (Dalmaz et al., IEEE TMI 2022, ResViT; many-to-one tasks, as
# listed by Papers with Code). Not comparable with the phantom's: see the module docstring.
PUBLISHED_ANCHORS = pd.DataFrame(
    [("ResViT", "IXI", "t2,pd:t1", 29.58), ("ResViT", "BraTS", "t1,flair:t2", 26.90),
     ("ResViT", "BraTS", "t2,flair:t1", 26.24), ("ResViT", "pelvic MRI-CT", "t2:ct", 28.45)],
    columns=["model", "dataset", "task", "psnr"])


def markdown_table(frame: pd.DataFrame, index_label: str = "") -> str:
    """``frame`` as a Markdown table (floats to 4 significant digits), for the model card and
    the leaderboard file."""
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    head = "| " + " | ".join([index_label, *map(str, frame.columns)]) + " |"
    rule = "|" + "---|" * (len(frame.columns) + 1)
    rows = ["| " + " | ".join([str(name), *map(cell, row)]) + " |" for name, row in zip(frame.index, frame.values)]
    return "\n".join([head, rule, *rows])


def ms_ssim(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-slice multi-scale SSIM (MONAI, three scales) of whole N x H x W slices. The
    Gaussian window is 11 pixels, or the largest odd size that fits the coarsest scale of
    smaller slices (MONAI needs size // 4 > window - 1)."""
    fits = min(np.shape(predictions)[-2:]) // (len(MS_SSIM_WEIGHTS) - 1) ** 2
    kernel = min(11, fits if fits % 2 else fits - 1)
    metric = MultiScaleSSIMMetric(spatial_dims=2, data_range=1.0, kernel_size=kernel, weights=MS_SSIM_WEIGHTS,
                                  reduction="none")
    return metric(torch.from_numpy(np.asarray(predictions, np.float32)[:, None]),
                  torch.from_numpy(np.asarray(target, np.float32)[:, None])).numpy().ravel()


def mean_with_interval(values, confidence: float = 0.95) -> dict[str, float]:
    """Mean of per-subject ``values`` with its t-interval (NaN bounds for one subject)."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if values.size else float("nan")
    if values.size < 2:
        return {"mean": mean, "ci_low": float("nan"), "ci_high": float("nan"), "subjects": int(values.size)}
    half = student_t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "subjects": int(values.size)}


@dataclass
class Scorecard:
    """Everything ``score_synthesis`` measured for one method."""

    name: str
    task: str
    per_subject: pd.DataFrame   # one row per test subject
    per_tissue: pd.Series       # MAE in each tissue's interior, and on the tissue boundaries
    realism: dict               # realism distances and tissue Dice (empty without a scorer)

    @property
    def summary(self) -> pd.DataFrame:
        """Per metric: mean over subjects, 95 % interval, number of subjects."""
        return pd.DataFrame({col: mean_with_interval(self.per_subject[col]) for col in self.per_subject}).T

    def headline(self) -> dict[str, float]:
        """One row of the leaderboard: the subject means and the realism scores."""
        return {**self.per_subject.mean().to_dict(), **self.realism}


def score_synthesis(name: str, predictions: np.ndarray, data, task, *, scorer=None) -> Scorecard:
    """The scorecard of ``predictions`` (N x H x W, the slices of ``data``, a test
    SliceSet) for ``task``; with ``scorer`` (``analysis.realism.RealismScorer`` of the
    target contrast) also realism and the downstream tissue Dice."""
    task = parse_task(task)
    predictions = np.asarray(predictions, np.float32)
    if predictions.shape != data.images[task.target].shape:
        raise ValueError(f"{name}: predictions have shape {predictions.shape}; the test slices of {task.target} "
                         f"have {data.images[task.target].shape}. Predict every test slice, in order.")
    target = data.images[task.target]
    per_subject = evaluate(predictions, data, task)
    per_slice = pd.DataFrame({"ms_ssim": ms_ssim(predictions, target), "subject": data.subject_ids})
    per_subject["ms_ssim"] = per_slice.groupby("subject")["ms_ssim"].mean()
    tumor = data.tumor > 0
    if tumor.any():
        errors = pd.DataFrame({"error": np.abs(predictions - target)[tumor], "subject": data.subject_ids[
            np.nonzero(tumor)[0]]})
        per_subject["mae_tumor"] = errors.groupby("subject")["error"].mean()  # NaN for tumour-free subjects
    per_tissue = error_by_label(predictions, target, data.tissue, TISSUE_LABELS)
    realism = {}
    if scorer is not None:
        head = data.tissue > 0
        realism = scorer.score(predictions, head, data.tissue)
        realism["tissue Dice on real"] = scorer.tissue_dice(target, data.tissue)
    return Scorecard(name, str(task), per_subject, per_tissue, realism)


def score_model(name: str, model, data, task, *, scorer=None, device="cpu") -> Scorecard:
    """``score_synthesis`` of a trained model's ``predict`` over every slice of ``data``."""
    return score_synthesis(name, predict_set(model.predict, data, task, device=device), data, task, scorer=scorer)


def score_ceiling(data, task, *, scorer=None) -> Scorecard:
    """The scorecard of a perfect synthesiser, named ``CEILING``: the target's noise-free
    acquisition (``data.noise_free``; the phantom's only) scored like any prediction."""
    return score_synthesis(CEILING, noise_free_target(data, task), data, task, scorer=scorer)


def leaderboard(cards, baseline: str | None = None) -> pd.DataFrame:
    """Scorecards (a list or {name: card}) side by side, one row each, best PSNR first;
    they must score the same task on the same subjects. With ``baseline`` (a card's name)
    and a ``CEILING`` card among them, also ``gap closed (psnr)``: the fraction of the way
    from the baseline to the ceiling each row went (``metrics.gap_closed``)."""
    cards = list(cards.values()) if isinstance(cards, dict) else list(cards)
    tasks = {card.task for card in cards}
    subjects = {tuple(card.per_subject.index) for card in cards}
    if len(tasks) > 1 or len(subjects) > 1:
        raise ValueError(f"A leaderboard compares one task on the same subjects; got tasks {sorted(tasks)} and "
                         f"{len(subjects)} different subject lists.")
    table = pd.DataFrame({card.name: card.headline() for card in cards}).T
    if baseline is not None:
        if CEILING not in table.index:
            raise ValueError(f"The gap closed from {baseline!r} needs the ceiling's card among the cards "
                             "(score_ceiling).")
        table = table.join(gap_closed(table, baseline, CEILING))
    return table.sort_values("psnr", ascending=False)
