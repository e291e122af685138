"""``assetmap init``: write a commented starter ``assetmap.toml`` for a new area."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assetmap._io import atomic_open
from assetmap._paths import PACKAGE_DATA

ORDER = 1

EPILOG = """\
examples:
  assetmap init                       writes ./assetmap.toml
  assetmap init projects/oakham.toml --area rutland
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write a commented starter assetmap.toml",
        description="Write a starter project config with every section explained, ready to edit.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", default="assetmap.toml", type=Path)
    parser.add_argument(
        "--area", default="greater-icknield", help="gazetteer name or GeoJSON of the sites"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.path.exists() and not args.force:
        print(f"{args.path} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    template = (PACKAGE_DATA / "assetmap.template.toml").read_text(encoding="utf-8")
    with atomic_open(args.path, "w", encoding="utf-8") as fh:
        fh.write(template.replace("{area}", args.area))
    print(f"wrote {args.path}: edit the [[register]] paths, then run `assetmap build {args.path}`")
    return 0
