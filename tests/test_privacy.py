"""Tests for assetmap.privacy: suppression, aggregation of personal rows, disclosure log, scans."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, PngImagePlugin

from assetmap import privacy
from assetmap._io import write_frame
from assetmap.areas import load_lsoa
from assetmap.privacy import (
    DISCLOSURE_COLUMNS,
    aggregate_personal,
    scan_for_personal,
    suppress,
    write_disclosure_log,
)

SQUARES = FIXTURES / "privacy" / "three_squares.geojson"
HIDDEN = ("<8", "*")


# --------------------------------------------------------------------------- suppress


@pytest.mark.parametrize(
    ("count", "published"),
    [
        (0, "0"),
        *[(k, "<8") for k in range(1, 8)],
        (8, "10"),
        (12, "10"),
        (13, "15"),
        (17, "15"),
        (18, "20"),
        (22, "20"),
        (23, "25"),
        (100, "100"),
        (102, "100"),
        (103, "105"),
    ],
)
def test_single_cell_rules(count: int, published: str) -> None:
    # A one-cell row: the cell and its row total are equal, so both follow the same rule.
    counts = pd.DataFrame({"skill": [count]}, index=["E01"])
    out, log = suppress(counts, table="t", total_row=False)
    assert out.loc["E01", "skill"] == published
    assert out.loc["E01", "total"] == published
    expected_rule = "primary_lt8" if published == "<8" else "rounded_5"
    assert log["rule"].tolist() == ([] if count == 0 else [expected_rule, expected_rule])


def test_column_of_counts_with_totals() -> None:
    counts = pd.DataFrame({"a": [0, 1, 7, 8, 12, 13]}, index=list("uvwxyz"))
    out, _ = suppress(counts)
    assert out["a"].tolist() == ["0", "<8", "<8", "10", "10", "15", "40"]
    assert out.index.tolist() == [*"uvwxyz", "total"]
    assert out.columns.tolist() == ["a", "total"]
    assert out.loc["total", "total"] == "40"  # 41 rounded


def test_secondary_suppression_in_a_row() -> None:
    counts = pd.DataFrame({"a": [3], "b": [20], "c": [30]}, index=["E01"])
    out, log = suppress(counts, table="skills", total_row=False)
    # 3 is primary; the row total (53 → "55") would give it away within rounding, so the
    # next-smallest non-zero cell (20) is hidden as well.
    assert out.loc["E01"].tolist() == ["<8", "*", "30", "55"]
    assert log.to_dict("records") == [
        {"table": "skills", "row": "E01", "column": "a", "rule": "primary_lt8", "published": "<8"},
        {"table": "skills", "row": "E01", "column": "b", "rule": "secondary", "published": "*"},
        {"table": "skills", "row": "E01", "column": "c", "rule": "rounded_5", "published": "30"},
        {
            "table": "skills",
            "row": "E01",
            "column": "total",
            "rule": "rounded_5",
            "published": "55",
        },
    ]


def test_secondary_suppression_cascades_through_columns() -> None:
    counts = pd.DataFrame(
        {"a": [3, 20, 0, 12], "b": [30, 15, 9, 0], "c": [0, 1, 40, 8]},
        index=["r1", "r2", "r3", "r4"],
    )
    out, log = suppress(counts)
    assert out.to_dict("index") == {
        "r1": {"a": "<8", "b": "*", "c": "0", "total": "35"},
        "r2": {"a": "*", "b": "*", "c": "<8", "total": "35"},
        "r3": {"a": "0", "b": "10", "c": "40", "total": "50"},
        "r4": {"a": "*", "b": "0", "c": "*", "total": "20"},
        "total": {"a": "35", "b": "55", "c": "50", "total": "140"},
    }
    assert (log["rule"] == "secondary").sum() == 5
    # Without a totals row only the rows are published sums: fewer cells are hidden.
    rows_only, _ = suppress(counts, total_row=False)
    assert rows_only.loc["r2"].tolist() == ["20", "*", "<8", "35"]
    assert rows_only.loc["r4"].tolist() == ["10", "0", "10", "20"]


def test_log_never_holds_true_counts() -> None:
    # No true count or total here is a multiple of 5, so none can appear as published.
    counts = pd.DataFrame({"a": [13, 4], "b": [21, 33]}, index=["x", "y"])
    _, log = suppress(counts, table="t")
    assert tuple(log.columns) == DISCLOSURE_COLUMNS
    true_values = {"13", "4", "21", "33", "34", "37", "17", "54", "88"}
    assert not true_values & set(log["published"])
    assert len(log) == 9  # every non-zero cell and total
    assert all(dtype == "str" for dtype in log.dtypes)


def test_suppress_does_not_modify_input() -> None:
    counts = pd.DataFrame({"a": [3, 9]}, index=["x", "y"])
    before = counts.copy()
    suppress(counts)
    pd.testing.assert_frame_equal(counts, before)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (pd.DataFrame({"a": [-1]}), "not a non-negative whole count"),
        (pd.DataFrame({"a": [1.5]}), "not a non-negative whole count"),
        (pd.DataFrame({"a": [np.nan]}), "not a non-negative whole count"),
        (pd.DataFrame({"a": ["3"]}), "expected integer counts"),
        (pd.DataFrame({"total": [3]}), "reserved for totals"),
        (pd.DataFrame({"a": [3]}, index=["total"]), "reserved for totals"),
    ],
)
def test_suppress_rejects_bad_tables(counts: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        suppress(counts)


def test_suppress_empty_table() -> None:
    out, log = suppress(pd.DataFrame(index=pd.Index([], dtype=object)))
    assert out.to_dict("index") == {"total": {"total": "0"}}
    assert log.empty and tuple(log.columns) == DISCLOSURE_COLUMNS


def _extended(values: np.ndarray, *, total_row: bool) -> np.ndarray:
    with_totals = np.column_stack([values, values.sum(axis=1)])
    return np.vstack([with_totals, with_totals.sum(axis=0)]) if total_row else with_totals


tables = st.tuples(st.integers(1, 6), st.integers(1, 5)).flatmap(
    lambda shape: arrays(
        np.int64,
        shape,
        elements=st.one_of(st.integers(0, 7), st.integers(0, 7), st.integers(0, 60)),
    )
)


@settings(max_examples=200, deadline=None)
@given(values=tables, total_row=st.booleans())
def test_no_published_value_reveals_a_small_count(values: np.ndarray, total_row: bool) -> None:
    counts = pd.DataFrame(
        values,
        index=[f"E{i:02d}" for i in range(values.shape[0])],
        columns=[f"c{j}" for j in range(values.shape[1])],
    )
    out, log = suppress(counts, total_row=total_row)
    true = _extended(values, total_row=total_row)
    text = out.to_numpy().astype(str)
    assert text.shape == true.shape
    hidden = np.isin(text, HIDDEN)

    # Every count 1..7 (cells and totals) is "<8" or "*"; zeros stay "0".
    assert hidden[(true >= 1) & (true <= 7)].all()
    assert (text[true == 0] == "0").all()
    # Every other published value is the count rounded to the nearest 5.
    shown = ~hidden & (true > 0)
    published = text[shown].astype(int)
    assert (published % 5 == 0).all()
    assert (np.abs(published - true[shown]) <= 2).all()
    # No cell can be recovered from a published total: 0 or >= 2 hidden cells per line.
    for i in range(true.shape[0]):
        if not hidden[i, -1]:
            assert hidden[i, :-1].sum() != 1
    if total_row:
        for j in range(true.shape[1]):
            if not hidden[-1, j]:
                assert hidden[:-1, j].sum() != 1
    # The log holds exactly the non-zero cells, with the rule matching the text.
    assert len(log) == int((true > 0).sum())
    rule_text = dict(zip(log["rule"], log["published"], strict=True))
    assert rule_text.get("primary_lt8", "<8") == "<8"
    assert rule_text.get("secondary", "*") == "*"


def test_write_disclosure_log(tmp_path: Path) -> None:
    _, log = suppress(pd.DataFrame({"a": [3, 40]}, index=["x", "y"]), table="t")
    path = tmp_path / "out" / "disclosure-log.csv"
    write_disclosure_log(log.assign(map="overview"), path)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert back.columns.tolist() == ["map", *DISCLOSURE_COLUMNS]
    assert back["published"].tolist() == log["published"].tolist()
    assert sorted(p.name for p in path.parent.iterdir()) == ["disclosure-log.csv"]
    with pytest.raises(ValueError, match="missing columns"):
        write_disclosure_log(log.drop(columns="rule"), tmp_path / "bad.csv")


# --------------------------------------------------------------------------- aggregate_personal


def _frame(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
    base = {
        "name": "",
        "kind": "micro",
        "tags": [],
        "postcode": "",
        "capacity": 1.0,
        "source": "synthetic.csv",
        "email": "",
        "phone": "",
    }
    records = [{**base, **r} for r in rows]
    geometry = [r.pop("geometry", None) for r in records]
    frame = gpd.GeoDataFrame(pd.DataFrame.from_records(records), geometry=geometry, crs="EPSG:4326")
    frame["source_line"] = np.arange(2, len(frame) + 2)
    frame.index = pd.Index([f"a{k:03d}" for k in range(len(frame))], name="asset_id")
    return frame


def _people(
    n: int, category: str, point: shapely.Point, *, personal: bool = True
) -> list[dict[str, object]]:
    return [
        {
            "name": f"Synthetic Person {category} {k}",
            "category": category,
            "personal": personal,
            "geometry": point,
            "postcode": "B66 2QT",
        }
        for k in range(n)
    ]


def _hex_centres() -> list[tuple[str, shapely.Point]]:
    origin = h3.latlng_to_cell(52.4912, -1.9499, 8)
    cells = sorted(h3.grid_disk(origin, 1))[:3]
    return [(c, shapely.Point(h3.cell_to_latlng(c)[1], h3.cell_to_latlng(c)[0])) for c in cells]


def test_aggregate_h3_counts_then_publishes() -> None:
    (a, pa), (b, pb), (c, pc) = _hex_centres()
    rows = (
        _people(9, "resident_skill", pa)
        + _people(13, "community_researcher", pa)
        + _people(2, "resident_skill", pb)
        + _people(20, "community_researcher", pb)
        + _people(30, "resident_skill", pc)
        + _people(11, "community_researcher", pc)
        # Non-personal rows are ignored, even in a personal category.
        + _people(50, "social_enterprise", pa, personal=False)
        + _people(4, "resident_skill", pb, personal=False)
    )
    assets = _frame(rows)
    before = assets.copy()

    counted = privacy._count_personal(
        assets, areas=None, area_id=None, area_name=None, by="category", h3_resolution=8
    )
    assert counted.method == "h3"
    assert counted.counts.to_dict("index") == {
        a: {"community_researcher": 13, "resident_skill": 9},
        b: {"community_researcher": 20, "resident_skill": 2},
        c: {"community_researcher": 11, "resident_skill": 30},
    }

    result = aggregate_personal(assets)
    pd.testing.assert_frame_equal(assets, before)
    assert result.method == "h3"
    assert result.n_rows == 85 and result.n_unplaced == 0
    cells = result.cells.set_index("area_id")
    assert list(result.cells.columns) == [
        "area_id",
        "area_name",
        "method",
        "geometry",
        "community_researcher",
        "resident_skill",
        "total",
    ]
    assert cells.loc[c, ["community_researcher", "resident_skill", "total"]].tolist() == [
        "10",
        "30",
        "40",
    ]
    assert cells.loc[b, "resident_skill"] == "<8"
    # Row b's total (22) and column resident_skill's total (41) are published, so a second
    # cell is hidden in each.
    assert cells.loc[b, "community_researcher"] == "*"
    assert cells.loc[a, "resident_skill"] == "*"
    assert result.totals.to_dict() == {
        "community_researcher": "45",
        "resident_skill": "40",
        "total": "85",
    }
    assert (result.cells["method"] == "h3").all()
    assert result.cells.crs == "EPSG:4326"
    for cell_id, point in ((a, pa), (b, pb), (c, pc)):
        polygon = cells.loc[cell_id, "geometry"]
        assert polygon.contains(point)
        assert polygon.area == pytest.approx(
            shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(cell_id)]).area
        )
    assert set(result.disclosure_log["table"]) == {"personal_by_category_h3"}
    assert "secondary" in set(result.disclosure_log["rule"])


def test_aggregate_lsoa_squares() -> None:
    squares = load_lsoa(path=SQUARES)  # Z01 left, Z03 middle, Z02 right
    left, middle, right = (shapely.Point(x, 52.485) for x in (-1.955, -1.945, -1.935))
    rows = (
        _people(9, "resident_skill", left)
        + _people(12, "community_researcher", left)
        + _people(3, "resident_skill", middle)
        + _people(10, "community_researcher", middle)
        + _people(1, "resident_skill", shapely.Point(-1.5, 52.0))  # outside: unplaced
        + _people(6, "social_enterprise", right, personal=False)  # no personal rows here
    )
    result = aggregate_personal(_frame(rows), areas=squares)
    assert result.method == "lsoa"
    assert result.n_rows == 35 and result.n_unplaced == 1
    cells = result.cells.set_index("area_id")
    assert cells.index.tolist() == ["Z01", "Z03"]  # Z02 has no personal rows: dropped
    assert cells["area_name"].tolist() == ["Testshire 001A", "Testshire 001C"]
    assert cells.loc["Z01", "geometry"].equals(squares.geometry.iloc[0])
    # True table Z01 [cr 12, rs 9 | 21], Z03 [10, 3 | 13], totals [22, 12 | 34]: the 3 is
    # primary; its column and row need a second hidden cell each, and so on.
    published = cells[["community_researcher", "resident_skill", "total"]]
    assert published.to_dict("index") == {
        "Z01": {"community_researcher": "*", "resident_skill": "*", "total": "20"},
        "Z03": {"community_researcher": "*", "resident_skill": "<8", "total": "15"},
    }
    assert result.totals.to_dict() == {
        "community_researcher": "20",
        "resident_skill": "10",
        "total": "35",
    }


def test_aggregate_sector_fallback() -> None:
    rows: list[dict[str, object]] = [
        {"name": "P1", "category": "resident_skill", "personal": True, "postcode": "b66 2qt"},
        {"name": "P2", "category": "resident_skill", "personal": True, "postcode": "B662QT"},
        {
            "name": "P3",
            "category": "resident_skill",
            "personal": True,
            "postcode": " B66\u00a02QU ",
        },
        {"name": "P4", "category": "community_researcher", "personal": True, "postcode": "B67 5AA"},
        {
            "name": "P5",
            "category": "resident_skill",
            "personal": True,
            "postcode": "not a postcode",
        },
    ]
    result = aggregate_personal(_frame(rows))
    assert result.method == "sector"
    assert result.n_unplaced == 1
    cells = result.cells.set_index("area_id")
    assert cells.index.tolist() == ["B66 2", "B67 5"]
    assert cells["geometry"].isna().all()
    assert cells.loc["B66 2", "resident_skill"] == "<8"
    privacy_counts = privacy._count_personal(
        _frame(rows), areas=None, area_id=None, area_name=None, by="category", h3_resolution=8
    ).counts
    assert privacy_counts.loc["B66 2", "resident_skill"] == 3


def test_aggregate_by_tags_explodes_lists() -> None:
    (a, pa), _, _ = _hex_centres()
    rows = [
        {"category": "resident_skill", "personal": True, "geometry": pa, "tags": ["nurse", "care"]},
        {"category": "resident_skill", "personal": True, "geometry": pa, "tags": ["nurse"]},
        {"category": "resident_skill", "personal": True, "geometry": pa, "tags": []},
    ]
    counts = privacy._count_personal(
        _frame(rows), areas=None, area_id=None, area_name=None, by="tags", h3_resolution=8
    ).counts
    assert counts.loc[a].to_dict() == {"care": 1, "nurse": 2, "unspecified": 1}


def test_aggregate_without_personal_rows() -> None:
    (_, pa), _, _ = _hex_centres()
    result = aggregate_personal(_frame(_people(5, "social_enterprise", pa, personal=False)))
    assert result.cells.empty and result.n_rows == 0
    assert result.totals.to_dict() == {"total": "0"}


def test_cells_hold_nothing_personal(tmp_path: Path) -> None:
    (_, pa), (_, pb), _ = _hex_centres()
    rows = _people(12, "resident_skill", pa) + _people(3, "resident_skill", pb)
    for k, row in enumerate(rows):
        row["email"] = f"person{k}@example.org"
        row["phone"] = f"0121 496 {k:04d}"
    assets = _frame(rows)
    result = aggregate_personal(assets)
    path = tmp_path / "cells.geojson"
    write_frame(result.cells, path)
    write_disclosure_log(result.disclosure_log, tmp_path / "disclosure-log.csv")
    assert scan_for_personal([tmp_path], assets) == []
    assert not {"name", "postcode", "email", "phone", "tags"} & set(result.cells.columns)


# --------------------------------------------------------------------------- scan_for_personal


@pytest.fixture
def register() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Amina Okafor", "Jo Bloggs", "Smethwick Library"],
            "postcode": ["B66 2QT", "B67 5AA", "B66 1AA"],
            "email": ["amina.okafor@example.org", "", "library@example.org"],
            "phone": ["0121 555 0101", "+44 7700 900123", "0121 555 0999"],
            "personal": [True, True, False],
        },
        index=pd.Index(["p1", "p2", "lib"], name="asset_id"),
    )


def _png(path: Path, **text: str) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        if key.startswith("z"):
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, pnginfo=info)
    return path


def test_scan_finds_planted_values(tmp_path: Path, register: pd.DataFrame) -> None:
    (tmp_path / "page.html").write_text("<p>Write to amina.okafor&#64;example.org</p>")
    (tmp_path / "cells.csv").write_text("area,postcode\nE01,b662qt\n")
    (tmp_path / "data.json").write_text(
        json.dumps({"who": "Jo Bloggs"}, ensure_ascii=True).replace("J", "\\u004a")
    )
    _png(tmp_path / "map.png", Title="map", zComment="ring +44 (0)121-555-0101 today")
    _png(tmp_path / "other.png", Author="jo   bloggs")
    (tmp_path / "page2.html").write_text("<a href='tel:07700900123'>call</a> B67&nbsp;5AA")
    hits = scan_for_personal([tmp_path], register)
    assert hits == sorted(
        [
            f"{tmp_path / 'cells.csv'}: unit postcode of personal row 'p1'",
            f"{tmp_path / 'data.json'}: name of personal row 'p2'",
            f"{tmp_path / 'map.png'}: phone of personal row 'p1'",
            f"{tmp_path / 'other.png'}: name of personal row 'p2'",
            f"{tmp_path / 'page.html'}: email of personal row 'p1'",
            # The email's local part spells the name too: words match across punctuation.
            f"{tmp_path / 'page.html'}: name of personal row 'p1'",
            f"{tmp_path / 'page2.html'}: phone of personal row 'p2'",
            f"{tmp_path / 'page2.html'}: unit postcode of personal row 'p2'",
        ]
    )
    # Messages name the row, never the value, so they can go into logs.
    assert not any("okafor" in h.lower() or "B66 2QT" in h for h in hits)


def test_scan_clean_files(tmp_path: Path, register: pd.DataFrame) -> None:
    (tmp_path / "index.html").write_text(
        "<h1>Smethwick Library</h1><p>B66 1AA, library@example.org, 0121 555 0999</p>"
        "<p>Residents' skills in sector B66 2: &lt;8. Call 0121 555 01010 or 121 555 0101.</p>"
        "<p>Aminah Okaforth; B66 2QTX</p>"
    )
    (tmp_path / "cells.geojson").write_text(
        json.dumps({"area_id": "B66 2", "resident_skill": "<8"})
    )
    _png(tmp_path / "map.png", Title="Overview", zComment="Contains OS data")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "links.csv").write_text("micro_id,macro_id,metres\nlib,qehb,1200.5\n")
    assert scan_for_personal([tmp_path], register) == []


def test_scan_png_pixels_are_not_text(tmp_path: Path, register: pd.DataFrame) -> None:
    # A PNG whose only text is in a metadata chunk of a zip archive member is found too.
    png = _png(tmp_path / "legend.png", Title="legend")
    archive = tmp_path / "maps.zip"
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(png, "legend.png")
        zf.writestr("notes.txt", "ask Amina Okafor")
    hits = scan_for_personal([archive, png], register)
    assert hits == [f"{archive}!notes.txt: name of personal row 'p1'"]


def test_scan_missing_path(tmp_path: Path, register: pd.DataFrame) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        scan_for_personal([tmp_path / "nope"], register)


def test_scan_exempts_values_of_public_rows(tmp_path: Path, register: pd.DataFrame) -> None:
    # A resident registered with the library's phone and postcode: publishing the library's
    # details reveals nothing about the resident, so the gate does not block them.
    shared = register.copy()
    shared.loc["p1", ["phone", "postcode"]] = ["0121 555 0999", "B66 1AA"]
    (tmp_path / "index.html").write_text("<p>Smethwick Library, B66 1AA, 0121 555 0999</p>")
    assert scan_for_personal([tmp_path], shared) == []
    # Passing only the personal rows (no public rows to compare with) blocks them.
    personal_only = shared[shared["personal"]].drop(columns="personal")
    assert scan_for_personal([tmp_path], personal_only) == [
        f"{tmp_path / 'index.html'}: phone of personal row 'p1'",
        f"{tmp_path / 'index.html'}: unit postcode of personal row 'p1'",
    ]


def test_aggregate_plain_frame_without_geometry() -> None:
    frame = pd.DataFrame(
        {"category": ["resident_skill"] * 9, "personal": [True] * 9, "postcode": ["B66 2QT"] * 9}
    )
    result = aggregate_personal(frame)
    assert result.method == "sector"
    assert result.cells[["area_id", "resident_skill", "total"]].to_dict("records") == [
        {"area_id": "B66 2", "resident_skill": "10", "total": "10"}
    ]
    assert "1 cells" in result._repr_html_()


def test_personal_mask_rules() -> None:
    flags = pd.DataFrame({"personal": pd.array([True, False, None], dtype="boolean")})
    assert privacy.personal_mask(flags).tolist() == [True, False, True]  # unknown → personal
    by_category = pd.DataFrame({"category": ["resident_skill", "social_enterprise"]})
    assert privacy.personal_mask(by_category).tolist() == [True, False]
    with pytest.raises(ValueError, match="not true/false"):
        privacy.personal_mask(pd.DataFrame({"personal": ["yes", "no"]}))
