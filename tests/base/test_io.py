"""NIfTI reading/writing, the SYNTHETIC stamp, overwrite protection, subjects on disk."""
from __future__ import annotations

import gzip
import json
import time

import nibabel as nib
import numpy as np
import pytest

from medsynth_nb import io
from medsynth_nb.data import phantom, physics, tumor


def _affine():
    affine = np.diag([1.5, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-10.0, 20.0, 5.5]
    return affine


@pytest.fixture(scope="module")
def subject():
    return phantom.make_subject(2, *phantom.axial_grid(32, 2))


@pytest.mark.parametrize("name", ["image.nii.gz", "image.nii"])
def test_nifti_round_trip(tmp_path, name):
    data = np.random.default_rng(0).normal(size=(5, 6, 7)).astype(np.float32)
    path = io.save_nifti(tmp_path / name, data, _affine())
    loaded, affine = io.load_nifti(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, data)
    np.testing.assert_allclose(affine, _affine(), atol=1e-5)


def test_load_nifti_reorients_to_ras(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    flipped = np.diag([-1.0, 1.0, 1.0, 1.0])  # x runs right-to-left (LAS)
    flipped[0, 3] = 1.0
    path = io.save_nifti(tmp_path / "las.nii.gz", data, flipped)
    loaded, affine = io.load_nifti(path)
    assert affine[0, 0] > 0
    np.testing.assert_array_equal(loaded, data[::-1])
    raw, raw_affine = io.load_nifti(path, canonical=False)
    np.testing.assert_array_equal(raw, data)
    assert raw_affine[0, 0] < 0


def test_synthetic_stamp_and_sidecar(tmp_path):
    path = io.save_nifti(tmp_path / "synth.nii.gz", np.zeros((4, 4, 4), np.float32), _affine(),
                         provenance={"seed": 3})
    assert io.is_synthetic(path)
    sidecar = json.loads((tmp_path / "synth.json").read_text())
    assert sidecar["synthetic"] is True
    assert sidecar["seed"] == 3
    assert "SYNTHETIC" in bytes(nib.load(path).header["descrip"]).decode()


def test_real_images_are_not_stamped(tmp_path):
    path = io.save_nifti(tmp_path / "real.nii.gz", np.zeros((4, 4, 4), np.float32), _affine(), synthetic=False)
    assert not io.is_synthetic(path)
    assert not (tmp_path / "real.json").exists()
    # A NIfTI written by someone else (nibabel directly) is not synthetic either.
    other = tmp_path / "other.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.float32), np.eye(4)), other)
    assert not io.is_synthetic(other)


def test_never_overwrites_silently(tmp_path):
    path = tmp_path / "x.nii.gz"
    io.save_nifti(path, np.zeros((3, 3, 3), np.float32), _affine())
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        io.save_nifti(path, np.ones((3, 3, 3), np.float32), _affine())
    assert path.read_bytes() == before
    io.save_nifti(path, np.ones((3, 3, 3), np.float32), _affine(), overwrite=True)
    assert io.load_nifti(path)[0].min() == 1.0
    # No temporary files are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "x.nii.gz"]


def test_rejects_non_nifti_names(tmp_path):
    with pytest.raises(ValueError, match=".nii"):
        io.save_nifti(tmp_path / "x.png", np.zeros((2, 2, 2)), np.eye(4))


def test_corrupt_files_give_a_value_error_naming_the_file(tmp_path):
    junk = tmp_path / "random_bytes.nii.gz"
    junk.write_bytes(np.random.default_rng(1).bytes(4000))
    with pytest.raises(ValueError) as err:
        io.load_nifti(junk)
    assert "random_bytes.nii.gz" in str(err.value)

    real = io.save_nifti(tmp_path / "real.nii.gz", np.random.default_rng(2).random((20, 20, 20)).astype(np.float32),
                         _affine())
    truncated = tmp_path / "truncated_scan.nii.gz"
    raw = real.read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError) as err:
        io.load_nifti(truncated)
    assert "truncated_scan.nii.gz" in str(err.value)

    plain = tmp_path / "plain_junk.nii"
    plain.write_bytes(b"not a nifti file at all" * 20)
    with pytest.raises(ValueError, match="plain_junk.nii"):
        io.load_nifti(plain)

    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        io.load_nifti(tmp_path / "missing.nii.gz")


def test_same_data_gives_byte_identical_files(tmp_path, monkeypatch):
    data = np.random.default_rng(3).random((8, 8, 8)).astype(np.float32)
    a = io.save_nifti(tmp_path / "a" / "img.nii.gz", data, _affine(), provenance={"k": 1})
    # Another time and another file name must not leak into the bytes (gzip header).
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    b = io.save_nifti(tmp_path / "b" / "other_name.nii.gz", data, _affine(), provenance={"k": 1})
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a" / "img.json").read_bytes() == (tmp_path / "b" / "other_name.json").read_bytes()
    with gzip.open(a) as f:
        assert nib.Nifti1Image.from_bytes(f.read()).shape == (8, 8, 8)


def test_save_subject_writes_every_file(tmp_path, subject):
    files = phantom.save_subject(subject, tmp_path)
    sid = subject.subject_id
    expected = {f"{sid}_{m}.nii.gz" for m in physics.MODALITIES} | {f"{sid}_tissue.nii.gz", f"{sid}_tumor.nii.gz",
                                                                   f"{sid}.json"}
    assert {"t1", "t2", "pd", "flair", "t1ce", "ct", "pet"} == set(physics.MODALITIES)
    assert {p.name for p in files} == expected
    assert {p.name for p in tmp_path.iterdir()} == expected
    for m in physics.MODALITIES:
        data, affine = io.load_nifti(tmp_path / f"{sid}_{m}.nii.gz")
        np.testing.assert_array_equal(data, subject.images[m])
        np.testing.assert_allclose(affine, subject.affine, atol=1e-4)
        assert io.is_synthetic(tmp_path / f"{sid}_{m}.nii.gz")
    tissue = nib.load(tmp_path / f"{sid}_tissue.nii.gz")
    assert tissue.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(tissue.dataobj), subject.tissue)
    np.testing.assert_array_equal(io.load_nifti(tmp_path / f"{sid}_tumor.nii.gz")[0], subject.tumor)

    record = json.loads((tmp_path / f"{sid}.json").read_text())
    assert record["synthetic"] is True
    assert record["seed"] == subject.params["seed"]
    assert record["tissue_labels"] == {str(k): v for k, v in phantom.TISSUE_LABELS.items()}
    # BraTS convention: 1 necrotic core, 2 oedema, 3 enhancing tumour.
    assert record["tumor_labels"] == {"0": "background", "1": "necrosis", "2": "edema", "3": "enhancing"}
    assert record["tumor_labels"] == {str(k): v for k, v in tumor.LABELS.items()}
    assert record["units"]["ct"] == "HU"


def test_save_subject_with_clean_and_overwrite(tmp_path, subject):
    files = phantom.save_subject(subject, tmp_path, with_clean=True)
    names = {p.name for p in files}
    assert {f"{subject.subject_id}_{m}_clean.nii.gz" for m in physics.MODALITIES} <= names
    with pytest.raises(FileExistsError):
        phantom.save_subject(subject, tmp_path)
    phantom.save_subject(subject, tmp_path, overwrite=True)


def test_painted_labels_survive_a_round_trip(tmp_path, subject):
    """Labels saved as NIfTI and read back (float32) drive the phantom again."""
    assert set(np.unique(subject.tumor).tolist()) == {0, 1, 2, 3}
    phantom.save_subject(subject, tmp_path)
    labels, _ = io.load_nifti(tmp_path / f"{subject.subject_id}_tumor.nii.gz")
    again = phantom.make_subject(subject.params["seed"], subject.shape, subject.affine, tumor=labels)
    np.testing.assert_array_equal(again.tumor, subject.tumor)


def test_verify_synthetic_checks_the_stamp_the_sidecar_and_the_source(tmp_path):
    image = np.random.default_rng(0).random((2, 16, 16)).astype(np.float32)
    path = io.save_slices(tmp_path / "synthetic_t2.nii.gz", image, provenance={"model": "unet", "run": "r1"})
    assert io.verify_synthetic(path, model="unet")["run"] == "r1"
    with pytest.raises(ValueError, match="model is 'unet', expected 'pix2pix'"):
        io.verify_synthetic(path, model="pix2pix")
    plain = io.save_nifti(tmp_path / "acquired.nii.gz", image[0], np.eye(4), synthetic=False)
    with pytest.raises(ValueError, match="no SYNTHETIC stamp"):
        io.verify_synthetic(plain)
    (tmp_path / "synthetic_t2.json").unlink()
    with pytest.raises(ValueError, match="no provenance sidecar"):
        io.verify_synthetic(path)


def test_written_files_get_the_users_usual_permissions(tmp_path):
    """Atomic writes go through a private temporary file; the result must not stay private
    (0600), or a colleague, a PACS import or a web server could not read an export."""
    import os

    old = os.umask(0o022)
    try:
        path = io.save_nifti(tmp_path / "x.nii.gz", np.zeros((4, 4, 4), np.float32), np.eye(4), provenance={"a": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.with_name("x.json").stat().st_mode & 0o777 == 0o644
