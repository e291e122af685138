"""Maps: ``assetmap.map()`` → an offline-capable, privacy-safe folium map; PNGs for reports.

- :func:`map` builds the folium map (inline in Jupyter); :func:`save` / :func:`to_html` write
  it as one HTML page, every JS/CSS asset inlined by default.
- :func:`save_png` draws the same content as a static image with matplotlib.
- :func:`safe_text` / :func:`safe_url` are the only way register text reaches a page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assetmap.maps.builder import TILES, AssetMap, MapContent, map, prepare_content, save, to_html
from assetmap.maps.legend import category_colour, category_label, palette
from assetmap.maps.safe import safe_link, safe_text, safe_url

if TYPE_CHECKING:  # pragma: no cover
    from assetmap.maps.static import save_png as save_png

__all__ = [
    "TILES",
    "AssetMap",
    "MapContent",
    "category_colour",
    "category_label",
    "map",
    "palette",
    "prepare_content",
    "safe_link",
    "safe_text",
    "safe_url",
    "save",
    "save_png",
    "to_html",
]


def __getattr__(name: str) -> Any:
    # matplotlib is imported only when a PNG is asked for.
    if name == "save_png":
        from assetmap.maps.static import save_png

        return save_png
    msg = f"module 'assetmap.maps' has no attribute {name!r}"
    raise AttributeError(msg)
