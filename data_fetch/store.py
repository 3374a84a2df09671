"""Where fetched data live, and the checksums recorded at first download.

DATA_DIR is ``$MEDSYNTH_DATA_DIR``, else ``~/.cache/medsynth``::

    downloads/<file>             archives as published (serve this folder to act as a course mirror)
    downloads/<file>.part        an unfinished download, resumed next time
    downloads/checksums.json     sha256 and size recorded at first download (files without a published checksum)
    <dataset>/<archive stem>/    an extracted archive; it appears only once extraction has completed
    <dataset>/slices/            slice caches written by medsynth_nb.data.real
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from medsynth_nb.io import atomic_write

from .errors import OFFLINE_ALTERNATIVE, NotFetchedError
from .manifests import Dataset, RemoteFile, manifest

DEFAULT_DATA_DIR = Path("~/.cache/medsynth")


def data_dir(dest: str | os.PathLike | None = None) -> Path:
    """``dest``, else ``$MEDSYNTH_DATA_DIR``, else ``~/.cache/medsynth``."""
    return Path(dest or os.environ.get("MEDSYNTH_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()


def downloads_dir(root: Path) -> Path:
    return root / "downloads"


def archive_path(root: Path, file: RemoteFile) -> Path:
    return downloads_dir(root) / file.filename


def extracted_dir(root: Path, dataset: Dataset, file: RemoteFile) -> Path:
    return root / dataset.name / file.stem


def is_fetched(dataset: Dataset, root: Path) -> bool:
    return all(extracted_dir(root, dataset, f).is_dir() for f in dataset.files)


def get_command(name: str, dest: str | os.PathLike | None = None) -> str:
    """The command that fetches ``name`` into ``dest`` (only named when not the default)."""
    return f"python -m data_fetch get {name} --accept-license" + (f" --dest {dest}" if dest else "")


def require_fetched(name: str, dest: str | os.PathLike | None = None) -> dict[str, Path]:
    """Extracted folder of each of the dataset's files, by file name; a clear error
    (the command to run, the offline alternative) when one is missing."""
    dataset, root = manifest(name), data_dir(dest)
    folders = {f.filename: extracted_dir(root, dataset, f) for f in dataset.files}
    missing = [str(p) for p in folders.values() if not p.is_dir()]
    if missing:
        raise NotFetchedError(f"{name} has not been fetched into {root} (missing {', '.join(missing)}). Online, "
                              f"read its licence with `python -m data_fetch info {name}`, then download it with\n"
                              f"    {get_command(name, dest)}\n"
                              f"(or set MEDSYNTH_DATA_DIR to where it is). {OFFLINE_ALTERNATIVE}")
    return folders


def _records_path(root: Path) -> Path:
    return downloads_dir(root) / "checksums.json"


def recorded_sha256(root: Path, file: RemoteFile) -> str | None:
    path = _records_path(root)
    records = json.loads(path.read_text()) if path.exists() else {}
    return records.get(file.filename, {}).get("sha256")


def record_sha256(root: Path, file: RemoteFile, sha256: str, size: int, url: str) -> None:
    """Remember the first download's checksum (written atomically: never a half-written JSON)."""
    path = _records_path(root)
    records = json.loads(path.read_text()) if path.exists() else {}
    records[file.filename] = {"sha256": sha256, "size_bytes": size, "url": url,
                              "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(records, indent=2, sort_keys=True)))
