"""Chapter 08's figures of a growing tumour and its forecasts."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from medsynth_nb import viz
from medsynth_nb.analysis import longitudinal
from medsynth_nb.data import load_longitudinal


@pytest.fixture(scope="module")
def test_set():
    return load_longitudinal(4, 32, 2, seed=0, progress=False).test


def test_growth_curves_draw_one_growing_line_per_subject(test_set):
    fig = viz.growth_curves(test_set)
    lines = fig.axes[0].get_lines()
    assert len(lines) == len(test_set.subjects)
    for line in lines:
        assert np.all(np.diff(line.get_xdata()) > 0) and line.get_ydata()[-1] > line.get_ydata()[0]
    plt.close(fig)


def test_forecast_gallery_shows_priors_truth_and_each_forecast_with_its_error(test_set):
    forecasts = {"no change": longitudinal.no_change(test_set),
                 "perfect": test_set.batch(None, np.arange(test_set.n_entries))["target"][:, 0].numpy()}
    fig = viz.forecast_gallery(forecasts, test_set, entry=1)
    top = [ax for ax in fig.axes[:5] if ax.images]
    assert [ax.get_title().split(":")[0] for ax in top[:3]] == ["prior", "prior", "real follow-up"]
    errors = [ax.images[0].get_array() for ax in fig.axes[5:] if ax.images]  # the second row
    assert len(errors) == 2 and errors[0].max() > 0
    assert np.allclose(errors[1], 0), "a perfect forecast has no error"
    plt.close(fig)


def test_error_vs_gap_draws_points_and_a_trend_per_method(test_set):
    table = longitudinal.forecast_table({"no change": longitudinal.no_change(test_set)}, test_set)
    fig = viz.error_vs_gap(table)
    assert len(fig.axes[0].get_lines()) == 2  # the points and their trend line
    plt.close(fig)
