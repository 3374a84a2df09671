"""Exercise checks of chapter 01 (pix2pix)."""
from __future__ import annotations

from medsynth_nb.exercises.verdict import check, verdict


@check
def check_prediction(prediction: dict[str, str], table, model: str, reference: str) -> bool:
    """Chapter 01, exercise 1: predict, before training, whether ``model`` scores
    "higher" or "lower" than ``reference`` on each metric; checked against the measured
    ``table`` (``metrics.summarize`` output, one row per method)."""
    wrong = []
    for metric, guess in prediction.items():
        measured = "higher" if table.loc[model, metric] > table.loc[reference, metric] else "lower"
        if str(guess).strip().lower() != measured:
            wrong.append(f"{metric}: measured {measured} ({table.loc[model, metric]:.3f} vs "
                         f"{table.loc[reference, metric]:.3f})")
    return verdict(not wrong, "Your predictions match the measurement.",
                    "Some predictions differ from the measurement: " + "; ".join(wrong) + ".")
