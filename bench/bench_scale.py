"""The scale path: the whole GB postcode pipeline in memory and on dask (1 and 2 local workers).

Pipeline, on every GB postcode unit of Code-Point Open (1,745,849 rows; quick: 100,000):
``geocode`` by postcode → ``link`` to the nearest of the 10 Greater Icknield sites (k=1) →
``link`` within 10 km. In memory: :func:`assetmap.geocode.geocode` and
:func:`assetmap.links.link` with the directory already open. On dask:
:func:`assetmap.scale.geocode` / :func:`assetmap.scale.link` with the directory's path (each
worker opens it once), on LocalClusters of 1 and 2 worker processes (one thread each)
started before timing and warmed with a 2,000-row run.

Measured per engine and size (100k, 400k — random samples — and all 1.7M rows): wall time
(best of ``repeat``, engines interleaved so the load of a shared machine falls on all of
them alike), CPU seconds (this process plus the workers), peak RSS of each worker process
and of this process (psutil, sampled every 20 ms), and how the cost grows with rows.
Every dask result is checked against the in-memory one: every column, value and dtype, and
the points' exact coordinates; a difference fails the benchmark.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench._common import record

CODEPOINT = "codepoint_gb/codepo_gb.zip"
SEED = 20261126
WORK = Path(__file__).parent / "work"
REACH_M = 10_000.0
SAMPLE_MS = 0.02


def _real(relpath: str) -> Path:
    """``$ASSETMAP_DATA_MIRROR``, ``data/external`` or ``../shared/data`` (tests/conftest)."""
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests"))
    try:
        from conftest import real_data
    finally:
        sys.path.remove(str(root / "tests"))
    found: Path = real_data(relpath)
    return found


def _postcodes(path: Path) -> Any:
    """Every postcode of Code-Point Open as published (``"B66 2QT"``), in file order."""
    import pandas as pd

    frames = []
    with zipfile.ZipFile(path) as archive:
        names = sorted(
            n for n in archive.namelist() if n.startswith("Data/CSV/") and n.endswith(".csv")
        )
        for name in names:
            with archive.open(name) as fh:
                frames.append(
                    pd.read_csv(fh, header=None, usecols=[0], names=["postcode"], dtype="str")
                )
    return pd.concat(frames, ignore_index=True)["postcode"]


def _register(postcodes: Any, rows: Any) -> Any:
    """An asset frame of the given rows: ids ``pc<row>`` (text order is not row order)."""
    import pandas as pd

    ids = pd.Index("pc" + pd.Series(rows).astype(str), name="asset_id")
    return pd.DataFrame({"postcode": postcodes.to_numpy()[rows]}, index=ids)


# ------------------------------------------------------------------------------------ sampling


class _PeakRss:
    """Peak resident memory (bytes) of some processes, sampled in a background thread."""

    def __init__(self, pids: list[int]) -> None:
        import psutil

        self._procs = [psutil.Process(pid) for pid in pids]
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for proc in self._procs:
                rss = proc.memory_info().rss
                if rss > self.peak[proc.pid]:
                    self.peak[proc.pid] = rss
            time.sleep(SAMPLE_MS)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def _cpu(dask_client: Any | None) -> Iterator[dict[str, float]]:
    """CPU seconds used meanwhile by this process and by the workers of ``dask_client``."""
    used: dict[str, float] = {}
    workers_before = dask_client.run(time.process_time) if dask_client is not None else {}
    here = time.process_time()
    yield used
    used["client"] = time.process_time() - here
    if dask_client is not None:
        after = dask_client.run(time.process_time)
        used["workers"] = sum(after[w] - workers_before[w] for w in after)


# ------------------------------------------------------------------------------------ pipeline


def _memory_pipeline(frame: Any, directory: Any, macro: Any) -> tuple[Any, dict[str, float]]:
    from assetmap.geocode import geocode
    from assetmap.links import link

    steps: dict[str, float] = {}
    start = time.perf_counter()
    placed = geocode(frame, postcodes=directory, gazetteer=None)
    steps["geocode_s"] = time.perf_counter() - start
    start = time.perf_counter()
    nearest = link(placed.assets, macro, k=1)
    steps["link_k1_s"] = time.perf_counter() - start
    start = time.perf_counter()
    within = link(placed.assets, macro, within_m=REACH_M)
    steps["link_10km_s"] = time.perf_counter() - start
    return (placed, nearest, within), steps


def _dask_pipeline(
    frame: Any, zip_path: Path, macro: Any, dask_client: Any
) -> tuple[Any, dict[str, float]]:
    from assetmap import scale

    steps: dict[str, float] = {}
    start = time.perf_counter()
    placed = scale.geocode(frame, postcodes=zip_path, gazetteer=None, client=dask_client)
    steps["geocode_s"] = time.perf_counter() - start
    start = time.perf_counter()
    nearest = scale.link(placed.assets, macro, k=1, client=dask_client)
    steps["link_k1_s"] = time.perf_counter() - start
    start = time.perf_counter()
    within = scale.link(placed.assets, macro, within_m=REACH_M, client=dask_client)
    steps["link_10km_s"] = time.perf_counter() - start
    return (placed, nearest, within), steps


def _assert_identical(memory: Any, dask: Any) -> None:
    """Every column, value, dtype and index; geometries by type and exact coordinates."""
    import pandas as pd
    import shapely

    (m_reg, m_near, m_within), (d_reg, d_near, d_within) = memory, dask
    geometry = m_reg.assets.geometry.name
    pd.testing.assert_frame_equal(
        d_reg.assets.drop(columns=geometry), m_reg.assets.drop(columns=geometry), check_exact=True
    )
    assert d_reg.assets.crs == m_reg.assets.crs
    left, right = m_reg.assets.geometry.array, d_reg.assets.geometry.array
    assert np.array_equal(shapely.get_type_id(left), shapely.get_type_id(right))
    assert np.array_equal(shapely.get_coordinates(left), shapely.get_coordinates(right))
    pd.testing.assert_frame_equal(d_reg.rejects, m_reg.rejects, check_exact=True)
    assert (d_reg.rows_in, d_reg.source) == (m_reg.rows_in, m_reg.source)
    for m_table, d_table in ((m_near, d_near), (m_within, d_within)):
        pd.testing.assert_frame_equal(d_table.links, m_table.links, check_exact=True)
        pd.testing.assert_frame_equal(d_table.unreached, m_table.unreached, check_exact=True)
        pd.testing.assert_index_equal(d_table.micro_ids, m_table.micro_ids, exact=True)
        assert d_table.rules == m_table.rules and d_table.notes == m_table.notes


def _measure(
    run: Callable[[], tuple[Any, dict[str, float]]],
    pids: list[int],
    dask_client: Any | None,
) -> tuple[Any, dict[str, Any]]:
    """One timed run: wall, per-step seconds, CPU seconds, peak RSS (MB) per process."""
    import gc

    gc.collect()
    with _PeakRss(pids) as rss, _cpu(dask_client) as cpu:
        start = time.perf_counter()
        result, steps = run()
        wall = time.perf_counter() - start
    return result, {
        "wall_s": wall,
        **steps,
        "cpu_s": sum(cpu.values()),
        "peak_mb": {pid: peak / 2**20 for pid, peak in rss.peak.items()},
    }


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["wall_s"])
    best = dict(best)
    best["peak_mb"] = {
        pid: max(r["peak_mb"][pid] for r in runs) for pid in runs[0]["peak_mb"]
    }  # memory: the worst run
    return best


def run(quick: bool) -> list[dict[str, Any]]:
    os.environ.setdefault("ASSETMAP_CACHE_DIR", str(WORK / "cache"))
    from assetmap import scale
    from assetmap.gazetteer import sites
    from assetmap.postcodes import PostcodeDirectory

    zip_path = _real(CODEPOINT)
    postcodes = _postcodes(zip_path)
    total = len(postcodes)
    directory = PostcodeDirectory.from_path(zip_path)  # builds the cached index once
    macro = sites("greater-icknield")
    rng = np.random.default_rng(SEED)
    sizes = [100_000] if quick else [100_000, 400_000, total]
    repeats = {100_000: 3, 400_000: 2, total: 2}
    frames = {
        n: _register(
            postcodes, np.arange(total) if n == total else np.sort(rng.choice(total, n, False))
        )
        for n in sizes
    }
    here = os.getpid()
    rows: list[dict[str, Any]] = []
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with scale.client(workers=2) as two, scale.client(workers=1) as one:
        started = time.perf_counter()
        clusters = {"dask, 1 worker": one, "dask, 2 workers": two}
        for dask_client in clusters.values():  # worker imports and the directory, once
            warm = _register(postcodes, np.arange(2000))
            _dask_pipeline(warm, zip_path, macro, dask_client)
        warm_s = time.perf_counter() - started
        pids = {label: list(c.run(os.getpid).values()) for label, c in clusters.items()}
        for n in sizes:
            frame = frames[n]
            runs: dict[str, list[dict[str, Any]]] = {"in memory": [], **{k: [] for k in clusters}}
            reference = None
            for _ in range(repeats[n]):
                output, measured = _measure(
                    partial(_memory_pipeline, frame, directory, macro), [here], None
                )
                runs["in memory"].append(measured)
                reference = output
                for label, dask_client in clusters.items():
                    got, measured = _measure(
                        partial(_dask_pipeline, frame, zip_path, macro, dask_client),
                        [here, *pids[label]],
                        dask_client,
                    )
                    _assert_identical(reference, got)
                    runs[label].append(measured)
                    del got
            for label, timings in runs.items():
                results[(label, n)] = _best(timings)
            rows += _size_rows(n, total, results, pids, here)
    rows.append(
        record("warm-up of both LocalClusters (imports, directory)", warm_s, "s", target="")
    )
    rows += _growth_rows(sizes, results)
    return rows


def _size_rows(
    n: int,
    total: int,
    results: dict[tuple[str, int], dict[str, Any]],
    pids: dict[str, list[int]],
    here: int,
) -> list[dict[str, Any]]:
    label = "all GB postcodes (1,745,849)" if n == total else f"{n:,} postcodes"
    memory = results[("in memory", n)]
    steps = ("geocode_s", "link_k1_s", "link_10km_s")
    rows = [
        record(
            f"pipeline in memory, {label}",
            memory["wall_s"],
            "s",
            target="reference",
            rows=n,
            cpu_s=round(memory["cpu_s"], 2),
            peak_rss_mb=round(memory["peak_mb"][here]),
            **{k: round(memory[k], 3) for k in steps},
        )
    ]
    for engine in ("dask, 1 worker", "dask, 2 workers"):
        got = results[(engine, n)]
        worker_peak = max(got["peak_mb"][pid] for pid in pids[engine])
        full_two = n == total and engine == "dask, 2 workers"
        rows.append(
            record(
                f"pipeline {engine}, {label}",
                got["wall_s"],
                "s",
                peer="in memory",
                peer_value=memory["wall_s"],
                target="≤ 1.5× in-memory wall time, identical" if full_two else "identical",
                meets_target=(got["wall_s"] <= 1.5 * memory["wall_s"]) if full_two else True,
                rows=n,
                identical=True,
                cpu_s=round(got["cpu_s"], 2),
                peak_worker_rss_mb=round(worker_peak),
                peak_client_rss_mb=round(got["peak_mb"][here]),
                **{k: round(got[k], 3) for k in steps},
            )
        )
        rows.append(
            record(
                f"peak memory per worker, {engine}, {label}",
                worker_peak,
                "MB",
                target="≤ 2048 MB",
                meets_target=worker_peak <= 2048,
                rows=n,
            )
        )
    one, two = results[("dask, 1 worker", n)], results[("dask, 2 workers", n)]
    rows.append(
        record(
            f"scaling 1 → 2 workers, {label}",
            one["wall_s"] / two["wall_s"],
            "×",
            target="report (2 cores shared with other work)",
            rows=n,
        )
    )
    return rows


def _growth_rows(
    sizes: list[int], results: dict[tuple[str, int], dict[str, Any]]
) -> list[dict[str, Any]]:
    if len(sizes) < 2:
        return []
    low, high = sizes[0], sizes[-1]
    rows = []
    for engine in ("in memory", "dask, 1 worker", "dask, 2 workers"):
        times = [results[(engine, n)]["wall_s"] for n in sizes]
        exponent = math.log(times[-1] / times[0]) / math.log(high / low)
        rows.append(
            record(
                f"cost growth {low:,} → {high:,} rows, {engine}",
                exponent,
                "exponent",
                target="near-linear (≈ 1)",
                meets_target=exponent <= 1.15,
                seconds={f"{n}": round(t, 3) for n, t in zip(sizes, times, strict=True)},
                per_100k_rows_s={
                    f"{n}": round(t / n * 100_000, 3) for n, t in zip(sizes, times, strict=True)
                },
            )
        )
    return rows
