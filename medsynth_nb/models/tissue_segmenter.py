"""Chapter 09's tissue segmenter: a downstream task and a feature extractor for realism.

FID (Heusel et al., NeurIPS 2017) compares the statistics of a network's features on real
and on synthetic images; the usual network, Inception-v3, has weights to download and was
trained on photographs. The course trains its own: chapter 06's U-Net segmenter, here
finding the seven tissue codes (``phantom.TISSUE_LABELS``) in any single contrast
(``data.tissue_slices``). Its encoder has learned what CSF, grey and white matter, bone and
fat look like, edges and noise included, in every contrast the course synthesises.

- **Features**: per encoder level, the spatial mean and standard deviation of every
  channel, concatenated (``features``): the means say which structures a slice holds, the
  standard deviations how strongly they vary; pooling removes where they are, as the
  pooled Inception features of FID do.
- **Downstream task**: the same network segments a synthetic image and a real one of the
  same slice; the drop in Dice is what synthesis costs an analysis that uses it
  (``validation_scores``, ``tissue_dice``).
"""
from __future__ import annotations

import numpy as np
import torch

from medsynth_nb.data.phantom import TISSUE_LABELS
from medsynth_nb.data.tissue_slices import TissueSlices
from medsynth_nb.models.base import refuse_task
from medsynth_nb.models.lesion_segmenter import LesionSegmenter, dice, segment_images


def tissue_dice(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice of every tissue code present in ``truth`` (air excluded), by name."""
    return {f"dice_{name}": dice(pred == code, truth == code) for code, name in TISSUE_LABELS.items()
            if code > 0 and (truth == code).any()}


class TissueSegmenter(LesionSegmenter):
    """A U-Net from one slice of any contrast to the seven tissue codes (Dice + CE loss)."""

    def __init__(self, in_channels: int = 1, n_classes: int = len(TISSUE_LABELS), channels=(16, 32, 64, 128),
                 lr: float = 1e-3):
        super().__init__(in_channels, n_classes, channels, lr)

    @classmethod
    def for_task(cls, task, profile, **overrides):
        refuse_task(task, "The tissue segmenter", "reads one slice of any contrast")
        overrides.setdefault("channels", tuple(profile.channels))
        return cls(**overrides)

    def encoder_levels(self) -> list[torch.nn.Module]:
        """The blocks of MONAI's U-Net down path, top to bottom (its model nests each level's
        block and a skip connection around the next level)."""
        levels, level = [], self.net.model
        while isinstance(level, torch.nn.Sequential):
            levels.append(level[0])
            level = level[1].submodule
        return levels + [level]

    @torch.no_grad()
    def features(self, images, batch_size: int = 64) -> np.ndarray:
        """N x H x W (or N x 1 x H x W) images in [0, 1] -> N x F features (float64)."""
        images = torch.as_tensor(np.asarray(images, np.float32))
        if images.ndim == 3:
            images = images[:, None]
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"features takes N x H x W images of one contrast; got shape {tuple(images.shape)}.")
        self.eval()
        device = next(self.parameters()).device
        parts = []
        for start in range(0, len(images), batch_size):
            outputs = []
            hooks = [level.register_forward_hook(lambda _m, _i, out: outputs.append(out))
                     for level in self.encoder_levels()]
            try:
                self(images[start:start + batch_size].to(device))
            finally:
                for hook in hooks:
                    hook.remove()
            parts.append(torch.cat([torch.cat([o.mean((2, 3)), o.std((2, 3))], 1) for o in outputs], 1).cpu())
        return torch.cat(parts).double().numpy()

    @torch.no_grad()
    def segment(self, images) -> np.ndarray:
        """Tissue codes (N x H x W uint8) of N x H x W images of any contrast."""
        images = np.asarray(images, np.float32)[:, None]
        return segment_images(self.predict, images, next(self.parameters()).device)

    def validation_scores(self, val: TissueSlices, device) -> dict[str, float]:
        """Mean tissue Dice over subjects and contrasts (``dice``)."""
        if len(val) == 0:
            raise ValueError("No slices to score; pass TissueSlices with at least one slice.")
        self.to(device)
        scores = []
        for modality, images in val.images.items():
            pred = self.segment(images)
            for subject in val.subjects:
                rows = val.subject_ids == subject
                scores.append(np.mean(list(tissue_dice(pred[rows], val.tissue[rows]).values())))
        return {"dice": float(np.mean(scores))}
