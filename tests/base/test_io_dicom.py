"""DICOM goes through MONAI's LoadImage with pydicom (a sample file ships inside pydicom)."""
import numpy as np
import pytest

from medsynth_nb.io import load_dicom

pydicom = pytest.importorskip("pydicom")


def test_reads_a_dicom_file_with_its_geometry():
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    header = pydicom.dcmread(path)
    image, affine = load_dicom(path)
    assert image.size == header.pixel_array.size
    assert affine.shape == (4, 4)
    # The affine carries the file's pixel spacing.
    assert np.isclose(abs(affine[0, 0]), float(header.PixelSpacing[0]), atol=1e-5)


def test_not_dicom_gives_a_clear_error(tmp_path):
    bad = tmp_path / "scan.dcm"
    bad.write_bytes(b"this is not a DICOM file")
    with pytest.raises(ValueError, match="scan.dcm"):
        load_dicom(bad)
