"""An edited label map on disk (chapter 06): ``save_edit`` writes the map, its starting map
and the brain mask as NIfTI (stamped SYNTHETIC) with the edit history as provenance, and
``load_edit`` gives back everything ``editor.replay`` needs to rebuild the map bit for bit.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from medsynth_nb import io
from medsynth_nb.data.tumor import LABELS, check_labels
from medsynth_nb.lesions.editor import replay
from medsynth_nb.lesions.nesting import check_mask, check_start

# Maps save_edit writes besides the images; image names must not clash with them.
_MAPS = ("labels", "initial_labels", "brain_mask")


class SavedEdit(NamedTuple):
    """An edit read back by ``load_edit``: ``replay(initial_labels, brain_mask, history)``
    gives ``labels`` bit for bit."""

    labels: np.ndarray          # H x W uint8, the edited map
    initial_labels: np.ndarray  # H x W uint8, the map the history starts from
    brain_mask: np.ndarray      # H x W bool, the mask the history was recorded on
    history: list[dict]
    provenance: dict            # the labels' sidecar


def _edit_files(out_dir, stem: str, names) -> dict[str, tuple[Path, Path]]:
    """NIfTI file and provenance sidecar (``name.json`` beside ``name.nii.gz``, as
    ``io.save_nifti`` writes it) of the maps in ``_MAPS`` and of each of ``names``."""
    if not stem or Path(stem).name != stem:
        raise ValueError(f"The file stem must be a plain name without folders; got {stem!r}.")
    for name in names:
        if not name or Path(name).name != name or name in _MAPS:
            raise ValueError(f"Image name {name!r} cannot be part of a file name (and {list(_MAPS)} are taken by "
                             "the maps); use e.g. 't1' or 'flair'.")
    out = Path(out_dir)
    return {name: (out / f"{stem}_{name}.nii.gz", out / f"{stem}_{name}.json") for name in (*_MAPS, *names)}


def save_edit(out_dir, stem: str, labels, images: dict[str, np.ndarray], affine, history: list[dict], *,
              initial_labels, brain_mask, overwrite: bool = False) -> list[Path]:
    """Write an edited slice: ``<stem>_labels.nii.gz``, the map the edit started from
    (``<stem>_initial_labels.nii.gz``), the brain mask it was edited in
    (``<stem>_brain_mask.nii.gz``) and ``<stem>_<contrast>.nii.gz`` for each of ``images``
    (H x W float), stamped SYNTHETIC, each with a JSON sidecar holding the edit history and
    the label codes. With the starting map and the mask on disk, the history can be replayed
    from the files alone (``load_edit``); it is replayed here before anything is written,
    and a history that does not turn ``initial_labels`` into ``labels`` is refused.

    Slices are stored as H x W x 1 volumes; ``affine`` is the slice's voxel -> mm affine
    (that of a one-slice grid, e.g. ``subject.affine``). Nothing is written if any of the
    files exists, unless ``overwrite``."""

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"save_edit writes one H x W slice; got labels of shape {labels.shape}.")
    labels = check_labels(labels, labels.shape)
    brain = check_mask(brain_mask)
    initial = check_start(initial_labels, brain)
    if brain.shape != labels.shape:
        raise ValueError(f"The brain mask has shape {brain.shape} but the labels {labels.shape}: both must be the "
                         "same slice.")
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4):
        raise ValueError(f"The affine must be 4 x 4 (voxel -> mm); got shape {affine.shape}.")
    for name, image in images.items():
        if np.shape(image) != labels.shape:
            raise ValueError(f"Image {name!r} has shape {np.shape(image)} but the labels {labels.shape}: "
                             "images and labels must be the same slice.")
    try:
        history = json.loads(json.dumps(history))
    except TypeError as err:
        raise ValueError(f"The history must be JSON-serialisable, as editor.history is ({err}).") from err
    try:
        replayed = replay(initial, brain, history)
        reason = "" if np.array_equal(replayed, labels) else "it gives other labels"
    except ValueError as err:
        reason = str(err)
    if reason:
        raise ValueError(f"Replaying the history on initial_labels does not give these labels ({reason}), so the "
                         "files would not reproduce them. Pass editor.labels, editor.initial_labels, "
                         "editor.brain_mask and editor.history of one editor.")
    files = _edit_files(out_dir, stem, list(images))
    # Every file is checked before any is written, so a refusal leaves no half-written edit.
    existing = [p.name for pair in files.values() for p in pair if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"Not overwriting {', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''} "
                              f"in {Path(out_dir)}. Choose another stem or folder, or pass overwrite=True.")
    record = {"content": "tumour label map edited by hand (medsynth_nb.lesion_edit)", "tumor_labels": LABELS,
              "edit_history": history, "files": sorted(nifti.name for nifti, _ in files.values())}
    arrays = {"labels": labels, "initial_labels": initial, "brain_mask": brain.astype(np.uint8),
              **{name: np.asarray(image, np.float32) for name, image in images.items()}}
    return [io.save_nifti(files[name][0], array[:, :, None], affine, overwrite=overwrite,
                          provenance={**record, "image": name})
            for name, array in arrays.items()]


def _load_map(path: Path) -> np.ndarray:
    """One H x W x 1 map written by ``save_edit``, as an H x W uint8 label map."""

    # Not reoriented to RAS+: the map comes back in the editor's own index order.
    data, _ = io.load_nifti(path, canonical=False)
    if data.ndim != 3 or data.shape[2] != 1:
        raise ValueError(f"{path} holds an image of shape {data.shape}, not one H x W x 1 slice as save_edit "
                         "writes; read volumes with medsynth_nb.io.load_nifti.")
    values = data[:, :, 0]
    if np.all(np.mod(values, 1) == 0):
        values = values.astype(np.int64)  # load_nifti gives float32; errors then name 4, not 4.0
    try:
        return check_labels(values, values.shape)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def load_edit(out_dir, stem: str) -> SavedEdit:
    """The edited labels, starting map, brain mask, history and provenance of a slice written
    by ``save_edit``: ``replay(saved.initial_labels, saved.brain_mask, saved.history)``
    reproduces ``saved.labels``."""
    files = _edit_files(out_dir, stem, [])
    path, sidecar = files["labels"]
    labels = _load_map(path)
    if not sidecar.exists():
        raise FileNotFoundError(f"{sidecar} is missing; it holds the edit history. Keep the .json file next to "
                                f"{path.name} (both are written by save_edit).")
    provenance = json.loads(sidecar.read_text())
    if "edit_history" not in provenance:
        raise ValueError(f"{sidecar} holds no edit history: {path.name} was not written by save_edit.")
    for name in ("initial_labels", "brain_mask"):
        if not files[name][0].exists():
            raise FileNotFoundError(f"{files[name][0]} is missing; the history cannot be replayed without it. Keep "
                                    f"all files save_edit wrote together: {provenance.get('files', [])}.")
    brain = _load_map(files["brain_mask"][0])
    if not np.isin(brain, (0, 1)).all():
        raise ValueError(f"{files['brain_mask'][0]} must hold 0/1 only; it is not a brain mask written by save_edit.")
    return SavedEdit(labels, _load_map(files["initial_labels"][0]), brain.astype(bool), provenance["edit_history"],
                     provenance)
