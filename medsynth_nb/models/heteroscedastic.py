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

Trained naively, this model fails in a known way (Seitzer et al., ICLR 2022, "On the
pitfalls of heteroscedastic uncertainty estimation"): the mean's gradient is sign(y - mu)/b,
so a pixel whose scale grows early learns its mean ever more slowly, its error stays, and
its scale grows further. Three measured choices keep it sane (benchmarks/heteroscedastic_scale.py):

- each pixel's NLL is weighted by its own scale b, held constant (their beta-NLL with
  beta = 1): the mean then learns exactly as chapter 00's L1 U-Net wherever b is, while the
  scale still fits b = E|y - mu|;
- the scale starts at the size of a trained model's typical error (b = e^-3 = 0.05 on [0, 1]
  images), not at 1, which is twenty times the whole error range;
- log b has a smooth floor instead of a clamp: a clamp has no gradient, and a pixel pushed
  past it stays there (the stripes at std = sqrt(2) e = 3.86 an earlier version showed).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from medsynth_nb.models.unet import UNetSynthesiser

# log b stays above this (smoothly): 1/b must not explode into NaNs.
LOG_SCALE_FLOOR = -7.0
# log b of an untrained network: b = 0.05, a trained model's typical error on [0, 1] images.
INITIAL_LOG_SCALE = -3.0


class HeteroscedasticUNet(UNetSynthesiser):
    out_channels = 2  # the image mean and the log of the Laplace scale

    def __init__(self, in_channels: int = 1, channels=(16, 32, 64, 128), lr: float = 1e-3, dropout: float = 0.1):
        super().__init__(in_channels, channels, lr, dropout)

    def mean_and_log_scale(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(source)
        log_scale = LOG_SCALE_FLOOR + F.softplus(out[:, 1:] + INITIAL_LOG_SCALE - LOG_SCALE_FLOOR)
        return out[:, :1], log_scale

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
        nll = residual * torch.exp(-log_scale) + log_scale + math.log(2)
        update((log_scale.detach().exp() * nll).mean(), "net")  # beta-NLL, beta = 1 (see the module docstring)
        return {"laplace_nll": nll.mean().detach(), "l1": residual.mean().detach()}
