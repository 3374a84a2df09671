"""Fixtures for the real-browser tests (JupyterLab in headless Chromium); see harness.py.

Run them alone with `pytest tests/browser -v`, leave them out with `-m "not browser"`.
Screenshots land in /tmp/medsynth_browser_artifacts/<test>/ (MEDSYNTH_BROWSER_ARTIFACTS).
"""
import os
import re
import shutil
import sys

import pytest

# Make `import harness` work whatever pytest's import mode is.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium")


def pytest_runtest_setup(item):
    # Before any fixture starts a server: skip, or under CI=true fail, without a browser.
    if item.get_closest_marker("browser"):
        harness.require_browser()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so lab_page can screenshot failures.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory):
    """A JupyterLab server over a temporary copy of notebooks/ (LabServer)."""
    lab = harness.start_lab(tmp_path_factory.mktemp("jupyterlab"))
    yield lab
    lab.stop()


@pytest.fixture(scope="session")
def chromium_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def artifacts_dir(request):
    """Per-test folder for screenshots meant for humans."""
    path = harness.ARTIFACTS_DIR / re.sub(r"[^\w.-]+", "_", request.node.nodeid)
    shutil.rmtree(path, ignore_errors=True)  # no stale failure.png from an earlier run
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def lab_page(chromium_browser, jupyter_lab, artifacts_dir, request):
    """A fresh Playwright page; on failure a screenshot + server log tail are saved."""
    context, page = harness.new_page(chromium_browser)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        try:
            shot = harness.screenshot(page, artifacts_dir / "failure.png")
            print(f"\nfailure screenshot: {shot}")
        except Exception as exc:  # the page may be gone; the report matters more
            print(f"\nno failure screenshot: {exc}")
        (artifacts_dir / "jupyterlab.log").write_text(jupyter_lab.log_tail(200))
        print(f"JupyterLab log tail:\n{jupyter_lab.log_tail()}")
    if page.blocked_urls:
        print(f"\nblocked non-local requests: {sorted(set(page.blocked_urls))}")
    context.close()
    jupyter_lab.shutdown_kernels()
