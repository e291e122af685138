"""assetmap: link a neighbourhood's micro-assets to the macro-assets next door.

The pipeline is a chain of plain functions over GeoDataFrames::

    import assetmap as am
    reg = am.read_assets("data/demo/social_enterprises.csv", kind="micro")
    placed = am.geocode(reg.assets)
    sites = am.sites("greater-icknield")
    links = am.link(placed.assets, sites, within_m=2000)
    m = am.map(placed.assets, sites, links=links)

Heavy modules are imported on first use, so ``import assetmap`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
import types
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from assetmap._errors import (
    AssetmapError,
    ConfigError,
    CRSError,
    DataError,
    GeocodeError,
    MissingDependencyError,
    NetworkError,
    RegisterError,
)
from assetmap.schema import Register

try:
    __version__ = version("assetmap")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

#: Public name → module that defines it (imported lazily on first access).
_LAZY: dict[str, str] = {
    "read_assets": "assetmap.registers",
    "sites": "assetmap.gazetteer",
    "match_names": "assetmap.gazetteer",
    "geocode": "assetmap.geocode",
    "PostcodeDirectory": "assetmap.postcodes",
    "normalise_postcode": "assetmap.postcodes",
    "link": "assetmap.links",
    "LinkTable": "assetmap.links",
    "StreetNetwork": "assetmap.network",
    "load_network": "assetmap.network",
    "catchments": "assetmap.catchments",
    "membership": "assetmap.catchments",
    "map": "assetmap.maps",
    "build": "assetmap.bundle",
    "compare": "assetmap.access",
    "score": "assetmap.access",
    "scenario": "assetmap.access",
    "Comparison": "assetmap.access",
    "area_table": "assetmap.equity",
    "gaps": "assetmap.equity",
    "residents_within": "assetmap.equity",
}
_SUBMODULES = (
    "schema",
    "registers",
    "gazetteer",
    "postcodes",
    "geocode",
    "network",
    "links",
    "rules",
    "catchments",
    "areas",
    "access",
    "equity",
    "privacy",
    "datasets",
    "maps",
    "bundle",
    "config",
    "scale",
)

__all__ = [
    "AssetmapError",
    "CRSError",
    "Comparison",
    "ConfigError",
    "DataError",
    "GeocodeError",
    "LinkTable",
    "MissingDependencyError",
    "NetworkError",
    "PostcodeDirectory",
    "Register",
    "RegisterError",
    "StreetNetwork",
    "__version__",
    "area_table",
    "build",
    "catchments",
    "compare",
    "gaps",
    "geocode",
    "link",
    "load_network",
    "map",
    "match_names",
    "membership",
    "normalise_postcode",
    "read_assets",
    "residents_within",
    "scenario",
    "score",
    "sites",
]

if TYPE_CHECKING:  # pragma: no cover
    from assetmap.registers import read_assets as read_assets


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"assetmap.{name}")
    msg = f"module 'assetmap' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_SUBMODULES))


class _Package(types.ModuleType):
    """The package module: a public function keeps its name over a submodule of that name.

    ``assetmap.geocode`` and ``assetmap.catchments`` are functions *and* modules. Importing
    the submodule makes Python set the package attribute to the module; this keeps the
    function there instead (the module stays in ``sys.modules``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
