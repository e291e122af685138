"""Helpers shared by the benchmark modules: timing, peak memory and result records."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

QUICK = os.environ.get("BENCH_QUICK", "") not in {"", "0", "false"}


def timed(fn: Callable[[], T], *, repeat: int = 1) -> tuple[float, T]:
    """Best wall time in seconds of ``repeat`` calls of ``fn`` and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def record(
    name: str,
    value: float,
    unit: str,
    *,
    peer: str | None = None,
    peer_value: float | None = None,
    higher_is_better: bool = False,
    target: str = "",
    meets_target: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One row of bench/results.json.

    ``ratio`` > 1 always means assetmap is better: peer/ours for times and sizes,
    ours/peer for throughputs (``higher_is_better=True``).
    """
    ratio = None
    if peer_value is not None and value:
        ratio = (value / peer_value) if higher_is_better else (peer_value / value)
    row: dict[str, Any] = {
        "name": name,
        "value": round(float(value), 6),
        "unit": unit,
        "peer": peer,
        "peer_value": None if peer_value is None else round(float(peer_value), 6),
        "ratio": None if ratio is None else round(float(ratio), 3),
        "target": target,
        "meets_target": meets_target,
        "quick": QUICK,
    }
    row.update(extra)
    return row
