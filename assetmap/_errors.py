"""The one exception family of assetmap; every message names where and what was expected."""

from __future__ import annotations


class AssetmapError(Exception):
    """Base class of every error assetmap raises on purpose."""


class RegisterError(AssetmapError):
    """A register file cannot be read at all (encoding, missing columns, unknown format)."""


class GeocodeError(AssetmapError):
    """Geocoding cannot start (e.g. a postcode directory file is unusable)."""


class CRSError(AssetmapError):
    """A distance was asked for in a geographic CRS, or two frames disagree on CRS."""


class NetworkError(AssetmapError):
    """A street network file cannot be read or holds no usable graph."""


class ConfigError(AssetmapError):
    """A config or rules file has an unknown key or an invalid value."""


class DataError(AssetmapError):
    """External open data is missing or failed its checksum."""


class MissingDependencyError(AssetmapError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
