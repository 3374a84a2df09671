"""The helpers that use a coding exercise's function in its chapter: with the course's own
function they reproduce what the course computes."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from medsynth_nb.exercises import chapter03  # noqa: E402
from medsynth_nb.models import build_model  # noqa: E402
from medsynth_nb.profiles import get_profile  # noqa: E402


class _OneSlice:
    """The one method of a SliceSet that ddim_by_hand reads."""

    def __init__(self, size: int):
        g = torch.Generator().manual_seed(0)
        self.source, self.target = torch.rand(1, 1, size, size, generator=g), torch.rand(1, 1, size, size, generator=g)

    def batch(self, task, index):
        return {"source": self.source[index], "target": self.target[index]}


def test_ddim_by_hand_with_the_courses_step_takes_the_samplers_steps():
    torch.manual_seed(0)
    profile = get_profile("smoke")
    for prediction in ("sample", "epsilon"):
        model = build_model("diffusion", "t1:t2", profile, prediction=prediction)
        _, gap = chapter03.show_ddim_by_hand(chapter03.check_ddim_step.course, model,
                                             _OneSlice(profile.image_size), "t1:t2", steps=5)
        assert gap < 1e-4, f"{prediction}: the loop by hand left model.sample by {gap}"

    def no_step(x_t, predicted_noise, alpha_bar_t, alpha_bar_prev):
        return x_t  # never moves: the loop ends at its starting noise

    _, gap = chapter03.show_ddim_by_hand(no_step, model, _OneSlice(profile.image_size), "t1:t2", steps=5)
    assert gap > 0.05 and np.isfinite(gap)
