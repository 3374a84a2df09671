"""The course's measured results, kept as data: every figure in ``docs/results.md`` comes
from a JSON record that a run wrote, never from a hand-typed number.

- A benchmark builds a ``RunRecord`` (which command, profile, machine, date and commit
  produced it), adds its figures and saves it under ``results/``.
- A chapter notebook calls ``record(name, value)`` on the figures it reports; when the
  chapter runs under ``benchmarks/notebooks.py`` (which sets ``$MEDSYNTH_RECORD``) they
  land in that run's record, otherwise ``record`` only returns the value.
- ``python -m medsynth_nb.course.results`` renders every record under ``results/`` into
  ``docs/results.md``, each figure beside the run that produced it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from medsynth_nb.io import atomic_write

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "results"
DOC = ROOT / "docs" / "results.md"
RECORD_ENV = "MEDSYNTH_RECORD"  # the JSON file a chapter run's record() calls append to


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """This machine in one line: CPU, cores, torch threads, and the GPU if one is used."""
    import torch

    threads = torch.get_num_threads()
    parts = [f"{_cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with "
             f"{threads} thread{'s' if threads != 1 else ''}"]
    if torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    return "; ".join(parts)


def commit() -> str:
    """The git commit of the checkout (with ``+changes`` when its code has uncommitted edits)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        # results/ and docs/ are what runs write, not code: a fresh record must not mark the next one
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results",
                                ":!docs"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+changes" if dirty else "")


def this_command() -> str:
    """The command line that started this process, as a reader would retype it (prefixed
    with the profile when ``$MEDSYNTH_PROFILE`` chose it)."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(ROOT):
        script = script.relative_to(ROOT)
    command = shlex.join(["python", str(script), *sys.argv[1:]])
    profile = os.environ.get("MEDSYNTH_PROFILE")
    return f"MEDSYNTH_PROFILE={shlex.quote(profile)} {command}" if profile else command


def figure(value, note: str = "") -> dict:
    """One figure as a record stores it."""
    return {"value": plain(value), "note": note}


def plain(value):
    """``value`` as JSON-able data: a DataFrame or Series becomes {"columns", "index", "rows"}
    (index None for a plain 0..n-1 one), numpy numbers become Python numbers, NaN None."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):         # DataFrame
        numbered = type(value.index).__name__ == "RangeIndex"
        return {"columns": [str(c) for c in value.columns],
                "index": None if numbered else [str(i) for i in value.index],
                "rows": [[plain(v) for v in row] for row in value.itertuples(index=False)]}
    if hasattr(value, "to_frame") and hasattr(value, "index"):          # Series
        return plain(value.to_frame())
    if isinstance(value, dict) and value and all(hasattr(v, "to_frame") for v in value.values()):
        import pandas as pd  # a dict of Series ({model: errors by label}) is a table, one column each

        return plain(pd.DataFrame(value))
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:       # numpy / torch scalar
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass
class RunRecord:
    """One run's figures and where they came from."""
    name: str                 # the record's file name under results/ (e.g. "chapter-05-cpu")
    title: str                # a heading for docs/results.md
    command: str              # what to type to reproduce it
    profile: str
    machine: str = field(default_factory=machine)
    date: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    commit: str = field(default_factory=commit)
    figures: dict = field(default_factory=dict)    # name -> {"value": ..., "note": ...}

    def add(self, name: str, value, note: str = "") -> None:
        self.figures[name] = figure(value, note)

    def save(self, directory: str | Path = RESULTS_DIR) -> Path:
        path = Path(directory) / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(asdict(self), indent=1) + "\n"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        return cls(**json.loads(Path(path).read_text()))


def record(name: str, value, note: str = ""):
    """Keep one of a chapter's figures in its run's record (when the chapter runs under
    ``benchmarks/notebooks.py``) and return it unchanged, so a cell can record and show."""
    path = os.environ.get(RECORD_ENV)
    if path:
        path = Path(path)
        figures = json.loads(path.read_text()) if path.exists() else {}
        figures[name] = figure(value, note)
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(figures, indent=1)))
    return value


# Figures that measure the machine, not the method: they differ between any two runs.
MACHINE_FIGURES = re.compile(r"second|\bs per\b|s_per_image|ms per|training s$|wall time|memory|peak", re.IGNORECASE)


def leaves(value, path: tuple = ()):
    """(path, scalar) for every entry of a figure's stored value; a table's cells are
    addressed by (row label, column)."""
    if isinstance(value, dict) and {"columns", "index", "rows"} <= set(value):
        labels = value["index"] or range(len(value["rows"]))
        for label, row in zip(labels, value["rows"]):
            for column, cell in zip(value["columns"], row):
                yield (*path, str(label), column), cell
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, (*path, str(i)))
    else:
        yield path, value


def compare_figures(first: dict, second: dict) -> list[dict]:
    """Two runs' figures ({name: {"value", "note"}}) side by side: per figure the number of
    entries compared, how many differ, the largest absolute difference and where.
    Figures that measure the machine (times, memory) are listed but not compared."""
    rows = []
    for name in [*first, *(n for n in second if n not in first)]:
        if name not in first or name not in second:
            rows.append({"figure": name, "compared": 0, "differ": None, "largest difference": None,
                         "where": "only in one run"})
            continue
        a, b = dict(leaves(first[name]["value"])), dict(leaves(second[name]["value"]))
        keys = [k for k in a if not MACHINE_FIGURES.search(" ".join((name, *k)))]
        if not keys and a:
            rows.append({"figure": name, "compared": 0, "differ": None, "largest difference": None,
                         "where": "machine figure, not compared"})
            continue
        differ, largest, where = 0, 0.0, ""
        for key in keys:
            x, y = a[key], b.get(key)
            if x == y:
                continue
            differ += 1
            numbers = all(isinstance(v, (int, float)) for v in (x, y))
            if not numbers:  # a verdict or label changed: always the headline
                largest, where = None, f"{' / '.join(key) or name}: {x!r} -> {y!r}"
            elif largest is not None and abs(x - y) >= largest:
                largest, where = abs(x - y), " / ".join(key) or name
        rows.append({"figure": name, "compared": len(keys), "differ": differ, "largest difference": largest,
                     "where": where})
    return rows


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _markdown_value(value) -> str:
    if isinstance(value, dict) and {"columns", "index", "rows"} <= set(value):
        labels = value["index"]
        head = ("| | " if labels else "| ") + " | ".join(value["columns"]) + " |"
        rule = "|---" * (len(value["columns"]) + bool(labels)) + "|"
        rows = [("| " + (f"{label} | " if labels else "")) + " | ".join(_cell(v) for v in row) + " |"
                for label, row in zip(labels or [None] * len(value["rows"]), value["rows"])]
        return "\n".join(["", "", head, rule, *rows, ""])  # a blank line first: Markdown needs it for a table
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    return _cell(value)


def render(records: list[RunRecord]) -> str:
    """docs/results.md: one section per record, in name order, each saying which run it is."""
    lines = ["# Measured results", "",
             "Generated by `python -m medsynth_nb.course.results` from the JSON records under `results/`;",
             "do not edit by hand. Each section names the run that produced its figures. Re-run a command",
             "to refresh its record, then regenerate this page.", ""]
    for rec in sorted(records, key=lambda r: r.name):
        lines += [f"## {rec.title}", "",
                  f"Run: `{rec.command}` — profile {rec.profile}, {rec.date}, commit {rec.commit}.  ",
                  f"Machine: {rec.machine}.", ""]
        for name, figure in rec.figures.items():
            note = f" ({figure['note']})" if figure.get("note") else ""
            value = _markdown_value(figure["value"])
            lines.append(f"- **{name}**{note}:{'' if value.startswith(chr(10)) else ' '}{value}")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medsynth_nb.course.results",
                                     description="Render the run records under results/ into docs/results.md.")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="folder of run records (*.json)")
    parser.add_argument("--out", type=Path, default=DOC, help="the Markdown file to write")
    args = parser.parse_args(argv)
    paths = sorted(args.results.glob("*.json"))
    if not paths:
        print(f"No run records in {args.results}: run a benchmark or "
              "`python benchmarks/notebooks.py` first.", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = render([RunRecord.load(p) for p in paths])
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(text))
    print(f"Wrote {args.out} from {len(paths)} run records.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
