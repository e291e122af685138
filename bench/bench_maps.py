"""Benchmark: a 10,000-micro-asset self-contained map vs one folium Marker per point.

Ours: :func:`assetmap.maps.map` (one GeoJSON layer per category, canvas circle markers,
popups built from the feature's properties) rendered self-contained by
:func:`assetmap.maps.to_html`. Peer: the same points as ``folium.Marker`` with a ``Popup``
(name, category, postcode) — folium's default way — measured both with its CDN links
(folium's default output) and self-contained (inlined with the same asset policy, so both
pages load offline in the browser). Load time is wall time in headless Chromium from
navigation to the page's ``load`` event plus every marker added (ours: ``assetmap.ready``;
peer: all marker icons in the DOM), with every non-file request aborted.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from bench._common import record, timed

HERE = Path(__file__).parent
WORK = HERE / "work" / "maps"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _micro(n: int) -> gpd.GeoDataFrame:
    """Synthetic non-personal micro-assets around Smethwick with typical register columns."""
    rng = np.random.default_rng(42)
    lon = -1.99 + rng.random(n) * 0.12
    lat = 52.46 + rng.random(n) * 0.06
    categories = np.where(np.arange(n) % 2 == 0, "social_enterprise", "community_building")
    frame = pd.DataFrame(
        {
            "name": [f"Community asset {i:05d}" for i in range(n)],
            "kind": "micro",
            "category": categories,
            "tags": [["food"] if i % 2 == 0 else ["library"] for i in range(n)],
            "postcode": rng.choice(["B66 2QT", "B67 5QT", "B18 7QH", "B16 8WJ"], n),
            "capacity": rng.integers(1, 40, n).astype(float),
            "personal": False,
            "source": "registers/assets.csv",
            "source_line": np.arange(2, n + 2),
            "website": [f"https://example.org/asset-{i:05d}" for i in range(n)],
            "geocode_source": "postcode",
        },
        index=pd.Index([f"a-{i:05d}" for i in range(n)], name="asset_id"),
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def _peer(micro: gpd.GeoDataFrame) -> Any:
    """One folium Marker per point with a Popup of the same facts ours shows: folium's usual way."""
    import folium

    from assetmap.maps import category_label, safe_text

    m = folium.Map(location=[52.49, -1.93], zoom_start=13, tiles=None, control_scale=True)
    columns = ("name", "category", "tags", "capacity", "postcode", "website", "source_line")
    for (name, category, tags, capacity, postcode, website, line), point in zip(
        micro[list(columns)].itertuples(index=False), micro.geometry, strict=True
    ):
        text = (
            f"<b>{safe_text(name)}</b><br>Category: {safe_text(category_label(category))}"
            f"<br>Tags: {safe_text(tags)}<br>Capacity: {capacity:g}<br>Postcode: {safe_text(postcode)}"
            f'<br>Website: <a href="{safe_text(website)}">{safe_text(website)}</a>'
            f"<br>Located by: postcode<br>Source: assets.csv<br>Register line: {line}"
        )
        folium.Marker([round(point.y, 6), round(point.x, 6)], popup=folium.Popup(text)).add_to(m)
    return m


def _load_seconds(path: Path, ready_js: str, *, repeat: int) -> float | None:
    """Median wall time (s) from navigation to ``ready_js`` true, in headless Chromium."""
    if not Path(CHROMIUM).exists():
        return None
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            warm = browser.new_page()
            warm.goto("about:blank")
            warm.close()
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.route(
                    "**/*",
                    lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort(),
                )
                start = time.perf_counter()
                page.goto(path.resolve().as_uri(), wait_until="load", timeout=120_000)
                page.wait_for_function(ready_js, timeout=120_000, polling=20)
                times.append(time.perf_counter() - start)
                page.close()
        finally:
            browser.close()
    return statistics.median(times)


def run(quick: bool) -> list[dict[str, Any]]:
    from assetmap import maps
    from assetmap.gazetteer import sites

    n = 2000 if quick else 10_000
    micro = _micro(n)
    macro = sites("greater-icknield")
    WORK.mkdir(parents=True, exist_ok=True)

    maps.to_html(
        maps.map(micro.head(50), macro), self_contained=True
    )  # warm imports and asset cache

    def ours() -> str:
        return maps.to_html(maps.map(micro, macro, max_markers=1000), self_contained=True)

    build_s, page = timed(ours, repeat=1 if quick else 3)
    ours_path = WORK / f"ours_{n}.html"
    ours_path.write_text(page, encoding="utf-8")
    ours_bytes = len(page.encode("utf-8"))

    peer_build_s, peer_map = timed(lambda: _peer(micro))
    render_start = time.perf_counter()
    peer_cdn = peer_map.get_root().render()
    peer_build_s += time.perf_counter() - render_start
    peer_cdn_bytes = len(peer_cdn.encode("utf-8"))
    peer_inline = maps.to_html(peer_map, self_contained=True)
    peer_inline_bytes = len(peer_inline.encode("utf-8"))
    peer_path = WORK / f"peer_{n}.html"
    peer_path.write_text(peer_inline, encoding="utf-8")

    repeat = 1 if quick else 3
    ours_load = _load_seconds(
        ours_path, "window.assetmap && window.assetmap.ready === true", repeat=repeat
    )
    peer_load = _load_seconds(
        peer_path, f"document.querySelectorAll('.leaflet-marker-icon').length >= {n}", repeat=repeat
    )

    mb = 1024 * 1024
    rows = [
        record(
            f"map_{n}_build_and_render",
            build_s,
            "s",
            peer="folium.Marker per point (build + render)",
            peer_value=peer_build_s,
            target="≤ 3 s",
            meets_target=build_s <= 3.0,
            points=n,
        ),
        record(
            f"map_{n}_html_size",
            ours_bytes / mb,
            "MB",
            peer="folium.Marker per point, self-contained",
            peer_value=peer_inline_bytes / mb,
            target="≤ 6 MB and ≥ 5× smaller",
            meets_target=ours_bytes <= 6 * mb and peer_inline_bytes / ours_bytes >= 5,
            points=n,
            self_contained=True,
        ),
        record(
            f"map_{n}_html_size_vs_cdn_peer",
            ours_bytes / mb,
            "MB",
            peer="folium.Marker per point, CDN links (folium default)",
            peer_value=peer_cdn_bytes / mb,
            target="≥ 5× smaller",
            meets_target=peer_cdn_bytes / ours_bytes >= 5,
            points=n,
        ),
    ]
    if ours_load is not None:
        rows.append(
            record(
                f"map_{n}_load_chromium",
                ours_load,
                "s",
                peer="folium.Marker per point, self-contained",
                peer_value=peer_load,
                target="≤ 3 s",
                meets_target=ours_load <= 3.0,
                points=n,
            )
        )
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run(quick=False):
        print(row)
