"""``medsynth predict``: a trained run applied to a whole volume lands on the input's own grid
(any orientation, anisotropic voxels, NIfTI or a scrambled DICOM series), stamped SYNTHETIC
with its provenance, and never replaces a file or touches the input."""
from __future__ import annotations

import hashlib
import json
import random

import nibabel as nib
import numpy as np
import pytest

from medsynth_nb.cli import main
from medsynth_nb.data import phantom
from medsynth_nb.data.scans import ScanError, read_scan
from medsynth_nb.dicom import read_series, write_series
from medsynth_nb.engine.prediction import predict_scan, write_prediction
from medsynth_nb.io import verify_synthetic

SPACING = (2.2, 1.8, 3.5)   # anisotropic, as clinical scans
SHAPE = (90, 128, 50)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "unet"
    assert main(["train", "unet", "--task", "t1:t2", "--profile", "smoke", "--steps", "150", "--seconds", "60",
                 "--out", str(out)]) == 0
    return out


def _lps_subject():
    """A phantom head on an LPS grid (x and y stored right-to-left and anterior-to-posterior)
    with anisotropic voxels, and the same voxels stored RAS."""
    affine = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
    affine[:3, 3] = [SHAPE[0] * SPACING[0] / 2, SHAPE[1] * SPACING[1] / 2 - 18, 22 - SHAPE[2] * SPACING[2] / 2]
    return phantom.make_subject(7, SHAPE, affine, tumor=None, subject_id="patient")


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    folder = tmp_path_factory.mktemp("patient")
    s = _lps_subject()
    nib.save(nib.Nifti1Image(s.images["t1"], s.affine), folder / "t1_lps.nii.gz")
    ras = s.affine.copy()
    ras[:3, :2] *= -1
    ras[:3, 3] = s.affine[:3, :3] @ [SHAPE[0] - 1, SHAPE[1] - 1, 0] + s.affine[:3, 3]
    nib.save(nib.Nifti1Image(s.images["t1"][::-1, ::-1].copy(), ras), folder / "t1_ras.nii.gz")
    # The same scan as a DICOM series, its files renamed in a scrambled order.
    dicom = folder / "t1_dicom"
    write_series(dicom, s.images["t1"], s.affine, series_description="T1w", provenance={"phantom": 7})
    files = sorted(dicom.iterdir())
    names = [f"{random.Random(0).getrandbits(32):08x}_{i}" for i in range(len(files))]
    random.Random(1).shuffle(names)
    for f, name in zip(files, names):
        f.rename(dicom / name)
    return s, folder


def _slab(subject):
    """The voxels inside the head at the heights the course's phantom slabs cover."""
    z = subject.affine[2, 2] * np.arange(SHAPE[2]) + subject.affine[2, 3]
    return subject.head_mask & ((z > 0) & (z < 40))[None, None, :]


def test_prediction_lands_on_the_lps_grid_and_matches_the_truth(run, patient):
    s, folder = patient
    prediction = predict_scan(run, [folder / "t1_lps.nii.gz"], progress=False)
    assert prediction.volume.shape == SHAPE
    np.testing.assert_allclose(prediction.affine, s.affine)
    inside = _slab(s)
    truth = s.clean["t2"]

    def corr(a):
        return np.corrcoef(a[inside], truth[inside])[0, 1]

    # Right where the truth is: mirrored in either axis the agreement is much worse.
    assert corr(prediction.volume) > corr(prediction.volume[::-1]) + 0.1
    assert corr(prediction.volume) > corr(prediction.volume[:, ::-1]) + 0.1
    # The same voxels stored RAS give the same prediction, mirrored back: orientation round trip.
    ras = predict_scan(run, [folder / "t1_ras.nii.gz"], progress=False)
    np.testing.assert_allclose(ras.volume[::-1, ::-1], prediction.volume, atol=1e-4)


def test_a_scrambled_dicom_series_is_the_same_volume_as_the_nifti(run, patient, tmp_path):
    s, folder = patient
    dicom, nifti = read_scan(folder / "t1_dicom"), read_scan(folder / "t1_lps.nii.gz")
    np.testing.assert_allclose(dicom.affine, nifti.affine, atol=1e-3)
    np.testing.assert_allclose(dicom.array, nifti.array, atol=np.ptp(nifti.array) / 30000)
    prediction = predict_scan(run, [folder / "t1_dicom"], progress=False)
    reference = predict_scan(run, [folder / "t1_lps.nii.gz"], progress=False)
    np.testing.assert_allclose(prediction.volume, reference.volume, atol=2e-3)
    # As a new DICOM series in the input's study, read back by another reader (SimpleITK).
    sitk = pytest.importorskip("SimpleITK")
    write_prediction(prediction, tmp_path / "t2.nii.gz", dicom_dir=tmp_path / "t2_dicom")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "t2_dicom")))
    image = reader.Execute()
    np.testing.assert_allclose(sitk.GetArrayFromImage(image).transpose(2, 1, 0), prediction.volume, atol=1e-3)
    np.testing.assert_allclose(np.abs(image.GetSpacing()), SPACING, atol=1e-4)
    _, _, info = read_series(tmp_path / "t2_dicom")
    source = read_series(folder / "t1_dicom")[2]
    assert info["study_instance_uid"] == source["study_instance_uid"]
    assert info["series_instance_uid"] != source["series_instance_uid"]
    assert "SYNTHETIC" in info["series_description"] and "DERIVED" in list(info["reference"].ImageType)


def test_the_output_is_stamped_with_its_provenance_and_never_replaced(run, patient, tmp_path):
    s, folder = patient
    source = folder / "t1_lps.nii.gz"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    prediction = predict_scan(run, {"t1": source}, progress=False)
    out = tmp_path / "patient_t2.nii.gz"
    write_prediction(prediction, out)
    record = verify_synthetic(out, model="unet", task="t1:t2", profile="smoke")
    assert record["inputs"]["t1"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["units"].startswith("normalised")
    np.testing.assert_allclose(nib.load(out).affine, s.affine, atol=1e-5)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_prediction(prediction, out)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_wrong_inputs_get_clear_errors(run, patient, tmp_path):
    s, folder = patient
    with pytest.raises(ValueError, match="from t1: pass 1 input"):
        predict_scan(run, [folder / "t1_lps.nii.gz", folder / "t1_ras.nii.gz"], progress=False)
    with pytest.raises(ValueError, match="no per-voxel uncertainty"):
        predict_scan(run, [folder / "t1_lps.nii.gz"], uncertainty=True, progress=False)
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        predict_scan(tmp_path, [folder / "t1_lps.nii.gz"], progress=False)
    with pytest.raises(ScanError, match="does not exist"):
        predict_scan(run, [tmp_path / "missing.nii.gz"], progress=False)
    with pytest.raises(ValueError, match=".nii.gz"):
        write_prediction(predict_scan(run, [folder / "t1_lps.nii.gz"], progress=False), tmp_path / "out.png")


def test_cli_predict_writes_the_volume_and_the_uncertainty_of_a_heteroscedastic_run(tmp_path, patient, capsys):
    s, folder = patient
    het = tmp_path / "het"
    assert main(["train", "heteroscedastic", "--task", "t1:t2", "--profile", "smoke", "--steps", "10",
                 "--out", str(het)]) == 0
    out = tmp_path / "pred" / "patient_t2.nii.gz"
    assert main(["predict", str(het), "--input", str(folder / "t1_lps.nii.gz"), "--out", str(out),
                 "--uncertainty"]) == 0
    printed = capsys.readouterr().out
    assert "90x128x50 on the input's grid" in printed and "SYNTHETIC" in printed
    spread = nib.load(out.with_name("patient_t2_uncertainty.nii.gz"))
    assert spread.shape == SHAPE and float(np.asarray(spread.dataobj).max()) > 0
    assert json.loads(out.with_name("patient_t2_uncertainty.json").read_text())["image"] == "per-voxel uncertainty"
    # Again without --overwrite: a clear error, exit code 2, the files unchanged.
    assert main(["predict", str(het), "--input", str(folder / "t1_lps.nii.gz"), "--out", str(out)]) == 2
    assert "Not overwriting" in capsys.readouterr().err


def test_a_two_input_run_takes_one_input_per_source_on_one_grid(tmp_path, patient):
    s, folder = patient
    run = tmp_path / "two"
    assert main(["train", "unet", "--task", "t1,t2:flair", "--profile", "smoke", "--steps", "5",
                 "--out", str(run)]) == 0
    nib.save(nib.Nifti1Image(s.images["t2"], s.affine), tmp_path / "t2_lps.nii.gz")
    out = tmp_path / "flair.nii.gz"
    assert main(["predict", str(run), "--input", str(folder / "t1_lps.nii.gz"), "--input2",
                 str(tmp_path / "t2_lps.nii.gz"), "--out", str(out)]) == 0
    assert nib.load(out).shape == SHAPE
    assert set(verify_synthetic(out, task="t1,t2:flair")["inputs"]) == {"t1", "t2"}
    # A second input on another grid is refused: the output would have no one grid to land on.
    with pytest.raises(ScanError, match="t2 input .* not on the grid of the t1 input"):
        predict_scan(run, {"t1": folder / "t1_lps.nii.gz", "t2": folder / "t1_ras.nii.gz"}, progress=False)
