"""``--engine memory|dask`` for the CLI: run geocode and link in memory or on a dask cluster.

Subcommands add the options with :func:`add_engine_arguments` and call :func:`run_geocode` /
:func:`run_link` in place of the in-memory functions; both engines give identical results.
"""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from assetmap.links import LinkTable
    from assetmap.schema import Register

ENGINES = ("memory", "dask")

ENGINE_HELP = """\
scale (extra 'scale': pip install "assetmap[scale]"):
  --engine dask runs the same steps partition by partition on a dask cluster, with the
  same results: a LocalCluster of --workers processes on this machine, or the cluster
  of --scheduler (start one with 'dask scheduler' and 'dask worker tcp://HOST:8786').
"""


def _count(text: str) -> int:
    """A whole number ≥ 1 for ``--workers`` and ``--partitions``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"{text!r} is not a whole number ≥ 1"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine``, ``--workers``, ``--scheduler`` and ``--partitions`` to ``parser``."""
    group = parser.add_argument_group("scale", ENGINE_HELP)
    group.add_argument(
        "--engine",
        choices=ENGINES,
        default="memory",
        help="run in memory (default) or on a dask cluster (same results)",
    )
    group.add_argument(
        "--workers",
        type=_count,
        default=2,
        metavar="N",
        help="worker processes of the local dask cluster (default 2)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="use a running dask scheduler, e.g. tcp://10.0.0.5:8786, instead of a local cluster",
    )
    group.add_argument(
        "--partitions",
        type=_count,
        metavar="N",
        help="partitions of the rows (default: one per 200,000 rows, at least one per worker)",
    )


def _engine(args: argparse.Namespace) -> str:
    engine = str(getattr(args, "engine", "memory") or "memory")
    if engine not in ENGINES:
        msg = f"--engine {engine!r} is not one of {', '.join(ENGINES)}"
        raise ValueError(msg)
    return engine


def _client(args: argparse.Namespace) -> AbstractContextManager[Any]:
    """The dask client of ``--scheduler``, else a LocalCluster of ``--workers`` processes."""
    from assetmap import scale

    return scale.client(getattr(args, "scheduler", None), workers=getattr(args, "workers", 2))


def _partitions(args: argparse.Namespace) -> int | None:
    value = getattr(args, "partitions", None)
    return None if value is None else int(value)


def run_geocode(args: argparse.Namespace, assets: pd.DataFrame, **kwargs: Any) -> Register:
    """:func:`assetmap.geocode.geocode` with the engine chosen by ``args``.

    ``kwargs`` are the geocode options (``postcodes``, ``gazetteer``, ``online``, …).
    """
    if _engine(args) == "memory":
        from assetmap.geocode import geocode

        return geocode(assets, **kwargs)
    from assetmap import scale

    with _client(args) as dask_client:
        return scale.geocode(assets, npartitions=_partitions(args), client=dask_client, **kwargs)


def run_link(
    args: argparse.Namespace, micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame, **kwargs: Any
) -> LinkTable:
    """:func:`assetmap.links.link` with the engine chosen by ``args``.

    ``kwargs`` are the link options (``k``, ``within_m``, ``rules``, ``network``, …).
    """
    if _engine(args) == "memory":
        from assetmap.links import link

        return link(micro, macro, **kwargs)
    from assetmap import scale

    with _client(args) as dask_client:
        return scale.link(micro, macro, npartitions=_partitions(args), client=dask_client, **kwargs)
