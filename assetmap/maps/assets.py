"""Inline every JS/CSS asset of a map page from installed packages (RELIABILITY §4.2).

folium links its assets from CDNs by URL. For a self-contained page each URL is replaced by
the file's text: Leaflet, jQuery, Font Awesome (CSS, with its webfonts as ``data:`` URIs)
and MarkerCluster come from the ``xstatic-*`` wheels; everything else folium links
(leaflet-search, leaflet.fullscreen, awesome-markers, Bootstrap, glyphicons …) comes from
the ``folium-offline`` package, which ships folium's CDN files keyed by their URL. Assets
a page does not use (jQuery, Bootstrap, glyphicons, awesome-markers, Font Awesome when no
``fa-`` icon is drawn) are dropped, inlined or not.
"""

from __future__ import annotations

import ast
import base64
import importlib
import importlib.util
import io
import re
import tokenize
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Final

from branca.element import CssLink, Element, Figure, JavascriptLink

from assetmap._errors import AssetmapError
from assetmap.maps.safe import RawElement

__all__ = ["apply_asset_policy", "asset_text", "page_uses"]

#: CDN URL (as folium 0.20 writes it) → (xstatic package module, file inside its BASE_DIR).
_XSTATIC: Final[dict[str, tuple[str, str]]] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": (
        "xstatic.pkg.leaflet",
        "leaflet.js",
    ),
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": (
        "xstatic.pkg.leaflet",
        "leaflet.css",
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("xstatic.pkg.jquery", "jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/jquery.min.js": (
        "xstatic.pkg.jquery",
        "jquery.min.js",
    ),
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": (
        "xstatic.pkg.font_awesome",
        "css/all.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js": (
        "xstatic.pkg.leaflet_markercluster",
        "leaflet.markercluster.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css": (
        "xstatic.pkg.leaflet_markercluster",
        "MarkerCluster.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": (
        "xstatic.pkg.leaflet_markercluster",
        "MarkerCluster.Default.css",
    ),
}

_MIME: Final = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
}
_CSS_URL: Final = re.compile(r"url\(\s*(['\"]?)([^'\")]*)\1\s*\)")
#: A TrueType fallback after a woff2 source in an @font-face ``src`` list (every browser
#: that runs Leaflet 1.9 reads woff2, so the TTF copy would only double the page).
_TTF_FALLBACK: Final = re.compile(
    r",\s*url\(\s*['\"]?[^'\")]*\.ttf['\"]?\s*\)\s*format\(\s*['\"]truetype['\"]\s*\)"
)
_EMPTY_URL: Final = 'url("data:,")'
_SCRIPT_END: Final = re.compile(r"</(script)", re.IGNORECASE)

#: Header entries (folium's names) that may be dropped, and the test that they are used.
#: ``text`` is the page's rendered body and scripts.
_OPTIONAL: Final[dict[str, Callable[[str], bool]]] = {
    # substring tests first: the text can be megabytes of GeoJSON
    "jquery": lambda text: "$(" in text or "$." in text or "jQuery" in text,
    "bootstrap": lambda text: "data-bs-" in text or "bootstrap" in text.lower(),
    "bootstrap_css": lambda text: (
        "data-bs-" in text or "bootstrap" in text.lower() or "glyphicon" in text
    ),
    "glyphicons_css": lambda text: "glyphicon" in text,
    "awesome_markers": lambda text: "AwesomeMarkers" in text,
    "awesome_markers_css": lambda text: "AwesomeMarkers" in text,
    "awesome_rotate_css": lambda text: "AwesomeMarkers" in text,
    "awesome_markers_font_css": lambda text: (
        "AwesomeMarkers" in text or ("fa-" in text and bool(re.search(r"\bfa-[a-z0-9]", text)))
    ),
}


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _inline_css_urls(css: str, base: Path | None) -> str:
    """Replace each relative ``url(...)`` by a data URI of the file beside ``base``.

    URLs that are already ``data:`` or fragments stay; anything not found locally (or any
    remote URL) becomes an empty data URI, so the page never asks the network for it.
    """
    css = _TTF_FALLBACK.sub("", css)

    def replace(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        if target.startswith(("data:", "#")):
            return match.group(0)
        if base is None or target.startswith(("http:", "https:", "//", "/")):
            return _EMPTY_URL
        local = (base / target.split("?", 1)[0].split("#", 1)[0]).resolve()
        if not local.is_file():
            return _EMPTY_URL
        return f'url("{_data_uri(local)}")'

    return _CSS_URL.sub(replace, css)


@lru_cache(maxsize=1)
def _folium_offline_source() -> str:
    spec = importlib.util.find_spec("offlinefolium")
    if spec is None or not spec.submodule_search_locations:
        msg = "the folium-offline package is needed for self-contained maps; install it with: pip install folium-offline"
        raise AssetmapError(msg)
    path = Path(next(iter(spec.submodule_search_locations))) / "elements.py"
    return path.read_text(encoding="utf-8")


def _folium_offline_asset(url: str) -> str | None:
    """The text folium-offline stores for ``url`` (its ``_res[url] = '''…'''`` literal).

    The module is 3.5 MB of string literals, so instead of importing it (≈ 1 s) the one
    literal is tokenised and evaluated.
    """
    source = _folium_offline_source()
    key = f"_res[{url!r}] = "
    start = source.find(key)
    if start < 0:
        return None
    reader = io.StringIO(source[start + len(key) :]).readline
    token = next(tokenize.generate_tokens(reader))
    if token.type != tokenize.STRING:
        return None
    value = ast.literal_eval(token.string)
    return value if isinstance(value, str) else None


def _leaflet_icon_fix(base: Path) -> str:
    # Leaflet finds its default marker icon through a CSS image path, which a data: URI
    # breaks; give L.Icon.Default the images directly so folium Markers still show.
    images = base / "images"
    options = {
        "iconUrl": _data_uri(images / "marker-icon.png"),
        "iconRetinaUrl": _data_uri(images / "marker-icon-2x.png"),
        "shadowUrl": _data_uri(images / "marker-shadow.png"),
    }
    settings = "".join(f'L.Icon.Default.prototype.options.{k}="{v}";' for k, v in options.items())
    return f'\nL.Icon.Default.imagePath="";{settings}\n'


@lru_cache(maxsize=64)
def asset_text(url: str) -> str:
    """The text to inline for a CDN ``url`` folium links (CSS with its files as data URIs).

    Raises
    ------
    assetmap.AssetmapError
        No installed package ships the file.
    """
    text: str | None
    if url in _XSTATIC:
        module_name, relative = _XSTATIC[url]
        module = importlib.import_module(module_name)
        base = Path(module.BASE_DIR)
        path = base / relative
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".css":
            text = _inline_css_urls(text, path.parent)
        elif module_name == "xstatic.pkg.leaflet" and relative == "leaflet.js":
            text += _leaflet_icon_fix(base)
    else:
        text = _folium_offline_asset(url)
        if text is not None and url.endswith(".css"):
            text = _inline_css_urls(text, None)
    if text is None:
        msg = (
            f"cannot inline {url}: neither the xstatic packages nor folium-offline ship it; "
            "save the map with self_contained=False, or remove the element that needs it"
        )
        raise AssetmapError(msg)
    if url.endswith(".css") and "</style" in text.lower():
        msg = f"cannot inline {url}: the stylesheet contains '</style'"
        raise AssetmapError(msg)
    return _SCRIPT_END.sub(r"<\\/\1", text)


def _element_text(element: Element) -> str:
    if isinstance(element, RawElement):
        return element.text
    return element._template_str or ""


def page_uses(figure: Figure) -> str:
    """The rendered body and script text of a figure (what asset usage is judged on)."""
    parts = [_element_text(child) for child in figure.html._children.values()]
    parts += [_element_text(child) for child in figure.script._children.values()]
    return "\n".join(parts)


def apply_asset_policy(figure: Figure, *, self_contained: bool) -> None:
    """Drop unused optional assets from a rendered figure's header and, if asked, inline the rest.

    Call after the figure's elements have rendered (the header then lists every link) and
    before the figure's own template renders. Keeps the header's order.

    Parameters
    ----------
    figure
        The map's root figure, children rendered.
    self_contained
        Replace each ``<script src>``/``<link href>`` by the file's text.
    """
    used = page_uses(figure)
    entries: OrderedDict[str, Element] = OrderedDict()
    for name, child in figure.header._children.items():
        if name in _OPTIONAL and not _OPTIONAL[name](used):
            continue
        if self_contained and isinstance(child, JavascriptLink):
            child = RawElement(f"<script>{asset_text(child.url)}</script>")
        elif self_contained and isinstance(child, CssLink):
            child = RawElement(f"<style>{asset_text(child.url)}</style>")
        entries[name] = child
    figure.header._children = entries
