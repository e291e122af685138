"""Map elements that carry data: the JS runtime, GeoJSON layers, search and attribution.

Every element here renders finished text (:class:`~assetmap.maps.safe.RawMacroElement`), so
nothing it carries is parsed by Jinja a second time, and every payload is JSON made safe
for ``<script>`` by :func:`~assetmap.maps.safe.script_json`. Property values are already
escaped with :func:`~assetmap.maps.safe.safe_text`; the runtime only concatenates them
into a fixed popup template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element
from folium.elements import JSCSSMixin

from assetmap.maps.safe import RawMacroElement, script_json, script_safe

__all__ = [
    "POPUP_FIELDS",
    "Attribution",
    "GeoLayer",
    "ReadyFlag",
    "Runtime",
    "SearchControl",
    "add_polygon_layer",
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


def add_polygon_layer(
    m: folium.Map,
    name: str,
    geometries: Any,
    props: list[dict[str, Any]],
    styles: Any,
    *,
    show: bool = True,
    keep_at_back: bool = False,
) -> None:
    """A toggleable layer of simplified polygons with hover tooltips (``props[i]["tt"]``).

    ``name`` must already be escaped with :func:`~assetmap.maps.safe.safe_text`.
    """
    shapes = shapely.simplify(np.asarray(geometries), SIMPLIFY_DEG, preserve_topology=True)
    group = folium.FeatureGroup(name=name, overlay=True, show=show)
    group.add_to(m)
    group.add_child(
        GeoLayer(
            shape_payload(shapes, props),
            styles=styles,
            popup=False,
            title_key=None,
            tooltip_key="tt",
            n_features=len(props),
            keep_at_back=keep_at_back,
        )
    )
