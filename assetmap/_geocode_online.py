"""Step 4 of the geocoding chain: rows still unplaced asked of postcodes.io, then Nominatim."""

from __future__ import annotations

import logging
from typing import Any, Final

import numpy as np
import pandas as pd

from assetmap._coords import _lonlat_ok
from assetmap._errors import GeocodeError
from assetmap._placement import Bools, _column_text, _Failures, _fallback_note, _Outcome, _says

# Logged under the public module's name: this is a step of assetmap.geocode.geocode.
logger = logging.getLogger("assetmap.geocode")

#: Postcode failures worth asking postcodes.io about (it also covers Northern Ireland).
_ASK_ONLINE: Final = ("postcode_not_found", "postcode_outside_coverage")


def _online_step(
    frame: pd.DataFrame,
    outcome: _Outcome,
    looked: pd.DataFrame | None,
    candidates: Bools,
    names: pd.Series,
    prior: _Failures,
    failures: _Failures,
    *,
    providers: Any,
    progress: bool,
) -> None:
    """postcodes.io for valid postcodes the directory lacks, then Nominatim for the rest."""
    from assetmap._http import nominatim_lookup, postcodes_io_bulk

    if looked is not None and providers.postcodes_io is not None:
        ask = candidates & looked["status"].isin(_ASK_ONLINE).to_numpy(dtype=bool)
        if ask.any():
            try:
                found = postcodes_io_bulk(
                    looked["postcode"][ask],
                    client=providers.postcodes_io,
                    base_url=providers.postcodes_io_url,
                    progress=progress,
                ).reindex(frame.index)
            except GeocodeError as exc:
                logger.warning("postcodes.io: %s", exc)
                failures.mark(ask, "online_failed", column="postcode", value="", message=str(exc))
            else:
                lon, lat = found["lon"].to_numpy(dtype=float), found["lat"].to_numpy(dtype=float)
                # a point outside the UK counts as no answer
                sane = _lonlat_ok(lon, lat, ask & np.isfinite(lon), _Failures.empty(len(lon)))
                quality = found["quality"].astype("string").fillna("").to_numpy(dtype=object)
                placed = outcome.place(
                    sane, lon=lon, lat=lat, source="postcodes.io", quality=quality
                )
                outcome.add_note(placed, _fallback_note(prior.reason, "postcodes.io"))
                failures.mark(
                    ask & ~placed,
                    "online_not_found",
                    column="postcode",
                    value="",
                    message="postcodes.io has no coordinates for it either",
                )
    if providers.nominatim is None:
        return
    queries = _nominatim_queries(frame, names)
    ask = candidates & ~outcome.placed & (queries != "").to_numpy(dtype=bool)
    if not ask.any():
        return
    distinct = queries[ask].nunique()
    if distinct > providers.nominatim_max_queries:
        msg = (
            f"Nominatim: {distinct} distinct names would be sent, more than "
            f"nominatim_max_queries={providers.nominatim_max_queries}; its usage policy forbids "
            "bulk geocoding (expected postcodes for the offline directory, or a higher limit "
            "for a one-off run)"
        )
        raise GeocodeError(msg)
    try:
        hits = nominatim_lookup(
            queries.where(ask, ""),
            client=providers.nominatim,
            base_url=providers.nominatim_url,
            countrycodes=providers.countrycodes,
            max_queries=providers.nominatim_max_queries,
            progress=progress,
        )
    except GeocodeError as exc:
        logger.warning("Nominatim: %s", exc)
        failures.mark(
            ask,
            "online_failed",
            column="name",
            value=names.to_numpy(dtype=object),
            message=str(exc),
        )
        return
    lon, lat = hits["lon"].to_numpy(dtype=float), hits["lat"].to_numpy(dtype=float)
    found_rows = ask & np.isfinite(lon)
    sane = _lonlat_ok(lon, lat, found_rows, _Failures.empty(len(lon)))
    rank = hits["place_rank"].astype("string").fillna("?").to_numpy(dtype=object)
    placed = outcome.place(
        sane, lon=lon, lat=lat, source="nominatim", quality=lambda at: "place_rank:" + rank[at]
    )
    outcome.add_note(placed, _fallback_note(prior.reason, "nominatim"))
    failures.mark(
        ask & ~placed,
        "online_not_found",
        column="name",
        value=names.to_numpy(dtype=object),
        message=_says(
            "Nominatim has no UK result for ",
            queries.to_numpy(dtype=object),
            " (expected a findable name or address)",
        ),
    )


def _nominatim_queries(frame: pd.DataFrame, names: pd.Series) -> pd.Series:
    """``"<name>, <address>"`` per row (either alone when the other is empty)."""
    address = _column_text(frame, "address").str.strip()
    joined = (names + ", " + address).str.strip(", ")
    return joined.astype("string")
