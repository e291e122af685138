"""``assetmap data``: install the real open data (and, when online, a street network)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ORDER = 5

EPILOG = """\
examples:
  ASSETMAP_DATA_MIRROR=../shared/data assetmap data      copy and verify every dataset
  assetmap data --only codepoint imd                     just these two
  assetmap data --list                                   what there is, licences, sources
  assetmap data --network greater-icknield               download the walking network (online)
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "data",
        help="install the real open data into data/external (make data)",
        description=(
            "Copy the open datasets from $ASSETMAP_DATA_MIRROR (checksum-verified) or download "
            "them from their publishers into data/external/ (git-ignored), and record a MANIFEST.json."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", nargs="+", metavar="KEY", help="install only these datasets")
    parser.add_argument("--list", action="store_true", help="list the datasets and exit")
    parser.add_argument("--dest", type=Path, help="install here instead of data/external")
    parser.add_argument(
        "--mirror", type=Path, help="copy from this folder (default $ASSETMAP_DATA_MIRROR)"
    )
    parser.add_argument(
        "--network",
        metavar="AREA",
        help="also download the street network for AREA (e.g. greater-icknield); needs internet",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from assetmap import datasets

    if args.list:
        for d in datasets.DATASETS:
            print(f"{d.key:<13} {d.relpath}\n{'':<13} {d.title}; {d.licence}; {d.url}")
        print("not included: " + "; ".join(datasets.NOT_INCLUDED))
        return 0
    outcomes = datasets.install(args.only, dest=args.dest, mirror=args.mirror)
    failed = 0
    for outcome in outcomes:
        line = f"{outcome.status:<10} {outcome.dataset.relpath}"
        if outcome.status == "failed":
            failed += 1
            print(f"{line}: {outcome.detail}", file=sys.stderr)
        else:
            print(line)
    if args.network:
        failed += _network(args.network, args.dest)
    if failed:
        print(
            f"{failed} dataset(s) not installed: set $ASSETMAP_DATA_MIRROR to a local copy or go online; "
            "`make maps` still works on the committed demo data.",
            file=sys.stderr,
        )
        return 1
    return 0


def _network(area: str, dest: Path | None) -> int:
    from assetmap import network
    from assetmap._errors import NetworkError
    from assetmap._paths import data_dir

    bboxes = {"greater-icknield": network.GREATER_ICKNIELD_BBOX}
    if area not in bboxes:
        print(
            f"no bounding box known for {area!r} (expected one of {sorted(bboxes)})",
            file=sys.stderr,
        )
        return 1
    target = (dest or data_dir()) / "networks" / f"{area}-walk.graphml"
    if target.exists():
        print(f"present    {target}")
        return 0
    import osmnx as ox

    from assetmap._http import reachable

    if not reachable(ox.settings.overpass_url):
        print(
            f"network {area}: offline (cannot reach {ox.settings.overpass_url}); links and "
            "catchments there stay straight-line until you run this again online"
        )
        return 0
    try:
        network.download_network(bboxes[area], target, mode="walk")
    except NetworkError as exc:
        print(
            f"network {area}: {exc}; links and catchments there stay straight-line", file=sys.stderr
        )
        return 1
    print(f"downloaded {target}")
    return 0
