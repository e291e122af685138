"""Tests for assetmap.registers.read_assets and the ``assetmap check`` command."""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from assetmap import schema
from assetmap._errors import RegisterError
from assetmap._io import write_frame
from assetmap.cli import main
from assetmap.registers import read_assets

FIXTURES = Path(__file__).parent / "fixtures" / "registers"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------- CSV decoding


def test_cp1252_register_keeps_every_cell_as_typed() -> None:
    register = read_assets(FIXTURES / "social_enterprises_cp1252.csv", kind="micro")
    assets = register.assets
    assert register.rows_in == 9
    assert len(assets) == 9 and register.rejects.empty
    assert "encoding: cp1252" in register.notes
    assert assets.loc["007", "name"] == "Café Soho"
    assert assets.loc["007", "website"] == "https://example.org/café"
    # NA-like words are names, not missing values
    assert assets.loc[["008", "009", "010", "011"], "name"].tolist() == [
        "NA",
        "None",
        "null",
        "N/A",
    ]
    # formula-looking cells are plain data
    assert assets.loc["012", "name"] == '=HYPERLINK("http://evil.example","click")'
    assert assets.loc["013", "name"] == "+44 121 555 0100"
    assert assets.loc["014", "name"] == "@SUM(A1:A2)"
    assert assets.loc["015", "name"] == "-2+3"
    # leading zeros survive in the index
    assert assets.index[0] == "007"
    assert assets.loc["010", "category"] == "social_enterprise"
    assert assets.loc["011", "category"] == "community_building"
    assert assets.loc["007", "tags"] == ["food", "retail"]
    assert assets.loc["008", "tags"] == ["health_care"]
    assert assets.loc["009", "tags"] == []
    assert assets.loc["007", "capacity"] == 12.0
    assert assets.loc["008", "capacity"] == 1.0
    assert assets.loc["010", "capacity"] == 0.0
    assert assets.loc["010", "postcode"] == "b66 2qt"
    assert assets["source_line"].tolist() == list(range(2, 11))


def test_utf8_bom_and_semicolons_and_loose_headers() -> None:
    register = read_assets(FIXTURES / "bom_semicolon.csv", kind="micro")
    assets = register.assets
    assert "delimiter: ;" in register.notes and "encoding: utf-8-sig" in register.notes
    assert list(assets.columns[:9]) == list(schema.ASSET_COLUMNS)
    assert assets["name"].tolist() == ["Smith, J & Co", "Ünïcödé Hall"]
    assert assets["postcode"].tolist() == ["B66 2QT", "B18 4AA"]
    assert assets["capacity"].tolist() == [4.0, 1.0]
    # a non-standard header is kept exactly as written, the BOM is not part of any header
    assert assets["Contact"].tolist() == ["Zoë", ""]
    assert not any("\ufeff" in c for c in assets.columns)
    assert assets.index.tolist() == ["bom-semicolon-2", "bom-semicolon-3"]


def test_undecodable_file_names_the_byte_offset() -> None:
    with pytest.raises(RegisterError) as error:
        read_assets(FIXTURES / "undecodable.csv", kind="micro")
    message = str(error.value)
    assert "undecodable.csv" in message
    assert "0xe9 at byte offset 17" in message and "line 2" in message
    assert "0x81 at byte offset 19" in message


def test_decoding_error_offset_counts_the_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfname,category\nA\x81\xff,x\n")
    with pytest.raises(RegisterError, match="0x81 at byte offset 18"):
        read_assets(path, kind="micro")


@pytest.mark.parametrize(("delimiter", "suffix"), [("\t", ".tsv"), ("|", ".txt"), (";", ".csv")])
def test_delimiter_is_sniffed_from_the_header(tmp_path: Path, delimiter: str, suffix: str) -> None:
    rows = [["name", "category", "description"], ["A, B; C", "social_enterprise", "x|y"]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    register = read_assets(_write(tmp_path / f"reg{suffix}", buffer.getvalue()), kind="micro")
    assert register.assets["name"].tolist() == ["A, B; C"]
    assert register.assets["description"].tolist() == ["x|y"]


# --------------------------------------------------------------------------- ragged rows


def test_ragged_rows_are_rejected_with_physical_line_numbers() -> None:
    register = read_assets(FIXTURES / "ragged.csv", kind="micro")
    assets, rejects = register
    assert register.rows_in == 6
    assert assets["name"].tolist() == ["Alpha", "Delta", "Epsilon"]
    assert assets["source_line"].tolist() == [2, 7, 9]
    assert assets.loc["ragged-2", "description"] == "first line\nsecond line\nthird line"
    assert rejects["source_line"].tolist() == [5, 6, 10]
    assert set(rejects["reason_code"]) == {"ragged_row"}
    messages = rejects["message"].tolist()
    assert messages[0].startswith("ragged.csv line 5: 6 fields, but the header has 4")
    assert messages[1].startswith("ragged.csv line 6: 2 fields, but the header has 4")
    # the unclosed quote swallows line 11; the message says where the record ends
    assert "runs on to line 11" in messages[2]
    assert rejects["value"].iloc[1] == "Gamma,social_enterprise"


def test_ragged_row_is_never_padded(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "name,category,postcode\nA,social_enterprise\n")
    register = read_assets(path, kind="micro")
    assert register.assets.empty
    assert register.rejects["reason_code"].tolist() == ["ragged_row"]


def test_lone_carriage_returns_end_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mac.csv", 'name,category\r"A\rB",social_enterprise\rC,social_enterprise\r'
    )
    assets = read_assets(path, kind="micro").assets
    assert assets["name"].tolist() == ["A\rB", "C"]
    assert assets["source_line"].tolist() == [2, 4]


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match="empty"):
        read_assets(_write(tmp_path / "empty.csv", "\n\n"), kind="micro")
    register = read_assets(_write(tmp_path / "header.csv", "name,category\n"), kind="micro")
    assert register.rows_in == 0 and register.assets.empty and register.rejects.empty
    assert register.assets.crs == schema.CRS_WGS84
    assert list(register.assets.columns) == [*schema.ASSET_COLUMNS, "geometry"]


def test_duplicate_header_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match=r"'name' twice \(columns 1 and 3"):
        read_assets(_write(tmp_path / "d.csv", "name,category,name\nA,b,c\n"), kind="micro")
    with pytest.raises(RegisterError, match="would all become 'name'"):
        read_assets(_write(tmp_path / "e.csv", "Name,category,NAME\nA,b,c\n"), kind="micro")


def test_unknown_extension_names_the_allowed_ones(tmp_path: Path) -> None:
    path = _write(tmp_path / "register.ods", "x")
    with pytest.raises(RegisterError) as error:
        read_assets(path, kind="micro")
    assert "register.ods" in str(error.value)
    for suffix in (".csv", ".xlsx", ".geojson", ".gpkg", ".parquet"):
        assert suffix in str(error.value)


def test_missing_file_is_a_register_error(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match="no such register file"):
        read_assets(tmp_path / "nope.csv", kind="micro")


# --------------------------------------------------------------------------- row checks


def test_duplicates_are_reported_against_the_earlier_accepted_row() -> None:
    register = read_assets(FIXTURES / "duplicates.csv", kind="micro")
    assets, rejects = register
    assert assets.index.tolist() == ["A1", "A3", "A5", "B1", "B2"]
    got = dict(zip(rejects["source_line"], rejects["reason_code"], strict=True))
    assert got == {
        3: "duplicate_of:A1",  # same name (case, spaces) and postcode (case, spaces)
        4: "duplicate_of:A1",  # same id
        6: "duplicate_of:A3",  # same name and coordinates, no postcode
        9: "duplicate_of:B1",  # same id
        11: "duplicate_of:A1",
    }
    # B2 repeats the name+postcode of line 9, which was itself rejected: B2 is accepted
    assert assets.loc["B2", "source_line"] == 10
    by_line = rejects.set_index("source_line")
    assert by_line.loc[4, "column"] == "asset_id"
    assert by_line.loc[3, "column"] == "name"
    assert by_line.loc[3, "message"] == (
        "duplicates.csv line 3, column 'name': value 'Soho  library ' has the same name and "
        "location as line 2 (asset_id 'A1') (expected each asset once: merge the rows or tell "
        "them apart)"
    )
    assert all(schema.is_reason_code(code) for code in rejects["reason_code"])


def test_checks_and_messages(tmp_path: Path) -> None:
    rows = [
        ["asset_id", "name", "category", "capacity", "personal", "kind"],
        ["a", "Good", "community_building", " 12 ", "", ""],
        ["", "No id", "community_building", "", "", ""],
        ["c", "Wrong kind", "community_building", "", "", "macro"],
        ["d", "  ", "community_building", "", "", ""],
        ["e", "No category", "", "", "", ""],
        ["f", "Macro category", "nhs_anchor", "", "", ""],
        ["g", "Unknown", "bakery", "", "", ""],
        ["h", "Lots", "community_building", "lots", "", ""],
        ["i", "Negative", "community_building", "-1", "", ""],
        ["j", "Infinite", "community_building", "1e999", "", ""],
        ["k", "Thousands", "community_building", "1,000", "", ""],
        ["l", "Maybe", "community_building", "", "maybe", ""],
        ["m", "Both bad", "community_building", "lots", "maybe", ""],
        ["n", "Micro kind", "community_building", "0.5", "", "MICRO"],
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    register = read_assets(_write(tmp_path / "skills.csv", buffer.getvalue()), kind="micro")
    assets, rejects = register
    assert assets.index.tolist() == ["a", "n"]
    assert assets["capacity"].tolist() == [12.0, 0.5]
    reasons = dict(zip(rejects["asset_id"].fillna(""), rejects["reason_code"], strict=True))
    assert reasons == {
        "": "id_invalid",
        "c": "kind_mismatch",
        "d": "missing_required",
        "e": "missing_required",
        "f": "kind_mismatch",
        "g": "category_unknown",
        "h": "capacity_invalid",
        "i": "capacity_invalid",
        "j": "capacity_invalid",
        "k": "capacity_invalid",
        "l": "personal_invalid",
        "m": "capacity_invalid",  # capacity is checked before personal
    }
    message = rejects.set_index("asset_id").loc["h", "message"]
    assert message == (
        "skills.csv line 9, column 'capacity': value 'lots' is not a number "
        "(expected a number ≥ 0, e.g. '12', or empty for 1)"
    )
    by_id = rejects.set_index("asset_id")
    assert "is negative" in by_id.loc["i", "message"]
    assert "is not a finite number" in by_id.loc["j", "message"]
    assert "value 'maybe' is not a true/false value" in by_id.loc["l", "message"]
    assert "is a macro category, but this is a micro register" in by_id.loc["f", "message"]
    assert (
        "'bakery' is not a micro category (expected one of: resident_skill"
        in by_id.loc["g", "message"]
    )
    assert by_id.loc["h", "value"] == "lots" and by_id.loc["h", "column"] == "capacity"
    assert rejects["source_line"].tolist() == sorted(rejects["source_line"])
    assert rejects["source"].unique().tolist() == [str(tmp_path / "skills.csv")]


def test_personal_flag_and_privacy_wins(tmp_path: Path) -> None:
    text = (
        "name,category,personal\n"
        "Resident A,resident_skill,false\n"
        "Resident B,resident_skill,\n"
        "Hall,community_building,YES\n"
        "Shop,social_enterprise,n\n"
        "Shop 2,social_enterprise,\n"
        "Researcher,community_researcher,0\n"
    )
    assets = read_assets(_write(tmp_path / "p.csv", text), kind="micro").assets
    assert assets["personal"].tolist() == [True, True, True, False, False, True]
    assert assets["personal"].dtype == bool


def test_default_category_and_generated_ids(tmp_path: Path) -> None:
    text = "name,category\nA,\nB,community_building\n"
    register = read_assets(
        _write(tmp_path / "My Register 2024.csv", text), kind="micro", category="Social Enterprise"
    )
    assert register.assets["category"].tolist() == ["social_enterprise", "community_building"]
    assert register.assets.index.tolist() == ["my-register-2024-2", "my-register-2024-3"]
    no_column = read_assets(
        _write(tmp_path / "x.csv", "name\nA\n"),
        kind="micro",
        category="community_building",
        id_prefix="CB",
    )
    assert no_column.assets.index.tolist() == ["CB-2"]
    assert no_column.assets["category"].tolist() == ["community_building"]
    with pytest.raises(RegisterError, match="'bakery' is not a micro category"):
        read_assets(tmp_path / "x.csv", kind="micro", category="bakery")
    with pytest.raises(RegisterError, match="kind 'mid'"):
        read_assets(tmp_path / "x.csv", kind="mid")


def test_tags_are_normalised(tmp_path: Path) -> None:
    text = 'name,category,tags\nA,resident_skill,"Nurse; Healthcare-Assistant,nurse ,, Overseas  Qualified"\n'
    assets = read_assets(_write(tmp_path / "t.csv", text), kind="micro").assets
    assert assets["tags"].iloc[0] == ["nurse", "healthcare_assistant", "overseas_qualified"]


def test_output_frame_contract() -> None:
    assets = read_assets(FIXTURES / "social_enterprises_cp1252.csv", kind="micro").assets
    assert isinstance(assets, gpd.GeoDataFrame)
    assert assets.crs == schema.CRS_WGS84
    assert assets.index.name == schema.ASSET_ID and assets.index.is_unique
    assert list(assets.columns) == [*schema.ASSET_COLUMNS, "website", "geometry"]
    assert assets.geometry.isna().all()
    assert set(assets["kind"]) == {"micro"}
    assert set(assets["source"]) == {str(FIXTURES / "social_enterprises_cp1252.csv")}
    assert assets["capacity"].dtype == np.float64
    assert assets["source_line"].dtype == np.int64
    assert pd.api.types.is_string_dtype(assets["name"])


def test_coordinates_stay_text_and_in_order(tmp_path: Path) -> None:
    text = "northing,name,lon,category,lat,easting,email\n288149,A,-1.9499,community_building,52.4912 ,403502,a@x.org\n"
    assets = read_assets(_write(tmp_path / "c.csv", text), kind="micro").assets
    assert list(assets.columns) == [
        *schema.ASSET_COLUMNS,
        "lat",
        "lon",
        "easting",
        "northing",
        "email",
        "geometry",
    ]
    assert assets["lat"].iloc[0] == "52.4912 "


def test_logs_one_summary_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="assetmap.registers"):
        read_assets(FIXTURES / "ragged.csv", kind="micro")
    records = [r for r in caplog.records if r.name == "assetmap.registers"]
    assert len(records) == 1
    assert (
        records[0].getMessage() == "ragged.csv: 6 rows in, 3 accepted, 3 rejected (ragged_row: 3)"
    )


# --------------------------------------------------------------------------- column mapping


def test_column_mapping() -> None:
    register = read_assets(
        FIXTURES / "mapped.csv",
        kind="micro",
        columns={
            "Organisation": "name",
            "Type": "category",
            "Post Code": "postcode",
            "ref": "asset_id",
        },
    )
    assets = register.assets
    assert assets.index.tolist() == ["SE-01", "SE-02"]
    assert assets["name"].tolist() == ["Soho Foods", "Ladywood Builders"]
    assert assets["category"].tolist() == ["social_enterprise", "social_enterprise"]
    assert assets["postcode"].tolist() == ["B66 2QT", "B16 8AE"]
    assert assets["capacity"].tolist() == [3.0, 1.0]
    assert assets["Notes"].tolist() == ["Runs a café", ""]


def test_mapping_a_column_that_is_not_there() -> None:
    with pytest.raises(RegisterError) as error:
        read_assets(
            FIXTURES / "mapped.csv",
            kind="micro",
            columns={"Organisation": "name", "Site": "postcode"},
        )
    message = str(error.value)
    assert "mapped.csv" in message and "'Site'" in message
    assert "['Ref', 'Organisation', 'Type', 'Post Code', 'Capacity', 'Notes']" in message


def test_missing_required_column_names_expected_and_found() -> None:
    with pytest.raises(RegisterError) as error:
        read_assets(FIXTURES / "mapped.csv", kind="micro")
    message = str(error.value)
    assert "mapped.csv" in message
    assert "missing required column(s) ['name', 'category']" in message
    assert "expected columns: name, category (required)" in message
    assert "found: ['Ref', 'Organisation', 'Type', 'Post Code', 'Capacity', 'Notes']" in message


def test_mapping_to_a_reserved_name_is_an_error() -> None:
    with pytest.raises(RegisterError, match="reserved name 'source'"):
        read_assets(FIXTURES / "mapped.csv", kind="micro", columns={"Notes": "source"})


# --------------------------------------------------------------------------- XLSX


def _workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Assets"
    sheet.append(["Asset ID", "Organisation", "Category", "Capacity", "Postcode"])
    sheet.append(["007", "Soho Foods", "social_enterprise", 3, "B66 2QT"])
    sheet.append([None, None, None, None, None])  # a blank row is not a data row
    sheet.append([2, "Formula Co", "social_enterprise", "=SUM(1,2)", "B66 2QU"])
    sheet.cell(row=5, column=1, value=6.0)
    link = sheet.cell(row=5, column=2, value='=HYPERLINK("http://evil.example")')
    link.data_type = "s"  # stored as text, so it is data
    sheet.cell(row=5, column=3, value="social_enterprise")
    sheet.cell(row=5, column=4, value=2.5)
    sheet.append(["8", "Overflow", "social_enterprise", None, None, None, "stray"])
    other = book.create_sheet("Other")
    other.append(["name", "category"])
    other.append(["Only here", "community_building"])
    book.save(path)
    return path


def _with_cached_value(source: Path, target: Path, value: str) -> Path:
    """Copy a workbook, giving the SUM formula the cached value Excel would have saved."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b"<f>SUM(1,2)</f><v />" in data
                data = data.replace(
                    b"<f>SUM(1,2)</f><v />", f"<f>SUM(1,2)</f><v>{value}</v>".encode()
                )
            new.writestr(item, data)
    return target


def test_xlsx_cells_rows_and_formulas(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "assets.xlsx")
    columns = {"Organisation": "name"}
    register = read_assets(path, kind="micro", columns=columns)
    assets, rejects = register
    assert register.rows_in == 4 and "sheet: Assets" in register.notes
    assert assets.index.tolist() == ["007", "2", "6"]
    assert assets["source_line"].tolist() == [2, 4, 5]
    # openpyxl writes no cached value: the formula cell reads as empty → capacity 1
    assert assets.loc["2", "capacity"] == 1.0
    assert assets.loc["6", "name"] == '=HYPERLINK("http://evil.example")'
    assert assets.loc["6", "capacity"] == 2.5
    assert rejects["reason_code"].tolist() == ["ragged_row"]
    assert rejects["source_line"].tolist() == [6]
    assert rejects["message"].iloc[0] == (
        "assets.xlsx row 6: value 'stray' in column G lies beyond the header's last column E "
        "(expected values only under a header cell)"
    )

    cached = read_assets(
        _with_cached_value(path, tmp_path / "cached.xlsx", "3"), kind="micro", columns=columns
    )
    assert cached.assets.loc["2", "capacity"] == 3.0
    broken = read_assets(
        _with_cached_value(path, tmp_path / "bad.xlsx", "7.25"), kind="micro", columns=columns
    )
    assert broken.assets.loc["2", "capacity"] == 7.25


def test_xlsx_sheet_selection(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "assets.xlsx")
    other = read_assets(path, kind="micro", sheet="Other")
    assert other.assets["name"].tolist() == ["Only here"]
    assert read_assets(path, kind="micro", sheet=1).assets["name"].tolist() == ["Only here"]
    with pytest.raises(
        RegisterError, match=r"no worksheet 'Missing' \(found sheets: \['Assets', 'Other'\]\)"
    ):
        read_assets(path, kind="micro", sheet="Missing")


def test_broken_xlsx_is_a_register_error(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match="cannot read the workbook"):
        read_assets(_write(tmp_path / "broken.xlsx", "not a zip"), kind="micro")


# --------------------------------------------------------------------------- spatial


def test_geojson_polygon_point_and_missing_geometry() -> None:
    register = read_assets(FIXTURES / "sites.geojson", kind="macro")
    assets, rejects = register
    assert assets.index.tolist() == ["GI-1", "GI-2"]
    assert assets.crs == schema.CRS_WGS84 and assets["footprint"].crs == schema.CRS_WGS84
    hospital = assets.loc["GI-1"]
    assert hospital["footprint"].geom_type == "Polygon"
    assert hospital["footprint"].contains(hospital["geometry"])
    assert hospital["capacity"] == 669.0
    assert assets.loc["GI-2", "footprint"] is None
    assert assets.loc["GI-2", "geometry"].equals(Point(-1.9380, 52.4996))
    assert assets["source_line"].tolist() == [1, 2]
    assert list(assets.columns[-2:]) == ["footprint", "geometry"]
    assert rejects["reason_code"].tolist() == ["geometry_missing", "geometry_invalid"]
    assert rejects["source_line"].tolist() == [3, 4]
    assert rejects["message"].tolist() == [
        "sites.geojson feature 3, column 'geometry': the feature has no geometry (expected a Point or Polygon)",
        "sites.geojson feature 4, column 'geometry': geometry type 'LineString' is not a point or "
        "polygon (expected a Point, Polygon or MultiPolygon)",
    ]


def test_invalid_polygon_is_rejected(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["Bow tie", "Empty"], "category": ["development_site", "development_site"]},
        geometry=[Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), Point()],
        crs=schema.CRS_WGS84,
    )
    frame.to_file(tmp_path / "bad.gpkg", driver="GPKG")
    rejects = read_assets(tmp_path / "bad.gpkg", kind="macro").rejects
    assert rejects["reason_code"].tolist() == ["geometry_invalid", "geometry_missing"]
    assert "Self-intersection" in rejects["message"].iloc[0]


def test_gpkg_round_trip_reprojects_from_bng(tmp_path: Path) -> None:
    original = read_assets(FIXTURES / "sites.geojson", kind="macro").assets
    write_frame(original.drop(columns="footprint").to_crs(schema.CRS_BNG), tmp_path / "sites.gpkg")
    register = read_assets(tmp_path / "sites.gpkg", kind="macro")
    again = register.assets
    assert "reprojected from EPSG:27700 to EPSG:4326" in register.notes
    assert again.index.tolist() == original.index.tolist()
    assert again["name"].tolist() == original["name"].tolist()
    assert again["capacity"].tolist() == original["capacity"].tolist()
    assert again["origin_source"].tolist() == [str(FIXTURES / "sites.geojson")] * 2
    distances = shapely.distance(
        np.asarray(again.geometry.array), np.asarray(original.geometry.array)
    )
    assert float(distances.max()) < 1e-7  # degrees, about 1 cm after EPSG:27700 and back


def test_parquet_round_trips(tmp_path: Path) -> None:
    original = read_assets(FIXTURES / "sites.geojson", kind="macro").assets.copy()
    original.loc["GI-2", "tags"] = ["tram", "metro"]
    write_frame(original, tmp_path / "sites.parquet")
    again = read_assets(tmp_path / "sites.parquet", kind="macro").assets
    assert again.index.tolist() == ["GI-1", "GI-2"]
    assert again["tags"].tolist() == [[], ["tram", "metro"]]
    assert again.loc["GI-1", "footprint"].equals(original.loc["GI-1", "footprint"])
    assert again.geometry.geom_equals(original.geometry).all()

    plain = pd.DataFrame(
        {"asset_id": ["007", "008"], "name": ["A", "B"], "capacity": [3.0, np.nan]}
    )
    plain.to_parquet(tmp_path / "plain.parquet")
    register = read_assets(tmp_path / "plain.parquet", kind="micro", category="community_building")
    assert register.assets.index.tolist() == ["007", "008"]
    assert register.assets["capacity"].tolist() == [3.0, 1.0]
    assert register.assets.geometry.isna().all()


def test_parquet_index_becomes_the_id_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "name": ["A", "B"],
            "category": ["infrastructure"] * 2,
            "floors": pd.array([3, None], "Int64"),
        },
        index=pd.Index(["007", "008"], name="asset_id"),
    )
    frame.to_parquet(tmp_path / "plain.parquet")
    assets = read_assets(tmp_path / "plain.parquet", kind="macro").assets
    assert assets.index.tolist() == ["007", "008"]
    assert assets["floors"].tolist() == ["3", ""]
    spatial = gpd.GeoDataFrame(frame, geometry=[Point(-1.9, 52.5), Point(-1.8, 52.4)], crs=4326)
    spatial.to_parquet(tmp_path / "geo.parquet")
    assert read_assets(tmp_path / "geo.parquet", kind="macro").assets.index.tolist() == [
        "007",
        "008",
    ]


def test_source_is_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "reg.csv", "name,category\nA,community_building\nB,bakery\n")
    monkeypatch.chdir(tmp_path)
    register = read_assets("./reg.csv", kind="micro")
    assert register.source == "./reg.csv"
    assert register.assets["source"].tolist() == ["./reg.csv"]
    assert register.rejects["source"].tolist() == ["./reg.csv"]


def test_spatial_file_without_crs_is_an_error(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["A"], "category": ["infrastructure"]}, geometry=[Point(1, 2)]
    )
    frame.to_parquet(tmp_path / "nocrs.parquet")
    with pytest.raises(RegisterError, match="no CRS"):
        read_assets(tmp_path / "nocrs.parquet", kind="macro")


# --------------------------------------------------------------------------- CLI


def test_cli_check_reports_and_writes_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rejects_csv = tmp_path / "out" / "rejects.csv"
    formula = _write(tmp_path / "formula.csv", "name,category\nA,\"=cmd|' /C calc'!A0\"\n")
    code = main(
        [
            "check",
            str(FIXTURES / "ragged.csv"),
            str(formula),
            "--kind",
            "micro",
            "--rejects",
            str(rejects_csv),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"{FIXTURES / 'ragged.csv'}: 6 rows in, 3 accepted, 3 rejected" in out
    assert re.search(r"ragged_row\s+3", out)
    assert "ragged.csv line 5: 6 fields, but the header has 4" in out
    assert "wrote 4 rejected rows" in out
    written = pd.read_csv(rejects_csv, dtype=str, keep_default_na=False)
    assert list(written.columns) == list(schema.REJECT_COLUMNS)
    assert written["reason_code"].tolist() == ["ragged_row"] * 3 + ["category_unknown"]
    # Excel-safe: the formula-looking value cannot run when the CSV is opened
    assert written["value"].iloc[3] == "'=cmd|' /C calc'!A0"
    assert written["message"].iloc[3].startswith("formula.csv line 2")


def test_cli_check_neutralises_formula_values(tmp_path: Path) -> None:
    register = _write(
        tmp_path / "f.csv", "name,category\n=1+1,social_enterprise\n=1+1,social_enterprise\n"
    )
    rejects_csv = tmp_path / "rejects.csv"
    assert main(["check", str(register), "--kind", "micro", "--rejects", str(rejects_csv)]) == 0
    written = pd.read_csv(rejects_csv, dtype=str, keep_default_na=False)
    assert written["value"].tolist() == ["'=1+1"]
    assert written["reason_code"].tolist() == ["duplicate_of:f-2"]


def test_cli_check_columns_and_category(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "check",
            str(FIXTURES / "mapped.csv"),
            "--kind",
            "micro",
            "--columns",
            "Organisation=name, Post Code=postcode,Ref=asset_id",
            "--category",
            "social_enterprise",
        ]
    )
    assert code == 0
    assert "mapped.csv: 2 rows in, 2 accepted, 0 rejected" in capsys.readouterr().out


def test_cli_check_limits_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "name,category\n" + "".join(f"Row {n},bakery\n" for n in range(25))
    assert main(["check", str(_write(tmp_path / "many.csv", text)), "--kind", "micro"]) == 0
    out = capsys.readouterr().out
    assert "first 20 rejects:" in out
    assert out.count("is not a micro category") == 20
    assert "… and 5 more" in out


def test_cli_check_unusable_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "check",
            str(FIXTURES / "undecodable.csv"),
            str(FIXTURES / "ragged.csv"),
            "--kind",
            "micro",
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "undecodable.csv" in captured.err and "byte offset 17" in captured.err
    assert "ragged.csv: 6 rows in" in captured.out  # the other file is still checked


def test_cli_check_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_help:
        main(["check", "--help"])
    assert exit_help.value.code == 0
    help_text = capsys.readouterr().out
    assert "examples:" in help_text and help_text.count("assetmap check ") >= 2
    with pytest.raises(SystemExit) as exit_bad:
        main(["check", "x.csv", "--kind", "micro", "--columns", "Organisation"])
    assert exit_bad.value.code == 2
    assert "is not HEADER=column" in capsys.readouterr().err


# --------------------------------------------------------------------------- properties

HEADERS = (
    ["asset_id", "name", "category", "capacity", "personal", "tags", "postcode", "notes"],
    ["name", "category", "lat", "lon"],
)


@st.composite
def registers(draw: st.DrawFn) -> tuple[str, list[list[str]], str]:
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    alphabet = st.characters(codec="cp1252" if encoding == "cp1252" else "utf-8")
    text = st.text(alphabet=alphabet, max_size=8)
    special = st.sampled_from(
        ["", "NA", "007", '"', ",", ";", "\n", "\r\n", "\r", "=SUM(A1)", " x "]
    )
    header = draw(st.sampled_from(HEADERS))
    cell = st.one_of(
        text, special, st.sampled_from(["social_enterprise", "community_building", "1", "yes"])
    )
    width = len(header)
    row = st.integers(min_value=0, max_value=width + 2).flatmap(
        lambda n: st.lists(cell, min_size=n, max_size=n)
    )
    rows = draw(st.lists(row, max_size=12))
    return encoding, [header, *rows], header[0]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=registers())
def test_every_row_is_accepted_or_rejected_once(
    tmp_path: Path, case: tuple[str, list[list[str]], str]
) -> None:
    encoding, rows, _ = case
    pieces = []
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(row)
        pieces.append(buffer.getvalue())
    path = tmp_path / "prop.csv"
    path.write_bytes("".join(pieces).encode(encoding))
    # physical start line of every written record; an empty row is a blank line, not a row
    starts, line = [], 1
    for number, (row, piece) in enumerate(zip(rows, pieces, strict=True)):
        if row and number:
            starts.append(line)
        line += len(re.findall(r"\r\n|\r|\n", piece))
    register = read_assets(path, kind="micro")
    assert register.rows_in == len(starts)
    assert len(register.assets) + len(register.rejects) == len(starts)
    seen = sorted(
        [*register.assets["source_line"].tolist(), *register.rejects["source_line"].tolist()]
    )
    assert seen == starts
    assert register.assets.index.is_unique
    assert all(schema.is_reason_code(code) for code in register.rejects["reason_code"])
    width = len(rows[0])
    written = {s: r for s, r in zip(starts, [r for r in rows[1:] if r], strict=True)}
    for line_no, reason in zip(
        register.rejects["source_line"], register.rejects["reason_code"], strict=True
    ):
        assert (reason == "ragged_row") == (len(written[line_no]) != width)
    for asset_id, line_no in register.assets["source_line"].items():
        fields = dict(zip(rows[0], written[line_no], strict=True))
        assert register.assets.loc[asset_id, "name"] == fields["name"].strip()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=200))
def test_random_bytes_never_crash(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(b"name,category\n" + body)
    try:
        register = read_assets(path, kind="micro", category="community_building")
    except RegisterError as error:
        assert "fuzz.csv" in str(error)
    else:
        assert len(register.assets) + len(register.rejects) == register.rows_in


def test_fixtures_are_unchanged_by_reading(tmp_path: Path) -> None:
    copy = shutil.copy(FIXTURES / "duplicates.csv", tmp_path / "duplicates.csv")
    before = Path(copy).read_bytes()
    read_assets(copy, kind="micro")
    assert Path(copy).read_bytes() == before
