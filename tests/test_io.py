"""Atomic writers: Excel-safe CSV, frames by extension, secondary geometry columns, no partial files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from assetmap._io import atomic_open, excel_safe, write_frame


def test_excel_safe_prefixes_formula_text_only() -> None:
    frame = pd.DataFrame(
        {"a": ["=SUM(A1)", "+44 121", "-x", "@cmd", "plain", None], "n": [1, 2, 3, 4, 5, 6]}
    )
    out = excel_safe(frame)
    assert out["a"].tolist()[:5] == ["'=SUM(A1)", "'+44 121", "'-x", "'@cmd", "plain"]
    assert out["n"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["a"].iloc[0] == "=SUM(A1)"  # input untouched


def test_atomic_open_leaves_previous_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet", ".csv"])
def test_write_frame_with_list_and_footprint_columns(tmp_path: Path, suffix: str) -> None:
    frame = gpd.GeoDataFrame(
        {
            "name": ["a", "b"],
            "tags": [["x", "y"], []],
            "footprint": gpd.GeoSeries([box(0, 0, 1, 1), None], index=["id1", "id2"]),
        },
        geometry=[Point(-1.9, 52.5), Point(-1.95, 52.49)],
        crs="EPSG:4326",
        index=pd.Index(["id1", "id2"], name="asset_id"),
    )
    path = tmp_path / f"assets{suffix}"
    write_frame(frame, path)
    back = (
        pd.read_csv(path)
        if suffix == ".csv"
        else gpd.read_file(path)
        if suffix != ".parquet"
        else gpd.read_parquet(path)
    )
    assert list(back["asset_id"]) == ["id1", "id2"]
    if suffix != ".parquet":
        assert back["tags"].iloc[0] == "x;y"
        assert str(back["footprint"].iloc[0]).startswith("POLYGON")


def test_outputs_are_readable_like_plain_files_and_geojson_named_after_the_file(
    tmp_path: Path,
) -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(-1.9, 52.5)], crs="EPSG:4326")
    path = tmp_path / "sites.geojson"
    write_frame(frame, path)
    assert path.stat().st_mode & 0o044 == 0o044
    assert '"name": "sites"' in path.read_text()
