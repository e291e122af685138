"""``assetmap geocode``: read a register, place every row, write the assets and the rejects."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from assetmap.cli._engine import add_engine_arguments, run_geocode

if TYPE_CHECKING:
    import geopandas as gpd

ORDER = 20

#: Output formats by extension (assetmap._io.write_frame).
OUTPUT_SUFFIXES = (".geojson", ".json", ".gpkg", ".csv", ".parquet")

EPILOG = """\
examples:
  assetmap geocode data/demo/social_enterprises.csv -o placed.geojson
  assetmap geocode sites.xlsx --kind macro --category development_site -o sites.gpkg
  assetmap geocode groups.csv --columns 'Post Code=postcode,Organisation=name' -o groups.csv
  assetmap geocode groups.csv -o groups.parquet --rejects fix-these.csv
  assetmap geocode groups.csv -o groups.geojson --postcodes data/external/codepoint_gb/codepo_gb.zip
  assetmap geocode groups.csv -o groups.geojson --online --user-agent 'assetmap (you@example.org)'
  assetmap geocode all_gb.parquet -o placed.parquet --engine dask --workers 2
  assetmap geocode all_gb.parquet -o placed.parquet --engine dask --scheduler tcp://scheduler.example.org:8786

Each row is placed by the first step that works: coordinates in the row (lat/lon or
easting/northing), the offline postcode directory, the gazetteer by name, and, only with
--online, postcodes.io then Nominatim. Rows nobody could place go to the rejects CSV (default
OUTPUT's name + .rejects.csv) with the file, line, column, value and what was expected.
Rows marked personal (residents) are placed but not written to OUTPUT unless
--include-personal is given; they are never sent online.

exit codes: 0 done (even with rejects); 2 unusable input file or options.
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "geocode",
        help="place a register's rows on the map (coordinates, postcode, gazetteer, online)",
        description=(
            "Read a register (CSV, XLSX, GeoJSON, GPKG, Parquet), place every row by its "
            "coordinates, postcode or name, and write the placed assets and a rejects table."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, metavar="INPUT", help="register file")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="placed assets: .geojson, .gpkg, .csv or .parquet (by extension)",
    )
    parser.add_argument(
        "--kind", choices=("micro", "macro"), default="micro", help="register side (default micro)"
    )
    parser.add_argument("--category", help="category for rows whose category cell is empty")
    parser.add_argument(
        "--columns",
        type=parse_columns,
        metavar="'HEADER=column,...'",
        help="map register headers to standard columns, e.g. 'Post Code=postcode'",
    )
    parser.add_argument(
        "--rejects", type=Path, help="rejects CSV (default: OUTPUT's name + .rejects.csv)"
    )
    parser.add_argument(
        "--postcodes",
        type=Path,
        help="postcode directory: codepo_gb.zip, a Code-Point CSV or ONSPD CSV "
        "(default: the installed Code-Point Open, else the packaged extract)",
    )
    parser.add_argument(
        "--gazetteer",
        default="greater-icknield",
        help="gazetteer name or .geojson path for name matching, or 'none' (default greater-icknield)",
    )
    parser.add_argument(
        "--fuzzy-threshold",
        type=float,
        default=90.0,
        metavar="SCORE",
        help="least fuzzy name score 0-100 (default 90)",
    )
    parser.add_argument(
        "--disagree-m",
        type=float,
        default=1000.0,
        metavar="METRES",
        help="note rows whose coordinates and postcode are further apart (default 1000)",
    )
    parser.add_argument(
        "--online", action="store_true", help="ask postcodes.io and Nominatim (extra 'online')"
    )
    parser.add_argument(
        "--user-agent",
        metavar="UA",
        help="identifying User-Agent for --online, e.g. 'assetmap (contact: you@example.org)'",
    )
    parser.add_argument(
        "--include-personal",
        action="store_true",
        help="also write rows marked personal to OUTPUT (keep that file private)",
    )
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def parse_columns(text: str) -> dict[str, str]:
    """``"Post Code=postcode, Organisation=name"`` → ``{"Post Code": "postcode", ...}``."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        header, sep, column = part.partition("=")
        if not sep or not header.strip() or not column.strip():
            msg = f"{part.strip()!r} is not HEADER=column (expected e.g. 'Post Code=postcode')"
            raise argparse.ArgumentTypeError(msg)
        mapping[header.strip()] = column.strip()
    return mapping


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from assetmap import schema
    from assetmap._io import write_csv, write_frame
    from assetmap.geocode import summary
    from assetmap.registers import read_assets

    output: Path = args.output
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        print(
            f"assetmap geocode: error: cannot write {output}: unknown extension "
            f"{output.suffix!r} (expected one of {', '.join(OUTPUT_SUFFIXES)})",
            file=sys.stderr,
        )
        return 2
    rejects_path: Path = args.rejects or output.with_name(output.stem + ".rejects.csv")
    gazetteer = None if str(args.gazetteer).lower() == "none" else args.gazetteer

    register = read_assets(args.input, kind=args.kind, columns=args.columns, category=args.category)
    placed = run_geocode(
        args,
        register.assets,
        postcodes=args.postcodes,
        gazetteer=gazetteer,
        online=args.online,
        user_agent=args.user_agent,
        fuzzy_threshold=args.fuzzy_threshold,
        disagree_m=args.disagree_m,
        progress=args.online and sys.stderr.isatty() and not args.quiet,
    )
    assets = placed.assets
    personal = assets["personal"].astype(bool) if "personal" in assets else None
    withheld = 0
    if personal is not None and not args.include_personal:
        withheld = int(personal.sum())
        assets = assets[~personal]
    parts = [r for r in (register.rejects, placed.rejects) if len(r)]
    rejects = pd.concat(parts, ignore_index=True) if parts else schema.empty_rejects()
    rejects = rejects.sort_values("source_line", kind="stable", na_position="last")

    write_frame(_flat(assets), output)
    write_csv(rejects, rejects_path)

    if not args.quiet:
        read_reasons = ", ".join(f"{k} {v}" for k, v in register.reasons().items())
        print(f"input: {args.input} ({register.rows_in} data rows)")
        print(
            f"read: {len(register.assets)} accepted, {len(register.rejects)} rejected"
            + (f" ({read_reasons})" if read_reasons else "")
        )
        print(summary(placed).split("\n", 1)[1])
        print(f"wrote: {output} ({len(assets)} assets), {rejects_path} ({len(rejects)} rejects)")
        if withheld:
            print(
                f"withheld: {withheld} personal rows placed but not written "
                "(privacy; --include-personal writes them to a file you keep private)"
            )
    return 0


def _flat(assets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Extra geometry columns (a spatial register's ``footprint``) as WKT text for writing."""
    import geopandas as gpd

    active = assets.geometry.name
    extra = [
        c
        for c in assets.columns
        if c != active and isinstance(assets[c].dtype, gpd.array.GeometryDtype)
    ]
    return assets.assign(**{c: assets[c].to_wkt() for c in extra}) if extra else assets
