"""What can go wrong when fetching a dataset, each with a message that says what to do.

The CLI prints ``str(error)`` of any ``DataFetchError`` without a traceback.
"""
from __future__ import annotations

OFFLINE_ALTERNATIVE = ('Offline, every chapter runs on the embedded phantom: load_dataset("phantom"). '
                       "A course may also serve the files locally: set MEDSYNTH_DATA_MIRROR=http://HOST/PATH "
                       "or pass --mirror (see data_fetch/README.md).")


class DataFetchError(Exception):
    """Base class: a problem the user can act on."""


class UnknownDatasetError(DataFetchError, ValueError):
    pass


class LicenseNotAcceptedError(DataFetchError, PermissionError):
    pass


class DownloadError(DataFetchError, ConnectionError):
    """The server could not be reached or kept failing: offline, blocked, or moved."""

    def __init__(self, dataset: str, url: str, reason: str):
        self.dataset, self.url, self.reason = dataset, url, reason
        super().__init__(f"Could not download {dataset} from {url}: {reason}. You may be offline, or a firewall "
                         f"blocks the server. {OFFLINE_ALTERNATIVE}")


class ChecksumError(DataFetchError):
    pass


class DiskSpaceError(DataFetchError, OSError):
    pass


class UnsafeArchiveError(DataFetchError):
    pass


class NotFetchedError(DataFetchError, FileNotFoundError):
    pass
