"""Chapter 06's lesion painter in a real browser: a mouse drag on the label map (ipyevents)
paints tumour and re-renders the contrasts; the undo button brings both pictures back."""
import pytest
from harness import error_outputs, open_widget_notebook, screenshot, wait_for, wait_for_img_change

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PAINTER = ".medsynth-painter"
LABELS = ".medsynth-painter-labels"
CONTRASTS = ".medsynth-painter-contrasts"
STATUS = ".medsynth-painter-status"

BUILD_PAINTER = '''\
from medsynth_nb.data import phantom
from medsynth_nb.widgets import LesionPainter

subject = phantom.make_subject(5, *phantom.axial_grid(64, 1), tumor=None)
painter = LesionPainter(subject)
painter'''

# What the picture shows, read back from the browser's own decoding of the <img>: a
# checksum of its pixels and how many are coloured (the label map is grey anatomy, the
# brain's edge and the painted labels in colour).
PIXELS_JS = """img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let checksum = 0, colored = 0;
  for (let i = 0; i < data.length; i += 4) {
    checksum = (checksum * 31 + data[i] * 65536 + data[i + 1] * 256 + data[i + 2]) % 2147483647;
    if (data[i] !== data[i + 1] || data[i + 1] !== data[i + 2]) colored++;
  }
  return {checksum, colored, width: canvas.width};
}"""


def pixels(widget, selector):
    img = wait_for(widget, selector)
    img.evaluate("img => img.decode()")
    return img.evaluate(PIXELS_JS)


def wait_for_status(widget, text, timeout_s=30):
    status = wait_for(widget, STATUS)
    try:
        status.locator(f"text={text}").wait_for(timeout=timeout_s * 1000)
    except Exception as exc:
        raise AssertionError(f"status never said {text!r}; it says {status.inner_text()!r}") from exc


def test_dragging_paints_and_undo_restores_both_pictures(jupyter_lab, lab_page, artifacts_dir):
    painter = open_widget_notebook(lab_page, jupyter_lab, "_lesion_painter.ipynb", BUILD_PAINTER, PAINTER)
    wait_for_status(painter, "Ready")
    label_img = wait_for(painter, LABELS)
    label_img.scroll_into_view_if_needed()
    start_labels, start_contrasts = pixels(painter, LABELS), pixels(painter, CONTRASTS)
    assert start_labels["width"] == 384, "64 px shown at 6 screen pixels each"
    label_src = label_img.get_attribute("src") or ""
    contrasts_src = wait_for(painter, CONTRASTS).get_attribute("src") or ""
    screenshot(painter, artifacts_dir / "painter_before.png")

    box = label_img.bounding_box()
    y = box["y"] + 0.45 * box["height"]  # through the middle of the brain
    lab_page.mouse.move(box["x"] + 0.38 * box["width"], y)
    lab_page.mouse.down()
    lab_page.mouse.move(box["x"] + 0.62 * box["width"], y, steps=12)
    lab_page.mouse.up()
    wait_for_status(painter, "painted enhancing")
    wait_for_img_change(painter, CONTRASTS, contrasts_src)
    wait_for_img_change(painter, LABELS, label_src)
    painted_labels, painted_contrasts = pixels(painter, LABELS), pixels(painter, CONTRASTS)
    assert painted_labels["colored"] > start_labels["colored"] + 500, (start_labels, painted_labels)
    assert painted_contrasts["checksum"] != start_contrasts["checksum"], "the contrasts were not re-rendered"
    screenshot(painter, artifacts_dir / "painter_painted.png")

    label_src, contrasts_src = label_img.get_attribute("src"), wait_for(painter, CONTRASTS).get_attribute("src")
    painter.locator("button.medsynth-painter-undo").click()
    wait_for_status(painter, "undone")
    wait_for_img_change(painter, CONTRASTS, contrasts_src)
    wait_for_img_change(painter, LABELS, label_src)
    assert pixels(painter, LABELS) == start_labels, "undo did not restore the label map on screen"
    assert pixels(painter, CONTRASTS) == start_contrasts, "undo did not restore the contrasts on screen"
    assert not error_outputs(lab_page), "an interaction raised in the kernel"
    screenshot(painter, artifacts_dir / "painter_after_undo.png")
    assert not lab_page.blocked_urls, "JupyterLab tried to reach another host"
