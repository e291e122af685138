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

:func:`compare` puts two link tables side by side (a site opens or closes) and :func:`scenario`
builds the pair. Personal micro-assets (residents) are scored in memory; what is meant for
publication (:attr:`Comparison.summary`, :meth:`Comparison.difference_layer`) carries them only
as counts that went through :func:`assetmap.privacy.suppress`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from assetmap.links import DEFAULT_WALK_KMH, LINK_COLUMNS, LinkTable, link
from assetmap.rules import DECAY_KINDS, straight_line_kmh
from assetmap.rules import decay as decay_scores
from assetmap.schema import CRS_WGS84

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

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Decay = str | Callable[[FloatArray], npt.ArrayLike] | None

#: Methods of :func:`score`.
METHODS: Final = ("2sfca", "e2sfca", "gravity", "cumulative", "count", "nearest")
#: Decay kinds accepted by name: those of :mod:`assetmap.rules` plus step ``bands``.
DECAYS: Final = (*DECAY_KINDS, "bands")
#: E2SFCA weights by default (cost ≤ 10 → 1, ≤ 20 → 0.68, ≤ 30 → 0.22, beyond → 0), in the
#: cost's unit (minutes) — the default of PySAL ``access``'s ``enhanced_two_stage_fca``.
DEFAULT_BANDS: Final[Mapping[float, float]] = {10.0: 1.0, 20.0: 0.68, 30.0: 0.22}
#: Status of a micro-asset in a :class:`Comparison`, in display order.
STATUSES: Final = ("gained", "lost", "better", "worse", "same")
_COSTS: Final = ("minutes", "metres")
_COST_COLUMNS: Final = ("origin", "dest", "cost")


# ---------------------------------------------------------------------------- decays


def weight_function(
    decay: Decay,
    *,
    max_cost: float | None = None,
    reach: float | None = None,
    half_life: float | None = None,
    sigma: float | None = None,
    bands: Mapping[float, float] | None = None,
) -> Callable[[FloatArray], FloatArray]:
    """A vectorised weight function of travel cost (1 at zero cost for the named kinds).

    Parameters
    ----------
    decay
        ``None`` (weight 1), ``"step"`` (1 where ``cost <= reach``), ``"linear"``
        (``1 - cost/reach`` floored at 0), ``"exponential"`` (``0.5 ** (cost/half_life)``),
        ``"gaussian"`` (``exp(-cost² / 2σ²)``, as PySAL's ``weights.gaussian``), ``"bands"``
        (the weight of the first band limit ≥ cost, 0 beyond the last, as PySAL's
        ``weights.step_fn``), or a callable taking a float array of costs and returning an
        array of weights of the same shape.
    max_cost
        The catchment; the default ``reach`` of ``step`` and ``linear``.
    reach, half_life, sigma
        Parameters of the named kinds, in the cost's unit (minutes or metres).
    bands
        Band limit → weight for ``"bands"``, e.g. :data:`DEFAULT_BANDS`.

    Returns
    -------
    callable
        ``f(costs: ndarray) -> ndarray`` of float64 weights, finite and ≥ 0 (checked).
    """
    given = {
        name: value
        for name, value in (
            ("reach", reach),
            ("half_life", half_life),
            ("sigma", sigma),
            ("bands", bands),
        )
        if value is not None
    }
    wanted = {
        "step": "reach",
        "linear": "reach",
        "exponential": "half_life",
        "gaussian": "sigma",
        "bands": "bands",
    }
    if decay is None or callable(decay):
        if given:
            msg = f"{', '.join(given)} apply only to a named decay ({'|'.join(DECAYS)})"
            raise ValueError(msg)
        if decay is None:
            return lambda costs: np.ones(np.shape(costs), dtype=np.float64)
        return _checked(decay)
    if decay not in wanted:
        msg = f"decay {decay!r} is not one of {'|'.join(DECAYS)} (or a callable)"
        raise ValueError(msg)
    extra = sorted(set(given) - {wanted[decay]})
    if extra:
        msg = f"decay {decay!r} takes {wanted[decay]!r}, not {extra}"
        raise ValueError(msg)
    if decay == "bands":
        return _bands(bands if bands is not None else DEFAULT_BANDS)
    named = {"reach": reach, "half_life": half_life, "sigma": sigma}
    scale = named.get(wanted[decay])
    if scale is None and decay in ("step", "linear"):
        scale = max_cost
    if scale is None:
        if decay == "step":
            return lambda costs: np.ones(np.shape(costs), dtype=np.float64)
        msg = f"decay {decay!r} needs {wanted[decay]}=… (in the cost's unit)" + (
            " or max_cost" if decay == "linear" else ""
        )
        raise ValueError(msg)
    kind, parameter = str(decay), {wanted[decay]: float(scale)}
    # rules.decay validates the parameter (positive, finite) once, here, not per call.
    decay_scores(kind, np.zeros(1), **parameter)
    return lambda costs: decay_scores(kind, costs, **parameter)


def _bands(bands: Mapping[float, float]) -> Callable[[FloatArray], FloatArray]:
    if not bands:
        msg = "bands must map at least one band limit to a weight, e.g. {10: 1, 20: 0.68}"
        raise ValueError(msg)
    limits = np.array(sorted(bands), dtype=np.float64)
    weights = np.array([bands[k] for k in sorted(bands)], dtype=np.float64)
    if not (np.isfinite(limits).all() and np.isfinite(weights).all() and (weights >= 0).all()):
        msg = f"bands {dict(bands)!r}: limits and weights must be finite and weights ≥ 0"
        raise ValueError(msg)
    padded = np.append(weights, 0.0)

    def fn(costs: FloatArray) -> FloatArray:
        return padded[np.searchsorted(limits, costs, side="left")]

    return fn


def _checked(fn: Callable[[FloatArray], npt.ArrayLike]) -> Callable[[FloatArray], FloatArray]:
    def wrapped(costs: FloatArray) -> FloatArray:
        try:
            values = np.asarray(fn(costs), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            msg = (
                f"the decay callable failed on an array of {costs.size} costs ({exc}); it must "
                "take a numpy array (wrap a scalar function with numpy.vectorize)"
            )
            raise ValueError(msg) from exc
        if values.shape != costs.shape:
            values = np.broadcast_to(values, costs.shape).astype(np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            msg = (
                f"the decay callable gave weight {values[first]!r} at cost {costs[first]!r} "
                "(expected a finite weight ≥ 0; e.g. clamp gravity costs away from 0)"
            )
            raise ValueError(msg)
        return values

    return wrapped


# ---------------------------------------------------------------------------- cost tables


def read_links(path: str | Any) -> pd.DataFrame:
    """Read a links CSV written by ``assetmap link`` / :meth:`LinkTable.to_csv`.

    Returns
    -------
    pandas.DataFrame
        The :data:`~assetmap.links.LINK_COLUMNS` with ids and text as ``str``, costs as float64
        (NaN where empty) and ``within_reach`` as bool.

    Raises
    ------
    ValueError
        A column is missing or ``within_reach`` holds something other than True/False.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in LINK_COLUMNS if c not in raw.columns]
    if missing:
        msg = f"{path}: missing link columns {missing} (expected {list(LINK_COLUMNS)}, found {list(raw.columns)})"
        raise ValueError(msg)
    frame = raw[list(LINK_COLUMNS)].copy()
    for column in ("metres", "minutes", "snap_m_micro", "snap_m_macro", "score"):
        text = frame[column].str.strip()
        number = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = number.isna() & (text != "")
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            msg = (
                f"{path}: line {first + 2}, column {column!r}: {text.iloc[first]!r} is not a number"
            )
            raise ValueError(msg)
        frame[column] = number.astype(np.float64)
    flag = frame["within_reach"].str.strip().str.lower()
    known = flag.isin(["true", "false", "1", "0"])
    if not known.all():
        first = int(np.flatnonzero(~known.to_numpy())[0])
        msg = (
            f"{path}: line {first + 2}, column 'within_reach': {frame['within_reach'].iloc[first]!r} "
            "is not True or False"
        )
        raise ValueError(msg)
    frame["within_reach"] = flag.isin(["true", "1"]).to_numpy()
    return frame


def _links_frame(links: LinkTable | pd.DataFrame) -> pd.DataFrame:
    frame = links.links if isinstance(links, LinkTable) else links
    if not isinstance(frame, pd.DataFrame):
        msg = f"links must be a LinkTable or its links DataFrame, got {type(links).__name__}"
        raise TypeError(msg)
    missing = [
        c for c in ("micro_id", "macro_id", "mode", "metres", "within_reach") if c not in frame
    ]
    if missing:
        msg = f"links: missing columns {missing} (expected the link table columns {list(LINK_COLUMNS)})"
        raise ValueError(msg)
    return frame


def _micro_ids(links: LinkTable | pd.DataFrame, micro: pd.DataFrame | None) -> pd.Index:
    """Every micro-asset to report on: the frame's ids, else the table's, else those linked."""
    values: npt.NDArray[Any]
    if micro is not None:
        values = np.asarray(micro.index.astype("str"))
    elif isinstance(links, LinkTable):
        values = np.asarray(links.micro_ids, dtype=object)
    else:
        values = _links_frame(links)["micro_id"].astype("str").drop_duplicates().to_numpy()
    ids: pd.Index = pd.Index(values, dtype="str")
    ids.name = "micro_id"
    return ids


def cost_table(
    links: LinkTable | pd.DataFrame,
    *,
    cost: str = "minutes",
    within_reach_only: bool = False,
    walk_kmh: float | None = DEFAULT_WALK_KMH,
    rules: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The link table as a PySAL-style cost table: one row per micro × macro pair.

    Parameters
    ----------
    links
        A :class:`~assetmap.links.LinkTable` or its ``links`` frame (e.g. :func:`read_links`).
    cost
        ``"minutes"`` or ``"metres"`` (network path plus snaps, or the straight line).
    within_reach_only
        Keep only links within their rule's reach (drop the beyond-reach "nearest shown" ones).
    walk_kmh
        Straight-line (``mode == "euclidean"``) links have no minutes; for ``cost="minutes"``
        they are timed as the straight line at this speed (km/h) — for a rule of mode
        ``cycle``/``drive`` at :data:`assetmap.rules.STRAIGHT_LINE_KMH`, as the link step
        judged their reach. A straight line is shorter than any street path, so these times
        are optimistic; ``attrs["estimated_minutes"]`` counts them. ``None`` refuses instead.
    rules
        Only links of these rules (default: all).

    Returns
    -------
    pandas.DataFrame
        Columns ``origin`` (micro_id), ``dest`` (macro_id), ``cost`` (float64). A pair linked by
        several rules keeps its smallest cost. ``attrs``: ``cost``, ``estimated_minutes``.

    Raises
    ------
    ValueError
        Unknown ``cost``, a negative or missing cost, or straight-line links with
        ``walk_kmh=None``.
    """
    if cost not in _COSTS:
        msg = f"cost {cost!r} is not one of {'|'.join(_COSTS)}"
        raise ValueError(msg)
    frame = _links_frame(links)
    if rules is not None:
        frame = frame[frame["rule"].isin(list(rules))]
    if within_reach_only:
        frame = frame[frame["within_reach"].to_numpy(dtype=bool)]
    metres = frame["metres"].to_numpy(dtype=np.float64)
    estimated = 0
    if cost == "metres":
        values = metres
    else:
        values = frame["minutes"].to_numpy(dtype=np.float64).copy()
        straight = np.isnan(values) & (frame["mode"].astype("str") == "euclidean").to_numpy()
        estimated = int(straight.sum())
        if estimated:
            if walk_kmh is None:
                msg = (
                    f"{estimated} straight-line link(s) have no minutes (e.g. micro "
                    f"{frame['micro_id'].to_numpy()[straight][0]!r}); give walk_kmh to time them "
                    "or use cost='metres'"
                )
                raise ValueError(msg)
            kmh = _line_kmh(links, frame, walk_kmh)
            values[straight] = metres[straight] / (kmh[straight] * 1000.0 / 60.0)
    bad = np.isnan(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = (
            f"link {frame['micro_id'].to_numpy()[row]!r} → {frame['macro_id'].to_numpy()[row]!r}: "
            f"{cost} {values[row]!r} is not a cost ≥ 0"
        )
        raise ValueError(msg)
    table = pd.DataFrame(
        {
            "origin": frame["micro_id"].astype("str").to_numpy(),
            "dest": frame["macro_id"].astype("str").to_numpy(),
            "cost": values,
        }
    )
    if table.duplicated(["origin", "dest"]).any():
        table = pd.DataFrame(
            table.groupby(["origin", "dest"], sort=False, as_index=False)["cost"].min()
        )
    table = table.astype({"origin": "str", "dest": "str"})
    table.attrs.update(cost=cost, estimated_minutes=estimated)
    return table


def _line_kmh(links: LinkTable | pd.DataFrame, frame: pd.DataFrame, walk_kmh: float) -> FloatArray:
    """Straight-line speed per link row: the rule's mode speed when the rules are known."""
    speeds = np.full(len(frame), float(walk_kmh))
    if isinstance(links, LinkTable) and links.rules and "rule" in frame:
        by_rule = {r.name: straight_line_kmh(r.mode, walk_kmh=walk_kmh) for r in links.rules}
        mapped = frame["rule"].map(by_rule).to_numpy(dtype=np.float64, na_value=np.nan)
        speeds = np.where(np.isnan(mapped), speeds, mapped)
    return speeds


def _check_cost_df(cost_df: pd.DataFrame) -> tuple[pd.Series, pd.Series, FloatArray]:
    missing = [c for c in _COST_COLUMNS if c not in cost_df]
    if missing:
        msg = f"cost_df: missing columns {missing} (expected origin, dest, cost; see cost_table())"
        raise ValueError(msg)
    costs = cost_df["cost"].to_numpy(dtype=np.float64)
    if (costs < 0).any():
        row = int(np.flatnonzero(costs < 0)[0])
        msg = f"cost_df row {row}: cost {costs[row]!r} is negative (expected a travel cost ≥ 0)"
        raise ValueError(msg)
    return cost_df["origin"], cost_df["dest"], costs


def _positions(index: pd.Index, ids: pd.Series) -> IntArray:
    """Position of each id in ``index`` (-1 when absent).

    The ids are factorised first (pyarrow dictionary-encodes string columns without making
    Python objects), so only the distinct ids are looked up in ``index``.
    """
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        msg = f"id {dup!r} appears more than once in the demand/supply index (expected unique ids)"
        raise ValueError(msg)
    codes, uniques = pd.factorize(ids)
    lookup = np.append(np.asarray(index.get_indexer(pd.Index(uniques)), dtype=np.intp), -1)
    return lookup[np.asarray(codes, dtype=np.intp)]


def _pairs(
    origin_index: pd.Index,
    dest_index: pd.Index,
    cost_df: pd.DataFrame,
    max_cost: float | None,
    weight: Callable[[FloatArray], FloatArray],
) -> tuple[IntArray, IntArray, FloatArray]:
    """Origin and destination positions and weights of the cost rows inside the catchment."""
    origins, dests, costs = _check_cost_df(cost_df)
    o = _positions(origin_index, origins)
    d = _positions(dest_index, dests)
    keep = (o >= 0) & (d >= 0) & np.isfinite(costs)
    if max_cost is not None:
        keep &= costs <= max_cost
    o, d = o[keep], d[keep]
    twice = _first_repeat(
        o.astype(np.int64) * len(dest_index) + d, len(origin_index) * len(dest_index)
    )
    if twice is not None:
        msg = (
            f"cost_df has more than one row for origin {origin_index[twice // len(dest_index)]!r} "
            f"and dest {dest_index[twice % len(dest_index)]!r} (expected one cost per pair; "
            "cost_table() keeps the smallest)"
        )
        raise ValueError(msg)
    return o, d, weight(costs[keep])


def _first_repeat(keys: npt.NDArray[np.int64], n_keys: int) -> int | None:
    """A key that occurs more than once, or None (a counting pass when the key space is small)."""
    if keys.size < 2:
        return None
    if n_keys <= 4 * keys.size + 1_000_000:
        counts = np.bincount(keys, minlength=n_keys)
        repeated = np.flatnonzero(counts > 1)
        return int(repeated[0]) if repeated.size else None
    ordered = np.sort(keys)
    same = ordered[1:] == ordered[:-1]
    return int(ordered[1:][same][0]) if same.any() else None


def _as_weights(values: pd.Series, what: str) -> tuple[pd.Index, FloatArray]:
    if not isinstance(values, pd.Series):
        msg = f"{what} must be a pandas Series indexed by id, got {type(values).__name__}"
        raise TypeError(msg)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        msg = f"{what} {values.index[first]!r}: {values.iloc[first]!r} is not a finite weight ≥ 0"
        raise ValueError(msg)
    return pd.Index(values.index), numbers


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


# ---------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Comparison:
    """Two link tables side by side: how each micro-asset's access changed.

    Attributes
    ----------
    table
        Indexed by micro_id: ``nearest_macro_before``, ``nearest_before``,
        ``nearest_macro_after``, ``nearest_after`` (cost of the cheapest link), ``count_before``,
        ``count_after`` (sites within reach), ``score_before``, ``score_after``, ``change``
        (after − before), ``status`` (:data:`STATUSES`) and ``personal`` (bool; True where
        unknown). Held in memory for analysis: it has a row per personal micro-asset.
    method, cost
        The score method and cost unit used.
    """

    table: pd.DataFrame
    method: str = "count"
    cost: str = "minutes"

    @property
    def summary(self) -> pd.DataFrame:
        """Micro-assets per status, safe to publish.

        Columns: ``micro_assets`` (non-personal, plain counts), ``personal`` (counts of personal
        micro-assets through :func:`assetmap.privacy.suppress`: ``"<8"``, rounded to 5, ``"*"``),
        ``mean_nearest_change`` (non-personal, in the cost's unit), ``mean_nearest_change_personal``
        (only where 8 or more personal micro-assets have both costs, else NaN).
        """
        from assetmap.privacy import suppress

        table = self.table
        status = pd.Categorical(table["status"], categories=list(STATUSES))
        personal = table["personal"].to_numpy(dtype=bool)
        change = (table["nearest_after"] - table["nearest_before"]).to_numpy(dtype=np.float64)
        counts = pd.DataFrame(
            {
                "public": pd.Series(status[~personal])
                .value_counts()
                .reindex(STATUSES, fill_value=0),
                "personal": pd.Series(status[personal])
                .value_counts()
                .reindex(STATUSES, fill_value=0),
            }
        ).astype(np.int64)
        published, _ = suppress(counts[["personal"]], table="comparison_personal", total_row=True)
        finite = np.isfinite(change)
        frame = pd.DataFrame({"status": np.asarray(status, dtype=object), "change": change})
        public_mean = frame[~personal & finite].groupby("status")["change"].mean()
        personal_group = frame[personal & finite].groupby("status")["change"]
        personal_mean = personal_group.mean().where(personal_group.size() >= 8)
        out = pd.DataFrame(
            {
                "micro_assets": counts["public"],
                "personal": published["personal"].iloc[:-1].to_numpy(),
                "mean_nearest_change": public_mean.reindex(STATUSES).to_numpy(dtype=np.float64),
                "mean_nearest_change_personal": personal_mean.reindex(STATUSES).to_numpy(
                    dtype=np.float64
                ),
            },
            index=pd.Index(list(STATUSES), name="status"),
        )
        out.loc["total"] = [  # type: ignore[assignment]
            int(counts["public"].sum()),
            str(published["personal"].iloc[-1]),
            float(np.nanmean(change[~personal & finite])) if (~personal & finite).any() else np.nan,
            np.nan,
        ]
        out["micro_assets"] = out["micro_assets"].astype(np.int64)
        return out

    def difference_layer(self, micro: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Changed non-personal micro-assets as points for a map (EPSG:4326).

        Parameters
        ----------
        micro
            The micro-asset frame the links were made from (geometry, ``name``, ``category``).

        Returns
        -------
        geopandas.GeoDataFrame
            One row per non-personal micro-asset whose status is not ``same``: ``micro_id``,
            ``name``, ``category`` (when present), the :attr:`table` columns and geometry.
            Personal micro-assets never appear; ``attrs["personal_changed"]`` holds their count
            as published text (``"0"``, ``"<8"``, rounded to 5) — see :meth:`difference_areas`
            for them by area.
        """
        from assetmap.privacy import personal_mask, suppress

        changed = self.table[self.table["status"] != "same"]
        rows = micro.set_axis(micro.index.astype("str"))
        rows = rows.loc[changed.index.intersection(rows.index, sort=False)]
        flagged = changed.loc[rows.index, "personal"].to_numpy(dtype=bool)
        is_personal = personal_mask(rows) | flagged
        public = rows[~is_personal]
        keep = [c for c in ("name", "category") if c in public]
        layer = gpd.GeoDataFrame(
            public[keep].join(changed.drop(columns=["personal"])),
            geometry=public.geometry,
            crs=micro.crs,
        )
        layer.index.name = "micro_id"
        layer = layer.reset_index().to_crs(CRS_WGS84)
        # Changed rows missing from ``micro`` count as personal when flagged so (the default).
        absent = changed.drop(index=rows.index)
        n_personal = int(is_personal.sum()) + int(absent["personal"].sum())
        published, _ = suppress(pd.DataFrame({"changed": [n_personal]}), total_row=False)
        layer.attrs["personal_changed"] = str(published["changed"].iloc[0])
        return layer

    def difference_areas(
        self,
        micro: gpd.GeoDataFrame,
        *,
        areas: gpd.GeoDataFrame | None = None,
        area_id: str | None = None,
    ) -> Any:
        """Personal micro-assets whose access changed, counted by area and status.

        Returns
        -------
        assetmap.privacy.PrivacyResult
            From :func:`assetmap.privacy.aggregate_personal` with ``by="status"`` (LSOA
            polygons when ``areas`` are given, else H3 cells): published text only.
        """
        from assetmap.privacy import aggregate_personal

        changed = self.table[self.table["status"] != "same"]
        rows = micro.set_axis(micro.index.astype("str"))
        rows = rows.loc[changed.index.intersection(rows.index, sort=False)]
        rows = rows.assign(status=changed.loc[rows.index, "status"].to_numpy())
        return aggregate_personal(rows, areas=areas, area_id=area_id, by="status")

    def _repr_html_(self) -> str:
        return (
            f"<div><strong>Comparison</strong> ({html.escape(self.method)}, "
            f"{html.escape(self.cost)}): {len(self.table)} micro-assets"
            + self.summary.to_html(escape=True, na_rep="")
            + "</div>"
        )

    def __repr__(self) -> str:
        counts = self.table["status"].value_counts()
        shown = ", ".join(f"{s}: {int(counts.get(s, 0))}" for s in STATUSES)
        return f"Comparison({len(self.table)} micro-assets; {shown})"


def compare(
    before: LinkTable | pd.DataFrame,
    after: LinkTable | pd.DataFrame,
    *,
    micro: pd.DataFrame | None = None,
    macro: pd.DataFrame | None = None,
    method: str = "count",
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
    min_change: float = 0.1,
) -> Comparison:
    """Compare access before and after a change (a site opens, closes or moves).

    Parameters
    ----------
    before, after
        Link tables of the same micro-assets against the two sets of sites (:func:`scenario`).
    micro
        Micro-assets: the ids reported, ``demand`` weights and the ``personal`` flags (without
        it every row counts as personal in :attr:`Comparison.summary`, the safe side).
    macro
        Every site of either table, for ``supply`` weights (default supply 1).
    method, cost, max_cost, decay, reach, half_life, sigma, bands, demand, supply, walk_kmh
        As :func:`score` (the score columns); ``count`` by default.
    min_change
        Smallest change of the nearest cost (in the cost's unit: 0.1 min or 0.1 m) that counts
        as better or worse.

    Returns
    -------
    Comparison
        Status per micro-asset: ``gained`` (nothing within reach before, something after),
        ``lost`` (the reverse), ``better`` / ``worse`` (the nearest site is at least
        ``min_change`` nearer / farther, or, with the nearest unchanged, the score rose / fell),
        else ``same``.
    """
    if micro is not None:
        ids = _micro_ids(before, micro)
    else:
        ids = _micro_ids(before, None).append(_micro_ids(after, None)).unique()
        ids = pd.Index(ids, dtype="str", name="micro_id")
    kwargs: dict[str, Any] = {
        "method": method,
        "cost": cost,
        "max_cost": max_cost,
        "decay": decay,
        "reach": reach,
        "half_life": half_life,
        "sigma": sigma,
        "bands": bands,
        "demand": demand,
        "supply": supply,
        "walk_kmh": walk_kmh,
    }
    frames = []
    for table in (before, after):
        near = nearest(table, cost=cost, walk_kmh=walk_kmh).reindex(ids)
        count = count_within(table, max_cost=max_cost, cost=cost, walk_kmh=walk_kmh)
        scored = score(table, micro, macro, **kwargs)
        frames.append(
            (
                near,
                count.reindex(ids, fill_value=0),
                scored["score"].reindex(ids),
            )
        )
    (near_b, count_b, score_b), (near_a, count_a, score_a) = frames
    if method != "nearest":
        score_b, score_a = score_b.fillna(0.0), score_a.fillna(0.0)
    cost_b = near_b["cost"].to_numpy(dtype=np.float64)
    cost_a = near_a["cost"].to_numpy(dtype=np.float64)
    inf_b = np.where(np.isnan(cost_b), np.inf, cost_b)
    inf_a = np.where(np.isnan(cost_a), np.inf, cost_a)
    with np.errstate(invalid="ignore"):
        delta = inf_a - inf_b
    sb, sa = score_b.to_numpy(dtype=np.float64), score_a.to_numpy(dtype=np.float64)
    change = sa - sb
    score_moved = np.nan_to_num(np.abs(change), nan=0.0) > 1e-9 * np.maximum(
        1.0, np.nan_to_num(np.abs(sb), nan=0.0)
    )
    if method == "nearest":  # a lower cost is the better score
        up, down = change < 0, change > 0
    else:
        up, down = change > 0, change < 0
    reach_b, reach_a = count_b.to_numpy() > 0, count_a.to_numpy() > 0
    nearer = delta <= -min_change
    farther = delta >= min_change
    steady = ~(nearer | farther)
    status = np.select(
        [
            ~reach_b & reach_a,
            reach_b & ~reach_a,
            nearer | (steady & score_moved & up),
            farther | (steady & score_moved & down),
        ],
        ["gained", "lost", "better", "worse"],
        default="same",
    )
    if micro is not None:
        from assetmap.privacy import personal_mask

        flags = pd.Series(personal_mask(micro), index=micro.index.astype("str"))
        personal = flags.reindex(ids, fill_value=True).to_numpy(dtype=bool)
    else:
        personal = np.ones(len(ids), dtype=bool)
    table = pd.DataFrame(
        {
            "nearest_macro_before": near_b["macro_id"].array,
            "nearest_before": cost_b,
            "nearest_macro_after": near_a["macro_id"].array,
            "nearest_after": cost_a,
            "count_before": count_b.to_numpy(dtype=np.int64),
            "count_after": count_a.to_numpy(dtype=np.int64),
            "score_before": sb,
            "score_after": sa,
            "change": change,
            "status": pd.array(status, dtype="str"),
            "personal": personal,
        },
        index=ids,
    )
    return Comparison(table=table, method=method, cost=cost)


def scenario(
    micro: gpd.GeoDataFrame,
    macro: gpd.GeoDataFrame,
    *,
    add: gpd.GeoDataFrame | str | Sequence[str] | None = None,
    remove: str | Sequence[str] = (),
    **link_kwargs: Any,
) -> tuple[LinkTable, LinkTable]:
    """Link micro-assets to the sites before and after a change.

    Parameters
    ----------
    micro, macro
        As :func:`assetmap.link`; ``macro`` is the full gazetteer.
    add
        Sites that open: ids of rows of ``macro`` (left out *before*), or a GeoDataFrame of
        new sites (same CRS as ``macro``; added *after*).
    remove
        Ids of sites of ``macro`` that close (left out *after*).
    **link_kwargs
        Passed to :func:`assetmap.link` for both tables (``within_m``, ``rules``, ``network`` …).

    Returns
    -------
    before, after
        The two link tables.

    Examples
    --------
    Midland Metropolitan University Hospital opens and City Hospital's acute services move:

    >>> before, after = scenario(micro, sites("greater-icknield"), add="mmuh",
    ...                          remove="city-health-campus", within_m=2000, k=None)
    """
    ids = pd.Index(macro.index.astype("str"))
    removed = [remove] if isinstance(remove, str) else list(remove)
    unknown = [i for i in removed if i not in ids]
    if unknown:
        msg = f"remove: no site {unknown[0]!r} in macro (sites: {list(ids)})"
        raise ValueError(msg)
    if isinstance(add, gpd.GeoDataFrame):
        clash = [i for i in add.index.astype("str") if i in ids and i not in removed]
        if clash:
            msg = f"add: site {clash[0]!r} is already in macro; give it a new id or remove it"
            raise ValueError(msg)
        if add.crs != macro.crs:
            msg = f"add is in {add.crs} but macro is in {macro.crs}; reproject one of them"
            raise ValueError(msg)
        before_sites = macro
        kept = macro[~ids.isin(removed)]
        after_sites = gpd.GeoDataFrame(pd.concat([kept, add]), crs=macro.crs)
    else:
        opened = [] if add is None else ([add] if isinstance(add, str) else list(add))
        unknown = [i for i in opened if i not in ids]
        if unknown:
            msg = f"add: no site {unknown[0]!r} in macro (pass a GeoDataFrame for new sites; sites: {list(ids)})"
            raise ValueError(msg)
        both = sorted(set(opened) & set(removed))
        if both:
            msg = f"site {both[0]!r} is both added and removed"
            raise ValueError(msg)
        before_sites = macro[~ids.isin(opened)]
        after_sites = macro[~ids.isin(removed)]
    return link(micro, before_sites, **link_kwargs), link(micro, after_sites, **link_kwargs)
