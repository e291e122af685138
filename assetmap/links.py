"""Link micro-assets to macro-assets by straight line (KD-tree) or street network (Dijkstra).

Every distance is computed in EPSG:27700 (British National Grid, metres). Inputs in EPSG:4326
or EPSG:27700 are accepted and projected to EPSG:27700 inside; any other CRS, or micro and
macro frames in different CRSs, are refused with :class:`~assetmap.CRSError`.

Row accounting: every micro-asset id ends in ``links.micro_id`` or in ``unreached.micro_id``.
A micro-asset that a rule selects is never dropped:

* where the street network does not reach it (outside the coverage polygon or farther than
  ``snap_tolerance_m`` from a node, or no street path to any selected site), it gets
  straight-line links, ``mode="euclidean"``, ``minutes`` NaN and a note saying why;
* when nothing is within the rule's reach, it keeps **one** link to its nearest selected
  macro-asset with ``within_reach=False`` and a ``beyond_reach: …`` note, so the gap shows
  with the distance that would close it. It is then *not* listed in ``unreached``.

``unreached`` therefore lists micro-assets without any link: ``no_geometry`` (no location),
``no_rule`` (no rule selects it) and ``beyond_reach`` (a rule selects it but selects no placed
macro-asset at all, so there is nothing to be near).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree

from assetmap._errors import CRSError
from assetmap._io import write_csv
from assetmap.rules import Decay, Rule, as_rules, decay_spec, select, straight_line_kmh
from assetmap.rules import decay as decay_scores
from assetmap.schema import CRS_BNG

if TYPE_CHECKING:
    from assetmap.network import StreetNetwork

__all__ = ["LINK_COLUMNS", "UNREACHED_COLUMNS", "LinkTable", "link", "project_points"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Columns of :attr:`LinkTable.links` (DESIGN §2.3), in order.
LINK_COLUMNS: Final = (
    "micro_id",
    "macro_id",
    "rule",
    "mode",
    "metres",
    "minutes",
    "snap_m_micro",
    "snap_m_macro",
    "within_reach",
    "score",
    "note",
)
#: Columns of :attr:`LinkTable.unreached`, in order.
UNREACHED_COLUMNS: Final = ("micro_id", "rule", "reason_code", "note")
#: Walking speed (km/h) used when neither ``walk_kmh`` nor a network gives one.
DEFAULT_WALK_KMH: Final = 4.8
_ACCEPTED_EPSG: Final = (4326, 27700)


# ---------------------------------------------------------------------------- result type


@dataclass(frozen=True)
class LinkTable:
    """The link table (DESIGN §2.3) and the micro-assets that got no link.

    Attributes
    ----------
    links
        One row per micro × macro × rule kept, columns :data:`LINK_COLUMNS`; ``metres`` is the
        network path plus both snaps (or the straight line), ``minutes`` the path minutes plus
        both snaps walked at the walking speed (NaN for ``euclidean`` rows).
    unreached
        Micro-assets with no link, columns :data:`UNREACHED_COLUMNS`; reason codes from
        :data:`assetmap.schema.REASON_CODES`.
    micro_ids
        Every micro-asset id considered, in input order: an immutable ``pandas.Index`` of
        text (a tuple of a million Python strings would cost more than the linking).
    rules
        The rules applied (one implicit rule named ``"all"`` when none were given).
    notes
        Messages about the whole run (e.g. macro-assets ignored for lack of a location).
    """

    links: pd.DataFrame
    unreached: pd.DataFrame
    micro_ids: pd.Index
    rules: tuple[Rule, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.links)

    def subset(
        self,
        *,
        rules: Sequence[str] | None = None,
        micro_ids: Sequence[str] | None = None,
    ) -> LinkTable:
        """The links and unreached rows of some rules and/or some micro-assets.

        ``micro_ids`` of the result are those with a row left, so the row accounting holds.
        """
        links, unreached = self.links, self.unreached
        if rules is not None:
            names = list(rules)
            unknown = sorted(set(names) - {r.name for r in self.rules})
            if unknown:
                msg = f"no rule named {unknown[0]!r} (rules: {[r.name for r in self.rules]})"
                raise ValueError(msg)
            links = links[links["rule"].isin(names)]
            unreached = unreached[unreached["rule"].isin(names)]
        if micro_ids is not None:
            wanted = [str(i) for i in micro_ids]
            links = links[links["micro_id"].isin(wanted)]
            unreached = unreached[unreached["micro_id"].isin(wanted)]
        kept = set(links["micro_id"]) | set(unreached["micro_id"])
        return LinkTable(
            links=links.reset_index(drop=True),
            unreached=unreached.reset_index(drop=True),
            micro_ids=self.micro_ids[self.micro_ids.isin(list(kept))],
            rules=tuple(r for r in self.rules if rules is None or r.name in rules),
            notes=self.notes,
        )

    def summary(self) -> pd.DataFrame:
        """Reach by rule: links, micro-assets within/beyond reach, straight lines, unreached.

        Returns
        -------
        pandas.DataFrame
            Indexed by rule (``"(none)"`` for micro-assets no rule could take), columns
            ``links``, ``micro_within_reach``, ``micro_beyond_reach``, ``straight_line_links``
            and ``unreached_<reason>`` for each reason present.
        """
        names = [r.name for r in self.rules]
        links = self.links
        per_micro = links.groupby(["rule", "micro_id"], sort=False)["within_reach"].any()
        reached = per_micro.groupby(level=0).sum()
        beyond = (~per_micro).groupby(level=0).sum()
        frame = pd.DataFrame(
            {
                "links": links.groupby("rule").size(),
                "micro_within_reach": reached,
                "micro_beyond_reach": beyond,
                "straight_line_links": links["mode"].eq("euclidean").groupby(links["rule"]).sum(),
            }
        )
        unreached = self.unreached.assign(rule=self.unreached["rule"].fillna("(none)"))
        counts = unreached.groupby(["rule", "reason_code"]).size().unstack(fill_value=0)
        counts.columns = [f"unreached_{c}" for c in counts.columns]
        order = names + sorted(set(counts.index) - set(names))
        frame = frame.join(counts, how="outer").reindex(order)
        frame.index.name = "rule"
        return frame.fillna(0).astype("int64")

    def to_csv(
        self,
        path: str | os.PathLike[str],
        *,
        unreached_path: str | os.PathLike[str] | None = None,
    ) -> None:
        """Write the links (and optionally ``unreached``) as UTF-8 CSV, atomically.

        Metres are rounded to 0.1 m, minutes to 0.1 min and scores to 4 decimals at output.
        """
        rounded = self.links.round(
            {"metres": 1, "minutes": 1, "snap_m_micro": 1, "snap_m_macro": 1}
        )
        write_csv(rounded.round({"score": 4}), path)
        if unreached_path is not None:
            write_csv(self.unreached, unreached_path)

    def _repr_html_(self) -> str:
        total = len(self.micro_ids)
        linked = self.links["micro_id"].nunique()
        within = self.links.loc[self.links["within_reach"], "micro_id"].nunique()
        reasons = self.unreached["reason_code"].value_counts()
        reason_text = ", ".join(f"{html.escape(str(k))}: {v}" for k, v in reasons.items())
        notes = "".join(f"<br/><small>{html.escape(n)}</small>" for n in self.notes)
        return (
            f"<div><strong>LinkTable</strong>: {total} micro-assets, {len(self.links)} links; "
            f"{within} micro-assets within reach of a site, {linked - within} only beyond reach, "
            f"{self.unreached['micro_id'].nunique()} unreached"
            + (f" ({reason_text})" if reason_text else "")
            + notes
            + self.summary().to_html(escape=True)
            + "</div>"
        )

    def __repr__(self) -> str:
        return (
            f"LinkTable({len(self.micro_ids)} micro-assets, {len(self.links)} links, "
            f"{len(self.unreached)} unreached, rules={[r.name for r in self.rules]})"
        )


# ---------------------------------------------------------------------------- public function


def link(
    micro: gpd.GeoDataFrame,
    macro: gpd.GeoDataFrame,
    *,
    k: int | None = None,
    within_m: float | None = None,
    rules: Sequence[Rule] | str | os.PathLike[str] | None = None,
    network: StreetNetwork | Mapping[str, StreetNetwork] | None = None,
    mode: str | None = None,
    max_minutes: float | None = None,
    walk_kmh: float | None = None,
    snap_tolerance_m: float = 250.0,
    decay: Decay | Mapping[str, Any] | str | None = None,
    progress: bool = False,
) -> LinkTable:
    """Link each micro-asset to the macro-assets it can reach.

    Parameters
    ----------
    micro, macro
        Asset frames indexed by unique ``asset_id``, CRS EPSG:4326 or EPSG:27700 (the same
        for both). Point geometry; other geometries use a point on their surface; missing
        or empty geometry makes a micro-asset ``no_geometry`` (and a macro-asset ignored).
    k
        Keep the ``k`` nearest macro-assets within reach per micro-asset and rule. Without
        rules, and with neither ``k`` nor a reach, ``k=1``.
    within_m
        Reach in metres (straight line, or network path plus snaps). Without rules only.
    rules
        Link rules: a list of :class:`~assetmap.rules.Rule`, a TOML file path or TOML text
        (``assetmap.rules.default()`` ships the USE-IT! pairings). Without rules one implicit
        rule named ``"all"`` pairs every micro-asset with every macro-asset.
    network
        A :class:`~assetmap.network.StreetNetwork`, or a mapping mode → network (one per
        mode the rules use). Rules whose mode has no network use straight lines, with a note.
    mode
        Without rules: ``"euclidean"``, ``"walk"``, ``"cycle"`` or ``"drive"``; default the
        network's mode, or ``"euclidean"`` without a network.
    max_minutes
        Reach in minutes (without rules). A straight line is compared at walking speed
        (cycle 16 km/h, drive 30 km/h; see :data:`assetmap.rules.STRAIGHT_LINE_KMH`).
    walk_kmh
        Walking speed in km/h for snap distances and straight lines; default the network's
        ``walk_kmh``, else 4.8.
    snap_tolerance_m
        An asset farther than this (metres) from its nearest node uses a straight line.
    decay
        Score decay without rules: a :class:`~assetmap.rules.Decay`, a mapping such as
        ``{"kind": "exponential", "half_life_minutes": 15}``, or a kind name; default
        ``"step"`` (1 within reach, 0 beyond; 1 everywhere without a reach).
    progress
        Show a progress bar over rules.

    Returns
    -------
    LinkTable
        Rows sorted by micro_id, rule (in rule order), cost (minutes, or metres for a reach
        in metres), macro_id.

    Notes
    -----
    Network times come from one Dijkstra call per network over the reversed graph (times
    *to* every selected macro-asset, respecting one-way streets). The search is not cut at
    the reach, so a micro-asset with nothing in reach can still be told its nearest site
    and the real time to it.
    """
    networks = _basic_checks(
        micro,
        macro,
        k=k,
        within_m=within_m,
        rules=rules,
        network=network,
        mode=mode,
        max_minutes=max_minutes,
        walk_kmh=walk_kmh,
        snap_tolerance_m=snap_tolerance_m,
        decay=decay,
    )
    rule_list = (
        as_rules(rules)
        if rules is not None
        else [_implicit_rule(k, within_m, max_minutes, mode, networks, decay)]
    )
    micro_pts = project_points(micro)
    macro_pts = project_points(macro)
    context = _Context(micro_pts, macro_pts, networks, walk_kmh, float(snap_tolerance_m))
    plans = [
        _plan(
            rule,
            micro,
            macro,
            micro_pts,
            macro_pts,
            k=k,
            within_m=within_m if rules is None else None,
            context=context,
        )
        for rule in rule_list
    ]
    context.prepare_travel(plans)
    iterator: Sequence[_Plan] = plans
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(plans, desc="link rules", unit="rule")
    parts = [_choose(_candidates(plan, context), plan, context) for plan in iterator]
    return _assemble(parts, plans, micro_pts, macro_pts, rule_list)


# ---------------------------------------------------------------------------- validation


def _basic_checks(
    micro: object,
    macro: object,
    *,
    k: int | None,
    within_m: float | None,
    rules: object,
    network: object,
    mode: str | None,
    max_minutes: float | None,
    walk_kmh: float | None,
    snap_tolerance_m: float,
    decay: object,
) -> dict[str, StreetNetwork]:
    for side, frame in (("micro", micro), ("macro", macro)):
        if not isinstance(frame, gpd.GeoDataFrame):
            msg = f"{side} must be a GeoDataFrame of assets, got {type(frame).__name__}"
            raise TypeError(msg)
        if not frame.index.is_unique:
            dup = frame.index[frame.index.duplicated()][0]
            msg = f"{side} asset ids must be unique; {str(dup)!r} appears more than once"
            raise ValueError(msg)
    assert isinstance(micro, gpd.GeoDataFrame) and isinstance(macro, gpd.GeoDataFrame)
    check_crs(micro, macro)
    if k is not None and (isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1):
        msg = f"k must be a whole number ≥ 1, got {k!r}"
        raise ValueError(msg)
    for label, value in (
        ("within_m", within_m),
        ("max_minutes", max_minutes),
        ("walk_kmh", walk_kmh),
    ):
        if value is not None and not (np.isfinite(value) and value > 0):
            msg = f"{label} must be a positive finite number, got {value!r}"
            raise ValueError(msg)
    if not (np.isfinite(snap_tolerance_m) and snap_tolerance_m >= 0):
        msg = f"snap_tolerance_m must be a finite number of metres ≥ 0, got {snap_tolerance_m!r}"
        raise ValueError(msg)
    if rules is not None:
        given = [
            name
            for name, value in (
                ("within_m", within_m),
                ("max_minutes", max_minutes),
                ("mode", mode),
                ("decay", decay),
            )
            if value is not None
        ]
        if given:
            msg = f"{', '.join(given)} apply only without rules; give each rule its own mode, reach and decay"
            raise ValueError(msg)
    networks = _networks_by_mode(network)
    if rules is None and mode is not None:
        if mode not in ("euclidean", "walk", "cycle", "drive"):
            msg = f"mode {mode!r} is not one of euclidean|walk|cycle|drive"
            raise ValueError(msg)
        if networks and mode not in networks:
            msg = (
                f"mode={mode!r} but the network given is for {sorted(networks)}; "
                "pass a network of that mode, or leave mode out to use the network's"
            )
            raise ValueError(msg)
    return networks


def check_crs(
    micro: gpd.GeoDataFrame, macro: gpd.GeoDataFrame, *, names: tuple[str, str] = ("micro", "macro")
) -> None:
    """Refuse missing, mismatched or unsupported CRSs (EPSG:4326 and EPSG:27700 are accepted).

    Raises
    ------
    CRSError
        Naming both CRSs on a mismatch, and what to do.
    """
    first, second = names
    for side, frame in ((first, micro), (second, macro)):
        if frame.crs is None:
            msg = (
                f"{side} has no CRS: set it, e.g. frame.set_crs('EPSG:4326') for longitude/latitude"
            )
            raise CRSError(msg)
    a, b = CRS.from_user_input(micro.crs), CRS.from_user_input(macro.crs)
    if a != b:
        msg = (
            f"{first} is {_crs_name(a)} but {second} is {_crs_name(b)}: reproject one of them "
            f"(both must share a CRS; distances are computed in {CRS_BNG})"
        )
        raise CRSError(msg)
    if a.to_epsg() not in _ACCEPTED_EPSG:
        kind = "a geographic" if a.is_geographic else "a projected"
        msg = (
            f"{first} and {second} are in {_crs_name(a)}, {kind} CRS assetmap does not measure in: "
            f"pass EPSG:4326 (longitude/latitude) or {CRS_BNG} (metres); distances are computed in {CRS_BNG}"
        )
        raise CRSError(msg)


def _crs_name(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code}" if code is not None else repr(crs.name)


def _networks_by_mode(network: object) -> dict[str, StreetNetwork]:
    if network is None:
        return {}
    from assetmap.network import StreetNetwork

    if isinstance(network, StreetNetwork):
        return {network.mode: network}
    if isinstance(network, Mapping):
        out: dict[str, StreetNetwork] = {}
        for key, value in network.items():
            if not isinstance(value, StreetNetwork) or value.mode != key:
                msg = f"network[{key!r}] must be a StreetNetwork with mode {key!r}, got {value!r}"
                raise ValueError(msg)
            out[key] = value
        return out
    msg = f"network must be a StreetNetwork or a mapping mode → StreetNetwork, got {type(network).__name__}"
    raise TypeError(msg)


def _implicit_rule(
    k: int | None,
    within_m: float | None,
    max_minutes: float | None,
    mode: str | None,
    networks: Mapping[str, StreetNetwork],
    decay: Decay | Mapping[str, Any] | str | None,
) -> Rule:
    """The rule ``"all"``; with both reaches it names the minutes (the plan applies both)."""
    chosen = mode or (next(iter(networks)) if len(networks) == 1 else "euclidean")
    if k is None and within_m is None and max_minutes is None:
        k = 1
    return Rule(
        name="all",
        mode=chosen,
        max_minutes=max_minutes,
        max_metres=within_m if max_minutes is None else None,
        k=None if k is None else int(k),
        decay=decay_spec(decay),
        description="every micro-asset with every macro-asset (no rules given)",
    )


# ---------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class AssetPoints:
    """Asset locations in EPSG:27700 as arrays (one entry per row of the frame)."""

    ids: pd.Index
    x: FloatArray
    y: FloatArray
    placed: BoolArray

    @cached_property
    def id_rank(self) -> IntArray:
        """Rank of each id (text) in sorted order, for deterministic order and tie-breaks."""
        order = self.ids.argsort()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return rank


def project_points(frame: gpd.GeoDataFrame) -> AssetPoints:
    """Point coordinates of an asset frame in EPSG:27700 metres.

    Non-point geometries use ``shapely.point_on_surface``; missing or empty geometries, and
    points that cannot be projected, are ``placed=False`` with NaN coordinates.
    """
    ids = frame.index.astype("str")
    geoms = np.asarray(frame.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    is_point = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
    points: npt.NDArray[np.object_] = np.where(is_point | missing, geoms, np.array(None))
    other = ~is_point & ~missing
    if other.any():
        points[other] = shapely.point_on_surface(geoms[other])
    with np.errstate(invalid="ignore"):
        x = np.asarray(shapely.get_x(points), dtype=np.float64)
        y = np.asarray(shapely.get_y(points), dtype=np.float64)
    crs = CRS.from_user_input(frame.crs) if frame.crs is not None else None
    if crs is not None and crs.to_epsg() == 4326:
        transformer = Transformer.from_crs(4326, 27700, always_xy=True)
        x, y = transformer.transform(x, y)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    placed = ~missing & np.isfinite(x) & np.isfinite(y)
    x = np.where(placed, x, np.nan)
    y = np.where(placed, y, np.nan)
    return AssetPoints(ids=ids, x=x, y=y, placed=placed)


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


# ---------------------------------------------------------------------------- assembly


def _assemble(
    parts: Sequence[_Rows],
    plans: Sequence[_Plan],
    micro: AssetPoints,
    macro: AssetPoints,
    rules: Sequence[Rule],
) -> LinkTable:
    micro_rank = micro.id_rank
    rows = _Rows.concat(parts)
    assert rows.within is not None and rows.score is not None and rows.cost is not None
    plan_index = np.repeat(np.arange(len(parts), dtype=np.int64), [p.mi.size for p in parts])
    # Each part is already sorted by micro id, cost, macro id: merge the rules stably.
    if len(parts) > 1:
        order = np.lexsort((plan_index, micro_rank[rows.mi]))
    else:
        order = np.arange(rows.mi.size)
    mode_codes = np.where(rows.routed, plan_index + 1, 0)[order]
    note_codes, note_texts = pd.factorize(rows.note[order])
    links = pd.DataFrame(
        {
            "micro_id": micro.ids.take(rows.mi[order]).array,
            "macro_id": macro.ids.take(rows.ma[order]).array,
            "rule": _text([p.rule.name for p in plans], plan_index[order]),
            "mode": _text(["euclidean"] + [p.mode for p in plans], mode_codes),
            "metres": rows.metres[order],
            "minutes": rows.minutes[order],
            "snap_m_micro": rows.snap_mi[order],
            "snap_m_macro": rows.snap_ma[order],
            "within_reach": rows.within[order],
            "score": rows.score[order],
            "note": _text(list(note_texts), note_codes),
        },
        columns=list(LINK_COLUMNS),
    )
    unreached = _unreached(plans, micro, micro_rank)
    notes: list[str] = []
    unplaced = macro.ids[~macro.placed]
    if unplaced.size:
        shown = ", ".join(map(str, unplaced[:10])) + (" …" if unplaced.size > 10 else "")
        notes.append(f"{unplaced.size} macro-asset(s) without a location were ignored: {shown}")
    return LinkTable(
        links=links,
        unreached=unreached,
        micro_ids=micro.ids,
        rules=tuple(rules),
        notes=tuple(notes),
    )


def _unreached(plans: Sequence[_Plan], micro: AssetPoints, micro_rank: IntArray) -> pd.DataFrame:
    """Micro-assets without any link: no_geometry, no_rule, and rules that select no site."""
    selected = np.zeros(micro.ids.size, dtype=bool)
    for plan in plans:
        selected[plan.micro_sel] = True
    groups: list[tuple[IntArray, str | None, str, str]] = [
        (
            np.flatnonzero(~micro.placed),
            None,
            "no_geometry",
            "no location: geometry missing, empty or not projectable to EPSG:27700",
        ),
        (
            np.flatnonzero(micro.placed & ~selected),
            None,
            "no_rule",
            "no link rule selects this micro-asset",
        ),
    ]
    groups += [
        (
            plan.micro_sel,
            plan.rule.name,
            "beyond_reach",
            f"rule selects no placed macro-asset ({plan.rule.macro.describe()})",
        )
        for plan in plans
        if plan.micro_sel.size and plan.macro_sel.size == 0
    ]
    counts = [g[0].size for g in groups]
    all_pos = np.concatenate([g[0] for g in groups])
    group = np.repeat(np.arange(len(groups)), counts)
    order = np.lexsort((group, micro_rank[all_pos]))
    rule = np.array([g[1] for g in groups], dtype=object)[group[order]]
    reason = np.array([g[2] for g in groups], dtype=object)[group[order]]
    note = np.array([g[3] for g in groups], dtype=object)[group[order]]
    return pd.DataFrame(
        {
            "micro_id": micro.ids.take(all_pos[order]).array,
            "rule": pd.array(rule, dtype="str"),
            "reason_code": pd.array(reason, dtype="str"),
            "note": pd.array(note, dtype="str"),
        },
        columns=list(UNREACHED_COLUMNS),
    )


def _text(values: Sequence[str], codes: IntArray) -> pd.api.extensions.ExtensionArray:
    """``values[codes]`` as a pandas text array, without converting one Python string per row."""
    return pd.array(list(values) or [""], dtype="str").take(np.asarray(codes, dtype=np.int64))
