"""Tests for the synthetic demo registers (data/demo) and the committed postcode extract."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, real_data
from pyproj import Transformer

DEMO = ROOT / "data" / "demo"
POSTCODES = ROOT / "assetmap" / "data" / "postcodes"
EXTRACT = POSTCODES / "codepoint_extract.csv"
REGISTERS = (
    "residents_skills.csv",
    "social_enterprises.csv",
    "community_buildings.csv",
    "community_researchers.csv",
    "rutland_assets.csv",
)
ENCODING = {name: "cp1252" if name == "community_buildings.csv" else "utf-8" for name in REGISTERS}
GOOD = {
    "residents_skills.csv": 300,
    "social_enterprises.csv": 120,
    "community_buildings.csv": 40,
    "community_researchers.csv": 85,
    "rutland_assets.csv": 40,
}
PERSONAL = {"residents_skills.csv", "community_researchers.csv"}
ATTRIBUTION = (
    "Contains Ordnance Survey data © Crown copyright and database right 2025.",
    "Contains Royal Mail data © Royal Mail copyright and database right 2025.",
    "Contains National Statistics data © Crown copyright and database right 2025.",
)
CODEPOINT_COLUMNS = [
    "postcode",
    "pqi",
    "easting",
    "northing",
    "country",
    "nhs_region",
    "nhs_ha",
    "county",
    "district",
    "ward",
]


def _script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` (not a package) as a module."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _records(name: str, folder: Path = DEMO) -> list[tuple[int, list[str]]]:
    """(physical line, fields) of every data row, counting newlines inside quoted fields."""
    with open(folder / name, encoding=ENCODING[name], newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        assert header == list(_script("make_demo_data").HEADER)
        out = []
        line = reader.line_num + 1
        for fields in reader:
            out.append((line, fields))
            line = reader.line_num + 1
    return out


def _frame(name: str) -> pd.DataFrame:
    """Well-formed rows of a register as text, with their physical line."""
    header = list(_script("make_demo_data").HEADER)
    rows = [(line, fields) for line, fields in _records(name) if len(fields) == len(header)]
    frame = pd.DataFrame([fields for _, fields in rows], columns=header)
    frame.insert(0, "line", [line for line, _ in rows])
    return frame


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return pd.read_csv(DEMO / "expected_rejects.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def directory() -> pd.DataFrame:
    return pd.read_csv(
        EXTRACT, header=None, names=CODEPOINT_COLUMNS, dtype=str, keep_default_na=False
    ).set_index("postcode")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    _script("make_demo_data").generate(out)
    return out


def _good(name: str, expected: pd.DataFrame) -> pd.DataFrame:
    frame = _frame(name)
    bad_ids = set(expected.loc[expected["source"] == name, "asset_id"])
    return frame[~frame["asset_id"].isin(bad_ids)]


# --- generator --------------------------------------------------------------------------------


def test_committed_files_are_the_generator_output(generated: Path) -> None:
    committed = sorted(p.name for p in DEMO.glob("*.csv"))
    assert committed == sorted(p.name for p in generated.glob("*.csv"))
    assert committed == sorted([*REGISTERS, "expected_rejects.csv"])
    for name in committed:
        assert (generated / name).read_bytes() == (DEMO / name).read_bytes(), name


def test_generator_is_deterministic_and_cli_takes_out(
    generated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _script("make_demo_data").main(["--out", str(tmp_path)]) == 0
    assert "residents_skills.csv: 308 data rows" in capsys.readouterr().out
    for path in sorted(generated.glob("*.csv")):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


# --- content ----------------------------------------------------------------------------------


def test_row_counts_and_personal_flags(expected: pd.DataFrame) -> None:
    for name in REGISTERS:
        records = _records(name)
        assert len(records) == GOOD[name] + 8, name
        good = _good(name, expected)
        assert len(good) == GOOD[name]
        assert good["asset_id"].is_unique
        flag = "true" if name in PERSONAL else "false"
        assert (good["personal"] == flag).all(), name
        assert (good["name"].str.strip() != "").all()


def test_residents_skills_mix(expected: pd.DataFrame) -> None:
    good = _good("residents_skills.csv", expected)
    assert (good["category"] == "resident_skill").all()
    tags = good["tags"].str.split(";")
    clinical = tags.map(lambda t: "clinical" in t)
    assert clinical.sum() == 250
    assert tags.map(lambda t: "overseas_qualified" in t).sum() == 250
    assert (tags[clinical].str[0].value_counts().to_dict()) == {
        "nurse": 80,
        "doctor": 70,
        "pharmacist": 25,
        "midwife": 20,
        "dentist": 15,
        "physiotherapist": 15,
        "healthcare_assistant": 15,
        "radiographer": 10,
    }
    trades = {
        "carpenter",
        "electrician",
        "plumber",
        "chef",
        "retail",
        "care",
        "tourism",
        "translation",
    }
    assert set(tags[~clinical].str[0]) <= trades
    assert (~clinical).sum() == 50


def test_other_registers_mix(expected: pd.DataFrame) -> None:
    enterprises = _good("social_enterprises.csv", expected)
    assert enterprises["tags"].value_counts().to_dict() == {
        "health_care": 30,
        "retail": 25,
        "built_environment": 25,
        "food": 25,
        "tourism": 15,
    }
    assert enterprises["website"].str.match(r"^https://example\.org/[a-z0-9-]+$").all()
    assert (
        enterprises["name"]
        .str.contains(r"CIC|Co-operative Ltd|Community Interest Company|Social Enterprise Ltd")
        .all()
    )
    buildings = _good("community_buildings.csv", expected)
    assert set(buildings["tags"]) == {
        "community_centre",
        "faith_building",
        "library",
        "school",
        "gp_practice",
        "youth_centre",
    }
    assert (buildings["category"] == "community_building").all()
    researchers = _good("community_researchers.csv", expected)
    assert (researchers["category"] == "community_researcher").all()
    rutland = _good("rutland_assets.csv", expected)
    assert rutland["category"].value_counts().to_dict() == {
        "community_building": 20,
        "social_enterprise": 20,
    }
    assert rutland["postcode"].eq("").sum() < 20
    assert rutland.loc[rutland["postcode"] != "", "postcode"].str.startswith("LE15 ").all()


def test_contact_details_are_fictional() -> None:
    drama = re.compile(r"^(0121 496 0\d{3}|07700 900\d{3})$")
    for name in REGISTERS:
        frame = _frame(name)
        assert frame["phone"].str.match(drama).all(), name
        emails = frame.loc[frame["email"] != "", "email"]
        assert emails.str.endswith("@example.org").all(), name
        if name in PERSONAL:
            assert len(emails) == len(frame)


def test_encodings() -> None:
    raw = (DEMO / "community_buildings.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1252")
    assert "Cape Hill Community Café" in text
    assert "Young People’s Centre" in text
    assert b"Caf\xe9" in raw and b"People\x92s" in raw
    for name in REGISTERS:
        if name != "community_buildings.csv":
            data = (DEMO / name).read_bytes()
            data.decode("utf-8")
            assert not data.startswith(b"\xef\xbb\xbf")


def test_multiline_description_spans_two_physical_lines() -> None:
    records = dict(
        (fields[0], (line, fields)) for line, fields in _records("social_enterprises.csv")
    )
    line, fields = records["se-0008"]
    assert "\n" in fields[11]
    assert records["se-0009"][0] == line + 2


def test_postcodes_are_in_the_extract_or_deliberately_bad(
    expected: pd.DataFrame, directory: pd.DataFrame
) -> None:
    deliberate = set(
        expected.loc[
            expected["reason_code"].isin(["postcode_malformed", "postcode_not_found"]), "value"
        ]
    )
    assert deliberate == {"B66 2QQX", "B66 9ZZ", "LE15 6QQX", "LE15 9ZZ"}
    assert not deliberate & set(directory.index)
    for name in REGISTERS:
        used = set(_frame(name)["postcode"]) - {""}
        assert used - deliberate <= set(directory.index), name
        good = _good(name, expected)
        districts = set(good.loc[good["postcode"] != "", "postcode"].str.split(" ").str[0])
        allowed = (
            {"LE15"} if name == "rutland_assets.csv" else {"B1", "B3", "B16", "B18", "B66", "B67"}
        )
        assert districts <= allowed, name


def test_location_mix_and_synthetic_coordinates(
    expected: pd.DataFrame, directory: pd.DataFrame
) -> None:
    to_bng = Transformer.from_crs(4326, 27700, always_xy=True)
    units = directory[directory["pqi"] == "10"]
    unit_e = units["easting"].astype(float).to_numpy()
    unit_n = units["northing"].astype(float).to_numpy()
    for name in REGISTERS:
        good = _good(name, expected)
        has_pc, has_ll, has_en = good["postcode"] != "", good["lat"] != "", good["easting"] != ""
        assert (has_pc | has_ll | has_en).all()
        assert not (has_ll & has_en).any()
        assert 0.55 < (has_pc & ~has_ll).mean() < 0.85, name
        assert has_ll.any() and has_en.any() and (has_pc & has_ll).any(), name
        east, north = to_bng.transform(
            good.loc[has_ll, "lon"].astype(float).to_numpy(),
            good.loc[has_ll, "lat"].astype(float).to_numpy(),
        )
        east = np.concatenate([east, good.loc[has_en, "easting"].astype(float).to_numpy()])
        north = np.concatenate([north, good.loc[has_en, "northing"].astype(float).to_numpy()])
        # Never a copied directory point: every coordinate is at least 0.5 m from every unit.
        nearest = np.min(
            np.hypot(east[:, None] - unit_e[None, :], north[:, None] - unit_n[None, :]), axis=1
        )
        assert nearest.min() > 0.5, name
        # Rows with both a postcode and lat/lon agree within the 150 m jitter (plus rounding).
        both = good[has_pc & has_ll]
        e_b, n_b = to_bng.transform(
            both["lon"].astype(float).to_numpy(), both["lat"].astype(float).to_numpy()
        )
        unit = units.loc[both["postcode"]]
        gap = np.hypot(
            e_b - unit["easting"].astype(float).to_numpy(),
            n_b - unit["northing"].astype(float).to_numpy(),
        )
        assert gap.max() <= 151.0, name
        if name != "rutland_assets.csv":
            lat, lon = good.loc[has_ll, "lat"].astype(float), good.loc[has_ll, "lon"].astype(float)
            assert lat.between(52.44, 52.53).all() and lon.between(-2.03, -1.87).all(), name


# --- deliberate bad rows ------------------------------------------------------------------------


def test_expected_rejects_point_at_the_bad_rows(expected: pd.DataFrame) -> None:
    assert len(expected) == 40
    assert list(expected.columns) == [
        "source",
        "source_line",
        "asset_id",
        "column",
        "value",
        "reason_code",
    ]
    for name in REGISTERS:
        mine = expected[expected["source"] == name]
        assert mine["reason_code"].str.split(":").str[0].tolist() == list(
            _script("make_demo_data").BAD_KINDS
        )
        by_line = dict(_records(name))
        frame = _frame(name).set_index("asset_id")
        for row in mine.itertuples():
            fields = by_line[int(row.source_line)]
            assert fields[0] == row.asset_id
            reason = row.reason_code.split(":")[0]
            if reason == "ragged_row":
                assert len(fields) == 16
                continue
            record = frame.loc[row.asset_id]
            if row.column:
                assert record[row.column] == row.value
            if reason in {
                "postcode_malformed",
                "postcode_not_found",
                "coord_swapped_lat_lon",
                "coord_out_of_range",
            }:
                # A location defect is the row's only location.
                located = [c for c in ("postcode", "lat", "easting") if record[c] != ""]
                assert len(located) == 1
            if reason == "coord_swapped_lat_lon":
                assert abs(float(record["lat"])) < 3 and 52 < float(record["lon"]) < 53
            if reason == "duplicate_of":
                original = frame.loc[row.reason_code.split(":")[1]]
                assert (original["name"], original["postcode"]) == (
                    record["name"],
                    record["postcode"],
                )
                assert original["line"] < record["line"]


def test_readme_documents_every_bad_row_and_says_synthetic(expected: pd.DataFrame) -> None:
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme
    assert "20161019" in readme and "scripts/make_demo_data.py" in readme
    for row in expected.itertuples():
        assert f"{row.source_line} `{row.asset_id}`" in readme, row
        assert f"`{row.reason_code.split(':')[0]}" in readme
    for line in ATTRIBUTION:
        assert line in readme


def test_demo_registers_read_and_geocode_to_exactly_the_expected_rejects(
    expected: pd.DataFrame,
) -> None:
    """End to end with the package reader and geocoder: good rows kept, bad rows rejected."""
    from assetmap.geocode import geocode
    from assetmap.registers import read_assets

    for name in REGISTERS:
        register = read_assets(DEMO / name, kind="micro")
        placed = geocode(register.assets)
        rejects = pd.concat([register.rejects, placed.rejects])
        got = sorted(zip(rejects["source_line"].astype(int), rejects["reason_code"], strict=True))
        mine = expected[expected["source"] == name]
        want = sorted(zip(mine["source_line"].astype(int), mine["reason_code"], strict=True))
        assert got == want, name
        assert len(placed.assets) == GOOD[name]


# --- the committed postcode extract ---------------------------------------------------------------


def test_extract_size_layout_and_readme(directory: pd.DataFrame) -> None:
    assert EXTRACT.stat().st_size < 1_000_000
    raw = EXTRACT.read_text(encoding="ascii")
    lines = raw.splitlines()
    assert len(lines) == len(directory) == 6711
    assert all(re.match(r'^"[A-Z0-9]{2,4} [0-9][A-Z]{2}",\d+,\d+,\d+,"', line) for line in lines)
    assert all(line.count(",") == 9 for line in lines)
    districts = directory.index.str.split(" ").str[0]
    assert set(districts) == {
        "B1",
        "B3",
        "B16",
        "B18",
        "B66",
        "B67",
        "B68",
        "B69",
        "B70",
        "B71",
        "LE15",
        "PE9",
    }
    assert (directory.loc[districts == "PE9", "district"] == "E06000017").all()
    readme = (POSTCODES / "README.md").read_text(encoding="utf-8")
    for line in ATTRIBUTION:
        assert line in readme
    assert "2025.4.0" in readme and "Open Government Licence v3.0" in readme
    assert "6,711" in readme
    assert "| `LE15` | 1,111 |" in readme and "| `B66` | 568 |" in readme


@pytest.mark.data
def test_extract_rebuilds_byte_identical_from_the_publishers_zip(tmp_path: Path) -> None:
    zip_path = real_data("codepoint_gb/codepo_gb.zip")
    module = _script("make_postcode_extract")
    counts = module.build(zip_path, tmp_path)
    assert sum(counts.values()) == 6711
    assert (tmp_path / "codepoint_extract.csv").read_bytes() == EXTRACT.read_bytes()
    assert (tmp_path / "README.md").read_bytes() == (POSTCODES / "README.md").read_bytes()


def test_select_lines_keeps_bytes_and_filters_rutland() -> None:
    module = _script("make_postcode_extract")
    raw = (
        b'"PE9 1AA",10,503000,307000,"E92000001","E19000001","E18000004","E10000019","E07000141","E05010000"\n'
        b'"PE9 3AB",10,497000,308000,"E92000001","E19000001","E18000004","","E06000017","E05012650"\n'
        b'"LE15 6NT",10,485465,308869,"E92000001","E19000001","E18000004","","E06000017","E05012642"\n'
        b'"LE16 7AA",10,480000,290000,"E92000001","E19000001","E18000004","E10000021","E07000131","E05005555"\n'
    )
    kept = module.select_lines(raw, whole=("LE15",), rutland_only=("PE9",))
    assert kept == raw.splitlines(keepends=True)[1] + raw.splitlines(keepends=True)[2]
    assert io.BytesIO(kept).read().count(b"\n") == 2
