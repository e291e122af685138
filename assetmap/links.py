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

The inputs are checked and projected in :mod:`assetmap._link_inputs`; the candidate search
(KD-tree or street network) and the choice by reach and ``k`` are in :mod:`assetmap._candidates`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from assetmap._candidates import DEFAULT_WALK_KMH as DEFAULT_WALK_KMH
from assetmap._candidates import _candidates, _choose, _Context, _Plan, _plan, _Rows
from assetmap._io import write_csv
from assetmap._link_inputs import AssetPoints as AssetPoints
from assetmap._link_inputs import _basic_checks, project_points
from assetmap._link_inputs import check_crs as check_crs
from assetmap.rules import Decay, Rule, as_rules, decay_spec

if TYPE_CHECKING:
    from assetmap.network import StreetNetwork

__all__ = ["LINK_COLUMNS", "UNREACHED_COLUMNS", "LinkTable", "link", "project_points"]

IntArray = npt.NDArray[np.int64]

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
