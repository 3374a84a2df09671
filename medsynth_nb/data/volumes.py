"""Volumes from slices (chapter 09): the phantom as whole slabs, and two ways to show a
network more than one axial slice.

Every chapter so far synthesises axial slices one by one. A subject, though, is a volume:
a network that sees one slice cannot know the slices above and below, so its errors agree
within a slice and jump from one slice to the next, which a sagittal or coronal view shows
as steps. Two remedies need the slices as volumes again:

- **2.5-D** (``SliceStack``): each slice arrives with its neighbours as extra input
  channels, so a 2-D network sees a little of the third dimension at almost no cost;
- **3-D patches** (``VolumePatches``): a 3-D network trains on small blocks cut from the
  volumes and is applied to whole volumes by a sliding window (``models.volumetric``).

Both read a volume as a subject's slices in dataset order. That order holds in every
``SliceSet`` of ``load_phantom``: it concatenates whole subjects, one after another, each
slab's slices from inferior to superior, and ``select`` keeps the order of the positions
it is given (sorted ones, as the engine's validation and ``by_subjects`` give). A selection
that reorders slices breaks the volumes. ``load_volumes`` renders the slabs with isotropic
voxels (the slice gap equals the pixel size, ``FOV_MM / image_size``), so that a 3 x 3 x 3
kernel and a sagittal view see the same millimetres in every direction.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from medsynth_nb.data.phantom_slices import load_phantom
from medsynth_nb.data.slices import SliceSet, SubjectSlices, SynthesisData
from medsynth_nb.orientation import FOV_MM
from medsynth_nb.tasks import Task, parse_task


def load_volumes(n_subjects: int, image_size: int, n_slices: int, *, seed: int = 0, tumor_prob: float = 0.0,
                 site: str = "A", split: tuple[float, float, float] = (0.6, 0.2, 0.2),
                 progress: bool = True) -> SynthesisData:
    """``n_subjects`` phantom slabs of ``n_slices`` contiguous axial slices with isotropic
    voxels (``FOV_MM / image_size`` mm in every direction), split by subject. The slab is
    ``n_slices`` voxels thick: 16 slices of 48 px images span 77 mm of the head. Keep it under
    about 120 mm: a taller slab reaches above some heads, into slices without a head to score."""
    if n_slices < 2:
        raise ValueError(f"n_slices={n_slices}: a volume needs at least 2 slices to have a through-plane "
                         "direction; ask for more.")
    voxel_mm = FOV_MM / image_size
    data = load_phantom(n_subjects, image_size, n_slices, seed=seed, tumor_prob=tumor_prob, site=site, split=split,
                        progress=progress, slice_gap_mm=voxel_mm)
    data.info.update(name="phantom volumes", voxel_mm=[voxel_mm] * 3)
    return data


def subject_volumes(slices: np.ndarray, subject_ids) -> dict[str, np.ndarray]:
    """N x H x W slices in dataset order -> ``{subject: D x H x W}``, each subject's slices in
    the order they come (the subjects in the order of their first slice)."""
    slices, subject_ids = np.asarray(slices), np.asarray(subject_ids)
    if len(slices) != len(subject_ids):
        raise ValueError(f"{len(slices)} slices but {len(subject_ids)} subject ids; give one id per slice.")
    return {subject: slices[subject_ids == subject] for subject in dict.fromkeys(subject_ids.tolist())}


def slices_from_volumes(volumes: dict[str, np.ndarray], subject_ids) -> np.ndarray:
    """The inverse of ``subject_volumes``: ``{subject: D x H x W}`` -> N x H x W, every
    subject's slices put back at its positions in ``subject_ids``."""
    subject_ids = np.asarray(subject_ids)
    subjects = list(dict.fromkeys(subject_ids.tolist()))
    if sorted(volumes) != sorted(subjects):
        raise ValueError(f"The volumes are of subjects {sorted(volumes)}, the slices of {sorted(subjects)}; "
                         "give one volume per subject of the slice set.")
    first = np.asarray(volumes[subjects[0]])
    out = np.empty((len(subject_ids), *first.shape[1:]), np.result_type(*volumes.values()))
    for subject in subjects:
        rows = subject_ids == subject
        if len(volumes[subject]) != rows.sum():
            raise ValueError(f"Subject {subject} has {rows.sum()} slices in the set but its volume has "
                             f"{len(volumes[subject])}.")
        out[rows] = volumes[subject]
    return out


def _neighbour_rows(subject_ids: np.ndarray, context: int) -> np.ndarray:
    """N x (2 context + 1): for every slice, the rows of the slices at offsets -context..+context
    in its own subject, clamped at the subject's first and last slice."""
    offsets = np.arange(-context, context + 1)
    out = np.empty((len(subject_ids), len(offsets)), np.int64)
    for subject in np.unique(subject_ids):
        rows = np.flatnonzero(subject_ids == subject)
        out[rows] = rows[np.clip(np.arange(len(rows))[:, None] + offsets, 0, len(rows) - 1)]
    return out


@dataclass
class SliceStack(SliceSet):
    """A ``SliceSet`` whose ``batch`` gives every slice with its ``context`` neighbours on each
    side as input channels (2.5-D): ``source`` is B x (n_sources * (2 context + 1)) x H x W,
    modality by modality, each from -context to +context. Neighbours come from the slice's
    own subject only; at the slab's first and last slice the edge slice is repeated (as
    replicate padding would), so no subject borrows another's anatomy. ``target`` and the
    labels are the centre slice's, as in ``SliceSet.batch``."""

    context: int = 1

    def __post_init__(self):
        if self.context < 0:
            raise ValueError(f"context={self.context}: the neighbours on each side must be 0 or more.")
        self.neighbour_rows = _neighbour_rows(np.asarray(self.subject_ids), self.context)

    @classmethod
    def around(cls, slices: SliceSet, context: int = 1) -> SliceStack:
        """The slices of ``slices``, each with ``context`` neighbours on each side."""
        if not isinstance(slices, SliceSet):
            raise TypeError(f"SliceStack needs a SliceSet (paired slices); got {type(slices).__name__}.")
        return cls(**{f.name: getattr(slices, f.name) for f in dataclasses.fields(SliceSet)}, context=context)

    def batch(self, task: str | Task, index) -> dict[str, torch.Tensor]:
        task = parse_task(task)
        batch = super().batch(task, index)
        rows = self.neighbour_rows[np.asarray(index)]  # B x (2 context + 1)
        batch["source"] = torch.from_numpy(np.concatenate([self.images[m][rows] for m in task.sources], 1))
        return batch


def stacked(data: SynthesisData, context: int = 1) -> SynthesisData:
    """``data`` with train, val and test as ``SliceStack``s: the 2.5-D version of a dataset."""
    return SynthesisData(*(SliceStack.around(s, context) for s in (data.train, data.val, data.test)),
                         {**data.info, "context": context})


@dataclass
class VolumePatches(SubjectSlices):
    """Training view for a 3-D model: random ``patch_size`` (slices, rows, columns) blocks
    cut from the subjects' volumes, each inside one subject.

    Its ``sample_batch`` is a ``SliceSet``'s with 3-D tensors: ``source`` B x n_sources x d x
    h x w and ``target``, ``target_clean``, ``tissue``, ``tumor`` B x 1 x d x h x w. A subject
    is drawn uniformly, then the block's corner uniformly among the positions where it fits.
    ``select`` and ``by_subjects`` select the underlying slices, as for the other views.

    Why only training changes (``volume_patches``): the engine draws training batches from
    ``data.train.sample_batch`` and validates through a model's own ``validation_scores`` on
    ``data.val``; a 3-D model predicts whole volumes there by a sliding window. So val and
    test stay ordinary ``SliceSet``s, and every method, 2-D, 2.5-D or 3-D, is scored on the
    same slices by the same code, as ``UnpairedSlices`` replaces only CycleGAN's training set.
    """

    slices: SliceSet
    patch_size: tuple[int, int, int] = (16, 32, 32)

    def __post_init__(self):
        self.patch_size = tuple(int(p) for p in self.patch_size)
        if len(self.patch_size) != 3 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size={self.patch_size}: give (slices, rows, columns), each at least 1.")
        if len(self.slices) == 0:
            raise ValueError("VolumePatches needs the slices of at least one subject; this selection is empty.")
        self.subject_rows = list(subject_volumes(np.arange(len(self.slices)), self.slices.subject_ids).values())
        depth, (height, width) = min(len(rows) for rows in self.subject_rows), self.slices.tissue.shape[1:]
        if self.patch_size[0] > depth or self.patch_size[1] > height or self.patch_size[2] > width:
            raise ValueError(f"patch_size={self.patch_size} does not fit in the smallest volume, {depth} x {height} "
                             f"x {width}; choose a smaller patch or load more slices per subject.")

    @property
    def subject_ids(self) -> np.ndarray:
        return self.slices.subject_ids

    def select(self, index) -> VolumePatches:
        return dataclasses.replace(self, slices=self.slices.select(index))

    def sample_batch(self, task: str | Task, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``batch_size`` random patches; the generator makes them reproducible."""
        task = parse_task(task)
        d, h, w = self.patch_size
        height, width = self.slices.tissue.shape[1:]
        draws = torch.rand((batch_size, 4), generator=generator, dtype=torch.float64).numpy()
        patches = []
        for u_subject, u_z, u_y, u_x in draws:
            rows = self.subject_rows[int(u_subject * len(self.subject_rows))]
            z, y, x = (int(u * (size - p + 1)) for u, size, p in zip((u_z, u_y, u_x), (len(rows), height, width),
                                                                     self.patch_size))
            block = self.slices.batch(task, rows[z:z + d])  # d x C x H x W per key
            patches.append({k: v[..., y:y + h, x:x + w].transpose(0, 1) for k, v in block.items()})
        return {k: torch.stack([p[k] for p in patches]) for k in patches[0]}


def volume_patches(data: SynthesisData, patch_size=(16, 32, 32)) -> SynthesisData:
    """``data`` with its training set as ``VolumePatches`` (val and test unchanged): the
    dataset a 3-D patch model trains on (see ``VolumePatches`` for why only training)."""
    return SynthesisData(VolumePatches(data.train, patch_size), data.val, data.test,
                         {**data.info, "patch_size": list(patch_size)})
