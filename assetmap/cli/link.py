"""``assetmap link``: link micro-assets to macro-assets and write the link table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from assetmap.cli._engine import add_engine_arguments, run_link

ORDER = 30

EPILOG = """\
examples:
  straight line, nearest site of the Greater Icknield gazetteer for each social enterprise:
    assetmap link social_enterprises.csv greater-icknield -o out/links.csv
  the USE-IT! rules (assetmap/data/rules/default.toml) on a walking network:
    assetmap link skills.csv greater-icknield --rules default \\
        --network smethwick.osm.pbf -o out/links.csv --unreached out/unreached.csv
  the 3 nearest sites within a 20-minute walk:
    assetmap link buildings.csv sites.geojson --network rutland.osm.pbf --mode walk \\
        --max-minutes 20 --k 3 -o links.csv
  every GB postcode to its nearest site, on 2 local dask workers (pip install "assetmap[scale]"):
    assetmap link all_gb.parquet greater-icknield --k 1 --engine dask --workers 2 -o links.csv

MICRO and MACRO are register files (CSV, XLSX, GeoJSON, GPKG, Parquet) read and geocoded as
'assetmap check' and the geocoder would; MACRO may also be a gazetteer name
(e.g. greater-icknield). Rows of personal micro-assets (residents' skills, community
researchers) are linked but left out of the files unless --include-personal is given.

exit codes:
  0  links written (some micro-assets may be unreached: see the summary)
  2  an input could not be used (file, CRS, rules or network)
"""


def add_parser(subparsers: Any) -> None:
    """Add the ``link`` subcommand to the ``assetmap`` parser."""
    parser = subparsers.add_parser(
        "link",
        help="link micro-assets to macro-assets (straight line or street network)",
        description=(
            "Link each micro-asset to the macro-assets within reach, by straight line or over\n"
            "a street network, optionally by rules, and write the link table as CSV."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("micro", metavar="MICRO", help="register of micro-assets")
    parser.add_argument(
        "macro", metavar="MACRO", help="register of macro-assets or a gazetteer name"
    )
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="LINKS.csv", help="link table to write"
    )
    parser.add_argument(
        "--network", type=Path, metavar="OSMFILE", help="street network (.osm.pbf, .osm, .graphml)"
    )
    parser.add_argument(
        "--mode",
        choices=("walk", "cycle", "drive", "straight"),
        help="travel mode (default: walk with --network, else straight)",
    )
    parser.add_argument("--max-minutes", type=float, metavar="N", help="reach in minutes")
    parser.add_argument("--within-m", type=float, metavar="N", help="reach in metres")
    parser.add_argument("--k", type=int, metavar="N", help="keep the N nearest sites within reach")
    parser.add_argument(
        "--rules",
        metavar="RULES.toml",
        help="link rules file, or 'default' for the USE-IT! pairings",
    )
    parser.add_argument(
        "--unreached", type=Path, metavar="UNREACHED.csv", help="write unreached micro-assets"
    )
    parser.add_argument(
        "--postcodes",
        type=Path,
        metavar="FILE",
        help="postcode directory (Code-Point Open zip or ONSPD CSV) for geocoding",
    )
    parser.add_argument(
        "--snap-tolerance-m",
        type=float,
        default=250.0,
        metavar="N",
        help="assets farther than this from the network use a straight line (default 250)",
    )
    parser.add_argument(
        "--include-personal",
        action="store_true",
        help="also write rows of personal micro-assets (for the data steward only; never publish)",
    )
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read, geocode, link and write; print a summary by rule."""
    from assetmap import rules as rules_module
    from assetmap.network import load_network

    if args.mode == "straight" and args.network is not None:
        print("assetmap link: error: --mode straight ignores --network; drop one", file=sys.stderr)
        return 2
    micro = load_assets(args.micro, kind="micro", postcodes=args.postcodes)
    macro = load_assets(args.macro, kind="macro", postcodes=args.postcodes)
    network = None
    if args.network is not None:
        mode = args.mode or "walk"
        network = load_network(args.network, mode=mode, progress=True)
    rules = None
    if args.rules is not None:
        if args.max_minutes is not None or args.within_m is not None:
            print(
                "assetmap link: error: with --rules each rule sets its own reach; "
                "drop --max-minutes/--within-m or edit the rules file",
                file=sys.stderr,
            )
            return 2
        rules = (
            rules_module.default()
            if args.rules == "default"
            else rules_module.parse_rules(Path(args.rules))
        )
    mode = None
    if rules is None and args.mode is not None:
        mode = "euclidean" if args.mode == "straight" else args.mode
    table = run_link(
        args,
        micro,
        macro,
        k=args.k,
        within_m=args.within_m,
        max_minutes=args.max_minutes,
        mode=mode,
        rules=rules,
        network=network,
        snap_tolerance_m=args.snap_tolerance_m,
    )
    links, unreached = table.links, table.unreached
    withheld = 0
    if not args.include_personal and "personal" in micro:
        personal_ids = set(micro.index[micro["personal"].fillna(False).astype(bool)].astype(str))
        withheld = len(personal_ids)
        links = links[~links["micro_id"].isin(personal_ids)]
        unreached = unreached[~unreached["micro_id"].isin(personal_ids)]
    from assetmap._io import write_csv

    write_csv(
        links.round({"metres": 1, "minutes": 1, "snap_m_micro": 1, "snap_m_macro": 1, "score": 4}),
        args.output,
    )
    if args.unreached is not None:
        write_csv(unreached, args.unreached)
    print(
        f"{len(table.micro_ids)} micro-assets × {len(macro)} macro-assets: {len(table.links)} links, "
        f"{table.links.loc[table.links['within_reach'], 'micro_id'].nunique()} micro-assets within reach, "
        f"{table.unreached['micro_id'].nunique()} unreached"
    )
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(table.summary().to_string())
    for note in table.notes:
        print(f"note: {note}")
    written = f"wrote {len(links)} links to {args.output}"
    if args.unreached is not None:
        written += f" and {len(unreached)} unreached rows to {args.unreached}"
    if withheld:
        written += f" ({withheld} personal micro-assets left out; --include-personal to keep them)"
    print(written)
    return 0


def load_assets(source: str, *, kind: str, postcodes: Path | None) -> gpd.GeoDataFrame:
    """A register file read and geocoded, or (for macro-assets) a gazetteer by name."""
    from assetmap._errors import RegisterError

    path = Path(source)
    if not path.exists():
        if kind == "macro":
            from assetmap.gazetteer import available, sites

            if source in available():
                return sites(source)
            msg = (
                f"{source}: no such file, and not a gazetteer (available: {', '.join(available())})"
            )
        else:
            msg = f"{source}: no such register file"
        raise RegisterError(msg)
    from assetmap.geocode import geocode
    from assetmap.registers import read_assets

    register = read_assets(path, kind=kind)
    placed = geocode(register.assets, postcodes=postcodes)
    rejected = len(register.rejects) + len(placed.rejects)
    if rejected:
        print(
            f"{path}: {register.rows_in} rows, {len(placed.assets)} placed, {rejected} rejected "
            "(run 'assetmap check' for the reasons)",
            file=sys.stderr,
        )
    return placed.assets
