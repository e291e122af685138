"""Tests for assetmap.postcodes: normalising, BS 7666, and the offline postcode directory."""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import FIXTURES, real_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from assetmap import postcodes
from assetmap._errors import DataError, GeocodeError
from assetmap.postcodes import (
    BS7666_PATTERN,
    STATUSES,
    PostcodeDirectory,
    is_valid_postcode,
    normalise_postcode,
    postcode_parts,
)

HERE = FIXTURES / "postcodes"
CODEPOINT_CSV = HERE / "codepoint_sample.csv"
ONSPD_HAND_BUILT = HERE / "onspd_hand_built.csv"
BS7666 = re.compile(BS7666_PATTERN)
HEADERS = (
    "PC,PQ,EA,NO,CY,RH,LH,CC,DC,WC\n"
    "Postcode,Positional_quality_indicator,Eastings,Northings,Country_code,"
    "NHS_regional_HA_code,NHS_HA_code,Admin_county_code,Admin_district_code,Admin_ward_code\n"
)
LICENCE = (
    "ORDNANCE SURVEY DATA LICENCE\r\n\r\n"
    "Contains Ordnance Survey data \xa9 Crown copyright and database right 2025.\r\n\r\n"
    "Contains Royal Mail data \xa9 Royal Mail copyright and database right 2025.\r\n"
)
TO_WGS84 = Transformer.from_crs(27700, 4326, always_xy=True)


# --------------------------------------------------------------------------- normalising


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("B66 2QT", "B66 2QT"),
        ("b662qt", "B66 2QT"),
        ("B66  2QT", "B66 2QT"),
        (" b66 2qt ", "B66 2QT"),
        ("B66\u00a02QT", "B66 2QT"),  # no-break space
        ("B66\u200b 2QT", "B66 2QT"),  # zero-width space
        ("\ufeffB66 2QT", "B66 2QT"),  # byte-order mark from Excel
        ("B66\u20602QT", "B66 2QT"),  # word joiner
        ("B66\t2QT\r\n", "B66 2QT"),
        ("B\u202f66 2\u3000QT", "B66 2QT"),  # narrow no-break and ideographic spaces
        ("\uff22\uff16\uff16\uff12\uff31\uff34", "B66 2QT"),  # full-width, folded by NFKC
        ("GIR0AA", "GIR 0AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("m1 1ad", "M1 1AD"),
        ("B66 2QQX", "B662 QQX"),  # not a postcode, but normalised the same way
        ("AB", "AB"),
        ("", ""),
        ("   ", ""),
        ("\u200b", ""),
    ],
)
def test_normalise_examples(raw: str, expected: str) -> None:
    assert normalise_postcode(raw) == expected
    assert normalise_postcode(pd.Series([raw])).tolist() == [expected]


def test_normalise_series_keeps_index_name_and_gives_str_dtype() -> None:
    values = pd.Series(["b662qt", None, np.nan, "m1  1ad"], index=[10, 20, 30, 40], name="pc")
    out = normalise_postcode(values)
    assert out.tolist() == ["B66 2QT", "", "", "M1 1AD"]
    assert out.index.tolist() == [10, 20, 30, 40]
    assert out.name == "pc"
    assert out.dtype == pd.Series(["x"]).dtype
    assert values.tolist()[0] == "b662qt"  # the input is untouched


def test_normalise_sequences_objects_and_numbers() -> None:
    assert normalise_postcode(["b1 1aa", "le156aa"]).tolist() == ["B1 1AA", "LE15 6AA"]
    mixed = pd.Series(["b1 1aa", 1234, None], dtype=object)
    assert normalise_postcode(mixed).tolist() == ["B1 1AA", "1 234", ""]
    assert normalise_postcode(pd.Series(["b1 1aa"], dtype="category")).tolist() == ["B1 1AA"]
    assert normalise_postcode(pd.Series([], dtype="str")).tolist() == []


def test_normalise_mixes_ascii_and_unicode_rows_in_order() -> None:
    values = ["b1 1aa", "B66\u00a02qt", "m11aa", "\u200bsw1a 1aa", "le15 6aa"]
    assert normalise_postcode(values).tolist() == [
        "B1 1AA",
        "B66 2QT",
        "M1 1AA",
        "SW1A 1AA",
        "LE15 6AA",
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=14), max_size=20))
def test_normalise_is_idempotent(values: list[str]) -> None:
    once = normalise_postcode(values)
    assert normalise_postcode(once).tolist() == once.tolist()
    assert [normalise_postcode(v) for v in values[:3]] == once.tolist()[:3]


_digit = st.sampled_from("0123456789")
_first = st.sampled_from("ABCDEFGHIJKLMNOPRSTUWYZ")
_second = st.sampled_from("ABCDEFGHKLMNOPQRSTUVWXY")
_outward = st.one_of(
    st.tuples(_first, _digit),  # A9
    st.tuples(_first, _digit, _digit),  # A99
    st.tuples(_first, _digit, st.sampled_from("ABCDEFGHJKPSTUW")),  # A9A
    st.tuples(_first, _second, _digit),  # AA9
    st.tuples(_first, _second, _digit, _digit),  # AA99
    st.tuples(_first, _second, _digit, st.sampled_from("ABEHMNPRVWXY")),  # AA9A
).map("".join)
_inward = st.tuples(_digit, *[st.sampled_from("ABDEFGHJLNPQRSTUWXYZ")] * 2).map("".join)
_noise = st.sampled_from(["", " ", "  ", "\u00a0", "\u200b", "\t", "\ufeff", "\u2060"])


@st.composite
def messy_postcodes(draw: st.DrawFn) -> tuple[str, str]:
    """A valid postcode (canonical form) and a messy rendering of it."""
    canonical = f"{draw(_outward)} {draw(_inward)}"
    chars = [c if draw(st.booleans()) else c.lower() for c in canonical.replace(" ", "")]
    messy = "".join(draw(_noise) + c for c in chars) + draw(_noise)
    return canonical, messy


@settings(max_examples=200, deadline=None)
@given(messy_postcodes())
def test_valid_postcode_normalises_to_one_space_before_inward_code(pair: tuple[str, str]) -> None:
    canonical, messy = pair
    assert BS7666.match(canonical)
    out = normalise_postcode(messy)
    assert out == canonical
    assert out.count(" ") == 1
    _outward, inward = out.split(" ")
    assert len(inward) == 3 and inward[0].isdigit()
    assert is_valid_postcode(pd.Series([out])).tolist() == [True]


_tricky = st.sampled_from(
    list("aB1 \t\n\u00a0\u200b\ufeff\u2060\u202f\u3000\u1680\u180e\u00ad\u0308¨ﬁßİé\uff22")
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.one_of(_tricky, st.characters(exclude_categories=["Cs"])), max_size=12),
        max_size=12,
    )
)
def test_byte_path_matches_the_unicode_path(values: list[str]) -> None:
    """Rows done on bytes get exactly what the Unicode kernels would give them."""
    array = pa.array(values, type=pa.large_string())
    assert (
        postcodes._normalise_arrow(array).to_pylist()
        == postcodes._normalise_unicode(array).to_pylist()
    )


def test_lone_surrogates_do_not_break_normalising() -> None:
    assert normalise_postcode("b66\ud8002qt") == "B66? 2QT"
    values = pd.Series(["\udcff", "b1 1aa"], dtype=object)  # pandas cannot hold them as str
    assert normalise_postcode(values).tolist() == ["?", "B1 1AA"]


def test_sliced_arrow_arrays_are_read_from_their_offset() -> None:
    array = pa.array(["x", "b1\u00a01aa", "m11aa", "é1 1aa", "y"], type=pa.large_string())
    assert postcodes._normalise_arrow(array.slice(1, 3)).to_pylist() == [
        "B1 1AA",
        "M1 1AA",
        "É1 1AA",
    ]
    keys, valid, _ = postcodes._postcode_keys(
        pa.array(["Z", "B1 1AA", "M1 1AA"]).cast(pa.large_string()).slice(1)
    )
    assert valid.tolist() == [True, True]
    assert postcodes._unpack_keys(keys).tolist() == ["B1 1AA", "M1 1AA"]


def test_vanishing_characters_are_whitespace_and_format_characters() -> None:
    table = postcodes._vanishing_bmp()
    for char in "\u00a0\u200b\ufeff\u2060\u202f\u3000\u1680\u00ad\u2028\u0085":
        assert table[ord(char)], hex(ord(char))
    for char in "é¨ﬁ\u0308\uff22Ω":
        assert not table[ord(char)], hex(ord(char))


# --------------------------------------------------------------------------- BS 7666


@pytest.mark.parametrize(
    ("postcode", "valid"),
    [
        ("B66 2QT", True),
        ("B1 1AY", True),
        ("M1 1AD", True),
        ("SW1A 1AA", True),
        ("EC1A 1BB", True),
        ("W1A 0AX", True),
        ("CR2 6XH", True),
        ("DN55 1PT", True),
        ("LE15 6AA", True),
        ("BT1 5GS", True),
        ("GIR 0AA", True),
        ("B66 2QQX", False),
        ("Q1 1AA", False),  # Q never starts a postcode
        ("V1 1AA", False),
        ("BZ1 1AA", False),  # Z never second
        ("B66 2QC", False),  # C never in the inward letters
        ("B66 2Q", False),
        ("B662QT", False),  # not normalised
        (" B1 1AA", False),
        ("B66-2QT", False),
        ("", False),
    ],
)
def test_bs7666_table(postcode: str, valid: bool) -> None:
    assert is_valid_postcode(pd.Series([postcode])).tolist() == [valid]


def test_is_valid_keeps_index_and_treats_missing_as_invalid() -> None:
    out = is_valid_postcode(pd.Series(["B66 2QT", None], index=["a", "b"]))
    assert out.to_dict() == {"a": True, "b": False}
    assert out.dtype == bool


_key_text = st.text(alphabet="ABGIRQVZ019 é", min_size=0, max_size=9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_key_text, messy_postcodes().map(lambda p: p[0])), max_size=30))
def test_byte_validator_matches_the_regex(values: list[str]) -> None:
    keys, valid, empty = postcodes._postcode_keys(pa.array(values, type=pa.large_string()))
    assert valid.tolist() == [bool(BS7666.match(v)) for v in values]
    assert empty.tolist() == [v == "" for v in values]
    assert postcodes._unpack_keys(keys[valid]).tolist() == [v for v in values if BS7666.match(v)]
    assert (keys[~valid] == 0).all()


def test_postcode_parts() -> None:
    parts = postcode_parts(
        pd.Series(
            ["B66 2QT", "SW1A 1AA", "M1 1AD", "B66 2QQX", "", "GIR 0AA"], index=list("abcdef")
        )
    )
    assert list(parts.columns) == ["area", "district", "sector", "unit"]
    assert parts.loc["a"].tolist() == ["B", "B66", "B66 2", "B66 2QT"]
    assert parts.loc["b"].tolist() == ["SW", "SW1A", "SW1A 1", "SW1A 1AA"]
    assert parts.loc["c"].tolist() == ["M", "M1", "M1 1", "M1 1AD"]
    assert parts.loc["d"].tolist() == ["", "", "", ""]
    assert parts.loc["e"].tolist() == ["", "", "", ""]
    assert parts.loc["f"].tolist() == ["GIR", "GIR", "GIR 0", "GIR 0AA"]
    assert (parts.dtypes == pd.Series(["x"]).dtype).all()


# --------------------------------------------------------------------------- Code-Point Open


def _fixture_rows() -> list[list[str]]:
    return list(csv.reader(CODEPOINT_CSV.read_text().splitlines()))


def _write_zip(path: Path, *, counts_override: dict[str, int] | None = None) -> Path:
    """A small zip in the publisher's layout, one area file per postcode area."""
    areas: dict[str, list[str]] = {}
    for line in CODEPOINT_CSV.read_text().splitlines():
        postcode = next(csv.reader([line]))[0]
        area = re.match(r"[A-Z]+", postcode)
        assert area
        areas.setdefault(area.group(0).lower(), []).append(line)
    counts = {a.upper(): len(rows) for a, rows in areas.items()} | (counts_override or {})
    metadata = (
        "ORDNANCE SURVEY\nPRODUCT: OS CODE-POINT_03.02\nDATASET VERSION NUMBER: 2025.4.0\n"
        "COPYRIGHT DATE: 20251020\nRM UPDATE DATE: 20251017\n"
        + "".join(f"{a:>8}\t{n}\n" for a, n in sorted(counts.items()))
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for area, rows in sorted(areas.items()):
            archive.writestr(f"Data/CSV/{area}.csv", "\n".join(rows) + "\n")
        archive.writestr("Doc/Code-Point_Open_Column_Headers.csv", HEADERS)
        archive.writestr("Doc/metadata.txt", metadata)
        archive.writestr("Doc/licence.txt", LICENCE.encode("cp1252"))
    return path


@pytest.fixture
def csv_directory(tmp_path: Path) -> PostcodeDirectory:
    return PostcodeDirectory.from_path(CODEPOINT_CSV, cache_dir=tmp_path / "cache")


@pytest.fixture
def zip_directory(tmp_path: Path) -> PostcodeDirectory:
    return PostcodeDirectory.from_path(
        _write_zip(tmp_path / "codepo_gb.zip"), cache_dir=tmp_path / "cache", progress=True
    )


def test_codepoint_csv_metadata(csv_directory: PostcodeDirectory) -> None:
    assert len(csv_directory) == 22
    assert csv_directory.kind == "codepoint"
    assert csv_directory.coverage == "GB"
    assert csv_directory.name == "Code-Point Open extract"
    assert csv_directory.is_extract
    assert csv_directory.path == CODEPOINT_CSV
    assert "Contains OS data ©" in csv_directory.attribution
    assert "Royal Mail" in csv_directory.attribution
    assert "B66 2QT" in csv_directory
    assert "b662qt" in csv_directory
    assert "B66 2QU" not in csv_directory
    assert 42 not in csv_directory


def test_codepoint_zip_metadata(zip_directory: PostcodeDirectory) -> None:
    assert len(zip_directory) == 22
    assert zip_directory.name == "Code-Point Open 2025.4.0"
    assert not zip_directory.is_extract
    assert zip_directory.attribution.splitlines() == [
        "Contains Ordnance Survey data © Crown copyright and database right 2025.",
        "Contains Royal Mail data © Royal Mail copyright and database right 2025.",
    ]
    assert "Code-Point Open 2025.4.0" in repr(zip_directory)


@pytest.mark.parametrize("which", ["csv_directory", "zip_directory"])
def test_codepoint_lookup_statuses_and_values(which: str, request: pytest.FixtureRequest) -> None:
    directory: PostcodeDirectory = request.getfixturevalue(which)
    query = pd.Series(
        [
            " b66\u00a02qt",
            "AB43 1AJ",
            "BT1 1AA",
            "JE2 4WD",
            "B66 2QU",
            "B66 2QQX",
            "",
            None,
            "b29 6xe",
        ],
        index=pd.Index(list("abcdefghi"), name="asset_id"),
    )
    out = directory.lookup(query)
    assert out.index.equals(query.index)
    assert list(out.columns) == [
        "postcode",
        "status",
        "easting",
        "northing",
        "lat",
        "lon",
        "quality",
    ]
    assert out["status"].tolist() == [
        "ok",
        "postcode_no_coordinates",
        "postcode_outside_coverage",
        "postcode_outside_coverage",
        "postcode_not_found",
        "postcode_malformed",
        "empty",
        "empty",
        "ok",
    ]
    assert out.loc["a", "postcode"] == "B66 2QT"
    assert (out.loc["a", "easting"], out.loc["a", "northing"]) == (403502.0, 288149.0)
    assert out.loc["a", "lat"] == pytest.approx(52.4912, abs=5e-4)
    assert out.loc["a", "lon"] == pytest.approx(-1.9499, abs=5e-4)
    assert out["quality"].dtype == "Int64"
    assert out["quality"].tolist()[:3] == [10, 90, pd.NA]
    assert out.loc["i", "quality"] == 60
    not_ok = out["status"] != "ok"
    assert out.loc[not_ok, ["easting", "northing", "lat", "lon"]].isna().all().all()
    assert out.dtypes[["easting", "northing", "lat", "lon"]].eq(np.float64).all()
    assert set(out["status"]) <= set(STATUSES)


def test_codepoint_lat_lon_equal_an_independent_pyproj_conversion(
    csv_directory: PostcodeDirectory,
) -> None:
    rows = [r for r in _fixture_rows() if r[1] != "90"]
    out = csv_directory.lookup(pd.Series([r[0] for r in rows]))
    easting = np.array([float(r[2]) for r in rows])
    northing = np.array([float(r[3]) for r in rows])
    lon, lat = TO_WGS84.transform(easting, northing)
    assert (out["status"] == "ok").all()
    np.testing.assert_array_equal(out["easting"], easting)
    np.testing.assert_array_equal(out["northing"], northing)
    np.testing.assert_allclose(out["lat"], lat, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["lon"], lon, rtol=0, atol=1e-9)


def test_lookup_small_and_large_batches_agree(csv_directory: PostcodeDirectory) -> None:
    everything = [r[0] for r in _fixture_rows()] + ["B66 2QU", "x"]
    one_by_one = pd.concat(
        [csv_directory.lookup(pd.Series([p], index=[i])) for i, p in enumerate(everything)]
    )
    assert csv_directory._hash is None  # single keys took the binary search
    all_at_once = csv_directory.lookup(pd.Series(everything))
    assert csv_directory._hash is not None
    pd.testing.assert_frame_equal(one_by_one, all_at_once)


def test_lookup_of_nothing(csv_directory: PostcodeDirectory) -> None:
    out = csv_directory.lookup(pd.Series([], dtype="str"))
    assert out.empty
    assert list(out.columns) == [
        "postcode",
        "status",
        "easting",
        "northing",
        "lat",
        "lon",
        "quality",
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(st.text(max_size=10), messy_postcodes().map(lambda p: p[1]))))
def test_lookup_accounts_for_every_row(csv_directory: PostcodeDirectory, values: list[str]) -> None:
    out = csv_directory.lookup(pd.Series(values, dtype=object))
    assert len(out) == len(values)
    assert set(out["status"]) <= set(STATUSES)
    ok = (out["status"] == "ok").to_numpy()
    assert np.isfinite(out[["easting", "northing", "lat", "lon"]].to_numpy()[ok]).all()
    assert np.isnan(out[["easting", "northing", "lat", "lon"]].to_numpy()[~ok]).all()


def test_to_frame_round_trips(csv_directory: PostcodeDirectory) -> None:
    frame = csv_directory.to_frame().set_index("postcode")
    expected = {r[0]: r for r in _fixture_rows()}
    assert set(frame.index) == set(expected)
    assert frame.loc["B66 2QT", "easting"] == 403502
    assert frame.loc["AB43 1AJ", "status"] == "postcode_no_coordinates"
    assert np.isnan(frame.loc["AB43 1AJ", "lat"])
    assert frame["quality"].to_dict() == {p: int(r[1]) for p, r in expected.items()}


def test_zip_with_wrong_area_count_is_refused(tmp_path: Path) -> None:
    path = _write_zip(tmp_path / "codepo_gb.zip", counts_override={"B": 99})
    with pytest.raises(GeocodeError, match=r"b\.csv: 9 rows, but Doc/metadata.txt lists 99"):
        PostcodeDirectory.from_path(path, cache_dir=tmp_path / "cache")


def test_codepoint_csv_with_bad_number_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text('"B66 2QT",10,403502,288149\n"B1 1AY",10,four,286448\n')
    with pytest.raises(GeocodeError, match=r"broken\.csv: not a Code-Point Open CSV.*four"):
        PostcodeDirectory.from_path(path, cache_dir=tmp_path / "cache")


def test_codepoint_csv_with_a_header_row(tmp_path: Path) -> None:
    path = tmp_path / "with_header.csv"
    path.write_text(
        "Postcode,Positional_quality_indicator,Eastings,Northings\n"
        '"B66 2QT",10,403502,288149\n"B1 1AY",10,406523,286448\n'
    )
    directory = PostcodeDirectory.from_path(path, cache_dir=tmp_path / "cache")
    assert len(directory) == 2
    assert directory.lookup(pd.Series(["B1 1AY"]))["easting"].tolist() == [406523.0]


def test_unrecognised_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "assets.csv"
    other.write_text("name,category\nLibrary,community_building\n")
    with pytest.raises(GeocodeError, match=r"assets\.csv, line 1, column 1: 'name' is neither"):
        PostcodeDirectory.from_path(other, cache_dir=tmp_path)
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(GeocodeError, match="without Data/CSV"):
        PostcodeDirectory.from_path(archive, cache_dir=tmp_path)
    with pytest.raises(GeocodeError, match="does not exist"):
        PostcodeDirectory.from_path(tmp_path / "missing.zip", cache_dir=tmp_path)


# --------------------------------------------------------------------------- ONSPD


def test_onspd_hand_built_northern_ireland_is_not_british_grid(tmp_path: Path) -> None:
    directory = PostcodeDirectory.from_path(ONSPD_HAND_BUILT, cache_dir=tmp_path)
    assert (directory.kind, directory.coverage, directory.name) == ("onspd", "UK", "ONSPD")
    assert not directory.is_extract
    assert "Office for National Statistics" in directory.attribution
    out = directory.lookup(pd.Series(["bt15gs", "BT1 1ZZ", "B1 1AY", "GY1 1AA", "IM1 1AA"]))
    assert out["status"].tolist() == [
        "ok",
        "postcode_terminated",
        "ok",
        "postcode_no_coordinates",
        "postcode_not_found",  # a UK directory does not call the Isle of Man outside coverage
    ]
    # Northern Ireland: the published lat/long, and a British National Grid point made from them.
    assert (out.loc[0, "lat"], out.loc[0, "lon"]) == (54.596648, -5.930092)
    easting, northing = Transformer.from_crs(4326, 27700, always_xy=True).transform(
        -5.930092, 54.596648
    )
    assert (out.loc[0, "easting"], out.loc[0, "northing"]) == (round(easting), round(northing))
    assert out.loc[0, "easting"] != 333831  # the Irish Grid easting was not taken as BNG
    # Great Britain: lat/lon converted from the grid reference with pyproj.
    lon, lat = TO_WGS84.transform(406523, 286448)
    assert out.loc[2, "lat"] == pytest.approx(lat, abs=1e-9)
    assert out.loc[2, "lon"] == pytest.approx(lon, abs=1e-9)
    assert out["quality"].tolist() == [1, 1, 1, 9, pd.NA]


def test_onspd_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "onspd.csv"
    path.write_text('pcd,oseast1m,osnrth1m\n"B1 1AY",406523,286448\n')
    with pytest.raises(
        GeocodeError, match=r"line 1: ONSPD header lacks doterm, osgrdind, lat, long"
    ):
        PostcodeDirectory.from_path(path, cache_dir=tmp_path)


@pytest.mark.data
def test_onspd_real_sample(tmp_path: Path) -> None:
    path = real_data("onspd_sample/onspd_sample.csv")
    directory = PostcodeDirectory.from_path(path, cache_dir=tmp_path)
    assert len(directory) == 10
    assert directory.coverage == "UK"
    out = directory.lookup(
        pd.Series(
            ["AB1 0AA", "ab10ae", "AB16 9WP", "SE1 9ZZ", "JE2 4WD", "M1 1AD", "M1  1AD", "M11 1AA"]
        )
    )
    assert out["status"].tolist() == [
        *["postcode_terminated"] * 4,
        "postcode_no_coordinates",
        "ok",
        "ok",
        "ok",
    ]
    assert out["postcode"].tolist()[5:7] == ["M1 1AD", "M1 1AD"]
    assert (out.loc[5, "easting"], out.loc[5, "northing"]) == (383848.0, 398589.0)
    # ONS's own lat/long for M1 1AD is 53.483784, -2.244866: within a few metres of pyproj's.
    assert out.loc[5, "lat"] == pytest.approx(53.483784, abs=5e-5)
    assert out.loc[5, "lon"] == pytest.approx(-2.244866, abs=5e-5)
    assert out["quality"].tolist() == [1, 8, 5, 6, 9, 1, 1, 1]
    frame = directory.to_frame().set_index("postcode")
    assert "M1 1AD" in frame.index  # the fixed-width pcd "M1  1AD" was normalised
    assert "SE1P 5ZZ" in directory


# --------------------------------------------------------------------------- cache and default


def test_index_is_built_once_then_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real_build = postcodes._build_index

    def counting(path: Path, digest: str, *, progress: bool = False) -> pa.Table:
        calls.append(path)
        return real_build(path, digest, progress=progress)

    monkeypatch.setattr(postcodes, "_build_index", counting)
    source = tmp_path / "extract.csv"
    source.write_bytes(CODEPOINT_CSV.read_bytes())
    cache = tmp_path / "cache"
    first = PostcodeDirectory.from_path(source, cache_dir=cache)
    second = PostcodeDirectory.from_path(source, cache_dir=cache)
    assert len(calls) == 1
    cached = list(cache.glob("*.parquet"))
    assert len(cached) == 1
    assert cached[0].name.startswith(first.source_sha256[:32])
    query = pd.Series(["B66 2QT", "AB43 1AJ"])
    pd.testing.assert_frame_equal(first.lookup(query), second.lookup(query))
    assert list(cache.glob(".*")) == []  # no temporary files left behind

    # A changed source gets a new key and a new build.
    source.write_bytes(
        CODEPOINT_CSV.read_bytes() + b'"B66 2QU",10,403600,288200,"E92000001","","","","",""\n'
    )
    third = PostcodeDirectory.from_path(source, cache_dir=cache)
    assert len(calls) == 2
    assert len(third) == len(first) + 1
    assert len(list(cache.glob("*.parquet"))) == 2

    # The index itself opens directly, with the same attributes.
    direct = PostcodeDirectory.from_path(cached[0])
    assert (direct.name, direct.kind, direct.coverage, direct.is_extract) == (
        first.name,
        first.kind,
        first.coverage,
        first.is_extract,
    )
    assert direct.path == cached[0]
    assert len(calls) == 2


def test_corrupt_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "cache"
    first = PostcodeDirectory.from_path(CODEPOINT_CSV, cache_dir=cache)
    (cached,) = cache.glob("*.parquet")
    cached.write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING, logger="assetmap.postcodes"):
        again = PostcodeDirectory.from_path(CODEPOINT_CSV, cache_dir=cache)
    assert "rebuilding postcode index" in caplog.text
    assert len(again) == len(first)
    assert cached.read_bytes()[:4] == b"PAR1"


def test_index_of_an_older_format_is_replaced(tmp_path: Path) -> None:
    digest = hashlib.sha256(CODEPOINT_CSV.read_bytes()).hexdigest()
    stale = tmp_path / f"{digest[:32]}-v0.parquet"
    other = tmp_path / f"{'0' * 32}-v0.parquet"
    stale.write_bytes(b"old")
    other.write_bytes(b"another source")
    PostcodeDirectory.from_path(CODEPOINT_CSV, cache_dir=tmp_path)
    assert not stale.exists()
    assert other.exists()
    assert len(list(tmp_path.glob(f"{digest[:32]}-v*.parquet"))) == 1


def test_default_cache_dir_is_under_the_assetmap_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSETMAP_CACHE_DIR", str(tmp_path / "c"))
    PostcodeDirectory.from_path(CODEPOINT_CSV)
    assert len(list((tmp_path / "c" / "postcodes").glob("*.parquet"))) == 1


def test_parquet_that_is_not_an_index_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(GeocodeError, match="not a postcode index"):
        PostcodeDirectory.from_path(path)


def test_default_prefers_the_installed_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "codepoint_gb").mkdir()
    _write_zip(tmp_path / "codepoint_gb" / "codepo_gb.zip")
    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="assetmap.postcodes"):
        directory = PostcodeDirectory.default()
    assert not directory.is_extract
    assert directory.name == "Code-Point Open 2025.4.0"
    assert "codepo_gb.zip" in caplog.text


def test_default_falls_back_to_the_packaged_extract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(tmp_path / "nothing"))
    if not postcodes.EXTRACT_PATH.is_file():  # until the packaged extract is committed
        monkeypatch.setattr(postcodes, "EXTRACT_PATH", CODEPOINT_CSV)
    with caplog.at_level(logging.INFO, logger="assetmap.postcodes"):
        directory = PostcodeDirectory.default()
    assert directory.is_extract
    assert directory.kind == "codepoint"
    assert "B66 2QT" in directory
    assert "extract" in caplog.text


def test_default_without_any_directory_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(postcodes, "EXTRACT_PATH", tmp_path / "none.csv")
    with pytest.raises(DataError, match="make data"):
        PostcodeDirectory.default()


# --------------------------------------------------------------------------- all of GB


@pytest.fixture(scope="module")
def gb_zip() -> Path:
    return real_data("codepoint_gb/codepo_gb.zip")


@pytest.fixture(scope="module")
def gb_directory(gb_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> PostcodeDirectory:
    return PostcodeDirectory.from_path(gb_zip, cache_dir=tmp_path_factory.mktemp("gb-cache"))


@pytest.fixture(scope="module")
def gb_sample(gb_zip: Path) -> pd.DataFrame:
    """About 2,000 rows drawn from every one of the 120 area files, read independently."""
    rng = np.random.default_rng(7)
    rows: list[list[str]] = []
    with zipfile.ZipFile(gb_zip) as archive:
        areas = [n for n in archive.namelist() if n.startswith("Data/CSV/")]
        for name in areas:
            lines = archive.read(name).decode("ascii").splitlines()
            for i in rng.choice(len(lines), size=min(17, len(lines)), replace=False):
                rows.append([name, *next(csv.reader([lines[i]]))[:4]])
    frame = pd.DataFrame(rows, columns=["file", "postcode", "pqi", "easting", "northing"])
    frame[["pqi", "easting", "northing"]] = frame[["pqi", "easting", "northing"]].astype(int)
    return frame


@pytest.mark.data
def test_gb_index_has_every_postcode(gb_directory: PostcodeDirectory) -> None:
    assert len(gb_directory) == 1_745_849
    assert gb_directory.name == "Code-Point Open 2025.4.0"
    assert gb_directory.attribution.count("2025") == 3


@pytest.mark.data
def test_gb_sample_from_every_area_file_resolves(
    gb_directory: PostcodeDirectory, gb_sample: pd.DataFrame
) -> None:
    assert gb_sample["file"].nunique() == 120
    assert len(gb_sample) > 1_900
    messy = gb_sample["postcode"].str.lower().str.replace(" ", "\u00a0 ", regex=False)
    out = gb_directory.lookup(messy)
    located = gb_sample["pqi"] != 90
    assert (out.loc[located, "status"] == "ok").all()
    assert (out.loc[~located, "status"] == "postcode_no_coordinates").all()
    assert out["postcode"].tolist() == gb_sample["postcode"].tolist()
    assert out["quality"].tolist() == gb_sample["pqi"].tolist()
    np.testing.assert_array_equal(out.loc[located, "easting"], gb_sample.loc[located, "easting"])
    np.testing.assert_array_equal(out.loc[located, "northing"], gb_sample.loc[located, "northing"])
    lon, lat = TO_WGS84.transform(
        gb_sample.loc[located, "easting"].to_numpy(float),
        gb_sample.loc[located, "northing"].to_numpy(float),
    )
    np.testing.assert_allclose(out.loc[located, "lat"], lat, rtol=0, atol=1e-7)
    np.testing.assert_allclose(out.loc[located, "lon"], lon, rtol=0, atol=1e-7)


@pytest.mark.data
def test_gb_spot_checks(gb_directory: PostcodeDirectory) -> None:
    out = gb_directory.lookup(pd.Series(["B66 2QT", "BT1 1AA", "B66 2QQX", "SW1A 1AA", "ZE1 0AA"]))
    assert out["status"].tolist() == [
        "ok",
        "postcode_outside_coverage",
        "postcode_malformed",
        "ok",
        "ok",
    ]
    assert (out.loc[0, "easting"], out.loc[0, "northing"]) == (403502.0, 288149.0)
    assert out.loc[0, "lat"] == pytest.approx(52.4912, abs=1e-4)
    assert out.loc[0, "lon"] == pytest.approx(-1.9499, abs=1e-4)


@pytest.mark.data
def test_gb_index_lat_lon_equal_pyproj(gb_directory: PostcodeDirectory) -> None:
    frame = gb_directory.to_frame()
    rng = np.random.default_rng(3)
    sample = frame.iloc[rng.choice(len(frame), size=50_000, replace=False)]
    sample = sample[sample["status"] == "ok"]
    lon, lat = TO_WGS84.transform(
        sample["easting"].to_numpy(float), sample["northing"].to_numpy(float)
    )
    np.testing.assert_allclose(sample["lat"], lat, rtol=0, atol=1e-7)
    np.testing.assert_allclose(sample["lon"], lon, rtol=0, atol=1e-7)
    assert (frame["status"] == "postcode_no_coordinates").sum() == 836  # the PQI 90 rows
