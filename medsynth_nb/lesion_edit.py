"""Editing a tumour label map by hand (chapter 06): the logic behind the painter.

The editor works on one axial slice: an H x W uint8 map with the BraTS codes of
``data.tumor.LABELS`` (0 background, 1 necrosis, 2 oedema, 3 enhancing), and a brain
mask of the same shape. ``LabelEditor`` holds the current map. Every edit is a small
JSON-able dict in ``editor.history`` (``{"op": "brush", "label": 3, "centre": [r, c],
"radius": 4}``), so a map is its starting map plus a list of actions: ``replay``
rebuilds it bit for bit, and ``save_edit`` stores the list as the map's provenance,
together with the starting map and the brain mask, so that ``load_edit`` gives back
everything ``replay`` needs.

Positions are ``[row, column]`` indices of the map as given; angles are counter-clockwise
as ``imshow(labels)`` draws the map.

Two rules keep a map a plausible tumour:

- **Tumour stays in the brain.** An edit that would put tumour pixels outside the brain
  mask (or off the image) is refused with a ValueError and changes nothing; with
  ``clip=True`` it keeps the part inside the brain instead. So the editor's map never has
  tumour outside the brain, and a starting map must not have any either.
- **Sub-regions nest** as in a glioblastoma: necrosis inside an enhancing rim, oedema
  around the core (necrosis + enhancing). Painting does not enforce this, because a map
  is half-finished while it is being painted; ``problems`` says in words what is
  implausible and ``repair`` (or ``editor.repair()``, an undoable edit) fixes it.

No widgets and no torch here: editing needs numpy and scipy only, so the painter starts
fast (``save_edit`` and ``load_edit`` import ``medsynth_nb.io``, which loads MONAI).
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from .data.tumor import LABELS, check_labels

NECROSIS, EDEMA, ENHANCING = 1, 2, 3
PRESETS = ("small enhancing lesion", "large necrotic tumour with oedema", "multifocal")
MAX_SCALE = 10.0  # per step; beyond it a lesion outgrows any brain, and the grid it is sampled on grows as factor^2


# --------------------------------------------------------------------------- checks


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _check_mask(brain_mask) -> np.ndarray:
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


def _check_start(labels, brain: np.ndarray) -> np.ndarray:
    """The editor's starting map as uint8: valid values, no tumour outside the brain."""
    labels = _check_shape(labels, brain)
    bad = sorted(set(np.unique(labels).tolist()) - set(LABELS))
    outside = int(np.count_nonzero((labels > 0) & ~brain))
    if bad or outside:
        what = _bad_values_message(bad) if bad else (
            f"The starting map has {_plural(outside, 'tumour pixel')} outside the brain mask.")
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
    brain = _check_mask(brain_mask)
    labels = _check_shape(labels, brain)
    found = []
    bad = sorted(set(np.unique(labels).tolist()) - set(LABELS))
    if bad:
        found.append(_bad_values_message(bad))
    outside = int(np.count_nonzero((labels > 0) & ~brain))
    if outside:
        found.append(f"Tumour lies outside the brain mask at {_plural(outside, 'pixel')}: a brain tumour grows "
                     "in the brain. repair() removes it.")
    exposed = int(np.count_nonzero(_exposed_necrosis(labels)))
    if exposed:
        found.append(f"Necrosis touches oedema or background directly at {_plural(exposed, 'pixel')}: necrosis "
                     "should be enclosed by enhancing tumour. repair() turns those pixels into enhancing tumour.")
    holes = _core_holes(labels, brain)
    oedema_inside = int(np.count_nonzero(holes & (labels == EDEMA)))
    if oedema_inside:
        found.append(f"Oedema sits inside the tumour core at {_plural(oedema_inside, 'pixel')}: oedema surrounds "
                     "the core (necrosis + enhancing tumour), it is not enclosed by it. repair() turns it into "
                     "enhancing tumour.")
    empty_inside = int(np.count_nonzero(holes & (labels == 0)))
    if empty_inside:
        found.append(f"The tumour core has a hole of background at {_plural(empty_inside, 'pixel')}: paint it as "
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
    brain = _check_mask(brain_mask)
    labels = _check_shape(labels, brain)
    unknown = sorted(set(np.unique(labels).tolist()) - set(LABELS) - {4})
    if unknown:
        raise ValueError(_bad_values_message(unknown))
    fixed = labels.astype(np.uint8)  # a copy: the caller's map is left as it was
    changes = []
    brats = fixed == 4
    if brats.any():
        fixed[brats] = ENHANCING
        changes.append(f"mapped {_plural(int(brats.sum()), 'pixel')} of label 4 (BraTS/MSD enhancing) to 3")
    outside = (fixed > 0) & ~brain
    if outside.any():
        fixed[outside] = 0
        changes.append(f"removed {_plural(int(outside.sum()), 'tumour pixel')} outside the brain mask")
    holes = _core_holes(fixed, brain)
    if holes.any():
        fixed[holes] = ENHANCING
        changes.append(f"filled {_plural(int(holes.sum()), 'oedema or background pixel')} enclosed by the core "
                       "with enhancing tumour")
    # One pass suffices: it only turns necrosis into enhancing, which exposes no other necrosis.
    exposed = _exposed_necrosis(fixed)
    if exposed.any():
        fixed[exposed] = ENHANCING
        changes.append(f"turned {_plural(int(exposed.sum()), 'necrosis pixel')} touching oedema or background "
                       "into enhancing tumour")
    return fixed, changes


# --------------------------------------------------------------------------- shapes on the pixel grid


def _number(value, name: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value}.")
    return value


def _point(point, name: str = "centre") -> list[float]:
    if len(point) != 2:
        raise ValueError(f"{name} must be a [row, column] pair; got {point!r}.")
    return [_number(point[0], name), _number(point[1], name)]


def _label(label) -> int:
    if label == 4:
        raise ValueError("Label 4 is BraTS/MSD's code for enhancing tumour; this course uses 3.")
    if label not in LABELS:
        raise ValueError(f"Unknown label {label!r}; choose one of "
                         + ", ".join(f"{k} = {v}" for k, v in LABELS.items()) + ".")
    return int(label)


def _onto_image(patch: np.ndarray, origin: tuple[int, int], shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """``patch`` (whose pixel [0, 0] is image pixel ``origin``) pasted on an empty image,
    and how many of its non-zero pixels fell off the image."""
    image = np.zeros(shape, patch.dtype)
    (r0, c0), (h, w) = origin, patch.shape
    rows = slice(min(max(r0, 0), shape[0]), max(min(r0 + h, shape[0]), 0))
    cols = slice(min(max(c0, 0), shape[1]), max(min(c0 + w, shape[1]), 0))
    image[rows, cols] = patch[rows.start - r0: rows.stop - r0, cols.start - c0: cols.stop - c0]
    return image, int(np.count_nonzero(patch)) - int(np.count_nonzero(image))


def _grid(lo, hi) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Integer rows and columns (open mesh) covering the box [lo, hi], and its origin."""
    lo, hi = np.floor(lo).astype(int), np.ceil(hi).astype(int)
    rows, cols = np.ogrid[lo[0]: hi[0] + 1, lo[1]: hi[1] + 1]
    return rows, cols, (int(lo[0]), int(lo[1]))


def _near_path(points, radius: float, shape) -> tuple[np.ndarray, int]:
    """Pixels within ``radius`` of the polyline through ``points`` (one point: a disc,
    (r-r0)^2 + (c-c0)^2 <= radius^2), on the image, and how many fell off it."""
    points = np.asarray(points, dtype=float)
    rows, cols, origin = _grid(points.min(0) - radius, points.max(0) + radius)
    inside = np.zeros((rows.shape[0], cols.shape[1]), bool)
    for a, b in zip(points, points[1:]) if len(points) > 1 else [(points[0], points[0])]:
        step = b - a
        length2 = float(step @ step)
        # Closest point of the segment a-b to each pixel; t = 0 (the point a) for a single point.
        t = np.clip(((rows - a[0]) * step[0] + (cols - a[1]) * step[1]) / length2, 0, 1) if length2 else 0.0
        inside |= (rows - (a[0] + t * step[0])) ** 2 + (cols - (a[1] + t * step[1])) ** 2 <= radius**2
    return _onto_image(inside, origin, shape)


def _transformed(labels: np.ndarray, inverse: np.ndarray, centre, shift) -> tuple[np.ndarray, int]:
    """The lesion moved by y = A (x - centre) + centre + shift, sampled nearest-neighbour
    (labels stay labels) through ``inverse`` = A^-1; and how many pixels fell off the image.

    It is sampled on the box the moved lesion covers, not on the image, so that what falls
    off the image is counted instead of silently lost."""
    centre, shift = np.asarray(centre, float), np.asarray(shift, float)
    rows, cols = np.nonzero(labels)
    top, bottom, left, right = rows.min() - 0.5, rows.max() + 0.5, cols.min() - 0.5, cols.max() + 0.5
    corners = np.array([[top, left], [top, right], [bottom, left], [bottom, right]])
    moved = (corners - centre) @ np.linalg.inv(inverse).T + centre + shift
    out_rows, out_cols, origin = _grid(moved.min(0) - 1, moved.max(0) + 1)  # 1 px margin for rounding
    dr, dc = out_rows - centre[0] - shift[0], out_cols - centre[1] - shift[1]
    # Nearest source pixel: round half up, the same on every machine.
    src_r = np.floor(inverse[0, 0] * dr + inverse[0, 1] * dc + centre[0] + 0.5).astype(int)
    src_c = np.floor(inverse[1, 0] * dr + inverse[1, 1] * dc + centre[1] + 0.5).astype(int)
    (h, w) = labels.shape
    valid = (src_r >= 0) & (src_r < h) & (src_c >= 0) & (src_c < w)
    patch = np.where(valid, labels[np.clip(src_r, 0, h - 1), np.clip(src_c, 0, w - 1)], 0)
    return _onto_image(patch.astype(np.uint8), origin, labels.shape)


def _rotation_inverse(degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    # Counter-clockwise on screen, in [row, col] (rows run down): A = [[cos, -sin], [sin, cos]];
    # its inverse is its transpose.
    return np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])


def _scale_inverse(factor: float) -> np.ndarray:
    if not 0 < factor <= MAX_SCALE:
        raise ValueError(f"The scale factor must be in (0, {MAX_SCALE:g}]; got {factor}. Scale in several steps "
                         "for more.")
    return np.eye(2) / factor


def _require_lesion(labels: np.ndarray, what: str) -> None:
    if not labels.any():
        raise ValueError(f"There is no lesion to {what}: paint one first (brush, stroke or preset).")


def _centroid(labels: np.ndarray, what: str) -> list[float]:
    _require_lesion(labels, what)
    return [float(v) for v in np.argwhere(labels > 0).mean(0)]


def _preset_map(name: str, centre, brain: np.ndarray) -> tuple[np.ndarray, int]:
    """A preset lesion centred on ``centre`` and how many of its pixels fell off the image.
    Concentric discs, painted outside-in so the sub-regions nest (oedema, enhancing,
    necrosis), with radii in fractions of the brain's (that of a disc as large as the mask),
    so a preset looks the same at any image size."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {list(PRESETS)}.")
    brain_radius = math.sqrt(brain.sum() / math.pi)
    r, c = centre
    if name == "small enhancing lesion":               # a metastasis: solid enhancing, thin oedema
        foci, fractions = [(r, c)], {EDEMA: 0.14, ENHANCING: 0.08}
    elif name == "large necrotic tumour with oedema":  # a glioblastoma
        foci, fractions = [(r, c)], {EDEMA: 0.35, ENHANCING: 0.2, NECROSIS: 0.12}
    else:                                               # three small foci in one oedema
        d = 0.18 * brain_radius
        foci = [(r - d, c), (r + d / 2, c - d * math.sqrt(3) / 2), (r + d / 2, c + d * math.sqrt(3) / 2)]
        fractions = {EDEMA: 0.16, ENHANCING: 0.07}
    # At least 1 px, so that a preset on a tiny map is not empty.
    radii = {label: max(f * brain_radius, 1.0) for label, f in fractions.items()}
    outer = max(radii.values())
    rows, cols, origin = _grid(np.min(foci, 0) - outer, np.max(foci, 0) + outer)
    patch = np.zeros((rows.shape[0], cols.shape[1]), np.uint8)
    for label, radius in radii.items():
        for fr, fc in foci:
            patch[(rows - fr) ** 2 + (cols - fc) ** 2 <= radius**2] = label
    return _onto_image(patch, origin, brain.shape)


def _entry(op: str, *, clip: bool = False, **fields) -> dict:
    """A history entry. ``clip`` is written only when set: replay reads its absence as
    False, and short entries keep the history readable."""
    return {"op": op, **fields, **({"clip": True} if clip else {})}


_OPS = ("brush", "erase", "stroke", "move", "scale", "rotate", "preset", "reset", "repair", "undo", "redo")


# --------------------------------------------------------------------------- the editor


class LabelEditor:
    """The current label map of one slice, with undo/redo and a replayable history.

    ``labels``: H x W, values 0-3, no tumour outside ``brain_mask`` (clean a map with
    ``repair`` first). ``editor.labels`` is read-only: change it through the editor, so
    that every change is in the history.
    """

    def __init__(self, labels, brain_mask):
        self.brain_mask = _check_mask(brain_mask)
        self.brain_mask.flags.writeable = False
        self._initial = _check_start(labels, self.brain_mask)
        self._initial.flags.writeable = False
        self._labels = self._initial
        self._history: list[dict] = []
        # Whole maps, not diffs: a slice is a few kB, and undo then cannot drift.
        self._undo: list[np.ndarray] = []
        self._redo: list[np.ndarray] = []

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    @property
    def initial_labels(self) -> np.ndarray:
        """The starting map (read-only): what ``reset`` returns to and ``replay`` starts from."""
        return self._initial

    @property
    def history(self) -> list[dict]:
        return copy.deepcopy(self._history)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # Each public edit builds its history entry and applies it exactly as ``replay`` will.

    def brush(self, label: int, centre, radius: float, *, clip: bool = False) -> None:
        """Paint ``label`` on the pixels with (r - r0)^2 + (c - c0)^2 <= radius^2 around
        ``centre`` = [r0, c0]."""
        self._apply(_entry("brush", label=_label(label), centre=_point(centre), radius=_number(radius, "radius"),
                           clip=clip))

    def erase(self, centre, radius: float) -> None:
        """Paint background on a disc (brush with label 0)."""
        self._apply(_entry("erase", centre=_point(centre), radius=_number(radius, "radius")))

    def stroke(self, label: int, points, radius: float, *, clip: bool = False) -> None:
        """Paint ``label`` within ``radius`` of the line through ``points`` (a mouse drag):
        one undo step. Label 0 erases."""
        points = [_point(p, "each stroke point") for p in points]
        if not points:
            raise ValueError("A stroke needs at least one [row, column] point.")
        self._apply(_entry("stroke", label=_label(label), points=points, radius=_number(radius, "radius"),
                           clip=clip))

    def move(self, dy: float, dx: float, *, clip: bool = False) -> None:
        """Shift the whole lesion by ``dy`` rows and ``dx`` columns."""
        self._apply(_entry("move", dy=_number(dy, "dy"), dx=_number(dx, "dx"), clip=clip))

    def scale(self, factor: float, *, clip: bool = False) -> None:
        """Grow (factor > 1) or shrink the whole lesion about its centroid; its area
        changes by about factor^2."""
        self._apply(_entry("scale", factor=_number(factor, "factor"), centre=_centroid(self._labels, "scale"),
                           clip=clip))

    def rotate(self, degrees: float, *, clip: bool = False) -> None:
        """Turn the whole lesion counter-clockwise (as imshow shows it) about its centroid."""
        self._apply(_entry("rotate", degrees=_number(degrees, "degrees"), centre=_centroid(self._labels, "rotate"),
                           clip=clip))

    def preset(self, name: str, centre, *, clip: bool = False) -> None:
        """Replace the map by a preset lesion (one of ``PRESETS``) centred on ``centre``."""
        self._apply(_entry("preset", name=name, centre=_point(centre), clip=clip))

    def reset(self) -> None:
        """Back to the starting map (undoable)."""
        self._apply({"op": "reset"})

    def repair(self) -> list[str]:
        """Apply ``repair`` to the current map, as one undoable edit; returns what was
        changed (nothing is recorded when nothing needed changing)."""
        changes = repair(self._labels, self.brain_mask)[1]
        if changes:
            self._apply({"op": "repair"})
        return changes

    def problems(self) -> list[str]:
        """``problems`` of the current map."""
        return problems(self._labels, self.brain_mask)

    def undo(self) -> None:
        if not self._undo:
            raise ValueError("Nothing to undo: no edit since the start (check editor.can_undo).")
        self._apply({"op": "undo"})

    def redo(self) -> None:
        if not self._redo:
            raise ValueError("Nothing to redo: nothing was undone, or a new edit came after the undo "
                             "(check editor.can_redo).")
        self._apply({"op": "redo"})

    def _apply(self, entry: dict) -> None:
        op = entry.get("op")
        if op not in _OPS:
            raise ValueError(f"Unknown edit {op!r}; known are {list(_OPS)}.")
        if op == "undo":
            previous = self._undo.pop()  # an IndexError (replay reports it) before anything changed
            self._redo.append(self._labels)
            self._labels = previous
        elif op == "redo":
            following = self._redo.pop()
            self._undo.append(self._labels)
            self._labels = following
        else:
            new = self._edited(entry)  # raises, changing nothing, when the edit is refused
            new.flags.writeable = False
            self._undo.append(self._labels)
            self._redo.clear()
            self._labels = new
        self._history.append(copy.deepcopy(entry))

    def _edited(self, entry: dict) -> np.ndarray:
        """The map after ``entry``; a ValueError when it would put tumour outside the brain."""
        op = entry["op"]
        if op in ("brush", "erase", "stroke"):
            label = 0 if op == "erase" else _label(entry["label"])
            points = entry["points"] if op == "stroke" else [entry["centre"]]
            radius = _number(entry["radius"], "radius")
            if radius < 0:
                raise ValueError(f"The brush radius must be >= 0 pixels; got {radius}.")
            covered, off_image = _near_path([_point(p) for p in points], radius, self.brain_mask.shape)
            new = self._labels.copy()
            new[covered] = label
            return self._settle(new, off_image if label else 0, entry)
        if op in ("move", "scale", "rotate"):
            _require_lesion(self._labels, op)
            if op == "move":
                inverse, centre, shift = np.eye(2), (0.0, 0.0), (_number(entry["dy"], "dy"), _number(entry["dx"], "dx"))
            else:
                inverse = (_scale_inverse(_number(entry["factor"], "factor")) if op == "scale"
                           else _rotation_inverse(_number(entry["degrees"], "degrees")))
                centre, shift = _point(entry["centre"]), (0.0, 0.0)
            return self._settle(*_transformed(self._labels, inverse, centre, shift), entry)
        if op == "preset":
            return self._settle(*_preset_map(entry["name"], _point(entry["centre"]), self.brain_mask), entry)
        if op == "reset":
            return self._initial.copy()
        return repair(self._labels, self.brain_mask)[0]  # "repair"

    def _settle(self, new: np.ndarray, off_image: int, entry: dict) -> np.ndarray:
        """``new`` if it keeps all tumour inside the brain; with clip=True, its part inside."""
        outside = (new > 0) & ~self.brain_mask
        n_outside = int(np.count_nonzero(outside)) + off_image
        if n_outside and not entry.get("clip", False):
            off = f" ({off_image} of them off the image)" if off_image else ""
            raise ValueError(f"This {entry['op']} would put {_plural(n_outside, 'tumour pixel')} outside the brain "
                             f"mask{off}, so nothing was changed. Keep only the part inside the brain with "
                             f"editor.{entry['op']}(..., clip=True), or edit further inside the brain.")
        new[outside] = 0
        return new


def replay(initial_labels, brain_mask, history: list[dict]) -> np.ndarray:
    """The map that ``history`` (``editor.history``, also after a JSON round trip) makes
    of ``initial_labels``: the same, bit for bit, as the editor's."""
    editor = LabelEditor(initial_labels, brain_mask)
    for i, entry in enumerate(history):
        try:
            editor._apply(dict(entry))
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise ValueError(f"History entry {i} ({entry!r}) cannot be replayed on this map ({err}). Replay needs "
                             "the starting map and brain mask the history was recorded on.") from err
    return editor.labels.copy()


# --------------------------------------------------------------------------- files

# Maps save_edit writes besides the images; image names must not clash with them.
_MAPS = ("labels", "initial_labels", "brain_mask")


class SavedEdit(NamedTuple):
    """An edit read back by ``load_edit``: ``replay(initial_labels, brain_mask, history)``
    gives ``labels`` bit for bit."""

    labels: np.ndarray          # H x W uint8, the edited map
    initial_labels: np.ndarray  # H x W uint8, the map the history starts from
    brain_mask: np.ndarray      # H x W bool, the mask the history was recorded on
    history: list[dict]
    provenance: dict            # the labels' sidecar


def _edit_files(out_dir, stem: str, names) -> dict[str, tuple[Path, Path]]:
    """NIfTI file and provenance sidecar (``name.json`` beside ``name.nii.gz``, as
    ``io.save_nifti`` writes it) of the maps in ``_MAPS`` and of each of ``names``."""
    if not stem or Path(stem).name != stem:
        raise ValueError(f"The file stem must be a plain name without folders; got {stem!r}.")
    for name in names:
        if not name or Path(name).name != name or name in _MAPS:
            raise ValueError(f"Image name {name!r} cannot be part of a file name (and {list(_MAPS)} are taken by "
                             "the maps); use e.g. 't1' or 'flair'.")
    out = Path(out_dir)
    return {name: (out / f"{stem}_{name}.nii.gz", out / f"{stem}_{name}.json") for name in (*_MAPS, *names)}


def save_edit(out_dir, stem: str, labels, images: dict[str, np.ndarray], affine, history: list[dict], *,
              initial_labels, brain_mask, overwrite: bool = False) -> list[Path]:
    """Write an edited slice: ``<stem>_labels.nii.gz``, the map the edit started from
    (``<stem>_initial_labels.nii.gz``), the brain mask it was edited in
    (``<stem>_brain_mask.nii.gz``) and ``<stem>_<contrast>.nii.gz`` for each of ``images``
    (H x W float), stamped SYNTHETIC, each with a JSON sidecar holding the edit history and
    the label codes. With the starting map and the mask on disk, the history can be replayed
    from the files alone (``load_edit``); it is replayed here before anything is written,
    and a history that does not turn ``initial_labels`` into ``labels`` is refused.

    Slices are stored as H x W x 1 volumes; ``affine`` is the slice's voxel -> mm affine
    (that of a one-slice grid, e.g. ``subject.affine``). Nothing is written if any of the
    files exists, unless ``overwrite``."""
    from . import io  # here, not at the top: io imports MONAI (and torch), which the editor does not need

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"save_edit writes one H x W slice; got labels of shape {labels.shape}.")
    labels = check_labels(labels, labels.shape)
    brain = _check_mask(brain_mask)
    initial = _check_start(initial_labels, brain)
    if brain.shape != labels.shape:
        raise ValueError(f"The brain mask has shape {brain.shape} but the labels {labels.shape}: both must be the "
                         "same slice.")
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4):
        raise ValueError(f"The affine must be 4 x 4 (voxel -> mm); got shape {affine.shape}.")
    for name, image in images.items():
        if np.shape(image) != labels.shape:
            raise ValueError(f"Image {name!r} has shape {np.shape(image)} but the labels {labels.shape}: "
                             "images and labels must be the same slice.")
    try:
        history = json.loads(json.dumps(history))
    except TypeError as err:
        raise ValueError(f"The history must be JSON-serialisable, as editor.history is ({err}).") from err
    try:
        replayed = replay(initial, brain, history)
        reason = "" if np.array_equal(replayed, labels) else "it gives other labels"
    except ValueError as err:
        reason = str(err)
    if reason:
        raise ValueError(f"Replaying the history on initial_labels does not give these labels ({reason}), so the "
                         "files would not reproduce them. Pass editor.labels, editor.initial_labels, "
                         "editor.brain_mask and editor.history of one editor.")
    files = _edit_files(out_dir, stem, list(images))
    # Every file is checked before any is written, so a refusal leaves no half-written edit.
    existing = [p.name for pair in files.values() for p in pair if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"Not overwriting {', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''} "
                              f"in {Path(out_dir)}. Choose another stem or folder, or pass overwrite=True.")
    record = {"content": "tumour label map edited by hand (medsynth_nb.lesion_edit)", "tumor_labels": LABELS,
              "edit_history": history, "files": sorted(nifti.name for nifti, _ in files.values())}
    arrays = {"labels": labels, "initial_labels": initial, "brain_mask": brain.astype(np.uint8),
              **{name: np.asarray(image, np.float32) for name, image in images.items()}}
    return [io.save_nifti(files[name][0], array[:, :, None], affine, overwrite=overwrite,
                          provenance={**record, "image": name})
            for name, array in arrays.items()]


def _load_map(path: Path) -> np.ndarray:
    """One H x W x 1 map written by ``save_edit``, as an H x W uint8 label map."""
    from . import io

    # Not reoriented to RAS+: the map comes back in the editor's own index order.
    data, _ = io.load_nifti(path, canonical=False)
    if data.ndim != 3 or data.shape[2] != 1:
        raise ValueError(f"{path} holds an image of shape {data.shape}, not one H x W x 1 slice as save_edit "
                         "writes; read volumes with medsynth_nb.io.load_nifti.")
    values = data[:, :, 0]
    if np.all(np.mod(values, 1) == 0):
        values = values.astype(np.int64)  # load_nifti gives float32; errors then name 4, not 4.0
    try:
        return check_labels(values, values.shape)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def load_edit(out_dir, stem: str) -> SavedEdit:
    """The edited labels, starting map, brain mask, history and provenance of a slice written
    by ``save_edit``: ``replay(saved.initial_labels, saved.brain_mask, saved.history)``
    reproduces ``saved.labels``."""
    files = _edit_files(out_dir, stem, [])
    path, sidecar = files["labels"]
    labels = _load_map(path)
    if not sidecar.exists():
        raise FileNotFoundError(f"{sidecar} is missing; it holds the edit history. Keep the .json file next to "
                                f"{path.name} (both are written by save_edit).")
    provenance = json.loads(sidecar.read_text())
    if "edit_history" not in provenance:
        raise ValueError(f"{sidecar} holds no edit history: {path.name} was not written by save_edit.")
    for name in ("initial_labels", "brain_mask"):
        if not files[name][0].exists():
            raise FileNotFoundError(f"{files[name][0]} is missing; the history cannot be replayed without it. Keep "
                                    f"all files save_edit wrote together: {provenance.get('files', [])}.")
    brain = _load_map(files["brain_mask"][0])
    if not np.isin(brain, (0, 1)).all():
        raise ValueError(f"{files['brain_mask'][0]} must hold 0/1 only; it is not a brain mask written by save_edit.")
    return SavedEdit(labels, _load_map(files["initial_labels"][0]), brain.astype(bool), provenance["edit_history"],
                     provenance)
