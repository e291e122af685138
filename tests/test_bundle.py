"""``assetmap build`` / ``make maps``: the demo bundle offline, real data, atomicity, privacy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import real_data
from test_browser import open_map

from assetmap import AssetmapError, bundle, datasets
from assetmap.cli import main
from assetmap.config import load
from assetmap.privacy import scan_for_personal
from assetmap.registers import read_assets

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "assetmap.toml"
MAPS = ["overview", "hospital-opportunities", "consortia-sites", "community", "equity"]


@pytest.fixture(scope="module")
def offline_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo bundle with no data installed: what a fresh clone gets from `make maps`."""
    empty = tmp_path_factory.mktemp("no-external-data")
    out = tmp_path_factory.mktemp("bundle") / "maps"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASSETMAP_DATA_DIR", str(empty))
        mp.delenv("ASSETMAP_DATA_MIRROR", raising=False)
        mp.setenv("ASSETMAP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        code = main(["build", str(CONFIG), "-o", str(out), "--no-progress"])
    assert code == 0
    return out


def test_offline_bundle_has_every_file(offline_bundle: Path) -> None:
    names = {
        p.relative_to(offline_bundle).as_posix() for p in offline_bundle.rglob("*") if p.is_file()
    }
    for name in MAPS:
        assert f"{name}.html" in names and f"{name}.png" in names
    assert {
        "index.html",
        "manifest.json",
        "disclosure-log.csv",
        "data/micro_assets.geojson",
        "data/sites.geojson",
        "data/links.csv",
        "data/rejects.csv",
    } <= names
    assert not list(offline_bundle.parent.glob(".maps.staging-*"))


def test_manifest_accounts_for_every_row_and_says_what_was_skipped(offline_bundle: Path) -> None:
    manifest = json.loads((offline_bundle / "manifest.json").read_text())
    config = load(CONFIG)
    by_source = {Path(r["source"]).name: r for r in manifest["row_accounting"]}
    for register in config.registers:
        row = by_source[register.path.name]
        rows_in = read_assets(register.path, kind=register.kind).rows_in
        assert row["rows_in"] == rows_in
        assert (
            row["placed"]
            + row["read_rejected"]
            + row["geocode_rejected"]
            + row["duplicate_across_registers"]
            == rows_in
        )
        assert row["placed"] == rows_in - 8  # 8 deliberate bad rows per demo register
    skipped = " ".join(manifest["skipped"])
    assert "no street network installed" in skipped and "straight-line" in skipped
    assert "map equity: IMD 2019 and LSOA boundaries are not installed" in skipped
    assert "committed Code-Point Open extract" in skipped
    assert "LSOA boundaries" in skipped and "make data" in skipped
    assert any("Crown copyright" in a for a in manifest["attribution"])
    assert set(manifest["inputs_sha256"]) == {f"data/demo/{r.path.name}" for r in config.registers}
    assert manifest["suppression"]["cells_logged"] > 0


def test_no_personal_data_anywhere_in_the_bundle(offline_bundle: Path) -> None:
    # Every register goes in: a value a public row also carries (a shared phone) is public.
    every = pd.concat([read_assets(r.path, kind=r.kind).assets for r in load(CONFIG).registers])
    personal = every[every["personal"]]
    assert len(personal) == 304 + 89  # read, before geocoding: rejected rows are scanned for too
    files = sorted(p for p in offline_bundle.rglob("*") if p.is_file())
    assert scan_for_personal(files, every) == []
    links = pd.read_csv(offline_bundle / "data/links.csv")
    assert not links["micro_id"].isin(personal.index).any()
    rejects = pd.read_csv(offline_bundle / "data/rejects.csv")
    assert not rejects["source"].str.contains("residents_skills|community_researchers").any()


def test_disclosure_log_never_publishes_a_small_count(offline_bundle: Path) -> None:
    log = pd.read_csv(offline_bundle / "disclosure-log.csv", dtype=str)
    assert set(log["rule"]) <= {"primary_lt8", "rounded_5", "secondary"}
    published = log["published"].dropna()
    numeric = pd.to_numeric(published, errors="coerce").dropna()
    assert not numeric.between(1, 7).any()
    assert ((numeric % 5) == 0).all()


def test_index_links_every_map_with_figures(offline_bundle: Path) -> None:
    html = (offline_bundle / "index.html").read_text()
    for name in MAPS:
        assert f'href="{name}.html"' in html and f'href="{name}.png"' in html
    assert "Skipped" in html and "make data" in html


def test_a_failing_build_leaves_the_previous_bundle(
    offline_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "maps"
    shutil.copytree(offline_bundle, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(bundle, "_finish", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        bundle.build(CONFIG, output=out)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert not list(tmp_path.glob(".maps.staging-*"))


def test_only_rebuilds_one_map_and_keeps_the_others(offline_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "maps"
    shutil.copytree(offline_bundle, out)
    (out / "community.html").write_text("previous")
    result = bundle.build(CONFIG, output=out, only=["overview"])
    assert [p.name for p in result.maps] == ["overview.html"]
    assert (out / "community.html").read_text() == "previous"
    with pytest.raises(AssetmapError, match="no \\[\\[map\\]\\] named 'nope'"):
        bundle.build(CONFIG, output=out, only=["nope"])


@pytest.mark.browser
@pytest.mark.parametrize("name", ["index", *MAPS])
def test_every_bundle_page_opens_offline_without_errors(
    offline_bundle: Path, browser: Any, name: str
) -> None:
    path = offline_bundle / f"{name}.html"
    if name == "index":
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path.as_uri())
        assert page.locator("h1").inner_text().startswith("Greater Icknield")
        assert page.locator("a[href$='.html']").count() == len(MAPS)
        assert errors == []
        page.close()
        return
    loaded = open_map(browser, path)
    try:
        assert loaded.errors == []
        assert loaded.page.locator(".leaflet-control-layers").count() == 1
        assert loaded.page.locator(".am-legend").count() >= 1
        for blocked in loaded.blocked:
            assert "cartocdn" in blocked or "openstreetmap" in blocked
    finally:
        loaded.page.close()


@pytest.mark.data
def test_bundle_with_real_data_counts_residents_by_lsoa(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = real_data("boundaries/lsoa2011_birmingham_sandwell.geojson").parents[1]
    external = tmp_path / "external"
    outcomes = datasets.install(
        ["codepoint", "lsoa2011", "imd", "population"], dest=external, mirror=mirror
    )
    assert {o.status for o in outcomes} == {"copied"}
    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(external))
    result = bundle.build(
        CONFIG, output=tmp_path / "maps", only=["hospital-opportunities", "equity"]
    )
    skipped = " ".join(result.skipped)
    assert "LSOA" not in skipped and "Code-Point Open extract" not in skipped
    assert "no street network installed" in skipped
    log = pd.read_csv(tmp_path / "maps/disclosure-log.csv", dtype=str)
    by_area = log[log["table"] == "personal_by_category_lsoa"]
    assert len(by_area) > 0
    assert by_area["row"].str.match(r"^E0\d{7}$|^total$").all()
    assert any("Office for National Statistics" in a for a in result.manifest["attribution"])
    equity = pd.read_csv(tmp_path / "maps/data/equity_lsoa.csv", dtype={"personal_total": str})
    assert equity["imd_decile"].between(1, 10).all()
    published = pd.to_numeric(equity["personal_total"], errors="coerce").dropna()
    assert not published.between(1, 7).any()
    html = (tmp_path / "maps/equity.html").read_text()
    assert "IMD 2019 decile" in html and "Census 2021 usual residents" in html
    figures = next(m for m in result.manifest["maps"] if m["name"] == "equity")["figures"]
    assert figures["lsoas"] > 100
    assert "residents_of_10pct_most_deprived_lsoas_within_20_min_of_mmuh" in figures


@pytest.mark.data
@pytest.mark.slow
def test_rutland_bundle_walks_on_the_real_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = real_data("osm_rutland/rutland-2022-07-20.osm.pbf").parents[1]
    external = tmp_path / "external"
    datasets.install(["osm-rutland"], dest=external, mirror=mirror)
    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(external))
    result = bundle.build(ROOT / "rutland.toml", output=tmp_path / "rutland")
    assert not any("street network" in s for s in result.skipped)
    links = pd.read_csv(tmp_path / "rutland/data/links.csv")
    to_hospital = links[links["rule"] == "assets-to-hospital-on-foot"]
    walked = to_hospital[to_hospital["mode"] == "walk"]
    assert len(walked) > 0 and walked["minutes"].notna().all()
    assert (walked.loc[walked["within_reach"], "minutes"] <= 30).all()
    assert result.manifest["links"]["network"].endswith("rutland-2022-07-20.osm.pbf")
    assert any("OpenStreetMap" in a for a in result.manifest["attribution"])
