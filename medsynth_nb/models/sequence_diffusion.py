"""Chapter 08's sequence-aware forecaster: a conditional diffusion model that attends over
the prior scans (the idea of SADM, Yoon et al., IPMI 2023, in a form a CPU trains in minutes).

``FollowUpUNet`` stacks its priors as input channels: it is built for a fixed number of
them, in a fixed order. SADM reads the priors as a *sequence*: each prior scan, with the
time from it to the wanted scan, becomes a feature map through one shared encoder, and
attention over the sequence mixes them, at every pixel, into one conditioning map
(``PriorAttention``; its query is the last prior's features, so the model learns how much
of each earlier scan to look at). The mix conditions chapter 03's diffusion model together
with the last prior itself, and the model samples the follow-up: each sample a plausible
future, their spread what the priors leave open.

The encoder has no normalisation on purpose: the time to the target enters as a constant
map, and a norm layer would subtract it away (the diffusion U-Net normalises every channel
on its own, which is why the time goes through the encoder first).
"""
from __future__ import annotations

import math

import torch
from monai.networks.nets import DiffusionModelUNet
from torch import nn

from medsynth_nb.models.base import refuse_task
from medsynth_nb.models.diffusion import DiffusionSynthesiser
from medsynth_nb.models.longitudinal import forecast_scores


class PriorAttention(nn.Module):
    """Priors and their time maps (B x 2n x H x W: the n priors, then one time map each) ->
    one conditioning map (B x features x H x W) and the attention weights (B x n x H x W)."""

    def __init__(self, features: int = 16):
        super().__init__()
        self.encode = nn.Sequential(nn.Conv2d(2, features, 3, padding=1), nn.SiLU(),
                                    nn.Conv2d(features, features, 3, padding=1), nn.SiLU())
        self.query, self.key, self.value = (nn.Conv2d(features, features, 1) for _ in range(3))

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, channels, h, w = source.shape
        n = channels // 2
        pairs = torch.stack([source[:, :n], source[:, n:]], 2).flatten(0, 1)  # (B n) x 2 x H x W
        features = self.encode(pairs)
        keys = self.key(features).unflatten(0, (b, n))                        # B x n x f x H x W
        values = self.value(features).unflatten(0, (b, n))
        query = self.query(features.unflatten(0, (b, n))[:, -1])              # the last prior asks
        scores = (query[:, None] * keys).sum(2) / math.sqrt(keys.shape[2])    # B x n x H x W
        weights = scores.softmax(1)
        return (weights[:, :, None] * values).sum(1), weights


class SequenceConditionedUNet(nn.Module):
    """The diffusion network: ``PriorAttention`` over the priors, then MONAI's
    ``DiffusionModelUNet`` on [noisy image, last prior, attended features]."""

    def __init__(self, features: int, **unet):
        super().__init__()
        self.attention = PriorAttention(features)
        self.unet = DiffusionModelUNet(spatial_dims=2, in_channels=2 + features, out_channels=1, **unet)

    def forward(self, inputs: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        noisy, source = inputs[:, :1], inputs[:, 1:]
        n = source.shape[1] // 2
        mixed, _ = self.attention(source)
        return self.unet(torch.cat([noisy, source[:, n - 1:n], mixed], 1), timesteps)


class SequenceDiffusion(DiffusionSynthesiser):
    """A follow-up scan sampled from ``n_priors`` earlier scans and their times to it."""

    def __init__(self, n_priors: int = 2, features: int = 16, **diffusion):
        if n_priors < 1:
            raise ValueError(f"n_priors must be >= 1 (the scans the forecast starts from); got {n_priors}.")
        self.features = features
        diffusion["in_channels"] = 2 * n_priors  # the priors, then one time map each
        super().__init__(**diffusion)
        self.config.update(n_priors=n_priors, features=features)

    def make_net(self, **unet) -> nn.Module:
        unet.pop("in_channels")
        return SequenceConditionedUNet(self.features, **unet)

    @classmethod
    def for_task(cls, task, profile, **overrides):
        refuse_task(task, "SequenceDiffusion", "forecasts a scan from earlier scans")
        overrides.setdefault("channels", profile.channels[:3])
        overrides.setdefault("sample_steps", 10 if profile.name == "smoke" else 25)
        return cls(**overrides)

    def forecast(self, batch) -> torch.Tensor:
        """One sampled follow-up (seed 0) of a ``FollowUpSlices`` batch, B x 1 x H x W in [0, 1]."""
        return self.sample(batch["source"])

    def validation_scores(self, val, device) -> dict[str, float]:
        return forecast_scores(self.forecast, val, device)
