"""Accessibility scores from a link table: counts, nearest, gravity, cumulative, 2SFCA, E2SFCA.

Every score is computed from the link table (:class:`~assetmap.links.LinkTable` or its
``links`` frame) plus demand weights on the micro side and supply weights on the macro side.
The floating-catchment methods follow PySAL ``access`` 1.1.10 and give the same numbers on the
same cost table (tested to 1e-9): with weights ``w(c)`` (1 without a decay) and a catchment
``c <= max_cost``,

* gravity (PySAL's *weighted catchment*): ``A_i = Σ_j S_j · w(c_ij)``;
* cumulative: the same with a step at ``max_cost`` (``w = 1`` inside);
* 2SFCA (Luo & Wang 2003): ``R_j = S_j / Σ_i D_i · w(c_ij)``, then ``A_i = Σ_j R_j · w(c_ij)``;
* E2SFCA (Luo & Qi 2009): 2SFCA with a weight in both steps, by default the step bands
  ``{10: 1, 20: 0.68, 30: 0.22}`` minutes PySAL uses.

Where PySAL leaves NaN we answer with a number and say so: an origin that reaches no supply
scores 0, and a site whose catchment holds no demand (``Σ_i D_i·w = 0``, where PySAL divides
by zero) contributes nothing; such sites are listed in ``result.attrs["supply_without_demand"]``.
Costs that are NaN or infinite mean "no path" and are left out.

The cost tables are built in :mod:`assetmap._costs` and the decay weights in
:mod:`assetmap._decays`. Scenario comparison (:func:`compare`, :func:`scenario`,
:class:`Comparison`, :data:`STATUSES`) lives in :mod:`assetmap.scenario`; its names are still
importable from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from assetmap._costs import _as_weights, _micro_ids, _pairs, _positions, cost_table, read_links
from assetmap._decays import DECAYS as DECAYS
from assetmap._decays import DEFAULT_BANDS, Decay, weight_function
from assetmap.links import DEFAULT_WALK_KMH, LinkTable

if TYPE_CHECKING:
    from assetmap.scenario import STATUSES, Comparison, compare, scenario

__all__ = [
    "DEFAULT_BANDS",
    "METHODS",
    "STATUSES",
    "Comparison",
    "compare",
    "cost_table",
    "count_within",
    "cumulative",
    "enhanced_two_stage_fca",
    "gravity",
    "nearest",
    "read_links",
    "scenario",
    "score",
    "two_stage_fca",
    "weight_function",
]

#: Methods of :func:`score`.
METHODS: Final = ("2sfca", "e2sfca", "gravity", "cumulative", "count", "nearest")
#: Names defined in :mod:`assetmap.scenario` and still served from here.
_SCENARIO_NAMES: Final = ("STATUSES", "Comparison", "compare", "scenario")


def __getattr__(name: str) -> Any:
    # assetmap.scenario imports the scores below, so its names are fetched on first use
    # rather than imported at the top (which would make the two modules import each other).
    if name in _SCENARIO_NAMES:
        value = getattr(importlib.import_module("assetmap.scenario"), name)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SCENARIO_NAMES))


# ---------------------------------------------------------------------------- scores on cost tables


def gravity(
    demand_ids: Sequence[Any] | pd.Index,
    supply: pd.Series,
    cost_df: pd.DataFrame,
    *,
    decay: Decay,
    max_cost: float | None = None,
    reach: float | None = None,
    half_life: float | None = None,
    sigma: float | None = None,
    bands: Mapping[float, float] | None = None,
) -> pd.Series:
    """Gravity (weighted catchment) access: ``A_i = Σ_j S_j · w(c_ij)`` over ``c_ij <= max_cost``.

    Equals PySAL ``Access.weighted_catchment(weight_fn=w, max_cost=max_cost)``, except that
    origins reaching nothing score 0 (PySAL: NaN).

    Parameters
    ----------
    demand_ids
        The origins to report, in order.
    supply
        Supply weight per destination id (capacity: posts, homes, beds…).
    cost_df
        Columns ``origin``, ``dest``, ``cost`` (one row per pair; see :func:`cost_table`).
    decay, max_cost, reach, half_life, sigma, bands
        The weight ``w`` (see :func:`weight_function`) and the catchment, in the cost's unit.

    Returns
    -------
    pandas.Series
        float64, indexed by ``demand_ids``.
    """
    weight = weight_function(
        decay, max_cost=max_cost, reach=reach, half_life=half_life, sigma=sigma, bands=bands
    )
    origin_index = pd.Index(demand_ids)
    dest_index, supply_values = _as_weights(supply, "supply")
    o, d, w = _pairs(origin_index, dest_index, cost_df, max_cost, weight)
    values = np.bincount(o, weights=supply_values[d] * w, minlength=len(origin_index))
    return pd.Series(values, index=origin_index, name="gravity", dtype=np.float64)


def cumulative(
    demand_ids: Sequence[Any] | pd.Index,
    supply: pd.Series,
    cost_df: pd.DataFrame,
    *,
    max_cost: float,
) -> pd.Series:
    """Cumulative opportunities: the supply within ``max_cost`` of each origin (``Σ_j S_j``).

    A gravity score with a step decay at ``max_cost`` (cost ≤ max_cost counts).
    """
    if max_cost is None or not np.isfinite(max_cost) or max_cost < 0:
        msg = f"max_cost must be a finite cost ≥ 0 for cumulative opportunities, got {max_cost!r}"
        raise ValueError(msg)
    out = gravity(demand_ids, supply, cost_df, decay="step", max_cost=max_cost)
    return out.rename("cumulative")


def two_stage_fca(
    demand: pd.Series,
    supply: pd.Series,
    cost_df: pd.DataFrame,
    *,
    max_cost: float | None = None,
    decay: Decay = None,
    reach: float | None = None,
    half_life: float | None = None,
    sigma: float | None = None,
    bands: Mapping[float, float] | None = None,
) -> pd.Series:
    """Two-step floating catchment area access (Luo & Wang 2003; weights as PySAL allows).

    Step 1, at each supply site: ``R_j = S_j / Σ_i D_i · w(c_ij)``; step 2, at each origin:
    ``A_i = Σ_j R_j · w(c_ij)``; both over ``c_ij <= max_cost``. Without a decay ``w = 1``
    (the classic binary catchment).

    Parameters
    ----------
    demand
        Demand weight per origin id (micro-asset count or capacity, or population).
    supply
        Supply weight per destination id.
    cost_df
        Columns ``origin``, ``dest``, ``cost`` (one row per pair). Rows whose origin is not in
        ``demand`` or whose dest is not in ``supply`` carry no demand/supply and are ignored.
    max_cost, decay, reach, half_life, sigma, bands
        Catchment and weight (see :func:`weight_function`), in the cost's unit.

    Returns
    -------
    pandas.Series
        float64 indexed like ``demand``: supply per unit of demand. ``attrs``:
        ``supply_without_demand`` (sites whose catchment holds no demand; they add nothing).
    """
    weight = weight_function(
        decay, max_cost=max_cost, reach=reach, half_life=half_life, sigma=sigma, bands=bands
    )
    origin_index, demand_values = _as_weights(demand, "demand")
    dest_index, supply_values = _as_weights(supply, "supply")
    o, d, w = _pairs(origin_index, dest_index, cost_df, max_cost, weight)
    demand_at_site = np.bincount(d, weights=demand_values[o] * w, minlength=len(dest_index))
    served = demand_at_site > 0
    ratio = np.zeros(len(dest_index), dtype=np.float64)
    np.divide(supply_values, demand_at_site, out=ratio, where=served)
    values = np.bincount(o, weights=ratio[d] * w, minlength=len(origin_index))
    out = pd.Series(values, index=origin_index, name="2sfca", dtype=np.float64)
    reached = np.zeros(len(dest_index), dtype=bool)
    reached[d] = True
    out.attrs["supply_without_demand"] = [
        str(i) for i in dest_index[reached & ~served & (supply_values > 0)]
    ]
    return out


def enhanced_two_stage_fca(
    demand: pd.Series,
    supply: pd.Series,
    cost_df: pd.DataFrame,
    *,
    max_cost: float | None = None,
    decay: Decay = "bands",
    reach: float | None = None,
    half_life: float | None = None,
    sigma: float | None = None,
    bands: Mapping[float, float] | None = None,
) -> pd.Series:
    """Enhanced 2SFCA (Luo & Qi 2009): 2SFCA with a distance weight in both steps.

    The default weight is step bands (:data:`DEFAULT_BANDS`, minutes), as in PySAL; pass
    ``decay="gaussian", sigma=…`` for the Gaussian form (Dai 2010), or ``bands={…}``.
    Equals PySAL ``Access.enhanced_two_stage_fca(weight_fn=…, max_cost=…)`` on the same cost
    table (origins reaching nothing: 0 here, NaN there).
    """
    if decay is None:
        msg = "enhanced 2SFCA needs a decay (e.g. 'bands' or 'gaussian'); without one use two_stage_fca"
        raise ValueError(msg)
    out = two_stage_fca(
        demand,
        supply,
        cost_df,
        max_cost=max_cost,
        decay=decay,
        reach=reach,
        half_life=half_life,
        sigma=sigma,
        bands=bands,
    )
    return out.rename("e2sfca")


# ---------------------------------------------------------------------------- scores on link tables


def count_within(
    links: LinkTable | pd.DataFrame,
    *,
    max_cost: float | None = None,
    cost: str = "minutes",
    micro: pd.DataFrame | None = None,
    walk_kmh: float | None = DEFAULT_WALK_KMH,
) -> pd.Series:
    """How many macro-assets each micro-asset reaches (a DfT "origin indicator").

    Parameters
    ----------
    links
        Link table (or its frame).
    max_cost
        Count links with cost ≤ ``max_cost`` (minutes or metres); default: the links within
        their rule's reach.
    cost, walk_kmh
        As :func:`cost_table`.
    micro
        Asset frame whose index lists every micro-asset to report (default: the table's).

    Returns
    -------
    pandas.Series
        int64 named ``count``, indexed by micro_id (0 for micro-assets with no link).
    """
    table = cost_table(links, cost=cost, within_reach_only=max_cost is None, walk_kmh=walk_kmh)
    if max_cost is not None:
        table = table[table["cost"].to_numpy() <= max_cost]
    ids = _micro_ids(links, micro)
    positions = _positions(ids, table["origin"])
    counts = np.bincount(positions[positions >= 0], minlength=len(ids))
    return pd.Series(counts.astype(np.int64), index=ids, name="count")


def nearest(
    links: LinkTable | pd.DataFrame,
    *,
    cost: str = "minutes",
    micro: pd.DataFrame | None = None,
    walk_kmh: float | None = DEFAULT_WALK_KMH,
) -> pd.DataFrame:
    """The cheapest link of each micro-asset (the DfT "minimum travel time" per origin).

    Returns
    -------
    pandas.DataFrame
        Indexed by micro_id (every micro-asset; see :func:`count_within`): ``macro_id`` (str,
        <NA> without a link) and ``cost`` (float64 in minutes or metres, NaN without a link).
        Ties go to the lowest macro_id.
    """
    table = cost_table(links, cost=cost, walk_kmh=walk_kmh)
    ids = _micro_ids(links, micro)
    best = table.sort_values(["origin", "cost", "dest"], kind="stable").drop_duplicates("origin")
    best = best.set_index("origin").reindex(ids)
    return pd.DataFrame(
        {
            "macro_id": pd.array(best["dest"].to_numpy(dtype=object), dtype="str"),
            "cost": best["cost"].to_numpy(dtype=np.float64),
        },
        index=ids,
    )


def _weights_for(
    ids: pd.Index,
    frame: pd.DataFrame | None,
    spec: str | pd.Series,
    what: str,
) -> pd.Series:
    """Demand or supply weights aligned to ``ids``: a column of ``frame``, a Series, or 1."""
    if isinstance(spec, pd.Series):
        source = spec.copy()
        source.index = source.index.astype("str")
    elif frame is None:
        return pd.Series(np.ones(len(ids)), index=ids, dtype=np.float64)
    else:
        if spec not in frame:
            msg = f"{what}: no column {spec!r} (found {list(frame.columns)})"
            raise ValueError(msg)
        source = pd.Series(frame[spec].to_numpy(), index=frame.index.astype("str"))
    missing = ids[~ids.isin(source.index)]
    if len(missing):
        msg = f"{what}: no weight for id {missing[0]!r} ({len(missing)} id(s) missing)"
        raise ValueError(msg)
    aligned = source[~source.index.duplicated()].reindex(ids)
    return pd.Series(pd.to_numeric(aligned, errors="coerce").to_numpy(dtype=np.float64), index=ids)


def score(
    links: LinkTable | pd.DataFrame,
    micro: pd.DataFrame | None = None,
    macro: pd.DataFrame | None = None,
    *,
    method: str = "2sfca",
    cost: str = "minutes",
    max_cost: float | None = None,
    decay: Decay = None,
    reach: float | None = None,
    half_life: float | None = None,
    sigma: float | None = None,
    bands: Mapping[float, float] | None = None,
    demand: str | pd.Series = "capacity",
    supply: str | pd.Series = "capacity",
    walk_kmh: float | None = DEFAULT_WALK_KMH,
) -> pd.DataFrame:
    """Accessibility score of every micro-asset from a link table.

    Parameters
    ----------
    links
        Link table (or its frame). Only linked pairs are scored: link with ``k=None`` and a
        reach at least ``max_cost`` to score every site in the catchment.
    micro
        Micro-assets (index ``asset_id``): who is reported and their ``demand`` column.
        Without it, the table's micro-assets with demand 1.
    macro
        Macro-assets: their ``supply`` column (e.g. ``capacity`` or ``homes``). Without it,
        supply 1 per site.
    method
        ``"2sfca"``, ``"e2sfca"``, ``"gravity"`` (needs a decay), ``"cumulative"`` (supply
        within the catchment), ``"count"`` (sites within it) or ``"nearest"`` (smallest cost).
    cost
        ``"minutes"`` or ``"metres"`` (see :func:`cost_table` for straight-line minutes).
    max_cost
        Catchment in the cost's unit. Default: each link's own rule reach (``within_reach``).
    decay, reach, half_life, sigma, bands
        Distance weight (see :func:`weight_function`); ``e2sfca`` defaults to
        :data:`DEFAULT_BANDS`.
    demand, supply
        Column names (default ``capacity``) or Series indexed by asset id.
    walk_kmh
        Speed for timing straight-line links (km/h).

    Returns
    -------
    pandas.DataFrame
        Indexed by micro_id: ``score`` (float64; for ``nearest`` the cost, NaN without a
        link) and, for ``nearest``, ``macro_id``. ``attrs`` record method, cost, max_cost and
        decay. Holds personal micro-assets: for analysis in memory, not for publication.
    """
    if method not in METHODS:
        msg = f"method {method!r} is not one of {'|'.join(METHODS)}"
        raise ValueError(msg)
    ids = _micro_ids(links, micro)
    if method == "nearest":
        best = nearest(links, cost=cost, micro=micro, walk_kmh=walk_kmh)
        out = pd.DataFrame({"score": best["cost"], "macro_id": best["macro_id"]}, index=ids)
    elif method == "count":
        counts = count_within(links, max_cost=max_cost, cost=cost, micro=micro, walk_kmh=walk_kmh)
        out = pd.DataFrame({"score": counts.to_numpy(dtype=np.float64)}, index=ids)
    else:
        table = cost_table(links, cost=cost, within_reach_only=max_cost is None, walk_kmh=walk_kmh)
        sites = pd.Index(pd.unique(table["dest"]), dtype="str")
        supply_weights = _weights_for(sites, macro, supply, "supply")
        params: dict[str, Any] = {
            "max_cost": max_cost,
            "reach": reach,
            "half_life": half_life,
            "sigma": sigma,
            "bands": bands,
        }
        if method == "gravity":
            if decay is None:
                msg = "method 'gravity' needs a decay (e.g. decay='exponential', half_life=15)"
                raise ValueError(msg)
            values = gravity(ids, supply_weights, table, decay=decay, **params)
        elif method == "cumulative":
            if decay not in (None, "step"):
                msg = f"method 'cumulative' counts supply with a step at max_cost; for decay {decay!r} use method 'gravity'"
                raise ValueError(msg)
            values = gravity(ids, supply_weights, table, decay="step", **params)
        else:
            demand_weights = _weights_for(ids, micro, demand, "demand")
            fca = two_stage_fca if method == "2sfca" else enhanced_two_stage_fca
            kind = decay if (decay is not None or method == "2sfca") else "bands"
            values = fca(demand_weights, supply_weights, table, decay=kind, **params)
        out = pd.DataFrame({"score": values.to_numpy(dtype=np.float64)}, index=ids)
        if "supply_without_demand" in values.attrs:
            out.attrs["supply_without_demand"] = values.attrs["supply_without_demand"]
    out.index.name = "micro_id"
    out.attrs.update(
        method=method,
        cost=cost,
        max_cost=max_cost,
        decay=decay
        if isinstance(decay, str) or decay is None
        else getattr(decay, "__name__", "callable"),
    )
    return out
