"""catchments() and membership() on a synthetic street grid with hand-known travel times."""

from __future__ import annotations

import math
from pathlib import Path
from unittest import mock

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetmap import CRSError
from assetmap.catchments import CATCHMENT_COLUMNS, MEMBERSHIP_COLUMNS, catchments, membership
from assetmap.network import StreetNetwork

X0, Y0 = 400_000.0, 300_000.0  # grid origin in EPSG:27700 (metres)


def frame(
    xy: list[tuple[float, float] | None], prefix: str, crs: str = "EPSG:27700"
) -> gpd.GeoDataFrame:
    geometry = [None if p is None else shapely.Point(p) for p in xy]
    index = pd.Index([f"{prefix}{i}" for i in range(len(xy))], name="asset_id")
    return gpd.GeoDataFrame(geometry=geometry, index=index, crs=crs)


def grid_network(n: int = 5, spacing_m: float = 100.0) -> StreetNetwork:
    """A 5 × 5 two-way grid, 100 m spacing, 4.8 km/h: 1.25 minutes per edge."""
    xs, ys = np.meshgrid(np.arange(n) * spacing_m + X0, np.arange(n) * spacing_m + Y0)
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return StreetNetwork.from_edges(xs.ravel(), ys.ravel(), u, v, np.full(u.size, spacing_m))


GRID = grid_network()
CORNER = frame([(X0, Y0)], "S")  # a site exactly on node (0, 0)


def bands_27700(result: gpd.GeoDataFrame) -> dict[tuple[str, float], shapely.Geometry]:
    projected = result.to_crs(27700)
    return {
        (row.macro_id, row.band_minutes): row.geometry for row in projected.itertuples(index=False)
    }


def test_grid_bands_and_known_membership() -> None:
    result = catchments(CORNER, network=GRID, minutes=(1.25, 2.5, 5.0), edge_buffer_m=5.0)
    assert list(result.columns) == [*CATCHMENT_COLUMNS, "geometry"]
    assert result.crs == "EPSG:4326"
    assert result["band_minutes"].tolist() == [1.25, 2.5, 5.0]
    assert (result["mode"] == "walk").all() and (result["note"] == "").all()
    micro = frame(
        [
            (X0 + 100, Y0),  # 1 edge: 1.25 min
            (X0 + 100, Y0 + 100),  # 2 edges: 2.5 min
            (X0 + 200, Y0 + 200),  # 4 edges: 5 min
            (X0 + 400, Y0 + 400),  # 8 edges: 10 min — in no band
            (X0 + 50, Y0 + 50),  # inside a block, 50 m from any street: in no band
            (X0 + 150, Y0 + 3),  # 1.5 edges along the street
            None,
        ],
        "m",
    )
    members = membership(result, micro)
    assert list(members.columns) == list(MEMBERSHIP_COLUMNS)
    band = members.set_index("micro_id")["band_minutes"]
    assert band.to_dict() == pytest.approx(
        {"m0": 1.25, "m1": 2.5, "m2": 5.0, "m3": np.nan, "m4": np.nan, "m5": 2.5, "m6": np.nan},
        nan_ok=True,
    )
    assert members.set_index("micro_id").loc["m0", "macro_id"] == "S0"
    assert members.set_index("micro_id").loc["m3"].isna().all()


def test_band_is_buffered_streets_not_a_hull() -> None:
    result = catchments(CORNER, network=GRID, minutes=(1.25,), edge_buffer_m=5.0)
    (geometry,) = bands_27700(result).values()
    expected = shapely.buffer(
        shapely.MultiLineString([[(X0, Y0), (X0 + 100, Y0)], [(X0, Y0), (X0, Y0 + 100)]]), 5.0
    )
    assert geometry.symmetric_difference(expected).area < 0.01 * expected.area
    assert result["area_m2"].item() == pytest.approx(expected.area, rel=0.01)
    assert not geometry.contains(shapely.Point(X0 + 50, Y0 + 50))


def test_partial_edges_include_the_reachable_fraction() -> None:
    # 1.875 minutes = 1.5 edges: the street east of node (100, 0) is covered up to x = 150.
    result = catchments(CORNER, network=GRID, minutes=(1.875,), edge_buffer_m=5.0)
    (geometry,) = bands_27700(result).values()
    assert geometry.contains(shapely.Point(X0 + 145, Y0))
    assert not geometry.contains(shapely.Point(X0 + 160, Y0))
    assert geometry.contains(shapely.Point(X0 + 100, Y0 + 45))
    assert not geometry.contains(shapely.Point(X0 + 100, Y0 + 60))


def test_bands_are_nested_and_grow() -> None:
    result = catchments(CORNER, network=GRID, minutes=(5, 1.25, 2.5))
    shapes = bands_27700(result)
    small, middle, large = (shapes[("S0", t)] for t in (1.25, 2.5, 5.0))
    assert small.difference(middle).area < 1.0 and middle.difference(large).area < 1.0
    assert small.area < middle.area < large.area


def test_one_travel_call_for_all_sites() -> None:
    sites = frame([(X0, Y0), (X0 + 400, Y0 + 400), (X0 + 200, Y0 + 200)], "S")
    with mock.patch.object(
        StreetNetwork, "travel", autospec=True, side_effect=StreetNetwork.travel
    ) as travel:
        result = catchments(sites, network=GRID, minutes=(2.5, 5))
    assert travel.call_count == 1
    assert travel.call_args.kwargs == {"limit_minutes": 5.0, "reverse": True}
    assert len(result) == 6 and result["macro_id"].tolist() == ["S0", "S0", "S1", "S1", "S2", "S2"]


def test_one_way_streets_bind_the_way_to_the_site() -> None:
    # 0 → 1 → 2 one-way along y = 0; the way back from 2 to 0 is a detour via node 3.
    net = StreetNetwork.from_edges(
        [X0, X0 + 100, X0 + 200, X0 + 100],
        [Y0, Y0, Y0, Y0 + 500],
        [0, 1, 2, 3],
        [1, 2, 3, 0],
        [100.0, 100.0, 510.0, 510.0],
        bidirectional=False,
    )
    node_1 = frame([(X0 + 100, Y0)], "m")
    towards_2 = catchments(
        frame([(X0 + 200, Y0)], "S"), network=net, minutes=(2.5,), edge_buffer_m=5
    )
    towards_0 = catchments(frame([(X0, Y0)], "S"), network=net, minutes=(2.5,), edge_buffer_m=5)
    assert membership(towards_2, node_1)["band_minutes"].item() == 2.5
    assert np.isnan(membership(towards_0, node_1)["band_minutes"].item())


def test_site_off_the_network_gets_a_labelled_disc() -> None:
    sites = frame([(X0, Y0), (X0 + 3000, Y0)], "S")
    result = catchments(sites, network=GRID, minutes=(10,))
    off = result.set_index("macro_id").loc["S1"]
    assert off["mode"] == "euclidean"
    assert off["note"] == (
        "outside_network: site snapped 2600 m > 250 m tolerance; "
        "straight-line buffer of 800 m (10 min at 4.8 km/h)"
    )
    assert off["area_m2"] == pytest.approx(math.pi * 800**2, rel=0.01)


def test_without_a_network_every_band_is_a_disc() -> None:
    sites = frame([(X0, Y0), None], "S")
    walk = catchments(sites, minutes=(10, 20))
    assert (walk["mode"] == "euclidean").all()
    assert walk["note"].tolist() == [
        "no walk network given; straight-line buffer of 800 m (10 min at 4.8 km/h)",
        "no walk network given; straight-line buffer of 1,600 m (20 min at 4.8 km/h)",
    ]
    np.testing.assert_allclose(walk["area_m2"], math.pi * np.array([800, 1600]) ** 2, rtol=0.01)
    assert walk.attrs["unplaced"] == ["S1"]
    drive = catchments(sites, minutes=(10,), mode="drive")
    assert drive["area_m2"].item() == pytest.approx(math.pi * 5000**2, rel=0.01)


def test_wgs84_sites_and_refusals() -> None:
    in_wgs = catchments(CORNER.to_crs(4326), network=GRID, minutes=(2.5,))
    in_bng = catchments(CORNER, network=GRID, minutes=(2.5,))
    assert in_wgs["area_m2"].item() == pytest.approx(in_bng["area_m2"].item(), rel=1e-3)
    with pytest.raises(CRSError, match="macro is in EPSG:3857"):
        catchments(CORNER.to_crs(3857))
    with pytest.raises(ValueError, match="walk network"):
        catchments(CORNER, network=GRID, mode="drive")
    with pytest.raises(ValueError, match="positive numbers of minutes"):
        catchments(CORNER, minutes=(10, -5))
    with pytest.raises(CRSError, match="micro is in EPSG:3857"):
        membership(in_bng, CORNER.to_crs(3857))


def test_membership_tie_breaks_and_order() -> None:
    sites = frame([(X0 + 200, Y0), (X0, Y0)], "S")  # S0 and S1 both 1 edge from node (100, 0)
    result = catchments(sites, network=GRID, minutes=(1.25, 2.5))
    micro = frame([(X0 + 100, Y0), (X0 + 300, Y0 + 100)], "m")
    members = membership(result, micro)
    assert members[["micro_id", "macro_id", "band_minutes"]].values.tolist() == [
        ["m0", "S0", 1.25],
        ["m0", "S1", 1.25],
        ["m1", "S0", 2.5],
    ]
    nearest = members.groupby("micro_id").head(1)
    assert nearest["macro_id"].tolist() == ["S0", "S0"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.tuples(st.floats(X0 - 200, X0 + 600), st.floats(Y0 - 200, Y0 + 600)),
        ),
        max_size=30,
    )
)
def test_membership_keeps_every_micro_row_with_its_smallest_band(
    points: list[tuple[float, float] | None],
) -> None:
    micro = frame(points, "m")
    members = membership(BANDS, micro)
    assert set(members["micro_id"]) == set(micro.index)
    assert not members.duplicated(["micro_id", "macro_id"]).any()
    shapes = bands_27700(BANDS)
    for row in members.itertuples(index=False):
        point = micro.loc[row.micro_id].geometry
        containing = sorted(
            t
            for (site, t), g in shapes.items()
            if point is not None and site == row.macro_id and g.intersects(point)
        )
        if np.isnan(row.band_minutes):
            assert not any(point is not None and g.intersects(point) for g in shapes.values())
        else:
            assert containing[0] == row.band_minutes


BANDS = catchments(
    frame([(X0, Y0), (X0 + 400, Y0 + 400), (X0 + 2000, Y0)], "S"),
    network=GRID,
    minutes=(1.25, 2.5, 5.0),
    edge_buffer_m=20.0,
)


def test_cli_catchments_writes_bands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assetmap.cli import main

    out = tmp_path / "bands.geojson"
    assert main(["catchments", "greater-icknield", "-o", str(out), "--minutes", "10,20"]) == 0
    bands = gpd.read_file(out)
    assert len(bands) == 20 and bands.crs.to_epsg() == 4326
    assert set(bands["band_minutes"]) == {10.0, 20.0} and (bands["mode"] == "euclidean").all()
    assert "wrote 20 bands for 10 sites" in capsys.readouterr().out
