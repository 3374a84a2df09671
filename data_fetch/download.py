"""Streaming HTTP download that survives interruptions, and checksums.

MONAI's ``download_url`` (urllib + tqdm + a hash check) would fit, but it has no resume,
retry or time-out: an interruption at 6 of 7 GB starts again from zero. So this module
streams into ``NAME.part`` itself and adds what it lacks:

- resume: an existing ``.part`` is continued with an HTTP Range request; a server that
  ignores Range (answers 200 with the whole file) makes it start again from byte 0;
- retries with exponential back-off after time-outs, dropped connections and 5xx answers;
  a host that refuses the connection or has no address fails at once (offline or blocked:
  retrying would only delay the message);
- atomic placement: the file gets its final name only after its checksum verified, so a
  file under its final name is always complete.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from .errors import ChecksumError, DiskSpaceError, DownloadError

CHUNK_BYTES = 1 << 20
RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}
NETWORK_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException)
logger = logging.getLogger(__name__)


class Checksum(NamedTuple):
    algorithm: str   # "md5" or "sha256"
    hexdigest: str


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: Checksum) -> str | None:
    """None when ``path`` matches, else the digest it has."""
    actual = file_digest(path, expected.algorithm)
    return None if actual == expected.hexdigest else actual


def check_free_space(folder: Path, needed_bytes: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise DiskSpaceError(f"{what} needs about {needed_bytes / 1e9:.1f} GB free in {folder}, which has "
                             f"{free / 1e9:.1f} GB. Free some space, or choose another folder with --dest DIR "
                             "(Python: dest=...) or MEDSYNTH_DATA_DIR.")


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download_file(url: str, dest: Path, *, dataset: str, expected: Checksum | None, progress: bool = True,
                  retries: int = 4, timeout_s: float = 60.0, backoff_s: float = 1.0) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part`` (resumed if present), verify it
    against ``expected`` (None: nothing to check against yet) and move it into place."""
    part = partial_path(dest)
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout_s=timeout_s, progress=progress, label=f"{dataset}: {dest.name}")
            break
        except urllib.error.HTTPError as err:
            if err.code not in RETRYABLE_HTTP or attempt == retries:
                raise DownloadError(dataset, url, f"the server answered HTTP {err.code} {err.reason}") from err
            reason = f"HTTP {err.code}"
        except NETWORK_ERRORS as err:
            cause = getattr(err, "reason", err)
            if isinstance(cause, (ConnectionRefusedError, socket.gaierror)) or attempt == retries:
                raise DownloadError(dataset, url, f"{type(cause).__name__}: {cause}") from err
            reason = f"{type(cause).__name__}: {cause}"
        wait = backoff_s * 2**attempt
        logger.warning("%s: %s; retrying in %.1f s (attempt %d of %d), resuming what arrived",
                       url, reason, wait, attempt + 2, retries + 1)
        time.sleep(wait)
    if expected is not None and (actual := verify(part, expected)) is not None:
        part.unlink()  # resuming a corrupt file can never succeed
        raise ChecksumError(f"{dataset}: {dest.name} from {url} has {expected.algorithm} {actual}, expected "
                            f"{expected.hexdigest}. The transfer was corrupted or the server holds another file; "
                            "nothing was kept. Run the same command again; if this repeats, the server or mirror "
                            "serves a different file.")
    os.replace(part, dest)
    return dest


def _transfer(url: str, part: Path, *, timeout_s: float, progress: bool, label: str) -> None:
    """One attempt: continue ``part`` from its current size up to the server's length."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "medsynth-data-fetch"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            return  # nothing after `offset`: the part already holds the whole file (the checksum decides)
        raise
    with response:
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                part.unlink()
                raise ConnectionError(f"the server sent bytes from {start}, not {offset}; starting again")
        else:
            if offset:
                logger.warning("%s ignored the Range request; downloading from the start", url)
            offset, total = 0, _int_or_none(response.headers.get("Content-Length"))
        with open(part, "ab" if offset else "wb") as f, \
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                     disable=not progress, leave=False) as bar:
            while chunk := response.read(CHUNK_BYTES):
                f.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        # http.client returns a short body without raising when the connection drops.
        raise ConnectionError(f"the connection closed after {size} of {total} bytes")


def _content_range(value: str) -> tuple[int, int | None]:
    """``"bytes 100-199/200"`` -> (100, 200); the total may be ``*`` (unknown)."""
    try:
        _, _, spec = value.partition(" ")
        span, _, total = spec.partition("/")
        return int(span.split("-")[0]), _int_or_none(total)
    except ValueError:
        raise ConnectionError(f"unreadable Content-Range {value!r}") from None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
