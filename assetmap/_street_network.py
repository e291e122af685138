"""StreetNetwork: a directed street network as arrays in EPSG:27700; snapping, coverage, travel times."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from assetmap._errors import NetworkError
from assetmap._network_arrays import (
    BoolArray,
    FloatArray,
    IntArray,
    _check_weights,
    _coverage_from_edges,
    _fastest_per_pair,
    _float_array,
    _index_array,
    _xy,
)
from assetmap._network_cache import read_network, write_network
from assetmap.schema import CRS_BNG

if TYPE_CHECKING:
    import geopandas as gpd

#: Travel modes a network can be built for.
MODES: Final = ("walk", "cycle", "drive")
#: Default walking speed in km/h (DfT Journey Time Statistics use 4.8 km/h).
WALK_KMH: Final = 4.8
#: Default cycling speed in km/h (DfT Journey Time Statistics use 16 km/h).
CYCLE_KMH: Final = 16.0
#: Tolerance on edge speeds below which a network counts as constant-speed (relative).
_SPEED_RTOL: Final = 1e-9


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
        return write_network({f.name: getattr(self, f.name) for f in fields(self)}, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StreetNetwork:
        """Read a network written by :meth:`save`."""
        return cls(**read_network(path))

    def __repr__(self) -> str:
        name = Path(self.source).name if self.source else "synthetic"
        return (
            f"StreetNetwork(mode={self.mode!r}, nodes={self.n_nodes:,}, "
            f"edges={self.n_edges:,}, walk_kmh={self.walk_kmh}, source={name!r})"
        )


def _check_mode_and_speeds(mode: str, *, walk_kmh: float, cycle_kmh: float) -> None:
    if mode not in MODES:
        msg = f"network mode {mode!r} is not one of {MODES}"
        raise NetworkError(msg)
    for name, kmh in (("walk_kmh", walk_kmh), ("cycle_kmh", cycle_kmh)):
        if not (isinstance(kmh, int | float) and np.isfinite(kmh) and kmh > 0):
            msg = f"{name} must be a positive number of km/h, got {kmh!r}"
            raise NetworkError(msg)
