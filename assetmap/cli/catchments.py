"""``assetmap catchments``: travel-time bands around macro-assets, written as GeoJSON/GPKG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ORDER = 40

EPILOG = """\
examples:
  10/20/30-minute walking bands around every Greater Icknield site (straight-line discs,
  labelled 'euclidean', when no network is given):
    assetmap catchments greater-icknield -o out/catchments.geojson
  on a street network, 15 and 30 minutes:
    assetmap catchments sites.geojson --network rutland.osm.pbf --minutes 15,30 \\
        -o out/catchments.gpkg

MACRO is a register file of macro-assets (read and geocoded) or a gazetteer name. The output
format follows the extension (.geojson, .gpkg, .parquet, .csv); geometry is EPSG:4326.
"""


def _minutes(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        msg = f"{text!r} is not a comma-separated list of minutes (expected e.g. 10,20,30)"
        raise argparse.ArgumentTypeError(msg) from exc
    if not values or any(not (v > 0) for v in values):
        msg = f"{text!r}: minutes must be positive numbers (expected e.g. 10,20,30)"
        raise argparse.ArgumentTypeError(msg)
    return values


def add_parser(subparsers: Any) -> None:
    """Add the ``catchments`` subcommand to the ``assetmap`` parser."""
    parser = subparsers.add_parser(
        "catchments",
        help="travel-time bands (isochrones) around macro-assets",
        description=(
            "Compute walking or driving bands around each macro-asset from a street network\n"
            "(reachable streets buffered and dissolved), or straight-line discs without one."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "macro", metavar="MACRO", help="register of macro-assets or a gazetteer name"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="CATCHMENTS.geojson",
        help="file to write",
    )
    parser.add_argument("--network", type=Path, metavar="OSMFILE", help="street network file")
    parser.add_argument(
        "--minutes",
        type=_minutes,
        default=(10.0, 20.0, 30.0),
        metavar="10,20,30",
        help="band limits",
    )
    parser.add_argument(
        "--mode", choices=("walk", "cycle", "drive"), default="walk", help="travel mode"
    )
    parser.add_argument(
        "--edge-buffer-m",
        type=float,
        default=50.0,
        metavar="N",
        help="metres either side of a reachable street inside the band (default 50)",
    )
    parser.add_argument(
        "--postcodes", type=Path, metavar="FILE", help="postcode directory for geocoding MACRO"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute the bands, write them and print the area of each."""
    from assetmap._io import write_frame
    from assetmap.catchments import catchments
    from assetmap.cli.link import load_assets
    from assetmap.network import load_network

    macro = load_assets(args.macro, kind="macro", postcodes=args.postcodes)
    network = None
    if args.network is not None:
        network = load_network(args.network, mode=args.mode, progress=True)
    bands = catchments(
        macro,
        network=network,
        minutes=args.minutes,
        mode=args.mode,
        edge_buffer_m=args.edge_buffer_m,
    )
    write_frame(bands, args.output)
    table = bands.assign(km2=(bands["area_m2"] / 1e6).round(2)).pivot_table(
        index="macro_id", columns="band_minutes", values="km2", aggfunc="first"
    )
    table.columns = [f"{c:g} min km²" for c in table.columns]
    modes = bands.groupby("macro_id")["mode"].first()
    print(table.assign(mode=modes).to_string())
    for site in bands.attrs.get("unplaced", []):
        print(f"note: site {site} has no location and no catchment")
    print(f"wrote {len(bands)} bands for {bands['macro_id'].nunique()} sites to {args.output}")
    return 0
