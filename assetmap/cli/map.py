"""``assetmap map``: registers (+ sites, links, catchments) → one self-contained HTML map."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from assetmap import schema
from assetmap._errors import RegisterError

ORDER = 60

EPILOG = """\
examples:
  assetmap map data/demo/social_enterprises.csv data/demo/community_buildings.csv -o out/map.html
  assetmap map data/demo/*.csv --sites greater-icknield --links out/links.csv \\
      --catchments out/catchments.geojson --title "Greater Icknield" -o out/map.html --png out/map.png
  assetmap map groups.csv --sites none --no-self-contained -o map.html

Each REGISTER is read and geocoded as 'assetmap geocode' would (rows that cannot be placed
are reported and left out). Residents' rows (personal) are shown only as published counts
per area, never as points. The page inlines every script and style, so it works offline
(map tiles excepted) unless --no-self-contained is given.

exit codes:
  0  map written
  2  an input could not be used (register, links, catchments or options)
"""


def add_parser(subparsers: Any) -> None:
    """Add the ``map`` subcommand to the ``assetmap`` parser."""
    parser = subparsers.add_parser(
        "map",
        help="draw registers, sites, links and catchments as one HTML map",
        description=(
            "Read and geocode registers, add the gazetteer's sites and optional links and\n"
            "catchments, and write one HTML map (self-contained by default) and a PNG."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("registers", nargs="+", metavar="REGISTER", help="register files")
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="MAP.html", help="HTML file to write"
    )
    parser.add_argument(
        "--kind",
        default=schema.MICRO,
        choices=schema.KINDS,
        help="side the registers feed (default micro)",
    )
    parser.add_argument(
        "--sites",
        default="greater-icknield",
        metavar="GAZETTEER",
        help="gazetteer name or GeoJSON of macro sites; 'none' for no sites (default greater-icknield)",
    )
    parser.add_argument(
        "--links", type=Path, metavar="LINKS.csv", help="link table from 'assetmap link'"
    )
    parser.add_argument(
        "--catchments",
        type=Path,
        metavar="CATCHMENTS.geojson",
        help="bands from 'assetmap catchments'",
    )
    parser.add_argument("--title", default="assetmap", help="page title and legend heading")
    parser.add_argument(
        "--no-self-contained",
        action="store_true",
        help="link Leaflet and plugins from their CDNs instead of inlining them",
    )
    parser.add_argument("--png", type=Path, metavar="MAP.png", help="also write a static PNG")
    parser.set_defaults(func=run)


def _read_links(path: Path) -> pd.DataFrame:
    """The link table written by ``assetmap link`` (the reader the access command uses)."""
    from assetmap.access import read_links

    try:
        return read_links(path)
    except (OSError, ValueError) as exc:
        msg = f"{path}: cannot read the link table ({exc})"
        raise RegisterError(msg) from exc


def run(args: argparse.Namespace) -> int:
    """Read, geocode, map, save; print row accounting per register."""
    import geopandas as gpd

    from assetmap.gazetteer import sites
    from assetmap.geocode import geocode
    from assetmap.maps import map as build_map
    from assetmap.maps import save
    from assetmap.registers import read_assets

    gazetteer = None if str(args.sites).lower() == "none" else args.sites
    placed: list[gpd.GeoDataFrame] = []
    for path in args.registers:
        register = read_assets(path, kind=args.kind)
        located = geocode(register.assets, gazetteer=gazetteer)
        rejected = len(register.rejects) + len(located.rejects)
        print(
            f"{path}: {register.rows_in} rows in, {len(located.assets)} placed, {rejected} rejected"
        )
        placed.append(located.assets)
    frames = [frame for frame in placed if len(frame)]
    assets = pd.concat(frames) if frames else None
    if assets is not None and not assets.index.is_unique:
        duplicate = assets.index[assets.index.duplicated()][0]
        msg = f"asset_id {duplicate!r} appears in more than one register (ids must be unique across files)"
        raise RegisterError(msg)
    register_assets = gpd.GeoDataFrame(assets, crs=schema.CRS_WGS84) if assets is not None else None
    micro = register_assets if args.kind == schema.MICRO else None
    macro_parts = (
        [register_assets] if args.kind == schema.MACRO and register_assets is not None else []
    )
    if gazetteer is not None:
        macro_parts.append(sites(gazetteer))
    macro = gpd.GeoDataFrame(pd.concat(macro_parts), crs=schema.CRS_WGS84) if macro_parts else None

    links = _read_links(args.links) if args.links is not None else None
    catchments = gpd.read_file(args.catchments) if args.catchments is not None else None
    result = build_map(micro, macro, links=links, catchments=catchments, title=args.title)
    save(result, args.output, self_contained=not args.no_self_contained)
    print(f"wrote {args.output}")
    if args.png is not None:
        from assetmap.maps.static import save_png

        save_png(micro, macro, args.png, links=links, catchments=catchments, title=args.title)
        print(f"wrote {args.png}")
    published = len(getattr(result, "disclosure_log", ()))
    if published:
        print(f"{published} personal counts published (suppressed or rounded), none as points")
    return 0
