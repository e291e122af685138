"""``assetmap build``: the map bundle described by an ``assetmap.toml`` (``make maps``)."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 70

EPILOG = """\
examples:
  assetmap build                                  uses ./assetmap.toml, writes dist/maps/
  assetmap build assetmap.toml -o dist/maps       the same, explicitly (make maps)
  assetmap build --only hospital-opportunities    rebuild one map, keep the others

The bundle is built in a staging folder and swapped in when complete: a failed build
leaves the previous bundle untouched. Open dist/maps/index.html in a browser.
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build the map bundle from assetmap.toml (make maps)",
        description=(
            "Read the registers, geocode them, link them to the sites by the rules, and write "
            "self-contained HTML maps, PNGs, data downloads, a manifest and a disclosure log."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config",
        nargs="?",
        default="assetmap.toml",
        type=Path,
        help="project config (default ./assetmap.toml)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="bundle folder (default: [project] output)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="MAPNAME",
        help="build only this map (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from assetmap.bundle import build

    result = build(
        args.config,
        output=args.output,
        only=args.only,
        progress=not args.no_progress and not args.quiet,
    )
    manifest = result.manifest
    for row in manifest["row_accounting"]:
        rejected = (
            row["read_rejected"] + row["duplicate_across_registers"] + row["geocode_rejected"]
        )
        print(
            f"  {Path(row['source']).name}: {row['rows_in']} rows, {row['placed']} placed, {rejected} rejected"
        )
    links = manifest["links"]
    print(
        f"  links: {links['rows']} ({links['within_reach']} within reach), {links['unreached']} unreached"
    )
    for line in result.skipped:
        print(f"  skipped: {line}")
    print(
        f"wrote {len(result.maps)} maps to {result.output}/ — open {result.output / 'index.html'}"
    )
    return 0
