"""Real-browser test harness: a throw-away JupyterLab server driven by headless Chromium.

conftest.py in this folder turns these helpers into pytest fixtures (`jupyter_lab`,
`chromium_browser`, `lab_page`, `artifacts_dir`); tests import the page helpers from here:

    open_notebook(page, lab, "00_x.ipynb")   # opens it, waits for an idle kernel
    run_all_cells(page, timeout_s=400)       # Run menu -> Run All Cells, waits, checks errors
    check_slice_viewer_redraws(page, out)    # the slice viewer contract (see below)

`start_voila(workdir)` serves a copy of apps/ with Voila instead (the apps for clinicians,
`make app`): `page.goto(voila.app_url("lesion_painter.ipynb"))`.

Everything stays on 127.0.0.1: the server binds there, and the browser aborts every
request to any other host (see `new_page`).

Needs the Debian package `chromium` (/usr/bin/chromium) and the `playwright` Python
package; `playwright install` is never used (it downloads a browser build).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
ARTIFACTS_DIR = Path(os.environ.get("MEDSYNTH_BROWSER_ARTIFACTS", "/tmp/medsynth_browser_artifacts"))

CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in a container
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-proxy-server",  # never send 127.0.0.1 traffic through an http_proxy from the env
    # Belt and braces with the request guard in new_page: no name but localhost resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# JupyterLab user settings for the throw-away server.
LAB_SETTINGS = {
    # No "Jupyter news" toast and no update check: both would go to the internet.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {
        # Default windowing ("contentVisibility"/"full") may leave off-screen cells out of
        # the DOM; the error and "[*]" checks below must see every cell.
        "windowingMode": "none",
        # Start the preferred kernel instead of showing the kernel-selection dialog.
        "autoStartDefaultKernel": True,
    },
}
# Server-side switches for the same (news feed, update check, PyPI extension listing).
LAB_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly",
    }
}

# The slice viewer contract shared with the notebooks (medsynth_nb implements it):
# a VBox with this class, holding an IntSlider and an Output showing one matplotlib PNG.
VIEWER = ".medsynth-slice-viewer"
SLIDER = ".medsynth-slice-slider"
IMAGE = ".medsynth-slice-image img"

STDERR = '[data-mime-type="application/vnd.jupyter.stderr"]'


# --------------------------------------------------------------------------- requirements
def find_chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_browser_requirements() -> str:
    """Empty string when the browser tests can run, else why not."""
    problems = []
    if importlib.util.find_spec("playwright") is None:
        problems.append("the Python package 'playwright' is not installed")
    if find_chromium() is None:
        problems.append("no Chromium at /usr/bin/chromium or on PATH")
    return "; ".join(problems)


def require_browser() -> None:
    """Skip (locally) or fail (CI=true) when Chromium or playwright is missing."""
    reason = missing_browser_requirements()
    if not reason:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"browser tests cannot run under CI: {reason}. "
            ".ci/run should install chromium (apt-get install -y chromium) and the 'test' extras.",
            pytrace=False,
        )
    pytest.skip(f"browser test skipped: {reason} (install with: apt-get install -y chromium)")


# --------------------------------------------------------------------------- JupyterLab server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A throw-away Jupyter server (JupyterLab or Voila) on 127.0.0.1, in its own process group."""

    proc: subprocess.Popen
    port: int
    root_dir: Path  # temporary copy of the served folder: tests may write there
    runtime_dir: Path  # kernels' connection files: their command lines name it
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def kill(self) -> None:
        _kill_group(self.proc.pid)
        # Kernels run in sessions of their own (jupyter_client uses start_new_session), so
        # the group kill above misses them: find leftovers by our private runtime dir,
        # which appears in their command line (-f <runtime_dir>/kernel-*.json).
        for pid in _pids_with_arg_containing(str(self.runtime_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait_until_answering(self, probe, name: str, timeout_s: float) -> None:
        """Until ``probe()`` stops raising OSError; a clear error with the log when the server
        exits or stays silent."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                probe()
                return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{name} did not answer within {timeout_s}s:\n{self.log_tail()}")
            time.sleep(0.25)

    def stop(self) -> None:
        self.kill()


@dataclass
class LabServer(Server):
    token: str = ""

    def notebook_url(self, name: str) -> str:
        # ?reset: start from an empty layout, not the one the previous test left behind.
        return f"{self.base_url}/lab/tree/{quote(name)}?reset&token={self.token}"

    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(
            self.base_url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        # ProxyHandler({}): ignore any http_proxy in the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every kernel (tests run heavy notebooks; free the memory between tests)."""
        try:
            for session in self.api("GET", "/api/sessions") or []:
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
            for kernel in self.api("GET", "/api/kernels") or []:
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
        except (OSError, urllib.error.URLError):
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.api("POST", "/api/shutdown")  # graceful: also stops the kernels
            except (OSError, urllib.error.URLError):
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(1)


def _pids_with_arg_containing(text: str) -> list[int]:
    pids = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            if text in (proc_dir / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(proc_dir.name))
        except OSError:
            pass
    return [p for p in pids if p != os.getpid()]


def _server_env(workdir: Path) -> tuple[dict, Path, Path]:
    """The environment of a test server and its kernels, and its config and runtime folders:
    private Jupyter folders under ``workdir``, the smoke profile, this interpreter and this
    working tree's package."""
    config_dir, data_dir, runtime_dir = (workdir / d for d in ("jupyter_config", "jupyter_data", "runtime"))
    for d in (config_dir, data_dir, runtime_dir):
        d.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # let ipykernel pick its inline backend
    env.update(
        MEDSYNTH_PROFILE="smoke",  # the notebooks read it: tiny data, short training
        JUPYTER_CONFIG_DIR=str(config_dir),  # ignore ~/.jupyter
        JUPYTER_DATA_DIR=str(data_dir),  # the widgets' lab extensions still come from sys.prefix/share/jupyter
        JUPYTER_RUNTIME_DIR=str(runtime_dir),
        IPYTHONDIR=str(workdir / "ipython"),
        # The kernel's cwd is the temp copy: make the working tree's package importable
        # even when it is not pip-installed.
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        # Kernelspec "python3" runs plain `python`: make it this interpreter's.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env, config_dir, runtime_dir


def start_lab(workdir: Path, notebooks_src: Path | None = NOTEBOOKS_DIR, timeout_s: float = 90) -> LabServer:
    """Start `python -m jupyter lab` on a free 127.0.0.1 port over a COPY of notebooks_src.

    The copy keeps the tracked notebooks untouched whatever the browser runs or saves.
    Config, settings, workspaces and runtime files all live under workdir too.
    """
    root = workdir / "notebooks"
    if notebooks_src is not None and notebooks_src.is_dir():
        shutil.copytree(notebooks_src, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    else:
        root.mkdir(parents=True)
    env, config_dir, runtime_dir = _server_env(workdir)
    settings_dir, workspaces_dir = config_dir / "lab" / "user-settings", config_dir / "lab" / "workspaces"
    for d in (settings_dir, workspaces_dir):
        d.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_lab_config.json").write_text(json.dumps(LAB_CONFIG))
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0",  # fail loudly instead of moving to another port
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={workspaces_dir}",
    ]
    log_path = workdir / "jupyterlab.log"
    with open(log_path, "wb") as log:
        # start_new_session: own process group, so stop() can kill the whole tree.
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    lab = LabServer(proc, port, root, runtime_dir, log_path, token=token)
    lab.wait_until_answering(lambda: lab.api("GET", "/api/status", timeout=2), "JupyterLab", timeout_s)
    return lab


# --------------------------------------------------------------------------- Voila server (the apps)
APPS_DIR = REPO_ROOT / "apps"


@dataclass
class VoilaServer(Server):
    def app_url(self, name: str) -> str:
        return f"{self.base_url}/voila/render/{quote(name)}"


def start_voila(workdir: Path, apps_src: Path = APPS_DIR, timeout_s: float = 60) -> VoilaServer:
    """Start `python -m voila` on a free 127.0.0.1 port over a COPY of apps_src, with the
    environment of `start_lab` (MEDSYNTH_PROFILE=smoke, private Jupyter dirs, this interpreter).
    Voila runs in the copy, so it reads the apps' own settings there (apps/voila.json), as `make app`."""
    root = workdir / "apps"
    shutil.copytree(apps_src, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    env, _, runtime_dir = _server_env(workdir)
    port = _free_port()
    cmd = [sys.executable, "-m", "voila", str(root), "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}",
           "--Voila.port_retries=0", f"--Voila.connection_dir_root={runtime_dir}"]
    log_path = workdir / "voila.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = VoilaServer(proc, port, root, runtime_dir, log_path)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def probe():
        with opener.open(server.base_url + "/", timeout=2):
            pass

    server.wait_until_answering(probe, "Voila", timeout_s)  # Voila's stop (SIGTERM) shuts its kernels down
    return server


# --------------------------------------------------------------------------- browser
def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS, headless=True)


def new_page(browser, width: int = 1400, height: int = 1000):
    """A page in a fresh context; requests to any host but 127.0.0.1/localhost are aborted.

    The list of blocked URLs is kept on page.blocked_urls for diagnostics.
    """
    context = browser.new_context(viewport={"width": width, "height": height})
    blocked: list[str] = []

    def guard(route):
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.blocked_urls = blocked
    return context, page


def screenshot(page_or_locator, path: Path) -> Path:
    """Save a PNG (a page or a single element) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page_or_locator.screenshot(path=str(path))
    return path


def wait_for(page_or_locator, selector: str, timeout_s: float = 30, state: str = "visible"):
    """Locator of the first match of selector once it reaches state; clear error otherwise."""
    loc = page_or_locator.locator(selector).first
    try:
        loc.wait_for(state=state, timeout=timeout_s * 1000)
    except Exception as exc:  # playwright's TimeoutError: say what we were waiting for
        raise AssertionError(f"{selector!r} not {state} after {timeout_s}s") from exc
    return loc


def click_menu(page, menu: str, command: str) -> None:
    """Open a main-menu entry (by its label) and click the item bound to a command id.

    Command ids (e.g. "runmenu:run-all" = "Run All Cells") are steadier than labels.
    """
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^\s*{re.escape(menu)}\s*$")).click()
    wait_for(page, f'.lm-Menu-item[data-command="{command}"]', timeout_s=10).click()


def notebook_panel(page):
    return page.locator(".jp-NotebookPanel:visible").first


# JS run on the notebook panel: kernel name and status, every code cell's prompt.
_STATE_JS = """panel => ({
  kernel: (panel.querySelector('.jp-KernelName')?.textContent || '').trim(),
  status: panel.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status ?? null,
  cells: [...panel.querySelectorAll('.jp-CodeCell')].map(c => ({
    prompt: (c.querySelector('.jp-InputPrompt')?.textContent || '').trim(),
    empty: !(c.querySelector('.cm-content')?.textContent || '').trim(),
  })),
})"""


def _notebook_state(page) -> dict:
    return notebook_panel(page).evaluate(_STATE_JS)


def open_notebook(page, lab: LabServer, name: str, timeout_s: float = 90):
    """Open a notebook of lab.root_dir in a fresh layout; wait for its kernel to be idle."""
    page.goto(lab.notebook_url(name))
    wait_for(page, ".jp-NotebookPanel .jp-Cell", timeout_s=timeout_s)
    deadline = time.monotonic() + timeout_s
    # The status indicator says "idle" while there is no kernel yet: check the name too.
    while (state := _notebook_state(page))["status"] != "idle" or state["kernel"] in ("", "No Kernel"):
        # A notebook without kernelspec metadata asks which kernel to use: take the default.
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count() and dialog.first.is_visible():
            dialog.first.click()
        if time.monotonic() > deadline:
            raise AssertionError(f"kernel of {name} not idle after {timeout_s}s: {state}")
        time.sleep(0.25)
    return notebook_panel(page)


def error_outputs(page) -> list[str]:
    """Texts of error outputs in the open notebook, widget Output areas included.

    JupyterLab renders an `error` output as stderr text (no class of its own), so keep
    the stderr outputs that look like a traceback; warnings are not errors.
    """
    texts = notebook_panel(page).locator(STDERR).all_text_contents()
    looks_like_error = re.compile(r"Traceback|^\s*\w*(Error|Exception|KeyboardInterrupt)\b", re.M)
    return [t for t in texts if looks_like_error.search(t)]


def run_all_cells(page, timeout_s: float = 120, check_errors: bool = True) -> float:
    """Clear outputs, click Run -> Run All Cells, wait until every cell has run.

    Done = kernel idle and no "[*]" prompt left. Outputs are cleared first so that
    execution counts stored in the .ipynb cannot pass for a finished run.
    With check_errors, fails when a cell errored or Run All stopped early.
    Returns the seconds taken.
    """
    click_menu(page, "Edit", "editmenu:clear-all")
    start = time.monotonic()
    click_menu(page, "Run", "runmenu:run-all")
    executed = re.compile(r"^\[\d+\]:?$")
    while True:
        state = _notebook_state(page)
        prompts = [c["prompt"] for c in state["cells"]]
        running = any("*" in p for p in prompts)
        started = running or any(executed.match(p) for p in prompts)
        if started and not running and state["status"] in ("idle", None):
            break
        if time.monotonic() - start > timeout_s:
            raise AssertionError(
                f"Run All not finished after {timeout_s}s: kernel {state['status']}, prompts {prompts}"
            )
        time.sleep(0.5)
    seconds = time.monotonic() - start
    if check_errors:
        errors = error_outputs(page)
        assert not errors, "cell error output(s):\n" + "\n-----\n".join(e[-3000:] for e in errors)
        skipped = [i for i, c in enumerate(state["cells"]) if not c["empty"] and not executed.match(c["prompt"])]
        assert not skipped, f"Run All stopped early: code cells {skipped} never ran (prompts {prompts})"
    return seconds


# --------------------------------------------------------------------------- slice viewer
def slice_image_src(viewer) -> str:
    return wait_for(viewer, IMAGE).get_attribute("src") or ""


def slider_value(viewer) -> str:
    return viewer.locator(f"{SLIDER} .widget-readout").first.inner_text().strip()


def move_slider(viewer, key: str = "ArrowRight", presses: int = 3) -> None:
    """Move the IntSlider with the keyboard, as a person would (noUiSlider handle)."""
    handle = wait_for(viewer, f"{SLIDER} .noUi-handle")
    handle.focus()
    for _ in range(presses):
        handle.press(key)


def wait_for_src_change(viewer, old_src: str, timeout_s: float = 30) -> str:
    """The slice viewer's new picture after a slider move."""
    return wait_for_img_change(viewer, IMAGE, old_src, timeout_s)


def check_slice_viewer_redraws(page, out_dir: Path, timeout_s: float = 60) -> tuple[Path, Path]:
    """The slice viewer contract: one PNG <img>; moving the slider changes the picture.

    Saves slice_viewer_before.png / slice_viewer_after.png in out_dir and returns them.
    """
    viewer = wait_for(page, VIEWER, timeout_s=timeout_s)
    pngs = viewer.locator(IMAGE)
    wait_for(viewer, IMAGE, timeout_s=timeout_s)
    assert pngs.count() == 1, f"slice viewer shows {pngs.count()} <img>, expected exactly one"
    before_src, before_value = slice_image_src(viewer), slider_value(viewer)
    assert before_src.startswith("data:image/png;base64,"), f"not a PNG: {before_src[:60]!r}"
    before = screenshot(viewer, Path(out_dir) / "slice_viewer_before.png")

    move_slider(viewer)
    after_src = wait_for_src_change(viewer, before_src)
    after_value = slider_value(viewer)
    assert after_value != before_value, f"slider readout stayed at {before_value}"
    assert after_src.startswith("data:image/png;base64,")
    time.sleep(0.3)  # let the new image paint before the screenshot
    after = screenshot(viewer, Path(out_dir) / "slice_viewer_after.png")
    return before, after


def write_demo_notebook(path: Path, extra_cells: list[str] = ()) -> Path:
    """A tiny notebook with a slice viewer honouring the contract (harness self-check)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    setup = '''\
import os
# the harness's server environment
assert os.environ.get("MEDSYNTH_PROFILE") == "smoke", os.environ.get("MEDSYNTH_PROFILE")
import ipywidgets as W
import matplotlib
import matplotlib.pyplot as plt
assert "inline" in matplotlib.get_backend(), matplotlib.get_backend()  # MPLBACKEND was unset
import numpy as np
from IPython.display import display

yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
volume = np.stack([np.exp(-((xx - 0.1 * k) ** 2 + yy ** 2) * 6) for k in range(-5, 6)])'''
    viewer = '''\
slider = W.IntSlider(value=0, min=0, max=len(volume) - 1, description="slice")
slider.add_class("medsynth-slice-slider")
image = W.Output()
image.add_class("medsynth-slice-image")

def draw(k):
    with image:
        image.clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(3, 3))
        ax.imshow(volume[k], cmap="gray")
        ax.set_title(f"slice {k}")
        ax.axis("off")
        display(fig)
        plt.close(fig)

slider.observe(lambda change: draw(change["new"]), names="value")
draw(slider.value)
viewer = W.VBox([slider, image])
viewer.add_class("medsynth-slice-viewer")
viewer'''
    cells = [new_markdown_cell("# Browser harness self-check"), new_code_cell(setup), new_code_cell(viewer)]
    cells += [new_code_cell(src) for src in extra_cells]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, str(path))
    return Path(path)


def open_widget_notebook(page, lab: LabServer, name: str, cell: str, selector: str, timeout_s: float = 180):
    """Write the demo notebook plus ``cell`` (code that ends by showing a widget) as ``name``,
    open it, run all cells, and return the locator of the widget matching ``selector``."""
    write_demo_notebook(lab.root_dir / name, extra_cells=[cell])
    open_notebook(page, lab, name)
    run_all_cells(page, timeout_s=timeout_s)
    return wait_for(page, selector, timeout_s=60)


# --------------------------------------------------------------------------- any widget picture
def wait_for_img_change(container, img_selector: str, old_src: str, timeout_s: float = 30) -> str:
    """The new src of the <img> matching img_selector inside container, once it differs from
    old_src (a widget's Output is cleared and refilled on redraw: the <img> may be briefly gone)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        img = container.locator(img_selector)
        src = img.first.get_attribute("src", timeout=1000) if img.count() else ""
        if src and src != old_src:
            return src
        time.sleep(0.2)
    raise AssertionError(f"{img_selector!r} did not change within {timeout_s}s")
