"""A synthesis task names its source modalities and its target: ``"t1:t2"``,
``"t1,t2:flair"``, ``"t1:ct"``; a modality may carry a scanner site, ``"t1@B"``.
Modalities are lower-case strings everywhere (``"t1"``, ``"t2"``, ``"pd"``, ``"flair"``,
``"t1ce"``, ``"ct"``, ``"pet"``)."""
from __future__ import annotations

from dataclasses import dataclass

MR_MODALITIES = ("t1", "t2", "pd", "flair", "t1ce")
MODALITIES = MR_MODALITIES + ("ct", "pet")
SITES = ("A", "B", "LF")  # the phantom's scanner sites (their physics: ``data.SITES``)


@dataclass(frozen=True)
class Task:
    sources: tuple[str, ...]
    target: str

    def __str__(self) -> str:
        return f"{','.join(self.sources)}:{self.target}"


def base_modality(name: str) -> str:
    """``"ct@B"`` -> ``"ct"``: a modality name may carry the site it was acquired at."""
    return name.split("@")[0]


def _canonical(token: str) -> str:
    modality, at, site = token.strip().partition("@")
    return modality.lower() + (f"@{site.upper()}" if at else "")


def _valid_name(name: str) -> bool:
    modality, at, site = name.partition("@")
    return modality in MODALITIES and (not at or site in SITES)


def parse_task(task: str | Task) -> Task:
    """``"t1,flair:t2"`` -> Task(("t1", "flair"), "t2"), with a clear error for typos.

    A name may name a site: ``"t1@B:t1"`` maps site B's T1w to site A's (harmonisation,
    chapter 02); unqualified names are the dataset's own site.
    """
    if isinstance(task, Task):
        return task
    if task.count(":") != 1:
        raise ValueError(f"Task {task!r} must look like 'SOURCE:TARGET', e.g. 't1:t2' or 't1,flair:t2'.")
    src, tgt = task.split(":")
    tgt = _canonical(tgt) if tgt.strip() else ""
    sources = tuple(_canonical(s) for s in src.split(",") if s.strip())
    unknown = [m for m in (*sources, tgt) if not _valid_name(m)]
    if unknown or not sources or not tgt:
        raise ValueError(f"Task {task!r}: unknown or missing modality {unknown or '(empty)'}; "
                         f"available: {', '.join(MODALITIES)} (optionally @site, e.g. t1@B).")
    if tgt in sources:
        raise ValueError(f"Task {task!r}: the target {tgt!r} is also a source; nothing to synthesise.")
    return Task(sources, tgt)
