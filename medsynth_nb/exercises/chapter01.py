"""Exercise checks of chapter 01 (pix2pix)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict


@check
def check_prediction(prediction: dict[str, str], table, model: str, reference: str) -> bool:
    """Chapter 01, exercises 1 and 2: predict, before training, whether ``model`` scores
    "higher" or "lower" than ``reference`` on each metric (e.g. ``psnr``, ``blur_mm``: the
    value itself, so a sharper model is "lower" on ``blur_mm``); checked against the
    measured ``table`` (``metrics.summarize`` output, one row per method)."""
    wrong = []
    for metric, guess in prediction.items():
        measured = "higher" if table.loc[model, metric] > table.loc[reference, metric] else "lower"
        if str(guess).strip().lower() != measured:
            wrong.append(f"{metric}: measured {measured} ({table.loc[model, metric]:.3f} vs "
                         f"{table.loc[reference, metric]:.3f})")
    return verdict(not wrong, "Your predictions match the measurement.",
                    "Some predictions differ from the measurement: " + "; ".join(wrong) + ".")


def _course_generator_loss(critic_logits, fake, target, lambda_l1):
    from medsynth_nb.models.pix2pix import generator_objective

    return generator_objective(critic_logits, F.l1_loss(fake, target), lambda_l1)["g_total"]


def _generator_loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1)
    fake, target = torch.rand(2, 1, 16, 16, generator=g), torch.rand(2, 1, 16, 16, generator=g)
    return [
        Case("a critic fooled completely (logits all 1) and a perfect fake: nothing to improve",
             {"critic_logits": torch.ones(2, 1, 4, 4), "fake": target, "target": target, "lambda_l1": 10.0},
             expected=torch.tensor(0.0)),
        Case("logits all 0 (the critic sure it is fake) and a fake off by 0.5 everywhere: 1 + 10 x 0.5",
             {"critic_logits": torch.zeros(2, 1, 4, 4), "fake": target + 0.5, "target": target, "lambda_l1": 10.0},
             expected=torch.tensor(6.0)),
        Case("random logits and images, lambda_l1 = 100 (seed 1)",
             {"critic_logits": torch.randn(2, 1, 6, 6, generator=g), "fake": fake, "target": target,
              "lambda_l1": 100.0}),
    ]


check_generator_loss = CodingExercise(
    name="pix2pix_generator_loss",
    course=_course_generator_loss,
    where="medsynth_nb.models.pix2pix.generator_objective",
    cases=_generator_loss_cases,
    hint="two terms: the mean of (critic_logits - 1) ** 2 (LSGAN: the critic should say 'real', 1) plus "
         "lambda_l1 times the mean absolute difference between fake and target.",
    good="The critic's term asks for a real-looking image; the L1 term keeps it the right image.")


def generator_loss_terms(loss, model, slices, task, n: int = 8) -> dict[str, float]:
    """The trained ``model``'s generator loss on the first ``n`` test slices, by ``loss`` (the
    student's or the course's), split into the critic's share and the L1 share."""
    parameter = next(model.parameters())
    batch = slices.batch(task, np.arange(min(n, len(slices))))
    source, target = batch["source"].to(parameter), batch["target"].to(parameter)
    with torch.no_grad():
        fake = model(source)
        logits = model.critic(source, fake)
        total = float(loss(logits, fake, target, model.config["lambda_l1"]))
        l1_share = float(loss(torch.ones_like(logits), fake, target, model.config["lambda_l1"]))
    return {"total": total, "L1 term": l1_share, "critic's term": total - l1_share}
