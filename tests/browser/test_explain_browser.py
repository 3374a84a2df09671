"""Chapter 05's "Explain this image" widget in a real browser: clicking a square redraws the
attribution, choosing another model redraws the synthetic image, and no cell raises."""
import pytest
from harness import error_outputs, open_widget_notebook, screenshot, wait_for, wait_for_img_change

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

WIDGET = ".medsynth-explain"
PICTURE = ".medsynth-explain-image img"
SELECTED = ".medsynth-explain-selected"

BUILD_WIDGET = '''\
import torch
from medsynth_nb.analysis import uncertainty
from medsynth_nb.data import load_dataset
from medsynth_nb.models import build_model
from medsynth_nb.profiles import get_profile
from medsynth_nb.widgets import ExplainImage, images_from_slices

profile, task = get_profile("smoke"), "t1,t2:flair"
data = load_dataset("phantom", n_subjects=4, image_size=32, slices_per_subject=2, seed=0, progress=False)
methods = {}
for seed in (0, 1):  # untrained: the widget, not the model, is tested
    torch.manual_seed(seed)
    methods[f"U-Net {seed}"] = uncertainty.MCDropout(build_model("unet", task, profile, dropout=0.1), n_samples=2)
explorer = ExplainImage(methods, images_from_slices(data.test, task, [0]), task, grid=4)
explorer'''


def test_clicking_a_square_and_switching_the_model_redraw_the_panels(jupyter_lab, lab_page, artifacts_dir):
    widget = open_widget_notebook(lab_page, jupyter_lab, "_explain_image.ipynb", BUILD_WIDGET, WIDGET)
    first_src = wait_for(widget, PICTURE).get_attribute("src") or ""
    assert first_src.startswith("data:image/png;base64,"), f"not a PNG: {first_src[:60]!r}"
    assert widget.locator(f".medsynth-explain-patch-2-2{SELECTED}").count() == 1, "the centre square starts selected"
    before = screenshot(widget, artifacts_dir / "explain_before.png")

    widget.locator(".medsynth-explain-patch-0-3").click()  # top right: another region to explain
    clicked_src = wait_for_img_change(widget, PICTURE, first_src)
    wait_for(widget, f".medsynth-explain-patch-0-3{SELECTED}", timeout_s=10)
    assert "rows 0–8, columns 24–32" in widget.locator(".medsynth-explain-status").inner_text()

    widget.locator(".medsynth-explain-model select").select_option(label="U-Net 1")
    switched_src = wait_for_img_change(widget, PICTURE, clicked_src)
    assert switched_src.startswith("data:image/png;base64,")
    assert not error_outputs(lab_page), "an interaction raised in the kernel"
    wait_for(widget, PICTURE).evaluate("img => img.decode()")  # painted before the screenshot
    after = screenshot(widget, artifacts_dir / "explain_after.png")
    assert before.read_bytes() != after.read_bytes(), "the picture on screen did not change"
    assert not lab_page.blocked_urls, "JupyterLab tried to reach another host"
