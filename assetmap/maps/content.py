"""What a map may show after the privacy rules (RELIABILITY §3), shared by the HTML and PNG maps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap._errors import CRSError
from assetmap.maps.legend import category_label
from assetmap.maps.safe import safe_text, safe_texts
from assetmap.schema import CRS_WGS84

__all__ = ["ATTRIBUTION", "MapContent", "prepare_content"]

_OSM: Final = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors (ODbL)'
)
_OGL: Final = '<a href="https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/">OGL v3.0</a>'
ATTRIBUTION: Final[dict[str, str]] = {
    "postcodes": (
        "Postcodes: Contains OS data &copy; Crown copyright and database right; "
        "Contains Royal Mail data &copy; Royal Mail copyright and database right; "
        f"Contains National Statistics data &copy; Crown copyright and database right ({_OGL})"
    ),
    "nominatim": f"Geocoding: {_OSM}",
    "network": f"Street network: {_OSM}",
    "boundaries": (
        "Boundaries: Source: Office for National Statistics licensed under the Open Government "
        f"Licence v3.0 ({_OGL}); Contains OS data &copy; Crown copyright and database right"
    ),
    "gazetteer": "Sites: assetmap gazetteer (sources in each site's popup)",
}
_LINK_COLUMNS: Final = (
    "micro_id",
    "macro_id",
    "rule",
    "mode",
    "metres",
    "minutes",
    "within_reach",
    "score",
)
_CATCHMENT_COLUMNS: Final = ("macro_id", "band_minutes", "mode")
_AREA_FIELDS: Final = ("area_id", "area_name", "method", "geometry")


@dataclass(frozen=True)
class MapContent:
    """What a map may show, after the privacy rules (shared by the HTML and PNG maps).

    Attributes
    ----------
    micro, macro
        Drawable non-personal assets (EPSG:4326, sorted by ``asset_id``), with ``lon``/``lat``
        columns of their point (a polygon's representative point).
    n_personal
        How many personal rows (micro and macro) were aggregated; the rows themselves are
        not kept.
    privacy
        Their aggregation (:func:`assetmap.privacy.aggregate_personal`), or None.
    links
        Links between drawable non-personal assets, thinned to ``link_limit`` (within reach
        first, then best score), sorted by ``rule, micro_id, macro_id``; with ``x0, y0, x1,
        y1`` (WGS84) of both ends.
    n_links
        Links between drawable non-personal assets before thinning.
    personal_reach
        Published text (``"Residents' skills: <8; …"``) of personal rows within reach, by
        macro id; from :func:`assetmap.privacy.suppress`.
    reach
        Escaped text of the (up to 3 best) macro-assets within reach of each drawn
        micro-asset, by micro id.
    linked
        Escaped text of the drawn micro-assets within reach of each macro-asset, counted by
        category, by macro id.
    disclosure_log
        Every published personal count on the map and the rule applied.
    catchments, areas
        EPSG:4326 polygons to draw, or None.
    n_unplaced
        Non-personal rows not drawn for lack of a location.
    sources
        Keys of :data:`ATTRIBUTION` for the data shown.
    """

    micro: gpd.GeoDataFrame
    macro: gpd.GeoDataFrame
    n_personal: int
    privacy: Any
    links: pd.DataFrame
    n_links: int
    personal_reach: pd.Series
    reach: pd.Series
    linked: pd.Series
    disclosure_log: pd.DataFrame
    catchments: gpd.GeoDataFrame | None
    areas: gpd.GeoDataFrame | None
    n_unplaced: int
    sources: tuple[str, ...] = field(default_factory=tuple)


def _as_wgs84(frame: pd.DataFrame | None, side: str) -> gpd.GeoDataFrame:
    if frame is None:
        return gpd.GeoDataFrame(
            {"name": pd.Series(dtype="str")}, geometry=gpd.GeoSeries(crs=CRS_WGS84)
        )
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{side}: expected a GeoDataFrame (EPSG:4326) indexed by asset_id, got {type(frame).__name__}"
        raise TypeError(msg)
    if frame.crs is None:
        msg = f"{side}: the frame has no CRS (expected EPSG:4326 or any projected CRS to convert from)"
        raise CRSError(msg)
    if not frame.index.is_unique:
        duplicated = frame.index[frame.index.duplicated()][0]
        msg = f"{side}: asset_id {duplicated!r} appears more than once (expected unique ids)"
        raise ValueError(msg)
    return frame.to_crs(CRS_WGS84) if frame.crs != CRS_WGS84 else frame


def _with_points(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """Rows with a usable location, sorted by id, with ``lon``/``lat``; and how many had none."""
    geoms = frame.geometry.to_numpy()
    usable = (
        ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(frame) else np.zeros(0, bool)
    )
    points = np.full(len(frame), None, dtype=object)
    points[usable] = shapely.point_on_surface(geoms[usable])
    lon = np.full(len(frame), np.nan)
    lat = np.full(len(frame), np.nan)
    lon[usable] = shapely.get_x(points[usable])
    lat[usable] = shapely.get_y(points[usable])
    ok = usable & np.isfinite(lon) & np.isfinite(lat)
    placed = frame.loc[ok].assign(lon=lon[ok], lat=lat[ok])
    order = np.argsort(placed.index.astype("str").to_numpy(), kind="stable")
    return placed.iloc[order], int((~ok).sum())


def _personal_mask(frame: pd.DataFrame) -> np.ndarray:
    """Personal rows: flagged (or unknown, see privacy.personal_mask) or of a personal category."""
    from assetmap.privacy import personal_mask
    from assetmap.schema import categories

    flagged = np.asarray(personal_mask(frame), dtype=bool)
    if "category" not in frame:
        return flagged
    personal_categories = [name for name, personal in categories().items() if personal]
    return flagged | frame["category"].astype("str").isin(personal_categories).to_numpy(dtype=bool)


def _link_frame(links: Any) -> pd.DataFrame | None:
    if links is None:
        return None
    frame = getattr(links, "links", links)
    if not isinstance(frame, pd.DataFrame):
        msg = f"links: expected a LinkTable or a DataFrame, got {type(links).__name__}"
        raise TypeError(msg)
    missing = [c for c in _LINK_COLUMNS if c not in frame]
    if missing:
        msg = f"links: missing columns {missing} (expected {list(_LINK_COLUMNS)}, found {list(frame.columns)})"
        raise ValueError(msg)
    return frame


def _thin_links(
    frame: pd.DataFrame, micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame, limit: int
) -> tuple[pd.DataFrame, int]:
    ids_micro = pd.Index(micro.index.astype("str"))
    ids_macro = pd.Index(macro.index.astype("str"))
    data = frame.assign(
        micro_id=frame["micro_id"].astype("str"),
        macro_id=frame["macro_id"].astype("str"),
        rule=frame["rule"].astype("str"),
        within_reach=frame["within_reach"].fillna(False).astype(bool),
        score=pd.to_numeric(frame["score"], errors="coerce").fillna(-np.inf),
    )
    data = data[data["micro_id"].isin(ids_micro) & data["macro_id"].isin(ids_macro)]
    total = len(data)
    data = data.sort_values(
        ["within_reach", "score", "rule", "micro_id", "macro_id"],
        ascending=[False, False, True, True, True],
        kind="stable",
    ).head(max(limit, 0))
    data = data.sort_values(["rule", "micro_id", "macro_id"], kind="stable").reset_index(drop=True)
    micro_xy = micro[["lon", "lat"]].set_axis(ids_micro)
    macro_xy = macro[["lon", "lat"]].set_axis(ids_macro)
    ends = micro_xy.reindex(data["micro_id"]).to_numpy()
    starts_macro = macro_xy.reindex(data["macro_id"]).to_numpy()
    data = data.assign(x0=ends[:, 0], y0=ends[:, 1], x1=starts_macro[:, 0], y1=starts_macro[:, 1])
    return data, total


def _personal_reach(
    frame: pd.DataFrame | None, personal: pd.DataFrame, macro: gpd.GeoDataFrame
) -> tuple[pd.Series, pd.DataFrame]:
    """Published counts of personal rows within reach of each macro-asset (never names)."""
    from assetmap.privacy import empty_disclosure_log, suppress

    empty = pd.Series(dtype="str")
    if frame is None or personal.empty:
        return empty, empty_disclosure_log()
    categories = personal["category"].astype("str") if "category" in personal else None
    if categories is None:
        return empty, empty_disclosure_log()
    reach = frame.loc[frame["within_reach"].fillna(False).astype(bool), ["micro_id", "macro_id"]]
    reach = reach.assign(
        micro_id=reach["micro_id"].astype("str"), macro_id=reach["macro_id"].astype("str")
    )
    category_of = pd.Series(categories.to_numpy(), index=personal.index.astype("str"))
    reach = reach[
        reach["micro_id"].isin(category_of.index)
        & reach["macro_id"].isin(macro.index.astype("str"))
    ]
    if reach.empty:
        return empty, empty_disclosure_log()
    reach = reach.drop_duplicates()
    reach = reach.assign(category=category_of.reindex(reach["micro_id"]).to_numpy())
    counts = reach.groupby(["macro_id", "category"]).size().unstack(fill_value=0).astype("int64")
    counts = counts.sort_index().sort_index(axis=1)
    published, log = suppress(counts, table="personal_within_reach_by_site")
    body = published.drop(index="total", errors="ignore").drop(columns="total", errors="ignore")
    texts = pd.Series(
        [
            "; ".join(f"{category_label(str(c))}: {row[c]}" for c in body.columns)
            for _, row in body.iterrows()
        ],
        index=body.index.astype("str"),
        dtype="str",
    )
    return texts, log


def _reach_texts(
    frame: pd.DataFrame | None, micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame
) -> tuple[pd.Series, pd.Series]:
    """Popup text: best sites within reach per micro-asset; micro-assets per site by category."""
    empty = pd.Series(dtype="str")
    if frame is None or frame.empty or micro.empty or macro.empty:
        return empty, empty
    micro_ids = micro.index.astype("str")
    macro_ids = macro.index.astype("str")
    data = frame.assign(
        micro_id=frame["micro_id"].astype("str"),
        macro_id=frame["macro_id"].astype("str"),
        score=pd.to_numeric(frame["score"], errors="coerce").fillna(-np.inf),
        minutes=pd.to_numeric(frame["minutes"], errors="coerce"),
        metres=pd.to_numeric(frame["metres"], errors="coerce"),
    )
    data = data[
        data["within_reach"].fillna(False).astype(bool)
        & data["micro_id"].isin(micro_ids)
        & data["macro_id"].isin(macro_ids)
    ]
    if data.empty:
        return empty, empty
    best = (
        data.sort_values(
            ["micro_id", "score", "macro_id"], ascending=[True, False, True], kind="stable"
        )
        .drop_duplicates(["micro_id", "macro_id"])
        .groupby("micro_id", sort=True)
        .head(3)
    )
    names = pd.Series(
        safe_texts(macro["name"]) if "name" in macro else list(macro_ids), index=macro_ids
    )
    site = names.reindex(best["macro_id"]).fillna("").to_numpy(dtype=object)
    minutes = best["minutes"].to_numpy(dtype="float64")
    metres = best["metres"].to_numpy(dtype="float64")
    modes = np.array(safe_texts(best["mode"]), dtype=object)
    distance = np.where(
        np.isfinite(minutes),
        np.char.mod("%.0f min ", np.nan_to_num(minutes)).astype(object) + modes,
        np.char.mod("%.1f km straight line", np.nan_to_num(metres) / 1000.0).astype(object),
    )
    best = best.assign(text=site + " (" + distance + ")")
    reach = best.groupby("micro_id", sort=True)["text"].agg("; ".join).astype("str")

    category_of = pd.Series(micro["category"].astype("str").to_numpy(), index=micro_ids)
    pairs = data.drop_duplicates(["macro_id", "micro_id"])
    pairs = pairs.assign(category=category_of.reindex(pairs["micro_id"]).to_numpy())
    counts = pairs.groupby(["macro_id", "category"], sort=True).size()
    lines = [
        (str(key[0]), f"{safe_text(category_label(str(key[1])))}: {count}")
        for key, count in zip(counts.index.tolist(), counts.tolist(), strict=True)
    ]
    linked = (
        pd.DataFrame(lines, columns=["macro_id", "text"])
        .groupby("macro_id", sort=True)["text"]
        .agg("; ".join)
    )
    return reach, linked.astype("str")


def _polygons_wgs84(
    frame: gpd.GeoDataFrame | None, side: str, required: Sequence[str]
) -> gpd.GeoDataFrame | None:
    if frame is None:
        return None
    frame = _as_wgs84(frame, side)
    missing = [c for c in required if c not in frame]
    if missing:
        msg = f"{side}: missing columns {missing} (found {list(frame.columns)})"
        raise ValueError(msg)
    geoms = frame.geometry.to_numpy()
    keep = (
        ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(frame) else np.zeros(0, bool)
    )
    return frame.loc[keep]


def prepare_content(
    micro: gpd.GeoDataFrame | None,
    macro: gpd.GeoDataFrame | None,
    *,
    links: Any = None,
    catchments: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    link_limit: int = 2000,
) -> MapContent:
    """Decide what a map may show (RELIABILITY §3) — shared by :func:`map` and the PNG.

    Parameters are those of :func:`map`. Personal rows (``personal`` true, or unknown) are
    aggregated with :func:`assetmap.privacy.aggregate_personal` (into ``areas`` when given,
    else H3 hexagons); their links only ever become published counts per site.
    """
    from assetmap.privacy import aggregate_personal, empty_disclosure_log

    micro_all = _as_wgs84(micro, "micro")
    macro_all = _as_wgs84(macro, "macro")
    for side, frame in (("micro", micro_all), ("macro", macro_all)):
        if len(frame) and "category" not in frame:
            msg = (
                f"{side}: no 'category' column (expected the columns of "
                f"assetmap.schema.ASSET_COLUMNS, found {list(frame.columns)})"
            )
            raise ValueError(msg)
    personal_micro = _personal_mask(micro_all)
    personal_macro = _personal_mask(macro_all)
    personal = pd.concat([micro_all.loc[personal_micro], macro_all.loc[personal_macro]])
    micro_public, unplaced_micro = _with_points(micro_all.loc[~personal_micro])
    macro_public, unplaced_macro = _with_points(macro_all.loc[~personal_macro])
    areas_frame = _polygons_wgs84(areas, "areas", ())

    privacy = None
    logs = [empty_disclosure_log()]
    if len(personal):
        # Count in the given areas when they carry an id (area_id, or ONS lsoa_code);
        # otherwise in H3 hexagons.
        area_kwargs: dict[str, Any] = {}
        if areas_frame is not None and "area_id" in areas_frame:
            area_kwargs = {"areas": areas_frame, "area_id": "area_id"}
            if "area_name" in areas_frame:
                area_kwargs["area_name"] = "area_name"
        elif areas_frame is not None and "lsoa_code" in areas_frame:
            area_kwargs = {"areas": areas_frame}
        privacy = aggregate_personal(gpd.GeoDataFrame(personal, crs=CRS_WGS84), **area_kwargs)
        logs.append(privacy.disclosure_log)

    link_frame = _link_frame(links)
    if link_frame is not None:
        thinned, n_links = _thin_links(link_frame, micro_public, macro_public, link_limit)
    else:
        thinned = pd.DataFrame(columns=[*_LINK_COLUMNS, "x0", "y0", "x1", "y1"])
        n_links = 0
    personal_reach, reach_log = _personal_reach(link_frame, personal, macro_public)
    logs.append(reach_log)
    reach, linked = _reach_texts(link_frame, micro_public, macro_public)

    catchment_frame = _polygons_wgs84(catchments, "catchments", _CATCHMENT_COLUMNS)
    if catchment_frame is not None:
        catchment_frame = catchment_frame.assign(
            macro_id=catchment_frame["macro_id"].astype("str"),
            band_minutes=pd.to_numeric(catchment_frame["band_minutes"], errors="coerce"),
        ).sort_values(["band_minutes", "macro_id"], ascending=[False, True], kind="stable")

    sources = _sources(
        [micro_public, macro_public, personal],
        link_frame,
        catchment_frame,
        areas_frame,
        privacy,
    )
    return MapContent(
        micro=micro_public,
        macro=macro_public,
        n_personal=len(personal),
        privacy=privacy,
        links=thinned,
        n_links=n_links,
        personal_reach=personal_reach,
        reach=reach,
        linked=linked,
        disclosure_log=pd.concat([log for log in logs if len(log)] or logs[:1], ignore_index=True),
        catchments=catchment_frame,
        areas=areas_frame,
        n_unplaced=unplaced_micro + unplaced_macro,
        sources=sources,
    )


def _sources(
    frames: Sequence[pd.DataFrame],
    links: pd.DataFrame | None,
    catchments: gpd.GeoDataFrame | None,
    areas: gpd.GeoDataFrame | None,
    privacy: Any,
) -> tuple[str, ...]:
    """Keys of :data:`ATTRIBUTION` for the data shown (personal rows count: their positions
    came from the same directory even though only area counts are drawn)."""
    found: list[str] = []
    geocoded: set[str] = set()
    for frame in frames:
        if "geocode_source" in frame:
            geocoded |= set(frame["geocode_source"].dropna().astype("str"))
    if geocoded & {"postcode", "postcodes.io"}:
        found.append("postcodes")
    if "nominatim" in geocoded:
        found.append("nominatim")
    if "gazetteer" in geocoded:
        found.append("gazetteer")
    network_modes = {"walk", "cycle", "drive"}
    if (links is not None and links["mode"].astype("str").isin(network_modes).any()) or (
        catchments is not None and catchments["mode"].astype("str").isin(network_modes).any()
    ):
        found.append("network")
    if areas is not None or (privacy is not None and privacy.method == "lsoa"):
        found.append("boundaries")
    return tuple(found)
