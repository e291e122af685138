"""UK postcode text: normalise, validate against BS 7666, split into parts, pack into 8-byte keys."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final, overload

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: BS 7666 unit postcode on normalised text (UK Government Data Standards Catalogue).
BS7666_PATTERN: Final = (
    r"^(GIR 0AA|[A-PR-UWYZ]([0-9]{1,2}|([A-HK-Y][0-9]([0-9ABEHMNPRV-Y])?)|[0-9][A-HJKPS-UW])"
    r" [0-9][ABD-HJLNP-UW-Z]{2})$"
)

# Unicode White_Space is [\t-\r \x85] plus the separators \p{Z}; \p{Cf} are the format chars.
_SPACE_OR_FORMAT: Final = r"[\t-\r\x85\p{Z}\p{Cf}]"
_MAX_UNICODE_PASSES: Final = 8
_KEY_BYTES: Final = 8

UInt64Array = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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
