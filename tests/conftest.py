"""Shared set-up of the unit tests.

- The run profile is forced to ``smoke`` for the whole session (a profile exported by the
  user, e.g. MEDSYNTH_PROFILE=gpu, must not make the tests slow or change their sizes).
- Matplotlib draws off-screen (Agg) inside the tests only; the package never picks a
  backend itself.
- ``tiny_data``: one small phantom dataset (6 subjects, 32 px, 2 slices) shared by the
  tests that only need *some* data.
- ``assert_l1_falls``: checks that a short run on ``tiny_data`` lowers a model's L1 loss.
- ``resumed_run``: trains a model in one go and again with a stop and a resume, and checks
  that both runs end with the same weights.
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
    from medsynth_nb.data.loaders import load_dataset

    return load_dataset("phantom", progress=False, **TINY)


@pytest.fixture
def assert_l1_falls(tiny_data):
    """``assert_l1_falls(model, task, steps)``: trains ``model`` on ``tiny_data`` for ``steps``
    batches of 8 and asserts that the mean L1 loss of the last 5 steps is below the first 5's."""
    import numpy as np

    from medsynth_nb.engine import TrainConfig, train

    def check(model, task, steps: int):
        history = train(model, tiny_data, task, TrainConfig(steps=steps, batch_size=8, eval_every=1000,
                                                           max_eval_slices=4), progress=False)
        l1 = history.losses["l1"]
        assert np.mean(l1[-5:]) < np.mean(l1[:5]), (l1[:5], l1[-5:])

    return check


@pytest.fixture
def resumed_run(tmp_path):
    """``resumed_run(make_model, data, task, steps, **config) -> (one_go_history, resumed,
    resumed_history)``: ``make_model(seed=...)`` trained for ``steps`` in one go, and a second
    run stopped at ``steps // 2`` (checkpoint in ``tmp_path``) and resumed to ``steps``;
    asserts that both end with the same weights."""
    import torch

    from medsynth_nb.engine import TrainConfig, train

    def run(make_model, data, task, steps: int, **config):
        one_go = make_model()
        full = train(one_go, data, task, TrainConfig(steps=steps, **config), progress=False)
        train(make_model(), data, task, TrainConfig(steps=steps // 2, **config), out_dir=tmp_path, progress=False)
        resumed = make_model(seed=123)  # other initial weights: everything must come from the checkpoint
        history = train(resumed, data, task, TrainConfig(steps=steps, **config), out_dir=tmp_path, resume=True,
                        progress=False)
        for (name, a), b in zip(one_go.state_dict().items(), resumed.state_dict().values()):
            assert torch.equal(a, b), name
        return full, resumed, history

    return run


@pytest.fixture(autouse=True)
def _close_figures():
    """No test leaks matplotlib figures into the next one."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
