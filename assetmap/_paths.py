"""Where assetmap keeps external data and caches (overridable by environment variables)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming a local copy of the open data (``../shared/data`` in CI).
MIRROR_ENV = "ASSETMAP_DATA_MIRROR"
#: Environment variable overriding the external data folder (default ``./data/external``).
DATA_DIR_ENV = "ASSETMAP_DATA_DIR"
#: Environment variable overriding the cache folder (default ``./data/cache``).
CACHE_DIR_ENV = "ASSETMAP_CACHE_DIR"

PACKAGE_DATA = Path(__file__).parent / "data"


def data_dir() -> Path:
    """Folder holding the real open data installed by ``assetmap data`` (git-ignored)."""
    return Path(os.environ.get(DATA_DIR_ENV, "data/external")).resolve()


def cache_dir() -> Path:
    """Folder for derived caches (postcode index, CSR graphs); created on demand."""
    path = Path(os.environ.get(CACHE_DIR_ENV, "data/cache")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_dir() -> Path | None:
    """The local data mirror named by ``ASSETMAP_DATA_MIRROR``, if set."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).resolve() if value else None
