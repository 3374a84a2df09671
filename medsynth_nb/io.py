"""Reading and writing images: NIfTI through nibabel, DICOM through MONAI's LoadImage.

Every synthetic image written by the course is stamped as such: "SYNTHETIC" in the
NIfTI header's description and a JSON sidecar (``name.json`` beside ``name.nii.gz``)
with its provenance. Files are written atomically and never overwritten silently.
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from monai.utils import OptionalImportError  # raised by MONAI readers when pydicom is missing

SYNTHETIC_TAG = "SYNTHETIC"


def _sidecar(path: Path) -> Path:
    name = path.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_suffix(".json")


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _refuse_overwrite(paths, overwrite: bool) -> None:
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"Not overwriting existing file(s): {', '.join(existing[:3])}"
                              f"{' ...' if len(existing) > 3 else ''}. Choose another folder or pass overwrite=True "
                              "(CLI: --overwrite).")


def save_nifti(path: str | Path, array: np.ndarray, affine: np.ndarray, *, provenance: dict | None = None,
               synthetic: bool = True, sidecar: bool = True, overwrite: bool = False) -> Path:
    """Write ``array`` as NIfTI; synthetic images get the tag and (unless ``sidecar`` is
    False, when the caller writes one record for several files) a provenance sidecar.

    The gzip stream carries no timestamp, so the same data give byte-identical files.
    """
    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise ValueError(f"{path}: a NIfTI file name must end in .nii or .nii.gz")
    sidecar_path = _sidecar(path) if synthetic and sidecar else None
    _refuse_overwrite([p for p in (path, sidecar_path) if p is not None], overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.asarray(array), affine)
    img.header.set_xyzt_units("mm")
    if synthetic:
        img.header["descrip"] = f"{SYNTHETIC_TAG} medsynth_nb".encode()[:80]

    def write(tmp):
        if path.name.endswith(".gz"):
            # nibabel would stamp the time (and the temporary name) into the gzip header.
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz:
                gz.write(img.to_bytes())
        else:
            with open(tmp, "wb") as f:
                f.write(img.to_bytes())

    _atomic_write(path, write)
    if sidecar_path is not None:
        record = {"synthetic": True, "generator": "medsynth_nb", **(provenance or {})}
        _atomic_write(sidecar_path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, sort_keys=True)))
    return path


def save_slices(path: str | Path, images: np.ndarray, *, slice_gap_mm: float = 5.0, provenance: dict | None = None,
                overwrite: bool = False) -> Path:
    """Write a chapter's slices (N x H x W in display orientation, as the datasets hold them;
    or K x N x H x W, K along the 4th axis, e.g. samples) as a synthetic NIfTI volume in the
    phantom's [x, y, z] orientation. The affine holds the pixel spacing only (the slab's
    position in the head is not kept), which the provenance says."""
    from .data.phantom import FOV_MM

    images = np.asarray(images, dtype=np.float32)
    if images.ndim not in (3, 4):
        raise ValueError(f"save_slices takes N x H x W or K x N x H x W images; got shape {images.shape}.")
    # display slices [z, -y, x] -> [x, y, z], as the phantom writes its volumes
    to_volume = lambda a: np.ascontiguousarray(np.transpose(a, (2, 1, 0))[:, ::-1])  # noqa: E731
    volume = to_volume(images) if images.ndim == 3 else np.stack([to_volume(a) for a in images], axis=-1)
    pixel = FOV_MM / images.shape[-1]
    provenance = {"affine": "pixel spacing only; the slab's position in the head is not recorded", **(provenance or {})}
    return save_nifti(path, volume, np.diag([pixel, pixel, slice_gap_mm, 1.0]), provenance=provenance,
                      overwrite=overwrite)


def load_nifti(path: str | Path, canonical: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Image data (float32) and affine, reoriented to RAS+ (closest canonical) by default.

    A missing, truncated or non-NIfTI file raises a ValueError/FileNotFoundError that
    names the file and what to do, instead of a decompression traceback.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. Check the path (working folder: {Path.cwd()}).")
    try:
        img = nib.load(path)
        if canonical:
            img = nib.as_closest_canonical(img)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except (nib.filebasedimages.ImageFileError, EOFError, zlib.error, gzip.BadGzipFile, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable NIfTI image ({type(err).__name__}: {err}). The file may be "
                         "truncated or not NIfTI: download or export it again.") from err
    return data, img.affine


def is_synthetic(path: str | Path) -> bool:
    """True when the file carries the course's SYNTHETIC stamp."""
    header = nib.load(path).header
    return SYNTHETIC_TAG in bytes(header["descrip"]).decode(errors="ignore")


def load_dicom(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A DICOM series (folder) or file via MONAI's LoadImage; needs ``pydicom``."""
    from monai.transforms import LoadImage

    try:
        image = LoadImage(reader="PydicomReader", image_only=True, ensure_channel_first=False)(str(path))
    except (ImportError, RuntimeError, OptionalImportError) as err:
        raise ValueError(f"Could not read DICOM from {path} ({err}). DICOM needs pydicom: pip install pydicom") from err
    return np.asarray(image, dtype=np.float32), np.asarray(image.affine)


def save_subject(subject, out_dir: str | Path, *, with_clean: bool = False, overwrite: bool = False) -> list[Path]:
    """Write a phantom subject as ``<id>_<modality>.nii.gz`` (+ ``_clean``), ``<id>_tissue``,
    ``<id>_tumor`` and ``<id>.json`` (label codes, physics parameters, seed, provenance)."""
    from .data import phantom, tumor

    out = Path(out_dir)
    sid = subject.subject_id
    volumes = {f"{sid}_{m}": v for m, v in subject.images.items()}
    if with_clean:
        volumes.update({f"{sid}_{m}_clean": v for m, v in subject.clean.items()})
    volumes.update({f"{sid}_tissue": subject.tissue, f"{sid}_tumor": subject.tumor})
    meta = out / f"{sid}.json"
    _refuse_overwrite([out / f"{n}.nii.gz" for n in volumes] + [meta], overwrite)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, volume in volumes.items():
        dtype = np.uint8 if volume.dtype == np.uint8 else np.float32
        written.append(save_nifti(out / f"{name}.nii.gz", volume.astype(dtype), subject.affine,
                                  sidecar=False, overwrite=overwrite))
    record = {**subject.params, "subject": sid, "synthetic": True,
              "tissue_labels": phantom.TISSUE_LABELS, "tumor_labels": tumor.LABELS,
              "units": {"t1": "a.u.", "t2": "a.u.", "pd": "a.u.", "flair": "a.u.", "t1ce": "a.u.",
                        "ct": "HU", "pet": "relative FDG uptake (WM = 1)"}}
    _atomic_write(meta, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, sort_keys=True, default=str)))
    return written + [meta]
