"""Exercise checks of chapter 03 (diffusion models)."""
from __future__ import annotations

import numpy as np
import torch
from monai.networks.schedulers import DDIMScheduler

from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict
from medsynth_nb.tasks import parse_task


@check
def check_snr_crossing(answer_step: int, scheduler) -> bool:
    """Chapter 03, exercise 1: the first step t at which the schedule's signal-to-noise
    ratio abar_t / (1 - abar_t) falls below 1 (signal and noise equally strong)."""
    abar = scheduler.alphas_cumprod.double().numpy()
    truth = int(np.argmax(abar / (1 - abar) < 1))
    ok = abs(int(answer_step) - truth) <= max(5, 0.02 * len(abar))
    return verdict(ok, f"t = {truth}: from there on a noised image holds more noise than anatomy.",
                    "SNR < 1 means abar_t < 1/2: find where the cumulative product of (1 - beta) crosses 0.5.")


@check
def check_fewest_ddim_steps(answer_steps: int, table, tolerance_db: float = 0.5) -> bool:
    """Chapter 03, exercise 2: the fewest DDIM steps whose PSNR is within ``tolerance_db``
    of the best PSNR in the sampling table (columns sampler, steps, psnr)."""
    ddim = table[table["sampler"] == "ddim"].sort_values("steps")
    good = ddim[ddim["psnr"] >= table["psnr"].max() - tolerance_db]
    truth = int(good["steps"].iloc[0]) if len(good) else None
    ok = answer_steps == truth
    return verdict(ok, f"{truth} DDIM steps: more steps cost time in proportion and buy less than "
                        f"{tolerance_db} dB here." if truth is not None else
                    f"No DDIM setting came within {tolerance_db} dB: DDPM's full chain was needed.",
                    "Read the PSNR column: which is the smallest step count close enough to the best row?")


def _course_ddim_step(x_t, predicted_noise, alpha_bar_t, alpha_bar_prev):
    # The reference is MONAI's DDIMScheduler.step itself, the step the chapter's model samples with, rather
    # than the formula written out again: a two-step schedule whose cumulative alphas are the given ones
    # makes it take exactly this step (eta = 0; no clipping of x0_hat, which the formula has not).
    scheduler = DDIMScheduler(num_train_timesteps=2, clip_sample=False, prediction_type="epsilon")
    scheduler.set_timesteps(2)  # from t = 1 to t = 0
    scheduler.alphas_cumprod = torch.tensor([float(alpha_bar_prev), float(alpha_bar_t)])
    return scheduler.step(predicted_noise, 1, x_t)[0]


def _ddim_step_cases() -> list[Case]:
    g = torch.Generator().manual_seed(3)
    x0, noise = torch.rand(2, 1, 8, 8, generator=g) * 2 - 1, torch.randn(2, 1, 8, 8, generator=g)
    x_t = torch.randn(2, 1, 8, 8, generator=g)
    return [
        Case("x_t = 0.8 x0 + 0.6 eps (abar_t = 0.64) with the true eps, abar_prev = 1 (the last step): x0 itself",
             {"x_t": 0.8 * x0 + 0.6 * noise, "predicted_noise": noise, "alpha_bar_t": torch.tensor(0.64),
              "alpha_bar_prev": torch.tensor(1.0)}, expected=x0),
        Case("predicted noise 0, abar_t = 0.25, abar_prev = 0.81: x_t scaled by sqrt(0.81 / 0.25) = 1.8",
             {"x_t": x_t, "predicted_noise": torch.zeros_like(x_t), "alpha_bar_t": torch.tensor(0.25),
              "alpha_bar_prev": torch.tensor(0.81)}, expected=1.8 * x_t),
        Case("abar_prev = abar_t = 0.5: a step to the same noise level leaves x_t as it is",
             {"x_t": x_t, "predicted_noise": noise, "alpha_bar_t": torch.tensor(0.5),
              "alpha_bar_prev": torch.tensor(0.5)}, expected=x_t),
        Case("random x_t and noise (seed 3), abar_t = 0.3, abar_prev = 0.7",
             {"x_t": x_t, "predicted_noise": noise, "alpha_bar_t": torch.tensor(0.3),
              "alpha_bar_prev": torch.tensor(0.7)}),
    ]


check_ddim_step = CodingExercise(
    name="ddim_step",
    course=_course_ddim_step,
    where="monai.networks.schedulers.DDIMScheduler.step",
    cases=_ddim_step_cases,
    hint="first the clean image the noise estimate implies, x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t); "
         "then x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps (no fresh noise: eta = 0).",
    good="One deterministic step; a sampler is this step in a loop over a few timesteps.")


def _step_inputs(output, x_t, alpha_bar_t, prediction: str):
    """What a DDIM step needs from the network's ``output`` (the noise, the clean image or the
    velocity, by ``prediction``): x_t and the noise estimate. MONAI's scheduler clips the clean
    image it derives to the image range [-1, 1] (``clip_sample``) and keeps the noise estimate;
    the x_t returned is the one those two make up, so that a right step is MONAI's exactly."""
    signal, noise_level = alpha_bar_t.sqrt(), (1 - alpha_bar_t).sqrt()
    if prediction == "epsilon":
        noise, x0 = output, (x_t - noise_level * output) / signal
    elif prediction == "sample":
        noise, x0 = (x_t - signal * output) / noise_level, output
    else:  # the velocity sqrt(abar) eps - sqrt(1 - abar) x0
        noise, x0 = signal * output + noise_level * x_t, signal * x_t - noise_level * output
    return signal * x0.clamp(-1, 1) + noise_level * noise, noise


@torch.no_grad()
def ddim_by_hand(step, model, slices, task, index: int = 0, steps: int = 10, seed: int = 0) -> dict:
    """Slice ``index`` of ``slices``: its source, a sample of the trained conditional diffusion
    ``model`` by a DDIM loop written out here that moves with ``step`` (the student's
    ``ddim_step`` or the course's), the model's own ``sample`` with the same starting noise
    (``seed``) and ``steps``, and the real target. Images in [0, 1], H x W."""
    task = parse_task(task)
    batch = slices.batch(task, [index])
    net = model.ema.module  # the averaged weights sample() uses
    device = next(net.parameters()).device
    source = batch["source"].to(device)
    scheduler = model.make_scheduler("ddim", steps)
    alpha_bar = scheduler.alphas_cumprod.to(device)
    x = torch.randn((1, 1, *source.shape[2:]), generator=torch.Generator(device).manual_seed(seed), device=device)
    for t in scheduler.timesteps.tolist():
        output = net(model.network_input(x, source), torch.full((1,), t, device=device))
        # The previous step as MONAI takes it: t - T / steps, and abar = 1 past the start of the schedule.
        prev = t - model.config["num_train_timesteps"] // steps
        alpha_bar_prev = alpha_bar[prev] if prev >= 0 else torch.ones((), device=device)
        x = step(*_step_inputs(output, x, alpha_bar[t], model.config["prediction"]), alpha_bar[t], alpha_bar_prev)
    return {task.sources[0]: batch["source"][0, 0].numpy(),
            "ddim_step loop": ((x + 1) / 2).clamp(0, 1)[0, 0].cpu().numpy(),
            "model.sample": model.sample(source, steps=steps, seed=seed)[0, 0].cpu().numpy(),
            task.target: batch["target"][0, 0].numpy()}


def show_ddim_by_hand(step, model, slices, task, steps: int = 10, seed: int = 0):
    """``ddim_by_hand``'s images side by side, titled with the largest difference between the
    loop by ``step`` and ``model.sample`` (float rounding when ``step`` is right). Returns
    the figure and that difference."""
    from medsynth_nb import viz

    images = ddim_by_hand(step, model, slices, task, steps=steps, seed=seed)
    gap = float(np.abs(images["ddim_step loop"] - images["model.sample"]).max())
    fig = viz.show_modalities(images, physical=False,
                              title=f"DDIM-{steps} by your step beside model.sample: largest difference {gap:.1e}")
    return fig, gap
