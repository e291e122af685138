"""Small-count suppression of published tables and the disclosure log of what was hidden."""

from __future__ import annotations

import os
from typing import Final

import numpy as np
import pandas as pd

from assetmap._io import write_csv

#: Columns of every disclosure log; the true count is never among them.
DISCLOSURE_COLUMNS: Final = ("table", "row", "column", "rule", "published")
#: Label of the totals row and column of a published table.
TOTAL: Final = "total"
#: Published text of a cell hidden to protect another (secondary suppression).
SECONDARY_MARK: Final = "*"


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
