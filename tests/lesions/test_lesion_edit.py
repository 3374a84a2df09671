"""The lesion editor's logic (chapter 06): exact brushes, undo/redo/reset, lesion moves that
keep the volume, refusal of tumour outside the brain, plausibility checks and their repair,
bit-exact replay of a session, and edits on disk that replay from the files alone.

Maps are 64 x 64 with a disc-shaped brain mask; expected pixels are computed here from
the definitions (a disc is (r - r0)^2 + (c - c0)^2 <= radius^2), not from the editor.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from medsynth_nb.lesions.editor import PRESETS, LabelEditor, replay
from medsynth_nb.lesions.nesting import problems, repair
from medsynth_nb.lesions.saved_edit import load_edit, save_edit

SIZE, CENTER = 64, (32, 32)
ROWS, COLS = np.mgrid[:SIZE, :SIZE]


def disc(center, radius) -> np.ndarray:
    return (ROWS - center[0]) ** 2 + (COLS - center[1]) ** 2 <= radius**2


BRAIN = disc(CENTER, 28)
EMPTY = np.zeros((SIZE, SIZE), np.uint8)


def nested(center=CENTER, necrosis=3, enhancing=6, edema=10) -> np.ndarray:
    """A plausible tumour: necrosis in an enhancing rim in oedema."""
    labels = EMPTY.copy()
    labels[disc(center, edema)] = 2
    labels[disc(center, enhancing)] = 3
    labels[disc(center, necrosis)] = 1
    return labels


def volume(labels) -> int:
    return int(np.count_nonzero(labels))


# --------------------------------------------------------------------------- painting and undo


def test_brush_paints_exactly_the_disc():
    editor = LabelEditor(EMPTY, BRAIN)
    editor.brush(3, (30.3, 33.6), 4.5)
    np.testing.assert_array_equal(editor.labels, np.where(disc((30.3, 33.6), 4.5), 3, 0))
    assert editor.history == [{"op": "brush", "label": 3, "center": [30.3, 33.6], "radius": 4.5}]
    editor.erase((30, 30), 2)
    np.testing.assert_array_equal(editor.labels, np.where(disc((30.3, 33.6), 4.5) & ~disc((30, 30), 2), 3, 0))


def test_a_stroke_is_one_undo_step():
    editor = LabelEditor(EMPTY, BRAIN)
    editor.stroke(2, [(20, 20), (20, 40), (40, 40)], 2)
    assert len(editor.history) == 1
    painted = editor.labels == 2
    assert painted[20, 30] and painted[30, 40] and painted[22, 30], "the segments between the points are painted"
    assert not painted[30, 30] and not painted[23, 30]
    editor.undo()
    np.testing.assert_array_equal(editor.labels, EMPTY)


def test_undo_redo_and_reset_restore_exact_maps():
    start = nested()
    editor = LabelEditor(start, BRAIN)
    editor.brush(3, (20, 40), 3)
    first = editor.labels.copy()
    editor.erase(CENTER, 4)
    second = editor.labels.copy()
    editor.undo()
    np.testing.assert_array_equal(editor.labels, first)
    editor.undo()
    np.testing.assert_array_equal(editor.labels, start)
    assert not editor.can_undo
    editor.redo()
    editor.redo()
    np.testing.assert_array_equal(editor.labels, second)
    editor.reset()
    np.testing.assert_array_equal(editor.labels, start)
    editor.undo()  # the reset itself is undoable
    np.testing.assert_array_equal(editor.labels, second)
    editor.undo()
    editor.brush(1, CENTER, 1)  # a new edit drops what was undone
    assert not editor.can_redo
    with pytest.raises(ValueError, match="Nothing to redo"):
        editor.redo()
    assert [e["op"] for e in editor.history] == ["brush", "erase", "undo", "undo", "redo", "redo", "reset",
                                                 "undo", "undo", "brush"]


def test_the_map_can_only_change_through_the_editor():
    editor = LabelEditor(EMPTY, BRAIN)
    with pytest.raises(ValueError, match="read-only"):
        editor.labels[CENTER] = 3
    with pytest.raises(ValueError, match="BraTS/MSD"):
        editor.brush(4, CENTER, 2)


# --------------------------------------------------------------------------- moving the whole lesion


def test_move_rotate_keep_the_volume_and_scale_multiplies_it_by_factor_squared():
    start = nested()
    editor = LabelEditor(start, BRAIN)
    editor.move(5, -3)
    np.testing.assert_array_equal(editor.labels, np.roll(start, (5, -3), axis=(0, 1)))
    editor.reset()
    for degrees in (30, 90, -45):
        editor.rotate(degrees)
        assert abs(volume(editor.labels) / volume(start) - 1) < 0.03, f"rotate({degrees}) changed the volume"
        assert set(np.unique(editor.labels)) == {0, 1, 2, 3}, "nearest neighbour keeps labels labels"
        editor.undo()
    editor.scale(1)
    np.testing.assert_array_equal(editor.labels, start)
    editor.scale(2)
    assert abs(volume(editor.labels) / volume(start) - 4) < 0.2
    editor.undo()
    editor.scale(0.5)
    assert abs(volume(editor.labels) / volume(start) - 0.25) < 0.05


def test_rotate_turns_counter_clockwise_about_the_centroid():
    bar = EMPTY.copy()
    bar[31:34, 22:43] = 3
    bar[31:34, 40:43] = 1  # marks the right end
    editor = LabelEditor(bar, BRAIN)
    editor.rotate(90)
    rows, cols = np.nonzero(editor.labels)
    assert np.ptp(rows) > 3 * np.ptp(cols), "a horizontal bar turned by 90 degrees stands upright"
    marked = np.argwhere(editor.labels == 1)
    assert marked[:, 0].max() < rows.mean(), "counter-clockwise: the right end goes up"
    assert abs(rows.mean() - 32) < 1 and abs(cols.mean() - 32) < 1


def test_moving_an_empty_map_says_what_to_do():
    with pytest.raises(ValueError, match="no lesion to scale: paint one first"):
        LabelEditor(EMPTY, BRAIN).scale(2)


# --------------------------------------------------------------------------- the brain boundary


@pytest.mark.parametrize("edit, expected", [
    (lambda ed, **kw: ed.brush(3, (32, 2), 5, **kw), lambda start: np.where(disc((32, 2), 5) & BRAIN, 3, start)),
    (lambda ed, **kw: ed.move(0, 20, **kw), lambda start: np.where(BRAIN, np.roll(start, 20, axis=1), 0)),
])
def test_edits_outside_the_brain_are_refused_or_clipped(edit, expected):
    start = nested()
    editor = LabelEditor(start, BRAIN)
    with pytest.raises(ValueError, match=r"outside the brain mask.*nothing was changed.*clip=True"):
        edit(editor)
    np.testing.assert_array_equal(editor.labels, start)
    assert editor.history == []
    edit(editor, clip=True)
    assert volume(editor.labels) > 0
    np.testing.assert_array_equal(editor.labels, expected(start))
    assert editor.history[0]["clip"] is True


def test_the_count_includes_pixels_off_the_image():
    editor = LabelEditor(EMPTY, np.ones((SIZE, SIZE), bool))
    editor.brush(3, CENTER, 3)
    off = np.count_nonzero(disc(CENTER, 3) & (COLS + 31 >= SIZE))
    with pytest.raises(ValueError, match=rf"would put {off} tumour pixels outside .*{off} of them off the image"):
        editor.move(0, 31)


def test_a_starting_map_outside_the_brain_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"outside the brain mask.*repair\(labels, brain_mask\)"):
        LabelEditor(nested((32, 8)), BRAIN)


# --------------------------------------------------------------------------- plausibility


def _ring():
    labels = EMPTY.copy()
    labels[disc(CENTER, 8) & ~disc(CENTER, 4)] = 3
    return labels


def _edema_in_core():
    labels = EMPTY.copy()
    labels[disc(CENTER, 8)] = 3
    labels[disc(CENTER, 3)] = 2
    return labels


def _necrosis_in_edema():
    labels = EMPTY.copy()
    labels[disc(CENTER, 10)] = 2
    labels[disc(CENTER, 4)] = 1
    return labels


CASES = {
    "outside": (nested((32, 8)), "outside the brain mask",
                lambda fixed: (fixed[~BRAIN] == 0).all() and (fixed[BRAIN] == nested((32, 8))[BRAIN]).all()),
    "bare necrosis": (np.where(disc(CENTER, 4), 1, 0), "Necrosis touches oedema or background",
                      lambda fixed: (fixed[disc(CENTER, 4)] > 0).all() and fixed[CENTER] == 1),
    "necrosis in oedema": (_necrosis_in_edema(), "Necrosis touches oedema or background",
                           lambda fixed: fixed[28, 32] == 3 and fixed[CENTER] == 1 and fixed[32, 40] == 2),
    "oedema in the core": (_edema_in_core(), "Oedema sits inside the tumour core",
                           lambda fixed: (fixed[disc(CENTER, 8)] == 3).all()),
    "hollow ring": (_ring(), "hole of background",
                    lambda fixed: (fixed[disc(CENTER, 8)] == 3).all()),
}


@pytest.mark.parametrize("case", CASES)
def test_problems_names_each_implausible_map_and_repair_fixes_it(case):
    labels, phrase, fixed_right = CASES[case]
    found = problems(labels, BRAIN)
    assert len(found) == 1 and phrase in found[0], found
    assert "repair()" in found[0]
    fixed, changes = repair(labels, BRAIN)
    assert changes and problems(fixed, BRAIN) == []
    assert fixed_right(fixed)


def test_a_plausible_map_has_no_problems():
    assert problems(nested(), BRAIN) == []
    fixed, changes = repair(nested(), BRAIN)
    np.testing.assert_array_equal(fixed, nested())
    assert changes == []


def test_brats_label_4_is_named_and_mapped_to_3():
    brats = np.where(nested() == 3, 4, nested())
    (found,) = problems(brats, BRAIN)
    assert "[4]" in found and "0 = background" in found and "4 for enhancing" in found and "3" in found
    with pytest.raises(ValueError, match=r"BraTS/MSD.*repair\(labels, brain_mask\)"):
        LabelEditor(brats, BRAIN)
    fixed, changes = repair(brats, BRAIN)
    np.testing.assert_array_equal(fixed, nested())
    assert any("label 4" in c for c in changes)
    with pytest.raises(ValueError, match=r"cannot guess what \[7\] mean"):
        repair(np.where(nested() == 2, 7, nested()), BRAIN)


def test_editor_repair_is_one_undoable_edit():
    editor = LabelEditor(_ring(), BRAIN)
    assert editor.problems()
    assert editor.repair()
    assert editor.problems() == []
    editor.undo()
    np.testing.assert_array_equal(editor.labels, _ring())


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("name", PRESETS)
def test_presets_are_plausible_and_inside_the_brain(name, size):
    rows, cols = np.mgrid[:size, :size]
    brain = (rows - size / 2) ** 2 + (cols - size / 2) ** 2 <= (0.44 * size) ** 2
    editor = LabelEditor(np.zeros((size, size), np.uint8), brain)
    editor.preset(name, (size * 0.45, size * 0.55))
    assert editor.problems() == []
    present = set(np.unique(editor.labels))
    assert {2, 3} <= present and (1 in present) == (name == "large necrotic tumour with oedema")
    if name == "multifocal":
        assert ndimage.label(editor.labels == 3)[1] == 3, "three separate enhancing foci"
    with pytest.raises(ValueError, match="outside the brain"):
        editor.preset(name, (size / 2, 3))


# --------------------------------------------------------------------------- replay


def test_replay_reproduces_a_random_session_bit_for_bit():
    rng = np.random.default_rng(6)
    start = nested((30, 36), 2, 4, 7)
    editor = LabelEditor(start, BRAIN)
    point = lambda: rng.uniform(0, SIZE, 2)  # noqa: E731  (often outside the brain: refused or clipped)
    edits = [  # a painting session: mostly brushing, some of it across the brain's edge
        *[lambda clip: editor.brush(int(rng.integers(4)), point(), rng.uniform(0, 6), clip=clip)] * 3,
        lambda clip: editor.erase(point(), rng.uniform(1, 5)),
        *[lambda clip: editor.stroke(int(rng.integers(1, 4)), [point() for _ in range(3)], rng.uniform(1, 3),
                                     clip=clip)] * 2,
        lambda clip: editor.move(*rng.integers(-6, 7, 2), clip=clip),
        lambda clip: editor.move(*rng.uniform(-3, 3, 2), clip=clip),
        lambda clip: editor.scale(rng.uniform(0.6, 1.6), clip=clip),
        lambda clip: editor.rotate(rng.uniform(-180, 180), clip=clip),
        lambda clip: editor.preset(str(rng.choice(PRESETS)), rng.uniform(24, 40, 2), clip=clip),
        *[lambda clip: editor.undo() if editor.can_undo else None] * 2,  # twice as often: undo/redo chains
        *[lambda clip: editor.redo() if editor.can_redo else None] * 2,
        lambda clip: editor.reset(),
        lambda clip: editor.repair(),
    ]
    refused = 0
    while len(editor.history) < 30:
        try:
            edits[rng.integers(len(edits))](clip=bool(rng.random() < 0.5))
        except ValueError:
            refused += 1
    ops = {e["op"] for e in editor.history}
    assert {"undo", "redo", "reset", "rotate", "scale"} <= ops, ops
    history = json.loads(json.dumps(editor.history))  # as stored on disk
    replayed = replay(start, BRAIN, history)
    assert replayed.dtype == editor.labels.dtype == np.uint8
    np.testing.assert_array_equal(replayed, editor.labels)
    assert refused, "the session includes refused edits, which the history must leave out"
    unclipped = [{k: v for k, v in e.items() if k != "clip"} for e in history]
    with pytest.raises(ValueError, match="outside the brain"):
        replay(start, BRAIN, unclipped)  # some edits were clipped, and replay clips them again


def test_replay_says_which_entry_cannot_be_replayed():
    history = [{"op": "brush", "label": 3, "center": [32, 32], "radius": 3}, {"op": "smudge"}]
    with pytest.raises(ValueError, match=r"History entry 1 .*Unknown edit 'smudge'"):
        replay(EMPTY, BRAIN, history)
    with pytest.raises(ValueError, match="History entry 0"):
        replay(EMPTY, BRAIN, [{"op": "undo"}])


# --------------------------------------------------------------------------- files


START = nested((30, 36))  # not empty: replaying from any other map gives other labels


@pytest.fixture()
def session():
    editor = LabelEditor(START, BRAIN)
    editor.rotate(20)
    editor.brush(2, (20, 32), 3)
    editor.move(0, 18, clip=True)  # across the brain's edge: what is clipped depends on the mask
    rng = np.random.default_rng(0)
    images = {m: rng.random((SIZE, SIZE)).astype(np.float32) for m in ("t1", "flair")}
    affine = np.diag([1.8, 1.8, 4.0, 1.0])
    return editor, images, affine


def _save(directory, editor, images, affine, **kwargs):
    return save_edit(directory, "edit", editor.labels, images, affine, editor.history,
                     initial_labels=editor.initial_labels, brain_mask=editor.brain_mask, **kwargs)


def test_save_and_load_keep_labels_history_and_the_synthetic_stamp(tmp_path, session):
    from medsynth_nb import io

    editor, images, affine = session
    written = _save(tmp_path, editor, images, affine)
    assert sorted(p.name for p in written) == ["edit_brain_mask.nii.gz", "edit_flair.nii.gz",
                                               "edit_initial_labels.nii.gz", "edit_labels.nii.gz", "edit_t1.nii.gz"]
    saved = load_edit(tmp_path, "edit")
    assert saved.labels.dtype == saved.initial_labels.dtype == np.uint8 and saved.brain_mask.dtype == bool
    np.testing.assert_array_equal(saved.labels, editor.labels)
    assert saved.history == editor.history
    assert saved.provenance["synthetic"] is True and saved.provenance["tumor_labels"]["3"] == "enhancing"
    for path in written:
        assert io.is_synthetic(path)
    t1, saved_affine = io.load_nifti(tmp_path / "edit_t1.nii.gz", canonical=False)
    np.testing.assert_array_equal(t1[:, :, 0], images["t1"])
    np.testing.assert_allclose(saved_affine, affine)


def test_the_files_alone_replay_the_edit_bit_for_bit(tmp_path, session):
    editor, images, affine = session
    _save(tmp_path, editor, images, affine)
    saved = load_edit(tmp_path, "edit")
    np.testing.assert_array_equal(saved.initial_labels, START)
    np.testing.assert_array_equal(saved.brain_mask, BRAIN)
    np.testing.assert_array_equal(replay(saved.initial_labels, saved.brain_mask, saved.history), saved.labels)
    # Without the stored starting map (or with another mask) the history does not give the labels:
    with pytest.raises(ValueError, match="no lesion to rotate"):
        replay(EMPTY, BRAIN, saved.history)
    assert not np.array_equal(replay(START, np.ones_like(BRAIN), saved.history), saved.labels)
    (tmp_path / "edit_initial_labels.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="edit_initial_labels.nii.gz is missing.*cannot be replayed"):
        load_edit(tmp_path, "edit")


def test_save_edit_refuses_a_history_that_does_not_give_the_labels(tmp_path, session):
    editor, images, affine = session
    for initial, reason in ((EMPTY, "no lesion to rotate"), (nested((30, 35)), "it gives other labels")):
        with pytest.raises(ValueError, match=f"does not give these labels.*{reason}"):
            save_edit(tmp_path, "edit", editor.labels, images, affine, editor.history, initial_labels=initial,
                      brain_mask=BRAIN)
    with pytest.raises(ValueError, match="cannot be part of a file name"):
        save_edit(tmp_path, "edit", EMPTY, {"brain_mask": EMPTY}, affine, [], initial_labels=EMPTY,
                  brain_mask=BRAIN)
    assert list(tmp_path.iterdir()) == []


def test_save_edit_refuses_to_overwrite_anything(tmp_path, session):
    editor, images, affine = session
    (tmp_path / "edit_flair.json").write_text("{}")  # one file in the way: nothing is written
    with pytest.raises(FileExistsError, match="edit_flair.json.*overwrite=True"):
        _save(tmp_path, editor, images, affine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit_flair.json"]
    _save(tmp_path, editor, images, affine, overwrite=True)
    with pytest.raises(FileExistsError):
        save_edit(tmp_path, "edit", EMPTY, images, affine, [], initial_labels=EMPTY, brain_mask=BRAIN)
    np.testing.assert_array_equal(load_edit(tmp_path, "edit").labels, editor.labels)


def test_load_edit_explains_bad_label_files(tmp_path):
    from medsynth_nb import io

    io.save_nifti(tmp_path / "msd_labels.nii.gz", np.where(nested() == 3, 4, nested())[:, :, None].astype(np.uint8),
                  np.eye(4), provenance={"edit_history": []})
    with pytest.raises(ValueError, match=r"msd_labels.nii.gz.*replace 4 by 3"):
        load_edit(tmp_path, "msd")
    io.save_nifti(tmp_path / "bare_labels.nii.gz", nested()[:, :, None], np.eye(4), sidecar=False)
    with pytest.raises(FileNotFoundError, match="bare_labels.json is missing"):
        load_edit(tmp_path, "bare")


# --------------------------------------------------------------------------- the phantom renders it


def test_phantom_renders_an_edited_slice():
    from medsynth_nb.data import phantom

    subject = phantom.make_subject(3, *phantom.axial_grid(32, 1), tumor=None)
    brain = subject.brain_mask[:, :, 0]
    editor = LabelEditor(np.zeros(brain.shape, np.uint8), brain)
    editor.preset("large necrotic tumour with oedema", np.argwhere(brain).mean(0), clip=True)
    healthy_t1ce = subject.clean["t1ce"].copy()
    phantom.render(subject, editor.labels[:, :, None])
    np.testing.assert_array_equal(subject.tumor[:, :, 0], editor.labels)
    lesion = editor.labels > 0
    assert (subject.tissue[:, :, 0][lesion] == 6).all()
    assert not np.allclose(subject.clean["t1ce"][:, :, 0][lesion], healthy_t1ce[:, :, 0][lesion])
