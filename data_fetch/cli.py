"""``python -m data_fetch list | info NAME | get NAME [--dest DIR] [--accept-license] [--mirror URL]``."""
from __future__ import annotations

import argparse
import sys

from . import store
from .errors import DataFetchError
from .fetch import MIRROR_ENV, get, info
from .manifests import DATASETS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_fetch",
                                     description="Download public medical imaging datasets for the MedSynth course.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the datasets, their size and licence")
    info_cmd = commands.add_parser("info", help="licence, citation, files and layout of a dataset")
    info_cmd.add_argument("name")
    info_cmd.add_argument("--dest", help="data folder (default: $MEDSYNTH_DATA_DIR or ~/.cache/medsynth)")
    get_cmd = commands.add_parser("get", help="download, verify and extract a dataset (resumes)")
    get_cmd.add_argument("name")
    get_cmd.add_argument("--dest", help="data folder (default: $MEDSYNTH_DATA_DIR or ~/.cache/medsynth)")
    get_cmd.add_argument("--accept-license", action="store_true",
                         help="accept the dataset's licence (read it first with `info`)")
    get_cmd.add_argument("--mirror", help=f"fetch the same file names from this URL (default: ${MIRROR_ENV})")
    get_cmd.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            root = store.data_dir()
            for d in DATASETS.values():
                here = "fetched" if store.is_fetched(d, root) else ""
                print(f"{d.name:20s} {d.approx_bytes / 1e9:5.1f} GB  {d.license:13s} {here:8s} {d.title}")
            print(f"Data folder: {root}. Details: python -m data_fetch info NAME")
        elif args.command == "info":
            print(info(args.name, dest=args.dest))
        else:
            get(args.name, accept_license=args.accept_license, dest=args.dest, mirror=args.mirror,
                progress=not args.no_progress)
    except DataFetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted. Run the same command again to resume.", file=sys.stderr)
        return 130
    return 0
