"""``assetmap.map()``: one folium map of micro- and macro-assets, links and catchments (DESIGN §6).

The build has two steps. :func:`prepare_content` decides what may be shown (the privacy rules
of RELIABILITY §3: personal rows only as published area counts, never as points or lines)
and is shared with the static PNG; :func:`map` draws that content with the elements of
:mod:`assetmap.maps.layers` and :mod:`assetmap.maps.legend`. :func:`to_html` and :func:`save`
render a map to one HTML page, self-contained or linking folium's CDNs, byte-identical for the
same inputs.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure
from folium.plugins import Fullscreen

from assetmap._errors import CRSError
from assetmap._io import atomic_open
from assetmap.maps import layers as lay
from assetmap.maps.assets import apply_asset_policy
from assetmap.maps.choropleth import ChoroplethLayer, draw_choropleth, prepare_choropleth
from assetmap.maps.legend import (
    Legend,
    LegendSection,
    category_label,
    palette,
)
from assetmap.maps.safe import safe_text, safe_texts
from assetmap.schema import CRS_WGS84, MACRO_CATEGORIES, MICRO_CATEGORIES

__all__ = ["TILES", "AssetMap", "MapContent", "map", "prepare_content", "save", "to_html"]

#: Pinned tile providers: URL template, attribution (HTML constant), zoom and referrer policy.
TILES: Final[dict[str, dict[str, Any]]] = {
    "cartodbpositron": {
        "url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        "attribution": (
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors '
            '&copy; <a href="https://carto.com/attributions">CARTO</a>'
        ),
        "name": "CARTO Positron",
        "subdomains": "abcd",
        "max_zoom": 20,
        "referrer_policy": "no-referrer",
    },
    "openstreetmap": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attribution": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        "name": "OpenStreetMap",
        "subdomains": "abc",
        "max_zoom": 19,
        # The OSM tile policy asks for a referrer; send the origin only.
        "referrer_policy": "strict-origin-when-cross-origin",
    },
}

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


# ----------------------------------------------------------------------------- content


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


# ----------------------------------------------------------------------------- the map


class AssetMap(folium.Map):
    """A :class:`folium.Map` that inlines or drops its assets when rendered.

    Attributes
    ----------
    self_contained
        Render with every JS/CSS asset inlined (no CDN), in Jupyter and :meth:`save` alike.
    content
        The :class:`MapContent` drawn (personal rows only as published counts).
    disclosure_log
        Every published personal count on the map and the suppression rule applied.
    """

    def __init__(self, *, self_contained: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.self_contained = self_contained
        self.content: MapContent | None = None
        self.disclosure_log: pd.DataFrame = pd.DataFrame()

    def render(self, **kwargs: Any) -> str:
        super().render(**kwargs)  # type: ignore[no-untyped-call]
        figure = self.get_root()
        if isinstance(figure, Figure):
            apply_asset_policy(figure, self_contained=self.self_contained)
        return ""

    def _repr_html_(self, **kwargs: Any) -> str:
        figure = self.get_root()
        width = getattr(figure, "width", "100%")
        ratio = getattr(figure, "ratio", "60%")
        page = html.escape(to_html(self))
        return (
            f'<div style="width:{width};"><div style="position:relative;width:100%;height:0;'
            f'padding-bottom:{ratio};"><iframe srcdoc="{page}" style="position:absolute;width:100%;'
            'height:100%;left:0;top:0;border:none !important;" allowfullscreen webkitallowfullscreen '
            "mozallowfullscreen></iframe></div></div>"
        )


def _check_options(tiles: str | None, max_markers: int, link_limit: int) -> None:
    if tiles is not None and tiles not in TILES:
        msg = f"tiles={tiles!r} is not one of {sorted(TILES)} or None"
        raise ValueError(msg)
    for name, value in (("max_markers", max_markers), ("link_limit", link_limit)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            msg = f"{name} must be a whole number ≥ 0, got {value!r}"
            raise ValueError(msg)


def _category_order(values: Iterable[str], vocabulary: Iterable[str]) -> list[str]:
    present = set(values)
    known = [c for c in vocabulary if c in present]
    return known + sorted(present - set(known))


def map(
    micro: gpd.GeoDataFrame | None,
    macro: gpd.GeoDataFrame | None,
    *,
    links: Any = None,
    catchments: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    title: str = "assetmap",
    self_contained: bool = False,
    tiles: str | None = "cartodbpositron",
    basemap: gpd.GeoDataFrame | None = None,
    attribution: Iterable[str] = (),
    max_markers: int = 1000,
    link_limit: int = 2000,
    choropleths: Sequence[Mapping[str, Any]] = (),
) -> folium.Map:
    """Map micro-assets, macro-assets, their links and catchments on one Leaflet page.

    Parameters
    ----------
    micro, macro
        Asset GeoDataFrames indexed by ``asset_id`` (any CRS; drawn in EPSG:4326). Rows with
        ``personal`` true (or unknown) are never drawn, named or linked: they appear only as
        published counts per area and per site (RELIABILITY §3).
    links
        :class:`assetmap.links.LinkTable` (or its ``links`` DataFrame); lines are drawn
        between non-personal assets only, at most ``link_limit`` of them.
    catchments
        Bands from :func:`assetmap.catchments` (``macro_id, band_minutes, mode``, polygons).
    areas
        Area polygons (``area_id``, ``area_name``, published value columns as text): drawn
        as an "Areas" layer and used as the boundaries personal rows are counted in (else
        H3 hexagons).
    title
        Page title and legend heading.
    self_contained
        Inline every JS/CSS asset when the map renders (Jupyter, ``save``), so it works
        offline; tiles stay remote.
    tiles
        ``"cartodbpositron"`` (default), ``"openstreetmap"`` or None for no tiles.
    basemap
        Street lines (e.g. ``StreetNetwork.edges_gdf()``) drawn as a light vector basemap.
    attribution
        Extra attribution texts (escaped) for sources the map cannot know about.
    max_markers
        Above this many points a layer is drawn on canvas without hover tooltips.
    link_limit
        Most link lines drawn (within reach first, then by score).
    choropleths
        Area layers filled by class of a numeric column (equity maps): each a dict of
        :func:`assetmap.maps.choropleth.add_choropleth` keyword arguments, with ``areas``,
        ``column`` and ``label``. Drawn under everything else, in order, each with its
        legend section.

    Returns
    -------
    folium.Map
        An :class:`AssetMap`; ``.disclosure_log`` lists every published personal count.
    """
    _check_options(tiles, max_markers, link_limit)
    prepared = _prepare_choropleths(choropleths)
    content = prepare_content(
        micro, macro, links=links, catchments=catchments, areas=areas, link_limit=link_limit
    )
    micro_cats = (
        _category_order(content.micro["category"].astype("str"), MICRO_CATEGORIES)
        if len(content.micro)
        else []
    )
    macro_cats = (
        _category_order(content.macro["category"].astype("str"), MACRO_CATEGORIES)
        if len(content.macro)
        else []
    )
    sizes = [int((content.micro["category"].astype("str") == c).sum()) for c in micro_cats]
    sizes += [int((content.macro["category"].astype("str") == c).sum()) for c in macro_cats]
    big = any(n > max_markers for n in sizes)
    bounds = _bounds(content, [p.choropleth.areas for p in prepared])
    if bounds is None:  # nothing to draw: Great Britain
        centre, zoom = [54.0, -2.5], 6
    else:
        centre = [
            round((bounds[0][0] + bounds[1][0]) / 2, 6),
            round((bounds[0][1] + bounds[1][1]) / 2, 6),
        ]
        zoom = 13

    m = AssetMap(
        self_contained=self_contained,
        location=centre,
        zoom_start=zoom,
        tiles=None,
        control_scale=True,
        prefer_canvas=big,
    )
    figure = m.get_root()
    if isinstance(figure, Figure):
        figure.title = safe_text(title)
    m.add_child(lay.Runtime())
    sections: list[LegendSection] = []
    attribution_items: list[str] = [ATTRIBUTION[key] for key in content.sources]

    if tiles is not None:
        spec = TILES[tiles]
        folium.TileLayer(
            tiles=spec["url"],
            attr=spec["attribution"],
            name=spec["name"],
            max_zoom=spec["max_zoom"],
            subdomains=spec["subdomains"],
            referrer_policy=spec["referrer_policy"],
        ).add_to(m)
    if basemap is not None:
        _draw_basemap(m, basemap)
        attribution_items.append(ATTRIBUTION["network"])
    choropleth_sections = [draw_choropleth(m, layer) for layer in prepared]
    if prepared and "boundaries" not in content.sources:
        attribution_items.append(ATTRIBUTION["boundaries"])
    if content.areas is not None:
        sections.append(lay.draw_areas(m, content.areas))
    if content.privacy is not None:
        sections.append(lay.draw_personal_cells(m, content.privacy))
    if content.catchments is not None and len(content.catchments):
        sections.append(lay.draw_catchments(m, content.catchments, content.macro))
    if len(content.links):
        sections.append(
            lay.draw_links(m, content.links, content.micro, content.macro, content.n_links)
        )

    point_groups: list[folium.FeatureGroup] = []
    macro_entries = []
    for category in macro_cats:
        rows = content.macro.loc[content.macro["category"].astype("str") == category]
        group, entry = lay.draw_macro(m, category, rows, content, max_markers=max_markers)
        point_groups.append(group)
        macro_entries.append(entry)
    micro_entries = []
    for category in micro_cats:
        rows = content.micro.loc[content.micro["category"].astype("str") == category]
        group, entry = lay.draw_micro(m, category, rows, content, max_markers=max_markers)
        point_groups.append(group)
        micro_entries.append(entry)
    sections[:0] = choropleth_sections
    if macro_entries:
        sections.insert(0, LegendSection("Macro-assets", tuple(macro_entries)))
    if micro_entries:
        sections.insert(0, LegendSection("Micro-assets", tuple(micro_entries)))
    if content.n_unplaced:
        sections.append(
            LegendSection(
                "Not drawn", (), f"{content.n_unplaced} non-personal assets have no location."
            )
        )

    if point_groups:
        m.add_child(lay.SearchControl(point_groups))
    Fullscreen(position="topleft").add_to(m)  # type: ignore[no-untyped-call]
    m.add_child(Legend(title, sections))
    attribution_items += [safe_text(a) for a in attribution]
    if attribution_items:
        m.add_child(lay.Attribution(attribution_items))
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds is not None:
        m.fit_bounds(bounds)
    m.add_child(lay.ReadyFlag())
    m.content = content
    m.disclosure_log = content.disclosure_log
    _stable_ids(m, _digest(m))
    return m


def _prepare_choropleths(specs: Sequence[Mapping[str, Any]]) -> list[ChoroplethLayer]:
    """Classify every choropleth spec before drawing anything (errors name ``choropleths[i]``)."""
    if isinstance(specs, Mapping | str):
        msg = "choropleths must be a list of dicts (one per layer), e.g. [{'areas': …, 'column': …, 'label': …}]"
        raise TypeError(msg)
    return [prepare_choropleth(spec, where=f"choropleths[{i}]") for i, spec in enumerate(specs)]


def _draw_basemap(m: folium.Map, basemap: gpd.GeoDataFrame) -> None:
    frame = _polygons_wgs84(basemap, "basemap", ())
    assert frame is not None
    geoms = shapely.force_2d(frame.geometry.to_numpy())
    geoms = shapely.transform(geoms, lambda c: np.round(c, lay.COORD_DP))
    # A directed network holds each two-way street twice; draw each line once.
    keys = shapely.to_wkb(shapely.normalize(geoms))
    _, first = np.unique(keys, return_index=True)
    geoms = geoms[np.sort(first)]
    group = folium.FeatureGroup(name="Streets (OpenStreetMap)", overlay=True, show=True)
    group.add_to(m)
    style = {"color": palette()["basemap"], "weight": 1, "opacity": 0.9}
    payload = lay.shape_payload(geoms, [{} for _ in range(len(geoms))])
    group.add_child(
        lay.GeoLayer(
            payload,
            styles=[style],
            popup=False,
            title_key=None,
            interactive=False,
            n_features=len(geoms),
        )
    )


def _bounds(
    content: MapContent, extra: Sequence[gpd.GeoDataFrame] = ()
) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` (degrees) of everything drawn, padded, or None.

    ``extra``: more EPSG:4326 frames drawn (choropleth areas)."""
    xs: list[np.ndarray] = [content.micro["lon"].to_numpy(), content.macro["lon"].to_numpy()]
    ys: list[np.ndarray] = [content.micro["lat"].to_numpy(), content.macro["lat"].to_numpy()]
    for frame in (
        content.catchments,
        content.privacy.cells if content.privacy is not None else None,
        *extra,
    ):
        if frame is not None and len(frame):
            valid = frame.geometry.dropna()
            if len(valid):
                minx, miny, maxx, maxy = valid.total_bounds
                xs.append(np.array([minx, maxx]))
                ys.append(np.array([miny, maxy]))
    x = np.concatenate(xs) if xs else np.empty(0)
    y = np.concatenate(ys) if ys else np.empty(0)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if not x.size:
        return None
    pad = 0.002
    return [
        [round(float(y.min()) - pad, 6), round(float(x.min()) - pad, 6)],
        [round(float(y.max()) + pad, 6), round(float(x.max()) + pad, 6)],
    ]


# ----------------------------------------------------------------------------- determinism


def _walk(element: Element) -> Iterable[Element]:
    yield element
    for child in element._children.values():
        yield from _walk(child)


def _digest(m: folium.Map) -> str:
    """A short hash of what the map carries: names in the page derive from it."""
    sha = hashlib.sha256()
    for element in _walk(m):
        if isinstance(element, lay.GeoLayer):
            sha.update(element.payload.encode("utf-8"))
            sha.update(repr(sorted(element.options.items())).encode("utf-8"))
        elif isinstance(element, Legend):
            sha.update(element.to_html().encode("utf-8"))
        elif isinstance(element, lay.Attribution):
            sha.update("|".join(element.items_html).encode("utf-8"))
    root = m.get_root()
    sha.update(str(getattr(root, "title", "")).encode("utf-8"))
    return sha.hexdigest()[:8]


def _stable_ids(m: folium.Map, seed: str) -> None:
    """Replace folium's random element ids (uuid4 hex) with ``<seed>_<n>`` in tree order."""
    root = m.get_root()
    parts = [root, *(getattr(root, p) for p in ("header", "html", "script") if hasattr(root, p))]
    elements = [m, *parts, *(e for e in _walk(m) if e is not m)]
    old_names = {id(e): e.get_name() for e in elements}
    for number, element in enumerate(elements):
        element._id = f"{seed}_{number}"
    for parent in elements:
        renamed: OrderedDict[str, Element] = OrderedDict()
        for key, child in parent._children.items():
            renamed[child.get_name() if key == old_names.get(id(child)) else key] = child
        parent._children = renamed


# ----------------------------------------------------------------------------- output

_SCRIPT_BLOCK: Final = re.compile(r"(<script\b[^>]*>)(.*?)(</script>)", re.DOTALL | re.IGNORECASE)


def _line_separators(page: str) -> str:
    """Escape raw U+2028/2029: ``\\u2028`` inside scripts, ``&#8232;`` in HTML."""
    if "\u2028" not in page and "\u2029" not in page:
        return page

    def in_script(match: re.Match[str]) -> str:
        body = match.group(2).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        return match.group(1) + body + match.group(3)

    page = _SCRIPT_BLOCK.sub(in_script, page)
    return page.replace("\u2028", "&#8232;").replace("\u2029", "&#8233;")


def to_html(m: folium.Map, *, self_contained: bool | None = None) -> str:
    """Render a map to one HTML page, without changing the map.

    Parameters
    ----------
    m
        A map from :func:`map` (or any folium map).
    self_contained
        Inline every JS/CSS asset (True), link folium's CDNs (False), or follow the map's
        own setting (None; False for a plain folium map).

    Returns
    -------
    str
        The page; the same map gives the same text every time.
    """
    figure = m.get_root()
    if not isinstance(figure, Figure):
        msg = "the map is not inside a branca Figure (was it created by folium.Map?)"
        raise TypeError(msg)
    snapshot = {
        part: OrderedDict(getattr(figure, part)._children) for part in ("header", "html", "script")
    }
    is_ours = isinstance(m, AssetMap)
    previous = m.self_contained if isinstance(m, AssetMap) else False
    mode = previous if self_contained is None else bool(self_contained)
    try:
        if isinstance(m, AssetMap):
            m.self_contained = mode
        for child in figure._children.values():
            child.render()
        if not is_ours:
            apply_asset_policy(figure, self_contained=mode)
        page = figure._template.render(this=figure, kwargs={})
    finally:
        for part, children in snapshot.items():
            getattr(figure, part)._children = children
        if isinstance(m, AssetMap):
            m.self_contained = previous
    return _line_separators(page)


def save(m: folium.Map, path: str | os.PathLike[str], *, self_contained: bool = True) -> None:
    """Write a map as one HTML file, atomically (RELIABILITY §4.3).

    Parameters
    ----------
    m
        The map.
    path
        Output ``.html`` file; written to a temporary file beside it, then renamed.
    self_contained
        Inline every JS/CSS asset (default), so the page works with no network but tiles.
    """
    page = to_html(m, self_contained=self_contained)
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(page)
