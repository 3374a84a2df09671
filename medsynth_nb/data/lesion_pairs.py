"""Training data for chapter 06's label-conditioned renderer and lesion segmenter.

A ``LesionSlices`` holds, per axial slice, the four contrasts a brain-tumour protocol
acquires (T1w, T1w + Gd, T2w, FLAIR; channel order ``CONTRASTS``), the tumour label map
(BraTS codes: 1 necrosis, 2 oedema, 3 enhancing), the brain mask and, for the phantom, the
same slice rendered *without* the tumour (``healthy``): the physics truth of "this
anatomy, no lesion", which real data never has.

Normalisation: each phantom subject's lesion and healthy images are divided by the same
number, the healthy image's 99.5th percentile in the head, so the two differ only where
the tumour is (a per-image percentile would shift with a large bright lesion). MSD
BrainTumour slices keep the per-subject normalisation of ``data.intensity``.

**Edit regions.** The renderer repaints only an *edit region*: the tumour labels dilated
by ``EDIT_MARGIN_MM`` (the acquisition blur and partial volume spread a lesion's signal a
little beyond its label). During training ``sample_batch`` also adds, half of the time, a
random disc of brain to the region, so that the renderer learns to paint healthy tissue
where a label says "no tumour" - which is what it must do where a user erases or moves a
lesion away.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from medsynth_nb.data import phantom
from medsynth_nb.data.intensity import MR_PERCENTILE
from medsynth_nb.data.phantom_slices import check_split, phantom_slabs, split_by_subject
from medsynth_nb.data.slices import SubjectSlices, SynthesisData
from medsynth_nb.orientation import display_slices, slab_from_display

CONTRASTS = ("t1", "t1ce", "t2", "flair")
EDIT_MARGIN_MM = 4.0
DECOY_PROBABILITY = 0.5
DECOY_RADIUS_MM = (4.0, 14.0)


def dilate(mask: torch.Tensor, radius_px: int) -> torch.Tensor:
    """Binary dilation of a B x 1 x H x W mask by a square of half-width ``radius_px``."""
    if radius_px <= 0:
        return mask.float()
    return F.max_pool2d(mask.float(), 2 * radius_px + 1, stride=1, padding=radius_px)


def margin_px(image_size: int, fov_mm: float = phantom.FOV_MM) -> int:
    """``EDIT_MARGIN_MM`` in pixels of an ``image_size`` grid over ``fov_mm``."""
    return max(1, round(EDIT_MARGIN_MM * image_size / fov_mm))


def edit_region(labels: torch.Tensor, previous: torch.Tensor | None = None, *, margin: int) -> torch.Tensor:
    """Where a renderer repaints (B x 1 x H x W, 0/1): around the new tumour labels and,
    when a lesion was edited, around the previous ones (their tissue must become healthy)."""
    lesion = labels > 0
    if previous is not None:
        lesion = lesion | (previous > 0)
    return dilate(lesion, margin)


@dataclass
class LesionSlices(SubjectSlices):
    images: np.ndarray            # N x 4 x H x W float32 in [0, 1], CONTRASTS order, with the lesion
    labels: np.ndarray            # N x H x W uint8, 0-3
    brain: np.ndarray             # N x H x W bool
    subject_ids: np.ndarray
    healthy: np.ndarray | None = None   # N x 4 x H x W: the same slices without tumour (phantom only)
    info: dict = field(default_factory=dict)

    per_slice = ("images", "labels", "brain", "subject_ids", "healthy")

    def __post_init__(self):
        n = len(self.subject_ids)
        if self.images.ndim != 4 or self.images.shape[:2] != (n, len(CONTRASTS)):
            raise ValueError(f"images must be N x {len(CONTRASTS)} x H x W ({', '.join(CONTRASTS)}); got "
                             f"{self.images.shape} for {n} slices.")
        if self.labels.shape != (n, *self.images.shape[2:]) or self.brain.shape != self.labels.shape:
            raise ValueError(f"labels {self.labels.shape} and brain {self.brain.shape} must be N x H x W like the "
                             f"images {self.images.shape}.")
        bad = sorted(set(np.unique(self.labels).tolist()) - {0, 1, 2, 3})
        if bad:
            raise ValueError(f"Label values {bad} are not tumour codes (0 background, 1 necrosis, 2 oedema, "
                             "3 enhancing); map them to these codes first.")

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def with_lesion(self) -> np.ndarray:
        """Indices of the slices that hold any tumour label."""
        return np.flatnonzero(self.labels.reshape(len(self), -1).any(1))

    def tensors(self, index) -> dict[str, torch.Tensor]:
        """``images`` (B x 4 x H x W), ``labels`` (B x 1 x H x W, long), ``brain`` (B x 1 x H x W)
        and, for the phantom, ``healthy``."""
        index = np.asarray(index)
        out = {"images": torch.from_numpy(self.images[index]),
               "labels": torch.from_numpy(self.labels[index][:, None].astype(np.int64)),
               "brain": torch.from_numpy(self.brain[index][:, None].astype(np.float32))}
        if self.healthy is not None:
            out["healthy"] = torch.from_numpy(self.healthy[index])
        return out

    def sample_batch(self, task, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A random training batch (the engine's interface; ``task`` is not used) with an
        ``edit_mask``: the dilated lesion plus, half of the time, a random disc of brain."""
        index = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        batch = self.tensors(index)
        batch["edit_mask"] = torch.maximum(edit_region(batch["labels"], margin=margin_px(self.image_size)),
                                           random_discs(batch["brain"], generator))
        return batch


def random_discs(brain: torch.Tensor, generator: torch.Generator, fov_mm: float = phantom.FOV_MM) -> torch.Tensor:
    """B x 1 x H x W: for each image, with probability ``DECOY_PROBABILITY`` a disc of
    ``DECOY_RADIUS_MM`` centred on a random brain pixel, else nothing."""
    b, _, h, w = brain.shape
    px_per_mm = w / fov_mm
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                indexing="ij")
    discs = torch.zeros_like(brain)
    for i in range(b):
        use, radius, pick = torch.rand(3, generator=generator)
        inside = brain[i, 0].flatten().nonzero().flatten()
        if use >= DECOY_PROBABILITY or len(inside) == 0:
            continue
        center = inside[int(pick * len(inside)) % len(inside)]
        r = (DECOY_RADIUS_MM[0] + radius * (DECOY_RADIUS_MM[1] - DECOY_RADIUS_MM[0])) * px_per_mm
        discs[i, 0] = (((rows - center // w) ** 2 + (cols - center % w) ** 2) <= r ** 2).float()
    return discs


@dataclass
class LesionData:
    train: LesionSlices
    val: LesionSlices
    test: LesionSlices
    info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"LesionData({self.info.get('name')}: train {len(self.train.subjects)} subjects/{len(self.train)} "
                f"slices, val {len(self.val.subjects)}/{len(self.val)}, test {len(self.test.subjects)}/"
                f"{len(self.test)}; {self.info.get('image_size')}px, healthy twins: "
                f"{self.train.healthy is not None})")


def _healthy_scale(healthy: phantom.Subject) -> dict[str, float]:
    """Per contrast, the healthy image's 99.5th percentile in the head: the one divisor of
    a subject's lesion and healthy images."""
    return {m: float(np.percentile(healthy.images[m][healthy.head_mask], MR_PERCENTILE)) for m in CONTRASTS}


def _scaled(subject: phantom.Subject, scale: dict[str, float]) -> np.ndarray:
    """The subject's contrasts divided by ``scale``, as display slices: S x 4 x H x W."""
    return np.stack([np.clip(display_slices(subject.images[m]) / scale[m], 0, 1) for m in CONTRASTS],
                    1).astype(np.float32)


def load_lesion_pairs(n_subjects: int = 40, image_size: int = 96, slices_per_subject: int = 8, *, seed: int = 0,
                      site: str = "A", split=(0.6, 0.2, 0.2), progress: bool = True) -> LesionData:
    """Phantom subjects, each with a random tumour in its slab, and the same slabs rendered
    healthy; split by subject. Lesion and healthy images share one normalisation."""
    check_split(n_subjects, split)
    rng = np.random.default_rng(seed)
    parts = []
    for subject in phantom_slabs(n_subjects, image_size, slices_per_subject, rng, tumor_prob=1.0, site=site,
                                 progress=progress):
        healthy = phantom.rerender(subject, None)
        scale = _healthy_scale(healthy)
        parts.append({"images": _scaled(subject, scale), "healthy": _scaled(healthy, scale),
                      "labels": display_slices(subject.tumor),
                      "brain": display_slices(subject.brain_mask),
                      "subject_ids": np.array([subject.subject_id] * slices_per_subject)})

    def concat(index) -> LesionSlices:
        return LesionSlices(*(np.concatenate([parts[i][k] for i in index])
                              for k in ("images", "labels", "brain", "subject_ids", "healthy")))

    info = {"name": "phantom", "seed": seed, "site": site, "image_size": image_size, "n_subjects": n_subjects,
            "slices_per_subject": slices_per_subject,
            "normalization": f"lesion and healthy images / healthy p{MR_PERCENTILE} in head, clip [0,1]"}
    return LesionData(*(concat(index) for index in split_by_subject(n_subjects, split, rng)), info)


def lesion_slices(data: SynthesisData) -> LesionData:
    """A ``SynthesisData`` with the four contrasts and tumour labels (MSD BrainTumour via
    ``load_dataset("msd_brain")``) as ``LesionData``; no healthy twins exist for it."""
    missing = [m for m in CONTRASTS if m not in data.train.images]
    if missing:
        raise ValueError(f"The dataset {data.info.get('name')!r} lacks {missing}; a lesion renderer needs "
                         f"{', '.join(CONTRASTS)} and tumour labels (MSD BrainTumour has them).")

    def convert(part) -> LesionSlices:
        return LesionSlices(np.stack([part.images[m] for m in CONTRASTS], 1), part.tumor.astype(np.uint8),
                            part.tissue > 0, part.subject_ids)

    return LesionData(convert(data.train), convert(data.val), convert(data.test), dict(data.info))


def load_lesion_data(name: str = "phantom", profile=None, **kwargs) -> LesionData:
    """Chapter 06's data by name, sized by ``profile``: ``"phantom"`` (embedded, with
    healthy twins) or ``"msd_brain"`` (fetched once with ``python -m data_fetch get
    msd_brain --accept-license``)."""
    if profile is not None:
        kwargs.setdefault("n_subjects", profile.n_subjects)
        kwargs.setdefault("image_size", profile.image_size)
        kwargs.setdefault("slices_per_subject", profile.slices_per_subject)
    if name == "phantom":
        return load_lesion_pairs(**kwargs)
    from medsynth_nb.data.loaders import load_dataset

    return lesion_slices(load_dataset(name, **kwargs))


@dataclass
class EditCanvas:
    """One healthy axial phantom slice to paint lesions on, with its physics truth.

    ``healthy`` is the slice's four contrasts (4 x H x W, display orientation) in the
    normalisation of ``load_lesion_pairs``; ``physics(labels)`` renders a label map into
    the same anatomy, noise and scale, so a learned renderer's output can be compared with
    it pixel for pixel."""

    subject: phantom.Subject
    healthy: np.ndarray
    brain: np.ndarray
    scale: dict

    @classmethod
    def from_subject(cls, subject: phantom.Subject) -> "EditCanvas":
        if subject.shape[2] != 1:
            raise ValueError(f"An edit canvas is one axial slice; this subject's grid is {subject.shape}.")
        healthy = phantom.rerender(subject, None)
        scale = _healthy_scale(healthy)
        return cls(healthy, _scaled(healthy, scale)[0], display_slices(healthy.brain_mask)[0], scale)

    def physics(self, labels: np.ndarray) -> np.ndarray:
        """The phantom's render of tumour ``labels`` (H x W, display orientation) here: 4 x H x W."""
        edited = phantom.rerender(self.subject, slab_from_display(np.asarray(labels, np.uint8)[None]))
        return _scaled(edited, self.scale)[0]


def edit_canvases(n: int, image_size: int, *, seed: int = 0, site: str = "A") -> list[EditCanvas]:
    """``n`` healthy one-slice canvases of new phantom subjects (their anatomy is not in any
    ``load_lesion_pairs`` split: subject seeds are drawn from another stream)."""
    rng = np.random.default_rng([seed, 6])
    canvases = []
    for subject_seed, z in zip(rng.integers(0, 2**31, size=n), rng.uniform(10.0, 30.0, size=n)):
        grid = phantom.axial_grid(image_size, 1, z_mm=float(z))
        canvases.append(EditCanvas.from_subject(phantom.make_subject(int(subject_seed), *grid, site=site, tumor=None,
                                                                     subject_id=f"canvas-{subject_seed}")))
    return canvases


def concat_slices(*parts: LesionSlices) -> LesionSlices:
    """The slices of ``parts`` one after the other (e.g. real training slices plus synthetic
    ones). ``healthy`` is kept only when every part has it; ``info`` lists the parts' infos."""
    if not parts:
        raise ValueError("concat_slices needs at least one LesionSlices.")
    sizes = sorted({p.images.shape[2:] for p in parts})
    if len(sizes) > 1:
        raise ValueError(f"The parts have different image sizes {sizes}; render or load them on one grid.")
    healthy = (np.concatenate([p.healthy for p in parts]) if all(p.healthy is not None for p in parts) else None)
    return LesionSlices(*(np.concatenate([getattr(p, k) for p in parts])
                          for k in ("images", "labels", "brain", "subject_ids")),
                        healthy, {"parts": [dict(p.info) for p in parts]})
