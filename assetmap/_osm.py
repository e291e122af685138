"""Reading OSM files into osmnx graphs: mode filters, PBF/XML extraction with pyosmium, GraphML.

osmnx reads only OSM XML (DESIGN §9), so every OSM input (``.osm.pbf``, ``.osm``,
``.osm.gz``, ``.osm.bz2``) goes through one path: pyosmium keeps the ways osmnx's own
``network_type`` filter would keep, writes them with every node they reference to a small XML
file, and ``osmnx.graph_from_xml`` builds the graph from that. PBF and XML inputs of the same
data therefore give the same graph.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol
from xml.sax import SAXException

import numpy as np
import numpy.typing as npt
import shapely

from assetmap._errors import NetworkError
from assetmap.schema import CRS_BNG

if TYPE_CHECKING:
    import os

    import networkx as nx

log = logging.getLogger("assetmap.network")

#: Greater Icknield (Smethwick/Ladywood) bounding box, lon/lat: (west, south, east, north).
GREATER_ICKNIELD_BBOX: Final[tuple[float, float, float, float]] = (-2.00, 52.46, -1.88, 52.51)
#: osmnx ``network_type`` used for each assetmap mode.
NETWORK_TYPES: Final = {"walk": "walk", "cycle": "bike", "drive": "drive"}
#: Suffixes read as OSM data (through pyosmium) and as osmnx GraphML.
OSM_SUFFIXES: Final = (".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2", ".osm.xml")
GRAPHML_SUFFIXES: Final = (".graphml",)
EXPECTED_FORMATS: Final = (
    "OSM PBF (.osm.pbf), OSM XML (.osm, .osm.gz, .osm.bz2) or osmnx GraphML (.graphml)"
)

# One Overpass QL tag clause: ["key"], ["key"~"regex"] or ["key"!~"regex"].
_CLAUSE = re.compile(r'\["(?P<key>[^"]+)"(?:(?P<op>!?~)"(?P<pattern>[^"]*)")?\]')


class Tags(Protocol):
    """Anything with ``get(key)`` → value or ``None``: a dict or a pyosmium ``TagList``."""

    def get(self, key: str, /) -> str | None: ...


TagPredicate = Callable[[Tags], bool]


def input_format(path: Path) -> str:
    """``"osm"`` or ``"graphml"`` from the file name; :class:`NetworkError` for anything else."""
    name = path.name.lower()
    if name.endswith(GRAPHML_SUFFIXES):
        return "graphml"
    if name.endswith(OSM_SUFFIXES):
        return "osm"
    msg = f"cannot read street network {path}: unknown file type (expected {EXPECTED_FORMATS})"
    raise NetworkError(msg)


def network_type(mode: str) -> str:
    """The osmnx ``network_type`` for an assetmap mode (``walk``, ``cycle``, ``drive``)."""
    try:
        return NETWORK_TYPES[mode]
    except KeyError:
        msg = f"network mode {mode!r} is not one of {tuple(NETWORK_TYPES)}"
        raise NetworkError(msg) from None


def way_predicate(mode: str) -> TagPredicate:
    """A test on a way's tags equal to osmnx's Overpass filter for the mode's network type.

    The filter string comes from osmnx itself (including ``settings.default_access``) and is
    evaluated with Overpass semantics: ``["k"]`` needs the key; ``["k"~"re"]`` needs the key
    with a value matching the (unanchored) regex; ``["k"!~"re"]`` passes when the key is
    absent or its value does not match.
    """
    from osmnx import _overpass

    query = _overpass._get_network_filter(network_type(mode))
    return parse_overpass_filter(query)


def parse_overpass_filter(query: str) -> TagPredicate:
    """Turn an Overpass QL tag filter (a run of ``["k"…]`` clauses) into a predicate on tags."""
    clauses: list[tuple[str, str | None, re.Pattern[str] | None]] = []
    pos = 0
    for match in _CLAUSE.finditer(query):
        if match.start() != pos:
            break
        pattern = match["pattern"]
        clauses.append(
            (match["key"], match["op"], None if pattern is None else re.compile(pattern))
        )
        pos = match.end()
    if pos != len(query) or not clauses:
        msg = f"cannot understand the osmnx way filter {query!r} at character {pos}"
        raise NetworkError(msg)

    def accept(tags: Tags) -> bool:
        for key, op, regex in clauses:
            value = tags.get(key)
            if op is None:
                if value is None:
                    return False
            elif op == "~":
                if value is None or regex is None or not regex.search(value):
                    return False
            elif value is not None and regex is not None and regex.search(value):
                return False
        return True

    return accept


def extract_ways(source: Path, dest: Path, *, mode: str) -> int:
    """Write the ways of ``source`` that belong to the mode's network, with their nodes, as XML.

    Parameters
    ----------
    source
        OSM PBF or XML file (``.osm.pbf``, ``.osm``, ``.osm.gz``, ``.osm.bz2``).
    dest
        Output ``.osm`` file (overwritten).
    mode
        ``"walk"``, ``"cycle"`` or ``"drive"``.

    Returns
    -------
    int
        Number of ways written.
    """
    import osmium

    accept = way_predicate(mode)
    count = 0
    try:
        processor = osmium.FileProcessor(str(source), osmium.osm.WAY).with_filter(
            osmium.filter.KeyFilter("highway")
        )
        with osmium.BackReferenceWriter(
            str(dest), ref_src=str(source), overwrite=True, remove_tags=False
        ) as writer:
            for way in processor:
                if accept(way.tags):
                    writer.add_way(way)
                    count += 1
    except RuntimeError as exc:
        msg = f"cannot read OSM file {source}: {exc} (expected {EXPECTED_FORMATS})"
        raise NetworkError(msg) from exc
    return count


def osm_graph(path: str | Path, *, mode: str = "walk", progress: bool = False) -> nx.MultiDiGraph:
    """Read an OSM or GraphML file into a simplified osmnx graph projected to EPSG:27700.

    Parameters
    ----------
    path
        ``.osm.pbf``, ``.osm``, ``.osm.gz``, ``.osm.bz2`` or ``.graphml``.
    mode
        ``"walk"``, ``"cycle"`` or ``"drive"``: which ways are kept (osmnx's ``walk``,
        ``bike`` or ``drive`` rules; GraphML is taken as saved) and whether one-way streets
        are one-way (not for walking, as in osmnx).
    progress
        Also print each slow step to stderr.

    Returns
    -------
    networkx.MultiDiGraph
        Largest weakly connected component, simplified, in EPSG:27700, with edge ``length``
        in metres; for ``drive`` also ``speed_kph`` and ``travel_time`` in seconds.
    """
    import osmnx as ox

    source = Path(path)
    if not source.is_file():
        msg = f"street network file {source} does not exist (expected {EXPECTED_FORMATS})"
        raise NetworkError(msg)
    kind = input_format(source)
    step = _Steps(source, progress=progress)
    if kind == "graphml":
        step("reading GraphML")
        try:
            graph = ox.load_graphml(source)
        except Exception as exc:  # osmnx/networkx raise many types for a bad GraphML
            msg = f"cannot read GraphML {source}: {exc} (expected a graph saved by osmnx.save_graphml)"
            raise NetworkError(msg) from exc
        if len(graph) and not graph.graph.get("simplified", False):
            step("simplifying")
            graph = ox.simplify_graph(graph)
    else:
        network = network_type(mode)
        with tempfile.TemporaryDirectory(prefix="assetmap-osm-") as tmp:
            extract = Path(tmp) / "network.osm"
            step(f"reading OSM ways of the {network!r} network with pyosmium")
            n_ways = extract_ways(source, extract, mode=mode)
            if n_ways == 0:
                msg = f"{source} holds no ways of the osmnx {network!r} network; the graph is empty"
                raise NetworkError(msg)
            step(f"building and simplifying the graph of {n_ways:,} ways with osmnx")
            try:
                graph = ox.graph_from_xml(
                    extract,
                    bidirectional=network in ox.settings.bidirectional_network_types,
                    simplify=True,
                    retain_all=False,
                )
            except (
                SAXException,
                ValueError,
                KeyError,
                ox._errors.InsufficientResponseError,
            ) as exc:
                msg = f"cannot build a street graph from {source}: {exc}"
                raise NetworkError(msg) from exc
    if len(graph) == 0 or graph.number_of_edges() == 0:
        msg = f"{source} holds no {mode} street network; the graph is empty"
        raise NetworkError(msg)
    step(f"projecting {len(graph):,} nodes to {CRS_BNG}")
    graph = ox.project_graph(graph, to_crs=CRS_BNG)
    if mode == "drive":
        try:
            graph = ox.add_edge_travel_times(ox.add_edge_speeds(graph))
        except (ValueError, KeyError) as exc:
            msg = (
                f"cannot give drive speeds to the edges of {source}: {exc} "
                "(expected OSM highway and maxspeed tags on the edges)"
            )
            raise NetworkError(msg) from exc
    step.done(f"{len(graph):,} nodes, {graph.number_of_edges():,} edges")
    return graph


class _Steps:
    """INFO log lines (and, with ``progress``, stderr lines) for the slow steps of a load."""

    def __init__(self, source: Path, *, progress: bool) -> None:
        self.source = source
        self.progress = progress
        self.start = time.perf_counter()

    def __call__(self, what: str) -> None:
        self._emit(f"{self.source.name}: {what}…")

    def done(self, what: str) -> None:
        self._emit(f"{self.source.name}: {what} in {time.perf_counter() - self.start:.1f} s")

    def _emit(self, line: str) -> None:
        log.info(line)
        if self.progress:
            import sys

            print(line, file=sys.stderr, flush=True)


def graph_attrs(graph: nx.MultiDiGraph, name: str, default: Any = None) -> list[Any]:
    """The edge attribute ``name`` of every edge of ``graph`` in ``graph.edges`` order."""
    return [value for _, _, value in graph.edges(data=name, default=default)]


class GraphArrays(NamedTuple):
    """An osmnx graph as arrays: nodes in ``graph.nodes`` order, edges in ``graph.edges`` order."""

    node_osmid: npt.NDArray[np.int64]
    node_x: npt.NDArray[np.float64]  # EPSG:27700 metres
    node_y: npt.NDArray[np.float64]
    edge_u: npt.NDArray[np.intp]  # node positions
    edge_v: npt.NDArray[np.intp]
    edge_m: npt.NDArray[np.float64]  # osmnx ``length``, metres
    travel_time_s: npt.NDArray[np.float64] | None  # osmnx ``travel_time``, seconds
    lines: npt.NDArray[np.object_]  # one LineString per street, both directions once


def graph_arrays(
    graph: nx.MultiDiGraph, *, with_travel_time: bool = False, source: str = ""
) -> GraphArrays:
    """Node and edge arrays of an osmnx graph projected to EPSG:27700.

    ``lines`` holds each edge's osmnx ``geometry`` (a straight line where it has none), with
    the two directions of a two-way street counted once, for the coverage polygon.
    """
    import pandas as pd
    import pyproj

    where = source or "the graph"
    if len(graph) == 0:
        msg = f"{where} holds no street network; the graph is empty"
        raise NetworkError(msg)
    crs = graph.graph.get("crs")
    if crs is None or pyproj.CRS.from_user_input(crs) != pyproj.CRS.from_user_input(CRS_BNG):
        msg = f"{where} is in {crs!r}; project it to {CRS_BNG} first (osmnx.project_graph)"
        raise NetworkError(msg)
    n = len(graph)
    node_ids = np.fromiter(graph.nodes, dtype=np.int64, count=n)
    x = np.fromiter((d for _, d in graph.nodes(data="x")), dtype=np.float64, count=n)
    y = np.fromiter((d for _, d in graph.nodes(data="y")), dtype=np.float64, count=n)
    k = graph.number_of_edges()
    ends = np.fromiter((node for u, v in graph.edges() for node in (u, v)), np.int64, count=2 * k)
    index = pd.Index(node_ids)
    u = index.get_indexer(pd.Index(ends[0::2]))
    v = index.get_indexer(pd.Index(ends[1::2]))
    metres = np.asarray(graph_attrs(graph, "length", np.nan), dtype=np.float64)
    seconds = None
    if with_travel_time:
        seconds = np.asarray(graph_attrs(graph, "travel_time", np.nan), dtype=np.float64)
    geoms = np.asarray(graph_attrs(graph, "geometry", None), dtype=object)
    missing = np.array([g is None for g in geoms], dtype=bool)
    if missing.any():
        start = np.column_stack([x[u[missing]], y[u[missing]]])
        end = np.column_stack([x[v[missing]], y[v[missing]]])
        geoms[missing] = shapely.linestrings(np.stack([start, end], axis=1))
    # Both directions of a two-way street share one line (reversed): keep it once.
    lines = shapely.from_wkb(np.unique(shapely.to_wkb(shapely.normalize(geoms))))
    return GraphArrays(node_ids, x, y, u, v, metres, seconds, np.asarray(lines, dtype=object))


def download_network(
    bbox: tuple[float, float, float, float],
    dest: str | os.PathLike[str],
    *,
    mode: str = "walk",
    user_agent: str | None = None,
    timeout_s: float = 180.0,
) -> Path:
    """Download a street network from OpenStreetMap (Overpass, via osmnx) and save it as GraphML.

    For users who are online, e.g. the Greater Icknield network:
    ``download_network(GREATER_ICKNIELD_BBOX, Path("data/external/greater-icknield.graphml"))``.

    Parameters
    ----------
    bbox
        ``(west, south, east, north)`` in WGS84 degrees (EPSG:4326).
    dest
        GraphML file to write (atomically); read it back with :func:`assetmap.network.load_network`.
    mode
        ``"walk"``, ``"cycle"`` or ``"drive"`` (osmnx ``walk``, ``bike``, ``drive``).
    user_agent
        HTTP User-Agent identifying you to Overpass (its usage policy asks for one).
    timeout_s
        Seconds to wait for each Overpass response.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    NetworkError
        Offline or the download failed (plain sentence), or the bbox is invalid.
    """
    import osmnx as ox

    from assetmap._io import atomic_path
    from assetmap._paths import data_dir

    west, south, east, north = (float(b) for b in bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        msg = (
            f"bbox {bbox!r} is not (west, south, east, north) in degrees "
            f"(expected e.g. {GREATER_ICKNIELD_BBOX})"
        )
        raise NetworkError(msg)
    target = Path(dest)
    agent = user_agent or f"assetmap/{_package_version()} (street network download via osmnx)"
    saved = {
        name: getattr(ox.settings, name)
        for name in ("use_cache", "cache_folder", "http_user_agent", "requests_timeout")
    }
    cache = data_dir() / "osm-cache"
    try:
        ox.settings.use_cache = True
        ox.settings.cache_folder = str(cache)
        ox.settings.http_user_agent = agent
        ox.settings.requests_timeout = timeout_s
        try:
            graph = ox.graph_from_bbox((west, south, east, north), network_type=network_type(mode))
        except OSError as exc:
            msg = (
                f"offline: could not download the OpenStreetMap {mode} network for {bbox} "
                f"({type(exc).__name__}); connect to the internet or use a local .osm.pbf file."
            )
            raise NetworkError(msg) from exc
        except ox._errors.InsufficientResponseError as exc:
            msg = f"OpenStreetMap returned no {mode} network for {bbox}: {exc}"
            raise NetworkError(msg) from exc
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)
    with atomic_path(target) as tmp:
        ox.save_graphml(graph, tmp)
    return target


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("assetmap")
    except PackageNotFoundError:
        return "0"
