"""Datasets of 2-D axial slices for synthesis tasks, split by subject.

``load_dataset("phantom", profile=p)`` renders phantom subjects as slabs of axial
slices, normalises them and splits them into train / val / test *by subject* (slices of
one subject are strongly correlated, so a slice-level split would leak). A task names
its source modalities and its target: ``"t1:t2"``, ``"t1,t2:flair"``, ``"t1:ct"``.

Intensity normalisation (per subject, documented because metrics depend on it):
- MR and PET: divide by the 99.5th percentile inside the head, clip to [0, 1]. The
  clean (noise-free) image is normalised by its own percentile.
- CT: window -1000 ... 2000 HU mapped linearly to [0, 1] (``to_hu`` inverts it), so a
  CT error can be reported in HU.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from . import phantom, physics

CT_WINDOW_HU = (-1000.0, 2000.0)
MR_PERCENTILE = 99.5


@dataclass(frozen=True)
class Task:
    sources: tuple[str, ...]
    target: str

    def __str__(self) -> str:
        return f"{','.join(self.sources)}:{self.target}"


def base_modality(name: str) -> str:
    """``"ct@B"`` -> ``"ct"``: a modality name may carry the site it was acquired at."""
    return name.split("@")[0]


def _canonical(token: str) -> str:
    modality, at, site = token.strip().partition("@")
    return modality.lower() + (f"@{site.upper()}" if at else "")


def _valid_name(name: str) -> bool:
    modality, at, site = name.partition("@")
    return modality in physics.MODALITIES and (not at or site in physics.SITES)


def parse_task(task: str | Task) -> Task:
    """``"t1,flair:t2"`` -> Task(("t1", "flair"), "t2"), with a clear error for typos.

    A name may name a site: ``"t1@B:t1"`` maps site B's T1w to site A's (harmonisation,
    chapter 02); unqualified names are the dataset's own site.
    """
    if isinstance(task, Task):
        return task
    if task.count(":") != 1:
        raise ValueError(f"Task {task!r} must look like 'SOURCE:TARGET', e.g. 't1:t2' or 't1,flair:t2'.")
    src, tgt = task.split(":")
    tgt = _canonical(tgt) if tgt.strip() else ""
    sources = tuple(_canonical(s) for s in src.split(",") if s.strip())
    unknown = [m for m in (*sources, tgt) if not _valid_name(m)]
    if unknown or not sources or not tgt:
        raise ValueError(f"Task {task!r}: unknown or missing modality {unknown or '(empty)'}; "
                         f"available: {', '.join(physics.MODALITIES)} (optionally @site, e.g. t1@B).")
    if tgt in sources:
        raise ValueError(f"Task {task!r}: the target {tgt!r} is also a source; nothing to synthesise.")
    return Task(sources, tgt)


def normalize(volume: np.ndarray, modality: str, head: np.ndarray) -> np.ndarray:
    """Map a subject's image to [0, 1] (see the module docstring)."""
    if modality == "ct":
        lo, hi = CT_WINDOW_HU
        return np.clip((volume - lo) / (hi - lo), 0, 1).astype(np.float32)
    scale = np.percentile(volume[head], MR_PERCENTILE) if head.any() else volume.max()
    return np.clip(volume / max(float(scale), 1e-8), 0, 1).astype(np.float32)


def to_hu(x):
    """Normalised CT -> Hounsfield units (works on arrays and tensors)."""
    lo, hi = CT_WINDOW_HU
    return x * (hi - lo) + lo


@dataclass
class SliceSet:
    """Normalised 2-D slices (N x H x W per modality) with their labels and subjects."""

    images: dict[str, np.ndarray]   # acquired: what a scanner gives
    clean: dict[str, np.ndarray]    # noise-free truth
    tissue: np.ndarray
    tumor: np.ndarray
    subject_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.subject_ids)

    @property
    def subjects(self) -> list[str]:
        return sorted(set(self.subject_ids.tolist()))

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

    def select(self, index) -> SliceSet:
        index = np.asarray(index)
        return SliceSet({m: v[index] for m, v in self.images.items()},
                        {m: v[index] for m, v in self.clean.items()},
                        self.tissue[index], self.tumor[index], self.subject_ids[index])

    def by_subjects(self, subject_ids) -> SliceSet:
        return self.select(np.isin(self.subject_ids, list(subject_ids)))

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
            return SliceSet({**mine.images, **{f"{m}@{site}": v for m, v in theirs.images.items()}},
                            {**mine.clean, **{f"{m}@{site}": v for m, v in theirs.clean.items()}},
                            mine.tissue, mine.tumor, mine.subject_ids)

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


def display_slices(volume: np.ndarray) -> np.ndarray:
    """A slab [x, y, z] as axial slices in display orientation: [z, rows = -y, cols = x]."""
    return np.ascontiguousarray(np.transpose(volume[:, ::-1, :], (2, 1, 0)))


def slab_from_display(slices: np.ndarray) -> np.ndarray:
    """The inverse of ``display_slices``: [z, rows, cols] -> a slab [x, y, z]."""
    return np.ascontiguousarray(np.transpose(slices, (2, 1, 0))[:, ::-1, :])


def _stack_subject(subject: phantom.Subject) -> dict:
    """Subject slab -> per-slice arrays in display orientation (anterior up)."""
    slices = display_slices
    head = subject.head_mask
    return {
        "images": {m: slices(normalize(v, m, head)) for m, v in subject.images.items()},
        "clean": {m: slices(normalize(v, m, head)) for m, v in subject.clean.items()},
        "tissue": slices(subject.tissue), "tumor": slices(subject.tumor),
    }


def phantom_slabs(n_subjects: int, image_size: int, slices_per_subject: int, rng: np.random.Generator, *,
                  tumor_prob: float = 0.5, site: str = "A", progress: bool = True):
    """Yield ``n_subjects`` phantom subjects, each a slab of ``slices_per_subject`` axial
    slices 5 mm apart around the lateral ventricles, with a tumour in the slab with
    probability ``tumor_prob``. All draws come from ``rng``, in a fixed order."""
    subject_seeds = rng.integers(0, 2**31, size=n_subjects)
    for i in tqdm(range(n_subjects), desc="phantom subjects", disable=not progress, leave=False):
        z = float(rng.uniform(5.0, 35.0))
        shape, affine = phantom.axial_grid(image_size, slices_per_subject, 5.0, z)
        has_tumor = rng.random() < tumor_prob
        yield phantom.make_subject(int(subject_seeds[i]), shape, affine, site=site,
                                   tumor="random" if has_tumor else None, subject_id=f"{site}-sub-{i:03d}")


def check_split(n_subjects: int, split: tuple[float, float, float]) -> None:
    """A clear error for a split that ``split_by_subject`` cannot make (checked before rendering)."""
    if n_subjects < 3:
        raise ValueError(f"n_subjects={n_subjects}: need at least 3 subjects for a train/val/test split.")
    if abs(sum(split) - 1) > 1e-6 or min(split) < 0:
        raise ValueError(f"split={split} must be three non-negative fractions summing to 1.")


def split_by_subject(n_subjects: int, split: tuple[float, float, float], rng: np.random.Generator):
    """Subject indices of train, val and test (at least one subject each in val and test)."""
    check_split(n_subjects, split)
    order = rng.permutation(n_subjects)
    n_val = max(1, round(split[1] * n_subjects))
    n_test = max(1, round(split[2] * n_subjects))
    n_train = n_subjects - n_val - n_test
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


def load_phantom(n_subjects: int = 40, image_size: int = 96, slices_per_subject: int = 8, *,
                 seed: int = 0, tumor_prob: float = 0.5, site: str = "A",
                 split: tuple[float, float, float] = (0.6, 0.2, 0.2), progress: bool = True) -> SynthesisData:
    """Render ``n_subjects`` phantom subjects (``phantom_slabs``) and split them by subject."""
    check_split(n_subjects, split)
    rng = np.random.default_rng(seed)
    parts = []
    for subject in phantom_slabs(n_subjects, image_size, slices_per_subject, rng, tumor_prob=tumor_prob,
                                 site=site, progress=progress):
        part = _stack_subject(subject)
        part["subject_ids"] = np.array([subject.subject_id] * slices_per_subject)
        parts.append(part)

    def concat(index) -> SliceSet:
        chosen = [parts[i] for i in index]
        cat = lambda key, m=None: np.concatenate([p[key][m] if m else p[key] for p in chosen])  # noqa: E731
        return SliceSet({m: cat("images", m) for m in physics.MODALITIES},
                        {m: cat("clean", m) for m in physics.MODALITIES},
                        cat("tissue"), cat("tumor"), cat("subject_ids"))

    info = {"name": "phantom", "seed": seed, "site": site, "image_size": image_size,
            "n_subjects": n_subjects, "slices_per_subject": slices_per_subject, "tumor_prob": tumor_prob,
            "normalisation": f"MR/PET: / p{MR_PERCENTILE} in head, clip [0,1]; CT: {CT_WINDOW_HU} HU -> [0,1]"}
    return SynthesisData(*(concat(index) for index in split_by_subject(n_subjects, split, rng)), info)


def load_dataset(name: str = "phantom", profile=None, **kwargs) -> SynthesisData:
    """A dataset by name, sized by ``profile`` unless sizes are given explicitly.

    ``"phantom"`` is embedded. ``"msd_brain"`` (FLAIR, T1w, T1w+Gd, T2w, tumour labels) and
    ``"ixi"`` (T1w, T2w, PD) are real public datasets: fetch them once with
    ``python -m data_fetch get NAME --accept-license``; see ``medsynth_nb.data.real``.
    """
    if name != "phantom":
        from .real import load_real  # imported here: only real data need it (and data_fetch)

        return load_real(name, profile, **kwargs)
    if profile is not None:
        kwargs.setdefault("n_subjects", profile.n_subjects)
        kwargs.setdefault("image_size", profile.image_size)
        kwargs.setdefault("slices_per_subject", profile.slices_per_subject)
    return load_phantom(**kwargs)
