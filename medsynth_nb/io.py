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

from medsynth_nb.orientation import FOV_MM, slab_from_display

SYNTHETIC_TAG = "SYNTHETIC"


def _sidecar(path: Path) -> Path:
    name = path.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_suffix(".json")


def atomic_write(path: str | Path, write) -> None:
    """Write ``path`` through ``write(tmp_path)`` into a temporary file beside it, then rename:
    a reader (or a crash) never sees a half-written file. The one atomic write of the course
    (images, checkpoints, caches, the data_fetch records)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600 would hide the file from other readers
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def current_umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def refuse_overwrite(paths, overwrite: bool) -> None:
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
    refuse_overwrite([p for p in (path, sidecar_path) if p is not None], overwrite)
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

    atomic_write(path, write)
    if sidecar_path is not None:
        record = {"synthetic": True, "generator": "medsynth_nb", **(provenance or {})}
        atomic_write(sidecar_path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, sort_keys=True)))
    return path


def save_slices(path: str | Path, images: np.ndarray, *, slice_gap_mm: float = 5.0, provenance: dict | None = None,
                overwrite: bool = False) -> Path:
    """Write a chapter's slices (N x H x W in display orientation, as the datasets hold them;
    or K x N x H x W, K along the 4th axis, e.g. samples) as a synthetic NIfTI volume in the
    phantom's [x, y, z] orientation. The affine holds the pixel spacing only (the slab's
    position in the head is not kept), which the provenance says."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim not in (3, 4):
        raise ValueError(f"save_slices takes N x H x W or K x N x H x W images; got shape {images.shape}.")
    volume = (slab_from_display(images) if images.ndim == 3
              else np.stack([slab_from_display(a) for a in images], axis=-1))
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


def verify_synthetic(path: str | Path, **expected) -> dict:
    """Re-read an exported synthetic image and check its stamp and provenance: the SYNTHETIC
    tag in the header, a sidecar that says ``synthetic``, and every ``expected`` key (e.g.
    ``model="unet"``) with that value in the sidecar. Returns the sidecar; a ValueError
    names what is missing. The check a course export passes before it leaves the program."""
    path = Path(path)
    if not is_synthetic(path):
        raise ValueError(f"{path} has no {SYNTHETIC_TAG} stamp in its header: it was not written as a synthetic "
                         "image by the course (medsynth_nb.io.save_nifti). Do not pass it on as one.")
    sidecar = _sidecar(path)
    if not sidecar.exists():
        raise ValueError(f"{path} has no provenance sidecar ({sidecar.name}): where it came from is unknown.")
    record = json.loads(sidecar.read_text())
    wrong = {k: (record.get(k), v) for k, v in expected.items() if record.get(k) != v}
    if not record.get("synthetic") or wrong:
        raise ValueError(f"{sidecar} does not record the expected provenance: "
                         + ", ".join(f"{k} is {got!r}, expected {want!r}" for k, (got, want) in wrong.items())
                         + ("" if record.get("synthetic") else " (and it does not say synthetic)"))
    return record


def load_dicom(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A DICOM series (folder) or file via MONAI's LoadImage; needs ``pydicom``."""
    from monai.transforms import LoadImage  # here: MONAI loads torch, which NIfTI files do not need
    from monai.utils import OptionalImportError  # raised by MONAI readers when pydicom is missing

    try:
        image = LoadImage(reader="PydicomReader", image_only=True, ensure_channel_first=False)(str(path))
    except (ImportError, RuntimeError, OptionalImportError) as err:
        raise ValueError(f"Could not read DICOM from {path} ({err}). DICOM needs pydicom: pip install pydicom") from err
    return np.asarray(image, dtype=np.float32), np.asarray(image.affine)
