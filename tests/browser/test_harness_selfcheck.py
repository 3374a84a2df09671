"""Proves the browser harness itself works, on a tiny notebook it writes (seconds, no model)."""
import pytest
from harness import (
    check_slice_viewer_redraws,
    error_outputs,
    open_notebook,
    run_all_cells,
    screenshot,
    write_demo_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_run_all_then_slider_changes_picture(jupyter_lab, lab_page, artifacts_dir):
    write_demo_notebook(jupyter_lab.root_dir / "_harness_selfcheck.ipynb")
    open_notebook(lab_page, jupyter_lab, "_harness_selfcheck.ipynb")
    run_all_cells(lab_page, timeout_s=120)
    before, after = check_slice_viewer_redraws(lab_page, artifacts_dir)
    assert before.read_bytes() != after.read_bytes()  # the pixels on screen changed too
    screenshot(lab_page, artifacts_dir / "page.png")
    assert not lab_page.blocked_urls, "JupyterLab tried to reach another host"


def test_error_outputs_are_detected(jupyter_lab, lab_page):
    # Guards the chapter tests' "no errors" check against passing vacuously.
    write_demo_notebook(jupyter_lab.root_dir / "_harness_error.ipynb", extra_cells=["1 / 0", "print('unreached')"])
    open_notebook(lab_page, jupyter_lab, "_harness_error.ipynb")
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        run_all_cells(lab_page, timeout_s=120)
    assert any("ZeroDivisionError" in text for text in error_outputs(lab_page))
