"""Read register files (CSV, XLSX, GeoJSON/GPKG, Parquet) into text cells before any checks."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Final, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from assetmap import schema
from assetmap._errors import RegisterError
from assetmap._register_checks import _quote

_Frame = TypeVar("_Frame", pd.DataFrame, gpd.GeoDataFrame)

#: Extensions read as delimited text.
TEXT_SUFFIXES: Final = (".csv", ".tsv", ".txt")
#: Extensions read as Excel workbooks (openpyxl).
EXCEL_SUFFIXES: Final = (".xlsx", ".xlsm")
#: Extensions read as vector data with geometry (pyogrio).
VECTOR_SUFFIXES: Final = (".geojson", ".json", ".gpkg")
#: Extensions read as Parquet (GeoParquet when it carries ``geo`` metadata).
PARQUET_SUFFIXES: Final = (".parquet",)
#: Every extension :func:`~assetmap.registers.read_assets` accepts.
SUFFIXES: Final = TEXT_SUFFIXES + EXCEL_SUFFIXES + VECTOR_SUFFIXES + PARQUET_SUFFIXES

#: The only delimiters a CSV is sniffed for, in order of preference on a tie.
DELIMITERS: Final = (",", ";", "\t", "|")
_UTF8_BOM = b"\xef\xbb\xbf"
_SAMPLE_CHARS = 65_536
_SAMPLE_RECORDS = 20
_RAGGED_VALUE_CHARS = 500


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
