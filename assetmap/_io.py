"""Atomic file output and frame writers chosen by extension (RELIABILITY §4.3)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import geopandas as gpd
import pandas as pd

#: Leading characters that make a spreadsheet treat a text cell as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", **kwargs: object
) -> Iterator[IO[str]]:
    """Open a temporary file beside ``path`` and move it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        with open(tmp, mode, **kwargs) as fh:  # type: ignore[call-overload]
            yield fh
        _default_mode(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _default_mode(path: str | os.PathLike[str]) -> None:
    """Give a temp file the mode a plain ``open()`` would have (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_path(path: str | os.PathLike[str]) -> contextlib.AbstractContextManager[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` when the block succeeds."""

    @contextlib.contextmanager
    def _ctx() -> Iterator[Path]:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent
        )
        os.close(fd)
        os.unlink(tmp)
        try:
            yield Path(tmp)
            if Path(tmp).is_file():
                _default_mode(tmp)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    return _ctx()


def sha256_of(path: str | os.PathLike[str], *, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks (cache keys, manifests, downloads)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy whose text cells cannot run as spreadsheet formulas.

    Text starting with ``= + - @`` (or tab/CR) gets a leading apostrophe, the OWASP
    advice for CSV injection; numbers are left alone.
    """
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            text = series.astype("string")
            risky = text.str.startswith(_FORMULA_PREFIXES).fillna(False)
            if risky.any():
                out[column] = series.where(~risky, "'" + text)
    return out


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], *, index: bool = False) -> None:
    """Write ``frame`` as UTF-8 CSV atomically, with formula-looking text cells neutralised."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        excel_safe(frame).to_csv(fh, index=index)


def write_frame(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a (Geo)DataFrame by extension: .geojson/.json, .gpkg, .parquet, .csv.

    Geometry is written as WKT in CSV; the index is kept as a column where it is named.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    data = frame.reset_index() if frame.index.name else frame
    if suffix == ".csv":
        if isinstance(data, gpd.GeoDataFrame):
            flat = _as_gdf(data)
            data = pd.DataFrame(flat).assign(**{flat.geometry.name: flat.geometry.to_wkt()})
        data = data.apply(lambda s: s.map(_list_to_text) if s.dtype == object else s)
        write_csv(data, target)
        return
    with atomic_path(target) as tmp:
        if suffix in {".geojson", ".json"}:
            _as_gdf(data).to_file(tmp, driver="GeoJSON", layer=target.stem)
        elif suffix == ".gpkg":
            _as_gdf(data).to_file(tmp, driver="GPKG", layer=target.stem)
        elif suffix == ".parquet":
            data.to_parquet(tmp)
        else:
            msg = f"cannot write {target}: unknown extension {suffix!r} (expected .geojson, .gpkg, .parquet or .csv)"
            raise ValueError(msg)


def _as_gdf(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """One active geometry column; other geometry columns (e.g. ``footprint``) become WKT."""
    data = frame.copy() if isinstance(frame, gpd.GeoDataFrame) else gpd.GeoDataFrame(frame)
    active = data.geometry.name
    for column in data.columns:
        if column == active:
            continue
        series = data[column]
        if isinstance(series.dtype, gpd.array.GeometryDtype):
            data[column] = gpd.GeoSeries(series).to_wkt()
        elif series.dtype == object:
            data[column] = series.map(_list_to_text)
    return data


def _list_to_text(value: object) -> object:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value
