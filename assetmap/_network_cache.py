"""The on-disk form of a street network (``.npz``) and the cache file that holds it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import shapely

from assetmap._errors import NetworkError
from assetmap._io import atomic_open

#: Version of the on-disk network format; bump when the arrays or their meaning change.
FORMAT_VERSION: Final = 1
#: Version of the OSM → network build; bump when filters, weights or coverage change.
_BUILD_VERSION: Final = 1

_ARRAY_FIELDS: Final = (
    "node_x",
    "node_y",
    "node_osmid",
    "edge_u",
    "edge_v",
    "edge_m",
    "edge_min",
)


def write_network(fields: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a network's fields (those of ``StreetNetwork``) to ``path`` as ``.npz`` atomically.

    The arrays as they are, the coverage as WKB and the rest as JSON metadata.
    """
    target = Path(path)
    meta = {
        "format_version": FORMAT_VERSION,
        "mode": fields["mode"],
        "walk_kmh": fields["walk_kmh"],
        "source": fields["source"],
        "source_sha256": fields["source_sha256"],
        "crs": fields["crs"],
    }
    arrays: dict[str, Any] = {name: fields[name] for name in _ARRAY_FIELDS}
    arrays["coverage_wkb"] = np.frombuffer(shapely.to_wkb(fields["coverage"]), dtype=np.uint8)
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with atomic_open(target, "wb") as fh:
        fh.write(buffer.getvalue())  # type: ignore[arg-type]
    return target


def read_network(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The fields (``StreetNetwork`` keyword arguments) of a network written by :func:`write_network`."""
    source = Path(path)
    try:
        with np.load(source, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"][()]))
            arrays = {name: data[name] for name in _ARRAY_FIELDS}
            coverage = shapely.from_wkb(data["coverage_wkb"].tobytes())
    except (
        OSError,
        EOFError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
        shapely.errors.GEOSException,
    ) as exc:
        msg = f"cannot read network cache {source}: {exc} (expected a .npz written by StreetNetwork.save)"
        raise NetworkError(msg) from exc
    if meta.get("format_version") != FORMAT_VERSION:
        msg = (
            f"network cache {source} has format version {meta.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}; delete it to rebuild"
        )
        raise NetworkError(msg)
    return {
        "mode": meta["mode"],
        "walk_kmh": float(meta["walk_kmh"]),
        "coverage": coverage,
        "source": meta["source"],
        "source_sha256": meta["source_sha256"],
        "crs": meta["crs"],
        **arrays,
    }


def _cache_path(
    source: Path,
    digest: str,
    *,
    mode: str,
    walk_kmh: float,
    cycle_kmh: float,
    cache_dir: str | os.PathLike[str] | None,
) -> Path:
    from importlib.metadata import version

    from assetmap._paths import cache_dir as default_cache_dir

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "networks"
    key = json.dumps(
        {
            "sha256": digest,
            "mode": mode,
            "walk_kmh": float(walk_kmh),
            "cycle_kmh": float(cycle_kmh) if mode == "cycle" else None,
            "format": FORMAT_VERSION,
            "build": _BUILD_VERSION,
            "osmnx": version("osmnx"),
        },
        sort_keys=True,
    )
    short = hashlib.sha256(key.encode()).hexdigest()[:16]
    stem = source.name.split(".")[0] or "network"
    return folder / f"{stem}-{mode}-{short}.npz"
