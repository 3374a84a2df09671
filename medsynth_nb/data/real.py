"""Real public datasets as ``SynthesisData``: slices, masks, labels and splits like the phantom's.

``load_real("msd_brain" | "ixi", profile)`` (what ``load_dataset`` calls for these names)
reads what ``python -m data_fetch get NAME`` extracted, preprocesses the subjects it needs
into a slice cache (one ``.npz`` per subject, written atomically, so an interrupted run
resumes and a finished subject is never redone) and loads them. Per subject:

1. volumes reoriented to RAS (nibabel ``as_closest_canonical``); IXI's T2 and PD come from
   one dual-echo acquisition, its T1 is registered to the T2 (rigid, mutual information,
   SimpleITK; without SimpleITK IXI holds T2 and PD only);
2. a mask: MSD is skull-stripped, so brain = nonzero; IXI: Otsu threshold, largest
   connected component, holes filled (the head);
3. intensities normalised as the phantom's (``intensity.normalize``: divide by the 99.5th
   percentile inside the mask, clip to [0, 1]);
4. ``slices_per_subject`` axial slices 5 mm apart around the slice with the most mask,
   resampled (anti-aliased, linear) to ``image_size`` pixels over the phantom's 230 mm field
   of view centred on the mask, in the phantom's display orientation (anterior up).

The split is by subject: a seeded permutation of all subjects, cut 60/20/20 and recorded in
``split-seed<seed>.json`` in the cache; a profile takes the first subjects of each part, so
a smaller profile's test subjects are never a larger one's training subjects.

What real data cannot give: ``clean`` is the acquired image (there is no noise-free truth),
``tissue`` is the mask (0/1, there is no tissue map), ``tumor`` is all zeros for IXI.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import nibabel.processing
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from tqdm.auto import tqdm

from medsynth_nb.data.intensity import MR_PERCENTILE, normalize
from medsynth_nb.data.phantom import FOV_MM
from medsynth_nb.data.slices import SliceSet, SynthesisData
from medsynth_nb.io import atomic_write

SLICE_GAP_MM = 5.0                 # as the phantom's slabs
SPLIT = (0.6, 0.2, 0.2)            # train / val / test fractions of the subjects
PREPROCESSING_VERSION = 1          # part of the cache folder's name: a change here never reuses old slices
REGISTRATION_MM = 2.0              # registration runs on scans binned to about this voxel size: finer than
                                   # any profile's pixels, and 5x faster than at IXI's 0.94 mm
REGISTRATION_SHRINK = [2, 1]       # its coarse-to-fine pyramid
MSD_CHANNELS = ("flair", "t1", "t1ce", "t2")
# Index: MSD label (1 oedema, 2 non-enhancing tumour core, 3 enhancing); value: the course's (tumor.LABELS).
MSD_TO_COURSE_LABELS = np.array([0, 2, 1, 3], dtype=np.uint8)
SIMPLEITK_MISSING = ("Registering IXI's T1 to its T2 needs SimpleITK: pip install SimpleITK "
                     "(or pip install 'medsynth-nb[real-data]').")


@dataclass
class Volumes:
    """One subject's volumes on one RAS voxel grid."""

    images: dict[str, np.ndarray]
    affine: np.ndarray
    mask: np.ndarray            # bool: brain (MSD) or head (IXI)
    tumor: np.ndarray | None    # course labels; None for healthy subjects


def _canonical(path: Path) -> nib.Nifti1Image:
    return nib.as_closest_canonical(nib.load(path))


class MSDBrain:
    """Task01_BrainTumour's labelled training subjects (imagesTr + labelsTr)."""

    name = "msd_brain"
    modalities = MSD_CHANNELS

    def __init__(self, folders: dict[str, Path]):
        base = folders["Task01_BrainTumour.tar"] / "Task01_BrainTumour"
        self.images_dir, self.labels_dir = base / "imagesTr", base / "labelsTr"

    def subject_ids(self) -> list[str]:
        # The archive also holds macOS "._BRATS_XXX.nii.gz" files, which the pattern skips.
        return sorted(p.name[: -len(".nii.gz")] for p in self.images_dir.glob("BRATS_*.nii.gz"))

    def read(self, subject_id: str) -> Volumes:
        image = _canonical(self.images_dir / f"{subject_id}.nii.gz")
        data = np.asarray(image.dataobj, dtype=np.float32)
        labels = np.asarray(_canonical(self.labels_dir / f"{subject_id}.nii.gz").dataobj).astype(np.uint8)
        return Volumes({m: data[..., c] for c, m in enumerate(MSD_CHANNELS)}, image.affine,
                       mask=(data != 0).any(-1), tumor=MSD_TO_COURSE_LABELS[labels])


class IXI:
    """IXI subjects that have every modality used (T1 only when it can be registered)."""

    name = "ixi"

    def __init__(self, folders: dict[str, Path], with_t1: bool):
        self.modalities = ("t1", "t2", "pd") if with_t1 else ("t2", "pd")
        self.folders = {m: folders[f"IXI-{m.upper()}.tar"] for m in self.modalities}

    def _path(self, modality: str, subject_id: str) -> Path:
        return self.folders[modality] / f"{subject_id}-{modality.upper()}.nii.gz"

    def subject_ids(self) -> list[str]:
        have = [{p.name[: -len(f"-{m.upper()}.nii.gz")] for p in folder.glob(f"IXI*-{m.upper()}.nii.gz")}
                for m, folder in self.folders.items()]
        return sorted(set.intersection(*have))

    def read(self, subject_id: str) -> Volumes:
        t2 = _canonical(self._path("t2", subject_id))
        pd = _canonical(self._path("pd", subject_id))
        if pd.shape != t2.shape or not np.allclose(pd.affine, t2.affine, atol=1e-3):
            pd = nibabel.processing.resample_from_to(pd, t2, order=1)
        images = {"t2": np.asarray(t2.dataobj, dtype=np.float32), "pd": np.asarray(pd.dataobj, dtype=np.float32)}
        if "t1" in self.modalities:
            images = {"t1": register_rigid(nib.load(self._path("t1", subject_id)), t2), **images}
        return Volumes(images, t2.affine, head_mask(images["t2"]), tumor=None)


def head_mask(volume: np.ndarray) -> np.ndarray:
    """Head of an MR volume: above Otsu's threshold, holes filled (in 3-D, then per axial
    slice, which also closes the dark skull and cavities open towards the neck), largest
    connected component (drops noise and artefacts outside the head)."""
    filled = ndimage.binary_fill_holes(volume > threshold_otsu(volume))
    filled = np.stack([ndimage.binary_fill_holes(filled[..., k]) for k in range(filled.shape[2])], -1)
    components, n = ndimage.label(filled)
    if n == 0:
        return filled
    return components == np.argmax(np.bincount(components.ravel())[1:]) + 1


def register_rigid(moving: nib.Nifti1Image, fixed: nib.Nifti1Image) -> np.ndarray:
    """``moving`` rigidly registered to ``fixed`` (Mattes mutual information, so the contrasts
    may differ) and resampled on ``fixed``'s voxel grid."""
    try:
        import SimpleITK as sitk
    except ImportError:
        raise ImportError(SIMPLEITK_MISSING) from None
    fixed_itk, moving_itk = _to_sitk(fixed, sitk), _to_sitk(moving, sitk)

    def binned(image):  # averaged down to about REGISTRATION_MM voxels
        return sitk.BinShrink(image, [max(1, round(REGISTRATION_MM / s)) for s in image.GetSpacing()])

    fixed_binned = binned(fixed_itk)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    # About 20 000 random samples per level (plenty for 6 parameters);
    # the fixed seed gives the same result every run.
    voxels = np.prod(fixed_binned.GetSize())
    method.SetMetricSamplingPercentagePerLevel([min(1.0, 20_000 * s**3 / voxels) for s in REGISTRATION_SHRINK], 0)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-2, numberOfIterations=100)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(REGISTRATION_SHRINK)
    method.SetSmoothingSigmasPerLevel([2.0, 0.0])  # mm
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    # Both scans come from one session, in scanner coordinates: start from "no head motion".
    initial = sitk.Euler3DTransform()
    initial.SetCenter(fixed_itk.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed_itk.GetSize()]))
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(fixed_binned, binned(moving_itk))
    registered = sitk.Resample(moving_itk, fixed_itk, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return np.ascontiguousarray(sitk.GetArrayFromImage(registered).transpose(2, 1, 0))


def _to_sitk(image: nib.Nifti1Image, sitk):
    """nibabel image (RAS world, x-fastest array) -> SimpleITK image (LPS world, z-fastest array)."""
    itk = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(image.dataobj, dtype=np.float32).transpose(2, 1, 0)))
    lps = np.diag([-1.0, -1.0, 1.0]) @ image.affine[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    itk.SetSpacing(spacing.tolist())
    itk.SetOrigin(lps[:, 3].tolist())
    itk.SetDirection((lps[:, :3] / spacing).ravel().tolist())
    return itk


def axial_slab(volumes: Volumes, image_size: int, n_slices: int) -> dict[str, np.ndarray]:
    """Normalised slices ``[n_slices, image_size, image_size]`` in the phantom's display
    orientation: images (float32), mask and tumour labels (uint8)."""
    affine, mask = volumes.affine, volumes.mask
    if not mask.any():
        raise ValueError("the mask is empty: no brain/head found")
    inside = np.argwhere(mask)
    center_voxel = (inside.min(0) + inside.max(0)) / 2
    center_voxel[2] = np.argmax(mask.sum((0, 1)))  # canonical grid: axis 2 is inferior -> superior
    center = affine[:3, :3] @ center_voxel + affine[:3, 3]
    pixel_mm = FOV_MM / image_size
    in_plane = (np.arange(image_size) - (image_size - 1) / 2) * pixel_mm
    heights = (np.arange(n_slices) - (n_slices - 1) / 2) * SLICE_GAP_MM
    z, row, col = np.meshgrid(heights, in_plane, in_plane, indexing="ij")
    world = np.stack([center[0] + col, center[1] - row, center[2] + z])  # rows run anterior -> posterior
    inverse = np.linalg.inv(affine)
    voxels = np.tensordot(inverse[:3, :3], world, axes=1) + inverse[:3, 3, None, None, None]
    # Anti-aliasing before downsampling in plane (the sigma skimage's rescale uses).
    sigma = np.maximum((pixel_mm / np.linalg.norm(affine[:3, :3], axis=0) - 1) / 2, 0) * [1, 1, 0]

    def sample(volume: np.ndarray, order: int) -> np.ndarray:
        return ndimage.map_coordinates(volume, voxels, order=order, mode="constant", cval=0)

    tumor = volumes.tumor if volumes.tumor is not None else np.zeros(mask.shape, dtype=np.uint8)
    return {"images": {m: np.clip(sample(ndimage.gaussian_filter(normalize(v, m, mask), sigma), 1), 0, 1)
                       .astype(np.float32) for m, v in volumes.images.items()},
            "mask": sample(mask.astype(np.uint8), 0), "tumor": sample(tumor, 0)}


def _save_npz(path: Path, slab: dict) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to the temporary name
            np.savez_compressed(f, mask=slab["mask"], tumor=slab["tumor"],
                                **{f"image_{m}": v for m, v in slab["images"].items()})

    atomic_write(path, write)


def preprocess(source: MSDBrain | IXI, subject_ids: list[str], cache: Path, image_size: int,
               slices_per_subject: int, progress: bool = True) -> None:
    """Write ``cache/<subject>.npz`` for each subject that has none yet."""
    cache.mkdir(parents=True, exist_ok=True)
    todo = [s for s in subject_ids if not (cache / f"{s}.npz").exists()]
    for subject_id in tqdm(todo, desc=f"{source.name}: preprocessing subjects", disable=not progress or not todo):
        try:
            slab = axial_slab(source.read(subject_id), image_size, slices_per_subject)
        except ValueError as err:
            raise ValueError(f"{source.name} subject {subject_id}: {err}") from err
        _save_npz(cache / f"{subject_id}.npz", slab)


def part_sizes(n_subjects: int) -> tuple[int, int, int]:
    n_val, n_test = max(1, round(SPLIT[1] * n_subjects)), max(1, round(SPLIT[2] * n_subjects))
    return n_subjects - n_val - n_test, n_val, n_test


def subject_split(cache: Path, subject_ids: list[str], seed: int) -> dict[str, list[str]]:
    """All subjects split by a seeded permutation; recorded on first use and reused after."""
    path = cache / f"split-seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    order = [str(s) for s in np.random.default_rng(seed).permutation(subject_ids)]
    n_train, n_val, _ = part_sizes(len(order))
    split = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(split, indent=1)))
    return split


def _slice_set(cache: Path, subject_ids: list[str], modalities: tuple[str, ...]) -> SliceSet:
    parts = []
    for subject_id in subject_ids:
        with np.load(cache / f"{subject_id}.npz") as stored:
            parts.append(dict(stored))
    images = {m: np.concatenate([p[f"image_{m}"] for p in parts]) for m in modalities}
    ids = np.concatenate([[s] * len(p["mask"]) for s, p in zip(subject_ids, parts)])
    return SliceSet(images, dict(images), np.concatenate([p["mask"] for p in parts]),
                    np.concatenate([p["tumor"] for p in parts]), ids)


def _source(name: str, data_dir) -> MSDBrain | IXI:
    import data_fetch

    loaders = {"msd_brain": MSDBrain, "ixi": IXI}
    known = f"load_dataset knows 'phantom' (embedded) and {', '.join(map(repr, loaders))} (download first: " \
        "python -m data_fetch get NAME --accept-license)."
    if name in data_fetch.DATASETS and name not in loaders:
        raise ValueError(f"{name!r} is download-only: the course has no slice loader for it yet (read its volumes "
                         f"with medsynth_nb.io.load_nifti). {known}")
    if name not in loaders:
        raise ValueError(f"Unknown dataset {name!r}. {known}")
    folders = data_fetch.require_fetched(name, data_dir)
    if name == "msd_brain":
        return MSDBrain(folders)
    try:
        import SimpleITK  # noqa: F401
        with_t1 = True
    except ImportError:
        warnings.warn(f"IXI without T1: {SIMPLEITK_MISSING} Using T2 and PD only (tasks t2:pd, pd:t2).",
                      stacklevel=4)  # points at the caller of load_dataset
        with_t1 = False
    return IXI(folders, with_t1)


def load_real(name: str, profile=None, *, n_subjects: int | None = None, image_size: int | None = None,
              slices_per_subject: int | None = None, seed: int = 0, data_dir=None,
              progress: bool = True) -> SynthesisData:
    """A fetched real dataset as train / val / test slices, sized by ``profile`` unless sizes
    are given (without either: the phantom's defaults, 40 subjects, 96 px, 8 slices)."""
    import data_fetch

    n_subjects = n_subjects or (profile.n_subjects if profile else 40)
    image_size = image_size or (profile.image_size if profile else 96)
    slices_per_subject = slices_per_subject or (profile.slices_per_subject if profile else 8)
    source = _source(name, data_dir)
    available = source.subject_ids()
    if min(n_subjects, len(available)) < 3:
        raise ValueError(f"{name}: need at least 3 subjects for a train/val/test split; asked for {n_subjects}, "
                         f"found {len(available)} in the extracted files (fetch it again if they are incomplete).")
    cache = (data_fetch.data_dir(data_dir) / name / "slices" /
             f"v{PREPROCESSING_VERSION}-{image_size}px-{slices_per_subject}slices-{'-'.join(source.modalities)}")
    split = subject_split(cache, available, seed)
    n_train, n_val, n_test = part_sizes(min(n_subjects, len(available)))
    chosen = {"train": split["train"][:n_train], "val": split["val"][:n_val], "test": split["test"][:n_test]}
    preprocess(source, [s for ids in chosen.values() for s in ids], cache, image_size, slices_per_subject, progress)
    sets = {part: _slice_set(cache, ids, source.modalities) for part, ids in chosen.items()}
    manifest = data_fetch.manifest(name)
    info = {"name": name, "seed": seed, "image_size": image_size, "slices_per_subject": slices_per_subject,
            "n_subjects": sum(len(ids) for ids in chosen.values()), "subjects_available": len(available),
            "modalities": list(source.modalities),
            "normalization": f"/ p{MR_PERCENTILE} inside the mask, clip [0,1] (as the phantom's MR)",
            "clean": "the acquired images: real data have no noise-free truth",
            "tissue": f"{'brain' if name == 'msd_brain' else 'head'} mask (0/1): real data have no tissue map",
            "tumor": "MSD labels mapped to the course's" if name == "msd_brain" else "none: healthy subjects",
            "license": manifest.license, "citation": manifest.citation, "cache": str(cache)}
    return SynthesisData(sets["train"], sets["val"], sets["test"], info)
