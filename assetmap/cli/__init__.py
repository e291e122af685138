"""The ``assetmap`` command line: one subcommand per pipeline step.

Each module in this package that defines ``add_parser(subparsers)`` contributes a
subcommand; its parser's ``func`` receives the parsed arguments and returns an exit code.

Exit codes: 0 success; 1 the work ran but found problems the user must fix (e.g. a
required dataset missing); 2 unusable input or a usage error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from assetmap import __version__
from assetmap._errors import AssetmapError

EPILOG = """\
exit codes:
  0    success
  1    finished, but with problems to fix (printed above)
  2    unusable input file, bad config or bad usage
  130  interrupted

Run 'assetmap COMMAND --help' for examples of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand found in this package."""
    parser = argparse.ArgumentParser(
        prog="assetmap",
        description=(
            "Link a neighbourhood's micro-assets (skills, social enterprises, community "
            "buildings) to macro-assets (hospitals, regeneration sites) and map them."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"assetmap {__version__}")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="count", default=0, help="show debug detail")
    noise.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "add_parser"):
            commands.append((getattr(module, "ORDER", 50), info.name, module))
    for _, _, module in sorted(commands, key=lambda c: (c[0], c[1])):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``assetmap`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Libraries (pyogrio, osmnx, distributed) stay at WARNING; assetmap says what it does.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    ours = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    logging.getLogger("assetmap").setLevel(ours)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except AssetmapError as exc:
        print(f"assetmap {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
