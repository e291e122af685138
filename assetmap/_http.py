"""HTTP for the online geocoding providers: the only module of assetmap that opens a socket.

Everything here is opt-in (extra ``online``). One :class:`HttpClient` gives timeouts, retries
with exponential backoff honouring ``Retry-After``, a persistent SQLite cache
(requests-cache) for JSON answers, a per-host rate limit and an ``offline`` switch that
refuses before any connection; :func:`download` serves ``assetmap data`` (``.part`` file,
checksum, rename). The providers send through the client and never import requests: the
postcodes.io bulk lookup (≤ 100 postcodes per POST, :mod:`assetmap._postcodes_io`) and
Nominatim search (≤ 1 request per second, identifying User-Agent, one query at a time,
:mod:`assetmap._nominatim`); their names are re-exported here, and :class:`Providers`
bundles the clients :func:`assetmap.geocode.geocode` asks.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from assetmap._errors import AssetmapError, DataError, GeocodeError
from assetmap._nominatim import NOMINATIM_PUBLIC_HOSTS as NOMINATIM_PUBLIC_HOSTS
from assetmap._nominatim import NOMINATIM_URL as NOMINATIM_URL
from assetmap._nominatim import check_user_agent as check_user_agent
from assetmap._nominatim import nominatim_lookup as nominatim_lookup
from assetmap._nominatim import nominatim_search as nominatim_search
from assetmap._optional import require
from assetmap._paths import cache_dir
from assetmap._postcodes_io import POSTCODES_IO_BATCH as POSTCODES_IO_BATCH
from assetmap._postcodes_io import POSTCODES_IO_URL as POSTCODES_IO_URL
from assetmap._postcodes_io import postcodes_io_bulk as postcodes_io_bulk

logger = logging.getLogger(__name__)

#: Answers worth retrying: rate limited, or the server is temporarily unwell.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: How long a cached answer is reused (postcodes and places change slowly), in seconds.
CACHE_EXPIRE_S = 30 * 24 * 3600
#: Where people can find who runs assetmap (sent in the default User-Agent).
PROJECT_URL = "https://github.com/assetmap/assetmap"

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def default_user_agent() -> str:
    """``assetmap/<version> (+https://github.com/assetmap/assetmap)``: identifies the tool."""
    from assetmap import __version__

    return f"assetmap/{__version__} (+{PROJECT_URL})"


def default_cache_path() -> Path:
    """Path of the persistent HTTP cache: ``<cache_dir()>/http.sqlite``."""
    return cache_dir() / "http.sqlite"


def retry_after_s(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (delta-seconds or HTTP-date).

    Returns ``None`` when the header is absent or unreadable; never negative.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _is_json(response: Any) -> bool:
    """requests-cache filter: store only answers that parse as JSON (never a broken body)."""
    try:
        json.loads(response.content)
    except (ValueError, TypeError):
        return False
    return True


class HttpClient:
    """A polite JSON-over-HTTP client: cache, retries, backoff, rate limit, offline switch.

    Parameters
    ----------
    user_agent
        Sent with every request; should identify the application and a contact.
    cache_path
        SQLite file of the persistent cache (default ``<cache_dir()>/http.sqlite``). Only
        ``200`` answers whose body is valid JSON are cached, for ``cache_expire_s`` seconds.
    timeout_s
        Connect and read timeout of one attempt, in seconds.
    retries
        Further attempts after a timeout, a connection error or HTTP 429/5xx.
    backoff_s
        First backoff in seconds; attempt *n* waits ``backoff_s * 2**n`` unless the server
        sends ``Retry-After`` (seconds or an HTTP-date), which wins.
    min_interval_s
        Least time between the starts of two network requests to the same host, in seconds
        (Nominatim: 1.0). Cache hits do not count.
    offline
        Refuse every request with :class:`GeocodeError` before any socket is opened.
    cache_expire_s
        Lifetime of cached answers, in seconds.
    max_wait_s
        Longest single wait the client accepts from ``Retry-After``; a longer one is an error.
    clock, sleep
        Monotonic clock (seconds) and sleep function; tests pass fakes.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        cache_path: str | os.PathLike[str] | None = None,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        min_interval_s: float = 0.0,
        offline: bool = False,
        cache_expire_s: float = CACHE_EXPIRE_S,
        max_wait_s: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not user_agent or not user_agent.strip():
            msg = "HttpClient needs a user_agent (expected e.g. 'assetmap/0.1 (contact: you@example.org)')"
            raise GeocodeError(msg)
        for name, value in (
            ("timeout_s", timeout_s),
            ("backoff_s", backoff_s),
            ("min_interval_s", min_interval_s),
            ("max_wait_s", max_wait_s),
        ):
            if not np.isfinite(value) or value < 0:
                msg = f"HttpClient: {name}={value!r} is not a non-negative number of seconds"
                raise GeocodeError(msg)
        if retries < 0:
            msg = f"HttpClient: retries={retries!r} is negative (expected 0 or more)"
            raise GeocodeError(msg)
        self.user_agent = user_agent.strip()
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.min_interval_s = float(min_interval_s)
        self.offline = offline
        self.cache_expire_s = cache_expire_s
        self.max_wait_s = float(max_wait_s)
        self._clock = clock
        self._sleep = sleep
        self._last_sent: dict[str, float] = {}
        self._session: Any = None
        #: Requests that went to the network (cache hits excluded).
        self.requests_sent = 0
        #: Answers served from the cache.
        self.cache_hits = 0

    def __repr__(self) -> str:
        state = "offline" if self.offline else "online"
        return f"HttpClient({self.user_agent!r}, {state}, min_interval_s={self.min_interval_s})"

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session and its cache connection."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def get_json(self, url: str, *, params: Mapping[str, str | int | float] | None = None) -> Any:
        """GET ``url`` with query ``params`` and return the decoded JSON body."""
        return self._request_json("GET", url, params=params, payload=None)

    def post_json(self, url: str, *, payload: Any) -> Any:
        """POST ``payload`` as JSON to ``url`` and return the decoded JSON body."""
        return self._request_json("POST", url, params=None, payload=payload)

    def _open_session(self) -> Any:
        if self._session is None:
            require("requests", "online")
            requests_cache = require("requests_cache", "online")
            path = self.cache_path or default_cache_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            session = requests_cache.CachedSession(
                cache_name=str(path),
                backend="sqlite",
                expire_after=self.cache_expire_s,
                allowable_methods=("GET", "POST"),
                allowable_codes=(200,),
                filter_fn=_is_json,
            )
            session.headers.update({"User-Agent": self.user_agent, "Accept": "application/json"})
            self._session = session
        return self._session

    def _wait_turn(self, host: str) -> None:
        last = self._last_sent.get(host)
        if last is not None and self.min_interval_s > 0:
            wait = last + self.min_interval_s - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_sent[host] = self._clock()

    def _request_json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int | float] | None,
        payload: Any,
    ) -> Any:
        where = f"{method} {url}"
        self._refuse_offline(where, GeocodeError)
        session = self._open_session()
        cached = session.request(
            method, url, params=params, json=payload, only_if_cached=True, timeout=self.timeout_s
        )
        if cached.status_code == 200:
            self.cache_hits += 1
            return _decode(cached, where)
        response = self._send(
            lambda: session.request(
                method, url, params=params, json=payload, timeout=self.timeout_s
            ),
            url=url,
            where=where,
            error=GeocodeError,
        )
        return _decode(response, where)

    def download(
        self,
        url: str,
        target: str | os.PathLike[str],
        *,
        sha256: str | None = None,
        chunk_bytes: int = 1 << 20,
    ) -> Path:
        """Stream ``url`` to ``target`` via ``<target>.part``, verified, then renamed.

        Parameters
        ----------
        url
            File to fetch (not cached: large downloads bypass the JSON cache).
        target
            Where the file ends up; its folder is created. Replaced only on success.
        sha256
            Expected hex digest; a mismatch deletes the partial file and raises.
        chunk_bytes
            Bytes read per chunk.

        Raises
        ------
        DataError
            Offline client, unreachable server, non-200 answer after retries, or a checksum
            mismatch; ``target`` is left as it was.
        """
        where = f"GET {url}"
        self._refuse_offline(where, DataError)
        requests = require("requests", "online")
        final = Path(target)
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(final.name + ".part")
        with requests.Session() as session:
            session.headers.update({"User-Agent": self.user_agent})
            response = self._send(
                lambda: session.get(url, stream=True, timeout=self.timeout_s),
                url=url,
                where=where,
                error=DataError,
            )
            digest = hashlib.sha256()
            try:
                with response, open(part, "wb") as out:
                    for chunk in response.iter_content(chunk_size=chunk_bytes):
                        digest.update(chunk)
                        out.write(chunk)
                if sha256 is not None and digest.hexdigest() != sha256.lower():
                    msg = (
                        f"{where}: sha256 {digest.hexdigest()} does not match the expected "
                        f"{sha256.lower()}; {final} was not changed"
                    )
                    raise DataError(msg)
                os.replace(part, final)
            except requests.RequestException as exc:
                msg = f"{where}: the download broke off ({type(exc).__name__}: {exc})"
                raise DataError(msg) from exc
            finally:
                part.unlink(missing_ok=True)
        return final

    def _refuse_offline(self, where: str, error: type[AssetmapError]) -> None:
        if self.offline:
            msg = f"{where}: refused, the HTTP client is offline (offline=True); nothing was sent"
            raise error(msg)

    def _send(
        self,
        attempt_once: Callable[[], Any],
        *,
        url: str,
        where: str,
        error: type[AssetmapError],
    ) -> Any:
        """Send with the host's rate limit, retries and backoff; the first 200 response."""
        requests = require("requests", "online")
        host = urlsplit(url).netloc
        problem = ""
        for attempt in range(self.retries + 1):
            self._wait_turn(host)
            delay = self.backoff_s * 2**attempt
            try:
                self.requests_sent += 1
                response = attempt_once()
            except requests.Timeout:
                problem = f"no answer within timeout_s={self.timeout_s:g} s"
            except requests.ConnectionError as exc:
                problem = f"cannot connect ({type(exc).__name__}: {exc})"
            else:
                status = int(response.status_code)
                if status == 200:
                    return response
                if status not in RETRY_STATUSES:
                    msg = (
                        f"{where}: HTTP {status} {response.reason or ''} "
                        f"(expected 200): {response.text[:200]!r}"
                    )
                    raise error(msg)
                problem = f"HTTP {status} {response.reason or ''}".strip()
                told = retry_after_s(response.headers.get("Retry-After"))
                if told is not None:
                    delay = told
                    problem += f" (Retry-After: {response.headers.get('Retry-After')})"
                response.close()
            if attempt == self.retries:
                break
            if delay > self.max_wait_s:
                msg = (
                    f"{where}: {problem}; the server asks to wait {delay:.0f} s, more than "
                    f"max_wait_s={self.max_wait_s:g} s — try again later"
                )
                raise error(msg)
            logger.debug("%s: %s; retrying in %.2f s", where, problem, delay)
            self._sleep(delay)
        msg = f"{where}: gave up after {self.retries + 1} attempts: {problem}"
        raise error(msg)


def reachable(url: str, *, timeout_s: float = 3.0, offline: bool = False) -> bool:
    """Whether a TCP connection to ``url``'s host and port opens within ``timeout_s``.

    A cheap probe before a long download, so an offline machine says so at once instead of
    waiting on retries. ``offline=True`` answers False without opening a socket.
    """
    if offline:
        return False
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def download(
    url: str,
    target: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    user_agent: str | None = None,
    timeout_s: float = 60.0,
    retries: int = 3,
    offline: bool = False,
) -> Path:
    """Download ``url`` to ``target`` atomically (``.part`` then rename), optionally verified.

    A convenience over :meth:`HttpClient.download` for ``assetmap data``; the User-Agent
    defaults to ``assetmap/<version> (+project URL)``. Raises :class:`DataError` on failure.
    """
    agent = user_agent or default_user_agent()
    with HttpClient(user_agent=agent, timeout_s=timeout_s, retries=retries, offline=offline) as c:
        return c.download(url, target, sha256=sha256)


def _decode(response: Any, where: str) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, TypeError) as exc:
        snippet = bytes(response.content[:80]).decode("utf-8", errors="backslashreplace")
        msg = f"{where}: the answer is not valid JSON ({exc}); it starts {snippet!r}"
        raise GeocodeError(msg) from exc


@dataclass(frozen=True)
class Providers:
    """The online providers :func:`assetmap.geocode.geocode` asks, in order.

    Attributes
    ----------
    postcodes_io
        Client for postcodes.io, or ``None`` to skip it.
    nominatim
        Client for Nominatim (``min_interval_s >= 1`` on the public server), or ``None``.
    postcodes_io_url, nominatim_url
        API roots (point them at a local server in tests or at a self-hosted instance).
    countrycodes
        Nominatim ``countrycodes`` filter.
    nominatim_max_queries
        Most distinct Nominatim queries one geocode run may send.
    """

    postcodes_io: HttpClient | None
    nominatim: HttpClient | None
    postcodes_io_url: str = POSTCODES_IO_URL
    nominatim_url: str = NOMINATIM_URL
    countrycodes: str = "gb"
    nominatim_max_queries: int = 200

    @classmethod
    def default(
        cls,
        *,
        user_agent: str | None,
        cache_path: str | os.PathLike[str] | None = None,
        timeout_s: float = 10.0,
    ) -> Providers:
        """postcodes.io and the public Nominatim, sharing one cache, with ``user_agent``.

        Raises :class:`GeocodeError` unless ``user_agent`` identifies its operator.
        """
        agent = check_user_agent(user_agent)
        return cls(
            postcodes_io=HttpClient(user_agent=agent, cache_path=cache_path, timeout_s=timeout_s),
            nominatim=HttpClient(
                user_agent=agent, cache_path=cache_path, timeout_s=timeout_s, min_interval_s=1.0
            ),
        )
