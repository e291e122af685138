"""Shared fixtures: paths to the real open data, and the CI rule that data tests never skip."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


CHROMIUM = os.environ.get("ASSETMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
        if _in_ci():
            pytest.fail(f"playwright is not installed: {exc}")
        pytest.skip(f"playwright is not installed: {exc}")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
