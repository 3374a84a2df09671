"""A user's own scans: ``load_dataset("folder", path=...)`` in its three layouts, the checks
that refuse bad input with a message naming the file, and a folder that is never written."""
from __future__ import annotations

import hashlib
import shutil
import warnings

import nibabel as nib
import numpy as np
import pytest

from medsynth_nb.data import load_dataset, phantom
from medsynth_nb.data.folder import find_scans
from medsynth_nb.data.phantom import save_subject
from medsynth_nb.data.scans import ScanError, load_scan_slices, read_scan
from medsynth_nb.dicom import write_series

SIZES = {"image_size": 32, "slices_per_subject": 3}


def _subject(i: int, spacing: float = 4.0):
    shape, affine = phantom.volume_grid(spacing)
    return phantom.make_subject(100 + i, shape, affine, tumor="random" if i % 2 else None, subject_id=f"sub-{i:03d}")


@pytest.fixture(scope="module")
def subjects():
    return [_subject(i) for i in range(4)]


@pytest.fixture(scope="module")
def flat(tmp_path_factory, subjects):
    """The layout 'medsynth phantom' writes: <subject>_<name>.nii.gz."""
    folder = tmp_path_factory.mktemp("flat")
    for s in subjects:
        save_subject(s, folder)
    return folder


def _save(path, array, affine):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array), affine), path)


@pytest.fixture(scope="module")
def bids(tmp_path_factory, subjects):
    folder = tmp_path_factory.mktemp("bids")
    (folder / "dataset_description.json").write_text('{"Name": "phantom", "BIDSVersion": "1.9.0"}')
    for s in subjects:
        anat = folder / s.subject_id / "anat"
        _save(anat / f"{s.subject_id}_T1w.nii.gz", s.images["t1"], s.affine)
        _save(anat / f"{s.subject_id}_T2w.nii.gz", s.images["t2"], s.affine)
        _save(anat / f"{s.subject_id}_ce-gadolinium_T1w.nii.gz", s.images["t1ce"], s.affine)
        _save(anat / f"{s.subject_id}_dseg.nii.gz", s.tumor, s.affine)
    return folder


def snapshot(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def test_flat_layout_loads_split_by_subject_and_leaves_the_folder_untouched(flat):
    before = snapshot(flat)
    data = load_dataset("folder", path=flat, modalities=["t1", "t2"], seed=3, progress=False, **SIZES)
    assert snapshot(flat) == before
    split = data.info["split"]
    assert sorted(sum(split.values(), [])) == [f"sub-{i:03d}" for i in range(4)]
    assert [len(split[p]) for p in ("train", "val", "test")] == [2, 1, 1]
    assert data.test.subjects == split["test"] and data.info["layout"] == "flat"
    for part in (data.train, data.val, data.test):
        assert set(part.images) == {"t1", "t2"}
        assert part.images["t1"].shape[1:] == (32, 32) and part.images["t1"].dtype == np.float32
        assert 0 <= part.images["t1"].min() and part.images["t1"].max() <= 1
    # The phantom's tissue map is read as the tissue labels, its tumour map as the tumour labels.
    assert set(np.unique(data.train.tissue)) >= {0, 1, 2, 3}
    assert data.info["labels"] == ["tissue", "tumor"]
    # The seed makes the split: the same seed gives the same split again.
    again = load_dataset("folder", path=flat, modalities=["t1", "t2"], seed=3, progress=False, **SIZES)
    assert again.info["split"] == split
    np.testing.assert_array_equal(again.test.images["t2"], data.test.images["t2"])


def test_bids_and_flat_give_the_same_slices(flat, bids):
    a = load_dataset("folder", path=flat, modalities=["t1", "t2", "t1ce"], progress=False, **SIZES)
    b = load_dataset("folder", path=bids, progress=False, **SIZES)
    assert b.info["layout"] == "bids" and b.info["modalities"] == ["t1", "t2", "t1ce"]
    assert a.info["split"] == b.info["split"]
    for m in ("t1", "t2", "t1ce"):
        np.testing.assert_allclose(a.train.images[m], b.train.images[m], atol=1e-6)
    np.testing.assert_array_equal(a.train.tumor, b.train.tumor)


def test_slices_are_the_phantoms_anatomy_in_display_orientation(flat, subjects):
    """Anterior up, the subject's right on the image's left: the head's front (the frontal
    bone) is in the top rows, as every chapter's slices."""
    slices = load_scan_slices(flat / "sub-000_t1.nii.gz", "t1", 32, 3)
    assert slices.shape == (3, 32, 32)
    head = slices.mean(0) > 0.1
    rows = np.flatnonzero(head.any(1))
    # The head is longer front to back than side to side (the phantom's MNI head is).
    cols = np.flatnonzero(head.any(0))
    assert rows.size > cols.size
    # Reading the same volume stored LPS (x and y reversed) gives the same slices.
    s = subjects[0]
    flipped = s.affine.copy()
    flipped[:3, 0] *= -1
    flipped[:3, 1] *= -1
    flipped[:3, 3] = s.affine[:3, :3] @ [s.images["t1"].shape[0] - 1, s.images["t1"].shape[1] - 1, 0] + s.affine[:3, 3]
    path = flat.parent / "lps_t1.nii.gz"
    _save(path, s.images["t1"][::-1, ::-1].copy(), flipped)
    np.testing.assert_allclose(load_scan_slices(path, "t1", 32, 3), slices, atol=1e-5)


def test_dicom_series_folders_load_like_nifti(tmp_path, flat, subjects):
    for s in subjects:
        for m in ("t1", "t2"):
            write_series(tmp_path / s.subject_id / m, s.images[m], s.affine, series_description=m,
                         provenance={"subject": s.subject_id})
    a = load_dataset("folder", path=flat, modalities=["t1", "t2"], progress=False, **SIZES)
    b = load_dataset("folder", path=tmp_path, progress=False, **SIZES)
    assert b.info["layout"] == "dicom folders"
    np.testing.assert_allclose(a.test.images["t2"], b.test.images["t2"], atol=2e-3)  # int16 storage


def _copy_without(flat, tmp_path, drop=()):
    folder = tmp_path / "scans"
    folder.mkdir()
    for p in flat.iterdir():
        if p.name not in drop:
            shutil.copy(p, folder / p.name)
    return folder


def _load(folder, **kwargs):
    return load_dataset("folder", path=folder, progress=False, **{**SIZES, **kwargs})


def test_a_subject_missing_a_modality_is_named(flat, tmp_path):
    folder = _copy_without(flat, tmp_path, drop=("sub-002_t2.nii.gz",))
    with pytest.raises(ScanError, match=r"sub-002 .* no t2 scan.*modalities=\[.*'t1'"):
        _load(folder, modalities=["t1", "t2"])


@pytest.mark.parametrize("shape, message", [((20, 20, 12, 3), "4-D"), ((20, 20), "2-D"), ((20, 20, 1), "2-D"),
                                            ((20, 20, 5), "tiny")])
def test_wrong_dimensions_are_refused(tmp_path, shape, message):
    path = tmp_path / "sub-009_t1.nii.gz"
    _save(path, np.random.default_rng(0).random(shape).astype(np.float32), np.eye(4))
    with pytest.raises(ScanError, match=f"sub-009_t1.nii.gz.*{message}"):
        read_scan(path)


def test_nan_empty_and_unreadable_files_are_refused(tmp_path):
    volume = np.random.default_rng(0).random((20, 20, 12)).astype(np.float32)
    volume[3, 4, 5] = np.nan
    _save(tmp_path / "nan.nii.gz", volume, np.eye(4))
    _save(tmp_path / "empty.nii.gz", np.zeros((20, 20, 12), np.float32), np.eye(4))
    (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ScanError, match="nan.nii.gz holds 1 NaN"):
        read_scan(tmp_path / "nan.nii.gz")
    with pytest.raises(ScanError, match="empty.nii.gz is empty"):
        read_scan(tmp_path / "empty.nii.gz")
    with pytest.raises(ScanError, match="broken.nii.gz is not a readable NIfTI"):
        read_scan(tmp_path / "broken.nii.gz")


def test_label_values_outside_the_codes_are_refused(flat, tmp_path):
    folder = _copy_without(flat, tmp_path, drop=("sub-001_tumor.nii.gz",))
    image = nib.load(flat / "sub-001_tumor.nii.gz")
    labels = np.asarray(image.dataobj).copy()
    labels[10:12, 10:12, 10] = 4  # BraTS' enhancing code, not the course's
    _save(folder / "sub-001_tumor.nii.gz", labels, image.affine)
    with pytest.raises(ScanError, match=r"sub-001_tumor.nii.gz is a tumor label map with values \[4\]"):
        _load(folder, modalities=["t1"])


def test_modalities_on_different_grids_need_registration(flat, tmp_path, subjects):
    folder = _copy_without(flat, tmp_path, drop=("sub-003_t2.nii.gz",))
    # sub-003's T2 on a finer grid, the head moved by a few millimetres (another acquisition).
    shape, affine = phantom.volume_grid(3.0)
    moved = affine.copy()
    moved[:3, 3] += [4.0, -3.0, 2.0]
    t2 = phantom.make_subject(103, shape, moved, tumor="random").images["t2"]
    _save(folder / "sub-003_t2.nii.gz", t2, affine)
    with pytest.raises(ScanError, match=r"sub-003: sub-003_t2.nii.gz .* different voxel grids.*register=True"):
        _load(folder, modalities=["t1", "t2"])
    data = _load(folder, modalities=["t1", "t2"], register=True)
    assert data.info["registered"] is True and "sub-003" in sum(data.info["split"].values(), [])


def test_mixed_dicom_series_is_refused_by_folder(tmp_path, subjects):
    s = subjects[0]
    series = tmp_path / "scans" / "sub-000" / "t1"
    write_series(series, s.images["t1"], s.affine, series_description="t1", provenance={})
    write_series(tmp_path / "other", s.images["t2"], s.affine, series_description="t2", provenance={})
    for p in (tmp_path / "other").iterdir():
        shutil.move(p, series / f"x{p.name}")
    with pytest.raises(ValueError, match=r"t1.*mixes 2"):
        read_scan(series)


def test_an_empty_or_unknown_folder_says_how_to_name_scans(tmp_path):
    (tmp_path / "notes.txt").write_text("my scans")
    with pytest.raises(ScanError, match="BIDS .*flat .*DICOM"):
        find_scans(tmp_path)
    with pytest.raises(ScanError, match="is not a folder"):
        find_scans(tmp_path / "missing")


def test_files_the_course_does_not_read_are_reported(flat, tmp_path):
    folder = _copy_without(flat, tmp_path)
    shutil.copy(flat / "sub-000_t1.nii.gz", folder / "sub-000_T1_mprage.nii.gz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found, _ = find_scans(folder)
    assert any("sub-000_T1_mprage.nii.gz" in str(w.message) for w in caught)
    assert set(found) == {f"sub-{i:03d}" for i in range(4)}
