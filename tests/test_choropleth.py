"""assetmap.maps.choropleth: classes by hand, no data, legend, escaping, determinism, PNG, browser."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from assetmap import maps
from assetmap._errors import CRSError
from assetmap.maps import layers
from assetmap.maps.builder import _walk
from assetmap.maps.choropleth import (
    NO_DATA_COLOUR,
    PALETTES,
    add_choropleth,
    class_colours,
    classify,
    classify_values,
    legend_section,
)
from assetmap.maps.legend import Legend

FIXTURES = Path(__file__).parent / "fixtures" / "choropleth"
XSS_NAME = '<img src=x onerror="window.__xss=1">'
JINJA_NAME = "{{ 7*7 }}"
TEMPLATE_NAME = "${window.__xss=2}`"


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    return gpd.read_file(FIXTURES / "areas.geojson")


def _avg(areas: gpd.GeoDataFrame, **options: Any) -> dict[str, Any]:
    return {"areas": areas, "column": "avg_minutes", "label": "Average walk", **options}


def _geo_layers(m: folium.Map) -> list[layers.GeoLayer]:
    return [e for e in _walk(m) if isinstance(e, layers.GeoLayer)]


def _features(layer: layers.GeoLayer) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = json.loads(layer.payload)["features"]
    return features


def _tooltip_text(feature: dict[str, Any]) -> str:
    """The tooltip as a reader sees it: tags to line breaks, references decoded."""
    return html.unescape(re.sub(r"<br>", "\n", re.sub(r"</?b>", "", feature["properties"]["tt"])))


# ----------------------------------------------------------------------------- classes by hand


def test_quantile_classes_by_hand(areas: gpd.GeoDataFrame) -> None:
    # avg_minutes 5, 15, 25, 45 (A1..A4): the 50th percentile is 20, the 100th 45.
    c = classify(areas, "avg_minutes", label="Average walk", k=2, unit="min")
    assert c.ids == ("A1", "A2", "A3", "A4")  # sorted by area id, not file order
    assert c.classes.tolist() == [0, 0, 1, 1]
    assert c.lower == (5.0, 20.0) and c.upper == (20.0, 45.0)
    assert c.labels == ("5 – 20 min", "20 – 45 min")
    assert c.counts == (2, 2) and c.n_no_data == 0
    assert c.colours == (PALETTES["viridis"][0], PALETTES["viridis"][-1])  # light → dark
    assert c.value_texts() == ["5 min", "15 min", "25 min", "45 min"]


def test_equal_interval_and_distinct_value_classes_by_hand(areas: gpd.GeoDataFrame) -> None:
    # range 5..45 in 2 equal steps of 20: (≤ 25], (25, 45]
    c = classify(areas, "avg_minutes", label="x", scheme="equal_interval", k=2, unit="min")
    assert c.classes.tolist() == [0, 0, 0, 1]
    assert c.labels == ("5 – 25 min", "25 – 45 min") and c.counts == (3, 1)
    # no more distinct values than classes: one class per value
    c = classify(areas, "avg_minutes", label="x", k=4, unit="%")
    assert c.classes.tolist() == [0, 1, 2, 3]
    assert c.labels == ("5%", "15%", "25%", "45%")


def test_natural_breaks_are_deterministic_and_leave_numpy_random_alone() -> None:
    values = np.array([1.0, 2.0, 3.0, 50.0, 51.0, 52.0, 100.0, 101.0, np.nan])
    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    classes, lower, upper = classify_values(values, scheme="natural_breaks", k=3)
    assert np.array_equal(np.random.random(3), expected)  # the caller's stream goes on
    assert upper.tolist() == [3.0, 52.0, 101.0] and lower.tolist() == [1.0, 3.0, 52.0]
    assert classes.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, -1]
    again = classify_values(values, scheme="natural_breaks", k=3)
    assert np.array_equal(again[0], classes)


def test_decile_classes_are_fixed_with_decile_1_darkest(areas: gpd.GeoDataFrame) -> None:
    c = classify(areas, "imd_decile", label="IMD 2019 decile", scheme="decile", unit="ignored")
    assert c.classes.tolist() == [0, 2, 9, -1]  # deciles 1, 3, 10 and no data
    assert len(c.labels) == 10 and c.labels[0] == "1 (most deprived 10 %)"
    assert c.labels[9] == "10 (least deprived 10 %)" and c.labels[4] == "5"
    assert c.counts == (1, 0, 1, 0, 0, 0, 0, 0, 0, 1) and c.n_no_data == 1
    assert c.colours[0] == "#440154" and c.colours[9] == "#FDE725"  # viridis dark → light
    assert c.value_texts() == ["1 (most deprived 10 %)", "3", "10 (least deprived 10 %)", "no data"]
    flipped = classify(areas, "imd_decile", label="x", scheme="decile", reverse=True)
    assert flipped.colours == c.colours[::-1]
    tol = classify(areas, "imd_decile", label="x", scheme="decile", palette="YlOrBr")
    assert tol.colours[0] == "#662506" and tol.colours[9] == "#FFFFE5"
    bad = areas.assign(imd_decile=[10, 1, 11, 3])
    with pytest.raises(ValueError, match=r"'imd_decile'.*'A4'.*decile 11"):
        classify(bad, "imd_decile", label="x", scheme="decile")


def test_nan_and_missing_values_form_the_no_data_class(areas: gpd.GeoDataFrame) -> None:
    c = classify(areas, "share_within_15min", label="Share within 15 min", k=2)
    assert np.isnan(c.values[3]) and c.classes.tolist() == [1, 0, 0, -1]
    assert c.labels == ("0.0 – 0.5", "0.5 – 1.0") and c.n_no_data == 1
    nullable = areas.assign(share_within_15min=pd.array([1, 0, None, 1], dtype="Int64"))
    # file order A3, A1, A4, A2 → sorted A1 0, A2 1, A3 1, A4 <NA>
    assert classify(nullable, "share_within_15min", label="x").classes.tolist() == [0, 1, 1, -1]
    section = legend_section(c)
    assert section.entries[-1].label_html == "no data (1 area)"
    assert section.entries[-1].swatch == "hatched"
    assert section.entries[-1].colour == NO_DATA_COLOUR
    m = maps.map(
        None,
        None,
        tiles=None,
        choropleths=[{**_avg(areas), "column": "share_within_15min", "k": 2}],
    )
    (layer,) = _geo_layers(m)
    styles = [f["properties"]["_s"] for f in _features(layer)]
    assert styles == [1, 0, 0, 2]  # A4 takes the style after the two classes
    no_data = layer.options["styles"][2]
    assert no_data["fillColor"] == NO_DATA_COLOUR and no_data["className"] == "am-nodata"
    assert "Average walk: no data" in _tooltip_text(_features(layer)[3])
    page = maps.to_html(m)
    assert '<pattern id="am-hatch"' in page and "fill:url(#am-hatch)" in page


def test_all_values_missing_gives_only_the_no_data_class(areas: gpd.GeoDataFrame) -> None:
    c = classify(areas.assign(avg_minutes=np.nan), "avg_minutes", label="x")
    assert c.labels == () and c.colours == () and c.n_no_data == 4
    assert [e.label_html for e in legend_section(c).entries] == ["no data (4 areas)"]


# ----------------------------------------------------------------------------- the map


def test_legend_lists_class_bounds_with_units_and_no_data(areas: gpd.GeoDataFrame) -> None:
    m = maps.map(
        None,
        None,
        tiles=None,
        title="Equity",
        choropleths=[_avg(areas, label="Average walk <to> GP", k=2, unit="min")],
    )
    (legend,) = [e for e in _walk(m) if isinstance(e, Legend)]
    text = legend.to_html()
    assert '<div class="am-legend-heading">Average walk &lt;to&gt; GP</div>' in text
    for row in ("5 – 20 min (2 areas)", "20 – 45 min (2 areas)", "no data (0 areas)"):
        assert f"<span>{row}</span>" in text
    assert "Quantiles, 2 classes; each class includes its upper bound." in text
    assert "am-swatch-hatched" in text and "rgba(253,231,37,0.75)" in text  # #FDE725
    page = maps.to_html(m)
    assert '"Average walk \\u0026lt;to\\u0026gt; GP" : feature_group' in page  # layer control
    assert "Source: Office for National Statistics" in page  # boundaries attribution


def test_text_columns_raise_but_show_in_tooltips(areas: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match=r"column 'published' holds str values \(e.g. '\*'\)"):
        classify(areas, "published", label="Published count")
    with pytest.raises(ValueError, match=r"^choropleths\[0\]: column 'published' holds str"):
        maps.map(None, None, choropleths=[{**_avg(areas), "column": "published"}])
    with pytest.raises(ValueError, match="'flag'"):
        classify(areas.assign(flag=[True, False, True, False]), "flag", label="x")
    m = maps.map(None, None, tiles=None, choropleths=[_avg(areas, tooltip_columns=["published"])])
    (layer,) = _geo_layers(m)
    tips = [_tooltip_text(f) for f in _features(layer)]
    assert tips[0] == "Alpha Lane\nA1\nAverage walk: 5\npublished: <8"
    assert tips[2].endswith("published: *")
    assert "published: \\u0026lt;8" in maps.to_html(m)  # escaped, then script-safe


def test_area_names_and_labels_never_run_as_html_js_or_jinja(areas: gpd.GeoDataFrame) -> None:
    # in file order: A3, A1, A4, A2
    hostile = areas.assign(
        area_name=["Charlie", XSS_NAME, TEMPLATE_NAME, JINJA_NAME],
        published=["{{ 6*7 }}", "</script><b>x", "*", "<8"],
    )
    m = maps.map(
        None,
        None,
        tiles=None,
        title="t",
        choropleths=[_avg(hostile, label="{{ 5*5 }} <i>", tooltip_columns=["published"])],
    )
    page = maps.to_html(m)
    (layer,) = _geo_layers(m)
    assert layer.payload in page  # inserted verbatim, never re-parsed by Jinja
    tips = [_tooltip_text(f) for f in _features(layer)]
    assert tips[0].startswith(XSS_NAME + "\nA1\n{{ 5*5 }} <i>: 5\npublished: </script><b>x")
    assert tips[1].startswith(JINJA_NAME + "\nA2") and tips[1].endswith("published: <8")
    assert tips[2].startswith("Charlie") and tips[2].endswith("published: {{ 6*7 }}")
    assert tips[3].startswith(TEMPLATE_NAME + "\nA4")
    assert "{{" not in page and "<img src=x" not in page and "</script><b>" not in page
    assert "${" not in page
    assert ">49<" not in page and "\\u003e49\\u003c" not in page and ": 42" not in page
    escaped_label = "\\u0026#123;\\u0026#123; 5*5 \\u0026#125;\\u0026#125; \\u0026lt;i\\u0026gt;"
    assert f'"{escaped_label}" : feature_group' in page  # layer control
    assert f'am-legend-heading\\"\\u003e{escaped_label}\\u003c/div' in page
    assert ">25<" not in page


def test_same_inputs_give_identical_html_with_sorted_rounded_features(
    areas: gpd.GeoDataFrame,
) -> None:
    wobbly = areas.copy()
    wobbly["geometry"] = shapely.transform(areas.geometry.to_numpy(), lambda xy: xy + 1.23456789e-7)
    before = wobbly.copy()
    spec = _avg(wobbly, tooltip_columns=["published"], k=2)
    first = maps.to_html(maps.map(None, None, tiles=None, choropleths=[spec]))
    second = maps.to_html(maps.map(None, None, tiles=None, choropleths=[dict(spec)]))
    assert first == second
    pd.testing.assert_frame_equal(wobbly, before)  # input untouched
    (layer,) = _geo_layers(maps.map(None, None, tiles=None, choropleths=[spec]))
    names = [_tooltip_text(f).split("\n")[0] for f in _features(layer)]
    assert names == ["Alpha Lane", "Bravo Street", "Charlie Grove", "Delta Row"]
    numbers = re.findall(r"-?\d+\.\d+", layer.payload.split('"properties"')[0])
    assert numbers and all(len(n.split(".")[1]) <= 6 for n in numbers)
    assert "-1.965,52.49]" in layer.payload  # 1.23e-7 rounded away


def test_projected_areas_are_drawn_in_wgs84(areas: gpd.GeoDataFrame) -> None:
    m = maps.map(None, None, tiles=None, choropleths=[_avg(areas.to_crs(27700), k=2)])
    (layer,) = _geo_layers(m)
    xy = np.array(_features(layer)[0]["geometry"]["coordinates"][0])
    assert np.allclose(xy.min(axis=0), [-1.965, 52.49], atol=1e-6)
    assert "fitBounds" in maps.to_html(m) and "[54.0, -2.5]" not in maps.to_html(m)


def test_choropleths_are_drawn_under_points_and_stay_there(
    areas: gpd.GeoDataFrame,
) -> None:
    from test_maps import make_macro, make_micro

    m = maps.map(
        make_micro(6, 0),
        make_macro(),
        tiles=None,
        areas=areas[["area_id", "area_name", "geometry"]],
        choropleths=[
            _avg(areas, k=2),
            {
                **_avg(areas),
                "column": "imd_decile",
                "scheme": "decile",
                "label": "IMD",
                "show": False,
            },
        ],
    )
    groups = [c for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    names = [g.layer_name for g in groups]
    assert names[:3] == ["Average walk", "IMD", "Areas (4)"]
    assert groups[1].show is False
    choropleth_layers = [g for g in _geo_layers(m) if g.options.get("back")]
    assert len(choropleth_layers) == 2
    (legend,) = [e for e in _walk(m) if isinstance(e, Legend)]
    headings = [s.heading_html for s in legend.sections]
    assert headings[:4] == ["Micro-assets", "Macro-assets", "Average walk", "IMD"]
    page = maps.to_html(m)
    assert page.count('<pattern id="am-hatch"') == 1
    assert 'parent.on("add", function () { parent.bringToBack(); });' in page


def test_add_choropleth_on_a_plain_folium_map(areas: gpd.GeoDataFrame) -> None:
    m = folium.Map(location=[52.49, -1.95], zoom_start=13, tiles=None)
    section = add_choropleth(
        m, areas, "avg_minutes", label="Walk", k=2, unit="min", palette="cividis", reverse=True
    )
    assert [e.label_html for e in section.entries] == [
        "5 – 20 min (2 areas)",
        "20 – 45 min (2 areas)",
        "no data (0 areas)",
    ]
    assert section.entries[0].colour == PALETTES["cividis"][-1]  # reversed: low values dark
    page = maps.to_html(m)
    assert "var assetmap = (function" in page and "assetmap.layer(" in page


def test_bad_specs_name_the_problem(areas: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match=r"choropleths\[0\]: unknown key 'colour'"):
        maps.map(None, None, choropleths=[{**_avg(areas), "colour": "red"}])
    with pytest.raises(ValueError, match=r"choropleths\[1\]: missing \['label'\]"):
        maps.map(None, None, choropleths=[_avg(areas), {"areas": areas, "column": "x"}])
    with pytest.raises(TypeError, match="list of dicts"):
        maps.map(None, None, choropleths=_avg(areas))
    with pytest.raises(ValueError, match="no column 'missing'"):
        classify(areas, "missing", label="x")
    with pytest.raises(ValueError, match="scheme 'jenks'"):
        classify(areas, "avg_minutes", label="x", scheme="jenks")
    with pytest.raises(ValueError, match="k must be"):
        classify(areas, "avg_minutes", label="x", k=1)
    with pytest.raises(ValueError, match="palette 'jet'"):
        classify(areas, "avg_minutes", label="x", palette="jet")
    with pytest.raises(ValueError, match=r"tooltip column 'nope'"):
        maps.map(None, None, choropleths=[_avg(areas, tooltip_columns=["nope"])])
    with pytest.raises(CRSError, match="no CRS"):
        classify(areas.set_crs(None, allow_override=True), "avg_minutes", label="x")
    with pytest.raises(ValueError, match="'A1' appears more than once"):
        classify(areas.assign(area_id="A1"), "avg_minutes", label="x")
    with pytest.raises(ValueError, match=r"area 'A3' has value inf"):
        classify(areas.assign(avg_minutes=[np.inf, 1.0, 2.0, 3.0]), "avg_minutes", label="x")
    points = areas.assign(geometry=shapely.point_on_surface(areas.geometry.to_numpy()))
    with pytest.raises(
        ValueError, match=r"area 'A3' is a Point \(expected Polygon or MultiPolygon"
    ):
        classify(points, "avg_minutes", label="x")
    unbounded = areas.assign(geometry=[None, *areas.geometry.iloc[1:]])
    c = classify(unbounded, "avg_minutes", label="x", k=2)
    assert c.ids == ("A1", "A2", "A4") and c.n_without_boundary == 1
    assert "1 area without a boundary not drawn." in c.note()


# ----------------------------------------------------------------------------- colours


def test_class_colours_use_the_palette_stops() -> None:
    assert class_colours(9, "YlOrBr") == PALETTES["YlOrBr"]
    assert class_colours(23, "iridescent") == PALETTES["iridescent"]
    assert class_colours(3, "YlOrBr") == ("#FFFFE5", "#FB9A29", "#662506")
    assert class_colours(2, "viridis", reverse=True) == ("#440154", "#FDE725")
    assert class_colours(1, "cividis") == (PALETTES["cividis"][5],)
    five = class_colours(5, "iridescent")
    assert len(set(five)) == 5 and all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in five)


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        st.integers(1, 40),
        elements=st.one_of(
            st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), st.just(np.nan)
        ),
    ),
    scheme=st.sampled_from(["quantiles", "equal_interval"]),
    k=st.integers(2, 9),
)
def test_every_value_lies_in_its_class_and_order_is_kept(
    values: np.ndarray, scheme: str, k: int
) -> None:
    classes, lower, upper = classify_values(values, scheme=scheme, k=k)
    missing = np.isnan(values)
    assert np.array_equal(classes < 0, missing)
    assert lower.size == upper.size <= k and np.all(np.diff(upper) > 0)
    present, cls = values[~missing], classes[~missing]
    assert np.all(cls < upper.size)
    assert np.all(present <= upper[cls]) and np.all(present >= lower[cls])
    first = cls > 0
    assert np.all(present[first] > upper[cls[first] - 1])
    order = np.argsort(present, kind="stable")
    assert np.all(np.diff(cls[order]) >= 0)  # larger value, never a lower class


# ----------------------------------------------------------------------------- PNG


def _rgb(colour: str, alpha: float) -> np.ndarray:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)
    return alpha * rgb + (1 - alpha) * 255.0


def test_png_draws_the_first_choropleth_with_its_legend(
    areas: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    from matplotlib.image import imread

    out = tmp_path / "equity.png"
    maps.save_png(
        None,
        None,
        out,
        title="Equity",
        dpi=60,
        choropleths=[
            {**_avg(areas), "column": "share_within_15min", "k": 2},
            _avg(areas, palette="YlOrBr"),
        ],
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = np.rint(imread(out)[..., :3] * 255.0)
    for colour in PALETTES["viridis"][0], PALETTES["viridis"][-1]:
        near = np.abs(pixels - _rgb(colour, 0.75)).max(axis=-1) <= 3
        assert near.sum() > 50, colour  # both class fills are drawn
    grey = np.abs(pixels - _rgb(NO_DATA_COLOUR, 1.0)).max(axis=-1) <= 3
    assert grey.sum() > 20  # the no-data area (between its hatch lines)
    brown = np.abs(pixels - _rgb("#662506", 0.75)).max(axis=-1) <= 3
    assert brown.sum() == 0  # only the first choropleth is drawn
    with pytest.raises(ValueError, match=r"choropleths\[0\]"):
        maps.save_png(None, None, out, choropleths=[{**_avg(areas), "column": "published"}])


# ----------------------------------------------------------------------------- real data


@pytest.mark.data
def test_imd_deciles_of_real_lsoas() -> None:
    from conftest import real_data

    from assetmap.areas import load_imd, load_lsoa

    lsoa = load_lsoa(2011, path=real_data("boundaries/lsoa2011_birmingham_sandwell.geojson"))
    imd = load_imd(path=real_data("imd2019/IoD2019_domains_ranks_deciles_lsoa2011_england.csv"))
    joined = lsoa.merge(
        imd[["lsoa11_code", "imd_decile"]], left_on="lsoa_code", right_on="lsoa11_code", how="left"
    )
    c = classify(joined, "imd_decile", label="IMD 2019 decile", scheme="decile")
    expected = imd.set_index("lsoa11_code")["imd_decile"].reindex(lsoa["lsoa_code"]).value_counts()
    assert sum(c.counts) + c.n_no_data == len(lsoa) == 825
    assert c.counts[0] == expected.get(1, 0) > 0
    assert c.counts == tuple(int(expected.get(d, 0)) for d in range(1, 11))
    assert c.ids == tuple(sorted(lsoa["lsoa_code"]))
    m = maps.map(
        None,
        None,
        tiles=None,
        choropleths=[{"areas": joined, "column": "imd_decile", "label": "IMD", "scheme": "decile"}],
    )
    assert len(maps.to_html(m)) < 3_000_000


# ----------------------------------------------------------------------------- browser

_PATHS_JS = """() => {
  const map = window[document.querySelector('.folium-map').id];
  const out = [];
  map.eachLayer((l) => {
    if (l.feature && l._path && !l.getLatLng) {
      const c = map.latLngToContainerPoint(l.getBounds().getCenter());
      const t = document.createElement('textarea');
      t.innerHTML = l.feature.properties.tt || '';
      out.push({x: c.x, y: c.y, fill: l.options.fillColor, cls: l._path.getAttribute('class'),
                css: getComputedStyle(l._path).fill, tip: t.value});
    }
  });
  return out;
}"""
_TOP_JS = """([x, y]) => {
  const e = document.elementFromPoint(x, y);
  const map = window[document.querySelector('.folium-map').id];
  let kind = e ? e.tagName : 'none';
  map.eachLayer((l) => { if (l._path === e) { kind = l.getLatLng ? 'point' : 'area'; } });
  return kind;
}"""


@pytest.mark.browser
def test_equity_layer_and_legend_in_chromium(
    browser: Any, areas: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    from test_browser import open_map

    hostile = areas.assign(area_name=["Charlie", XSS_NAME, TEMPLATE_NAME, JINJA_NAME])
    point = gpd.GeoDataFrame(
        {
            "name": ["Grove Food Co-op"],
            "kind": "micro",
            "category": "social_enterprise",
            "personal": False,
        },
        geometry=[shapely.Point(-1.96, 52.495)],  # inside area A1
        index=pd.Index(["se-1"], name="asset_id"),
        crs=4326,
    )
    m = maps.map(
        point,
        None,
        title="Equity",
        choropleths=[
            {
                **_avg(hostile),
                "column": "share_within_15min",
                "label": "Share within 15 min",
                "k": 2,
                "tooltip_columns": ["published"],
            },
        ],
    )
    path = tmp_path / "equity.html"
    maps.save(m, path)
    loaded = open_map(browser, path)
    page = loaded.page
    assert loaded.errors == []
    assert all("basemaps.cartocdn.com" in url for url in loaded.blocked)
    control = page.locator(".leaflet-control-layers").inner_text()
    assert "Share within 15 min" in control and "Social enterprises (1)" in control
    legend = page.locator(".am-legend").inner_text()
    for text in (
        "Share within 15 min",
        "0.0 – 0.5 (2 areas)",
        "0.5 – 1.0 (1 area)",
        "no data (1 area)",
    ):
        assert text in legend
    paths = page.evaluate(_PATHS_JS)
    assert sorted(p["fill"] for p in paths) == sorted(
        [PALETTES["viridis"][-1], PALETTES["viridis"][0], PALETTES["viridis"][0], NO_DATA_COLOUR]
    )
    (no_data,) = [p for p in paths if p["fill"] == NO_DATA_COLOUR]
    assert "am-nodata" in no_data["cls"] and "am-hatch" in no_data["css"]  # hatched in SVG
    assert f"<b>{TEMPLATE_NAME}</b><br>A4<br>" in no_data["tip"]  # decoded HTML

    box = page.locator(".folium-map").bounding_box()
    (first,) = [p for p in paths if f"<b>{XSS_NAME}</b>" in p["tip"]]
    page.mouse.move(box["x"] + first["x"] + 10, box["y"] + first["y"] + 10)
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(timeout=5_000)
    assert XSS_NAME in tooltip.inner_text() and "published: <8" in tooltip.inner_text()

    # the point stays clickable above the fill, also after the layer is toggled off and on
    marker = page.evaluate(
        "() => { const map = window[document.querySelector('.folium-map').id]; let p = null;"
        " map.eachLayer((l) => { if (l.getLatLng && l.feature) {"
        " p = map.latLngToContainerPoint(l.getLatLng()); } }); return [p.x, p.y]; }"
    )
    at = [box["x"] + marker[0], box["y"] + marker[1]]
    assert page.evaluate(_TOP_JS, at) == "point"
    toggle = page.locator(".leaflet-control-layers-overlays label", has_text="Share within 15 min")
    toggle.locator("input").uncheck()
    assert len(page.evaluate(_PATHS_JS)) == 0
    toggle.locator("input").check()
    assert len(page.evaluate(_PATHS_JS)) == 4
    assert page.evaluate(_TOP_JS, at) == "point"
    page.wait_for_timeout(200)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert loaded.errors == []
    page.close()
