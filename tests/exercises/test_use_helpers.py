"""The helpers that use a chapter's coding-exercise function on the chapter's model or data
(its "use cell"): with the course's function each gives what an independent computation
gives, so a student whose function passed the check sees the chapter's own numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medsynth_nb.data import physics
from medsynth_nb.exercises import chapter00, chapter01, chapter02, chapter06, chapter07, chapter08, chapter09
from medsynth_nb.models import build_model
from medsynth_nb.profiles import get_profile


class _Slices:
    """The one method of a SliceSet that the loss helpers read: ``batch(task, index)``."""

    def __init__(self, n: int, size: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.source, self.target = torch.rand(n, 1, size, size, generator=g), torch.rand(n, 1, size, size, generator=g)

    def __len__(self):
        return len(self.source)

    def batch(self, task, index):
        return {"source": self.source[index], "target": self.target[index]}


def test_signal_table_by_the_courses_equation_is_the_phantoms_tissue_table():
    table = chapter00.signal_table(chapter00.check_mr_signal.course, sites=("A", "B"))
    site_a = physics.signal_matrix(physics.TISSUE_PROPERTIES, physics.SITES["A"])
    assert list(table.index) == list(physics.TISSUES)
    np.testing.assert_allclose(table["T1w, site A"], site_a["t1"], atol=5e-4)
    np.testing.assert_allclose(table["T2w, site A"], site_a["t2"], atol=5e-4)
    # Site B's T1w is inversion-prepared: CSF, bright-ish at site A's short TR, is nulled there.
    assert table.loc["csf", "T1w, site B"] < 0.5 * table.loc["csf", "T1w, site A"]


def test_generator_loss_terms_split_the_loss_into_the_critics_and_the_l1_share():
    torch.manual_seed(0)
    model = build_model("pix2pix", "t1:t2", get_profile("smoke"))
    slices = _Slices(3, get_profile("smoke").image_size)
    terms = chapter01.generator_loss_terms(chapter01.check_generator_loss.course, model, slices, "t1:t2", n=8)
    with torch.no_grad():
        fake = model(slices.source)
        logits = model.critic(slices.source, fake)
    critic = float(torch.mean((logits - 1) ** 2))
    l1 = model.config["lambda_l1"] * float(F.l1_loss(fake, slices.target))
    assert terms["critic's term"] == pytest.approx(critic, rel=1e-4)
    assert terms["L1 term"] == pytest.approx(l1, rel=1e-4)
    assert terms["total"] == pytest.approx(critic + l1, rel=1e-4)


class _Shifters(torch.nn.Module):
    """A CycleGAN stand-in: g_ab adds ``shift``, g_ba takes ``back`` away."""

    def __init__(self, shift: float, back: float):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the helper reads the device from a parameter
        self.g_ab, self.g_ba = (lambda x: x + shift), (lambda x: x - back)


@pytest.mark.parametrize(("shift", "back", "cycle"), [(0.3, 0.3, 0.0), (0.25, -0.25, 1.0)])
def test_cycle_check_tells_a_change_that_is_undone_from_one_that_is_not(shift, back, cycle):
    result = chapter02.cycle_check(chapter02.check_cycle_loss.course, _Shifters(shift, back), _Slices(10, 8),
                                   "t1@B:t1", n=4)
    assert result["cycle loss (both round trips)"] == pytest.approx(cycle, abs=1e-4)
    assert result["change by one pass (both generators)"] == pytest.approx(2 * abs(shift), abs=1e-4)


def test_growth_table_by_the_courses_law_follows_the_rendered_cores():
    from medsynth_nb.data.longitudinal import load_longitudinal

    series = load_longitudinal(5, 16, 1, seed=0, progress=False)
    table = chapter08.growth_table(chapter08.check_gompertz.course, series, n_subjects=3)
    assert len(table) == 3 * series.info["n_visits"]
    # The phantom grows each core by the same law, so the law from the first visit meets every later one.
    np.testing.assert_allclose(table["law (ml)"], table["rendered core (ml)"], rtol=1e-6)
    first = table.xs(0, level="visit")
    assert (table.groupby("subject")["law (ml)"].max() > first["law (ml)"]).all(), "no core grew"


def test_frechet_terms_split_a_shift_and_a_spread():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(400, 3))

    class Scorer:  # the two attributes frechet_terms reads: reference features and a segmenter
        pass

    scorer = Scorer()
    scorer.reference = reference
    scorer.segmenter = type("Segmenter", (), {"features": staticmethod(lambda images: images)})
    centred = reference - reference.mean(0)
    table = chapter09.frechet_terms(chapter09.check_frechet_distance.course, scorer,
                                    {"shifted by 1": reference + 1.0, "spread x2": reference.mean(0) + 2 * centred})
    shifted, spread = table.loc["shifted by 1"], table.loc["spread x2"]
    # A shift moves the mean by 1 in each of 3 features: all of the distance is the means' term, 3.
    assert shifted["means' term"] == pytest.approx(3.0, rel=1e-6)
    assert shifted["covariances' term"] == pytest.approx(0.0, abs=1e-3)
    # Doubling the spread keeps the mean: tr(S + 4S - 2 (4 S^2)^1/2) = tr(S), all in the covariances' term.
    assert spread["means' term"] == pytest.approx(0.0, abs=1e-9)
    assert spread["covariances' term"] == pytest.approx(np.trace(np.cov(reference.T)), rel=1e-2)


def test_projection_table_makes_a_noisy_reconstruction_keep_the_measurement():
    from medsynth_nb.data import load_dataset
    from medsynth_nb.data.inverse_problems import load_inverse_problem

    profile = get_profile("smoke")
    mri = load_inverse_problem(load_dataset("phantom", profile=profile, seed=0, progress=False), "mri", seed=0)
    noisy = mri.test.truth + np.random.default_rng(0).normal(0, 0.05, mri.test.truth.shape).astype(np.float32)
    table = chapter07.projection_table(chapter07.check_data_consistency.course, noisy, mri.test)
    before, after = table.xs("before", level="method"), table.xs("after the projection", level="method")
    assert (before["relative residual"] > 1e-3).all()
    assert (after["relative residual"] < 1e-5).all()
    # The measured lines now hold the truth instead of noise: every acceleration's PSNR rises.
    assert (after["psnr"] > before["psnr"]).all()


def test_regions_found_counts_and_scores_each_brats_region():
    from medsynth_nb.lesions.editor import LabelEditor

    class Canvas:  # what synthetic_slices reads of an EditCanvas
        def __init__(self, brain):
            self.brain, self.healthy = brain, np.zeros((4, *brain.shape), np.float32)
            self.subject = type("Subject", (), {"subject_id": "s0"})

    class Segmenter(torch.nn.Module):  # finds exactly what the render wrote in its first contrast
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(()))

        def predict(self, images):
            return images[:, :1].round().to(torch.uint8)

    rows, cols = np.mgrid[:40, :40]
    brain = (rows - 19.5) ** 2 + (cols - 19.5) ** 2 < 19**2
    editor = LabelEditor(np.zeros((40, 40), np.uint8), brain)
    editor.preset("large necrotic tumour with oedema", [20, 20])
    labels = editor.labels.copy()
    table = chapter06.regions_found(chapter06.check_tumor_regions.course, Segmenter(),
                                    lambda canvas, edit: np.repeat(edit[None].astype(np.float32), 4, 0),
                                    [Canvas(brain)], [(0, labels)])
    expected = {"wt": np.isin(labels, (1, 2, 3)).sum(), "tc": np.isin(labels, (1, 3)).sum(), "et": (labels == 3).sum()}
    assert list(table.index) == ["wt", "tc", "et"]
    for region, pixels in expected.items():
        assert pixels > 0
        assert table.loc[region, "requested px"] == table.loc[region, "found px"] == pixels
    np.testing.assert_allclose(table["mean Dice"], 1.0)
