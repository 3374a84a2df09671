"""What a reader study's answers say (chapter 09's expert assessment).

- ``forced_choice_accuracy``: in a two-alternative forced choice (which of two images is the
  real one?), the fraction right with its Wilson 95 % interval (``scipy.stats.binomtest``).
  0.5 means the readers cannot tell synthetic from real; an interval that contains 0.5 means
  this study cannot say that they can.
- ``cohen_kappa``: how much two readers agree on the same items beyond what chance gives
  (Cohen 1960): 1 = always, 0 = as often as chance, below 0 = less.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import binomtest


def forced_choice_accuracy(correct, confidence: float = 0.95) -> dict[str, float]:
    """``correct``: one bool per trial. The accuracy, its Wilson interval and the number of trials."""
    correct = np.asarray(correct, bool).ravel()
    if correct.size == 0:
        raise ValueError("No answers yet: a reader has to make at least one choice.")
    interval = binomtest(int(correct.sum()), correct.size).proportion_ci(confidence, method="wilson")
    return {"accuracy": float(correct.mean()), "ci_low": float(interval.low), "ci_high": float(interval.high),
            "n": int(correct.size)}


def cohen_kappa(first, second) -> float:
    """Agreement of two readers' answers (any categories: choices, Likert scores) on the same
    items; NaN when chance alone agrees always (both gave one and the same answer to all)."""
    first, second = np.asarray(first).ravel(), np.asarray(second).ravel()
    if first.shape != second.shape or first.size == 0:
        raise ValueError(f"Both readers must answer the same items; got {first.size} and {second.size} answers.")
    observed = float(np.mean(first == second))
    categories = np.union1d(first, second)
    chance = float(sum(np.mean(first == c) * np.mean(second == c) for c in categories))
    if chance == 1.0:
        return float("nan")
    return (observed - chance) / (1.0 - chance)
