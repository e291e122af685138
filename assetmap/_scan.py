"""The last gate before publishing: personal rows' postcodes, emails, phones and names in files."""

from __future__ import annotations

import functools
import html
import itertools
import os
import re
import struct
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

import pandas as pd

from assetmap._personal import _normalise_postcodes, personal_mask

_TEXT_SUFFIXES: Final = {
    ".html", ".htm", ".json", ".geojson", ".csv", ".tsv", ".txt", ".md", ".js", ".css",
    ".svg", ".xml", ".toml", ".yaml", ".yml", ".log",
}  # fmt: skip
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_JSON_ESCAPE: Final = re.compile(r"\\u([0-9a-fA-F]{4})")
#: Anything shaped like a unit postcode, spaced or not (or with '+' as in a URL query).
_POSTCODE_TOKEN: Final = re.compile(
    r"(?<![0-9A-Za-z])([A-Za-z]{1,2}[0-9][0-9A-Za-z]?)(?:\s|\+)*([0-9][A-Za-z]{2})(?![0-9A-Za-z])"
)
_EMAIL_LOCAL: Final = re.compile(r"[\w.+-]+\Z")
_EMAIL_DOMAIN: Final = re.compile(r"[\w-]+(?:\.[\w-]+)+")
_DIGITS: Final = re.compile(r"\d+")
#: Characters that separate words: ASCII punctuation and common typographic marks
#: (str.translate + split is several times faster than a regex over multi-MB maps).
_WORD_BREAKS: Final = {
    **{i: " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")},
    **{
        ord(c): " "
        for c in "\u00a0\u00ab\u00b7\u00bb\u200b\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026"
    },
}
_KINDS: Final = ("unit postcode", "email", "phone", "name")


def _phone_national(digits: str) -> str:
    """UK numbers in national form: ``44 121…``/``0044 121…``/``44 0121…`` → ``0121…``."""
    for prefix in ("0044", "44"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 9:
            rest = digits[len(prefix) :]
            return rest if rest.startswith("0") else "0" + rest
    return digits


def _words(text: str) -> list[str]:
    return text.casefold().translate(_WORD_BREAKS).split()


def _name_key(text: str) -> str:
    return " ".join(_words(text))


@functools.lru_cache(maxsize=16)
def _phone_token(shortest: int) -> re.Pattern[str]:
    """Runs of digits with phone separators between them, at least ``shortest`` long."""
    return re.compile(r"(?<!\d)\d[\d \t\u00a0().\-/]{" + str(max(shortest - 2, 0)) + r",}\d")


def _keys(frame: pd.DataFrame, kind: str) -> list[tuple[str, str]]:
    """(key, asset id) pairs of one kind of identifying value in ``frame``.

    Keys: unspaced upper-case postcode; case-folded email; national phone digits (7+);
    case-folded words of the name joined by one space (3+ characters).
    """
    column = "postcode" if kind == "unit postcode" else kind
    if column not in frame or frame.empty:
        return []
    ids = [str(i) for i in frame.index]
    if kind == "unit postcode":
        normalised = _normalise_postcodes(frame["postcode"]).str.replace(" ", "", regex=False)
        return [
            (p, i) for p, i in zip(normalised.to_numpy(), ids, strict=True) if isinstance(p, str)
        ]
    text = frame[column].astype("str").fillna("").str.strip()
    if kind == "email":
        keys = text.str.casefold().to_numpy()
        return [(k, i) for k, i in zip(keys, ids, strict=True) if "@" in k]
    if kind == "phone":
        digits = text.str.replace(r"\(0\)|\D", "", regex=True).to_numpy()
        pairs = [(_phone_national(d), i) for d, i in zip(digits, ids, strict=True)]
        return [(k, i) for k, i in pairs if len(k) >= 7]
    pairs = [(_name_key(v), i) for v, i in zip(text.to_numpy(), ids, strict=True)]
    return [(k, i) for k, i in pairs if len(k) >= 3]


def _found_phones(text: str, lengths: set[int]) -> set[str]:
    """National digits of every phone-like window in ``text`` whose length could match.

    A window starts and ends on a digit-group boundary (like a regex with digit
    look-arounds), so ``0121 555 01010`` does not yield ``01215550101``. One pass of a
    compiled regex finds the candidate tokens; only tokens long enough to hold a key
    (few, in map and data files full of short coordinates) are split into groups.
    """
    shortest = min(lengths)
    found: set[str] = set()
    for token in _phone_token(shortest).findall(text):
        groups = _DIGITS.findall(token)
        digits = "".join(groups)
        if len(digits) < shortest:
            continue
        sizes = [len(g) for g in groups]
        starts = list(itertools.accumulate(sizes[:-1], initial=0))
        ends = set(itertools.accumulate(sizes))
        for start in starts:
            for length in lengths:
                if start + length in ends:
                    found.add(_phone_national(digits[start : start + length]))
    return found


def _found_names(text: str, names: Iterable[str]) -> set[str]:
    """Which of ``names`` (word keys) occur as consecutive words of ``text``."""
    wanted = set(names)
    by_first: dict[str, set[int]] = {}
    for name in wanted:
        first, *rest = name.split(" ")
        by_first.setdefault(first, set()).add(len(rest) + 1)
    words = _words(text)
    present = by_first.keys() & set(words)
    found: set[str] = set()
    if not present:
        return found
    for k in (k for k, word in enumerate(words) if word in present):
        for n in by_first[words[k]]:
            gram = " ".join(words[k : k + n])
            if gram in wanted:
                found.add(gram)
    return found


def _found_emails(text: str) -> set[str]:
    """Case-folded addresses around each '@' (local part up to 64 characters)."""
    found: set[str] = set()
    at = text.find("@")
    while at >= 0:
        local = _EMAIL_LOCAL.search(text, max(at - 64, 0), at)
        domain = _EMAIL_DOMAIN.match(text, at + 1)
        if local and domain:
            found.add(f"{local.group(0)}@{domain.group(0)}".casefold())
        at = text.find("@", at + 1)
    return found


def _found(text: str, kind: str, owners: dict[str, str]) -> set[str]:
    """Keys of ``owners`` present in ``text``."""
    if kind == "unit postcode":
        keys = {(a + b).upper() for a, b in _POSTCODE_TOKEN.findall(text)}
    elif kind == "email":
        keys = _found_emails(text)
    elif kind == "phone":
        # +44/0044 forms are up to 4 digits longer than the national key.
        keys = _found_phones(text, {len(k) + d for k in owners for d in range(5)})
    else:
        keys = _found_names(text, owners)
    return keys & owners.keys()


def _png_text(data: bytes) -> str | None:
    """Text of a PNG's metadata chunks (tEXt, zTXt, iTXt, eXIf), or None if not a PNG."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    texts: list[str] = []
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        chunk = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        try:
            if kind == b"tEXt":
                texts.append(chunk.replace(b"\0", b" ").decode("latin-1"))
            elif kind == b"zTXt":
                keyword, _, rest = chunk.partition(b"\0")
                texts.append(
                    keyword.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1")
                )
            elif kind == b"iTXt":
                keyword, _, rest = chunk.partition(b"\0")
                compressed = rest[:1] == b"\x01"
                _, _, rest = rest[2:].partition(b"\0")  # language tag
                translated, _, body = rest.partition(b"\0")
                if compressed:
                    body = zlib.decompress(body)
                texts.append(
                    " ".join(p.decode("utf-8", "replace") for p in (keyword, translated, body))
                )
            elif kind == b"eXIf":
                texts.append(chunk.decode("latin-1"))
        except zlib.error:
            texts.append(chunk.decode("latin-1"))
        if kind == b"IEND":
            break
    return "\n".join(texts)


def _file_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) pairs to scan for one file; zip members are scanned one by one."""
    data = path.read_bytes()
    png = _png_text(data)
    if png is not None:
        yield str(path), png
    elif zipfile.is_zipfile(path) and path.suffix.lower() not in _TEXT_SUFFIXES:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                content = archive.read(member)
                member_png = _png_text(content)
                text = member_png if member_png is not None else content.decode("utf-8", "replace")
                yield f"{path}!{member}", text
    else:
        yield str(path), data.decode("utf-8", "replace")


def _views(text: str) -> Iterator[str]:
    """The text as written, and with JSON, HTML and URL escapes undone."""
    yield text
    decoded = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).replace("<\\/", "</")
    decoded = html.unescape(html.unescape(decoded))
    decoded = urllib.parse.unquote(decoded)
    if decoded != text:
        yield decoded


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            msg = f"{path}: no such file or folder to scan"
            raise FileNotFoundError(msg)
    return files


def scan_for_personal(
    paths: Iterable[str | os.PathLike[str]], personal_assets: pd.DataFrame
) -> list[str]:
    """Look for personal rows' unit postcodes, emails, phones and names in files.

    The last gate before publishing (RELIABILITY §3). Each file is read as text (HTML,
    JSON, CSV, …) and also with JSON ``\\uXXXX``, HTML entity and URL escapes undone;
    PNGs are searched in their metadata chunks (tEXt/zTXt/iTXt/eXIf), not in pixel
    data; zip files member by member. Matches ignore case; postcodes match spaced or
    unspaced; phones match on their digits whatever the separators, ``+44``/``0044``
    or ``0``; names (3+ characters) match as whole words with any whitespace between.

    Parameters
    ----------
    paths
        Files or folders (scanned recursively).
    personal_assets
        Rows to protect (indexed by ``asset_id``). When it has a ``personal`` column, only
        rows flagged personal are protected, and a value that a non-personal row also has
        (a resident registered at the community centre's postcode or phone) is not
        searched for: it is public through that row. Columns used when present:
        ``postcode``, ``email``, ``phone``, ``name``.

    Returns
    -------
    list of str
        ``"<file>: <what> of personal row '<asset_id>'"``, one per file, kind and row,
        sorted; empty when clean. The values themselves are not repeated, so the
        message can go into logs.
    """
    personal, public = personal_assets, personal_assets.iloc[:0]
    if "personal" in personal_assets:
        flags = personal_mask(personal_assets)
        personal, public = personal_assets.loc[flags], personal_assets.loc[~flags]
    owners: dict[str, dict[str, str]] = {}
    for kind in _KINDS:
        # A value a non-personal row also has is public through that row.
        exempt = {k for k, _ in _keys(public, kind)}
        mine = {k: i for k, i in reversed(_keys(personal, kind)) if k not in exempt}
        if mine:
            owners[kind] = mine
    hits: set[str] = set()
    for path in _expand(paths):
        for where, text in _file_texts(path):
            for view in _views(text):
                for kind, lookup in owners.items():
                    for key in _found(view, kind, lookup):
                        hits.add(f"{where}: {kind} of personal row {lookup[key]!r}")
    return sorted(hits)
