"""Map elements that carry data: the JS runtime, GeoJSON layers, search and attribution.

Every element here renders finished text (:class:`~assetmap.maps.safe.RawMacroElement`), so
nothing it carries is parsed by Jinja a second time, and every payload is JSON made safe
for ``<script>`` by :func:`~assetmap.maps.safe.script_json`. Property values are already
escaped with :func:`~assetmap.maps.safe.safe_text`; the runtime only concatenates them
into a fixed popup template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element
from folium.elements import JSCSSMixin

from assetmap.maps.legend import (
    LegendEntry,
    LegendSection,
    category_colour,
    category_label,
    palette,
    rule_colours,
)
from assetmap.maps.safe import (
    RawMacroElement,
    safe_linkified,
    safe_text,
    safe_texts,
    safe_url,
    script_json,
    script_safe,
)
from assetmap.schema import CRS_WGS84

if TYPE_CHECKING:
    from assetmap.maps.builder import MapContent

__all__ = [
    "POPUP_FIELDS",
    "Attribution",
    "GeoLayer",
    "ReadyFlag",
    "Runtime",
    "SearchControl",
    "point_payload",
    "shape_payload",
]

#: Popup rows: property key → label, in display order. Values are escaped HTML.
POPUP_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("c", "Category"),
    ("t", "Tags"),
    ("st", "Status"),
    ("h", "Homes"),
    ("ha", "Hectares"),
    ("inv", "Investment"),
    ("op", "Opened"),
    ("cap", "Capacity"),
    ("pc", "Postcode"),
    ("d", "Description"),
    ("w", "Website"),
    ("wt", "Website"),
    ("e", "Email"),
    ("et", "Email"),
    ("ph", "Phone"),
    ("reach", "Within reach"),
    ("linked", "Micro-assets within reach"),
    ("res", "Residents within reach (published counts)"),
    ("rule", "Rule"),
    ("mode", "Mode"),
    ("min", "Minutes"),
    ("m", "Metres"),
    ("score", "Score"),
    ("note", "Note"),
    ("gs", "Located by"),
    ("src", "Source"),
    ("sl", "Register line"),
)
_FIELD_KEYS: Final = frozenset(key for key, _ in POPUP_FIELDS)

#: Decimal places of WGS84 coordinates in every payload (≈ 0.1 m).
COORD_DP: Final = 6
#: Simplification tolerance for drawn polygons, degrees (≈ 1 m; invisible at street zoom).
SIMPLIFY_DEG: Final = 1e-5

_RUNTIME_CSS: Final = """<style>
.am-popup{font:12px/1.4 "DejaVu Sans",Arial,sans-serif;color:#222;max-width:340px}
.am-popup-title{font-weight:bold;font-size:13px;margin-bottom:4px}
.am-popup table{border-collapse:collapse}
.am-popup th{text-align:left;vertical-align:top;padding:1px 8px 1px 0;color:#555;font-weight:normal;white-space:nowrap}
.am-popup td{padding:1px 0;overflow-wrap:anywhere}
.leaflet-control-layers{font:12px/1.4 "DejaVu Sans",Arial,sans-serif;max-height:50vh;overflow:auto}
.leaflet-control-layers-overlays label span{overflow-wrap:anywhere}
.leaflet-container .leaflet-control-attribution{font-size:10px;line-height:1.3;max-width:65vw}
</style>"""

# A fixed script: values reach it as escaped strings inside JSON; it never builds HTML from
# anything else. No Jinja delimiters appear in it (it is inserted verbatim anyway).
_RUNTIME_JS: Final = """var assetmap = (function () {
  "use strict";
  var LABELS = {};
  __FIELDS__.forEach(function (f) { LABELS[f[0]] = f[1]; });
  var ORDER = __FIELDS__.map(function (f) { return f[0]; });
  function expand(data) {
    if (!data.xy) { return data; }
    var n = data.xy.length / 2, features = new Array(n), keys = Object.keys(data.c);
    for (var i = 0; i < n; i++) {
      var p = {};
      for (var j = 0; j < keys.length; j++) {
        var col = data.c[keys[j]];
        var value = Array.isArray(col) ? col[i] : col.v[col.i[i]];
        if (value !== "") { p[keys[j]] = value; }
      }
      features[i] = {type: "Feature", properties: p,
        geometry: {type: "Point", coordinates: [data.xy[2 * i], data.xy[2 * i + 1]]}};
    }
    return {type: "FeatureCollection", features: features};
  }
  // Values of these keys passed assetmap.maps.safe.safe_url: an escaped https:/mailto: URL.
  var LINKS = {w: true, e: true};
  function anchor(href) {
    var text = href.indexOf("mailto:") === 0 ? href.slice(7) : href;
    return '<a href="' + href + '" target="_blank" rel="noopener noreferrer">' + text + "</a>";
  }
  function row(label, value) {
    return "<tr><th>" + label + "</th><td>" + value + "</td></tr>";
  }
  function popupHtml(p, o) {
    var html = "<div class=\\"am-popup\\">", rows = "";
    if (o.title && p[o.title]) { html += "<div class=\\"am-popup-title\\">" + p[o.title] + "</div>"; }
    (o.rows || []).forEach(function (r) { rows += row(r[0], r[1]); });
    ORDER.forEach(function (k) {
      if (!Object.prototype.hasOwnProperty.call(p, k) || p[k] === "") { return; }
      rows += row(LABELS[k], LINKS[k] ? anchor(p[k]) : p[k]);
    });
    if (rows) { html += "<table>" + rows + "</table>"; }
    return html + "</div>";
  }
  function layer(parent, data, o) {
    var styles = o.styles;
    function styleOf(f) { return styles[(f.properties && f.properties._s) || 0]; }
    var lyr = L.geoJSON(expand(data), {
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, styleOf(f)); },
      style: styleOf,
      interactive: o.interactive !== false
    });
    if (o.popup) {
      lyr.bindPopup(function (l) { return popupHtml(l.feature.properties, o); }, {maxWidth: 360});
    }
    if (o.tooltip) {
      lyr.bindTooltip(function (l) { return l.feature.properties[o.tooltip]; }, {sticky: true});
    }
    lyr.addTo(parent);
    if (o.back && parent.bringToBack) {
      // Area fills stay under every other overlay, also after the layer control re-adds them.
      parent.on("add", function () { parent.bringToBack(); });
      if (parent._map) { parent.bringToBack(); }
    }
    return lyr;
  }
  function searchIndex(groups) {
    var index = L.layerGroup(groups);
    // leaflet-search adds its layer to the map; the groups are already there (or hidden
    // by the user), so the index itself must never be added.
    index.addTo = function () { return this; };
    return index;
  }
  function decode(text) {
    var t = document.createElement("textarea");
    t.innerHTML = text;
    return t.value;
  }
  function filter(text, records) {
    var wanted = String(text).toLowerCase(), found = {};
    Object.keys(records).forEach(function (key) {
      if (decode(key).toLowerCase().indexOf(wanted) !== -1) { found[key] = records[key]; }
    });
    return found;
  }
  function openFound(e) {
    if (e.layer) { e.layer.fire("click", {latlng: e.latlng}, true); }
  }
  return {layer: layer, popupHtml: popupHtml, searchIndex: searchIndex, filter: filter,
          openFound: openFound, ready: false};
})();
"""


def _map_name(element: Element) -> str:
    node: Element | None = element
    while node is not None:
        if isinstance(node, folium.Map):
            return node.get_name()
        node = node._parent
    msg = f"{type(element).__name__} is not inside a folium Map"
    raise TypeError(msg)


class Runtime(RawMacroElement):
    """The map's small JS runtime (``assetmap.layer`` …) and popup styles; add it first."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "AssetmapRuntime"

    def header_html(self) -> str:
        return _RUNTIME_CSS

    def script_js(self) -> str:
        return _RUNTIME_JS.replace("__FIELDS__", script_json([list(f) for f in POPUP_FIELDS]))


class GeoLayer(RawMacroElement):
    """One GeoJSON layer drawn by the runtime into its parent (a folium FeatureGroup).

    Parameters
    ----------
    payload
        Script-safe JSON text from :func:`point_payload` or :func:`shape_payload`.
    styles
        Leaflet path options; a feature's ``_s`` property picks one (default the first).
    popup
        Open a popup with the feature's known fields on click.
    title_key
        Property shown as the popup's title.
    rows
        Constant ``[label, value]`` rows (escaped HTML) shown first in every popup.
    tooltip_key
        Property shown as a hover tooltip (escaped HTML), or None.
    interactive
        False for a layer that should not catch the mouse (basemap streets).
    keep_at_back
        Keep the parent group under every other overlay, also when it is toggled on again
        (choropleth fills under points and lines).
    n_features
        Number of features (for the legend and tests).
    """

    def __init__(
        self,
        payload: str,
        *,
        styles: Sequence[dict[str, Any]],
        popup: bool = True,
        title_key: str | None = "n",
        rows: Sequence[tuple[str, str]] = (),
        tooltip_key: str | None = None,
        interactive: bool = True,
        keep_at_back: bool = False,
        n_features: int = 0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "GeoLayer"
        if not styles:
            msg = "GeoLayer needs at least one style"
            raise ValueError(msg)
        self.payload = payload
        self.options: dict[str, Any] = {
            "styles": [dict(s) for s in styles],
            "popup": bool(popup),
            "title": title_key,
            "rows": [[label, value] for label, value in rows],
            "tooltip": tooltip_key,
            "interactive": bool(interactive),
        }
        if keep_at_back:
            self.options["back"] = True
        self.n_features = int(n_features)

    def script_js(self) -> str:
        parent = self._parent.get_name() if self._parent is not None else _map_name(self)
        return f"assetmap.layer({parent}, {self.payload}, {script_json(self.options)});\n"


class SearchControl(JSCSSMixin, RawMacroElement):
    """leaflet-search (2.9.7, the version folium's ``Search`` plugin uses) over asset names.

    Indexes the ``n`` property of every point in ``groups``; matching is case-insensitive
    on the displayed text, anywhere in the name; the found asset's popup opens.
    """

    default_js = [  # noqa: RUF012 - folium's JSCSSMixin reads these class lists
        (
            "Leaflet.Search.js",
            "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js",
        ),
    ]
    default_css = [  # noqa: RUF012
        (
            "Leaflet.Search.css",
            "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css",
        ),
    ]

    def __init__(
        self, groups: Sequence[Element], *, placeholder: str = "Search assets", zoom: int = 16
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "AssetSearch"
        self.groups = list(groups)
        self.placeholder = placeholder
        self.zoom = int(zoom)

    def script_js(self) -> str:
        names = ", ".join(g.get_name() for g in self.groups)
        options = (
            "{layer: assetmap.searchIndex([" + names + ']), propertyName: "n", initial: false, '
            f"collapsed: true, zoom: {self.zoom}, textPlaceholder: {script_json(self.placeholder)}, "
            'filterData: assetmap.filter, hideMarkerOnCollapse: true, position: "topleft"}'
        )
        return (
            "(function () {\n"
            f"  var control = new L.Control.Search({options});\n"
            '  control.on("search:locationfound", assetmap.openFound);\n'
            f"  {_map_name(self)}.addControl(control);\n"
            "})();\n"
        )


class Attribution(RawMacroElement):
    """Adds each data source's attribution (HTML built from constants and escaped text)."""

    def __init__(self, items_html: Sequence[str]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "AssetAttribution"
        self.items_html = list(dict.fromkeys(items_html))

    def script_js(self) -> str:
        name = _map_name(self)
        lines = [f"if ({name}.attributionControl) {{"]
        lines += [
            f"  {name}.attributionControl.addAttribution({script_json(item)});"
            for item in self.items_html
        ]
        lines.append("}")
        return "\n".join(lines) + "\n"


class ReadyFlag(RawMacroElement):
    """Sets ``assetmap.ready = true`` once every layer script has run (added last)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "AssetmapReady"

    def script_js(self) -> str:
        return "assetmap.ready = true;\n"


def _coordinate_text(values: np.ndarray) -> str:
    # Fixed 6 dp text: the same float always gives the same bytes (and no 1e-07 forms).
    return ",".join(format(v, ".6f") for v in values.tolist())


def _column_json(values: Sequence[Any]) -> Any:
    """A column as a list, or dictionary-encoded ``{"v": distinct, "i": indices}`` when it repeats.

    Distinct values keep their order of first appearance, so the text is deterministic.
    """
    if len(values) >= 8:
        codes, uniques = pd.factorize(pd.Series(list(values), dtype=object), sort=False)
        if len(uniques) * 4 <= len(values):
            return {"v": list(uniques), "i": codes.tolist()}
    return list(values)


def point_payload(lon: np.ndarray, lat: np.ndarray, columns: Mapping[str, Sequence[Any]]) -> str:
    """Compact, script-safe JSON for a point layer: coordinates and columns of properties.

    ``{"xy": [lon0, lat0, lon1, lat1, …], "c": {key: column}}``; a column is a list with one
    value per point (``""`` = absent) or, when its values repeat, ``{"v": […], "i": […]}``.
    The runtime turns it back into GeoJSON features.

    Parameters
    ----------
    lon, lat
        WGS84 degrees (EPSG:4326), finite; rounded to 6 dp.
    columns
        Property key (see :data:`POPUP_FIELDS`, plus ``n``, ``tt``, ``_s``) → one value per
        point: escaped strings or whole numbers.
    """
    lon = np.round(np.asarray(lon, dtype="float64"), COORD_DP)
    lat = np.round(np.asarray(lat, dtype="float64"), COORD_DP)
    lengths = {len(v) for v in columns.values()} | {lon.size}
    if lon.shape != lat.shape or len(lengths) != 1:
        msg = f"point_payload: {lon.size} lon, {lat.size} lat and property columns of lengths {sorted(lengths)} differ"
        raise ValueError(msg)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        msg = "point_payload: coordinates must be finite WGS84 degrees"
        raise ValueError(msg)
    _check_keys([dict.fromkeys(columns)])
    xy = np.column_stack([lon, lat]).ravel()
    kept = {
        key: _column_json(values) for key, values in columns.items() if any(v != "" for v in values)
    }
    return '{"xy":[' + _coordinate_text(xy) + '],"c":' + script_json(kept) + "}"


def shape_payload(geometries: np.ndarray, properties: Sequence[dict[str, Any]]) -> str:
    """Script-safe GeoJSON FeatureCollection text for lines or polygons (EPSG:4326).

    Coordinates are rounded to 6 dp; missing or empty geometries must be removed first.
    """
    geoms = np.asarray(geometries, dtype=object)
    if geoms.size != len(properties):
        msg = f"shape_payload: {geoms.size} geometries and {len(properties)} property rows differ"
        raise ValueError(msg)
    if geoms.size and (shapely.is_missing(geoms) | shapely.is_empty(geoms)).any():
        msg = "shape_payload: drop missing or empty geometries first"
        raise ValueError(msg)
    _check_keys(properties)
    rounded = shapely.transform(shapely.force_2d(geoms), lambda c: np.round(c, COORD_DP))
    texts = shapely.to_geojson(rounded) if geoms.size else np.empty(0, dtype=object)
    props = [script_json(p) for p in properties]
    features = [
        '{"type":"Feature","geometry":' + g + ',"properties":' + p + "}"
        for g, p in zip(texts.tolist(), props, strict=True)
    ]
    return script_safe('{"type":"FeatureCollection","features":[' + ",".join(features) + "]}")


def _check_keys(properties: Sequence[dict[str, Any]]) -> None:
    allowed = _FIELD_KEYS | {"n", "tt", "_s"}
    unknown = set().union(*(p.keys() for p in properties)) - allowed if properties else set()
    if unknown:
        msg = f"unknown popup property keys {sorted(unknown)} (expected some of {sorted(allowed)})"
        raise ValueError(msg)


# ----------------------------------------------------------------------------- drawing

#: Published-count classes of an area cell: (legend label, fill opacity). Class 2 ("*") is
#: drawn in the palette's suppressed grey.
CELL_CLASSES: Final[tuple[tuple[str, float], ...]] = (
    ("0", 0.0),
    ("<8 (1–7)", 0.2),
    ("* hidden to protect another cell", 0.35),
    ("10–20", 0.35),
    ("25–50", 0.5),
    ("55 or more", 0.7),
)


def cell_classes(published: pd.Series) -> np.ndarray:
    """Class index (into :data:`CELL_CLASSES`) of each published count text ("<8", "15", "*")."""
    text = published.astype("str").str.strip()
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    return np.select(
        [
            text.eq("<8").to_numpy(),
            text.eq("*").to_numpy(),
            number <= 0,
            number <= 20,
            number <= 50,
            number > 50,
        ],
        [1, 2, 0, 3, 4, 5],
        default=0,
    ).astype(int)


def _texts(frame: pd.DataFrame, column: str) -> list[str]:
    return safe_texts(frame[column]) if column in frame else [""] * len(frame)


def _formatted(frame: pd.DataFrame, column: str, template: str) -> list[str]:
    if column not in frame:
        return [""] * len(frame)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
    return [template.format(v) if np.isfinite(v) else "" for v in values.tolist()]


def _records(columns: dict[str, list[str]], n: int) -> list[dict[str, Any]]:
    """Row dicts holding only the non-empty values (smaller pages; popups skip absent rows)."""
    keys = list(columns)
    if not keys:
        return [{} for _ in range(n)]
    return [
        {k: v for k, v in zip(keys, values, strict=True) if v != ""}
        for values in zip(*columns.values(), strict=True)
    ]


def _mailto(value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        return value
    text = value.strip()
    return text if text.lower().startswith("mailto:") else "mailto:" + text


def _link_columns(rows: pd.DataFrame, column: str, key: str) -> dict[str, list[str]]:
    """``key``: escaped URLs that :func:`safe_url` accepts (drawn as links by the runtime);
    ``key + "t"``: any other value, as plain escaped text."""
    if column not in rows:
        return {}
    values = rows[column].tolist()
    urls = [safe_url(_mailto(v) if key == "e" else v) for v in values]
    texts = ["" if url is not None else safe_text(v) for url, v in zip(urls, values, strict=True)]
    return {key: [url or "" for url in urls], key + "t": texts}


def _source_names(frame: pd.DataFrame) -> list[str]:
    """The register's file name (not its folder: paths stay off intranet pages)."""
    if "source" not in frame:
        return [""] * len(frame)
    codes, uniques = pd.factorize(frame["source"].astype("str"), use_na_sentinel=True)
    names = [*safe_texts([PurePath(u).name if u else "" for u in uniques.tolist()]), ""]
    return [names[c] for c in codes.tolist()]


def _lookup(series: pd.Series, ids: pd.Index) -> list[str]:
    if series.empty:
        return [""] * len(ids)
    return series.reindex(ids.astype("str")).fillna("").astype("str").tolist()


def micro_properties(rows: pd.DataFrame, reach: pd.Series) -> dict[str, list[str]]:
    """Popup property columns of non-personal micro-assets (escaped text, fixed keys)."""
    columns = {
        "n": _texts(rows, "name"),
        "t": _texts(rows, "tags"),
        "cap": _formatted(rows, "capacity", "{:g}"),
        "pc": _texts(rows, "postcode"),
        "d": _texts(rows, "description"),
        **_link_columns(rows, "website", "w"),
        **_link_columns(rows, "email", "e"),
        "ph": _texts(rows, "phone"),
        "reach": _lookup(reach, rows.index),
        "gs": _texts(rows, "geocode_source"),
        "src": _source_names(rows),
        "sl": _formatted(rows, "source_line", "{:.0f}"),
    }
    return columns


def macro_properties(
    rows: pd.DataFrame, linked: pd.Series, personal_reach: pd.Series
) -> dict[str, list[str]]:
    """Popup property columns of macro-assets: the site's facts, reach counts and sources."""
    columns = {
        "n": _texts(rows, "name"),
        "t": _texts(rows, "tags"),
        "st": [t.replace("_", " ") for t in _texts(rows, "status")],
        "h": _formatted(rows, "homes", "{:,.0f}"),
        "ha": _formatted(rows, "hectares", "{:g}"),
        "inv": _formatted(rows, "investment_gbp", "£{:,.0f}"),
        "op": _texts(rows, "opened"),
        "cap": _formatted(rows, "capacity", "{:g}"),
        "pc": _texts(rows, "postcode"),
        "d": _texts(rows, "description"),
        **_link_columns(rows, "website", "w"),
        "linked": _lookup(linked, rows.index),
        "res": [safe_text(v) for v in _lookup(personal_reach, rows.index)],
        "gs": _texts(rows, "geocode_source"),
        "src": [safe_linkified(v) for v in rows["source"].tolist()]
        if "source" in rows
        else [""] * len(rows),
    }
    return columns


def _point_style(colour: str, *, macro: bool, big: bool) -> dict[str, Any]:
    if macro:
        return {
            "radius": 8,
            "color": "#000000",
            "weight": 2,
            "fillColor": colour,
            "fillOpacity": 0.95,
        }
    return {
        "radius": 4 if big else 5,
        "color": palette()["outline"],
        "weight": 1,
        "fillColor": colour,
        "fillOpacity": 0.85,
    }


def draw_micro(
    m: folium.Map, category: str, rows: pd.DataFrame, content: MapContent, *, max_markers: int
) -> tuple[folium.FeatureGroup, LegendEntry]:
    """One toggleable layer of a micro category (points; canvas and no tooltips when large)."""
    label = category_label(category)
    colour = category_colour(category)
    big = len(rows) > max_markers
    group = folium.FeatureGroup(name=safe_text(f"{label} ({len(rows)})"), overlay=True, show=True)
    group.add_to(m)
    payload = point_payload(
        rows["lon"].to_numpy(), rows["lat"].to_numpy(), micro_properties(rows, content.reach)
    )
    group.add_child(
        GeoLayer(
            payload,
            styles=[_point_style(colour, macro=False, big=big)],
            rows=[("Category", safe_text(label))],
            tooltip_key=None if big else "n",
            n_features=len(rows),
        )
    )
    return group, LegendEntry(safe_text(f"{label} ({len(rows)})"), colour, "circle")


def draw_macro(
    m: folium.Map, category: str, rows: pd.DataFrame, content: MapContent, *, max_markers: int
) -> tuple[folium.FeatureGroup, LegendEntry]:
    """One layer of a macro category: footprint polygons (where published) and site points."""
    label = category_label(category)
    colour = category_colour(category)
    group = folium.FeatureGroup(name=safe_text(f"{label} ({len(rows)})"), overlay=True, show=True)
    group.add_to(m)
    props = macro_properties(rows, content.linked, content.personal_reach)
    category_row = [("Category", safe_text(label))]
    if "footprint" in rows:
        footprints = gpd.GeoSeries(rows["footprint"].to_numpy(), index=rows.index)
        crs = getattr(rows["footprint"], "crs", None)
        if crs is not None:
            footprints = footprints.set_crs(crs).to_crs(CRS_WGS84)
        shapes = footprints.to_numpy()
        has = (
            ~(shapely.is_missing(shapes) | shapely.is_empty(shapes))
            if len(shapes)
            else np.zeros(0, bool)
        )
        if has.any():
            shapes = shapely.simplify(shapes[has], SIMPLIFY_DEG, preserve_topology=True)
            style = {
                "color": colour,
                "weight": 2,
                "opacity": 0.9,
                "fillColor": colour,
                "fillOpacity": 0.15,
            }
            group.add_child(
                GeoLayer(
                    shape_payload(
                        shapes,
                        [
                            p
                            for p, keep in zip(_records(props, len(rows)), has, strict=True)
                            if keep
                        ],
                    ),
                    styles=[style],
                    rows=category_row,
                    tooltip_key="n",
                    n_features=int(has.sum()),
                )
            )
    payload = point_payload(rows["lon"].to_numpy(), rows["lat"].to_numpy(), props)
    group.add_child(
        GeoLayer(
            payload,
            styles=[_point_style(colour, macro=True, big=False)],
            rows=category_row,
            tooltip_key=None if len(rows) > max_markers else "n",
            n_features=len(rows),
        )
    )
    return group, LegendEntry(safe_text(f"{label} ({len(rows)})"), colour, "ring")


def draw_links(
    m: folium.Map, links: pd.DataFrame, micro: pd.DataFrame, macro: pd.DataFrame, n_total: int
) -> LegendSection:
    """Link lines coloured by rule: solid on the network, dashed straight lines, faint beyond reach."""
    micro_names = pd.Series(_texts(micro, "name"), index=micro.index.astype("str"))
    macro_names = pd.Series(_texts(macro, "name"), index=macro.index.astype("str"))
    rules = links["rule"].astype("str")
    colour_of = rule_colours(rules)
    straight = links["mode"].astype("str").eq("euclidean").to_numpy()
    within = links["within_reach"].to_numpy(dtype=bool)
    keys = pd.Series(rules.to_numpy() + "|" + straight.astype(str) + "|" + within.astype(str))
    codes, uniques = pd.factorize(keys, sort=True)
    styles = []
    for key in uniques:
        rule, is_straight, is_within = str(key).rsplit("|", 2)
        style: dict[str, Any] = {
            "color": colour_of[rule],
            "weight": 2.5 if is_within == "True" else 1.5,
            "opacity": 0.85 if is_within == "True" else 0.35,
        }
        if is_straight == "True":
            style["dashArray"] = "6 5"
        styles.append(style)
    names = [
        f"{a} &#8594; {b}"
        for a, b in zip(
            _lookup(micro_names, pd.Index(links["micro_id"])),
            _lookup(macro_names, pd.Index(links["macro_id"])),
            strict=True,
        )
    ]
    columns = {
        "n": names,
        "rule": safe_texts(rules),
        "mode": safe_texts(links["mode"]),
        "min": _formatted(links, "minutes", "{:.1f}"),
        "m": _formatted(links, "metres", "{:,.0f}"),
        "score": _formatted(links, "score", "{:.3f}"),
        "note": _texts(links, "note"),
    }
    props = _records(columns, len(links))
    for record, code in zip(props, codes.tolist(), strict=True):
        record["_s"] = code
    coords = links[["x0", "y0", "x1", "y1"]].to_numpy(dtype="float64").reshape(-1, 2, 2)
    lines = shapely.linestrings(coords)
    group = folium.FeatureGroup(name=safe_text(f"Links ({len(links)})"), overlay=True, show=True)
    group.add_to(m)
    group.add_child(GeoLayer(shape_payload(lines, props), styles=styles, n_features=len(links)))
    entries = [LegendEntry(safe_text(r), colour_of[r], "line") for r in sorted(colour_of)]
    if straight.any():
        entries.append(LegendEntry("straight line (no network)", "#555555", "dashed"))
    note = "Faint lines are beyond the rule's reach."
    if n_total > len(links):
        note += f" Showing {len(links)} of {n_total} links (within reach first, then best score)."
    return LegendSection("Links by rule", tuple(entries), note)


def draw_catchments(
    m: folium.Map, catchments: gpd.GeoDataFrame, macro: pd.DataFrame
) -> LegendSection:
    """Catchment bands in the site's colour, lighter for larger bands (drawn largest first)."""
    bands = np.sort(catchments["band_minutes"].dropna().unique())
    opacity = {b: (0.3 - 0.22 * i / max(len(bands) - 1, 1)) for i, b in enumerate(bands.tolist())}
    ids = macro.index.astype("str")
    site_names = pd.Series(_texts(macro, "name"), index=ids)
    site_colours = pd.Series(
        [category_colour(str(c)) for c in macro["category"].tolist()], index=ids, dtype="str"
    )
    colours = site_colours.reindex(catchments["macro_id"]).fillna("#555555").to_numpy()
    band_values = catchments["band_minutes"].to_numpy(dtype="float64")
    fills = np.array([opacity.get(b, 0.1) for b in band_values.tolist()])
    keys = pd.Series(
        [f"{c}|{f:.3f}" for c, f in zip(colours.tolist(), fills.tolist(), strict=True)]
    )
    codes, uniques = pd.factorize(keys, sort=True)
    styles = []
    for key in uniques:
        colour, fill = str(key).split("|")
        styles.append(
            {
                "color": colour,
                "weight": 1,
                "opacity": 0.6,
                "fillColor": colour,
                "fillOpacity": float(fill),
            }
        )
    names = _lookup(site_names, pd.Index(catchments["macro_id"]))
    names = [n or safe_text(i) for n, i in zip(names, catchments["macro_id"].tolist(), strict=True)]
    modes = (
        catchments["mode"].astype("str").map(lambda v: "straight line" if v == "euclidean" else v)
    )
    bands_text = [format(b, "g") if np.isfinite(b) else "?" for b in band_values.tolist()]
    tips = [
        f"<b>{n}</b><br>{b} min {safe_text(mo)}"
        for n, b, mo in zip(names, bands_text, modes.tolist(), strict=True)
    ]
    props = [{"tt": tip, "_s": code} for tip, code in zip(tips, codes.tolist(), strict=True)]
    shapes = shapely.simplify(catchments.geometry.to_numpy(), SIMPLIFY_DEG, preserve_topology=True)
    group = folium.FeatureGroup(name="Catchments", overlay=True, show=True)
    group.add_to(m)
    group.add_child(
        GeoLayer(
            shape_payload(shapes, props),
            styles=styles,
            popup=False,
            title_key=None,
            tooltip_key="tt",
            n_features=len(props),
        )
    )
    entries = tuple(
        LegendEntry(f"{b:g} min", "#555555", "square", opacity[b]) for b in bands.tolist()
    )
    mode_names = sorted(set(modes.tolist()))
    note = (
        "Bands around each site in its category colour; lighter = farther. Mode: "
        + safe_text(", ".join(mode_names))
        + "."
    )
    return LegendSection("Catchments", entries, note)


def _cells_layer(
    m: folium.Map,
    cells: gpd.GeoDataFrame,
    column: str,
    *,
    name: str,
    colour: str,
    label: str,
    extra: Sequence[str],
) -> None:
    classes = cell_classes(cells[column])
    grey = palette()["suppressed"]
    styles = [
        {
            "color": colour,
            "weight": 1,
            "opacity": 0.7,
            "fillColor": grey if i == 2 else colour,
            "fillOpacity": fill,
        }
        for i, (_, fill) in enumerate(CELL_CLASSES)
    ]
    area_names = _texts(cells, "area_name")
    values = safe_texts(cells[column])
    extra_texts = [safe_texts(cells[c]) for c in extra]
    tips = []
    for i, (area, value) in enumerate(zip(area_names, values, strict=True)):
        lines = [f"<b>{area}</b>", f"{safe_text(label)}: {value}"]
        lines += [
            f"{safe_text(c)}: {texts[i]}" for c, texts in zip(extra, extra_texts, strict=True)
        ]
        tips.append("<br>".join(lines))
    props = [{"tt": tip, "_s": int(c)} for tip, c in zip(tips, classes.tolist(), strict=True)]
    shapes = shapely.simplify(cells.geometry.to_numpy(), SIMPLIFY_DEG, preserve_topology=True)
    group = folium.FeatureGroup(name=name, overlay=True, show=True)
    group.add_to(m)
    group.add_child(
        GeoLayer(
            shape_payload(shapes, props),
            styles=styles,
            popup=False,
            title_key=None,
            tooltip_key="tt",
            n_features=len(props),
        )
    )


def draw_personal_cells(m: folium.Map, privacy: Any) -> LegendSection:
    """One layer per personal category: published counts per area, never a point."""
    cells = privacy.cells
    reserved = {"area_id", "area_name", "method", "geometry", "total"}
    categories = [c for c in cells.columns if c not in reserved]
    drawable = (
        cells.loc[~(cells.geometry.isna() | cells.geometry.is_empty)] if len(cells) else cells
    )
    drawable = drawable.sort_values("area_id", kind="stable") if len(drawable) else drawable
    entries = []
    for category in categories:
        label = category_label(str(category))
        colour = category_colour(str(category))
        total = str(privacy.totals.get(category, "")) if len(privacy.totals) else ""
        entries.append(LegendEntry(safe_text(f"{label}: {total} in total"), colour, "square", 0.5))
        if len(drawable):
            _cells_layer(
                m,
                drawable,
                str(category),
                name=safe_text(f"{label} (counts per area)"),
                colour=colour,
                label=label,
                extra=["total"] if "total" in drawable else [],
            )
    entries += [
        LegendEntry(
            safe_text(text), palette()["suppressed"] if i == 2 else "#555555", "square", fill
        )
        for i, (text, fill) in enumerate(CELL_CLASSES)
        if i
    ]
    method = {"lsoa": "area", "h3": "H3 hexagon (about 0.7 km²)", "sector": "postcode sector"}.get(
        privacy.method, privacy.method
    )
    note = (
        f"Counted per {safe_text(method)}: 1–7 shown as &lt;8, others rounded to the nearest 5. "
        "Individual residents are never shown."
    )
    if not len(drawable) and len(cells):
        note += " Postcode sectors have no boundaries here, so no cells are drawn."
    return LegendSection("Residents (published counts)", tuple(entries), note)


def draw_areas(m: folium.Map, areas: gpd.GeoDataFrame) -> LegendSection:
    """User-supplied area polygons with their published values in the tooltip."""
    colour = palette()["fallback"][0]
    frame = areas.sort_values("area_id", kind="stable") if "area_id" in areas else areas
    values = [
        c for c in frame.columns if c not in ("area_id", "area_name", "method", frame.geometry.name)
    ]
    shown = "total" if "total" in frame else None
    classes = cell_classes(frame[shown]) if shown else np.zeros(len(frame), dtype=int)
    styles = [
        {
            "color": colour,
            "weight": 1,
            "opacity": 0.7,
            "fillColor": colour,
            "fillOpacity": fill if shown else 0.0,
        }
        for _, fill in CELL_CLASSES
    ]
    names = _texts(frame, "area_name") if "area_name" in frame else _texts(frame, "area_id")
    value_texts = [
        safe_texts(frame[c].map(lambda v: v if not isinstance(v, float) or np.isfinite(v) else ""))
        for c in values
    ]
    tips = []
    for i, name in enumerate(names):
        lines = [f"<b>{name}</b>"] + [
            f"{safe_text(c)}: {texts[i]}" for c, texts in zip(values, value_texts, strict=True)
        ]
        tips.append("<br>".join(lines))
    props = [{"tt": tip, "_s": int(c)} for tip, c in zip(tips, classes.tolist(), strict=True)]
    shapes = shapely.simplify(frame.geometry.to_numpy(), SIMPLIFY_DEG, preserve_topology=True)
    group = folium.FeatureGroup(name=safe_text(f"Areas ({len(frame)})"), overlay=True, show=True)
    group.add_to(m)
    group.add_child(
        GeoLayer(
            shape_payload(shapes, props),
            styles=styles,
            popup=False,
            title_key=None,
            tooltip_key="tt",
            n_features=len(props),
        )
    )
    entry = LegendEntry(
        safe_text("Areas" + (" (fill: total)" if shown else "")),
        colour,
        "square",
        0.35 if shown else 0.0,
    )
    return LegendSection("Areas", (entry,))
