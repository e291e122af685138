"""Planners' equity tables in the language of the DfT Journey Time Statistics.

The DfT Journey Time Statistics (JTS) describe access to key services per LSOA with three
families of measures, and these tables use the same ones so they can sit side by side:

* **average minimum travel time** — the mean, over the users in an area, of the time to the
  nearest service of a kind (here: over the micro-assets in the area, to the nearest macro-asset
  of each category, from the link table);
* **origin indicators** — how many services a user reaches within a time
  (:func:`assetmap.access.count_within` per micro-asset);
* **destination indicators** — the share of users who reach a service within 15, 30, 45 and
  60 minutes (here: ``share_within_<t>min_<category>``).

Personal micro-assets (residents' skills, community researchers) enter these tables only as
counts through :func:`assetmap.privacy.suppress` (1–7 shown ``<8``, others rounded to 5, with
secondary suppression) and as averages over at least 8 people; their links are never shown one
by one. Every table keeps one row per area in the areas' order — a join that would lose or
duplicate a row raises.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap._errors import CRSError
from assetmap.access import cost_table
from assetmap.areas import assign, profile
from assetmap.links import DEFAULT_WALK_KMH, LinkTable
from assetmap.privacy import personal_mask, suppress
from assetmap.schema import CRS_BNG, MICRO

__all__ = ["DFT_BANDS_MINUTES", "area_table", "gaps", "residents_within"]

#: The DfT JTS destination-indicator thresholds (minutes).
DFT_BANDS_MINUTES: Final = (15.0, 30.0, 45.0, 60.0)
#: Name of the single macro "category" when no macro frame is given.
ANY_SITE: Final = "any_site"
_UNIT: Final = {"minutes": "min", "metres": "m"}
_CODE_COLUMNS: Final = ("lsoa21_code", "lsoa11_code", "lsoa_code")


def _label(value: float) -> str:
    return f"{value:g}"


def _check_rows(out: pd.DataFrame, areas: pd.DataFrame, what: str) -> None:
    if len(out) != len(areas) or not out.index.equals(areas.index):
        msg = f"{what}: {len(areas)} areas in but {len(out)} rows out (a join lost or duplicated rows)"
        raise AssertionError(msg)


def _unique_area_ids(areas: pd.DataFrame, area_id: str) -> pd.Series:
    if area_id not in areas:
        msg = f"areas: no column {area_id!r} (found {list(areas.columns)})"
        raise ValueError(msg)
    ids = areas[area_id].astype("str")
    if ids.duplicated().any():
        msg = (
            f"areas: id {ids[ids.duplicated()].iloc[0]!r} appears more than once in {area_id!r} "
            "(a join on it would duplicate rows; expected one row per area)"
        )
        raise ValueError(msg)
    return ids


def _micro_rows(micro: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = micro[micro["kind"] == MICRO] if "kind" in micro else micro
    return rows.set_axis(rows.index.astype("str"))


def _nearest_by_category(
    links: LinkTable | pd.DataFrame,
    macro: pd.DataFrame | None,
    *,
    cost: str,
    walk_kmh: float | None,
) -> tuple[pd.DataFrame, int]:
    """Smallest cost from each micro-asset to each macro category (micro_id × category)."""
    table = cost_table(links, cost=cost, walk_kmh=walk_kmh)
    if macro is None:
        category = pd.Series(ANY_SITE, index=table.index)
    else:
        if "category" not in macro:
            msg = f"macro: no column 'category' (found {list(macro.columns)})"
            raise ValueError(msg)
        lookup = pd.Series(
            macro["category"].astype("str").to_numpy(), index=macro.index.astype("str")
        )
        category = table["dest"].map(lookup)
        if category.isna().any():
            missing = table.loc[category.isna(), "dest"].iloc[0]
            msg = f"macro: the links name site {missing!r}, which is not in the macro frame"
            raise ValueError(msg)
    best = table.assign(category=category.to_numpy()).groupby(["origin", "category"])["cost"].min()
    return best.unstack("category"), int(table.attrs.get("estimated_minutes", 0))


def area_table(
    micro: gpd.GeoDataFrame,
    links: LinkTable | pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    area_id: str,
    macro: pd.DataFrame | None = None,
    imd: pd.DataFrame | None = None,
    population: pd.DataFrame | None = None,
    bands: Sequence[float] = DFT_BANDS_MINUTES,
    cost: str = "minutes",
    walk_kmh: float | None = DEFAULT_WALK_KMH,
    threshold: int = 8,
) -> pd.DataFrame:
    """Per-area table of micro-assets, deprivation, population and access to each site category.

    Parameters
    ----------
    micro
        Micro-assets (EPSG:4326), indexed by ``asset_id``, with ``category`` and ``personal``.
    links
        Link table of these micro-assets (:class:`~assetmap.links.LinkTable` or its frame).
    areas
        Polygons (any CRS) with unique ids in ``area_id`` (``lsoa_code`` from
        :func:`assetmap.areas.load_lsoa`, ``ward_code`` from ``load_wards``).
    area_id
        Column of ``areas`` holding the id.
    macro
        Macro-assets with ``category``: one set of access columns per category. Without it,
        all sites form one category, ``any_site``.
    imd, population
        :func:`assetmap.areas.load_imd` / ``load_population`` frames (LSOA areas only): add
        ``imd_rank``, ``imd_decile``, ``population``.
    bands
        Destination-indicator thresholds in the cost's unit (DfT: 15, 30, 45, 60 minutes).
    cost
        ``"minutes"`` (straight-line links timed at ``walk_kmh``; see
        :func:`assetmap.access.cost_table`) or ``"metres"``.
    threshold
        Smallest group of personal micro-assets whose average is published (8).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``areas`` (same rows, same order), with the columns of
        :func:`assetmap.areas.profile` (``area_id``; ``n_<category>`` plain counts of
        non-personal micro-assets; ``personal_<category>``/``personal_total`` published text;
        ``imd_rank``, ``imd_decile``, ``population``) and, for each macro category ``C``:

        * ``avg_<cost>_to_<C>`` — average minimum cost of the area's non-personal micro-assets
          linked to a ``C`` site (NaN when none);
        * ``share_within_<t><unit>_<C>`` — the share of them whose nearest ``C`` is within t;
        * ``personal_<C>_le<t1><unit>``, ``personal_<C>_<t1>to<t2><unit>``, …,
          ``personal_<C>_over<tn><unit>``, ``personal_<C>_total`` — personal micro-assets
          by band of their minimum cost to ``C``, published through
          :func:`~assetmap.privacy.suppress`;
        * ``personal_avg_<cost>_to_<C>`` — their average, only where at least ``threshold``
          of them are linked to ``C`` (else NaN).

        ``attrs``: ``disclosure_log`` (records of every suppressed or rounded cell),
        ``assets_outside_areas``, ``estimated_minutes`` (straight-line links timed at walking
        speed).

    Notes
    -----
    The users of a category are the micro-assets the link table links to one of its sites (the
    link rules decide who is a user); a micro-asset linked only beyond reach still has its
    nearest site and counts. With ``k`` nearest links per rule, the nearest site of a category
    is the nearest among the links kept.
    """
    ids = _unique_area_ids(areas, area_id)
    edges = np.asarray(sorted(float(b) for b in bands), dtype=np.float64)
    if edges.size == 0 or not (np.isfinite(edges).all() and (edges > 0).all()):
        msg = (
            f"bands must be positive finite thresholds, e.g. (15, 30, 45, 60); got {list(bands)!r}"
        )
        raise ValueError(msg)
    base = profile(micro, areas, area_id=area_id, imd=imd, population=population)
    _check_rows(base, areas, "area profile")
    log_records: list[dict[Hashable, Any]] = list(base.attrs.get("disclosure_log", []))
    rows = _micro_rows(micro)
    where = assign(rows, areas, area_id=area_id).to_numpy(dtype=object)
    personal = personal_mask(rows)
    nearest, estimated = _nearest_by_category(links, macro, cost=cost, walk_kmh=walk_kmh)
    nearest = nearest.reindex(rows.index)
    unit = _UNIT[cost]
    labels = [f"le{_label(edges[0])}{unit}"]
    labels += [f"{_label(a)}to{_label(b)}{unit}" for a, b in itertools.pairwise(edges)]
    labels.append(f"over{_label(edges[-1])}{unit}")
    area_order = ids.to_numpy()

    columns: dict[str, Any] = {}
    for category in sorted(nearest.columns.astype("str")):
        values = nearest[category].to_numpy(dtype=np.float64)
        linked = ~np.isnan(values) & pd.notna(where)
        public = linked & ~personal
        frame = pd.DataFrame({"area": where[public], "cost": values[public]})
        grouped = frame.groupby("area")["cost"]
        columns[f"avg_{cost}_to_{category}"] = grouped.mean().reindex(area_order).to_numpy()
        for edge in edges:
            within = (frame["cost"] <= edge).astype(np.float64).groupby(frame["area"]).mean()
            name = f"share_within_{_label(edge)}{unit}_{category}"
            columns[name] = within.reindex(area_order).to_numpy(dtype=np.float64)

        private = linked & personal
        band_of = np.searchsorted(edges, values[private], side="left")
        counts = (
            pd.crosstab(
                pd.Series(where[private], dtype=object),
                pd.Categorical(np.asarray(labels, dtype=object)[band_of], categories=labels),
                dropna=False,
            )
            if private.any()
            else pd.DataFrame(0, index=pd.Index([], dtype=object), columns=labels)
        )
        counts = counts.reindex(index=area_order, columns=labels, fill_value=0).astype(np.int64)
        counts.index = pd.Index([str(i) for i in area_order], dtype=object)
        counts.columns = pd.Index(labels, dtype=object)
        published, log = suppress(counts, table=f"area_personal_{category}", total_row=False)
        log_records += log.to_dict("records")
        for label in [*labels, "total"]:
            columns[f"personal_{category}_{label}"] = published[label].to_numpy()
        people = pd.DataFrame({"area": where[private], "cost": values[private]}).groupby("area")[
            "cost"
        ]
        mean = people.mean().where(people.size() >= threshold)
        columns[f"personal_avg_{cost}_to_{category}"] = mean.reindex(area_order).to_numpy(
            dtype=np.float64
        )
    out = pd.concat([base, pd.DataFrame(columns, index=base.index)], axis=1)
    _check_rows(out, areas, "area table")
    out.attrs = {
        "disclosure_log": log_records,
        "assets_outside_areas": int(base.attrs.get("assets_outside_areas", 0)),
        "estimated_minutes": estimated,
    }
    return out


def _population_by_code(population: pd.DataFrame | pd.Series) -> pd.Series:
    if isinstance(population, pd.Series):
        values = population
    else:
        code = next((c for c in _CODE_COLUMNS if c in population), None)
        if code is None or "population" not in population:
            msg = (
                "population: expected a Series indexed by LSOA code or a frame with "
                f"'population' and one of {list(_CODE_COLUMNS)} (found {list(population.columns)})"
            )
            raise ValueError(msg)
        values = pd.Series(
            population["population"].to_numpy(), index=population[code].astype("str")
        )
    if values.index.duplicated().any():
        msg = f"population: LSOA code {values.index[values.index.duplicated()][0]!r} appears twice"
        raise ValueError(msg)
    return pd.Series(
        pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64),
        index=values.index.astype("str"),
    )


def residents_within(
    population_by_lsoa: pd.DataFrame | pd.Series,
    lsoa_polygons: gpd.GeoDataFrame,
    catchments: gpd.GeoDataFrame,
    *,
    imd: pd.DataFrame | None = None,
    decile_max: int = 1,
    site: str = "mmuh",
    band: float = 20.0,
    weighting: str = "area",
    lsoa_id: str = "lsoa_code",
) -> dict[str, Any]:
    """Residents of (deprived) LSOAs inside one catchment band of one site.

    E.g. "residents of the 10 % most deprived LSOAs within a 20-minute walk of the hospital":
    ``residents_within(load_population(), load_lsoa(), catchments(sites), imd=load_imd(),
    decile_max=1, site="mmuh", band=20)``.

    Parameters
    ----------
    population_by_lsoa
        Census 2021 usual residents: :func:`assetmap.areas.load_population` (matched on
        ``lsoa21_code``) or a Series indexed by LSOA code. LSOA 2011 codes that did not survive
        to 2021 have no population; they are counted in ``lsoas_without_population``, never
        guessed.
    lsoa_polygons
        LSOA polygons (any CRS; :func:`assetmap.areas.load_lsoa`), ids in ``lsoa_id``.
    catchments
        :func:`assetmap.catchments.catchments` output (``macro_id``, ``band_minutes``,
        ``mode``, polygon geometry).
    imd
        :func:`assetmap.areas.load_imd`: keep the LSOAs with ``imd_decile <= decile_max``
        (1 = the 10 % most deprived in England). Without it every LSOA counts.
    site, band
        The macro-asset id and the band (minutes) of ``catchments``.
    weighting
        ``"area"`` (default): each LSOA's residents times the share of its area inside the
        band (residents spread evenly over the LSOA — the usual areal interpolation;
        population-weighted centroids are not in the data mirror). ``"centroid"``: all of an
        LSOA's residents when a point on its surface is inside the band, else none.
    lsoa_id
        Id column of ``lsoa_polygons``.

    Returns
    -------
    dict
        ``site``, ``band_minutes``, ``mode``, ``weighting``, ``decile_max`` (None without
        ``imd``), ``lsoas`` (selected), ``lsoas_in_band`` (any part inside),
        ``lsoas_without_population``, ``lsoas_without_imd``, ``population`` (selected LSOAs
        with a population), ``residents`` (whole persons inside the band), ``share``
        (``residents / population``) and ``by_lsoa`` (a frame: ``lsoa_code``,
        ``population``, ``share_in_band``, ``residents`` for the selected LSOAs touching the
        band). Census counts are published statistics, so no suppression applies.
    """
    if weighting not in ("area", "centroid"):
        msg = f"weighting {weighting!r} is not 'area' or 'centroid'"
        raise ValueError(msg)
    for frame, what in ((lsoa_polygons, "lsoa_polygons"), (catchments, "catchments")):
        if frame.crs is None:
            msg = f"{what} have no CRS (expected EPSG:4326 or EPSG:27700)"
            raise CRSError(msg)
    codes = _unique_area_ids(lsoa_polygons, lsoa_id)
    missing = {"macro_id", "band_minutes"} - set(catchments.columns)
    if missing:
        msg = f"catchments: missing columns {sorted(missing)} (expected the output of assetmap.catchments())"
        raise ValueError(msg)
    chosen = catchments[
        (catchments["macro_id"].astype("str") == site)
        & np.isclose(catchments["band_minutes"].to_numpy(dtype=np.float64), band)
    ]
    if chosen.empty:
        have = sorted(
            {
                f"{m}@{b:g}"
                for m, b in zip(catchments["macro_id"], catchments["band_minutes"], strict=True)
            }
        )
        msg = f"catchments have no band {band:g} min for site {site!r} (have: {have[:20]})"
        raise ValueError(msg)
    band_shape = shapely.union_all(chosen.to_crs(CRS_BNG).geometry.to_numpy())
    polygons = lsoa_polygons.to_crs(CRS_BNG).geometry.to_numpy()

    selected = np.ones(len(codes), dtype=bool)
    without_imd = 0
    if imd is not None:
        imd_codes = imd["lsoa11_code"].astype("str")
        if imd_codes.duplicated().any():
            msg = f"imd: lsoa11_code {imd_codes[imd_codes.duplicated()].iloc[0]!r} appears twice"
            raise ValueError(msg)
        decile = pd.Series(
            pd.to_numeric(imd["imd_decile"], errors="coerce").to_numpy(dtype=np.float64),
            index=imd_codes.to_numpy(),
        ).reindex(codes.to_numpy())
        without_imd = int(decile.isna().sum())
        selected = (decile <= decile_max).fillna(False).to_numpy(dtype=bool)
    people = _population_by_code(population_by_lsoa).reindex(codes.to_numpy()).to_numpy()
    has_people = ~np.isnan(people)

    if weighting == "area":
        inside = shapely.area(shapely.intersection(polygons, band_shape))
        share = np.divide(
            inside,
            shapely.area(polygons),
            out=np.zeros(len(polygons)),
            where=shapely.area(polygons) > 0,
        )
    else:
        share = shapely.contains(band_shape, shapely.point_on_surface(polygons)).astype(np.float64)
    share = np.clip(share, 0.0, 1.0)
    counted = selected & has_people
    residents = np.where(counted, people * share, 0.0)
    touching = selected & (share > 0)
    by_lsoa = pd.DataFrame(
        {
            "lsoa_code": pd.array(codes.to_numpy()[touching], dtype="str"),
            "population": people[touching],
            "share_in_band": share[touching],
            "residents": residents[touching],
        }
    )
    total = float(np.nansum(np.where(counted, people, 0.0)))
    inside_total = float(residents.sum())
    return {
        "site": site,
        "band_minutes": float(band),
        "mode": str(chosen["mode"].iloc[0]) if "mode" in chosen else None,
        "weighting": weighting,
        "decile_max": decile_max if imd is not None else None,
        "lsoas": int(selected.sum()),
        "lsoas_in_band": int(touching.sum()),
        "lsoas_without_population": int((selected & ~has_people).sum()),
        "lsoas_without_imd": without_imd,
        "population": round(total),
        "residents": round(inside_total),
        "share": inside_total / total if total > 0 else float("nan"),
        "by_lsoa": by_lsoa,
    }


def gaps(
    micro: gpd.GeoDataFrame,
    links: LinkTable | pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    area_id: str,
    categories: Sequence[str] = ("resident_skill",),
    threshold: int = 8,
    base: int = 5,
) -> pd.DataFrame:
    """Gap analysis: per area, micro-assets of some categories with no opportunity within reach.

    "LSOAs with skilled residents but no linked opportunity within reach": a micro-asset is in
    the gap when none of its links is ``within_reach`` (including micro-assets the link table
    left unreached: no rule selects them, or their rule selects no site).

    Parameters
    ----------
    micro, links, areas, area_id
        As :func:`area_table`.
    categories
        Micro categories to examine.
    threshold, base
        Passed to :func:`assetmap.privacy.suppress`.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``areas`` (same rows and order): ``area_id``, the area's name when
        ``areas`` has ``lsoa_name``/``ward_name``; per category ``<category>_no_reach``,
        ``<category>_within_reach`` and ``<category>_total`` — published text through
        :func:`~assetmap.privacy.suppress` for categories holding personal rows, plain int64
        counts otherwise; and ``gap`` (bool: some micro-asset of the categories is in the
        gap; "<8" already says as much). ``attrs``: ``disclosure_log``,
        ``assets_outside_areas``.
    """
    ids = _unique_area_ids(areas, area_id)
    frame = links.links if isinstance(links, LinkTable) else links
    reached_ids = set(
        frame.loc[frame["within_reach"].to_numpy(dtype=bool), "micro_id"].astype("str")
    )
    rows = _micro_rows(micro)
    rows = rows[rows["category"].astype("str").isin(list(categories))]
    where = assign(rows, areas, area_id=area_id)
    placed = where.notna().to_numpy()
    reached = rows.index.isin(list(reached_ids))
    personal = personal_mask(rows)
    area_order = ids.to_numpy()

    out = pd.DataFrame({area_id: area_order}, index=areas.index)
    name_column = next((c for c in ("lsoa_name", "ward_name", "area_name") if c in areas), None)
    if name_column is not None:
        out[name_column] = areas[name_column].astype("str").to_numpy()
    gap = np.zeros(len(areas), dtype=bool)
    log_records: list[dict[Hashable, Any]] = []
    category_of = rows["category"].astype("str").to_numpy()
    for category in categories:
        mask = placed & (category_of == category)
        status = np.where(reached[mask], "within_reach", "no_reach")
        counts = (
            pd.crosstab(pd.Series(where.to_numpy(dtype=object)[mask], dtype=object), status)
            if mask.any()
            else pd.DataFrame()
        )
        counts = counts.reindex(
            index=area_order, columns=["no_reach", "within_reach"], fill_value=0
        ).astype(np.int64)
        counts.index = pd.Index([str(i) for i in area_order], dtype=object)
        counts.columns = pd.Index(["no_reach", "within_reach"], dtype=object)
        gap |= counts["no_reach"].to_numpy() > 0
        if personal[category_of == category].any():
            published, log = suppress(
                counts, threshold=threshold, base=base, table=f"gaps_{category}", total_row=False
            )
            log_records += log.to_dict("records")
            for column in ("no_reach", "within_reach", "total"):
                out[f"{category}_{column}"] = published[column].to_numpy()
        else:
            out[f"{category}_no_reach"] = counts["no_reach"].to_numpy()
            out[f"{category}_within_reach"] = counts["within_reach"].to_numpy()
            out[f"{category}_total"] = counts.sum(axis=1).to_numpy()
    out["gap"] = gap
    _check_rows(out, areas, "gaps")
    out.attrs = {
        "disclosure_log": log_records,
        "assets_outside_areas": int((~placed).sum()),
    }
    return out
