"""UK postcodes: normalise and validate (BS 7666); an offline directory (Code-Point Open, ONSPD).

Normalised form (RELIABILITY §1.3): Unicode NFKC, every whitespace (Unicode ``White_Space``) and
format character (category ``Cf``: zero-width space, BOM, word joiner …) removed, upper case, then
one space before the 3-character inward code (``" b66\u00a02qt"`` → ``"B66 2QT"``).

The directory keeps each unit postcode as an 8-byte key (the normalised text right-aligned and
padded with spaces, read as a big-endian ``uint64``), so a look-up is one hash probe per row. Coordinates are British
National Grid (EPSG:27700, metres) and WGS84 (EPSG:4326, degrees) converted once with pyproj.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assetmap import _paths
from assetmap._errors import DataError, GeocodeError
from assetmap._io import atomic_path, sha256_of
from assetmap._postcode_readers import (
    _EMPTY,
    _MALFORMED,
    _NO_COORDINATES,
    _NOT_FOUND,
    _OK,
    _OUTSIDE,
    STATUSES,
    _bng_to_wgs84,
    _detect,
    _read_codepoint_csv,
    _read_codepoint_zip,
    _read_onspd,
)
from assetmap._postcode_readers import CODEPOINT_COLUMNS as CODEPOINT_COLUMNS
from assetmap._postcode_text import (
    BS7666_PATTERN,
    IntArray,
    UInt64Array,
    _key_area,
    _normalise_arrow,
    _postcode_keys,
    _to_arrow,
    _unpack_keys,
    is_valid_postcode,
    normalise_postcode,
    postcode_parts,
)
from assetmap._postcode_text import BoolArray as BoolArray
from assetmap._postcode_text import _normalise_unicode as _normalise_unicode
from assetmap._postcode_text import _vanishing_bmp as _vanishing_bmp

__all__ = [
    "BS7666_PATTERN",
    "STATUSES",
    "PostcodeDirectory",
    "is_valid_postcode",
    "normalise_postcode",
    "postcode_parts",
]

log = logging.getLogger(__name__)

#: Postcode areas Code-Point Open (Great Britain) does not cover.
OUTSIDE_GB_AREAS: Final = ("BT", "IM", "GY", "JE")
# Odd multiplier (a bijection on uint64) that spreads the ASCII-packed keys over the hash table.
_KEY_MIX: Final = np.uint64(0x9E3779B97F4A7C15)

_INDEX_FORMAT: Final = 2
_META_KEY: Final = b"assetmap.postcodes"
#: The packaged GB extract used when the full Code-Point Open zip is not installed.
EXTRACT_PATH: Final = _paths.PACKAGE_DATA / "postcodes" / "codepoint_extract.csv"


# --------------------------------------------------------------------------- the directory


class PostcodeDirectory:
    """An offline unit-postcode directory: Code-Point Open (GB) or ONSPD (UK).

    Build one with :meth:`from_path` or :meth:`default`; look postcodes up with :meth:`lookup`.

    Attributes
    ----------
    name
        E.g. ``"Code-Point Open 2025.4.0"``, ``"ONSPD"``, ``"Code-Point Open extract"``.
    kind
        ``"codepoint"`` or ``"onspd"``.
    coverage
        ``"GB"`` (Code-Point Open) or ``"UK"`` (ONSPD).
    attribution
        The attribution lines the product's licence requires, one per line.
    path
        The source file (or index ``.parquet``) the directory came from.
    is_extract
        True for a partial Code-Point CSV (e.g. the packaged extract), not the full GB zip.
    source_sha256
        sha256 of the source file; the cached index is keyed by it.
    """

    def __init__(self, index: pa.Table, *, path: Path | None = None) -> None:
        """Wrap an index table written by :meth:`from_path` (use that, or :meth:`default`)."""
        meta = json.loads(index.schema.metadata[_META_KEY])
        self.name: str = meta["name"]
        self.kind: str = meta["kind"]
        self.coverage: str = meta["coverage"]
        self.attribution: str = meta["attribution"]
        self.is_extract: bool = bool(meta["is_extract"])
        self.source_sha256: str = meta["source_sha256"]
        self.path: Path | None = path
        self._keys: UInt64Array = index["key"].to_numpy()
        self._easting = index["easting"].to_numpy()
        self._northing = index["northing"].to_numpy()
        self._lat = index["lat"].to_numpy()
        self._lon = index["lon"].to_numpy()
        self._quality = index["quality"].to_numpy()
        self._status = index["status"].to_numpy()
        self._hash: pd.Index | None = None  # built on the first large look-up

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        cache_dir: Path | None = None,
        progress: bool = False,
    ) -> PostcodeDirectory:
        """Open a directory file, building its index once into a Parquet cache.

        Parameters
        ----------
        path
            ``codepo_gb.zip`` as downloaded (``Data/CSV/*.csv``, ``Doc/``), one Code-Point Open
            CSV (no header, the publisher's 10 columns), an ONSPD CSV (with its header) or an
            index ``.parquet`` written by this class.
        cache_dir
            Where built indexes are kept, keyed by the source file's sha256 (default
            ``assetmap._paths.cache_dir() / "postcodes"``).
        progress
            Show a progress bar while reading the area files of a zip.

        Raises
        ------
        GeocodeError
            The file is missing, unreadable, or in none of the layouts above.
        """
        source_path = Path(path)
        if not source_path.is_file():
            msg = f"postcode directory {source_path} does not exist (expected codepo_gb.zip, a Code-Point Open or ONSPD CSV, or an index .parquet)"
            raise GeocodeError(msg)
        if source_path.suffix.lower() == ".parquet":
            return cls(_read_index(source_path), path=source_path)
        digest = sha256_of(source_path)
        folder = cache_dir if cache_dir is not None else _paths.cache_dir() / "postcodes"
        cached = Path(folder) / f"{digest[:32]}-v{_INDEX_FORMAT}.parquet"
        if cached.is_file():
            try:
                index = _read_index(cached, expect_sha256=digest)
            except GeocodeError as exc:
                log.warning("rebuilding postcode index: %s", exc)
            else:
                log.debug("loaded cached postcode index %s for %s", cached, source_path)
                return cls(index, path=source_path)
        start = time.perf_counter()
        index = _build_index(source_path, digest, progress=progress)
        try:
            with atomic_path(cached) as tmp:
                # lz4 without dictionaries: the cached load stays well under 0.3 s.
                pq.write_table(
                    index, tmp, compression="lz4", use_dictionary=False, write_statistics=False
                )
        except OSError as exc:  # a read-only cache still leaves a working directory
            log.warning("could not cache the postcode index at %s: %s", cached, exc)
        else:
            for stale in cached.parent.glob(f"{digest[:32]}-v*.parquet"):
                if stale != cached:  # the same source in an older index format
                    stale.unlink(missing_ok=True)
        log.info(
            "built postcode index of %s (%d postcodes) in %.1f s → %s",
            source_path,
            index.num_rows,
            time.perf_counter() - start,
            cached,
        )
        return cls(index, path=source_path)

    @classmethod
    def default(cls) -> PostcodeDirectory:
        """The installed Code-Point Open zip, else the extract packaged with assetmap.

        Looks for ``assetmap._paths.data_dir()/codepoint_gb/codepo_gb.zip`` (installed by
        ``make data``), then :data:`EXTRACT_PATH`; logs which one it uses.

        Raises
        ------
        DataError
            Neither file exists.
        """
        full = _paths.data_dir() / "codepoint_gb" / "codepo_gb.zip"
        if full.is_file():
            log.info("postcode directory: Code-Point Open (GB) from %s", full)
            return cls.from_path(full)
        if EXTRACT_PATH.is_file():
            log.info(
                "postcode directory: packaged Code-Point Open extract %s (run `make data` for all of GB)",
                EXTRACT_PATH,
            )
            return cls.from_path(EXTRACT_PATH)
        msg = f"no postcode directory: neither {full} (run `make data`) nor the packaged extract {EXTRACT_PATH} exists"
        raise DataError(msg)

    # ----------------------------------------------------------------- queries

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, postcode: object) -> bool:
        if not isinstance(postcode, str):
            return False
        keys, valid, _ = _postcode_keys(_normalise_arrow(_to_arrow(pd.Series([postcode]))))
        return bool(valid[0]) and bool(self._positions(keys)[0] >= 0)

    def __repr__(self) -> str:
        return f"PostcodeDirectory({self.name!r}: {len(self):,} postcodes, {self.coverage})"

    def lookup(self, postcodes: pd.Series) -> pd.DataFrame:
        """Normalise, validate and locate postcodes.

        Parameters
        ----------
        postcodes
            Postcodes as typed (any spacing, case, NBSP or zero-width characters).

        Returns
        -------
        pandas.DataFrame
            Aligned to ``postcodes.index``, with ``postcode`` (normalised), ``status`` (one of
            :data:`STATUSES`), ``easting``, ``northing`` (EPSG:27700, metres), ``lat``, ``lon``
            (EPSG:4326, degrees) — NaN unless status is ``"ok"`` — and ``quality`` (Int64:
            Code-Point positional quality 10–90 or ONSPD ``osgrdind`` 1–9; NA when not found).
        """
        if not isinstance(postcodes, pd.Series):
            postcodes = pd.Series(postcodes)
        text = _normalise_arrow(_to_arrow(postcodes))
        keys, valid, empty = _postcode_keys(text)
        positions = np.full(len(keys), -1, dtype=np.int64)
        positions[valid] = self._positions(keys[valid])
        found = positions >= 0
        status = np.full(len(keys), _NOT_FOUND, dtype=np.int8)
        status[empty] = _EMPTY
        status[~valid & ~empty] = _MALFORMED
        status[found] = self._status[positions[found]]
        if self.coverage == "GB":
            areas = np.frombuffer("".join(OUTSIDE_GB_AREAS).encode("ascii"), dtype="<u2")
            missing = np.flatnonzero(valid & ~found)
            status[missing[np.isin(_key_area(keys[missing]), areas)]] = _OUTSIDE
        ok = np.flatnonzero(status == _OK)
        at = positions[ok]
        coords = {}
        for column, values in (
            ("easting", self._easting),
            ("northing", self._northing),
            ("lat", self._lat),
            ("lon", self._lon),
        ):
            out = np.full(len(keys), np.nan)
            out[ok] = values[at]
            coords[column] = out
        quality = np.zeros(len(keys), dtype=np.int64)
        quality[found] = self._quality[positions[found]]
        status_text = pc.take(pa.array(STATUSES, type=pa.large_string()), pa.array(status))
        index = postcodes.index
        return pd.DataFrame(
            {
                "postcode": pd.Series(text, index=index, dtype="str"),
                "status": pd.Series(status_text, index=index, dtype="str"),
                **{k: pd.Series(v, index=index) for k, v in coords.items()},
                "quality": pd.Series(
                    pd.arrays.IntegerArray(quality, ~found | (quality == 0)), index=index
                ),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """Every postcode in the directory with its status, coordinates and quality.

        Returns
        -------
        pandas.DataFrame
            Columns ``postcode`` (normalised), ``status``, ``easting``, ``northing``
            (EPSG:27700, int32 metres; 0 where there are no coordinates), ``lat``, ``lon``
            (EPSG:4326; NaN where there are no coordinates) and ``quality`` (int8).
        """
        return pd.DataFrame(
            {
                "postcode": _unpack_keys(self._keys),
                "status": pd.Series(
                    pc.take(pa.array(STATUSES, type=pa.large_string()), pa.array(self._status)),
                    dtype="str",
                ),
                "easting": self._easting,
                "northing": self._northing,
                "lat": self._lat,
                "lon": self._lon,
                "quality": self._quality,
            }
        )

    def _positions(self, keys: UInt64Array) -> IntArray:
        """Row of each key in the index, -1 where absent."""
        if len(keys) == 0:
            return np.empty(0, dtype=np.int64)
        if self._hash is None and len(keys) * 4 < len(self._keys):
            # Few keys: binary search beats building the hash table.
            at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            return np.where(self._keys[at] == keys, at, -1).astype(np.int64)
        if self._hash is None:
            self._hash = pd.Index(self._keys * _KEY_MIX)
        return np.asarray(self._hash.get_indexer(pd.Index(keys * _KEY_MIX)), dtype=np.int64)


# --------------------------------------------------------------------------- index I/O


def _read_index(path: Path, *, expect_sha256: str | None = None) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        msg = f"{path}: not a readable postcode index ({exc})"
        raise GeocodeError(msg) from exc
    raw = (table.schema.metadata or {}).get(_META_KEY)
    meta = json.loads(raw) if raw else {}
    if meta.get("format") != _INDEX_FORMAT:
        msg = f"{path}: not a postcode index of format {_INDEX_FORMAT} written by assetmap (found {meta.get('format')!r})"
        raise GeocodeError(msg)
    if expect_sha256 is not None and meta.get("source_sha256") != expect_sha256:
        msg = f"{path}: built from another source file (sha256 {meta.get('source_sha256')}, expected {expect_sha256})"
        raise GeocodeError(msg)
    return table


def _build_index(path: Path, digest: str, *, progress: bool = False) -> pa.Table:
    """Read a Code-Point Open or ONSPD file into the compact, key-sorted index table."""
    source = _detect(path)
    if source.kind == "onspd":
        raw = _read_onspd(path)
    elif source.layout == "zip":
        raw = _read_codepoint_zip(path, progress=progress)
    else:
        raw = _read_codepoint_csv(path)
    columns = _index_columns(raw, path)
    meta = {
        "format": _INDEX_FORMAT,
        "name": source.name,
        "kind": source.kind,
        "coverage": source.coverage,
        "attribution": source.attribution,
        "is_extract": source.is_extract,
        "source_sha256": digest,
        "source_name": path.name,
    }
    schema = pa.schema(
        [
            ("key", pa.uint64()),
            ("easting", pa.int32()),
            ("northing", pa.int32()),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("quality", pa.int8()),
            ("status", pa.int8()),
        ],
        metadata={_META_KEY: json.dumps(meta).encode()},
    )
    return pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema)


def _index_columns(raw: dict[str, Any], path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """Keys, status and WGS84 coordinates from raw columns; sorted by key, duplicates dropped.

    ``raw`` holds ``postcode`` (arrow strings), ``easting``/``northing`` (float, NaN where
    missing, EPSG:27700), ``quality`` (int, 0 unknown), ``status`` (int8) and optionally
    ``lat``/``lon`` already in WGS84 for rows whose grid is not British (ONSPD Northern Ireland).
    """
    # A valid postcode is already in normalised form: only the others need normalising
    # (e.g. ONSPD's fixed-width "M1  1AD").
    keys, valid, _ = _postcode_keys(raw["postcode"])
    if not valid.all():
        redo = np.flatnonzero(~valid)
        text = _normalise_arrow(raw["postcode"].take(pa.array(redo)))
        keys[redo], valid[redo], _ = _postcode_keys(text)
        bad = np.flatnonzero(~valid[redo])
        if len(bad):
            log.warning(
                "%s: %d rows with a postcode that is not BS 7666 were left out (first %r)",
                path,
                len(bad),
                text[int(bad[0])].as_py(),
            )
    keys = keys[valid]
    easting = np.asarray(raw["easting"], dtype=np.float64)[valid]
    northing = np.asarray(raw["northing"], dtype=np.float64)[valid]
    status = np.asarray(raw["status"], dtype=np.int8)[valid]
    quality = np.asarray(raw["quality"], dtype=np.int8)[valid]
    lat = np.asarray(raw.get("lat", np.full(len(valid), np.nan)), dtype=np.float64)[valid]
    lon = np.asarray(raw.get("lon", np.full(len(valid), np.nan)), dtype=np.float64)[valid]
    in_grid = (
        np.isfinite(easting)
        & np.isfinite(northing)
        & (easting >= 0)
        & (easting <= 700_000)
        & (northing >= 0)
        & (northing <= 1_300_000)
    )
    project = (status == _OK) & in_grid & ~np.isfinite(lat)
    lon[project], lat[project] = _bng_to_wgs84(easting[project], northing[project])
    status[(status == _OK) & ~np.isfinite(lat)] = _NO_COORDINATES
    order = np.argsort(keys, kind="stable")  # publishers list postcodes nearly in key order
    if (keys[order][1:] == keys[order][:-1]).any():
        order = np.lexsort((status, keys))  # live rows first among duplicates
    keys, status = keys[order], status[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    if not first.all():
        log.warning("%s: %d duplicate postcodes left out", path, int((~first).sum()))
    keep = order[first]
    no_coords = status[first] != _OK
    columns: dict[str, np.ndarray[Any, Any]] = {
        "key": keys[first],
        "easting": np.where(no_coords, 0, np.nan_to_num(easting[keep])).round().astype(np.int32),
        "northing": np.where(no_coords, 0, np.nan_to_num(northing[keep])).round().astype(np.int32),
        "lat": np.where(no_coords, np.nan, lat[keep]),
        "lon": np.where(no_coords, np.nan, lon[keep]),
        "quality": quality[keep],
        "status": status[first],
    }
    return columns
