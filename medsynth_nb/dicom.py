"""Reading and writing DICOM series: a folder of single-slice files <-> a volume and its affine.

Clinical images arrive as DICOM series (one file per slice, any order, any names), and a
synthetic image reaches a PACS viewer only as one. ``read_series`` gives the course's
convention (float32 ``[i, j, k]`` and a 4x4 affine to RAS mm, as nibabel's) and refuses every
folder that is not one complete 3-D series with one message that says what to do.
``write_series`` writes a new DERIVED series stamped "SYNTHETIC — not for diagnosis", if asked
in its source's study, atomically (a temporary sibling folder renamed into place).
i runs along ImageOrientationPatient's first triplet (the column index), j its second (rows)."""
from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import format_number_as_ds as decimal_string  # at most 16 characters, as DS requires

from medsynth_nb.io import SYNTHETIC_TAG, current_umask, refuse_overwrite

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])  # DICOM is LPS: RAS with x and y negated (its own inverse)
GEOMETRY_TAGS = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
SOP_CLASSES = {"MR": MRImageStorage, "CT": CTImageStorage}
SYNTHETIC_DESCRIPTION = f"{SYNTHETIC_TAG} — not for diagnosis"
# Type 1/2 attributes of the MR and CT Image modules; ScanningSequence "RM": research mode (not acquired).
MODALITY_ATTRIBUTES = {"MR": {"ScanningSequence": "RM", "SequenceVariant": "NONE", "MRAcquisitionType": "3D",
                              "ScanOptions": None, "EchoTime": None, "RepetitionTime": None, "EchoTrainLength": None},
                       "CT": {"KVP": None, "AcquisitionNumber": None}}
DUPLICATE_MM = 1e-3  # slices closer than this along the normal are the same slice
SPACING_TOLERANCE = 0.01  # relative: scanners jitter slice positions far less than 1 %
INFO = {"series_instance_uid": "SeriesInstanceUID", "study_instance_uid": "StudyInstanceUID",
        "patient_id": "PatientID", "modality": "Modality", "series_description": "SeriesDescription"}
MAX_LO, MAX_ST, MAX_LT = 64, 1024, 10240  # DICOM value lengths (characters) of the VRs used below


def _read_slice(path: Path) -> Dataset:
    try:
        ds = pydicom.dcmread(path)
    except Exception as err:  # truncated or corrupt files fail in many ways inside pydicom
        why = "no DICOM header" if isinstance(err, InvalidDicomError) else f"{type(err).__name__}: {err}"
        raise ValueError(f"{path} is not a DICOM file ({why}): remove it or move it out of the folder, which must "
                         "hold only the slices of one series.") from err
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ValueError(f"{path} is a multi-frame (enhanced) DICOM file ({frames} frames), not read here: convert "
                         "it to one file per slice (e.g. dcm4che's emf2sf) or read it with SimpleITK.ReadImage.")
    if "PixelData" not in ds:
        raise ValueError(f"{path} is DICOM but holds no image (no pixel data; {ds.get('SOPClassUID', 'unknown')!r}"
                         "): remove it or move it out of the folder.")
    return ds


def _pixels(path: Path, ds: Dataset) -> np.ndarray:
    """The slice as float32 [i, j] (pixel_array is [row, column] = [j, i]) in modality units."""
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise ValueError(f"{path} is a colour image ({ds.SamplesPerPixel} samples per pixel), not a CT/MR slice: "
                         "remove it or move it out of the folder.")
    try:
        stored = ds.pixel_array
    except Exception as err:  # missing decoder plugins and truncated data raise various errors
        raise ValueError(f"{path}: its pixel data cannot be decoded ({type(err).__name__}: {err}). Compressed DICOM "
                         "needs a decoder (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg) or "
                         "decompressing first (gdcmconv --raw).") from err
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return (stored.T * slope + intercept).astype(np.float32)


def _check_same_grid(slices: list[tuple[Path, Dataset]]) -> None:
    first_path, first = slices[0]
    for path, ds in slices[1:]:
        if not np.allclose(ds.ImageOrientationPatient, first.ImageOrientationPatient, atol=1e-4):
            what = "ImageOrientationPatient (slice orientation)"
        elif (ds.Rows, ds.Columns) != (first.Rows, first.Columns):
            what = f"size ({ds.Rows} x {ds.Columns} instead of {first.Rows} x {first.Columns} pixels)"
        elif not np.allclose(ds.PixelSpacing, first.PixelSpacing, rtol=1e-4):
            what = f"PixelSpacing ({list(ds.PixelSpacing)} mm instead of {list(first.PixelSpacing)} mm)"
        else:
            continue
        raise ValueError(f"{path} has a different {what} from {first_path.name}: the slices do not form one volume "
                         "(a localiser or a second series mixed in?). Remove the odd file(s) from the folder.")


def read_series(folder: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """The series in ``folder`` as a float32 volume ``[i, j, k]`` (k in increasing position along
    the slice normal, RescaleSlope/Intercept applied), its RAS affine, and header info (the keys
    of INFO, n_files, and ``reference``: the first slice's header without pixel data, for
    ``write_series``). Anything but one complete 3-D series raises a ValueError."""
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"{folder} does not exist. Check the path (working folder: {Path.cwd()}).")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file: pass the folder of the series (one file per slice), e.g. "
                         f"{folder.parent}.")
    # Hidden files (.DS_Store, ._* from macOS) and the DICOMDIR index are not slices.
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.name[0] != "." and p.name.upper() != "DICOMDIR")
    if not paths:
        subfolders = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_dir())[:5])
        raise ValueError(f"{folder} holds no DICOM files{f' (only folders: {subfolders})' if subfolders else ''}: "
                         "pass the folder that holds the slice files of one series.")
    slices = [(path, _read_slice(path)) for path in paths]
    series: dict[str, list[tuple[Path, Dataset]]] = {}
    for path, ds in slices:
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((path, ds))
    if len(series) > 1:
        listing = "; ".join(f"'{group[0][1].get('SeriesDescription', '') or '(no description)'}' ({len(group)} "
                            f"files, e.g. {group[0][0].name})" for group in series.values())
        raise ValueError(f"{folder} mixes {len(series)} DICOM series: {listing}. Put each series in its own folder "
                         "and read them one at a time.")
    for path, ds in slices:
        missing = [tag for tag in GEOMETRY_TAGS if ds.get(tag) is None]
        if missing:
            raise ValueError(f"{path} has no {', '.join(missing)}: it is not a slice of a 3-D series (a 2-D image, "
                             "a secondary capture or a report?). Remove it, or export the series as CT/MR slices.")
    if len(slices) == 1:
        raise ValueError(f"{folder} holds a single slice ({paths[0].name}): a 2-D image, not a volume. Put all the "
                         "slices of the series in the folder, or read the one image with pydicom.dcmread.")
    _check_same_grid(slices)
    orientation = np.asarray(slices[0][1].ImageOrientationPatient, float)
    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    positions = np.array([np.dot(ds.ImagePositionPatient, normal) for _, ds in slices])
    order = np.argsort(positions, kind="stable")
    slices, positions = [slices[o] for o in order], positions[order]
    gaps = np.diff(positions)
    if (gaps < DUPLICATE_MM).any():
        n = int(np.flatnonzero(gaps < DUPLICATE_MM)[0])
        raise ValueError(f"{slices[n][0]} and {slices[n + 1][0].name} are at the same position ({positions[n]:.2f} "
                         "mm along the slice normal): duplicate slices. Remove the extra copies and read again.")
    spacing = float(np.median(gaps))
    uneven = np.flatnonzero(np.abs(gaps - spacing) > SPACING_TOLERANCE * spacing)
    if uneven.size:
        n = int(uneven[0])
        raise ValueError(f"{folder}: uneven slice spacing, a gap of {gaps[n]:.2f} mm between {slices[n][0].name} "
                         f"and {slices[n + 1][0].name} where the other slices are {spacing:.2f} mm apart: about "
                         f"{max(round(gaps[n] / spacing) - 1, 1)} slice(s) missing. Export the complete series again.")
    volume = np.stack([_pixels(path, ds) for path, ds in slices], axis=-1)
    first, last = (np.asarray(slices[n][1].ImagePositionPatient, float) for n in (0, -1))
    row_spacing, column_spacing = (float(v) for v in slices[0][1].PixelSpacing)
    lps = np.eye(4)
    lps[:3, 0] = row_direction * column_spacing  # i: along a row, one column to the next
    lps[:3, 1] = column_direction * row_spacing  # j: down a column, one row to the next
    lps[:3, 2] = (last - first) / (len(slices) - 1)  # the actual step, so a gantry tilt is kept
    lps[:3, 3] = first
    reference = copy.deepcopy(slices[0][1])
    del reference.PixelData
    info = {name: str(reference.get(keyword, "")) for name, keyword in INFO.items()}
    return volume, LPS_FROM_RAS @ lps, {**info, "n_files": len(slices), "reference": reference}


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slice_geometry(affine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The LPS affine, the unit directions of i, j, k (columns) and the voxel sizes."""
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise ValueError(f"The affine must be a finite 4x4 matrix; got shape {affine.shape}.")
    lps = LPS_FROM_RAS @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    if (spacing < 1e-6).any():
        raise ValueError(f"The affine has a zero-length voxel axis (voxel sizes {spacing.round(4)} mm).")
    directions = lps[:3, :3] / spacing
    cosines = np.abs(directions.T @ directions - np.eye(3)).max()
    if cosines > 1e-4:
        raise ValueError(f"The affine is sheared (its voxel axes are not perpendicular; largest cosine {cosines:.3g})"
                         ": DICOM slices need perpendicular axes. Resample the volume onto an unsheared grid first.")
    return lps, directions, spacing


def _rescale(volume: np.ndarray) -> tuple[float, float]:
    """RescaleSlope and RescaleIntercept for int16 storage: exact for integral values that
    fit (CT in HU), else the value range spread over int16's (a step of range / 65534)."""
    low, high = float(volume.min()), float(volume.max())
    if np.array_equal(volume, np.round(volume)) and low >= -32768 and high <= 32767:
        return 1.0, 0.0
    # Round-tripped through the decimal strings written, so the stored values use the same ones.
    intercept = float(decimal_string((low + high) / 2))
    slope = float(decimal_string(max(high - low, 1e-6) / 65534 * (1 + 1e-9)))
    return slope, intercept


def _new_series(modality: str, description: str, record: dict, reference: Dataset | None) -> Dataset:
    date, time = datetime.now().strftime("%Y%m%d %H%M%S").split()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: the description has an em dash, names may have accents
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID, ds.Modality = SOP_CLASSES[modality], modality
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesDescription = _fit(": ".join(filter(None, (SYNTHETIC_DESCRIPTION, description))), MAX_LO)
    ds.SeriesDate = ds.ContentDate = ds.InstanceCreationDate = date
    ds.SeriesTime = ds.ContentTime = ds.InstanceCreationTime = time
    ds.Manufacturer, ds.BurnedInAnnotation = "medsynth_nb", "NO"
    provenance = json.dumps(record, sort_keys=True, default=str)
    ds.ImageComments = _fit(f"{SYNTHETIC_DESCRIPTION}. Made by medsynth_nb; provenance: {provenance}", MAX_LT)
    ds.DerivationDescription = _fit(provenance, MAX_ST)
    # Identity: the source's patient and study, so the series sits beside it; else a new phantom study.
    identity = {"PatientName": "SYNTHETIC^PHANTOM", "PatientID": "SYNTHETIC", "PatientBirthDate": "",
                "PatientSex": "", "StudyInstanceUID": generate_uid(), "StudyDate": date, "StudyTime": time,
                "StudyID": "", "StudyDescription": f"{SYNTHETIC_TAG} (medsynth_nb)", "AccessionNumber": "",
                "ReferringPhysicianName": "", "FrameOfReferenceUID": generate_uid(), "PositionReferenceIndicator": ""}
    if reference is not None:  # str: a PN is decoded with the source's character set, written as UTF-8
        identity.update({key: str(reference.get(key)) for key in identity if reference.get(key) not in (None, "")})
    for key, value in {**identity, **MODALITY_ATTRIBUTES[modality]}.items():
        setattr(ds, key, value)
    source_number = reference.get("SeriesNumber") if reference is not None else None
    ds.SeriesNumber = int(source_number) + 1000 if source_number not in (None, "") else 1000  # a derived series' habit
    return ds


def write_series(folder: str | Path, volume: np.ndarray, affine: np.ndarray, *, modality: str = "MR",
                 series_description: str, provenance: dict, reference: Dataset | None = None,
                 overwrite: bool = False) -> list[Path]:
    """Write ``volume`` ([i, j, k], RAS ``affine``) as a new DICOM series in ``folder``, one
    int16 file per k slice (IM0001.dcm ...), MR (or CT) Image Storage, DERIVED\\SECONDARY,
    stamped SYNTHETIC with the provenance; with ``reference`` (read_series' info) in the
    source's patient and study. Returns the files. A left-handed affine (det < 0) reads back
    k-reversed (readers order slices along the normal) with the same world geometry."""
    folder = Path(folder)
    volume = np.asarray(volume, dtype=np.float64)
    if volume.ndim != 3 or 0 in volume.shape:
        raise ValueError(f"write_series takes a 3-D volume [i, j, k]; got shape {volume.shape}.")
    if not np.isfinite(volume).all():
        raise ValueError("The volume holds NaN or infinite values, which DICOM cannot store: replace them first.")
    if modality not in SOP_CLASSES:
        raise ValueError(f"modality must be one of {sorted(SOP_CLASSES)}; got {modality!r}.")
    lps, directions, spacing = _slice_geometry(affine)
    if folder.is_file():
        raise ValueError(f"{folder} is a file: write_series writes a folder. Choose another folder.")
    if folder.exists() and any(folder.iterdir()):
        refuse_overwrite([folder], overwrite)
    slope, intercept = _rescale(volume)
    stored = np.clip(np.round((volume - intercept) / slope), -32768, 32767).astype("<i2")
    shared = _new_series(modality, series_description, {"synthetic": True, "generator": "medsynth_nb",
                                                        **provenance}, reference)
    shared.ImageOrientationPatient = [decimal_string(v) for v in (*directions[:, 0], *directions[:, 1])]
    shared.PixelSpacing = [decimal_string(spacing[1]), decimal_string(spacing[0])]  # between rows (j), columns (i)
    shared.SliceThickness = shared.SpacingBetweenSlices = decimal_string(spacing[2])
    shared.Columns, shared.Rows = volume.shape[:2]
    shared.SamplesPerPixel, shared.PhotometricInterpretation = 1, "MONOCHROME2"
    shared.BitsAllocated, shared.BitsStored, shared.HighBit, shared.PixelRepresentation = 16, 16, 15, 1
    shared.RescaleSlope, shared.RescaleIntercept = decimal_string(slope), decimal_string(intercept)
    low, high = volume.min(), volume.max()
    shared.WindowCenter, shared.WindowWidth = decimal_string((low + high) / 2), decimal_string(max(high - low, 1.0))
    normal = np.cross(directions[:, 0], directions[:, 1])
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp's 0700 would hide the series from other readers
    width = max(4, len(str(volume.shape[2])))
    names = [f"IM{k + 1:0{width}d}.dcm" for k in range(volume.shape[2])]
    try:
        for k, name in enumerate(names):
            ds = copy.deepcopy(shared)
            ds.SOPInstanceUID = generate_uid()
            ds.InstanceNumber = k + 1
            position = lps[:3, 3] + k * lps[:3, 2]
            ds.ImagePositionPatient = [decimal_string(v) for v in position]
            ds.SliceLocation = decimal_string(np.dot(position, normal))
            ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()  # rows are j, columns i
            _save(ds, staging / name)
        _replace_folder(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return [folder / name for name in names]


def _save(ds: Dataset, path: Path) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if int(pydicom.__version__.split(".")[0]) >= 3:
        ds.save_as(path, enforce_file_format=True)
    else:  # pydicom 2.x (the package allows >= 2.4) encodes from these flags
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)


def _replace_folder(staging: Path, folder: Path) -> None:
    """Rename ``staging`` to ``folder``; an existing one is moved aside, deleted once replaced."""
    if not folder.exists():
        os.replace(staging, folder)
        return
    old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
    os.replace(folder, old)
    try:
        os.replace(staging, folder)
    except OSError:
        os.replace(old, folder)
        raise
    shutil.rmtree(old)
