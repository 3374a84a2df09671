"""Chapter 09's models that see the third dimension: a 2.5-D U-Net and a 3-D patch U-Net.

**2.5-D** needs no new network. Chapter 00's ``UNetRegressor`` reads a ``SliceStack``
(``data.volumes``): each slice with its ``context`` neighbours above and below as extra
input channels, ``n_sources * (2 context + 1)`` of them (``for_context``). Its first
convolution mixes the slices, so it can see how the anatomy changes across them and make
neighbouring outputs agree; its output is still one slice, made on its own.

**3-D** (``PatchUNet3D``): MONAI's ``UNet`` with ``spatial_dims=3`` (residual units,
instance norm, stride-2 levels, as the course's 2-D U-Net), trained with L1 on random
blocks of the volumes (``data.volumes.VolumePatches``): a batch of blocks holds as many
voxels as a 2-D batch of slices, and every batch shows other places of other heads,
where whole volumes would make batches of one head each. At inference a sliding window
(``monai.inferers.sliding_window_inference``) covers each volume with blocks of the
training patch size, overlapping by half, and blends them with Gaussian weights. A
block's voxels near its border have seen less context and are less accurate; with plain
averaging, or without overlap, the block borders would be steps of their own, a new
discontinuity in place of the one the 3-D model removes between slices. The Gaussian
weights let the centre of each block speak. The model validates itself
(``validation_scores``): the engine's validation never calls ``predict`` on a model that
has one, so nothing feeds this network single slices.
"""
from __future__ import annotations

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNet

from medsynth_nb.data.slices import SliceSet
from medsynth_nb.data.volumes import slices_from_volumes, subject_volumes
from medsynth_nb.metrics.evaluation import evaluate
from medsynth_nb.models.base import Synthesiser
from medsynth_nb.models.unet import L1Training, UNetRegressor
from medsynth_nb.tasks import Task, parse_task

WINDOW_OVERLAP = 0.5    # each voxel is predicted by several blocks ...
WINDOW_BLEND = "gaussian"  # ... weighted towards each block's centre


def for_context(task: str | Task, profile, context: int = 1, **overrides) -> UNetRegressor:
    """The 2.5-D model for ``task``: a ``UNetRegressor`` with one input channel per source
    and slice of a ``SliceStack`` with ``context`` neighbours on each side (the profile's
    widths unless ``channels`` is given). Train it on ``data.volumes.stacked(data, context)``."""
    task = parse_task(task)
    if context < 0:
        raise ValueError(f"context={context}: the neighbours on each side must be 0 or more.")
    overrides.setdefault("channels", tuple(profile.channels))
    model = UNetRegressor(in_channels=len(task.sources) * (2 * context + 1), **overrides)
    model.config.update({"model": "unet", "task": str(task)})  # as build_model: a checkpoint rebuilds it
    return model


class PatchUNet3D(L1Training, Synthesiser):
    """A 3-D U-Net trained on ``patch_size`` blocks (slices, rows, columns) and applied to
    whole volumes by a Gaussian-blended sliding window; config: in_channels, channels,
    patch_size, lr, dropout (and the task, which its validation needs)."""

    def __init__(self, in_channels: int = 1, channels=(8, 16, 32), patch_size=(16, 32, 32), lr: float = 1e-3,
                 dropout: float = 0.0, task: str | None = None):
        super().__init__()
        channels, patch_size = tuple(channels), tuple(int(p) for p in patch_size)
        step = 2 ** (len(channels) - 1)
        if len(patch_size) != 3 or any(p % step for p in patch_size):
            raise ValueError(f"patch_size={patch_size}: give (slices, rows, columns), each a multiple of {step} "
                             f"(the U-Net halves every size {len(channels) - 1} times).")
        if task is not None and len(parse_task(task).sources) != in_channels:
            raise ValueError(f"Task {task} has {len(parse_task(task).sources)} sources; in_channels={in_channels}.")
        self.config = {"in_channels": in_channels, "channels": list(channels), "patch_size": list(patch_size),
                       "lr": lr, "dropout": dropout, "task": None if task is None else str(task)}
        self.net = UNet(spatial_dims=3, in_channels=in_channels, out_channels=1, channels=channels,
                        strides=(2,) * (len(channels) - 1), num_res_units=2, dropout=dropout, norm="instance")

    @classmethod
    def for_task(cls, task, profile, **overrides):
        """The profile's first three widths: with three times the weights per kernel
        (3 x 3 x 3 against 3 x 3), three levels hold about as many parameters as the 2-D
        U-Net's four, so the comparison is not one of sizes."""
        overrides.setdefault("channels", tuple(profile.channels[:3]))
        return cls(in_channels=len(task.sources), task=str(task), **overrides)

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return tuple(self.config["patch_size"])

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        if source.ndim != 5:
            raise ValueError(f"PatchUNet3D takes blocks, B x C x D x H x W; got shape {tuple(source.shape)}. Train it "
                             "on data.volumes.volume_patches(data) and predict with predict_volume / predict_slices.")
        return self.net(source)

    @torch.no_grad()
    def predict_volume(self, source_volume: torch.Tensor, sw_batch_size: int = 4) -> torch.Tensor:
        """The synthetic target of one volume: sources C x D x H x W -> D x H x W in [0, 1]
        (sliding window of the patch size; see the module docstring)."""
        if source_volume.ndim != 4 or source_volume.shape[0] != self.config["in_channels"]:
            raise ValueError(f"predict_volume takes one volume, {self.config['in_channels']} x D x H x W (sources x "
                             f"slices x rows x columns); got shape {tuple(source_volume.shape)}.")
        self.eval()
        device = next(self.parameters()).device
        out = sliding_window_inference(source_volume[None].float().to(device), roi_size=self.patch_size,
                                       sw_batch_size=sw_batch_size, predictor=self, overlap=WINDOW_OVERLAP,
                                       mode=WINDOW_BLEND)
        return out[0, 0].clamp(0, 1)

    def predict_slices(self, data: SliceSet, task: str | Task) -> np.ndarray:
        """The synthetic target of every slice of ``data`` (N x H x W, in data order): the
        slices grouped into their subjects' volumes, each volume predicted whole."""
        task = parse_task(task)
        sources = [subject_volumes(data.images[m], data.subject_ids) for m in task.sources]
        volumes = {subject: self.predict_volume(torch.from_numpy(np.stack([s[subject] for s in sources]))).cpu().numpy()
                   for subject in sources[0]}
        return slices_from_volumes(volumes, data.subject_ids)

    def validation_scores(self, val_slices: SliceSet, device) -> dict[str, float]:
        """Mean over subjects of PSNR, SSIM and MAE inside the head, as the engine scores
        every image-to-image model, from whole-volume predictions."""
        task = self.config["task"]
        if task is None:
            raise ValueError("PatchUNet3D scores its own validation volumes and must know its task: build it with "
                             "build_model / for_task, or pass task='t1:t2' to the constructor.")
        scores = evaluate(self.to(device).predict_slices(val_slices, task), val_slices, task).mean()
        return {name: float(scores[name]) for name in ("psnr", "ssim", "mae")}
