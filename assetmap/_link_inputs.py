"""link()'s inputs: frames, CRSs and options checked; asset points projected to EPSG:27700."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from assetmap._errors import CRSError
from assetmap.schema import CRS_BNG

if TYPE_CHECKING:
    from assetmap.network import StreetNetwork

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_ACCEPTED_EPSG: Final = (4326, 27700)


# ---------------------------------------------------------------------------- validation


def _basic_checks(
    micro: object,
    macro: object,
    *,
    k: int | None,
    within_m: float | None,
    rules: object,
    network: object,
    mode: str | None,
    max_minutes: float | None,
    walk_kmh: float | None,
    snap_tolerance_m: float,
    decay: object,
) -> dict[str, StreetNetwork]:
    for side, frame in (("micro", micro), ("macro", macro)):
        if not isinstance(frame, gpd.GeoDataFrame):
            msg = f"{side} must be a GeoDataFrame of assets, got {type(frame).__name__}"
            raise TypeError(msg)
        if not frame.index.is_unique:
            dup = frame.index[frame.index.duplicated()][0]
            msg = f"{side} asset ids must be unique; {str(dup)!r} appears more than once"
            raise ValueError(msg)
    assert isinstance(micro, gpd.GeoDataFrame) and isinstance(macro, gpd.GeoDataFrame)
    check_crs(micro, macro)
    if k is not None and (isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1):
        msg = f"k must be a whole number ≥ 1, got {k!r}"
        raise ValueError(msg)
    for label, value in (
        ("within_m", within_m),
        ("max_minutes", max_minutes),
        ("walk_kmh", walk_kmh),
    ):
        if value is not None and not (np.isfinite(value) and value > 0):
            msg = f"{label} must be a positive finite number, got {value!r}"
            raise ValueError(msg)
    if not (np.isfinite(snap_tolerance_m) and snap_tolerance_m >= 0):
        msg = f"snap_tolerance_m must be a finite number of metres ≥ 0, got {snap_tolerance_m!r}"
        raise ValueError(msg)
    if rules is not None:
        given = [
            name
            for name, value in (
                ("within_m", within_m),
                ("max_minutes", max_minutes),
                ("mode", mode),
                ("decay", decay),
            )
            if value is not None
        ]
        if given:
            msg = f"{', '.join(given)} apply only without rules; give each rule its own mode, reach and decay"
            raise ValueError(msg)
    networks = _networks_by_mode(network)
    if rules is None and mode is not None:
        if mode not in ("euclidean", "walk", "cycle", "drive"):
            msg = f"mode {mode!r} is not one of euclidean|walk|cycle|drive"
            raise ValueError(msg)
        if networks and mode not in networks:
            msg = (
                f"mode={mode!r} but the network given is for {sorted(networks)}; "
                "pass a network of that mode, or leave mode out to use the network's"
            )
            raise ValueError(msg)
    return networks


def check_crs(
    micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame, *, names: tuple[str, str] = ("micro", "macro")
) -> None:
    """Refuse missing, mismatched or unsupported CRSs (EPSG:4326 and EPSG:27700 are accepted).

    Raises
    ------
    CRSError
        Naming both CRSs on a mismatch, and what to do.
    """
    first, second = names
    for side, frame in ((first, micro), (second, macro)):
        if frame.crs is None:
            msg = (
                f"{side} has no CRS: set it, e.g. frame.set_crs('EPSG:4326') for longitude/latitude"
            )
            raise CRSError(msg)
    a, b = CRS.from_user_input(micro.crs), CRS.from_user_input(macro.crs)
    if a != b:
        msg = (
            f"{first} is {_crs_name(a)} but {second} is {_crs_name(b)}: reproject one of them "
            f"(both must share a CRS; distances are computed in {CRS_BNG})"
        )
        raise CRSError(msg)
    if a.to_epsg() not in _ACCEPTED_EPSG:
        kind = "a geographic" if a.is_geographic else "a projected"
        msg = (
            f"{first} and {second} are in {_crs_name(a)}, {kind} CRS assetmap does not measure in: "
            f"pass EPSG:4326 (longitude/latitude) or {CRS_BNG} (metres); distances are computed in {CRS_BNG}"
        )
        raise CRSError(msg)


def _crs_name(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code}" if code is not None else repr(crs.name)


def _networks_by_mode(network: object) -> dict[str, StreetNetwork]:
    if network is None:
        return {}
    from assetmap.network import StreetNetwork

    if isinstance(network, StreetNetwork):
        return {network.mode: network}
    if isinstance(network, Mapping):
        out: dict[str, StreetNetwork] = {}
        for key, value in network.items():
            if not isinstance(value, StreetNetwork) or value.mode != key:
                msg = f"network[{key!r}] must be a StreetNetwork with mode {key!r}, got {value!r}"
                raise ValueError(msg)
            out[key] = value
        return out
    msg = f"network must be a StreetNetwork or a mapping mode → StreetNetwork, got {type(network).__name__}"
    raise TypeError(msg)


# ---------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class AssetPoints:
    """Asset locations in EPSG:27700 as arrays (one entry per row of the frame)."""

    ids: pd.Index
    x: FloatArray
    y: FloatArray
    placed: BoolArray

    @cached_property
    def id_rank(self) -> IntArray:
        """Rank of each id (text) in sorted order, for deterministic order and tie-breaks."""
        order = self.ids.argsort()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return rank


def project_points(frame: gpd.GeoDataFrame) -> AssetPoints:
    """Point coordinates of an asset frame in EPSG:27700 metres.

    Non-point geometries use ``shapely.point_on_surface``; missing or empty geometries, and
    points that cannot be projected, are ``placed=False`` with NaN coordinates.
    """
    ids = frame.index.astype("str")
    geoms = np.asarray(frame.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    is_point = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
    points: npt.NDArray[np.object_] = np.where(is_point | missing, geoms, np.array(None))
    other = ~is_point & ~missing
    if other.any():
        points[other] = shapely.point_on_surface(geoms[other])
    with np.errstate(invalid="ignore"):
        x = np.asarray(shapely.get_x(points), dtype=np.float64)
        y = np.asarray(shapely.get_y(points), dtype=np.float64)
    crs = CRS.from_user_input(frame.crs) if frame.crs is not None else None
    if crs is not None and crs.to_epsg() == 4326:
        x, y = _wgs84_to_bng().transform(x, y)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    placed = ~missing & np.isfinite(x) & np.isfinite(y)
    x = np.where(placed, x, np.nan)
    y = np.where(placed, y, np.nan)
    return AssetPoints(ids=ids, x=x, y=y, placed=placed)


@functools.cache
def _wgs84_to_bng() -> Transformer:
    """One EPSG:4326 → EPSG:27700 transformer per process (building one costs ~0.1 s)."""
    return Transformer.from_crs(4326, 27700, always_xy=True)
