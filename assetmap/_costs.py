"""Link tables as PySAL-style cost tables (origin, dest, cost) and the catchment pairs they hold."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from assetmap.links import DEFAULT_WALK_KMH, LINK_COLUMNS, LinkTable
from assetmap.rules import straight_line_kmh

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_COSTS: Final = ("minutes", "metres")
_COST_COLUMNS: Final = ("origin", "dest", "cost")


def read_links(path: str | Any) -> pd.DataFrame:
    """Read a links CSV written by ``assetmap link`` / :meth:`LinkTable.to_csv`.

    Returns
    -------
    pandas.DataFrame
        The :data:`~assetmap.links.LINK_COLUMNS` with ids and text as ``str``, costs as float64
        (NaN where empty) and ``within_reach`` as bool.

    Raises
    ------
    ValueError
        A column is missing or ``within_reach`` holds something other than True/False.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in LINK_COLUMNS if c not in raw.columns]
    if missing:
        msg = f"{path}: missing link columns {missing} (expected {list(LINK_COLUMNS)}, found {list(raw.columns)})"
        raise ValueError(msg)
    frame = raw[list(LINK_COLUMNS)].copy()
    for column in ("metres", "minutes", "snap_m_micro", "snap_m_macro", "score"):
        text = frame[column].str.strip()
        number = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = number.isna() & (text != "")
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            msg = (
                f"{path}: line {first + 2}, column {column!r}: {text.iloc[first]!r} is not a number"
            )
            raise ValueError(msg)
        frame[column] = number.astype(np.float64)
    flag = frame["within_reach"].str.strip().str.lower()
    known = flag.isin(["true", "false", "1", "0"])
    if not known.all():
        first = int(np.flatnonzero(~known.to_numpy())[0])
        msg = (
            f"{path}: line {first + 2}, column 'within_reach': {frame['within_reach'].iloc[first]!r} "
            "is not True or False"
        )
        raise ValueError(msg)
    frame["within_reach"] = flag.isin(["true", "1"]).to_numpy()
    return frame


def _links_frame(links: LinkTable | pd.DataFrame) -> pd.DataFrame:
    frame = links.links if isinstance(links, LinkTable) else links
    if not isinstance(frame, pd.DataFrame):
        msg = f"links must be a LinkTable or its links DataFrame, got {type(links).__name__}"
        raise TypeError(msg)
    missing = [
        c for c in ("micro_id", "macro_id", "mode", "metres", "within_reach") if c not in frame
    ]
    if missing:
        msg = f"links: missing columns {missing} (expected the link table columns {list(LINK_COLUMNS)})"
        raise ValueError(msg)
    return frame


def _micro_ids(links: LinkTable | pd.DataFrame, micro: pd.DataFrame | None) -> pd.Index:
    """Every micro-asset to report on: the frame's ids, else the table's, else those linked."""
    values: npt.NDArray[Any]
    if micro is not None:
        values = np.asarray(micro.index.astype("str"))
    elif isinstance(links, LinkTable):
        values = np.asarray(links.micro_ids, dtype=object)
    else:
        values = _links_frame(links)["micro_id"].astype("str").drop_duplicates().to_numpy()
    ids: pd.Index = pd.Index(values, dtype="str")
    ids.name = "micro_id"
    return ids


def cost_table(
    links: LinkTable | pd.DataFrame,
    *,
    cost: str = "minutes",
    within_reach_only: bool = False,
    walk_kmh: float | None = DEFAULT_WALK_KMH,
    rules: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The link table as a PySAL-style cost table: one row per micro × macro pair.

    Parameters
    ----------
    links
        A :class:`~assetmap.links.LinkTable` or its ``links`` frame (e.g. :func:`read_links`).
    cost
        ``"minutes"`` or ``"metres"`` (network path plus snaps, or the straight line).
    within_reach_only
        Keep only links within their rule's reach (drop the beyond-reach "nearest shown" ones).
    walk_kmh
        Straight-line (``mode == "euclidean"``) links have no minutes; for ``cost="minutes"``
        they are timed as the straight line at this speed (km/h) — for a rule of mode
        ``cycle``/``drive`` at :data:`assetmap.rules.STRAIGHT_LINE_KMH`, as the link step
        judged their reach. A straight line is shorter than any street path, so these times
        are optimistic; ``attrs["estimated_minutes"]`` counts them. ``None`` refuses instead.
    rules
        Only links of these rules (default: all).

    Returns
    -------
    pandas.DataFrame
        Columns ``origin`` (micro_id), ``dest`` (macro_id), ``cost`` (float64). A pair linked by
        several rules keeps its smallest cost. ``attrs``: ``cost``, ``estimated_minutes``.

    Raises
    ------
    ValueError
        Unknown ``cost``, a negative or missing cost, or straight-line links with
        ``walk_kmh=None``.
    """
    if cost not in _COSTS:
        msg = f"cost {cost!r} is not one of {'|'.join(_COSTS)}"
        raise ValueError(msg)
    frame = _links_frame(links)
    if rules is not None:
        frame = frame[frame["rule"].isin(list(rules))]
    if within_reach_only:
        frame = frame[frame["within_reach"].to_numpy(dtype=bool)]
    metres = frame["metres"].to_numpy(dtype=np.float64)
    estimated = 0
    if cost == "metres":
        values = metres
    else:
        values = frame["minutes"].to_numpy(dtype=np.float64).copy()
        straight = np.isnan(values) & (frame["mode"].astype("str") == "euclidean").to_numpy()
        estimated = int(straight.sum())
        if estimated:
            if walk_kmh is None:
                msg = (
                    f"{estimated} straight-line link(s) have no minutes (e.g. micro "
                    f"{frame['micro_id'].to_numpy()[straight][0]!r}); give walk_kmh to time them "
                    "or use cost='metres'"
                )
                raise ValueError(msg)
            kmh = _line_kmh(links, frame, walk_kmh)
            values[straight] = metres[straight] / (kmh[straight] * 1000.0 / 60.0)
    bad = np.isnan(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = (
            f"link {frame['micro_id'].to_numpy()[row]!r} → {frame['macro_id'].to_numpy()[row]!r}: "
            f"{cost} {values[row]!r} is not a cost ≥ 0"
        )
        raise ValueError(msg)
    table = pd.DataFrame(
        {
            "origin": frame["micro_id"].astype("str").to_numpy(),
            "dest": frame["macro_id"].astype("str").to_numpy(),
            "cost": values,
        }
    )
    if table.duplicated(["origin", "dest"]).any():
        table = pd.DataFrame(
            table.groupby(["origin", "dest"], sort=False, as_index=False)["cost"].min()
        )
    table = table.astype({"origin": "str", "dest": "str"})
    table.attrs.update(cost=cost, estimated_minutes=estimated)
    return table


def _line_kmh(links: LinkTable | pd.DataFrame, frame: pd.DataFrame, walk_kmh: float) -> FloatArray:
    """Straight-line speed per link row: the rule's mode speed when the rules are known."""
    speeds = np.full(len(frame), float(walk_kmh))
    if isinstance(links, LinkTable) and links.rules and "rule" in frame:
        by_rule = {r.name: straight_line_kmh(r.mode, walk_kmh=walk_kmh) for r in links.rules}
        mapped = frame["rule"].map(by_rule).to_numpy(dtype=np.float64, na_value=np.nan)
        speeds = np.where(np.isnan(mapped), speeds, mapped)
    return speeds


def _check_cost_df(cost_df: pd.DataFrame) -> tuple[pd.Series, pd.Series, FloatArray]:
    missing = [c for c in _COST_COLUMNS if c not in cost_df]
    if missing:
        msg = f"cost_df: missing columns {missing} (expected origin, dest, cost; see cost_table())"
        raise ValueError(msg)
    costs = cost_df["cost"].to_numpy(dtype=np.float64)
    if (costs < 0).any():
        row = int(np.flatnonzero(costs < 0)[0])
        msg = f"cost_df row {row}: cost {costs[row]!r} is negative (expected a travel cost ≥ 0)"
        raise ValueError(msg)
    return cost_df["origin"], cost_df["dest"], costs


def _positions(index: pd.Index, ids: pd.Series) -> IntArray:
    """Position of each id in ``index`` (-1 when absent).

    The ids are factorised first (pyarrow dictionary-encodes string columns without making
    Python objects), so only the distinct ids are looked up in ``index``.
    """
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        msg = f"id {dup!r} appears more than once in the demand/supply index (expected unique ids)"
        raise ValueError(msg)
    codes, uniques = pd.factorize(ids)
    lookup = np.append(np.asarray(index.get_indexer(pd.Index(uniques)), dtype=np.intp), -1)
    return lookup[np.asarray(codes, dtype=np.intp)]


def _pairs(
    origin_index: pd.Index,
    dest_index: pd.Index,
    cost_df: pd.DataFrame,
    max_cost: float | None,
    weight: Callable[[FloatArray], FloatArray],
) -> tuple[IntArray, IntArray, FloatArray]:
    """Origin and destination positions and weights of the cost rows inside the catchment."""
    origins, dests, costs = _check_cost_df(cost_df)
    o = _positions(origin_index, origins)
    d = _positions(dest_index, dests)
    keep = (o >= 0) & (d >= 0) & np.isfinite(costs)
    if max_cost is not None:
        keep &= costs <= max_cost
    o, d = o[keep], d[keep]
    twice = _first_repeat(
        o.astype(np.int64) * len(dest_index) + d, len(origin_index) * len(dest_index)
    )
    if twice is not None:
        msg = (
            f"cost_df has more than one row for origin {origin_index[twice // len(dest_index)]!r} "
            f"and dest {dest_index[twice % len(dest_index)]!r} (expected one cost per pair; "
            "cost_table() keeps the smallest)"
        )
        raise ValueError(msg)
    return o, d, weight(costs[keep])


def _first_repeat(keys: npt.NDArray[np.int64], n_keys: int) -> int | None:
    """A key that occurs more than once, or None (a counting pass when the key space is small)."""
    if keys.size < 2:
        return None
    if n_keys <= 4 * keys.size + 1_000_000:
        counts = np.bincount(keys, minlength=n_keys)
        repeated = np.flatnonzero(counts > 1)
        return int(repeated[0]) if repeated.size else None
    ordered = np.sort(keys)
    same = ordered[1:] == ordered[:-1]
    return int(ordered[1:][same][0]) if same.any() else None


def _as_weights(values: pd.Series, what: str) -> tuple[pd.Index, FloatArray]:
    if not isinstance(values, pd.Series):
        msg = f"{what} must be a pandas Series indexed by id, got {type(values).__name__}"
        raise TypeError(msg)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        msg = f"{what} {values.index[first]!r}: {values.iloc[first]!r} is not a finite weight ≥ 0"
        raise ValueError(msg)
    return pd.Index(values.index), numbers
