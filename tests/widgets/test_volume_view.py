"""``view_3d`` and its choice of viewer. itkwidgets (and itkwasm, which it brings) is not
installed here: fake modules in ``sys.modules`` stand in for it, for ``google.colab`` too."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from ipyniivue import NiiVue

from medsynth_nb.widgets.volume_view import choose_backend, view_3d

AFFINE = np.array([[2.0, 0, 0, -90], [0, 2.5, 0, -120], [0, 0, 3.0, -70], [0, 0, 0, 1]])


@pytest.fixture(autouse=True)
def plain_session(monkeypatch):
    """Neither Colab nor Binder, no MEDSYNTH_VIEWER, itkwidgets not importable (whatever is installed)."""
    for name in ("MEDSYNTH_VIEWER", "BINDER_SERVICE_HOST", "BINDER_REQUEST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setitem(sys.modules, "itkwidgets", None)  # None: importing it fails


@pytest.fixture()
def fake_itk(monkeypatch):
    """Fake ``itkwidgets`` (``view`` records its arguments) and ``itkwasm`` (``image_from_array``)."""
    calls = []
    itkwidgets = types.ModuleType("itkwidgets")
    itkwidgets.view = lambda **kwargs: calls.append(kwargs) or "itk viewer"
    itkwasm = types.ModuleType("itkwasm")
    itkwasm.image_from_array = lambda arr: types.SimpleNamespace(data=arr, size=list(arr.shape[::-1]),
                                                                 spacing=[1.0] * 3, origin=[0.0] * 3)
    monkeypatch.setitem(sys.modules, "itkwidgets", itkwidgets)
    monkeypatch.setitem(sys.modules, "itkwasm", itkwasm)
    return calls


@pytest.fixture()
def on_colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def volume_and_labels():
    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)  # every axis a different length
    labels = np.zeros(volume.shape, np.uint8)
    labels[1, 2, 3], labels[3, 0, 5] = 3, 1
    return volume, labels


def test_offline_without_itkwidgets_it_is_niivue():
    name, reason = choose_backend()
    assert name == "niivue" and "offline" in reason and "pip install 'medsynth-nb[itk]'" in reason


def test_itkwidgets_installed_but_not_on_colab_or_binder_is_still_niivue(fake_itk):
    name, reason = choose_backend()
    assert name == "niivue" and "MEDSYNTH_VIEWER=itkwidgets" in reason


def test_colab_without_itkwidgets_is_niivue(on_colab):
    assert choose_backend()[0] == "niivue"


def test_colab_or_binder_with_itkwidgets_is_itkwidgets(fake_itk, on_colab):
    name, reason = choose_backend()
    assert name == "itkwidgets" and "Colab" in reason


@pytest.mark.parametrize("variable", ["BINDER_SERVICE_HOST", "BINDER_REQUEST"])
def test_binder_is_detected_by_its_environment(fake_itk, monkeypatch, variable):
    monkeypatch.setenv(variable, "x")
    name, reason = choose_backend()
    assert name == "itkwidgets" and "Binder" in reason


def test_the_argument_and_the_environment_variable_win(fake_itk, on_colab, monkeypatch):
    assert choose_backend("niivue") == ("niivue", "you asked for it (backend='niivue')")
    monkeypatch.setenv("MEDSYNTH_VIEWER", "NiiVue")
    assert choose_backend()[0] == "niivue" and "MEDSYNTH_VIEWER" in choose_backend()[1]
    assert choose_backend("itkwidgets")[0] == "itkwidgets"  # the argument beats the variable
    monkeypatch.delitem(sys.modules, "google.colab")
    monkeypatch.setenv("MEDSYNTH_VIEWER", "itkwidgets")
    assert choose_backend()[0] == "itkwidgets"  # asked for: also away from Colab


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_an_unknown_viewer_is_refused(monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv("MEDSYNTH_VIEWER", "napari")
    with pytest.raises(ValueError, match="Unknown 3-D viewer 'napari'.*'niivue'.*'itkwidgets'"):
        choose_backend("napari" if how == "argument" else None)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_asking_for_itkwidgets_without_it_says_how_to_install(monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv("MEDSYNTH_VIEWER", "itkwidgets")
    with pytest.raises(ImportError, match=r"not installed.*pip install 'medsynth-nb\[itk\]'"):
        choose_backend("itkwidgets" if how == "argument" else None)
    with pytest.raises(ImportError, match="medsynth-nb"):
        view_3d(np.zeros((2, 2, 2)), backend="itkwidgets" if how == "argument" else None)


def test_niivue_loads_the_volume_and_labels_with_the_affine(capsys):
    volume, labels = volume_and_labels()
    viewer = view_3d(volume, AFFINE, labels=labels, title="the test volume")
    assert isinstance(viewer, NiiVue)
    assert capsys.readouterr().out.strip() == ("Showing the test volume with NiiVue because it works offline; for "
                                               "itkwidgets on Colab or Binder run pip install 'medsynth-nb[itk]'.")
    image, overlay = viewer.volumes
    for layer, expected in ((image, volume), (overlay, labels)):
        path = Path(layer.path)
        assert path.parent == Path(viewer._medsynth_folder.name) and path.parent != Path.cwd()
        img = nib.load(path)
        np.testing.assert_array_equal(np.asarray(img.dataobj), expected)
        np.testing.assert_allclose(img.affine, AFFINE)
    assert image.colormap == "gray" and image.name == "the test volume"
    lut = overlay.colormap_label
    assert (lut.min, lut.max, len(lut.lut)) == (0, 3, 16) and lut.lut[3] == 0  # background transparent
    assert lut.labels == ["background", "necrosis", "edema", "enhancing"] and 0 < overlay.opacity < 1


def test_niivue_takes_a_nifti_file_and_keeps_its_affine(tmp_path):
    volume, labels = volume_and_labels()
    nib.save(nib.Nifti1Image(volume, AFFINE), tmp_path / "head.nii.gz")
    nib.save(nib.Nifti1Image(labels, AFFINE), tmp_path / "labels.nii.gz")
    viewer = view_3d(tmp_path / "head.nii.gz", labels=str(tmp_path / "labels.nii.gz"), backend="niivue")
    image, overlay = (nib.load(layer.path) for layer in viewer.volumes)
    np.testing.assert_array_equal(np.asarray(image.dataobj), volume)
    np.testing.assert_array_equal(np.asarray(overlay.dataobj), labels)
    np.testing.assert_allclose(image.affine, AFFINE)
    with pytest.raises(ValueError, match="affine comes from the file"):
        view_3d(tmp_path / "head.nii.gz", AFFINE)


def test_the_default_affine_is_1mm_and_bad_input_is_refused():
    viewer = view_3d(np.ones((3, 3, 3)))
    assert len(viewer.volumes) == 1
    np.testing.assert_allclose(nib.load(viewer.volumes[0].path).affine, np.eye(4))
    with pytest.raises(ValueError, match=r"3-D volume \[x, y, z\]"):
        view_3d(np.ones((3, 3)))
    with pytest.raises(ValueError, match="must share the grid"):
        view_3d(np.ones((3, 3, 3)), labels=np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="whole numbers"):
        view_3d(np.ones((3, 3, 3)), labels=np.full((3, 3, 3), 0.5))


def test_itkwidgets_gets_the_data_and_the_spacing_of_the_affine(fake_itk, on_colab, capsys):
    volume, labels = volume_and_labels()
    assert view_3d(volume, AFFINE, labels=labels) == "itk viewer"
    assert "with itkwidgets because it is installed and this is Colab" in capsys.readouterr().out
    (call,) = fake_itk
    image, label_image = call["image"], call["label_image"]
    for given, expected in ((image, volume), (label_image, labels)):
        np.testing.assert_array_equal(given.data, expected.T)  # ITK's [z, y, x] order: x varies fastest
        assert given.size == [4, 5, 6] and given.data.flags.c_contiguous
        assert given.spacing == [2.0, 2.5, 3.0] and given.origin == [-90.0, -120.0, -70.0]


def test_itkwidgets_spacing_is_per_voxel_axis_also_for_a_rotated_grid(fake_itk):
    rotated = AFFINE.copy()
    rotated[:3, :3] = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]]) @ np.diag([2.0, 2.5, 3.0])  # x and y swapped
    view_3d(np.zeros((4, 5, 6)), rotated, backend="itkwidgets")
    assert fake_itk[0]["image"].spacing == [2.0, 2.5, 3.0] and "label_image" not in fake_itk[0]
