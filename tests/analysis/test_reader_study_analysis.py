"""Chapter 09's reader study on disk: design, answers that survive a restart and are never
overwritten, a crash mid-write, accuracy and agreement, and the model observer."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from medsynth_nb.analysis.reader_study import (
    RATING_KEY,
    ReaderSession,
    ReaderStudy,
    observer_answers,
    reader_agreement,
    study_results,
)
from medsynth_nb.metrics.reader_study import forced_choice_accuracy

N, SIZE = 16, 24


@pytest.fixture(scope="module")
def images():
    """Noisy "real" slices and a smoothed copy as the "synthetic" ones (matched pairs)."""
    rng = np.random.default_rng(0)
    real = ndimage.gaussian_filter(rng.random((N, SIZE, SIZE)), (0, 3, 3)) + 0.05 * rng.standard_normal((N, SIZE, SIZE))
    return real.astype(np.float32), ndimage.gaussian_filter(real, (0, 1.5, 1.5)).astype(np.float32)


@pytest.fixture
def study(images, tmp_path):
    return ReaderStudy.design("demo", *images, n_trials=12, seed=3, folder=tmp_path)


def answer_truthfully(session, n, rating=4):
    """A reader who always picks the real side, for ``n`` trials."""
    for _ in range(n):
        trial = session.next_trial()
        session.answer(trial.id, trial.real_side, rating)


def test_sides_are_balanced_slices_distinct_and_the_design_reproducible(images, tmp_path):
    study = ReaderStudy.design("a", *images, n_trials=12, seed=3, folder=tmp_path)
    again = ReaderStudy.design("a", *images, n_trials=12, seed=3, folder=tmp_path / "elsewhere")
    sides = [t.real_side for t in study.trials]
    assert sides.count("left") == sides.count("right") == 6
    assert len({t.index for t in study.trials}) == 12 and [t.id for t in study.trials] == list(range(12))
    assert again.trials == study.trials
    assert ReaderStudy.design("b", *images, n_trials=12, seed=4, folder=tmp_path).trials != study.trials
    odd = [t.real_side for t in ReaderStudy.design("c", *images, n_trials=7, seed=3, folder=tmp_path).trials]
    assert sorted([odd.count("left"), odd.count("right")]) == [3, 4]
    left, right = study.pair(0)
    real = images[0][study.trials[0].index]
    np.testing.assert_array_equal(left if study.trials[0].real_side == "left" else right, real)
    with pytest.raises(ValueError, match="1 to 16"):
        ReaderStudy.design("d", *images, n_trials=17, seed=0, folder=tmp_path)
    with pytest.raises(ValueError, match="matched"):
        ReaderStudy.design("d", images[0], images[1][:-1], n_trials=3, seed=0, folder=tmp_path)


def test_answers_and_images_survive_a_restart(study, images, tmp_path):
    answer_truthfully(ReaderSession(study, "reader_A"), 3)
    reopened = ReaderStudy.open(tmp_path, "demo")  # what a new kernel does
    session = ReaderSession(reopened, "reader_A")
    assert reopened.trials == study.trials
    np.testing.assert_array_equal(reopened.real, images[0])
    assert session.answered() == {0, 1, 2} and session.next_trial() == study.trials[3]
    answer_truthfully(session, 1)
    assert [a["trial"] for a in ReaderSession(ReaderStudy.open(tmp_path, "demo"), "reader_A").answers()] == [0, 1, 2, 3]
    with pytest.raises(FileNotFoundError, match="demo"):
        ReaderStudy.open(tmp_path, "no_such_study")


def test_an_answer_is_never_overwritten_and_bad_input_writes_nothing(study):
    session = ReaderSession(study, "reader_A")
    answer_truthfully(session, 2)
    before = session.path.read_bytes()
    for trial, choice, rating in [(0, "left", 3), (5, "real", 3), (5, "left", 0), (5, "left", 2.0), (5, "left", True),
                                  (12, "left", 3)]:
        with pytest.raises(ValueError):
            session.answer(trial, choice, rating)
    assert session.path.read_bytes() == before
    # a second session of the same reader (another browser tab) sees the file, not an old copy
    with pytest.raises(ValueError, match="already answered trial 1"):
        ReaderSession(study, "reader_A").answer(1, "left", 3)
    assert session.path.read_bytes() == before


def test_a_study_name_is_never_reused_for_another_design(study, images, tmp_path):
    saved = (study.path / "study.json").read_bytes()
    saved_images = (study.path / "images.npz").read_bytes()
    reopened = ReaderStudy.design("demo", *images, n_trials=12, seed=3, folder=tmp_path)
    assert reopened.trials == study.trials
    with pytest.raises(FileExistsError, match="images_sha256"):
        ReaderStudy.design("demo", images[0], images[0], n_trials=12, seed=3, folder=tmp_path)
    with pytest.raises(FileExistsError, match="seed"):
        ReaderStudy.design("demo", *images, n_trials=12, seed=4, folder=tmp_path)
    assert (study.path / "study.json").read_bytes() == saved
    assert (study.path / "images.npz").read_bytes() == saved_images
    assert json.loads(saved)["images_sha256"] == study.sha256


def test_reader_names_must_be_file_names(study):
    for bad in ("", "../x", "a/b", "x" * 65, "trailing.", "(pooled)"):
        with pytest.raises(ValueError, match="file name"):
            ReaderSession(study, bad)
    answer_truthfully(ReaderSession(study, "Anna"), 1)
    with pytest.raises(ValueError, match="case"):
        ReaderSession(study, "anna")


def test_a_line_cut_short_by_a_crash_keeps_the_earlier_answers(study):
    answer_truthfully(ReaderSession(study, "reader_A"), 3)
    path = study.answers_file("reader_A")
    with open(path, "ab") as f:
        f.write(b'{"trial": 3, "choice": "le')  # the crash
    before = path.read_bytes()
    with pytest.warns(UserWarning, match="line 4"):
        session = ReaderSession(study, "reader_A")
    with pytest.warns(UserWarning, match="cut short"):
        assert session.answered() == {0, 1, 2} and session.next_trial().id == 3
        answer_truthfully(session, 1)
        assert [a["trial"] for a in session.answers()] == [0, 1, 2, 3]
    assert path.read_bytes().startswith(before + b"\n"), "the file is only appended to; the fragment stays"


def test_a_reader_who_always_picks_the_real_side(study):
    answer_truthfully(ReaderSession(study, "reader_A"), 12, rating=2)
    (row, pooled) = study_results(study).to_dict("records")
    expected = forced_choice_accuracy([True] * 12)
    z2 = 1.959964**2
    assert row["reader"] == "reader_A" and row["kind"] == "person" and row["n"] == 12 and row["accuracy"] == 1.0
    assert row["ci_low"] == pytest.approx(12 / (12 + z2), abs=1e-6) and row["ci_high"] == pytest.approx(1.0)
    assert row["ci_low"] == pytest.approx(expected["ci_low"]) and row["mean_rating"] == 2.0
    assert pooled["reader"] == "all people (pooled)" and pooled["n"] == 12
    assert ReaderSession(study, "reader_A").next_trial() is None


def test_identical_observers_agree_perfectly_and_are_labelled_as_models(study):
    observer_answers(study, "model_1", internal_noise=0.5, seed=7)
    observer_answers(study, "model_2", internal_noise=0.5, seed=7)
    observer_answers(study, "model_3", internal_noise=0.5, seed=8)
    agreement = reader_agreement(study).set_index(["reader_a", "reader_b"])
    assert agreement.loc[("model_1", "model_2"), "kappa_choice"] == pytest.approx(1.0)
    assert agreement.loc[("model_1", "model_2"), "kappa_rating"] == pytest.approx(1.0)
    assert agreement.loc[("model_1", "model_3"), "n_common"] == 12
    answers = study.answers()
    assert answers["observer"].str.contains("model observer").all() and answers[RATING_KEY].between(1, 5).all()
    results = study_results(study)
    assert set(results["kind"]) == {"model observer"} and "all model observers (pooled)" in set(results["reader"])
    with pytest.raises(ValueError, match="given by"):
        ReaderSession(study, "model_1")  # a person cannot continue a model's answers


def test_the_noise_texture_observer_sees_smoothing(study):
    ideal = observer_answers(study, "ideal", internal_noise=0.0)
    assert ideal.accuracy()["accuracy"] == 1.0, "the smoothed copy always has less high-frequency energy"
    noisy = observer_answers(study, "noisy", internal_noise=3.0, seed=1)
    assert noisy.accuracy()["accuracy"] < 1.0
    resumed = ReaderSession(study, "half", observer="noise-texture model observer (internal noise 3, seed 1)")
    resumed.answer(0, "left", 3)
    observer_answers(study, "half", internal_noise=3.0, seed=1)  # answers the rest as one run would have
    assert [a["choice"] for a in resumed.answers()][1:] == [a["choice"] for a in noisy.answers()][1:]
