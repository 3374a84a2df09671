"""Exercise checks of chapter 02 (CycleGAN)."""
from __future__ import annotations

from medsynth_nb.exercises.verdict import check, verdict


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
