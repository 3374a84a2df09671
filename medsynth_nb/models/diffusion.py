"""A denoising diffusion model (DDPM, Ho et al., NeurIPS 2020), conditional or not.

Training teaches a network to remove noise. The *forward process* adds Gaussian noise to
an image x0 in T steps; at step t, in closed form,

    x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * eps,     eps ~ N(0, I)

where abar_t is the cumulative product of (1 - beta) of the noise schedule. The network
eps_theta(x_t, t) predicts eps, with a mean-squared error: that is the whole objective.
(Equivalently the network can predict x0 or the "velocity"; see PREDICTIONS below.)
Sampling runs the process backwards from pure noise: DDPM takes all T steps; DDIM (Song
et al., ICLR 2021) jumps along a deterministic path with 10-100 of them.

*Conditional* synthesis (T1w -> T2w, MRI -> CT) concatenates the source image to x_t as
extra input channels (as in Palette, Saharia et al., SIGGRAPH 2022), so every sample is a
T2w image *of this patient*; different noise gives different samples, and their spread
is a per-pixel uncertainty map. With no sources the model is unconditional.

The network, the noise schedules and the DDPM/DDIM update rules are MONAI's
(``DiffusionModelUNet``, ``DDPMScheduler``, ``DDIMScheduler``); what is written here is the
objective and the sampling loop. Sampling uses an exponential moving average of the
weights (EMA), which gives cleaner samples than the last training step's weights.
Images live in [-1, 1] inside the model and in the course's [0, 1] scale outside it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.nets import DiffusionModelUNet
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler
from torch import nn
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

SAMPLERS = ("ddpm", "ddim")
# What the network outputs: the noise (DDPM's choice), the velocity sqrt(abar) eps - sqrt(1 - abar) x0
# (Salimans & Ho, ICLR 2022) or the clean image x0 itself. The course defaults to x0: with minutes of
# CPU training it learns far faster. Measured (cpu profile, 64 px, 120 s, ~295 steps, T1w->T2w, 16
# held-out slices, DDIM-50): x0 19.2 dB / SSIM 0.86, v 15.7 / 0.61, noise 12.0 / 0.37 (after 180 s).
PREDICTIONS = ("epsilon", "v_prediction", "sample")


def _ema_with_warmup(decay: float):
    """EMA update whose decay grows from 0.1 towards ``decay`` over the first updates, so a
    short run's average is not dominated by the random initial weights."""
    def average(ema_param, param, updates):
        d = min(decay, (1.0 + float(updates)) / (10.0 + float(updates)))
        return d * ema_param + (1.0 - d) * param
    return average


class DiffusionSynthesiser(nn.Module):
    unpaired = False

    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (32, 64, 64),
                 attention_levels: tuple[bool, ...] | None = None, num_res_blocks: int = 1,
                 num_train_timesteps: int = 1000, schedule: str = "linear_beta", ema_decay: float = 0.999,
                 sample_steps: int = 50, lr: float = 1e-3, prediction: str = "sample"):
        super().__init__()
        channels = tuple(channels)
        attention_levels = tuple(attention_levels) if attention_levels is not None else \
            (False,) * (len(channels) - 1) + (True,)  # self-attention only at the coarsest level: it is quadratic
        self.config = {"in_channels": in_channels, "channels": list(channels),
                       "attention_levels": list(attention_levels), "num_res_blocks": num_res_blocks,
                       "num_train_timesteps": num_train_timesteps, "schedule": schedule,
                       "ema_decay": ema_decay, "sample_steps": sample_steps, "lr": lr, "prediction": prediction}
        if prediction not in PREDICTIONS:
            raise ValueError(f"Unknown prediction {prediction!r}; choose one of {', '.join(PREDICTIONS)}.")
        self.net = self.make_net(in_channels=1 + in_channels, channels=channels, attention_levels=attention_levels,
                                 num_res_blocks=num_res_blocks, norm_num_groups=channels[0],
                                 num_head_channels=max(8, channels[-1] // 4))
        self.ema = AveragedModel(self.net, avg_fn=_ema_with_warmup(ema_decay))
        self.scheduler = self.make_scheduler("ddpm")

    def make_net(self, **unet) -> nn.Module:
        """The denoising network on [x_t, sources] (chapter 08's sequence model wraps it)."""
        return DiffusionModelUNet(spatial_dims=2, out_channels=1, **unet)

    @classmethod
    def for_task(cls, task, profile, **overrides):
        overrides.setdefault("channels", profile.channels[:3])
        overrides.setdefault("sample_steps", 20 if profile.name == "smoke" else 50)
        # in_channels=0 (or no task): unconditional, the target alone
        overrides.setdefault("in_channels", len(task.sources) if task is not None else 0)
        return cls(**overrides)

    @property
    def conditional(self) -> bool:
        return self.config["in_channels"] > 0

    def make_scheduler(self, sampler: str, steps: int | None = None):
        """A fresh MONAI scheduler with this model's noise schedule (``set_timesteps``
        changes a scheduler's state, so every sampling run gets its own)."""
        if sampler not in SAMPLERS:
            raise ValueError(f"Unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}.")
        kind = DDPMScheduler if sampler == "ddpm" else DDIMScheduler
        scheduler = kind(num_train_timesteps=self.config["num_train_timesteps"], schedule=self.config["schedule"],
                         prediction_type=self.config["prediction"])
        scheduler.set_timesteps(steps or self.config["num_train_timesteps"])
        return scheduler

    def network_input(self, noisy: torch.Tensor, source: torch.Tensor | None) -> torch.Tensor:
        """What the U-Net sees: the noisy image, with the source's channels (scaled to [-1, 1])
        concatenated when the model is conditional."""
        if not self.conditional:
            return noisy
        if source is None or source.shape[1] != self.config["in_channels"]:
            got = "no source" if source is None else f"{source.shape[1]} source channel(s)"
            raise ValueError(f"This model is conditioned on {self.config['in_channels']} source channel(s); got {got}.")
        return torch.cat([noisy, source * 2 - 1], dim=1)

    # lr 1e-3 rather than the usual 1e-4..2e-4: the course trains for minutes, not days. Measured
    # (smoke model, 32 px, 40 steps): the loss fell 0.95 -> 0.40 at 1e-3, 0.99 -> 0.86 at 2e-4.
    def make_optimizers(self):
        return {"net": torch.optim.AdamW(self.net.parameters(), lr=self.config["lr"])}

    def train_step(self, batch, update):
        x0 = batch["target"] * 2 - 1
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.config["num_train_timesteps"], (x0.shape[0],), device=x0.device)
        noisy = self.scheduler.add_noise(x0, noise, t)
        target = {"epsilon": noise, "sample": x0}.get(self.config["prediction"])
        if target is None:
            target = self.scheduler.get_velocity(x0, noise, t)
        loss = F.mse_loss(self.net(self.network_input(noisy, batch.get("source")), t), target)
        update(loss, "net")
        self.ema.update_parameters(self.net)
        return {"mse": loss}

    @torch.no_grad()
    def sample(self, source: torch.Tensor | None = None, n: int | None = None, *, sampler: str = "ddim",
               steps: int | None = None, seed: int = 0, image_size: int | None = None, use_ema: bool = True,
               progress: bool = False, correct=None, start: torch.Tensor | None = None,
               strength: float = 1.0) -> torch.Tensor:
        """Samples in [0, 1]: one per source image (conditional), or ``n`` (unconditional).

        ``sampler="ddim"`` with ``steps`` (default ``config["sample_steps"]``) is fast and,
        with eta = 0, deterministic given the initial noise; ``"ddpm"`` walks all training
        steps and adds fresh noise at each. ``seed`` fixes the noise: the same seed gives
        the same samples, another seed another plausible image.

        ``correct`` (a function of the predicted clean image, B x 1 x H x W in [0, 1]) is
        applied to the network's estimate at every step before the scheduler moves on:
        DDNM's range-null-space step (chapter 07) is such a function. It needs a model
        that predicts the clean image (``prediction="sample"``).

        ``start`` (B x 1 x H x W in [0, 1]) with ``strength`` < 1 starts the reverse process
        from ``start`` noised to ``strength`` of the schedule instead of from pure noise,
        and walks only the remaining steps (SDEdit, Meng et al., ICLR 2022; for
        reconstruction "come closer, diffuse faster", Chung et al., CVPR 2022): the
        prior then refines an estimate rather than inventing an image from nothing.
        """
        if not 0 < strength <= 1:
            raise ValueError(f"strength must be in (0, 1] (1 = from pure noise); got {strength}.")
        if correct is not None and self.config["prediction"] != "sample":
            raise ValueError("correct= acts on the predicted clean image: build the model with prediction='sample'.")
        self.eval()
        net = self.ema.module if use_ema else self.net
        device = next(net.parameters()).device
        if self.conditional:
            if source is None:
                raise ValueError("A conditional model samples from a source image: pass source (B x C x H x W).")
            shape = (source.shape[0], 1, *source.shape[2:])
            source = source.to(device)
        else:
            if n is None or image_size is None:
                raise ValueError("An unconditional model needs n (how many samples) and image_size.")
            shape = (n, 1, image_size, image_size)
        steps = self.config["num_train_timesteps"] if sampler == "ddpm" else (steps or self.config["sample_steps"])
        scheduler = self.make_scheduler(sampler, steps)
        generator = torch.Generator(device).manual_seed(seed)
        x = torch.randn(shape, generator=generator, device=device)
        timesteps = scheduler.timesteps
        if start is not None and strength < 1:
            timesteps = timesteps[timesteps <= strength * self.config["num_train_timesteps"]]
            x = scheduler.add_noise(start.to(device) * 2 - 1, x, timesteps[:1].to(device))
        for t in tqdm(timesteps, desc=f"{sampler} sampling", disable=not progress, leave=False):
            output = net(self.network_input(x, source), torch.full((shape[0],), int(t), device=device))
            if correct is not None:
                output = correct((output + 1) / 2) * 2 - 1
            x, _ = scheduler.step(output, int(t), x, generator=generator)
        return ((x + 1) / 2).clamp(0, 1)

    def sample_many(self, source: torch.Tensor, n_samples: int, *, seed: int = 0, **options) -> torch.Tensor:
        """``n_samples`` samples per source (seeds ``seed``, ``seed + 1``, ...):
        ``n_samples x B x 1 x H x W``. Their mean is a point estimate, their standard
        deviation per pixel an uncertainty map."""
        if n_samples < 1:
            raise ValueError(f"n_samples={n_samples}: ask for at least one sample.")
        return torch.stack([self.sample(source, seed=seed + i, **options) for i in range(n_samples)])

    def predict(self, source: torch.Tensor) -> torch.Tensor:
        """One DDIM sample per source (seed 0): what the engine and the metrics score. An
        unconditional model ignores the source (its score is what no conditioning gives)."""
        if not self.conditional:
            return self.sample(n=source.shape[0], image_size=source.shape[-1])
        return self.sample(source)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.predict(source)
