"""Interactive widgets. Most tests run in this process (no kernel: the Output widget
cannot capture there, so redraws are observed through ``widgets.common.show_figure``); one test runs
a real IPython kernel through nbclient, which plays the front end and syncs the Output
widget's ``outputs`` back, as JupyterLab does."""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest

from medsynth_nb import viz, widgets
from medsynth_nb.data import phantom
from medsynth_nb.engine import History


@pytest.fixture(scope="module")
def subject():
    return phantom.make_subject(1, *phantom.axial_grid(32, 4))


@pytest.fixture
def drawn(monkeypatch):
    """Every figure a widget shows: (output widget, figure title)."""
    shown = []

    def record(out, fig):
        shown.append((out, fig.axes[0].get_title() if fig.axes else ""))
        plt.close(fig)

    monkeypatch.setattr(widgets.common, "show_figure", record)
    return shown


def test_slice_viewer_builds_and_redraws_on_slider_change(subject, drawn):
    viewer = widgets.SliceViewer.from_subject(subject)
    assert viewer.slice.min == 0 and viewer.slice.max == subject.shape[2] - 1
    assert viewer.slice.value == subject.shape[2] // 2
    assert [v for _, v in viewer.modality.options] == list(subject.images)
    assert len(drawn) == 1 and drawn[0][0] is viewer.image
    assert drawn[0][1].endswith(f"slice {subject.shape[2] // 2}")
    viewer.slice.value = 0
    assert len(drawn) == 2 and drawn[-1][1].endswith("slice 0")
    viewer.overlay.value = "tumor"
    assert len(drawn) == 3
    viewer.overlay.value = "tissue"
    assert len(drawn) == 4


def test_modality_switch_resets_the_window(subject, drawn):
    viewer = widgets.SliceViewer.from_subject(subject)
    t1_default = viewer.window.value
    assert t1_default == pytest.approx(viz.window("t1", subject.images["t1"], True))
    viewer.window.value = (0.01, 0.02)
    viewer.modality.value = "ct"
    assert viewer.window.value == pytest.approx(viz.window("ct", subject.images["ct"], True))
    assert viewer.window.min <= subject.images["ct"].min() and viewer.window.max >= subject.images["ct"].max()
    assert drawn[-1][1].startswith(viz.MODALITY_TITLES["ct"])
    viewer.modality.value = "t1"
    assert viewer.window.value == pytest.approx(t1_default)


def test_normalized_volumes_get_the_unit_window(drawn):
    volumes = {"t1": np.random.default_rng(0).random((8, 8, 3)).astype(np.float32),
               "ct": np.random.default_rng(1).random((8, 8, 3)).astype(np.float32)}
    viewer = widgets.SliceViewer(volumes, physical=False)
    assert viewer.window.value == pytest.approx((0.0, 1.0))
    viewer.modality.value = "ct"
    assert viewer.window.value == pytest.approx((0.0, 1.0))


@pytest.mark.parametrize("volumes", [
    {"t1": np.zeros((8, 8))},
    {"t1": np.zeros((8, 8, 3)), "t2": np.zeros((8, 8, 4))},
    {"t1": np.zeros((8, 8, 3, 2))},
])
def test_slice_viewer_rejects_wrong_shapes(volumes):
    with pytest.raises(ValueError, match="3-D"):
        widgets.SliceViewer(volumes)


def test_live_plot_draws_a_history(drawn):
    history = History(task="t1:t2", step=4, loss_steps=[1, 2, 3, 4], losses={"l1": [0.5, 0.4, 0.35, 0.3]},
                      val=[{"step": 2, "psnr": 15.0, "ssim": 0.4, "mae": 0.1},
                           {"step": 4, "psnr": 17.0, "ssim": 0.5, "mae": 0.08}])
    plot = widgets.LivePlot(baseline={"psnr": 16.0, "ssim": 0.45})
    plot(history)
    plot(history)
    assert len(drawn) == 2 and all(out is plot.out for out, _ in drawn)
    assert drawn[0][1] == "training loss"


def test_live_plot_closes_its_figures():
    """Without the spy: the real _show path runs (outside a kernel) and leaks no figure."""
    history = History(task="t1:t2", step=2, loss_steps=[1, 2], losses={"l1": [0.5, 0.4]},
                      val=[{"step": 2, "psnr": 15.0, "ssim": 0.4, "mae": 0.1}])
    plt.close("all")
    widgets.LivePlot()(history)
    assert plt.get_fignums() == []


def test_slider_change_updates_the_output_widget_in_a_kernel(tmp_path):
    """In a real kernel the viewer's Output widget receives a new image when the slider
    moves (nbclient syncs the captured outputs back to the kernel like a front end)."""
    from nbclient import NotebookClient

    cells = [
        "from medsynth_nb.data import phantom\n"
        "from medsynth_nb.widgets import SliceViewer\n"
        "subject = phantom.make_subject(1, *phantom.axial_grid(32, 3))\n"
        "viewer = SliceViewer.from_subject(subject)\n"
        "display(viewer)",
        "first = [dict(o) for o in viewer.image.outputs]",
        "viewer.slice.value = 0",
        "import json\n"
        "second = [dict(o) for o in viewer.image.outputs]\n"
        "print(json.dumps({'n1': len(first), 'n2': len(second), 'changed': first != second,\n"
        "                  'images': sum('image/png' in o.get('data', {}) for o in second)}))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    result = json.loads(text.strip().splitlines()[-1])
    assert result["n1"] >= 1, "the first draw did not reach the Output widget"
    assert result["images"] >= 1, "the Output widget holds no image after the slider moved"
    assert result["changed"], "moving the slider did not change the Output widget's outputs"


def test_task_picker_builds_the_task_string():
    from medsynth_nb.widgets import TaskPicker

    picker = TaskPicker(sources=("t1", "t2"), target="flair")
    assert picker.task == "t1,t2:flair"
    picker.target.value = "t2"  # a source equal to the target is dropped
    assert picker.task == "t1:t2"
    picker.sources.value = ("t2",)
    with pytest.raises(ValueError, match="source"):
        picker.task
    assert "source" in picker.status.value


@pytest.fixture
def explain_panels(monkeypatch):
    """The keyword arguments of every explain_panel the ExplainImage widget draws."""
    panels = []
    real = viz.explain_panel

    def record(*args, **kwargs):
        panels.append({"output": args[1], **kwargs})
        return real(*args, **kwargs)

    monkeypatch.setattr(viz, "explain_panel", record)
    return panels


def _explain_widget(tiny_data, with_diffusion=False):
    import torch

    from medsynth_nb.analysis import uncertainty
    from medsynth_nb.models import build_model
    from medsynth_nb.profiles import get_profile

    task, profile, methods = "t1,t2:flair", get_profile("smoke"), {}
    for seed in (0, 1):  # untrained: the widget, not the model, is tested
        torch.manual_seed(seed)
        methods[f"U-Net {seed}"] = uncertainty.MCDropout(build_model("unet", task, profile, dropout=0.1), n_samples=2)
    if with_diffusion:
        diffusion = build_model("diffusion", task, profile, sample_steps=2)
        methods["diffusion"] = uncertainty.DiffusionSpread(diffusion, n_samples=2)
    images = widgets.images_from_slices(tiny_data.test, task, [0, 1])
    return widgets.ExplainImage(methods, images, task, grid=4), images


def test_explain_image_follows_the_clicked_region_and_the_model(tiny_data, drawn, explain_panels):
    import numpy as np

    explorer, _ = _explain_widget(tiny_data)
    first = explain_panels[-1]
    assert first["region"] == (16, 24, 16, 24), "the centre square of a 4 x 4 grid on 32 px starts selected"
    assert set(first["captions"]) == {"inputs", "output", "uncertainty", "truth", "error", "attribution"}
    assert "T1w" in first["captions"]["attribution"] and "%" in first["captions"]["attribution"]
    explorer.select(0, 3)
    moved = explain_panels[-1]
    assert moved["region"] == (0, 8, 24, 32)
    assert not np.allclose(moved["attribution"], first["attribution"]), "another region, another attribution"
    assert np.array_equal(moved["output"], first["output"]), "the synthetic image does not depend on the click"
    explorer.model.value = "U-Net 1"
    switched = explain_panels[-1]
    assert not np.allclose(switched["output"], first["output"]), "another model, another synthetic image"
    assert "done in" in explorer.status.value


def test_explain_image_says_why_diffusion_has_no_attribution_and_checks_added_images(tiny_data, drawn,
                                                                                     explain_panels):
    import torch

    explorer, images = _explain_widget(tiny_data, with_diffusion=True)
    explorer.model.value = "diffusion"
    panel = explain_panels[-1]
    assert panel["attribution"] is None and "Not available for diffusion" in panel["captions"]["attribution"]
    source, _ = next(iter(images.values()))
    explorer.add_image("loaded scan", source.clone(), truth=None)
    assert explorer.image.value == "loaded scan" and "truth" not in explain_panels[-1]["captions"]
    with pytest.raises(ValueError, match="one channel per source"):
        explorer.add_image("wrong", torch.zeros(1, 1, 32, 32))
