"""Intensity normalization of the course's images (per subject, documented because metrics
depend on it):
- MR and PET: divide by the 99.5th percentile inside the head, clip to [0, 1]. The
  clean (noise-free) image is normalized by its own percentile.
- CT: window -1000 ... 2000 HU mapped linearly to [0, 1] (``to_hu`` inverts it), so a
  CT error can be reported in HU."""
from __future__ import annotations

import numpy as np

CT_WINDOW_HU = (-1000.0, 2000.0)


MR_PERCENTILE = 99.5


def normalize(volume: np.ndarray, modality: str, head: np.ndarray, like: np.ndarray | None = None) -> np.ndarray:
    """Map a subject's image to [0, 1] (see the module docstring). ``like``: take the MR/PET
    scale from this image instead (the noise-free acquisition is put on its acquired image's
    scale, so that the two can be compared)."""
    if modality == "ct":
        lo, hi = CT_WINDOW_HU
        return np.clip((volume - lo) / (hi - lo), 0, 1).astype(np.float32)
    reference = volume if like is None else like
    scale = np.percentile(reference[head], MR_PERCENTILE) if head.any() else reference.max()
    return np.clip(volume / max(float(scale), 1e-8), 0, 1).astype(np.float32)


def to_hu(x):
    """Normalised CT -> Hounsfield units (works on arrays and tensors)."""
    lo, hi = CT_WINDOW_HU
    return x * (hi - lo) + lo
