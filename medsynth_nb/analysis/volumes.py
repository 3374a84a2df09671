"""What chapter 09 measures about slice-wise, 2.5-D and 3-D synthesis: quality, continuity
across the slices, and what each costs.

Quality is scored as in every chapter, slice by slice inside the head against the acquired
target, averaged per subject, then over subjects. Continuity is scored per subject on the
volume inside the head against the noise-free truth (``metrics.volume``): the through-plane
gradient error (how much the steps between slices differ from the true ones) and the
discontinuity index (that error over the in-plane one: about 1 for errors smooth in 3-D,
above 1 for errors that jump between slices). The truth is the clean image, not the
acquired one, because the acquired image's own noise jumps from slice to slice too.

Costs are measured, not estimated: training seconds from the run's history, seconds per
predicted volume, parameters, and training memory as the bytes of the tensors autograd
keeps for the backward pass (``activation_memory_mb``). That figure is exact and the same on
every machine, unlike a process's or an allocator's peak, which depends on the allocator's
caching, the thread count and what ran before.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from medsynth_nb.data.slices import SliceSet
from medsynth_nb.data.volumes import subject_volumes
from medsynth_nb.metrics.evaluation import evaluate
from medsynth_nb.metrics.volume import discontinuity_index, through_plane_gradient_error
from medsynth_nb.models.base import parameter_count
from medsynth_nb.tasks import Task, parse_task

IMAGE_SCORES = ("psnr", "ssim", "mae")
REFERENCE = "acquired"  # volume_table's name for the acquired target's own row


def activation_memory_mb(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    """Megabytes a training step on ``batch`` must hold between its forward and backward
    pass: every storage autograd saves for the backward pass during ``model(batch["source"])``
    in training mode (activations, the input, the weights), and the parameters, each
    storage counted once. Gradients and the optimizer's state (Adam: two more copies of the
    parameters) come on top."""
    storages: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    was_training = model.training
    model.train()
    device = next(model.parameters()).device
    # Every saved tensor stays alive until the forward pass returns (the graph holds it), so
    # no address is freed and reused in between: one address, one storage.
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        model(batch["source"].to(device))
    for parameter in model.parameters():
        keep(parameter)
    model.train(was_training)
    return sum(storages.values()) / 2**20


def timed(predict_slices, data: SliceSet) -> tuple[np.ndarray, float]:
    """``predict_slices(data)`` (-> N x H x W) and its wall-clock seconds per subject volume."""
    start = time.perf_counter()
    prediction = np.asarray(predict_slices(data))
    return prediction, (time.perf_counter() - start) / len(data.subjects)


def method_costs(model: torch.nn.Module, history, batch: dict[str, torch.Tensor], seconds_per_volume: float) -> dict:
    """The cost columns of one method for ``volume_table``: its training seconds (from the
    engine's ``History``), seconds per volume (``timed``), training memory on one of its
    training batches (``activation_memory_mb``) and parameters."""
    return {"train s": history.elapsed_s, "s per volume": seconds_per_volume,
            "memory MB": activation_memory_mb(model, batch), "parameters": parameter_count(model)}


def _check_prediction(prediction, data: SliceSet, name: str) -> np.ndarray:
    prediction = np.asarray(prediction, np.float32)
    expected = (len(data), *data.tissue.shape[1:])
    if prediction.shape != expected:
        raise ValueError(f"Prediction {name!r} has shape {prediction.shape}; expected one image per slice of the "
                         f"set, in its order: {expected}.")
    return prediction


def _continuity(prediction: np.ndarray, clean: dict, head: dict, subject_ids) -> dict[str, float]:
    """Through-plane error and discontinuity index, per subject inside the head, then the mean."""
    volumes = subject_volumes(prediction, subject_ids)
    return {"through_plane_error": float(np.mean([through_plane_gradient_error(volumes[s], clean[s], head[s])
                                                  for s in clean])),
            "discontinuity_index": float(np.mean([discontinuity_index(volumes[s], clean[s], head[s])
                                                  for s in clean]))}


def volume_table(predictions: dict[str, np.ndarray], data: SliceSet, task: str | Task,
                 costs: dict[str, dict] | None = None, *, reference: bool = False) -> pd.DataFrame:
    """One row per method (``predictions``: ``{method: N x H x W}`` in ``data``'s order):
    mean over subjects of PSNR, SSIM and MAE (against the acquired target), of the
    through-plane error and of the discontinuity index (against the clean truth, see the
    module docstring), then the method's ``costs`` (``{method: {column: value}}``, e.g. from
    ``method_costs``).

    ``reference=True`` adds a first row, ``"acquired"``: the acquired target scored for
    continuity like a method. It is what a scanner gives, independent noise in every voxel,
    so its discontinuity index is about 1: the level a method's should come down to. Its
    image scores are left empty (compared with itself they would be perfect, which says
    nothing), and so are its costs."""
    task = parse_task(task)
    costs = costs or {}
    unknown = sorted(set(costs) - set(predictions))
    if unknown:
        raise ValueError(f"costs name {unknown}, which have no prediction; methods: {list(predictions)}.")
    clean = subject_volumes(data.clean[task.target], data.subject_ids)
    head = subject_volumes(data.tissue > 0, data.subject_ids)
    rows = {}
    if reference:
        rows[REFERENCE] = {**dict.fromkeys(IMAGE_SCORES, np.nan),
                           **_continuity(data.images[task.target], clean, head, data.subject_ids)}
    for name, prediction in predictions.items():
        prediction = _check_prediction(prediction, data, name)
        scores = evaluate(prediction, data, task)[list(IMAGE_SCORES)].mean().to_dict()
        rows[name] = {**scores, **_continuity(prediction, clean, head, data.subject_ids), **costs.get(name, {})}
    return pd.DataFrame.from_dict(rows, orient="index")


def through_plane_profile(prediction: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The through-plane gradient error of one volume (D x H x W) slice pair by slice pair:
    D - 1 values, NaN for a pair with no voxel inside ``mask`` in both slices. Where a
    slice-wise model's steps are: the peaks."""
    mask = np.ones(np.shape(truth), bool) if mask is None else np.asarray(mask, bool)
    return np.array([through_plane_gradient_error(prediction[k:k + 2], truth[k:k + 2], mask[k:k + 2])
                     if (mask[k] & mask[k + 1]).any() else np.nan for k in range(len(truth) - 1)])
