"""The browser apps' Python side (``widgets.apps``), without a browser: they build on tiny
data, a bad upload says why in the app's status and raises nothing, a good one is used
(read by ``data.scans.load_scan_slices``)."""
from __future__ import annotations

import datetime

import nibabel as nib
import numpy as np
import pytest
import torch

from medsynth_nb import widgets
from medsynth_nb.analysis import uncertainty
from medsynth_nb.data import phantom
from medsynth_nb.models import build_model
from medsynth_nb.profiles import get_profile
from medsynth_nb.widgets import apps

TASK = "t1,t2:flair"
@pytest.fixture(autouse=True)
def no_figures(monkeypatch):
    """ExplainImage draws through common.show_figure; there is no kernel to capture it here."""
    import matplotlib.pyplot as plt

    monkeypatch.setattr(widgets.common, "show_figure", lambda out, fig: plt.close(fig))


@pytest.fixture(scope="module")
def nifti_files(tmp_path_factory):
    """T1w and T2w of one small phantom subject (10 axial slices 4 mm apart), as .nii.gz."""
    folder = tmp_path_factory.mktemp("scans")
    subject = phantom.make_subject(3, *phantom.axial_grid(40, 10))
    paths = {}
    for m in ("t1", "t2"):
        paths[m] = folder / f"patient_{m}.nii.gz"
        nib.save(nib.Nifti1Image(subject.images[m].astype(np.float32), subject.affine), str(paths[m]))
    return paths


def upload(widget, name: str, content: bytes) -> None:
    """What the browser does when a file is chosen: the FileUpload's value changes."""
    widget.value = ({"name": name, "type": "application/octet-stream", "size": len(content),
                     "content": memoryview(content), "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


@pytest.fixture
def tiny_explain_app(tiny_data):
    torch.manual_seed(0)  # untrained: the app, not the model, is tested
    model = build_model("unet", TASK, get_profile("smoke"), dropout=0.1)
    methods = {"U-Net": uncertainty.MCDropout(model, n_samples=2)}
    images = widgets.images_from_slices(tiny_data.test, TASK, [0])
    return apps.explain_app(methods, images, TASK, grid=4, n_slices=2)


def test_explain_app_builds_with_one_upload_per_source(tiny_explain_app):
    app = tiny_explain_app
    assert isinstance(app.explainer, widgets.ExplainImage)
    assert list(app.uploads) == ["t1", "t2"]
    assert all(u.accept == ".nii,.nii.gz" and not u.multiple for u in app.uploads.values())
    assert "Ready" in app.status.value
    assert {"medsynth-app", "medsynth-app-explain"} <= set(app._dom_classes)


@pytest.mark.parametrize("name, content, says", [
    ("notes.txt", b"hello", "is not a NIfTI file"),
    ("scan.nii.gz", b"these bytes are not a NIfTI image", "Could not use “scan.nii.gz”"),
])
def test_a_bad_upload_says_why_and_changes_nothing(tiny_explain_app, name, content, says):
    app = tiny_explain_app
    before = list(app.explainer.images)
    upload(app.uploads["t1"], name, content)  # must not raise
    assert says in app.status.value and "color:#b00" in app.status.value, app.status.value
    assert "Traceback" not in app.status.value and "medsynth_upload_" not in app.status.value, "no temporary path"
    assert list(app.explainer.images) == before
    assert app.uploads["t1"].value == (), "the button is cleared, so the same file can be chosen again"


def test_a_good_upload_adds_the_scan_once_every_sequence_is_in(tiny_explain_app, nifti_files):
    app = tiny_explain_app
    before = list(app.explainer.images)
    upload(app.uploads["t1"], nifti_files["t1"].name, nifti_files["t1"].read_bytes())
    assert "Now upload the T2w" in app.status.value, app.status.value
    assert list(app.explainer.images) == before, "half a scan is not an image yet"
    upload(app.uploads["t2"], nifti_files["t2"].name, nifti_files["t2"].read_bytes())
    added = [k for k in app.explainer.images if k not in before]
    assert len(added) == 2 and all("patient_t1.nii.gz + patient_t2.nii.gz" in k for k in added), added
    source, truth = app.explainer.images[added[-1]]
    assert tuple(source.shape) == (1, 2, 32, 32) and truth is None
    assert float(source.min()) >= 0 and float(source.max()) <= 1
    assert app.explainer.image.value == added[-1], "the last slice is shown"
    assert "Added your scan" in app.status.value


def test_explain_setup_trains_a_small_model_or_loads_a_run(tmp_path, tiny_data):
    from medsynth_nb.engine import TrainConfig, train

    methods, images, task = apps.explain_setup(TASK, steps=2, progress=False)
    assert task == TASK and len(images) == 3
    assert {type(m).__name__ for m in methods.values()} == {"MCDropout", "TestTimeAugmentation"}

    train(build_model("unet", "t1:t2", get_profile("smoke")), tiny_data, "t1:t2",
          TrainConfig(steps=1, eval_every=100, max_eval_slices=2), out_dir=tmp_path, progress=False)
    methods, images, task = apps.explain_setup(TASK, run=str(tmp_path), progress=False)
    assert task == "t1:t2", "the run's own task"
    assert [type(m).__name__ for m in methods.values()] == ["TestTimeAugmentation"], "no dropout, no MC dropout"
    assert next(iter(images.values()))[0].shape[1] == 1


def test_a_run_that_cannot_be_loaded_is_said_on_the_page(tmp_path):
    app = apps.explain_app(run=str(tmp_path / "no_such_run"))
    status = app.children[0]
    assert "could not start with the model in" in status.value and "no_such_run" in status.value, status.value


def test_painter_app_paints_on_the_phantom_and_shows_an_upload_beside_it(tmp_path, nifti_files):
    app = apps.lesion_painter_app(image_size=32, export_dir=tmp_path)
    assert isinstance(app.painter, widgets.LesionPainter)
    assert app.painter.editor.labels.any(), "it starts with chapter 06's preset lesion"
    assert app.scan.layout.display == "none"

    upload(app.uploads["t1"], "brain.nii.gz", b"not a nifti")
    assert "Could not use “brain.nii.gz”" in app.status.value and app.scan.layout.display == "none"

    upload(app.uploads["t1"], nifti_files["t1"].name, nifti_files["t1"].read_bytes())
    assert bytes(app.scan.value).startswith(b"\x89PNG") and app.scan.layout.display is None
    assert "phantom only" in app.status.value, app.status.value
