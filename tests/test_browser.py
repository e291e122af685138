"""Maps in real headless Chromium, offline: nothing runs from register text, popups work.

Needs Debian's ``chromium`` (``apt-get install chromium``); Playwright drives it with
``executable_path``. Under CI (``CI=true``) a missing browser fails the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest

from assetmap import maps

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).parent / "fixtures" / "maps"
PAYLOADS = {
    "x-01": '<img src=x onerror="window.__xss=1">',
    "x-02": "</script><script>window.__xss=2</script>",
    "x-03": "${window.__xss=3}",
    "x-04": "`+(window.__xss=4)+` \\` backslash-backtick",
    "x-05": "{{ 7*7 }} {% if true %}jinja{% endif %} {# c #}",
    "x-06": "<svg onload=window.__xss=8>",
}
CATEGORY_PAYLOAD = '<img src=x onerror="window.__xss=9">'
TITLE_PAYLOAD = '</title><img src=x onerror="window.__xss=12">{{ 6*7 }}'


@dataclass
class Loaded:
    page: Any
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    tile_errors: int = 0


def open_map(browser: Any, path: Path) -> Loaded:
    """Open ``path`` from file:// with every other request aborted; wait for the layers."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    loaded = Loaded(page)
    page_url = path.resolve().as_uri()

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url == page_url:
            request_route.continue_()
        else:
            loaded.blocked.append(url)
            request_route.abort()

    def console(message: Any) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if "basemaps.cartocdn.com" in where and "Failed to load resource" in message.text:
            loaded.tile_errors += 1
            return
        loaded.errors.append(f"{message.text} @ {where}")

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda exc: loaded.errors.append(f"pageerror: {exc}"))
    page.goto(page_url, wait_until="load")
    page.wait_for_function("window.assetmap && window.assetmap.ready === true", timeout=15_000)
    return loaded


_MARKERS_JS = """() => {
  const map = window[document.querySelector('.folium-map').id];
  const out = [];
  map.eachLayer((layer) => {
    if (layer.feature && layer.getLatLng && layer.feature.geometry.type === 'Point') {
      const p = map.latLngToContainerPoint(layer.getLatLng());
      const t = document.createElement('textarea');
      t.innerHTML = layer.feature.properties.n || '';
      out.push({x: p.x, y: p.y, n: t.value});
    }
  });
  return out;
}"""


def _click_free_marker(loaded: Loaded) -> set[str]:
    """Click, with the mouse, the first marker not hidden under a control or another shape.

    Returns the names (as displayed) of the markers within 8 px of the click, one
    of which the opened popup must show.
    """
    page = loaded.page
    box = page.locator(".folium-map").bounding_box()
    markers = page.evaluate(_MARKERS_JS)
    for marker in markers:
        if not (10 < marker["x"] < box["width"] - 10 and 10 < marker["y"] < box["height"] - 10):
            continue
        x, y = box["x"] + marker["x"], box["y"] + marker["y"]
        free = page.evaluate(
            """([x, y]) => {
  const e = document.elementFromPoint(x, y);
  if (!e || e.closest('.leaflet-control')) { return false; }
  if (e.tagName === 'CANVAS') { return true; }
  const map = window[document.querySelector('.folium-map').id];
  let mine = false;
  map.eachLayer((l) => { if (l._path === e && l.getLatLng) { mine = true; } });
  return mine;
}""",
            [x, y],
        )
        if free:
            page.mouse.click(x, y)
            page.wait_for_selector(".leaflet-popup-content .am-popup-title", timeout=5_000)
            return {
                m["n"]
                for m in markers
                if abs(m["x"] - marker["x"]) <= 8 and abs(m["y"] - marker["y"]) <= 8
            }
    pytest.fail("no marker could be clicked: every one is under a control or another shape")


def _popup_title(page: Any) -> str:
    """The open popup's title as displayed."""
    return str(
        page.evaluate("document.querySelector('.leaflet-popup .am-popup-title').textContent")
    )


def _open_every_popup(page: Any) -> list[str]:
    """Fire a click on every point and footprint, collecting each popup's text."""
    return list(
        page.evaluate(
            """() => {
  const map = window[document.querySelector('.folium-map').id];
  const texts = [];
  const layers = [];
  map.eachLayer((l) => { if (l.feature) { layers.push(l); } });
  for (const l of layers) {
    const ll = l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
    let text = null;
    map.once('popupopen', (e) => {
      text = e.popup.getElement().querySelector('.leaflet-popup-content').innerText;
    });
    l.fire('click', {latlng: ll}, true);
    if (text !== null) { texts.push(text); }
    map.closePopup();
  }
  return texts;
}"""
        )
    )


def _xss_register() -> gpd.GeoDataFrame:
    frame = pd.read_csv(
        FIXTURES / "xss_register.csv", dtype="str", keep_default_na=False
    ).set_index("asset_id")
    frame = frame.assign(
        kind="micro",
        tags=frame["tags"].str.split(";"),
        personal=False,
        capacity=1.0,
        source="xss_register.csv",
        source_line=range(2, len(frame) + 2),
    )
    points = gpd.points_from_xy(frame["lon"].astype(float), frame["lat"].astype(float))
    return gpd.GeoDataFrame(frame.drop(columns=["lat", "lon"]), geometry=points, crs="EPSG:4326")


@pytest.fixture(scope="module")
def demo_map(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, maps.AssetMap]:
    from test_maps import make_catchments, make_links, make_macro, make_micro

    micro = make_micro(30, 8)
    macro = make_macro()
    m = maps.map(
        micro,
        macro,
        links=make_links(micro, macro),
        catchments=make_catchments(macro),
        title="Browser test",
    )
    path = tmp_path_factory.mktemp("maps") / "demo.html"
    maps.save(m, path, self_contained=True)
    return path, m


def test_self_contained_map_works_offline(
    browser: Any, demo_map: tuple[Path, maps.AssetMap]
) -> None:
    path, _ = demo_map
    loaded = open_map(browser, path)
    page = loaded.page
    assert loaded.errors == []
    # the page asked the network for map tiles only
    assert loaded.blocked and all("basemaps.cartocdn.com" in url for url in loaded.blocked)
    control = page.locator(".leaflet-control-layers").inner_text()
    for name in (
        "Social enterprises (15)",
        "Community buildings (15)",
        "NHS anchors (1)",
        "Links (",
        "Catchments",
    ):
        assert name in control
    assert "Residents' skills (counts per area)" in control
    legend = page.locator(".am-legend").inner_text()
    assert "Browser test" in legend and "Micro-assets" in legend and "Development sites" in legend
    assert page.locator(".leaflet-control-scale").count() == 1
    assert (
        page.locator(".leaflet-control-zoom-fullscreen, .leaflet-control-fullscreen").count() >= 1
    )
    assert "Contains OS data" in page.locator(".leaflet-control-attribution").inner_text()
    near = _click_free_marker(loaded)
    assert _popup_title(page) in near
    assert "Category" in page.locator(".leaflet-popup-content").last.inner_text()
    assert "Quillon" not in page.content()
    page.close()


def test_search_finds_an_asset_and_opens_its_popup(
    browser: Any, demo_map: tuple[Path, maps.AssetMap]
) -> None:
    path, _ = demo_map
    loaded = open_map(browser, path)
    page = loaded.page
    page.locator(".leaflet-control-search .search-button").click()
    page.locator(".leaflet-control-search input.search-input").press_sequentially("asset 00007")
    tip = page.locator(".search-tip", has_text="Public Asset 00007")
    tip.first.wait_for(timeout=5_000)
    tip.first.click()
    page.wait_for_selector(".leaflet-popup-content .am-popup-title", timeout=5_000)
    assert _popup_title(page) == "Public Asset 00007"
    assert loaded.errors == []
    page.close()


def test_register_payloads_render_as_text_and_never_run(browser: Any, tmp_path: Path) -> None:
    micro = _xss_register()
    m = maps.map(
        micro, None, title=TITLE_PAYLOAD, attribution=['<img src=x onerror="window.__xss=13">']
    )
    path = tmp_path / "xss.html"
    maps.save(m, path)
    loaded = open_map(browser, path)
    page = loaded.page
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.title() == TITLE_PAYLOAD
    assert CATEGORY_PAYLOAD in page.locator(".leaflet-control-layers").inner_text()
    assert CATEGORY_PAYLOAD in page.locator(".am-legend").inner_text()
    assert TITLE_PAYLOAD in page.locator(".am-legend summary").inner_text()
    assert 'window.__xss=13">' in page.locator(".leaflet-control-attribution").inner_text()

    popups = "\n".join(_open_every_popup(page))
    for payload in PAYLOADS.values():
        assert payload in popups
    # unsafe schemes are shown as text, never as links
    assert "javascript:window.__xss=5" in popups
    assert (
        page.evaluate(
            'document.querySelectorAll(\'a[href^="javascript"], a[href^="data"]\').length'
        )
        == 0
    )

    # hover every tooltip and open a popup with the mouse too
    for marker in page.evaluate(_MARKERS_JS):
        box = page.locator(".folium-map").bounding_box()
        page.mouse.move(box["x"] + marker["x"], box["y"] + marker["y"])
    near = _click_free_marker(loaded)
    assert _popup_title(page) in near
    # the search list shows names through innerHTML: type a payload fragment
    page.locator(".leaflet-control-search .search-button").click()
    page.locator(".leaflet-control-search input.search-input").press_sequentially("xss")
    page.locator(".search-tip").first.wait_for(timeout=5_000)
    tips = page.locator(".search-tooltip").inner_text()
    assert PAYLOADS["x-01"] in tips and PAYLOADS["x-02"] in tips
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert loaded.errors == []
    page.close()


def test_large_layer_loads_and_opens_popups(browser: Any, tmp_path: Path) -> None:
    from test_maps import make_macro, make_micro

    micro = make_micro(3000, 0, seed=5, categories=("social_enterprise",))
    m = maps.map(micro, make_macro(), tiles=None, max_markers=500)
    path = tmp_path / "large.html"
    maps.save(m, path)
    loaded = open_map(browser, path)
    page = loaded.page
    assert loaded.blocked == []  # no tiles, nothing else either
    assert page.locator("canvas.leaflet-zoom-animated").count() >= 1
    assert len(page.evaluate(_MARKERS_JS)) == 3003
    near = _click_free_marker(loaded)
    assert _popup_title(page) in near
    assert loaded.errors == []
    page.close()
