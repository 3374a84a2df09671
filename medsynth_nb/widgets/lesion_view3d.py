"""The 3-D lesion view of chapter 06: paint a tumour label volume in NiiVue.

``LesionVolumeView(subject)`` shows a contrast of a 3-D phantom subject (T1w + Gd by
default) in NiiVue (``ipyniivue``) with its tumour label map as NiiVue's drawing layer,
and a toolbar: pen (necrosis, oedema, enhancing, eraser), pen size, clipping at the brain
edge, layout (three planes, one plane, 3-D render), undo. Switch "paint" on and drag on a
slice to paint.

- **Files.** The contrast and the label map are written as NIfTI (with the subject's
  affine) into ``folder`` (a temporary one by default) and handed to NiiVue from there:
  the image with ``NiiVue.load_volumes``, the labels with ``NiiVue.load_drawing`` once
  the browser has loaded the image (``on_image_loaded``).
- **Sync on mouse-up.** NiiVue paints in the browser and does not send its drawing back
  while you paint. On every left mouse-up (``on_mouse_up``) the view asks for it with the
  message ``set_drawing_enabled`` sends, after which the front end posts ``draw_bitmap``;
  ``receive_bitmap`` turns the flat bitmap into a label volume, checks it, records an
  undo step and calls ``on_change(labels)``, e.g. ``PhysicsPreview(subject)``, which re-renders.
  A refused stroke is taken back on screen by writing ``NiiVue.draw_bitmap``.
- **Voxel order.** NiiVue's drawing is its RAS-ordered voxel grid with x fastest. For the
  phantom's grids (axis-aligned, RAS+) that is the file's own ``[x, y, z]`` order, so a
  bitmap is ``labels.ravel(order="F")``; other affines are refused.
- **Offline and Colab.** ipyniivue is an anywidget: its JavaScript ships in the wheel, so
  nothing is fetched from the internet. On Colab custom widgets need
  ``google.colab.output.enable_custom_widget_manager()``, which the view calls itself.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import ipywidgets as W
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from ipyniivue import ColorMap, NiiVue, SliceType
from IPython.display import display

from medsynth_nb import viz
from medsynth_nb.data import phantom
from medsynth_nb.data.tumor import LABELS
from medsynth_nb.orientation import axial
from medsynth_nb.widgets.lesion_painter import PENS, _enable_colab_widgets

NAMES = {code: name for name, code in PENS.items() if code}  # the pens' names, as the toolbar shows them
LAYOUTS = {"3 planes": SliceType.MULTIPLANAR, "axial": SliceType.AXIAL, "coronal": SliceType.CORONAL,
           "sagittal": SliceType.SAGITTAL, "3-D": SliceType.RENDER}


def to_bitmap(labels) -> np.ndarray:
    """NiiVue's flat drawing bitmap of an ``[x, y, z]`` label volume on an RAS+ grid."""
    return np.asarray(labels, dtype=np.uint8).ravel(order="F")


def from_bitmap(bitmap, shape) -> np.ndarray:
    """The ``[x, y, z]`` label volume of NiiVue's flat drawing bitmap (inverse of ``to_bitmap``)."""
    bitmap = np.asarray(bitmap).ravel()
    if bitmap.size != int(np.prod(shape)):
        raise ValueError(f"NiiVue's drawing has {bitmap.size} voxels but the volume {tuple(shape)} has "
                         f"{int(np.prod(shape))}; was another image loaded into the viewer?")
    return bitmap.reshape(tuple(shape), order="F")


def _check_affine(affine) -> np.ndarray:
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4):
        raise ValueError(f"The affine must be 4 x 4 (voxel -> mm); got shape {affine.shape}.")
    axes = affine[:3, :3]
    if not (np.allclose(axes, np.diag(np.diag(axes))) and (np.diag(axes) > 0).all()):
        raise ValueError("The view needs an axis-aligned RAS+ grid (a diagonal affine with positive spacings), "
                         "as the phantom's grids are: NiiVue's drawing is stored in RAS voxel order. Reorient "
                         "the volume first, e.g. with nibabel.as_closest_canonical.")
    return affine


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _values_problem(labels: np.ndarray) -> str:
    """What is wrong with the values of ``labels`` ('' when all are tumour codes)."""
    bad = sorted(set(np.unique(labels).tolist()) - set(LABELS))
    if not bad:
        return ""
    return (f"label values {bad} are no tumour codes; allowed are "
            + ", ".join(f"{k} = {v}" for k, v in LABELS.items()) + ".")


class LesionVolumeView(W.VBox):
    """Paint a 3-D tumour label map in NiiVue.

    Give ``subject`` (a 3-D phantom subject: ``phantom.make_subject(seed,
    *phantom.volume_grid(4.0))``), or ``image``, ``affine`` and ``brain_mask`` (arrays
    ``[x, y, z]``). ``labels``: the starting map (default the subject's tumour, or none).
    ``contrast``: the subject's image to paint on. ``folder``: where the NIfTI files go
    (default: a new temporary folder; one that holds an earlier painting is refused). ``on_change(labels)`` is called after every
    accepted stroke and every undo. ``clip``: keep the part of a stroke inside the brain
    instead of refusing it.

    ``view.labels`` is the current map (read-only uint8 ``[x, y, z]``), ``view.niivue``
    the NiiVue widget, ``view.files`` the NIfTI paths. ``view.receive_bitmap(bitmap)``
    takes NiiVue's drawing (the widget calls it; so can tests), ``view.undo()`` steps back.
    CSS classes ``medsynth-view3d``, ``medsynth-view3d-niivue``, ``-pen``, ``-paint``,
    ``-size``, ``-layout``, ``-clip``, ``-undo``, ``-status`` mark the parts for browser tests.
    """

    def __init__(self, subject=None, *, image=None, affine=None, brain_mask=None, labels=None,
                 contrast: str = "t1ce", folder=None, on_change=None, clip: bool = False, height: int = 480):
        _enable_colab_widgets()
        if subject is not None:
            if image is not None or affine is not None or brain_mask is not None:
                raise ValueError("Pass either a subject or image, affine and brain_mask, not both.")
            if contrast not in subject.images:
                raise ValueError(f"The subject has no {contrast!r} image; it has {sorted(subject.images)}.")
            image, affine, brain_mask = subject.images[contrast], subject.affine, subject.brain_mask
            labels = subject.tumor if labels is None else labels
        elif image is None or affine is None or brain_mask is None:
            raise ValueError("Pass a phantom subject, or image, affine and brain_mask.")
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 3:
            raise ValueError(f"The view shows a 3-D volume [x, y, z]; the image has shape {image.shape}.")
        self.affine = _check_affine(affine)
        self.brain_mask = np.asarray(brain_mask).astype(bool)
        if self.brain_mask.shape != image.shape:
            raise ValueError(f"The brain mask has shape {self.brain_mask.shape} but the image {image.shape}.")
        start = np.zeros(image.shape, np.uint8) if labels is None else np.asarray(labels)
        if start.shape != image.shape:
            raise ValueError(f"The label map has shape {start.shape} but the image {image.shape}.")
        problem = _values_problem(start)
        outside = int(np.count_nonzero((start > 0) & ~self.brain_mask))
        if outside and not problem:
            problem = f"it has {_count(outside, 'tumour voxel')} outside the brain mask."
        if problem:
            raise ValueError(f"The starting map is not usable: {problem}")
        self._labels = self._frozen(start)
        self._undo: list[np.ndarray] = []
        self.on_change = on_change

        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="medsynth_view3d_"))
        self.files = {"image": self.folder / f"{contrast}.nii.gz", "labels": self.folder / "labels.nii.gz"}
        taken = [str(f) for f in self.files.values() if f.exists()]
        if taken:  # an earlier painting is never overwritten silently
            raise FileExistsError(f"{', '.join(taken)} exist already (nothing was overwritten). Choose another "
                                  "folder, or leave folder unset for a new temporary one.")
        self.folder.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(image, self.affine), self.files["image"])
        self._write_labels()

        self.niivue = NiiVue(height=height)
        self._awaiting_bitmap = False
        self.niivue.add_class("medsynth-view3d-niivue")
        self.niivue.load_volumes([{"path": str(self.files["image"]), "colormap": "gray"}])
        rgba = np.round(255 * viz.TUMOR_COLORS).astype(int)
        rgba[1:, 3] = 255  # the layer's opacity is NiiVue's draw_opacity
        self.niivue.set_draw_colormap(ColorMap(R=rgba[:, 0].tolist(), G=rgba[:, 1].tolist(), B=rgba[:, 2].tolist(),
                                               A=rgba[:, 3].tolist(), I=list(LABELS),
                                               labels=["", *NAMES.values()]))
        self.niivue.on_image_loaded(lambda _volume: self._show_labels())
        self.niivue.on_mouse_up(lambda _event: self._request_bitmap())
        self.niivue.observe(lambda change: self._bitmap_arrived(change["new"]), names="draw_bitmap")

        self.pen = W.ToggleButtons(options=list(PENS.items()), value=PENS["enhancing"], description="pen",
                                   style={"button_width": "86px"})
        self.paint = W.ToggleButton(value=False, description="paint", icon="paint-brush",
                                    tooltip="on: dragging on a slice paints; off: clicking moves the crosshair")
        self.size = W.IntSlider(value=1, min=1, max=6, description="pen voxels")
        self.layout_choice = W.ToggleButtons(options=list(LAYOUTS.items()), value=SliceType.MULTIPLANAR,
                                             description="layout", style={"button_width": "72px"})
        self.clip = W.Checkbox(value=clip, description="clip at the brain edge", indent=False,
                               tooltip="keep the part of a stroke inside the brain instead of refusing it")
        self.undo_button = W.Button(description="undo", disabled=True, tooltip="take back the last change")
        self.status = W.HTML()
        for control, name in ((self.pen, "pen"), (self.paint, "paint"), (self.size, "size"),
                              (self.layout_choice, "layout"), (self.clip, "clip"), (self.undo_button, "undo"),
                              (self.status, "status")):
            control.add_class(f"medsynth-view3d-{name}")
        self.pen.observe(lambda _: self._set_pen(), "value")
        self.paint.observe(lambda change: self._set_painting(change["new"]), "value")
        self.size.observe(lambda change: setattr(self.niivue.opts, "pen_size", float(change["new"])), "value")
        self.layout_choice.observe(lambda change: self.niivue.set_slice_type(change["new"]), "value")
        self.undo_button.on_click(lambda _: self.undo())
        self._set_pen()

        super().__init__([W.HBox([self.paint, self.pen]), W.HBox([self.size, self.clip, self.undo_button]),
                          self.layout_choice, self.niivue, self.status])
        self.add_class("medsynth-view3d")
        self._say("Loading the volume into NiiVue …")

    @property
    def labels(self) -> np.ndarray:
        """The current label map, ``[x, y, z]`` uint8, read-only."""
        return self._labels

    # ------------------------------------------------------------------ the label map

    @staticmethod
    def _frozen(labels) -> np.ndarray:
        labels = np.array(labels, dtype=np.uint8)
        labels.flags.writeable = False
        return labels

    def receive_bitmap(self, bitmap) -> bool:
        """Take NiiVue's drawing (flat uint8, NiiVue's voxel order) as the new label map.

        Refused, with the reason in the status line and the drawing put back to the current
        map: values other than 0-3, and tumour outside the brain (unless ``clip`` is on:
        then those voxels are cleared and the rest is kept). Returns whether the map changed."""
        new = from_bitmap(bitmap, self._labels.shape)
        if np.array_equal(new, self._labels):
            return False
        problem = _values_problem(new)
        if problem:
            self._refuse(f"In the drawing, {problem}")
            return False
        outside = (new > 0) & ~self.brain_mask
        note = ""
        if outside.any():
            what = _count(int(outside.sum()), "voxel")
            if not self.clip.value:
                self._refuse(f"This stroke puts {what} of tumour outside the brain mask; a brain tumour grows in "
                             "the brain. Paint further inside, or tick “clip at the brain edge”.")
                return False
            new = np.where(outside, 0, new)
            note = f" Cleared {what} outside the brain."
            if np.array_equal(new, self._labels):
                self._refuse(f"The whole stroke lay outside the brain mask ({what}); nothing changed.")
                return False
        changed = int(np.count_nonzero(new != self._labels))
        self._undo.append(self._labels)
        self._set_labels(new)
        counts = ", ".join(f"{name} {int(np.count_nonzero(self._labels == k))}" for k, name in NAMES.items())
        self._say(f"Took over the stroke: {_count(changed, 'voxel')} changed ({counts} voxels).{note}")
        return True

    def undo(self) -> None:
        """Back to the map before the last accepted stroke (or undo)."""
        if not self._undo:
            self._say("Nothing to undo.")
            return
        self._set_labels(self._undo.pop())
        self._say(f"Undone: {_count(int(np.count_nonzero(self._labels)), 'tumour voxel')}.")

    def _set_labels(self, labels) -> None:
        self._labels = self._frozen(labels)
        self.undo_button.disabled = not self._undo
        self._write_labels()
        self._push_to_niivue()
        if self.on_change is not None:
            self.on_change(self._labels)

    def _refuse(self, message: str) -> None:
        self._push_to_niivue()
        self._say(f"<b>Not taken over:</b> {message}")

    def _write_labels(self) -> None:
        nib.save(nib.Nifti1Image(np.asarray(self._labels), self.affine), self.files["labels"])

    def _say(self, text: str) -> None:
        self.status.value = text

    # ------------------------------------------------------------------ NiiVue

    def _set_painting(self, on: bool) -> None:
        # The crosshair follows the pen and is a voxel wide: it would hide the stroke.
        self.niivue.set_crosshair_width(0 if on else 1)
        self.niivue.set_drawing_enabled(on)

    def _set_pen(self) -> None:
        self.niivue.set_pen_value(self.pen.value, False)  # False: a drag paints a line, not a filled outline

    def _show_labels(self) -> None:
        """The browser has loaded the image: load the current map as its drawing."""
        self._write_labels()
        self.niivue.load_drawing(str(self.files["labels"]))
        self._say(f"Ready: {_count(int(np.count_nonzero(self._labels)), 'tumour voxel')}. Switch on “paint” and "
                  "drag on a slice; the map is taken over when you release the mouse.")

    def _request_bitmap(self) -> None:
        # NiiVue posts its drawing after a set_drawing_enabled message; the public method
        # sends none when the value is unchanged, so send the message it would send.
        if self.niivue.opts.drawing_enabled:
            self._awaiting_bitmap = True
            self.niivue.send({"type": "set_drawing_enabled", "data": [True]})

    def _bitmap_arrived(self, bitmap) -> None:
        # Only the drawing asked for after a stroke: NiiVue also posts it after loading the
        # map or switching paint on, possibly an empty one made before the map arrived.
        if self._awaiting_bitmap and bitmap is not None:
            self._awaiting_bitmap = False
            self.receive_bitmap(bitmap)

    def _push_to_niivue(self) -> None:
        """Show the current map in NiiVue (ipyniivue sends the changed voxels)."""
        shown, bitmap = self.niivue.draw_bitmap, to_bitmap(self._labels)
        # None: the browser has no drawing yet, and _show_labels will load the map's file.
        if shown is not None and not np.array_equal(shown, bitmap):
            self.niivue.draw_bitmap = bitmap


class PhysicsPreview(W.Output):
    """An ``on_change`` for ``LesionVolumeView``: re-renders the 3-D ``subject`` by physics
    with each new label map (a copy: the subject stays as it was) and shows the axial
    slice with the most tumour in ``contrasts``. ``preview.rendered`` is the last render,
    ``preview.slice`` the slice shown."""

    def __init__(self, subject, contrasts=("t1ce", "flair")):
        super().__init__()
        self.subject, self.contrasts = subject, tuple(contrasts)
        self.rendered, self.slice = None, None

    def __call__(self, labels) -> None:
        labels = np.asarray(labels)
        self.rendered = phantom.rerender(self.subject, labels)
        self.slice = int(np.argmax((labels > 0).sum((0, 1)))) if labels.any() else labels.shape[2] // 2
        figure = viz.show_modalities({m: axial(self.rendered.images[m], self.slice) for m in self.contrasts},
                                     axial(labels, self.slice))
        with self:
            self.clear_output(wait=True)
            display(figure)
        plt.close(figure)
