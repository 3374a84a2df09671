"""The course's tools as browser apps for clinicians: ``apps/*.ipynb``, served by Voilà
(``make app``) with no code on the page. Each function returns one widget.

- ``explain_app()``: ``ExplainImage`` on phantom slices, with a small U-Net trained on the
  spot (the smoke profile's network, seconds) or the run folder in ``$MEDSYNTH_RUN``
  (``engine.load_trained``). One upload per source sequence; once all are in, the slices
  of the scan are added with ``ExplainImage.add_image``.
- ``lesion_painter_app()``: ``LesionPainter`` on a phantom slice. The painter needs a phantom
  subject (brain mask and tissue physics render its four contrasts), so an uploaded scan
  is checked and shown beside it for comparison, not painted on.

Uploads are written under a fixed name in a new temporary folder (deleted afterwards) and
read by ``data.scans.load_scan_slices``; a bad file shows the exception's text in the app's
status line, never a traceback.
"""
from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path

import ipywidgets as W
import numpy as np

from medsynth_nb import viz
from medsynth_nb.data.scans import load_scan_slices
from medsynth_nb.widgets.common import png_bytes
from medsynth_nb.widgets.explain import ExplainImage, images_from_slices
from medsynth_nb.widgets.lesion_painter import LesionPainter

ACCEPT = ".nii,.nii.gz"
APP_TASK = "t1,t2:flair"  # chapter 05's task
# Training steps of the app's U-Net by the machine's profile: chapter 05's smoke budget under the
# tests; elsewhere 300 (seconds on a CPU, and a visibly better image than 40).
APP_STEPS = {"smoke": 40, "cpu": 300, "gpu": 300}
UPLOAD_SLICES = 3  # slices of an uploaded scan offered in the explain app
PAINTER_PRESET = "large necrotic tumour with oedema"  # what chapter 06's painter starts with


def read_upload(upload: dict, modality: str, image_size: int, n_slices: int) -> np.ndarray:
    """The slices (n x image_size x image_size, [0, 1]) of one ``FileUpload`` entry, read by
    ``load_scan_slices``. Only the ending (.nii / .nii.gz) of the uploaded name is kept."""
    name = str(upload.get("name", ""))
    suffix = next((s for s in (".nii.gz", ".nii") if name.lower().endswith(s)), None)
    if suffix is None:
        raise ValueError("it is not a NIfTI file (choose a file ending in .nii or .nii.gz).")
    with tempfile.TemporaryDirectory(prefix="medsynth_upload_") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(bytes(upload["content"]))
        try:
            slices = np.asarray(load_scan_slices(path, modality.split("@")[0], image_size, n_slices), np.float32)
        except Exception as err:  # the message names the temporary file: name the user's instead
            raise type(err)(str(err).replace(str(path), name).replace(path.name, name)) from err
    if slices.ndim != 3 or slices.shape[1:] != (image_size, image_size) or not np.isfinite(slices).all():
        raise ValueError(f"“{name}” gave slices of shape {slices.shape}; expected n x {image_size} x {image_size} "
                         "finite values.")
    return slices


def _status() -> W.HTML:
    status = W.HTML()
    status.add_class("medsynth-app-status")
    return status


def _say(status: W.HTML, text: str, error: bool = False) -> None:
    status.value = f"<span style='color:#b00'><b>{text}</b></span>" if error else text


def _uploads(modalities, on_file, status: W.HTML, image_size: int, n_slices: int) -> dict[str, W.FileUpload]:
    """One ``FileUpload`` per modality; ``on_file(modality, name, slices)`` gets each good file.
    Any exception (in reading or in ``on_file``) is shown in ``status``."""
    uploads = {}
    for modality in modalities:
        title = viz.MODALITY_TITLES.get(modality, modality)
        upload = W.FileUpload(accept=ACCEPT, multiple=False, description=f"{title} file",
                              tooltip=f"your {title} scan, NIfTI (.nii or .nii.gz)")
        upload.add_class(f"medsynth-app-upload-{modality}")

        def changed(change, modality=modality, upload=upload, title=title):
            if not change["new"]:
                return  # our own reset below
            entry = change["new"][0]
            name = str(entry.get("name", ""))
            _say(status, f"reading {title} file “{html.escape(name)}” …")
            try:
                on_file(modality, name, read_upload(entry, modality, image_size, n_slices))
            except Exception as err:  # a clinician sees the reason, not a traceback
                _say(status, f"Could not use “{html.escape(name)}”: {html.escape(str(err))}", error=True)
            finally:
                upload.value = ()  # the same file can be chosen again

        upload.observe(changed, "value")
        uploads[modality] = upload
    return uploads


# ----------------------------------------------------------------------- explain this image

def _run_image_size(run: Path, default: int) -> int:
    """The image size a ``medsynth train`` run folder was trained at (its metrics.json), else
    ``default`` (a run trained in a notebook has no metrics.json)."""
    from medsynth_nb.engine.prediction import run_image_size

    report = (run if run.is_dir() else run.parent) / "metrics.json"
    return run_image_size(json.loads(report.read_text())) if report.exists() else default


def explain_setup(task: str = APP_TASK, run: str | None = None, steps: int | None = None, progress: bool = True):
    """``(methods, images, task)`` for ``ExplainImage``: the smoke profile's U-Net with dropout
    trained here for ``steps`` (default: ``APP_STEPS`` of the machine's profile) on phantom
    slices, or the model of the run folder ``run``; as MC dropout (models with dropout) and
    test-time augmentation; and three phantom test slices."""
    from medsynth_nb.analysis import uncertainty
    from medsynth_nb.data import load_dataset
    from medsynth_nb.engine import TrainConfig, load_trained, train
    from medsynth_nb.models import build_model
    from medsynth_nb.profiles import get_profile, seed_everything

    profile = get_profile("smoke")  # the app's own model is small whatever the machine: it trains in seconds
    image_size = profile.image_size
    if run:
        model, history = load_trained(run)
        task, image_size = history.task or task, _run_image_size(Path(run), image_size)
        name = f"{model.config.get('model', 'model')} ({Path(run).name})"
    else:
        seed_everything(0)
        model, name = build_model("unet", task, profile, dropout=0.1), "U-Net"
    data = load_dataset("phantom", profile=profile, seed=0, image_size=image_size, progress=False)
    if not run:
        steps = steps or APP_STEPS[get_profile().name]
        train(model, data.healthy_training(), task, TrainConfig.from_profile(profile, seed=0, steps=steps),
              progress=progress)
    methods = {}
    if model.config.get("dropout"):
        methods[f"{name}, MC dropout"] = uncertainty.MCDropout(model, n_samples=8)
    methods[f"{name}, test-time augmentation"] = uncertainty.TestTimeAugmentation(model)
    test = data.test
    has_tumor = test.tumor.reshape(len(test), -1).any(1)
    picks = [test.largest_lesion()[0]] if has_tumor.any() else []
    picks += [int(i) for i in np.flatnonzero(~has_tumor)[:2]]
    picks += [i for i in range(len(test)) if i not in picks][:max(0, 3 - len(picks))]
    return methods, images_from_slices(test, task, picks), task


def explain_app(methods: dict | None = None, images: dict | None = None, task: str = APP_TASK, *,
                run: str | None = None, steps: int | None = None, grid: int = 8, n_slices: int = UPLOAD_SLICES,
                progress: bool = True) -> W.VBox:
    """"Explain this image" as an app: ``ExplainImage`` plus one upload per source sequence.
    Without ``methods``/``images`` they come from ``explain_setup`` (``run`` defaults to
    ``$MEDSYNTH_RUN``). ``app.explainer``, ``app.uploads`` and ``app.status`` are its parts."""
    from medsynth_nb.tasks import parse_task

    if methods is None or images is None:
        run = run or os.environ.get("MEDSYNTH_RUN")
        try:
            methods, images, task = explain_setup(task, run, steps, progress)
        except Exception as err:  # e.g. a wrong MEDSYNTH_RUN: said on the page (Voila hides tracebacks)
            status = _status()
            _say(status, f"The app could not start{f' with the model in {run}' if run else ''}: "
                         f"{html.escape(str(err))}", error=True)
            return W.VBox([status])
    explainer = ExplainImage(methods, images, task, grid=grid)
    sources = list(parse_task(task).sources)
    titles = {m: viz.MODALITY_TITLES.get(m, m) for m in sources}
    image_size = int(next(iter(explainer.images.values()))[0].shape[-1])
    status, pending = _status(), {}

    def on_file(modality, name, slices):
        pending[modality] = (name, slices)
        missing = [titles[m] for m in sources if m not in pending]
        if missing:
            _say(status, f"{titles[modality]} from “{html.escape(name)}” read ({len(slices)} slices). Now upload the "
                         f"{' and '.join(missing)} of the same patient.")
            return
        counts = {len(s) for _, s in pending.values()}
        scans = dict(pending)
        pending.clear()
        if len(counts) != 1:
            raise ValueError(f"the files gave different numbers of slices ({sorted(counts)}); upload scans of the "
                             "same patient and session.")
        label = " + ".join(n for n, _ in scans.values())
        n = counts.pop()
        for k in range(n):
            source = np.stack([scans[m][1][k] for m in sources])[None]
            explainer.add_image(f"{label} — slice {k + 1} of {n}", source, None)
        target = viz.MODALITY_TITLES.get(parse_task(task).target, "target")
        _say(status, f"Added your scan “{html.escape(label)}”: {n} slices, in the <b>image</b> menu. There is no "
                     f"acquired {target} to compare with, so no error panel.")

    uploads = _uploads(sources, on_file, status, image_size, n_slices)
    ask = W.HTML(f"<b>Your own patient:</b> upload the {' and '.join(titles.values())} of one scan "
                 "(NIfTI, .nii or .nii.gz).")
    _say(status, "Ready. Click a square of the grid to explain that part of the synthetic image.")
    app = W.VBox([W.HBox([ask, *uploads.values()]), status, explainer])
    app.add_class("medsynth-app")
    app.add_class("medsynth-app-explain")
    app.explainer, app.uploads, app.status = explainer, uploads, status
    return app


# ----------------------------------------------------------------------- lesion painter

def lesion_painter_app(seed: int = 11, image_size: int | None = None, *, preset: str | None = PAINTER_PRESET,
                       export_dir: str | Path = "lesion_edits") -> W.VBox:
    """The lesion painter as an app, on one axial slice of phantom subject ``seed`` (chapter
    06's; ``image_size`` by default the profile's, at most 64 px). An uploaded T1w is read
    and shown beside the painter for comparison: the painter renders with the phantom's
    physics, so it cannot paint on a scan. ``app.painter``, ``app.uploads``, ``app.status``,
    ``app.scan`` are its parts."""
    from medsynth_nb.data import phantom
    from medsynth_nb.profiles import get_profile

    size = image_size or min(get_profile().image_size, 64)
    subject = phantom.make_subject(seed, *phantom.axial_grid(size, 1, z_mm=20.0), tumor=None)
    painter = LesionPainter(subject, export_dir=Path(export_dir).resolve())
    if preset:
        painter.preset.value = preset  # as if chosen in its menu (undoable)
    status = _status()
    scan = W.Image(format="png", layout=W.Layout(width="256px", height="256px", display="none"))
    scan.add_class("medsynth-app-scan")

    def on_file(modality, name, slices):
        scan.value = png_bytes((255 * np.clip(slices[len(slices) // 2], 0, 1)).astype(np.uint8))
        scan.layout.display = None
        _say(status, f"Your T1w “{html.escape(name)}” is shown on the right, for comparison. The painter paints "
                     "on the course's phantom only: its four contrasts come from the phantom's tissue physics, which "
                     "your scan does not have.")

    uploads = _uploads(["t1"], on_file, status, size, 1)
    ask = W.HTML("<b>Compare with your patient:</b> upload a T1w scan (NIfTI, .nii or .nii.gz).")
    _say(status, "Ready. Choose a pen and drag on the left picture to paint a tumour.")
    app = W.VBox([W.HBox([ask, *uploads.values()]), status, W.HBox([painter, scan])])
    app.add_class("medsynth-app")
    app.add_class("medsynth-app-painter")
    app.painter, app.uploads, app.status, app.scan = painter, uploads, status, scan
    return app
