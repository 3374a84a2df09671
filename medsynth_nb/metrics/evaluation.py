"""Evaluation tables: a model's predictions on a slice set scored per slice, then averaged
per subject, then over subjects (subjects, not slices, are the independent samples)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from medsynth_nb.data.slices import SliceSet
from medsynth_nb.metrics.image import image_metrics, mae
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


def evaluate(predictions: np.ndarray, data: SliceSet, task: str | Task, *, against: str = "acquired") -> pd.DataFrame:
    """Per-subject metrics inside the head (air outside the head would flatter every
    model), against the acquired target or the clean truth (``against="clean"``)."""
    task = parse_task(task)
    target = (data.images if against == "acquired" else data.clean)[task.target]
    head = data.tissue > 0
    per_slice = image_metrics(predictions[:, None], target[:, None], head[:, None], task.target)
    frame = pd.DataFrame({k: v.numpy() for k, v in per_slice.items()})
    frame["subject"] = data.subject_ids
    return frame.groupby("subject").mean()


def evaluate_model(predict, data: SliceSet, task: str | Task, *, device="cpu", against: str = "acquired") -> pd.DataFrame:
    """``predict`` over ``data``, then ``evaluate``: the per-subject table of a model."""
    return evaluate(predict_set(predict, data, task, device=device), data, task, against=against)


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


def error_by_label(prediction: np.ndarray, target: np.ndarray, labels: np.ndarray, names: dict[int, str]) -> pd.Series:
    """Mean absolute error inside each label (e.g. CT error in HU per tissue): where a
    model fails hides in a single average."""
    err = np.abs(np.asarray(prediction) - np.asarray(target))
    return pd.Series({name: float(err[labels == code].mean()) for code, name in names.items()
                      if (labels == code).any()}, name="MAE")


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
