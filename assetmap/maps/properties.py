"""Popup and tooltip properties of map features: escaped text under the keys of ``POPUP_FIELDS``."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from assetmap.maps.safe import safe_linkified, safe_text, safe_texts, safe_url

__all__ = ["macro_properties", "micro_properties"]


def _texts(frame: pd.DataFrame, column: str) -> list[str]:
    return safe_texts(frame[column]) if column in frame else [""] * len(frame)


def _formatted(frame: pd.DataFrame, column: str, template: str) -> list[str]:
    if column not in frame:
        return [""] * len(frame)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
    return [template.format(v) if np.isfinite(v) else "" for v in values.tolist()]


def _records(columns: dict[str, list[str]], n: int) -> list[dict[str, Any]]:
    """Row dicts holding only the non-empty values (smaller pages; popups skip absent rows)."""
    keys = list(columns)
    if not keys:
        return [{} for _ in range(n)]
    return [
        {k: v for k, v in zip(keys, values, strict=True) if v != ""}
        for values in zip(*columns.values(), strict=True)
    ]


def _mailto(value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        return value
    text = value.strip()
    return text if text.lower().startswith("mailto:") else "mailto:" + text


def _link_columns(rows: pd.DataFrame, column: str, key: str) -> dict[str, list[str]]:
    """``key``: escaped URLs that :func:`safe_url` accepts (drawn as links by the runtime);
    ``key + "t"``: any other value, as plain escaped text."""
    if column not in rows:
        return {}
    values = rows[column].tolist()
    urls = [safe_url(_mailto(v) if key == "e" else v) for v in values]
    texts = ["" if url is not None else safe_text(v) for url, v in zip(urls, values, strict=True)]
    return {key: [url or "" for url in urls], key + "t": texts}


def _source_names(frame: pd.DataFrame) -> list[str]:
    """The register's file name (not its folder: paths stay off intranet pages)."""
    if "source" not in frame:
        return [""] * len(frame)
    codes, uniques = pd.factorize(frame["source"].astype("str"), use_na_sentinel=True)
    names = [*safe_texts([PurePath(u).name if u else "" for u in uniques.tolist()]), ""]
    return [names[c] for c in codes.tolist()]


def _lookup(series: pd.Series, ids: pd.Index) -> list[str]:
    if series.empty:
        return [""] * len(ids)
    return series.reindex(ids.astype("str")).fillna("").astype("str").tolist()


def micro_properties(rows: pd.DataFrame, reach: pd.Series) -> dict[str, list[str]]:
    """Popup property columns of non-personal micro-assets (escaped text, fixed keys)."""
    columns = {
        "n": _texts(rows, "name"),
        "t": _texts(rows, "tags"),
        "cap": _formatted(rows, "capacity", "{:g}"),
        "pc": _texts(rows, "postcode"),
        "d": _texts(rows, "description"),
        **_link_columns(rows, "website", "w"),
        **_link_columns(rows, "email", "e"),
        "ph": _texts(rows, "phone"),
        "reach": _lookup(reach, rows.index),
        "gs": _texts(rows, "geocode_source"),
        "src": _source_names(rows),
        "sl": _formatted(rows, "source_line", "{:.0f}"),
    }
    return columns


def macro_properties(
    rows: pd.DataFrame, linked: pd.Series, personal_reach: pd.Series
) -> dict[str, list[str]]:
    """Popup property columns of macro-assets: the site's facts, reach counts and sources."""
    columns = {
        "n": _texts(rows, "name"),
        "t": _texts(rows, "tags"),
        "st": [t.replace("_", " ") for t in _texts(rows, "status")],
        "h": _formatted(rows, "homes", "{:,.0f}"),
        "ha": _formatted(rows, "hectares", "{:g}"),
        "inv": _formatted(rows, "investment_gbp", "£{:,.0f}"),
        "op": _texts(rows, "opened"),
        "cap": _formatted(rows, "capacity", "{:g}"),
        "pc": _texts(rows, "postcode"),
        "d": _texts(rows, "description"),
        **_link_columns(rows, "website", "w"),
        "linked": _lookup(linked, rows.index),
        "res": [safe_text(v) for v in _lookup(personal_reach, rows.index)],
        "gs": _texts(rows, "geocode_source"),
        "src": [safe_linkified(v) for v in rows["source"].tolist()]
        if "source" in rows
        else [""] * len(rows),
    }
    return columns
