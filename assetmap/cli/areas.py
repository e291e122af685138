"""``assetmap areas``: per-LSOA (or ward) table of assets, deprivation, population and access."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

ORDER = 46

EPILOG = """\
examples:
  micro-assets per LSOA with IMD 2019 decile and Census 2021 population:
    assetmap areas social_enterprises.csv residents_skills.csv -o out/areas.csv
  the same per Sandwell ward:
    assetmap areas social_enterprises.csv --level ward -o out/wards.csv
  with DfT-style access columns (average minimum minutes to each site category, share within
  15/30/45/60 minutes) and the skills gap, from a link table:
    assetmap link residents_skills.csv greater-icknield --rules default --include-personal \\
        -o out/links-private.csv
    assetmap areas residents_skills.csv --links out/links-private.csv --sites greater-icknield \\
        --gaps resident_skill -o out/areas.csv --disclosure-log out/disclosure-log.csv

ASSETS are registers (CSV, XLSX, GeoJSON, GPKG, Parquet), read and geocoded as 'assetmap
check' and the geocoder would; a GeoJSON of placed assets works too. Personal rows (residents'
skills, community researchers) appear only as counts with small-count suppression: 1-7 shown
as '<8', others rounded to 5, '*' where a total would give a hidden cell away.

Boundaries, IMD 2019 and Census 2021 come from the data folder ('make data'); LSOA boundaries
cover Birmingham and Sandwell, ward boundaries Sandwell only.

exit codes:
  0  table written
  1  boundaries are not installed (run 'make data')
  2  an input could not be used
"""


def add_parser(subparsers: Any) -> None:
    """Add the ``areas`` subcommand to the ``assetmap`` parser."""
    parser = subparsers.add_parser(
        "areas",
        help="per-area table of assets, deprivation, population and access (suppressed)",
        description=(
            "Count micro-assets per LSOA or ward (personal ones suppressed), add IMD 2019 and\n"
            "Census 2021 population, and with --links the DfT-style access measures."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("assets", metavar="ASSETS", nargs="+", type=Path, help="registers")
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="AREAS.csv", help="table to write"
    )
    parser.add_argument(
        "--level", choices=("lsoa", "ward"), default="lsoa", help="areas (default lsoa)"
    )
    parser.add_argument(
        "--boundaries", type=Path, metavar="FILE", help="boundary file instead of the installed one"
    )
    parser.add_argument(
        "--links", type=Path, metavar="LINKS.csv", help="links from 'assetmap link'"
    )
    parser.add_argument(
        "--sites", metavar="GAZETTEER", help="gazetteer of the linked sites (their categories)"
    )
    parser.add_argument(
        "--gaps",
        metavar="CATEGORY[,CATEGORY]",
        help="add gap columns: micro-assets of these categories with nothing within reach",
    )
    parser.add_argument(
        "--postcodes", type=Path, metavar="FILE", help="postcode directory for geocoding"
    )
    parser.add_argument(
        "--disclosure-log", type=Path, metavar="LOG.csv", help="write every suppressed cell"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load areas and assets, build the table, write it atomically."""
    from assetmap import areas as area_data
    from assetmap._errors import DataError
    from assetmap._io import write_csv
    from assetmap.privacy import empty_disclosure_log, write_disclosure_log

    if (args.sites is not None or args.gaps is not None) and args.links is None:
        print("assetmap areas: error: --sites and --gaps need --links", file=sys.stderr)
        return 2
    try:
        if args.level == "lsoa":
            polygons = area_data.load_lsoa(path=args.boundaries)
            area_id = "lsoa_code"
        else:
            polygons = area_data.load_wards(path=args.boundaries)
            area_id = "ward_code"
    except DataError as exc:
        print(f"assetmap areas: {exc}", file=sys.stderr)
        print(
            f"assetmap areas: {args.level} boundaries are missing: run `make data`",
            file=sys.stderr,
        )
        return 1
    imd = population = None
    if args.level == "lsoa":
        try:
            imd = area_data.load_imd()
            population = area_data.load_population()
        except DataError as exc:
            imd = population = None
            print(f"note: no IMD/population columns ({exc})", file=sys.stderr)

    micro = _assets(args.assets, postcodes=args.postcodes)
    try:
        table, log = _table(args, micro, polygons, area_id, imd, population)
    except (OSError, ValueError) as exc:
        print(f"assetmap areas: error: {exc}", file=sys.stderr)
        return 2
    out = table.round(_rounding(table))
    write_csv(out, args.output)
    if args.disclosure_log is not None:
        frame = pd.DataFrame.from_records(log) if log else empty_disclosure_log()
        write_disclosure_log(frame, args.disclosure_log)
    outside = int(table.attrs.get("assets_outside_areas", 0))
    public = table.filter(regex=r"^n_").sum(axis=1).to_numpy() > 0
    private = (
        table["personal_total"].astype("str").to_numpy() != "0"
        if "personal_total" in table
        else False
    )
    with_assets = public | private
    print(
        f"{len(micro)} assets in {len(table)} {args.level} areas "
        f"({int(with_assets.sum())} areas with assets; {outside} assets outside every area)"
    )
    written = f"wrote {len(out)} rows to {args.output}"
    if args.disclosure_log is not None:
        written += f" and {len(log)} logged cells to {args.disclosure_log}"
    print(written)
    return 0


def _table(
    args: argparse.Namespace,
    micro: gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    area_id: str,
    imd: pd.DataFrame | None,
    population: pd.DataFrame | None,
) -> tuple[pd.DataFrame, list[dict[Any, Any]]]:
    from assetmap.areas import profile

    if args.links is None:
        table = profile(micro, polygons, area_id=area_id, imd=imd, population=population)
        log = list(table.attrs.get("disclosure_log", []))
    else:
        from assetmap.access import read_links
        from assetmap.equity import area_table, gaps

        links = read_links(args.links)
        macro = None
        if args.sites is not None:
            from assetmap.cli.link import load_assets

            macro = load_assets(args.sites, kind="macro", postcodes=args.postcodes)
        table = area_table(
            micro,
            links,
            polygons,
            area_id=area_id,
            macro=macro,
            imd=imd,
            population=population,
        )
        log = list(table.attrs["disclosure_log"])
        if args.gaps is not None:
            categories = [c.strip() for c in args.gaps.split(",") if c.strip()]
            gap = gaps(micro, links, polygons, area_id=area_id, categories=categories)
            log += gap.attrs["disclosure_log"]
            shared = {area_id, "lsoa_name", "ward_name", *table.columns}
            extra = gap.drop(columns=[c for c in gap.columns if c in shared])
            attrs = table.attrs
            table = table.join(extra.add_prefix("gaps_"))
            table.attrs = attrs
    names = {"lsoa_code": "lsoa_name", "ward_code": "ward_name"}
    if area_id in names and names[area_id] in polygons and names[area_id] not in table:
        table.insert(1, names[area_id], polygons[names[area_id]].astype("str").to_numpy())
    return table, log


def _rounding(table: pd.DataFrame) -> dict[str, int]:
    """Round at output only: 0.1 minute or metre for averages, 3 decimals for shares."""
    rounding: dict[str, int] = {}
    for column in table.columns:
        name = str(column)
        if "avg_" in name:
            rounding[name] = 1
        elif name.startswith("share_within_"):
            rounding[name] = 3
    return rounding


def _assets(paths: list[Path], *, postcodes: Path | None) -> gpd.GeoDataFrame:
    from assetmap._errors import RegisterError
    from assetmap.geocode import geocode
    from assetmap.registers import read_assets

    frames = []
    for path in paths:
        if not path.exists():
            msg = f"{path}: no such register file"
            raise RegisterError(msg)
        register = read_assets(path, kind="micro")
        placed = geocode(register.assets, postcodes=postcodes)
        rejected = len(register.rejects) + len(placed.rejects)
        if rejected:
            print(
                f"{path}: {register.rows_in} rows, {len(placed.assets)} placed, {rejected} "
                "rejected (run 'assetmap check' for the reasons)",
                file=sys.stderr,
            )
        frames.append(placed.assets.to_crs("EPSG:4326"))
    combined = pd.concat(frames)
    if not combined.index.is_unique:
        dup = combined.index[combined.index.duplicated()][0]
        msg = f"asset id {dup!r} appears in more than one register (expected unique ids)"
        raise RegisterError(msg)
    return gpd.GeoDataFrame(combined, geometry=combined.geometry.name, crs="EPSG:4326")
