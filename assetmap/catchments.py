"""Catchments of macro-assets: network isochrone bands or straight-line buffers, and membership.

A network band is the union of every street stretch from which the site can be reached within
``t`` minutes, buffered by ``edge_buffer_m`` — not a convex hull, so rivers, railways and
one-way systems show. Sites the network does not reach (and every site when no network is
given) get a disc of radius ``speed × t`` labelled ``euclidean`` with a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS

from assetmap._errors import CRSError
from assetmap.links import DEFAULT_WALK_KMH, project_points
from assetmap.rules import straight_line_kmh
from assetmap.schema import CRS_BNG, CRS_WGS84

if TYPE_CHECKING:
    from assetmap.network import StreetNetwork

__all__ = ["CATCHMENT_COLUMNS", "MEMBERSHIP_COLUMNS", "catchments", "membership"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Columns of the catchments frame (plus ``geometry``), in order.
CATCHMENT_COLUMNS: Final = ("macro_id", "band_minutes", "mode", "area_m2", "note")
#: Columns of the membership table, in order.
MEMBERSHIP_COLUMNS: Final = ("micro_id", "macro_id", "band_minutes", "mode")
#: Segments per quarter circle of the buffers (GEOS default 16; 8 is indistinguishable on a map).
_QUAD_SEGS: Final = 8


def catchments(
    macro: gpd.GeoDataFrame,
    *,
    network: StreetNetwork | None = None,
    minutes: Iterable[float] = (10, 20, 30),
    mode: str | None = None,
    walk_kmh: float | None = None,
    edge_buffer_m: float = 50.0,
    snap_tolerance_m: float = 250.0,
) -> gpd.GeoDataFrame:
    """Travel-time bands around each macro-asset.

    Parameters
    ----------
    macro
        Sites indexed by ``asset_id``, CRS EPSG:4326 or EPSG:27700. Sites without a location
        get no catchment (they are listed in ``result.attrs["unplaced"]``).
    network
        Street network (EPSG:27700). Without one every band is a straight-line disc.
    minutes
        Band limits in minutes, e.g. ``(10, 20, 30)``; each band is cumulative (the 20-minute
        band contains the 10-minute one).
    mode
        ``"walk"``, ``"cycle"`` or ``"drive"``; default the network's mode, or ``"walk"``.
        Without a network (or off it) the disc radius is ``t`` minutes at ``walk_kmh`` for
        walking, 16 km/h cycling, 30 km/h driving (:data:`assetmap.rules.STRAIGHT_LINE_KMH`).
    walk_kmh
        Walking speed (km/h) for the snap from site to node and for walking discs; default the
        network's ``walk_kmh``, else 4.8.
    edge_buffer_m
        Metres either side of a reachable street that count as inside the band.
    snap_tolerance_m
        A site farther than this (metres) from its nearest node gets a disc instead.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per site and band, columns ``macro_id``, ``band_minutes``,
        ``mode`` (the network's mode, or ``"euclidean"``), ``area_m2`` (EPSG:27700),
        ``note`` and polygon ``geometry``; sorted by macro_id then band.

    Notes
    -----
    Times are *to* the site (one Dijkstra call for all sites on the reversed graph, cut at
    the largest band), so one-way streets count the way a visitor travels. A directed edge
    ``u → v`` whose end ``v`` reaches the site in ``T_v`` minutes contributes the stretch
    from which the rest of the edge plus ``T_v`` fits in ``t``: the last
    ``(t - T_v) / edge_minutes`` of it, cut along the straight node-to-node line (the
    network keeps no curve geometry). The walk from the site to its snapped node (``snap_m``
    at walking speed) counts against every band, and the reachable part of that connector is
    included. Blocks wider than twice ``edge_buffer_m`` stay holes in the band.
    """
    bands = _bands(minutes)
    _check_frame_crs(macro, "macro")
    if not (np.isfinite(edge_buffer_m) and edge_buffer_m > 0):
        msg = f"edge_buffer_m must be a positive number of metres, got {edge_buffer_m!r}"
        raise ValueError(msg)
    if not (np.isfinite(snap_tolerance_m) and snap_tolerance_m >= 0):
        msg = f"snap_tolerance_m must be a finite number of metres ≥ 0, got {snap_tolerance_m!r}"
        raise ValueError(msg)
    if walk_kmh is not None and not (np.isfinite(walk_kmh) and walk_kmh > 0):
        msg = f"walk_kmh must be a positive number of km/h, got {walk_kmh!r}"
        raise ValueError(msg)
    if network is not None and mode is not None and mode != network.mode:
        msg = f"mode={mode!r} but the network is a {network.mode} network; leave mode out or pass a {mode} network"
        raise ValueError(msg)
    if mode is not None and mode not in ("walk", "cycle", "drive"):
        msg = f"mode {mode!r} is not one of walk|cycle|drive"
        raise ValueError(msg)
    chosen = network.mode if network is not None else (mode or "walk")
    walk = walk_kmh or (network.walk_kmh if network is not None else DEFAULT_WALK_KMH)

    points = project_points(macro)
    placed = np.flatnonzero(points.placed)
    on = np.zeros(placed.size, dtype=bool)
    node = np.full(placed.size, -1, dtype=np.int64)
    snap_m = np.full(placed.size, np.nan)
    if network is not None and placed.size:
        node, snap_m = network.snap(points.x[placed], points.y[placed])
        covered = network.covers(points.x[placed], points.y[placed])
        on = covered & (snap_m <= snap_tolerance_m)

    geoms: list[npt.NDArray[np.object_]] = []
    site: list[IntArray] = []
    band: list[FloatArray] = []
    modes: list[npt.NDArray[np.object_]] = []
    notes: list[npt.NDArray[np.object_]] = []
    if on.any():
        assert network is not None
        g, s, b = _network_bands(
            network,
            points.x[placed[on]],
            points.y[placed[on]],
            node[on],
            snap_m[on],
            bands,
            walk_m_per_min=walk * 1000.0 / 60.0,
            edge_buffer_m=edge_buffer_m,
        )
        geoms.append(g)
        site.append(placed[on][s])
        band.append(b)
        modes.append(np.full(s.size, chosen, dtype=object))
        notes.append(np.full(s.size, "", dtype=object))
    off = placed[~on]
    if off.size:
        kmh = straight_line_kmh(chosen, walk_kmh=walk)
        radius = np.tile(bands, off.size) * kmh * 1000.0 / 60.0
        centres = shapely.points(
            np.repeat(points.x[off], bands.size), np.repeat(points.y[off], bands.size)
        )
        geoms.append(shapely.buffer(centres, radius, quad_segs=_QUAD_SEGS))
        site.append(np.repeat(off, bands.size))
        band.append(np.tile(bands, off.size))
        modes.append(np.full(radius.size, "euclidean", dtype=object))
        notes.append(_disc_notes(network, snap_m[~on], snap_tolerance_m, bands, kmh, chosen))

    all_site = np.concatenate(site) if site else np.empty(0, np.int64)
    all_band = np.concatenate(band) if band else np.empty(0)
    order = np.lexsort((all_band, points.id_rank[all_site]))
    geometry = np.concatenate(geoms)[order] if geoms else np.empty(0, dtype=object)
    frame = gpd.GeoDataFrame(
        {
            "macro_id": points.ids.take(all_site[order]).array,
            "band_minutes": all_band[order],
            "mode": pd.array(np.concatenate(modes)[order] if modes else [], dtype="str"),
            "area_m2": shapely.area(geometry) if geometry.size else np.empty(0),
            "note": pd.array(np.concatenate(notes)[order] if notes else [], dtype="str"),
        },
        geometry=gpd.GeoSeries(geometry, crs=CRS_BNG),
        crs=CRS_BNG,
    ).to_crs(CRS_WGS84)
    frame.attrs["unplaced"] = [str(i) for i in points.ids[~points.placed]]
    return frame


def membership(catchments: gpd.GeoDataFrame, micro: gpd.GeoDataFrame) -> pd.DataFrame:
    """The smallest band of each site that contains each micro-asset.

    Parameters
    ----------
    catchments
        Output of :func:`catchments` (EPSG:4326 or EPSG:27700).
    micro
        Micro-assets indexed by ``asset_id`` (EPSG:4326 or EPSG:27700).

    Returns
    -------
    pandas.DataFrame
        Columns ``micro_id``, ``macro_id``, ``band_minutes``, ``mode``: one row per micro-asset
        and site whose catchment contains it (boundary included), with that site's smallest
        such band; a micro-asset in no catchment (or without a location) keeps one row with
        ``macro_id``/``band_minutes``/``mode`` missing. Sorted by micro_id, band, macro_id,
        so ``.groupby("micro_id").head(1)`` is each micro-asset's nearest band.
    """
    _check_frame_crs(catchments, "catchments")
    _check_frame_crs(micro, "micro")
    missing = set(CATCHMENT_COLUMNS[:3]) - set(catchments.columns)
    if missing:
        msg = f"catchments lacks column(s) {sorted(missing)}; expected the output of assetmap.catchments()"
        raise ValueError(msg)
    polygons = np.asarray(catchments.to_crs(CRS_BNG).geometry.array, dtype=object)
    usable = ~(shapely.is_missing(polygons) | shapely.is_empty(polygons))
    points = project_points(micro)
    placed = np.flatnonzero(points.placed)
    tree = shapely.STRtree(polygons[usable])
    if placed.size and usable.any():
        hit_point, hit_poly = tree.query(
            shapely.points(points.x[placed], points.y[placed]), predicate="intersects"
        )
    else:
        hit_point = hit_poly = np.empty(0, dtype=np.int64)
    poly_rows = np.flatnonzero(usable)[hit_poly]
    hits = pd.DataFrame(
        {
            "pos": placed[hit_point],
            "macro_id": catchments["macro_id"].astype("str").to_numpy()[poly_rows],
            "band_minutes": catchments["band_minutes"].to_numpy(dtype=np.float64)[poly_rows],
            "mode": catchments["mode"].astype("str").to_numpy()[poly_rows],
        }
    )
    best = hits.sort_values(["pos", "macro_id", "band_minutes"], kind="stable").drop_duplicates(
        ["pos", "macro_id"]
    )
    outside = np.setdiff1d(np.arange(points.ids.size), best["pos"].to_numpy())
    rows = pd.concat(
        [best, pd.DataFrame({"pos": outside, "band_minutes": np.full(outside.size, np.nan)})],
        ignore_index=True,
    )
    rank = points.id_rank[rows["pos"].to_numpy(dtype=np.int64)]
    rows = rows.assign(_rank=rank).sort_values(
        ["_rank", "band_minutes", "macro_id"], kind="stable", na_position="last"
    )
    return pd.DataFrame(
        {
            "micro_id": points.ids.take(rows["pos"].to_numpy(dtype=np.int64)).array,
            "macro_id": pd.array(rows["macro_id"].to_numpy(dtype=object), dtype="str"),
            "band_minutes": rows["band_minutes"].to_numpy(dtype=np.float64),
            "mode": pd.array(rows["mode"].to_numpy(dtype=object), dtype="str"),
        },
        columns=list(MEMBERSHIP_COLUMNS),
    )


def _bands(minutes: Iterable[float]) -> FloatArray:
    try:
        values = np.asarray(list(minutes), dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        msg = f"minutes must be numbers of minutes, e.g. (10, 20, 30): {exc}"
        raise ValueError(msg) from exc
    if values.size == 0 or not (np.isfinite(values).all() and (values > 0).all()):
        msg = f"minutes must be one or more positive numbers of minutes, got {values.tolist()}"
        raise ValueError(msg)
    return np.unique(values)


def _check_frame_crs(frame: gpd.GeoDataFrame, side: str) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{side} must be a GeoDataFrame, got {type(frame).__name__}"
        raise TypeError(msg)
    if frame.crs is None:
        msg = f"{side} has no CRS: set it, e.g. frame.set_crs('EPSG:4326') for longitude/latitude"
        raise CRSError(msg)
    crs = CRS.from_user_input(frame.crs)
    if crs.to_epsg() not in (4326, 27700):
        code = crs.to_epsg()
        name = f"EPSG:{code}" if code is not None else repr(crs.name)
        msg = (
            f"{side} is in {name}: pass EPSG:4326 (longitude/latitude) or {CRS_BNG} (metres); "
            f"distances and areas are computed in {CRS_BNG}"
        )
        raise CRSError(msg)


def _network_bands(
    network: StreetNetwork,
    site_x: FloatArray,
    site_y: FloatArray,
    site_node: IntArray,
    snap_m: FloatArray,
    bands: FloatArray,
    *,
    walk_m_per_min: float,
    edge_buffer_m: float,
) -> tuple[npt.NDArray[np.object_], IntArray, FloatArray]:
    """Buffered reachable street stretches per (site, band); one travel call for all sites.

    Each street is drawn once (a two-way street is two directed edges), and each band is the
    previous band plus the stretches it adds, so no stretch is buffered or unioned twice.
    """
    nodes, row = np.unique(site_node, return_inverse=True)
    to_node, _ = network.travel(nodes, limit_minutes=float(bands.max()), reverse=True)
    u, v = network.edge_u.astype(np.int64), network.edge_v.astype(np.int64)
    street = np.minimum(u, v) * network.n_nodes + np.maximum(u, v)
    snap_min = snap_m / walk_m_per_min
    polygons = np.empty(site_x.size * bands.size, dtype=object)
    for s in range(site_x.size):
        # Minutes from the head of each edge to the site, including the node-to-site walk.
        t_v = to_node[row[s]][v] + snap_min[s]
        live = np.flatnonzero(t_v <= bands[-1])
        previous: shapely.Geometry | None = None
        drawn_full = np.empty(0, dtype=np.int64)
        for b, limit in enumerate(bands):
            lines, streets, full = _reachable_stretches(network, live, u, v, t_v, street, limit)
            fresh = ~np.isin(streets, drawn_full)
            connector = _connector(
                site_x[s], site_y[s], network, site_node[s], snap_m[s], limit * walk_m_per_min
            )
            pieces = shapely.buffer(
                np.append(lines[fresh], connector), edge_buffer_m, quad_segs=_QUAD_SEGS
            )
            if previous is not None:
                pieces = np.append(pieces, previous)
            previous = shapely.union_all(pieces)
            drawn_full = streets[full]
            polygons[s * bands.size + b] = previous
    site_index = np.repeat(np.arange(site_x.size), bands.size)
    return polygons, site_index, np.tile(bands, site_x.size)


def _reachable_stretches(
    network: StreetNetwork,
    live: IntArray,
    u: IntArray,
    v: IntArray,
    t_v: FloatArray,
    street: IntArray,
    limit: float,
) -> tuple[npt.NDArray[np.object_], IntArray, npt.NDArray[np.bool_]]:
    """Straight stretches of the edges ``live`` reachable within ``limit`` minutes.

    Returns the lines, the street key of each (undirected node pair) and whether the whole
    street is covered. A fully covered street is drawn once; a partial stretch is dropped
    when the opposite direction covers the whole street.
    """
    edge_min = network.edge_min[live]
    spare = limit - t_v[live]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(edge_min > 0, spare / edge_min, np.inf)
    frac = np.where(spare >= 0, np.clip(frac, 0.0, 1.0), 0.0)
    keys = street[live]
    full = frac >= 1.0
    full_streets, first = np.unique(keys[full], return_index=True)
    full_idx = live[full][first]
    part = (frac > 0) & ~full & ~np.isin(keys, full_streets)
    part_idx, f = live[part], frac[part]
    x, y = network.node_x, network.node_y
    # A partial stretch runs from the point a fraction f before the head v, to v.
    start_x = np.concatenate(
        [x[u[full_idx]], x[v[part_idx]] + f * (x[u[part_idx]] - x[v[part_idx]])]
    )
    start_y = np.concatenate(
        [y[u[full_idx]], y[v[part_idx]] + f * (y[u[part_idx]] - y[v[part_idx]])]
    )
    end_x = np.concatenate([x[v[full_idx]], x[v[part_idx]]])
    end_y = np.concatenate([y[v[full_idx]], y[v[part_idx]]])
    coords = np.stack(
        [np.column_stack([start_x, start_y]), np.column_stack([end_x, end_y])], axis=1
    )
    lines = shapely.linestrings(coords) if coords.size else np.empty(0, dtype=object)
    streets = np.concatenate([full_streets, keys[part]])
    is_full = np.concatenate([np.ones(full_idx.size, bool), np.zeros(part_idx.size, bool)])
    return np.asarray(lines, dtype=object), streets, is_full


def _connector(
    site_x: float,
    site_y: float,
    network: StreetNetwork,
    node: int,
    snap_m: float,
    reach_m: float,
) -> shapely.Geometry:
    """The walk from the site towards its node, as far as ``reach_m`` metres allow."""
    share = min(1.0, reach_m / snap_m) if snap_m > 0 else 1.0
    end_x = site_x + share * (network.node_x[node] - site_x)
    end_y = site_y + share * (network.node_y[node] - site_y)
    return shapely.LineString([(site_x, site_y), (end_x, end_y)])


def _disc_notes(
    network: StreetNetwork | None,
    snap_m: FloatArray,
    tolerance_m: float,
    bands: FloatArray,
    kmh: float,
    mode: str,
) -> npt.NDArray[np.object_]:
    """Why each off-network site got discs, one text per (site, band)."""
    radius = bands * kmh * 1000.0 / 60.0
    tail = [
        f"straight-line buffer of {r:,.0f} m ({t:g} min at {kmh:g} km/h)"
        for r, t in zip(radius, bands, strict=True)
    ]
    if network is None:
        why = np.full(snap_m.size, f"no {mode} network given", dtype=object)
    else:
        rounded = pd.Series(snap_m).round().astype("Int64").astype(str)
        why = np.where(
            snap_m > tolerance_m,
            "outside_network: site snapped " + rounded + f" m > {tolerance_m:,.0f} m tolerance",
            f"outside_network: site outside the {mode} network's coverage",
        ).astype(object)
    return np.asarray([f"{w}; {t}" for w in why for t in tail], dtype=object)
