"""Nominatim: polite free-text search (≤ 1 request/s, identifying User-Agent, no bulk use)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from assetmap._errors import GeocodeError

#: Public Nominatim endpoint (OpenStreetMap); its usage policy allows ≤ 1 request per second.
NOMINATIM_URL = "https://nominatim.openstreetmap.org"
#: Hosts whose usage policy is Nominatim's: ≤ 1 request/second, no bulk geocoding.
NOMINATIM_PUBLIC_HOSTS = frozenset({"nominatim.openstreetmap.org"})
#: An identifying User-Agent names a way to contact its operator: an e-mail address or a URL.
_CONTACT = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+|https?://\S+")
#: Generic library User-Agents that identify nobody.
_GENERIC_AGENTS = ("python-requests", "python-urllib", "mozilla/", "curl/", "wget/")


class JsonGetter(Protocol):
    """What Nominatim needs of :class:`assetmap._http.HttpClient`: its agent, pace and a GET."""

    user_agent: str
    min_interval_s: float

    def get_json(
        self, url: str, *, params: Mapping[str, str | int | float] | None = None
    ) -> Any: ...


def check_user_agent(user_agent: str | None, *, service: str = "Nominatim") -> str:
    """Return ``user_agent`` stripped if it identifies its operator, else raise.

    Parameters
    ----------
    user_agent
        E.g. ``"assetmap/0.1 (contact: you@example.org)"``: it must name a contact (an
        e-mail address or an ``http(s)://`` URL) and must not be a library's default.
    service
        The service whose usage policy asks for it, named in the error.

    Raises
    ------
    GeocodeError
        When ``user_agent`` is missing, generic or names no contact.
    """
    text = (user_agent or "").strip()
    generic = text.lower().startswith(_GENERIC_AGENTS)
    if not text or generic or not _CONTACT.search(text):
        msg = (
            f"user agent {user_agent!r} does not identify you: {service}'s usage policy needs a "
            "User-Agent naming the application and a contact (expected e.g. "
            "'assetmap/0.1 (contact: you@example.org)'; set user_agent= or --user-agent)"
        )
        raise GeocodeError(msg)
    return text


def nominatim_search(
    query: str,
    *,
    client: JsonGetter,
    base_url: str = NOMINATIM_URL,
    countrycodes: str = "gb",
) -> dict[str, Any] | None:
    """Search Nominatim for one free-text ``query``; the best hit or ``None``.

    Sends ``GET /search?format=jsonv2&limit=1&countrycodes=...&q=...``. The client must carry
    an identifying User-Agent and, against the public server, ``min_interval_s >= 1``.

    Returns
    -------
    dict or None
        ``lat``, ``lon`` (WGS84 degrees), ``place_rank`` (int), ``category``, ``type``,
        ``display_name``; ``None`` when Nominatim has no result.
    """
    check_user_agent(client.user_agent, service="Nominatim")
    host = urlsplit(base_url).hostname or ""
    if host in NOMINATIM_PUBLIC_HOSTS and client.min_interval_s < 1.0:
        msg = (
            f"Nominatim at {host}: min_interval_s={client.min_interval_s:g} breaks its usage policy "
            "(expected at least 1.0 s between requests)"
        )
        raise GeocodeError(msg)
    url = base_url.rstrip("/") + "/search"
    params: dict[str, str | int | float] = {"q": query, "format": "jsonv2", "limit": 1}
    if countrycodes:
        params["countrycodes"] = countrycodes
    answer = client.get_json(url, params=params)
    if not isinstance(answer, list):
        msg = f"GET {url} q={query!r}: unexpected answer (expected a JSON list); got {str(answer)[:200]!r}"
        raise GeocodeError(msg)
    if not answer:
        return None
    best = answer[0]
    try:
        lat, lon = float(best["lat"]), float(best["lon"])
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"GET {url} q={query!r}: result without numeric 'lat'/'lon': {str(best)[:200]!r}"
        raise GeocodeError(msg) from exc
    rank = pd.to_numeric(pd.Series([best.get("place_rank")]), errors="coerce").iloc[0]
    return {
        "lat": lat,
        "lon": lon,
        "place_rank": None if pd.isna(rank) else int(rank),
        "category": str(best.get("category", "")),
        "type": str(best.get("type", "")),
        "display_name": str(best.get("display_name", "")),
    }


def nominatim_lookup(
    queries: pd.Series,
    *,
    client: JsonGetter,
    base_url: str = NOMINATIM_URL,
    countrycodes: str = "gb",
    max_queries: int = 200,
    progress: bool = False,
) -> pd.DataFrame:
    """Search each distinct query once (politely, one at a time) and align the hits.

    Parameters
    ----------
    queries
        Free-text queries (``"Soho Road Library, Birmingham"``); empty/NA entries are skipped.
    max_queries
        Refuse (raise :class:`GeocodeError`) when more distinct queries than this are asked:
        Nominatim's policy forbids bulk geocoding — use the offline postcode directory.

    Returns
    -------
    pandas.DataFrame
        Aligned to ``queries.index``: ``status`` (``"ok"``, ``"not_found"``, ``"skipped"``),
        ``lat``, ``lon`` (WGS84 degrees), ``place_rank`` (Int64), ``display_name``.
    """
    text = queries.astype("string").str.strip()
    sent = (text.notna() & (text != "")).to_numpy(dtype=bool)
    asked = text[sent]
    unique = [str(q) for q in pd.unique(asked.to_numpy())]
    if len(unique) > max_queries:
        msg = (
            f"Nominatim: {len(unique)} distinct queries exceed max_queries={max_queries}; its usage "
            "policy forbids bulk geocoding — add postcodes and use the offline directory instead"
        )
        raise GeocodeError(msg)
    todo: Iterable[str] = unique
    if progress:
        from tqdm.auto import tqdm

        todo = tqdm(unique, desc="Nominatim", unit="query")
    hits = {
        q: nominatim_search(q, client=client, base_url=base_url, countrycodes=countrycodes)
        for q in todo
    }
    table = pd.DataFrame.from_dict(
        {q: h for q, h in hits.items() if h is not None},
        orient="index",
        columns=["lat", "lon", "place_rank", "display_name"],
    )
    out = table.reindex(text.to_numpy())
    out.index = queries.index
    out["lat"] = out["lat"].astype("float64")
    out["lon"] = out["lon"].astype("float64")
    out["place_rank"] = pd.to_numeric(out["place_rank"], errors="coerce").astype("Int64")
    status = np.where(sent, np.where(out["lat"].notna(), "ok", "not_found"), "skipped")
    out.insert(0, "status", pd.Series(status, index=out.index, dtype="string"))
    return out
