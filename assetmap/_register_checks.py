"""Per-row checks of a register: the first check each row fails, as reason code and message."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from assetmap import schema

_T = TypeVar("_T")
#: A per-row value: a Series aligned with the register rows, or an object array.
_PerRow = pd.Series | npt.NDArray[np.object_]

#: Cell values read as true / false in a ``personal`` column (case-insensitive).
TRUE_WORDS: Final = ("true", "yes", "y", "1")
FALSE_WORDS: Final = ("false", "no", "n", "0")

_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_SEPARATORS = r"[\s\-]+"
_QUOTE_CHARS = 60
#: shapely geometry type names by type id + 1 (id -1 is a missing geometry).
_GEOMETRY_TYPES: Final = np.array(
    [
        "",
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ],
    dtype=object,
)


class _Verdicts:
    """The first failed check of each row, collected vectorised in check order."""

    def __init__(self, prefix: pd.Series, header_of: Mapping[str, str]) -> None:
        n = len(prefix)
        self.prefix = prefix.to_numpy(dtype=object)
        self.header_of = dict(header_of)
        self.reason = np.full(n, None, dtype=object)
        self.column = np.full(n, None, dtype=object)
        self.value = np.full(n, None, dtype=object)
        self.message = np.full(n, None, dtype=object)

    def open(self) -> npt.NDArray[np.bool_]:
        """Rows that have passed every check so far."""
        return np.asarray(pd.isna(self.reason), dtype=bool)

    def label(self, column: str) -> str:
        header = self.header_of.get(column, column)
        return f"{header!r}" if header == column else f"{header!r} ({column})"

    def flag(
        self,
        mask: npt.NDArray[np.bool_],
        *,
        reason: str | _PerRow,
        column: str,
        values: _PerRow,
        problem: str | _PerRow,
        expected: str,
        quote_value: bool = True,
    ) -> None:
        """Reject the rows in ``mask`` that have not failed an earlier check.

        The message reads ``<file> <line n>, column <c>: value '<v>' <problem> (expected
        <expected>)``, or without the ``value '<v>'`` part when ``quote_value`` is false.
        """
        fresh = np.flatnonzero(np.asarray(mask, dtype=bool) & self.open())
        if not len(fresh):
            return
        raw_values = _at(values, fresh)
        problems = problem if isinstance(problem, str) else _at(problem, fresh)
        reasons = reason if isinstance(reason, str) else _at(reason, fresh)
        quoted = np.asarray([_quote(v) for v in raw_values], dtype=object)
        self.reason[fresh] = reasons
        self.column[fresh] = column
        self.value[fresh] = raw_values
        subject = ("value " + quoted + " ") if quote_value else ""
        self.message[fresh] = (
            self.prefix[fresh]
            + f", column {self.label(column)}: "
            + subject
            + problems
            + f" (expected {expected})"
        )

    def records(
        self, *, source: str, lines: npt.NDArray[np.int64], ids: pd.Series
    ) -> list[dict[str, object]]:
        rejected = np.flatnonzero(~self.open())
        frame = pd.DataFrame(
            {
                "source": source,
                "source_line": lines[rejected],
                "asset_id": ids.to_numpy(dtype=object)[rejected],
                "column": self.column[rejected],
                "value": self.value[rejected],
                "reason_code": self.reason[rejected],
                "message": self.message[rejected],
            }
        )
        frame["asset_id"] = frame["asset_id"].where(frame["asset_id"] != "", None)
        columns = list(frame.columns)
        arrays = [frame[c].to_numpy(dtype=object) for c in columns]
        return [dict(zip(columns, row, strict=True)) for row in zip(*arrays, strict=True)]


def _at(per_row: _PerRow, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.object_]:
    """Values of a per-row Series or array at row positions, as an object array."""
    array = per_row.to_numpy(dtype=object) if isinstance(per_row, pd.Series) else per_row
    return np.asarray(array, dtype=object)[rows]


def _quote(value: object) -> str:
    text = str(value)
    if len(text) > _QUOTE_CHARS:
        text = text[: _QUOTE_CHARS - 1] + "…"
    return repr(text)


def _asset_ids(
    cells: pd.DataFrame, lines: npt.NDArray[np.int64], prefix: str, verdicts: _Verdicts
) -> pd.Series:
    """Explicit ids (stripped) when the register has an id column, else ``prefix-line``."""
    if schema.ASSET_ID not in cells:
        return pd.Series(prefix + "-" + pd.Series(lines).astype(str), dtype=str).reset_index(
            drop=True
        )
    ids = cells[schema.ASSET_ID].str.strip()
    verdicts.flag(
        (ids == "").to_numpy(),
        reason="id_invalid",
        column=schema.ASSET_ID,
        values=cells[schema.ASSET_ID],
        problem="is empty",
        expected="a unique id for every row, e.g. 'SE-001'",
    )
    return ids


def _categories(
    cells: pd.DataFrame,
    default: str | None,
    *,
    kind: str,
    vocabulary: Mapping[str, bool],
    verdicts: _Verdicts,
) -> pd.Series:
    """Normalised category per row; rejects empty, unknown and other-kind categories."""
    if "category" not in cells:
        return pd.Series(default or "", index=cells.index, dtype=str)
    raw = cells["category"]
    normal = pd.Series(_per_value(raw, _token), index=raw.index, dtype=str)
    if default is not None:
        normal = normal.where(normal != "", default)
    allowed = ", ".join(vocabulary)
    verdicts.flag(
        (normal == "").to_numpy(),
        reason="missing_required",
        column="category",
        values=raw,
        problem="is empty",
        expected=f"one of: {allowed}",
    )
    other_kind = schema.MACRO if kind == schema.MICRO else schema.MICRO
    in_other = normal.isin(list(schema.categories(other_kind))).to_numpy()
    unknown = ~normal.isin(list(vocabulary)).to_numpy()
    verdicts.flag(
        unknown & in_other,
        reason="kind_mismatch",
        column="category",
        values=raw,
        problem=f"is a {other_kind} category, but this is a {kind} register",
        expected=f"one of: {allowed}",
    )
    verdicts.flag(
        unknown,
        reason="category_unknown",
        column="category",
        values=raw,
        problem=f"is not a {kind} category",
        expected=f"one of: {allowed}",
    )
    return normal


def _capacity(cells: pd.DataFrame, verdicts: _Verdicts) -> npt.NDArray[np.float64]:
    """Capacity per row: 1.0 when empty, else a finite decimal number ≥ 0."""
    if "capacity" not in cells:
        return np.ones(len(cells), dtype=np.float64)
    text = cells["capacity"].str.strip()
    empty = (text == "").to_numpy()
    numeric = text.str.fullmatch(_NUMBER).to_numpy(dtype=bool)
    number = pd.to_numeric(text.where(numeric, None), errors="coerce").to_numpy(dtype=np.float64)
    finite = np.isfinite(number)
    problem = pd.Series(
        np.select(
            [~numeric, ~finite, number < 0],
            ["is not a number", "is not a finite number", "is negative"],
            default="",
        ),
        dtype=object,
    )
    verdicts.flag(
        ~empty & (~numeric | ~finite | (number < 0)),
        reason="capacity_invalid",
        column="capacity",
        values=cells["capacity"],
        problem=problem,
        expected="a number ≥ 0, e.g. '12', or empty for 1",
    )
    return np.where(empty | ~finite, 1.0, number)


def _personal(
    cells: pd.DataFrame, category: pd.Series, *, vocabulary: Mapping[str, bool], verdicts: _Verdicts
) -> npt.NDArray[np.bool_]:
    """Personal flag per row; a personal category stays personal whatever the cell says."""
    by_category = category.isin([c for c, personal in vocabulary.items() if personal]).to_numpy(
        dtype=bool
    )
    if "personal" not in cells:
        return by_category
    word = cells["personal"].str.strip().str.lower()
    said_true = word.isin(list(TRUE_WORDS)).to_numpy()
    known = (word == "").to_numpy() | said_true | word.isin(list(FALSE_WORDS)).to_numpy()
    verdicts.flag(
        ~known,
        reason="personal_invalid",
        column="personal",
        values=cells["personal"],
        problem="is not a true/false value",
        expected=f"one of {', '.join(TRUE_WORDS + FALSE_WORDS)} (any case) or empty",
    )
    return np.asarray(said_true | by_category, dtype=bool)


def _geometry(
    geometry: npt.NDArray[np.object_] | None,
    carried: npt.NDArray[np.object_] | None,
    verdicts: _Verdicts,
) -> tuple[npt.NDArray[np.object_] | None, npt.NDArray[np.object_] | None]:
    """Point per row (polygons → representative point) and the polygon footprint.

    ``carried`` is a footprint read from the file; it is kept for point rows only.
    """
    if geometry is None:
        return None, None
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    type_id = shapely.get_type_id(geometry)
    polygonal = np.isin(type_id, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    pointlike = type_id == shapely.GeometryType.POINT
    points = np.where(polygonal & ~missing, shapely.point_on_surface(geometry), geometry)
    usable = ~missing & (pointlike | polygonal)
    finite = np.zeros(len(geometry), dtype=bool)
    finite[usable] = np.isfinite(shapely.get_coordinates(points[usable])).all(axis=1)
    shapes = pd.Series(_GEOMETRY_TYPES[type_id + 1], dtype=object)
    verdicts.flag(
        missing,
        reason="geometry_missing",
        column="geometry",
        values=shapes,
        problem="the feature has no geometry",
        expected="a Point or Polygon",
        quote_value=False,
    )
    verdicts.flag(
        ~(pointlike | polygonal),
        reason="geometry_invalid",
        column="geometry",
        values=shapes,
        problem="geometry type " + shapes.map(repr) + " is not a point or polygon",
        expected="a Point, Polygon or MultiPolygon",
        quote_value=False,
    )
    verdicts.flag(
        usable & ~finite,
        reason="geometry_invalid",
        column="geometry",
        values=shapes,
        problem="the " + shapes + " has non-finite coordinates",
        expected="finite coordinates",
        quote_value=False,
    )
    why = pd.Series(shapely.is_valid_reason(geometry), dtype=object).fillna("").astype(str)
    verdicts.flag(
        ~shapely.is_valid(geometry),
        reason="geometry_invalid",
        column="geometry",
        values=shapes,
        problem="the " + shapes + " is invalid: " + why,
        expected="a valid geometry without self-intersections",
        quote_value=False,
    )
    footprints = np.where(
        polygonal & ~missing, geometry, np.full(len(geometry), None, dtype=object)
    )
    if carried is not None:
        carried_polygonal = np.isin(
            shapely.get_type_id(carried),
            [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON],
        )
        footprints = np.where(pointlike & carried_polygonal, carried, footprints)
    return points, footprints


def _words(text: pd.Series, separator: str) -> pa.Array:
    """Text with leading/trailing whitespace removed and inner runs joined by ``separator``."""
    array = pa.array(text.astype(str).to_numpy(dtype=object), type=pa.large_string())
    words = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(array))
    return pc.binary_join(words, pa.scalar(separator, type=pa.large_string()))


def _dedup_keys(
    name: pd.Series,
    postcode: pd.Series,
    cells: pd.DataFrame,
    points: npt.NDArray[np.object_] | None,
) -> pd.Series:
    """Normalised name + location per row: postcode, else coordinate text, else point WKT.

    The name is case-folded with whitespace runs collapsed; the postcode upper-cased with
    all whitespace removed (vectorised in Arrow).
    """
    folded = _words(name.str.casefold(), " ")
    location = _words(postcode.str.upper(), "")
    blank = pc.equal(location, "")
    present = [c for c in schema.COORD_COLUMNS if c in cells]
    if present:
        text = "coords:" + cells[present[0]].str.strip()
        for column in present[1:]:
            text = text + "|" + cells[column].str.strip()
        coords = pa.array(text.astype(str).to_numpy(dtype=object), type=pa.large_string())
        location = pc.if_else(blank, coords, location)
        blank = pc.equal(location, "coords:" + "|" * (len(present) - 1))
    if points is not None:
        wkt = shapely.to_wkt(points, rounding_precision=7)
        geometry = pa.array(["geometry:" + str(w) for w in wkt], type=pa.large_string())
        location = pc.if_else(blank, geometry, location)
    keys = pc.binary_join_element_wise(folded, location, pa.scalar("\x1f", type=pa.large_string()))
    return pd.Series(keys.to_numpy(zero_copy_only=False), dtype=object)


def _duplicates(
    ids: pd.Series,
    keys: pd.Series,
    lines: npt.NDArray[np.int64],
    *,
    name: pd.Series,
    where: str,
    verdicts: _Verdicts,
) -> None:
    """Reject rows that repeat the id or the name+location of an earlier accepted row."""
    candidates = np.flatnonzero(verdicts.open())
    id_values = ids.to_numpy(dtype=object)
    key_values = keys.to_numpy(dtype=object)
    involved = (
        pd.Series(id_values[candidates]).duplicated(keep=False).to_numpy()
        | pd.Series(key_values[candidates]).duplicated(keep=False).to_numpy()
    )
    first_by_id: dict[object, int] = {}
    first_by_key: dict[object, int] = {}
    earlier = np.full(len(ids), -1, dtype=np.int64)
    by_id = np.zeros(len(ids), dtype=bool)
    # Sequential over the few rows that share an id or key: a row rejected as a duplicate
    # must not make a later row a duplicate of it, which vectorised duplicated() would do.
    for row in candidates[involved]:
        if id_values[row] in first_by_id:
            earlier[row], by_id[row] = first_by_id[id_values[row]], True
        elif key_values[row] in first_by_key:
            earlier[row] = first_by_key[key_values[row]]
        else:
            first_by_id[id_values[row]] = row
            first_by_key[key_values[row]] = row
    duplicate = earlier >= 0
    if not duplicate.any():
        return
    rows = np.flatnonzero(duplicate)
    earlier_id = id_values[earlier[rows]]
    earlier_line = [f"{where} {line}" for line in lines[earlier[rows]]]
    reason = np.full(len(ids), None, dtype=object)
    reason[rows] = ["duplicate_of:" + str(i) for i in earlier_id]
    same_id = np.full(len(ids), None, dtype=object)
    same_id[rows] = [f"is already the id of {line}" for line in earlier_line]
    same_key = np.full(len(ids), None, dtype=object)
    same_key[rows] = [
        f"has the same name and location as {line} (asset_id {i!r})"
        for line, i in zip(earlier_line, earlier_id, strict=True)
    ]
    verdicts.flag(
        duplicate & by_id,
        reason=reason,
        column=schema.ASSET_ID,
        values=ids,
        problem=same_id,
        expected="a unique asset_id per row",
    )
    verdicts.flag(
        duplicate & ~by_id,
        reason=reason,
        column="name",
        values=name,
        problem=same_key,
        expected="each asset once: merge the rows or tell them apart",
    )


# --------------------------------------------------------------------------- vocabulary


def _token(text: str) -> str:
    """Vocabulary form of a category or tag: lower case, spaces/hyphens → ``_``."""
    return re.sub(_SEPARATORS, "_", text.strip().lower())


def _tag_list(text: str) -> tuple[str, ...]:
    """Tags of one cell: split on ``;``/``,``, :func:`_token` each, empties and repeats dropped."""
    tokens = (_token(part) for part in re.split(r"[;,]", text))
    return tuple(dict.fromkeys(t for t in tokens if t))


def _per_value(series: pd.Series, func: Callable[[str], _T]) -> npt.NDArray[np.object_]:
    """Apply ``func`` once per distinct value of a text column and spread the results.

    Register columns repeat a handful of values (categories, tags, yes/no), so this
    does a fraction of the work of a per-row map; the result is an object array.
    """
    codes, uniques = pd.factorize(series.to_numpy(dtype=object))
    results = np.empty(len(uniques), dtype=object)
    for position, value in enumerate(uniques):  # element-wise: results may be tuples
        results[position] = func(str(value))
    return results[codes] if len(codes) else np.empty(0, dtype=object)
