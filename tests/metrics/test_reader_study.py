"""Reader-study statistics against values worked by hand."""
import numpy as np
import pytest

from medsynth_nb.metrics.reader_study import cohen_kappa, forced_choice_accuracy


def _wilson(k, n, z=1.959964):
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_forced_choice_accuracy_has_the_wilson_interval():
    result = forced_choice_accuracy([True] * 8 + [False] * 2)
    low, high = _wilson(8, 10)
    assert result["accuracy"] == 0.8 and result["n"] == 10
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((low, high), abs=1e-4)
    assert result["ci_low"] < 0.5, "8 of 10 cannot rule out guessing"
    many = forced_choice_accuracy([True] * 80 + [False] * 20)
    assert many["ci_low"] > 0.5, "80 of 100 can"
    with pytest.raises(ValueError, match="No answers"):
        forced_choice_accuracy([])


def test_cohen_kappa_worked_by_hand():
    # Observed agreement 3/4; chance (1/2 x 1/4) + (1/2 x 3/4) = 1/2; kappa = (0.75 - 0.5) / 0.5.
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.5)
    assert cohen_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    assert np.isnan(cohen_kappa([2, 2, 2], [2, 2, 2])), "one answer for everything: chance explains it all"
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa([1, 2], [1])
