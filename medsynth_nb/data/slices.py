"""Slice sets: the containers every chapter trains and evaluates on.

- ``SubjectSlices``: the selection by index and by subject that the slice containers share;
- ``SliceSet``: axial slices of several subjects, every modality as an array
  ``[slices, H, W]`` in [0, 1], with the subject of each slice, its tumor labels and head mask;
- ``UnpairedSlices``: two slice sets from disjoint subjects (CycleGAN's domains);
- ``SynthesisData``: train / val / test slice sets, split by subject."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from medsynth_nb.tasks import Task, parse_task

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; annotations are not evaluated at run time


def _take(value, index):
    """``value`` (an array with one entry per slice, a dict of such arrays, or None) at ``index``."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: v[index] for k, v in value.items()}
    return value[index]


class SubjectSlices:
    """Mixin of the slice dataclasses: ``per_slice`` names the fields with one entry per
    slice (selected together); ``subject_ids`` holds each slice's subject. Other fields are
    kept as they are by ``select``."""

    per_slice: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.subject_ids)

    @property
    def subjects(self) -> list[str]:
        return sorted(set(self.subject_ids.tolist()))

    def select(self, index) -> Self:
        """The slices ``index`` (positions or a boolean mask)."""
        index = np.asarray(index)
        return dataclasses.replace(self, **{name: _take(getattr(self, name), index) for name in self.per_slice})

    def by_subjects(self, subject_ids) -> Self:
        return self.select(np.flatnonzero(np.isin(self.subject_ids, list(subject_ids))))


@dataclass
class SliceSet(SubjectSlices):
    """Normalised 2-D slices (N x H x W per modality) with their labels and subjects."""

    images: dict[str, np.ndarray]   # acquired: what a scanner gives
    clean: dict[str, np.ndarray]    # the tissue contrast alone: no receive field, blur or noise
    tissue: np.ndarray
    tumor: np.ndarray
    subject_ids: np.ndarray
    # The acquisition without its noise (receive field and blur kept), on the acquired
    # images' scale: what a perfect synthesiser would predict, so scoring it against
    # ``images`` gives a task's ceiling. None where it is unknown (real scans).
    noise_free: dict[str, np.ndarray] | None = None

    per_slice = ("images", "clean", "tissue", "tumor", "subject_ids", "noise_free")

    @property
    def subjects_with_tumor(self) -> list[str]:
        return sorted(set(self.subject_ids[self.tumor.reshape(len(self), -1).any(1)].tolist()))

    def largest_lesion(self) -> tuple[int, int | None]:
        """Index of the slice with the largest tumour, and the image row through its
        centre (None when no slice has a tumour): where to look at a lesion."""
        i = int(self.tumor.reshape(len(self), -1).astype(bool).sum(1).argmax())
        rows = (self.tumor[i] > 0).any(1).nonzero()[0]
        return i, (int(rows.mean()) if len(rows) else None)

    def tumor_free(self) -> SliceSet:
        """The slices without any tumour label (where two domains' prevalence can't matter)."""
        return self.select(np.flatnonzero(~self.tumor.reshape(len(self), -1).any(1)))

    def halves(self, seed: int = 0) -> tuple[SliceSet, SliceSet]:
        """Two sets with disjoint subjects, for unpaired training (domain A images come
        from other people than domain B images, as in real unpaired data)."""
        subjects = np.random.default_rng(seed).permutation(self.subjects)
        half = len(subjects) // 2
        return self.by_subjects(subjects[:half]), self.by_subjects(subjects[half:])

    def batch(self, task: str | Task, index) -> dict[str, torch.Tensor]:
        """Tensors for slices ``index``: ``source`` (B x n_sources x H x W), ``target``
        (acquired, B x 1 x H x W), ``target_clean``, ``tissue`` and ``tumor``."""
        task = parse_task(task)
        index = np.asarray(index)
        missing = [m for m in (*task.sources, task.target) if m not in self.images]
        if missing:
            raise KeyError(f"This dataset has no {missing}; it holds {sorted(self.images)}.")
        return {
            "source": torch.from_numpy(np.stack([self.images[m][index] for m in task.sources], 1)),
            "target": torch.from_numpy(self.images[task.target][index][:, None]),
            "target_clean": torch.from_numpy(self.clean[task.target][index][:, None]),
            "tissue": torch.from_numpy(self.tissue[index][:, None]),
            "tumor": torch.from_numpy(self.tumor[index][:, None]),
        }

    def sample_batch(self, task: str | Task, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A random training batch; the generator makes the order reproducible."""
        index = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        return self.batch(task, index)


@dataclass
class UnpairedSlices:
    """Training view for unpaired methods (CycleGAN): each batch's sources come from one
    group of subjects and its targets from another, disjoint group, as with real
    unpaired data. Same ``sample_batch`` as a SliceSet, so the engine trains either."""

    source_set: SliceSet
    target_set: SliceSet

    def __post_init__(self):
        shared = set(self.source_set.subjects) & set(self.target_set.subjects)
        if shared:
            raise ValueError(f"Unpaired sets must not share subjects; both hold {sorted(shared)[:3]}.")

    def __len__(self) -> int:
        return len(self.source_set) + len(self.target_set)

    @property
    def subjects(self) -> list[str]:
        return sorted(set(self.source_set.subjects) | set(self.target_set.subjects))

    def sample_batch(self, task: str | Task, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        sources = self.source_set.sample_batch(task, batch_size, generator)
        targets = self.target_set.sample_batch(task, batch_size, generator)
        return {"source": sources["source"], "target": targets["target"], "target_clean": targets["target_clean"],
                "tissue": sources["tissue"], "tumor": sources["tumor"]}


@dataclass
class SynthesisData:
    train: SliceSet
    val: SliceSet
    test: SliceSet
    info: dict = field(default_factory=dict)

    def with_site(self, other: "SynthesisData") -> "SynthesisData":
        """Add ``other`` - the same subjects scanned at another site (same seed and sizes,
        another ``site``) - as modalities named ``"<modality>@<site>"``, e.g. ``t1@B``.
        Slices stay aligned, so a site-B image has its site-A truth (chapter 02)."""
        site = other.info.get("site")
        same = {k: self.info.get(k) for k in ("seed", "n_subjects", "image_size", "slices_per_subject")}
        if same != {k: other.info.get(k) for k in same} or site == self.info.get("site"):
            raise ValueError("with_site needs the same subjects from another site: load both with the same seed and "
                             f"sizes and a different site (got {self.info} and {other.info}).")

        def merged(mine: SliceSet, theirs: SliceSet) -> SliceSet:
            if not np.array_equal(mine.tissue, theirs.tissue):
                raise ValueError("The two datasets do not hold the same subjects slice for slice.")
            both = mine.noise_free is not None and theirs.noise_free is not None
            return SliceSet({**mine.images, **{f"{m}@{site}": v for m, v in theirs.images.items()}},
                            {**mine.clean, **{f"{m}@{site}": v for m, v in theirs.clean.items()}},
                            mine.tissue, mine.tumor, mine.subject_ids,
                            {**mine.noise_free, **{f"{m}@{site}": v for m, v in theirs.noise_free.items()}}
                            if both else None)

        return SynthesisData(merged(self.train, other.train), merged(self.val, other.val),
                             merged(self.test, other.test), {**self.info, "other_sites": [site]})

    def with_training_subjects(self, subject_ids) -> "SynthesisData":
        """The same data with training restricted to ``subject_ids`` (fine-tuning on a few
        subjects); validation and test are unchanged."""
        subset = self.train.by_subjects(subject_ids)
        if len(subset) == 0:
            raise ValueError(f"None of {list(subject_ids)[:3]} is a training subject; see data.train.subjects.")
        return SynthesisData(subset, self.val, self.test, {**self.info, "training_subjects": len(subset.subjects)})

    def healthy_training(self) -> "SynthesisData":
        """The same data with tumour slices removed from training and validation; the test
        set keeps them. A model trained so has never seen a lesion: the test tumours are
        out of distribution for it (chapter 05 asks whether its uncertainty notices)."""
        return SynthesisData(self.train.tumor_free(), self.val.tumor_free(), self.test,
                             {**self.info, "training": "tumour-free slices only"})

    def unpaired(self, seed: int = 0, source_subjects=None, target_subjects=None) -> "SynthesisData":
        """The same data with an unpaired training set: sources from half of the training
        subjects, targets from the other half (or from the two lists given, e.g. to make
        the domains differ in tumour prevalence). Validation and test stay paired, so
        unpaired models are scored against the truth like paired ones."""
        if source_subjects is None and target_subjects is None:
            sources, targets = self.train.halves(seed)
        else:
            sources, targets = self.train.by_subjects(source_subjects), self.train.by_subjects(target_subjects)
        return SynthesisData(UnpairedSlices(sources, targets), self.val, self.test, {**self.info, "training": "unpaired"})

    def __repr__(self) -> str:
        return (f"SynthesisData({self.info.get('name')}: train {len(self.train.subjects)} subjects/"
                f"{len(self.train)} slices, val {len(self.val.subjects)}/{len(self.val)}, "
                f"test {len(self.test.subjects)}/{len(self.test)}; {self.info.get('image_size')}px)")
