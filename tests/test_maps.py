"""assetmap.maps: layers, legend, privacy, large layers, determinism, offline HTML, PNG, CLI."""

from __future__ import annotations

import html
import json
import re
import struct
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import assetmap
from assetmap import maps
from assetmap._errors import CRSError
from assetmap.maps import layers
from assetmap.maps.legend import Legend, category_colour, category_label, palette
from assetmap.privacy import scan_for_personal

FIXTURES = Path(__file__).parent / "fixtures" / "maps"
CENTRE = (-1.945, 52.49)

#: Every src=/href=/url( that leaves the page, with the tag it sits in (``a`` for anchors).
_OFF_PAGE = re.compile(
    r"""(?:<(\w+)[^<>]*?)?(?:\b(?:src|href)\s*=\s*\\?["']?\s*|url\(\s*\\?["']?\s*)((?:https?:)?//[^"'\\\s)>]+)""",
    re.IGNORECASE,
)
#: Anchors a reader may follow (never fetched by the page): attribution and licence pages.
_ALLOWED_ANCHORS = (
    "https://www.openstreetmap.org/copyright",
    "https://carto.com/attributions",
    "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
    "https://leafletjs.com",
)


# ----------------------------------------------------------------------------- synthetic data


def make_micro(
    n_public: int = 12,
    n_personal: int = 6,
    *,
    seed: int = 0,
    categories: tuple[str, ...] = ("social_enterprise", "community_building"),
) -> gpd.GeoDataFrame:
    """Public micro-assets plus personal rows with unique, greppable names and contacts."""
    rng = np.random.default_rng(seed)
    n = n_public + n_personal
    personal = np.arange(n) >= n_public
    ids = [f"pub-{i:05d}" for i in range(n_public)] + [f"per-{i:03d}" for i in range(n_personal)]
    names = [f"Public Asset {i:05d}" for i in range(n_public)] + [
        f"Quillon Vexmarrow{i:02d}" for i in range(n_personal)
    ]
    category = [categories[i % len(categories)] for i in range(n_public)] + [
        ("resident_skill", "community_researcher")[i % 2] for i in range(n_personal)
    ]
    postcodes = ["B66 2QT"] * n_public + [f"B1{i % 10} {i % 10}ZY" for i in range(n_personal)]
    emails = [f"asset{i}@example.org" for i in range(n_public)] + [
        f"quillon.vexmarrow{i:02d}@example.org" for i in range(n_personal)
    ]
    phones = ["0121 496 0000"] * n_public + [f"07700 9{i:05d}" for i in range(n_personal)]
    lon = CENTRE[0] + (rng.random(n) - 0.5) * 0.04
    lat = CENTRE[1] + (rng.random(n) - 0.5) * 0.025
    frame = pd.DataFrame(
        {
            "name": pd.array(names, dtype="str"),
            "kind": "micro",
            "category": pd.array(category, dtype="str"),
            "tags": [
                ["food"] if c == "social_enterprise" else ["nurse", "clinical"] for c in category
            ],
            "postcode": pd.array(postcodes, dtype="str"),
            "capacity": 1.0,
            "personal": personal,
            "source": "registers/synthetic.csv",
            "source_line": np.arange(2, n + 2),
            "description": [f"description {i}" for i in range(n)],
            "website": [f"https://example.org/{i}" for i in range(n)],
            "email": pd.array(emails, dtype="str"),
            "phone": pd.array(phones, dtype="str"),
            "geocode_source": "postcode",
        },
        index=pd.Index(ids, name="asset_id", dtype="str"),
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def make_macro() -> gpd.GeoDataFrame:
    footprint = shapely.box(-1.952, 52.488, -1.946, 52.492)
    frame = pd.DataFrame(
        {
            "name": ["Midland Test Hospital", "Test Lane regeneration", "Test station"],
            "kind": "macro",
            "category": ["nhs_anchor", "development_site", "infrastructure"],
            "tags": [["hospital"], ["housing"], ["rail_station"]],
            "postcode": ["B66 2QT", "", ""],
            "capacity": [700.0, 800.0, 1.0],
            "personal": False,
            "source": ["Trust, https://example.org/hospital (beds)", "Council", "Network Rail"],
            "source_line": [1, 2, 3],
            "homes": [np.nan, 800.0, np.nan],
            "hectares": [6.76, 18.0, np.nan],
            "investment_gbp": [np.nan, 100_000_000.0, np.nan],
            "status": ["open", "planned", "open"],
            "opened": ["2024-10-06", "", "1852-07"],
            "footprint": gpd.GeoSeries([None, footprint, None], crs="EPSG:4326").to_numpy(),
            "geocode_source": "gazetteer",
        },
        index=pd.Index(["hosp", "grove", "station"], name="asset_id", dtype="str"),
    )
    return gpd.GeoDataFrame(
        frame,
        geometry=gpd.points_from_xy([-1.949, -1.940, -1.960], [52.491, 52.486, 52.495]),
        crs="EPSG:4326",
    )


def make_links(micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame) -> pd.DataFrame:
    pairs = pd.MultiIndex.from_product(
        [micro.index, macro.index], names=["micro_id", "macro_id"]
    ).to_frame(index=False)
    metres = 100.0 + (np.arange(len(pairs)) * 379) % 2900
    return pd.DataFrame(
        {
            "micro_id": pairs["micro_id"].astype("str"),
            "macro_id": pairs["macro_id"].astype("str"),
            "rule": np.where(
                np.arange(len(pairs)) % 2 == 0, "skills-to-nhs", "enterprise-to-sites"
            ),
            "mode": np.where(np.arange(len(pairs)) % 3 == 0, "euclidean", "walk"),
            "metres": metres,
            "minutes": np.where(np.arange(len(pairs)) % 3 == 0, np.nan, metres / 80.0),
            "snap_m_micro": 5.0,
            "snap_m_macro": 5.0,
            "within_reach": metres < 2000,
            "score": 1.0 - metres / 3000.0,
            "note": "",
        }
    )


def make_catchments(macro: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    projected = macro.to_crs(27700)
    rows = []
    for band in (10, 20, 30):
        for site, point in projected.geometry.items():
            rows.append(
                {
                    "macro_id": site,
                    "band_minutes": float(band),
                    "mode": "walk",
                    "geometry": point.buffer(band * 80.0),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=27700).to_crs(4326)


@pytest.fixture(scope="module")
def micro() -> gpd.GeoDataFrame:
    return make_micro()


@pytest.fixture(scope="module")
def macro() -> gpd.GeoDataFrame:
    return make_macro()


@pytest.fixture(scope="module")
def full_page(micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame) -> tuple[maps.AssetMap, str]:
    m = maps.map(
        micro,
        macro,
        links=make_links(micro, macro),
        catchments=make_catchments(macro),
        title="Test map",
    )
    assert isinstance(m, maps.AssetMap)
    return m, maps.to_html(m, self_contained=True)


def _elements(m: maps.AssetMap, kind: type) -> list:
    from assetmap.maps.builder import _walk

    return [e for e in _walk(m) if isinstance(e, kind)]


def _layer_names(m: maps.AssetMap) -> list[str]:
    import folium

    return [
        child.layer_name for child in m._children.values() if isinstance(child, folium.FeatureGroup)
    ]


# ----------------------------------------------------------------------------- layers and legend


def test_one_layer_per_category_with_fixed_colours(
    full_page: tuple[maps.AssetMap, str], micro: gpd.GeoDataFrame
) -> None:
    m, page = full_page
    names = _layer_names(m)
    public = micro.loc[~micro["personal"]]
    for category, count in public["category"].value_counts().items():
        assert f"{category_label(category)} ({count})" in names
    for label in ("NHS anchors (1)", "Development sites (1)", "Infrastructure (1)", "Catchments"):
        assert label in names
    assert "Residents&#x27; skills (counts per area)" in names
    assert "Community researchers (counts per area)" in names
    # the palette is one fixed table: the same colour on every map
    assert category_colour("social_enterprise") == "#E69F00"
    assert category_colour("nhs_anchor") == "#0072B2"
    assert '"fillColor":"#E69F00"' in page
    point_layers = [g for g in _elements(m, layers.GeoLayer) if g.payload.startswith('{"xy"')]
    drawn = sum(g.n_features for g in point_layers)
    assert drawn == len(public) + 3


def test_legend_lists_every_category(full_page: tuple[maps.AssetMap, str]) -> None:
    m, page = full_page
    (legend,) = _elements(m, Legend)
    text = legend.to_html()
    for category in (
        "social_enterprise",
        "community_building",
        "nhs_anchor",
        "development_site",
        "infrastructure",
    ):
        assert html.escape(category_label(category), quote=True).replace("&#x27;", "&#x27;") in text
    assert "Residents&#x27; skills:" in text and "Community researchers:" in text
    assert "Links by rule" in text and "skills-to-nhs" in text and "Catchments" in text
    assert "am-legend" in page


def test_rules_get_distinct_stable_colours() -> None:
    from assetmap.maps.legend import rule_colours

    rules = [
        "clinical-skills-to-nhs",
        "enterprise-to-sites",
        "skills-to-nhs",
        "trades-to-sites",
        "a",
        "b",
    ]
    colours = rule_colours(rules)
    assert len(set(colours.values())) == 6
    assert set(colours.values()) <= set(palette()["rules"])
    assert rule_colours(["skills-to-nhs"]) == rule_colours(["skills-to-nhs"])
    assert rule_colours(rules) == rule_colours(reversed(rules))


def test_unknown_category_gets_a_stable_fallback_colour() -> None:
    colour = category_colour("food_bank")
    assert colour in palette()["fallback"]
    assert colour == category_colour("food_bank")
    assert category_label("food_bank") == "food_bank"


# ----------------------------------------------------------------------------- privacy


def test_personal_rows_never_reach_the_page(
    full_page: tuple[maps.AssetMap, str], micro: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    m, page = full_page
    personal = micro.loc[micro["personal"]]
    for column in ("name", "postcode", "email", "phone"):
        for value in personal[column]:
            assert value not in page
            assert value.replace(" ", "") not in page
    assert "Quillon" not in page and "Vexmarrow" not in page
    # nor their coordinates, as drawn (6 dp) or in the input
    for point in personal.geometry:
        assert f"{point.x:.6f},{point.y:.6f}" not in page
        assert not re.search(
            re.escape(f"{point.x:.5f}") + r"\d*," + re.escape(f"{point.y:.5f}"), page
        )
    out = tmp_path / "map.html"
    maps.save(m, out)
    assert scan_for_personal([out], micro) == []
    # published counts exist and are logged
    assert len(m.disclosure_log) > 0
    assert set(m.disclosure_log.columns) >= {"table", "rule", "published"}


def test_personal_links_are_counts_never_lines(
    full_page: tuple[maps.AssetMap, str], micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame
) -> None:
    m, page = full_page
    public_ids = set(micro.index[~micro["personal"]])
    content = m.content
    assert content is not None
    assert set(content.links["micro_id"]) <= public_ids
    (link_layer,) = [g for g in _elements(m, layers.GeoLayer) if '"rule"' in g.payload]
    assert link_layer.n_features == len(content.links)
    # the hospital's popup gives the published count of residents within reach, not names
    assert "hosp" in set(content.personal_reach.index)
    text = content.personal_reach["hosp"]
    assert re.fullmatch(r"(Residents' skills|Community researchers): (<8|\d+|\*)(; .+)?", text)
    assert "Residents within reach (published counts)" in page


def test_personal_category_wins_over_a_false_flag(macro: gpd.GeoDataFrame) -> None:
    micro = make_micro(4, 2)
    micro["personal"] = False  # a resident_skill row wrongly flagged
    page = maps.to_html(maps.map(micro, macro, tiles=None))
    assert "Quillon" not in page


# ----------------------------------------------------------------------------- large layers


def test_large_layer_is_one_geojson_on_canvas(macro: gpd.GeoDataFrame) -> None:
    micro = make_micro(3000, 0, seed=3, categories=("social_enterprise",))
    m = maps.map(micro, macro, tiles=None, max_markers=1000)
    page = maps.to_html(m, self_contained=False)
    assert page.count("L.marker(") == 0
    assert page.count("L.circleMarker(") == 1  # the runtime's pointToLayer, once
    assert '"preferCanvas": true' in page
    (big,) = [g for g in _elements(m, layers.GeoLayer) if g.n_features == 3000]
    assert big.options["tooltip"] is None
    assert len(page) < 3000 * 250  # compact: well under 250 bytes a point, popups included


def test_small_layers_get_tooltips_and_svg(macro: gpd.GeoDataFrame) -> None:
    m = maps.map(make_micro(10, 0), macro, tiles=None)
    page = maps.to_html(m, self_contained=False)
    assert '"preferCanvas": false' in page
    assert all(
        g.options["tooltip"] == "n"
        for g in _elements(m, layers.GeoLayer)
        if g.payload.startswith('{"xy"')
    )


# ----------------------------------------------------------------------------- determinism


def test_same_inputs_give_identical_html(micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame) -> None:
    links = make_links(micro, macro)
    catchments = make_catchments(macro)
    first = maps.to_html(
        maps.map(micro, macro, links=links, catchments=catchments), self_contained=True
    )
    shuffled = micro.sample(frac=1.0, random_state=7)
    m = maps.map(
        shuffled, macro, links=links.sample(frac=1.0, random_state=3), catchments=catchments
    )
    assert maps.to_html(m, self_contained=True) == first
    assert maps.to_html(m, self_contained=True) == first  # rendering twice changes nothing
    assert not re.search(r"_[0-9a-f]{32}\b", first)  # no folium uuid left


def test_inputs_are_not_modified(micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame) -> None:
    before_micro, before_macro = micro.copy(), macro.copy()
    maps.map(micro, macro, links=make_links(micro, macro))
    pd.testing.assert_frame_equal(micro, before_micro)
    pd.testing.assert_frame_equal(macro, before_macro)


def test_coordinates_are_rounded_to_6dp(full_page: tuple[maps.AssetMap, str]) -> None:
    _, page = full_page
    payloads = re.findall(r'\{"xy":\[([^\]]*)\]', page)
    assert payloads
    for values in payloads:
        assert all(re.fullmatch(r"-?\d+\.\d{6}", v) for v in values.split(","))
    polygon_numbers = re.findall(r'"coordinates":\[\[\[(.{0,200})', page)
    for chunk in polygon_numbers:
        for number in re.findall(r"-?\d+\.\d+", chunk):
            assert len(number.split(".")[1]) <= 6


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=5))
def test_point_payload_round_trips_any_text(texts: list[str]) -> None:
    from assetmap.maps.safe import safe_text

    names = [safe_text(t) for t in texts] * 3  # repeated: dictionary-encoded when long enough
    lon = np.linspace(-2, -1, len(names))
    payload = layers.point_payload(lon, lon + 54, {"n": names, "pc": ["B66 2QT"] * len(names)})
    assert "</" not in payload and "\u2028" not in payload
    decoded = json.loads(payload)
    # a column with nothing to show is left out (the runtime then sets no property)
    assert _expand(decoded["c"].get("n", [""] * len(names)), len(names)) == names
    assert _expand(decoded["c"]["pc"], len(names)) == ["B66 2QT"] * len(names)
    assert decoded["xy"][::2] == pytest.approx(np.round(lon, 6).tolist())


def _expand(column: object, n: int) -> list[object]:
    """What the page's runtime does with a payload column."""
    if isinstance(column, dict):
        return [column["v"][i] for i in column["i"]]
    assert isinstance(column, list) and len(column) == n
    return column


# ----------------------------------------------------------------------------- offline HTML


def _off_page(page: str, *, anchors: tuple[str, ...] = _ALLOWED_ANCHORS) -> list[str]:
    """URLs off the page in src=/href=/url(, in the HTML and in the JSON it carries.

    Anchors (``<a href>``, followed only by a click) are allowed when they start with one of
    ``anchors``; everything else (scripts, styles, images, fonts) counts.
    """
    decoded = (
        page.replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace('\\"', '"')
        .replace("\\u0026", "&")
    )
    found = set()
    for match in _OFF_PAGE.finditer(decoded):
        tag, url = (match.group(1) or "").lower(), match.group(2)
        if tag == "a" and url.startswith(anchors):
            continue
        found.add(url)
    return sorted(found)


def test_self_contained_page_loads_nothing_from_elsewhere(
    full_page: tuple[maps.AssetMap, str],
) -> None:
    _, page = full_page
    websites = ("https://example.org/",)  # the assets' own websites, as popup links
    assert _off_page(page, anchors=_ALLOWED_ANCHORS + websites) == []
    assert "<script src" not in page and "<link rel" not in page
    assert page.count("<script") == page.count("</script>")
    # the tile URL template is the only network resource, in JS, with its referrer policy
    assert '"https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png"' in page
    assert '"referrerPolicy": "no-referrer"' in page
    # Leaflet, the search and fullscreen plugins are inlined; unused jQuery/Bootstrap dropped
    assert "L.Control.Search" in page and "fullscreen" in page.lower()
    assert "jQuery" not in page and "bootstrap" not in page.lower()
    assert 'url("data:' in page  # leaflet.css images inlined
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL))
    assert re.findall(r"""url\(\s*["']?(?!data:|#)([^"')]+)""", styles) == []


def test_cdn_page_links_only_what_it_uses(full_page: tuple[maps.AssetMap, str]) -> None:
    m, _ = full_page
    page = maps.to_html(m, self_contained=False)
    assert (
        '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>' in page
    )
    assert "leaflet-search@2.9.7" in page
    for unused in ("jquery", "bootstrap", "awesome-markers", "fontawesome"):
        assert unused not in page.lower()
    assert _off_page(page)  # this one does leave the page


def test_a_plain_folium_map_can_be_made_self_contained() -> None:
    import folium

    plain = folium.Map(tiles=None)
    folium.Marker([52.5, -1.9], popup="hi").add_to(plain)
    page = maps.to_html(plain, self_contained=True)
    assert _off_page(page) == []
    assert "jQuery" in page  # folium's Popup uses $(…): kept and inlined
    assert "L.Icon.Default.imagePath" in page
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL))
    assert re.findall(r"""url\(\s*["']?(?!data:|#)([^"')]+)""", styles) == []


def test_icon_fonts_are_inlined_when_a_page_uses_them() -> None:
    import folium

    plain = folium.Map(tiles=None)
    folium.Marker([52.5, -1.9], icon=folium.Icon(prefix="fa", icon="house")).add_to(plain)
    folium.Marker([52.6, -1.9], icon=folium.Icon(icon="info-sign")).add_to(plain)
    page = maps.to_html(plain, self_contained=True)
    assert _off_page(page) == []
    assert "AwesomeMarkers" in page and "font/woff2;base64," in page  # Font Awesome webfonts
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL))
    relative = re.findall(r"""url\(\s*["']?(?!data:|#)([^"')]+)""", styles)
    assert relative == []  # every font and image a stylesheet names is inside the page


def test_attribution_names_every_source(
    full_page: tuple[maps.AssetMap, str], macro: gpd.GeoDataFrame
) -> None:
    _, page = full_page
    for text in (
        "Contains OS data",
        "Royal Mail copyright and database right",
        "Contains National Statistics data",
        "Street network:",
        "OpenStreetMap",
        "CARTO",
        "Sites: assetmap gazetteer",
    ):
        assert text in page
    areas = gpd.GeoDataFrame(
        {"area_id": ["A1"], "area_name": ["Area one"], "total": ["15"]},
        geometry=[shapely.box(-1.98, 52.47, -1.92, 52.51)],
        crs=4326,
    )
    page = maps.to_html(
        maps.map(None, macro, areas=areas, tiles=None, attribution=["Extra <source>"])
    )
    assert "Source: Office for National Statistics" in page
    assert "Extra \\u0026lt;source\\u0026gt;" in page
    assert "CARTO" not in page


def test_areas_are_drawn_and_personal_rows_counted_in_them(micro: gpd.GeoDataFrame) -> None:
    areas = gpd.GeoDataFrame(
        {"area_id": ["A1", "A2"], "area_name": ["West", "East"], "imd_decile": ["1", "2"]},
        geometry=[
            shapely.box(-1.98, 52.47, -1.945, 52.51),
            shapely.box(-1.945, 52.47, -1.92, 52.51),
        ],
        crs=4326,
    )
    m = maps.map(micro, None, areas=areas, tiles=None)
    assert m.content is not None and m.content.privacy is not None
    assert m.content.privacy.method == "lsoa"
    assert set(m.content.privacy.cells["area_id"]) <= {"A1", "A2"}
    page = maps.to_html(m)
    assert "imd_decile: 1" in page and "Areas (2)" in page


@pytest.mark.data
def test_real_lsoa_boundaries_as_areas(micro: gpd.GeoDataFrame) -> None:
    from conftest import real_data

    lsoa = gpd.read_file(real_data("boundaries/lsoa2011_birmingham_sandwell.geojson"))
    areas = lsoa.rename(columns={"LSOA11CD": "area_id", "LSOA11NM": "area_name"})[
        ["area_id", "area_name", "geometry"]
    ]
    m = maps.map(micro, None, areas=areas, tiles=None)
    assert m.content is not None and m.content.privacy is not None
    assert m.content.privacy.method == "lsoa"
    cells = m.content.privacy.cells
    assert len(cells) >= 1 and cells["area_id"].str.match(r"^E010\d{5}$").all()
    page = maps.to_html(m, self_contained=True)
    assert "Areas (825)" in page and "Source: Office for National Statistics" in page
    assert "Quillon" not in page
    assert len(page) < 3_000_000  # 825 generalised polygons, simplified to ~1 m


def test_link_table_and_catchments_from_the_pipeline(
    micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame
) -> None:
    table = assetmap.link(micro, macro, within_m=2000)
    bands = assetmap.catchments(macro, minutes=(10, 20))
    m = maps.map(micro, macro, links=table, catchments=bands, tiles=None)
    content = m.content
    assert content is not None and content.catchments is not None
    public = set(micro.index[~micro["personal"]])
    expected = table.links[table.links["micro_id"].isin(public)]
    assert len(content.links) == len(expected) > 0
    assert len(content.catchments) == 2 * len(macro)
    page = maps.to_html(m)
    assert "km straight line" in page and "min straight line" in page
    assert "Vexmarrow" not in page


def test_links_are_thinned_to_the_limit(micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame) -> None:
    links = make_links(micro, macro)
    m = maps.map(micro, macro, links=links, link_limit=5, tiles=None)
    content = m.content
    assert content is not None
    assert len(content.links) == 5
    assert content.links["within_reach"].all()
    assert content.n_links == int(links["micro_id"].str.startswith("pub").sum())
    assert f"Showing 5 of {content.n_links} links" in maps.to_html(m)


def test_catchments_lighter_for_larger_bands(full_page: tuple[maps.AssetMap, str]) -> None:
    m, _ = full_page
    (layer,) = [
        g for g in _elements(m, layers.GeoLayer) if '"tt"' in g.payload and "min walk" in g.payload
    ]
    features = json.loads(layer.payload)["features"]
    by_band: dict[str, set[float]] = {}
    for feature in features:
        band = re.search(r"(\d+) min", feature["properties"]["tt"]).group(1)  # type: ignore[union-attr]
        by_band.setdefault(band, set()).add(
            layer.options["styles"][feature["properties"]["_s"]]["fillOpacity"]
        )
    assert max(by_band["30"]) < min(by_band["20"]) <= max(by_band["20"]) < min(by_band["10"])
    assert [f["properties"]["tt"].split("<br>")[1] for f in features[:1]] == [
        "30 min walk"
    ]  # largest first


def test_vector_basemap_without_tiles(macro: gpd.GeoDataFrame) -> None:
    line = shapely.LineString([(403500, 288100), (403600, 288200)])
    edges = gpd.GeoDataFrame({"u": [0, 1]}, geometry=[line, shapely.reverse(line)], crs=27700)
    m = maps.map(None, macro, tiles=None, basemap=edges)
    page = maps.to_html(m)
    assert "basemaps.cartocdn.com" not in page and "L.tileLayer" not in page
    (streets,) = [g for g in _elements(m, layers.GeoLayer) if not g.options["interactive"]]
    assert streets.n_features == 1  # the two directions drawn once
    assert "Street network:" in page


def test_jinja_in_register_text_is_not_evaluated(macro: gpd.GeoDataFrame) -> None:
    micro = make_micro(3, 0)
    micro["name"] = [
        "{{ 7*7 }}",
        "{% if true %}yes{% endif %}",
        "{{ lipsum.__globals__.os.getpid() }}",
    ]
    micro["category"] = "{{ 6*7 }}"
    page = maps.to_html(maps.map(micro, macro, tiles=None, title="{{ 5*5 }}"))
    assert "\\u0026#123;\\u0026#123; 7*7 \\u0026#125;\\u0026#125;" in page
    assert "&#123;&#123; 5*5 &#125;&#125;</title>" in page
    assert '"n":"49"' not in page and ">25<" not in page and '"42' not in page


@settings(max_examples=8, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=2, max_size=4, unique=True))
def test_any_register_text_reaches_the_page_escaped(names: list[str]) -> None:
    from assetmap.maps.safe import safe_text

    micro = make_micro(len(names), 0, categories=("social_enterprise",)).assign(name=names)
    m = maps.map(micro, None, tiles=None, title=names[0])
    page = maps.to_html(m)
    (layer,) = [g for g in _elements(m, layers.GeoLayer) if g.payload.startswith('{"xy"')]
    assert layer.payload in page  # inserted verbatim, never re-parsed
    shown = _expand(json.loads(layer.payload)["c"]["n"], len(names))
    assert shown == [safe_text(n) for n in names]  # ids pub-00000… keep the input order
    assert f"<title>{safe_text(names[0])}</title>" in page


def test_empty_inputs_give_a_map_of_great_britain() -> None:
    page = maps.to_html(maps.map(None, None, tiles=None))
    assert "[54.0, -2.5]" in page and "assetmap.ready = true" in page


# ----------------------------------------------------------------------------- errors and output


def test_errors_name_the_problem(micro: gpd.GeoDataFrame) -> None:
    with pytest.raises(CRSError, match="micro: the frame has no CRS"):
        maps.map(micro.set_crs(None, allow_override=True), None)
    with pytest.raises(ValueError, match="tiles='stamen' is not one of"):
        maps.map(micro, None, tiles="stamen")
    with pytest.raises(ValueError, match="links: missing columns"):
        maps.map(micro, None, links=pd.DataFrame({"micro_id": ["a"]}))
    with pytest.raises(ValueError, match="max_markers must be a whole number"):
        maps.map(micro, None, max_markers=-1)
    with pytest.raises(ValueError, match="micro: no 'category' column"):
        maps.map(micro.drop(columns="category"), None)


def test_projected_input_is_drawn_in_wgs84(micro: gpd.GeoDataFrame) -> None:
    m = maps.map(micro.to_crs(27700), None, tiles=None)
    assert m.content is not None
    assert m.content.micro["lon"].between(-2.0, -1.9).all()


def test_save_writes_atomically(full_page: tuple[maps.AssetMap, str], tmp_path: Path) -> None:
    m, page = full_page
    out = tmp_path / "nested" / "map.html"
    maps.save(m, out)
    assert out.read_text(encoding="utf-8") == page
    assert [p.name for p in out.parent.iterdir()] == ["map.html"]


def test_map_is_re_exported_and_renders_in_jupyter(micro: gpd.GeoDataFrame) -> None:
    assert assetmap.map is maps.map
    m = assetmap.map(micro, None, tiles=None, self_contained=True)
    frame = m._repr_html_()
    assert frame.startswith("<div") and "srcdoc=" in frame and "&lt;script&gt;" in frame
    assert "Quillon" not in frame


def _png_text_chunks(data: bytes) -> dict[str, str]:
    chunks: dict[str, str] = {}
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            chunks[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        position += 12 + length
    return chunks


def test_png_has_the_same_privacy(
    micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "map.png"
    maps.save_png(
        micro,
        macro,
        out,
        links=make_links(micro, macro),
        catchments=make_catchments(macro),
        title="PNG test",
        dpi=60,
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    meta = _png_text_chunks(data)
    assert meta["Title"] == "PNG test" and meta["Software"].startswith("assetmap")
    assert scan_for_personal([out], micro) == []
    assert not any("Quillon" in v for v in meta.values())


def test_cli_writes_a_self_contained_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assetmap.cli import main

    out = tmp_path / "map.html"
    png = tmp_path / "map.png"
    code = main(
        [
            "map",
            str(FIXTURES / "register.csv"),
            "-o",
            str(out),
            "--sites",
            "none",
            "--title",
            "CLI <test>",
            "--png",
            str(png),
        ]
    )
    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert "<title>CLI &lt;test&gt;</title>" in page
    assert "Grove Lane Food Co-op" in page
    assert "Zebedee" not in page and "Quillfeather" not in page and "07700 900911" not in page
    assert _off_page(page, anchors=(*_ALLOWED_ANCHORS, "https://example.org/")) == []
    assert png.exists()
    printed = capsys.readouterr().out
    assert "register.csv: 5 rows in, 5 placed, 0 rejected" in printed


def test_cli_map_reads_the_link_table_of_assetmap_link(tmp_path: Path) -> None:
    from assetmap.cli import main

    links = tmp_path / "links.csv"
    register = str(FIXTURES / "register.csv")
    assert main(["link", register, "greater-icknield", "-o", str(links)]) == 0
    out = tmp_path / "map.html"
    assert main(["map", register, "-o", str(out), "--links", str(links)]) == 0
    assert "Links (" in out.read_text(encoding="utf-8")
    broken = tmp_path / "broken.csv"
    broken.write_text("micro_id,macro_id\na,b\n", encoding="utf-8")
    assert main(["map", register, "-o", str(out), "--links", str(broken)]) == 2
