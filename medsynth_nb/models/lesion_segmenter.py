"""A tumour segmenter for chapter 06: the ruler the lesion renderer is measured with.

The network is a U-Net (Ronneberger et al., MICCAI 2015; MONAI's ``UNet`` with residual
units, as everywhere in the course) that reads the four contrasts of a slice (T1w,
T1w + Gd, T2w, FLAIR, in ``lesion_pairs.CONTRASTS`` order) and gives, per pixel, scores
for the four BraTS codes (0 background, 1 necrosis, 2 oedema, 3 enhancing); the label
map is their arg-max.

**Loss: Dice + cross-entropy** (MONAI's ``DiceCELoss``), the combination of nnU-Net
(Isensee et al., Nature Methods 2021). Cross-entropy alone is dominated by the
background, which covers most of a slice; the soft Dice term scores each class by its
overlap, whatever its size, so a small enhancing rim counts as much as the oedema.
The Dice term is computed over the whole batch (``batch=True``) rather than per slice:
many slices hold no necrosis at all, and a per-slice Dice of an absent class is 0/0
made arbitrary by the smoothing constant.

**Scores: BraTS regions.** BraTS does not score the codes one by one but three nested
regions, the ones a clinician reads (``tumor_regions``): whole tumour (WT, labels > 0:
what FLAIR shows), tumour core (TC, necrosis + enhancing: what would be resected) and
enhancing tumour (ET, label 3). ``region_dice`` gives the Dice of each, per subject (a
subject's slices stacked, as BraTS scores per case). The Dice of two empty masks is
defined as 1 (nothing to find, nothing found; the BraTS convention), that of an empty
and a non-empty mask as 0.
"""
from __future__ import annotations

import numpy as np
import torch
from monai.losses import DiceCELoss

from medsynth_nb.data.lesion_pairs import CONTRASTS, LesionSlices
from medsynth_nb.models.base import refuse_task
from medsynth_nb.models.blocks import course_unet

N_CLASSES = 4  # background + the three BraTS codes
REGIONS = {"wt": (1, 2, 3), "tc": (1, 3), "et": (3,)}  # whole tumour, tumour core, enhancing tumour


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """2 |P & T| / (|P| + |T|) of two boolean masks; 1 when both are empty."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"Masks of shapes {pred.shape} and {truth.shape} cannot be compared; pass the same grid.")
    total = int(pred.sum()) + int(truth.sum())
    return 1.0 if total == 0 else 2.0 * int((pred & truth).sum()) / total


def tumor_regions(labels: np.ndarray) -> dict[str, np.ndarray]:
    """The nested BraTS regions of a label map (any shape, BraTS codes 0-3) as boolean masks
    of its shape: ``wt`` whole tumour (any tumour code), ``tc`` tumour core (necrosis +
    enhancing), ``et`` enhancing tumour."""
    labels = np.asarray(labels)
    return {name: np.isin(labels, codes) for name, codes in REGIONS.items()}


def region_dice(pred_labels: np.ndarray, true_labels: np.ndarray) -> dict[str, float]:
    """``dice_wt``, ``dice_tc``, ``dice_et`` of two label maps (any shape, BraTS codes 0-3)."""
    pred, true = tumor_regions(pred_labels), tumor_regions(true_labels)
    return {f"dice_{name}": dice(pred[name], true[name]) for name in REGIONS}


def segment_images(predict, images: np.ndarray, device="cpu", batch_size: int = 32) -> np.ndarray:
    """``predict`` (B x 4 x H x W tensor -> B x 1 x H x W labels) over N x 4 x H x W
    images, in batches: N x H x W uint8."""
    parts = [np.asarray(predict(torch.from_numpy(images[i: i + batch_size]).to(device)).cpu())[:, 0]
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts).astype(np.uint8)


class LesionSegmenter(torch.nn.Module):
    def __init__(self, in_channels: int = len(CONTRASTS), n_classes: int = N_CLASSES,
                 channels=(16, 32, 64, 128), lr: float = 1e-3):
        super().__init__()
        self.config = {"in_channels": in_channels, "n_classes": n_classes, "channels": list(channels), "lr": lr}
        self.net = course_unet(in_channels, n_classes, channels)
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)

    @classmethod
    def for_task(cls, task, profile, **overrides):
        refuse_task(task, "The lesion segmenter", "reads all four contrasts")
        overrides.setdefault("channels", tuple(profile.channels))
        return cls(**overrides)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class scores (logits), B x n_classes x H x W."""
        return self.net(images)

    def make_optimizers(self):
        return {"net": torch.optim.Adam(self.parameters(), lr=self.config["lr"])}

    def train_step(self, batch, update):
        loss = self.loss(self(batch["images"]), batch["labels"])
        update(loss, "net")
        return {"dice_ce": loss}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The label map, B x 1 x H x W long (BraTS codes), of B x 4 x H x W images."""
        if images.ndim != 4 or images.shape[1] != self.config["in_channels"]:
            named = f" ({', '.join(CONTRASTS)})" if self.config["in_channels"] == len(CONTRASTS) else ""
            raise ValueError(f"predict takes B x {self.config['in_channels']} x H x W images{named}; "
                             f"got shape {tuple(images.shape)}.")
        self.eval()
        return self(images).argmax(1, keepdim=True)

    def validation_scores(self, val: LesionSlices, device) -> dict[str, float]:
        """Mean over subjects of the BraTS region Dice (see the module docstring), and
        ``dice``, the mean of the three."""
        if len(val) == 0:
            raise ValueError("No slices to score; pass a LesionSlices with at least one slice.")
        self.to(device)
        pred = segment_images(self.predict, val.images, device)
        per_subject = [region_dice(pred[val.subject_ids == s], val.labels[val.subject_ids == s])
                       for s in val.subjects]
        scores = {k: float(np.mean([d[k] for d in per_subject])) for k in per_subject[0]}
        scores["dice"] = float(np.mean(list(scores.values())))
        return scores
