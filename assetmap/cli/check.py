"""``assetmap check``: read registers and report, row by row, what was rejected and why."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from assetmap import schema
from assetmap._errors import RegisterError

ORDER = 10

#: Reject messages printed per file (all of them go to ``--rejects``).
SHOWN_MESSAGES = 20

EPILOG = """\
examples:
  assetmap check data/registers/social_enterprises.csv --kind micro
  assetmap check skills.xlsx buildings.csv --kind micro \\
      --columns 'Organisation=name,Post Code=postcode' --rejects out/rejects.csv

exit codes:
  0  every file could be read (rows may still have been rejected: see the report)
  2  a file could not be used at all (encoding, missing columns, unknown format)
"""


def parse_columns(text: str) -> dict[str, str]:
    """Parse ``'Organisation=name,Post Code=postcode'`` into a header → column mapping."""
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        header, sep, target = pair.partition("=")
        if not sep or not header.strip() or not target.strip():
            msg = f"{pair.strip()!r} is not HEADER=column (expected e.g. 'Post Code=postcode')"
            raise argparse.ArgumentTypeError(msg)
        mapping[header.strip()] = target.strip()
    if not mapping:
        msg = f"{text!r} maps no column (expected e.g. 'Organisation=name,Post Code=postcode')"
        raise argparse.ArgumentTypeError(msg)
    return mapping


def add_parser(subparsers: Any) -> None:
    """Add the ``check`` subcommand to the ``assetmap`` parser."""
    parser = subparsers.add_parser(
        "check",
        help="check asset registers and report rejected rows",
        description=(
            "Read each register (CSV, XLSX, GeoJSON, GPKG or Parquet) as 'assetmap' would and\n"
            "report rows in, rows accepted and rows rejected by reason, with the first\n"
            f"{SHOWN_MESSAGES} reject messages per file (file, line, column, value, what was expected)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("registers", nargs="+", metavar="REGISTER", help="register files to check")
    parser.add_argument(
        "--kind",
        required=True,
        choices=schema.KINDS,
        help="which side of the link the registers feed",
    )
    parser.add_argument(
        "--columns",
        type=parse_columns,
        metavar="'HEADER=column,...'",
        help="map register headers to assetmap columns, e.g. 'Organisation=name,Post Code=postcode'",
    )
    parser.add_argument("--category", help="category for rows whose category cell is empty")
    parser.add_argument("--sheet", help="XLSX sheet or GPKG layer to read (default: the first)")
    parser.add_argument(
        "--rejects", type=Path, metavar="REJECTS.csv", help="write every rejected row to this CSV"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check each register; exit 0 when all could be read, 2 when any was unusable."""
    from assetmap._io import write_csv
    from assetmap.registers import read_assets

    all_rejects: list[pd.DataFrame] = []
    unusable = 0
    for path in args.registers:
        try:
            register = read_assets(
                path,
                kind=args.kind,
                columns=args.columns,
                category=args.category,
                sheet=args.sheet,
            )
        except RegisterError as exc:
            unusable += 1
            print(f"assetmap check: error: {exc}", file=sys.stderr)
            continue
        print(_report(register))
        all_rejects.append(register.rejects)
    if args.rejects is not None:
        frames = [f for f in all_rejects if len(f)]
        rejects = pd.concat(frames, ignore_index=True) if frames else schema.empty_rejects()
        write_csv(rejects, args.rejects)
        print(f"wrote {len(rejects)} rejected rows to {args.rejects}")
    return 2 if unusable else 0


def _report(register: schema.Register) -> str:
    """Plain-text summary of one register for a data steward."""
    lines = [
        f"{register.source}: {register.rows_in} rows in, {len(register.assets)} accepted, "
        f"{len(register.rejects)} rejected"
    ]
    if register.notes:
        lines.append(f"  read with {'; '.join(register.notes)}")
    reasons = register.reasons()
    if len(reasons):
        width = max(len(str(reason)) for reason in reasons.index)
        lines.append("  rejected by reason:")
        lines.extend(f"    {reason!s:<{width}}  {count}" for reason, count in reasons.items())
        shown = register.rejects["message"].head(SHOWN_MESSAGES)
        more = len(register.rejects) - len(shown)
        lines.append(f"  first {len(shown)} rejects:" if more else "  rejects:")
        lines.extend(f"    {message}" for message in shown)
        if more:
            lines.append(f"    … and {more} more (use --rejects FILE.csv to get them all)")
    return "\n".join(lines)
