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

The coordinate checks live in :mod:`assetmap._coords`, the online step in
:mod:`assetmap._geocode_online` and the row bookkeeping in :mod:`assetmap._placement`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Final, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from assetmap import schema
from assetmap._coords import BNG_EASTING as BNG_EASTING
from assetmap._coords import BNG_NORTHING as BNG_NORTHING
from assetmap._coords import (
    NULL_TOKENS,
    UK_LAT,
    UK_LON,
    _coordinates,
    _has_geometry,
    _lonlat_ok,
    _transformer,
)
from assetmap._errors import GeocodeError
from assetmap._geocode_online import _online_step
from assetmap._placement import (
    Bools,
    Objects,
    Rows,
    Texts,
    _column_text,
    _Failures,
    _fallback_note,
    _Outcome,
)

__all__ = ["NULL_TOKENS", "SOURCES", "UK_LAT", "UK_LON", "geocode", "summary"]

logger = logging.getLogger(__name__)

#: Values of ``geocode_source``, in the order the chain tries them.
SOURCES: Final = ("coords", "postcode", "gazetteer", "postcodes.io", "nominatim")

_NOT_PERSONAL: Final = ("", "false", "no", "n", "0")
_POSTCODE_FAILURES: Final = (
    "postcode_malformed",
    "postcode_not_found",
    "postcode_terminated",
    "postcode_no_coordinates",
    "postcode_outside_coverage",
)


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


def check_assets(assets: object) -> None:
    """The whole-frame checks: a (Geo)DataFrame, not a Register, with unique asset ids.

    Shared with :mod:`assetmap.scale`, which must make them before partitioning.
    """
    if isinstance(assets, schema.Register):
        msg = "geocode() takes the assets frame, not a Register (pass register.assets)"
        raise GeocodeError(msg)
    if not isinstance(assets, pd.DataFrame):
        msg = f"geocode() expects a (Geo)DataFrame of assets, got {type(assets).__name__}"
        raise GeocodeError(msg)
    duplicated = assets.index.duplicated()
    if duplicated.any():
        msg = (
            f"assets have duplicate asset_id {assets.index[duplicated][0]!r} (expected unique ids)"
        )
        raise GeocodeError(msg)


def _basic_checks(assets: pd.DataFrame, *, disagree_m: float) -> pd.DataFrame:
    check_assets(assets)
    if not np.isfinite(disagree_m) or disagree_m < 0:
        msg = f"disagree_m={disagree_m!r} is not a non-negative distance in metres"
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
