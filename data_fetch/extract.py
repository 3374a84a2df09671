"""Safe, all-or-nothing extraction of a downloaded archive.

MONAI's ``extractall`` already refuses members with absolute paths, ``..``, symbolic or
hard links, and writes only regular files (device files and FIFOs are skipped), for tar
and zip alike. What it lacks is atomicity: it writes straight into its destination, so an
interrupted or refused extraction would leave a folder that looks complete. Here it
extracts into a temporary sibling folder that is renamed into place only when done.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import UnsafeArchiveError


def extract_archive(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` so that its contents become ``dest`` (which must not exist yet)."""
    from monai.apps.utils import extractall  # imported here: MONAI pulls in torch, which `list`/`info` don't need

    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{dest.name}.extracting-*"):  # left by an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.extracting-"))
    try:
        extractall(archive, tmp, has_base=False)
        os.replace(tmp, dest)
    except ValueError as err:  # MONAI's refusal of an unsafe member
        raise UnsafeArchiveError(f"Refused to extract {archive}: {err}. A published archive never needs this; "
                                 "the file or the mirror serving it may have been tampered with. Nothing was "
                                 "extracted.") from err
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
