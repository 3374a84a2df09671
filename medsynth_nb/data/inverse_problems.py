"""Chapter 07's data: phantom slices as a scanner would measure them with less — fewer
k-space lines, fewer CT views, a lower PET dose — beside what a full measurement gives.

Every entry of a ``MeasuredSlices`` is one (slice, setting) pair: the simplest
reconstruction of the reduced measurement (zero-filled inverse FFT, filtered
back-projection, the low-count image) is the network's ``source``, the full measurement
its ``target``. Settings are interleaved (entry i is slice i // S at setting i % S), so
the first entries of a set cover every setting and the engine's validation sees them all.

The three problems and their truths:

- ``"mri"``: T2w k-space undersampled at each acceleration, measured without noise: the
  only thing missing is lines, so data consistency can be exact. The truth is the
  noise-free T2w (the phantom's; a scanner's "fully sampled" image would carry its noise).
- ``"ct"``: parallel-beam projections of the acquired CT (its noise included) at each
  number of views; the truth is the noise-free CT.
- ``"pet"``: Poisson counts at each dose fraction; the truth is the noise-free activity,
  which only a phantom has. 100 % is the phantom's own PET statistics (``pet_counts_per_unit``).

A ``guide`` modality (the T1w of the same slice) can be added as a second input channel:
MRI as side information for CT and PET (DDMM-Synth, STFNet).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import torch

from medsynth_nb.data.measurement import ParallelBeamCT, UndersampledMRI, low_dose
from medsynth_nb.data.slices import SliceSet, SubjectSlices, SynthesisData

# What is reduced, its default levels (most -> least measured), which modality is measured, and
# whether a larger setting measures more (views, dose) or less (acceleration).
PROBLEMS = {
    "mri": {"setting": "acceleration", "settings": (4, 8), "modality": "t2", "larger_measures_more": False},
    "ct": {"setting": "views", "settings": (180, 60, 30, 15), "modality": "ct", "larger_measures_more": True},
    "pet": {"setting": "dose", "settings": (1.0, 0.25, 0.1, 0.05, 0.01), "modality": "pet",
            "larger_measures_more": True},
}


def most_measured_first(problem: str, settings) -> list:
    """``settings`` of ``problem`` from the fullest measurement to the sparsest (4x before 8x,
    180 views before 30, 100 % dose before 1 %)."""
    return sorted(settings, reverse=PROBLEMS[problem]["larger_measures_more"])


def setting_column(table) -> tuple[str, str]:
    """The problem of a table with one row per setting, and the name of its setting column."""
    for problem, spec in PROBLEMS.items():
        if spec["setting"] in table.columns:
            return problem, spec["setting"]
    raise ValueError(f"No setting column ({', '.join(p['setting'] for p in PROBLEMS.values())}) in this table; "
                     f"it has {list(table.columns)}.")


@lru_cache(maxsize=16)
def mri_operator(width: int, acceleration: float) -> UndersampledMRI:
    """The course's Cartesian undersampling at ``acceleration`` (8 % fully sampled centre)."""
    return UndersampledMRI.accelerated(width, acceleration)


def pet_counts_per_unit(slices: SliceSet) -> float:
    """Expected counts per unit of normalised PET at full dose, estimated from the phantom's
    own acquisition: for Poisson counts var(acquired - clean) = clean / counts, so
    counts = sum(clean) / sum((acquired - clean)^2) inside the head."""
    head = slices.tissue > 0
    clean, acquired = slices.clean["pet"][head].astype(np.float64), slices.images["pet"][head].astype(np.float64)
    return float(clean.sum() / np.square(acquired - clean).sum())


def _check_problem(problem: str) -> dict:
    if problem not in PROBLEMS:
        raise ValueError(f"Unknown problem {problem!r}; choose one of {', '.join(PROBLEMS)}.")
    return PROBLEMS[problem]


def _naive(problem: str, images: np.ndarray, setting, counts: float, seed: int) -> np.ndarray:
    """The simplest reconstruction of ``images`` (N x H x W) measured at ``setting``."""
    images = torch.from_numpy(np.ascontiguousarray(images[:, None]))
    if problem == "mri":
        operator = mri_operator(images.shape[-1], setting)
        return operator.zero_filled(operator.forward(images))[:, 0].numpy()
    if problem == "ct":
        return ParallelBeamCT(int(setting), images.shape[-1]).fbp_of(images)[:, 0].numpy()
    return low_dose(images, float(setting), full_dose_counts=counts, seed=seed)[:, 0].numpy()


@dataclass
class MeasuredSlices(SubjectSlices):
    """One entry per (slice, setting): ``source`` N x C x H x W (the naive reconstruction,
    then the guide if any), ``truth`` N x H x W, ``setting`` N."""

    source: np.ndarray
    truth: np.ndarray
    setting: np.ndarray
    tissue: np.ndarray
    tumor: np.ndarray
    subject_ids: np.ndarray
    problem: str = "mri"
    guide: str | None = None
    info: dict = field(default_factory=dict)

    per_slice = ("source", "truth", "setting", "tissue", "tumor", "subject_ids")

    @property
    def settings(self) -> list:
        return most_measured_first(self.problem, set(self.setting.tolist()))

    @property
    def modality(self) -> str:
        return PROBLEMS[self.problem]["modality"]

    def at(self, setting) -> MeasuredSlices:
        """The entries measured at one ``setting`` (e.g. acceleration 8)."""
        if setting not in self.settings:
            raise ValueError(f"No entries at {PROBLEMS[self.problem]['setting']} {setting}; this set has "
                             f"{self.settings}.")
        return self.select(np.flatnonzero(self.setting == setting))

    def batch(self, task, index) -> dict[str, torch.Tensor]:
        """Tensors for entries ``index``: ``source``, ``target``, ``tissue``, ``tumor``,
        ``setting`` and, for MRI, ``lines`` (B x W, each entry's measured k-space columns).
        ``task`` is ignored: the problem fixes what is measured."""
        index = np.asarray(index)
        out = {"source": torch.from_numpy(self.source[index]),
               "target": torch.from_numpy(self.truth[index][:, None]),
               "tissue": torch.from_numpy(self.tissue[index][:, None]),
               "tumor": torch.from_numpy(self.tumor[index][:, None]),
               "setting": torch.from_numpy(self.setting[index].astype(np.float32))}
        if self.problem == "mri":
            width = self.truth.shape[-1]
            out["lines"] = torch.stack([mri_operator(width, float(r)).mask for r in self.setting[index]])
        return out

    def sample_batch(self, task, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        return self.batch(task, index)


def measure_slices(slices: SliceSet, problem: str, settings=None, *, guide: str | None = None,
                   counts: float | None = None, seed: int = 0) -> MeasuredSlices:
    """``slices`` measured at every setting of ``problem`` (defaults: ``PROBLEMS``)."""
    spec = _check_problem(problem)
    settings = tuple(settings or spec["settings"])
    if guide is not None and guide not in slices.images:
        raise ValueError(f"No guide modality {guide!r} in these slices; they hold {sorted(slices.images)}.")
    modality = spec["modality"]
    truth = slices.clean[modality].astype(np.float32)
    measured = slices.images[modality] if problem == "ct" else truth  # CT: the scanner's noise is in its image
    counts = counts or (pet_counts_per_unit(slices) if problem == "pet" else 0.0)
    naive = np.stack([_naive(problem, measured, s, counts, seed + k) for k, s in enumerate(settings)], 1)
    n, n_settings = len(slices), len(settings)
    repeat = np.repeat(np.arange(n), n_settings)  # entry i: slice i // S at setting i % S
    channels = [naive.reshape(n * n_settings, *truth.shape[1:])]
    if guide is not None:
        channels.append(slices.images[guide][repeat])
    return MeasuredSlices(np.stack(channels, 1).astype(np.float32), truth[repeat],
                          np.tile(np.asarray(settings, dtype=np.float64), n), slices.tissue[repeat],
                          slices.tumor[repeat], slices.subject_ids[repeat], problem, guide,
                          {"counts_per_unit": counts} if problem == "pet" else {})


@dataclass
class InverseProblemData:
    """Train / val / test ``MeasuredSlices`` of one problem, split by subject as the
    ``SynthesisData`` they were measured from: the engine trains on it as on any dataset."""

    train: MeasuredSlices
    val: MeasuredSlices
    test: MeasuredSlices
    info: dict = field(default_factory=dict)

    def without_guide(self) -> InverseProblemData:
        """The same entries with the guide channel dropped: the unguided arm of a comparison."""
        parts = (replace(part, source=part.source[:, :1], guide=None) for part in (self.train, self.val, self.test))
        return InverseProblemData(*parts, {**self.info, "guide": None})

    def __repr__(self) -> str:
        spec = PROBLEMS[self.train.problem]
        return (f"InverseProblemData({self.train.problem}: {spec['setting']} {list(self.test.settings)}, guide "
                f"{self.train.guide}; train {len(self.train.subjects)} subjects/{len(self.train)} entries, val "
                f"{len(self.val.subjects)}/{len(self.val)}, test {len(self.test.subjects)}/{len(self.test)})")


def load_inverse_problem(data: SynthesisData, problem: str, settings=None, *, guide: str | None = None,
                         healthy_training: bool = True, seed: int = 0) -> InverseProblemData:
    """``data`` measured as ``problem``. With ``healthy_training`` (the default) training and
    validation keep only tumour-free slices, so every test tumour is a lesion no network has
    seen: the hallucination test. PET's full-dose counts come from the training slices."""
    train, val = (data.train.tumor_free(), data.val.tumor_free()) if healthy_training else (data.train, data.val)
    counts = pet_counts_per_unit(data.train) if problem == "pet" else None
    parts = [measure_slices(part, problem, settings, guide=guide, counts=counts, seed=seed + 1000 * i)
             for i, part in enumerate((train, val, data.test))]
    return InverseProblemData(*parts, {**data.info, "problem": problem, "guide": guide,
                                       "training": "tumour-free slices only" if healthy_training else "all slices"})
