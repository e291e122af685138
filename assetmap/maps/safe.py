"""The only doors from register text into a map page: escaping for HTML, JS and folium's Jinja.

Register strings are untrusted (RELIABILITY §2). folium puts strings into several contexts
at once: raw HTML (popups, layer names shown by Leaflet, ``<title>``), JavaScript template
literals (``Popup``/``Tooltip``) and — because folium renders every element's script a
*second* time as a Jinja template — Jinja source, where ``{{ … }}`` runs Python at render
time (checked on folium 0.20.0: a layer named ``{{ lipsum.__globals__.os.getpid() }}``
shows the process id). :func:`safe_text` makes a value inert in all three: after it a value
holds no ``< > & " '`` (HTML), no backtick, ``$`` or backslash (template literal) and no
``{ }`` (Jinja), each replaced by a character reference that displays as the same character.

Elements of :mod:`assetmap.maps` never go through the second Jinja pass at all: they insert
their finished text with :class:`RawElement`, and JSON meant for ``<script>`` goes through
:func:`script_json`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import pandas as pd
from branca.element import Element, Figure, MacroElement

__all__ = [
    "RawElement",
    "RawMacroElement",
    "safe_link",
    "safe_linkified",
    "safe_text",
    "safe_texts",
    "safe_url",
    "script_json",
    "script_safe",
]

#: Character → reference: ``html.escape(s, quote=True)`` plus the JS-template-literal and
#: Jinja delimiters. One table, so every path escapes exactly the same way.
_ESCAPES: Final = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#x27;",
        "`": "&#96;",
        "$": "&#36;",
        "\\": "&#92;",
        "{": "&#123;",
        "}": "&#125;",
    }
)
#: Schemes a link may have; anything else (``javascript:``, ``data:``, ``http:``…) is text.
_ALLOWED_SCHEMES: Final = ("https:", "mailto:")
#: Characters browsers strip or ignore inside a URL before the scheme (C0 controls, space,
#: DEL, and the zero-width/format characters that hide a ``javascript:`` prefix).
_URL_NOISE: Final = re.compile(
    r"[\x00-\x20\x7f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]+"
)
#: An https URL inside free text (source notes); trailing punctuation is not part of it.
_URL_IN_TEXT: Final = re.compile(r"https://[^\s<>\"'`]+")
_TRAILING: Final = ".,;:!?)]}"
#: JSON characters that could end a ``<script>`` block, open an HTML comment or end a line
#: in pre-2019 JavaScript.
_SCRIPT_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_SCRIPT_RE: Final = re.compile("[<>&\u2028\u2029]")


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def safe_text(value: object) -> str:
    """Escape one value for every folium sink: HTML, JS template literal and Jinja.

    Parameters
    ----------
    value
        Any value; ``None``, NaN and ``pd.NA`` give ``""``; lists and tuples are joined
        with ``", "``; everything else goes through ``str``.

    Returns
    -------
    str
        ``html.escape(text, quote=True)`` with, in addition, backtick → ``&#96;``,
        ``$`` → ``&#36;``, backslash → ``&#92;``, ``{`` → ``&#123;`` and ``}`` → ``&#125;``.
        Rendered as HTML it shows the original text; as JS or Jinja source it means nothing.

    Examples
    --------
    >>> safe_text("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    >>> safe_text("${alert(1)}")
    '&#36;&#123;alert(1)&#125;'
    """
    if _is_missing(value):
        return ""
    if isinstance(value, list | tuple):
        text = ", ".join("" if _is_missing(v) else str(v) for v in value)
    else:
        text = str(value)
    return text.translate(_ESCAPES)


def safe_texts(values: pd.Series | Iterable[object]) -> list[str]:
    """:func:`safe_text` applied to each value, in order (the vectorised form).

    Text columns are escaped once per distinct value (registers repeat postcodes, file
    names and categories), so the result is the same as escaping each value in turn.
    """
    items = (
        values.to_numpy(dtype=object)
        if isinstance(values, pd.Series)
        else np.asarray(list(values), dtype=object)
    )
    if items.ndim != 1 or pd.api.types.infer_dtype(items, skipna=True) not in ("string", "empty"):
        return [safe_text(v) for v in items.tolist()]
    codes, uniques = pd.factorize(items, use_na_sentinel=True)
    escaped = [safe_text(u) for u in uniques.tolist()] + [""]  # code -1 (missing) → ""
    return [escaped[c] for c in codes.tolist()]


def safe_url(value: object) -> str | None:
    """The escaped URL when it is an ``https:`` or ``mailto:`` link, else None.

    Control, space and zero-width characters are removed before the scheme is checked
    (browsers ignore them too, which is how ``java\\tscript:`` slips past naive checks).
    The result is safe inside a double-quoted ``href`` attribute.

    Parameters
    ----------
    value
        The register value (a website or ``mailto:`` address).

    Returns
    -------
    str or None
        ``safe_text`` of the cleaned URL, or None for any other scheme, a relative URL or
        an empty value; show such values with :func:`safe_text` as plain text.
    """
    if _is_missing(value):
        return None
    cleaned = _URL_NOISE.sub("", str(value))
    lowered = cleaned.lower()
    if not lowered.startswith(_ALLOWED_SCHEMES):
        return None
    if lowered.startswith("https:") and not lowered.startswith("https://"):
        return None
    if len(cleaned) <= len("mailto:") or lowered in ("https://",):
        return None
    return safe_text(cleaned)


def safe_link(value: object, *, label: object = None) -> str:
    """An HTML fragment: a link when :func:`safe_url` accepts ``value``, escaped text otherwise.

    Parameters
    ----------
    value
        The URL (``https:`` or ``mailto:``).
    label
        Text of the link; default the URL without a ``mailto:`` prefix.

    Returns
    -------
    str
        ``<a href="…" target="_blank" rel="noopener noreferrer">…</a>`` or ``safe_text(value)``.
    """
    href = safe_url(value)
    if href is None:
        return safe_text(value)
    text = safe_text(label) if label is not None else href.removeprefix("mailto:")
    return f'<a href="{href}" target="_blank" rel="noopener noreferrer">{text}</a>'


def safe_linkified(value: object) -> str:
    """Escaped free text with each ``https://`` URL in it turned into a link.

    Used for source notes ("Sandwell Council, https://…"); every piece of the text goes
    through :func:`safe_text` and every link through :func:`safe_link`.
    """
    if _is_missing(value):
        return ""
    text = str(value)
    parts: list[str] = []
    position = 0
    for match in _URL_IN_TEXT.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        start, end = match.start(), match.start() + len(url)
        parts.append(safe_text(text[position:start]))
        parts.append(safe_link(url))
        position = end
    parts.append(safe_text(text[position:]))
    return "".join(parts)


def script_json(value: Any) -> str:
    """JSON text that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026`` (so no ``</script>``,
    ``<!--`` or ``-->`` can appear), and U+2028/U+2029 become escapes. Keys keep their
    order, so the same value always gives the same text.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _SCRIPT_RE.sub(lambda m: _SCRIPT_ESCAPES[m.group(0)], text)


def script_safe(json_text: str) -> str:
    """Apply the :func:`script_json` escapes to JSON text built elsewhere (e.g. by shapely)."""
    return _SCRIPT_RE.sub(lambda m: _SCRIPT_ESCAPES[m.group(0)], json_text)


class RawElement(Element):
    """A finished piece of HTML/JS inserted verbatim: never parsed as a Jinja template.

    branca wraps every rendered script in ``Element(text)``, whose ``render`` parses
    ``text`` as Jinja again; this element returns its text unchanged instead.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "RawElement"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class RawMacroElement(MacroElement):
    """A MacroElement whose header, body and script are built in Python and kept verbatim.

    Subclasses override :meth:`header_html`, :meth:`body_html` and :meth:`script_js`; each
    returns finished text (or None) made only of constants, numbers, :func:`safe_text`
    output and :func:`script_json` output.
    """

    def header_html(self) -> str | None:
        """Text for the page ``<head>`` (styles), or None."""
        return None

    def body_html(self) -> str | None:
        """Text for the page ``<body>``, or None."""
        return None

    def script_js(self) -> str | None:
        """JavaScript for the page's closing ``<script>``, or None."""
        return None

    def render(self, **kwargs: Any) -> str:
        figure = self.get_root()
        if not isinstance(figure, Figure):
            msg = f"{type(self).__name__} must be added to a map before it is rendered"
            raise TypeError(msg)
        for part, text in (
            ("header", self.header_html()),
            ("html", self.body_html()),
            ("script", self.script_js()),
        ):
            if text:
                getattr(figure, part).add_child(RawElement(text), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)
        return ""
