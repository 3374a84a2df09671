"""``ReaderStudyWidget`` (chapter 09): a clinician answers a reader study without code."""
from __future__ import annotations

import html

import ipywidgets as W

from medsynth_nb.analysis.reader_study import RATING_QUESTION, RATINGS, ReaderSession, ReaderStudy
from medsynth_nb.viz.evaluation import trial_pair
from medsynth_nb.widgets import common


class ReaderStudyWidget(W.VBox):
    """One reader's side of a ``ReaderStudy``: type your name (or it is given as ``reader``),
    then for each trial rate how realistic the image you judge synthetic looks (1 to 5) and
    click "Left is real" or "Right is real". Each answer is saved the moment it is given
    (``ReaderSession``), so closing the notebook or restarting the kernel loses nothing and
    the same name resumes at the first open trial. Neither the images nor the progress line
    hint at which image is real; the reader's accuracy is shown only after the last trial,
    so that feedback cannot train the reader during the study.

    CSS classes for browser tests: ``medsynth-reader`` (the widget), ``-name``, ``-start``,
    ``-image``, ``-rating``, ``-left``, ``-right``, ``-progress``, ``-status``.
    """

    def __init__(self, study: ReaderStudy, reader: str | None = None):
        self.study, self.session, self.trial = study, None, None
        self.name = W.Text(value=reader or "", description="reader", placeholder="your name, e.g. reader_A")
        self.start = W.Button(description="Start / resume", button_style="primary")
        self.figure = W.Output()
        self.rating = W.ToggleButtons(options=[(str(r), r) for r in RATINGS], value=None,
                                      tooltips=["obviously synthetic", "", "", "", "could be real"],
                                      style={"button_width": "40px"})
        self.left = W.Button(description="Left is real", icon="arrow-left")
        self.right = W.Button(description="Right is real", icon="arrow-right")
        self.progress = W.HTML()
        self.status = W.HTML()
        for control, part in ((self.name, "name"), (self.start, "start"), (self.figure, "image"),
                              (self.rating, "rating"), (self.left, "left"), (self.right, "right"),
                              (self.progress, "progress"), (self.status, "status")):
            control.add_class(f"medsynth-reader-{part}")
        self.start.on_click(lambda _: self.begin(self.name.value.strip()))
        self.left.on_click(lambda _: self.choose("left"))
        self.right.on_click(lambda _: self.choose("right"))
        question = W.HTML(f"1. {RATING_QUESTION}<br>2. Then click the image you think is <b>real</b>.")
        self.answer_box = W.VBox([question, self.rating, W.HBox([self.left, self.right])])
        super().__init__([W.HBox([self.name, self.start]), self.progress, self.figure, self.answer_box,
                          self.status])
        self.add_class("medsynth-reader")
        self._enable(False)
        if reader is not None:
            self.begin(reader)
        else:
            self._say("Type your name and click <b>Start / resume</b>. Your answers are saved under this name.")

    def _say(self, text: str) -> None:
        self.status.value = text

    def _enable(self, on: bool) -> None:
        for control in (self.rating, self.left, self.right):
            control.disabled = not on

    def begin(self, reader: str) -> None:
        """Start (or resume) the study as ``reader``."""
        try:
            self.session = ReaderSession(self.study, reader)
        except ValueError as err:  # a name that cannot be a file name, or another reader's
            self._say(f"<span style='color:#b00'>{html.escape(str(err), quote=False)}</span>")
            return
        self.name.disabled = self.start.disabled = True
        self._show_next()

    def choose(self, side: str) -> None:
        """The reader clicked "<side> is real"; needs a rating first."""
        if self.session is None or self.trial is None:
            self._say("Type your name and click <b>Start / resume</b> first.")
            return
        if self.rating.value is None:
            self._say("<span style='color:#b00'>First rate how realistic the image you judge synthetic looks "
                      "(1 to 5), then click again.</span> Nothing was saved yet.")
            return
        try:
            self.session.answer(self.trial.id, side, self.rating.value)
        except ValueError as err:  # e.g. answered meanwhile in another tab: move on to the next open trial
            self._say(f"<span style='color:#b00'>{html.escape(str(err), quote=False)}</span>")
        else:
            self._say("Saved.")
        self.rating.value = None
        self._show_next()

    def _show_next(self) -> None:
        self.trial = self.session.next_trial()
        n = self.study.n_trials
        if self.trial is None:
            self._finish()
            return
        k = len(self.session.answered()) + 1
        self.progress.value = f"<b>{html.escape(self.session.reader)}</b>: trial {k} of {n}"
        common.show_figure(self.figure, trial_pair(*self.study.pair(self.trial.id)))
        self._enable(True)

    def _finish(self) -> None:
        self._enable(False)
        self.figure.clear_output()
        result = self.session.accuracy()
        self.progress.value = f"<b>{html.escape(self.session.reader)}</b>: all {self.study.n_trials} trials answered."
        self._say(f"Thank you. You picked the real image in {round(result['accuracy'] * result['n'])} of "
                  f"{result['n']} trials: accuracy {result['accuracy']:.0%} (95 % interval {result['ci_low']:.0%} to "
                  f"{result['ci_high']:.0%}). 50 % is guessing; an interval containing 50 % means these trials cannot "
                  "show that you can tell the synthetic images from the real ones.")
