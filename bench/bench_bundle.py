"""`make maps` end to end on the demo: the offline bundle from a fresh clone's point of view."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench._common import record, timed

ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool) -> list[dict[str, Any]]:
    from assetmap.bundle import build

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        saved = {k: os.environ.get(k) for k in ("ASSETMAP_DATA_DIR", "ASSETMAP_CACHE_DIR")}
        os.environ["ASSETMAP_DATA_DIR"] = str(work / "no-external-data")
        os.environ["ASSETMAP_CACHE_DIR"] = str(work / "cache")
        try:
            seconds, result = timed(lambda: build(ROOT / "assetmap.toml", output=work / "maps"))
            warm, _ = timed(lambda: build(ROOT / "assetmap.toml", output=work / "maps"))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        size = sum(p.stat().st_size for p in (work / "maps").rglob("*") if p.is_file())
    return [
        record(
            "make maps end to end, demo offline (cold caches)",
            seconds,
            "s",
            target="informational: 5 maps + PNGs + data + manifest",
            maps=len(result.maps),
        ),
        record(
            "make maps end to end, demo offline (warm caches)", warm, "s", target="informational"
        ),
        record("demo bundle size", size / 1e6, "MB", target="informational"),
    ]
