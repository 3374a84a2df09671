"""The apps for clinicians (apps/*.ipynb, `make app`) as Voila serves them, in headless
Chromium: each page shows its widgets and no code, and a click on its picture changes what
is shown (the explain grid redraws the panels; the painter paints). The painter's upload
button is driven too: a wrong file says why, a NIfTI is read and shown beside the painter.

No request leaves 127.0.0.1: Voila's "lab" template links two Font Awesome style sheets from
jsDelivr, which the apps' Content-Security-Policy (apps/voila.json) keeps the browser from
fetching; the icons come from the local widget bundle all the same."""
from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pytest
from harness import screenshot, start_voila, wait_for, wait_for_img_change

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]  # room for a second load

CODE = ".jp-CodeMirrorEditor, .cm-editor, .CodeMirror, .jp-InputArea-editor, .jp-InputPrompt"
STATUS = ".medsynth-app-status"
# The figure's Output: ExplainImage gives its "image" dropdown the class medsynth-explain-image too.
PICTURE = ".widget-output.medsynth-explain-image"
STARTUP_S = 150  # generous on a loaded 2-core machine; the measured times are printed


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    server = start_voila(tmp_path_factory.mktemp("voila"))
    yield server
    server.stop()


@pytest.fixture
def app_page(chromium_browser, voila, artifacts_dir, request):
    from harness import new_page

    context, page = new_page(chromium_browser)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        try:
            screenshot(page, artifacts_dir / "failure.png")
        except Exception as exc:  # the page may be gone; the report matters more
            print(f"\nno failure screenshot: {exc}")
        (artifacts_dir / "voila.log").write_text(voila.log_tail(200))
        print(f"Voila log tail:\n{voila.log_tail()}")
    context.close()


def open_app(page, voila, name: str, ready: str, artifacts_dir) -> float:
    """Open an app page and wait for ``ready``; the seconds from the request to it. Then the
    page must show no code, no error, and talk to no other host.

    A page that is not ready in STARTUP_S is loaded once more (a fresh kernel), as a person
    would, after printing what it showed: on a loaded CI machine the page's kernel websocket
    was once closed by the server's ping timeout (no pong for 90 s) before the picture came,
    which a reload recovers from; an app that is broken fails both loads."""
    events: list[str] = []
    page.on("console", lambda m: m.type == "error" and events.append(f"console error: {m.text}"))
    page.on("websocket", lambda ws: ws.on("close", lambda _: events.append(f"websocket closed: {ws.url}")))
    for load in (1, 2):
        start = time.monotonic()
        page.goto(voila.app_url(name))
        try:
            wait_for(page, ready, timeout_s=STARTUP_S)
            break
        except AssertionError:
            body = page.locator("body").inner_text()[-1500:]
            print(f"\n{name}: load {load} not ready after {STARTUP_S} s. The page showed:\n{body}\n"
                  f"Browser events: {events[-20:]}\nVoila log tail:\n{voila.log_tail()}")
            screenshot(page, artifacts_dir / f"not_ready_load{load}.png")
            if load == 2:
                raise
    seconds = time.monotonic() - start
    print(f"\n{name}: ready {seconds:.1f} s after the request")
    (artifacts_dir / "startup_seconds.txt").write_text(f"{seconds:.1f}\n")
    assert page.locator(CODE).count() == 0, "a code editor or input prompt is on the page"
    source = {"explain_this_image.ipynb": "explain_app(", "lesion_painter.ipynb": "lesion_painter_app("}[name]
    assert source not in page.content(), "the notebook's code is in the page"
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "There was an error when executing" not in body, body[-2000:]
    assert not page.blocked_urls, f"requests to other hosts: {page.blocked_urls}"
    screenshot(page, artifacts_dir / f"{name.removesuffix('.ipynb')}_page.png")
    return seconds


def painted(locator) -> bytes:
    """An element's screenshot once its picture is decoded (what the user sees)."""
    img = locator if locator.evaluate("e => e.tagName") == "IMG" else locator.locator("img").first
    img.evaluate("img => img.decode()")
    return locator.screenshot()


def choose_file(page, button, file) -> None:
    """Click an upload button and pick ``file`` in the file chooser, as a person does (the
    FileUpload's <input type=file> is not in the page)."""
    with page.expect_file_chooser() as chooser:
        button.click()
    chooser.value.set_files(file)


def test_explain_app_shows_no_code_and_a_click_redraws(voila, app_page, artifacts_dir):
    page = app_page
    open_app(page, voila, "explain_this_image.ipynb", f"{PICTURE} img", artifacts_dir)
    app = wait_for(page, ".medsynth-app-explain")
    assert "Ready" in wait_for(app, STATUS).inner_text()
    assert app.locator(".medsynth-app-upload-t1, .medsynth-app-upload-t2").count() == 2
    picture = wait_for(app, PICTURE)
    src = wait_for(app, f"{PICTURE} img").get_attribute("src") or ""
    assert src.startswith("data:image/png;base64,")
    before = painted(picture)
    (artifacts_dir / "explain_before.png").write_bytes(before)

    app.locator(".medsynth-explain-patch-1-6").click()  # another box of the 8 x 8 grid (6 px squares of 48)
    wait_for_img_change(app, f"{PICTURE} img", src, timeout_s=60)
    wait_for(app, ".medsynth-explain-patch-1-6.medsynth-explain-selected", timeout_s=10)
    assert "rows 6–12, columns 36–42" in app.locator(".medsynth-explain-status").inner_text()
    after = painted(picture)
    (artifacts_dir / "explain_after.png").write_bytes(after)
    assert after != before, "the panels on screen did not change"
    assert not page.blocked_urls, page.blocked_urls


def test_painter_app_shows_no_code_a_click_paints_and_uploads_are_read(voila, app_page, artifacts_dir, tmp_path):
    page = app_page
    open_app(page, voila, "lesion_painter.ipynb", ".medsynth-painter-labels", artifacts_dir)
    app = wait_for(page, ".medsynth-app-painter")
    wait_for(app, ".medsynth-painter-status:has-text('placed the preset')")
    canvas = wait_for(app, ".medsynth-painter-labels")
    canvas.scroll_into_view_if_needed()
    src = canvas.get_attribute("src") or ""
    before = painted(canvas)
    (artifacts_dir / "painter_before.png").write_bytes(before)

    box = canvas.bounding_box()  # inside the brain, left of the preset lesion in the middle
    page.mouse.click(box["x"] + 0.28 * box["width"], box["y"] + 0.5 * box["height"])
    wait_for(app, ".medsynth-painter-status:has-text('painted enhancing')", timeout_s=30)
    wait_for_img_change(app, ".medsynth-painter-labels", src)
    after = painted(canvas)
    (artifacts_dir / "painter_after.png").write_bytes(after)
    assert after != before, "the painted map on screen did not change"

    choose_file(page, app.locator(".medsynth-app-upload-t1"),
                {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a scan"})
    wait_for(app, f"{STATUS}:has-text('is not a NIfTI file')", timeout_s=30)

    from medsynth_nb.data import phantom

    subject = phantom.make_subject(3, *phantom.axial_grid(40, 10))
    nib.save(nib.Nifti1Image(subject.images["t1"].astype(np.float32), subject.affine), str(tmp_path / "t1.nii.gz"))
    choose_file(page, app.locator(".medsynth-app-upload-t1"), str(tmp_path / "t1.nii.gz"))
    wait_for(app, f"{STATUS}:has-text('shown on the right')", timeout_s=60)
    wait_for(app, ".medsynth-app-scan", timeout_s=10)
    screenshot(page, artifacts_dir / "painter_with_upload.png")
    assert "Traceback" not in page.locator("body").inner_text()
    assert not page.blocked_urls, page.blocked_urls
