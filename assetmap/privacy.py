"""Privacy of personal rows: area aggregation, small-count suppression, disclosure log, scans.

Rows with ``personal == True`` (residents' skills, community researchers) are published only
as counts per area (RELIABILITY §3): LSOA polygons when boundaries are given, else H3
hexagons, else postcode sectors. Counts 1–7 are shown as ``<8``, others rounded to the
nearest 5, with secondary suppression so that no suppressed cell can be recovered from a
published total. :func:`scan_for_personal` is the last gate before anything is published.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap._errors import CRSError
from assetmap._personal import _normalise_postcodes, personal_mask
from assetmap._scan import scan_for_personal
from assetmap._suppression import (
    DISCLOSURE_COLUMNS,
    empty_disclosure_log,
    suppress,
    write_disclosure_log,
)
from assetmap._suppression import SECONDARY_MARK as SECONDARY_MARK
from assetmap._suppression import TOTAL as TOTAL
from assetmap.areas import assign
from assetmap.schema import CRS_WGS84

__all__ = [
    "DISCLOSURE_COLUMNS",
    "PrivacyResult",
    "aggregate_personal",
    "empty_disclosure_log",
    "personal_mask",
    "scan_for_personal",
    "suppress",
    "write_disclosure_log",
]

_AREA_COLUMNS: Final = ("area_id", "area_name", "method", "geometry")
_UNSPECIFIED: Final = "unspecified"


# --------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class PrivacyResult:
    """Personal rows aggregated into areas and published with suppression.

    Attributes
    ----------
    cells
        GeoDataFrame (EPSG:4326): ``area_id, area_name, method, geometry``, one published
        text column per category value, ``total``. Only areas holding personal rows.
        No names, postcodes or contacts of personal rows. Geometry is None for sectors.
    disclosure_log
        Every suppressed or rounded cell and the rule applied (:data:`DISCLOSURE_COLUMNS`).
    method
        ``"lsoa"`` (the given polygons), ``"h3"`` or ``"sector"``.
    n_rows
        Personal rows in (kept in memory for row accounting; a true count, not for
        publication).
    n_unplaced
        Of those, rows in no cell (no geometry, outside every area, unusable postcode).
    totals
        Published text per category and ``total`` over all cells (the suppressed
        ``total`` row); the safe headline figures.
    """

    cells: gpd.GeoDataFrame
    disclosure_log: pd.DataFrame
    method: str
    n_rows: int
    n_unplaced: int = 0
    totals: pd.Series = field(default_factory=lambda: pd.Series(dtype="str"))

    def _repr_html_(self) -> str:
        return (
            f"<div><strong>PrivacyResult</strong> ({html.escape(self.method)}): "
            f"{len(self.cells)} cells, {len(self.disclosure_log)} cells logged, "
            f"{self.n_unplaced} personal rows unplaced</div>"
        )


def _points_wgs84(rows: gpd.GeoDataFrame) -> np.ndarray:
    """A point per row in EPSG:4326 (representative point of non-points), None when missing."""
    try:
        geometry = rows.geometry
    except AttributeError:  # a plain DataFrame, or a GeoDataFrame without active geometry
        return np.full(len(rows), None, dtype=object)
    if len(rows) == 0:
        return np.full(0, None, dtype=object)
    if rows.crs is None:
        msg = "personal rows have geometry but no CRS (expected EPSG:4326)"
        raise CRSError(msg)
    geoms = geometry.to_crs(CRS_WGS84).to_numpy()
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.full(len(rows), None, dtype=object)
    points[usable] = shapely.point_on_surface(geoms[usable])
    return points


def _labels(rows: pd.DataFrame, by: str) -> pd.Series:
    """The category value of each row, exploded for list columns (index = row position)."""
    if by not in rows:
        msg = f"personal rows have no column {by!r} to aggregate by (found {list(rows.columns)})"
        raise ValueError(msg)
    labels = pd.Series(rows[by].to_numpy(), index=pd.RangeIndex(len(rows)), dtype=object)
    if labels.map(lambda v: isinstance(v, list | tuple)).any():
        labels = labels.map(lambda v: list(v) if isinstance(v, list | tuple) and v else v).explode()
    text = labels.astype("str")
    text = text.where(labels.notna() & (text.str.strip() != ""), _UNSPECIFIED)
    clash = sorted(set(text) & {*_AREA_COLUMNS, TOTAL})
    if clash:
        msg = f"value {clash[0]!r} of column {by!r} clashes with a reserved cell column name"
        raise ValueError(msg)
    return text


def _objects(values: pd.Series) -> np.ndarray:
    """An object array of the values with None for missing ones."""
    out = values.to_numpy(dtype=object)
    out[values.isna().to_numpy()] = None
    return out


def _h3_cells(points: np.ndarray, resolution: int) -> np.ndarray:
    import h3

    keys = np.full(points.size, None, dtype=object)
    present = np.flatnonzero(points != None)  # noqa: E711 (elementwise on an object array)
    if present.size:
        lon = shapely.get_x(points[present])
        lat = shapely.get_y(points[present])
        # h3 4.x has no array API (h3.api.numpy_int is scalar too), so one call per point.
        keys[present] = [h3.latlng_to_cell(y, x, resolution) for y, x in zip(lat, lon, strict=True)]
    return keys


def _h3_polygons(cells: Iterable[str]) -> list[shapely.Polygon]:
    import h3

    # cell_to_boundary gives (lat, lng) pairs; shapely wants (x=lng, y=lat).
    return [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]


@dataclass(frozen=True)
class _Counted:
    """True counts of personal rows per area (in memory only; never published)."""

    counts: pd.DataFrame
    method: str
    n_rows: int
    n_unplaced: int
    names: dict[str, str]
    shapes: dict[str, shapely.Geometry | None]


def _count_personal(
    assets: gpd.GeoDataFrame,
    *,
    areas: gpd.GeoDataFrame | None,
    area_id: str | None,
    area_name: str | None,
    by: str,
    h3_resolution: int,
) -> _Counted:
    if not 0 <= h3_resolution <= 15:
        msg = f"h3_resolution {h3_resolution} is outside 0..15"
        raise ValueError(msg)
    rows = assets.loc[personal_mask(assets)]
    labels = _labels(rows, by)
    points = _points_wgs84(rows)
    postcodes = (
        _normalise_postcodes(rows["postcode"])
        if "postcode" in rows
        else pd.Series(pd.NA, index=rows.index, dtype="str")
    )
    has_point = points != None  # noqa: E711
    if not has_point.any() and postcodes.notna().any():
        method = "sector"
    else:
        method = "lsoa" if areas is not None else "h3"

    names: dict[str, str] = {}
    shapes: dict[str, shapely.Geometry | None] = {}
    if method == "lsoa":
        assert areas is not None
        id_column = area_id or "lsoa_code"
        name_column = area_name or ("lsoa_name" if "lsoa_name" in areas else id_column)
        for column in (id_column, name_column):
            if column not in areas:
                msg = f"areas: no column {column!r} (found {list(areas.columns)})"
                raise ValueError(msg)
        located = gpd.GeoDataFrame(geometry=gpd.GeoSeries(points, crs=CRS_WGS84))
        keys = _objects(assign(located, areas, area_id=id_column))
        lookup = areas.to_crs(CRS_WGS84).drop_duplicates(id_column)
        lookup_ids = lookup[id_column].astype("str").to_numpy()
        names = dict(zip(lookup_ids, lookup[name_column].astype("str").to_numpy(), strict=True))
        shapes = dict(zip(lookup_ids, lookup.geometry.to_numpy(), strict=True))
    elif method == "h3":
        keys = _h3_cells(points, h3_resolution)
    else:
        keys = _objects(postcodes.str[:-2])

    key_of_label = pd.Series(keys, index=pd.RangeIndex(len(rows)), dtype=object)
    frame = pd.DataFrame(
        {"key": key_of_label.reindex(labels.index).to_numpy(), "label": labels.to_numpy()}
    )
    frame = frame[frame["key"].notna()]
    counts = frame.groupby(["key", "label"]).size().unstack(fill_value=0)
    counts = counts.sort_index().sort_index(axis=1).astype("int64")
    counts.index = pd.Index([str(k) for k in counts.index], dtype=object)
    counts.columns = pd.Index([str(c) for c in counts.columns], dtype=object)
    placed = keys != None  # noqa: E711
    return _Counted(
        counts=counts,
        method=method,
        n_rows=len(rows),
        n_unplaced=int((~placed).sum()),
        names=names,
        shapes=shapes,
    )


def aggregate_personal(
    assets: gpd.GeoDataFrame,
    *,
    areas: gpd.GeoDataFrame | None = None,
    area_id: str | None = None,
    area_name: str | None = None,
    by: str = "category",
    h3_resolution: int = 8,
    threshold: int = 8,
    base: int = 5,
) -> PrivacyResult:
    """Count personal rows per area and category, then suppress and round the counts.

    Only rows with ``personal == True`` are used. The method is chosen by what is possible:

    - ``"lsoa"``: ``areas`` polygons given (point in polygon via
      :func:`assetmap.areas.assign`, EPSG:27700; lowest id on shared edges);
    - ``"h3"``: no ``areas``: H3 hexagons at ``h3_resolution`` (8 ≈ 0.74 km²); h3 4.x has
      no array API, so cells are computed one point at a time (a list comprehension);
    - ``"sector"``: no personal row has a geometry but postcodes are present: postcode
      sectors (``"B66 2"``). Sector cells have no geometry (None) and cannot be drawn;
      they are for tables.

    Parameters
    ----------
    assets
        Asset frame (EPSG:4326). Not modified.
    areas
        Polygons; ``area_id`` names the id column (default ``lsoa_code``) and
        ``area_name`` the name column (default ``lsoa_name`` when present).
    by
        Column whose values become the category columns (a list column, such as
        ``tags``, counts each value; ``total`` is then the sum of the cells).
    h3_resolution
        H3 resolution (0–15) when no ``areas`` are given.
    threshold, base
        Passed to :func:`suppress`.

    Returns
    -------
    PrivacyResult
        Cells with only area fields and published text; areas with no personal row are
        not listed. The suppression runs over the cells plus a totals row (published
        as :attr:`PrivacyResult.totals`).
    """
    counted = _count_personal(
        assets,
        areas=areas,
        area_id=area_id,
        area_name=area_name,
        by=by,
        h3_resolution=h3_resolution,
    )
    method = counted.method
    table = f"personal_by_{by}_{method}"
    published, log = suppress(counted.counts, threshold=threshold, base=base, table=table)
    body = published.iloc[:-1]
    cell_ids = [str(k) for k in body.index]
    shapes = counted.shapes
    if method == "h3":
        shapes = dict(zip(cell_ids, _h3_polygons(cell_ids), strict=True))
    cells = gpd.GeoDataFrame(
        {
            "area_id": pd.array(cell_ids, dtype="str"),
            "area_name": pd.array([counted.names.get(c, c) for c in cell_ids], dtype="str"),
            "method": pd.array([method] * len(cell_ids), dtype="str"),
        },
        geometry=gpd.GeoSeries([shapes.get(c) for c in cell_ids], crs=CRS_WGS84),
    )
    for column in body.columns:
        cells[str(column)] = body[column].array
    return PrivacyResult(
        cells=cells,
        disclosure_log=log,
        method=method,
        n_rows=counted.n_rows,
        n_unplaced=counted.n_unplaced,
        totals=published.iloc[-1].rename(None),
    )
