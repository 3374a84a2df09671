"""What one student's server ("a seat") needs on a course hub, from the measured chapter runs.

The chapter records under ``results/`` (``chapter-NN-cpu.json``, written by
``benchmarks/notebooks.py``) hold each chapter's wall time and its kernel's peak resident
memory. A seat runs one chapter's kernel at a time beside its Jupyter server, so:

    guarantee = largest kernel peak + the server's own memory, rounded up to 256 MB
    limit     = guarantee x (1 + HEADROOM), rounded up to 256 MB
    CPU limit = the torch threads the records ran with (their wall times assume that many)

No CPU guarantee: CPU shared between seats only slows the chapters down, while memory over
the limit kills the kernel, so seats are counted by memory. MB here are MiB (2**20 bytes),
as ``ru_maxrss`` and JupyterHub's ``M`` count them.

    python -m medsynth_nb.course.seats [--results DIR] [--profile cpu] [--machine GB CORES]

prints the per-chapter table (Markdown, for docs/instructors.md), the limits, and with
``--machine`` how many seats a machine holds. ``hub/jupyterhub_config.py`` and
``hub/z2jh-values.yaml`` carry these limits; ``tests/course/test_seats.py`` checks they are
at least what this module recommends from the records.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from medsynth_nb.course.results import RESULTS_DIR, RunRecord

# The single-user server's own peak RSS (jupyterhub-singleuser with JupyterLab; its kernel not counted):
# 168 to 173 MB in five runs of tests/hub/test_jupyterhub.py, which serves chapter 00 through the hub
# (AMD EPYC, 2 cores), rounded up to a multiple of 64 MB. That test fails if the server needs more.
SERVER_OVERHEAD_MB = 192
# Above the guarantee: a cgroup (systemd, Kubernetes) also charges the page cache of what a kernel
# reads and writes, and a student may briefly have a second kernel open; a kernel over the limit is
# killed and its chapter's state is lost.
HEADROOM = 0.25
ROUND_MB = 256
PEAK = "kernel peak memory (MB)"
WALL = "wall time (s)"
MB_PER_UNIT = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}


@dataclass(frozen=True)
class ChapterNeeds:
    chapter: str     # "00"
    profile: str
    peak_mb: int     # the kernel's peak resident memory
    wall_s: int      # the chapter run top to bottom
    machine: str     # where it was measured (the record's machine line)


@dataclass(frozen=True)
class Seat:
    mem_guarantee_mb: int
    mem_limit_mb: int
    cpu_limit: int
    largest_peak_mb: int
    largest_peak_chapter: str
    server_overhead_mb: int
    headroom: float


def _round_up(mb: float) -> int:
    return int(math.ceil(mb / ROUND_MB) * ROUND_MB)


def torch_threads(machine: str) -> int:
    """The torch threads a record's machine line names ("..., torch 2.13.0+cpu with 2 threads")."""
    found = re.search(r"with (\d+) threads?\b", machine)
    if not found:
        raise ValueError(f"no torch thread count in the machine line {machine!r}")
    return int(found.group(1))


def chapter_needs(results: str | Path = RESULTS_DIR, profile: str = "cpu") -> list[ChapterNeeds]:
    """One row per chapter record of ``profile`` under ``results``, in chapter order."""
    rows = []
    for path in sorted(Path(results).glob(f"chapter-*-{profile}.json")):
        rec = RunRecord.load(path)
        missing = [name for name in (PEAK, WALL) if name not in rec.figures]
        if missing:
            raise ValueError(f"{path} has no {' or '.join(repr(m) for m in missing)}: re-run "
                             f"`{rec.command}` to record it")
        rows.append(ChapterNeeds(chapter=rec.name.split("-")[1], profile=rec.profile,
                                 peak_mb=int(rec.figures[PEAK]["value"]), wall_s=int(rec.figures[WALL]["value"]),
                                 machine=rec.machine))
    if not rows:
        raise FileNotFoundError(f"no chapter-*-{profile}.json records in {results}: run "
                                f"`MEDSYNTH_PROFILE={profile} python benchmarks/notebooks.py` first")
    return rows


def recommend(rows: list[ChapterNeeds], server_overhead_mb: int = SERVER_OVERHEAD_MB,
              headroom: float = HEADROOM) -> Seat:
    """The per-seat memory guarantee and limit and the CPU limit for chapters measured as ``rows``."""
    largest = max(rows, key=lambda r: r.peak_mb)
    guarantee = _round_up(largest.peak_mb + server_overhead_mb)
    return Seat(mem_guarantee_mb=guarantee, mem_limit_mb=_round_up(guarantee * (1 + headroom)),
                cpu_limit=max(torch_threads(r.machine) for r in rows), largest_peak_mb=largest.peak_mb,
                largest_peak_chapter=largest.chapter, server_overhead_mb=server_overhead_mb, headroom=headroom)


def seats_on(memory_gb: float, cores: int, seat: Seat) -> dict[str, int]:
    """How many seats a machine with ``memory_gb`` GiB and ``cores`` holds: by memory (every seat
    at its guarantee; every seat at its limit) and by CPU (every seat training at full speed)."""
    memory_mb = memory_gb * 1024
    return {"by memory, each at its guarantee": int(memory_mb // seat.mem_guarantee_mb),
            "by memory, each at its limit": int(memory_mb // seat.mem_limit_mb),
            "by CPU, all training at once at full speed": cores // seat.cpu_limit}


def byte_spec_mb(value: str | int) -> float:
    """A JupyterHub / KubeSpawner memory value ("2304M", "2.5G", bytes as an int) in MB (MiB):
    their K, M, G, T suffixes count in 1024s."""
    if isinstance(value, (int, float)):
        return value / 2**20
    found = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)\s*", str(value))
    if not found:
        raise ValueError(f"not a memory size: {value!r} (write e.g. 2304M or 2.5G)")
    number, suffix = found.groups()
    return float(number) * MB_PER_UNIT[suffix] if suffix else float(number) / 2**20


def table_markdown(rows: list[ChapterNeeds]) -> str:
    lines = ["| chapter | profile | kernel peak (MB) | wall time (s) |", "|---|---|---|---|"]
    lines += [f"| {r.chapter} | {r.profile} | {r.peak_mb} | {r.wall_s} |" for r in rows]
    return "\n".join(lines)


def report(rows: list[ChapterNeeds], seat: Seat, machine: tuple[float, int] | None = None) -> str:
    machines = sorted({r.machine for r in rows})
    total_min = sum(r.wall_s for r in rows) / 60
    lines = [table_markdown(rows), "",
             f"Measured on: {'; '.join(machines)}. All chapters one after another: {total_min:.0f} min.", "",
             f"Per seat: memory guarantee {seat.mem_guarantee_mb}M = largest kernel peak {seat.largest_peak_mb} MB "
             f"(chapter {seat.largest_peak_chapter}) + server {seat.server_overhead_mb} MB, rounded up to "
             f"{ROUND_MB} MB;",
             f"          memory limit {seat.mem_limit_mb}M = guarantee + {seat.headroom:.0%} headroom, rounded up to "
             f"{ROUND_MB} MB;",
             f"          CPU limit {seat.cpu_limit} (the torch threads the records ran with; set "
             f"OMP_NUM_THREADS={seat.cpu_limit} too); no CPU guarantee."]
    if machine:
        memory_gb, cores = machine
        lines += ["", f"A machine with {memory_gb:g} GB and {cores} cores holds:"]
        lines += [f"  {n:>4} seats {how}" for how, n in seats_on(memory_gb, cores, seat).items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medsynth_nb.course.seats",
                                     description="Per-seat memory and CPU for a course hub, from the chapter "
                                                 "run records.")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="folder of run records (*.json)")
    parser.add_argument("--profile", default="cpu", help="the profile the students run (default: cpu)")
    parser.add_argument("--machine", nargs=2, type=float, metavar=("GB", "CORES"),
                        help="also say how many seats a machine with GB GiB of memory and CORES cores holds")
    args = parser.parse_args(argv)
    try:
        rows = chapter_needs(args.results, args.profile)
    except (FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    machine = (args.machine[0], int(args.machine[1])) if args.machine else None
    print(report(rows, recommend(rows), machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
