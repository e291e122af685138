"""Postcode directory benchmarks (ANCHORS §2): index build, cached load, messy look-up.

Peers are measured in the same run on the same machine: ``pandas.read_csv`` of every area file
of the Code-Point Open zip, and ``pandas.merge`` of already-clean keys against the index frame.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from assetmap.postcodes import CODEPOINT_COLUMNS, PostcodeDirectory
from bench._common import record, timed

ZIP = Path("codepoint_gb") / "codepo_gb.zip"
SEED = 20261125
MALFORMED_SHARE = 0.05
T = TypeVar("T")


def timed_cpu(fn: Callable[[], T], *, repeat: int = 1) -> tuple[float, float, T]:
    """:func:`bench._common.timed` plus the least CPU time of the calls (all threads).

    The machines are shared, so CPU time shows what the wall time would be when idle.
    """
    cpu: list[float] = []

    def measured() -> T:
        start = time.process_time()
        result = fn()
        cpu.append(time.process_time() - start)
        return result

    wall, result = timed(measured, repeat=repeat)
    return wall, min(cpu), result


def zip_path() -> Path:
    """The Code-Point Open zip: ``$ASSETMAP_DATA_MIRROR``, ``data/external``, ``../shared/data``."""
    candidates = []
    mirror = os.environ.get("ASSETMAP_DATA_MIRROR")
    if mirror:
        candidates.append(Path(mirror) / ZIP)
    root = Path(__file__).resolve().parents[1]
    candidates += [root / "data" / "external" / ZIP, root.parent / "shared" / "data" / ZIP]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    msg = f"Code-Point Open zip not found in {[str(c) for c in candidates]}; run `make data` or set ASSETMAP_DATA_MIRROR"
    raise FileNotFoundError(msg)


def read_csv_per_area(path: Path) -> pd.DataFrame:
    """The peer: pandas.read_csv of each area file in the zip, concatenated."""
    with zipfile.ZipFile(path) as archive:
        names = sorted(n for n in archive.namelist() if n.startswith("Data/CSV/"))
        frames = [
            pd.read_csv(
                archive.open(name),
                header=None,
                names=list(CODEPOINT_COLUMNS),
                dtype={"Postcode": str},
            )
            for name in names
        ]
    return pd.concat(frames, ignore_index=True)


def messy_postcodes(
    units: pd.Series, n: int, *, seed: int = SEED
) -> tuple[pd.Series, pd.Series, np.ndarray[Any, np.dtype[np.bool_]]]:
    """``n`` units drawn from ``units`` as typed by people, the same units clean, and which
    rows were made malformed.

    Random case, spacing, NBSP, zero-width space, BOM, trailing tabs; 5 % made malformed.
    """
    rng = np.random.default_rng(seed)
    clean = units.iloc[rng.integers(0, len(units), n)].reset_index(drop=True)
    messy = clean.copy()
    spacing = rng.integers(0, 7, n)
    messy = messy.where(spacing != 0, messy.str.replace(" ", "", regex=False))
    messy = messy.where(spacing != 1, messy.str.replace(" ", "  ", regex=False))
    messy = messy.where(spacing != 2, messy.str.replace(" ", "\u00a0", regex=False))
    messy = messy.where(spacing != 3, "\u200b" + messy)
    messy = messy.where(spacing != 4, "\ufeff" + messy + "\t")
    case = rng.integers(0, 3, n)
    messy = messy.where(case != 0, messy.str.lower())
    messy = messy.where(case != 1, messy.str.capitalize())
    malformed = rng.random(n) < MALFORMED_SHARE
    messy = messy.where(~malformed, messy + "X")
    return messy, clean, malformed


def run(quick: bool) -> list[dict[str, Any]]:
    path = zip_path()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-postcodes-") as tmp:
        cache = Path(tmp) / "cache"
        build_s, build_cpu, directory = timed_cpu(
            lambda: PostcodeDirectory.from_path(path, cache_dir=cache)
        )
        peer_build_s, peer_build_cpu, peer_frame = timed_cpu(lambda: read_csv_per_area(path))
        rows.append(
            record(
                "postcode index build (GB zip, cold cache)",
                build_s,
                "s",
                peer="pandas.read_csv per area file",
                peer_value=peer_build_s,
                target="≤ 30 s (ideal ≤ 3 s)",
                meets_target=build_s <= 30,
                ideal_met=build_s <= 3,
                cpu_seconds=round(build_cpu, 3),
                peer_cpu_seconds=round(peer_build_cpu, 3),
                rows=len(directory),
                peer_rows=len(peer_frame),
                load_average=os.getloadavg()[0],
            )
        )
        load_s, load_cpu, loaded = timed_cpu(
            lambda: PostcodeDirectory.from_path(path, cache_dir=cache), repeat=3
        )
        rows.append(
            record(
                "postcode index cached load",
                load_s,
                "s",
                target="≤ 2 s (ideal ≤ 0.3 s)",
                meets_target=load_s <= 2,
                ideal_met=load_s <= 0.3,
                cpu_seconds=round(load_cpu, 3),
                rows=len(loaded),
            )
        )

    n = 100_000 if quick else 1_000_000
    index_frame = directory.to_frame()
    messy, clean, malformed = messy_postcodes(index_frame["postcode"], n)
    first_s, _ = timed(lambda: directory.lookup(messy))  # includes building the hash table
    ours_s, ours_cpu, out = timed_cpu(lambda: directory.lookup(messy), repeat=3)
    keys = pd.DataFrame({"postcode": clean})
    peer_s, peer_cpu, merged = timed_cpu(
        lambda: keys.merge(index_frame, on="postcode", how="left"), repeat=3
    )
    intact = ~malformed
    same = bool(
        (out["postcode"].to_numpy()[intact] == clean.to_numpy()[intact]).all()
        and np.array_equal(
            out["lat"].to_numpy()[intact], merged["lat"].to_numpy()[intact], equal_nan=True
        )
        and (out["status"].to_numpy()[~intact] == "postcode_malformed").all()
    )
    ours_rate, peer_rate = n / ours_s, n / peer_s
    rows.append(
        record(
            f"messy postcode look-up incl. normalising ({n:,} rows)",
            ours_rate,
            "rows/s",
            peer="pandas.merge on clean keys",
            peer_value=peer_rate,
            higher_is_better=True,
            target="≥ 1M rows/s and ratio ≥ 1",
            meets_target=ours_rate >= 1_000_000 and ours_rate >= peer_rate,
            seconds=round(ours_s, 4),
            first_call_seconds=round(first_s, 4),
            peer_seconds=round(peer_s, 4),
            cpu_seconds=round(ours_cpu, 4),
            peer_cpu_seconds=round(peer_cpu, 4),
            load_average=os.getloadavg()[0],
            same_answers=same,
            malformed_rows=int((~intact).sum()),
        )
    )
    return rows
