"""Category colours (one place for every map) and the categorical legend folium lacks."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from assetmap._paths import PACKAGE_DATA
from assetmap.maps.safe import RawMacroElement, safe_text, script_json

__all__ = [
    "Legend",
    "LegendEntry",
    "LegendSection",
    "category_colour",
    "category_label",
    "palette",
    "rule_colours",
]

_HEX: Final = re.compile(r"^#[0-9A-Fa-f]{6}$")
_SWATCHES: Final = ("circle", "ring", "square", "line", "dashed", "hatched")
#: Stripe colour of the "hatched" swatch (areas with no data).
_HATCH: Final = "#808080"


@lru_cache(maxsize=1)
def palette() -> dict[str, Any]:
    """The packaged palette (``assetmap/data/palette.json``), checked once.

    Returns
    -------
    dict
        ``categories`` (name → ``{"colour", "label"}``), ``fallback`` and ``rules`` colour
        lists, and the ``outline``, ``basemap`` and ``suppressed`` colours; every colour a
        ``#RRGGBB`` string.
    """
    path = PACKAGE_DATA / "palette.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    colours = [entry["colour"] for entry in data["categories"].values()]
    colours += [
        *data["fallback"],
        *data["rules"],
        data["outline"],
        data["basemap"],
        data["suppressed"],
    ]
    bad = [c for c in colours if not isinstance(c, str) or not _HEX.match(c)]
    if bad:
        msg = f"{path}: colour {bad[0]!r} is not a #RRGGBB hex colour"
        raise ValueError(msg)
    return data


def _stable_pick(name: str, choices: list[str]) -> str:
    # crc32 rather than hash(): the same name gets the same colour in every process.
    return choices[zlib.crc32(name.encode("utf-8")) % len(choices)]


def category_colour(category: str) -> str:
    """``#RRGGBB`` colour of a category: the palette's, else a stable Tol 'muted' colour."""
    entry = palette()["categories"].get(category)
    if entry is not None:
        return str(entry["colour"])
    return _stable_pick(category, palette()["fallback"])


def category_label(category: str) -> str:
    """Display label of a category, *not yet escaped* ("Social enterprises"; unknown → itself)."""
    entry = palette()["categories"].get(category)
    return str(entry["label"]) if entry is not None else str(category)


def rule_colours(rules: Iterable[str]) -> dict[str, str]:
    """``#RRGGBB`` colour of each link rule on one map (Tol 'bright').

    Each rule starts from a stable hash of its name, so a rule keeps its colour from map to
    map; rules whose colour is taken on this map (in sorted order) move to the next free one.
    """
    choices: list[str] = palette()["rules"]
    taken: dict[str, str] = {}
    for rule in sorted({str(r) for r in rules}):
        start = zlib.crc32(rule.encode("utf-8")) % len(choices)
        free = [choices[(start + k) % len(choices)] for k in range(len(choices))]
        used = set(taken.values())
        taken[rule] = next((c for c in free if c not in used), free[0])
    return taken


@dataclass(frozen=True)
class LegendEntry:
    """One legend row.

    Attributes
    ----------
    label_html
        Label already escaped with :func:`assetmap.maps.safe.safe_text` (or built only from
        escaped parts).
    colour
        ``#RRGGBB``.
    swatch
        ``"circle"`` (micro point), ``"ring"`` (macro point), ``"square"`` (area fill),
        ``"line"``, ``"dashed"`` or ``"hatched"`` (area fill with grey stripes: no data).
    opacity
        Fill opacity of the swatch, 0–1.
    """

    label_html: str
    colour: str
    swatch: str = "circle"
    opacity: float = 0.85

    def __post_init__(self) -> None:
        if not _HEX.match(self.colour):
            msg = f"legend colour {self.colour!r} is not a #RRGGBB hex colour"
            raise ValueError(msg)
        if self.swatch not in _SWATCHES:
            msg = f"legend swatch {self.swatch!r} is not one of {_SWATCHES}"
            raise ValueError(msg)
        if not 0.0 <= self.opacity <= 1.0:
            msg = f"legend opacity {self.opacity!r} is outside 0..1"
            raise ValueError(msg)


@dataclass(frozen=True)
class LegendSection:
    """A heading (escaped text) with its rows and an optional note (escaped text)."""

    heading_html: str
    entries: tuple[LegendEntry, ...] = field(default_factory=tuple)
    note_html: str = ""


_CSS: Final = """<style>
.am-legend{background:rgba(255,255,255,.94);padding:6px 9px;border-radius:5px;
box-shadow:0 1px 5px rgba(0,0,0,.4);font:12px/1.35 "DejaVu Sans",Arial,sans-serif;
max-height:60vh;max-width:300px;overflow:auto;color:#222}
.am-legend summary{font-weight:bold;font-size:13px;cursor:pointer}
.am-legend-heading{font-weight:bold;margin:6px 0 2px}
.am-legend-row{display:flex;align-items:center;gap:6px;margin:1px 0}
.am-legend-note{color:#555;font-size:11px;margin:2px 0 0}
.am-swatch{flex:none;display:inline-block;width:12px;height:12px;box-sizing:border-box}
.am-swatch-circle{border-radius:50%;border:1px solid #222}
.am-swatch-ring{border-radius:50%;border:2px solid #000;width:14px;height:14px}
.am-swatch-square{border:1px solid #555}
.am-swatch-line{height:0;border-top:3px solid;width:18px}
.am-swatch-dashed{height:0;border-top:3px dashed;width:18px}
.am-swatch-hatched{border:1px dashed #808080}
</style>"""


def _swatch_html(entry: LegendEntry) -> str:
    kind = entry.swatch
    if kind in ("line", "dashed"):
        style = f"border-top-color:{entry.colour}"
    else:
        red, green, blue = (int(entry.colour[i : i + 2], 16) for i in (1, 3, 5))
        fill = f"rgba({red},{green},{blue},{entry.opacity:.2f})"
        style = f"background:{fill}"
        if kind == "hatched":
            style = f"background:repeating-linear-gradient(45deg,{_HATCH} 0 1px,{fill} 1px 4px)"
    return f'<span class="am-swatch am-swatch-{kind}" style="{style}"></span>'


class Legend(RawMacroElement):
    """A categorical legend as a Leaflet control (``bottomright``), collapsible.

    Parameters
    ----------
    title
        Map title shown as the legend's summary line (escaped here).
    sections
        Legend sections; their text is already escaped.
    position
        Leaflet control position.
    """

    def __init__(
        self,
        title: str,
        sections: list[LegendSection],
        *,
        position: str = "bottomright",
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Legend"
        self.title_html = safe_text(title)
        self.sections = list(sections)
        self.position = position

    def to_html(self) -> str:
        """The legend's inner HTML (a ``<details>`` element)."""
        parts = [f'<details class="am-legend" open><summary>{self.title_html}</summary>']
        for section in self.sections:
            parts.append(f'<div class="am-legend-heading">{section.heading_html}</div>')
            for entry in section.entries:
                parts.append(
                    f'<div class="am-legend-row">{_swatch_html(entry)}<span>{entry.label_html}</span></div>'
                )
            if section.note_html:
                parts.append(f'<div class="am-legend-note">{section.note_html}</div>')
        parts.append("</details>")
        return "".join(parts)

    def header_html(self) -> str:
        return _CSS

    def script_js(self) -> str:
        map_name = self._parent.get_name() if self._parent is not None else "map"
        return (
            "(function () {\n"
            f"  var legend = L.control({{position: {script_json(self.position)}}});\n"
            "  legend.onAdd = function () {\n"
            "    var div = L.DomUtil.create('div', 'am-legend-control');\n"
            f"    div.innerHTML = {script_json(self.to_html())};\n"
            "    L.DomEvent.disableClickPropagation(div);\n"
            "    L.DomEvent.disableScrollPropagation(div);\n"
            "    return div;\n"
            "  };\n"
            f"  legend.addTo({map_name});\n"
            "})();\n"
        )
