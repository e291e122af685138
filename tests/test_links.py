"""link(): straight line against geopandas, network times by hand and against networkx, rules,
fallbacks, CRS refusals and the row-accounting invariant."""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetmap import CRSError, rules
from assetmap.links import LINK_COLUMNS, UNREACHED_COLUMNS, LinkTable, link
from assetmap.network import StreetNetwork
from assetmap.rules import Rule, Selector
from assetmap.schema import REASON_CODES

FIXTURES = Path(__file__).parent / "fixtures" / "links"
X0, Y0 = 400_000.0, 300_000.0  # a grid origin in EPSG:27700 (metres)


def frame(
    xy: list[tuple[float, float] | None],
    prefix: str,
    crs: str = "EPSG:27700",
    **columns: list[object],
) -> gpd.GeoDataFrame:
    geometry = [None if p is None else shapely.Point(p) for p in xy]
    index = pd.Index([f"{prefix}{i}" for i in range(len(xy))], name="asset_id")
    return gpd.GeoDataFrame(dict(columns), geometry=geometry, index=index, crs=crs)


def grid_network(n: int = 5, spacing_m: float = 100.0) -> StreetNetwork:
    """An n × n street grid, two-way, at 4.8 km/h: 1.25 minutes per 100 m edge."""
    xs, ys = np.meshgrid(np.arange(n) * spacing_m + X0, np.arange(n) * spacing_m + Y0)
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return StreetNetwork.from_edges(xs.ravel(), ys.ravel(), u, v, np.full(u.size, spacing_m))


def assert_complete(table: LinkTable, micro: gpd.GeoDataFrame) -> None:
    ids = set(micro.index.astype(str))
    assert set(table.micro_ids) == ids
    assert set(table.links["micro_id"]) | set(table.unreached["micro_id"]) == ids
    assert list(table.links.columns) == list(LINK_COLUMNS)
    assert list(table.unreached.columns) == list(UNREACHED_COLUMNS)
    assert set(table.unreached["reason_code"]) <= set(REASON_CODES)


# ------------------------------------------------------------------------------ straight line


def random_frames(
    seed: int, n_micro: int, n_macro: int
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    micro = frame(
        list(
            zip(
                rng.uniform(0, 20_000, n_micro) + X0,
                rng.uniform(0, 20_000, n_micro) + Y0,
                strict=True,
            )
        ),
        "m",
    )
    macro = frame(
        list(
            zip(
                rng.uniform(0, 20_000, n_macro) + X0,
                rng.uniform(0, 20_000, n_macro) + Y0,
                strict=True,
            )
        ),
        "S",
    )
    return micro, macro


def test_nearest_matches_geopandas_sjoin_nearest() -> None:
    micro, macro = random_frames(1, 2000, 12)
    table = link(micro, macro)
    expected = gpd.sjoin_nearest(micro, macro, distance_col="d")
    assert len(table.links) == 2000
    got = table.links.set_index("micro_id")
    assert (
        got.loc[expected.index, "macro_id"].to_numpy() == expected["asset_id_right"].to_numpy()
    ).all()
    np.testing.assert_allclose(
        got.loc[expected.index, "metres"].to_numpy(), expected["d"].to_numpy()
    )
    assert got["minutes"].isna().all() and (got["mode"] == "euclidean").all()
    assert got["within_reach"].all() and (got["score"] == 1.0).all()


def test_within_m_pairs_match_geopandas_dwithin() -> None:
    micro, macro = random_frames(2, 600, 15)
    table = link(micro, macro, within_m=3000)
    pairs = gpd.sjoin(micro, macro, predicate="dwithin", distance=3000)
    expected = set(zip(pairs.index, pairs["asset_id_right"], strict=True))
    inside = table.links[table.links["within_reach"]]
    assert set(zip(inside["micro_id"], inside["macro_id"], strict=True)) == expected
    # A micro-asset with nothing in reach keeps its nearest site, flagged and noted.
    outside = table.links[~table.links["within_reach"]]
    assert not (set(outside["micro_id"]) & set(pairs.index))
    assert set(outside["micro_id"]) == set(micro.index) - set(pairs.index)
    nearest = gpd.sjoin_nearest(micro.loc[outside["micro_id"]], macro)["asset_id_right"]
    assert (outside.set_index("micro_id")["macro_id"] == nearest.loc[outside["micro_id"]]).all()
    assert outside["note"].str.startswith("beyond_reach: nothing within 3,000 m").all()
    assert (outside["score"] == 0).all() and (outside["metres"] > 3000).all()


def test_k_nearest_within_radius_by_brute_force() -> None:
    micro, macro = random_frames(3, 300, 20)
    table = link(micro, macro, k=3, within_m=4000)
    d = np.hypot(
        micro.geometry.x.to_numpy()[:, None] - macro.geometry.x.to_numpy()[None, :],
        micro.geometry.y.to_numpy()[:, None] - macro.geometry.y.to_numpy()[None, :],
    )
    for row, micro_id in enumerate(micro.index[:80]):
        order = np.argsort(d[row])
        within = [macro.index[j] for j in order if d[row, j] <= 4000][:3]
        got = table.links[table.links["micro_id"] == micro_id]
        if within:
            assert got["macro_id"].tolist() == within and got["within_reach"].all()
        else:
            assert got["macro_id"].tolist() == [macro.index[order[0]]]
            assert not got["within_reach"].any()


def test_wgs84_input_is_projected_to_british_national_grid() -> None:
    micro, macro = random_frames(4, 200, 6)
    in_bng = link(micro, macro, k=2)
    in_wgs = link(micro.to_crs(4326), macro.to_crs(4326), k=2)
    pd.testing.assert_series_equal(in_bng.links["macro_id"], in_wgs.links["macro_id"])
    np.testing.assert_allclose(in_bng.links["metres"], in_wgs.links["metres"], atol=1e-3)


def test_inputs_are_not_mutated_and_order_is_deterministic() -> None:
    micro, macro = random_frames(5, 100, 5)
    micro = micro.assign(category="community_building", tags=[["hall"]] * 100)
    before_micro, before_macro = micro.copy(), macro.copy()
    shuffled = micro.sample(frac=1.0, random_state=7)
    a = link(micro, macro, within_m=5000)
    b = link(shuffled, macro.iloc[::-1], within_m=5000)
    pd.testing.assert_frame_equal(micro, before_micro)
    pd.testing.assert_frame_equal(macro, before_macro)
    pd.testing.assert_frame_equal(a.links, b.links)
    keys = list(zip(a.links["micro_id"], a.links["metres"], strict=True))
    assert keys == sorted(keys)


def test_polygon_assets_use_a_point_on_their_surface() -> None:
    block = gpd.GeoDataFrame(
        geometry=[shapely.box(X0, Y0, X0 + 100, Y0 + 100)],
        index=pd.Index(["p"], name="asset_id"),
        crs=27700,
    )
    table = link(block, frame([(X0 + 50, Y0 + 300)], "S"), progress=True)
    assert table.links["metres"].item() == pytest.approx(250.0)


# ------------------------------------------------------------------------------ CRS


def test_crs_mismatch_names_both_crss() -> None:
    micro, macro = random_frames(6, 5, 2)
    with pytest.raises(CRSError) as err:
        link(micro.to_crs(4326), macro.to_crs(3857))
    assert str(err.value).startswith(
        "micro is EPSG:4326 but macro is EPSG:3857: reproject one of them"
    )
    assert "EPSG:27700" in str(err.value)


def test_unsupported_and_missing_crs_refused() -> None:
    micro, macro = random_frames(7, 5, 2)
    with pytest.raises(CRSError, match=r"micro and macro are in EPSG:3857, a projected CRS"):
        link(micro.to_crs(3857), macro.to_crs(3857))
    with pytest.raises(CRSError, match=r"EPSG:4258, a geographic CRS"):
        link(micro.to_crs(4258), macro.to_crs(4258))
    with pytest.raises(CRSError, match=r"micro has no CRS"):
        link(micro.set_crs(None, allow_override=True), macro)


def test_argument_errors() -> None:
    micro, macro = random_frames(8, 5, 2)
    with pytest.raises(ValueError, match="k must be a whole number"):
        link(micro, macro, k=0)
    with pytest.raises(ValueError, match="within_m must be a positive"):
        link(micro, macro, within_m=-1)
    with pytest.raises(ValueError, match="apply only without rules"):
        link(micro, macro, rules=rules.default(), max_minutes=10)
    with pytest.raises(ValueError, match="mode='drive' but the network given is for"):
        link(micro, macro, network=grid_network(), mode="drive")
    with pytest.raises(ValueError, match="must be unique"):
        link(pd.concat([micro, micro]), macro)
    with pytest.raises(TypeError, match="GeoDataFrame"):
        link(pd.DataFrame(micro), macro)


# ------------------------------------------------------------------------------ network


def test_network_minutes_are_path_plus_snaps_by_hand() -> None:
    net = grid_network()
    # Micro 30 m north of node (200, 0): path 200 m west to node (0, 0) where the site is.
    micro = frame([(X0 + 200, Y0 + 30), (X0 + 400, Y0 + 410)], "m")
    macro = frame([(X0, Y0 - 10)], "S")
    table = link(micro, macro, network=net)
    first, second = table.links.itertuples(index=False)
    assert (first.mode, first.macro_id) == ("walk", "S0")
    assert first.snap_m_micro == pytest.approx(30.0) and first.snap_m_macro == pytest.approx(10.0)
    assert first.metres == pytest.approx(200 + 30 + 10)
    assert first.minutes == pytest.approx(2 * 1.25 + 40 / 80)
    # Node (400, 400) is 8 edges away: 10 minutes, plus 10 + 10 m of snaps.
    assert second.minutes == pytest.approx(8 * 1.25 + 20 / 80)
    assert second.metres == pytest.approx(800 + 20)
    assert first.note == "" and first.within_reach


def test_one_travel_call_for_all_sites() -> None:
    net = grid_network()
    offsets = np.random.default_rng(0).uniform(0, 400, (50, 2))
    micro = frame([(X0 + dx, Y0 + dy) for dx, dy in offsets], "m")
    macro = frame([(X0, Y0), (X0 + 400, Y0), (X0 + 200, Y0 + 200)], "S")
    with mock.patch.object(
        StreetNetwork, "travel", autospec=True, side_effect=StreetNetwork.travel
    ) as travel:
        table = link(micro, macro, network=net, k=2)
    assert travel.call_count == 1
    assert travel.call_args.kwargs["reverse"] is True
    assert len(table.links) == 100 and (table.links["mode"] == "walk").all()


def test_one_way_streets_count_from_micro_to_macro() -> None:
    # Nodes 0 — 1 — 2 on a line; 0→1→2 is one-way, the way back 2→0 is a 1 km detour.
    net = StreetNetwork.from_edges(
        [X0, X0 + 100, X0 + 200],
        [Y0, Y0, Y0],
        [0, 1, 2],
        [1, 2, 0],
        [100.0, 100.0, 1000.0],
        bidirectional=False,
    )
    site_at_2 = frame([(X0 + 200, Y0)], "S")
    site_at_0 = frame([(X0, Y0)], "S")
    at_0 = frame([(X0, Y0)], "m")
    at_2 = frame([(X0 + 200, Y0)], "m")
    assert link(at_0, site_at_2, network=net).links["metres"].item() == pytest.approx(200)
    assert link(at_2, site_at_0, network=net).links["metres"].item() == pytest.approx(1000)


def test_assets_off_the_network_fall_back_to_straight_lines_with_a_note() -> None:
    net = grid_network()
    micro = frame([(X0 + 100, Y0), (X0 + 5000, Y0)], "m")  # the second is 4.6 km off the grid
    macro = frame([(X0, Y0), (X0 + 300, Y0 + 9000)], "S")  # the second site is off it too
    table = link(micro, macro, network=net, within_m=10_000)
    rows = table.links.set_index(["micro_id", "macro_id"])
    assert rows.loc[("m0", "S0"), "mode"] == "walk"
    site_off = rows.loc[("m0", "S1")]
    assert site_off["mode"] == "euclidean" and np.isnan(site_off["minutes"])
    assert site_off[
        "note"
    ] == "outside_network: site snapped 8,600 m > 250 m tolerance; straight-line used".replace(
        "8,600", "8600"
    )
    far = rows.loc["m1"]
    assert (far["mode"] == "euclidean").all() and far["minutes"].isna().all()
    assert far["note"].str.startswith("outside_network: snapped 4600 m > 250 m tolerance").all()
    assert rows.loc[("m1", "S0"), "metres"] == pytest.approx(5000)
    assert far["snap_m_micro"].isna().all()
    assert_complete(table, micro)


def test_micro_with_no_path_uses_a_straight_line() -> None:
    # Two separate streets: nodes 0—1 and 2—3 (no edge between them).
    net = StreetNetwork.from_edges(
        [X0, X0 + 100, X0 + 1000, X0 + 1100], [Y0] * 4, [0, 2], [1, 3], [100.0, 100.0]
    )
    micro = frame([(X0 + 1100, Y0)], "m")
    macro = frame([(X0, Y0)], "S")
    (row,) = link(micro, macro, network=net).links.itertuples(index=False)
    assert row.mode == "euclidean" and row.metres == pytest.approx(1100)
    assert row.note == "outside_network: no walk path to any selected site; straight-line used"


def test_max_minutes_reach_and_exponential_score() -> None:
    net = grid_network()
    micro = frame([(X0 + 100, Y0), (X0 + 400, Y0 + 400)], "m")
    macro = frame([(X0, Y0)], "S")
    table = link(
        micro,
        macro,
        network=net,
        max_minutes=5,
        decay={"kind": "exponential", "half_life_minutes": 2.5},
    )
    near, far = table.links.itertuples(index=False)
    assert near.within_reach and near.score == pytest.approx(0.5**0.5)
    assert not far.within_reach and far.minutes == pytest.approx(10)
    assert far.score == pytest.approx(0.5**4)
    assert far.note == "beyond_reach: nothing within 5 min; nearest shown"


def test_straight_line_reach_in_minutes_uses_walking_speed() -> None:
    micro = frame([(X0 + 2399, Y0), (X0 + 2401, Y0)], "m")
    macro = frame([(X0, Y0)], "S")
    table = link(micro, macro, max_minutes=30)  # 30 min at 4.8 km/h = 2,400 m
    assert table.links["within_reach"].tolist() == [True, False]
    assert link(micro, macro, max_minutes=30, walk_kmh=6.0).links["within_reach"].all()


# ------------------------------------------------------------------------------ rules


def use_it_frames() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    micro = frame(
        [
            (X0 + 100, Y0),
            (X0 + 200, Y0),
            (X0 + 300, Y0),
            (X0 + 50_000, Y0),
            None,
            (X0 + 10, Y0 + 10),
        ],
        "m",
        category=[
            "resident_skill",
            "social_enterprise",
            "community_building",
            "resident_skill",
            "resident_skill",
            "resident_skill",
        ],
        tags=[["nurse"], ["built_environment"], [], ["midwife"], ["doctor"], ["chef"]],
    )
    macro = frame(
        [(X0, Y0), (X0 + 400, Y0), None],
        "S",
        category=["nhs_anchor", "anchor_institution", "development_site"],
        tags=[[], [], []],
    )
    return micro, macro


def test_default_rules_link_unreached_and_notes() -> None:
    micro, macro = use_it_frames()
    table = link(micro, macro, rules=rules.default())
    assert_complete(table, micro)
    links = table.links.set_index(["micro_id", "rule"])
    nurse = links.loc[("m0", "clinical-skills-to-nhs")]
    assert nurse["macro_id"] == "S0" and nurse["within_reach"]
    assert nurse["note"] == "no walk network given; straight-line used"
    assert nurse["score"] == pytest.approx(0.5 ** ((100 / 80) / 15))
    venue = table.links[table.links["rule"] == "community-buildings-as-venues"]
    assert venue["macro_id"].tolist() == ["S1", "S0"]  # nearest first
    far_midwife = links.loc[("m3", "clinical-skills-to-nhs")]
    assert not far_midwife["within_reach"] and far_midwife["score"] > 0
    unreached = table.unreached.set_index("micro_id")
    assert unreached.loc["m4", "reason_code"] == "no_geometry"
    assert unreached.loc["m5", "reason_code"] == "no_rule"
    # The built-environment rule selects m1, but its only development site has no location.
    assert unreached.loc["m1", "reason_code"] == "beyond_reach"
    assert unreached.loc["m1", "rule"] == "built-environment-consortium-to-development-sites"
    assert table.notes == ("1 macro-asset(s) without a location were ignored: S2",)
    summary = table.summary()
    assert summary.loc["clinical-skills-to-nhs", "micro_within_reach"] == 1
    assert summary.loc["clinical-skills-to-nhs", "micro_beyond_reach"] == 1
    assert summary.loc["(none)", "unreached_no_rule"] == 1
    assert summary.loc["(none)", "unreached_no_geometry"] == 1


def test_rules_from_file_with_k_and_gaussian_metres() -> None:
    micro = frame([(X0, Y0)], "m", category=["resident_skill"], tags=[["chef"]])
    macro = frame(
        [(X0 + 300, Y0), (X0 + 600, Y0), (X0 + 900, Y0)],
        "S",
        category=["development_site"] * 3,
        tags=[[], [], []],
    )
    table = link(micro, macro, rules=FIXTURES / "rules_custom.toml")
    chefs = table.links[table.links["rule"] == "chefs-to-sites"]
    assert chefs["macro_id"].tolist() == ["S0", "S1"]  # k = 2 within 1,500 m
    np.testing.assert_allclose(chefs["score"], np.exp(-0.5 * (np.array([300, 600]) / 500) ** 2))


def test_rules_with_network_mix_modes_per_rule() -> None:
    net = grid_network()
    micro = frame([(X0 + 100, Y0)], "m", category=["social_enterprise"], tags=[["health_care"]])
    macro = frame([(X0, Y0)], "S", category=["nhs_anchor"], tags=[[]])
    custom = [
        Rule(
            "walkers", micro=Selector(category=("social_enterprise",)), mode="walk", max_minutes=10
        ),
        Rule("drivers", mode="drive", max_minutes=10),
        Rule("crow", mode="euclidean", max_metres=50),
    ]
    table = link(micro, macro, rules=custom, network=net)
    rows = table.links.set_index("rule")
    assert rows.loc["walkers", "mode"] == "walk" and rows.loc[
        "walkers", "minutes"
    ] == pytest.approx(1.25)
    assert rows.loc["drivers", "mode"] == "euclidean"
    assert rows.loc["drivers", "note"] == "no drive network given; straight-line used"
    assert not rows.loc["crow", "within_reach"]
    assert table.links["rule"].tolist() == ["walkers", "drivers", "crow"]  # rule order


# ------------------------------------------------------------------------------ output


def test_to_csv_summary_subset_and_html(tmp_path: Path) -> None:
    micro, macro = use_it_frames()
    table = link(micro, macro, rules=rules.default())
    table.to_csv(tmp_path / "links.csv", unreached_path=tmp_path / "unreached.csv")
    back = pd.read_csv(tmp_path / "links.csv")
    assert list(back.columns) == list(LINK_COLUMNS) and len(back) == len(table.links)
    assert back["metres"].tolist() == table.links["metres"].round(1).tolist()
    assert len(pd.read_csv(tmp_path / "unreached.csv")) == len(table.unreached)
    assert not list(tmp_path.glob("*.part"))
    part = table.subset(rules=["clinical-skills-to-nhs"])
    assert set(part.links["rule"]) == {"clinical-skills-to-nhs"}
    assert set(part.micro_ids) == {"m0", "m3"}
    html_text = table._repr_html_()
    assert (
        "<strong>LinkTable</strong>: 6 micro-assets" in html_text
        and "clinical-skills-to-nhs" in html_text
    )
    with pytest.raises(ValueError, match="no rule named"):
        table.subset(rules=["nope"])


def test_hostile_ids_are_escaped_in_html() -> None:
    micro = frame([(X0, Y0)], "<img src=x onerror=alert(1)>")
    macro = frame([(X0, Y0)], "S")
    table = link(micro, macro, rules=[Rule("<b>r</b>", micro=Selector(category=("none",)))])
    assert "<b>r</b>" not in table._repr_html_() and "&lt;b&gt;r&lt;/b&gt;" in table._repr_html_()


# ------------------------------------------------------------------------------ invariant


coords = st.one_of(
    st.none(),
    st.tuples(
        st.floats(X0 - 300, X0 + 800, allow_nan=False),
        st.floats(Y0 - 300, Y0 + 800, allow_nan=False),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    micro_xy=st.lists(coords, max_size=25),
    macro_xy=st.lists(coords, max_size=6),
    k=st.one_of(st.none(), st.integers(1, 4)),
    within_m=st.one_of(st.none(), st.floats(1, 1500)),
    use_network=st.booleans(),
)
def test_every_micro_asset_is_linked_or_unreached(
    micro_xy: list[tuple[float, float] | None],
    macro_xy: list[tuple[float, float] | None],
    k: int | None,
    within_m: float | None,
    use_network: bool,
) -> None:
    micro = frame(micro_xy, "m")
    macro = frame(macro_xy, "S")
    table = link(micro, macro, k=k, within_m=within_m, network=GRID if use_network else None)
    assert_complete(table, micro)
    links = table.links
    assert not links.duplicated(["micro_id", "macro_id", "rule"]).any()
    assert (links["metres"] >= 0).all() and links["score"].between(0, 1).all()
    assert links.loc[links["mode"] == "euclidean", "minutes"].isna().all()
    if within_m is not None:
        assert (links.loc[links["within_reach"], "metres"] <= within_m).all()
    per_micro = links.groupby("micro_id").size()
    if k is not None:
        assert (per_micro <= max(k, 1)).all()
    beyond = links[~links["within_reach"]]
    assert beyond["micro_id"].is_unique
    assert not set(beyond["micro_id"]) & set(links.loc[links["within_reach"], "micro_id"])


GRID = grid_network()


# ------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def rutland() -> StreetNetwork:
    from conftest import real_data

    from assetmap.network import load_network

    # Module-scoped fixtures run before conftest's per-test cache isolation, so name a folder
    # outside the working tree; it outlives the session so the 30-60 s OSM build runs once.
    cache = Path(tempfile.gettempdir()) / "assetmap-test-cache" / "networks"
    return load_network(real_data("osm_rutland/rutland-2022-07-20.osm.pbf"), cache_dir=cache)


@pytest.mark.data
@pytest.mark.slow
def test_rutland_minutes_equal_networkx_plus_snaps(rutland: StreetNetwork) -> None:
    rng = np.random.default_rng(42)
    nodes = rng.choice(rutland.n_nodes, 60, replace=False)
    # Points 20 m east of real nodes (within the snap tolerance of the same node or a neighbour).
    micro = frame(
        list(zip(rutland.node_x[nodes[:50]] + 20, rutland.node_y[nodes[:50]], strict=True)), "m"
    )
    macro = frame(
        list(zip(rutland.node_x[nodes[50:]], rutland.node_y[nodes[50:]] + 15, strict=True)), "S"
    )
    table = link(micro, macro, network=rutland, k=3)
    assert_complete(table, micro)
    routed = table.links[table.links["mode"] == "walk"]
    assert len(routed) >= 100
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(
        zip(
            rutland.edge_u.tolist(), rutland.edge_v.tolist(), rutland.edge_min.tolist(), strict=True
        )
    )
    speed = rutland.walk_kmh * 1000 / 60
    for row in routed.sample(12, random_state=1).itertuples(index=False):
        mi, ma = micro.loc[row.micro_id].geometry, macro.loc[row.macro_id].geometry
        (src,), _ = rutland.snap([mi.x], [mi.y])
        (dst,), _ = rutland.snap([ma.x], [ma.y])
        path = nx.shortest_path_length(graph, int(src), int(dst), weight="weight")
        assert row.minutes == pytest.approx(
            path + (row.snap_m_micro + row.snap_m_macro) / speed, rel=1e-9
        )


# ------------------------------------------------------------------------------ CLI


def test_cli_link_writes_links_without_personal_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assetmap.cli import main

    register = FIXTURES / "micro_register.csv"
    out, unreached = tmp_path / "links.csv", tmp_path / "unreached.csv"
    code = main(
        [
            "link",
            str(register),
            "greater-icknield",
            "-o",
            str(out),
            "--rules",
            "default",
            "--unreached",
            str(unreached),
        ]
    )
    assert code == 0
    links = pd.read_csv(out)
    assert list(links.columns) == list(LINK_COLUMNS)
    assert "rs1" not in set(links["micro_id"])  # a resident's row stays in memory only
    assert {"se1", "se2", "cb1"} <= set(links["micro_id"])
    assert set(links.loc[links["micro_id"] == "se1", "rule"]) == {"food-consortium-to-hospital"}
    printed = capsys.readouterr().out
    assert (
        "4 micro-assets × 10 macro-assets" in printed
        and "1 personal micro-assets left out" in printed
    )
    assert (
        main(
            [
                "link",
                str(register),
                "greater-icknield",
                "-o",
                str(out),
                "--include-personal",
                "--k",
                "2",
            ]
        )
        == 0
    )
    both = pd.read_csv(out)
    assert both.groupby("micro_id").size().to_dict() == {"cb1": 2, "rs1": 2, "se1": 2, "se2": 2}


def test_cli_link_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assetmap.cli import main

    register = str(FIXTURES / "micro_register.csv")
    out = str(tmp_path / "links.csv")
    assert main(["link", register, "no-such-area", "-o", out]) == 2
    assert "not a gazetteer" in capsys.readouterr().err
    assert (
        main(
            [
                "link",
                register,
                "greater-icknield",
                "-o",
                out,
                "--rules",
                "default",
                "--max-minutes",
                "5",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "link",
                register,
                "greater-icknield",
                "-o",
                out,
                "--rules",
                str(FIXTURES / "rules_unknown_key.toml"),
            ]
        )
        == 2
    )
    assert "'max_minuts'" in capsys.readouterr().err
    assert not (tmp_path / "links.csv").exists()
