"""A classified Choropleth drawn as one folium layer: class fills, hatched "no data", tooltips, legend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import folium
import numpy as np
import pandas as pd

from assetmap.maps.breaks import Choropleth, _areas
from assetmap.maps.elements import Runtime, add_polygon_layer
from assetmap.maps.legend import LegendEntry, LegendSection
from assetmap.maps.safe import RawMacroElement, safe_text, safe_texts

__all__ = [
    "FILL_OPACITY",
    "NO_DATA_COLOUR",
    "NO_DATA_HATCH",
    "ChoroplethLayer",
    "ChoroplethSupport",
    "draw_choropleth",
    "legend_section",
]

#: Fill of the "no data" class (hatched with :data:`NO_DATA_HATCH` where drawn as SVG).
NO_DATA_COLOUR: Final = "#E0E0E0"
NO_DATA_HATCH: Final = "#808080"
#: Fill opacity of every class.
FILL_OPACITY: Final = 0.75
_HATCH_PATTERN_ID: Final = "am-hatch"
_NO_DATA_CLASS: Final = "am-nodata"


@dataclass(frozen=True)
class ChoroplethLayer:
    """A :class:`Choropleth` with how to draw it (from a spec dict)."""

    choropleth: Choropleth
    show: bool = True
    tooltip_columns: tuple[str, ...] = ()


class ChoroplethSupport(RawMacroElement):
    """The hatch pattern and CSS of the "no data" class; one per map, added before layers."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "ChoroplethSupport"

    def header_html(self) -> str:
        return f"<style>.leaflet-interactive.{_NO_DATA_CLASS},path.{_NO_DATA_CLASS}{{fill:url(#{_HATCH_PATTERN_ID})}}</style>"

    def body_html(self) -> str:
        return (
            '<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false">'
            f'<defs><pattern id="{_HATCH_PATTERN_ID}" patternUnits="userSpaceOnUse" width="6" height="6" '
            'patternTransform="rotate(45)">'
            f'<rect width="6" height="6" fill="{NO_DATA_COLOUR}"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{NO_DATA_HATCH}" stroke-width="2"/>'
            "</pattern></defs></svg>"
        )


def _styles(choropleth: Choropleth) -> list[dict[str, Any]]:
    styles: list[dict[str, Any]] = [
        {
            "color": "#555555",
            "weight": 0.6,
            "opacity": 0.8,
            "fillColor": colour,
            "fillOpacity": FILL_OPACITY,
        }
        for colour in choropleth.colours
    ]
    styles.append(
        {
            "color": NO_DATA_HATCH,
            "weight": 0.8,
            "opacity": 0.9,
            "dashArray": "3 3",
            "fillColor": NO_DATA_COLOUR,
            "fillOpacity": FILL_OPACITY,
            "className": _NO_DATA_CLASS,
        }
    )
    return styles


def _column_texts(frame: pd.DataFrame, column: str) -> list[str]:
    """Escaped text of a tooltip column; floats as ``{:g}``, missing as ``""``."""
    series = frame[column]
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return [format(v, "g") if np.isfinite(v) else "" for v in values.tolist()]
    return safe_texts(series)


def _tooltips(choropleth: Choropleth, tooltip_columns: Sequence[str]) -> list[str]:
    names = safe_texts(list(choropleth.names))
    ids = safe_texts(list(choropleth.ids))
    label = safe_text(choropleth.label)
    values = safe_texts(choropleth.value_texts())
    extra = [(safe_text(c), _column_texts(choropleth.areas, c)) for c in tooltip_columns]
    tips = []
    for i, (name, area, value) in enumerate(zip(names, ids, values, strict=True)):
        lines = [f"<b>{name}</b>", area] if name else [f"<b>{area}</b>"]
        lines.append(f"{label}: {value}")
        lines += [f"{heading}: {texts[i]}" for heading, texts in extra]
        tips.append("<br>".join(lines))
    return tips


def legend_section(choropleth: Choropleth) -> LegendSection:
    """Legend rows: each class (bounds with units, area count), then "no data"; a note."""
    entries = [
        LegendEntry(safe_text(f"{text} ({_areas(n)})"), colour, "square", FILL_OPACITY)
        for text, colour, n in zip(
            choropleth.labels, choropleth.colours, choropleth.counts, strict=True
        )
    ]
    entries.append(
        LegendEntry(
            safe_text(f"no data ({_areas(choropleth.n_no_data)})"), NO_DATA_COLOUR, "hatched", 1.0
        )
    )
    return LegendSection(safe_text(choropleth.label), tuple(entries), safe_text(choropleth.note()))


def draw_choropleth(m: folium.Map, layer: ChoroplethLayer) -> LegendSection:
    """Add a classified choropleth to a map as one toggleable layer; return its legend section.

    The layer keeps itself under every other overlay (also after being toggled off and on),
    so points and lines stay clickable above it. Tooltips show the area's name and id, the
    value with its unit and the ``tooltip_columns``, every string escaped with
    :func:`~assetmap.maps.safe.safe_text`.
    """
    choropleth = layer.choropleth
    children = list(m._children.values())
    if not any(isinstance(c, Runtime) for c in children):
        m.add_child(Runtime())
    if not any(isinstance(c, ChoroplethSupport) for c in children):
        m.add_child(ChoroplethSupport())
    n_classes = len(choropleth.colours)
    styles = np.where(choropleth.classes >= 0, choropleth.classes, n_classes).tolist()
    tips = _tooltips(choropleth, layer.tooltip_columns)
    props = [{"tt": tip, "_s": int(s)} for tip, s in zip(tips, styles, strict=True)]
    add_polygon_layer(
        m,
        safe_text(choropleth.label),
        choropleth.areas.geometry.to_numpy(),
        props,
        _styles(choropleth),
        show=layer.show,
        keep_at_back=True,
    )
    return legend_section(choropleth)
