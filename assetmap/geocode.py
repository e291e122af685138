"""Place assets on the map: coordinates, then postcode, then gazetteer, then (opt-in) online.

:func:`geocode` reads like ``geopandas.sjoin`` — validate, compute on whole arrays, assemble —
and keeps row accounting: every input row ends up either placed (a Point in EPSG:4326 with
``geocode_source``, ``geocode_quality`` and ``geocode_note``) or in the rejects table with the
most specific reason code. There is never a default point.

Decisions (DESIGN §4, RELIABILITY §1.3–1.4):

* A coordinate problem is final only when nothing later places the row: bad coordinates with
  a usable postcode are placed by the postcode and the problem is kept in ``geocode_note``
  (``"coord_swapped_lat_lon; placed by postcode"``). An unplaced row is rejected with its
  postcode reason when it has a postcode, else its coordinate reason, else its online reason,
  else ``no_location``; the message also names the other problems.
* Swapped latitude/longitude (a pair that lies in the UK only when swapped) is rejected as
  ``coord_swapped_lat_lon``, never swapped silently: the steward must fix the register.
* The UK extent is checked before any projection; BNG (0, 0), the grid's false origin and a
  common placeholder, is rejected as ``coord_out_of_range``.
* Coordinate cells holding ``NA``, ``N/A``, ``null``, ``None``, ``nil``, ``#N/A`` or ``-``
  count as empty; ``NaN``/``inf`` typed as text are ``coord_nan``.
* Rows marked ``personal`` are never matched against the gazetteer by name and never sent to
  an online provider: a resident's name or postcode does not leave the machine.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

from assetmap import schema
from assetmap._errors import GeocodeError

__all__ = ["NULL_TOKENS", "SOURCES", "UK_LAT", "UK_LON", "geocode", "summary"]

logger = logging.getLogger(__name__)

#: UK extent in WGS84 degrees (RELIABILITY §1.4).
UK_LON: Final = (-8.7, 1.8)
UK_LAT: Final = (49.8, 60.9)
#: Valid British National Grid range in metres (EPSG:27700).
BNG_EASTING: Final = (0.0, 700_000.0)
BNG_NORTHING: Final = (0.0, 1_300_000.0)
#: Values of ``geocode_source``, in the order the chain tries them.
SOURCES: Final = ("coords", "postcode", "gazetteer", "postcodes.io", "nominatim")
#: Coordinate cell text that means "no value" (stripped, case-insensitive).
NULL_TOKENS: Final = frozenset({"na", "n/a", "null", "none", "nil", "#n/a", "-"})

_NON_FINITE_TEXT = r"[+-]?(?:nan|inf|infinity)"
_NOT_PERSONAL: Final = ("", "false", "no", "n", "0")
_EXAMPLES: Final = {
    "lat": "WGS84 decimal degrees, e.g. '52.4912'",
    "lon": "WGS84 decimal degrees, e.g. '-1.9499'",
    "easting": "British National Grid metres, e.g. '403502'",
    "northing": "British National Grid metres, e.g. '288149'",
}
_EXTENT = f"latitude {UK_LAT[0]}..{UK_LAT[1]}, longitude {UK_LON[0]}..{UK_LON[1]} (WGS84)"
_POSTCODE_FAILURES: Final = (
    "postcode_malformed",
    "postcode_not_found",
    "postcode_terminated",
    "postcode_no_coordinates",
    "postcode_outside_coverage",
)
#: Postcode failures worth asking postcodes.io about (it also covers Northern Ireland).
_ASK_ONLINE: Final = ("postcode_not_found", "postcode_outside_coverage")

Objects = npt.NDArray[np.object_]
#: Text per row: object arrays, or the numpy str arrays that string arithmetic produces.
Texts = npt.NDArray[Any]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Rows = npt.NDArray[np.intp]
#: A per-row text: one string for all, an array with a value per row, or a function that
#: builds the texts of the given rows only (messages are built for failing rows alone).
Text = str | Texts | Callable[[Rows], Texts]


def _pick(text: Text, rows: Rows) -> Texts | str:
    if isinstance(text, str):
        return text
    if callable(text):
        return text(rows)
    return np.asarray(text, dtype=object)[rows]


@dataclass
class _Outcome:
    """Per-row placement, filled step by step; the first step to place a row wins."""

    placed: Bools
    lon: Floats
    lat: Floats
    source: Objects
    quality: Objects
    note: Objects

    @classmethod
    def empty(cls, n: int) -> _Outcome:
        blank = np.full(n, "", dtype=object)
        nan = np.full(n, np.nan)
        return cls(np.zeros(n, dtype=bool), nan, nan.copy(), blank, blank.copy(), blank.copy())

    def place(self, rows: Bools, *, lon: Floats, lat: Floats, source: str, quality: Text) -> Bools:
        """Place ``rows`` not yet placed; returns the rows this call placed."""
        take = rows & ~self.placed
        at = np.flatnonzero(take)
        self.placed[at] = True
        self.lon[at], self.lat[at] = lon[at], lat[at]
        self.source[at] = source
        self.quality[at] = _pick(quality, at)
        return take

    def add_note(self, rows: Bools, text: Text) -> None:
        """Append ``text`` to the notes of ``rows`` (notes are joined with ``"; "``)."""
        at = np.flatnonzero(rows)
        if not at.size:
            return
        added = np.broadcast_to(np.asarray(_pick(text, at), dtype=object), at.shape)
        old = self.note[at]
        joined = np.where(old == "", added, old + "; " + added)
        self.note[at] = np.where(added == "", old, joined)


@dataclass
class _Failures:
    """First failure per row of one kind of evidence: reason code, column, value, message."""

    reason: Objects
    column: Objects
    value: Objects
    message: Objects

    @classmethod
    def empty(cls, n: int) -> _Failures:
        blank = np.full(n, "", dtype=object)
        return cls(blank, blank.copy(), blank.copy(), blank.copy())

    def mark(self, rows: Bools, reason: Text, *, column: Text, value: Text, message: Text) -> None:
        """Record a failure for ``rows`` that have none yet."""
        at = np.flatnonzero(rows & (self.reason == ""))
        if not at.size:
            return
        self.reason[at] = _pick(reason, at)
        self.column[at] = _pick(column, at)
        self.value[at] = _pick(value, at)
        self.message[at] = _pick(message, at)

    def merge(self, other: _Failures, rows: Bools | None = None) -> None:
        """Take ``other``'s failures for ``rows`` (default all) that have none yet."""
        take = other.reason != ""
        take = take if rows is None else take & rows
        self.mark(take, other.reason, column=other.column, value=other.value, message=other.message)

    def mention(self, other: _Failures, rows: Bools) -> None:
        """Append ``other``'s message to rows whose recorded failure is a different one."""
        extra = rows & (other.reason != "") & (other.reason != self.reason) & (self.reason != "")
        at = np.flatnonzero(extra)
        self.message[at] = self.message[at] + "; also " + other.message[at]


def geocode(
    assets: pd.DataFrame,
    *,
    postcodes: Any = None,
    gazetteer: str | os.PathLike[str] | gpd.GeoDataFrame | None = "greater-icknield",
    online: bool = False,
    user_agent: str | None = None,
    fuzzy_threshold: float = 90.0,
    disagree_m: float = 1000.0,
    progress: bool = False,
    providers: Any = None,
) -> schema.Register:
    """Place every asset by the first step of the chain that succeeds, or reject it.

    The chain (DESIGN §4): 1. coordinates in the row (a geometry, ``lat``/``lon`` in WGS84
    degrees, or ``easting``/``northing`` in British National Grid metres); 2. the offline
    postcode directory; 3. the gazetteer, by name; 4. online providers (postcodes.io, then
    Nominatim), only with ``online=True``.

    Parameters
    ----------
    assets
        (Geo)DataFrame indexed by unique ``asset_id``, as from
        :func:`assetmap.registers.read_assets`; optional columns ``lat``, ``lon``,
        ``easting``, ``northing`` (text as typed, or numbers), ``postcode``, ``name``,
        ``address``, ``personal``, ``source``, ``source_line``. A geometry, when present, is
        reprojected to EPSG:4326. Never modified.
    postcodes
        :class:`assetmap.postcodes.PostcodeDirectory` or a path to a Code-Point Open zip /
        CSV or ONSPD CSV; default :meth:`PostcodeDirectory.default`. Only opened when some
        row has a postcode.
    gazetteer
        Gazetteer name or path for :func:`assetmap.gazetteer.sites`, a GeoDataFrame from it,
        or ``None`` to skip name matching.
    online
        Ask online providers about rows still unplaced (extra ``online``). Off by default;
        when off no socket is ever opened.
    user_agent
        Identifying User-Agent for the online providers, e.g.
        ``"assetmap/0.1 (contact: you@example.org)"``; required with ``online=True`` unless
        ``providers`` is given.
    fuzzy_threshold
        Least name-match score (0–100) for a gazetteer placement.
    disagree_m
        When a row's coordinates and its postcode are more than this many metres apart
        (measured in EPSG:27700), ``geocode_note`` says ``coords_postcode_disagree:<m>m``;
        the coordinates win.
    progress
        Show progress bars for the online lookups.
    providers
        :class:`assetmap._http.Providers` for ``online=True`` (clients and base URLs, e.g. a
        self-hosted Nominatim); default :meth:`Providers.default` with ``user_agent``.

    Returns
    -------
    assetmap.schema.Register
        ``assets``: the placed rows with every input column unchanged plus
        ``geocode_source`` (``coords``, ``postcode``, ``gazetteer``, ``postcodes.io``,
        ``nominatim``), ``geocode_quality`` (``geometry``, ``lat_lon`` or
        ``easting_northing`` for coordinates; the directory's positional quality, e.g.
        ``"10"``; ``<method>:<score>`` for the gazetteer; ``place_rank:<n>`` for Nominatim)
        and ``geocode_note``; Point geometry in EPSG:4326 at full precision. ``rejects``:
        one row per unplaced row. ``rows_in == len(assets)``.

    Raises
    ------
    GeocodeError
        ``assets`` is unusable (duplicate ids, geometry without CRS), the postcode directory
        cannot be opened, or ``online=True`` without an identifying User-Agent.
    """
    frame = _basic_checks(assets, disagree_m=disagree_m)
    if online and providers is None:
        from assetmap._http import Providers

        providers = Providers.default(user_agent=user_agent)
    n = len(frame)
    outcome = _Outcome.empty(n)
    shareable = ~_personal(frame)
    names = _column_text(frame, "name").str.strip()

    lon, lat, origin, coord_failures = _coordinates(frame)
    by_coords = outcome.place(np.isfinite(lon), lon=lon, lat=lat, source="coords", quality=origin)
    outcome.add_note(by_coords & (origin == "geometry"), "from_geometry")

    postcode_failures = _Failures.empty(n)
    looked = None
    postcode_text = _column_text(frame, "postcode")
    has_postcode = (postcode_text.str.strip() != "").to_numpy(dtype=bool)
    if has_postcode.any():
        looked = _postcode_step(
            outcome,
            postcode_text,
            has_postcode,
            by_coords,
            coord_failures,
            postcode_failures,
            postcodes=postcodes,
            disagree_m=disagree_m,
        )

    prior = _Failures.empty(n)
    prior.merge(postcode_failures)
    prior.merge(coord_failures)
    prior.mention(coord_failures, np.ones(n, dtype=bool))

    if gazetteer is not None:
        wanted = ~outcome.placed & shareable & (names != "").to_numpy(dtype=bool)
        if wanted.any():
            _gazetteer_step(outcome, names, wanted, prior, gazetteer, threshold=fuzzy_threshold)

    online_failures = _Failures.empty(n)
    if online:
        _online_step(
            frame,
            outcome,
            looked,
            shareable & ~outcome.placed,
            names,
            prior,
            online_failures,
            providers=providers,
            progress=progress,
        )

    register = schema.Register(
        assets=_assemble(frame, outcome),
        rejects=_rejects(frame, outcome.placed, prior, online_failures),
        rows_in=n,
        source=_sources(frame),
    )
    logger.info("geocode: %s", summary(register).replace("\n", "; "))
    return register


def summary(register: schema.Register) -> str:
    """Three lines for people: rows in, placed by source, rejected by reason."""
    assets = register.assets
    placed = ""
    if "geocode_source" in assets and len(assets):
        by_source = assets["geocode_source"].value_counts()
        order = [s for s in SOURCES if s in by_source.index]
        order += [s for s in by_source.index if s not in order]
        placed = " (" + ", ".join(f"{s} {int(by_source[s])}" for s in order) + ")"
    reasons = ", ".join(f"{k} {int(v)}" for k, v in register.reasons().items())
    return (
        f"rows in: {register.rows_in}\n"
        f"placed: {len(assets)}{placed}\n"
        f"rejected: {len(register.rejects)}" + (f" ({reasons})" if reasons else "")
    )


# --------------------------------------------------------------------------- validate


def _basic_checks(assets: pd.DataFrame, *, disagree_m: float) -> pd.DataFrame:
    if isinstance(assets, schema.Register):
        msg = "geocode() takes the assets frame, not a Register (pass register.assets)"
        raise GeocodeError(msg)
    if not isinstance(assets, pd.DataFrame):
        msg = f"geocode() expects a (Geo)DataFrame of assets, got {type(assets).__name__}"
        raise GeocodeError(msg)
    if not np.isfinite(disagree_m) or disagree_m < 0:
        msg = f"disagree_m={disagree_m!r} is not a non-negative distance in metres"
        raise GeocodeError(msg)
    duplicated = assets.index.duplicated()
    if duplicated.any():
        msg = (
            f"assets have duplicate asset_id {assets.index[duplicated][0]!r} (expected unique ids)"
        )
        raise GeocodeError(msg)
    if not _has_geometry(assets) or assets.geometry.isna().all():
        return assets
    crs = assets.geometry.crs
    if crs is None:
        msg = "assets have geometries but no CRS (expected EPSG:4326 or another known CRS)"
        raise GeocodeError(msg)
    if pyproj.CRS.from_user_input(crs).equals(pyproj.CRS(schema.CRS_WGS84)):
        return assets
    return cast(pd.DataFrame, cast(Any, assets).to_crs(schema.CRS_WGS84))


def _has_geometry(frame: pd.DataFrame) -> bool:
    return isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame


def _column_text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[column].astype("string").fillna("")


def _personal(frame: pd.DataFrame) -> Bools:
    """Rows about a person; text other than a clear "no" counts as personal (privacy wins)."""
    if "personal" not in frame:
        return np.zeros(len(frame), dtype=bool)
    column = frame["personal"]
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.fillna(False).astype(bool).to_numpy(dtype=bool)
    text = column.astype("string").fillna("").str.strip().str.lower()
    return (~text.isin(_NOT_PERSONAL)).to_numpy(dtype=bool)


def _sources(frame: pd.DataFrame) -> str:
    if "source" not in frame or frame.empty:
        return "assets"
    names = [str(s) for s in pd.unique(frame["source"].astype("string").dropna())]
    return ", ".join(names[:3]) + (" …" if len(names) > 3 else "")


def _says(before: str, values: Texts, after: str) -> Callable[[Rows], Texts]:
    """Message builder: ``before + repr(value) + after`` for the rows asked."""

    def build(rows: Rows) -> Texts:
        quoted = [repr(v) for v in np.asarray(values, dtype=object)[rows]]
        return before + np.asarray(quoted, dtype=object) + after

    return build


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


# --------------------------------------------------------------------------- 2. postcodes


def _directory(postcodes: Any) -> Any:
    from assetmap.postcodes import PostcodeDirectory

    if postcodes is None:
        return PostcodeDirectory.default()
    if isinstance(postcodes, str | os.PathLike):
        return PostcodeDirectory.from_path(postcodes)
    if not hasattr(postcodes, "lookup"):
        msg = (
            f"postcodes={type(postcodes).__name__} is neither a PostcodeDirectory nor a path "
            "(expected e.g. 'data/external/codepoint_gb/codepo_gb.zip')"
        )
        raise GeocodeError(msg)
    return postcodes


def _postcode_step(
    outcome: _Outcome,
    text: pd.Series,
    has_postcode: Bools,
    by_coords: Bools,
    coord_failures: _Failures,
    failures: _Failures,
    *,
    postcodes: Any,
    disagree_m: float,
) -> pd.DataFrame:
    """Look postcodes up; place unplaced rows, check placed ones, record failures."""
    directory = _directory(postcodes)
    looked: pd.DataFrame = directory.lookup(text[has_postcode]).reindex(text.index)
    looked["status"] = looked["status"].astype("string").fillna("empty")
    looked["postcode"] = looked["postcode"].astype("string").fillna("")
    status = looked["status"].to_numpy(dtype=object)
    ok = status == "ok"

    both = by_coords & ok
    if both.any():
        x, y = _transformer(schema.CRS_WGS84, schema.CRS_BNG).transform(
            outcome.lon[both], outcome.lat[both]
        )
        metres = np.zeros(len(ok))
        metres[both] = np.hypot(
            x - looked["easting"].to_numpy(dtype=float)[both],
            y - looked["northing"].to_numpy(dtype=float)[both],
        )
        outcome.add_note(
            both & (metres > disagree_m),
            lambda at: np.asarray(
                [f"coords_postcode_disagree:{m:.0f}m" for m in metres[at]], dtype=object
            ),
        )

    quality = looked["quality"].astype("string").fillna("").to_numpy(dtype=object)
    lon, lat = looked["lon"].to_numpy(dtype=float), looked["lat"].to_numpy(dtype=float)
    placed = outcome.place(ok, lon=lon, lat=lat, source="postcode", quality=quality)
    outcome.add_note(placed, _fallback_note(coord_failures.reason, "postcode"))

    failed = np.isin(status, _POSTCODE_FAILURES)
    failures.mark(
        failed,
        status,
        column="postcode",
        value=text.to_numpy(dtype=object),
        message=_postcode_messages(text, status, directory),
    )
    outcome.add_note(by_coords & failed, status)
    return looked


def _fallback_note(reasons: Objects, source: str) -> Callable[[Rows], Texts]:
    """``"<earlier reason>; placed by <source>"`` where an earlier step failed, else ``""``."""

    def build(rows: Rows) -> Texts:
        earlier = reasons[rows]
        return np.where(earlier != "", earlier + f"; placed by {source}", "")

    return build


def _postcode_messages(text: pd.Series, status: Objects, directory: Any) -> Callable[[Rows], Texts]:
    name = str(getattr(directory, "name", "the postcode directory"))
    coverage = str(getattr(directory, "coverage", "") or "its area")
    templates = {
        "postcode_malformed": " is not a valid UK postcode (expected e.g. 'B66 2QT')",
        "postcode_not_found": f" is a valid postcode but is not in {name} (expected a live "
        "unit postcode: check it, or give coordinates)",
        "postcode_terminated": f" has been terminated ({name}) (expected a live postcode)",
        "postcode_no_coordinates": f" has no grid reference in {name} "
        "(expected coordinates in the row instead)",
        "postcode_outside_coverage": f" is outside {name}'s coverage ({coverage}) (expected "
        "a postcode it covers: use ONSPD for the whole UK, or online=True)",
    }
    typed = text.to_numpy(dtype=object)

    def build(rows: Rows) -> Texts:
        said = [
            f"postcode {t!r}{templates.get(c, '')}"
            for t, c in zip(typed[rows], status[rows], strict=True)
        ]
        return np.asarray(said, dtype=object)

    return build


# --------------------------------------------------------------------------- 3. gazetteer


def _gazetteer_step(
    outcome: _Outcome,
    names: pd.Series,
    wanted: Bools,
    prior: _Failures,
    gazetteer: str | os.PathLike[str] | gpd.GeoDataFrame,
    *,
    threshold: float,
) -> None:
    """Place rows whose name matches a gazetteer site at the site's point."""
    from assetmap.gazetteer import match_names, sites

    table = gazetteer if isinstance(gazetteer, gpd.GeoDataFrame) else sites(gazetteer)
    table = table.to_crs(schema.CRS_WGS84) if table.crs is not None else table
    matches = match_names(names[wanted], gazetteer=table, threshold=threshold)
    site_id = matches["site_id"].astype("string")
    hit = site_id.notna().to_numpy(dtype=bool)
    if not hit.any():
        return
    rows = np.flatnonzero(wanted)[hit]
    point = table.geometry.representative_point().loc[site_id[hit].to_numpy(dtype=object)]
    n = len(names)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    lon[rows], lat[rows] = shapely.get_x(point.values), shapely.get_y(point.values)
    score = matches["score"].to_numpy(dtype=float)[hit].round().astype(np.int64).astype(str)
    quality = np.full(n, "", dtype=object)
    quality[rows] = matches["method"].to_numpy(dtype=object)[hit] + ":" + score.astype(object)
    note = np.full(n, "", dtype=object)
    note[rows] = "site:" + site_id[hit].to_numpy(dtype=object)
    found = np.zeros(n, dtype=bool)
    found[rows] = np.isfinite(lon[rows])
    located = _lonlat_ok(lon, lat, found, _Failures.empty(n))  # a site outside the UK: no match
    placed = outcome.place(located, lon=lon, lat=lat, source="gazetteer", quality=quality)
    outcome.add_note(placed, note)
    outcome.add_note(placed, _fallback_note(prior.reason, "gazetteer"))


# --------------------------------------------------------------------------- 4. online


def _online_step(
    frame: pd.DataFrame,
    outcome: _Outcome,
    looked: pd.DataFrame | None,
    candidates: Bools,
    names: pd.Series,
    prior: _Failures,
    failures: _Failures,
    *,
    providers: Any,
    progress: bool,
) -> None:
    """postcodes.io for valid postcodes the directory lacks, then Nominatim for the rest."""
    from assetmap._http import nominatim_lookup, postcodes_io_bulk

    if looked is not None and providers.postcodes_io is not None:
        ask = candidates & looked["status"].isin(_ASK_ONLINE).to_numpy(dtype=bool)
        if ask.any():
            try:
                found = postcodes_io_bulk(
                    looked["postcode"][ask],
                    client=providers.postcodes_io,
                    base_url=providers.postcodes_io_url,
                    progress=progress,
                ).reindex(frame.index)
            except GeocodeError as exc:
                logger.warning("postcodes.io: %s", exc)
                failures.mark(ask, "online_failed", column="postcode", value="", message=str(exc))
            else:
                lon, lat = found["lon"].to_numpy(dtype=float), found["lat"].to_numpy(dtype=float)
                # a point outside the UK counts as no answer
                sane = _lonlat_ok(lon, lat, ask & np.isfinite(lon), _Failures.empty(len(lon)))
                quality = found["quality"].astype("string").fillna("").to_numpy(dtype=object)
                placed = outcome.place(
                    sane, lon=lon, lat=lat, source="postcodes.io", quality=quality
                )
                outcome.add_note(placed, _fallback_note(prior.reason, "postcodes.io"))
                failures.mark(
                    ask & ~placed,
                    "online_not_found",
                    column="postcode",
                    value="",
                    message="postcodes.io has no coordinates for it either",
                )
    if providers.nominatim is None:
        return
    queries = _nominatim_queries(frame, names)
    ask = candidates & ~outcome.placed & (queries != "").to_numpy(dtype=bool)
    if not ask.any():
        return
    distinct = queries[ask].nunique()
    if distinct > providers.nominatim_max_queries:
        msg = (
            f"Nominatim: {distinct} distinct names would be sent, more than "
            f"nominatim_max_queries={providers.nominatim_max_queries}; its usage policy forbids "
            "bulk geocoding (expected postcodes for the offline directory, or a higher limit "
            "for a one-off run)"
        )
        raise GeocodeError(msg)
    try:
        hits = nominatim_lookup(
            queries.where(ask, ""),
            client=providers.nominatim,
            base_url=providers.nominatim_url,
            countrycodes=providers.countrycodes,
            max_queries=providers.nominatim_max_queries,
            progress=progress,
        )
    except GeocodeError as exc:
        logger.warning("Nominatim: %s", exc)
        failures.mark(
            ask,
            "online_failed",
            column="name",
            value=names.to_numpy(dtype=object),
            message=str(exc),
        )
        return
    lon, lat = hits["lon"].to_numpy(dtype=float), hits["lat"].to_numpy(dtype=float)
    found_rows = ask & np.isfinite(lon)
    sane = _lonlat_ok(lon, lat, found_rows, _Failures.empty(len(lon)))
    rank = hits["place_rank"].astype("string").fillna("?").to_numpy(dtype=object)
    placed = outcome.place(
        sane, lon=lon, lat=lat, source="nominatim", quality=lambda at: "place_rank:" + rank[at]
    )
    outcome.add_note(placed, _fallback_note(prior.reason, "nominatim"))
    failures.mark(
        ask & ~placed,
        "online_not_found",
        column="name",
        value=names.to_numpy(dtype=object),
        message=_says(
            "Nominatim has no UK result for ",
            queries.to_numpy(dtype=object),
            " (expected a findable name or address)",
        ),
    )


def _nominatim_queries(frame: pd.DataFrame, names: pd.Series) -> pd.Series:
    """``"<name>, <address>"`` per row (either alone when the other is empty)."""
    address = _column_text(frame, "address").str.strip()
    joined = (names + ", " + address).str.strip(", ")
    return joined.astype("string")


# --------------------------------------------------------------------------- assemble


def _rejects(
    frame: pd.DataFrame, placed: Bools, prior: _Failures, online: _Failures
) -> pd.DataFrame:
    """One rejects row per unplaced row, with the most specific reason first."""
    unplaced = ~placed
    if not unplaced.any():
        return schema.empty_rejects()
    final = _Failures.empty(len(frame))
    final.merge(prior, unplaced)
    final.merge(online, unplaced)
    final.mention(online, unplaced)
    final.mark(
        unplaced,
        "no_location",
        column="postcode",
        value="",
        message="the row has no coordinates (lat/lon or easting/northing), no postcode and no "
        "name matching a gazetteer site (expected at least one of them)",
    )
    source = _column_text(frame, "source")
    line = (
        pd.to_numeric(frame["source_line"], errors="coerce").astype("Int64")
        if "source_line" in frame
        else pd.Series(pd.NA, index=frame.index, dtype="Int64")
    )
    ids = pd.Series(frame.index.astype(str), index=frame.index)
    where = (source + " line " + line.astype("string")).where(
        (source != "") & line.notna(), "asset " + ids.map(repr)
    )
    table = pd.DataFrame(
        {
            "source": source,
            "source_line": line,
            "asset_id": ids,
            "column": final.column,
            "value": final.value.astype(str),
            "reason_code": final.reason,
            "message": where + ": " + final.message.astype(str),
        },
        index=frame.index,
    )[unplaced]
    return schema.make_rejects(cast(list[dict[str, object]], table.to_dict("records")))


def _assemble(frame: pd.DataFrame, outcome: _Outcome) -> gpd.GeoDataFrame:
    """Placed rows: input columns unchanged, provenance added, Point geometry in EPSG:4326."""
    keep = outcome.placed
    geometry_name = frame._geometry_column_name if _has_geometry(frame) else None
    columns = [c for c in frame.columns if c not in (*schema.GEOCODE_COLUMNS, geometry_name)]
    data = pd.DataFrame(frame.loc[keep, columns])
    for name, values in (
        ("geocode_source", outcome.source),
        ("geocode_quality", outcome.quality),
        ("geocode_note", outcome.note),
    ):
        data[name] = pd.Series(values[keep], index=data.index, dtype="str")
    # geometry rows: lon/lat are the geometry's own point (point on surface for polygons)
    points = gpd.GeoSeries(
        shapely.points(outcome.lon[keep], outcome.lat[keep]), index=data.index, crs=schema.CRS_WGS84
    )
    return gpd.GeoDataFrame(data, geometry=points, crs=schema.CRS_WGS84)
