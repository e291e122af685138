"""Scenarios: access before and after sites open, close or move, compared per micro-asset.

:func:`compare` puts two link tables side by side (a site opens or closes) and :func:`scenario`
builds the pair. Personal micro-assets (residents) are scored in memory; what is meant for
publication (:attr:`Comparison.summary`, :meth:`Comparison.difference_layer`) carries them only
as counts that went through :func:`assetmap.privacy.suppress`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd

from assetmap._costs import _micro_ids
from assetmap._decays import Decay
from assetmap.access import count_within, nearest, score
from assetmap.links import DEFAULT_WALK_KMH, LinkTable, link
from assetmap.schema import CRS_WGS84

__all__ = ["STATUSES", "Comparison", "compare", "scenario"]

#: Status of a micro-asset in a :class:`Comparison`, in display order.
STATUSES: Final = ("gained", "lost", "better", "worse", "same")


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
