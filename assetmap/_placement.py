"""Row bookkeeping of the geocoding chain: each row's placement, first failure and texts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Objects = npt.NDArray[np.object_]
#: Text per row: object arrays, or the numpy str arrays that string arithmetic produces.
Texts = npt.NDArray[Any]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Rows = npt.NDArray[np.intp]
#: A per-row text: one string for all, an array with a value per row, or a function that
#: builds the texts of the given rows only (messages are built for failing rows alone).
Text = str | Texts | Callable[[Rows], Texts]


def _pick(text: Text, rows: Rows) -> Texts | str:
    if isinstance(text, str):
        return text
    if callable(text):
        return text(rows)
    return np.asarray(text, dtype=object)[rows]


@dataclass
class _Outcome:
    """Per-row placement, filled step by step; the first step to place a row wins."""

    placed: Bools
    lon: Floats
    lat: Floats
    source: Objects
    quality: Objects
    note: Objects

    @classmethod
    def empty(cls, n: int) -> _Outcome:
        blank = np.full(n, "", dtype=object)
        nan = np.full(n, np.nan)
        return cls(np.zeros(n, dtype=bool), nan, nan.copy(), blank, blank.copy(), blank.copy())

    def place(self, rows: Bools, *, lon: Floats, lat: Floats, source: str, quality: Text) -> Bools:
        """Place ``rows`` not yet placed; returns the rows this call placed."""
        take = rows & ~self.placed
        at = np.flatnonzero(take)
        self.placed[at] = True
        self.lon[at], self.lat[at] = lon[at], lat[at]
        self.source[at] = source
        self.quality[at] = _pick(quality, at)
        return take

    def add_note(self, rows: Bools, text: Text) -> None:
        """Append ``text`` to the notes of ``rows`` (notes are joined with ``"; "``)."""
        at = np.flatnonzero(rows)
        if not at.size:
            return
        added = np.broadcast_to(np.asarray(_pick(text, at), dtype=object), at.shape)
        old = self.note[at]
        joined = np.where(old == "", added, old + "; " + added)
        self.note[at] = np.where(added == "", old, joined)


@dataclass
class _Failures:
    """First failure per row of one kind of evidence: reason code, column, value, message."""

    reason: Objects
    column: Objects
    value: Objects
    message: Objects

    @classmethod
    def empty(cls, n: int) -> _Failures:
        blank = np.full(n, "", dtype=object)
        return cls(blank, blank.copy(), blank.copy(), blank.copy())

    def mark(self, rows: Bools, reason: Text, *, column: Text, value: Text, message: Text) -> None:
        """Record a failure for ``rows`` that have none yet."""
        at = np.flatnonzero(rows & (self.reason == ""))
        if not at.size:
            return
        self.reason[at] = _pick(reason, at)
        self.column[at] = _pick(column, at)
        self.value[at] = _pick(value, at)
        self.message[at] = _pick(message, at)

    def merge(self, other: _Failures, rows: Bools | None = None) -> None:
        """Take ``other``'s failures for ``rows`` (default all) that have none yet."""
        take = other.reason != ""
        take = take if rows is None else take & rows
        self.mark(take, other.reason, column=other.column, value=other.value, message=other.message)

    def mention(self, other: _Failures, rows: Bools) -> None:
        """Append ``other``'s message to rows whose recorded failure is a different one."""
        extra = rows & (other.reason != "") & (other.reason != self.reason) & (self.reason != "")
        at = np.flatnonzero(extra)
        self.message[at] = self.message[at] + "; also " + other.message[at]


def _column_text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[column].astype("string").fillna("")


def _says(before: str, values: Texts, after: str) -> Callable[[Rows], Texts]:
    """Message builder: ``before + repr(value) + after`` for the rows asked."""

    def build(rows: Rows) -> Texts:
        quoted = [repr(v) for v in np.asarray(values, dtype=object)[rows]]
        return before + np.asarray(quoted, dtype=object) + after

    return build


def _fallback_note(reasons: Objects, source: str) -> Callable[[Rows], Texts]:
    """``"<earlier reason>; placed by <source>"`` where an earlier step failed, else ``""``."""

    def build(rows: Rows) -> Texts:
        earlier = reasons[rows]
        return np.where(earlier != "", earlier + f"; placed by {source}", "")

    return build
