"""postcodes.io: bulk lookup of UK unit postcodes (≤ 100 per POST) through the HTTP client."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import pandas as pd

from assetmap._errors import GeocodeError

#: Public postcodes.io endpoint (open API over ONSPD, UK incl. Northern Ireland).
POSTCODES_IO_URL = "https://api.postcodes.io"
#: Most postcodes postcodes.io accepts in one bulk POST.
POSTCODES_IO_BATCH = 100


class JsonPoster(Protocol):
    """What postcodes.io needs of :class:`assetmap._http.HttpClient`: a JSON POST."""

    def post_json(self, url: str, *, payload: Any) -> Any: ...


def postcodes_io_bulk(
    postcodes: Iterable[str] | pd.Series,
    *,
    client: JsonPoster,
    base_url: str = POSTCODES_IO_URL,
    progress: bool = False,
) -> pd.DataFrame:
    """Look postcodes up on postcodes.io, ≤ 100 per POST to ``/postcodes``.

    Parameters
    ----------
    postcodes
        Normalised unit postcodes (``"B66 2QT"``); duplicates are asked once.
    client
        The :class:`~assetmap._http.HttpClient` to send with.
    base_url
        Root of the API (a local server in tests).
    progress
        Show a tqdm bar over the batches.

    Returns
    -------
    pandas.DataFrame
        Aligned to the input (its index when a Series), columns ``postcode``, ``status``
        (``"ok"``, ``"not_found"`` for ``result: null``, ``"no_coordinates"``), ``lat``,
        ``lon`` (WGS84 degrees, NaN unless ok) and ``quality`` (ONSPD positional quality,
        Int64).

    Raises
    ------
    GeocodeError
        When the service cannot be reached or answers in an unexpected shape.
    """
    asked = (
        pd.Series(postcodes, dtype="string") if not isinstance(postcodes, pd.Series) else postcodes
    )
    asked = asked.astype("string").str.strip()
    given = asked.dropna()
    unique = pd.unique(given[given != ""].to_numpy())
    url = base_url.rstrip("/") + "/postcodes"
    parts: list[pd.DataFrame] = []
    starts = range(0, len(unique), POSTCODES_IO_BATCH)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="postcodes.io", unit="batch")
    for start in starts:
        batch = [str(p) for p in unique[start : start + POSTCODES_IO_BATCH]]
        answer = client.post_json(url, payload={"postcodes": batch})
        parts.append(_postcodes_io_frame(answer, batch, where=f"POST {url}"))
    found = (
        pd.concat(parts)
        if parts
        else pd.DataFrame(
            {
                "status": pd.Series(dtype="string"),
                "lat": pd.Series(dtype="float64"),
                "lon": pd.Series(dtype="float64"),
                "quality": pd.Series(dtype="Int64"),
            }
        )
    )
    out = found.reindex(asked.to_numpy())
    out.index = asked.index
    out.insert(0, "postcode", asked)
    out["status"] = out["status"].fillna("not_found").astype("string")
    return out


def _postcodes_io_frame(answer: Any, batch: list[str], *, where: str) -> pd.DataFrame:
    """One bulk answer → frame indexed by the queried postcode."""
    items = answer.get("result") if isinstance(answer, dict) else None
    shape_ok = isinstance(items, list) and len(items) == len(batch)
    shape_ok = shape_ok and all(isinstance(i, dict) and "query" in i for i in items or [])
    if not shape_ok:
        msg = (
            f"{where}: unexpected answer shape (expected {{'result': [{{'query': ..., 'result': "
            f"{{...}} | null}}, ...]}} with {len(batch)} items); got {str(answer)[:200]!r}"
        )
        raise GeocodeError(msg)
    assert isinstance(items, list)
    queries = [str(i["query"]) for i in items]
    results = [i.get("result") if isinstance(i.get("result"), dict) else {} for i in items]
    lat = pd.to_numeric(pd.Series([r.get("latitude") for r in results]), errors="coerce")
    lon = pd.to_numeric(pd.Series([r.get("longitude") for r in results]), errors="coerce")
    quality = pd.to_numeric(pd.Series([r.get("quality") for r in results]), errors="coerce")
    hit = pd.Series([bool(r) for r in results])
    located = hit & lat.notna() & lon.notna()
    status = np.where(located, "ok", np.where(hit, "no_coordinates", "not_found"))
    frame = pd.DataFrame(
        {
            "status": pd.array(status, dtype="string"),
            "lat": lat.where(located).astype("float64"),
            "lon": lon.where(located).astype("float64"),
            "quality": quality.round().astype("Int64"),
        }
    )
    frame.index = pd.Index(queries)
    if set(queries) != set(batch):
        msg = f"{where}: the answer's queries {queries[:3]}… do not match the postcodes sent {batch[:3]}…"
        raise GeocodeError(msg)
    return frame[~frame.index.duplicated()]
