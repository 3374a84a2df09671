"""Chapter 05, coding exercise solved: a sparsification curve. For instructors:
``medsynth solutions 05`` writes the chapter with this filled in."""
import numpy as np


def sparsification_curve(uncertainty, error, fractions):
    """For each fraction f of ``fractions``, remove the round(f * n) pixels with the highest
    ``uncertainty`` (but keep at least one) and return the mean ``error`` of the rest divided
    by the mean error of all n pixels. uncertainty, error: 1-D numpy arrays of n pixels;
    fractions: 1-D, values in [0, 1); returns a 1-D numpy array, one value per fraction."""
    n = len(error)
    error_by_rank = error[np.argsort(-uncertainty)]  # most uncertain first
    curve = []
    for fraction in fractions:
        removed = min(int(np.rint(fraction * n)), n - 1)  # at least one pixel stays
        curve.append(error_by_rank[removed:].mean())
    return np.array(curve) / error.mean()
