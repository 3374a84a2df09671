"""The lesion painter widget (chapter 06), in this process: mouse events as ipyevents sends
them (``relativeX``/``Y`` in the picture as laid out, with its ``boundingRect`` size) go
through ``handle_event``;
buttons are pressed with ``Button.click()``. Expected pixels come from the definition of
a stroke (within the radius of the dragged line), not from the editor.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from medsynth_nb.data import phantom
from medsynth_nb.lesions.editor import replay
from medsynth_nb.lesions.saved_edit import load_edit
from medsynth_nb.widgets.lesion_painter import CONTRASTS, LesionPainter, display_affine, render_slice

SIZE = 64


@pytest.fixture(scope="module")
def subject():
    return phantom.make_subject(5, *phantom.axial_grid(SIZE, 1), tumor=None)


@pytest.fixture()
def painter(subject, tmp_path):
    return LesionPainter(subject, export_dir=tmp_path)


def mouse(painter, kind, row, col, shown_px=None):
    """An ipyevents mouse event at the centre of label pixel (row, col) of the picture, laid
    out ``shown_px`` screen pixels wide and high (default: its PNG's size)."""
    shown_px = shown_px or SIZE * painter.zoom
    px = shown_px / SIZE
    painter.handle_event({"type": kind, "button": 0, "relativeX": round((col + 0.5) * px),
                          "relativeY": round((row + 0.5) * px), "boundingRectWidth": shown_px,
                          "boundingRectHeight": shown_px})


def drag(painter, row, cols, end="mouseup"):
    """Press at (row, cols[0]), move through the other columns, release at the last."""
    mouse(painter, "mousedown", row, cols[0])
    for col in cols[1:]:
        mouse(painter, "mousemove", row, col)
    if end == "mouseup":
        mouse(painter, "mouseup", row, cols[-1])
    else:
        painter.handle_event({"type": end})


def brain_center(painter) -> tuple[int, int]:
    return tuple(int(v) for v in np.argwhere(painter.editor.brain_mask).mean(0).round())


def near_segment(row, c0, c1, radius) -> np.ndarray:
    """Pixels within ``radius`` of the horizontal segment from (row, c0) to (row, c1)."""
    rows, cols = np.mgrid[:SIZE, :SIZE]
    dc = np.clip(cols, c0, c1) - cols
    return (rows - row) ** 2 + dc**2 <= radius**2


def test_a_drag_paints_the_dragged_line_as_one_undo_step(painter):
    r, c = brain_center(painter)
    painter.pen.value, painter.radius.value = 2, 2
    mouse(painter, "mousedown", r, c - 6)
    for col in range(c - 5, c + 7):
        mouse(painter, "mousemove", r, col)
    assert painter.editor.history == [] and not painter.editor.labels.any(), "moves only preview the stroke"
    assert "release the mouse" in painter.status.value
    mouse(painter, "mouseup", r, c + 6)
    np.testing.assert_array_equal(painter.editor.labels, np.where(near_segment(r, c - 6, c + 6, 2), 2, 0))
    (entry,) = painter.editor.history
    assert entry["op"] == "stroke" and entry["points"][0] == [r, c - 6] and entry["points"][-1] == [r, c + 6]
    assert "painted edema" in painter.status.value and "re-rendered" in painter.status.value
    painter.buttons["undo"].click()
    assert not painter.editor.labels.any()


def test_a_picture_shown_smaller_maps_to_the_same_pixels(painter):
    r, c = brain_center(painter)
    mouse(painter, "mousedown", r, c - 4, shown_px=SIZE * 2)  # a narrow page shrank it to 2 px per label pixel
    mouse(painter, "mouseup", r, c + 4, shown_px=SIZE * 2)
    np.testing.assert_array_equal(painter.editor.labels, np.where(near_segment(r, c - 4, c + 4, 2), 3, 0))


def test_leaving_the_picture_ends_the_stroke(painter):
    r, c = brain_center(painter)
    drag(painter, r, [c, c + 3], end="mouseleave")
    assert len(painter.editor.history) == 1 and painter.editor.labels[r, c + 3] == 3
    mouse(painter, "mousemove", r, c + 10)  # moving without a pressed button paints nothing
    assert len(painter.editor.history) == 1


def test_undo_restores_the_map_and_the_rendered_contrasts(painter):
    healthy_images = {m: a.copy() for m, a in painter.images.items()}
    healthy_png = painter.contrasts.value
    assert painter.buttons["undo"].disabled
    r, c = brain_center(painter)
    drag(painter, r, [c - 4, c + 4])
    assert not painter.buttons["undo"].disabled
    assert all(not np.array_equal(painter.images[m], healthy_images[m]) for m in CONTRASTS)
    assert painter.contrasts.value != healthy_png
    painter.buttons["undo"].click()
    assert not painter.editor.labels.any()
    for m in CONTRASTS:
        np.testing.assert_array_equal(painter.images[m], healthy_images[m])
    assert painter.contrasts.value == healthy_png
    assert painter.buttons["undo"].disabled and not painter.buttons["redo"].disabled


def test_a_stroke_out_of_the_brain_is_refused_and_changes_nothing(painter):
    r, c = brain_center(painter)
    before_labels, before_picture = painter.label_image.value, painter.contrasts.value
    drag(painter, r, list(range(c, SIZE, 2)))  # from the centre off the right edge of the head
    status = painter.status.value
    assert "Not done" in status and "outside the brain mask" in status and "nothing was changed" in status
    assert "clip at the brain edge" in status
    assert painter.editor.history == [] and not painter.editor.labels.any()
    assert painter.label_image.value == before_labels, "the preview of the refused stroke is gone"
    assert painter.contrasts.value == before_picture
    painter.clip.value = True  # the way out the message names
    drag(painter, r, list(range(c, SIZE, 2)))
    painted = painter.editor.labels > 0
    assert painted.any() and not (painted & ~painter.editor.brain_mask).any()


def test_the_contrasts_change_only_near_the_painted_region(painter, subject):
    r, c = brain_center(painter)
    drag(painter, r - 5, [c - 3, c + 3])
    lesion = painter.editor.labels > 0
    near = ndimage.binary_dilation(lesion, iterations=2)  # the site's blur spreads it by about a pixel
    for m in CONTRASTS:
        changed = painter.images[m] != painter.healthy[m]
        assert changed[lesion].mean() > 0.9, f"{m}: the lesion is not visible"
        assert not (changed & ~near).any(), f"{m} changed {np.count_nonzero(changed & ~near)} pixels far away"
    assert subject.tumor.max() == 0, "render_slice left the caller's subject as it was"


def test_repair_shows_with_the_problems_and_fixes_them(painter):
    r, c = brain_center(painter)
    assert painter.buttons["repair"].layout.display == "none"
    painter.pen.value = 1
    drag(painter, r, [c])  # bare necrosis: not enclosed by enhancing tumour
    assert "Necrosis touches" in painter.problems.value and "“repair”" in painter.problems.value
    assert painter.buttons["repair"].layout.display is None
    painter.buttons["repair"].click()
    assert painter.editor.problems() == [] and painter.problems.value == ""
    assert painter.buttons["repair"].layout.display == "none"
    assert "repaired: turned" in painter.status.value


def test_export_writes_files_that_replay_the_edit(painter, subject, tmp_path):
    r, c = brain_center(painter)
    painter.preset.value = "small enhancing lesion"
    assert painter.preset.value == "" and painter.editor.history[0]["op"] == "preset"
    painter.buttons["right"].click()
    painter.buttons["rotate-ccw"].click()
    painter.buttons["grow"].click()
    drag(painter, r - 8, [c - 2, c + 2])
    written = painter.export()
    assert len(written) == 3 + len(CONTRASTS) and "Exported 7 files" in painter.status.value
    saved = load_edit(tmp_path, "lesion_edit")
    np.testing.assert_array_equal(replay(saved.initial_labels, saved.brain_mask, saved.history), painter.editor.labels)
    painter.export()
    assert "Not exported" in painter.status.value and "overwrite" in painter.status.value
    # The display-orientation affine puts display pixel [r, c] where the subject has voxel [c, ny - 1 - r].
    voxel_to_mm = subject.affine @ np.array([c, SIZE - 1 - r, 0, 1])
    np.testing.assert_allclose(display_affine(subject) @ np.array([r, c, 0, 1]), voxel_to_mm)


def test_the_painter_and_the_renderer_need_one_slice(subject):
    volume = phantom.make_subject(5, *phantom.axial_grid(16, 2), tumor=None)
    with pytest.raises(ValueError, match="one axial slice.*axial_grid"):
        LesionPainter(volume)
    with pytest.raises(ValueError, match="display orientation"):
        render_slice(subject, np.zeros((SIZE, SIZE + 1), np.uint8))


def test_a_reference_renderer_shows_where_the_renderer_departs_from_it(subject, tmp_path):
    from medsynth_nb.data.lesion_pairs import EditCanvas
    from medsynth_nb.widgets.lesion_painter import on_canvas

    def darker_lesion(canvas, labels):  # a "learned" renderer that paints every lesion 0.2 too dark
        return canvas.physics(labels) - 0.2 * (labels > 0)

    painter = LesionPainter(subject, renderer=on_canvas(darker_lesion), reference=on_canvas(EditCanvas.physics),
                            export_dir=tmp_path)
    np.testing.assert_allclose(painter.images["flair"], painter.reference_images["flair"], atol=1e-6)
    row, col = brain_center(painter)
    drag(painter, row, (col - 3, col + 3))
    lesion = painter.editor.labels > 0
    difference = painter.images["t2"] - painter.reference_images["t2"]
    np.testing.assert_allclose(difference[lesion], -0.2, atol=1e-5)
    assert np.abs(difference[~lesion]).max() < 1e-6
    plain = LesionPainter(subject, export_dir=tmp_path)
    heights = [Image.open(io.BytesIO(p.contrasts.value)).height for p in (plain, painter)]
    assert heights[1] > 1.4 * heights[0], f"a third row of differences is shown: {heights}"
