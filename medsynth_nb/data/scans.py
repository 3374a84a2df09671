"""A user's scan, checked and brought to the course's grid.

- ``read_scan(path)``: a NIfTI file or a DICOM series folder as a ``Scan`` (array + RAS
  affine), refused with one clear message when it cannot be a volume for the course: 2-D,
  4-D, NaN/Inf, empty or tiny; ``read_labels`` also checks a label map's codes.
- ``to_course_grid(images, affine, ...)``: MONAI transforms, invertible, so a prediction
  goes back to the scan's own grid (``medsynth predict``):
  1. ``Orientationd("RAS")``: any storage order (LPS DICOM, RAS NIfTI) -> RAS, axis 2 axial;
  2. ``Spacingd``: in-plane pixels of ``FOV_MM / image_size`` mm, as every course grid;
     through-plane ``slice_gap_mm`` (training slabs) or the scan's own (prediction: every
     acquired slice is predicted). Images are anti-aliased first where they are downsampled
     (the sigma scikit-image's rescale uses); label maps are resampled nearest-neighbour;
  3. ``CropForegroundd`` on the head mask, then ``ResizeWithPadOrCropd`` to
     ``image_size`` x ``image_size``: the head centred in the course's field of view.
- ``load_scan_slices(path, modality, image_size, n_slices)``: normalised axial slices of
  one scan in display orientation, as a chapter's datasets hold them (the apps' upload).

Intensities are normalised as the phantom's and the fetched datasets' (``intensity.normalize``
inside a head mask: Otsu threshold, holes filled, largest component; ``real.head_mask``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
from scipy import ndimage

from medsynth_nb.data.intensity import normalize
from medsynth_nb.data.phantom import TISSUE_LABELS
from medsynth_nb.data.real import head_mask
from medsynth_nb.data.tumor import LABELS as TUMOR_LABELS
from medsynth_nb.orientation import FOV_MM, display_slices

MIN_VOXELS = 8            # fewer voxels along an axis is not a volume a slice model can use
LABEL_CODES = {"tumor": set(TUMOR_LABELS), "tissue": set(TISSUE_LABELS)}
SLICE_GAP_MM = 5.0        # the course's slabs: axial slices 5 mm apart


class ScanError(ValueError):
    """A scan the course cannot use; the message names the file and what to do."""


@dataclass
class Scan:
    array: np.ndarray     # float32 [i, j, k]
    affine: np.ndarray    # voxel -> RAS world mm (nibabel convention)
    path: Path
    dicom: dict | None = None  # a DICOM series' header info (dicom.read_series), e.g. for a derived series

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def same_grid(self, other: "Scan") -> bool:
        return self.array.shape == other.array.shape and np.allclose(self.affine, other.affine, atol=1e-3)

    def describe(self) -> str:
        return f"{self.path.name} ({'x'.join(map(str, self.array.shape))} voxels of " \
               f"{'x'.join(f'{s:.2g}' for s in self.spacing)} mm)"


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, dict | None]:
    if path.is_dir():
        from medsynth_nb.dicom import read_series  # pydicom only for DICOM folders

        return read_series(path)
    if not path.exists():
        raise ScanError(f"{path} does not exist. Check the path (working folder: {Path.cwd()}).")
    try:
        image = nib.load(path)
        return np.asarray(image.dataobj, dtype=np.float32), image.affine, None
    except Exception as err:  # nibabel raises many types for a bad file; all mean the same to a user
        raise ScanError(f"{path} is not a readable NIfTI image ({type(err).__name__}: {err}). The file may be "
                        "truncated or in another format: export it again as .nii.gz, or pass a DICOM series "
                        "folder.") from err


def read_scan(path: str | Path) -> Scan:
    """One volume from a NIfTI file or a DICOM series folder, checked (see the module docstring)."""
    path = Path(path)
    array, affine, dicom = _read(path)
    array = array.reshape(array.shape[:3] + tuple(n for n in array.shape[3:] if n > 1))  # drop trailing 1s
    if array.ndim > 3:
        raise ScanError(f"{path} is {array.ndim}-D (shape {array.shape}): a time series or several volumes in one "
                        "file. Split it (e.g. nibabel or fslsplit) and pass one 3-D volume.")
    if array.ndim < 3 or 1 in array.shape:
        raise ScanError(f"{path} is 2-D (shape {array.shape}): a single slice. The course needs a volume of "
                        "several slices.")
    if min(array.shape) < MIN_VOXELS:
        raise ScanError(f"{path} is tiny (shape {array.shape}): fewer than {MIN_VOXELS} voxels along an axis. "
                        "Is it a thumbnail or a localiser? Pass the diagnostic volume.")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ScanError(f"{path} holds {int(bad.sum())} NaN or infinite voxels. Fix the file (e.g. replace them "
                        "with 0 in the tool that made it); the course does not guess values.")
    if array.max() == array.min():
        raise ScanError(f"{path} is empty: every voxel is {array.flat[0]:g}. Check that the export wrote the image.")
    if not np.isfinite(np.linalg.det(affine[:3, :3])) or abs(np.linalg.det(affine[:3, :3])) < 1e-6:
        raise ScanError(f"{path} has no valid voxel-to-world affine (its voxel sizes are zero). Fix the header.")
    return Scan(array, np.asarray(affine, dtype=np.float64), path, dicom)


def read_labels(path: str | Path, kind: str) -> Scan:
    """A label map (``kind`` "tumor" or "tissue") whose values must be the course's codes."""
    scan = _labels_only(Path(path))
    values = np.unique(scan.array)
    unknown = [int(v) if float(v).is_integer() else float(v) for v in values if v not in LABEL_CODES[kind]]
    if unknown:
        codes = TUMOR_LABELS if kind == "tumor" else TISSUE_LABELS
        raise ScanError(f"{scan.path} is a {kind} label map with values {unknown[:8]} outside the course's codes "
                        f"{codes}. Map your labels to these codes first (e.g. BraTS 4 -> 3 enhancing).")
    scan.array = scan.array.astype(np.uint8)
    return scan


def _labels_only(path: Path) -> Scan:
    # A label map may legitimately be all zeros (no tumour): only the geometry checks apply.
    array, affine, _ = _read(path)
    if array.ndim != 3 or min(array.shape) < MIN_VOXELS:
        raise ScanError(f"{path}: a label map must be a 3-D volume like its images (shape {array.shape}).")
    if not np.isfinite(array).all():
        raise ScanError(f"{path}: a label map with NaN or infinite values. Export it again.")
    return Scan(array, np.asarray(affine, dtype=np.float64), path)


def _anti_aliased(array: np.ndarray, affine: np.ndarray, target_mm: tuple[float, float, float | None]) -> np.ndarray:
    """Gaussian pre-filter where ``array`` will be downsampled (per stored axis, mapped to RAS)."""
    to_ras = nib.orientations.io_orientation(affine)[:, 0].astype(int)  # stored axis -> RAS axis
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    target = np.array([target_mm[a] if target_mm[a] is not None else s for a, s in zip(to_ras, spacing)])
    sigma = np.maximum((target / spacing - 1) / 2, 0)
    return ndimage.gaussian_filter(array, sigma) if sigma.any() else array


def to_course_grid(images: dict[str, np.ndarray], affine: np.ndarray, *, image_size: int,
                   slice_gap_mm: float | None = None, labels: dict[str, np.ndarray] | None = None,
                   ) -> tuple[dict[str, np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """``images`` (and ``labels``) of one grid as RAS ``[x, y, z]`` volumes on the course grid
    (normalised images, a ``"head"`` mask and the labels), and ``inverse``: a volume on that
    grid (e.g. a prediction) -> the input's own grid, voxel for voxel (linear interpolation)."""
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Compose, CropForegroundd, Orientationd, ResizeWithPadOrCropd, Spacingd

    pixel = FOV_MM / image_size
    labels = labels or {}
    first = next(iter(images.values()))
    head = head_mask(first).astype(np.float32)
    target = (pixel, pixel, slice_gap_mm)
    arrays = {m: normalize(_anti_aliased(v, affine, target), m.removesuffix("_clean"), head > 0)
              for m, v in images.items()}
    arrays.update({"head": head, **{k: v.astype(np.float32) for k, v in labels.items()}})
    keys = list(arrays)
    modes = ["bilinear" if k in images else "nearest" for k in keys]
    transform = Compose([
        Orientationd(keys, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S")), allow_missing_keys=True),
        Spacingd(keys, pixdim=(pixel, pixel, slice_gap_mm or -1), mode=modes, allow_missing_keys=True),
        CropForegroundd(keys, source_key="head", allow_smaller=True, allow_missing_keys=True),
        ResizeWithPadOrCropd(keys, spatial_size=(image_size, image_size, -1), allow_missing_keys=True),
    ])
    affine_t = torch.as_tensor(affine, dtype=torch.float64)
    out = transform({k: MetaTensor(torch.from_numpy(np.ascontiguousarray(v))[None], affine=affine_t)
                     for k, v in arrays.items()})
    reference = out[keys[0]]
    grid = {k: out[k][0].numpy() for k in keys}
    for k in images:
        grid[k] = np.clip(grid[k], 0, 1).astype(np.float32)
    for k in ["head", *labels]:
        grid[k] = np.rint(grid[k]).astype(np.uint8)

    def inverse(volume: np.ndarray) -> np.ndarray:
        if volume.shape != reference.shape[1:]:
            raise ValueError(f"inverse takes a volume on the course grid {tuple(reference.shape[1:])}, "
                             f"got {volume.shape}.")
        on_grid = MetaTensor(torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None],
                             affine=reference.affine,
                             # inverting pops the record of each transform: every call gets its own copy
                             applied_operations=copy.deepcopy(reference.applied_operations))
        return transform.inverse({keys[0]: on_grid})[keys[0]][0].numpy()

    return grid, inverse


def axial_window(head: np.ndarray, n_slices: int, where: str) -> slice:
    """The ``n_slices`` consecutive axial slices centred on the slice with the most head."""
    depth = head.shape[2]
    if depth < n_slices:
        raise ScanError(f"{where} covers {depth} slices of {SLICE_GAP_MM:g} mm on the course grid; the profile takes "
                        f"{n_slices}. Pass a scan that covers the head, or fewer slices per subject.")
    start = int(np.clip(np.argmax(head.sum((0, 1))) - n_slices // 2, 0, depth - n_slices))
    return slice(start, start + n_slices)


def load_scan_slices(path: str | Path, modality: str, image_size: int, n_slices: int) -> np.ndarray:
    """``n_slices`` normalised axial slices (``[n, H, W]`` float32 in [0, 1], display
    orientation, 5 mm apart around the head's widest slice) of one scan."""
    scan = read_scan(path)
    grid, _ = to_course_grid({modality: scan.array}, scan.affine, image_size=image_size, slice_gap_mm=SLICE_GAP_MM)
    window = axial_window(grid["head"], n_slices, scan.path.name)
    return display_slices(grid[modality][:, :, window])
