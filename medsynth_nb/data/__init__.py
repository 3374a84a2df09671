"""Data: the phantom (anatomy, physics, tumors, scanner sites), slice sets split by subject,
loaders for the phantom and fetched public datasets, image corruptions, chapter 06's
lesion/healthy pairs, and chapter 07's measurement operators (undersampled k-space, sparse-view
CT, low dose) with the slice sets measured by them (``inverse_problems``), and chapter 08's
tumour growth law and follow-up scans (``growth``) as forecasting data (``longitudinal``), and
chapter 09's slices of any contrast with their tissue labels (``tissue_slices``) and contiguous
volumes with 2.5-D and 3-D views of them (``volumes``); your own scans, checked and brought to
the course grid (``scans``), and a folder of them as a dataset (``folder``).

Names are loaded on first use (PEP 562), so ``from medsynth_nb.data import tumor`` stays
light: a label-map editor need not import torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "load_dataset": "loaders",
    "load_phantom": "phantom_slices",
    "SliceSet": "slices", "SynthesisData": "slices", "UnpairedSlices": "slices",
    "normalize": "intensity", "to_hu": "intensity", "CT_WINDOW_HU": "intensity", "MR_PERCENTILE": "intensity",
    "EditCanvas": "lesion_pairs", "LesionSlices": "lesion_pairs", "edit_canvases": "lesion_pairs",
    "load_lesion_data": "lesion_pairs", "margin_px": "lesion_pairs",
    "FollowUpSlices": "longitudinal", "LongitudinalData": "longitudinal", "load_longitudinal": "longitudinal",
    "TissueSlices": "tissue_slices",
    "load_folder": "folder", "read_scan": "scans", "load_scan_slices": "scans",
    "SliceStack": "volumes", "VolumePatches": "volumes", "load_volumes": "volumes", "slices_from_volumes": "volumes",
    "stacked": "volumes", "subject_volumes": "volumes", "volume_patches": "volumes",
}
_MODULES = ("anatomy", "corruptions", "fields", "folder", "growth", "intensity", "inverse_problems", "lesion_pairs",
            "loaders", "longitudinal", "measurement", "phantom", "phantom_slices", "physics", "real", "scans", "slices",
            "tissue_slices", "tumor", "volumes")
__all__ = sorted(_EXPORTS) + list(_MODULES)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
