"""UK postcodes: normalise and validate (BS 7666); an offline directory (Code-Point Open, ONSPD).

Normalised form (RELIABILITY §1.3): Unicode NFKC, every whitespace (Unicode ``White_Space``) and
format character (category ``Cf``: zero-width space, BOM, word joiner …) removed, upper case, then
one space before the 3-character inward code (``" b66\u00a02qt"`` → ``"B66 2QT"``).

The directory keeps each unit postcode as an 8-byte key (the normalised text right-aligned and
padded with spaces, read as a big-endian ``uint64``), so a look-up is one hash probe per row. Coordinates are British
National Grid (EPSG:27700, metres) and WGS84 (EPSG:4326, degrees) converted once with pyproj.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, overload

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from assetmap import _paths
from assetmap._errors import DataError, GeocodeError
from assetmap._io import atomic_path, sha256_of

__all__ = [
    "BS7666_PATTERN",
    "STATUSES",
    "PostcodeDirectory",
    "is_valid_postcode",
    "normalise_postcode",
    "postcode_parts",
]

log = logging.getLogger(__name__)

#: BS 7666 unit postcode on normalised text (UK Government Data Standards Catalogue).
BS7666_PATTERN: Final = (
    r"^(GIR 0AA|[A-PR-UWYZ]([0-9]{1,2}|([A-HK-Y][0-9]([0-9ABEHMNPRV-Y])?)|[0-9][A-HJKPS-UW])"
    r" [0-9][ABD-HJLNP-UW-Z]{2})$"
)
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
#: Postcode areas Code-Point Open (Great Britain) does not cover.
OUTSIDE_GB_AREAS: Final = ("BT", "IM", "GY", "JE")

# Unicode White_Space is [\t-\r \x85] plus the separators \p{Z}; \p{Cf} are the format chars.
_SPACE_OR_FORMAT: Final = r"[\t-\r\x85\p{Z}\p{Cf}]"
_MAX_UNICODE_PASSES: Final = 8
_KEY_BYTES: Final = 8
# Odd multiplier (a bijection on uint64) that spreads the ASCII-packed keys over the hash table.
_KEY_MIX: Final = np.uint64(0x9E3779B97F4A7C15)

_INDEX_FORMAT: Final = 2
_META_KEY: Final = b"assetmap.postcodes"
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
#: The packaged GB extract used when the full Code-Point Open zip is not installed.
EXTRACT_PATH: Final = _paths.PACKAGE_DATA / "postcodes" / "codepoint_extract.csv"

UInt64Array = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- normalising


@overload
def normalise_postcode(values: str) -> str: ...  # type: ignore[overload-overlap]
@overload
def normalise_postcode(values: pd.Series | Sequence[str]) -> pd.Series: ...
def normalise_postcode(values: pd.Series | Sequence[str] | str) -> pd.Series | str:
    """Normalise postcodes: NFKC, no whitespace/format chars, upper case, one space.

    Parameters
    ----------
    values
        One postcode, a sequence of them or a Series (any dtype; missing values allowed).

    Returns
    -------
    str or pandas.Series
        ``"B66 2QT"`` for ``" b66\u00a0 2qt\u200b"``; ``""`` for empty or missing values. A
        Series keeps the input's index and name and has the ``str`` dtype. Idempotent; the text
        is not validated (see :func:`is_valid_postcode`).
    """
    if isinstance(values, str):
        return str(_normalise_arrow(_to_arrow(pd.Series([values], dtype=object)))[0].as_py())
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    normalised = _normalise_arrow(_to_arrow(series))
    return pd.Series(normalised, index=series.index, name=series.name, dtype="str")


def is_valid_postcode(normalised: pd.Series) -> pd.Series:
    """Whether each normalised postcode matches the BS 7666 unit postcode pattern.

    Parameters
    ----------
    normalised
        Output of :func:`normalise_postcode` (raw text is tested as it stands).

    Returns
    -------
    pandas.Series
        Boolean, aligned to ``normalised.index``; missing values are ``False``.
    """
    valid = _valid_mask(_to_arrow(normalised))
    return pd.Series(valid, index=normalised.index, name=normalised.name, dtype=bool)


def postcode_parts(normalised: pd.Series) -> pd.DataFrame:
    """Split normalised postcodes into area, district, sector and unit.

    Parameters
    ----------
    normalised
        Output of :func:`normalise_postcode`.

    Returns
    -------
    pandas.DataFrame
        Columns ``area`` (``"B"``), ``district`` (``"B66"``), ``sector`` (``"B66 2"``) and
        ``unit`` (``"B66 2QT"``), ``str`` dtype, aligned to ``normalised.index``; ``""`` in
        every column where the postcode is not valid.
    """
    text = _to_arrow(normalised)
    unit = pc.if_else(pa.array(_valid_mask(text)), text, "")
    district = pc.utf8_slice_codeunits(unit, 0, -4)
    sector = pc.utf8_slice_codeunits(unit, 0, -2)
    area = pc.struct_field(pc.extract_regex(district, r"^(?P<area>[A-Z]*)"), [0])
    columns = {"area": area, "district": district, "sector": sector, "unit": unit}
    return pd.DataFrame(
        {name: pd.Series(col, index=normalised.index, dtype="str") for name, col in columns.items()}
    )


def _to_arrow(series: pd.Series) -> pa.LargeStringArray:
    """The Series as one large_string arrow array with missing values as ``""``."""
    dtype = series.dtype
    if not (pd.api.types.is_string_dtype(dtype) or dtype is np.dtype(object)) or isinstance(
        dtype, pd.CategoricalDtype
    ):
        series = series.astype("str")
    try:
        array = pa.array(series.array, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # object column holding numbers etc.
        array = pa.array(series.astype("str").array, type=pa.large_string(), from_pandas=True)
    except UnicodeEncodeError:  # lone surrogates cannot be UTF-8; they become "?" (malformed)
        text = series.astype(object).map(
            lambda v: v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v
        )
        array = pa.array(text.astype("str").array, type=pa.large_string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return pc.fill_null(array, "")


def _normalise_arrow(array: pa.LargeStringArray) -> pa.LargeStringArray:
    """Normalise an arrow string array.

    Rows that are ASCII once stray whitespace and format characters (NBSP, zero-width space,
    BOM …) are dropped are done on their bytes with numpy; the rest (letters with marks,
    full-width or other compatibility characters) with arrow's Unicode kernels.
    """
    array = pc.fill_null(array, "")
    if len(array) == 0:
        return array
    result, unicode_rows = _normalise_bytes(array)
    if len(unicode_rows) == 0:
        return result
    mask = np.zeros(len(array), dtype=bool)
    mask[unicode_rows] = True
    fixed = _normalise_unicode(array.take(pa.array(unicode_rows)))
    return pc.replace_with_mask(result, pa.array(mask), fixed)


def _string_buffers(array: pa.LargeStringArray) -> tuple[IntArray, npt.NDArray[np.uint8]]:
    """Offsets (from 0) and UTF-8 bytes of a large_string array without nulls."""
    if len(array) == 0:
        return np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.uint8)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.empty(0, np.uint8)
    )
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def _normalise_bytes(array: pa.LargeStringArray) -> tuple[pa.LargeStringArray, IntArray]:
    """Normalise strings on their UTF-8 bytes: drop whitespace, upper-case, add the space.

    Returns the normalised strings and the rows this cannot do, because something other than
    ASCII remains once vanishing characters (:func:`_vanishing_bmp`) are dropped; those rows
    are ``""`` in the result.
    """
    offsets, data = _string_buffers(array)
    drop = _ascii_space(data)
    unicode_rows = np.empty(0, dtype=np.int64)
    high = np.flatnonzero(data >= 0x80)
    if len(high):
        unicode_rows = _drop_vanishing(offsets, data, high, drop)
    dropped = np.flatnonzero(drop)
    if len(dropped):
        kept = _ascii_upper(data[~drop])
        starts = offsets - np.searchsorted(dropped, offsets)
    else:
        kept, starts = _ascii_upper(data), offsets
    spaced = np.diff(starts) > 3
    # Where each inserted space lands once the spaces before it have shifted the bytes.
    gaps = starts[1:][spaced] - 3
    gaps += np.arange(len(gaps), dtype=gaps.dtype)
    out = np.empty(len(kept) + len(gaps), dtype=np.uint8)
    is_gap = np.zeros(len(out), dtype=bool)
    is_gap[gaps] = True
    out[is_gap] = ord(" ")
    out[~is_gap] = kept
    new_offsets = starts.copy()
    np.cumsum(spaced, out=new_offsets[1:])
    new_offsets += starts
    result = pa.Array.from_buffers(
        pa.large_string(), len(array), [None, pa.py_buffer(new_offsets), pa.py_buffer(out)]
    )
    return result, unicode_rows


def _ascii_space(data: npt.NDArray[np.uint8]) -> BoolArray:
    """Bytes that are ASCII whitespace: space and tab to carriage return (0x09–0x0D)."""
    return np.asarray((data == 0x20) | ((data - np.uint8(0x09)) <= np.uint8(0x0D - 0x09)))


def _ascii_upper(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """ASCII a–z made A–Z; every other byte (UTF-8 lead and continuation bytes too) kept."""
    lower = (data - np.uint8(ord("a"))) <= np.uint8(25)
    return np.asarray(data - np.uint8(32) * lower, dtype=np.uint8)


def _drop_vanishing(
    offsets: IntArray, data: npt.NDArray[np.uint8], high: IntArray, drop: BoolArray
) -> IntArray:
    """Mark the bytes of vanishing 2- and 3-byte characters in ``drop``; every byte of rows that
    keep any other non-ASCII character is marked too. Returns those rows."""
    padded = np.concatenate([data, np.zeros(2, dtype=np.uint8)])
    lead = data[high]
    two = high[(lead >= 0xC2) & (lead <= 0xDF)]
    three = high[(lead >= 0xE0) & (lead <= 0xEF)]
    vanishing = _vanishing_bmp()

    def payload(at: IntArray, mask: int, shift: int) -> IntArray:
        return (padded[at].astype(np.int64) & mask) << shift

    code_two = payload(two, 0x1F, 6) | payload(two + 1, 0x3F, 0)
    code_three = (
        payload(three, 0x0F, 12) | payload(three + 1, 0x3F, 6) | payload(three + 2, 0x3F, 0)
    )
    two, three = two[vanishing[code_two]], three[vanishing[code_three]]
    for step in range(2):
        drop[two + step] = True
    for step in range(3):
        drop[three + step] = True
    left = high[~drop[high]]
    if len(left) == 0:
        return np.empty(0, dtype=np.int64)
    rows = np.unique(np.searchsorted(offsets, left, side="right") - 1)
    inside = np.zeros(len(data) + 1, dtype=np.int32)
    np.add.at(inside, offsets[rows], 1)
    np.add.at(inside, offsets[rows + 1], -1)
    drop |= np.cumsum(inside[:-1]).astype(bool)
    return rows


@functools.cache
def _vanishing_bmp() -> BoolArray:
    """Characters of the Basic Multilingual Plane that one normalising step removes entirely
    (non-ASCII whitespace and format characters), as a 65,536-entry table."""
    codes = np.array([c for c in range(0x80, 0x10000) if not 0xD800 <= c <= 0xDFFF])
    chars = pa.array([chr(c) for c in codes], type=pa.large_string())
    table = np.zeros(1 << 16, dtype=bool)
    table[codes] = pc.equal(_unicode_step(chars), "").to_numpy(zero_copy_only=False)
    return table


def _unicode_step(array: pa.LargeStringArray) -> pa.LargeStringArray:
    text = pc.utf8_normalize(array, "NFKC")
    text = pc.utf8_upper(pc.replace_substring_regex(text, _SPACE_OR_FORMAT, ""))
    spaced = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, -3),
        pc.utf8_slice_codeunits(text, -3),
        pa.scalar(" ", type=pa.large_string()),
    )
    return pc.if_else(pc.greater(pc.utf8_length(text), 3), spaced, text)


def _normalise_unicode(array: pa.LargeStringArray) -> pa.LargeStringArray:
    """Apply the normalising step until nothing changes.

    One step is not always idempotent on arbitrary Unicode: NFKC can produce spaces
    (``"¨"`` → ``" \u0308"``) and removing a format character can let marks compose.
    """
    current = _unicode_step(array)
    pending = np.flatnonzero(pc.not_equal(current, array).to_numpy(zero_copy_only=False))
    for _ in range(_MAX_UNICODE_PASSES):
        if len(pending) == 0:
            break
        before = current.take(pa.array(pending))
        after = _unicode_step(before)
        moved = pc.not_equal(after, before).to_numpy(zero_copy_only=False)
        if not moved.any():
            break
        mask = np.zeros(len(current), dtype=bool)
        mask[pending[moved]] = True
        current = pc.replace_with_mask(current, pa.array(mask), after.filter(pa.array(moved)))
        pending = pending[moved]
    return current


def _valid_mask(text: pa.LargeStringArray) -> BoolArray:
    valid = pc.match_substring_regex(pc.fill_null(text, ""), BS7666_PATTERN)
    return np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)


def _byte_class(chars: str) -> BoolArray:
    table = np.zeros(256, dtype=bool)
    table[list(chars.encode("ascii"))] = True
    return table


_SP = ord(" ")
_D = _byte_class("0123456789")
# The character classes of BS7666_PATTERN, as byte tables.
_A1 = _byte_class("ABCDEFGHIJKLMNOPRSTUWYZ")  # [A-PR-UWYZ]
_A2 = _byte_class("ABCDEFGHKLMNOPQRSTUVWXY")  # [A-HK-Y]
_A3 = _byte_class("ABCDEFGHJKPSTUW")  # [A-HJKPS-UW]
_A4 = _byte_class("ABEHMNPRVWXY")  # [ABEHMNPRV-Y]
_IN = _byte_class("ABDEFGHJLNPQRSTUWXYZ")  # [ABD-HJLNP-UW-Z]
# Tables over byte pairs (a little-endian uint16: first byte low). Keys hold the text
# right-aligned in 8 bytes ("  B1 1AA"): bytes 0-3 the outward code padded with spaces on the
# left, byte 4 the space, bytes 5-7 the inward code. The first outward pair gives the form the
# code can take (1 "A9", 2 "A99"/"AA9"/"A9A", 3 "AA99"/"AA9A"; 0 none), the second pair the
# forms it completes, as bits.
_PAIR_A = np.arange(1 << 16) & 0xFF
_PAIR_B = np.arange(1 << 16) >> 8
_OUTWARD_FORM = np.select(
    [
        (_PAIR_A == _SP) & (_PAIR_B == _SP),
        (_PAIR_A == _SP) & _A1[_PAIR_B],
        _A1[_PAIR_A] & _A2[_PAIR_B],
    ],
    [1, 2, 3],
    0,
).astype(np.uint8)
_OUTWARD_TAIL = (
    ((_A1[_PAIR_A] & _D[_PAIR_B]).astype(np.uint8) << 1)
    | (((_D[_PAIR_B] & (_D[_PAIR_A] | _A2[_PAIR_A])) | (_D[_PAIR_A] & _A3[_PAIR_B])) << 2)
    | ((_D[_PAIR_A] & (_D[_PAIR_B] | _A4[_PAIR_B])).astype(np.uint8) << 3)
).astype(np.uint8)
_INWARD_HEAD = (_PAIR_A == _SP) & _D[_PAIR_B]
_INWARD_TAIL = _IN[_PAIR_A] & _IN[_PAIR_B]
_GIRO = np.frombuffer(b" GIR 0AA", dtype="<u8")[0]
_KEEP_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(_KEY_BYTES + 1)], dtype=np.uint64)
_LEFT_PAD = np.array(
    [int.from_bytes(b" " * (_KEY_BYTES - n) + b"\0" * n, "little") for n in range(_KEY_BYTES + 1)],
    dtype=np.uint64,
)


def _postcode_keys(text: pa.LargeStringArray) -> tuple[UInt64Array, BoolArray, BoolArray]:
    """8-byte keys of normalised postcodes, with BS 7666 validity and emptiness.

    A key is the normalised text right-aligned in 8 bytes, padded with spaces on the left, read
    as a big-endian ``uint64`` (0 where invalid), so keys sort in the order of their text. Validity is BS7666_PATTERN evaluated with
    byte-pair tables, which saves a regex pass per look-up; the tests hold the two to the same
    answers.
    """
    offsets, data = _string_buffers(text)
    lengths = np.diff(offsets)
    rows = np.flatnonzero((lengths >= 6) & (lengths <= _KEY_BYTES))
    padded = np.concatenate([data, np.full(_KEY_BYTES, ord(" "), dtype=np.uint8)])
    # Element i of this (unaligned) view is the 8 bytes starting at byte i.
    eight = np.ndarray(
        shape=(len(padded) - _KEY_BYTES + 1,), dtype="<u8", buffer=padded, strides=(1,)
    )
    size = lengths[rows]
    shift = (np.uint64(8) * (np.uint64(_KEY_BYTES) - size.astype(np.uint64))).astype(np.uint64)
    packed = ((eight[offsets[:-1][rows]] & _KEEP_BYTES[size]) << shift) | _LEFT_PAD[size]
    pairs = packed.astype("<u8").view("<u2").reshape(-1, 4)
    form = _OUTWARD_FORM[pairs[:, 0]]
    valid_rows = (
        ((_OUTWARD_TAIL[pairs[:, 1]] >> form) & 1).astype(bool)
        & (form == size - 5)  # the text starts right after the padding
        & _INWARD_HEAD[pairs[:, 2]]
        & _INWARD_TAIL[pairs[:, 3]]
    ) | (packed == _GIRO)
    keys = np.zeros(len(lengths), dtype=np.uint64)
    keys[rows[valid_rows]] = packed[valid_rows].byteswap()  # big-endian: sorts like the text
    valid = np.zeros(len(lengths), dtype=bool)
    valid[rows] = valid_rows
    return keys, valid, lengths == 0


def _key_area(keys: UInt64Array) -> npt.NDArray[np.uint16]:
    """The first two characters of valid keys' postcodes, as little-endian uint16."""
    chars = keys.astype(">u8").view(np.uint8).reshape(-1, _KEY_BYTES)
    lead = (chars[:, 0] == _SP).astype(np.int64) + (chars[:, 1] == _SP)  # padding bytes
    rows = np.arange(len(keys))
    first, second = chars[rows, lead].astype(np.uint16), chars[rows, lead + 1].astype(np.uint16)
    return np.asarray(first | (second << np.uint16(8)), dtype=np.uint16)


def _unpack_keys(keys: UInt64Array) -> pd.Series:
    """The normalised postcodes of keys (inverse of :func:`_postcode_keys` on valid rows)."""
    raw = keys.astype(">u8").view(f"S{_KEY_BYTES}")
    text = pa.array(raw, type=pa.binary(_KEY_BYTES)).cast(pa.binary()).cast(pa.large_string())
    return pd.Series(pc.utf8_ltrim(text, " "), dtype="str")


# --------------------------------------------------------------------------- the directory


@dataclass(frozen=True)
class _Source:
    """What a directory file is and how to read it."""

    kind: str  # "codepoint" | "onspd"
    layout: str  # "zip" | "csv"
    name: str
    coverage: str
    attribution: str
    is_extract: bool


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


# --------------------------------------------------------------------------- readers


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
