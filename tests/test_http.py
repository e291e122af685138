"""Tests of assetmap._http against a local server on 127.0.0.1 speaking postcodes.io/Nominatim."""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from assetmap._errors import DataError, GeocodeError
from assetmap._http import (
    POSTCODES_IO_BATCH,
    HttpClient,
    Providers,
    check_user_agent,
    default_user_agent,
    download,
    nominatim_lookup,
    nominatim_search,
    postcodes_io_bulk,
    retry_after_s,
)

UA = "assetmap-tests/0.1 (contact: tests@example.org)"


@dataclass
class Scripted:
    """A canned answer served instead of the API's normal behaviour."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class FakeApi:
    """State of the local server: known postcodes and places, a script, a request log."""

    postcodes: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    places: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    script: list[Scripted] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.log if r["method"] == "POST"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        api = self.server.api
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with api.lock:
            api.log.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": parse_qs(parts.query),
                    "body": json.loads(body) if body else None,
                    "user_agent": self.headers.get("User-Agent"),
                    "t": time.monotonic(),
                }
            )
            scripted = api.script.pop(0) if api.script else None
        try:
            if scripted is not None:
                time.sleep(scripted.delay_s)
                self._reply(scripted.status, scripted.body, scripted.headers)
            elif method == "POST" and parts.path == "/postcodes":
                asked = json.loads(body)["postcodes"]
                if len(asked) > POSTCODES_IO_BATCH:
                    error = {"status": 400, "error": "No more than 100 postcodes per request"}
                    self._reply(400, json.dumps(error).encode())
                    return
                result = [{"query": p, "result": api.postcodes.get(p)} for p in asked]
                self._reply(200, json.dumps({"status": 200, "result": result}).encode())
            elif method == "GET" and parts.path.removeprefix("/files/") in api.files:
                content = api.files[parts.path.removeprefix("/files/")]
                self._reply(200, content, {"Content-Type": "application/octet-stream"})
            elif method == "GET" and parts.path == "/search":
                query = parse_qs(parts.query)["q"][0]
                self._reply(200, json.dumps(api.places.get(query, [])).encode())
            else:
                self._reply(404, b'{"error": "not found"}')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeApi


@contextlib.contextmanager
def serve_fake_api() -> Iterator[FakeApi]:
    """Run the fake postcodes.io/Nominatim server on 127.0.0.1 (random port) in a thread."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = FakeApi()
    host, port = server.server_address[:2]
    server.api.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        yield fake


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _client(tmp_path: Path, clock: FakeClock | None = None, **options: Any) -> HttpClient:
    clock = clock or FakeClock()
    settings: dict[str, Any] = {"cache_path": tmp_path / "http.sqlite", "timeout_s": 2.0}
    settings.update(options)
    return HttpClient(user_agent=UA, clock=clock, sleep=clock.sleep, **settings)


def _pc_result(lat: float, lon: float, quality: int = 1) -> dict[str, Any]:
    return {"latitude": lat, "longitude": lon, "quality": quality, "eastings": 1, "northings": 2}


# --- postcodes.io bulk --------------------------------------------------------------------------


def test_bulk_sends_at_most_100_per_post_and_aligns_results(api: FakeApi, tmp_path: Path) -> None:
    codes = [f"ZZ{i // 10} {i % 10}AA" for i in range(250)]
    api.postcodes = {c: _pc_result(52.0 + i / 1000, -1.5, quality=1) for i, c in enumerate(codes)}
    api.postcodes[codes[7]] = None  # postcodes.io's "not found"
    asked = pd.Series(codes, index=[f"id{i}" for i in range(250)])
    with _client(tmp_path) as client:
        out = postcodes_io_bulk(asked, client=client, base_url=api.url)
    posts = api.posts()
    assert len(posts) == 3
    assert [len(p["body"]["postcodes"]) for p in posts] == [100, 100, 50]
    assert all(p["path"] == "/postcodes" for p in posts)
    assert all(p["user_agent"] == UA for p in posts)
    assert list(out.index) == list(asked.index)
    assert out.loc["id0", "lat"] == pytest.approx(52.0)
    assert out.loc["id249", "lat"] == pytest.approx(52.249)
    assert out.loc["id249", "lon"] == pytest.approx(-1.5)
    assert out.loc["id7", "status"] == "not_found"
    assert pd.isna(out.loc["id7", "lat"])
    assert (out["status"] == "ok").sum() == 249
    assert out["quality"].dtype == "Int64"


def test_bulk_asks_each_postcode_once_and_handles_null_coordinates(
    api: FakeApi, tmp_path: Path
) -> None:
    api.postcodes = {
        "B66 2QT": _pc_result(52.4912, -1.9499),
        "JE2 4WD": {"latitude": None, "longitude": None, "quality": 9},
    }
    asked = pd.Series(["B66 2QT", "JE2 4WD", "B66 2QT", "XX1 1XX", None])
    with _client(tmp_path) as client:
        out = postcodes_io_bulk(asked, client=client, base_url=api.url, progress=True)
    assert api.posts()[0]["body"]["postcodes"] == ["B66 2QT", "JE2 4WD", "XX1 1XX"]
    assert list(out["status"]) == ["ok", "no_coordinates", "ok", "not_found", "not_found"]
    assert out["lat"].iloc[2] == pytest.approx(52.4912)
    assert out["quality"].iloc[1] == 9


def test_bulk_with_nothing_to_ask_sends_nothing(api: FakeApi, tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        out = postcodes_io_bulk(pd.Series([], dtype="string"), client=client, base_url=api.url)
    assert out.empty
    assert api.log == []


def test_bulk_rejects_an_answer_of_the_wrong_shape(api: FakeApi, tmp_path: Path) -> None:
    api.script = [Scripted(body=b'{"status": 200, "result": [{"query": "B66 2QT"}]}')]
    with _client(tmp_path) as client, pytest.raises(GeocodeError, match="unexpected answer shape"):
        postcodes_io_bulk(["B66 2QT", "B1 1AA"], client=client, base_url=api.url)


# --- retries, backoff, timeouts, malformed answers ----------------------------------------------


def test_429_waits_for_retry_after_seconds(api: FakeApi, tmp_path: Path) -> None:
    api.postcodes = {"B66 2QT": _pc_result(52.49, -1.95)}
    api.script = [
        Scripted(status=429, body=b'{"error": "slow down"}', headers={"Retry-After": "3"})
    ]
    clock = FakeClock()
    with _client(tmp_path, clock) as client:
        out = postcodes_io_bulk(["B66 2QT"], client=client, base_url=api.url)
    assert out["status"].iloc[0] == "ok"
    assert clock.sleeps == [3.0]
    assert len(api.posts()) == 2


def test_429_waits_for_retry_after_http_date(api: FakeApi, tmp_path: Path) -> None:
    api.places = {"Soho Road": [{"lat": "52.5", "lon": "-1.93", "place_rank": 26}]}
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    api.script = [Scripted(status=429, headers={"Retry-After": when})]
    clock = FakeClock()
    with _client(tmp_path, clock) as client:
        hit = nominatim_search("Soho Road", client=client, base_url=api.url)
    assert hit is not None
    assert hit["lat"] == pytest.approx(52.5)
    assert len(clock.sleeps) == 1
    assert 17.0 <= clock.sleeps[0] <= 20.0


def test_503_backs_off_exponentially_then_succeeds(api: FakeApi, tmp_path: Path) -> None:
    api.postcodes = {"B66 2QT": _pc_result(52.49, -1.95)}
    api.script = [Scripted(status=503), Scripted(status=503), Scripted(status=502)]
    clock = FakeClock()
    with _client(tmp_path, clock, backoff_s=0.5, retries=4) as client:
        out = postcodes_io_bulk(["B66 2QT"], client=client, base_url=api.url)
    assert out["status"].iloc[0] == "ok"
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert client.requests_sent == 4


def test_503_forever_gives_up_with_a_clear_error(api: FakeApi, tmp_path: Path) -> None:
    api.script = [Scripted(status=503) for _ in range(3)]
    clock = FakeClock()
    with (
        _client(tmp_path, clock, retries=2, backoff_s=0.1) as client,
        pytest.raises(GeocodeError, match=r"gave up after 3 attempts: HTTP 503"),
    ):
        client.get_json(api.url + "/search", params={"q": "x"})
    assert len(api.log) == 3
    assert clock.sleeps == [0.1, 0.2]


def test_retry_after_beyond_max_wait_is_an_error_not_a_long_sleep(
    api: FakeApi, tmp_path: Path
) -> None:
    api.script = [Scripted(status=429, headers={"Retry-After": "3600"})]
    clock = FakeClock()
    with (
        _client(tmp_path, clock, max_wait_s=60) as client,
        pytest.raises(GeocodeError, match="asks to wait 3600 s"),
    ):
        client.get_json(api.url + "/search", params={"q": "x"})
    assert clock.sleeps == []


def test_client_errors_are_not_retried(api: FakeApi, tmp_path: Path) -> None:
    api.script = [Scripted(status=400, body=b'{"error": "bad"}')]
    with _client(tmp_path) as client, pytest.raises(GeocodeError, match="HTTP 400"):
        client.get_json(api.url + "/search", params={"q": "x"})
    assert len(api.log) == 1


def test_slow_answer_times_out(api: FakeApi, tmp_path: Path) -> None:
    api.script = [Scripted(delay_s=0.6, body=b"[]")]
    start = time.monotonic()
    with (
        _client(tmp_path, timeout_s=0.15, retries=0) as client,
        pytest.raises(GeocodeError, match=r"no answer within timeout_s=0.15 s"),
    ):
        client.get_json(api.url + "/search", params={"q": "slow"})
    assert time.monotonic() - start < 0.55


def test_timeout_is_retried_and_can_recover(api: FakeApi, tmp_path: Path) -> None:
    api.places = {"Smethwick": [{"lat": "52.49", "lon": "-1.97", "place_rank": 16}]}
    api.script = [Scripted(delay_s=0.5, body=b"[]")]
    with _client(tmp_path, timeout_s=0.15, retries=1) as client:
        hit = nominatim_search("Smethwick", client=client, base_url=api.url)
    assert hit is not None
    assert hit["place_rank"] == 16


def test_malformed_json_is_a_clear_error_and_is_not_cached(api: FakeApi, tmp_path: Path) -> None:
    api.script = [Scripted(body=b'{"result": [')]
    with _client(tmp_path) as client:
        with pytest.raises(GeocodeError, match="not valid JSON"):
            client.get_json(api.url + "/search", params={"q": "x"})
        assert client.get_json(api.url + "/search", params={"q": "x"}) == []
    assert len(api.log) == 2


def test_connection_refused_is_a_geocode_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FakeClock()
    with (
        _client(tmp_path, clock, retries=1, backoff_s=0.01) as client,
        pytest.raises(GeocodeError, match="cannot connect"),
    ):
        client.get_json(f"http://127.0.0.1:{port}/search", params={"q": "x"})
    assert clock.sleeps == [0.01]


# --- cache --------------------------------------------------------------------------------------


def test_repeat_request_is_served_from_the_persistent_cache(api: FakeApi, tmp_path: Path) -> None:
    api.postcodes = {"B66 2QT": _pc_result(52.49, -1.95)}
    with _client(tmp_path) as client:
        first = postcodes_io_bulk(["B66 2QT"], client=client, base_url=api.url)
        second = postcodes_io_bulk(["B66 2QT"], client=client, base_url=api.url)
        assert client.cache_hits == 1
    with _client(tmp_path) as again:
        third = postcodes_io_bulk(["B66 2QT"], client=again, base_url=api.url)
        assert again.cache_hits == 1
        assert again.requests_sent == 0
    assert len(api.log) == 1
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(first, third)
    assert (tmp_path / "http.sqlite").exists()


def test_different_bodies_are_different_cache_entries(api: FakeApi, tmp_path: Path) -> None:
    api.postcodes = {"B66 2QT": _pc_result(52.49, -1.95), "B1 1AA": _pc_result(52.48, -1.9)}
    with _client(tmp_path) as client:
        a = postcodes_io_bulk(["B66 2QT"], client=client, base_url=api.url)
        b = postcodes_io_bulk(["B1 1AA"], client=client, base_url=api.url)
    assert len(api.log) == 2
    assert a["lat"].iloc[0] != b["lat"].iloc[0]


# --- Nominatim ----------------------------------------------------------------------------------


def test_nominatim_requests_are_at_least_min_interval_apart_fake_clock(
    api: FakeApi, tmp_path: Path
) -> None:
    api.places = {q: [{"lat": "52.5", "lon": "-1.9", "place_rank": 30}] for q in "abc"}
    clock = FakeClock()
    with _client(tmp_path, clock, min_interval_s=1.0) as client:
        out = nominatim_lookup(
            pd.Series(["a", "b", "c", "a"]), client=client, base_url=api.url, max_queries=10
        )
        # a repeat is a cache hit: no further wait, no further request
        nominatim_search("b", client=client, base_url=api.url)
    assert clock.sleeps == [1.0, 1.0]
    assert len(api.log) == 3
    assert list(out["status"]) == ["ok"] * 4
    query = api.log[0]["query"]
    assert query["format"] == ["jsonv2"]
    assert query["limit"] == ["1"]
    assert query["countrycodes"] == ["gb"]


def test_nominatim_rate_limit_real_clock(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.places = {q: [] for q in "xyz"}
    interval = 0.1
    starts: list[float] = []
    with HttpClient(
        user_agent=UA, cache_path=tmp_path / "c.sqlite", min_interval_s=interval
    ) as client:
        session = client._open_session()
        send = session.request

        def spy(method: str, url: str, **options: Any) -> Any:
            if not options.get("only_if_cached"):
                starts.append(time.monotonic())  # when a request really leaves the client
            return send(method, url, **options)

        monkeypatch.setattr(session, "request", spy)
        for query in "xyz":
            assert nominatim_search(query, client=client, base_url=api.url) is None
    assert len(api.log) == 3
    assert len(starts) == 3
    assert min(b - a for a, b in itertools.pairwise(starts)) >= interval * 0.99


def test_nominatim_lookup_aligns_skips_empties_and_dedupes(api: FakeApi, tmp_path: Path) -> None:
    api.places = {"Soho Road Library": [{"lat": "52.503", "lon": "-1.933", "place_rank": 30}]}
    queries = pd.Series(["Soho Road Library", "", None, "Nowhere Special"], index=list("wxyz"))
    with _client(tmp_path) as client:
        out = nominatim_lookup(queries, client=client, base_url=api.url, progress=True)
    assert list(out.index) == list("wxyz")
    assert list(out["status"]) == ["ok", "skipped", "skipped", "not_found"]
    assert out.loc["w", "lat"] == pytest.approx(52.503)
    assert out.loc["w", "place_rank"] == 30
    assert len(api.log) == 2


def test_nominatim_refuses_bulk_lists(api: FakeApi, tmp_path: Path) -> None:
    queries = pd.Series([f"place {i}" for i in range(11)])
    with _client(tmp_path) as client, pytest.raises(GeocodeError, match="bulk geocoding"):
        nominatim_lookup(queries, client=client, base_url=api.url, max_queries=10)
    assert api.log == []


def test_nominatim_needs_an_identifying_user_agent(api: FakeApi, tmp_path: Path) -> None:
    with (
        HttpClient(user_agent="python-requests/2.32", cache_path=tmp_path / "c.sqlite") as client,
        pytest.raises(GeocodeError, match="does not identify you"),
    ):
        nominatim_search("x", client=client, base_url=api.url)
    assert api.log == []


def test_public_nominatim_needs_one_second_between_requests(tmp_path: Path) -> None:
    with (
        HttpClient(user_agent=UA, cache_path=tmp_path / "c.sqlite", min_interval_s=0.2) as client,
        pytest.raises(GeocodeError, match="usage policy"),
    ):
        nominatim_search("x", client=client)


def test_nominatim_answer_that_is_not_a_list(api: FakeApi, tmp_path: Path) -> None:
    api.script = [Scripted(body=b'{"error": "oops"}')]
    with _client(tmp_path) as client, pytest.raises(GeocodeError, match="expected a JSON list"):
        nominatim_search("x", client=client, base_url=api.url)


# --- offline guard, user agents, headers --------------------------------------------------------


def test_offline_client_never_touches_a_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    touched: list[object] = []

    def guard(*args: object, **kwargs: object) -> None:
        touched.append(args)
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket, "create_connection", guard)
    client = HttpClient(user_agent=UA, cache_path=tmp_path / "c.sqlite", offline=True)
    with pytest.raises(DataError, match="offline"):
        client.download("https://example.org/big.zip", tmp_path / "big.zip")
    with pytest.raises(DataError, match="offline"):
        download("https://example.org/big.zip", tmp_path / "big.zip", offline=True)
    assert not (tmp_path / "big.zip").exists()
    with pytest.raises(GeocodeError, match="offline"):
        client.get_json("https://api.postcodes.io/postcodes/B662QT")
    with pytest.raises(GeocodeError, match="offline"):
        postcodes_io_bulk(["B66 2QT"], client=client)
    with pytest.raises(GeocodeError, match="offline"):
        nominatim_search("Smethwick", client=client, base_url="http://127.0.0.1:9")
    assert touched == []
    assert client.requests_sent == 0


def test_check_user_agent() -> None:
    assert (
        check_user_agent(" assetmap/0.1 (contact: a@b.org) ") == "assetmap/0.1 (contact: a@b.org)"
    )
    assert check_user_agent("assetmap/0.1 (+https://example.org/assetmap)").endswith("assetmap)")
    for bad in (None, "", "assetmap", "python-requests/2.32 a@b.org", "Mozilla/5.0 (x@y.org)"):
        with pytest.raises(GeocodeError, match=r"expected e\.g\."):
            check_user_agent(bad)


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Wed, 25 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_s("Wed, 25 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_s(None) is None
    assert retry_after_s("soon") is None


def test_client_validates_its_options() -> None:
    with pytest.raises(GeocodeError, match="user_agent"):
        HttpClient(user_agent=" ")
    with pytest.raises(GeocodeError, match="timeout_s"):
        HttpClient(user_agent=UA, timeout_s=-1)
    with pytest.raises(GeocodeError, match="retries"):
        HttpClient(user_agent=UA, retries=-1)


def test_default_providers_are_polite(tmp_path: Path) -> None:
    providers = Providers.default(user_agent=UA, cache_path=tmp_path / "c.sqlite")
    assert providers.nominatim is not None
    assert providers.postcodes_io is not None
    assert providers.nominatim.min_interval_s >= 1.0
    assert providers.nominatim.user_agent == UA
    with pytest.raises(GeocodeError, match="does not identify you"):
        Providers.default(user_agent=None)


# --- downloads ----------------------------------------------------------------------------------


def test_download_streams_to_part_then_renames(api: FakeApi, tmp_path: Path) -> None:
    content = bytes(range(256)) * 5000
    api.files = {"codepo_gb.zip": content}
    target = tmp_path / "external" / "codepoint_gb" / "codepo_gb.zip"
    digest = hashlib.sha256(content).hexdigest()
    written = download(f"{api.url}/files/codepo_gb.zip", target, sha256=digest.upper())
    assert written == target
    assert target.read_bytes() == content
    assert list(target.parent.iterdir()) == [target]
    assert api.log[0]["user_agent"] == default_user_agent()
    assert default_user_agent().startswith("assetmap/")


def test_download_checksum_mismatch_leaves_the_old_file(api: FakeApi, tmp_path: Path) -> None:
    api.files = {"a.csv": b"new,content\n"}
    target = tmp_path / "a.csv"
    target.write_bytes(b"old")
    with pytest.raises(DataError, match="does not match the expected"):
        download(f"{api.url}/files/a.csv", target, sha256="0" * 64)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_download_retries_then_fails_cleanly(api: FakeApi, tmp_path: Path) -> None:
    api.files = {"a.csv": b"x,y\n"}
    api.script = [Scripted(status=503, headers={"Retry-After": "0"})]
    clock = FakeClock()
    with _client(tmp_path, clock, retries=2) as client:
        assert (
            client.download(f"{api.url}/files/a.csv", tmp_path / "a.csv").read_bytes() == b"x,y\n"
        )
        with pytest.raises(DataError, match="HTTP 404"):
            client.download(f"{api.url}/files/missing.csv", tmp_path / "missing.csv")
    assert clock.sleeps == [0.0]
    assert not (tmp_path / "missing.csv").exists()
    assert not (tmp_path / "missing.csv.part").exists()
