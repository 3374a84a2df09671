"""A user's folder of scans as a chapter's dataset: ``load_dataset("folder", path=...)``.

Three layouts, found by looking (the user's folder is only read, never written to):

- **BIDS**: ``sub-<id>/anat/sub-<id>[_...]_<suffix>.nii[.gz]`` with suffix ``T1w``, ``T2w``,
  ``PDw``, ``FLAIR`` (a ``ce-<agent>`` entity on a T1w makes it ``t1ce``), ``CT`` (BIDS has
  no CT datatype: the course reads ``anat/..._CT.nii.gz``), ``pet/..._pet.nii.gz``, and a
  tumour label map ``anat/..._dseg.nii.gz`` in the course's codes (0 background,
  1 necrosis, 2 oedema, 3 enhancing);
- **flat**, as ``medsynth phantom`` writes it: ``<subject>_<name>.nii[.gz]`` with name one of
  ``t1 t2 pd flair t1ce ct pet`` (``_clean`` appended: a noise-free truth), ``tumor`` or
  ``tissue`` (label maps); a folder ``<subject>_<name>/`` instead of the file is a DICOM series;
- **DICOM folders**: ``<subject>/<name>/`` holding one DICOM series each.

Each subject's scans are checked (``scans.read_scan``: 2-D, 4-D, NaN/Inf, empty, tiny;
label codes), its modalities must share one voxel grid unless ``register=True`` registers
them rigidly to the first (SimpleITK, as for IXI), and everything is brought to the course
grid (``scans.to_course_grid``: MONAI orientation, spacing, crop/pad) as a slab of axial
slices 5 mm apart. The split is by subject (a seeded permutation, 60/20/20 as the fetched
datasets) and recorded in ``data.info["split"]``, which ``medsynth train`` writes to the run.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
from tqdm.auto import tqdm

from medsynth_nb.data.real import SIMPLEITK_MISSING, part_sizes, register_rigid
from medsynth_nb.data.scans import SLICE_GAP_MM, ScanError, axial_window, read_labels, read_scan, to_course_grid
from medsynth_nb.data.slices import SliceSet, SynthesisData
from medsynth_nb.orientation import display_slices
from medsynth_nb.tasks import MODALITIES

LABEL_NAMES = ("tumor", "tissue")
BIDS_SUFFIXES = {"T1w": "t1", "T2w": "t2", "PDw": "pd", "FLAIR": "flair", "CT": "ct", "pet": "pet", "dseg": "tumor"}
_NAMES = "|".join(sorted(MODALITIES + LABEL_NAMES, key=len, reverse=True))
FLAT = re.compile(rf"^(?P<subject>.+)_(?P<name>{_NAMES})(?P<clean>_clean)?(?P<ext>\.nii\.gz|\.nii)?$")
NIFTI = (".nii", ".nii.gz")


def _is_nifti(path: Path) -> bool:
    return path.is_file() and path.name.endswith(NIFTI)


def _add(found: dict, subject: str, name: str, path: Path) -> None:
    scans = found.setdefault(subject, {})
    if name in scans:
        raise ScanError(f"Subject {subject} has two {name} scans: {scans[name]} and {path}. Keep one in the folder "
                        "(or copy the one to use into a new folder).")
    scans[name] = path


def _bids(folder: Path, found: dict, ignored: list) -> None:
    if any(p.name.startswith("ses-") for p in folder.glob("sub-*/ses-*")):
        raise ScanError(f"{folder} has BIDS sessions (sub-*/ses-*): pass a folder with one session per subject "
                        "(e.g. copy or link one session's files).")
    for path in sorted(folder.glob("sub-*/*/sub-*")):
        if not _is_nifti(path) or path.parent.name not in ("anat", "pet"):
            continue
        stem = path.name.removesuffix(".gz").removesuffix(".nii")
        entities, suffix = stem.split("_")[:-1], stem.split("_")[-1]
        name = BIDS_SUFFIXES.get(suffix)
        if name == "t1" and any(e.startswith("ce-") for e in entities):
            name = "t1ce"
        if name is None:
            ignored.append(path)
            continue
        _add(found, path.parent.parent.name, name, path)


def _flat(folder: Path, found: dict, ignored: list) -> None:
    for path in sorted(folder.iterdir()):
        match = FLAT.match(path.name)
        if match and (match["ext"] and path.is_file() or not match["ext"] and path.is_dir()):
            _add(found, match["subject"], match["name"] + (match["clean"] or ""), path)
        elif _is_nifti(path):
            ignored.append(path)


def _dicom_folders(folder: Path, found: dict, ignored: list) -> None:
    for subject in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for series in sorted(p for p in subject.iterdir() if p.is_dir()):
            if series.name.lower() in MODALITIES + LABEL_NAMES:
                _add(found, subject.name, series.name.lower(), series)
            else:
                ignored.append(series)


def find_scans(folder: str | Path) -> tuple[dict[str, dict[str, Path]], str]:
    """{subject: {name: path}} of a user's folder and the layout found (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScanError(f"{folder} is not a folder. Pass the folder that holds your subjects' scans.")
    found, ignored = {}, []
    if any(folder.glob("sub-*/anat")) or any(folder.glob("sub-*/pet")):
        layout = "bids"
        _bids(folder, found, ignored)
    else:
        _flat(folder, found, ignored)
        layout = "flat"
        if not found:
            _dicom_folders(folder, found, ignored)
            layout = "dicom folders"
    if ignored:
        warnings.warn(f"{folder}: {len(ignored)} file(s) not named as the course reads them were left out, e.g. "
                      f"{ignored[0].name}.", stacklevel=3)
    if not found:
        raise ScanError(f"{folder} holds no scans the course can read. Name them as BIDS "
                        "(sub-01/anat/sub-01_T1w.nii.gz), flat (sub-01_t1.nii.gz, as 'medsynth phantom' writes) or "
                        "as DICOM series folders (sub-01/t1/*.dcm).")
    return found, layout


def _same_grid_or_registered(scans: dict, subject: str, register: bool) -> dict[str, np.ndarray]:
    names = list(scans)
    reference = scans[names[0]]
    arrays = {names[0]: reference.array}
    for name in names[1:]:
        scan = scans[name]
        if scan.same_grid(reference):
            arrays[name] = scan.array
        elif register:
            try:
                arrays[name] = register_rigid(nib.Nifti1Image(scan.array, scan.affine),
                                              nib.Nifti1Image(reference.array, reference.affine))
            except ImportError:
                raise ScanError(SIMPLEITK_MISSING) from None
        else:
            raise ScanError(f"Subject {subject}: {scan.describe()} and {reference.describe()} are on different voxel "
                            "grids. Register them (load_dataset('folder', ..., register=True); CLI: --register) or "
                            "pass scans resampled to one grid.")
    return arrays


def subject_slab(files: dict[str, Path], subject: str, modalities: list[str], image_size: int, n_slices: int,
                 register: bool = False) -> dict:
    """One subject's normalised slab of axial slices in display orientation (a SliceSet's
    part): images, clean (the ``_clean`` scans, else the images), tissue and tumor."""
    names = modalities + [f"{m}_clean" for m in modalities if f"{m}_clean" in files]
    scans = {n: read_scan(files[n]) for n in names}
    reference = scans[modalities[0]]
    arrays = _same_grid_or_registered(scans, subject, register)
    labels = {}
    for kind in LABEL_NAMES:
        if kind in files:
            label = read_labels(files[kind], kind)
            if not label.same_grid(reference):
                raise ScanError(f"Subject {subject}: the {kind} map {label.describe()} is not on the grid of "
                                f"{reference.describe()}. Save the label map on its image's grid.")
            labels[kind] = label.array
    grid, _ = to_course_grid(arrays, reference.affine, image_size=image_size, slice_gap_mm=SLICE_GAP_MM,
                             labels=labels)
    window = axial_window(grid["head"], n_slices, f"Subject {subject}")
    slab = {k: display_slices(v[:, :, window]) for k, v in grid.items()}
    return {"images": {m: slab[m] for m in modalities},
            "clean": {m: slab.get(f"{m}_clean", slab[m]) for m in modalities},
            "tissue": slab.get("tissue", slab["head"]), "tumor": slab.get("tumor", np.zeros_like(slab["head"])),
            "subject_ids": np.array([subject] * n_slices)}


def _modalities(found: dict, modalities, folder: Path) -> list[str]:
    present = sorted({n for scans in found.values() for n in scans if n in MODALITIES}, key=MODALITIES.index)
    wanted = list(modalities) if modalities else present
    unknown = [m for m in wanted if m not in MODALITIES]
    if unknown or not wanted:
        raise ScanError(f"{folder}: modalities {unknown or '(none found)'} are not the course's "
                        f"({', '.join(MODALITIES)}).")
    for subject, scans in found.items():
        missing = [m for m in wanted if m not in scans]
        if missing:
            common = [m for m in wanted if all(m in s for s in found.values())]
            raise ScanError(f"Subject {subject} in {folder} has no {', '.join(missing)} scan (it has "
                            f"{', '.join(sorted(scans)) or 'none'}). Add it, remove the subject, or use only the "
                            f"modalities every subject has: modalities={common}.")
    return wanted


def load_folder(path: str | Path, profile=None, *, modalities=None, image_size: int | None = None,
                slices_per_subject: int | None = None, seed: int = 0, register: bool = False,
                progress: bool = True) -> SynthesisData:
    """Every subject of a user's folder as train / val / test slices (see the module
    docstring), sized by ``profile`` unless sizes are given (else 96 px, 8 slices)."""
    folder = Path(path)
    found, layout = find_scans(folder)
    wanted = _modalities(found, modalities, folder)
    if len(found) < 3:
        raise ScanError(f"{folder} holds {len(found)} subject(s) ({', '.join(found)}); a train/val/test split by "
                        "subject needs at least 3.")
    image_size = image_size or (profile.image_size if profile else 96)
    n_slices = slices_per_subject or (profile.slices_per_subject if profile else 8)
    parts = {}
    for subject in tqdm(sorted(found), desc="your scans", disable=not progress, leave=False):
        parts[subject] = subject_slab(found[subject], subject, wanted, image_size, n_slices, register)
    order = [str(s) for s in np.random.default_rng(seed).permutation(sorted(found))]
    n_train, n_val, _ = part_sizes(len(order))
    split = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}

    def slice_set(subjects: list[str]) -> SliceSet:
        chosen = [parts[s] for s in subjects]
        cat = lambda key, m=None: np.concatenate([p[key][m] if m else p[key] for p in chosen])  # noqa: E731
        return SliceSet({m: cat("images", m) for m in wanted}, {m: cat("clean", m) for m in wanted},
                        cat("tissue"), cat("tumor"), cat("subject_ids"))

    with_labels = sorted({k for scans in found.values() for k in scans if k in LABEL_NAMES})
    info = {"name": "folder", "path": str(folder.resolve()), "layout": layout, "seed": seed,
            "image_size": image_size, "slices_per_subject": n_slices, "slice_gap_mm": SLICE_GAP_MM,
            "n_subjects": len(found), "modalities": wanted, "registered": register, "split": split,
            "normalization": "MR/PET: / p99.5 inside an Otsu head mask, clip [0,1]; CT: -1000..2000 HU -> [0,1]",
            "clean": "the _clean scans" if any(f"{m}_clean" in s for s in found.values() for m in wanted)
            else "the acquired images: no noise-free truth",
            "labels": with_labels or "none: tissue is the head mask, tumour labels are zeros"}
    return SynthesisData(*(slice_set(split[part]) for part in ("train", "val", "test")), info)
