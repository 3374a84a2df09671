"""Chapter 00's first model: a U-Net that regresses the target image, trained with L1.

The U-Net (Ronneberger et al., MICCAI 2015) sees a neighbourhood of every pixel through
its encoder-decoder with skip connections. That spatial context is what an intensity
lookup lacks: on MRI, bone and air are both dark, and only their surroundings tell them
apart. The network is MONAI's ``UNet`` (residual units, instance norm); L1 rather than L2
because it blurs less and is robust to noise in the target (Zhao et al., IEEE TCI 2017).
The same generator, with a discriminator added, is pix2pix's in chapter 01.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from medsynth_nb.models.base import Synthesiser
from medsynth_nb.models.blocks import course_unet


class UNetSynthesiser(Synthesiser):
    """Base of the models around one MONAI U-Net ``net`` (residual units, stride-2 levels)
    with ``out_channels`` outputs; config: in_channels, channels, lr, dropout."""

    out_channels = 1
    norm = "instance"  # course_unet's normalisation

    def __init__(self, in_channels: int, channels, lr: float, dropout: float):
        super().__init__()
        self.config = {"in_channels": in_channels, "channels": list(channels), "lr": lr, "dropout": dropout}
        self.net = course_unet(in_channels, self.out_channels, channels, dropout, self.norm)

    @classmethod
    def for_task(cls, task, profile, **overrides):
        return cls(in_channels=len(task.sources), channels=tuple(profile.channels), **overrides)


class L1Training:
    """How the course's regressors train, in 2-D and in 3-D alike: Adam on every parameter
    (``config["lr"]``) and the L1 distance of the output to the target."""

    def make_optimizers(self):
        return {"net": torch.optim.Adam(self.parameters(), lr=self.config["lr"], betas=(0.9, 0.999))}

    def train_step(self, batch, update):
        loss = F.l1_loss(self(batch["source"]), batch["target"])
        update(loss, "net")
        return {"l1": loss}


class UNetRegressor(L1Training, UNetSynthesiser):
    def __init__(self, in_channels: int = 1, channels=(16, 32, 64, 128), lr: float = 1e-3, dropout: float = 0.0):
        super().__init__(in_channels, channels, lr, dropout)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.net(source)
