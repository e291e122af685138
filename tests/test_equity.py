"""assetmap.equity: area tables keep their rows and suppress personal counts, gaps, residents
within a catchment, the ``assetmap areas`` command, and the real Birmingham/Sandwell data."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetmap import DataError
from assetmap.cli import main
from assetmap.equity import area_table, gaps, residents_within
from assetmap.links import link
from assetmap.rules import Rule, Selector

FIXTURES = Path(__file__).parent / "fixtures" / "access"
X0, Y0 = 400_000.0, 287_000.0  # EPSG:27700 metres, near Smethwick
WALK_M_PER_MIN = 80.0  # 4.8 km/h
CODES = ["E01000001", "E01000002", "E01000003"]
SMALL = re.compile(r"^[1-7]$")


def squares(south: float = 0.0) -> gpd.GeoDataFrame:
    """Three 1 km squares side by side (west to east), their south edge ``south`` m from Y0."""
    y = Y0 + south
    boxes = [shapely.box(X0 + 1000 * i, y, X0 + 1000 * (i + 1), y + 1000) for i in range(3)]
    return gpd.GeoDataFrame(
        {"lsoa_code": CODES, "lsoa_name": ["Test 001A", "Test 001B", "Test 001C"]},
        geometry=boxes,
        crs="EPSG:27700",
    )


def sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": ["Hospital", "Regeneration"],
            "category": ["nhs_anchor", "development_site"],
            "capacity": [700.0, 800.0],
        },
        geometry=[shapely.Point(X0 + 500, Y0 + 500), shapely.Point(X0 + 2500, Y0 + 500)],
        index=pd.Index(["H", "D"], name="asset_id"),
        crs="EPSG:27700",
    )


def assets(residents: tuple[int, int, int] = (10, 3, 0), far: int = 0) -> gpd.GeoDataFrame:
    """Three social enterprises and ``residents[i]`` skilled residents in square i.

    Residents sit 10 m apart on a line 100 m north of each square's centre; ``far`` more sit in
    the north-east corner of square 3, 2.4 km from the hospital.
    """
    xy = [(400.0, 500.0), (1500.0, 500.0), (1600.0, 500.0)]
    ids = ["se1", "se2", "se3"]
    category = ["social_enterprise"] * 3
    for square, count in enumerate(residents):
        xy += [(1000 * square + 450 + 10 * k, 600.0) for k in range(count)]
        ids += [f"rs{square}-{k}" for k in range(count)]
        category += ["resident_skill"] * count
    xy += [(2900.0 - k, 900.0) for k in range(far)]
    ids += [f"far-{k}" for k in range(far)]
    category += ["resident_skill"] * far
    return gpd.GeoDataFrame(
        {
            "name": [f"Asset {i}" for i in ids],
            "kind": "micro",
            "category": category,
            "capacity": 1.0,
            "personal": [c == "resident_skill" for c in category],
        },
        geometry=[shapely.Point(X0 + x, Y0 + y) for x, y in xy],
        index=pd.Index(ids, name="asset_id"),
        crs="EPSG:27700",
    )


def published_text(frame: pd.DataFrame) -> list[str]:
    columns = [c for c in frame.columns if frame[c].dtype == object or frame[c].dtype == "str"]
    return [str(v) for c in columns for v in frame[c].tolist()]


# ------------------------------------------------------------------------------ area tables


def test_area_table_counts_times_and_suppression() -> None:
    micro, areas = assets(), squares()
    links = link(micro, sites(), within_m=1200.0, k=None)
    table = area_table(micro, links, areas, area_id="lsoa_code", macro=sites())
    assert len(table) == 3 and table.index.equals(areas.index)
    assert table["lsoa_code"].tolist() == CODES
    assert table["n_social_enterprise"].tolist() == [1, 2, 0]
    assert table["personal_resident_skill"].tolist() == ["10", "<8", "0"]
    # DfT-style: average minimum minutes of the non-personal micro-assets to each category
    hospital = table["avg_minutes_to_nhs_anchor"].to_numpy()
    assert hospital[0] == pytest.approx(100 / WALK_M_PER_MIN)
    assert hospital[1] == pytest.approx((1000 + 1100) / 2 / WALK_M_PER_MIN)
    assert np.isnan(hospital[2])
    assert table["share_within_15min_nhs_anchor"].tolist()[:2] == [1.0, 1.0]
    assert table["avg_minutes_to_development_site"].to_numpy()[1] == pytest.approx(
        (1000 + 900) / 2 / WALK_M_PER_MIN
    )
    # residents by band, suppressed: 10 within 15 minutes of the hospital in square 1
    assert table["personal_nhs_anchor_le15min"].tolist() == ["10", "<8", "0"]
    assert table["personal_nhs_anchor_over60min"].tolist() == ["0", "0", "0"]
    assert table["personal_nhs_anchor_total"].tolist() == ["10", "<8", "0"]
    # their average only where 8 or more of them contribute
    residents_avg = table["personal_avg_minutes_to_nhs_anchor"].to_numpy()
    expected = np.mean(np.hypot(np.arange(10) * 10 - 50, 100)) / WALK_M_PER_MIN
    assert residents_avg[0] == pytest.approx(expected)
    assert np.isnan(residents_avg[1])
    assert not any(SMALL.match(v) for v in published_text(table))
    logged = pd.DataFrame(table.attrs["disclosure_log"])
    assert {"primary_lt8", "rounded_5"} <= set(logged["rule"])
    assert table.attrs["assets_outside_areas"] == 0
    assert table.attrs["estimated_minutes"] == len(links.links)


def test_area_table_without_macro_uses_one_category_and_metres() -> None:
    micro, areas = assets(), squares()
    links = link(micro, sites(), within_m=1200.0, k=None)
    table = area_table(micro, links, areas, area_id="lsoa_code", cost="metres", bands=(500, 1000))
    assert table["avg_metres_to_any_site"].to_numpy()[0] == pytest.approx(100.0)
    assert table["share_within_500m_any_site"].tolist()[:2] == [1.0, 0.0]
    assert "personal_any_site_500to1000m" in table


def test_area_table_joins_imd_and_population_without_changing_rows() -> None:
    micro, areas = assets(), squares()
    links = link(micro, sites(), within_m=1200.0, k=None)
    imd = pd.DataFrame(
        {"lsoa11_code": CODES, "imd_rank": [10, 20000, 300], "imd_decile": [1, 7, 1]}
    )
    population = pd.DataFrame({"lsoa21_code": CODES[:2], "population": [1500, 1700]})
    table = area_table(micro, links, areas, area_id="lsoa_code", imd=imd, population=population)
    assert len(table) == 3
    assert table["imd_decile"].tolist() == [1, 7, 1]
    assert table["population"].iloc[:2].tolist() == [1500, 1700]
    assert pd.isna(table["population"].iloc[2])  # a changed code is reported, never guessed


def test_joins_that_would_duplicate_rows_fail() -> None:
    micro, areas = assets(), squares()
    links = link(micro, sites(), within_m=1200.0, k=None)
    twice = pd.concat([areas, areas.iloc[[1]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"E01000002.*more than once"):
        area_table(micro, links, twice, area_id="lsoa_code")
    imd = pd.DataFrame({"lsoa11_code": [*CODES, CODES[0]], "imd_rank": 1, "imd_decile": 1})
    with pytest.raises(DataError, match="duplicate"):
        area_table(micro, links, areas, area_id="lsoa_code", imd=imd)
    with pytest.raises(ValueError, match="more than once"):
        gaps(micro, links, twice, area_id="lsoa_code")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(residents=st.tuples(*[st.integers(0, 14)] * 3), far=st.integers(0, 9))
def test_no_area_table_ever_publishes_a_count_below_eight(
    residents: tuple[int, int, int], far: int
) -> None:
    micro, areas = assets(residents, far), squares()
    rules = [
        Rule(
            "skills-to-nhs",
            micro=Selector(category=("resident_skill",)),
            macro=Selector(category=("nhs_anchor",)),
            max_metres=1200,
        ),
        Rule("enterprises", micro=Selector(category=("social_enterprise",)), max_metres=1200),
    ]
    links = link(micro, sites(), rules=rules)
    for table in (
        area_table(micro, links, areas, area_id="lsoa_code", macro=sites()),
        gaps(micro, links, areas, area_id="lsoa_code"),
    ):
        assert len(table) == 3
        text = published_text(table)
        assert not any(SMALL.match(v) for v in text)
        numbers = [int(v) for v in text if v.isdigit()]
        assert all(n % 5 == 0 for n in numbers)


def test_gaps_counts_skilled_residents_out_of_reach() -> None:
    micro, areas = assets(residents=(10, 3, 0), far=3), squares()
    rules = [
        Rule(
            "skills-to-nhs",
            micro=Selector(category=("resident_skill",)),
            macro=Selector(category=("nhs_anchor",)),
            max_metres=1200,
        )
    ]
    links = link(micro, sites(), rules=rules)
    table = gaps(
        micro, links, areas, area_id="lsoa_code", categories=("resident_skill", "social_enterprise")
    )
    assert table.index.equals(areas.index)
    assert table["lsoa_name"].tolist() == ["Test 001A", "Test 001B", "Test 001C"]
    assert table["resident_skill_no_reach"].tolist() == ["0", "0", "<8"]
    assert table["resident_skill_within_reach"].tolist() == ["10", "<8", "0"]
    assert table["resident_skill_total"].tolist() == ["10", "<8", "<8"]
    # no rule selects the social enterprises: every one is in the gap, published plainly
    assert table["social_enterprise_no_reach"].tolist() == [1, 2, 0]
    assert table["social_enterprise_total"].tolist() == [1, 2, 0]
    assert table["gap"].tolist() == [True, True, True]
    only_skills = gaps(micro, links, areas, area_id="lsoa_code")
    assert only_skills["gap"].tolist() == [False, False, True]
    assert any(r["rule"] == "primary_lt8" for r in only_skills.attrs["disclosure_log"])


def test_gaps_secondary_suppression_protects_the_hidden_cell() -> None:
    # square 1: 3 residents out of reach and 20 within: "<8" next to "20" and a total of 25
    # would give the 3 away (25 - 20 ≈ 5), so the within-reach cell is hidden too
    micro = assets(residents=(20, 0, 0), far=0)
    extra = assets(residents=(0, 0, 0), far=3).iloc[3:]
    extra = extra.set_geometry(extra.geometry.translate(-2800.0, 0.0))  # 2.4 km from D
    combined = gpd.GeoDataFrame(pd.concat([micro, extra]), crs="EPSG:27700")
    rules = [
        Rule(
            "skills-to-nhs",
            micro=Selector(category=("resident_skill",)),
            macro=Selector(ids=("D",)),
            max_metres=2100,
        )
    ]
    links = link(combined, sites(), rules=rules)
    table = gaps(combined, links, squares(), area_id="lsoa_code")
    row = table.iloc[0]
    assert row["resident_skill_no_reach"] == "<8"
    assert row["resident_skill_within_reach"] == "*"


# ------------------------------------------------------------------------------ residents


def band_frame(x_min: float, x_max: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"macro_id": ["H", "H"], "band_minutes": [20.0, 30.0], "mode": "euclidean"},
        geometry=[
            shapely.box(X0 + x_min, Y0 - 10, X0 + x_max, Y0 + 1010),
            shapely.box(X0 - 5000, Y0 - 5000, X0 + 5000, Y0 + 5000),
        ],
        crs="EPSG:27700",
    )


def test_residents_within_by_area_share_and_by_centroid() -> None:
    population = pd.DataFrame({"lsoa21_code": CODES, "population": [1000, 2000, 4000]})
    catchments = band_frame(400.0, 1600.0)  # 60 % of squares 1 and 2
    result = residents_within(population, squares(), catchments, site="H", band=20)
    assert result["residents"] == 1800  # 0.6·1000 + 0.6·2000
    assert result["population"] == 7000
    assert result["share"] == pytest.approx(1800 / 7000)
    assert result["lsoas_in_band"] == 2
    assert result["by_lsoa"]["share_in_band"].tolist() == pytest.approx([0.6, 0.6])
    centroid = residents_within(
        population, squares(), catchments, site="H", band=20, weighting="centroid"
    )
    assert centroid["residents"] == 3000
    imd = pd.DataFrame({"lsoa11_code": CODES, "imd_decile": [1, 5, 1]})
    deprived = residents_within(
        population, squares(), catchments, imd=imd, decile_max=1, site="H", band=20
    )
    assert (deprived["lsoas"], deprived["residents"], deprived["population"]) == (2, 600, 5000)
    everyone = residents_within(population, squares(), catchments, site="H", band=30)
    assert everyone["residents"] == 7000


def test_residents_within_reports_missing_population_and_bad_bands() -> None:
    population = pd.Series([1000, 2000], index=CODES[:2])
    catchments = band_frame(0.0, 3000.0)
    result = residents_within(population, squares(), catchments, site="H", band=20)
    assert result["lsoas_without_population"] == 1
    assert result["residents"] == 3000
    with pytest.raises(ValueError, match="no band 25 min for site 'H'"):
        residents_within(population, squares(), catchments, site="H", band=25)
    with pytest.raises(ValueError, match="weighting"):
        residents_within(population, squares(), catchments, site="H", weighting="dasymetric")


# ------------------------------------------------------------------------------ command line


def test_cli_areas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.delenv("ASSETMAP_DATA_MIRROR", raising=False)
    register = FIXTURES / "micro.csv"
    out = tmp_path / "areas.csv"
    code = main(["areas", str(register), "-o", str(out)])
    assert code == 1 and not out.exists()  # no boundaries installed: "run `make data`"

    boundaries = tmp_path / "lsoa.geojson"
    # the fixture register's points lie on y = Y0: centre the squares on that line
    squares(south=-500).rename(columns={"lsoa_code": "LSOA11CD", "lsoa_name": "LSOA11NM"}).to_crs(
        "EPSG:4326"
    ).to_file(boundaries, driver="GeoJSON")
    log = tmp_path / "log.csv"
    code = main(
        [
            "areas",
            str(register),
            "--boundaries",
            str(boundaries),
            "-o",
            str(out),
            "--disclosure-log",
            str(log),
        ]
    )
    assert code == 0
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(table) == 3
    assert table["lsoa_code"].tolist() == CODES
    assert table["n_social_enterprise"].tolist() == ["1", "1", "0"]  # fx-se1 in 1, fx-se2 in 2
    assert table["personal_resident_skill"].tolist() == ["<8", "0", "0"]
    assert "Synthetic Resident" not in out.read_text()
    assert "primary_lt8" in log.read_text()

    links_csv = tmp_path / "links.csv"
    from assetmap.geocode import geocode
    from assetmap.registers import read_assets

    placed = geocode(read_assets(register, kind="micro").assets, gazetteer=None).assets
    link(placed, sites().to_crs("EPSG:4326"), within_m=1500.0, k=None).to_csv(links_csv)
    code = main(
        [
            "areas",
            str(register),
            "--boundaries",
            str(boundaries),
            "--links",
            str(links_csv),
            "--gaps",
            "resident_skill",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    # fx-se1 (100 m east of the origin) is 640 m from the hospital: 8.0 minutes at 4.8 km/h
    assert table["avg_minutes_to_any_site"].tolist()[0] == "8.0"
    assert table["gaps_resident_skill_within_reach"].tolist() == ["<8", "0", "0"]
    assert main(["areas", str(register), "--gaps", "resident_skill", "-o", str(out)]) == 2


# ------------------------------------------------------------------------------ real data


@pytest.mark.data
def test_real_birmingham_sandwell_tables() -> None:
    from conftest import ROOT, real_data

    from assetmap.areas import join_imd_population, load_imd, load_lsoa, load_population
    from assetmap.catchments import catchments
    from assetmap.gazetteer import sites as gazetteer
    from assetmap.geocode import geocode
    from assetmap.postcodes import EXTRACT_PATH
    from assetmap.registers import read_assets

    lsoa = load_lsoa(path=real_data("boundaries/lsoa2011_birmingham_sandwell.geojson"))
    imd = load_imd(real_data("imd2019/IoD2019_domains_ranks_deciles_lsoa2011_england.csv"))
    population = load_population(
        real_data("census2021/census2021_usual_residents_by_age6_lsoa2021_ew.csv")
    )
    demo = ROOT / "data" / "demo"
    frames = [
        geocode(
            read_assets(demo / f"{name}.csv", kind="micro").assets, postcodes=EXTRACT_PATH
        ).assets
        for name in (
            "residents_skills",
            "social_enterprises",
            "community_buildings",
            "community_researchers",
        )
    ]
    micro = gpd.GeoDataFrame(pd.concat(frames), crs="EPSG:4326")
    assert len(micro) >= 500  # the demo's good rows, placed by the packaged postcode extract
    macro = gazetteer("greater-icknield")
    links = link(micro, macro, within_m=2400.0, k=None)

    table = area_table(
        micro, links, lsoa, area_id="lsoa_code", macro=macro, imd=imd, population=population
    )
    assert len(table) == len(lsoa) == 825
    assert table["lsoa_code"].is_unique
    assert table["imd_decile"].notna().all()
    _, report = join_imd_population(lsoa, imd=imd, population=population)
    changed = set(report.loc[report["reason"] == "no_2021_match", "code"])
    assert set(table.loc[table["population"].isna(), "lsoa_code"]) == changed
    public = micro[~micro["personal"].astype(bool)]
    counted = table[[c for c in table.columns if c.startswith("n_")]].to_numpy().sum()
    assert counted == len(public)  # every placed demo asset lies in Birmingham/Sandwell
    assert table.attrs["assets_outside_areas"] == 0
    assert not any(SMALL.match(v) for v in published_text(table))
    shares = table.filter(like="share_within_").to_numpy(dtype=float)
    assert np.nanmin(shares) >= 0 and np.nanmax(shares) <= 1
    # shares never fall as the band widens
    for category in ("nhs_anchor", "development_site"):
        cols = [f"share_within_{t}min_{category}" for t in (15, 30, 45, 60)]
        values = table[cols].dropna().to_numpy()
        assert (np.diff(values, axis=1) >= 0).all()

    skills = gaps(micro, links, lsoa, area_id="lsoa_code")
    assert len(skills) == 825
    assert not any(SMALL.match(v) for v in published_text(skills))

    bands = catchments(macro.loc[["mmuh"]], minutes=(20,))
    deprived = residents_within(
        population, lsoa, bands, imd=imd, decile_max=1, site="mmuh", band=20
    )
    assert 0 < deprived["residents"] < deprived["population"]
    assert deprived["lsoas_without_population"] <= len(changed)
    allfolk = residents_within(population, lsoa, bands, site="mmuh", band=20)
    assert allfolk["residents"] > deprived["residents"]
    # a 20-minute walk (1.6 km straight line) covers ~8 km² of a dense city: tens of thousands
    assert 10_000 < allfolk["residents"] < 100_000
    centroid = residents_within(population, lsoa, bands, site="mmuh", band=20, weighting="centroid")
    assert centroid["residents"] == pytest.approx(allfolk["residents"], rel=0.25)
