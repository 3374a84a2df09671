"""Editing a tumor label map by hand (chapter 06): the logic behind the painter.

``LabelEditor`` holds the current map of one axial slice (codes and brain mask as in
``nesting``). Every edit is a small JSON-able dict in ``editor.history`` (``{"op": "brush",
"label": 3, "center": [r, c], "radius": 4}``), so a map is its starting map plus a list of
actions: ``replay`` rebuilds it bit for bit (``saved_edit`` stores the list as the map's
provenance).

Positions are ``[row, column]`` indices of the map as given; angles are counter-clockwise
as ``imshow(labels)`` draws the map. An edit that would put tumor pixels outside the brain
mask (or off the image) is refused with a ValueError and changes nothing; with
``clip=True`` it keeps the part inside the brain instead.

No widgets and no torch here: editing needs numpy and scipy only, so the painter starts fast.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from medsynth_nb.data.tumor import LABELS
from medsynth_nb.lesions.nesting import EDEMA, ENHANCING, NECROSIS, check_mask, check_start, plural, problems, repair

PRESETS = ("small enhancing lesion", "large necrotic tumour with oedema", "multifocal")


MAX_SCALE = 10.0  # per step; beyond it a lesion outgrows any brain, and the grid it is sampled on grows as factor^2


def _number(value, name: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value}.")
    return value


def _point(point, name: str = "center") -> list[float]:
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


def _transformed(labels: np.ndarray, inverse: np.ndarray, center, shift) -> tuple[np.ndarray, int]:
    """The lesion moved by y = A (x - centre) + centre + shift, sampled nearest-neighbour
    (labels stay labels) through ``inverse`` = A^-1; and how many pixels fell off the image.

    It is sampled on the box the moved lesion covers, not on the image, so that what falls
    off the image is counted instead of silently lost."""
    center, shift = np.asarray(center, float), np.asarray(shift, float)
    rows, cols = np.nonzero(labels)
    top, bottom, left, right = rows.min() - 0.5, rows.max() + 0.5, cols.min() - 0.5, cols.max() + 0.5
    corners = np.array([[top, left], [top, right], [bottom, left], [bottom, right]])
    moved = (corners - center) @ np.linalg.inv(inverse).T + center + shift
    out_rows, out_cols, origin = _grid(moved.min(0) - 1, moved.max(0) + 1)  # 1 px margin for rounding
    dr, dc = out_rows - center[0] - shift[0], out_cols - center[1] - shift[1]
    # Nearest source pixel: round half up, the same on every machine.
    src_r = np.floor(inverse[0, 0] * dr + inverse[0, 1] * dc + center[0] + 0.5).astype(int)
    src_c = np.floor(inverse[1, 0] * dr + inverse[1, 1] * dc + center[1] + 0.5).astype(int)
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


def _preset_map(name: str, center, brain: np.ndarray) -> tuple[np.ndarray, int]:
    """A preset lesion centred on ``centre`` and how many of its pixels fell off the image.
    Concentric discs, painted outside-in so the sub-regions nest (oedema, enhancing,
    necrosis), with radii in fractions of the brain's (that of a disc as large as the mask),
    so a preset looks the same at any image size."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {list(PRESETS)}.")
    brain_radius = math.sqrt(brain.sum() / math.pi)
    r, c = center
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


class LabelEditor:
    """The current label map of one slice, with undo/redo and a replayable history.

    ``labels``: H x W, values 0-3, no tumour outside ``brain_mask`` (clean a map with
    ``repair`` first). ``editor.labels`` is read-only: change it through the editor, so
    that every change is in the history.
    """

    def __init__(self, labels, brain_mask):
        self.brain_mask = check_mask(brain_mask)
        self.brain_mask.flags.writeable = False
        self._initial = check_start(labels, self.brain_mask)
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

    def brush(self, label: int, center, radius: float, *, clip: bool = False) -> None:
        """Paint ``label`` on the pixels with (r - r0)^2 + (c - c0)^2 <= radius^2 around
        ``centre`` = [r0, c0]."""
        self._apply(_entry("brush", label=_label(label), center=_point(center), radius=_number(radius, "radius"),
                           clip=clip))

    def erase(self, center, radius: float) -> None:
        """Paint background on a disc (brush with label 0)."""
        self._apply(_entry("erase", center=_point(center), radius=_number(radius, "radius")))

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
        self._apply(_entry("scale", factor=_number(factor, "factor"), center=_centroid(self._labels, "scale"),
                           clip=clip))

    def rotate(self, degrees: float, *, clip: bool = False) -> None:
        """Turn the whole lesion counter-clockwise (as imshow shows it) about its centroid."""
        self._apply(_entry("rotate", degrees=_number(degrees, "degrees"), center=_centroid(self._labels, "rotate"),
                           clip=clip))

    def preset(self, name: str, center, *, clip: bool = False) -> None:
        """Replace the map by a preset lesion (one of ``PRESETS``) centred on ``centre``."""
        self._apply(_entry("preset", name=name, center=_point(center), clip=clip))

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
            points = entry["points"] if op == "stroke" else [entry["center"]]
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
                inverse, center, shift = np.eye(2), (0.0, 0.0), (_number(entry["dy"], "dy"), _number(entry["dx"], "dx"))
            else:
                inverse = (_scale_inverse(_number(entry["factor"], "factor")) if op == "scale"
                           else _rotation_inverse(_number(entry["degrees"], "degrees")))
                center, shift = _point(entry["center"]), (0.0, 0.0)
            return self._settle(*_transformed(self._labels, inverse, center, shift), entry)
        if op == "preset":
            return self._settle(*_preset_map(entry["name"], _point(entry["center"]), self.brain_mask), entry)
        if op == "reset":
            return self._initial.copy()
        return repair(self._labels, self.brain_mask)[0]  # "repair"

    def _settle(self, new: np.ndarray, off_image: int, entry: dict) -> np.ndarray:
        """``new`` if it keeps all tumour inside the brain; with clip=True, its part inside."""
        outside = (new > 0) & ~self.brain_mask
        n_outside = int(np.count_nonzero(outside)) + off_image
        if n_outside and not entry.get("clip", False):
            off = f" ({off_image} of them off the image)" if off_image else ""
            raise ValueError(f"This {entry['op']} would put {plural(n_outside, 'tumour pixel')} outside the brain "
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
