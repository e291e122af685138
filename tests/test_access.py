"""assetmap.access: equality with PySAL access, a 2SFCA worked by hand, decays, cost tables,
scores from link tables, scenario comparison and the ``assetmap access`` command."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from assetmap import access as am
from assetmap.cli import main
from assetmap.links import link
from assetmap.rules import Rule, Selector

FIXTURES = Path(__file__).parent / "fixtures" / "access"
# PySAL access 1.1.10 calls DataFrame.set_index(inplace=True), deprecated in pandas 3.1.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
X0, Y0 = 400_000.0, 287_000.0  # near Smethwick, EPSG:27700 metres
WALK_M_PER_MIN = 4.8 * 1000 / 60  # 80 m a minute


def frame(
    xy: list[tuple[float, float]], ids: list[str], **columns: list[object]
) -> gpd.GeoDataFrame:
    geometry = [shapely.Point(X0 + x, Y0 + y) for x, y in xy]
    index = pd.Index(ids, name="asset_id", dtype="str")
    return gpd.GeoDataFrame(dict(columns), geometry=geometry, index=index, crs="EPSG:27700")


# ------------------------------------------------------------------------------ PySAL equality


def _random_problem(
    seed: int, n_demand: int = 200, n_supply: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    demand = pd.DataFrame(
        {"geoid": [f"d{i:03d}" for i in range(n_demand)], "pop": rng.uniform(1, 500, n_demand)}
    )
    supply = pd.DataFrame(
        {"geoid": [f"s{j:02d}" for j in range(n_supply)], "doc": rng.uniform(1, 40, n_supply)}
    )
    origin, dest = np.meshgrid(demand["geoid"], supply["geoid"], indexing="ij")
    cost = pd.DataFrame(
        {
            "origin": origin.ravel(),
            "dest": dest.ravel(),
            "cost": rng.uniform(0.0, 60.0, origin.size),
        }
    )
    return demand, supply, cost


def _pysal(demand: pd.DataFrame, supply: pd.DataFrame, cost: pd.DataFrame) -> object:
    access = pytest.importorskip("access")
    logging.getLogger("access").setLevel(logging.WARNING)
    return access.Access(
        demand_df=demand,
        demand_index="geoid",
        demand_value="pop",
        supply_df=supply,
        supply_index="geoid",
        supply_value="doc",
        cost_df=cost,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )


def _series(demand: pd.DataFrame, supply: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return (
        pd.Series(demand["pop"].to_numpy(), index=demand["geoid"]),
        pd.Series(supply["doc"].to_numpy(), index=supply["geoid"]),
    )


def _assert_equal(ours: pd.Series, theirs: pd.Series) -> None:
    # PySAL leaves NaN where an origin reaches nothing; ours says 0 (documented).
    expected = theirs.reindex(ours.index).fillna(0.0).to_numpy(dtype=np.float64)
    assert np.all(np.isfinite(ours.to_numpy()))
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("max_cost", [None, 30.0, 12.5])
def test_two_stage_fca_equals_pysal(max_cost: float | None) -> None:
    demand, supply, cost = _random_problem(1)
    theirs = _pysal(demand, supply, cost).two_stage_fca(name="t", max_cost=max_cost)["t_doc"]  # type: ignore[attr-defined]
    ours = am.two_stage_fca(*_series(demand, supply), cost, max_cost=max_cost)
    _assert_equal(ours, theirs)
    assert ours.max() > 0


def test_enhanced_two_stage_fca_gaussian_equals_pysal() -> None:
    from access import weights

    demand, supply, cost = _random_problem(2)
    theirs = _pysal(demand, supply, cost).enhanced_two_stage_fca(  # type: ignore[attr-defined]
        name="e", weight_fn=weights.gaussian(15.0), max_cost=45.0
    )["e_doc"]
    ours = am.enhanced_two_stage_fca(
        *_series(demand, supply), cost, decay="gaussian", sigma=15.0, max_cost=45.0
    )
    _assert_equal(ours, theirs)


def test_enhanced_two_stage_fca_step_bands_equals_pysal() -> None:
    from access import weights

    bands = {10.0: 1.0, 20.0: 0.68, 30.0: 0.22}  # float weights (step_fn's 1 is an int)
    demand, supply, cost = _random_problem(3)
    theirs = _pysal(demand, supply, cost).enhanced_two_stage_fca(  # type: ignore[attr-defined]
        name="e", weight_fn=weights.step_fn(bands)
    )["e_doc"]
    ours = am.enhanced_two_stage_fca(*_series(demand, supply), cost, bands=bands)
    _assert_equal(ours, theirs)
    # the default bands are PySAL's default E2SFCA weights
    _assert_equal(am.enhanced_two_stage_fca(*_series(demand, supply), cost), theirs)


@pytest.mark.parametrize("max_cost", [None, 40.0])
def test_gravity_equals_pysal_weighted_catchment(max_cost: float | None) -> None:
    from access import weights

    demand, supply, cost = _random_problem(4)
    model = _pysal(demand, supply, cost)
    theirs = model.weighted_catchment(  # type: ignore[attr-defined]
        name="g", weight_fn=weights.gaussian(20.0), max_cost=max_cost
    )["g_doc"]
    _, supply_series = _series(demand, supply)
    ours = am.gravity(
        demand["geoid"], supply_series, cost, decay="gaussian", sigma=20.0, max_cost=max_cost
    )
    _assert_equal(ours, theirs)
    # PySAL's power-law gravity weight, given as a vectorised callable
    power = model.weighted_catchment(  # type: ignore[attr-defined]
        name="p", weight_fn=weights.gravity(scale=60, alpha=-1, min_dist=1), max_cost=max_cost
    )["p_doc"]
    ours = am.gravity(
        demand["geoid"],
        supply_series,
        cost,
        decay=lambda c: np.power(np.maximum(c, 1.0) / 60.0, -1.0),
        max_cost=max_cost,
    )
    _assert_equal(ours, power)


def test_cumulative_equals_pysal_catchment_without_weight() -> None:
    demand, supply, cost = _random_problem(5)
    theirs = _pysal(demand, supply, cost).weighted_catchment(name="c", max_cost=20.0)["c_doc"]  # type: ignore[attr-defined]
    _, supply_series = _series(demand, supply)
    _assert_equal(am.cumulative(demand["geoid"], supply_series, cost, max_cost=20.0), theirs)


def test_sparse_cost_table_and_unreached_origins_equal_pysal() -> None:
    demand, supply, cost = _random_problem(6, n_demand=60, n_supply=6)
    sparse = cost[cost["cost"] < 25].reset_index(drop=True)  # some origins reach nothing
    theirs = _pysal(demand, supply, sparse).two_stage_fca(name="t")["t_doc"]  # type: ignore[attr-defined]
    ours = am.two_stage_fca(*_series(demand, supply), sparse)
    assert theirs.isna().any()  # PySAL: NaN where nothing is reached
    _assert_equal(ours, theirs)
    assert (ours[theirs.reindex(ours.index).isna()] == 0).all()


# ------------------------------------------------------------------------------ by hand


def test_two_stage_fca_by_hand_on_three_by_two() -> None:
    # Demand a=10, b=20, c=30; supply X=5, Y=10; catchment 20 minutes.
    #   cost   X    Y
    #   a      5   25   (Y out of reach)
    #   b     10   10
    #   c     40    5   (X out of reach)
    # Step 1: X serves a+b = 30 → R_X = 5/30 = 1/6;  Y serves b+c = 50 → R_Y = 10/50 = 1/5.
    # Step 2: A_a = 1/6;  A_b = 1/6 + 1/5 = 11/30;  A_c = 1/5.
    # Check: Σ D·A = 10/6 + 20·11/30 + 30/5 = 5/3 + 22/3 + 6 = 15 = 5 + 10 (all supply served).
    demand = pd.Series([10.0, 20.0, 30.0], index=["a", "b", "c"])
    supply = pd.Series([5.0, 10.0], index=["X", "Y"])
    cost = pd.DataFrame(
        {
            "origin": ["a", "a", "b", "b", "c", "c"],
            "dest": ["X", "Y", "X", "Y", "X", "Y"],
            "cost": [5.0, 25.0, 10.0, 10.0, 40.0, 5.0],
        }
    )
    result = am.two_stage_fca(demand, supply, cost, max_cost=20.0)
    np.testing.assert_allclose(result.to_numpy(), [1 / 6, 11 / 30, 1 / 5], rtol=1e-12)
    assert float((demand * result).sum()) == pytest.approx(15.0)
    # gravity with a step at 20: supply within reach of each origin
    np.testing.assert_allclose(
        am.cumulative(demand.index, supply, cost, max_cost=20.0).to_numpy(), [5.0, 15.0, 10.0]
    )
    # a site whose catchment holds no demand adds nothing and is reported
    demand_zero_c = demand.copy()
    demand_zero_c[["b", "c"]] = 0.0
    lonely = am.two_stage_fca(demand_zero_c, supply, cost, max_cost=20.0)
    assert lonely.attrs["supply_without_demand"] == ["Y"]
    np.testing.assert_allclose(lonely.to_numpy(), [0.5, 0.5, 0.0])


@settings(max_examples=40, deadline=None)
@given(
    n_demand=st.integers(1, 12),
    n_supply=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    max_cost=st.one_of(st.none(), st.floats(1.0, 60.0)),
)
def test_two_stage_fca_conserves_served_supply(
    n_demand: int, n_supply: int, seed: int, max_cost: float | None
) -> None:
    """Σ_i D_i·A_i equals the supply of the sites whose catchment holds demand, any weights."""
    demand, supply, cost = _random_problem(seed, n_demand, n_supply)
    d, s = _series(demand, supply)
    result = am.two_stage_fca(d, s, cost, max_cost=max_cost, decay="gaussian", sigma=20.0)
    inside = cost if max_cost is None else cost[cost["cost"] <= max_cost]
    served = s[s.index.isin(inside["dest"])]
    assert float((d * result).sum()) == pytest.approx(float(served.sum()), rel=1e-9)
    assert (result >= 0).all()


# ------------------------------------------------------------------------------ decays


def test_weight_functions_values() -> None:
    costs = np.array([0.0, 10.0, 15.0, 20.0, 30.0, np.inf])
    step = am.weight_function("step", max_cost=15.0)(costs)
    np.testing.assert_array_equal(step, [1, 1, 1, 0, 0, 0])
    linear = am.weight_function("linear", reach=20.0)(costs)
    np.testing.assert_allclose(linear, [1, 0.5, 0.25, 0, 0, 0])
    exponential = am.weight_function("exponential", half_life=10.0)(costs)
    np.testing.assert_allclose(exponential, [1, 0.5, 2**-1.5, 0.25, 0.125, 0])
    gaussian = am.weight_function("gaussian", sigma=10.0)(costs)
    np.testing.assert_allclose(gaussian, np.exp(-0.5 * (costs / 10.0) ** 2))
    bands = am.weight_function("bands", bands={10: 1.0, 20: 0.68, 30: 0.22})(costs)
    np.testing.assert_allclose(bands, [1, 1, 0.68, 0.68, 0.22, 0])
    np.testing.assert_array_equal(am.weight_function(None)(costs), np.ones(6))
    np.testing.assert_array_equal(am.weight_function("step")(costs), np.ones(6))


@pytest.mark.parametrize(
    ("decay", "params", "match"),
    [
        ("cubic", {}, "not one of"),
        ("linear", {}, "needs reach"),
        ("exponential", {}, "needs half_life"),
        ("gaussian", {"half_life": 3.0}, "takes 'sigma'"),
        ("gaussian", {"sigma": -1.0}, "positive"),
        ("bands", {"bands": {}}, "at least one"),
        (None, {"sigma": 3.0}, "only to a named decay"),
    ],
)
def test_weight_function_refuses(decay: str | None, params: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        am.weight_function(decay, **params)  # type: ignore[arg-type]


def test_callable_decay_must_be_vectorised_and_finite() -> None:
    demand, supply, cost = _random_problem(7, 5, 2)
    d, s = _series(demand, supply)

    def scalar_only(x: float) -> float:
        return 1.0 if x <= 10 else 0.0

    with pytest.raises(ValueError, match=r"numpy\.vectorize"):
        am.two_stage_fca(d, s, cost, decay=scalar_only)
    with pytest.raises(ValueError, match="finite weight"), np.errstate(divide="ignore"):
        am.gravity(d.index, s, cost.assign(cost=0.0), decay=lambda c: 1.0 / c)


def test_cost_df_with_a_pair_twice_is_refused() -> None:
    demand, supply, cost = _random_problem(8, 4, 2)
    twice = pd.concat([cost, cost.iloc[[3]]], ignore_index=True)
    with pytest.raises(ValueError, match="more than one row for origin 'd001' and dest 's01'"):
        am.two_stage_fca(*_series(demand, supply), twice)
    with pytest.raises(ValueError, match="negative"):
        am.two_stage_fca(*_series(demand, supply), cost.assign(cost=-1.0))


# ------------------------------------------------------------------------------ link tables

# Sites A, B (and C) on a line; distances in metres from the grid origin.
SITES_XY = [(0.0, 0.0), (2000.0, 0.0), (450.0, 400.0)]
MICRO_XY = [(100.0, 0.0), (1900.0, 0.0), (300.0, 0.0), (1000.0, 0.0)]


@pytest.fixture
def sites() -> gpd.GeoDataFrame:
    return frame(
        SITES_XY,
        ["A", "B", "C"],
        name=["Site A", "Site B", "Site C"],
        category=["nhs_anchor", "development_site", "development_site"],
        capacity=[100.0, 50.0, 10.0],
    )


@pytest.fixture
def micro() -> gpd.GeoDataFrame:
    return frame(
        MICRO_XY,
        ["m1", "m2", "m3", "m4"],
        name=["One", "Two", "Resident", "Four"],
        category=["social_enterprise", "social_enterprise", "resident_skill", "community_building"],
        capacity=[2.0, 4.0, 1.0, 3.0],
        personal=[False, False, True, False],
    )


def test_cost_table_times_straight_lines_at_walking_speed(
    micro: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> None:
    table = link(micro, sites, within_m=500.0, k=None)
    costs = am.cost_table(table)
    assert list(costs.columns) == ["origin", "dest", "cost"]
    assert costs.attrs["estimated_minutes"] == len(table.links)
    m1_a = costs[(costs["origin"] == "m1") & (costs["dest"] == "A")]["cost"].item()
    assert m1_a == pytest.approx(100.0 / WALK_M_PER_MIN)  # 100 m at 4.8 km/h = 1.25 min
    metres = am.cost_table(table, cost="metres")
    assert metres["cost"].tolist() == pytest.approx(table.links["metres"].tolist())
    with pytest.raises(ValueError, match="give walk_kmh"):
        am.cost_table(table, walk_kmh=None)
    within = am.cost_table(table, within_reach_only=True)
    assert len(within) == int(table.links["within_reach"].sum())
    # m4 has nothing within 500 m: it keeps one beyond-reach link, dropped here
    assert "m4" in set(costs["origin"]) and "m4" not in set(within["origin"])


def test_cost_table_uses_the_rule_speed_and_keeps_the_smallest_pair(
    micro: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> None:
    rules = [
        Rule("walk", mode="euclidean", max_metres=3000),
        Rule("bike", macro=Selector(ids=("A",)), mode="cycle", max_minutes=30),
    ]
    table = link(micro, sites, rules=rules)
    costs = am.cost_table(table)
    assert not costs.duplicated(["origin", "dest"]).any()
    m1_a = costs[(costs["origin"] == "m1") & (costs["dest"] == "A")]["cost"].item()
    assert m1_a == pytest.approx(100.0 / (16.0 * 1000 / 60))  # cycle rule: 16 km/h is faster
    only_walk = am.cost_table(table, rules=["walk"])
    walk_a = only_walk[(only_walk["origin"] == "m1") & (only_walk["dest"] == "A")]["cost"].item()
    assert walk_a == pytest.approx(100.0 / WALK_M_PER_MIN)


def test_count_nearest_and_scores_from_a_link_table(
    micro: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> None:
    table = link(micro, sites, within_m=600.0, k=None)
    counts = am.count_within(table)
    # m1: A (100 m), C (531 m); m2: B; m3: A (300 m), C (427 m); m4: none within 600 m
    assert counts.to_dict() == {"m1": 2, "m2": 1, "m3": 2, "m4": 0}
    assert am.count_within(table, max_cost=5.0).to_dict() == {"m1": 1, "m2": 1, "m3": 1, "m4": 0}
    near = am.nearest(table, cost="metres")
    assert near["macro_id"].tolist() == ["A", "B", "A", "C"]  # m4: beyond reach, C nearest
    assert near["cost"].tolist() == pytest.approx([100.0, 100.0, 300.0, np.hypot(550, 400)])

    scored = am.score(table, micro, sites, method="2sfca")
    # catchment = the rule reach; demand = capacity: A serves m1 (2) + m3 (1) → 100/3;
    # C serves m1 + m3 → 10/3; B serves m2 (4) → 50/4.
    expected = {"m1": 100 / 3 + 10 / 3, "m2": 50 / 4, "m3": 100 / 3 + 10 / 3, "m4": 0.0}
    assert scored["score"].to_dict() == pytest.approx(expected)
    same = am.two_stage_fca(
        micro["capacity"], sites["capacity"], am.cost_table(table, within_reach_only=True)
    )
    np.testing.assert_allclose(scored["score"].to_numpy(), same.to_numpy(), rtol=1e-12)
    cumulative = am.score(table, micro, sites, method="cumulative")
    assert cumulative["score"].to_dict() == {"m1": 110.0, "m2": 50.0, "m3": 110.0, "m4": 0.0}
    counted = am.score(table, method="count")
    assert counted["score"].tolist() == [2.0, 1.0, 2.0, 0.0]
    nearest = am.score(table, method="nearest", cost="metres")
    assert nearest["macro_id"].tolist() == ["A", "B", "A", "C"]
    gravity = am.score(table, micro, sites, method="gravity", decay="exponential", half_life=5.0)
    m1 = 100 * 0.5 ** ((100 / WALK_M_PER_MIN) / 5) + 10 * 0.5 ** (
        (np.hypot(350, 400) / WALK_M_PER_MIN) / 5
    )
    assert gravity.loc["m1", "score"] == pytest.approx(m1)
    with pytest.raises(ValueError, match="needs a decay"):
        am.score(table, method="gravity")
    with pytest.raises(ValueError, match="use method 'gravity'"):
        am.score(table, method="cumulative", decay="gaussian", sigma=5.0)
    with pytest.raises(ValueError, match="not one of"):
        am.score(table, method="3sfca")
    with pytest.raises(ValueError, match="no weight for id 'C'"):
        am.score(table, micro, sites.drop(index="C"), method="2sfca")


def test_scores_on_network_minutes_use_the_routed_times() -> None:
    from assetmap.network import StreetNetwork

    n, spacing = 4, 100.0
    xs, ys = np.meshgrid(np.arange(n) * spacing + X0, np.arange(n) * spacing + Y0)
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    network = StreetNetwork.from_edges(xs.ravel(), ys.ravel(), u, v, np.full(u.size, spacing))
    micro = frame([(0.0, 0.0), (300.0, 300.0)], ["p", "q"], capacity=[1.0, 1.0])
    site = frame([(300.0, 0.0)], ["S"], capacity=[6.0])
    table = link(micro, site, network=network, max_minutes=60)
    costs = am.cost_table(table)
    assert costs.attrs["estimated_minutes"] == 0
    # 300 m of street either way at 80 m/min
    assert costs["cost"].tolist() == pytest.approx([3.75, 3.75])
    assert am.score(table, micro, site, method="2sfca")["score"].tolist() == pytest.approx(
        [3.0, 3.0]
    )


def test_read_links_round_trips_a_written_table(
    tmp_path: Path, micro: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> None:
    table = link(micro, sites, within_m=600.0, k=None)
    table.to_csv(tmp_path / "links.csv")
    read = am.read_links(tmp_path / "links.csv")
    assert read["within_reach"].dtype == bool
    assert read["within_reach"].tolist() == table.links["within_reach"].tolist()
    from_csv = am.score(read, micro, sites, method="2sfca", cost="metres")
    in_memory = am.score(table, micro, sites, method="2sfca", cost="metres")
    np.testing.assert_allclose(from_csv["score"], in_memory["score"], rtol=1e-6)
    (tmp_path / "bad.csv").write_text("micro_id,macro_id\nm1,A\n")
    with pytest.raises(ValueError, match="missing link columns"):
        am.read_links(tmp_path / "bad.csv")


# ------------------------------------------------------------------------------ scenarios


def test_compare_a_site_closing(micro: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> None:
    before, after = am.scenario(micro, sites, remove="A", within_m=500.0, k=None)
    assert "A" in set(before.links["macro_id"]) and "A" not in set(after.links["macro_id"])
    result = am.compare(before, after, micro=micro)
    status = result.table["status"].to_dict()
    # m1: A at 100 m was its only site within 500 m (C is 531 m away) → lost
    # m3: A at 300 m → C at 427 m, still within reach but farther → worse
    # m2: B unchanged → same; m4: nothing within reach either way, nearest C (680 m) → same
    assert status == {"m1": "lost", "m2": "same", "m3": "worse", "m4": "same"}
    row = result.table.loc["m3"]
    assert row["nearest_macro_before"] == "A" and row["nearest_macro_after"] == "C"
    assert row["nearest_before"] == pytest.approx(300 / WALK_M_PER_MIN)
    assert row["nearest_after"] == pytest.approx(np.hypot(150, 400) / WALK_M_PER_MIN)
    assert (row["count_before"], row["count_after"]) == (2, 1)
    assert row["change"] == -1.0  # count method

    summary = result.summary
    assert summary.loc["lost", "micro_assets"] == 1
    assert summary.loc["same", "micro_assets"] == 2
    assert summary.loc["worse", "micro_assets"] == 0  # m3 is personal: only in the text column
    assert summary.loc["worse", "personal"] == "<8"
    assert summary.loc["total", "personal"] == "<8"
    assert "Comparison" in result._repr_html_()

    layer = result.difference_layer(micro)
    assert layer["micro_id"].tolist() == ["m1"]  # m3 changed but is personal
    assert layer.crs.to_epsg() == 4326
    assert layer.attrs["personal_changed"] == "<8"
    assert "Resident" not in layer.to_json()


def test_compare_a_site_opening_and_a_new_one(
    micro: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> None:
    new = frame([(1900.0, 100.0)], ["D"], name=["Site D"], category=["nhs_anchor"], capacity=[5.0])
    before, after = am.scenario(micro, sites, add=new, within_m=500.0, k=None)
    result = am.compare(before, after, micro=micro)
    # m2 (1900, 0): B and D both 100 m away → nearest unchanged, one more site within reach
    assert result.table.loc["m2", "status"] == "better"
    assert result.table.loc["m2", ["count_before", "count_after"]].tolist() == [1, 2]
    assert set(result.table["status"]) == {"better", "same"}
    # an existing id as "add": not there before, there after → m1 gains A
    before, after = am.scenario(micro, sites, add="A", within_m=150.0, k=None)
    gained = am.compare(before, after, micro=micro, macro=sites, method="2sfca")
    assert gained.table.loc["m1", "status"] == "gained"
    assert gained.table.loc["m1", "score_after"] == pytest.approx(100 / 2)
    with pytest.raises(ValueError, match="no site 'Z'"):
        am.scenario(micro, sites, remove="Z", within_m=500.0)
    with pytest.raises(ValueError, match="both added and removed"):
        am.scenario(micro, sites, add="A", remove="A")


def test_compare_without_micro_treats_every_row_as_personal(
    micro: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> None:
    before, after = am.scenario(micro, sites, remove="A", within_m=500.0, k=None)
    result = am.compare(before, after)
    assert result.table["personal"].all()
    assert int(result.summary["micro_assets"].sum()) == 0
    assert set(result.summary["personal"]) <= {"0", "<8", "*"}


# ------------------------------------------------------------------------------ command line


def test_cli_access_writes_scores_without_personal_rows(tmp_path: Path) -> None:
    register = FIXTURES / "micro.csv"
    from assetmap.geocode import geocode
    from assetmap.registers import read_assets

    placed = geocode(read_assets(register, kind="micro").assets, gazetteer=None).assets
    site_frame = frame(SITES_XY, ["A", "B", "C"], capacity=[100.0, 50.0, 10.0])
    link(placed, site_frame.to_crs(placed.crs), within_m=600.0, k=None).to_csv(
        tmp_path / "links.csv"
    )

    out = tmp_path / "scores.csv"
    code = main(
        [
            "access",
            str(tmp_path / "links.csv"),
            "-o",
            str(out),
            "--method",
            "2sfca",
            "--max-minutes",
            "10",
            "--micro",
            str(register),
        ]
    )
    assert code == 0
    scores = pd.read_csv(out, dtype={"micro_id": str})
    assert list(scores.columns) == ["micro_id", "method", "score"]
    assert "fx-res" not in set(scores["micro_id"])  # the personal row is scored, not written
    assert set(scores["micro_id"]) == {"fx-se1", "fx-se2", "fx-cb1"}

    assert main(["access", str(tmp_path / "links.csv"), "-o", str(out), "--method", "gravity"]) == 2
    assert main(["access", str(tmp_path / "missing.csv"), "-o", str(out)]) == 2
    code = main(
        [
            "access",
            str(tmp_path / "links.csv"),
            "-o",
            str(tmp_path / "near.csv"),
            "--method",
            "nearest",
            "--max-metres",
            "600",
        ]
    )
    assert code == 0
    nearest = pd.read_csv(tmp_path / "near.csv", dtype={"micro_id": str})
    assert nearest.set_index("micro_id").loc["fx-se1", "macro_id"] == "A"


def test_compare_is_public() -> None:
    import assetmap

    assert assetmap.compare is am.compare


def test_cli_access_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["access", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--method" in text and "2sfca" in text
