"""Label-conditioned lesion renderer: a tumour label map in, four contrasts out (chapter 06).

The task is *inpainting under a label condition*. The renderer is given
- the four contrasts of an anatomy (T1w, T1w + Gd, T2w, FLAIR) with an *edit region* blanked
  out (the dilated new and old lesion labels, ``data.lesion_pairs.edit_region``),
- the edit region itself, and
- the tumour labels (one-hot necrosis, oedema, enhancing),
and repaints the four contrasts inside the edit region in one pass. Outside it the input
passes through unchanged, so a user's anatomy is never altered away from their edit, and
the same model works where no healthy image exists (MSD BrainTumour: blank the real tumour,
paint a new one). Training is pix2pix's (``Pix2Pix``: L1 + PatchGAN, LSGAN), with the L1
averaged over the edit region only, since everything else is copied.

Two ways to give the generator the labels, compared in the chapter by measurement:
- ``"concat"``: labels as extra input channels of a U-Net (pix2pix's way; the labels enter
  once, at the input, and must survive the encoder).
- ``"spade"``: the U-Net sees only the blanked images and the region; the labels modulate
  every decoder level through spatially-adaptive normalisation (SPADE, Park et al., CVPR
  2019: ``gamma(labels) * norm(x) + beta(labels)``), MONAI's ``SPADE`` block. The paper's
  argument: normalisation layers wash out a label map that enters only at the input.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.blocks import SPADE

from medsynth_nb.data.lesion_pairs import CONTRASTS, edit_region, margin_px
from medsynth_nb.metrics import mae, psnr, ssim
from medsynth_nb.models.base import refuse_task
from medsynth_nb.models.pix2pix import Pix2Pix

CONDITIONINGS = ("concat", "spade")
N_LABELS = 3                                   # necrosis, oedema, enhancing (background implicit)
N_IMAGE = len(CONTRASTS)
IN_CHANNELS = N_IMAGE + 1 + N_LABELS           # blanked contrasts, edit region, one-hot labels


def renderer_input(images: torch.Tensor, edit_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """B x 8 x H x W: the contrasts blanked inside ``edit_mask``, the mask, one-hot labels."""
    one_hot = F.one_hot(labels[:, 0].long().clamp(0, N_LABELS), N_LABELS + 1).permute(0, 3, 1, 2)[:, 1:]
    return torch.cat([images * (1 - edit_mask), edit_mask, one_hot.to(images.dtype)], 1)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2))


class SPADEBlock(nn.Module):
    """Two 3 x 3 convolutions, each followed by SPADE(labels) and LeakyReLU, with a 1 x 1 shortcut
    (the residual block of Park et al. 2019)."""

    def __init__(self, cin: int, cout: int, label_channels: int, hidden: int = 16):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.norm1 = SPADE(label_channels, cout, spatial_dims=2, hidden_channels=hidden)
        self.norm2 = SPADE(label_channels, cout, spatial_dims=2, hidden_channels=hidden)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.norm1(self.conv1(x), labels), 0.2)
        return F.leaky_relu(self.norm2(self.conv2(h), labels) + self.shortcut(x), 0.2)


class SPADEUNet(nn.Module):
    """A U-Net whose encoder sees the blanked images and whose decoder levels are each
    normalised by SPADE from the label map (region + one-hot labels). Laid out like MONAI's
    ``UNet`` (every encoder level but the last halves the resolution; full resolution only
    in the last block, where the input is joined back in) and sized to about its parameter
    count (SPADE's hidden width 16, not the paper's 128)."""

    def __init__(self, image_channels: int, label_channels: int, out_channels: int, channels=(16, 32, 64, 128)):
        super().__init__()
        channels = list(channels)
        strides = [2] * (len(channels) - 1) + [1]
        self.down = nn.ModuleList([nn.Sequential(_conv(a, b, stride), _conv(b, b))
                                   for a, b, stride in zip([image_channels] + channels[:-1], channels, strides)])
        self.up = nn.ModuleList([SPADEBlock(b + a, a, label_channels) for a, b in zip(channels[:-1], channels[1:])])
        self.last = SPADEBlock(channels[0] + image_channels, channels[0], label_channels)
        self.head = nn.Conv2d(channels[0], out_channels, 1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        skips = []
        x = images
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for skip, block in zip(reversed(skips), reversed(self.up)):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="nearest"), skip], 1), labels)
        x = F.interpolate(x, size=images.shape[-2:], mode="nearest")
        return self.head(self.last(torch.cat([x, images], 1), labels))


class LesionRenderer(Pix2Pix):
    """See the module docstring. ``render(images, labels, previous=None)`` is the user-facing
    call; ``train_step`` takes ``LesionSlices.sample_batch`` batches."""

    def __init__(self, conditioning: str = "concat", channels=(16, 32, 64, 128), disc_channels: int = 32,
                 lambda_l1: float = 100.0, lambda_adv: float = 1.0, lr: float = 1e-3):
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning={conditioning!r}; choose one of {', '.join(CONDITIONINGS)}.")
        self._conditioning = conditioning  # read by build_generator, which Pix2Pix calls
        super().__init__(IN_CHANNELS, channels, disc_channels, lambda_l1, lambda_adv, lr, out_channels=N_IMAGE)
        self.config = {"conditioning": conditioning, "channels": list(channels), "disc_channels": disc_channels,
                       "lambda_l1": lambda_l1, "lambda_adv": lambda_adv, "lr": lr}

    def build_generator(self) -> nn.Module:
        if self._conditioning == "spade":
            return SPADEUNet(N_IMAGE + 1, 1 + N_LABELS, N_IMAGE, self.config["channels"])
        return super().build_generator()

    @classmethod
    def for_task(cls, task, profile, **overrides):
        refuse_task(task, "The lesion renderer", "renders a lesion from its label map")
        overrides.setdefault("disc_channels", 2 * profile.channels[0])
        return cls(channels=tuple(profile.channels), **overrides)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        images, region = source[:, :N_IMAGE], source[:, N_IMAGE:N_IMAGE + 1]
        if self.config["conditioning"] == "spade":
            painted = self.generator(source[:, :N_IMAGE + 1], source[:, N_IMAGE:])
        else:
            painted = self.generator(source)
        return images * (1 - region) + painted * region  # outside the edit region: the input, unchanged

    def reconstruction_loss(self, source, target, fake) -> torch.Tensor:
        region = source[:, N_IMAGE:N_IMAGE + 1].expand_as(fake)
        return ((fake - target).abs() * region).sum() / region.sum().clamp_min(1)

    def train_step(self, batch, update):
        source = renderer_input(batch["images"], batch["edit_mask"], batch["labels"])
        return self.adversarial_update(source, batch["images"], self(source), update)

    @torch.no_grad()
    def render(self, images: torch.Tensor, labels: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        """Paint ``labels`` (B x 1 x H x W, codes 0-3) into ``images`` (B x 4 x H x W). Pass the
        map the images already show as ``previous`` when editing a lesion that is there
        (its region is repainted too, as healthy tissue where the new map says 0)."""
        device = next(self.parameters()).device
        images, labels = images.to(device), labels.to(device)
        region = edit_region(labels, None if previous is None else previous.to(device),
                             margin=margin_px(images.shape[-1]))
        return self.predict(renderer_input(images, region, labels))

    def render_on(self, canvas, labels: np.ndarray) -> np.ndarray:
        """``render`` on an ``EditCanvas`` (healthy slice) with an H x W label map: 4 x H x W."""
        images = torch.from_numpy(canvas.healthy[None])
        return self.render(images, torch.from_numpy(np.asarray(labels, np.int64)[None, None]))[0].cpu().numpy()

    def validation_scores(self, val, device) -> dict[str, float]:
        """Re-render the validation slices' own tumours from blanked images: PSNR, SSIM and
        MAE inside the edit region (outside it the output is the input)."""
        index = val.with_lesion
        if len(index) == 0:
            raise ValueError("No validation slice has a tumour; the renderer cannot be scored.")
        batch = val.tensors(index)
        pred = self.render(batch["images"], batch["labels"]).cpu()
        region = edit_region(batch["labels"], margin=margin_px(val.image_size))
        return {"psnr": float(psnr(pred, batch["images"], region).mean()),
                "ssim": float(ssim(pred, batch["images"], region).mean()),
                "mae": float(mae(pred, batch["images"], region).mean())}
