"""Chapter 06's 3-D lesion view in a real browser: a mouse drag on NiiVue's axial slice
paints oedema, the kernel receives the painted voxels on mouse-up (in the axial slice
NiiVue shows, along the dragged row); a stroke outside the brain is refused and taken
off the screen, and so is the first one by undo."""
import io
import json

import numpy as np
import pytest
from harness import error_outputs, open_widget_notebook, screenshot, wait_for
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

VIEW = ".medsynth-view3d"
CANVAS = ".medsynth-view3d-niivue canvas"
STATUS = ".medsynth-view3d-status"
REPORT = ".view3d-report"

# A healthy subject, so every oedema voxel is painted. on_change reports where the
# painted voxels are, as JSON in a widget the test can read.
BUILD_VIEW = '''\
import json
import ipywidgets as W
import numpy as np
from medsynth_nb.data import phantom
from medsynth_nb.widgets import LesionVolumeView

subject = phantom.make_subject(5, *phantom.volume_grid(4.0), tumor=None)
report = W.HTML("{}")
report.add_class("view3d-report")

def where_painted(labels):
    x, y, z = np.nonzero(labels == 2)
    report.value = json.dumps({"n": int(x.size), "x": sorted(set(x.tolist())), "y": sorted(set(y.tolist())),
                               "z": sorted(set(z.tolist())), "shape": list(labels.shape)})

view = LesionVolumeView(subject, on_change=where_painted, height=480)
W.VBox([view, report])'''


def wait_for_status(widget, text, timeout_s=60):
    status = wait_for(widget, STATUS)
    try:
        status.locator(f"text={text}").wait_for(timeout=timeout_s * 1000)
    except Exception as exc:
        raise AssertionError(f"status never said {text!r}; it says {status.inner_text()!r}") from exc


def green_pixels(canvas) -> int:
    """Pixels of the canvas (as screenshotted) in the oedema colour: green well above red and blue."""
    rgb = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((g > r + 60) & (g > b + 60)).sum())


def test_dragging_on_the_axial_slice_paints_voxels_the_kernel_receives(jupyter_lab, lab_page, artifacts_dir):
    view = open_widget_notebook(lab_page, jupyter_lab, "_lesion_view3d.ipynb", BUILD_VIEW, VIEW)
    wait_for_status(view, "Ready")
    view.locator(".medsynth-view3d-layout button", has_text="axial").click()
    view.locator(".medsynth-view3d-pen button", has_text="edema").click()
    view.locator(".medsynth-view3d-paint").click()
    canvas = wait_for(view, CANVAS)
    canvas.scroll_into_view_if_needed()
    lab_page.wait_for_timeout(1000)  # let NiiVue draw the new layout
    screenshot(view, artifacts_dir / "view3d_before.png")
    assert green_pixels(canvas) == 0

    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    lab_page.mouse.move(cx - 40, cy)
    lab_page.mouse.down()
    lab_page.mouse.move(cx + 40, cy, steps=16)
    lab_page.mouse.up()
    wait_for_status(view, "Took over the stroke")
    painted = json.loads(wait_for(lab_page, REPORT).inner_text())
    screenshot(view, artifacts_dir / "view3d_painted.png")
    assert painted["n"] >= 5, painted
    nx, ny, nz = painted["shape"]
    # One axial slice, the one NiiVue opens at (the middle), along one row: the drag was
    # horizontal. A wrong voxel order would scatter the voxels over slices and rows.
    assert len(painted["z"]) == 1 and abs(painted["z"][0] - (nz - 1) / 2) <= 1, painted
    assert len(painted["y"]) <= 2 and len(painted["x"]) >= 5, painted
    shown = green_pixels(canvas)
    assert shown > 20, "the painted voxels are not shown"

    # Along the top of the slice: in the volume, outside the head.
    top = box["y"] + 10
    lab_page.mouse.move(cx - 40, top)
    lab_page.mouse.down()
    lab_page.mouse.move(cx + 40, top, steps=16)
    lab_page.mouse.up()
    wait_for_status(view, "Not taken over")
    lab_page.wait_for_timeout(1000)
    screenshot(view, artifacts_dir / "view3d_refused.png")
    assert json.loads(wait_for(lab_page, REPORT).inner_text()) == painted
    assert green_pixels(canvas) == shown, "the refused stroke is still shown"

    view.locator("button.medsynth-view3d-undo").click()
    wait_for_status(view, "Undone")
    lab_page.wait_for_timeout(1000)
    assert json.loads(wait_for(lab_page, REPORT).inner_text())["n"] == 0
    assert green_pixels(canvas) == 0, "undo did not take the paint off the screen"
    screenshot(view, artifacts_dir / "view3d_after_undo.png")
    assert not error_outputs(lab_page), "an interaction raised in the kernel"
    assert not lab_page.blocked_urls, "the page tried to reach another host"
