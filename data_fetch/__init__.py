"""Real public datasets (MSD BrainTumour, IXI, SynthRAD2023) for the course, fetched safely.

    python -m data_fetch list | info NAME | get NAME [--dest DIR] [--accept-license] [--mirror URL]

or from Python: ``data_fetch.get("msd_brain", accept_license=True)``, ``data_fetch.info(...)``,
``data_fetch.list_datasets()``. Then ``load_dataset("msd_brain", profile=p)`` gives the same
``SynthesisData`` as the phantom. See data_fetch/README.md.
"""
from .errors import (
                     ChecksumError,
                     DataFetchError,
                     DiskSpaceError,
                     DownloadError,
                     LicenseNotAcceptedError,
                     NotFetchedError,
                     UnknownDatasetError,
                     UnsafeArchiveError,
)
from .fetch import get, info, list_datasets
from .manifests import DATASETS, Dataset, RemoteFile, manifest, with_checksums
from .store import data_dir, require_fetched

__all__ = ["get", "info", "list_datasets", "manifest", "with_checksums", "data_dir", "require_fetched",
           "DATASETS", "Dataset", "RemoteFile", "DataFetchError", "ChecksumError", "DiskSpaceError",
           "DownloadError", "LicenseNotAcceptedError", "NotFetchedError", "UnknownDatasetError",
           "UnsafeArchiveError"]
