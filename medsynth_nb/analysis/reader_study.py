"""Chapter 09's reader study: can experts tell a synthetic image from a real one?

Each trial shows two images of the same slice side by side, the real scan and the model's
synthetic version of it (a matched pair: the anatomy is the same, so the only difference
left to see is real against synthetic). The reader says which one is real (a two-alternative
forced choice, 2AFC: 50 % correct means the readers cannot tell them apart) and rates, on a
Likert scale from 1 to 5, how realistic the image they judged synthetic looks
(``realism_of_judged_synthetic``: 1 = obviously synthetic, 5 = could just as well be real,
the choice was a guess). When the reader is right that is the realism of the synthetic image;
when wrong, of the real one. Both ends carry information: a rating of 5 says "I was
guessing", a rating of 1 on a wrong answer says the real scan itself looked artificial.

A study is designed once (``ReaderStudy.design``): a seeded draw of slices, without
replacement, and of the side that shows the real image, balanced between left and right.
Everything lives in one folder, ``<folder>/<study name>/``: ``study.json`` (the design, with
a SHA-256 of the images, so that a study cannot silently be run again on other images) and
``images.npz`` (the images, so the study survives a kernel restart without the model), both
written once and atomically and never overwritten; and ``answers/<reader>.jsonl``, one JSON
line per answer, only ever appended to and synced to disk at once. A ``ReaderSession``
re-reads the reader's file, so a reader resumes where they stopped, in a new kernel or in a
second browser tab. A last line cut short by a crash is skipped with a warning (the trial it
held is asked again); the line stays in the file, which is never rewritten.

Readers are compared with Cohen's kappa on the trials both answered (``reader_agreement``):
accuracy alone does not say whether two readers found the *same* images suspicious. For a
chapter run without people, ``observer_answers`` lets a model observer answer: a
"noise-texture" observer that calls the image with more high-frequency energy real (real
scans carry acquisition noise, and many networks make smooth images), with Gaussian internal
noise as in the observer models of radiology. Its answers are labelled as a model's
(``observer`` in every line, ``kind`` in the tables), never as a person's.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from medsynth_nb.io import atomic_write
from medsynth_nb.metrics.reader_study import cohen_kappa, forced_choice_accuracy

DEFAULT_FOLDER = "reader_study"  # relative to the working folder, as the notebooks' other outputs
SIDES = ("left", "right")
RATINGS = (1, 2, 3, 4, 5)
RATING_KEY = "realism_of_judged_synthetic"
RATING_QUESTION = ("How realistic is the image you judge <b>synthetic</b>? 1 = obviously synthetic, "
                   "5 = it could just as well be real (your choice was a guess).")
# A reader's or study's name becomes a file or folder name: letters, digits, space, - _ . only.
_NAME = re.compile(r"\w[\w .-]{0,63}")
_REQUIRED = ("trial", "choice", "correct", RATING_KEY, "reader")


def check_name(name, what: str = "reader name") -> str:
    """``name`` if it can be used as a file name on every system, else a ValueError saying why."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith((" ", ".")):
        raise ValueError(f"{what} {name!r} cannot be a file name: use 1 to 64 letters, digits, spaces, '-', '_' or "
                         "'.', starting with a letter or digit and not ending in a space or '.', e.g. 'reader_A'.")
    return name


def images_sha256(real: np.ndarray, synthetic: np.ndarray) -> str:
    """SHA-256 of both image stacks, their shape and dtype included: the study's fingerprint."""
    digest = hashlib.sha256()
    for array in (real, synthetic):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Trial:
    """One 2AFC trial: slice ``index`` of the image stacks, the real image on ``real_side``."""

    id: int
    index: int
    real_side: str
    subject_id: str | None = None


class ReaderStudy:
    """A designed study, saved in ``<folder>/<name>/``; make one with ``design``, reopen it
    with ``open``. ``real`` and ``synthetic``: N x H x W float32; ``trials``: the design."""

    def __init__(self, folder, name: str, seed: int, trials: list[Trial], real, synthetic, subject_ids=None):
        self.folder, self.name, self.seed, self.trials = Path(folder), name, seed, trials
        self.real, self.synthetic, self.subject_ids = real, synthetic, subject_ids
        self.sha256 = images_sha256(real, synthetic)

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @classmethod
    def design(cls, name: str, real, synthetic, n_trials: int, seed: int, subject_ids=None, *,
               folder=DEFAULT_FOLDER) -> ReaderStudy:
        """Draw ``n_trials`` slices (without replacement) and the side of the real image in each
        (half left, half right; with an odd number, the odd one drawn too), both from ``seed``,
        and save the study. ``real``/``synthetic``: N x H x W, slice i of one matched with
        slice i of the other. If the study exists with the same design and images it is
        reopened; otherwise a FileExistsError says what differs and nothing is written."""
        name = check_name(name, "study name")
        real, synthetic = (np.ascontiguousarray(a, dtype=np.float32) for a in (real, synthetic))
        if real.ndim != 3 or real.shape != synthetic.shape or len(real) == 0:
            raise ValueError(f"real and synthetic must be matched N x H x W stacks of the same shape (slice i of one "
                             f"is slice i of the other); got {real.shape} and {synthetic.shape}.")
        if not 1 <= int(n_trials) <= len(real):
            raise ValueError(f"n_trials={n_trials}: each trial needs its own slice, so choose 1 to {len(real)}.")
        if subject_ids is not None:
            subject_ids = [str(s) for s in subject_ids]
            if len(subject_ids) != len(real):
                raise ValueError(f"subject_ids has {len(subject_ids)} entries; give one per slice ({len(real)}).")
        rng = np.random.default_rng(seed)
        indices = rng.choice(len(real), int(n_trials), replace=False)
        sides = list(SIDES) * (int(n_trials) // 2) + ([str(rng.choice(SIDES))] if n_trials % 2 else [])
        sides = rng.permutation(sides)
        trials = [Trial(i, int(index), str(side), subject_ids[index] if subject_ids else None)
                  for i, (index, side) in enumerate(zip(indices, sides))]
        study = cls(folder, name, int(seed), trials, real, synthetic, subject_ids)
        study._save()
        return study

    def _design_record(self) -> dict:
        return {"name": self.name, "seed": self.seed, "n_trials": self.n_trials, "n_images": len(self.real),
                "image_shape": list(self.real.shape[1:]), "images_sha256": self.sha256,
                "subject_ids": self.subject_ids, "trials": [asdict(t) for t in self.trials]}

    def _save(self) -> None:
        record = json.loads(json.dumps(self._design_record()))
        study_file = self.path / "study.json"
        if study_file.exists():
            saved = json.loads(study_file.read_text())
            differing = [key for key in record if saved.get(key) != record[key]]
            if differing:
                raise FileExistsError(
                    f"A reader study named {self.name!r} already exists in {self.folder} with another design "
                    f"(different {', '.join(differing)}); its answers are kept. Choose another study name, or "
                    f"continue that study with ReaderStudy.open({str(self.folder)!r}, {self.name!r}).")
            return
        (self.path / "answers").mkdir(parents=True, exist_ok=True)

        def write_images(tmp):
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a bare path
                np.savez_compressed(f, real=self.real, synthetic=self.synthetic)

        # images first: study.json is written last, so its presence means the study is complete
        atomic_write(self.path / "images.npz", write_images)
        record["created"] = datetime.now().astimezone().isoformat(timespec="seconds")
        atomic_write(study_file, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)))

    @classmethod
    def open(cls, folder, name: str) -> ReaderStudy:
        """Reopen the study saved in ``<folder>/<name>/`` (after a kernel restart, on another day)."""
        path = Path(folder) / check_name(name, "study name")
        if not (path / "study.json").exists():
            found = sorted(p.parent.name for p in Path(folder).glob("*/study.json"))
            raise FileNotFoundError(f"No reader study {name!r} in {Path(folder).resolve()}; studies there: "
                                    f"{found or 'none'}. Check the folder and name, or design the study first.")
        record = json.loads((path / "study.json").read_text())
        with np.load(path / "images.npz") as images:
            real, synthetic = images["real"], images["synthetic"]
        study = cls(folder, record["name"], record["seed"], [Trial(**t) for t in record["trials"]], real, synthetic,
                    record["subject_ids"])
        if study.sha256 != record["images_sha256"]:
            raise ValueError(f"{path / 'images.npz'} does not hold the images this study was designed with (SHA-256 "
                             "differs): the file was changed or replaced. Restore it from a backup.")
        return study

    def pair(self, trial_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The (left, right) images of trial ``trial_id``."""
        trial = self.trials[trial_id]
        real, synthetic = self.real[trial.index], self.synthetic[trial.index]
        return (real, synthetic) if trial.real_side == "left" else (synthetic, real)

    def answers_file(self, reader: str) -> Path:
        return self.path / "answers" / f"{check_name(reader)}.jsonl"

    def readers(self) -> list[str]:
        """Everyone (people and model observers) with an answers file."""
        return sorted(p.stem for p in (self.path / "answers").glob("*.jsonl"))

    def answers(self) -> pd.DataFrame:
        """Every answer of every reader, one row each, with its trial's slice and real side."""
        rows = [a for reader in self.readers() for a in read_answers(self.answers_file(reader))]
        columns = ["trial", "choice", "correct", RATING_KEY, "reader", "observer", "time"]
        frame = pd.DataFrame(rows, columns=columns)
        design = pd.DataFrame([asdict(t) for t in self.trials]).rename(columns={"id": "trial"})
        return frame.merge(design, on="trial", how="left")


def read_answers(path: Path) -> list[dict]:
    """The answers in one reader's file, in order. A line that is not a complete answer (a
    crash while it was written) and a second answer to a trial are skipped with a warning:
    the earlier answers are all kept, and the skipped trial is asked again."""
    if not path.exists():
        return []
    answers, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            answer = json.loads(line)
            if not all(key in answer for key in _REQUIRED):
                raise ValueError("missing fields")
        except ValueError:
            warnings.warn(f"{path}, line {number}: not a complete answer (probably cut short by a crash while it was "
                          f"written); skipped, the answers before and after it are kept: {line[:60]!r}", stacklevel=3)
            continue
        if answer["trial"] in seen:
            warnings.warn(f"{path}, line {number}: trial {answer['trial']} was answered before; the first answer "
                          "counts.", stacklevel=3)
            continue
        seen.add(answer["trial"])
        answers.append(answer)
    return answers


class ReaderSession:
    """One reader working through a study. Everything is read from and appended to the
    reader's answers file, so a new session (after a restart) continues where the last one
    stopped. ``observer``: None for a person; a model observer's description otherwise,
    written into every answer."""

    def __init__(self, study: ReaderStudy, reader: str, observer: str | None = None):
        self.study, self.reader, self.observer = study, check_name(reader), observer
        # One file per reader even where file names ignore case (macOS, Windows): "Anna" is not "anna".
        for other in study.readers():
            if other.lower() == reader.lower() and other != reader:
                raise ValueError(f"Reader {other!r} already has answers in this study; {reader!r} differs only in "
                                 f"case. Use {other!r} to continue those answers, or a clearly different name.")
        given_by = {a.get("observer") for a in self.answers()}
        if given_by and given_by != {observer}:
            raise ValueError(f"The answers of {reader!r} were given by {given_by.pop() or 'a person'}, not by "
                             f"{observer or 'a person'}; choose another reader name.")

    @property
    def path(self) -> Path:
        return self.study.answers_file(self.reader)

    def answers(self) -> list[dict]:
        return read_answers(self.path)

    def answered(self) -> set[int]:
        return {a["trial"] for a in self.answers()}

    def next_trial(self) -> Trial | None:
        """The first trial this reader has not answered; None when all are."""
        answered = self.answered()
        return next((t for t in self.study.trials if t.id not in answered), None)

    def answer(self, trial_id: int, choice: str, rating: int) -> dict:
        """Record that the reader called the image on side ``choice`` real and rated the other
        one's realism ``rating`` (1..5). Appended and synced to disk before this returns; a
        wrong input or a trial already answered raises a ValueError and writes nothing."""
        n = self.study.n_trials
        if not isinstance(trial_id, (int, np.integer)) or isinstance(trial_id, bool) or not 0 <= trial_id < n:
            raise ValueError(f"trial {trial_id!r} is not in this study: trials are numbered 0 to {n - 1}.")
        if choice not in SIDES:
            raise ValueError(f"choice {choice!r}: say which side shows the real image, 'left' or 'right'.")
        if not isinstance(rating, (int, np.integer)) or isinstance(rating, bool) or rating not in RATINGS:
            raise ValueError(f"rating {rating!r}: give a whole number from 1 (obviously synthetic) to 5 "
                             "(could be real).")
        if int(trial_id) in self.answered():
            raise ValueError(f"{self.reader} has already answered trial {trial_id}; answers are never changed. "
                             f"The next open trial is {getattr(self.next_trial(), 'id', 'none (all answered)')}.")
        trial = self.study.trials[int(trial_id)]
        record = {"trial": trial.id, "choice": choice, "correct": choice == trial.real_side, RATING_KEY: int(rating),
                  "reader": self.reader, "observer": self.observer,
                  "time": datetime.now().astimezone().isoformat(timespec="seconds")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a crash left half a line: end it, so this answer gets a line of its own
                    f.write(b"\n")
            f.write((json.dumps(record) + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        return record

    def accuracy(self) -> dict[str, float]:
        """This reader's fraction correct with its Wilson 95 % interval (``forced_choice_accuracy``)."""
        return forced_choice_accuracy([a["correct"] for a in self.answers()])


def _summary(reader: str, kind: str, answers: pd.DataFrame) -> dict:
    return {"reader": reader, "kind": kind, **forced_choice_accuracy(answers["correct"].to_numpy(bool)),
            "mean_rating": float(answers[RATING_KEY].mean())}


def study_results(study: ReaderStudy) -> pd.DataFrame:
    """One row per reader (accuracy, Wilson 95 % interval, n, mean ``realism_of_judged_synthetic``)
    and one pooling all people and one pooling all model observers. The pooled interval
    treats every answer as independent; readers share trials, so it is too narrow when the
    readers agree on which images give themselves away (see ``reader_agreement``)."""
    answers = study.answers()
    columns = ["reader", "kind", "n", "accuracy", "ci_low", "ci_high", "mean_rating"]
    if answers.empty:
        return pd.DataFrame(columns=columns)
    answers["kind"] = np.where(answers["observer"].isna(), "person", "model observer")
    rows = [_summary(reader, group["kind"].iloc[0], group) for reader, group in answers.groupby("reader")]
    for kind, group in answers.groupby("kind"):
        rows.append(_summary(f"all {'people' if kind == 'person' else 'model observers'} (pooled)", kind, group))
    return pd.DataFrame(rows)[columns]


def reader_agreement(study: ReaderStudy) -> pd.DataFrame:
    """Cohen's kappa of every pair of readers on the trials both answered: on the choice
    (left/right) and on the rating (unweighted: a 4 against a 5 counts as disagreement as
    much as a 1 against a 5). NaN where the pair shares no trial or chance explains all."""
    answers = study.answers()
    rows = []
    for first, second in combinations(sorted(answers["reader"].unique()), 2):
        both = answers[answers["reader"] == first].merge(answers[answers["reader"] == second], on="trial")
        kappas = ([cohen_kappa(both[f"{key}_x"], both[f"{key}_y"]) for key in ("choice", RATING_KEY)]
                  if len(both) else [np.nan, np.nan])
        rows.append({"reader_a": first, "reader_b": second, "n_common": len(both), "kappa_choice": kappas[0],
                     "kappa_rating": kappas[1]})
    return pd.DataFrame(rows, columns=["reader_a", "reader_b", "n_common", "kappa_choice", "kappa_rating"])


def high_frequency_energy(image: np.ndarray) -> float:
    """The noise-texture observer's look at one image: log of the variance of its Laplacian
    (the 1-pixel border left out: the filter sees beyond the image there). Noise and fine
    texture make it large, smoothing makes it small; the log makes it independent of the
    image's intensity scale."""
    laplacian = ndimage.laplace(np.asarray(image, np.float64))[1:-1, 1:-1]
    return float(np.log(laplacian.var() + 1e-12))


# Realism ratings from the observer's margin (in units of the decision variable's spread):
# a margin under 0.25 is a guess (5, "could be real"), above 2 a clear call (1).
MARGIN_EDGES = (0.25, 0.5, 1.0, 2.0)


def observer_answers(study: ReaderStudy, reader: str, internal_noise: float = 1.0, seed: int = 0) -> ReaderSession:
    """Let a noise-texture model observer answer every trial ``reader`` has not answered yet.

    Its decision variable is ``high_frequency_energy(left) - high_frequency_energy(right)``
    plus Gaussian internal noise; positive means "left is real". The noise's standard
    deviation is ``internal_noise`` times the spread (root mean square) of the decision
    variable over the study's trials: 0 is an ideal observer of this feature, 1 one whose
    own noise is as large as the typical difference it looks at. The rating falls as the
    margin grows (``MARGIN_EDGES``). The noise is drawn per trial from ``seed``, so
    resuming gives the answers one run would have given. Answers go through a
    ``ReaderSession`` labelled as this model observer."""
    if not internal_noise >= 0:
        raise ValueError(f"internal_noise={internal_noise}: give a standard deviation >= 0 (in units of the spread).")
    label = f"noise-texture model observer (internal noise {internal_noise:g}, seed {seed})"
    session = ReaderSession(study, reader, observer=label)
    signal = np.array([high_frequency_energy(left) - high_frequency_energy(right)
                       for left, right in map(study.pair, range(study.n_trials))])
    spread = float(np.sqrt(np.mean(signal**2))) or 1.0  # identical images: no signal, unit spread
    decision = signal / spread + internal_noise * np.random.default_rng(seed).standard_normal(study.n_trials)
    answered = session.answered()
    for trial in study.trials:
        if trial.id not in answered:
            rating = 5 - int(np.searchsorted(MARGIN_EDGES, abs(decision[trial.id])))
            session.answer(trial.id, "left" if decision[trial.id] > 0 else "right", rating)
    return session
