"""Run a chapter notebook headless, as the tests, the benchmarks and an instructor
pre-running chapters before a workshop do.

Why not plain ``nbclient.NotebookClient``: with ipywidgets outputs its wait for a kernel
reply sometimes misses the message and sleeps until the cell time-out (jupyter/nbclient
issue 312; here a 20 s chapter took 622 s under pytest). Waiting in short slices re-polls
the socket, so a missed wake-up costs at most one slice.
"""
from __future__ import annotations

import time
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient

POLL_SLICE_S = 1.0


def _poll_in_slices(channel) -> None:
    whole_wait = channel.get_msg

    async def get_msg(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else min(POLL_SLICE_S, deadline - time.monotonic())
            try:
                return await whole_wait(timeout=max(left, 0.0))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = get_msg


class _SlicedPollingClient(NotebookClient):
    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        _poll_in_slices(kc.shell_channel)
        _poll_in_slices(kc.iopub_channel)
        return kc


def execute_notebook(nb: nbformat.NotebookNode, workdir: str | Path, timeout: int = 600) -> float:
    """Execute ``nb`` in place (outputs filled in) with a fresh kernel whose working
    directory is ``workdir``; ``timeout`` is per cell. Returns the wall time in seconds."""
    start = time.perf_counter()
    _SlicedPollingClient(nb, timeout=timeout, kernel_name="python3",
                         resources={"metadata": {"path": str(workdir)}}).execute()
    return time.perf_counter() - start
