"""Tests for assetmap.areas: boundaries, IMD, census population, point-in-area, profiles."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import FIXTURES, real_data
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from assetmap import areas
from assetmap._errors import CRSError, DataError

HERE = FIXTURES / "areas"
SQUARES = HERE / "three_squares.geojson"
IMD_SMALL = HERE / "imd_small.csv"
POP_SMALL = HERE / "population_small.csv"


@pytest.fixture
def squares() -> gpd.GeoDataFrame:
    return areas.load_lsoa(path=SQUARES)


@pytest.fixture
def no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder and no mirror."""
    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(tmp_path / "external"))
    monkeypatch.delenv("ASSETMAP_DATA_MIRROR", raising=False)
    return tmp_path


def points(
    xy: list[tuple[float, float]], crs: str = "EPSG:4326", index: list[str] | None = None
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"n": range(len(xy))},
        geometry=gpd.points_from_xy([p[0] for p in xy], [p[1] for p in xy]),
        crs=crs,
        index=index,
    )


def bng_squares() -> gpd.GeoDataFrame:
    """Three 100 m squares side by side in EPSG:27700, ids out of left-to-right order."""
    boxes = [shapely.box(400000 + 100 * k, 288000, 400100 + 100 * k, 288100) for k in range(3)]
    return gpd.GeoDataFrame({"code": ["B", "C", "A"]}, geometry=boxes, crs="EPSG:27700")


# --------------------------------------------------------------------------- loaders


def test_load_lsoa_fixture(squares: gpd.GeoDataFrame) -> None:
    assert list(squares.columns) == ["lsoa_code", "lsoa_name", "lad_code", "lad_name", "geometry"]
    assert squares.crs == "EPSG:4326"
    assert squares["lsoa_code"].tolist() == ["Z01", "Z03", "Z02"]
    assert squares["lad_name"].unique().tolist() == ["Testshire"]
    assert set(squares.geom_type) == {"Polygon"}


def test_missing_data_says_make_data(no_data: Path) -> None:
    for loader in (areas.load_lsoa, areas.load_wards, areas.load_imd, areas.load_population):
        with pytest.raises(DataError, match="run `make data`"):
            loader()


def test_data_dir_is_used(no_data: Path) -> None:
    target = no_data / "external" / areas.LSOA2011_FILE
    target.parent.mkdir(parents=True)
    target.write_bytes(SQUARES.read_bytes())
    assert len(areas.load_lsoa()) == 3


def test_mirror_is_second_choice(no_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = no_data / "mirror"
    (mirror / "boundaries").mkdir(parents=True)
    (mirror / areas.WARDS_FILE).write_text(
        SQUARES.read_text().replace("LSOA11CD", "WD13CD").replace("LSOA11NM", "WD13NM")
    )
    monkeypatch.setenv("ASSETMAP_DATA_MIRROR", str(mirror))
    wards = areas.load_wards()
    assert wards["ward_code"].tolist() == ["Z01", "Z03", "Z02"]
    assert list(wards.columns) == ["ward_code", "ward_name", "lad_code", "lad_name", "geometry"]


def test_lsoa_2021_explains_where_to_download() -> None:
    with pytest.raises(
        DataError, match=r"LSOA 2021 boundaries are not in the .*geoportal\.statistics\.gov\.uk"
    ):
        areas.load_lsoa(2021)
    with pytest.raises(ValueError, match="2015"):
        areas.load_lsoa(2015)


def test_lsoa_2021_with_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "lsoa21.geojson"
    path.write_text(SQUARES.read_text().replace("LSOA11", "LSOA21"))
    assert areas.load_lsoa(2021, path=path)["lsoa_code"].tolist() == ["Z01", "Z03", "Z02"]
    with pytest.raises(DataError, match="LSOA11CD"):
        areas.load_lsoa(2011, path=path)


def test_explicit_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        areas.load_lsoa(path=tmp_path / "nope.geojson")


def test_invalid_ring_is_repaired(tmp_path: Path) -> None:
    bowtie = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"LSOA11CD": "Q1", "LSOA11NM": "Bow 001A"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[-1.9, 52.4], [-1.8, 52.5], [-1.8, 52.4], [-1.9, 52.5], [-1.9, 52.4]]
                    ],
                },
            }
        ],
    }
    path = tmp_path / "bow.geojson"
    path.write_text(json.dumps(bowtie))
    loaded = areas.load_lsoa(path=path)
    assert bool(loaded.is_valid.all())
    assert loaded.geom_type.iloc[0] in {"Polygon", "MultiPolygon"}
    assert loaded["lad_code"].isna().all()  # no LAD properties in this file


def test_duplicate_codes_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.geojson"
    path.write_text(SQUARES.read_text().replace('"Z02"', '"Z01"'))
    with pytest.raises(DataError, match="'Z01' appears more than once"):
        areas.load_lsoa(path=path)


def test_load_imd_fixture() -> None:
    imd = areas.load_imd(path=IMD_SMALL)
    assert imd["lsoa11_code"].tolist() == ["Z01", "Z02", "Z03"]
    assert imd.loc[1, "imd_rank"] == 16000
    assert imd["imd_decile"].tolist() == [1, 5, 10]
    assert imd["living_env_decile"].tolist() == [1, 8, 8]
    assert imd["imd_rank"].dtype == np.int64
    stems = [
        "imd",
        "income",
        "employment",
        "education",
        "health",
        "crime",
        "barriers",
        "living_env",
    ]
    assert list(imd.columns[4:]) == [f"{s}_{m}" for s in stems for m in ("rank", "decile")]


def test_load_imd_bad_decile_names_line(tmp_path: Path) -> None:
    path = tmp_path / "imd.csv"
    path.write_text(IMD_SMALL.read_text().replace(",16000,5,", ",16000,11,"))
    with pytest.raises(
        DataError, match=r"line 3, column 'imd_decile': value '11' is not an integer >= 1 and <= 10"
    ):
        areas.load_imd(path=path)


def test_load_imd_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "imd.csv"
    path.write_text(IMD_SMALL.read_text().replace("Crime Rank", "Crim Rank"))
    with pytest.raises(DataError, match=r"missing IMD columns.*Crime Rank"):
        areas.load_imd(path=path)


def test_load_population_fixture() -> None:
    pop = areas.load_population(path=POP_SMALL)
    assert pop.columns.tolist() == [
        "lsoa21_code",
        "lsoa21_name",
        "population",
        "age_0_15",
        "age_16_24",
        "age_25_34",
        "age_35_49",
        "age_50_64",
        "age_65_plus",
    ]
    assert pop.set_index("lsoa21_code").loc["Z04", "population"] == 900
    assert pop["population"].sum() == 1500 + 1600 + 900 + 850 + 1400


def test_load_population_sum_checked(tmp_path: Path) -> None:
    path = tmp_path / "pop.csv"
    path.write_text(
        POP_SMALL.read_text().replace("Z02,Testshire 001B,1600", "Z02,Testshire 001B,1601")
    )
    with pytest.raises(DataError, match="line 3: population 1601 is not the sum"):
        areas.load_population(path=path)


def test_load_population_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "pop.csv"
    path.write_bytes(POP_SMALL.read_text().replace("Otherton", "Ynys Môn").encode("cp1252"))
    pop = areas.load_population(path=path)
    assert pop["lsoa21_name"].iloc[-1] == "Ynys Môn 001A"


# --------------------------------------------------------------------------- joins


def test_join_reports_changed_codes(squares: gpd.GeoDataFrame) -> None:
    imd = areas.load_imd(path=IMD_SMALL)
    pop = areas.load_population(path=POP_SMALL)
    frame = squares.set_index(pd.Index(["s1", "s2", "s3"]))
    joined, report = areas.join_imd_population(frame, imd=imd, population=pop)
    assert len(joined) == 3
    assert joined.index.tolist() == ["s1", "s2", "s3"]
    assert isinstance(joined, gpd.GeoDataFrame)
    # Z01 and Z02 are unchanged; Z03 was split into Z04 and Z05 in 2021.
    by_code = joined.set_index("lsoa_code")
    assert by_code.loc["Z01", "population"] == 1500
    assert by_code.loc["Z02", "population"] == 1600
    assert pd.isna(by_code.loc["Z03", "population"])
    assert pd.isna(by_code.loc["Z03", "lsoa21_code"])
    assert by_code.loc["Z03", "imd_decile"] == 10
    assert joined["population"].dtype == "Int64"
    assert report.to_dict("records") == [
        {
            "code": "Z04",
            "name": "Testshire 001D",
            "lad_name": "Testshire",
            "reason": "no_2011_match",
        },
        {
            "code": "Z05",
            "name": "Testshire 001E",
            "lad_name": "Testshire",
            "reason": "no_2011_match",
        },
        {
            "code": "Z03",
            "name": "Testshire 001C",
            "lad_name": "Testshire",
            "reason": "no_2021_match",
        },
    ]
    assert "imd_decile" not in squares  # input untouched


def test_join_reports_missing_imd() -> None:
    imd = areas.load_imd(path=IMD_SMALL)
    pop = areas.load_population(path=POP_SMALL)
    frame = pd.DataFrame({"lsoa11_code": ["Z01", "W99"]})
    joined, report = areas.join_imd_population(frame, imd=imd, population=pop)
    assert joined["imd_decile"].tolist()[0] == 1
    assert pd.isna(joined["imd_decile"].iloc[1])
    assert set(report.loc[report["code"] == "W99", "reason"]) == {"no_imd_match", "no_2021_match"}


def test_join_refuses_duplicating_keys() -> None:
    imd = areas.load_imd(path=IMD_SMALL)
    pop = areas.load_population(path=POP_SMALL)
    doubled = pd.concat([pop, pop.iloc[[0]]], ignore_index=True)
    frame = pd.DataFrame({"lsoa11_code": ["Z01", "Z02"]})
    with pytest.raises(
        DataError, match="'Z01' appears more than once, so the join would duplicate"
    ):
        areas.join_imd_population(frame, imd=imd, population=doubled)
    with pytest.raises(DataError, match="imd: lsoa11_code 'Z02'"):
        areas.join_imd_population(frame, imd=pd.concat([imd, imd.iloc[[1]]]), population=pop)


# --------------------------------------------------------------------------- assign


def test_assign_shared_vertex_takes_lowest_id(squares: gpd.GeoDataFrame) -> None:
    # Left Z01 | middle Z03 | right Z02. Shared corners are exact after projection.
    pts = points(
        [
            (-1.95, 52.48),  # Z01/Z03 corner → Z01
            (-1.94, 52.49),  # Z03/Z02 corner → Z02 (the rightmost square, third in the frame)
            (-1.945, 52.485),  # inside Z03
            (-1.90, 52.485),  # outside every square
        ],
        index=["a", "b", "c", "d"],
    )
    got = areas.assign(pts, squares, area_id="lsoa_code")
    assert got.index.tolist() == ["a", "b", "c", "d"]
    assert got.iloc[:3].tolist() == ["Z01", "Z02", "Z03"]
    assert pd.isna(got["d"])
    assert got.name == "lsoa_code"


def test_assign_shared_edge_in_bng() -> None:
    boxes = bng_squares()  # B | C | A from left to right
    pts = points(
        [(400100, 288050), (400200, 288050), (400150, 288050), (400300, 288100)], crs="EPSG:27700"
    )
    got = areas.assign(pts, boxes, area_id="code")
    assert got.tolist() == ["B", "A", "C", "A"]


def test_assign_missing_geometry_and_duplicate_index(squares: gpd.GeoDataFrame) -> None:
    pts = gpd.GeoDataFrame(
        {"n": [1, 2, 3]},
        geometry=[shapely.Point(-1.955, 52.485), None, shapely.Point(-1.955, 52.485)],
        crs="EPSG:4326",
        index=["x", "x", "y"],
    )
    got = areas.assign(pts, squares, area_id="lsoa_code")
    assert len(got) == 3
    assert got.index.tolist() == ["x", "x", "y"]
    assert got.iloc[0] == "Z01" and pd.isna(got.iloc[1]) and got.iloc[2] == "Z01"


def test_assign_needs_crs(squares: gpd.GeoDataFrame) -> None:
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)])
    with pytest.raises(CRSError, match="points have no CRS"):
        areas.assign(pts, squares, area_id="lsoa_code")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            # Grid of 10 m steps so points land on edges and corners often.
            st.integers(min_value=-3, max_value=33).map(lambda v: 399990 + 10 * v),
            st.integers(min_value=-3, max_value=13).map(lambda v: 287990 + 10 * v),
        ),
        max_size=40,
    )
)
def test_assign_matches_brute_force(xy: list[tuple[int, int]]) -> None:
    boxes = bng_squares()
    pts = points([(float(x), float(y)) for x, y in xy], crs="EPSG:27700")
    got = areas.assign(pts, boxes, area_id="code")
    assert len(got) == len(pts)
    assert got.index.equals(pts.index)
    geoms = boxes.geometry.to_numpy()
    codes = boxes["code"].to_numpy()
    for k, point in enumerate(pts.geometry):
        inside = sorted(codes[shapely.intersects(geoms, point)])
        expected = inside[0] if inside else None
        assert (got.iloc[k] if pd.notna(got.iloc[k]) else None) == expected


# --------------------------------------------------------------------------- profile


def _assets(rows: list[tuple[str, str, bool, float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": [f"asset {k}" for k in range(len(rows))],
            "kind": [r[0] for r in rows],
            "category": [r[1] for r in rows],
            "personal": [r[2] for r in rows],
        },
        geometry=gpd.points_from_xy([r[3] for r in rows], [r[4] for r in rows]),
        crs="EPSG:4326",
        index=pd.Index([f"id{k}" for k in range(len(rows))], name="asset_id"),
    )


def test_profile_counts_and_suppresses(squares: gpd.GeoDataFrame) -> None:
    left, middle = (-1.955, 52.485), (-1.945, 52.485)
    rows = (
        [("micro", "social_enterprise", False, *left)] * 3
        + [("micro", "community_building", False, *middle)] * 2
        + [("micro", "resident_skill", True, *left)] * 12
        + [("micro", "resident_skill", True, *middle)] * 3
        + [("macro", "nhs_anchor", False, *middle)] * 4  # macro rows are not counted
        + [("micro", "social_enterprise", False, 0.0, 51.0)]  # outside every area
    )
    assets = _assets(rows)
    before = assets.copy()
    imd = areas.load_imd(path=IMD_SMALL)
    pop = areas.load_population(path=POP_SMALL)
    out = areas.profile(assets, squares, area_id="lsoa_code", imd=imd, population=pop)
    pd.testing.assert_frame_equal(assets, before)
    assert len(out) == len(squares)
    assert out.index.equals(squares.index)
    by = out.set_index("lsoa_code")
    assert by.loc["Z01", "n_social_enterprise"] == 3
    assert by.loc["Z03", "n_community_building"] == 2
    assert by.loc["Z02", "n_social_enterprise"] == 0
    assert "n_nhs_anchor" not in out and "n_resident_skill" not in out
    # Personal counts published through suppress: 12 → "10", 3 → "<8" (+ its row total).
    assert by.loc["Z01", "personal_resident_skill"] == "10"
    assert by.loc["Z03", "personal_resident_skill"] == "<8"
    assert by.loc["Z03", "personal_total"] == "<8"
    assert by.loc["Z02", "personal_resident_skill"] == "0"
    assert by["imd_decile"].tolist() == [1, 10, 5]
    assert by.loc["Z01", "population"] == 1500
    assert pd.isna(by.loc["Z03", "population"])  # code changed in 2021
    assert out.attrs["assets_outside_areas"] == 1
    log = pd.DataFrame(out.attrs["disclosure_log"])
    assert set(log["rule"]) == {"primary_lt8", "rounded_5"}
    assert "12" not in set(log["published"]) and "3" not in set(log["published"])


def test_profile_without_personal_rows(squares: gpd.GeoDataFrame) -> None:
    assets = _assets([("micro", "social_enterprise", False, -1.935, 52.485)])
    out = areas.profile(assets, squares, area_id="lsoa_code")
    assert out["personal_total"].tolist() == ["0", "0", "0"]
    assert out["n_social_enterprise"].tolist() == [0, 0, 1]


# --------------------------------------------------------------------------- real data


@pytest.mark.data
def test_real_lsoa_counts() -> None:
    lsoa = areas.load_lsoa(path=real_data(areas.LSOA2011_FILE))
    assert len(lsoa) == 825
    assert lsoa["lad_name"].value_counts().to_dict() == {"Birmingham": 639, "Sandwell": 186}
    assert bool(lsoa.is_valid.all())
    assert lsoa.crs == "EPSG:4326"


@pytest.mark.data
def test_real_imd_and_population_join() -> None:
    lsoa = areas.load_lsoa(path=real_data(areas.LSOA2011_FILE))
    imd = areas.load_imd(path=real_data(areas.IMD_FILE))
    pop = areas.load_population(path=real_data(areas.POPULATION_FILE))
    assert len(imd) == 32844
    joined, report = areas.join_imd_population(lsoa, imd=imd, population=pop)
    assert len(joined) == 825
    assert joined["imd_decile"].notna().all()
    assert set(joined["imd_decile"]) == set(range(1, 11))
    assert joined["lad19_name"].value_counts().to_dict() == {"Birmingham": 639, "Sandwell": 186}
    # 798 codes unchanged since 2011 join directly; 27 changed ones are reported, not guessed,
    # and 51 new 2021 LSOAs (Birmingham 659 + Sandwell 190 = 849 = 798 + 51) have no 2011 code.
    reasons = report["reason"].value_counts().to_dict()
    assert reasons == {"no_2021_match": 27, "no_2011_match": 51}
    assert joined["population"].notna().sum() == 798
    changed = set(report.loc[report["reason"] == "no_2021_match", "code"])
    assert joined.loc[joined["lsoa_code"].isin(changed), "population"].isna().all()
    unchanged = joined[~joined["lsoa_code"].isin(changed)]
    assert (unchanged["lsoa21_code"] == unchanged["lsoa_code"]).all()
    by_code = pop.set_index("lsoa21_code")
    sample = unchanged.iloc[0]
    assert sample["population"] == by_code.loc[sample["lsoa_code"], "population"]


@pytest.mark.data
def test_real_wards() -> None:
    wards = areas.load_wards(path=real_data(areas.WARDS_FILE))
    assert len(wards) == 24
    assert set(wards["lad_code"]) == {"E08000028"}
    assert wards["ward_code"].min() == "E05001260" and wards["ward_code"].max() == "E05001283"


@pytest.mark.data
def test_real_b66_2qt_falls_in_sandwell() -> None:
    lsoa = areas.load_lsoa(path=real_data(areas.LSOA2011_FILE))
    wards = areas.load_wards(path=real_data(areas.WARDS_FILE))
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(403502, 288149)
    assert lon == pytest.approx(-1.9499, abs=1e-4) and lat == pytest.approx(52.4912, abs=1e-4)
    pt = points([(lon, lat)], index=["B66 2QT"])
    code = areas.assign(pt, lsoa, area_id="lsoa_code").iloc[0]
    row = lsoa.set_index("lsoa_code").loc[code]
    assert row["lad_code"] == "E08000028"
    assert row["lsoa_name"].startswith("Sandwell ")
    # Code-Point gives ward E05001278 (Soho and Victoria) for this postcode.
    assert areas.assign(pt, wards, area_id="ward_code").iloc[0] == "E05001278"


def test_assign_empty_frames(squares: gpd.GeoDataFrame) -> None:
    none = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    assert len(areas.assign(none, squares, area_id="lsoa_code")) == 0
    one = points([(-1.955, 52.485)])
    got = areas.assign(one, squares.iloc[:0], area_id="lsoa_code")
    assert len(got) == 1 and pd.isna(got.iloc[0])
