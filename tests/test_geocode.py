"""Tests of assetmap.geocode: the chain coordinates → postcode → gazetteer → online."""

from __future__ import annotations

import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from conftest import FIXTURES, ROOT, real_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_http import UA, FakeApi, Scripted, serve_fake_api

from assetmap import schema
from assetmap._errors import GeocodeError
from assetmap._http import HttpClient, Providers
from assetmap.cli import main
from assetmap.gazetteer import sites
from assetmap.geocode import UK_LAT, UK_LON, geocode, summary
from assetmap.postcodes import EXTRACT_PATH, PostcodeDirectory
from assetmap.registers import read_assets

SAMPLE = FIXTURES / "geocode" / "codepoint_sample.csv"
DEMO = ROOT / "data" / "demo"
TO_WGS84 = pyproj.Transformer.from_crs(27700, 4326, always_xy=True)
TO_BNG = pyproj.Transformer.from_crs(4326, 27700, always_xy=True)


@pytest.fixture(scope="module")
def directory() -> PostcodeDirectory:
    return PostcodeDirectory.from_path(SAMPLE)


@pytest.fixture(scope="module")
def icknield() -> gpd.GeoDataFrame:
    return sites("greater-icknield")


def assets(**columns: list[Any]) -> pd.DataFrame:
    """A register-like frame: text columns, ids a0.., source t.csv, lines from 2."""
    n = len(next(iter(columns.values())))
    index = pd.Index([f"a{i}" for i in range(n)], name="asset_id", dtype="str")
    frame = pd.DataFrame({k: pd.Series(v, index=index, dtype="str") for k, v in columns.items()})
    frame["source"] = "t.csv"
    frame["source_line"] = np.arange(2, n + 2)
    if "name" not in frame:
        frame["name"] = [f"Row {i}" for i in range(n)]
    return frame


def run(frame: pd.DataFrame, directory: PostcodeDirectory, **options: Any) -> schema.Register:
    options.setdefault("gazetteer", None)
    return geocode(frame, postcodes=directory, **options)


# --- 1. coordinates -----------------------------------------------------------------------------


def test_lat_lon_text_is_placed_at_full_precision(directory: PostcodeDirectory) -> None:
    out = run(assets(lat=[" 52.491243 "], lon=["-1.9498521"]), directory)
    placed = out.assets.loc["a0"]
    assert placed.geometry.x == -1.9498521
    assert placed.geometry.y == 52.491243
    assert placed["geocode_source"] == "coords"
    assert placed["geocode_quality"] == "lat_lon"
    assert placed["geocode_note"] == ""
    assert placed["lat"] == " 52.491243 "  # raw text kept as typed
    assert out.rejects.empty
    assert out.assets.crs == "EPSG:4326"


@pytest.mark.parametrize(
    ("lat", "lon", "reason", "column", "value"),
    [
        ("abc", "-1.9", "coord_not_numeric", "lat", "abc"),
        ("52.49", "1,9", "coord_not_numeric", "lon", "1,9"),
        ("nan", "-1.9", "coord_nan", "lat", "nan"),
        ("52.49", "inf", "coord_nan", "lon", "inf"),
        ("-Infinity", "-1.9", "coord_nan", "lat", "-Infinity"),
        ("1e999", "-1.9", "coord_nan", "lat", "1e999"),
        ("52.49", "", "coord_incomplete", "lon", ""),
        ("", "-1.9", "coord_incomplete", "lat", ""),
        ("52.49", "N/A", "coord_incomplete", "lon", ""),
        ("95", "-1.9", "coord_out_of_range", "lat", "95"),
        ("52.49", "-190", "coord_out_of_range", "lon", "-190"),
        ("-1.95", "52.49", "coord_swapped_lat_lon", "lat", "-1.95"),
        ("-0.636525", "52.67", "coord_swapped_lat_lon", "lat", "-0.636525"),
        ("0", "0", "coord_outside_uk", "lat", "0"),
        ("48.8566", "2.3522", "coord_outside_uk", "lat", "48.8566"),
        ("52.49", "-20.5", "coord_outside_uk", "lon", "-20.5"),
    ],
)
def test_each_lat_lon_rule(
    directory: PostcodeDirectory, lat: str, lon: str, reason: str, column: str, value: str
) -> None:
    out = run(assets(lat=[lat], lon=[lon]), directory)
    assert out.assets.empty
    reject = out.rejects.iloc[0]
    assert reject["reason_code"] == reason
    assert reject["column"] == column
    assert reject["value"] == value
    assert reject["message"].startswith("t.csv line 2: ")
    assert "expected" in reject["message"]


def test_swapped_pair_is_rejected_not_swapped(directory: PostcodeDirectory) -> None:
    out = run(assets(lat=["-1.9499"], lon=["52.4912"]), directory)
    assert out.assets.empty
    assert "rejected rather than swapped silently" in out.rejects["message"].iloc[0]


@pytest.mark.parametrize(
    ("easting", "northing", "reason", "column"),
    [
        ("800000", "288149", "coord_out_of_range", "easting"),
        ("-5", "288149", "coord_out_of_range", "easting"),
        ("403502", "1300001", "coord_out_of_range", "northing"),
        ("0", "0", "coord_out_of_range", "easting"),
        ("403,502", "288149", "coord_not_numeric", "easting"),
        ("403502", "NaN", "coord_nan", "northing"),
        ("403502", "", "coord_incomplete", "northing"),
        ("1", "1", "coord_outside_uk", "northing"),
        ("699999", "1000", "coord_outside_uk", "easting"),
    ],
)
def test_each_bng_rule(
    directory: PostcodeDirectory, easting: str, northing: str, reason: str, column: str
) -> None:
    out = run(assets(easting=[easting], northing=[northing]), directory)
    assert out.assets.empty
    assert out.rejects["reason_code"].iloc[0] == reason
    assert out.rejects["column"].iloc[0] == column


def test_bng_is_converted_like_pyproj(directory: PostcodeDirectory) -> None:
    east = [403502.0, 394235.0, 90000.0, 655000.0, 530000.5, 446000.0]
    north = [288149.0, 806529.0, 10000.0, 305000.0, 180000.25, 1220000.0]
    out = run(assets(easting=[f"{e}" for e in east], northing=[f"{n}" for n in north]), directory)
    assert len(out.assets) == 6
    x, y = TO_WGS84.transform(east, north)
    np.testing.assert_allclose(out.assets.geometry.x, x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.assets.geometry.y, y, rtol=0, atol=1e-12)
    assert set(out.assets["geocode_quality"]) == {"easting_northing"}
    # spot check from the data README: B66 2QT is about lat 52.4912, lon -1.9499
    assert out.assets.geometry.iloc[0].y == pytest.approx(52.4912, abs=1e-4)
    assert out.assets.geometry.iloc[0].x == pytest.approx(-1.9499, abs=1e-4)


def test_null_tokens_mean_no_coordinates(directory: PostcodeDirectory) -> None:
    tokens = ["NA", "n/a", "null", "None", "-", "#N/A", "  "]
    out = run(assets(lat=tokens, lon=tokens, easting=tokens, northing=tokens), directory)
    assert set(out.rejects["reason_code"]) == {"no_location"}


def test_lat_lon_win_over_bng_and_bad_lat_lon_falls_back_to_bng(
    directory: PostcodeDirectory,
) -> None:
    out = run(
        assets(
            lat=["52.5", "95"],
            lon=["-1.9", "-1.9"],
            easting=["403502", "403502"],
            northing=["288149", "288149"],
        ),
        directory,
    )
    assert out.assets.loc["a0", "geocode_quality"] == "lat_lon"
    assert out.assets.loc["a1", "geocode_quality"] == "easting_northing"


def test_numeric_columns_work_too(directory: PostcodeDirectory) -> None:
    frame = assets(name=["a", "b", "c"])
    frame["lat"] = [52.49, np.nan, np.inf]
    frame["lon"] = [-1.95, np.nan, -1.9]
    out = run(frame, directory)
    assert list(out.assets.index) == ["a0"]
    reasons = dict(zip(out.rejects["asset_id"], out.rejects["reason_code"], strict=True))
    assert reasons == {"a1": "no_location", "a2": "coord_nan"}


def test_geometry_rows_are_placed_from_geometry(directory: PostcodeDirectory) -> None:
    frame = gpd.GeoDataFrame(
        assets(name=["in", "origin", "none", "polygon"]),
        geometry=[
            shapely.Point(403502, 288149),
            shapely.Point(0, 0),
            None,
            shapely.box(403000, 288000, 403100, 288100),
        ],
        crs="EPSG:27700",
    )
    out = run(frame, directory)
    assert list(out.assets.index) == ["a0", "a3"]
    assert (out.assets["geocode_note"] == "from_geometry").all()
    assert (out.assets["geocode_quality"] == "geometry").all()
    x, y = TO_WGS84.transform(403502, 288149)
    assert out.assets.geometry.iloc[0].x == pytest.approx(x, abs=1e-9)
    assert out.assets.geometry.iloc[0].y == pytest.approx(y, abs=1e-9)
    assert out.assets.geometry.iloc[1].geom_type == "Point"
    reasons = dict(zip(out.rejects["asset_id"], out.rejects["reason_code"], strict=True))
    assert reasons == {"a1": "coord_outside_uk", "a2": "no_location"}
    assert out.rejects.set_index("asset_id").loc["a1", "column"] == "geometry"


def test_geometry_without_crs_is_an_error(directory: PostcodeDirectory) -> None:
    frame = gpd.GeoDataFrame(assets(name=["x"]), geometry=[shapely.Point(-1.9, 52.5)])
    with pytest.raises(GeocodeError, match="no CRS"):
        run(frame, directory)


def test_never_a_point_at_zero_zero(directory: PostcodeDirectory) -> None:
    out = run(
        assets(
            lat=["0", "0.0", "", "52.5"],
            lon=["0", "-0", "", "-1.9"],
            easting=["", "", "0", ""],
            northing=["", "", "0", ""],
        ),
        directory,
    )
    assert list(out.assets.index) == ["a3"]
    assert len(out.rejects) == 3


# --- 2. postcodes -------------------------------------------------------------------------------


def test_postcode_placement_uses_the_directory(directory: PostcodeDirectory) -> None:
    out = run(assets(postcode=["B66 2QT", " b662qt ", "B1 2AY"]), directory)
    assert list(out.assets["geocode_source"]) == ["postcode"] * 3
    assert list(out.assets["geocode_quality"]) == ["10", "10", "50"]
    x, y = TO_WGS84.transform(403502, 288149)
    assert out.assets.geometry.iloc[0].x == pytest.approx(x, abs=1e-9)
    assert out.assets.geometry.iloc[1].y == pytest.approx(y, abs=1e-9)
    assert out.assets["postcode"].iloc[1] == " b662qt "  # the column is left as typed


@pytest.mark.parametrize(
    ("postcode", "reason", "words"),
    [
        ("B66 2QQX", "postcode_malformed", "is not a valid UK postcode (expected e.g. 'B66 2QT')"),
        ("B66 9ZZ", "postcode_not_found", "is a valid postcode but is not in"),
        ("BT1 1AA", "postcode_outside_coverage", "coverage (GB)"),
        ("AB43 1AJ", "postcode_no_coordinates", "has no grid reference"),
    ],
)
def test_postcode_failures_have_their_own_reasons(
    directory: PostcodeDirectory, postcode: str, reason: str, words: str
) -> None:
    out = run(assets(postcode=[postcode]), directory)
    assert out.assets.empty
    reject = out.rejects.iloc[0]
    assert reject["reason_code"] == reason
    assert reject["column"] == "postcode"
    assert reject["value"] == postcode
    assert reject["message"].startswith(f"t.csv line 2: postcode {postcode!r} ")
    assert words in reject["message"]


def test_coordinates_and_postcode_1km_apart_get_a_note(directory: PostcodeDirectory) -> None:
    # B66 2QT is at BNG 403502, 288149; put coordinates 1432 m east and 600 m north of it
    far_x, far_y = TO_WGS84.transform(403502 + 1432, 288149)
    near_x, near_y = TO_WGS84.transform(403502, 288149 + 600)
    out = run(
        assets(
            postcode=["B66 2QT", "B66 2QT"],
            lat=[f"{far_y:.9f}", f"{near_y:.9f}"],
            lon=[f"{far_x:.9f}", f"{near_x:.9f}"],
        ),
        directory,
    )
    assert list(out.assets["geocode_note"]) == ["coords_postcode_disagree:1432m", ""]
    assert list(out.assets["geocode_source"]) == ["coords", "coords"]
    assert out.assets.geometry.iloc[0].x == pytest.approx(far_x, abs=1e-9)  # coordinates win
    tighter = run(
        assets(postcode=["B66 2QT"], lat=[f"{near_y:.9f}"], lon=[f"{near_x:.9f}"]),
        directory,
        disagree_m=500,
    )
    assert tighter.assets["geocode_note"].iloc[0] == "coords_postcode_disagree:600m"


def test_bad_coordinates_with_a_good_postcode_are_placed_by_postcode(
    directory: PostcodeDirectory,
) -> None:
    out = run(assets(postcode=["B66 3LX"], lat=["-1.957"], lon=["52.49"]), directory)
    placed = out.assets.iloc[0]
    assert placed["geocode_source"] == "postcode"
    assert placed["geocode_note"] == "coord_swapped_lat_lon; placed by postcode"


def test_bad_coordinates_and_bad_postcode_report_the_postcode_and_mention_both(
    directory: PostcodeDirectory,
) -> None:
    out = run(assets(postcode=["B66 9ZZ"], lat=["95"], lon=["-1.9"]), directory)
    reject = out.rejects.iloc[0]
    assert reject["reason_code"] == "postcode_not_found"
    assert "also (lat 95, lon -1.9) is outside latitude -90..90" in reject["message"]


def test_good_coordinates_with_a_bad_postcode_are_kept_with_a_note(
    directory: PostcodeDirectory,
) -> None:
    out = run(assets(postcode=["B66 2QQX"], lat=["52.49"], lon=["-1.95"]), directory)
    assert out.assets["geocode_note"].iloc[0] == "postcode_malformed"


def test_directory_only_opened_when_a_postcode_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> None:
        raise AssertionError("the directory was opened")

    monkeypatch.setattr(PostcodeDirectory, "default", boom)
    out = geocode(assets(lat=["52.5"], lon=["-1.9"], postcode=[""]), gazetteer=None)
    assert len(out.assets) == 1


def test_postcodes_accepts_a_path(tmp_path: Path) -> None:
    out = geocode(assets(postcode=["B66 2QT"]), postcodes=SAMPLE, gazetteer=None)
    assert out.assets["geocode_source"].iloc[0] == "postcode"
    with pytest.raises(GeocodeError, match="neither a PostcodeDirectory nor a path"):
        geocode(assets(postcode=["B66 2QT"]), postcodes=42, gazetteer=None)


# --- 3. gazetteer -------------------------------------------------------------------------------


def test_gazetteer_places_a_site_name(
    directory: PostcodeDirectory, icknield: gpd.GeoDataFrame
) -> None:
    out = geocode(
        assets(name=["Midland Met Hospital", "Midland Metropolitan Univ Hospital", "Nowhere"]),
        postcodes=directory,
        gazetteer="greater-icknield",
    )
    assert list(out.assets.index) == ["a0", "a1"]
    site = icknield.loc["mmuh"].geometry
    assert out.assets.geometry.iloc[0].equals(site)
    assert list(out.assets["geocode_source"]) == ["gazetteer", "gazetteer"]
    assert out.assets["geocode_quality"].iloc[0] == "exact:100"
    assert out.assets["geocode_quality"].iloc[1].startswith("fuzzy:")
    assert out.assets["geocode_note"].iloc[0] == "site:mmuh"
    assert out.rejects["reason_code"].iloc[0] == "no_location"


def test_gazetteer_after_a_failed_postcode_notes_it(
    directory: PostcodeDirectory, icknield: gpd.GeoDataFrame
) -> None:
    out = geocode(
        assets(name=["MMUH"], postcode=["B66 9ZZ"]), postcodes=directory, gazetteer=icknield
    )
    assert (
        out.assets["geocode_note"].iloc[0] == "site:mmuh; postcode_not_found; placed by gazetteer"
    )


def test_gazetteer_threshold_and_personal_rows(
    directory: PostcodeDirectory, icknield: gpd.GeoDataFrame
) -> None:
    frame = assets(name=["Midland Metropolitan Univ Hospital", "Midland Met Hospital"])
    frame["personal"] = [False, True]
    strict = geocode(frame, postcodes=directory, gazetteer=icknield, fuzzy_threshold=99)
    assert strict.assets.empty  # a0 below the threshold, a1 personal: never matched by name
    assert list(strict.rejects["reason_code"]) == ["no_location", "no_location"]


def test_personal_as_text_is_read_cautiously(
    directory: PostcodeDirectory, icknield: gpd.GeoDataFrame
) -> None:
    frame = assets(name=["MMUH"] * 5, personal=["false", "No", "", "TRUE", "maybe"])
    out = geocode(frame, postcodes=directory, gazetteer=icknield)
    assert list(out.assets.index) == ["a0", "a1", "a2"]
    assert list(out.rejects["asset_id"]) == ["a3", "a4"]


# --- accounting and contract --------------------------------------------------------------------


NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=49.0, max_value=61.0).map(lambda v: f"{v:.6f}"),
    st.floats(min_value=-9.0, max_value=2.0).map(lambda v: f" {v:.6f}"),
    st.integers(min_value=-10, max_value=1_400_000).map(str),
    st.sampled_from(["", "NA", "abc", "0", "nan", "-inf", "1e999", "  "]),
    st.text(max_size=6),
)
POSTCODE_TEXT = st.one_of(
    st.sampled_from(["B66 2QT", "b662qt", "B1 2AY", "B66 9ZZ", "BT1 1AA", "AB43 1AJ", ""]),
    st.text(max_size=9),
)
COLUMNS = ("lat", "lon", "easting", "northing", "postcode", "name")
ROW = st.fixed_dictionaries(
    {
        "lat": NUMBER_TEXT,
        "lon": NUMBER_TEXT,
        "easting": NUMBER_TEXT,
        "northing": NUMBER_TEXT,
        "postcode": POSTCODE_TEXT,
        "name": st.sampled_from(["Midland Met Hospital", "Windmill Eye", "x", ""]),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, min_size=0, max_size=8))
def test_every_row_is_placed_in_the_uk_or_rejected(
    rows: list[dict[str, str]], directory: PostcodeDirectory, icknield: gpd.GeoDataFrame
) -> None:
    columns = {k: [r[k] for r in rows] for k in COLUMNS} if rows else {"name": []}
    frame = assets(**columns)
    before = frame.copy()
    out = geocode(frame, postcodes=directory, gazetteer=icknield)
    pd.testing.assert_frame_equal(frame, before)
    assert out.rows_in == len(frame)
    assert len(out.assets) + len(out.rejects) == len(frame)
    assert set(out.assets.index).isdisjoint(set(out.rejects["asset_id"]))
    assert set(out.assets.index) | set(out.rejects["asset_id"]) == set(frame.index)
    assert all(schema.is_reason_code(c) for c in out.rejects["reason_code"])
    x, y = out.assets.geometry.x.to_numpy(), out.assets.geometry.y.to_numpy()
    assert np.isfinite(x).all() and np.isfinite(y).all()
    assert ((x >= UK_LON[0]) & (x <= UK_LON[1]) & (y >= UK_LAT[0]) & (y <= UK_LAT[1])).all()
    assert not ((x == 0) & (y == 0)).any()


def test_output_columns_and_input_untouched(directory: PostcodeDirectory) -> None:
    frame = assets(postcode=["B66 2QT", ""], lat=["", "52.5"], lon=["", "-1.9"])
    frame["geocode_note"] = "stale"
    before = frame.copy()
    out = run(frame, directory)
    pd.testing.assert_frame_equal(frame, before)
    expected = [c for c in frame.columns if c != "geocode_note"]
    assert list(out.assets.columns) == [
        *expected,
        "geocode_source",
        "geocode_quality",
        "geocode_note",
        "geometry",
    ]
    assert list(out.assets["geocode_note"]) == ["", ""]


def test_bad_inputs_are_errors(directory: PostcodeDirectory) -> None:
    frame = assets(postcode=["B66 2QT", "B66 2QT"])
    frame.index = pd.Index(["x", "x"], name="asset_id")
    with pytest.raises(GeocodeError, match="duplicate asset_id 'x'"):
        run(frame, directory)
    register = schema.Register(assets=gpd.GeoDataFrame(), rejects=schema.empty_rejects(), rows_in=0)
    with pytest.raises(GeocodeError, match="not a Register"):
        geocode(register)  # type: ignore[arg-type]
    with pytest.raises(GeocodeError, match="disagree_m"):
        run(assets(postcode=["B66 2QT"]), directory, disagree_m=-1)


def test_empty_input_gives_an_empty_register(directory: PostcodeDirectory) -> None:
    out = run(assets(name=[]), directory)
    assert out.rows_in == 0
    assert out.assets.empty and out.rejects.empty


def test_summary_counts_by_source_and_reason(directory: PostcodeDirectory) -> None:
    out = run(
        assets(postcode=["B66 2QT", "", "B66 9ZZ"], lat=["", "52.5", ""], lon=["", "-1.9", ""]),
        directory,
    )
    assert summary(out) == (
        "rows in: 3\nplaced: 2 (coords 1, postcode 1)\nrejected: 1 (postcode_not_found 1)"
    )


def test_offline_geocode_never_touches_a_socket(
    monkeypatch: pytest.MonkeyPatch, directory: PostcodeDirectory, icknield: gpd.GeoDataFrame
) -> None:
    touched: list[object] = []

    def guard(*args: object, **kwargs: object) -> None:
        touched.append(args)
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket, "create_connection", guard)
    frame = assets(
        name=["Midland Met Hospital", "Unknown place", "x"],
        postcode=["", "B66 9ZZ", "BT1 1AA"],
    )
    out = geocode(frame, postcodes=directory, gazetteer=icknield, online=False)
    assert len(out.assets) == 1
    assert touched == []


# --- 4. online (local server) -------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        yield fake


def _providers(api: FakeApi, tmp_path: Path, **options: Any) -> Providers:
    def client(**extra: Any) -> HttpClient:
        return HttpClient(user_agent=UA, cache_path=tmp_path / "http.sqlite", timeout_s=2, **extra)

    return Providers(
        postcodes_io=client(backoff_s=0.01, retries=1),
        nominatim=client(min_interval_s=0.01, backoff_s=0.01, retries=1),
        postcodes_io_url=api.url,
        nominatim_url=api.url,
        **options,
    )


def test_online_places_what_offline_cannot(
    api: FakeApi, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    api.postcodes = {
        "B66 9ZZ": {"latitude": 52.4921, "longitude": -1.9512, "quality": 1},
        "BT1 1AA": {"latitude": 54.5973, "longitude": -5.9301, "quality": 1},
    }
    api.places = {
        "Soho Road Library, 1 Soho Road": [
            {"lat": "52.5029", "lon": "-1.9301", "place_rank": 30, "category": "amenity"}
        ]
    }
    frame = assets(
        name=["A", "B", "Soho Road Library", "Resident", "Nowhere Special", "C"],
        postcode=["B66 9ZZ", "BT1 1AA", "", "B66 8ZZ", "", "B66 2QT"],
    )
    frame["address"] = ["", "", "1 Soho Road", "", "", ""]
    frame["personal"] = [False, False, False, True, False, False]
    out = geocode(
        frame, postcodes=directory, gazetteer=None, online=True, providers=_providers(api, tmp_path)
    )
    source = out.assets["geocode_source"].to_dict()
    assert source == {
        "a0": "postcodes.io",
        "a1": "postcodes.io",
        "a2": "nominatim",
        "a5": "postcode",
    }
    assert out.assets.loc["a0"].geometry.y == pytest.approx(52.4921)
    assert out.assets.loc["a0", "geocode_note"] == "postcode_not_found; placed by postcodes.io"
    assert out.assets.loc["a2", "geocode_quality"] == "place_rank:30"
    reasons = dict(zip(out.rejects["asset_id"], out.rejects["reason_code"], strict=True))
    assert reasons == {"a3": "postcode_not_found", "a4": "online_not_found"}
    # the personal row's postcode and name never left the machine
    sent = " ".join(str(r["body"]) + str(r["query"]) for r in api.log)
    assert "B66 8ZZ" not in sent and "Resident" not in sent
    assert [p["body"]["postcodes"] for p in api.posts()] == [["B66 9ZZ", "BT1 1AA"]]


def test_online_failure_rejects_with_online_failed(
    api: FakeApi, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    api.script = [Scripted(status=503) for _ in range(4)]
    frame = assets(name=["Somewhere", "Elsewhere"], postcode=["", "B66 9ZZ"])
    out = geocode(
        frame, postcodes=directory, gazetteer=None, online=True, providers=_providers(api, tmp_path)
    )
    reasons = dict(zip(out.rejects["asset_id"], out.rejects["reason_code"], strict=True))
    assert reasons == {"a0": "online_failed", "a1": "postcode_not_found"}
    message = out.rejects.set_index("asset_id").loc["a1", "message"]
    assert "also POST" in message and "gave up after 2 attempts: HTTP 503" in message


def test_online_refuses_bulk_nominatim_and_needs_a_user_agent(
    api: FakeApi, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    frame = assets(name=[f"Place {i}" for i in range(4)])
    with pytest.raises(GeocodeError, match="bulk geocoding"):
        geocode(
            frame,
            postcodes=directory,
            gazetteer=None,
            online=True,
            providers=_providers(api, tmp_path, nominatim_max_queries=3),
        )
    assert api.log == []
    with pytest.raises(GeocodeError, match="does not identify you"):
        geocode(frame, postcodes=directory, gazetteer=None, online=True)


# --- demo registers and the real Code-Point Open ------------------------------------------------


def _demo_files() -> list[Path]:
    files = sorted(p for p in DEMO.glob("*.csv") if p.name != "expected_rejects.csv")
    if not files:
        pytest.skip("data/demo registers not present")
    return files


def test_demo_registers_are_fully_accounted_for() -> None:
    extract = PostcodeDirectory.from_path(EXTRACT_PATH)
    expected = pd.read_csv(DEMO / "expected_rejects.csv", dtype=str, keep_default_na=False)
    geocode_reasons = {
        "postcode_malformed",
        "postcode_not_found",
        "coord_swapped_lat_lon",
        "coord_out_of_range",
    }
    expected = expected[expected["reason_code"].isin(geocode_reasons)]
    found = []
    for path in _demo_files():
        register = read_assets(path, kind="micro")
        gazetteer = "rutland" if path.name.startswith("rutland") else "greater-icknield"
        out = geocode(register.assets, postcodes=extract, gazetteer=gazetteer)
        assert out.rows_in == len(register.assets)
        assert len(out.assets) + len(out.rejects) + len(register.rejects) == register.rows_in
        assert out.assets.geometry.notna().all()
        rejects = out.rejects.assign(source=out.rejects["source"].map(lambda s: Path(s).name))
        found.append(rejects)
    got = pd.concat(found)[list(expected.columns)].astype(str)
    key = ["source", "source_line"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
    )


@pytest.mark.data
def test_real_codepoint_sample_from_every_area_is_placed() -> None:
    path = real_data("codepoint_gb/codepo_gb.zip")
    rng = np.random.default_rng(7)
    parts = []
    with zipfile.ZipFile(path) as archive:
        areas = [n for n in archive.namelist() if n.startswith("Data/CSV/") and n.endswith(".csv")]
        assert len(areas) == 120
        for name in areas:
            with archive.open(name) as fh:
                table = pd.read_csv(fh, header=None, usecols=[0, 1, 2, 3], dtype={0: str})
            table = table[table[1] < 90]
            parts.append(table.iloc[rng.choice(len(table), size=min(9, len(table)), replace=False)])
    sample = pd.concat(parts, ignore_index=True)
    assert 1000 <= len(sample) <= 1100
    typed = sample[0].where(sample.index % 2 == 0, sample[0].str.lower().str.replace(" ", ""))
    frame = assets(postcode=list(typed))
    directory = PostcodeDirectory.from_path(path)
    out = geocode(frame, postcodes=directory, gazetteer=None)
    assert out.rejects.empty, out.rejects.head()
    assert (out.assets["geocode_source"] == "postcode").all()
    x, y = TO_WGS84.transform(sample[2].to_numpy(float), sample[3].to_numpy(float))
    np.testing.assert_allclose(out.assets.geometry.x, x, atol=1e-9)
    np.testing.assert_allclose(out.assets.geometry.y, y, atol=1e-9)
    assert list(out.assets["geocode_quality"]) == list(sample[1].astype(str))
    # the UK extent check never rejects a real GB postcode: every located one lies inside it
    located = directory.to_frame().query("status == 'ok'")
    assert len(located) > 1_740_000
    assert located["lon"].between(*UK_LON).all() and located["lat"].between(*UK_LAT).all()


# --- CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def demo_se() -> Iterator[Path]:
    path = DEMO / "social_enterprises.csv"
    if not path.exists():
        pytest.skip("data/demo registers not present")
    yield path


def test_cli_writes_assets_and_combined_rejects(
    tmp_path: Path, demo_se: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "se.geojson"
    code = main(["geocode", str(demo_se), "-o", str(output), "--postcodes", str(EXTRACT_PATH)])
    assert code == 0
    written = gpd.read_file(output)
    assert len(written) == 120
    assert written.crs.to_epsg() == 4326
    assert set(written["geocode_source"]) == {"coords", "postcode"}
    rejects = pd.read_csv(tmp_path / "se.rejects.csv", dtype=str, keep_default_na=False)
    assert len(rejects) == 8  # 4 from reading, 4 from geocoding
    assert list(rejects["source_line"].astype(int)) == sorted(rejects["source_line"].astype(int))
    shown = capsys.readouterr().out
    assert "input: " in shown and "(128 data rows)" in shown
    assert "placed: 120 (coords 41, postcode 79)" in shown
    assert "rejected: 4 (" in shown


def test_cli_withholds_personal_rows_unless_asked(tmp_path: Path) -> None:
    path = DEMO / "community_researchers.csv"
    if not path.exists():
        pytest.skip("data/demo registers not present")
    common = ["geocode", str(path), "--postcodes", str(EXTRACT_PATH)]
    assert main([*common, "-o", str(tmp_path / "a.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "a.csv")) == 0
    assert main([*common, "-o", str(tmp_path / "b.csv"), "--include-personal"]) == 0
    written = pd.read_csv(tmp_path / "b.csv", dtype=str, keep_default_na=False)
    assert len(written) == 85
    assert written["geometry"].str.startswith("POINT").all()
    assert written["tags"].str.contains(";").any()  # lists written as ;-joined text


def test_cli_columns_mapping_and_excel_safe_rejects(tmp_path: Path) -> None:
    register = tmp_path / "groups.csv"
    register.write_text(
        "Organisation,Post Code,category\n"
        "Grove Lane Food Bank,B66 2QT,social_enterprise\n"
        'Formula Club,"=HYPERLINK(""x"")",social_enterprise\n',
        encoding="utf-8",
    )
    output = tmp_path / "out.parquet"
    rejects = tmp_path / "fix.csv"
    code = main(
        [
            "geocode",
            str(register),
            "-o",
            str(output),
            "--columns",
            "Organisation=name, Post Code=postcode",
            "--rejects",
            str(rejects),
            "--postcodes",
            str(SAMPLE),
            "--gazetteer",
            "none",
        ]
    )
    assert code == 0
    placed = gpd.read_parquet(output)
    assert list(placed["name"]) == ["Grove Lane Food Bank"]
    table = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert table["reason_code"].tolist() == ["postcode_malformed"]
    assert table["value"].iloc[0] == '\'=HYPERLINK("x")'


def test_cli_exit_codes_and_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geocode", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.geojson")]) == 2
    register = tmp_path / "r.csv"
    register.write_text("name,category,postcode\nA,social_enterprise,B66 2QT\n", encoding="utf-8")
    assert main(["geocode", str(register), "-o", str(tmp_path / "o.shp")]) == 2
    assert main(["geocode", str(register), "-o", str(tmp_path / "o.gpkg"), "--online"]) == 2
    with pytest.raises(SystemExit) as exited:
        main(["geocode", "--help"])
    assert exited.value.code == 0
    assert "examples:" in capsys.readouterr().out
