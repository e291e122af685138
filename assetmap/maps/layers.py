"""Layers of the asset map drawn from its content: assets, links, catchments, counts per area.

The data-carrying elements they are made of live in :mod:`assetmap.maps.elements` and are
importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap.maps.elements import COORD_DP as COORD_DP
from assetmap.maps.elements import POPUP_FIELDS as POPUP_FIELDS
from assetmap.maps.elements import SIMPLIFY_DEG as SIMPLIFY_DEG
from assetmap.maps.elements import Attribution as Attribution
from assetmap.maps.elements import GeoLayer as GeoLayer
from assetmap.maps.elements import ReadyFlag as ReadyFlag
from assetmap.maps.elements import Runtime as Runtime
from assetmap.maps.elements import SearchControl as SearchControl
from assetmap.maps.elements import add_polygon_layer
from assetmap.maps.elements import point_payload as point_payload
from assetmap.maps.elements import shape_payload as shape_payload
from assetmap.maps.legend import (
    LegendEntry,
    LegendSection,
    category_colour,
    category_label,
    palette,
    rule_colours,
)
from assetmap.maps.properties import _formatted, _lookup, _records, _texts
from assetmap.maps.properties import macro_properties as macro_properties
from assetmap.maps.properties import micro_properties as micro_properties
from assetmap.maps.safe import safe_text, safe_texts
from assetmap.schema import CRS_WGS84

if TYPE_CHECKING:
    from assetmap.maps.content import MapContent

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
    add_polygon_layer(m, "Catchments", catchments.geometry.to_numpy(), props, styles)
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
    add_polygon_layer(m, name, cells.geometry.to_numpy(), props, styles)


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
    add_polygon_layer(
        m, safe_text(f"Areas ({len(frame)})"), frame.geometry.to_numpy(), props, styles
    )
    entry = LegendEntry(
        safe_text("Areas" + (" (fill: total)" if shown else "")),
        colour,
        "square",
        0.35 if shown else 0.0,
    )
    return LegendSection("Areas", (entry,))
