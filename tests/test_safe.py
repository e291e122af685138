"""assetmap.maps.safe: register text made inert for HTML, JS template literals and Jinja."""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assetmap.maps.safe import (
    RawElement,
    safe_link,
    safe_linkified,
    safe_text,
    safe_texts,
    safe_url,
    script_json,
)

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "${alert(1)}",
    "`+alert(1)+`",
    "\\`${alert(1)}\\`",
    '" onmouseover="alert(1)',
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    "{{ lipsum.__globals__.os.getpid() }}",
    "{% for x in range(3) %}x{% endfor %}",
]
FORBIDDEN = set("<>`$\"'{}\\")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_lose_every_active_character(payload: str) -> None:
    out = safe_text(payload)
    assert not FORBIDDEN & set(out)
    # the browser shows exactly what the steward typed
    assert html.unescape(out) == payload


def test_exact_escapes() -> None:
    assert safe_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert safe_text("${a}") == "&#36;&#123;a&#125;"
    assert safe_text("`\\`") == "&#96;&#92;&#96;"
    assert safe_text("\"'&") == "&quot;&#x27;&amp;"
    assert safe_text("O'Brien & Sons") == "O&#x27;Brien &amp; Sons"


def test_missing_values_and_lists() -> None:
    assert safe_text(None) == ""
    assert safe_text(float("nan")) == ""
    assert safe_text(pd.NA) == ""
    assert safe_text(["food", "<b>", None]) == "food, &lt;b&gt;, "
    assert safe_text(12.5) == "12.5"
    assert safe_texts(pd.Series(["<a>", None, "x"], dtype="str")) == ["&lt;a&gt;", "", "x"]
    assert safe_texts(np.array(["$", "{"], dtype=object)) == ["&#36;", "&#123;"]


@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["B66 2QT", "<b>", "$"]), st.text(max_size=5)))
)
def test_safe_texts_equals_safe_text_of_each(values: list[str | None]) -> None:
    expected = [safe_text(v) for v in values]
    assert safe_texts(values) == expected
    assert safe_texts(pd.Series(values, dtype=object)) == expected


@given(st.text())
def test_safe_text_never_leaves_an_active_character(text: str) -> None:
    out = safe_text(text)
    assert not FORBIDDEN & set(out)
    assert html.unescape(out) == text


@given(st.lists(st.text(), max_size=5))
def test_safe_text_of_lists_is_inert(values: list[str]) -> None:
    assert not FORBIDDEN & set(safe_text(values))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=1&c=2", "https://example.org/a?b=1&amp;c=2"),
        ("HTTPS://Example.org", "HTTPS://Example.org"),
        ("mailto:a@example.org", "mailto:a@example.org"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("\u200bjavascript:alert(1)", None),
        (" javascript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("http://example.org", None),
        ("//example.org", None),
        ("/relative", None),
        ("https:alert(1)", None),
        ("", None),
        (None, None),
        (
            'https://example.org/" onmouseover="alert(1)',
            "https://example.org/&quot;onmouseover=&quot;alert(1)",
        ),
    ],
)
def test_safe_url_allows_only_https_and_mailto(url: object, expected: str | None) -> None:
    assert safe_url(url) == expected


@given(st.text())
def test_safe_url_result_is_an_inert_https_or_mailto_link(text: str) -> None:
    out = safe_url(text)
    if out is not None:
        assert out.lower().startswith(("https://", "mailto:"))
        assert not FORBIDDEN & set(out)


def test_safe_link() -> None:
    assert safe_link("https://example.org") == (
        '<a href="https://example.org" target="_blank" rel="noopener noreferrer">https://example.org</a>'
    )
    assert safe_link("mailto:a@example.org", label="a@example.org") == (
        '<a href="mailto:a@example.org" target="_blank" rel="noopener noreferrer">a@example.org</a>'
    )
    # refused schemes come back as plain escaped text, never as a link
    assert safe_link("javascript:alert(1)") == "javascript:alert(1)"
    assert safe_link("data:text/html,<b>") == "data:text/html,&lt;b&gt;"


def test_safe_linkified_links_https_only() -> None:
    out = safe_linkified("Council, https://a.example.org/x. and javascript:alert(1) <b>")
    assert '<a href="https://a.example.org/x"' in out
    assert out.endswith(". and javascript:alert(1) &lt;b&gt;")
    assert "javascript:alert(1)</a>" not in out


@given(st.text())
def test_safe_linkified_has_no_tag_but_anchors(text: str) -> None:
    out = safe_linkified(text)
    stripped = out.replace('" target="_blank" rel="noopener noreferrer">', "").replace("</a>", "")
    stripped = stripped.replace('<a href="', "")
    assert "<" not in stripped and ">" not in stripped
    assert not set("`${}\\") & set(stripped)


def test_script_json_cannot_end_a_script() -> None:
    text = script_json({"a": "</script><!-- \u2028 \u2029 & '", "b": [1, 2.5]})
    for bad in ("</", "<!--", "\u2028", "\u2029", "&"):
        assert bad not in text
    assert json.loads(text) == {"a": "</script><!-- \u2028 \u2029 & '", "b": [1, 2.5]}


@given(
    st.recursive(
        st.text() | st.integers(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=8,
    )
)
def test_script_json_round_trips(value: object) -> None:
    text = script_json(value)
    assert "<" not in text and ">" not in text and "\u2028" not in text
    assert json.loads(text) == value


def test_raw_element_is_not_parsed_by_jinja() -> None:
    assert (
        RawElement("{{ 7*7 }} {% if 1 %}x{% endif %}").render()
        == "{{ 7*7 }} {% if 1 %}x{% endif %}"
    )


def test_folium_double_render_is_real_and_safe_text_defuses_it() -> None:
    """folium parses rendered scripts as Jinja again: a raw layer name runs Python."""
    import folium

    raw = folium.Map(tiles=None)
    folium.FeatureGroup(name="{{ 6*7 }}").add_to(raw)
    folium.LayerControl().add_to(raw)
    assert '"42" :' in raw.get_root().render()

    safe = folium.Map(tiles=None)
    folium.FeatureGroup(name=safe_text("{{ 6*7 }}")).add_to(safe)
    folium.LayerControl().add_to(safe)
    page = safe.get_root().render()
    assert '"42" :' not in page
    assert "\\u0026#123;\\u0026#123; 6*7 \\u0026#125;\\u0026#125;" in page
