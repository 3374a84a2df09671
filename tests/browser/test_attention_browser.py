"""Chapter 04's AttentionExplorer in a real browser: clicking a patch redraws the attention picture."""
import pytest
from harness import error_outputs, open_widget_notebook, screenshot, wait_for, wait_for_img_change

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

EXPLORER = ".medsynth-attention-explorer"
PICTURE = ".medsynth-attention-image img"
SELECTED = ".medsynth-attention-selected"

BUILD_EXPLORER = '''\
import torch
from medsynth_nb.models import build_model
from medsynth_nb.profiles import get_profile
from medsynth_nb.widgets import AttentionExplorer

torch.manual_seed(0)
profile = get_profile("smoke")
model = build_model("resvit", "t1:t2", profile)  # untrained: the widget, not the model, is tested
explorer = AttentionExplorer(model, torch.rand(1, 1, profile.image_size, profile.image_size))
print("token grid", model.token_grid)
explorer'''


def test_clicking_a_patch_redraws_the_attention_picture(jupyter_lab, lab_page, artifacts_dir):
    explorer = open_widget_notebook(lab_page, jupyter_lab, "_attention_explorer.ipynb", BUILD_EXPLORER, EXPLORER)
    before_src = wait_for(explorer, PICTURE).get_attribute("src") or ""
    assert before_src.startswith("data:image/png;base64,"), f"not a PNG: {before_src[:60]!r}"
    assert explorer.locator(f".medsynth-attention-patch-2-2{SELECTED}").count() == 1, "query starts at the centre"
    before = screenshot(explorer, artifacts_dir / "attention_explorer_before.png")

    explorer.locator(".medsynth-attention-patch-0-3").click()  # the top-right patch
    after_src = wait_for_img_change(explorer, PICTURE, before_src)
    wait_for(explorer, f".medsynth-attention-patch-0-3{SELECTED}", timeout_s=10)
    assert explorer.locator(SELECTED).count() == 1, "exactly one patch is the query"
    assert explorer.locator(PICTURE).count() == 1 and after_src.startswith("data:image/png;base64,")
    assert not error_outputs(lab_page), "the click raised in the kernel"
    wait_for(explorer, PICTURE).evaluate("img => img.decode()")  # painted before the screenshot
    after = screenshot(explorer, artifacts_dir / "attention_explorer_after.png")
    assert before.read_bytes() != after.read_bytes(), "the picture on screen did not change"
    assert not lab_page.blocked_urls, "JupyterLab tried to reach another host"
