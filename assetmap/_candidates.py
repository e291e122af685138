"""Candidate links of a rule (KD-tree or street-network times), then the choice by reach and k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from assetmap._link_inputs import AssetPoints
from assetmap.rules import Rule, select, straight_line_kmh
from assetmap.rules import decay as decay_scores

if TYPE_CHECKING:
    from assetmap.network import StreetNetwork

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Walking speed (km/h) used when neither ``walk_kmh`` nor a network gives one.
DEFAULT_WALK_KMH: Final = 4.8


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Snap:
    """Nearest node of each asset of one side on one network; ``on`` = usable for routing."""

    node: IntArray
    snap_m: FloatArray
    on: BoolArray
    covered: BoolArray


class _Context:
    """Shared state of one ``link`` call: points, networks, snaps and travel matrices."""

    def __init__(
        self,
        micro: AssetPoints,
        macro: AssetPoints,
        networks: Mapping[str, StreetNetwork],
        walk_kmh: float | None,
        snap_tolerance_m: float,
    ) -> None:
        self.micro = micro
        self.macro = macro
        self.networks = dict(networks)
        self.walk_kmh = walk_kmh
        self.tolerance_m = snap_tolerance_m
        self.macro_rank = macro.id_rank
        self.micro_rank = micro.id_rank
        self._snaps: dict[tuple[str, str], _Snap] = {}
        self._travel: dict[str, tuple[FloatArray, FloatArray, IntArray]] = {}

    def walk_m_per_min(self, mode: str) -> float:
        """Walking speed (metres per minute) for snaps on the ``mode`` network."""
        if self.walk_kmh is not None:
            kmh = self.walk_kmh
        elif mode in self.networks:
            kmh = self.networks[mode].walk_kmh
        elif "walk" in self.networks:
            kmh = self.networks["walk"].walk_kmh
        else:
            kmh = DEFAULT_WALK_KMH
        return kmh * 1000.0 / 60.0

    def line_m_per_min(self, mode: str) -> float:
        """Speed (metres per minute) at which a straight line is compared with minutes."""
        return (
            straight_line_kmh(mode, walk_kmh=self.walk_m_per_min(mode) * 60.0 / 1000.0)
            * 1000.0
            / 60.0
        )

    def snap(self, mode: str, side: str) -> _Snap:
        """Snap every placed asset of ``side`` to the ``mode`` network (cached)."""
        key = (mode, side)
        if key not in self._snaps:
            points = self.micro if side == "micro" else self.macro
            net = self.networks[mode]
            node = np.full(points.x.size, -1, dtype=np.int64)
            snap_m = np.full(points.x.size, np.nan)
            covered = np.zeros(points.x.size, dtype=bool)
            placed = points.placed
            if placed.any():
                node[placed], snap_m[placed] = net.snap(points.x[placed], points.y[placed])
                covered[placed] = net.covers(points.x[placed], points.y[placed])
            on = placed & covered & (snap_m <= self.tolerance_m)
            self._snaps[key] = _Snap(node=node, snap_m=snap_m, on=on, covered=covered)
        return self._snaps[key]

    def prepare_travel(self, plans: Sequence[_Plan]) -> None:
        """One reversed Dijkstra call per network, from every selected on-network macro-asset."""
        for mode, net in self.networks.items():
            wanted = np.zeros(self.macro.x.size, dtype=bool)
            for plan in plans:
                if plan.mode == mode and plan.micro_sel.size:
                    wanted[plan.macro_sel] = True
            if not wanted.any():
                continue
            snap = self.snap(mode, "macro")
            use = wanted & snap.on
            nodes = np.unique(snap.node[use])
            minutes, metres = net.travel(nodes, reverse=True)
            row = np.full(self.macro.x.size, -1, dtype=np.int64)
            row[use] = np.searchsorted(nodes, snap.node[use])
            self._travel[mode] = (minutes, metres, row)

    def travel(self, mode: str) -> tuple[FloatArray, FloatArray, IntArray]:
        """``(minutes, metres, row_of_macro)`` of the travel call for ``mode``."""
        return self._travel[mode]


@dataclass(frozen=True)
class _Plan:
    """A rule resolved against the frames: positions selected, reach, speeds."""

    rule: Rule
    micro_sel: IntArray
    macro_sel: IntArray
    mode: str
    network: bool
    reach_minutes: float | None
    reach_metres: float | None
    k: int | None
    walk_m_per_min: float
    line_m_per_min: float
    rank_by_metres: bool

    @property
    def bound_m(self) -> float:
        """Straight-line metres beyond which nothing can be within reach (``inf`` if none)."""
        bound = np.inf
        if self.reach_metres is not None:
            bound = self.reach_metres
        if self.reach_minutes is not None:
            bound = min(bound, self.reach_minutes * self.line_m_per_min)
        return float(bound)

    def reach_text(self) -> str:
        parts = []
        if self.reach_minutes is not None:
            parts.append(f"{self.reach_minutes:g} min")
        if self.reach_metres is not None:
            parts.append(f"{self.reach_metres:,.0f} m")
        return " and ".join(parts)


def _plan(
    rule: Rule,
    micro: gpd.GeoDataFrame,
    macro: gpd.GeoDataFrame,
    micro_pts: AssetPoints,
    macro_pts: AssetPoints,
    *,
    k: int | None,
    within_m: float | None,
    context: _Context,
) -> _Plan:
    micro_mask = select(micro, rule.micro) & micro_pts.placed
    macro_mask = select(macro, rule.macro) & macro_pts.placed
    reach_metres = rule.max_metres if rule.max_metres is not None else within_m
    return _Plan(
        rule=rule,
        micro_sel=np.flatnonzero(micro_mask),
        macro_sel=np.flatnonzero(macro_mask),
        mode=rule.mode,
        network=rule.mode in context.networks,
        reach_minutes=rule.max_minutes,
        reach_metres=reach_metres,
        k=rule.k if rule.k is not None else (None if k is None else int(k)),
        walk_m_per_min=context.walk_m_per_min(rule.mode),
        line_m_per_min=context.line_m_per_min(rule.mode),
        rank_by_metres=rule.max_minutes is None
        and (reach_metres is not None or rule.mode == "euclidean"),
    )


# ---------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class _Rows:
    """Candidate (then chosen) links of one rule as parallel arrays."""

    mi: IntArray
    ma: IntArray
    metres: FloatArray
    minutes: FloatArray
    snap_mi: FloatArray
    snap_ma: FloatArray
    routed: BoolArray
    note: npt.NDArray[np.object_]
    within: BoolArray | None = None
    score: FloatArray | None = None
    cost: FloatArray | None = None

    @staticmethod
    def concat(parts: Sequence[_Rows]) -> _Rows:
        """Rows of every part; ``within``/``score``/``cost`` kept when every part has them."""
        if not parts:
            empty = np.empty(0)
            return _Rows(
                mi=np.empty(0, np.int64),
                ma=np.empty(0, np.int64),
                metres=empty,
                minutes=empty,
                snap_mi=empty,
                snap_ma=empty,
                routed=np.empty(0, bool),
                note=np.empty(0, object),
                within=np.empty(0, bool),
                score=empty,
                cost=empty,
            )
        values: dict[str, Any] = {}
        for name in _Rows.__dataclass_fields__:
            arrays = [getattr(p, name) for p in parts]
            values[name] = None if any(a is None for a in arrays) else np.concatenate(arrays)
        return _Rows(**values)

    def take(self, index: IntArray | BoolArray) -> _Rows:
        values: dict[str, Any] = {
            name: (None if value is None else value[index]) for name, value in self.__dict__.items()
        }
        return _Rows(**values)


def _straight_rows(
    plan: _Plan,
    context: _Context,
    micro_pos: IntArray,
    macro_pos: IntArray,
    note: npt.NDArray[np.object_] | str,
) -> _Rows:
    """Straight-line candidates: the nearest macro-asset, plus the k nearest / all within reach.

    ``note`` is one text per micro position or one text for all.
    """
    if micro_pos.size == 0 or macro_pos.size == 0:
        return _Rows.concat([])
    micro, macro = context.micro, context.macro
    points = np.column_stack([micro.x[micro_pos], micro.y[micro_pos]])
    tree = cKDTree(np.column_stack([macro.x[macro_pos], macro.y[macro_pos]]))
    n_macro = macro_pos.size
    bound = plan.bound_m
    if not np.isfinite(bound):
        kk = n_macro if plan.k is None else min(plan.k, n_macro)
        dist, col = tree.query(points, k=kk)
        dist, col = dist.reshape(len(points), kk), col.reshape(len(points), kk)
        row = np.repeat(np.arange(len(points)), kk)
        i, j, d = row, col.ravel(), dist.ravel()
    else:
        near_d, near_j = tree.query(points, k=1)
        parts_i = [np.arange(len(points))]
        parts_j = [np.asarray(near_j, dtype=np.int64)]
        parts_d = [np.asarray(near_d, dtype=np.float64)]
        if plan.k is not None:
            kk = min(plan.k, n_macro)
            dist, col = tree.query(points, k=kk, distance_upper_bound=np.nextafter(bound, np.inf))
            dist, col = dist.reshape(len(points), kk), col.reshape(len(points), kk)
            ok = np.isfinite(dist)
            parts_i.append(np.nonzero(ok)[0])
            parts_j.append(col[ok])
            parts_d.append(dist[ok])
        else:
            pairs = cKDTree(points).sparse_distance_matrix(tree, bound, output_type="ndarray")
            parts_i.append(pairs["i"])
            parts_j.append(pairs["j"])
            parts_d.append(pairs["v"])
        i, j, d = np.concatenate(parts_i), np.concatenate(parts_j), np.concatenate(parts_d)
        _, first = np.unique(i * n_macro + j, return_index=True)
        i, j, d = i[first], j[first], d[first]
    notes = (
        np.asarray(note, dtype=object)[i]
        if not isinstance(note, str)
        else np.full(i.size, note, dtype=object)
    )
    nan = np.full(i.size, np.nan)
    return _Rows(
        mi=micro_pos[i].astype(np.int64),
        ma=macro_pos[j].astype(np.int64),
        metres=d.astype(np.float64),
        minutes=nan,
        snap_mi=nan.copy(),
        snap_ma=nan.copy(),
        routed=np.zeros(i.size, dtype=bool),
        note=notes,
    )


def _off_network_note(
    snap: _Snap, positions: IntArray, mode: str, tolerance_m: float, side: str
) -> npt.NDArray[np.object_]:
    """Why each asset at ``positions`` is off the ``mode`` network (vectorised text)."""
    snap_m = pd.Series(snap.snap_m[positions])
    far = snap_m.to_numpy() > tolerance_m
    who = "" if side == "micro" else "site "
    text = np.where(
        far,
        f"outside_network: {who}snapped "
        + snap_m.round().astype("Int64").astype(str)
        + f" m > {tolerance_m:,.0f} m tolerance; straight-line used",
        f"outside_network: {who}outside the {mode} network's coverage; straight-line used",
    )
    return np.asarray(text, dtype=object)


def _candidates(plan: _Plan, context: _Context) -> _Rows:
    """All candidate links of one rule (the chooser then applies reach and k)."""
    if plan.micro_sel.size == 0 or plan.macro_sel.size == 0:
        return _Rows.concat([])
    if not plan.network:
        note = (
            "" if plan.mode == "euclidean" else f"no {plan.mode} network given; straight-line used"
        )
        return _straight_rows(plan, context, plan.micro_sel, plan.macro_sel, note)
    snap_mi, snap_ma = context.snap(plan.mode, "micro"), context.snap(plan.mode, "macro")
    minutes_to, metres_to, row_of = context.travel(plan.mode)
    micro_on = plan.micro_sel[snap_mi.on[plan.micro_sel]]
    micro_off = plan.micro_sel[~snap_mi.on[plan.micro_sel]]
    macro_on = plan.macro_sel[snap_ma.on[plan.macro_sel]]
    macro_off = plan.macro_sel[~snap_ma.on[plan.macro_sel]]
    parts: list[_Rows] = []
    connected: BoolArray = np.zeros(micro_on.size, dtype=bool)
    if micro_on.size and macro_on.size:
        rows, cols = row_of[macro_on], snap_mi.node[micro_on]
        path_min = minutes_to[np.ix_(rows, cols)].T
        path_m = metres_to[np.ix_(rows, cols)].T
        snaps = snap_mi.snap_m[micro_on][:, None] + snap_ma.snap_m[macro_on][None, :]
        finite = np.isfinite(path_min)
        connected = np.asarray(finite.any(axis=1), dtype=bool)
        i, j = np.nonzero(finite)
        parts.append(
            _Rows(
                mi=micro_on[i],
                ma=macro_on[j],
                metres=path_m[i, j] + snaps[i, j],
                minutes=path_min[i, j] + snaps[i, j] / plan.walk_m_per_min,
                snap_mi=snap_mi.snap_m[micro_on[i]],
                snap_ma=snap_ma.snap_m[macro_on[j]],
                routed=np.ones(i.size, dtype=bool),
                note=np.full(i.size, "", dtype=object),
            )
        )
    linked_on = micro_on[connected] if macro_on.size else micro_on
    if linked_on.size and macro_off.size:
        dx = context.micro.x[linked_on][:, None] - context.macro.x[macro_off][None, :]
        dy = context.micro.y[linked_on][:, None] - context.macro.y[macro_off][None, :]
        i, j = np.indices(dx.shape).reshape(2, -1)
        site_note = _off_network_note(snap_ma, macro_off, plan.mode, context.tolerance_m, "macro")
        nan = np.full(i.size, np.nan)
        parts.append(
            _Rows(
                mi=linked_on[i],
                ma=macro_off[j],
                metres=np.hypot(dx, dy).ravel(),
                minutes=nan,
                snap_mi=nan.copy(),
                snap_ma=nan.copy(),
                routed=np.zeros(i.size, dtype=bool),
                note=site_note[j],
            )
        )
    if micro_off.size:
        off_note = _off_network_note(snap_mi, micro_off, plan.mode, context.tolerance_m, "micro")
        parts.append(_straight_rows(plan, context, micro_off, plan.macro_sel, off_note))
    stranded = micro_on[~connected] if macro_on.size else micro_on[:0]
    if stranded.size:
        no_path = f"outside_network: no {plan.mode} path to any selected site; straight-line used"
        parts.append(_straight_rows(plan, context, stranded, plan.macro_sel, no_path))
    return _Rows.concat(parts)


# ---------------------------------------------------------------------------- choosing


def _choose(rows: _Rows, plan: _Plan, context: _Context) -> _Rows:
    """Apply the reach and k; keep the single nearest link of a micro-asset with none in reach.

    The rows come out sorted by micro-asset id, cost, macro-asset id.
    """
    if rows.mi.size == 0:
        return _Rows.concat([])
    t_min = np.where(rows.routed, rows.minutes, rows.metres / plan.line_m_per_min)
    within = np.ones(rows.mi.size, dtype=bool)
    if plan.reach_minutes is not None:
        within &= t_min <= plan.reach_minutes
    if plan.reach_metres is not None:
        within &= rows.metres <= plan.reach_metres
    cost = rows.metres if plan.rank_by_metres else t_min
    micro_rank = context.micro_rank[rows.mi]
    # One integer key for (micro id, in reach first) keeps the sort to three keys.
    group_key = micro_rank * 2 + (~within).astype(np.int64)
    order = np.lexsort((context.macro_rank[rows.ma], cost, group_key))
    mi_sorted = micro_rank[order]
    start = np.ones(order.size, dtype=bool)
    start[1:] = mi_sorted[1:] != mi_sorted[:-1]
    group_first = np.maximum.accumulate(np.where(start, np.arange(order.size), 0))
    position = np.arange(order.size) - group_first
    within_sorted = within[order]
    keep = within_sorted if plan.k is None else within_sorted & (position < plan.k)
    keep |= start & ~within_sorted
    chosen = order[keep]
    out = rows.take(chosen)
    within_out = within[chosen]
    note = out.note.copy()
    if (~within_out).any():
        beyond = f"beyond_reach: nothing within {plan.reach_text()}; nearest shown"
        note[~within_out] = np.where(
            note[~within_out] == "", beyond, note[~within_out] + "; " + beyond
        )
    return _Rows(
        mi=out.mi,
        ma=out.ma,
        metres=out.metres,
        minutes=out.minutes,
        snap_mi=out.snap_mi,
        snap_ma=out.snap_ma,
        routed=out.routed,
        note=note,
        within=within_out,
        score=_score(plan, out.metres, t_min[chosen]),
        cost=cost[chosen],
    )


def _score(plan: _Plan, metres: FloatArray, t_min: FloatArray) -> FloatArray:
    """Decay score of each kept link (minutes or metres, per the decay's unit)."""
    spec = plan.rule.decay
    scale, unit = spec.scale, spec.unit
    if scale is None:
        if plan.reach_minutes is not None:
            scale, unit = plan.reach_minutes, "minutes"
        elif plan.reach_metres is not None:
            scale, unit = plan.reach_metres, "metres"
        else:
            return np.ones(metres.size)
    values = t_min if unit == "minutes" else metres
    param = {"step": "reach", "linear": "reach", "exponential": "half_life", "gaussian": "sigma"}
    return decay_scores(spec.kind, values, **{param[spec.kind]: scale})
