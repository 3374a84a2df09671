"""Fetch a dataset: licence, free space, download, checksum, extraction."""
from __future__ import annotations

import os
from pathlib import Path

from . import store
from .download import Checksum, check_free_space, download_file, file_digest, partial_path, verify
from .errors import ChecksumError, LicenseNotAcceptedError
from .extract import extract_archive
from .manifests import DATASETS, Dataset, RemoteFile, manifest

MIRROR_ENV = "MEDSYNTH_DATA_MIRROR"


def list_datasets() -> list[str]:
    return list(DATASETS)


def licence_text(dataset: Dataset) -> str:
    return (f"Licence:  {dataset.license} ({dataset.license_url})\n"
            f"          {dataset.license_terms}\n"
            f"Citation: {dataset.citation}")


def info(name: str | Dataset, dest: str | os.PathLike | None = None) -> str:
    """What the dataset is, its licence and citation, its files and whether it is here."""
    dataset = manifest(name) if isinstance(name, str) else name
    root = store.data_dir(dest)
    files = "\n".join(f"  {f.filename}  about {f.approx_bytes / 1e9:.1f} GB  "
                      f"{'md5 ' + f.md5 if f.md5 else 'no published checksum (sha256 recorded at first download)'}"
                      f"\n    {f.url}" for f in dataset.files)
    state = (f"fetched in {root / dataset.name}" if store.is_fetched(dataset, root)
             else f"not fetched; {store.get_command(dataset.name, dest)}")
    return (f"{dataset.name}: {dataset.title}\n{licence_text(dataset)}\n"
            f"Homepage: {dataset.homepage}\nModalities: {', '.join(dataset.modalities)}\n"
            f"Files:\n{files}\nLayout:   {dataset.layout}\nNotes:    {dataset.notes}\nHere:     {state}")


def file_url(file: RemoteFile, mirror: str | None) -> str:
    """The publisher's URL, or the same file name on a mirror."""
    return f"{mirror.rstrip('/')}/{file.filename}" if mirror else file.url


def get(name: str | Dataset, *, accept_license: bool = False, dest: str | os.PathLike | None = None,
        mirror: str | None = None, progress: bool = True, retries: int = 4, timeout_s: float = 60.0,
        backoff_s: float = 1.0) -> Path:
    """Download, verify and extract a dataset into ``DATA_DIR/<name>``; returns that folder.

    ``name`` may be a manifest (e.g. from ``manifests.with_checksums``). ``mirror`` (else
    ``$MEDSYNTH_DATA_MIRROR``) fetches the same file names from a local server. Re-running
    resumes: finished files are not fetched again, a partial one is continued.
    """
    dataset = manifest(name) if isinstance(name, str) else name
    root = store.data_dir(dest)
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    if store.is_fetched(dataset, root):
        print(f"{dataset.name} is already fetched in {root / dataset.name}.")
        return root / dataset.name
    print(f"{dataset.name}: {dataset.title}\n{licence_text(dataset)}")
    if not accept_license:
        raise LicenseNotAcceptedError(
            f"{dataset.name} is licensed under {dataset.license} ({dataset.license_url}). {dataset.license_terms} "
            f"Nothing was downloaded. To accept the licence: {store.get_command(dataset.name, dest)} "
            f"(Python: data_fetch.get({dataset.name!r}, accept_license=True)).")
    pending = [f for f in dataset.files if not store.extracted_dir(root, dataset, f).is_dir()]
    store.downloads_dir(root).mkdir(parents=True, exist_ok=True)
    check_free_space(root, sum(_bytes_still_needed(root, f) for f in pending),
                     f"{dataset.name} (download and extraction)")
    for file in pending:
        archive = _fetch_archive(dataset, file, root, mirror, progress=progress, retries=retries,
                                 timeout_s=timeout_s, backoff_s=backoff_s)
        print(f"Extracting {archive.name} ...")
        extract_archive(archive, store.extracted_dir(root, dataset, file))
    print(f"{dataset.name} is ready in {root / dataset.name}. Please cite: {dataset.citation}")
    return root / dataset.name


def _bytes_still_needed(root: Path, file: RemoteFile) -> int:
    """The rest of the download plus the extracted copy (archives of compressed NIfTI do not shrink)."""
    archive = store.archive_path(root, file)
    part = partial_path(archive)
    downloaded = archive.stat().st_size if archive.exists() else part.stat().st_size if part.exists() else 0
    return max(file.approx_bytes - downloaded, 0) + file.approx_bytes


def _fetch_archive(dataset: Dataset, file: RemoteFile, root: Path, mirror: str | None, **transfer) -> Path:
    """The verified archive in ``downloads/``: downloaded now, or checked again if already there."""
    archive, url = store.archive_path(root, file), file_url(file, mirror)
    recorded = store.recorded_sha256(root, file)
    expected = (Checksum("md5", file.md5) if file.md5 else Checksum("sha256", recorded) if recorded else None)
    if archive.exists():
        if expected is not None and (actual := verify(archive, expected)) is not None:
            archive.unlink()
            raise ChecksumError(f"{archive} has {expected.algorithm} {actual}, expected {expected.hexdigest}: it "
                                f"is damaged and was deleted. Run the same command again to download it anew.")
    else:
        download_file(url, archive, dataset=dataset.name, expected=expected, **transfer)
    if expected is None:
        sha256 = file_digest(archive, "sha256")
        store.record_sha256(root, file, sha256, archive.stat().st_size, url)
        print(f"{file.filename}: no checksum is published, so this first download was trusted and its sha256 "
              f"{sha256} ({archive.stat().st_size} bytes) recorded in {store.downloads_dir(root) / 'checksums.json'}; "
              "later downloads must match it. To be sure, compare it with a colleague's copy.")
    return archive
