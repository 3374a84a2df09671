"""Shared set-up of the unit tests.

- The run profile is forced to ``smoke`` for the whole session (a profile exported by the
  user, e.g. MEDSYNTH_PROFILE=gpu, must not make the tests slow or change their sizes).
- Matplotlib draws off-screen (Agg) inside the tests only; the package never picks a
  backend itself.
- ``tiny_data``: one small phantom dataset (6 subjects, 32 px, 2 slices) shared by the
  tests that only need *some* data.
"""
from __future__ import annotations

import os

# Forced, not setdefault: the tests are sized for the smoke profile.
os.environ["MEDSYNTH_PROFILE"] = "smoke"

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import pytest  # noqa: E402

TINY = {"n_subjects": 6, "image_size": 32, "slices_per_subject": 2, "seed": 0}


@pytest.fixture(scope="session")
def tiny_data():
    from medsynth_nb.data.datasets import load_dataset

    return load_dataset("phantom", progress=False, **TINY)


@pytest.fixture(autouse=True)
def _close_figures():
    """No test leaks matplotlib figures into the next one."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
