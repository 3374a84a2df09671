"""Chapter 09's reader-study widget in this process: buttons are pressed with
``Button.click()``; redraws are observed through ``widgets.common.show_figure``."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from medsynth_nb.analysis.reader_study import RATING_KEY, ReaderSession, ReaderStudy
from medsynth_nb.widgets import common
from medsynth_nb.widgets.reader_study import ReaderStudyWidget


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(0)
    real = rng.random((6, 16, 16)).astype(np.float32)
    return ReaderStudy.design("widget_demo", real, 0.5 * real + 0.25, n_trials=4, seed=1, folder=tmp_path)


@pytest.fixture
def drawn(monkeypatch):
    """The axis titles of every figure the widget shows."""
    shown = []

    def record(out, fig):
        shown.append([ax.get_title() for ax in fig.axes])
        plt.close(fig)

    monkeypatch.setattr(common, "show_figure", record)
    return shown


def lines(study, reader):
    path = study.answers_file(reader)
    return path.read_text().splitlines() if path.exists() else []


def test_a_rated_click_saves_one_answer_and_shows_the_next_trial(study, drawn):
    widget = ReaderStudyWidget(study, reader="reader_A")
    assert "trial 1 of 4" in widget.progress.value and drawn == [["left", "right"]]
    trial = study.trials[0]
    widget.rating.value = 2
    (widget.left if trial.real_side == "left" else widget.right).click()
    (answer,) = ReaderSession(study, "reader_A").answers()
    assert answer["trial"] == 0 and answer["correct"] and answer[RATING_KEY] == 2 and answer["observer"] is None
    assert "trial 2 of 4" in widget.progress.value and len(drawn) == 2
    assert widget.rating.value is None, "each trial is rated afresh"
    assert "accuracy" not in widget.status.value, "no feedback during the study"


def test_a_click_without_a_rating_asks_for_one_and_saves_nothing(study, drawn):
    widget = ReaderStudyWidget(study, reader="reader_A")
    widget.right.click()
    assert "rate" in widget.status.value and "Nothing was saved" in widget.status.value
    assert lines(study, "reader_A") == [] and "trial 1 of 4" in widget.progress.value and len(drawn) == 1


def test_the_widget_resumes_and_gives_feedback_only_at_the_end(study, drawn):
    session = ReaderSession(study, "reader_A")
    session.answer(0, study.trials[0].real_side, 3)
    widget = ReaderStudyWidget(study, reader="reader_A")  # e.g. after a kernel restart
    assert "trial 2 of 4" in widget.progress.value
    for trial in study.trials[1:]:
        widget.rating.value = 4
        widget.left.click()
    assert len(lines(study, "reader_A")) == 4 and "all 4 trials answered" in widget.progress.value
    expected = sum(t.real_side == "left" for t in study.trials[1:]) + 1
    assert f"in {expected} of 4 trials" in widget.status.value and "95 % interval" in widget.status.value
    assert widget.left.disabled and widget.right.disabled and widget.rating.disabled
    widget.left.click()  # a stray click after the end writes nothing
    assert len(lines(study, "reader_A")) == 4


def test_the_reader_types_a_name_and_a_bad_one_is_explained(study, drawn):
    widget = ReaderStudyWidget(study)
    assert widget.left.disabled and drawn == []
    widget.name.value = "../reader"
    widget.start.click()
    assert "file name" in widget.status.value and widget.session is None and widget.left.disabled
    widget.name.value = "Dr Lee"
    widget.start.click()
    assert widget.name.disabled and "trial 1 of 4" in widget.progress.value and len(drawn) == 1
    widget.rating.value = 5
    widget.right.click()
    assert len(lines(study, "Dr Lee")) == 1


def test_css_classes_for_browser_tests(study, drawn):
    widget = ReaderStudyWidget(study, reader="reader_A")
    assert "medsynth-reader" in widget._dom_classes
    for control, part in ((widget.left, "left"), (widget.right, "right"), (widget.rating, "rating"),
                          (widget.figure, "image"), (widget.progress, "progress"), (widget.start, "start")):
        assert f"medsynth-reader-{part}" in control._dom_classes
