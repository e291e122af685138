"""Privacy of personal rows: area aggregation, small-count suppression, disclosure log, scans.

Rows with ``personal == True`` (residents' skills, community researchers) are published only
as counts per area (RELIABILITY §3): LSOA polygons when boundaries are given, else H3
hexagons, else postcode sectors. Counts 1–7 are shown as ``<8``, others rounded to the
nearest 5, with secondary suppression so that no suppressed cell can be recovered from a
published total. :func:`scan_for_personal` is the last gate before anything is published.
"""

from __future__ import annotations

import functools
import html
import itertools
import os
import re
import struct
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap._errors import CRSError
from assetmap._io import write_csv
from assetmap.areas import assign
from assetmap.postcodes import normalise_postcode, postcode_parts
from assetmap.schema import CRS_WGS84, categories

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

#: Columns of every disclosure log; the true count is never among them.
DISCLOSURE_COLUMNS: Final = ("table", "row", "column", "rule", "published")
#: Label of the totals row and column of a published table.
TOTAL: Final = "total"
#: Published text of a cell hidden to protect another (secondary suppression).
SECONDARY_MARK: Final = "*"

_AREA_COLUMNS: Final = ("area_id", "area_name", "method", "geometry")
_UNSPECIFIED: Final = "unspecified"


# --------------------------------------------------------------------------- suppression


def empty_disclosure_log() -> pd.DataFrame:
    """A disclosure log with no rows and the :data:`DISCLOSURE_COLUMNS`."""
    return pd.DataFrame({c: pd.Series(dtype="str") for c in DISCLOSURE_COLUMNS})


def write_disclosure_log(log: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a disclosure log as UTF-8 CSV atomically (temporary file + rename).

    Extra columns (e.g. ``map`` added by the bundle) are kept after the standard ones.
    """
    missing = [c for c in DISCLOSURE_COLUMNS if c not in log]
    if missing:
        msg = f"disclosure log for {path}: missing columns {missing} (expected {list(DISCLOSURE_COLUMNS)})"
        raise ValueError(msg)
    extra = [c for c in log.columns if c not in DISCLOSURE_COLUMNS]
    write_csv(log[[*extra, *DISCLOSURE_COLUMNS]], path)


def _check_counts(counts: pd.DataFrame, table: str) -> np.ndarray:
    where = f"table {table!r}" if table else "counts"
    for axis, labels in (("row", counts.index), ("column", counts.columns)):
        if TOTAL in [str(label) for label in labels]:
            msg = f"{where}: a {axis} is labelled {TOTAL!r}, which is reserved for totals"
            raise ValueError(msg)
    if counts.shape[1] == 0:
        return np.zeros(counts.shape, dtype=np.int64)
    bad_dtype = [c for c in counts.columns if not pd.api.types.is_numeric_dtype(counts[c])]
    bad_dtype += [c for c in counts.columns if pd.api.types.is_bool_dtype(counts[c])]
    if bad_dtype:
        msg = f"{where}: column {bad_dtype[0]!r} has dtype {counts[bad_dtype[0]].dtype} (expected integer counts)"
        raise ValueError(msg)
    values = counts.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.floor(values))
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        msg = (
            f"{where}: row {counts.index[i]!r}, column {counts.columns[j]!r}: value "
            f"{values[i, j]!r} is not a non-negative whole count"
        )
        raise ValueError(msg)
    return values.astype(np.int64)


def _complementary(
    extended: np.ndarray, primary: np.ndarray, *, columns_have_totals: bool
) -> np.ndarray:
    """Secondary suppression on a table whose last column (and row) holds the totals.

    Every row, and every column when the table has a totals row, is a published sum
    ``parts == total``. A line with exactly one hidden member would give that member away,
    so one more member of such a line is hidden per step, chosen greedily over the whole
    table: first the cell that leaves the fewest lines with a single hidden member (a cell
    that also completes its crossing line beats one that opens a new problem there), then
    the smallest count, then the first in row-major order. Parts are preferred; a line's
    total is hidden only when no non-zero part is left visible. Each step is vectorised
    over the table; steps repeat until no line has exactly one hidden member (at most one
    step per cell, so it terminates).
    """
    hidden = primary.copy()
    secondary = np.zeros_like(primary)
    nonzero = extended > 0
    part_of_row = np.ones(extended.shape, dtype=bool)
    part_of_row[:, -1] = False
    part_of_column = np.ones(extended.shape, dtype=bool)
    part_of_column[-1, :] = False
    position = np.arange(extended.size).reshape(extended.shape)
    while True:
        row_count = hidden.sum(axis=1)
        bad_row = row_count == 1
        if columns_have_totals:
            column_count = hidden.sum(axis=0)
            bad_column = column_count == 1
        else:
            column_count = np.full(extended.shape[1], 2)  # columns are not published sums
            bad_column = np.zeros(extended.shape[1], dtype=bool)
        if not bad_row.any() and not bad_column.any():
            return secondary
        free = nonzero & ~hidden
        candidates = free & (
            (bad_row[:, None] & part_of_row) | (bad_column[None, :] & part_of_column)
        )
        if not candidates.any():
            candidates = free & (bad_row[:, None] | bad_column[None, :])
        # Lines left with one hidden member after hiding the cell: +1 for each of its
        # lines that had none, -1 for each that had one.
        net = (
            (row_count == 0).astype(int)[:, None]
            - bad_row.astype(int)[:, None]
            + (column_count == 0).astype(int)[None, :]
            - bad_column.astype(int)[None, :]
        )
        at = np.flatnonzero(candidates)
        best = at[np.lexsort((position.flat[at], extended.flat[at], net.flat[at]))[0]]
        hidden.flat[best] = True
        secondary.flat[best] = True


def suppress(
    counts: pd.DataFrame,
    *,
    threshold: int = 8,
    base: int = 5,
    table: str = "",
    total_row: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Publish a table of counts with small-count suppression and rounding.

    The convention used for NHS and ONS small-area statistics: ``0`` stays ``"0"``;
    counts ``1 … threshold-1`` become ``"<8"``; other counts are rounded to the nearest
    ``base`` (halves up; never below ``base``); where a published row or column total
    would give a suppressed cell away (a line with exactly one hidden member), the
    next-smallest non-zero cell of that line is hidden too as ``"*"`` (preferring a cell
    that also protects its crossing line), repeated until stable. Totals follow the same
    rules.

    Parameters
    ----------
    counts
        Whole, non-negative counts; rows are areas, columns categories. Not modified.
    threshold
        Smallest count published (8: counts 1–7 are suppressed).
    base
        Rounding base for published counts (5).
    table
        Name written in the disclosure log's ``table`` column.
    total_row
        Also publish column totals as a last row labelled ``"total"`` (the column
        lines then take part in secondary suppression).

    Returns
    -------
    published
        Text table: the rows of ``counts`` (same order) plus, with ``total_row``, a row
        ``"total"``; the columns of ``counts`` plus a ``"total"`` column.
    disclosure_log
        One row per non-zero published cell (totals included): ``table, row, column,
        rule, published`` with rule ``primary_lt8`` (1–7, shown ``<8``), ``secondary``
        (shown ``*``) or ``rounded_5``; never the true count.

    Notes
    -----
    The guarantee is the conventional one: no line has exactly one hidden member. A full
    audit of every combination of lines (as tau-ARGUS does with linear programming) is not
    made; rounding every published figure to 5 blurs such combinations further.
    """
    if threshold < 1 or base < 1:
        msg = f"threshold ({threshold}) and base ({base}) must be at least 1"
        raise ValueError(msg)
    values = _check_counts(counts, table)
    n_rows, n_cols = values.shape
    extended = np.zeros((n_rows + 1, n_cols + 1), dtype=np.int64)
    extended[:n_rows, :n_cols] = values
    extended[:n_rows, n_cols] = values.sum(axis=1)
    extended[n_rows, :n_cols] = values.sum(axis=0)
    extended[n_rows, n_cols] = values.sum()
    if not total_row:
        extended = extended[:n_rows]

    primary = (extended > 0) & (extended < threshold)
    secondary = _complementary(extended, primary, columns_have_totals=total_row)
    rounded = np.maximum((extended + base // 2) // base * base, base)
    text = np.where(extended == 0, "0", rounded.astype(str)).astype(object)
    text[primary] = f"<{threshold}"
    text[secondary] = SECONDARY_MARK

    row_labels = [*counts.index, *([TOTAL] if total_row else [])]
    col_labels = [*counts.columns, TOTAL]
    published = pd.DataFrame(
        text,
        index=pd.Index(row_labels, name=counts.index.name, dtype=object),
        columns=pd.Index(col_labels, name=counts.columns.name, dtype=object),
    ).astype("str")

    rule = np.where(
        secondary, "secondary", np.where(primary, f"primary_lt{threshold}", f"rounded_{base}")
    )
    i, j = np.nonzero(extended > 0)
    log = pd.DataFrame(
        {
            "table": pd.Series([table] * i.size, dtype="str"),
            "row": pd.array([str(row_labels[k]) for k in i], dtype="str"),
            "column": pd.array([str(col_labels[k]) for k in j], dtype="str"),
            "rule": pd.array(rule[i, j], dtype="str"),
            "published": pd.array(text[i, j], dtype="str"),
        }
    )
    return published, log


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


def personal_mask(assets: pd.DataFrame) -> np.ndarray:
    """Boolean array: which rows are personal (``personal`` true; missing counts as true).

    A frame without a ``personal`` column falls back to the category vocabulary
    (``resident_skill``, ``community_researcher``).
    """
    if "personal" not in assets:
        personal_categories = [name for name, is_personal in categories().items() if is_personal]
        if "category" not in assets:
            return np.zeros(len(assets), dtype=bool)
        return assets["category"].isin(personal_categories).to_numpy()
    column = assets["personal"]
    try:
        flags = column.astype("boolean")
    except (TypeError, ValueError) as exc:
        msg = f"column 'personal' holds {column.dtype} values that are not true/false"
        raise ValueError(msg) from exc
    # A row whose flag is unknown is treated as personal: the safe side.
    return flags.fillna(True).to_numpy(dtype=bool)


def _normalise_postcodes(values: pd.Series) -> pd.Series:
    """Normalised unit postcodes (``"B66 2QT"``), <NA> where not a valid unit postcode."""
    unit = postcode_parts(normalise_postcode(values))["unit"]
    return unit.where(unit != "", pd.NA)


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


# --------------------------------------------------------------------------- scanning

_TEXT_SUFFIXES: Final = {
    ".html", ".htm", ".json", ".geojson", ".csv", ".tsv", ".txt", ".md", ".js", ".css",
    ".svg", ".xml", ".toml", ".yaml", ".yml", ".log",
}  # fmt: skip
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_JSON_ESCAPE: Final = re.compile(r"\\u([0-9a-fA-F]{4})")
#: Anything shaped like a unit postcode, spaced or not (or with '+' as in a URL query).
_POSTCODE_TOKEN: Final = re.compile(
    r"(?<![0-9A-Za-z])([A-Za-z]{1,2}[0-9][0-9A-Za-z]?)(?:\s|\+)*([0-9][A-Za-z]{2})(?![0-9A-Za-z])"
)
_EMAIL_LOCAL: Final = re.compile(r"[\w.+-]+\Z")
_EMAIL_DOMAIN: Final = re.compile(r"[\w-]+(?:\.[\w-]+)+")
_DIGITS: Final = re.compile(r"\d+")
#: Characters that separate words: ASCII punctuation and common typographic marks
#: (str.translate + split is several times faster than a regex over multi-MB maps).
_WORD_BREAKS: Final = {
    **{i: " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")},
    **{
        ord(c): " "
        for c in "\u00a0\u00ab\u00b7\u00bb\u200b\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026"
    },
}
_KINDS: Final = ("unit postcode", "email", "phone", "name")


def _phone_national(digits: str) -> str:
    """UK numbers in national form: ``44 121…``/``0044 121…``/``44 0121…`` → ``0121…``."""
    for prefix in ("0044", "44"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 9:
            rest = digits[len(prefix) :]
            return rest if rest.startswith("0") else "0" + rest
    return digits


def _words(text: str) -> list[str]:
    return text.casefold().translate(_WORD_BREAKS).split()


def _name_key(text: str) -> str:
    return " ".join(_words(text))


@functools.lru_cache(maxsize=16)
def _phone_token(shortest: int) -> re.Pattern[str]:
    """Runs of digits with phone separators between them, at least ``shortest`` long."""
    return re.compile(r"(?<!\d)\d[\d \t\u00a0().\-/]{" + str(max(shortest - 2, 0)) + r",}\d")


def _keys(frame: pd.DataFrame, kind: str) -> list[tuple[str, str]]:
    """(key, asset id) pairs of one kind of identifying value in ``frame``.

    Keys: unspaced upper-case postcode; case-folded email; national phone digits (7+);
    case-folded words of the name joined by one space (3+ characters).
    """
    column = "postcode" if kind == "unit postcode" else kind
    if column not in frame or frame.empty:
        return []
    ids = [str(i) for i in frame.index]
    if kind == "unit postcode":
        normalised = _normalise_postcodes(frame["postcode"]).str.replace(" ", "", regex=False)
        return [
            (p, i) for p, i in zip(normalised.to_numpy(), ids, strict=True) if isinstance(p, str)
        ]
    text = frame[column].astype("str").fillna("").str.strip()
    if kind == "email":
        keys = text.str.casefold().to_numpy()
        return [(k, i) for k, i in zip(keys, ids, strict=True) if "@" in k]
    if kind == "phone":
        digits = text.str.replace(r"\(0\)|\D", "", regex=True).to_numpy()
        pairs = [(_phone_national(d), i) for d, i in zip(digits, ids, strict=True)]
        return [(k, i) for k, i in pairs if len(k) >= 7]
    pairs = [(_name_key(v), i) for v, i in zip(text.to_numpy(), ids, strict=True)]
    return [(k, i) for k, i in pairs if len(k) >= 3]


def _found_phones(text: str, lengths: set[int]) -> set[str]:
    """National digits of every phone-like window in ``text`` whose length could match.

    A window starts and ends on a digit-group boundary (like a regex with digit
    look-arounds), so ``0121 555 01010`` does not yield ``01215550101``. One pass of a
    compiled regex finds the candidate tokens; only tokens long enough to hold a key
    (few, in map and data files full of short coordinates) are split into groups.
    """
    shortest = min(lengths)
    found: set[str] = set()
    for token in _phone_token(shortest).findall(text):
        groups = _DIGITS.findall(token)
        digits = "".join(groups)
        if len(digits) < shortest:
            continue
        sizes = [len(g) for g in groups]
        starts = list(itertools.accumulate(sizes[:-1], initial=0))
        ends = set(itertools.accumulate(sizes))
        for start in starts:
            for length in lengths:
                if start + length in ends:
                    found.add(_phone_national(digits[start : start + length]))
    return found


def _found_names(text: str, names: Iterable[str]) -> set[str]:
    """Which of ``names`` (word keys) occur as consecutive words of ``text``."""
    wanted = set(names)
    by_first: dict[str, set[int]] = {}
    for name in wanted:
        first, *rest = name.split(" ")
        by_first.setdefault(first, set()).add(len(rest) + 1)
    words = _words(text)
    present = by_first.keys() & set(words)
    found: set[str] = set()
    if not present:
        return found
    for k in (k for k, word in enumerate(words) if word in present):
        for n in by_first[words[k]]:
            gram = " ".join(words[k : k + n])
            if gram in wanted:
                found.add(gram)
    return found


def _found_emails(text: str) -> set[str]:
    """Case-folded addresses around each '@' (local part up to 64 characters)."""
    found: set[str] = set()
    at = text.find("@")
    while at >= 0:
        local = _EMAIL_LOCAL.search(text, max(at - 64, 0), at)
        domain = _EMAIL_DOMAIN.match(text, at + 1)
        if local and domain:
            found.add(f"{local.group(0)}@{domain.group(0)}".casefold())
        at = text.find("@", at + 1)
    return found


def _found(text: str, kind: str, owners: dict[str, str]) -> set[str]:
    """Keys of ``owners`` present in ``text``."""
    if kind == "unit postcode":
        keys = {(a + b).upper() for a, b in _POSTCODE_TOKEN.findall(text)}
    elif kind == "email":
        keys = _found_emails(text)
    elif kind == "phone":
        # +44/0044 forms are up to 4 digits longer than the national key.
        keys = _found_phones(text, {len(k) + d for k in owners for d in range(5)})
    else:
        keys = _found_names(text, owners)
    return keys & owners.keys()


def _png_text(data: bytes) -> str | None:
    """Text of a PNG's metadata chunks (tEXt, zTXt, iTXt, eXIf), or None if not a PNG."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    texts: list[str] = []
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        chunk = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        try:
            if kind == b"tEXt":
                texts.append(chunk.replace(b"\0", b" ").decode("latin-1"))
            elif kind == b"zTXt":
                keyword, _, rest = chunk.partition(b"\0")
                texts.append(
                    keyword.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1")
                )
            elif kind == b"iTXt":
                keyword, _, rest = chunk.partition(b"\0")
                compressed = rest[:1] == b"\x01"
                _, _, rest = rest[2:].partition(b"\0")  # language tag
                translated, _, body = rest.partition(b"\0")
                if compressed:
                    body = zlib.decompress(body)
                texts.append(
                    " ".join(p.decode("utf-8", "replace") for p in (keyword, translated, body))
                )
            elif kind == b"eXIf":
                texts.append(chunk.decode("latin-1"))
        except zlib.error:
            texts.append(chunk.decode("latin-1"))
        if kind == b"IEND":
            break
    return "\n".join(texts)


def _file_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) pairs to scan for one file; zip members are scanned one by one."""
    data = path.read_bytes()
    png = _png_text(data)
    if png is not None:
        yield str(path), png
    elif zipfile.is_zipfile(path) and path.suffix.lower() not in _TEXT_SUFFIXES:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                content = archive.read(member)
                member_png = _png_text(content)
                text = member_png if member_png is not None else content.decode("utf-8", "replace")
                yield f"{path}!{member}", text
    else:
        yield str(path), data.decode("utf-8", "replace")


def _views(text: str) -> Iterator[str]:
    """The text as written, and with JSON, HTML and URL escapes undone."""
    yield text
    decoded = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).replace("<\\/", "</")
    decoded = html.unescape(html.unescape(decoded))
    decoded = urllib.parse.unquote(decoded)
    if decoded != text:
        yield decoded


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            msg = f"{path}: no such file or folder to scan"
            raise FileNotFoundError(msg)
    return files


def scan_for_personal(
    paths: Iterable[str | os.PathLike[str]], personal_assets: pd.DataFrame
) -> list[str]:
    """Look for personal rows' unit postcodes, emails, phones and names in files.

    The last gate before publishing (RELIABILITY §3). Each file is read as text (HTML,
    JSON, CSV, …) and also with JSON ``\\uXXXX``, HTML entity and URL escapes undone;
    PNGs are searched in their metadata chunks (tEXt/zTXt/iTXt/eXIf), not in pixel
    data; zip files member by member. Matches ignore case; postcodes match spaced or
    unspaced; phones match on their digits whatever the separators, ``+44``/``0044``
    or ``0``; names (3+ characters) match as whole words with any whitespace between.

    Parameters
    ----------
    paths
        Files or folders (scanned recursively).
    personal_assets
        Rows to protect (indexed by ``asset_id``). When it has a ``personal`` column, only
        rows flagged personal are protected, and a value that a non-personal row also has
        (a resident registered at the community centre's postcode or phone) is not
        searched for: it is public through that row. Columns used when present:
        ``postcode``, ``email``, ``phone``, ``name``.

    Returns
    -------
    list of str
        ``"<file>: <what> of personal row '<asset_id>'"``, one per file, kind and row,
        sorted; empty when clean. The values themselves are not repeated, so the
        message can go into logs.
    """
    personal, public = personal_assets, personal_assets.iloc[:0]
    if "personal" in personal_assets:
        flags = personal_mask(personal_assets)
        personal, public = personal_assets.loc[flags], personal_assets.loc[~flags]
    owners: dict[str, dict[str, str]] = {}
    for kind in _KINDS:
        # A value a non-personal row also has is public through that row.
        exempt = {k for k, _ in _keys(public, kind)}
        mine = {k: i for k, i in reversed(_keys(personal, kind)) if k not in exempt}
        if mine:
            owners[kind] = mine
    hits: set[str] = set()
    for path in _expand(paths):
        for where, text in _file_texts(path):
            for view in _views(text):
                for kind, lookup in owners.items():
                    for key in _found(view, kind, lookup):
                        hits.add(f"{where}: {kind} of personal row {lookup[key]!r}")
    return sorted(hits)
