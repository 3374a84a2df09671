"""The 3-D lesion view (chapter 06) without a browser: NiiVue's drawing bitmap is built
here the way NiiVue lays it out (voxel [x, y, z] at x + y * nx + z * nx * ny) and fed
to ``receive_bitmap``, or to the widget's ``draw_bitmap`` as the front end would."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from medsynth_nb.data import phantom
from medsynth_nb.widgets.lesion_view3d import LesionVolumeView, PhysicsPreview, from_bitmap, to_bitmap


@pytest.fixture(scope="module")
def subject():
    return phantom.make_subject(5, *phantom.volume_grid(4.0))


@pytest.fixture()
def changes():
    return []


@pytest.fixture()
def view(subject, tmp_path, changes):
    return LesionVolumeView(subject, folder=tmp_path, on_change=lambda labels: changes.append(labels.copy()))


def niivue_bitmap(labels: np.ndarray) -> np.ndarray:
    """The drawing as NiiVue holds it, voxel by voxel: x fastest, then y, then z."""
    nx, ny, nz = labels.shape
    bitmap = np.zeros(labels.size, np.uint8)
    for x, y, z in np.argwhere(labels > 0):
        bitmap[x + y * nx + z * nx * ny] = labels[x, y, z]
    return bitmap


def brain_voxel(view, offset=(0, 0, 0)) -> tuple[int, int, int]:
    center = np.argwhere(view.brain_mask).mean(0).round().astype(int) + offset
    assert view.brain_mask[tuple(center)]
    return tuple(int(v) for v in center)


def outside_voxel(view) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.argwhere(~view.brain_mask)[0])


def test_a_voxel_in_niivues_bitmap_lands_at_its_x_y_z():
    labels = np.zeros((5, 7, 3), np.uint8)  # every axis a different length
    labels[4, 1, 2], labels[0, 6, 1] = 3, 1
    bitmap = niivue_bitmap(labels)
    np.testing.assert_array_equal(from_bitmap(bitmap, labels.shape), labels)
    np.testing.assert_array_equal(to_bitmap(labels), bitmap)
    with pytest.raises(ValueError, match="has 104 voxels but the volume"):
        from_bitmap(bitmap[:-1], labels.shape)


def test_the_view_starts_from_the_subjects_tumor_and_writes_nifti_with_its_affine(view, subject, tmp_path):
    np.testing.assert_array_equal(view.labels, subject.tumor)
    assert view.labels.any() and not view.labels.flags.writeable
    for name, expected in (("image", subject.images["t1ce"]), ("labels", subject.tumor)):
        img = nib.load(view.files[name])
        assert view.files[name].parent == tmp_path and view.files[name].name.endswith(".nii.gz")
        np.testing.assert_allclose(img.affine, subject.affine)
        np.testing.assert_allclose(np.asarray(img.dataobj), expected, rtol=1e-6)
    volume, = view.niivue.volumes
    assert volume.path == str(view.files["image"])


def test_a_stroke_inside_the_brain_is_taken_over_and_undo_restores(view, subject, changes):
    start = view.labels.copy()
    painted = start.copy()
    for dx in range(3):
        painted[brain_voxel(view, (dx, 0, 0))] = 2
    assert view.receive_bitmap(niivue_bitmap(painted))
    np.testing.assert_array_equal(view.labels, painted)
    assert len(changes) == 1 and np.array_equal(changes[0], painted)
    assert "Took over the stroke" in view.status.value and not view.undo_button.disabled
    np.testing.assert_array_equal(np.asarray(nib.load(view.files["labels"]).dataobj), painted)

    assert not view.receive_bitmap(niivue_bitmap(painted)), "the same drawing again is no edit"
    assert len(changes) == 1

    view.undo_button.click()
    np.testing.assert_array_equal(view.labels, start)
    assert len(changes) == 2 and np.array_equal(changes[1], start)
    assert "Undone" in view.status.value and view.undo_button.disabled
    np.testing.assert_array_equal(np.asarray(nib.load(view.files["labels"]).dataobj), start)
    view.undo()
    assert "Nothing to undo" in view.status.value


def test_paint_outside_the_brain_is_refused_and_taken_off_the_drawing(view, changes):
    start = view.labels.copy()
    view.niivue.draw_bitmap = to_bitmap(start)  # the drawing the front end has
    painted = start.copy()
    painted[brain_voxel(view)] = 2
    painted[outside_voxel(view)] = 2
    view.niivue.draw_bitmap = niivue_bitmap(painted)  # what it sends back after the stroke
    assert not view.receive_bitmap(view.niivue.draw_bitmap)
    np.testing.assert_array_equal(view.labels, start)
    assert "Not taken over" in view.status.value and "1 voxel of tumour outside the brain" in view.status.value
    assert changes == []
    np.testing.assert_array_equal(view.niivue.draw_bitmap, to_bitmap(start))


def test_with_clip_the_part_inside_the_brain_is_kept(subject, tmp_path):
    view = LesionVolumeView(subject, folder=tmp_path, clip=True)
    painted = view.labels.copy()
    inside, outside = brain_voxel(view), outside_voxel(view)
    painted[inside] = painted[outside] = 3
    assert view.receive_bitmap(niivue_bitmap(painted))
    assert view.labels[inside] == 3 and view.labels[outside] == 0
    assert "Cleared 1 voxel outside the brain" in view.status.value
    only_outside = view.labels.copy()
    only_outside[outside] = 1
    assert not view.receive_bitmap(niivue_bitmap(only_outside))
    assert "whole stroke lay outside" in view.status.value


def test_values_that_are_no_tumor_code_are_refused(view, changes):
    painted = view.labels.copy()
    painted[brain_voxel(view)] = 5
    assert not view.receive_bitmap(niivue_bitmap(painted))
    assert "label values [5] are no tumour codes" in view.status.value and "3 = enhancing" in view.status.value
    assert changes == [] and not (view.labels == 5).any()


def test_the_widget_takes_the_drawing_that_follows_a_mouse_up_while_painting(view, changes):
    view.pen.value, view.paint.value, view.size.value = 1, True, 3
    opts = view.niivue.opts
    assert opts.pen_value == 1 and opts.drawing_enabled and opts.pen_size == 3
    painted = view.labels.copy()
    painted[brain_voxel(view)] = 1
    view.niivue.draw_bitmap = niivue_bitmap(painted)  # NiiVue posting its drawing unasked (e.g. after loading)
    assert changes == []
    view.niivue._handle_custom_msg({"event": "mouse_up", "data": {"is_dragging": True}}, [])
    view.niivue.draw_bitmap = niivue_bitmap(painted)  # the drawing asked for on mouse-up
    assert len(changes) == 1 and np.array_equal(view.labels, painted)


def test_a_subject_or_arrays_on_an_ras_grid(subject, tmp_path):
    brain = np.ones(subject.shape, bool)
    image = subject.images["t1"]
    view = LesionVolumeView(image=image, affine=subject.affine, brain_mask=brain, folder=tmp_path)
    assert not view.labels.any() and view.labels.shape == subject.shape
    flipped = subject.affine @ np.diag([-1.0, 1, 1, 1])
    with pytest.raises(ValueError, match="RAS"):
        LesionVolumeView(image=image, affine=flipped, brain_mask=brain, folder=tmp_path)
    with pytest.raises(ValueError, match="either a subject or"):
        LesionVolumeView(subject, image=image, folder=tmp_path)
    outside = np.zeros(subject.shape, np.uint8)
    outside[0, 0, 0] = 2
    with pytest.raises(ValueError, match="1 tumour voxel outside the brain mask"):
        LesionVolumeView(subject, labels=outside, folder=tmp_path)


def test_an_earlier_painting_in_the_folder_is_not_overwritten(subject, tmp_path):
    LesionVolumeView(subject, folder=tmp_path)
    before = (tmp_path / "labels.nii.gz").read_bytes()
    with pytest.raises(FileExistsError, match="nothing was overwritten"):
        LesionVolumeView(subject, folder=tmp_path)
    assert (tmp_path / "labels.nii.gz").read_bytes() == before


def test_the_physics_preview_re_renders_a_copy_at_the_slice_with_most_tumor(subject):
    before = subject.images["flair"].copy()
    labels = np.zeros(subject.shape, np.uint8)
    brain = np.argwhere(subject.brain_mask)
    x, y, z = brain[len(brain) // 2]
    labels[x - 2:x + 3, y - 2:y + 3, z] = 2
    labels[x, y, z + 1] = 2
    preview = PhysicsPreview(subject)
    preview(labels)
    assert preview.slice == z
    np.testing.assert_array_equal(preview.rendered.tumor, labels)
    assert preview.rendered.images["flair"][x, y, z] > before[x, y, z], "oedema is bright in FLAIR"
    np.testing.assert_array_equal(subject.images["flair"], before)  # the view's subject is left alone
