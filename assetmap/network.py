"""Street networks as arrays: OSM → osmnx graph → scipy CSR, snapping, coverage, travel times.

A :class:`StreetNetwork` holds nodes and directed edges in EPSG:27700 (metres) with one row per
directed ``(u, v)`` pair (the fastest of any parallel edges), so a ``scipy.sparse`` matrix built
from it never sums duplicates (DESIGN §9). Travel times from many sources are one
``scipy.sparse.csgraph.dijkstra`` call.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from assetmap import _osm
from assetmap._errors import NetworkError
from assetmap._io import sha256_of
from assetmap._network_arrays import BoolArray as BoolArray
from assetmap._network_arrays import FloatArray as FloatArray
from assetmap._network_arrays import IntArray as IntArray
from assetmap._network_arrays import coverage_polygon
from assetmap._network_cache import FORMAT_VERSION as FORMAT_VERSION
from assetmap._network_cache import _cache_path

# The download is OSM I/O and lives with the readers; it is public here.
from assetmap._osm import GREATER_ICKNIELD_BBOX, download_network
from assetmap._street_network import (
    CYCLE_KMH,
    MODES,
    WALK_KMH,
    StreetNetwork,
    _check_mode_and_speeds,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "CYCLE_KMH",
    "GREATER_ICKNIELD_BBOX",
    "MODES",
    "WALK_KMH",
    "StreetNetwork",
    "download_network",
    "load_network",
    "network_from_graph",
]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------- from osmnx graphs


def network_from_graph(
    graph: nx.MultiDiGraph,
    *,
    mode: str = "walk",
    walk_kmh: float = WALK_KMH,
    cycle_kmh: float = CYCLE_KMH,
    coverage_buffer_m: float = 50.0,
    source: str = "",
    source_sha256: str = "",
) -> StreetNetwork:
    """Arrays of an osmnx graph projected to EPSG:27700 (as :func:`assetmap._osm.osm_graph` makes).

    Every directed edge of the MultiDiGraph is kept as it is (osmnx already holds both
    directions of two-way streets); parallel edges are reduced to the fastest. Minutes are
    ``length`` at the walking or cycling speed, or osmnx ``travel_time`` / 60 for ``drive``.
    The coverage polygon buffers the true edge geometries by ``coverage_buffer_m`` metres.
    """
    arrays = _osm.graph_arrays(graph, with_travel_time=mode == "drive", source=source)
    seconds = arrays.travel_time_s
    return StreetNetwork.from_edges(
        arrays.node_x,
        arrays.node_y,
        arrays.edge_u,
        arrays.edge_v,
        arrays.edge_m,
        mode=mode,
        walk_kmh=walk_kmh,
        cycle_kmh=cycle_kmh,
        edge_min=None if seconds is None else seconds / 60.0,
        node_osmid=arrays.node_osmid,
        bidirectional=False,
        coverage=coverage_polygon(arrays.lines, buffer_m=coverage_buffer_m),
        source=source,
        source_sha256=source_sha256,
    )


# ---------------------------------------------------------------------- loading with a cache


def load_network(
    path: str | os.PathLike[str],
    *,
    mode: str = "walk",
    walk_kmh: float = WALK_KMH,
    cycle_kmh: float = CYCLE_KMH,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> StreetNetwork:
    """Load a street network from an OSM or GraphML file, through an on-disk cache.

    Parameters
    ----------
    path
        ``.osm.pbf`` (read with pyosmium), ``.osm``, ``.osm.gz``, ``.osm.bz2`` or an osmnx
        ``.graphml``.
    mode
        ``"walk"``, ``"cycle"`` or ``"drive"``: the ways kept follow osmnx's ``walk``,
        ``bike`` and ``drive`` network types; one-way streets bind cycling and driving only.
    walk_kmh
        Walking speed in km/h (edge minutes for ``walk``; snap distances for every mode).
    cycle_kmh
        Cycling speed in km/h (edge minutes for ``cycle``).
    cache_dir
        Folder of cached networks; default ``assetmap._paths.cache_dir() / "networks"``.
        The cache is keyed by the file's SHA-256, the mode, the speeds and the code version.
    progress
        Also print the slow steps (reading, simplifying, projecting) to stderr; they are
        always logged at INFO on the ``assetmap.network`` logger.

    Returns
    -------
    StreetNetwork

    Raises
    ------
    NetworkError
        The file is missing, of an unknown type, unreadable, or holds no network for the mode.
    """
    source = Path(path)
    _check_mode_and_speeds(mode, walk_kmh=walk_kmh, cycle_kmh=cycle_kmh)
    if not source.is_file():
        msg = f"street network file {source} does not exist (expected {_osm.EXPECTED_FORMATS})"
        raise NetworkError(msg)
    _osm.input_format(source)
    digest = sha256_of(source)
    target = _cache_path(
        source, digest, mode=mode, walk_kmh=walk_kmh, cycle_kmh=cycle_kmh, cache_dir=cache_dir
    )
    if target.is_file():
        try:
            network = StreetNetwork.load(target)
        except NetworkError as exc:
            log.warning("ignoring unreadable network cache %s (%s); rebuilding", target, exc)
        else:
            if network.source_sha256 == digest and network.mode == mode:
                log.info("%s: loaded cached %s network from %s", source.name, mode, target)
                return network
    graph = _osm.osm_graph(source, mode=mode, progress=progress)
    network = network_from_graph(
        graph,
        mode=mode,
        walk_kmh=walk_kmh,
        cycle_kmh=cycle_kmh,
        source=str(source),
        source_sha256=digest,
    )
    network.save(target)
    log.info("%s: cached %r at %s", source.name, network, target)
    return network
