"""Chapter 08's follow-up scans as training data: each subject's tumour scanned at four visits,
for a network that forecasts the next scan from earlier ones.

Every subject has a tumour (the phantom's own random one, shrunk to a small core at the first
scan, ``START_RADIUS_MM``) that grows by a Gompertz law
(``growth``) with a rate of its own, drawn log-uniformly from ``RATE_PER_DAY``. How fast a
tumour grows is therefore not written in one scan: one prior shows a size, two priors and
the days between them show a speed. That is the chapter's question: do two priors beat one?

Visits are day 0 and three later days, ``GAP_DAYS`` apart each. Every visit is rendered on
the baseline's grid (``follow_up`` with no shift and no rotation): this stands for follow-ups
already rigidly registered to the baseline, which real scans need first (e.g. SimpleITK's
``ImageRegistrationMethod`` with a ``Euler3DTransform``); the registration is not the
subject here. The slab of ``slices_per_subject`` axial slices, 5 mm apart, is centred on the
tumour's height, so most slices hold tumour.

A ``FollowUpSlices`` is built for a list of *pairs* ``(prior visits, target visit)``, and
each of its entries is one (slice, pair): ``batch`` gives the priors and, per prior, a
constant map of the days from it to the target / 365 as ``source``, the target visit as
``target``. Pairs are interleaved (entry i is slice i // P at pair i % P), as
``inverse_problems`` interleaves settings, so the first entries of a set cover every pair.
``PAIRS`` compares one prior and two priors on the same targets with the same last prior.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from medsynth_nb.data import phantom, physics
from medsynth_nb.data.growth import Gompertz, follow_up
from medsynth_nb.data.intensity import normalize
from medsynth_nb.data.phantom_slices import check_split, split_by_subject
from medsynth_nb.data.slices import SubjectSlices
from medsynth_nb.data.tumor import TumorParams
from medsynth_nb.orientation import FOV_MM, display_slices

N_VISITS = 4
SLICE_GAP_MM = 5.0
CARRYING_ML = 100.0           # a core of 58 mm diameter: where a large glioblastoma's growth levels off
START_RADIUS_MM = (4.0, 9.0)  # the core at the first scan: small, so the visits see it grow by pixels
RATE_PER_DAY = (0.004, 0.02)  # drawn log-uniformly: a tumour's volume doubling time varies about 5-fold
GAP_DAYS = (30.0, 150.0)      # between consecutive visits
# (prior visits, target visit): both forecast visits 2 and 3 from the same last prior (visit 1).
PAIRS = {2: (((0, 1), 2), ((0, 1), 3)), 1: (((1,), 2), ((1,), 3))}


def growing_tumor_series(rng: np.random.Generator, image_size: int, slices_per_subject: int, *,
                         subject_id: str, site: str = "A") -> tuple[list[phantom.Subject], Gompertz, np.ndarray]:
    """One subject's visits, its growth law and its visit days. Draws from ``rng`` in a fixed
    order: a seed and a slab height (again, until the phantom's random tumour lies in the
    slab), the starting core radius, the growth rate, the three gaps."""
    while True:
        seed = int(rng.integers(0, 2**31))
        shape, affine = phantom.axial_grid(image_size, slices_per_subject, SLICE_GAP_MM, float(rng.uniform(5.0, 35.0)))
        baseline = phantom.make_subject(seed, shape, affine, tumor="random", site=site)
        if baseline.tumor.any():
            break
    tumor = dataclasses.replace(TumorParams(**baseline.params["tumor"]),
                                radius_mm=float(rng.uniform(*START_RADIUS_MM)))
    law = Gompertz(CARRYING_ML, float(np.exp(rng.uniform(*np.log(RATE_PER_DAY)))))
    days = np.concatenate([[0.0], np.cumsum(rng.uniform(*GAP_DAYS, size=N_VISITS - 1))])
    shape, affine = phantom.axial_grid(image_size, slices_per_subject, SLICE_GAP_MM, tumor.center_mm[2])
    visits = [follow_up(seed, shape, affine, tumor, float(day), law, visit=k, shift_mm=0.0, rotation_deg=0.0,
                        site=site) for k, day in enumerate(days)]
    for visit in visits:
        visit.subject_id = subject_id
    return visits, law, days


def _stack_series(visits: list[phantom.Subject], modality: str) -> dict[str, np.ndarray]:
    """Visits -> per-slice arrays [slices, visits, H, W] in display orientation; each visit
    normalized on its own, as every scan is (``phantom_slices``)."""
    def stack(volumes):
        return np.stack([display_slices(v) for v in volumes], 1)

    return {"images": stack([normalize(v.images[modality], modality, v.head_mask) for v in visits]),
            "clean": stack([normalize(v.clean[modality], modality, v.head_mask) for v in visits]),
            "tumor": stack([v.tumor for v in visits]), "tissue": display_slices(visits[0].tissue)}


def check_pairs(pairs, n_visits: int) -> tuple:
    """``pairs`` as a tuple of ``((prior visits...), target visit)``, or a ValueError saying
    what is wrong: every pair needs the same number of priors, in visit order, before the target."""
    pairs = tuple((tuple(int(p) for p in priors), int(target)) for priors, target in pairs)
    if not pairs:
        raise ValueError("Give at least one (prior visits, target visit) pair, e.g. ((0, 1), 2).")
    if len({len(priors) for priors, _ in pairs}) != 1:
        raise ValueError(f"All pairs need the same number of priors (one network input); got {pairs}.")
    for priors, target in pairs:
        visits = (*priors, target)
        if not priors or list(visits) != sorted(set(visits)) or visits[0] < 0 or target >= n_visits:
            raise ValueError(f"Pair {(priors, target)}: priors must be distinct earlier visits in order, and the "
                             f"target a later visit, all in 0..{n_visits - 1}.")
    return pairs


@dataclass
class FollowUpSlices(SubjectSlices):
    """Slices of several subjects at every visit, and the (priors, target) pairs to forecast."""

    images: np.ndarray        # N x V x H x W float32 in [0, 1]: each visit as acquired
    clean: np.ndarray         # N x V x H x W: the noise-free truth of each visit
    tumor: np.ndarray         # N x V x H x W uint8: each visit's labels, 0-3
    days: np.ndarray          # N x V: the day of each visit (visit 0 on day 0)
    tissue: np.ndarray        # N x H x W: visit 0's tissue codes (the head is the same at every visit)
    rate_per_day: np.ndarray  # N: the subject's growth rate, which only the phantom knows
    subject_ids: np.ndarray
    voxel_mm: tuple[float, float, float]  # pixel width, height and the slice gap
    pairs: tuple = PAIRS[2]

    per_slice = ("images", "clean", "tumor", "days", "tissue", "rate_per_day", "subject_ids")

    def __post_init__(self):
        self.pairs = check_pairs(self.pairs, self.images.shape[1])

    @property
    def n_priors(self) -> int:
        return len(self.pairs[0][0])

    @property
    def n_entries(self) -> int:
        """(slice, pair) entries: what ``batch`` indexes (``len`` counts slices)."""
        return len(self) * len(self.pairs)

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.voxel_mm)) / 1000.0

    def with_pairs(self, pairs) -> FollowUpSlices:
        """The same slices with other (priors, target) pairs."""
        return dataclasses.replace(self, pairs=pairs)

    def _locate(self, index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Slice, prior visits (E x n_priors) and target visit of the entries ``index``."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= self.n_entries):
            raise IndexError(f"Entry index out of range: this set has {self.n_entries} entries "
                             f"({len(self)} slices x {len(self.pairs)} pairs).")
        pair = index % len(self.pairs)
        priors = np.array([self.pairs[k][0] for k in pair], dtype=np.int64).reshape(len(index), self.n_priors)
        return index // len(self.pairs), priors, np.array([self.pairs[k][1] for k in pair], dtype=np.int64)

    def entries(self) -> dict[str, np.ndarray]:
        """Every entry's slice, subject, pair, last prior and target visit, the days from the
        last prior to the target (``gap_days``) and the target's day; one value per entry,
        so ``pandas.DataFrame(slices.entries())`` is a table of them."""
        row, priors, target = self._locate(np.arange(self.n_entries))
        return {"slice": row, "subject": self.subject_ids[row], "pair": np.arange(self.n_entries) % len(self.pairs),
                "last_prior": priors[:, -1], "target": target,
                "gap_days": self.days[row, target] - self.days[row, priors[:, -1]],
                "target_day": self.days[row, target]}

    def prior_visits(self) -> np.ndarray:
        """Every entry's prior visits, E x n_priors (``tumor[slice, visits]`` are their labels)."""
        return self._locate(np.arange(self.n_entries))[1]

    def batch(self, task, index) -> dict[str, torch.Tensor]:
        """Tensors for entries ``index``: ``source`` (B x 2 n_priors x H x W: the priors, then per
        prior a constant map of its days to the target / 365), ``target`` (acquired) and
        ``target_clean`` (B x 1 x H x W), ``tumor`` (the target's labels), ``tissue`` and
        ``gap_days`` (B: last prior to target). ``task`` is ignored: the pair fixes it."""
        row, priors, target = self._locate(index)
        prior_images = self.images[row[:, None], priors]
        prior_days = self.days[row[:, None], priors]
        target_day = self.days[row, target]
        years = ((target_day[:, None] - prior_days) / 365.0).astype(np.float32)
        gap_maps = np.broadcast_to(years[:, :, None, None], prior_images.shape)
        return {"source": torch.from_numpy(np.concatenate([prior_images, gap_maps], 1)),
                "target": torch.from_numpy(self.images[row, target][:, None]),
                "target_clean": torch.from_numpy(self.clean[row, target][:, None]),
                "tumor": torch.from_numpy(self.tumor[row, target][:, None]),
                "tissue": torch.from_numpy(self.tissue[row][:, None]),
                "gap_days": torch.from_numpy((target_day - prior_days[:, -1]).astype(np.float32))}

    def sample_batch(self, task, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Random entries (slice and pair); the generator makes the order reproducible."""
        return self.batch(task, torch.randint(self.n_entries, (batch_size,), generator=generator).numpy())

    def visit_slices(self) -> VisitSlices:
        """Every visit of every slice as an image of its own, with its labels (slice-major)."""
        n, v, h, w = self.images.shape
        return VisitSlices(self.images.reshape(n * v, 1, h, w), self.tumor.reshape(n * v, h, w),
                           np.repeat(self.subject_ids, v))


@dataclass
class VisitSlices(SubjectSlices):
    """Single-contrast slices with their tumour labels, in the batch format of
    ``models.LesionSegmenter`` (``images``, ``labels``): what a segmenter of the follow-ups,
    ``LesionSegmenter(in_channels=1)``, trains and validates on."""

    images: np.ndarray   # N x 1 x H x W
    labels: np.ndarray   # N x H x W uint8, 0-3
    subject_ids: np.ndarray

    per_slice = ("images", "labels", "subject_ids")

    def sample_batch(self, task, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        return {"images": torch.from_numpy(self.images[index]),
                "labels": torch.from_numpy(self.labels[index][:, None].astype(np.int64))}


@dataclass
class VisitData:
    """Train / val / test ``VisitSlices``: the engine trains a segmenter on it."""

    train: VisitSlices
    val: VisitSlices
    test: VisitSlices
    info: dict = field(default_factory=dict)


@dataclass
class LongitudinalData:
    """Train / val / test ``FollowUpSlices``, split by subject."""

    train: FollowUpSlices
    val: FollowUpSlices
    test: FollowUpSlices
    info: dict = field(default_factory=dict)

    def for_priors(self, n_priors: int, pairs=None) -> LongitudinalData:
        """The same subjects with ``PAIRS[n_priors]`` (or ``pairs``) as the entries."""
        if pairs is None:
            if n_priors not in PAIRS:
                raise ValueError(f"n_priors={n_priors}: the course's pairs are for {sorted(PAIRS)} priors; "
                                 "pass pairs=[((priors...), target), ...] for others.")
            pairs = PAIRS[n_priors]
        parts = [part.with_pairs(pairs) for part in (self.train, self.val, self.test)]
        if parts[0].n_priors != n_priors:
            raise ValueError(f"The pairs {parts[0].pairs} have {parts[0].n_priors} priors, not {n_priors}.")
        return LongitudinalData(*parts, {**self.info, "n_priors": n_priors})

    def visit_slices(self) -> VisitData:
        """Every visit as a labelled image of its own, for training a segmenter (same split)."""
        return VisitData(self.train.visit_slices(), self.val.visit_slices(), self.test.visit_slices(),
                         {**self.info, "entries": "every visit of every slice"})

    def __repr__(self) -> str:
        return (f"LongitudinalData({self.info.get('modality')}, {self.train.n_priors} priors, pairs "
                f"{list(self.train.pairs)}: train {len(self.train.subjects)} subjects/{self.train.n_entries} "
                f"entries, val {len(self.val.subjects)}/{self.val.n_entries}, test "
                f"{len(self.test.subjects)}/{self.test.n_entries}; {self.info.get('image_size')}px)")


def load_longitudinal(n_subjects: int, image_size: int, slices_per_subject: int, *, seed: int = 0,
                      modality: str = "flair", split: tuple[float, float, float] = (0.6, 0.2, 0.2),
                      progress: bool = True) -> LongitudinalData:
    """Render ``n_subjects`` subjects at ``N_VISITS`` visits each (``growing_tumor_series``) and
    split them by subject; the entries are ``PAIRS[2]`` (``for_priors(1)`` for one prior)."""
    if modality not in physics.MODALITIES:
        raise ValueError(f"Unknown modality {modality!r}; choose one of {', '.join(physics.MODALITIES)} "
                         "(FLAIR shows both the tumour and its oedema).")
    if image_size < 16 or slices_per_subject < 1:
        raise ValueError(f"image_size={image_size}, slices_per_subject={slices_per_subject}: need images of at "
                         "least 16 px (the U-Net halves them three times) and at least one slice per subject.")
    check_split(n_subjects, split)
    rng = np.random.default_rng(seed)
    parts, subjects = [], {}
    for i in tqdm(range(n_subjects), desc="follow-up series", disable=not progress, leave=False):
        sid = f"A-sub-{i:03d}"
        visits, law, days = growing_tumor_series(rng, image_size, slices_per_subject, subject_id=sid)
        part = _stack_series(visits, modality)
        part["days"] = np.tile(days, (slices_per_subject, 1))
        part["rate_per_day"] = np.full(slices_per_subject, law.rate_per_day)
        part["subject_ids"] = np.array([sid] * slices_per_subject)
        parts.append(part)
        subjects[sid] = {"seed": visits[0].params["seed"], "rate_per_day": law.rate_per_day,
                         "days": days.tolist(), "radius_mm": [v.params["tumor"]["radius_mm"] for v in visits]}
    pixel_mm = FOV_MM / image_size

    def concat(index) -> FollowUpSlices:
        cat = {key: np.concatenate([parts[i][key] for i in index]) for key in FollowUpSlices.per_slice}
        return FollowUpSlices(**cat, pairs=PAIRS[2], voxel_mm=(pixel_mm, pixel_mm, SLICE_GAP_MM))

    info = {"name": "longitudinal", "seed": seed, "modality": modality, "image_size": image_size,
            "n_subjects": n_subjects, "slices_per_subject": slices_per_subject, "n_visits": N_VISITS, "n_priors": 2,
            "growth": f"Gompertz, carrying {CARRYING_ML} ml, rate log-uniform in {RATE_PER_DAY} /day",
            "gap_days": GAP_DAYS, "registration": "follow-ups rendered on the baseline's grid (registered)",
            "subjects": subjects}
    return LongitudinalData(*(concat(index) for index in split_by_subject(n_subjects, split, rng)), info)
