"""The rules a plausible tumor label map keeps (chapter 06).

A map is one axial slice: an H x W uint8 array of the BraTS codes of ``data.tumor.LABELS``
(0 background, 1 necrosis, 2 edema, 3 enhancing), with a brain mask of the same shape.

- **Tumor stays in the brain**: a starting map must have no tumor outside the mask
  (``check_start``); the editor refuses edits that would put any there.
- **Sub-regions nest** as in a glioblastoma: necrosis inside an enhancing rim, edema
  around the core (necrosis + enhancing). Painting does not enforce this, because a map
  is half-finished while it is being painted; ``problems`` says in words what is
  implausible and ``repair`` fixes it.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from medsynth_nb.data.tumor import EDEMA, ENHANCING, LABELS, NECROSIS


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def check_mask(brain_mask) -> np.ndarray:
    mask = np.asarray(brain_mask)
    if mask.ndim != 2:
        raise ValueError(f"The brain mask must be one H x W slice; got shape {mask.shape}. "
                         "Pass a 2-D mask, e.g. volume_mask[:, :, k] for slice k.")
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("The brain mask must hold True/False (or 0/1) only; threshold it first, e.g. mask > 0.5.")
    if not mask.any():
        raise ValueError("The brain mask is empty, so no tumour can be placed. Pass the slice's brain mask.")
    return mask.astype(bool)


def _check_shape(labels, brain: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != brain.shape:
        raise ValueError(f"The label map has shape {labels.shape} but the brain mask {brain.shape}; "
                         "paint the labels on the mask's own grid.")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.isfinite(labels).all() or not np.all(np.mod(labels, 1) == 0):
            raise ValueError("The label map must hold whole numbers 0-3; found fractional or missing values.")
        labels = labels.astype(np.int64)
    return labels


def check_start(labels, brain: np.ndarray) -> np.ndarray:
    """The editor's starting map as uint8: valid values, no tumour outside the brain."""
    labels = _check_shape(labels, brain)
    bad = sorted(set(np.unique(labels).tolist()) - set(LABELS))
    outside = int(np.count_nonzero((labels > 0) & ~brain))
    if bad or outside:
        what = _bad_values_message(bad) if bad else (
            f"The starting map has {plural(outside, 'tumour pixel')} outside the brain mask.")
        raise ValueError(f"{what} Clean the map first: labels, changes = repair(labels, brain_mask).")
    return labels.astype(np.uint8)


def _bad_values_message(bad: list[int]) -> str:
    message = (f"Label values {bad} are not allowed; allowed are "
               + ", ".join(f"{k} = {v}" for k, v in LABELS.items()) + ".")
    if 4 in bad:
        message += " BraTS/MSD maps use 4 for enhancing tumour: repair() maps 4 to 3."
    others = [v for v in bad if v != 4]
    if others:
        message += f" repair() cannot guess what {others} mean: map them to 0-3 yourself."
    return message


def _core(labels: np.ndarray) -> np.ndarray:
    # 4 is BraTS/MSD's enhancing code: count it as core, so its other problems show at once.
    return np.isin(labels, (NECROSIS, ENHANCING, 4))


def _exposed_necrosis(labels: np.ndarray) -> np.ndarray:
    """Necrosis pixels with a side neighbour (or the image edge) that is not core."""
    return (labels == NECROSIS) & ndimage.binary_dilation(~_core(labels), border_value=1)


def _core_holes(labels: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Brain pixels enclosed by the core that are not core themselves."""
    core = _core(labels)
    return ndimage.binary_fill_holes(core) & ~core & brain


def problems(labels, brain_mask) -> list[str]:
    """What is implausible about a label map, in plain words (empty: nothing found).

    Checked: label values other than 0-3; tumour outside the brain mask; necrosis touching
    oedema or background (it should be enclosed by enhancing tumour); oedema or
    background enclosed by the core (oedema surrounds the core, it is not inside it).
    """
    brain = check_mask(brain_mask)
    labels = _check_shape(labels, brain)
    found = []
    bad = sorted(set(np.unique(labels).tolist()) - set(LABELS))
    if bad:
        found.append(_bad_values_message(bad))
    outside = int(np.count_nonzero((labels > 0) & ~brain))
    if outside:
        found.append(f"Tumour lies outside the brain mask at {plural(outside, 'pixel')}: a brain tumour grows "
                     "in the brain. repair() removes it.")
    exposed = int(np.count_nonzero(_exposed_necrosis(labels)))
    if exposed:
        found.append(f"Necrosis touches oedema or background directly at {plural(exposed, 'pixel')}: necrosis "
                     "should be enclosed by enhancing tumour. repair() turns those pixels into enhancing tumour.")
    holes = _core_holes(labels, brain)
    edema_inside = int(np.count_nonzero(holes & (labels == EDEMA)))
    if edema_inside:
        found.append(f"Oedema sits inside the tumour core at {plural(edema_inside, 'pixel')}: oedema surrounds "
                     "the core (necrosis + enhancing tumour), it is not enclosed by it. repair() turns it into "
                     "enhancing tumour.")
    empty_inside = int(np.count_nonzero(holes & (labels == 0)))
    if empty_inside:
        found.append(f"The tumour core has a hole of background at {plural(empty_inside, 'pixel')}: paint it as "
                     "necrosis (1) for a ring-enhancing lesion, or let repair() fill it with enhancing tumour.")
    return found


def repair(labels, brain_mask) -> tuple[np.ndarray, list[str]]:
    """A plausible version of ``labels`` and what was changed, in words.

    In order: 4 (BraTS/MSD enhancing) becomes 3; tumour outside the brain becomes
    background; oedema or background enclosed by the core becomes enhancing tumour
    (enhancing may border anything, so the fill never creates a new problem); necrosis
    touching oedema or background becomes enhancing tumour, giving it a rim. After this,
    ``problems`` finds nothing. Other invalid values raise a ValueError: what they mean
    cannot be guessed.
    """
    brain = check_mask(brain_mask)
    labels = _check_shape(labels, brain)
    unknown = sorted(set(np.unique(labels).tolist()) - set(LABELS) - {4})
    if unknown:
        raise ValueError(_bad_values_message(unknown))
    fixed = labels.astype(np.uint8)  # a copy: the caller's map is left as it was
    changes = []
    brats = fixed == 4
    if brats.any():
        fixed[brats] = ENHANCING
        changes.append(f"mapped {plural(int(brats.sum()), 'pixel')} of label 4 (BraTS/MSD enhancing) to 3")
    outside = (fixed > 0) & ~brain
    if outside.any():
        fixed[outside] = 0
        changes.append(f"removed {plural(int(outside.sum()), 'tumour pixel')} outside the brain mask")
    holes = _core_holes(fixed, brain)
    if holes.any():
        fixed[holes] = ENHANCING
        changes.append(f"filled {plural(int(holes.sum()), 'oedema or background pixel')} enclosed by the core "
                       "with enhancing tumour")
    # One pass suffices: it only turns necrosis into enhancing, which exposes no other necrosis.
    exposed = _exposed_necrosis(fixed)
    if exposed.any():
        fixed[exposed] = ENHANCING
        changes.append(f"turned {plural(int(exposed.sum()), 'necrosis pixel')} touching oedema or background "
                       "into enhancing tumour")
    return fixed, changes
