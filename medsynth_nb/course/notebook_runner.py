"""Run a chapter notebook headless, as the tests, the benchmarks and an instructor
pre-running chapters before a workshop do.

Why not plain ``nbclient.NotebookClient``: with ipywidgets outputs its wait for a kernel
reply sometimes misses the message and sleeps until the cell time-out (jupyter/nbclient
issue 312; here a 20 s chapter took 622 s under pytest). Waiting in short slices re-polls
the socket, so a missed wake-up costs at most one slice.

``run_chapter`` runs one chapter as the benchmarks do: wall time, the kernel's peak memory
and the figures its ``record(...)`` calls keep; ``chapter_record`` makes them a run record.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient

from medsynth_nb.course.results import RECORD_ENV, RunRecord

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


@dataclass
class ChapterRun:
    notebook: nbformat.NotebookNode  # executed, with outputs
    seconds: float
    peak_mb: int                     # the kernel's peak resident memory
    figures: dict                    # what the chapter's record(...) calls kept: {name: {"value", "note"}}
    cell_peaks: list = field(default_factory=list)  # (cell index, its first line, peak MB so far) per code cell
    gpu_peak_mb: int | None = None   # the kernel's peak GPU memory (torch.cuda.max_memory_allocated); None without


PEAK_CELL = "import resource; print('PEAK_RSS_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
# Last of all: the peak GPU memory, -1 without CUDA (torch is not imported for it if the chapter did not).
GPU_PEAK_CELL = ("import sys; torch = sys.modules.get('torch'); print('PEAK_GPU_MB', "
                 "torch.cuda.max_memory_allocated() // 2**20 if torch and torch.cuda.is_available() else -1)")


def _peak(cell) -> int:
    return int(cell.outputs[0]["text"].split()[-1])


def run_chapter(path: str | Path, timeout: int = 1800, cell_peaks: bool = False) -> ChapterRun:
    """Execute the chapter at ``path`` in a fresh scratch copy of its folder (so a run
    never writes beside the tracked notebooks, and no run sees another's files) and
    collect its wall time, the kernel's peak memory and its recorded figures. With
    ``cell_peaks`` the peak is also read after every code cell: where a chapter's memory
    rises, cell by cell (the peak only grows, so the rise of a cell is what it added)."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / path.parent.name
        shutil.copytree(path.parent, workdir)
        nb = nbformat.read(workdir / path.name, as_version=4)
        traced = []
        if cell_peaks:
            cells = []
            for index, cell in enumerate(nb.cells):
                cells.append(cell)
                if cell.cell_type == "code":
                    cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
                    traced.append((index, cell.source.strip().splitlines()[0][:70] if cell.source.strip() else ""))
            nb.cells = cells
        nb.cells += [nbformat.v4.new_code_cell(PEAK_CELL), nbformat.v4.new_code_cell(GPU_PEAK_CELL)]
        figures_file = Path(tmp) / "figures.json"
        before = os.environ.get(RECORD_ENV)
        os.environ[RECORD_ENV] = str(figures_file)  # the kernel inherits it; record() appends there
        try:
            seconds = execute_notebook(nb, workdir, timeout=timeout)
        finally:
            if before is None:
                os.environ.pop(RECORD_ENV)
            else:
                os.environ[RECORD_ENV] = before
        figures = json.loads(figures_file.read_text()) if figures_file.exists() else {}
    probes = [c for c in nb.cells if c.cell_type == "code" and c.source == PEAK_CELL]
    peaks = [(index, line, _peak(probe)) for (index, line), probe in zip(traced, probes)]
    gpu_peak = _peak(nb.cells[-1])
    return ChapterRun(nb, seconds, _peak(probes[-1]), figures, peaks, gpu_peak if gpu_peak >= 0 else None)


def chapter_record(name: str, run: ChapterRun, profile: str) -> RunRecord:
    """The run record of one chapter run (``chapter-NN-<profile>``): wall time, peak memory
    and the chapter's figures, with the command that reproduces them."""
    chapter = name[:2]
    record = RunRecord(name=f"chapter-{chapter}-{profile}", title=f"Chapter {chapter} ({profile} profile)",
                       command=f"MEDSYNTH_PROFILE={profile} python benchmarks/notebooks.py notebooks/{name}",
                       profile=profile)
    record.add("wall time (s)", round(run.seconds))
    record.add("kernel peak memory (MB)", run.peak_mb)
    if run.gpu_peak_mb is not None:
        record.add("GPU peak memory (MB)", run.gpu_peak_mb, note="torch.cuda.max_memory_allocated of the kernel")
    record.figures.update(run.figures)
    return record
