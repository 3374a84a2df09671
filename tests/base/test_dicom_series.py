"""DICOM series: write_series -> read_series round trips (any file order, oblique and
anisotropic geometry), SimpleITK reads what we write, the SYNTHETIC/DERIVED stamps and the
study identity copied from a reference, and one clear ValueError per kind of bad folder."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pydicom
import pytest

from medsynth_nb.dicom import read_series, write_series

SHAPE = (24, 20, 12)


def _volume(integral: bool = False) -> np.ndarray:
    # Different slopes along i, j and k (and noise): a swapped or flipped axis changes the values.
    i, j, k = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    noise = np.random.default_rng(0).uniform(0, 1, SHAPE)
    volume = 3.0 * i + 100.0 * j + 1000.0 * k + (0 if integral else noise) - 800.0
    return volume.astype(np.float32)


def _affine(oblique: bool = False) -> np.ndarray:
    affine = np.diag([-1.2, -0.9, 3.0, 1.0])
    affine[:3, 3] = [12.5, -30.0, 7.0]
    if oblique:  # a rotation by 20 degrees about x, then 35 about z
        a, b = np.radians(20), np.radians(35)
        rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
        affine[:3, :3] = rz @ rx @ affine[:3, :3]
    return affine


def _write(folder, volume=None, affine=None, **kwargs) -> list:
    kwargs = {"series_description": "test", "provenance": {"model": "unet", "seed": 3}, **kwargs}
    return write_series(folder, _volume() if volume is None else volume, _affine() if affine is None else affine,
                        **kwargs)


def _step(volume) -> float:
    """One int16 quantisation step of ``volume`` (range / 65534), with a margin for rounding."""
    return float(volume.max() - volume.min()) / 65534 * 1.01


@pytest.mark.parametrize("oblique", [False, True])
def test_round_trip_keeps_values_and_geometry(tmp_path, oblique):
    volume, affine = _volume(), _affine(oblique)
    files = _write(tmp_path / "series", volume, affine)
    assert [f.name for f in files[:2]] == ["IM0001.dcm", "IM0002.dcm"] and len(files) == SHAPE[2]
    read, read_affine, info = read_series(tmp_path / "series")
    assert read.dtype == np.float32 and read.shape == SHAPE
    np.testing.assert_allclose(read, volume, atol=_step(volume) / 2)
    np.testing.assert_allclose(read_affine, affine, atol=1e-3)
    assert info["n_files"] == SHAPE[2] and info["modality"] == "MR"
    assert "PixelData" not in info["reference"]


def test_integral_ct_is_stored_exactly_in_hu(tmp_path):
    volume = _volume(integral=True)
    files = _write(tmp_path / "ct", volume, modality="CT")
    header = pydicom.dcmread(files[0])
    assert header.SOPClassUID == pydicom.uid.CTImageStorage
    assert (float(header.RescaleSlope), float(header.RescaleIntercept)) == (1.0, 0.0)
    np.testing.assert_array_equal(read_series(tmp_path / "ct")[0], volume)


def test_files_in_scrambled_order_with_random_names_read_back_identically(tmp_path):
    folder = tmp_path / "series"
    files = _write(folder, affine=_affine(oblique=True))
    expected, expected_affine, _ = read_series(folder)
    rng = np.random.default_rng(1)
    for n, path in zip(rng.permutation(len(files)), files):
        path.rename(folder / f"x{rng.integers(1e9)}_{n}")
    (folder / ".DS_Store").write_bytes(b"\0junk")  # hidden files and a DICOMDIR are not slices
    (folder / "DICOMDIR").write_text("index")
    read, read_affine, _ = read_series(folder)
    np.testing.assert_array_equal(read, expected)
    np.testing.assert_array_equal(read_affine, expected_affine)


@pytest.mark.parametrize("oblique", [False, True])
def test_simpleitk_reads_the_series_with_the_same_values_and_geometry(tmp_path, oblique):
    sitk = pytest.importorskip("SimpleITK")
    volume, affine = _volume(), _affine(oblique)
    _write(tmp_path / "series", volume, affine)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "series")))
    image = reader.Execute()
    np.testing.assert_allclose(sitk.GetArrayFromImage(image).transpose(2, 1, 0), volume, atol=_step(volume) / 2)
    lps = np.eye(4)
    lps[:3, :3] = np.reshape(image.GetDirection(), (3, 3)) @ np.diag(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    np.testing.assert_allclose(np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps, affine, atol=1e-3)


def test_a_left_handed_affine_reads_back_k_reversed_with_the_same_world_geometry(tmp_path):
    volume, affine = _volume(), _affine()
    affine[:3, 2] *= -1
    _write(tmp_path / "series", volume, affine)
    read, read_affine, _ = read_series(tmp_path / "series")
    np.testing.assert_allclose(read, volume[:, :, ::-1], atol=_step(volume) / 2)
    last = affine @ [0, 0, SHAPE[2] - 1, 1]
    np.testing.assert_allclose(read_affine[:, 3], last, atol=1e-3)
    np.testing.assert_allclose(read_affine[:3, 2], -affine[:3, 2], atol=1e-3)


def test_the_series_is_stamped_derived_and_synthetic(tmp_path):
    files = _write(tmp_path / "series", series_description="pix2pix T1->T2 " + "x" * 80)
    headers = [pydicom.dcmread(f) for f in files]
    header = headers[0]
    assert header.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert header.SOPClassUID == pydicom.uid.MRImageStorage
    assert {"DERIVED", "SECONDARY"} <= set(header.ImageType)
    assert header.SeriesDescription.startswith("SYNTHETIC — not for diagnosis: pix2pix")
    assert len(header.SeriesDescription) <= 64
    assert header.BurnedInAnnotation == "NO"
    assert json.loads(header.DerivationDescription) == {"synthetic": True, "generator": "medsynth_nb",
                                                        "model": "unet", "seed": 3}
    assert "SYNTHETIC" in header.ImageComments and '"model": "unet"' in header.ImageComments
    assert str(header.PatientName) == "SYNTHETIC^PHANTOM"
    assert [int(h.InstanceNumber) for h in headers] == list(range(1, SHAPE[2] + 1))
    assert len({h.SOPInstanceUID for h in headers}) == SHAPE[2]
    assert len({h.SeriesInstanceUID for h in headers}) == 1
    assert float(header.SliceThickness) == float(header.SpacingBetweenSlices) == 3.0
    assert [float(v) for v in header.PixelSpacing] == [0.9, 1.2]  # [between rows (j), between columns (i)]


def test_a_reference_puts_the_new_series_in_the_source_study(tmp_path):
    _write(tmp_path / "source")
    volume, affine, info = read_series(tmp_path / "source")
    reference = info["reference"]
    reference.PatientID, reference.PatientName = "PAT-42", "Doe^Jane"
    files = _write(tmp_path / "derived", volume * 2, affine, reference=reference)
    header = pydicom.dcmread(files[0])
    assert header.SeriesInstanceUID != info["series_instance_uid"]
    assert header.SOPInstanceUID != reference.SOPInstanceUID
    assert header.StudyInstanceUID == info["study_instance_uid"]
    assert header.FrameOfReferenceUID == reference.FrameOfReferenceUID
    assert (header.PatientID, str(header.PatientName)) == ("PAT-42", "Doe^Jane")
    # Without a reference every series gets a study and a frame of reference of its own.
    one, two = (pydicom.dcmread(_write(tmp_path / name)[0]) for name in ("one", "two"))
    assert len({one.StudyInstanceUID, two.StudyInstanceUID, header.StudyInstanceUID}) == 3
    assert one.FrameOfReferenceUID != two.FrameOfReferenceUID


def test_overwrite_is_refused_then_allowed_and_leaves_no_temporary_folder(tmp_path):
    folder = tmp_path / "series"
    _write(folder)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _write(folder)
    _write(folder, volume=_volume() + 5000, overwrite=True)
    assert read_series(folder)[0].min() > 4000
    assert [p.name for p in tmp_path.iterdir()] == ["series"]
    (tmp_path / "empty").mkdir()  # an empty folder is not an overwrite
    _write(tmp_path / "empty")


def test_a_sheared_affine_is_refused(tmp_path):
    affine = _affine()
    affine[0, 1] = 0.5
    with pytest.raises(ValueError, match="sheared"):
        _write(tmp_path / "series", affine=affine)
    assert not (tmp_path / "series").exists()


def _series(tmp_path, name="series"):
    _write(tmp_path / name)
    return tmp_path / name


def _edit(path, **changes):
    header = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            delattr(header, key)
        else:
            setattr(header, key, value)
    header.save_as(path)


def test_a_missing_or_empty_folder_or_a_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="nowhere.*does not exist"):
        read_series(tmp_path / "nowhere")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match="empty holds no DICOM files.*sub"):
        read_series(tmp_path / "empty")
    folder = _series(tmp_path)
    with pytest.raises(ValueError, match="IM0001.dcm is a file: pass the folder"):
        read_series(folder / "IM0001.dcm")


def test_a_file_that_is_not_dicom_is_named(tmp_path):
    folder = _series(tmp_path)
    (folder / "notes.txt").write_text("scan notes")
    with pytest.raises(ValueError, match="notes.txt is not a DICOM file.*remove it or move it out of the folder"):
        read_series(folder)


def test_mixed_series_list_each_series(tmp_path):
    folder = _series(tmp_path, "a")
    _write(tmp_path / "b", series_description="second")
    for path in (tmp_path / "b").iterdir():
        shutil.move(path, folder / f"b_{path.name}")
    with pytest.raises(ValueError, match=r"mixes 2 DICOM series.*: test' \(12 files.*second' \(12 files.*own folder"):
        read_series(folder)


def test_a_slice_without_geometry_is_named(tmp_path):
    folder = _series(tmp_path)
    _edit(folder / "IM0004.dcm", ImagePositionPatient=None)
    with pytest.raises(ValueError, match="IM0004.dcm has no ImagePositionPatient.*3-D"):
        read_series(folder)


@pytest.mark.parametrize("change, what", [
    ({"ImageOrientationPatient": [0, 1, 0, 0, 0, -1]}, "ImageOrientationPatient"),
    ({"PixelSpacing": [1.0, 1.2]}, "PixelSpacing"),
    ({"Rows": 19, "PixelData": b"\0\0" * 24 * 19}, "size"),
])
def test_slices_that_differ_in_grid_are_named(tmp_path, change, what):
    folder = _series(tmp_path)
    _edit(folder / "IM0007.dcm", **change)
    with pytest.raises(ValueError, match=f"IM0007.dcm has a different {what}"):
        read_series(folder)


def test_duplicate_slices_are_named(tmp_path):
    folder = _series(tmp_path)
    shutil.copy(folder / "IM0005.dcm", folder / "copy.dcm")
    with pytest.raises(ValueError, match="(IM0005.dcm|copy.dcm).*(copy.dcm|IM0005.dcm).*same position"):
        read_series(folder)


def test_a_missing_slice_names_the_gap(tmp_path):
    folder = _series(tmp_path)
    (folder / "IM0006.dcm").unlink()
    with pytest.raises(ValueError, match="series: uneven slice spacing, a gap of 6.00 mm between IM0005.dcm and "
                                         "IM0007.dcm.*3.00 mm apart: about 1 slice"):
        read_series(folder)


def test_a_single_slice_is_not_a_volume(tmp_path):
    folder = _series(tmp_path)
    for path in sorted(folder.iterdir())[1:]:
        path.unlink()
    with pytest.raises(ValueError, match="single slice \\(IM0001.dcm\\): a 2-D image"):
        read_series(folder)


def test_multi_frame_dicom_is_refused_clearly(tmp_path):
    folder = _series(tmp_path)
    _edit(folder / "IM0002.dcm", NumberOfFrames=12)
    with pytest.raises(ValueError, match="IM0002.dcm is a multi-frame"):
        read_series(folder)
