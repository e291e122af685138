"""Read asset registers (CSV, XLSX, GeoJSON, GPKG, Parquet) into assets and a rejects table.

Every data row of a register ends up in exactly one of two places: the assets
GeoDataFrame (EPSG:4326, indexed by ``asset_id``) or the rejects table, with a
reason code from :data:`assetmap.schema.REASON_CODES` and a message that names the
file, the line, the column, the value and what was expected (RELIABILITY §1).

Checks run in this order; the first one a row fails is the one reported:

1. ``ragged_row`` — more or fewer fields than the header (CSV), or a value beyond the
   header's last column (XLSX);
2. ``id_invalid`` — an ``asset_id`` column is present but the cell is empty;
3. ``kind_mismatch`` — a ``kind`` cell that is neither empty nor the register's kind;
4. ``missing_required`` — empty ``name``;
5. ``missing_required`` / ``category_unknown`` / ``kind_mismatch`` — empty category (and no
   default), a category outside the vocabulary, or one of the other kind;
6. ``capacity_invalid``;
7. ``personal_invalid``;
8. ``geometry_missing`` / ``geometry_invalid`` (spatial registers only);
9. ``duplicate_of:<asset_id>`` — the same id, or the same name and location, as an earlier
   *accepted* row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from os import PathLike
from pathlib import Path
from typing import Any, Final, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from assetmap import schema
from assetmap._errors import RegisterError

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_Frame = TypeVar("_Frame", pd.DataFrame, gpd.GeoDataFrame)
#: A per-row value: a Series aligned with the register rows, or an object array.
_PerRow = pd.Series | npt.NDArray[np.object_]

#: Extensions read as delimited text.
TEXT_SUFFIXES: Final = (".csv", ".tsv", ".txt")
#: Extensions read as Excel workbooks (openpyxl).
EXCEL_SUFFIXES: Final = (".xlsx", ".xlsm")
#: Extensions read as vector data with geometry (pyogrio).
VECTOR_SUFFIXES: Final = (".geojson", ".json", ".gpkg")
#: Extensions read as Parquet (GeoParquet when it carries ``geo`` metadata).
PARQUET_SUFFIXES: Final = (".parquet",)
#: Every extension :func:`read_assets` accepts.
SUFFIXES: Final = TEXT_SUFFIXES + EXCEL_SUFFIXES + VECTOR_SUFFIXES + PARQUET_SUFFIXES

#: The only delimiters a CSV is sniffed for, in order of preference on a tie.
DELIMITERS: Final = (",", ";", "\t", "|")
#: Cell values read as true / false in a ``personal`` column (case-insensitive).
TRUE_WORDS: Final = ("true", "yes", "y", "1")
FALSE_WORDS: Final = ("false", "no", "n", "0")

#: Standard column names a register header can be matched or mapped to.
STANDARD_COLUMNS: Final = (
    schema.ASSET_ID,
    "name",
    "kind",
    "category",
    "tags",
    "postcode",
    "capacity",
    "personal",
    *schema.COORD_COLUMNS,
    *schema.EXTRA_COLUMNS,
)
#: Output columns assetmap fills itself; a register column with one of these names is kept
#: as ``origin_<name>`` (e.g. when re-reading assetmap's own output).
RESERVED_COLUMNS: Final = ("source", "source_line", "geometry", "footprint")

_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_SEPARATORS = r"[\s\-]+"
_UTF8_BOM = b"\xef\xbb\xbf"
_SAMPLE_CHARS = 65_536
_SAMPLE_RECORDS = 20
_QUOTE_CHARS = 60
_RAGGED_VALUE_CHARS = 500
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


@dataclass(frozen=True)
class _RawTable:
    """A register as text cells before any checks.

    ``cells`` holds the well-formed rows (RangeIndex, one column per header cell),
    ``lines`` their source line (CSV line, sheet row or feature number), ``ragged`` the
    rows already rejected while parsing and ``geometry`` (spatial registers only) one
    shapely geometry per row of ``cells`` in EPSG:4326.
    """

    cells: pd.DataFrame
    lines: npt.NDArray[np.int64]
    rows_in: int
    where: str
    ragged: list[dict[str, object]]
    geometry: npt.NDArray[np.object_] | None = None
    footprint: npt.NDArray[np.object_] | None = None
    notes: tuple[str, ...] = ()


def read_assets(
    path: str | PathLike[str],
    *,
    kind: str,
    columns: Mapping[str, str] | None = None,
    category: str | None = None,
    id_prefix: str | None = None,
    sheet: str | int | None = None,
) -> schema.Register:
    """Read a register file into accepted assets and a rejects table.

    Parameters
    ----------
    path
        Register file; the format follows the extension: ``.csv``/``.tsv``/``.txt``
        (delimiter sniffed from ``, ; TAB |``), ``.xlsx``/``.xlsm``, ``.geojson``/``.json``,
        ``.gpkg`` or ``.parquet`` (GeoParquet or plain).
    kind
        ``"micro"`` or ``"macro"``: which side of the link the register feeds.
    columns
        Register header → standard column name, e.g.
        ``{"Organisation": "name", "Post Code": "postcode"}``. Headers that already
        equal a standard name up to case and whitespace (``"Postcode"``, ``" NAME "``,
        ``"Asset ID"``) are matched without a mapping; the other headers are kept
        unchanged as text columns.
    category
        Category for rows whose ``category`` cell is empty (or for a register without a
        ``category`` column), e.g. ``"social_enterprise"``.
    id_prefix
        Prefix of generated ids when the register has no ``asset_id`` column; ids are
        ``f"{id_prefix}-{source_line}"`` (default prefix: the file name's stem as a slug).
    sheet
        XLSX sheet name or 0-based position (default: the first sheet), or GPKG layer
        name (default: the first layer).

    Returns
    -------
    assetmap.schema.Register
        ``assets``: GeoDataFrame indexed by unique ``asset_id`` in EPSG:4326 with the
        columns of :data:`~assetmap.schema.ASSET_COLUMNS` first, then the coordinate,
        descriptive and other register columns (text exactly as typed), then
        ``footprint`` (spatial registers: the polygon of polygon rows, else None) and
        ``geometry`` (None for tabular registers, whose rows the geocoder places).
        ``rejects``: one row per rejected data row, in file order.

    Raises
    ------
    assetmap.RegisterError
        When the file cannot be used at all: unknown extension, undecodable bytes, no
        header, a mapped or required column missing, duplicate headers, or a column
        mapped to a reserved name.

    Notes
    -----
    * CSV bytes are decoded as UTF-8 (with or without BOM), else as Windows-1252; never
      with replacement characters. Every cell is text: ``NA``, ``None``, ``null`` and
      ``007`` stay exactly as typed. Lines end at ``\\n``, ``\\r\\n`` or ``\\r``; a record's
      line is the physical line where it starts (the header is line 1), so a quoted value
      with newlines moves the following records down. Empty lines are not rows. An
      empty header cell names its column ``column_<n>`` (1-based position).
    * XLSX is read with openpyxl (read-only, data only): a formula cell gives the value
      Excel cached when it last saved the file, and a text cell that starts with ``=``
      is data. Files written by openpyxl hold no cached values, so their formula cells
      read as empty. Cells left blank to the right of a row are empty values, not
      missing fields; a value beyond the header's last column is a ``ragged_row``. Empty
      rows are not rows; ``source_line`` is the sheet's row number.
    * Spatial registers are reprojected to EPSG:4326; a polygon row gets its
      representative point as geometry and keeps the polygon in ``footprint``. A
      geometry-typed ``footprint`` column in the file (GeoParquet written by assetmap) is
      kept as the footprint of point rows, so assets survive a round trip. List values
      (e.g. ``tags`` in Parquet) are read as ``;``-joined text.
    * Privacy wins: a row whose category is personal (e.g. ``resident_skill``) stays
      personal even when its ``personal`` cell says false.
    * ``tags`` are split on ``;`` or ``,``, lower-cased, with spaces and hyphens turned
      into ``_``, empties dropped and repeats removed (first kept).
    * ``capacity`` is 1.0 when empty, else a finite decimal number ≥ 0.
    * Duplicates: two rows are the same asset when their ids are equal, or their names
      (case-folded, whitespace collapsed) and locations are: the postcode (upper case,
      no whitespace), else the coordinate text, else (spatial registers) the point. The
      later row is rejected as ``duplicate_of:<earlier asset_id>``; a row rejected as a
      duplicate never makes a later row one.
    * Register columns named ``source``, ``source_line``, ``geometry`` or ``footprint``
      (e.g. in a file assetmap wrote) are kept as ``origin_source`` etc.; assetmap fills
      those names itself. Geocoding columns (``geocode_source``…) are kept as they are.
    """
    file = Path(path)
    source = str(path)
    if kind not in schema.KINDS:
        msg = f"{file.name}: kind {kind!r} is not one of {schema.KINDS}"
        raise RegisterError(msg)
    vocabulary = schema.categories(kind)
    default_category = _check_default_category(category, kind=kind, file=file)
    raw = _read_raw(file, sheet=sheet)
    renames = _resolve_columns(
        list(raw.cells.columns), columns or {}, file=file, need_category=default_category is None
    )
    cells = raw.cells.rename(columns=renames)
    kept = [f"kept column {h!r} as {t!r}" for h, t in renames.items() if t == f"origin_{h}"]
    header_of = {standard: header for header, standard in renames.items()}
    prefix = pd.Series(f"{file.name} {raw.where} " + pd.Series(raw.lines).astype(str), dtype=object)
    verdicts = _Verdicts(prefix, header_of)

    ids = _asset_ids(cells, raw.lines, id_prefix or _slug(file.stem), verdicts)
    if "kind" in cells:
        row_kind = cells["kind"].str.strip().str.lower()
        verdicts.flag(
            ((row_kind != "") & (row_kind != kind)).to_numpy(),
            reason="kind_mismatch",
            column="kind",
            values=cells["kind"],
            problem="is not this register's kind",
            expected=f"{kind!r} or empty",
        )
    name = cells["name"].str.strip()
    verdicts.flag(
        (name == "").to_numpy(),
        reason="missing_required",
        column="name",
        values=cells["name"],
        problem="is empty",
        expected="the asset's name",
    )
    category_norm = _categories(
        cells, default_category, kind=kind, vocabulary=vocabulary, verdicts=verdicts
    )
    capacity = _capacity(cells, verdicts)
    personal = _personal(cells, category_norm, vocabulary=vocabulary, verdicts=verdicts)
    points, footprints = _geometry(raw.geometry, raw.footprint, verdicts)
    postcode = (
        cells["postcode"].str.strip() if "postcode" in cells else pd.Series("", index=cells.index)
    )
    _duplicates(
        ids,
        _dedup_keys(name, postcode, cells, points),
        raw.lines,
        name=cells["name"],
        where=raw.where,
        verdicts=verdicts,
    )

    accepted = verdicts.open()
    assets = _assemble(
        cells,
        accepted,
        ids=ids,
        name=name,
        kind=kind,
        category=category_norm,
        postcode=postcode,
        capacity=capacity,
        personal=personal,
        source=source,
        lines=raw.lines,
        points=points,
        footprints=footprints,
    )
    ragged = [{**record, "source": source} for record in raw.ragged]
    records = ragged + verdicts.records(source=source, lines=raw.lines, ids=ids)
    records.sort(key=itemgetter("source_line"))
    rejects = schema.make_rejects(records)
    register = schema.Register(
        assets=assets,
        rejects=rejects,
        rows_in=raw.rows_in,
        source=source,
        notes=(*raw.notes, *kept),
    )
    reasons = ", ".join(f"{k}: {v}" for k, v in register.reasons().items())
    logger.info(
        "%s: %d rows in, %d accepted, %d rejected%s",
        file.name,
        register.rows_in,
        len(assets),
        len(rejects),
        f" ({reasons})" if reasons else "",
    )
    return register


# --------------------------------------------------------------------------- readers


def _read_raw(file: Path, *, sheet: str | int | None) -> _RawTable:
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        msg = f"{file}: unknown register format {suffix or '(no extension)'!r} (expected one of {', '.join(SUFFIXES)})"
        raise RegisterError(msg)
    if not file.is_file():
        msg = f"{file}: no such register file"
        raise RegisterError(msg)
    if suffix in TEXT_SUFFIXES:
        return _read_delimited(file)
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(file, sheet=sheet)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(file)
    return _read_vector(file, layer=sheet)


def _decode(file: Path, raw: bytes) -> tuple[str, str]:
    """Decode register bytes as UTF-8 (BOM optional), else Windows-1252, else fail."""
    bom = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    try:
        return raw[bom:].decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as utf8_error:
        utf8_at = utf8_error.start + bom
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as cp1252_error:
        cp_at = cp1252_error.start
    line = raw.count(b"\n", 0, utf8_at) + 1
    msg = (
        f"{file}: cannot decode the file: it is not UTF-8 (first bad byte 0x{raw[utf8_at]:02x} at "
        f"byte offset {utf8_at}, line {line}) and not Windows-1252 (byte 0x{raw[cp_at]:02x} at "
        f"byte offset {cp_at} is undefined there); save it from Excel as 'CSV UTF-8' and try again"
    )
    raise RegisterError(msg)


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the header into the most fields.

    Ties are broken by how many of the first records have the header's width, then by
    the order of :data:`DELIMITERS`; a one-column file gets ``,``.
    """
    sample = text[:_SAMPLE_CHARS]
    truncated = len(text) > _SAMPLE_CHARS
    best: tuple[int, int, int] = (0, 0, 0)
    chosen = DELIMITERS[0]
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            records = [
                r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if r
            ]
        except csv.Error:
            continue
        if truncated and len(records) > 1:
            records = records[:-1]
        records = records[: _SAMPLE_RECORDS + 1]
        if not records:
            continue
        width = len(records[0])
        consistent = sum(len(r) == width for r in records[1:])
        score = (width, consistent, -rank)
        if score > best:
            best, chosen = score, delimiter
    return chosen if best[0] > 1 else DELIMITERS[0]


def _read_delimited(file: Path) -> _RawTable:
    text, encoding = _decode(file, file.read_bytes())
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[list[str]] = []
    starts: list[int] = []
    ends: list[int] = []
    previous = 0
    # One pass with the csv module: reader.line_num counts physical lines consumed, so a
    # record starts on the line after the previous record ended (quoted newlines included).
    try:
        for record in reader:
            if record:
                records.append(record)
                starts.append(previous + 1)
                ends.append(reader.line_num)
            previous = reader.line_num
    except csv.Error as exc:
        msg = f"{file} line {previous + 1}: cannot parse the record starting here: {exc} (check for a quote that is never closed)"
        raise RegisterError(msg) from exc
    if not records:
        msg = f"{file}: the file is empty (expected a header line naming the columns, e.g. 'name,category,postcode')"
        raise RegisterError(msg)
    header = _header_names(records[0], file=file)
    data = records[1:]
    widths = np.fromiter(map(len, data), dtype=np.int64, count=len(data))
    good = widths == len(header)
    lines = np.asarray(starts[1:], dtype=np.int64)
    cells = pd.DataFrame(list(compress(data, good)), columns=header, dtype=str)
    if not len(cells):
        cells = pd.DataFrame({h: pd.Series(dtype=str) for h in header})
    ragged: list[dict[str, object]] = []
    for position in np.flatnonzero(~good):
        start, end, fields = starts[position + 1], ends[position + 1], data[position]
        span = f" (this record runs on to line {end}: is a quote left open?)" if end > start else ""
        raw_text = delimiter.join(fields)
        if len(raw_text) > _RAGGED_VALUE_CHARS:
            raw_text = raw_text[: _RAGGED_VALUE_CHARS - 1] + "…"
        ragged.append(
            {
                "source": str(file),
                "source_line": start,
                "asset_id": None,
                "column": None,
                "value": raw_text,
                "reason_code": "ragged_row",
                "message": (
                    f"{file.name} line {start}: {len(fields)} fields, but the header has {len(header)}"
                    f"{span} (expected exactly {len(header)} fields separated by {delimiter!r}; "
                    f"put values that contain {delimiter!r} or line breaks in double quotes)"
                ),
            }
        )
    shown = {"\t": "TAB"}.get(delimiter, delimiter)
    notes = (f"encoding: {encoding}", f"delimiter: {shown}")
    return _RawTable(
        cells=cells, lines=lines[good], rows_in=len(data), where="line", ragged=ragged, notes=notes
    )


def _header_names(cells: Sequence[str], *, file: Path) -> list[str]:
    """Header cells as column names; an empty header cell becomes ``column_<n>`` (1-based)."""
    names = [cell if cell.strip() else f"column_{n}" for n, cell in enumerate(cells, start=1)]
    seen: dict[str, int] = {}
    for n, name in enumerate(names, start=1):
        if name in seen:
            msg = f"{file}: the header names column {name!r} twice (columns {seen[name]} and {n}; expected unique column names)"
            raise RegisterError(msg)
        seen[name] = n
    return names


def _read_excel(file: Path, *, sheet: str | int | None) -> _RawTable:
    import openpyxl

    try:
        book = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, XML and its own errors
        msg = f"{file}: cannot read the workbook: {exc} (expected an .xlsx file saved by Excel or LibreOffice)"
        raise RegisterError(msg) from exc
    try:
        names = list(book.sheetnames)
        if sheet is None:
            chosen = book.worksheets[0] if book.worksheets else None
        elif isinstance(sheet, int):
            chosen = (
                book.worksheets[sheet]
                if -len(book.worksheets) <= sheet < len(book.worksheets)
                else None
            )
        else:
            chosen = book[sheet] if sheet in names else None
        if chosen is None:
            msg = f"{file}: no worksheet {sheet!r} (found sheets: {names})"
            raise RegisterError(msg)
        title = str(chosen.title)
        # A wrong <dimension> record would make openpyxl stop early and drop rows.
        chosen.reset_dimensions()
        rows = [[_cell_text(v) for v in row] for row in chosen.iter_rows(values_only=True)]
    finally:
        book.close()
    widths = [_trimmed_width(row) for row in rows]
    filled = [n for n, width in enumerate(widths) if width]
    if not filled:
        msg = f"{file}: sheet {title!r} is empty (expected a header row naming the columns)"
        raise RegisterError(msg)
    header_at = filled[0]
    header = _header_names(rows[header_at][: widths[header_at]], file=file)
    width = len(header)
    body = filled[1:]
    good = [n for n in body if widths[n] <= width]
    cells = pd.DataFrame(
        [rows[n][:width] + [""] * (width - len(rows[n][:width])) for n in good],
        columns=header,
        dtype=str,
    )
    if not len(cells):
        cells = pd.DataFrame({h: pd.Series(dtype=str) for h in header})
    ragged: list[dict[str, object]] = []
    for n in body:
        if widths[n] > width:
            beyond = next(i for i in range(width, widths[n]) if rows[n][i] != "")
            ragged.append(
                {
                    "source": str(file),
                    "source_line": n + 1,
                    "asset_id": None,
                    "column": None,
                    "value": "\t".join(rows[n][: widths[n]]),
                    "reason_code": "ragged_row",
                    "message": (
                        f"{file.name} row {n + 1}: value {_quote(rows[n][beyond])} in column "
                        f"{_column_letter(beyond + 1)} lies beyond the header's last column "
                        f"{_column_letter(width)} (expected values only under a header cell)"
                    ),
                }
            )
    lines = np.asarray([n + 1 for n in good], dtype=np.int64)
    return _RawTable(
        cells=cells,
        lines=lines,
        rows_in=len(body),
        where="row",
        ragged=ragged,
        notes=(f"sheet: {title}",),
    )


def _cell_text(value: object) -> str:
    """Text of one spreadsheet cell as the user sees it (numbers without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _float_text(value: float) -> str:
    if math.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _trimmed_width(row: Sequence[str]) -> int:
    """Number of cells up to the last non-empty one."""
    for n in range(len(row), 0, -1):
        if row[n - 1] != "":
            return n
    return 0


def _column_letter(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _read_parquet(file: Path) -> _RawTable:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(file).metadata or {}
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError on a broken file
        msg = f"{file}: cannot read the Parquet file: {exc}"
        raise RegisterError(msg) from exc
    if b"geo" in metadata:
        try:
            frame = gpd.read_parquet(file)
        except Exception as exc:  # geopandas re-raises pyarrow and metadata errors
            msg = f"{file}: cannot read the GeoParquet file: {exc}"
            raise RegisterError(msg) from exc
        return _spatial_table(_index_as_column(frame), file=file, notes=("format: GeoParquet",))
    try:
        table = _index_as_column(pd.read_parquet(file))
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError on a broken file
        msg = f"{file}: cannot read the Parquet file: {exc}"
        raise RegisterError(msg) from exc
    cells = pd.DataFrame({str(c): _as_text(table[c]) for c in table.columns})
    _header_names(list(cells.columns), file=file)
    cells.index = pd.RangeIndex(len(cells))
    lines = np.arange(1, len(cells) + 1, dtype=np.int64)
    return _RawTable(
        cells=cells,
        lines=lines,
        rows_in=len(cells),
        where="row",
        ragged=[],
        notes=("format: Parquet",),
    )


def _index_as_column(frame: _Frame) -> _Frame:
    """Move a named index (e.g. ``asset_id`` restored from Parquet metadata) into a column."""
    if any(name is not None for name in frame.index.names):
        return frame.reset_index()
    return frame


def _read_vector(file: Path, *, layer: str | int | None) -> _RawTable:
    import pyogrio

    try:
        layers = [str(name) for name in pyogrio.list_layers(file)[:, 0]]
        if layer is None:
            chosen: str | int = layers[0]
        elif isinstance(layer, int) or layer in layers:
            chosen = layer
        else:
            msg = f"{file}: no layer {layer!r} (found layers: {layers})"
            raise RegisterError(msg)
        frame = gpd.read_file(file, layer=chosen, engine="pyogrio")
    except RegisterError:
        raise
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError / IndexError
        msg = f"{file}: cannot read the file: {exc} (expected valid GeoJSON or GeoPackage)"
        raise RegisterError(msg) from exc
    return _spatial_table(frame, file=file, notes=(f"layer: {chosen}",))


def _spatial_table(frame: gpd.GeoDataFrame, *, file: Path, notes: tuple[str, ...]) -> _RawTable:
    """Text cells plus EPSG:4326 geometries of a spatial register (one row per feature).

    A geometry-typed ``footprint`` column (as assetmap writes to GeoParquet) is carried
    over, reprojected, as the footprint of point rows.
    """
    if frame.crs is None:
        msg = f"{file}: the layer has no CRS (expected one, e.g. EPSG:27700 or EPSG:4326)"
        raise RegisterError(msg)
    crs = frame.crs
    if not crs.equals(schema.CRS_WGS84):
        notes = (*notes, f"reprojected from {crs.to_string()} to {schema.CRS_WGS84}")
        frame = frame.to_crs(schema.CRS_WGS84)
    geometry_name = frame.geometry.name
    carried = None
    if "footprint" in frame.columns and isinstance(
        frame["footprint"].dtype, gpd.array.GeometryDtype
    ):
        footprint = gpd.GeoSeries(frame["footprint"])
        footprint = footprint.set_crs(crs) if footprint.crs is None else footprint
        carried = np.asarray(footprint.to_crs(schema.CRS_WGS84).array, dtype=object)
    attributes = [
        c
        for c in frame.columns
        if c != geometry_name and not (c == "footprint" and carried is not None)
    ]
    cells = pd.DataFrame({str(c): _as_text(frame[c]) for c in attributes}, index=frame.index)
    if not attributes:
        cells = pd.DataFrame(index=frame.index)
    _header_names(list(cells.columns), file=file)
    cells.index = pd.RangeIndex(len(cells))
    geometry = np.asarray(frame.geometry.array, dtype=object)
    lines = np.arange(1, len(cells) + 1, dtype=np.int64)
    return _RawTable(
        cells=cells,
        lines=lines,
        rows_in=len(cells),
        where="feature",
        ragged=[],
        geometry=geometry,
        footprint=carried,
        notes=notes,
    )


def _as_text(series: pd.Series) -> pd.Series:
    """A column of any dtype as text; missing values become ``""``."""
    if pd.api.types.is_bool_dtype(series):
        return series.map({True: "TRUE", False: "FALSE"}).fillna("").astype(str)
    if pd.api.types.is_float_dtype(series):
        return series.map(_float_text).astype(str)
    if pd.api.types.is_integer_dtype(series):
        return series.astype(str).where(series.notna().to_numpy(), "")
    if pd.api.types.is_string_dtype(series) and series.dtype != object:
        return series.fillna("").astype(str)
    return series.map(_object_text).astype(str)


def _object_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, list | tuple | np.ndarray):
        return ";".join(_object_text(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return _cell_text(value)


# --------------------------------------------------------------------------- columns


def _normal_header(header: str) -> str:
    """Header as compared with the standard names: case-folded, whitespace runs → ``_``."""
    return "_".join(header.casefold().split())


def _resolve_columns(
    headers: list[str], mapping: Mapping[str, str], *, file: Path, need_category: bool
) -> dict[str, str]:
    """Map each register header to its output column name (explicit mapping first)."""
    renames: dict[str, str] = {}
    for wanted, target in mapping.items():
        exact = [h for h in headers if h == wanted]
        loose = exact or [h for h in headers if _normal_header(h) == _normal_header(wanted)]
        if len(loose) != 1:
            problem = "is not in the file" if not loose else f"matches several columns {loose}"
            msg = (
                f"{file}: mapped column {wanted!r} (→ {target!r}) {problem} "
                f"(expected one of the columns found: {headers})"
            )
            raise RegisterError(msg)
        renames[loose[0]] = target.strip()
    for header in headers:
        if header not in renames:
            normal = _normal_header(header)
            if normal in STANDARD_COLUMNS:
                renames[header] = normal
            elif header in RESERVED_COLUMNS:
                renames[header] = f"origin_{header}"
            else:
                renames[header] = header
    by_target: dict[str, list[str]] = {}
    for header, target in renames.items():
        by_target.setdefault(target, []).append(header)
    clashes = {t: hs for t, hs in by_target.items() if len(hs) > 1}
    if clashes:
        target, clashing = next(iter(clashes.items()))
        msg = (
            f"{file}: columns {clashing} would all become {target!r} "
            f"(expected one column per name; map or rename the others with columns={{...}})"
        )
        raise RegisterError(msg)
    reserved = [h for h, t in renames.items() if t in RESERVED_COLUMNS]
    if reserved:
        header = reserved[0]
        msg = (
            f"{file}: column {header!r} is mapped to the reserved name {renames[header]!r}, "
            f"which assetmap fills itself (expected any name but {', '.join(RESERVED_COLUMNS)})"
        )
        raise RegisterError(msg)
    required = ["name", "category"] if need_category else ["name"]
    missing = [c for c in required if c not in by_target]
    if missing:
        optional = [c for c in STANDARD_COLUMNS if c not in required]
        msg = (
            f"{file}: missing required column(s) {missing} (expected columns: "
            f"{', '.join(required)} (required); {', '.join(optional)} (optional); "
            f"found: {headers}); map your headers, e.g. columns={{'Organisation': 'name'}}"
            + ("" if not need_category or "category" not in missing else ", or give category=")
        )
        raise RegisterError(msg)
    return renames


def _check_default_category(category: str | None, *, kind: str, file: Path) -> str | None:
    if category is None:
        return None
    normal = _token(category)
    allowed = schema.categories(kind)
    if normal not in allowed:
        msg = f"{file.name}: category {category!r} is not a {kind} category (expected one of: {', '.join(allowed)})"
        raise RegisterError(msg)
    return normal


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


def _slug(text: str) -> str:
    slug = re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")
    return slug or "asset"


# --------------------------------------------------------------------------- checks


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


# --------------------------------------------------------------------------- output


def _assemble(
    cells: pd.DataFrame,
    accepted: npt.NDArray[np.bool_],
    *,
    ids: pd.Series,
    name: pd.Series,
    kind: str,
    category: pd.Series,
    postcode: pd.Series,
    capacity: npt.NDArray[np.float64],
    personal: npt.NDArray[np.bool_],
    source: str,
    lines: npt.NDArray[np.int64],
    points: npt.NDArray[np.object_] | None,
    footprints: npt.NDArray[np.object_] | None,
) -> gpd.GeoDataFrame:
    keep = cells[accepted].reset_index(drop=True)
    index = pd.Index(ids[accepted].to_numpy(dtype=object), dtype=str, name=schema.ASSET_ID)
    n = len(keep)
    if "tags" in keep:  # one list per row, never one list shared by several rows
        tags = [list(row_tags) for row_tags in _per_value(keep["tags"], _tag_list)]
    else:
        tags = [[] for _ in range(n)]
    data: dict[str, Any] = {
        "name": name[accepted].to_numpy(dtype=object),
        "kind": np.full(n, kind, dtype=object),
        "category": category[accepted].to_numpy(dtype=object),
        "tags": pd.Series(tags, dtype=object).to_numpy(dtype=object)
        if n
        else np.empty(0, dtype=object),
        "postcode": postcode[accepted].to_numpy(dtype=object),
        "capacity": capacity[accepted],
        "personal": personal[accepted],
        "source": np.full(n, source, dtype=object),
        "source_line": lines[accepted],
    }
    frame = pd.DataFrame(data, index=index)
    for column in ("name", "kind", "category", "postcode", "source"):
        frame[column] = frame[column].astype(str)
    frame["capacity"] = frame["capacity"].astype(np.float64)
    frame["personal"] = frame["personal"].astype(bool)
    frame["source_line"] = frame["source_line"].astype(np.int64)
    consumed = {schema.ASSET_ID, "kind", *schema.ASSET_COLUMNS}
    ordered = [c for c in (*schema.COORD_COLUMNS, *schema.EXTRA_COLUMNS) if c in keep]
    ordered += [c for c in keep.columns if c not in consumed and c not in ordered]
    for column in ordered:
        frame[column] = pd.Series(keep[column].to_numpy(dtype=object), index=index, dtype=str)
    if points is None:
        geometry = gpd.GeoSeries([None] * n, index=index, crs=schema.CRS_WGS84)
    else:
        geometry = gpd.GeoSeries(points[accepted], index=index, crs=schema.CRS_WGS84)
        assert footprints is not None
        frame["footprint"] = gpd.GeoSeries(footprints[accepted], index=index, crs=schema.CRS_WGS84)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=schema.CRS_WGS84)
