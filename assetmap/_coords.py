"""Coordinates typed in a row: parsed, checked (swapped, range, UK extent), put in WGS84."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from assetmap import schema
from assetmap._placement import Bools, Floats, Objects, Rows, Texts, _Failures, _says

#: UK extent in WGS84 degrees (RELIABILITY §1.4).
UK_LON: Final = (-8.7, 1.8)
UK_LAT: Final = (49.8, 60.9)
#: Valid British National Grid range in metres (EPSG:27700).
BNG_EASTING: Final = (0.0, 700_000.0)
BNG_NORTHING: Final = (0.0, 1_300_000.0)
#: Coordinate cell text that means "no value" (stripped, case-insensitive).
NULL_TOKENS: Final = frozenset({"na", "n/a", "null", "none", "nil", "#n/a", "-"})

_NON_FINITE_TEXT = r"[+-]?(?:nan|inf|infinity)"
_EXAMPLES: Final = {
    "lat": "WGS84 decimal degrees, e.g. '52.4912'",
    "lon": "WGS84 decimal degrees, e.g. '-1.9499'",
    "easting": "British National Grid metres, e.g. '403502'",
    "northing": "British National Grid metres, e.g. '288149'",
}
_EXTENT = f"latitude {UK_LAT[0]}..{UK_LAT[1]}, longitude {UK_LON[0]}..{UK_LON[1]} (WGS84)"


def _has_geometry(frame: pd.DataFrame) -> bool:
    return isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame


def _outside_grid(east: Floats, north: Floats) -> Callable[[Rows], Texts]:
    """Message builder for easting/northing outside the British National Grid."""
    expected = (
        f"(expected easting {BNG_EASTING[0]:.0f}..{BNG_EASTING[1]:.0f}, "
        f"northing {BNG_NORTHING[0]:.0f}..{BNG_NORTHING[1]:.0f} metres)"
    )

    def build(rows: Rows) -> Texts:
        pairs = [
            f"easting, northing ({e:g}, {n:g})"
            for e, n in zip(east[rows], north[rows], strict=True)
        ]
        return np.asarray(pairs, dtype=object) + " is outside the British National Grid " + expected

    return build


def _shown_lonlat(lon: Floats, lat: Floats, after: str) -> Callable[[Rows], Texts]:
    """Message builder: ``"(lat 52.49, lon -1.95)" + after`` for the rows asked."""

    def build(rows: Rows) -> Texts:
        pairs = [f"(lat {y:g}, lon {x:g})" for x, y in zip(lon[rows], lat[rows], strict=True)]
        return np.asarray(pairs, dtype=object) + after

    return build


@functools.cache
def _transformer(source: str, target: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


# --------------------------------------------------------------------------- 1. coordinates


@dataclass(frozen=True)
class _Numbers:
    """One coordinate column parsed: values and what is wrong with the text."""

    value: Floats
    present: Bools
    not_numeric: Bools
    non_finite: Bools
    text: Objects


def _numbers(frame: pd.DataFrame, column: str) -> _Numbers:
    n = len(frame)
    if column not in frame:
        no = np.zeros(n, dtype=bool)
        return _Numbers(np.full(n, np.nan), no, no, no, np.full(n, "", dtype=object))
    series = frame[column]
    text = series.astype("string").fillna("")
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        value = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(value)
        not_numeric = np.zeros(n, dtype=bool)
    else:
        stripped = text.str.strip()
        empty = (stripped == "") | stripped.str.lower().isin(NULL_TOKENS)
        value = pd.to_numeric(stripped.where(~empty), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        spelled = stripped.str.fullmatch(_NON_FINITE_TEXT, case=False).fillna(False)
        present = ~empty.to_numpy(dtype=bool)
        not_numeric = present & np.isnan(value) & ~spelled.to_numpy(dtype=bool)
    non_finite = present & ~not_numeric & ~np.isfinite(value)
    return _Numbers(value, present, not_numeric, non_finite, text.to_numpy(dtype=object))


def _in_uk(lon: Floats, lat: Floats) -> Bools:
    with np.errstate(invalid="ignore"):
        return (lon >= UK_LON[0]) & (lon <= UK_LON[1]) & (lat >= UK_LAT[0]) & (lat <= UK_LAT[1])


def _pair_usable(first: _Numbers, second: _Numbers, failures: _Failures, *names: str) -> Bools:
    """Mark not-a-number, NaN/inf and half-pair problems; rows with two finite numbers."""
    a, b = names
    for nums, name in ((first, a), (second, b)):
        failures.mark(
            nums.not_numeric,
            "coord_not_numeric",
            column=name,
            value=nums.text,
            message=_says(f"{name} ", nums.text, f" is not a number (expected {_EXAMPLES[name]})"),
        )
        failures.mark(
            nums.non_finite,
            "coord_nan",
            column=name,
            value=nums.text,
            message=_says(f"{name} ", nums.text, " is NaN or infinite (expected a finite number)"),
        )
    for nums, other, name, other_name in ((first, second, a, b), (second, first, b, a)):
        failures.mark(
            other.present & ~nums.present,
            "coord_incomplete",
            column=name,
            value="",
            message=_says(
                f"{name} is empty but {other_name} is ",
                other.text,
                f" (expected both {a} and {b}, or neither)",
            ),
        )
    clean = ~(first.not_numeric | first.non_finite | second.not_numeric | second.non_finite)
    return first.present & second.present & clean


def _lonlat_ok(
    lon: Floats,
    lat: Floats,
    usable: Bools,
    failures: _Failures,
    *,
    columns: tuple[str, str] = ("lat", "lon"),
    values: tuple[Texts | str, Texts | str] = ("", ""),
) -> Bools:
    """Swapped, range and UK-extent checks on WGS84 degrees; rows that pass.

    A failure names the column at fault (``columns`` and ``values`` are latitude's, then
    longitude's): latitude for a swapped pair, else whichever is out of its range.
    """
    with np.errstate(invalid="ignore"):
        swapped = usable & _in_uk(lat, lon)
        lat_off = np.abs(lat) > 90
        out_of_range = usable & (lat_off | (np.abs(lon) > 180))
        lat_outside = (lat < UK_LAT[0]) | (lat > UK_LAT[1])
    outside = usable & ~_in_uk(lon, lat)

    def at_fault(lat_wrong: Bools) -> dict[str, Texts]:
        return {
            "column": np.where(lat_wrong, columns[0], columns[1]),
            "value": np.where(lat_wrong, values[0], values[1]),
        }

    failures.mark(
        swapped,
        "coord_swapped_lat_lon",
        **at_fault(np.ones(len(lat), dtype=bool)),
        message=_shown_lonlat(
            lon,
            lat,
            " lies in the UK only with latitude and longitude swapped; rejected rather than "
            f"swapped silently (expected {_EXTENT}; fix the register)",
        ),
    )
    failures.mark(
        out_of_range,
        "coord_out_of_range",
        **at_fault(lat_off),
        message=_shown_lonlat(
            lon, lat, " is outside latitude -90..90, longitude -180..180 (expected degrees)"
        ),
    )
    failures.mark(
        outside,
        "coord_outside_uk",
        **at_fault(lat_outside),
        message=_shown_lonlat(lon, lat, f" lies outside the UK (expected {_EXTENT})"),
    )
    return usable & ~swapped & ~out_of_range & ~outside


def _coordinates(frame: pd.DataFrame) -> tuple[Floats, Floats, Objects, _Failures]:
    """WGS84 lon/lat per row from the geometry, else lat/lon, else easting/northing.

    Returns lon, lat (NaN where no source is usable), the source used (``geometry``,
    ``lat_lon``, ``easting_northing`` or ``""``) and the first failure of unplaced rows.
    """
    n = len(frame)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    origin = np.full(n, "", dtype=object)
    failures = _Failures.empty(n)

    def take(rows: Bools, x: Floats, y: Floats, kind: str) -> None:
        nonlocal lon, lat, origin
        new = rows & np.isnan(lon)
        lon, lat, origin = np.where(new, x, lon), np.where(new, y, lat), np.where(new, kind, origin)

    if _has_geometry(frame):
        geometry = np.asarray(frame.geometry.values, dtype=object)
        present = ~(shapely.is_missing(geometry) | shapely.is_empty(geometry))
        points = np.where(present, shapely.point_on_surface(geometry), None)
        x, y = shapely.get_x(points), shapely.get_y(points)
        wkt = np.asarray(shapely.to_wkt(points, rounding_precision=7), dtype=object)
        finite = present & np.isfinite(x) & np.isfinite(y)
        failures.mark(
            present & ~finite,
            "coord_nan",
            column="geometry",
            value=wkt,
            message=_says("the geometry ", wkt, " has NaN or infinite coordinates"),
        )
        good = _lonlat_ok(x, y, finite, failures, columns=("geometry",) * 2, values=(wkt, wkt))
        take(good, x, y, "geometry")

    lat_in, lon_in = _numbers(frame, "lat"), _numbers(frame, "lon")
    pair = _Failures.empty(n)
    usable = _pair_usable(lat_in, lon_in, pair, "lat", "lon")
    values = (lat_in.text, lon_in.text)
    good = _lonlat_ok(lon_in.value, lat_in.value, usable, pair, values=values)
    take(good, lon_in.value, lat_in.value, "lat_lon")
    failures.merge(pair)

    east, north = _numbers(frame, "easting"), _numbers(frame, "northing")
    grid = _Failures.empty(n)
    usable = _pair_usable(east, north, grid, "easting", "northing")
    placeholder = usable & (east.value == 0) & (north.value == 0)
    grid.mark(
        placeholder,
        "coord_out_of_range",
        column="easting",
        value=east.text,
        message="easting, northing (0, 0) is the grid's false origin, a placeholder rather "
        "than a place (expected the asset's British National Grid metres)",
    )
    with np.errstate(invalid="ignore"):
        in_range = (
            (east.value >= BNG_EASTING[0])
            & (east.value <= BNG_EASTING[1])
            & (north.value >= BNG_NORTHING[0])
            & (north.value <= BNG_NORTHING[1])
        )
    east_off = (east.value < BNG_EASTING[0]) | (east.value > BNG_EASTING[1])
    grid.mark(
        usable & ~in_range,
        "coord_out_of_range",
        column=np.where(east_off, "easting", "northing"),
        value=np.where(east_off, east.text, north.text),
        message=_outside_grid(east.value, north.value),
    )
    good = usable & in_range & ~placeholder
    if good.any():
        # project only the rows that passed the extent checks (RELIABILITY §1.4)
        x, y = np.full(n, np.nan), np.full(n, np.nan)
        x[good], y[good] = _transformer(schema.CRS_BNG, schema.CRS_WGS84).transform(
            east.value[good], north.value[good]
        )
        # the grid's corners lie outside the UK (e.g. (1, 1) is at sea south-west of Scilly)
        values = (north.text, east.text)
        good = _lonlat_ok(x, y, good, grid, columns=("northing", "easting"), values=values)
        take(good, x, y, "easting_northing")
    failures.merge(grid)
    placed = np.isfinite(lon)
    failures.reason = np.where(placed, "", failures.reason)
    return lon, lat, origin, failures
