"""Shared fixtures: paths to the real open data, and the CI rule that data tests never skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


def _data_roots() -> list[Path]:
    roots = [ROOT / "data" / "external"]
    mirror = os.environ.get("ASSETMAP_DATA_MIRROR")
    if mirror:
        roots.append(Path(mirror))
    roots.append(ROOT.parent / "shared" / "data")
    return roots


def real_data(relpath: str) -> Path:
    """Path of a real open-data file (``codepoint_gb/codepo_gb.zip``…).

    Looks in ``data/external`` (after ``make data``), then ``$ASSETMAP_DATA_MIRROR``,
    then ``../shared/data``. Missing data fails the test under CI (``CI=true``) and
    skips it, with the reason, on a developer's machine.
    """
    for root in _data_roots():
        candidate = root / relpath
        if candidate.exists():
            return candidate
    reason = (
        f"real data {relpath!r} not found in {[str(r) for r in _data_roots()]}; run `make data`"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Caches go to a per-session temp folder, never into the working tree."""
    cache = tmp_path_factory.getbasetemp() / "assetmap-cache"
    cache.mkdir(exist_ok=True)
    monkeypatch.setenv("ASSETMAP_CACHE_DIR", str(cache))
