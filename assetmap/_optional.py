"""Lazy imports of optional dependencies with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from assetmap._errors import MissingDependencyError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise naming the assetmap extra that provides it.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"dask_geopandas"``.
    extra
        The extra of assetmap that installs it, e.g. ``"scale"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        msg = (
            f"{module!r} is needed for this and is not installed; "
            f'install it with: pip install "assetmap[{extra}]"'
        )
        raise MissingDependencyError(msg) from exc
