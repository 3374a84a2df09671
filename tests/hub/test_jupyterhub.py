"""The course hub config (hub/jupyterhub_config.py) serves a chapter: JupyterHub on 127.0.0.1 with
that config, a DummyAuthenticator and the SimpleLocalProcessSpawner (user servers run as the
current user, from this environment), one student spawned through the REST API, and chapter 00
run in the smoke profile in their server, every message through the hub's proxy.

Needs configurable-http-proxy (npm); CI's .ci/run installs it, locally the test skips without it.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil
import pytest
from kernel_client import CellError, KernelSocket

from medsynth_nb.course.seats import SERVER_OVERHEAD_MB

ROOT = Path(__file__).resolve().parents[2]
HUB_CONFIG = ROOT / "hub" / "jupyterhub_config.py"
CHAPTER = "00_synthesis_in_one_afternoon.ipynb"
STUDENT = "student"

# Only what a test must change; everything else comes from the course config.
TEST_OVERLAY = """
load_subconfig({hub_config!r})
c.JupyterHub.bind_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "{state}/proxy.pid"
c.JupyterHub.authenticator_class = "jupyterhub.auth.DummyAuthenticator"
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = "{state}/home/{{username}}"
c.Spawner.environment.update(MEDSYNTH_PROFILE="smoke", MEDSYNTH_CACHE={cache!r})
c.Spawner.args = {server_args!r}
c.JupyterHub.services = [{{"name": "course-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "course-test", "services": ["course-test"],
                            "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read()
    return json.loads(text) if text else {}


def wait_until(what: str, check, timeout: float, log: Path, hub: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and hub.poll() is None:
        try:
            if result := check():
                return result
        except OSError:  # not listening yet
            pass
        time.sleep(0.5)
    ended = f"the hub exited ({hub.returncode})" if hub.poll() is not None else f"not within {timeout:.0f} s"
    raise AssertionError(f"{what}: {ended}; hub log:\n{log.read_text()[-4000:]}")


def peak_rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def stop(hub: subprocess.Popen) -> None:
    """Stop the hub (which stops the user server and the proxy it started), then end whatever of
    its process tree is left, so no run leaves orphans behind."""
    try:
        tree = psutil.Process(hub.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    hub.terminate()
    try:
        hub.wait(timeout=30)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait(timeout=10)
    _, alive = psutil.wait_procs(tree, timeout=10)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=10)


@pytest.fixture
def hub(tmp_path):
    """A running hub: yields (proxy URL, admin token, hub process, log file)."""
    if not shutil.which("configurable-http-proxy"):
        pytest.skip("configurable-http-proxy is not on PATH (npm install -g configurable-http-proxy; CI installs it)")
    token, proxy_port = secrets.token_hex(16), free_port()
    cache = os.environ.get("MEDSYNTH_CACHE") or str(Path.home() / ".cache" / "medsynth_nb")  # built once, reused
    overlay = tmp_path / "test_config.py"
    overlay.write_text(TEST_OVERLAY.format(
        hub_config=str(HUB_CONFIG), proxy_port=proxy_port, hub_port=free_port(), api_port=free_port(),
        state=tmp_path, cache=cache, token=token,
        server_args=["--allow-root"] if os.geteuid() == 0 else []))  # jupyter-server refuses root without it
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTERHUB_", "JPY_")) and k not in ("MPLBACKEND", "MEDSYNTH_RECORD")}
    env.update(PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}", MEDSYNTH_COURSE_DIR=str(ROOT),
               CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(16))
    log = tmp_path / "hub.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([f"{venv_bin}/jupyterhub", "-f", str(overlay)], cwd=tmp_path, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{proxy_port}"
    try:
        wait_until("the hub's API", lambda: api(base, token, "GET", "/hub/api/"), 60, log, process)
        yield base, token, process, log
    finally:
        stop(process)


async def run_chapter(base: str, token: str, path: Path, timeout: float) -> str:
    """Every code cell of ``path`` in order, in a kernel of the student's server; all it printed."""
    kernel = api(base, token, "POST", f"/user/{STUDENT}/api/kernels", {"name": "python3", "path": "medsynth"})
    url = f"{base.replace('http', 'ws', 1)}/user/{STUDENT}/api/kernels/{kernel['id']}/channels"
    printed = []
    deadline = time.monotonic() + timeout
    async with KernelSocket(url, token) as session:
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        for index, cell in enumerate(cells):
            try:
                printed.append(await session.execute(cell.source, timeout=deadline - time.monotonic()))
            except (CellError, TimeoutError) as err:
                head = "\n".join(cell.source.splitlines()[:3])
                raise AssertionError(f"{path.name}, code cell {index}:\n{head}\n---\n{err}") from None
    api(base, token, "DELETE", f"/user/{STUDENT}/api/kernels/{kernel['id']}")
    return "".join(printed)


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_the_course_hub_runs_chapter_00_for_a_student(hub):
    base, token, process, log = hub
    api(base, token, "POST", f"/hub/api/users/{STUDENT}")
    api(base, token, "POST", f"/hub/api/users/{STUDENT}/server")

    def ready() -> bool:
        return api(base, token, "GET", f"/hub/api/users/{STUDENT}")["servers"].get("", {}).get("ready", False)

    wait_until("the student's server", ready, 90, log, process)

    # The config's start-up copied the chapters (not the solutions) into the student's home.
    home = log.parent / "home" / STUDENT / "medsynth"
    assert (home / CHAPTER).exists() and not (home / "solutions").exists()

    started = time.monotonic()
    # In a thread of its own: an earlier test of the suite may leave an event loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        printed = thread.submit(asyncio.run, run_chapter(base, token, home / CHAPTER, timeout=220)).result()
    print(f"chapter 00 through the hub: {time.monotonic() - started:.0f} s")
    assert "profile=smoke" in printed, "chapter 00 must print the profile it ran with"

    # The server's own memory, its kernel not counted: what seats.py adds to the kernels' peaks.
    children = psutil.Process(process.pid).children(recursive=True)
    server, proxy = (next(p for p in children if any(name in part for part in p.cmdline()))
                     for name in ("jupyterhub-singleuser", "configurable-http-proxy"))
    server_mb = peak_rss_mb(server.pid)
    print(f"peak RSS: user server {server_mb} MB, hub {peak_rss_mb(process.pid)} MB, "
          f"proxy {peak_rss_mb(proxy.pid)} MB")
    assert server_mb <= SERVER_OVERHEAD_MB, f"the user server peaked at {server_mb} MB: raise seats.SERVER_OVERHEAD_MB"
