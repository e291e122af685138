"""``assetmap access``: accessibility scores (2SFCA, gravity, counts…) from a link table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ORDER = 45

EPILOG = """\
examples:
  2SFCA of every linked micro-asset, capacities from the register and the gazetteer,
  within a 20-minute walk (straight-line links are timed at 4.8 km/h):
    assetmap access out/links.csv -o out/scores.csv --method 2sfca --max-minutes 20 \\
        --micro social_enterprises.csv --sites greater-icknield
  enhanced 2SFCA with a Gaussian weight (sigma 10 minutes) inside 30 minutes:
    assetmap access out/links.csv -o out/e2sfca.csv --method e2sfca --decay gaussian \\
        --sigma 10 --max-minutes 30 --sites greater-icknield
  gravity with an exponential decay, half life 15 minutes:
    assetmap access out/links.csv -o out/gravity.csv --method gravity --decay exponential \\
        --half-life 15
  the nearest site and how many sites lie within each link rule's reach:
    assetmap access out/links.csv -o out/nearest.csv --method nearest
    assetmap access out/links.csv -o out/count.csv --method count

LINKS is a CSV written by 'assetmap link'. Demand is the micro-assets' capacity (from
--micro, else 1 each) and supply the sites' capacity (from --sites, else 1 each). Without
--max-minutes/--max-metres the catchment is each link rule's own reach (within_reach).
Every micro-asset in LINKS gets a row (those 'assetmap link' left unreached are not in it).
Scores of personal micro-assets (residents) are computed but never written.

exit codes:
  0  scores written
  2  an input could not be used (links file, register, gazetteer or options)
"""


def add_parser(subparsers: Any) -> None:
    """Add the ``access`` subcommand to the ``assetmap`` parser."""
    from assetmap.access import METHODS
    from assetmap.rules import DECAY_KINDS

    parser = subparsers.add_parser(
        "access",
        help="accessibility scores (2SFCA, E2SFCA, gravity, counts, nearest) from links",
        description=(
            "Score each micro-asset's access to macro-assets from a link table: two-step\n"
            "floating catchment (2SFCA/E2SFCA, as PySAL access), gravity, cumulative\n"
            "opportunities, sites within reach or the nearest site."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("links", metavar="LINKS", type=Path, help="links CSV from 'assetmap link'")
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="SCORES.csv", help="scores to write"
    )
    parser.add_argument("--method", choices=METHODS, default="2sfca", help="score (default 2sfca)")
    parser.add_argument(
        "--decay", choices=(*DECAY_KINDS, "bands"), help="distance weight (default: none)"
    )
    reach = parser.add_mutually_exclusive_group()
    reach.add_argument("--max-minutes", type=float, metavar="N", help="catchment in minutes")
    reach.add_argument(
        "--max-metres", type=float, metavar="N", help="catchment in metres (costs in metres)"
    )
    parser.add_argument(
        "--half-life", type=float, metavar="N", help="exponential half life (minutes/metres)"
    )
    parser.add_argument("--sigma", type=float, metavar="N", help="gaussian sigma (minutes/metres)")
    parser.add_argument("--metres", action="store_true", help="score on metres instead of minutes")
    parser.add_argument(
        "--walk-kmh",
        type=float,
        default=4.8,
        metavar="N",
        help="speed that times straight-line links (default 4.8 km/h)",
    )
    parser.add_argument(
        "--micro", type=Path, metavar="REGISTER", help="micro-asset register (capacity, personal)"
    )
    parser.add_argument(
        "--sites", metavar="GAZETTEER", help="gazetteer name or file of the sites (capacity)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the links (and capacities), score, write the non-personal rows."""
    from assetmap._io import write_csv
    from assetmap.access import read_links, score

    try:
        links = read_links(args.links)
    except (OSError, ValueError) as exc:
        print(f"assetmap access: error: {exc}", file=sys.stderr)
        return 2
    micro = _register(args.micro) if args.micro is not None else None
    macro = _sites(args.sites) if args.sites is not None else None
    cost = "metres" if (args.metres or args.max_metres is not None) else "minutes"
    max_cost = args.max_metres if args.max_metres is not None else args.max_minutes
    if micro is not None:
        unknown = sorted(set(links["micro_id"]) - set(micro.index.astype("str")))
        if unknown:
            print(
                f"assetmap access: error: {args.links}: micro-asset {unknown[0]!r} is not in "
                f"{args.micro} ({len(unknown)} unknown); give the register the links came from",
                file=sys.stderr,
            )
            return 2
        # Scores are reported for the linked micro-assets; the register gives their weights.
        micro = micro[micro.index.astype("str").isin(set(links["micro_id"]))]
    decay_param = {"half_life": args.half_life, "sigma": args.sigma}
    try:
        scores = score(
            links,
            micro,
            macro,
            method=args.method,
            cost=cost,
            max_cost=max_cost,
            decay=args.decay,
            walk_kmh=args.walk_kmh,
            **{k: v for k, v in decay_param.items() if v is not None},
        )
    except ValueError as exc:
        print(f"assetmap access: error: {exc}", file=sys.stderr)
        return 2
    withheld = 0
    if micro is not None:
        from assetmap.privacy import personal_mask

        personal = pd.Series(personal_mask(micro), index=micro.index.astype("str"))
        flags = personal.reindex(scores.index, fill_value=False).to_numpy(dtype=bool)
        withheld = int(flags.sum())
        scores = scores[~flags]
    out = scores.reset_index()
    out.insert(1, "method", args.method)
    write_csv(out, args.output)
    values = scores["score"].to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    shown = (
        f"min {finite.min():.4g}, median {np.median(finite):.4g}, max {finite.max():.4g}"
        if finite.size
        else "no finite scores"
    )
    print(f"{args.method} on {cost}: {len(scores)} micro-assets scored ({shown})")
    if scores.attrs.get("supply_without_demand"):
        print(
            "note: sites with no demand in their catchment (they add nothing): "
            + ", ".join(scores.attrs["supply_without_demand"])
        )
    written = f"wrote {len(out)} rows to {args.output}"
    if withheld:
        written += f" ({withheld} personal micro-assets scored but not written)"
    print(written)
    return 0


def _register(path: Path) -> pd.DataFrame:
    from assetmap._errors import RegisterError
    from assetmap.registers import read_assets

    if not path.exists():
        msg = f"{path}: no such register file"
        raise RegisterError(msg)
    assets: pd.DataFrame = read_assets(path, kind="micro").assets
    return assets


def _sites(source: str) -> pd.DataFrame:
    from assetmap.cli.link import load_assets

    sites: pd.DataFrame = load_assets(source, kind="macro", postcodes=None)
    return sites
