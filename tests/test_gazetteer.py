"""Tests for assetmap.gazetteer: packaged site content, sites() schema, masterplan, matching."""

from __future__ import annotations

import functools
import io
import json
import math
import shutil
import zipfile
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

from assetmap import gazetteer, schema
from assetmap._errors import RegisterError

#: About lon -1.98..-1.90, lat 52.47..52.51, widened west to take in Galton Bridge station.
GREATER_ICKNIELD_BBOX = (-1.99, 52.47, -1.90, 52.51)
#: Bbox of the Rutland OSM extract (shared/data README).
RUTLAND_BBOX = (-0.8229, 52.5236, -0.4277, 52.7611)
REQUIRED_GREATER_ICKNIELD = {
    "mmuh": "nhs_anchor",
    "grove-lane": "development_site",
    "icknield-port-loop": "development_site",
    "spring-hill": "development_site",
    "brindley-canalside": "development_site",
    "windmill-eye": "development_site",
    "city-hospital-west": "development_site",
    "city-health-campus": "nhs_anchor",
}
REQUIRED_RUTLAND = {
    "rutland-memorial-hospital": "nhs_anchor",
    "catmose-house": "anchor_institution",
    "oakham-station": "infrastructure",
}
EXPECTED_COLUMNS = [
    *schema.ASSET_COLUMNS,
    "aliases",
    "homes",
    "hectares",
    "investment_gbp",
    "status",
    "opened",
    "description",
    "footprint",
    *schema.GEOCODE_COLUMNS,
]
TWO_SITES = FIXTURES / "gazetteer" / "two_sites.geojson"


@functools.cache
def _rutland_sites() -> gpd.GeoDataFrame:
    """Loaded once for the property tests (match_names never modifies it)."""
    return gazetteer.sites("rutland")


@pytest.fixture(scope="module")
def greater_icknield() -> gpd.GeoDataFrame:
    return gazetteer.sites("greater-icknield")


@pytest.fixture(scope="module")
def rutland() -> gpd.GeoDataFrame:
    return gazetteer.sites("rutland")


# --- packaged content ----------------------------------------------------------------------


def test_available_lists_packaged_gazetteers() -> None:
    assert gazetteer.available() == ["greater-icknield", "rutland"]


@pytest.mark.parametrize(
    ("name", "required", "bbox"),
    [
        ("greater-icknield", REQUIRED_GREATER_ICKNIELD, GREATER_ICKNIELD_BBOX),
        ("rutland", REQUIRED_RUTLAND, RUTLAND_BBOX),
    ],
)
def test_required_sites_present_with_category_and_inside_area(
    name: str, required: dict[str, str], bbox: tuple[float, float, float, float]
) -> None:
    frame = gazetteer.sites(name)
    assert set(required) <= set(frame.index)
    assert frame.loc[list(required), "category"].to_dict() == required
    lon, lat = frame.geometry.x, frame.geometry.y
    inside = lon.between(bbox[0], bbox[2]) & lat.between(bbox[1], bbox[3])
    assert inside.all(), frame.index[~inside].tolist()
    assert frame["category"].isin(list(schema.MACRO_CATEGORIES)).all()


@pytest.mark.parametrize("name", ["greater-icknield", "rutland"])
def test_every_site_has_a_source_note_with_a_url(name: str) -> None:
    frame = gazetteer.sites(name)
    assert frame["source"].str.len().gt(20).all()
    assert frame["source"].str.contains("https?://", regex=True).all()
    assert frame["description"].str.len().gt(20).all()


@pytest.mark.parametrize("name", ["greater-icknield", "rutland"])
def test_footprints_are_valid_polygons_containing_their_point(name: str) -> None:
    frame = gazetteer.sites(name)
    given_footprint = frame["footprint"].notna()
    footprints = frame.loc[given_footprint, "footprint"]
    assert footprints.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert footprints.is_valid.all()
    assert footprints.contains(frame.loc[given_footprint].geometry).all()


def test_rutland_footprints_drawn_from_osm(rutland: gpd.GeoDataFrame) -> None:
    with_footprint = rutland.index[rutland["footprint"].notna()].tolist()
    assert with_footprint == [
        "rutland-memorial-hospital",
        "catmose-house",
        "oakham-enterprise-park",
    ]
    assert rutland.loc[with_footprint, "source"].str.contains("OpenStreetMap way").all()
    # The enterprise park's OSM outline agrees with the published 25 acres (10.1 ha).
    area_ha = rutland.loc[["oakham-enterprise-park"], "footprint"].to_crs(schema.CRS_BNG).area / 1e4
    assert area_ha.iloc[0] == pytest.approx(10.1, abs=0.3)


def test_published_figures(greater_icknield: gpd.GeoDataFrame, rutland: gpd.GeoDataFrame) -> None:
    mmuh = greater_icknield.loc["mmuh"]
    assert mmuh["postcode"] == "B66 2QT"
    assert mmuh["opened"] == "2024-10-06"
    assert mmuh["capacity"] == 736.0
    assert "MMUH" in mmuh["aliases"]
    assert greater_icknield.loc["icknield-port-loop", "homes"] == 1150.0
    assert greater_icknield.loc["city-hospital-west", "homes"] == 750.0
    assert greater_icknield.loc["brindley-canalside", "homes"] == 755.0
    # Sites with no published homes figure keep NaN and the default capacity of 1.
    assert math.isnan(greater_icknield.loc["spring-hill", "homes"])
    assert greater_icknield.loc["spring-hill", "capacity"] == 1.0
    assert rutland.loc["rutland-memorial-hospital", "postcode"] == "LE15 6NT"
    assert rutland.loc["rutland-memorial-hospital", "opened"] == "1924"


def test_masterplan_seed_figures() -> None:
    plan = gazetteer.masterplan("greater-icknield")
    assert plan["homes"] == 5160
    assert plan["hectares"] == 137
    assert plan["infrastructure_investment_gbp"] == 400e6
    assert plan["housing_investment_gbp"] == 400e6
    assert "http" in plan["source"]
    assert set(plan["sites"]) <= set(gazetteer.sites("greater-icknield").index)


def test_masterplan_is_a_copy_and_empty_when_absent() -> None:
    plan = gazetteer.masterplan()
    plan["homes"] = 1
    plan["sites"].append("nowhere")
    assert gazetteer.masterplan()["homes"] == 5160
    assert "nowhere" not in gazetteer.masterplan()["sites"]
    assert gazetteer.masterplan("rutland") == {}


@pytest.mark.parametrize("name", ["greater-icknield", "rutland"])
def test_names_and_aliases_are_unambiguous(name: str) -> None:
    """No two sites share a name or alias once normalised, so name matching is well defined."""
    frame = gazetteer.sites(name)
    labels = pd.concat([frame["name"], frame["aliases"].explode().dropna()])
    owners = pd.DataFrame(
        {"site": labels.index, "normal": gazetteer.normalise_name(labels).to_numpy()}
    )
    per_label = owners.drop_duplicates().groupby("normal")["site"].nunique()
    assert per_label.max() == 1, per_label[per_label > 1]


# --- sites(): schema and loading --------------------------------------------------------------


def test_sites_schema(greater_icknield: gpd.GeoDataFrame) -> None:
    frame = greater_icknield
    assert list(frame.columns) == [*EXPECTED_COLUMNS, "geometry"]
    assert frame.index.name == "asset_id"
    assert frame.index.is_unique
    assert frame.crs.to_epsg() == 4326
    assert isinstance(frame["footprint"], gpd.GeoSeries)
    assert frame["footprint"].crs.to_epsg() == 4326
    assert frame.geometry.geom_type.eq("Point").all()
    assert (frame["kind"] == "macro").all()
    assert not frame["personal"].any() and frame["personal"].dtype == bool
    assert frame["source_line"].tolist() == list(range(1, len(frame) + 1))
    for column in ("capacity", "homes", "hectares", "investment_gbp"):
        assert frame[column].dtype == np.float64
    assert frame["tags"].map(lambda v: isinstance(v, list)).all()
    assert frame["aliases"].map(lambda v: isinstance(v, list)).all()
    assert (frame["geocode_source"] == "gazetteer").all()
    assert (frame["geocode_quality"] == "site").all()
    assert (frame["geocode_note"] == "").all()


def test_sites_returns_a_fresh_frame_each_call() -> None:
    first = gazetteer.sites()
    first.loc["mmuh", "capacity"] = -5.0
    first.loc["mmuh", "aliases"].append("changed")
    second = gazetteer.sites()
    assert second.loc["mmuh", "capacity"] == 736.0
    assert "changed" not in second.loc["mmuh", "aliases"]


def test_unknown_name_lists_available_names() -> None:
    with pytest.raises(ValueError, match=r"greater-icknield.*rutland") as info:
        gazetteer.sites("atlantis")
    assert "atlantis" in str(info.value)
    with pytest.raises(ValueError, match="unknown gazetteer"):
        gazetteer.sites("no/such/file.geojson")


def test_sites_from_a_path_of_the_same_shape() -> None:
    frame = gazetteer.sites(TWO_SITES)
    assert frame.index.tolist() == ["zeta-yard", "alpha-hall"]
    assert frame.loc["zeta-yard", "postcode"] == "LE15 6DR"
    assert frame.loc["zeta-yard", "homes"] == 12.0
    assert math.isnan(frame.loc["zeta-yard", "investment_gbp"])
    # Omitted optional properties take their defaults.
    assert frame.loc["alpha-hall", "capacity"] == 1.0
    assert frame.loc["alpha-hall", "aliases"] == ["Shared Alias"]
    assert frame.loc["alpha-hall", "tags"] == []
    assert frame.loc["alpha-hall", "status"] == ""
    assert frame.loc["alpha-hall", "footprint"] is None
    assert frame.loc["alpha-hall"].geometry.equals(shapely.Point(-0.73, 52.672))
    assert gazetteer.masterplan(str(TWO_SITES))["homes"] == 12


def test_packaged_file_by_path_equals_by_name(tmp_path: Path) -> None:
    copy = tmp_path / "copy.geojson"
    shutil.copy(gazetteer.SITES_DIR / "rutland.geojson", copy)
    by_path = gazetteer.sites(copy)
    by_name = gazetteer.sites("rutland")
    pd.testing.assert_frame_equal(
        by_path.drop(columns="footprint"), by_name.drop(columns="footprint")
    )
    assert by_path["footprint"].geom_equals(by_name["footprint"]).sum() == 3


def _edited(tmp_path: Path, edit: dict[str, object], *, feature: int = 1) -> Path:
    document = json.loads(TWO_SITES.read_text(encoding="utf-8"))
    target = document["features"][feature - 1]
    for key, value in edit.items():
        if key == "geometry":
            target["geometry"] = value
        else:
            target["properties"][key] = value
    path = tmp_path / "edited.geojson"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "feature", "expected"),
    [
        ({"category": "shop"}, 1, r"feature 1, property 'category': value 'shop', expected one of"),
        (
            {"asset_id": "zeta-yard"},
            2,
            r"feature 2, property 'asset_id'.*already used by feature 1",
        ),
        ({"name": "  "}, 2, r"feature 2, property 'name'.*non-empty string"),
        ({"capacity": -3}, 1, r"property 'capacity': value -3, expected a finite number >= 0"),
        ({"homes": "many"}, 1, r"property 'homes': value 'many'"),
        ({"aliases": "Yard"}, 1, r"property 'aliases'.*list of non-empty strings"),
        (
            {
                "footprint": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                }
            },
            1,
            r"property 'footprint'.*valid GeoJSON Polygon",
        ),
        (
            {"geometry": {"type": "Point", "coordinates": [52.67, 95.0]}},
            2,
            r"feature 2: point .* outside",
        ),
        (
            {"geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
            1,
            r"feature 1: geometry .*Point",
        ),
    ],
)
def test_bad_gazetteer_files_name_feature_property_and_expectation(
    tmp_path: Path, edit: dict[str, object], feature: int, expected: str
) -> None:
    path = _edited(tmp_path, edit, feature=feature)
    with pytest.raises(RegisterError, match=expected) as info:
        gazetteer.sites(path)
    assert str(path) in str(info.value)


def test_not_a_feature_collection(tmp_path: Path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text('{"type": "Feature"}', encoding="utf-8")
    with pytest.raises(RegisterError, match="FeatureCollection"):
        gazetteer.sites(path)
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(RegisterError, match="not a UTF-8 JSON document"):
        gazetteer.sites(path)


# --- match_names --------------------------------------------------------------------------------


def test_match_methods_and_scores() -> None:
    names = pd.Series(
        [
            "MMUH",
            "the Midland Met site",
            "Midland Metropolitan Univ Hospital",
            "icknield port lop",
            "Grove Lane & partners",
            "Smethwick Galton Bridge Station",
            "",
            None,
        ],
        index=[10, 20, 30, 40, 50, 60, 70, 80],
    )
    result = gazetteer.match_names(names)
    assert result.index.tolist() == names.index.tolist()
    assert list(result.columns) == ["site_id", "score", "method"]
    assert result["site_id"].tolist()[:6] == [
        "mmuh",
        "mmuh",
        "mmuh",
        "icknield-port-loop",
        pd.NA,
        "smethwick-galton-bridge-station",
    ]
    assert result["method"].tolist() == [
        "exact",
        "normalised",
        "fuzzy",
        "fuzzy",
        "",
        "normalised",
        "",
        "",
    ]
    assert result.loc[10, "score"] == 100.0
    assert result.loc[20, "score"] == 100.0
    assert 90.0 <= result.loc[30, "score"] < 100.0
    # Below the threshold: no site, but the best score is still reported.
    assert 0.0 < result.loc[50, "score"] < 90.0
    assert result.loc[70, "score"] == 0.0 and result.loc[80, "score"] == 0.0
    assert result["site_id"].isna().tolist() == [
        False,
        False,
        False,
        False,
        True,
        False,
        True,
        True,
    ]


def test_fuzzy_score_is_token_sort_ratio_of_normalised_names() -> None:
    from rapidfuzz import fuzz

    name = "Hospital Midland Metropolitan Univ"
    frame = gazetteer.sites()
    result = gazetteer.match_names(pd.Series([name]), gazetteer=frame)
    labels = pd.concat([frame["name"], frame["aliases"].explode().dropna()])
    normal = gazetteer.normalise_name(labels)
    scores = normal.map(
        lambda label: fuzz.token_sort_ratio("hospital midland metropolitan univ", label)
    )
    assert result.loc[0, "score"] == pytest.approx(scores.max())
    assert result.loc[0, "site_id"] == scores.idxmax() == "mmuh"
    # Word order does not matter to the scorer.
    assert (
        fuzz.token_sort_ratio("midland metropolitan hospital", "hospital metropolitan midland")
        == 100
    )


def test_threshold_decides_fuzzy_acceptance() -> None:
    names = pd.Series(["Grove Lane & partners"])
    strict = gazetteer.match_names(names, threshold=90)
    score = strict.loc[0, "score"]
    assert pd.isna(strict.loc[0, "site_id"])
    at_score = gazetteer.match_names(names, threshold=score)
    assert at_score.loc[0, "site_id"] == "grove-lane"
    assert at_score.loc[0, "method"] == "fuzzy"
    assert at_score.loc[0, "score"] == score
    with pytest.raises(ValueError, match="threshold"):
        gazetteer.match_names(names, threshold=120)


def test_match_against_rutland_and_a_frame() -> None:
    names = pd.Series(["Rutland Memorial Hospital", "catmose house", "Oakham railway station"])
    by_name = gazetteer.match_names(names, gazetteer="rutland")
    by_frame = gazetteer.match_names(names, gazetteer=gazetteer.sites("rutland"))
    pd.testing.assert_frame_equal(by_name, by_frame)
    assert by_name["site_id"].tolist() == [
        "rutland-memorial-hospital",
        "catmose-house",
        "oakham-station",
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ties_go_to_the_lowest_asset_id_whatever_the_order(seed: int) -> None:
    frame = gazetteer.sites(TWO_SITES)
    twins = pd.concat([frame, frame.loc[["zeta-yard"]].rename(index={"zeta-yard": "beta-yard"})])
    shuffled = twins.sample(frac=1.0, random_state=seed)
    names = pd.Series(["Shared Alias", "shared alias!", "Sharde Alias", "Zeta Yard", "zeta yard"])
    result = gazetteer.match_names(names, gazetteer=shuffled, threshold=80)
    # "Shared Alias" belongs to alpha-hall, zeta-yard and beta-yard; "Zeta Yard" to zeta and beta.
    assert result["site_id"].tolist() == [
        "alpha-hall",
        "alpha-hall",
        "alpha-hall",
        "beta-yard",
        "beta-yard",
    ]
    assert result["method"].tolist() == ["exact", "normalised", "fuzzy", "exact", "normalised"]


def test_match_does_not_modify_inputs() -> None:
    frame = gazetteer.sites(TWO_SITES)
    before = frame.copy()
    names = pd.Series(["Zeta Yard", None])
    names_before = names.copy()
    gazetteer.match_names(names, gazetteer=frame)
    pd.testing.assert_frame_equal(frame.drop(columns="footprint"), before.drop(columns="footprint"))
    pd.testing.assert_series_equal(names, names_before)


def test_normalise_name_rules() -> None:
    names = pd.Series(
        ["  The Grove-Lane  SITE ", "Smith & Sons", "St Mary’s Hall", "ＭＭＵＨ", None]
    )
    assert gazetteer.normalise_name(names).tolist() == [
        "grove lane",
        "smith and sons",
        "st marys hall",
        "mmuh",
        "",
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=12))
def test_match_names_is_aligned_and_bounded(values: list[str | None]) -> None:
    names = pd.Series(values, index=[f"row{i}" for i in range(len(values))], dtype=object)
    result = gazetteer.match_names(names, gazetteer=_rutland_sites())
    assert result.index.equals(names.index)
    assert result["score"].between(0.0, 100.0).all()
    matched = result["site_id"].notna()
    assert result.loc[matched, "method"].isin(["exact", "normalised", "fuzzy"]).all()
    assert (result.loc[~matched, "method"] == "").all()
    assert result.loc[matched, "score"].ge(90.0).all()


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_normalise_name_is_idempotent(text: str) -> None:
    once = gazetteer.normalise_name(pd.Series([text]))
    assert gazetteer.normalise_name(once).tolist() == once.tolist()


@pytest.mark.parametrize("name", ["greater-icknield", "rutland"])
def test_every_name_and_alias_matches_its_own_site(name: str) -> None:
    frame = gazetteer.sites(name)
    labels = pd.concat([frame["name"], frame["aliases"].explode().dropna()])
    result = gazetteer.match_names(pd.Series(labels.to_numpy()), gazetteer=frame)
    assert result["site_id"].tolist() == labels.index.tolist()
    assert (result["method"] == "exact").all()


# --- real data --------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize("name", ["greater-icknield", "rutland"])
def test_site_postcodes_exist_in_codepoint_near_the_site(name: str) -> None:
    """Each site's postcode is a live Code-Point Open unit within 1.5 km of the site point."""
    zip_path = real_data("codepoint_gb/codepo_gb.zip")
    frame = gazetteer.sites(name)
    with_postcode = frame[frame["postcode"] != ""]
    assert len(with_postcode) >= 2
    areas = sorted(with_postcode["postcode"].str.extract(r"^([A-Z]+)")[0].str.lower().unique())
    with zipfile.ZipFile(zip_path) as archive:
        directory = pd.concat(
            pd.read_csv(
                io.BytesIO(archive.read(f"Data/CSV/{area}.csv")),
                header=None,
                usecols=[0, 2, 3],
                names=["postcode", "easting", "northing"],
                dtype={"postcode": str},
            )
            for area in areas
        ).set_index("postcode")
    missing = sorted(set(with_postcode["postcode"]) - set(directory.index))
    assert not missing, f"postcodes not in Code-Point Open: {missing}"
    to_bng = Transformer.from_crs(4326, 27700, always_xy=True)
    east, north = to_bng.transform(
        with_postcode.geometry.x.to_numpy(), with_postcode.geometry.y.to_numpy()
    )
    unit = directory.loc[with_postcode["postcode"]]
    distance_m = np.hypot(unit["easting"].to_numpy() - east, unit["northing"].to_numpy() - north)
    too_far = with_postcode.index[distance_m > 1500].tolist()
    assert not too_far, dict(zip(with_postcode.index, distance_m.round(), strict=True))


def test_empty_gazetteer_loads_and_matches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    frame = gazetteer.sites(path)
    assert len(frame) == 0
    assert list(frame.columns) == [*EXPECTED_COLUMNS, "geometry"]
    assert frame.crs.to_epsg() == 4326
    result = gazetteer.match_names(pd.Series(["Midland Met"]), gazetteer=frame)
    assert pd.isna(result.loc[0, "site_id"]) and result.loc[0, "score"] == 0.0
