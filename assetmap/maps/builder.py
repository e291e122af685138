"""``assetmap.map()``: one folium map of micro- and macro-assets, links and catchments (DESIGN §6).

The build has two steps. :func:`~assetmap.maps.content.prepare_content` decides what may be
shown (the privacy rules of RELIABILITY §3: personal rows only as published area counts, never
as points or lines) and is shared with the static PNG; :func:`map` draws that content with the
layers of :mod:`assetmap.maps.layers` and :mod:`assetmap.maps.legend`. :func:`to_html` and :func:`save`
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
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure
from folium.plugins import Fullscreen

from assetmap._io import atomic_open
from assetmap.maps import layers as lay
from assetmap.maps.assets import apply_asset_policy
from assetmap.maps.choropleth import ChoroplethLayer, draw_choropleth, prepare_choropleth
from assetmap.maps.content import ATTRIBUTION as ATTRIBUTION
from assetmap.maps.content import MapContent, _polygons_wgs84, prepare_content
from assetmap.maps.legend import Legend, LegendSection, palette
from assetmap.maps.safe import safe_text
from assetmap.schema import MACRO_CATEGORIES, MICRO_CATEGORIES

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
