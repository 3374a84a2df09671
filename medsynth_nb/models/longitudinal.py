"""Chapter 08's follow-up generator: the next scan of a growing tumour from earlier ones.

``FollowUpUNet`` reads the prior scans of a slice and, per prior, a constant map of the time
from it to the wanted scan (in years), and predicts the scan at that time: the last prior
plus a learned change (residual learning, as ``ReconstructionUNet``). Between two visits
most of the head does not change, so "no change" is the starting point and the network
learns only where and how much the tumour moves on. The time maps let one network forecast
any gap; with two priors it can also read how fast this tumour grew between them, which
one prior cannot tell (``data.longitudinal``: every tumour has its own growth rate).

The loss is L1 against the acquired follow-up, the only truth a clinic has.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from medsynth_nb.metrics.image import mae, psnr, ssim
from medsynth_nb.models.base import refuse_task
from medsynth_nb.models.unet import UNetRegressor


@torch.no_grad()
def forecast_set(forecast, slices, *, device="cpu", batch_size: int = 32) -> np.ndarray:
    """``forecast`` (a ``FollowUpSlices.batch`` dict -> B x 1 x H x W) over every entry of
    ``slices``: E x H x W, in entry order."""
    out = []
    for start in range(0, slices.n_entries, batch_size):
        batch = slices.batch(None, np.arange(start, min(start + batch_size, slices.n_entries)))
        out.append(forecast({k: v.to(device) for k, v in batch.items()}).float().cpu().numpy()[:, 0])
    return np.concatenate(out)


def forecast_scores(forecast, val, device) -> dict[str, float]:
    """PSNR, SSIM and MAE of ``forecast`` inside the head against the acquired follow-up (as
    ``analysis.longitudinal.forecast_table`` scores): per subject, then the mean over subjects.
    The validation of every forecaster."""
    images = torch.from_numpy(forecast_set(forecast, val, device=device))[:, None]
    every = val.batch(None, np.arange(val.n_entries))
    head = every["tissue"] > 0
    scores = {"psnr": psnr(images, every["target"], head).numpy(),
              "ssim": ssim(images, every["target"], head).numpy(),
              "mae": mae(images, every["target"], head).numpy()}
    subjects = val.entries()["subject"]
    return {name: float(np.mean([values[subjects == s].mean() for s in val.subjects]))
            for name, values in scores.items()}


class FollowUpUNet(UNetRegressor):
    """U-Net forecast of a follow-up scan from ``n_priors`` earlier scans and their time maps."""

    norm = "batch"  # instance norm would erase the constant time maps (``blocks.course_unet``)

    def __init__(self, n_priors: int = 2, channels=(16, 32, 64, 128), lr: float = 1e-3, dropout: float = 0.0):
        if n_priors < 1:
            raise ValueError(f"n_priors must be >= 1 (the scans the forecast starts from); got {n_priors}.")
        super().__init__(2 * n_priors, channels, lr, dropout)
        # n_priors fixes the input channels (priors + time maps); the config names n_priors alone.
        self.config = {"n_priors": n_priors, "channels": list(channels), "lr": lr, "dropout": dropout}
        # The change starts at exactly zero (a learned gain, "ReZero", Bachlechner et al. 2021): a
        # fresh U-Net's output is far from zero, and the course's budget went into unlearning it.
        # Measured (cpu profile, 64 px, 1000 steps): without the gain the forecast never beat "no change".
        self.change_gain = torch.nn.Parameter(torch.zeros(()))

    @classmethod
    def for_task(cls, task, profile, **overrides):
        refuse_task(task, "FollowUpUNet", "forecasts a scan from earlier scans")
        overrides.setdefault("channels", tuple(profile.channels))
        return cls(**overrides)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        """The last prior plus the predicted change (source: priors, then their time maps)."""
        n = self.config["n_priors"]
        if source.ndim != 4 or source.shape[1] != 2 * n:
            raise ValueError(f"FollowUpUNet(n_priors={n}) takes B x {2 * n} x H x W (the priors, then one time map "
                             f"each); got shape {tuple(source.shape)}. Use data.for_priors({n}).")
        return source[:, n - 1:n] + self.change_gain * self.net(source)

    def forecast(self, batch) -> torch.Tensor:
        """The forecast follow-up of a ``FollowUpSlices`` batch, B x 1 x H x W in [0, 1]."""
        return self.predict(batch["source"])

    def train_step(self, batch, update):
        loss = F.l1_loss(self(batch["source"]), batch["target"])
        update(loss, "net")
        return {"l1": loss}

    def validation_scores(self, val, device) -> dict[str, float]:
        return forecast_scores(self.forecast, val, device)
