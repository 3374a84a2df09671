"""Evaluation tables: a model's predictions on a slice set scored per slice, then averaged
per subject, then over subjects (subjects, not slices, are the independent samples).

Two rows put a table in scale: ``ceiling`` (the noise-free acquisition scored against the
acquired target: what a perfect synthesiser would score, since no source image can predict
the target's noise) and a baseline such as the intensity lookup; ``gap_closed`` says how
much of the way from one to the other a model went."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from medsynth_nb.data.slices import SliceSet
from medsynth_nb.metrics.image import image_metrics, mae
from medsynth_nb.metrics.image_quality import blur_fwhm_mm
from medsynth_nb.orientation import FOV_MM
from medsynth_nb.tasks import Task, parse_task


@torch.no_grad()
def predict_set(predict, data: SliceSet, task: str | Task, batch_size: int = 32, device="cpu") -> np.ndarray:
    """Run ``predict`` (sources B x C x H x W -> B x 1 x H x W) over a whole slice set."""
    task = parse_task(task)
    out = []
    for start in range(0, len(data), batch_size):
        batch = data.batch(task, np.arange(start, min(start + batch_size, len(data))))
        out.append(predict(batch["source"].to(device)).float().cpu().numpy())
    return np.concatenate(out)[:, 0]


def evaluate(predictions: np.ndarray, data: SliceSet, task: str | Task, *, against: str = "acquired",
             blur: bool = True) -> pd.DataFrame:
    """Per-subject metrics inside the head (air outside the head would flatter every
    model), against the acquired target or the clean truth (``against="clean"``): PSNR,
    SSIM and MAE per slice, averaged per subject, and ``blur_mm``, the extra blur against
    the noise-free target (``metrics.image_quality.blur_fwhm_mm``; 0 = as sharp), fitted
    on all of a subject's slices. Pixels are the course grid's (``FOV_MM`` / width).
    ``blur=False`` leaves the blur fit out (the training loop's validation: it costs a fit per
    subject, and a model early in training has no blur to read yet)."""
    task = parse_task(task)
    target = (data.images if against == "acquired" else data.clean)[task.target]
    head = data.tissue > 0
    per_slice = image_metrics(predictions[:, None], target[:, None], head[:, None], task.target)
    frame = pd.DataFrame({k: v.numpy() for k, v in per_slice.items()})
    frame["subject"] = data.subject_ids
    table = frame.groupby("subject").mean()
    if not blur:
        return table
    # Blur is read against the noise-free acquisition where the data have one (the phantom), else ``clean``.
    reference = (data.clean if against == "clean" or data.noise_free is None else data.noise_free)[task.target]
    pixel_mm = FOV_MM / predictions.shape[-1]
    table["blur_mm"] = pd.Series({subject: blur_fwhm_mm(predictions[rows], reference[rows], head[rows], pixel_mm)
                                  for subject in table.index for rows in [data.subject_ids == subject]})
    return table


CEILING = "ceiling (noise-free acquisition)"


def with_ceiling(per_subject: dict[str, pd.DataFrame], data: SliceSet, task: str | Task) -> dict[str, pd.DataFrame]:
    """``per_subject`` ({method: per-subject frame}, what ``summarize`` takes) with the task's
    ``ceiling`` added as the row ``CEILING`` where the data know it (the phantom), and as it
    is for real scans, which have no noise-free truth."""
    return per_subject if data.noise_free is None else {**per_subject, CEILING: ceiling(data, task)}


def noise_free_target(data: SliceSet, task: str | Task) -> np.ndarray:
    """The task target's noise-free acquisition: what a perfect synthesiser would predict."""
    if data.noise_free is None:
        raise ValueError("These data have no noise-free acquisition (real scans): a task's ceiling needs the "
                         "phantom, where it is known.")
    return data.noise_free[parse_task(task).target]


def ceiling(data: SliceSet, task: str | Task) -> pd.DataFrame:
    """Per-subject scores of a perfect synthesiser: the target's noise-free acquisition
    (receive field and blur kept, noise removed) against the acquired target. No model can
    score above it on average, because no source image carries the target's noise."""
    return evaluate(noise_free_target(data, task), data, task)


def gap_closed(table: pd.DataFrame, baseline: str, ceiling_row: str, metric: str = "psnr") -> pd.Series:
    """Per row of ``table`` (methods), the fraction of the way from the ``baseline`` row to
    the ``ceiling_row`` on ``metric``: 0 = no better than the baseline, 1 = at the ceiling;
    NaN everywhere when the table has no ceiling row (real scans: ``with_ceiling``)."""
    if ceiling_row not in table.index:
        return pd.Series(float("nan"), index=table.index, name=f"gap closed ({metric})")
    low, high = table.loc[baseline, metric], table.loc[ceiling_row, metric]
    return ((table[metric] - low) / (high - low)).rename(f"gap closed ({metric})")


def evaluate_model(predict, data: SliceSet, task: str | Task, *, device="cpu", against: str = "acquired",
                   blur: bool = True) -> pd.DataFrame:
    """``predict`` over ``data``, then ``evaluate``: the per-subject table of a model."""
    return evaluate(predict_set(predict, data, task, device=device), data, task, against=against, blur=blur)


def evaluate_imputation(model, data: SliceSet, *, device="cpu") -> pd.DataFrame:
    """A unified (any-to-any) model scored on every source subset -> target among its
    modalities: the missing-sequence imputation table, one row per configuration (means
    over subjects)."""
    from itertools import combinations

    rows = []
    for target in model.modalities:
        others = [m for m in model.modalities if m != target]
        for k in range(1, len(others) + 1):
            for subset in combinations(others, k):
                def predict(source, subset=subset, target=target):
                    return model.synthesise({m: source[:, i:i + 1] for i, m in enumerate(subset)}, target)

                task = f"{','.join(subset)}:{target}"
                scores = evaluate_model(predict, data, task, device=device).mean()
                rows.append({"target": target, "inputs": " + ".join(subset), "n_inputs": k, **scores.to_dict()})
    return pd.DataFrame(rows)


def summarize(per_subject: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """{method: per-subject frame} -> one row per method: mean and sd over subjects."""
    rows = {}
    for method, frame in per_subject.items():
        row = {}
        for col in frame.columns:
            row[col] = frame[col].mean()
            row[f"{col}_sd"] = frame[col].std(ddof=1) if len(frame) > 1 else float("nan")
        row["subjects"] = len(frame)
        rows[method] = row
    return pd.DataFrame(rows).T


def interior_mask(labels: np.ndarray) -> np.ndarray:
    """Pixels whose whole 3 x 3 in-plane neighbourhood has their label (labels N x H x W or
    H x W): a tissue's interior, where no partial volume with another tissue is likely.
    The other pixels are its boundary (one-pixel erosion of each label)."""
    labels = np.asarray(labels)
    size = (1,) * (labels.ndim - 2) + (3, 3)
    return ndimage.minimum_filter(labels, size=size, mode="nearest") == ndimage.maximum_filter(
        labels, size=size, mode="nearest")


def error_by_label(prediction: np.ndarray, target: np.ndarray, labels: np.ndarray, names: dict[int, str]) -> pd.Series:
    """Mean absolute error inside each label's interior (e.g. CT error in HU per tissue),
    and one ``boundary`` row for all the labelled pixels next to another label: where a
    model fails hides in a single average, and an edge error is not a tissue's error. A
    label with no interior pixel gets NaN."""
    err = np.abs(np.asarray(prediction) - np.asarray(target))
    labels = np.asarray(labels)
    interior = interior_mask(labels)
    rows = {name: float(err[inside].mean()) if inside.any() else float("nan")
            for code, name in names.items() if (labels == code).any() for inside in [(labels == code) & interior]}
    edge = np.isin(labels, list(names)) & ~interior
    rows["boundary"] = float(err[edge].mean()) if edge.any() else float("nan")
    return pd.Series(rows, name="MAE")


def worst_slices(predictions: np.ndarray, data: SliceSet, task: str | Task, n: int = 3) -> np.ndarray:
    """Indices of the ``n`` slices with the largest mean absolute error inside the head
    (a failure gallery)."""
    target = data.images[parse_task(task).target]
    per_slice = mae(predictions[:, None], target[:, None], (data.tissue > 0)[:, None]).numpy()
    return np.argsort(per_slice)[::-1][:n]


def compare_samplers(model, data: SliceSet, task: str | Task, settings, *, device="cpu", seed: int = 0) -> pd.DataFrame:
    """Sampling cost vs quality of one diffusion model: for each ``(sampler, steps)`` in
    ``settings`` (steps None: the sampler's default), all of ``data`` as one batch from the
    same noise seed; wall-clock seconds and the mean per-subject PSNR/SSIM/MAE."""
    import time

    import torch

    task = parse_task(task)
    source = data.batch(task, np.arange(len(data)))["source"].to(device)
    rows = []
    for sampler, steps in settings:
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        images = model.sample(source, sampler=sampler, steps=steps, seed=seed)
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        scores = evaluate(images[:, 0].float().cpu().numpy(), data, task)[["psnr", "ssim", "mae"]].mean()
        used = model.config["num_train_timesteps"] if sampler == "ddpm" else (steps or model.config["sample_steps"])
        rows.append({"sampler": sampler, "steps": used, "seconds": seconds,
                     "s_per_image": seconds / len(data), **scores.to_dict()})
    return pd.DataFrame(rows)


def lesion_contrast(images: np.ndarray, data: SliceSet) -> pd.Series:
    """Per slice with a tumour: mean intensity inside the tumour minus mean intensity of
    normal white matter. Comparing a synthetic image's contrast with the real one's shows
    whether a lesion was rendered, weakened or erased (a CycleGAN failure mode)."""
    values = {}
    for i in np.flatnonzero(data.tumor.reshape(len(data), -1).any(1)):
        lesion, wm = data.tumor[i] > 0, data.tissue[i] == 3
        if wm.any():
            values[i] = float(images[i][lesion].mean() - images[i][wm].mean())
    return pd.Series(values, name="lesion contrast", dtype=float)


BRAIN_TISSUES = (1, 2, 3)  # csf, gm, wm: the tissue codes inside the skull


def lesion_fidelity(images: np.ndarray, truths: np.ndarray, data) -> dict:
    """What a method did to the tumours of ``data`` (slices with ``tumor`` and ``tissue``):
    - ``contrast kept``: median over tumour slices of the image's lesion contrast over the
      truth's; 1 = kept, 0 = erased, above 1 = exaggerated;
    - ``lesion / brain error``: mean |error| inside the tumour over that in the healthy brain
      of the same slices; above 1, the method is worst where it meets what it never saw.
    """
    if not data.tumor.any():
        raise ValueError("No slice has a tumour; load the phantom with tumor_prob > 0.")
    kept = lesion_contrast(images, data) / lesion_contrast(truths, data)
    lesion_error, brain_error = [], []
    for i in np.flatnonzero(data.tumor.reshape(len(data), -1).any(1)):
        error = np.abs(images[i] - truths[i])
        lesion_error.append(error[data.tumor[i] > 0].mean())
        brain_error.append(error[np.isin(data.tissue[i], BRAIN_TISSUES) & (data.tumor[i] == 0)].mean())
    with np.errstate(divide="ignore", invalid="ignore"):  # the truth itself has no error anywhere
        ratio = float(np.mean(lesion_error) / np.mean(brain_error))
    return {"contrast kept": float(kept.median()), "lesion / brain error": ratio, "tumour slices": len(kept)}
