"""Checks and reductions of the node and edge arrays a street network is built from (EPSG:27700)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

from assetmap._errors import NetworkError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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
