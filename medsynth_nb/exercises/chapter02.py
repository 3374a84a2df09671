"""Exercise checks of chapter 02 (CycleGAN)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict
from medsynth_nb.models.cyclegan import cycle_loss


@check
def check_catch_up(answer, transfer) -> bool:
    """Chapter 02, exercise 1: the smallest tested number of site-B subjects at which
    training from scratch is at least as good (MAE) as fine-tuning, or None.
    ``transfer``: the chapter's table with columns k, start, mae."""
    table = transfer.pivot(index="k", columns="start", values="mae").sort_index()
    caught = table.index[table["from scratch"] <= table["fine-tuned from site A"]]
    truth = int(caught[0]) if len(caught) else None
    ok = answer == truth
    return verdict(bool(ok), f"{'k = ' + str(truth) if truth is not None else 'Not within the tested k'}: "
                              "pre-training on site A is worth most when few site-B subjects are labelled.",
                    "Compare the two curves point by point: where does 'from scratch' first reach the other?")


def _cycle_loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 1, 16, 16, generator=g), torch.rand(2, 1, 16, 16, generator=g)
    # Two small random convolutions as generators; their weights come from the seeded generator, so
    # building them leaves torch's global random state (the notebook's) alone.
    w_ab, w_ba = torch.randn(1, 1, 3, 3, generator=g) * 0.5, torch.randn(1, 1, 3, 3, generator=g) * 0.5
    return [
        Case("identity generators: every round trip gives the image back, loss 0",
             {"real_a": a, "real_b": b, "g_ab": lambda x: x, "g_ba": lambda x: x}, expected=torch.tensor(0.0)),
        Case("g_ab adds 0.3 and g_ba subtracts 0.3: each changes the image, but they undo each other, loss 0",
             {"real_a": a, "real_b": b, "g_ab": lambda x: x + 0.3, "g_ba": lambda x: x - 0.3},
             expected=torch.tensor(0.0)),
        Case("both generators add 0.25: each round trip is off by 0.5 everywhere, loss 0.5 + 0.5",
             {"real_a": a, "real_b": b, "g_ab": lambda x: x + 0.25, "g_ba": lambda x: x + 0.25},
             expected=torch.tensor(1.0)),
        Case("random images and two random 3 x 3 convolutions with tanh as generators (seed 2)",
             {"real_a": a, "real_b": b, "g_ab": lambda x: torch.tanh(F.conv2d(x, w_ab, padding=1)),
              "g_ba": lambda x: torch.tanh(F.conv2d(x, w_ba, padding=1) + 0.1)}),
    ]


check_cycle_loss = CodingExercise(
    name="cycle_loss",
    course=cycle_loss,  # its fake_b/fake_a are for the model's step, which has them already
    cases=_cycle_loss_cases,
    hint="two round trips: A -> B -> A compares g_ba(g_ab(real_a)) with real_a, B -> A -> B compares "
         "g_ab(g_ba(real_b)) with real_b; each is the mean absolute difference, and the loss is their sum.",
    good="Neither term needs a pair: each domain is only compared with itself.")


def cycle_check(loss, model, slices, task, n: int = 8) -> dict[str, float]:
    """The trained CycleGAN ``model`` on ``n`` test slices spread over ``slices`` (the sources of
    ``task`` as domain A, its targets as domain B): its cycle loss by ``loss`` (the student's or
    the course's) and, for scale, how far one pass of each generator moves its input,
    mean |g_ab(a) - a| + mean |g_ba(b) - b|."""
    parameter = next(model.parameters())
    batch = slices.batch(task, np.linspace(0, len(slices) - 1, n).round().astype(int))
    a, b = batch["source"].to(parameter), batch["target"].to(parameter)
    with torch.no_grad():
        cycle = float(loss(a, b, model.g_ab, model.g_ba))
        moved = float(F.l1_loss(model.g_ab(a), a) + F.l1_loss(model.g_ba(b), b))
    return {"cycle loss (both round trips)": round(cycle, 4), "change by one pass (both generators)": round(moved, 4)}
