"""The lesion painter of chapter 06: paint a tumour label map on one axial slice and see
it in four contrasts.

``LesionPainter(subject)`` shows the slice's label map over its healthy T1w. Drag the
mouse on it to paint (one drag is one ``LabelEditor.stroke``, one undo step); buttons
move, scale and rotate the whole lesion, undo/redo/reset, place a preset, repair an
implausible map and export the edit (``lesions.editor.save_edit``). After every edit the
slice is re-rendered in T1w, T1w + Gd, T2w and FLAIR and shown beside the map with its
difference to the healthy slice.

- **Orientation.** The painter works in display orientation (rows = -y, columns = x, as
  ``orientation.axial`` and the datasets show slices), so "up" and "counter-clockwise" are what
  the screen shows. Exported files carry the matching affine, so they sit in the head
  where the subject does.
- **Rendering** goes through one function, ``render_slice(subject, labels) -> {contrast:
  H x W}``: the phantom's physics here; a learned renderer with the same signature can
  be passed as ``renderer=`` (``on_canvas`` adapts chapter 06's ``LesionRenderer``).
  With ``reference=`` (e.g. the physics on the same canvas) a third row shows where the
  renderer departs from it. Each contrast is shown in a fixed window taken from the
  healthy slice, so a lesion changes only its own neighbourhood on screen.
- **Mouse events** come from ``ipyevents`` on an ``ipywidgets.Image``. In JupyterLab and
  Notebook that works once the package is installed; on Colab custom widgets need
  ``google.colab.output.enable_custom_widget_manager()``, which the painter calls itself
  when it runs there.
"""
from __future__ import annotations

import io
import math
import sys
import time
from pathlib import Path

import ipywidgets as W
import numpy as np
from ipyevents import Event
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw  # Pillow comes with matplotlib
from scipy import ndimage

from medsynth_nb import viz
from medsynth_nb.data import phantom
from medsynth_nb.data.lesion_pairs import CONTRASTS, EditCanvas
from medsynth_nb.data.tumor import EDEMA, ENHANCING, NECROSIS
from medsynth_nb.lesions.editor import PRESETS, LabelEditor
from medsynth_nb.lesions.saved_edit import save_edit
from medsynth_nb.orientation import axial, slab_from_display
from medsynth_nb.widgets.common import png_bytes

PENS = {"necrosis": NECROSIS, "edema": EDEMA, "enhancing": ENHANCING, "eraser": 0}
MOVE_STEP_PX = 2
SCALE_STEP = 1.1
ROTATE_STEP_DEG = 15.0
DIFFERENCE_LIMIT = 0.5  # of each contrast's window: the colour range of the difference maps
BRAIN_EDGE_RGB = (80, 200, 255)


def _check_one_slice(subject) -> None:
    if len(subject.shape) != 3 or subject.shape[2] != 1:
        raise ValueError(f"The painter edits one axial slice, but the subject's grid is {subject.shape}. Make a "
                         "one-slice subject, e.g. phantom.make_subject(seed, *phantom.axial_grid(128, 1, z_mm=20)).")


def render_slice(subject, labels) -> dict[str, np.ndarray]:
    """T1w, T1w + Gd, T2w and FLAIR of the one-slice ``subject`` with the tumour ``labels``
    (H x W, display orientation, codes 0-3), rendered by the phantom's physics: acquired
    images (bias, blur, noise) in scanner units, display orientation. The noise realisation
    is the subject's own, so two maps give images that differ only near where the maps
    differ. ``subject`` is left as it was.

    The painter calls this after every edit; pass another function with this signature
    (e.g. a learned renderer) as ``LesionPainter(..., renderer=...)``."""
    _check_one_slice(subject)
    labels = np.asarray(labels)
    expected = (subject.shape[1], subject.shape[0])
    if labels.shape != expected:
        raise ValueError(f"The label map has shape {labels.shape}; this slice is {expected} in display orientation "
                         "(rows = -y, columns = x, as orientation.axial shows it).")
    edited = phantom.rerender(subject, slab_from_display(labels[None]))
    return {m: axial(edited.images[m], 0) for m in CONTRASTS}


def on_canvas(render_fn):
    """A canvas renderer ``(EditCanvas, labels) -> 4 x H x W`` (``LesionRenderer.render_on``,
    ``EditCanvas.physics``) in the painter's signature ``(subject, labels) -> {contrast:
    H x W}``; both then work in ``data.lesion_pairs``' normalisation, so they compare pixel
    for pixel. The subject's canvas (its healthy slice) is made once."""
    made: list = []  # [(subject, canvas)]: the subject is kept, so identity can't be reused

    def render(subject, labels) -> dict[str, np.ndarray]:
        canvas = next((c for s, c in made if s is subject), None)
        if canvas is None:
            canvas = EditCanvas.from_subject(subject)
            made.append((subject, canvas))
        return dict(zip(CONTRASTS, render_fn(canvas, labels)))

    return render


def display_affine(subject) -> np.ndarray:
    """Voxel -> mm affine of the slice in display orientation: pixel [r, c] is voxel
    [x = c, y = ny - 1 - r] of the subject's grid."""
    ny = subject.shape[1]
    to_voxel = np.array([[0, 1, 0, 0], [-1, 0, 0, ny - 1], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    return np.asarray(subject.affine, dtype=float) @ to_voxel


def _enable_colab_widgets() -> None:
    if "google.colab" in sys.modules:
        from google.colab import output

        output.enable_custom_widget_manager()


class LesionPainter(W.VBox):
    """Paint a tumour label map on one axial slice of a phantom subject and see it rendered.

    ``subject``: a one-slice phantom subject (``phantom.make_subject(seed,
    *phantom.axial_grid(128, 1))``). ``labels``: the starting map (H x W, display
    orientation), by default the subject's own tumour. ``renderer``: ``render_slice`` or a
    replacement with its signature; ``reference``: another one to compare with (shown as
    a third row, "this − reference"). ``export_dir``: where "export" writes the edit.

    ``painter.editor`` is the ``LabelEditor`` (its history is the edit's provenance);
    ``painter.images`` the current contrasts and ``painter.healthy`` those without tumour.
    ``painter.handle_event(event)`` takes ipyevents' mouse events (the tests call it too).
    CSS classes ``medsynth-painter``, ``medsynth-painter-labels``, ``-contrasts``,
    ``-status``, ``-undo`` ... mark the parts for browser tests.
    """

    def __init__(self, subject, *, labels=None, renderer=render_slice, reference=None, export_dir="lesion_edits",
                 display_px: int = 384):
        _check_one_slice(subject)
        _enable_colab_widgets()
        self.subject, self.renderer, self.reference, self.export_dir = subject, renderer, reference, Path(export_dir)
        brain = axial(subject.brain_mask, 0)
        start = axial(subject.tumor, 0) if labels is None else labels
        self.editor = LabelEditor(start, brain)
        height, width = brain.shape
        self.zoom = max(1, display_px // width)  # whole screen pixels per label pixel: the mapping stays exact
        self.healthy = renderer(subject, np.zeros(brain.shape, np.uint8))
        head = axial(subject.head_mask, 0)
        self.windows = {m: float(np.percentile(image[head], 99.5)) or 1.0 for m, image in self.healthy.items()}
        anatomy = np.clip(self.healthy["t1"] / self.windows["t1"], 0, 1)
        self._anatomy = np.repeat(255 * anatomy[..., None], 3, axis=2)
        self._brain_edge = brain & ~ndimage.binary_erosion(brain)
        self._path: list[list[float]] | None = None  # label-pixel points of the drag in progress
        self.images: dict[str, np.ndarray] = {}
        self.reference_images: dict[str, np.ndarray] = {}

        # A fixed size that does not shrink: then the map is never squeezed out of shape.
        self.label_image = W.Image(format="png", layout=W.Layout(width=f"{width * self.zoom}px",
                                                                  height=f"{height * self.zoom}px", flex="0 0 auto"))
        self.label_image.add_class("medsynth-painter-labels")
        self.contrasts = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.contrasts.add_class("medsynth-painter-contrasts")
        self.pen = W.ToggleButtons(options=list(PENS.items()), value=ENHANCING, description="pen",
                                   style={"button_width": "92px"})
        self.radius = W.IntSlider(value=max(1, round(width / 40)), min=1, max=max(2, width // 8),
                                  description="brush px")
        self.clip = W.Checkbox(value=False, description="clip at the brain edge", indent=False,
                               tooltip="keep the part of an edit inside the brain instead of refusing it")
        self.preset = W.Dropdown(options=[("add a preset …", "")] + [(p, p) for p in PRESETS], value="",
                                 description="preset")
        self.stem = W.Text(value="lesion_edit", description="file stem")
        self.status = W.HTML()
        self.problems = W.HTML()
        for control, name in ((self.pen, "pen"), (self.radius, "radius"), (self.clip, "clip"),
                              (self.preset, "preset"), (self.stem, "stem"), (self.status, "status"),
                              (self.problems, "problems")):
            control.add_class(f"medsynth-painter-{name}")

        self.buttons = {name: self._button(name, text, tip, action) for name, text, tip, action in (
            ("up", "↑", f"move the lesion up {MOVE_STEP_PX} px", lambda: self._move(-MOVE_STEP_PX, 0, "up")),
            ("down", "↓", f"move the lesion down {MOVE_STEP_PX} px", lambda: self._move(MOVE_STEP_PX, 0, "down")),
            ("left", "←", f"move the lesion left {MOVE_STEP_PX} px", lambda: self._move(0, -MOVE_STEP_PX, "left")),
            ("right", "→", f"move the lesion right {MOVE_STEP_PX} px",
             lambda: self._move(0, MOVE_STEP_PX, "right")),
            ("grow", "+", f"scale the lesion by {SCALE_STEP}", lambda: self._scale(SCALE_STEP)),
            ("shrink", "−", f"scale the lesion by 1/{SCALE_STEP}", lambda: self._scale(1 / SCALE_STEP)),
            ("rotate-ccw", f"⟲ {ROTATE_STEP_DEG:g}°", "rotate the lesion counter-clockwise",
             lambda: self._rotate(ROTATE_STEP_DEG)),
            ("rotate-cw", f"⟳ {ROTATE_STEP_DEG:g}°", "rotate the lesion clockwise",
             lambda: self._rotate(-ROTATE_STEP_DEG)),
            ("undo", "undo", "undo the last edit", lambda: self._edit("undone", self.editor.undo)),
            ("redo", "redo", "redo what was undone", lambda: self._edit("redone", self.editor.redo)),
            ("reset", "reset", "back to the starting map (undoable)",
             lambda: self._edit("reset to the starting map", self.editor.reset)),
            ("repair", "repair", "make the map plausible (undoable)", self._repair),
            ("export", "export", "write labels, starting map, brain mask and contrasts as NIfTI", self.export),
        )}
        b = self.buttons
        arrows = W.GridBox([W.Box(), b["up"], W.Box(), b["left"], b["down"], b["right"]],
                           layout=W.Layout(grid_template_columns="repeat(3, 36px)", grid_gap="2px"))
        controls = W.VBox([
            self.pen, self.radius, self.clip,
            W.HBox([W.HTML("move"), arrows, W.HTML("size"), b["grow"], b["shrink"], W.HTML("turn"),
                    b["rotate-ccw"], b["rotate-cw"]]),
            W.HBox([b["undo"], b["redo"], b["reset"], self.preset]),
            W.HBox([self.problems, b["repair"]]),
            W.HBox([self.stem, b["export"]]),
        ])
        swatches = " ".join(f"<span style='color:rgb{tuple(int(255 * v) for v in viz.TUMOR_COLORS[k][:3])}'>■</span> "
                            f"{name}" for name, k in PENS.items() if k)
        legend = W.HTML(f"{swatches}; <span style='color:rgb{BRAIN_EDGE_RGB}'>■</span> brain edge (tumour stays "
                        "inside). <b>Drag on the map to paint.</b>")
        label_column = W.VBox([self.label_image, legend], layout=W.Layout(width=f"{width * self.zoom}px",
                                                                           flex="0 0 auto"))
        # Wraps: on a narrow page the contrasts go below the map instead of squeezing it.
        pictures = W.HBox([label_column, self.contrasts], layout=W.Layout(flex_flow="row wrap"))
        super().__init__([controls, pictures, self.status])
        self.add_class("medsynth-painter")

        # Press and release unthrottled, so a drag never loses its ends; moves throttled,
        # each one redraws the preview. No default actions: the browser would drag the picture.
        self._clicks = Event(source=self.label_image, watched_events=["mousedown", "mouseup", "mouseleave"],
                             prevent_default_action=True)
        self._moves = Event(source=self.label_image, watched_events=["mousemove"], throttle_or_debounce="throttle",
                            wait=40, prevent_default_action=True)
        for events in (self._clicks, self._moves):
            events.on_dom_event(self.handle_event)
        self.preset.observe(lambda change: self._place_preset(change["new"]), "value")
        seconds = self.redraw()
        self._say(f"Ready: {int(np.count_nonzero(self.editor.labels))} tumour pixels; rendered in {seconds:.2f} s. "
                  "Drag on the map to paint.")

    def _button(self, name: str, text: str, tooltip: str, action) -> W.Button:
        button = W.Button(description=text, tooltip=tooltip,
                          layout=W.Layout(width="36px" if len(text) == 1 else "auto"))
        button.add_class(f"medsynth-painter-{name}")
        button.on_click(lambda _: action())
        return button

    # ----------------------------------------------------------------------- mouse

    def _label_point(self, event: dict) -> list[float]:
        """[row, column] on the label map under the pointer. From the position in the picture
        as laid out (it may be shown smaller than its PNG), not from ipyevents' dataX/dataY:
        those divide by the image's natural size, which is not to be trusted while the next
        preview PNG is loading. Label pixel [r, c] covers the fraction [r, r + 1) / H of the
        picture's height (and likewise across); its centre is r."""
        height, width = self.editor.labels.shape
        return [event["relativeY"] / event["boundingRectHeight"] * height - 0.5,
                event["relativeX"] / event["boundingRectWidth"] * width - 0.5]

    def handle_event(self, event: dict) -> None:
        """One ipyevents mouse event on the label map: press starts a stroke, moves extend
        it (with a preview), release (or leaving the picture) paints it as one edit."""
        kind = event.get("type")
        if kind == "mousedown" and event.get("button", 0) == 0:
            self._path = [self._label_point(event)]
            self._preview()
        elif kind in ("mousemove", "mouseup") and self._path is not None:
            point = self._label_point(event)
            # Points closer than a pixel add nothing visible but make the history longer.
            if math.dist(point, self._path[-1]) >= 1 or (kind == "mouseup" and point != self._path[-1]):
                self._path.append(point)
            if kind == "mousemove":
                self._preview()
            else:
                self._finish_stroke()
        elif kind == "mouseleave" and self._path is not None:
            self._finish_stroke()  # the pointer left the picture: paint what was drawn on it

    def _finish_stroke(self) -> None:
        points, self._path = self._path, None
        label, radius = self.pen.value, self.radius.value
        name = next(n for n, k in PENS.items() if k == label)
        what = f"erased (radius {radius} px)" if label == 0 else f"painted {name} (radius {radius} px)"
        self._edit(f"{what} along {len(points)} point{'s' if len(points) > 1 else ''}",
                   lambda: self.editor.stroke(label, points, radius, clip=self.clip.value))

    def _preview(self) -> None:
        """The map with the drag so far drawn on top (not an edit yet)."""
        image = Image.fromarray(self._label_rgb())
        draw = ImageDraw.Draw(image)
        color = (255, 255, 255) if self.pen.value == 0 else tuple(
            int(255 * v) for v in viz.TUMOR_COLORS[self.pen.value][:3])
        r = self.radius.value * self.zoom
        xy = [((c + 0.5) * self.zoom, (row + 0.5) * self.zoom) for row, c in self._path]
        if len(xy) > 1:
            draw.line(xy, fill=color, width=2 * r, joint="curve")
        for x, y in (xy[0], xy[-1]):  # round ends, as the brush is a disc
            draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
        self.label_image.value = png_bytes(np.asarray(image))
        self._say(f"painting with {len(self._path)} point(s) … release the mouse to apply.")

    # ----------------------------------------------------------------------- edits

    def _lesion_or_brain_center(self) -> list[float]:
        where = self.editor.labels > 0 if self.editor.labels.any() else self.editor.brain_mask
        return [float(v) for v in np.argwhere(where).mean(0)]

    def _move(self, dy: int, dx: int, direction: str) -> None:
        self._edit(f"moved the lesion {direction} {abs(dy or dx)} px",
                   lambda: self.editor.move(dy, dx, clip=self.clip.value))

    def _scale(self, factor: float) -> None:
        self._edit(f"scaled the lesion by {factor:.3g} (area × {factor ** 2:.2f})",
                   lambda: self.editor.scale(factor, clip=self.clip.value))

    def _rotate(self, degrees: float) -> None:
        turn = "counter-clockwise" if degrees > 0 else "clockwise"
        self._edit(f"rotated the lesion {abs(degrees):g}° {turn}",
                   lambda: self.editor.rotate(degrees, clip=self.clip.value))

    def _place_preset(self, name: str) -> None:
        if not name:
            return
        center = self._lesion_or_brain_center()
        self._edit(f"placed the preset '{name}' at row {center[0]:.0f}, column {center[1]:.0f}",
                   lambda: self.editor.preset(name, center, clip=self.clip.value))
        self.preset.value = ""  # back to the prompt, so the same preset can be chosen again

    def _repair(self) -> None:
        def repair():
            changes = self.editor.repair()
            return "; ".join(changes) if changes else "nothing needed repairing"

        self._edit("repaired", repair)

    def _edit(self, what: str, action) -> None:
        """Apply ``action`` (an editor call; it may return more words for the status) and
        redraw; a refused edit changes nothing and says why."""
        before = self.editor.labels
        try:
            detail = action()
        except ValueError as err:
            self.label_image.value = png_bytes(self._label_rgb())  # drop the preview of a refused stroke
            hint = " (here: tick “clip at the brain edge”)" if "clip=True" in str(err) else ""
            self._say(f"Not done: {err}{hint}", error=True)
            return
        changed = int(np.count_nonzero(before != self.editor.labels))
        seconds = self.redraw()
        self._say(f"{what}{': ' + detail if detail else ''} — {changed} pixel{'s' if changed != 1 else ''} changed; "
                  f"re-rendered T1w, T1w + Gd, T2w and FLAIR in {seconds:.2f} s (renderer {self.render_seconds:.2f} s).")

    def _say(self, text: str, error: bool = False) -> None:
        self.status.value = f"<span style='color:#b00'>{text}</span>" if error else text

    # ----------------------------------------------------------------------- pictures

    def redraw(self) -> float:
        """Re-render the contrasts of the current map and redraw both pictures; returns
        the seconds taken (``self.render_seconds`` of them in the renderer)."""
        start = time.perf_counter()
        try:
            self.images = self.renderer(self.subject, self.editor.labels)
            if self.reference is not None:
                self.reference_images = self.reference(self.subject, self.editor.labels)
        except Exception as err:  # shown in the widget, then raised: a failed render is never silent
            self._say(f"Could not render the contrasts: {err}", error=True)
            raise
        self.render_seconds = time.perf_counter() - start
        self.label_image.value = png_bytes(self._label_rgb())
        self.contrasts.value = self._contrasts_png()
        self._update_controls()
        return time.perf_counter() - start

    def _label_rgb(self) -> np.ndarray:
        """The label map over the healthy T1w with the brain's edge, magnified to the screen."""
        rgba = viz.TUMOR_COLORS[self.editor.labels]
        rgb = self._anatomy * (1 - rgba[..., 3:]) + 255 * rgba[..., :3] * rgba[..., 3:]
        rgb[self._brain_edge] = 0.4 * rgb[self._brain_edge] + 0.6 * np.array(BRAIN_EDGE_RGB)
        rgb = np.repeat(np.repeat(rgb, self.zoom, axis=0), self.zoom, axis=1)
        return rgb.round().astype(np.uint8)

    def _contrasts_png(self) -> bytes:
        """The four contrasts (top), their difference to the healthy slice and, with a
        reference renderer, their difference to its render (bottom)."""
        rows = 3 if self.reference is not None else 2
        fig = Figure(figsize=(8.0, 2.2 * rows), dpi=70)  # 560 px wide: fits beside the map in JupyterLab
        axes = fig.subplots(rows, len(CONTRASTS), gridspec_kw={"left": 0.01, "right": 0.86, "bottom": 0.01,
                                                                "top": 0.94, "wspace": 0.04, "hspace": 0.12})
        for column, m in enumerate(CONTRASTS):
            window = self.windows[m]
            axes[0, column].imshow(self.images[m], cmap="gray", vmin=0, vmax=window, interpolation="nearest")
            axes[0, column].set_title(viz.MODALITY_TITLES[m])
            difference = axes[1, column].imshow((self.images[m] - self.healthy[m]) / window, cmap="RdBu_r",
                                                 vmin=-DIFFERENCE_LIMIT, vmax=DIFFERENCE_LIMIT,
                                                 interpolation="nearest")
            axes[1, column].set_title("edited − healthy", fontsize=9)
            if self.reference is not None:
                axes[2, column].imshow((self.images[m] - self.reference_images[m]) / window, cmap="RdBu_r",
                                       vmin=-DIFFERENCE_LIMIT, vmax=DIFFERENCE_LIMIT, interpolation="nearest")
                axes[2, column].set_title("this − reference", fontsize=9)
        for ax in axes.flat:
            ax.axis("off")
        fig.colorbar(difference, cax=fig.add_axes((0.875, 0.06, 0.015, 0.9 * (rows - 1) / rows - 0.09)),
                     ticks=[-DIFFERENCE_LIMIT, 0, DIFFERENCE_LIMIT], label="of the window")
        buffer = io.BytesIO()
        FigureCanvasAgg(fig).print_png(buffer)
        return buffer.getvalue()

    def _update_controls(self) -> None:
        self.buttons["undo"].disabled = not self.editor.can_undo
        self.buttons["redo"].disabled = not self.editor.can_redo
        found = self.editor.problems()
        # The editor's words name the function; in the painter it is the button.
        self.problems.value = "<ul>" + "".join(f"<li>{p.replace('repair()', '“repair”')}</li>"
                                               for p in found) + "</ul>" if found else ""
        self.buttons["repair"].layout.display = None if found else "none"

    # ----------------------------------------------------------------------- files

    def export(self) -> list[Path]:
        """Write the edit to ``export_dir`` with ``save_edit`` (labels, starting map, brain
        mask, the four contrasts and the history); says in the status what was written."""
        try:
            written = save_edit(self.export_dir, self.stem.value, self.editor.labels, self.images,
                                display_affine(self.subject), self.editor.history,
                                initial_labels=self.editor.initial_labels, brain_mask=self.editor.brain_mask)
        except (ValueError, OSError) as err:  # FileExistsError is an OSError
            self._say(f"Not exported: {err}", error=True)
            return []
        self._say(f"Exported {len(written)} files to {self.export_dir}: {', '.join(p.name for p in written)}.")
        return written
