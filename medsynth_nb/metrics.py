"""Image-quality metrics for synthesis, optionally inside a mask, and the evaluation table.

- ``psnr``: 10 log10(range^2 / MSE). MONAI's ``PSNRMetric`` has no mask; with
  ``mask=None`` this equals it (checked in the tests).
- ``ssim``: MONAI's Gaussian SSIM map (11 x 11, sigma 1.5, as Wang et al. 2004), averaged
  over the mask; with ``mask=None`` it equals MONAI's ``SSIMMetric``.
- ``mae``: mean absolute error; for CT pass HU images to get HU.
- ``sharpness``: edge energy relative to the real image (1 = as sharp; below 1 = blurrier).

Inputs are tensors or arrays shaped (B, 1, H, W) or (H, W); results are per image.
Metrics are computed per slice, then averaged per subject, then over subjects: subjects,
not slices, are the independent samples.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from monai.metrics.regression import compute_ssim_and_cs

from .data.datasets import SliceSet, Task, base_modality, parse_task, to_hu

SSIM_KERNEL, SSIM_SIGMA = 11, 1.5


def _as_batch(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    while x.dim() < 4:
        x = x.unsqueeze(0)
    return x


def _masked_mean(values: torch.Tensor, mask) -> torch.Tensor:
    if mask is None:
        return values.flatten(1).mean(1)
    m = _as_batch(mask).to(values.dtype).expand_as(values)
    return (values * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)


def mae(pred, target, mask=None) -> torch.Tensor:
    pred, target = _as_batch(pred), _as_batch(target)
    return _masked_mean((pred - target).abs(), mask)


def psnr(pred, target, mask=None, data_range: float = 1.0) -> torch.Tensor:
    pred, target = _as_batch(pred), _as_batch(target)
    mse = _masked_mean((pred - target) ** 2, mask)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


def ssim(pred, target, mask=None, data_range: float = 1.0) -> torch.Tensor:
    pred, target = _as_batch(pred), _as_batch(target)
    ssim_map, _ = compute_ssim_and_cs(pred, target, spatial_dims=2, kernel_size=[SSIM_KERNEL] * 2,
                                      kernel_sigma=[SSIM_SIGMA] * 2, data_range=data_range)
    if mask is None:
        return ssim_map.flatten(1).mean(1)
    # The map is "valid" convolution: crop the mask to the same centre region.
    m = _as_batch(mask)
    crop = (m.shape[-1] - ssim_map.shape[-1]) // 2
    m = m[..., crop:crop + ssim_map.shape[-2], crop:crop + ssim_map.shape[-1]]
    return _masked_mean(ssim_map, m)


def sharpness(pred, target, mask=None) -> torch.Tensor:
    """Edge energy of ``pred`` relative to ``target``: mean squared gradient (finite
    differences) inside the mask, as a ratio. (Not the mean gradient *magnitude*: blur
    conserves that across a step edge, it only spreads it.) 1 = as sharp as the real image; below 1 =
    blurrier (the typical signature of an L1/L2-trained network), above 1 = extra edges
    or noise. A complement to PSNR/SSIM, which reward blur where the model is unsure."""
    def edge(x):
        x = _as_batch(x)
        gy = torch.nn.functional.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
        gx = torch.nn.functional.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0))
        return _masked_mean(gx**2 + gy**2, mask)

    return edge(pred) / edge(target).clamp_min(1e-8)


def image_metrics(pred, target, mask=None, modality: str | None = None) -> dict[str, torch.Tensor]:
    """PSNR, SSIM, MAE and sharpness of normalised images; for CT also MAE in HU."""
    out = {"psnr": psnr(pred, target, mask), "ssim": ssim(pred, target, mask), "mae": mae(pred, target, mask),
           "sharpness": sharpness(pred, target, mask)}
    if modality is not None and base_modality(modality) == "ct":
        out["mae_hu"] = mae(to_hu(_as_batch(pred)), to_hu(_as_batch(target)), mask)
    return out


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


def paired_comparison(a: pd.DataFrame, b: pd.DataFrame, columns=("psnr", "ssim", "mae")) -> pd.DataFrame:
    """Two models' per-subject tables (from ``evaluate``) compared subject by subject: mean
    difference a - b and the Wilcoxon signed-rank p-value (subjects are the samples; a test
    over slices would count one patient many times)."""
    from scipy.stats import wilcoxon

    shared = a.index.intersection(b.index)
    if len(shared) < 2:
        raise ValueError(f"Need the same subjects in both tables to pair them; they share {len(shared)}.")
    rows = {}
    for col in columns:
        diff = a.loc[shared, col] - b.loc[shared, col]
        p = wilcoxon(diff).pvalue if (diff != 0).any() else 1.0
        rows[col] = {"mean a - b": diff.mean(), "a better on": int(((diff > 0) if col != "mae" else (diff < 0)).sum()),
                     "subjects": len(shared), "wilcoxon p": p}
    return pd.DataFrame(rows).T


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


def uncertainty_vs_error(uncertainty: np.ndarray, error: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Spearman rank correlation between a per-pixel uncertainty map and the absolute
    error, inside ``mask``: does the model know where it is wrong? (1: perfectly ranked,
    0: no relation.)"""
    from scipy.stats import spearmanr

    uncertainty, error = np.asarray(uncertainty), np.asarray(error)
    if uncertainty.shape != error.shape:
        raise ValueError(f"uncertainty {uncertainty.shape} and error {error.shape} must have the same shape.")
    keep = np.ones(error.shape, bool) if mask is None else np.asarray(mask, bool)
    return float(spearmanr(uncertainty[keep], error[keep]).statistic)


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
