"""Read Code-Point Open (zip or CSV) and ONSPD files into raw postcode columns with statuses."""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from assetmap._errors import GeocodeError
from assetmap._postcode_text import _normalise_arrow, _valid_mask

#: Look-up statuses; the position in this tuple is the internal status code.
STATUSES: Final = (
    "ok",
    "postcode_terminated",
    "postcode_no_coordinates",
    "empty",
    "postcode_malformed",
    "postcode_not_found",
    "postcode_outside_coverage",
)
_OK, _TERMINATED, _NO_COORDINATES, _EMPTY, _MALFORMED, _NOT_FOUND, _OUTSIDE = range(7)
#: Column order of the Code-Point Open CSVs (Doc/Code-Point_Open_Column_Headers.csv).
CODEPOINT_COLUMNS: Final = (
    "Postcode",
    "Positional_quality_indicator",
    "Eastings",
    "Northings",
    "Country_code",
    "NHS_regional_HA_code",
    "NHS_HA_code",
    "Admin_county_code",
    "Admin_district_code",
    "Admin_ward_code",
)
#: Short names in the first row of Doc/Code-Point_Open_Column_Headers.csv.
_CODEPOINT_SHORT: Final = {
    "PC": "Postcode",
    "PQ": "Positional_quality_indicator",
    "EA": "Eastings",
    "NO": "Northings",
}
_ONSPD_COLUMNS: Final = ("pcd", "doterm", "oseast1m", "osnrth1m", "osgrdind", "lat", "long")
_CODEPOINT_PQI_NO_COORDINATES: Final = 90
_ONSPD_NO_GRID: Final = 9
_CODEPOINT_ATTRIBUTION: Final = (
    "Contains OS data © Crown copyright and database right{year}.\n"
    "Contains Royal Mail data © Royal Mail copyright and database right{year}.\n"
    "Contains National Statistics data © Crown copyright and database right{year}."
)
_ONSPD_ATTRIBUTION: Final = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0.\n"
    "Contains OS data © Crown copyright and database right.\n"
    "Contains Royal Mail data © Royal Mail copyright and database right."
)


@dataclass(frozen=True)
class _Source:
    """What a directory file is and how to read it."""

    kind: str  # "codepoint" | "onspd"
    layout: str  # "zip" | "csv"
    name: str
    coverage: str
    attribution: str
    is_extract: bool


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _bng_to_wgs84(
    easting: npt.NDArray[np.float64], northing: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """EPSG:27700 → EPSG:4326 (lon, lat) with pyproj, in chunks on a few threads."""
    return _transform(27700, 4326, easting, northing)


def _transform(
    source: int, target: int, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    from pyproj import Transformer

    def convert(part: slice) -> tuple[Any, Any]:
        # A Transformer per thread: PROJ contexts are not shared between threads.
        transformer = Transformer.from_crs(source, target, always_xy=True)
        return transformer.transform(x[part], y[part])

    bounds = np.linspace(0, len(x), _workers() + 1).astype(int)
    parts = [slice(a, b) for a, b in itertools.pairwise(bounds)]
    if len(x) < 50_000:
        parts = [slice(0, len(x))]
    with ThreadPoolExecutor(len(parts)) as pool:
        results = list(pool.map(convert, parts))
    out_x = np.concatenate([np.asarray(r[0], dtype=np.float64) for r in results])
    out_y = np.concatenate([np.asarray(r[1], dtype=np.float64) for r in results])
    return out_x, out_y


def _detect(path: Path) -> _Source:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(_is_area_file(n) for n in names):
                msg = f"{path}: a zip without Data/CSV/*.csv area files (expected Code-Point Open codepo_gb.zip as downloaded)"
                raise GeocodeError(msg)
            metadata = _zip_text(archive, "Doc/metadata.txt")
            licence = _zip_text(archive, "Doc/licence.txt")
        version = _metadata_value(metadata, "DATASET VERSION NUMBER")
        return _Source(
            "codepoint",
            "zip",
            f"Code-Point Open {version}" if version else "Code-Point Open",
            "GB",
            _codepoint_attribution(licence, metadata),
            is_extract=False,
        )
    header = _first_row(path)
    lowered = [field.strip().lower() for field in header]
    if {"pcd", "oseast1m", "osnrth1m"} <= set(lowered):
        return _Source("onspd", "csv", "ONSPD", "UK", _ONSPD_ATTRIBUTION, is_extract=False)
    first = header[0] if header else ""
    looks_codepoint = len(header) >= 4 and (
        first.strip().lower() in {"postcode", "pc"}
        or bool(_valid_mask(_normalise_arrow(pa.array([first], pa.large_string())))[0])
    )
    if not looks_codepoint:
        msg = (
            f"{path}, line 1, column 1: {first!r} is neither a postcode (a Code-Point Open CSV "
            f"with no header) nor an ONSPD header (expected columns {', '.join(_ONSPD_COLUMNS)})"
        )
        raise GeocodeError(msg)
    metadata = _sidecar_text(path.parent / "metadata.txt")
    licence = _sidecar_text(path.parent / "licence.txt")
    version = _metadata_value(metadata, "DATASET VERSION NUMBER")
    name = f"Code-Point Open {version} extract" if version else "Code-Point Open extract"
    return _Source(
        "codepoint", "csv", name, "GB", _codepoint_attribution(licence, metadata), is_extract=True
    )


def _is_area_file(name: str) -> bool:
    return name.startswith("Data/CSV/") and name.lower().endswith(".csv")


def _zip_text(archive: zipfile.ZipFile, name: str) -> str:
    try:
        raw = archive.read(name)
    except KeyError:
        return ""
    return _decode(raw)


def _sidecar_text(path: Path) -> str:
    return _decode(path.read_bytes()) if path.is_file() else ""


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")  # the publisher's licence.txt is Windows-1252


def _metadata_value(metadata: str, key: str) -> str:
    match = re.search(rf"^{re.escape(key)}:\s*(\S.*?)\s*$", metadata, flags=re.MULTILINE)
    return match.group(1) if match else ""


def _codepoint_attribution(licence: str, metadata: str) -> str:
    lines = [line.strip() for line in licence.splitlines() if line.strip().startswith("Contains")]
    if lines:
        return "\n".join(lines)
    year = _metadata_value(metadata, "COPYRIGHT DATE")[:4]
    return _CODEPOINT_ATTRIBUTION.format(year=f" {year}" if year else "")


def _first_row(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    text = _decode(head) if head else ""
    line = text.splitlines()[0] if text else ""
    return next(csv.reader([line]), [])


def _codepoint_names(header: Sequence[str]) -> list[str]:
    """Full Code-Point column names from a header row (full or short names)."""
    return [_CODEPOINT_SHORT.get(name.strip(), name.strip()) for name in header]


def _read_codepoint_zip(path: Path, *, progress: bool) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        entries = sorted(n for n in archive.namelist() if _is_area_file(n))
        headers = _zip_text(archive, "Doc/Code-Point_Open_Column_Headers.csv")
        metadata = _zip_text(archive, "Doc/metadata.txt")
    rows = [r for r in csv.reader(io.StringIO(headers)) if r]
    names = _codepoint_names(rows[-1]) if rows else list(CODEPOINT_COLUMNS)
    bar = _progress_bar(len(entries), "Code-Point Open area files", enabled=progress)

    def read_areas(chunk: list[str]) -> list[tuple[str, pa.Table]]:
        tables = []
        with zipfile.ZipFile(path) as archive:  # one handle per thread
            for entry in chunk:
                try:
                    tables.append(
                        (entry, _parse_codepoint(archive.read(entry), names, skip_rows=0))
                    )
                except pa.ArrowInvalid as exc:
                    msg = f"{path}!{entry}: not a Code-Point Open area file ({exc}); expected no header and the columns {', '.join(names)}"
                    raise GeocodeError(msg) from exc
                bar(1)
        return tables

    workers = _workers()
    with ThreadPoolExecutor(workers) as pool:
        done = [
            t
            for part in pool.map(read_areas, [entries[i::workers] for i in range(workers)])
            for t in part
        ]
    bar(0, close=True)
    done.sort(key=lambda pair: pair[0])
    _check_area_counts(path, [e for e, _ in done], [t.num_rows for _, t in done], metadata)
    return _codepoint_columns(pa.concat_tables([t for _, t in done]))


def _progress_bar(total: int, label: str, *, enabled: bool) -> Callable[..., None]:
    if not enabled:
        return lambda step, close=False: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=label, unit="file")

    def update(step: int, close: bool = False) -> None:
        bar.update(step)
        if close:
            bar.close()

    return update


def _check_area_counts(path: Path, entries: list[str], counts: list[int], metadata: str) -> None:
    """Compare rows per area file with the counts the publisher lists in ``Doc/metadata.txt``."""
    expected = {
        m.group(1).lower(): int(m.group(2))
        for m in re.finditer(r"^\s+([A-Z]{1,2})\s+(\d+)\s*$", metadata, flags=re.MULTILINE)
    }
    for entry, count in zip(entries, counts, strict=True):
        area = Path(entry).stem.lower()
        if area in expected and expected[area] != count:
            msg = f"{path}!{entry}: {count} rows, but Doc/metadata.txt lists {expected[area]} for area {area.upper()} (truncated or altered download?)"
            raise GeocodeError(msg)


def _read_codepoint_csv(path: Path) -> dict[str, Any]:
    header = _first_row(path)
    has_header = header[0].strip().lower() in {"postcode", "pc"}
    names = _codepoint_names(header) if has_header else list(CODEPOINT_COLUMNS)
    if not has_header and len(header) != len(names):
        names = [*CODEPOINT_COLUMNS[: len(header)]] + [
            f"column_{i}" for i in range(len(CODEPOINT_COLUMNS), len(header))
        ]
    try:
        table = _parse_codepoint(path.read_bytes(), names, skip_rows=int(has_header))
    except pa.ArrowInvalid as exc:
        msg = f"{path}: not a Code-Point Open CSV ({exc}); expected the columns {', '.join(names)}"
        raise GeocodeError(msg) from exc
    return _codepoint_columns(table)


def _parse_codepoint(raw: bytes, names: Sequence[str], *, skip_rows: int) -> pa.Table:
    wanted = CODEPOINT_COLUMNS[:4]
    missing = [c for c in wanted if c not in names]
    if missing:
        msg = f"Code-Point Open columns {missing} not found among {list(names)}"
        raise GeocodeError(msg)
    return pa_csv.read_csv(
        pa.py_buffer(raw),
        read_options=pa_csv.ReadOptions(
            column_names=list(names), skip_rows=skip_rows, use_threads=False
        ),
        convert_options=pa_csv.ConvertOptions(
            include_columns=list(wanted),
            column_types={
                "Postcode": pa.large_string(),
                "Positional_quality_indicator": pa.int16(),
                "Eastings": pa.float64(),
                "Northings": pa.float64(),
            },
        ),
    )


def _codepoint_columns(table: pa.Table) -> dict[str, Any]:
    quality = pc.fill_null(table["Positional_quality_indicator"], 0).to_numpy()
    easting = pc.fill_null(table["Eastings"], np.nan).to_numpy()
    northing = pc.fill_null(table["Northings"], np.nan).to_numpy()
    status = np.where(quality == _CODEPOINT_PQI_NO_COORDINATES, _NO_COORDINATES, _OK)
    return {
        "postcode": table["Postcode"].combine_chunks(),
        "easting": easting,
        "northing": northing,
        "quality": quality,
        "status": status.astype(np.int8),
    }


def _read_onspd(path: Path) -> dict[str, Any]:
    """ONSPD: ``doterm`` set → terminated; ``osgrdind`` 9 or no easting → no coordinates.

    Northern Ireland grid references in ONSPD are Irish Grid, so for BT postcodes the
    published lat/long are kept and the British National Grid point is projected from them.
    """
    header = {name.strip().lower(): name for name in _first_row(path)}
    missing = [name for name in _ONSPD_COLUMNS if name not in header]
    if missing:
        msg = f"{path}, line 1: ONSPD header lacks {', '.join(missing)} (expected {', '.join(_ONSPD_COLUMNS)})"
        raise GeocodeError(msg)
    types = {
        "pcd": pa.large_string(),
        "doterm": pa.string(),
        "oseast1m": pa.float64(),
        "osnrth1m": pa.float64(),
        "osgrdind": pa.int16(),
        "lat": pa.float64(),
        "long": pa.float64(),
    }
    try:
        table = pa_csv.read_csv(
            path,
            convert_options=pa_csv.ConvertOptions(
                include_columns=[header[name] for name in _ONSPD_COLUMNS],
                column_types={header[name]: kind for name, kind in types.items()},
            ),
        ).rename_columns(list(_ONSPD_COLUMNS))
    except pa.ArrowInvalid as exc:
        msg = f"{path}: not an ONSPD CSV ({exc}); expected {', '.join(_ONSPD_COLUMNS)} with numeric oseast1m, osnrth1m, osgrdind, lat and long"
        raise GeocodeError(msg) from exc
    postcode = table["pcd"].combine_chunks()
    easting = np.array(pc.fill_null(table["oseast1m"], np.nan).to_numpy(), dtype=np.float64)
    northing = np.array(pc.fill_null(table["osnrth1m"], np.nan).to_numpy(), dtype=np.float64)
    grid = pc.fill_null(table["osgrdind"], 0).to_numpy()
    terminated = pc.not_equal(pc.fill_null(table["doterm"], ""), "").to_numpy(zero_copy_only=False)
    no_coordinates = (grid == _ONSPD_NO_GRID) | ~np.isfinite(easting) | ~np.isfinite(northing)
    status = np.select([terminated, no_coordinates], [_TERMINATED, _NO_COORDINATES], _OK)
    lat = np.full(len(postcode), np.nan)
    lon = np.full(len(postcode), np.nan)
    irish = pc.starts_with(pc.utf8_upper(pc.utf8_trim_whitespace(postcode)), "BT").to_numpy(
        zero_copy_only=False
    ) & (status == _OK)
    if irish.any():
        lat[irish] = pc.fill_null(table["lat"], np.nan).to_numpy()[irish]
        lon[irish] = pc.fill_null(table["long"], np.nan).to_numpy()[irish]
        easting[irish], northing[irish] = _transform(4326, 27700, lon[irish], lat[irish])
    return {
        "postcode": postcode,
        "easting": easting,
        "northing": northing,
        "quality": grid,
        "status": status.astype(np.int8),
        "lat": lat,
        "lon": lon,
    }
