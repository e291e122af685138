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

import logging
import re
from collections.abc import Mapping
from operator import itemgetter
from os import PathLike
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from assetmap import schema
from assetmap._errors import RegisterError
from assetmap._register_checks import FALSE_WORDS as FALSE_WORDS
from assetmap._register_checks import TRUE_WORDS as TRUE_WORDS
from assetmap._register_checks import (
    _asset_ids,
    _capacity,
    _categories,
    _dedup_keys,
    _duplicates,
    _geometry,
    _per_value,
    _personal,
    _tag_list,
    _token,
    _Verdicts,
)
from assetmap._register_readers import DELIMITERS as DELIMITERS
from assetmap._register_readers import EXCEL_SUFFIXES as EXCEL_SUFFIXES
from assetmap._register_readers import PARQUET_SUFFIXES as PARQUET_SUFFIXES
from assetmap._register_readers import SUFFIXES as SUFFIXES
from assetmap._register_readers import TEXT_SUFFIXES as TEXT_SUFFIXES
from assetmap._register_readers import VECTOR_SUFFIXES as VECTOR_SUFFIXES
from assetmap._register_readers import _read_raw

logger = logging.getLogger(__name__)

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


def _slug(text: str) -> str:
    slug = re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")
    return slug or "asset"


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
