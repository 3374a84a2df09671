"""Head anatomy for the phantom, derived from the MNI152 template that nilearn ships.

nilearn's wheel carries the ICBM 2009a symmetric 1 mm T1 template and its grey- and
white-matter probability maps (Fonov et al., NeuroImage 2011; BSD-3 via nilearn). The
template is skull-stripped, so the head around the brain is built here from distances
to the intracranial surface: subarachnoid CSF, a skull of inner table / diploe / outer
table, scalp fat, then air. The result is an *atlas*: a few smooth channels on the 1 mm
MNI grid that ``phantom`` warps and turns into tissue fractions per subject.

Computing the atlas takes a few seconds (distance transforms on 8.7 M voxels), so it is
cached on disk (``$MEDSYNTH_CACHE`` or ``~/.cache/medsynth_nb``).
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from medsynth_nb.io import atomic_write

ATLAS_VERSION = 1  # bump when the derivation below changes, to invalidate caches
_TEMPLATE = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
CSF_LAYER_MM = 2.0  # subarachnoid space between brain surface and skull


@dataclass(frozen=True)
class Atlas:
    """Channels on the 1 mm MNI grid (x, y, z), float32 in [0, 1] except ``dist_mm``."""

    gm: np.ndarray          # grey-matter probability
    wm: np.ndarray          # white-matter probability
    intracranial: np.ndarray  # 1 inside the skull (brain + CSF), soft edge
    dist_mm: np.ndarray     # distance outside the intracranial surface, mm (0 inside)
    affine: np.ndarray      # voxel -> MNI mm

    def stack(self) -> np.ndarray:
        return np.stack([self.gm, self.wm, self.intracranial, self.dist_mm])


def template_dir() -> Path:
    """Folder of the MNI152 files inside the installed nilearn, without importing nilearn
    (its import pulls in scikit-learn and pandas and costs seconds)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The phantom needs the MNI152 template shipped inside the 'nilearn' package. "
            "Install it with: pip install nilearn"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    if not (folder / _TEMPLATE.format("t1")).exists():
        raise FileNotFoundError(f"MNI152 template not found in {folder}; reinstall nilearn.")
    return folder


def _load(name: str) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(template_dir() / _TEMPLATE.format(name))
    return np.asanyarray(img.dataobj).astype(np.float32) / 255.0, img.affine


def _derive() -> Atlas:
    t1, affine = _load("t1")
    gm, _ = _load("gm")
    wm, _ = _load("wm")
    brain = t1 > 0  # the template is zero outside its brain mask
    # Close sulci and the interhemispheric fissure at the surface, fill holes, then add a
    # thin CSF layer: this is the inner surface of the skull.
    closed = ndimage.binary_closing(brain, structure=ndimage.generate_binary_structure(3, 1), iterations=4)
    closed = ndimage.binary_fill_holes(closed)
    outside = ndimage.distance_transform_edt(~closed)
    intracranial = outside <= CSF_LAYER_MM
    dist = ndimage.distance_transform_edt(~intracranial).astype(np.float32)
    # Soft edge (about 1 voxel) so warped, resampled boundaries have partial volume.
    ic = ndimage.gaussian_filter(intracranial.astype(np.float32), 0.7)
    return Atlas(gm=gm, wm=wm, intracranial=ic, dist_mm=dist, affine=affine)


CACHED_CHANNELS = ("gm", "wm", "intracranial", "dist_mm")


def _cache_file() -> Path:
    root = Path(os.environ.get("MEDSYNTH_CACHE", Path.home() / ".cache" / "medsynth_nb"))
    return root / f"mni_atlas_v{ATLAS_VERSION}.npz"


def load_atlas() -> Atlas:
    """The head atlas; built once per machine, then read from the disk cache (about
    0.3 s). Not kept in memory here: the phantom keeps the one stacked copy it samples."""
    path = _cache_file()
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return Atlas(**{k: z[k].astype(np.float32) for k in z.files})
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    # The cache holds float16 channels; the atlas of the first run is rounded the same way,
    # so a fresh machine renders the same subjects as every later run does.
    derived = _derive()
    stored = {name: getattr(derived, name).astype(np.float16) for name in CACHED_CHANNELS}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp):  # a file object: given a path, np.savez would append ".npz" to it
            with open(tmp, "wb") as f:
                np.savez(f, **stored, affine=derived.affine)

        atomic_write(path, write)
    except OSError:
        pass  # read-only home: works, just slower next time
    return Atlas(**{k: v.astype(np.float32) for k, v in stored.items()}, affine=derived.affine.astype(np.float32))
