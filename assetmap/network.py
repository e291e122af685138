"""Street networks as arrays: OSM → osmnx graph → scipy CSR, snapping, coverage, travel times.

A :class:`StreetNetwork` holds nodes and directed edges in EPSG:27700 (metres) with one row per
directed ``(u, v)`` pair (the fastest of any parallel edges), so a ``scipy.sparse`` matrix built
from it never sums duplicates (DESIGN §9). Travel times from many sources are one
``scipy.sparse.csgraph.dijkstra`` call.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from assetmap import _osm
from assetmap._errors import NetworkError
from assetmap._io import atomic_open, sha256_of

# The download is OSM I/O and lives with the readers; it is public here.
from assetmap._osm import GREATER_ICKNIELD_BBOX, download_network
from assetmap.schema import CRS_BNG

if TYPE_CHECKING:
    import geopandas as gpd
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

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Travel modes a network can be built for.
MODES: Final = ("walk", "cycle", "drive")
#: Default walking speed in km/h (DfT Journey Time Statistics use 4.8 km/h).
WALK_KMH: Final = 4.8
#: Default cycling speed in km/h (DfT Journey Time Statistics use 16 km/h).
CYCLE_KMH: Final = 16.0
#: Version of the on-disk network format; bump when the arrays or their meaning change.
FORMAT_VERSION: Final = 1
#: Tolerance on edge speeds below which a network counts as constant-speed (relative).
_SPEED_RTOL: Final = 1e-9

_ARRAY_FIELDS: Final = (
    "node_x",
    "node_y",
    "node_osmid",
    "edge_u",
    "edge_v",
    "edge_m",
    "edge_min",
)


def _metres_per_minute(kmh: float) -> float:
    return kmh * 1000.0 / 60.0


@dataclass(frozen=True, eq=False)
class StreetNetwork:
    """A directed street network in EPSG:27700 with travel minutes per edge.

    Build one with :meth:`from_edges` (arrays) or :func:`load_network` (OSM file); the
    constructor trusts that edges are already reduced to one row per directed ``(u, v)``
    sorted by ``(u, v)`` and raises :class:`~assetmap.NetworkError` when they are not.

    Attributes
    ----------
    mode
        ``"walk"``, ``"cycle"`` or ``"drive"``.
    walk_kmh
        Walking speed in km/h; also turns snap distances into minutes.
    node_x, node_y
        Node coordinates, EPSG:27700 metres (float64).
    node_osmid
        OSM node id of each node (int64; ``0..n-1`` for synthetic graphs).
    edge_u, edge_v
        Node indices (int32) of each directed edge, sorted by ``(u, v)``, unique pairs.
    edge_m
        Edge length in metres (float64).
    edge_min
        Edge travel time in minutes (float64).
    coverage
        Polygon(s) around the network in EPSG:27700: where a point may be snapped to it.
    source, source_sha256
        File the network came from and its SHA-256 (empty for synthetic networks).
    crs
        Always ``"EPSG:27700"``.
    """

    mode: str
    walk_kmh: float
    node_x: FloatArray
    node_y: FloatArray
    node_osmid: IntArray
    edge_u: npt.NDArray[np.int32]
    edge_v: npt.NDArray[np.int32]
    edge_m: FloatArray
    edge_min: FloatArray
    coverage: shapely.Geometry
    source: str = ""
    source_sha256: str = ""
    crs: str = CRS_BNG

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            msg = f"network mode {self.mode!r} is not one of {MODES}"
            raise NetworkError(msg)
        if not (np.isfinite(self.walk_kmh) and self.walk_kmh > 0):
            msg = f"walk_kmh must be a positive number of km/h, got {self.walk_kmh!r}"
            raise NetworkError(msg)
        if self.crs != CRS_BNG:
            msg = f"a StreetNetwork is in {CRS_BNG} (metres), got crs={self.crs!r}"
            raise NetworkError(msg)
        dtypes = {
            "node_x": np.float64,
            "node_y": np.float64,
            "node_osmid": np.int64,
            "edge_u": np.int32,
            "edge_v": np.int32,
            "edge_m": np.float64,
            "edge_min": np.float64,
        }
        for name, dtype in dtypes.items():
            array = np.array(getattr(self, name), dtype=dtype, copy=True).ravel()
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        n = self.node_x.size
        if n == 0:
            msg = "a street network needs at least one node; the graph is empty"
            raise NetworkError(msg)
        if self.node_y.size != n or self.node_osmid.size != n:
            msg = (
                f"node arrays differ in length: node_x {n}, node_y {self.node_y.size}, "
                f"node_osmid {self.node_osmid.size}"
            )
            raise NetworkError(msg)
        k = self.edge_u.size
        if not (self.edge_v.size == self.edge_m.size == self.edge_min.size == k):
            msg = (
                f"edge arrays differ in length: edge_u {k}, edge_v {self.edge_v.size}, "
                f"edge_m {self.edge_m.size}, edge_min {self.edge_min.size}"
            )
            raise NetworkError(msg)
        if k:
            keys = self._edge_keys
            if np.any(np.diff(keys) <= 0):
                msg = (
                    "edges must be unique directed (u, v) pairs sorted by (u, v); "
                    "build the network with StreetNetwork.from_edges, which keeps the fastest "
                    "of parallel edges"
                )
                raise NetworkError(msg)
        if not isinstance(self.coverage, shapely.Geometry):
            msg = f"coverage must be a shapely geometry, got {type(self.coverage).__name__}"
            raise NetworkError(msg)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_edges(
        cls,
        node_x: npt.ArrayLike,
        node_y: npt.ArrayLike,
        edge_u: npt.ArrayLike,
        edge_v: npt.ArrayLike,
        edge_m: npt.ArrayLike,
        *,
        mode: str = "walk",
        walk_kmh: float = WALK_KMH,
        cycle_kmh: float = CYCLE_KMH,
        edge_min: npt.ArrayLike | None = None,
        node_osmid: npt.ArrayLike | None = None,
        bidirectional: bool = True,
        coverage_buffer_m: float = 50.0,
        coverage: shapely.Geometry | None = None,
        source: str = "",
        source_sha256: str = "",
    ) -> StreetNetwork:
        """Build a network from node coordinates and an edge list.

        Parallel edges and repeated ``(u, v)`` pairs are reduced to the fastest one (least
        minutes, then least metres), never summed; self-loops are dropped.

        Parameters
        ----------
        node_x, node_y
            Node coordinates in EPSG:27700 metres.
        edge_u, edge_v
            Node indices (``0..n-1``) of each edge.
        edge_m
            Edge lengths in metres (finite, ≥ 0).
        mode
            ``"walk"``, ``"cycle"`` or ``"drive"``.
        walk_kmh
            Walking speed in km/h: edge minutes for ``mode="walk"`` when ``edge_min`` is
            not given, and the speed snap distances are walked at.
        cycle_kmh
            Cycling speed in km/h for ``mode="cycle"`` when ``edge_min`` is not given.
        edge_min
            Edge travel times in minutes; required for ``mode="drive"``.
        node_osmid
            OSM node ids; default ``0..n-1``.
        bidirectional
            Add every edge in both directions (a two-way street list). Pass ``False`` for
            an edge list that already holds each direction it allows (e.g. from osmnx).
        coverage_buffer_m
            Buffer in metres around the straight node-to-node edges (and isolated nodes)
            that makes the coverage polygon, when ``coverage`` is not given.
        coverage
            A ready coverage polygon in EPSG:27700 (e.g. from the true edge geometries).
        source, source_sha256
            Provenance of the network.

        Returns
        -------
        StreetNetwork
        """
        _check_mode_and_speeds(mode, walk_kmh=walk_kmh, cycle_kmh=cycle_kmh)
        x = _float_array(node_x, "node_x")
        y = _float_array(node_y, "node_y")
        n = x.size
        if y.size != n:
            msg = f"node_x has {n} values but node_y has {y.size}"
            raise NetworkError(msg)
        if n == 0:
            msg = "a street network needs at least one node; the graph is empty"
            raise NetworkError(msg)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            bad = int(np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))[0])
            msg = f"node {bad} has a non-finite coordinate ({float(x[bad])}, {float(y[bad])})"
            raise NetworkError(msg)
        u = _index_array(edge_u, "edge_u", n)
        v = _index_array(edge_v, "edge_v", n)
        m = _float_array(edge_m, "edge_m")
        if not (u.size == v.size == m.size):
            msg = f"edge arrays differ in length: edge_u {u.size}, edge_v {v.size}, edge_m {m.size}"
            raise NetworkError(msg)
        _check_weights(m, "edge_m", "metres")
        if edge_min is None:
            if mode == "walk":
                minutes = m / _metres_per_minute(walk_kmh)
            elif mode == "cycle":
                minutes = m / _metres_per_minute(cycle_kmh)
            else:
                msg = f"mode={mode!r} needs edge_min (minutes per edge); only walk/cycle derive it from a speed"
                raise NetworkError(msg)
        else:
            minutes = _float_array(edge_min, "edge_min")
            if minutes.size != m.size:
                msg = f"edge_min has {minutes.size} values but edge_m has {m.size}"
                raise NetworkError(msg)
            _check_weights(minutes, "edge_min", "minutes")
        if node_osmid is None:
            osmid = np.arange(n, dtype=np.int64)
        else:
            osmid = np.asarray(node_osmid, dtype=np.int64).ravel()
            if osmid.size != n:
                msg = f"node_osmid has {osmid.size} values but there are {n} nodes"
                raise NetworkError(msg)
        if bidirectional:
            u, v = np.concatenate([u, v]), np.concatenate([v, u])
            m = np.concatenate([m, m])
            minutes = np.concatenate([minutes, minutes])
        u, v, m, minutes = _fastest_per_pair(u, v, m, minutes)
        if coverage is None:
            if not (np.isfinite(coverage_buffer_m) and coverage_buffer_m > 0):
                msg = f"coverage_buffer_m must be a positive number of metres, got {coverage_buffer_m!r}"
                raise NetworkError(msg)
            coverage = _coverage_from_edges(x, y, u, v, buffer_m=coverage_buffer_m)
        return cls(
            mode=mode,
            walk_kmh=float(walk_kmh),
            node_x=x,
            node_y=y,
            node_osmid=osmid,
            edge_u=u.astype(np.int32),
            edge_v=v.astype(np.int32),
            edge_m=m,
            edge_min=minutes,
            coverage=coverage,
            source=source,
            source_sha256=source_sha256,
        )

    # ------------------------------------------------------------------ derived, cached

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_x.size)

    @property
    def n_edges(self) -> int:
        """Number of directed edges (unique ``(u, v)`` pairs)."""
        return int(self.edge_u.size)

    @cached_property
    def _edge_keys(self) -> IntArray:
        """``u * n + v`` per edge; strictly increasing for a valid network."""
        return self.edge_u.astype(np.int64) * self.node_x.size + self.edge_v.astype(np.int64)

    @cached_property
    def _indptr(self) -> npt.NDArray[np.int64]:
        counts = np.bincount(self.edge_u, minlength=self.n_nodes)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @cached_property
    def minutes_csr(self) -> sparse.csr_matrix:
        """Edge minutes as an ``n × n`` CSR matrix (explicit zeros are zero-minute edges)."""
        return self._csr(self.edge_min)

    @cached_property
    def metres_csr(self) -> sparse.csr_matrix:
        """Edge metres as an ``n × n`` CSR matrix."""
        return self._csr(self.edge_m)

    @cached_property
    def _minutes_csr_reversed(self) -> sparse.csr_matrix:
        return self.minutes_csr.transpose().tocsr()

    def _csr(self, data: FloatArray) -> sparse.csr_matrix:
        # Built from (data, indices, indptr) so nothing is summed and explicit zeros stay edges.
        n = self.n_nodes
        return sparse.csr_matrix((data, self.edge_v, self._indptr), shape=(n, n))

    @cached_property
    def _tree(self) -> cKDTree:
        return cKDTree(np.column_stack([self.node_x, self.node_y]))

    @cached_property
    def _prepared_coverage(self) -> shapely.Geometry:
        geom = shapely.from_wkb(shapely.to_wkb(self.coverage))
        shapely.prepare(geom)
        return geom

    @cached_property
    def _constant_m_per_min(self) -> float | None:
        """Metres per minute when every edge has the same speed (walk/cycle), else ``None``."""
        moving = self.edge_min > 0
        if np.any((self.edge_m > 0) & ~moving):
            return None
        if not moving.any():
            return None
        with np.errstate(over="ignore"):
            speed = self.edge_m[moving] / self.edge_min[moving]
        lo, hi = float(speed.min()), float(speed.max())
        if np.isfinite(hi) and hi > 0 and hi - lo <= _SPEED_RTOL * hi:
            return float(np.median(speed))
        return None

    # ------------------------------------------------------------------ queries

    def snap(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
        """Nearest node of each point.

        Parameters
        ----------
        x, y
            Point coordinates in EPSG:27700 metres (same shape).

        Returns
        -------
        node, snap_m
            Nearest node index (int64) and the straight-line distance to it in metres.
            Points with a non-finite coordinate get node ``-1`` and ``inf`` metres.
        """
        px, py = _xy(x, y)
        node = np.full(px.size, -1, dtype=np.int64)
        dist = np.full(px.size, np.inf)
        ok = np.isfinite(px) & np.isfinite(py)
        if ok.any():
            d, i = self._tree.query(np.column_stack([px[ok], py[ok]]), k=1)
            node[ok] = i
            dist[ok] = d
        return node, dist

    def covers(self, x: npt.ArrayLike, y: npt.ArrayLike) -> BoolArray:
        """Whether each point (EPSG:27700 metres) lies within the coverage polygon."""
        px, py = _xy(x, y)
        return np.asarray(shapely.intersects_xy(self._prepared_coverage, px, py), dtype=bool)

    def travel(
        self,
        sources: npt.ArrayLike,
        *,
        limit_minutes: float | None = None,
        reverse: bool = False,
    ) -> tuple[FloatArray, FloatArray]:
        """Fastest travel from each source node to every node, in one Dijkstra call.

        Parameters
        ----------
        sources
            Node indices (``0..n-1``) to start from.
        limit_minutes
            Stop searching beyond this many minutes; farther nodes are ``inf``.
        reverse
            Times *to* the sources instead of from them (the transposed graph), which
            differs where streets are one-way.

        Returns
        -------
        minutes, metres
            Arrays of shape ``(len(sources), n_nodes)``: minutes of the fastest path and its
            length in metres; ``inf`` where unreachable (or beyond the limit).
        """
        src = _index_array(sources, "sources", self.n_nodes).astype(np.int64)
        n = self.n_nodes
        if limit_minutes is None:
            limit = np.inf
        else:
            limit = float(limit_minutes)
            if np.isnan(limit) or limit < 0:
                msg = f"limit_minutes must be ≥ 0 minutes or None, got {limit_minutes!r}"
                raise NetworkError(msg)
        if src.size == 0:
            empty = np.empty((0, n))
            return empty, empty.copy()
        graph = self._minutes_csr_reversed if reverse else self.minutes_csr
        speed = self._constant_m_per_min
        if speed is not None:
            minutes = dijkstra(graph, directed=True, indices=src, limit=limit)
            return minutes, minutes * speed
        minutes, pred = dijkstra(
            graph, directed=True, indices=src, limit=limit, return_predecessors=True
        )
        return minutes, self._path_metres(pred, minutes, reverse=reverse)

    def _path_metres(
        self, pred: npt.NDArray[np.int32], minutes: FloatArray, *, reverse: bool
    ) -> FloatArray:
        """Length in metres of every shortest path given Dijkstra's predecessor matrix.

        Pointer jumping: each node's sum is extended by its pointer's sum while the pointer
        doubles its stride, so paths of depth d take ``log2(d)`` vectorised steps.
        """
        n = self.n_nodes
        if self.n_edges == 0:
            return np.where(np.isfinite(minutes), 0.0, np.inf)
        ptr = pred.astype(np.int64)
        has_pred = ptr >= 0
        child = np.broadcast_to(np.arange(n, dtype=np.int64), ptr.shape)
        # The edge used to reach v: pred→v on the graph, v→pred on the transposed graph.
        a, b = (child, ptr) if reverse else (ptr, child)
        keys = np.where(has_pred, a * n + b, -1)
        pos = np.searchsorted(self._edge_keys, keys)
        acc = np.where(has_pred, self.edge_m[np.minimum(pos, self.n_edges - 1)], 0.0)
        ptr = np.where(has_pred, ptr, -1)
        while (live := ptr >= 0).any():
            safe = np.where(live, ptr, 0)
            acc = acc + np.where(live, np.take_along_axis(acc, safe, axis=1), 0.0)
            ptr = np.where(live, np.take_along_axis(ptr, safe, axis=1), -1)
        acc[~np.isfinite(minutes)] = np.inf
        return acc

    # ------------------------------------------------------------------ export, disk

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """Edges as straight node-to-node LineStrings in EPSG:27700.

        Columns ``u``, ``v`` (node indices), ``metres``, ``minutes`` and ``geometry``.
        """
        import geopandas as gpd

        coords = np.stack(
            [
                np.column_stack([self.node_x[self.edge_u], self.node_y[self.edge_u]]),
                np.column_stack([self.node_x[self.edge_v], self.node_y[self.edge_v]]),
            ],
            axis=1,
        )
        lines = shapely.linestrings(coords) if self.n_edges else np.empty(0, dtype=object)
        return gpd.GeoDataFrame(
            {
                "u": self.edge_u.astype(np.int64),
                "v": self.edge_v.astype(np.int64),
                "metres": self.edge_m,
                "minutes": self.edge_min,
            },
            geometry=gpd.GeoSeries(lines, crs=self.crs),
            crs=self.crs,
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the network to ``path`` (``.npz``: arrays, WKB coverage, JSON metadata) atomically."""
        target = Path(path)
        meta = {
            "format_version": FORMAT_VERSION,
            "mode": self.mode,
            "walk_kmh": self.walk_kmh,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "crs": self.crs,
        }
        arrays: dict[str, Any] = {name: getattr(self, name) for name in _ARRAY_FIELDS}
        arrays["coverage_wkb"] = np.frombuffer(shapely.to_wkb(self.coverage), dtype=np.uint8)
        arrays["meta"] = np.array(json.dumps(meta))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        with atomic_open(target, "wb") as fh:
            fh.write(buffer.getvalue())  # type: ignore[arg-type]
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StreetNetwork:
        """Read a network written by :meth:`save`."""
        source = Path(path)
        try:
            with np.load(source, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"][()]))
                arrays = {name: data[name] for name in _ARRAY_FIELDS}
                coverage = shapely.from_wkb(data["coverage_wkb"].tobytes())
        except (
            OSError,
            EOFError,
            ValueError,
            KeyError,
            zipfile.BadZipFile,
            shapely.errors.GEOSException,
        ) as exc:
            msg = f"cannot read network cache {source}: {exc} (expected a .npz written by StreetNetwork.save)"
            raise NetworkError(msg) from exc
        if meta.get("format_version") != FORMAT_VERSION:
            msg = (
                f"network cache {source} has format version {meta.get('format_version')!r}, "
                f"expected {FORMAT_VERSION}; delete it to rebuild"
            )
            raise NetworkError(msg)
        return cls(
            mode=meta["mode"],
            walk_kmh=float(meta["walk_kmh"]),
            coverage=coverage,
            source=meta["source"],
            source_sha256=meta["source_sha256"],
            crs=meta["crs"],
            **arrays,
        )

    def __repr__(self) -> str:
        name = Path(self.source).name if self.source else "synthetic"
        return (
            f"StreetNetwork(mode={self.mode!r}, nodes={self.n_nodes:,}, "
            f"edges={self.n_edges:,}, walk_kmh={self.walk_kmh}, source={name!r})"
        )


# ---------------------------------------------------------------------- array helpers


def _float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be numbers: {exc}"
        raise NetworkError(msg) from exc


def _index_array(values: npt.ArrayLike, name: str, n: int) -> IntArray:
    array = np.asarray(values).ravel()
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0):
            array = array.astype(np.int64)
        else:
            msg = f"{name} must be integer node indices, got dtype {array.dtype}"
            raise NetworkError(msg)
    out = array.astype(np.int64)
    bad = (out < 0) | (out >= n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"{name}[{i}] = {out[i]} is not a node index (expected 0..{n - 1})"
        raise NetworkError(msg)
    return out


def _check_mode_and_speeds(mode: str, *, walk_kmh: float, cycle_kmh: float) -> None:
    if mode not in MODES:
        msg = f"network mode {mode!r} is not one of {MODES}"
        raise NetworkError(msg)
    for name, kmh in (("walk_kmh", walk_kmh), ("cycle_kmh", cycle_kmh)):
        if not (isinstance(kmh, int | float) and np.isfinite(kmh) and kmh > 0):
            msg = f"{name} must be a positive number of km/h, got {kmh!r}"
            raise NetworkError(msg)


def _check_weights(values: FloatArray, name: str, unit: str) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"{name}[{i}] = {float(values[i])} is not a travel cost (expected finite {unit} ≥ 0)"
        raise NetworkError(msg)


def _fastest_per_pair(
    u: IntArray, v: IntArray, metres: FloatArray, minutes: FloatArray
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """One row per directed ``(u, v)``: the least minutes (ties: least metres), sorted by ``(u, v)``.

    scipy sums duplicate entries when building a sparse matrix, so duplicates must go first.
    """
    keep = u != v
    u, v, metres, minutes = u[keep], v[keep], metres[keep], minutes[keep]
    order = np.lexsort((metres, minutes, v, u))
    u, v, metres, minutes = u[order], v[order], metres[order], minutes[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[first], v[first], metres[first], minutes[first]


def _coverage_from_edges(
    x: FloatArray, y: FloatArray, u: IntArray, v: IntArray, *, buffer_m: float
) -> shapely.Geometry:
    """Straight node-to-node edges and isolated nodes, buffered by ``buffer_m`` and unioned."""
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    pairs = np.unique(np.column_stack([lo, hi]), axis=0) if u.size else np.empty((0, 2), np.int64)
    coords = np.stack(
        [
            np.column_stack([x[pairs[:, 0]], y[pairs[:, 0]]]),
            np.column_stack([x[pairs[:, 1]], y[pairs[:, 1]]]),
        ],
        axis=1,
    )
    lines = shapely.linestrings(coords) if pairs.size else np.empty(0, dtype=object)
    isolated = np.ones(x.size, dtype=bool)
    isolated[pairs.ravel()] = False
    points = shapely.points(x[isolated], y[isolated])
    return coverage_polygon(np.concatenate([lines, points]), buffer_m=buffer_m)


def coverage_polygon(geometries: npt.NDArray[np.object_], *, buffer_m: float) -> shapely.Geometry:
    """Union of the geometries (EPSG:27700) each buffered by ``buffer_m`` metres.

    Buffering the parts then one cascaded union is several times faster than buffering a
    single multi-part geometry (1.5 s against 15 s for the Rutland walk network).
    """
    return shapely.union_all(shapely.buffer(geometries, buffer_m, quad_segs=4))


def _xy(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    px = np.asarray(x, dtype=np.float64).ravel()
    py = np.asarray(y, dtype=np.float64).ravel()
    if px.size != py.size:
        msg = f"x has {px.size} values but y has {py.size}"
        raise NetworkError(msg)
    return px, py


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


def _cache_path(
    source: Path,
    digest: str,
    *,
    mode: str,
    walk_kmh: float,
    cycle_kmh: float,
    cache_dir: str | os.PathLike[str] | None,
) -> Path:
    from importlib.metadata import version

    from assetmap._paths import cache_dir as default_cache_dir

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "networks"
    key = json.dumps(
        {
            "sha256": digest,
            "mode": mode,
            "walk_kmh": float(walk_kmh),
            "cycle_kmh": float(cycle_kmh) if mode == "cycle" else None,
            "format": FORMAT_VERSION,
            "build": _BUILD_VERSION,
            "osmnx": version("osmnx"),
        },
        sort_keys=True,
    )
    short = hashlib.sha256(key.encode()).hexdigest()[:16]
    stem = source.name.split(".")[0] or "network"
    return folder / f"{stem}-{mode}-{short}.npz"


#: Version of the OSM → network build; bump when filters, weights or coverage change.
_BUILD_VERSION: Final = 1
