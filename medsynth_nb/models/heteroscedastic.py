"""A U-Net that predicts its own error bar: a per-pixel Laplace scale beside the image.

Chapter 00's U-Net is trained with L1, which is the negative log-likelihood of a Laplace
distribution with a fixed scale. Let the network predict the scale b(x) per pixel too and
minimise the full Laplace NLL (Kendall & Gal, NeurIPS 2017, "What uncertainties do we need
in Bayesian deep learning for computer vision?"):

    NLL = |y - mu(x)| / b(x) + log b(x)   (+ log 2)

Where the target is unpredictable from the input (noise, a lesion boundary the source
does not show), a large b costs little and a small one costs much, so b learns the
*aleatoric* uncertainty: what no amount of training data would remove. With dropout in
the network, MC dropout on top gives the *epistemic* part (what more data would fix),
and the two add up to the total predictive variance.
"""
from __future__ import annotations

import math

import torch

from medsynth_nb.models.unet import UNetSynthesiser

# log b is clamped: an exploding 1/b early in training would otherwise produce NaNs.
LOG_SCALE_RANGE = (-7.0, 1.0)


class HeteroscedasticUNet(UNetSynthesiser):
    out_channels = 2  # the image mean and the log of the Laplace scale

    def __init__(self, in_channels: int = 1, channels=(16, 32, 64, 128), lr: float = 1e-3, dropout: float = 0.1):
        super().__init__(in_channels, channels, lr, dropout)

    def mean_and_log_scale(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(source)
        return out[:, :1], out[:, 1:].clamp(*LOG_SCALE_RANGE)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.mean_and_log_scale(source)[0]

    @torch.no_grad()
    def predict_with_scale(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The synthetic image (clipped to [0, 1]) and the predicted Laplace scale b per pixel
        (the standard deviation is sqrt(2) b)."""
        self.eval()
        mean, log_scale = self.mean_and_log_scale(source)
        return mean.clamp(0, 1), log_scale.exp()

    def make_optimizers(self):
        return {"net": torch.optim.Adam(self.parameters(), lr=self.config["lr"])}

    def train_step(self, batch, update):
        mean, log_scale = self.mean_and_log_scale(batch["source"])
        residual = (batch["target"] - mean).abs()
        nll = (residual * torch.exp(-log_scale) + log_scale).mean() + math.log(2)
        update(nll, "net")
        return {"laplace_nll": nll, "l1": residual.mean().detach()}
