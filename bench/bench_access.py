"""2SFCA and E2SFCA on 10,000 demand points × 50 supply sites (a full cost table) against PySAL.

The same seeded cost table (500,000 rows, minutes uniform in 0–60) goes to
``assetmap.access.two_stage_fca`` and to PySAL ``access`` 1.1.10's ``Access.two_stage_fca``
(built beforehand, so only the method call is timed); the run fails unless the scores agree
to 1e-9 (PySAL's NaN for origins that reach nothing counts as 0). E2SFCA uses a Gaussian
weight (sigma 15 minutes) inside 45 minutes, which PySAL applies with ``Series.apply``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bench._common import record, timed

SEED = 20261125
N_DEMAND, N_SUPPLY = 10_000, 50
MAX_MINUTES = 30.0


def _problem(n_demand: int, n_supply: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    demand = pd.DataFrame(
        {"geoid": [f"d{i:05d}" for i in range(n_demand)], "pop": rng.uniform(1, 3000, n_demand)}
    )
    supply = pd.DataFrame(
        {"geoid": [f"s{j:02d}" for j in range(n_supply)], "beds": rng.uniform(5, 800, n_supply)}
    )
    origin, dest = np.meshgrid(demand["geoid"], supply["geoid"], indexing="ij")
    cost = pd.DataFrame(
        {"origin": origin.ravel(), "dest": dest.ravel(), "cost": rng.uniform(0, 60, origin.size)}
    )
    return demand, supply, cost


def _same(ours: pd.Series, theirs: pd.Series) -> float:
    expected = theirs.reindex(ours.index).fillna(0.0).to_numpy(dtype=np.float64)
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-9, atol=1e-12)
    scale = np.abs(expected).max()
    return float(np.abs(ours.to_numpy() - expected).max() / scale) if scale else 0.0


def run(quick: bool) -> list[dict[str, Any]]:
    from access import Access, weights

    from assetmap.access import enhanced_two_stage_fca, two_stage_fca

    warnings.filterwarnings("ignore", message="The inplace keyword")
    repeat = 2 if quick else 5
    demand, supply, cost = _problem(N_DEMAND, N_SUPPLY)
    model = Access(
        demand_df=demand.copy(),
        demand_index="geoid",
        demand_value="pop",
        supply_df=supply.copy(),
        supply_index="geoid",
        supply_value="beds",
        cost_df=cost.copy(),
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    logging.getLogger("access").setLevel(logging.WARNING)  # Access() sets INFO
    d = pd.Series(demand["pop"].to_numpy(), index=demand["geoid"])
    s = pd.Series(supply["beds"].to_numpy(), index=supply["geoid"])
    rows: list[dict[str, Any]] = []

    peer_s, theirs = timed(
        lambda: model.two_stage_fca(name="t", max_cost=MAX_MINUTES)["t_beds"], repeat=repeat
    )
    ours_s, ours = timed(lambda: two_stage_fca(d, s, cost, max_cost=MAX_MINUTES), repeat=repeat)
    error = _same(ours, theirs)
    rows.append(
        record(
            f"2SFCA {N_DEMAND:,} demand × {N_SUPPLY} supply",
            ours_s,
            "s",
            peer="PySAL access two_stage_fca",
            peer_value=peer_s,
            target="equal (1e-9), not slower (ratio ≥ 1)",
            meets_target=ours_s <= peer_s,
            cost_rows=len(cost),
            max_relative_difference=error,
        )
    )

    gauss = weights.gaussian(15.0)
    peer_s, theirs = timed(
        lambda: model.enhanced_two_stage_fca(name="e", weight_fn=gauss, max_cost=45.0)["e_beds"],
        repeat=1 if quick else 2,
    )
    ours_s, ours = timed(
        lambda: enhanced_two_stage_fca(d, s, cost, decay="gaussian", sigma=15.0, max_cost=45.0),
        repeat=repeat,
    )
    error = _same(ours, theirs)
    rows.append(
        record(
            f"E2SFCA gaussian {N_DEMAND:,} × {N_SUPPLY}",
            ours_s,
            "s",
            peer="PySAL access enhanced_two_stage_fca",
            peer_value=peer_s,
            target="equal (1e-9), not slower (ratio ≥ 1)",
            meets_target=ours_s <= peer_s,
            cost_rows=len(cost),
            max_relative_difference=error,
        )
    )
    return rows
