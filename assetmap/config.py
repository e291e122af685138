"""``assetmap.toml``: the project config that ``assetmap build`` / ``make maps`` reads.

Parsed with the standard library's ``tomllib``; unknown keys and bad values are
:class:`~assetmap.ConfigError` naming the file, the key and the allowed values.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assetmap._errors import ConfigError
from assetmap.schema import KINDS

#: Maps every bundle knows how to draw, with what each shows.
MAP_KINDS = ("overview", "opportunities", "consortia", "community", "equity")

_TOP_KEYS = {"project", "postcodes", "network", "areas", "rules", "register", "map"}
_PROJECT_KEYS = {"title", "area", "output", "user_agent", "online", "tiles", "description"}
_POSTCODES_KEYS = {"path"}
_NETWORK_KEYS = {"path", "mode", "walk_kmh", "snap_tolerance_m"}
_AREAS_KEYS = {"lsoa", "wards", "imd", "population"}
_RULES_KEYS = {"path"}
_REGISTER_KEYS = {"path", "kind", "columns", "category", "label"}
_MAP_KEYS = {
    "name",
    "kind",
    "title",
    "description",
    "micro_categories",
    "macro_categories",
    "rules",
    "catchment_sites",
    "minutes",
}


@dataclass(frozen=True)
class RegisterConfig:
    """One register to read: path (relative to the config file), kind, optional column mapping."""

    path: Path
    kind: str
    columns: Mapping[str, str] = field(default_factory=dict)
    category: str | None = None
    label: str = ""


@dataclass(frozen=True)
class MapConfig:
    """One map of the bundle."""

    name: str
    kind: str
    title: str
    description: str
    micro_categories: tuple[str, ...] = ()
    macro_categories: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    catchment_sites: tuple[str, ...] = ()
    minutes: tuple[float, ...] = (10.0, 20.0, 30.0)


@dataclass(frozen=True)
class Config:
    """A parsed ``assetmap.toml``; paths are absolute (resolved against the file's folder).

    ``"auto"`` for a data path means: the real dataset in ``data/external`` when
    installed, otherwise the committed demo default (or none), said plainly in the build log.
    """

    path: Path
    title: str
    area: str
    output: Path
    registers: tuple[RegisterConfig, ...]
    maps: tuple[MapConfig, ...]
    description: str = ""
    user_agent: str = ""
    online: bool = False
    tiles: str | None = "cartodbpositron"
    postcodes: str = "auto"
    network: str = "auto"
    network_mode: str = "walk"
    walk_kmh: float = 4.8
    snap_tolerance_m: float = 250.0
    lsoa: str = "auto"
    wards: str = "auto"
    imd: str = "auto"
    population: str = "auto"
    rules: str = "default"

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(value)
        return path if path.is_absolute() else (self.path.parent / path)


def load(path: str | os.PathLike[str]) -> Config:
    """Read and validate an ``assetmap.toml``.

    Raises
    ------
    ConfigError
        The file is missing, not TOML, or has an unknown key or a bad value; the message
        names the file, the key and the allowed keys or values.
    """
    file = Path(path).resolve()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"{file}: config file not found (create one with `assetmap init`)"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{file}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    _check_keys(file, "top level", raw, _TOP_KEYS)
    project = _table(file, raw, "project")
    _check_keys(file, "[project]", project, _PROJECT_KEYS)
    postcodes = _table(file, raw, "postcodes")
    _check_keys(file, "[postcodes]", postcodes, _POSTCODES_KEYS)
    network = _table(file, raw, "network")
    _check_keys(file, "[network]", network, _NETWORK_KEYS)
    areas = _table(file, raw, "areas")
    _check_keys(file, "[areas]", areas, _AREAS_KEYS)
    rules = _table(file, raw, "rules")
    _check_keys(file, "[rules]", rules, _RULES_KEYS)

    registers = tuple(_register(file, i, r) for i, r in enumerate(_array(file, raw, "register")))
    if not registers:
        msg = f"{file}: no [[register]] tables (expected at least one register to map)"
        raise ConfigError(msg)
    maps = tuple(_map(file, i, m) for i, m in enumerate(_array(file, raw, "map")))
    names = [m.name for m in maps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        msg = f"{file}: [[map]] name {dupes[0]!r} is used twice (names must be unique)"
        raise ConfigError(msg)
    mode = _choice(file, "[network] mode", network.get("mode", "walk"), ("walk", "cycle", "drive"))
    tiles = project.get("tiles", "cartodbpositron")
    return Config(
        path=file,
        title=_text(file, "[project] title", project.get("title", "assetmap")),
        description=_text(file, "[project] description", project.get("description", "")),
        area=_text(file, "[project] area", project.get("area", "greater-icknield")),
        output=(file.parent / _text(file, "[project] output", project.get("output", "dist/maps"))),
        user_agent=_text(file, "[project] user_agent", project.get("user_agent", "")),
        online=_bool(file, "[project] online", project.get("online", False)),
        tiles=None if tiles in ("", "none") else _text(file, "[project] tiles", tiles),
        registers=registers,
        maps=maps,
        postcodes=_text(file, "[postcodes] path", postcodes.get("path", "auto")),
        network=_text(file, "[network] path", network.get("path", "auto")),
        network_mode=mode,
        walk_kmh=_number(file, "[network] walk_kmh", network.get("walk_kmh", 4.8)),
        snap_tolerance_m=_number(
            file, "[network] snap_tolerance_m", network.get("snap_tolerance_m", 250.0)
        ),
        lsoa=_text(file, "[areas] lsoa", areas.get("lsoa", "auto")),
        wards=_text(file, "[areas] wards", areas.get("wards", "auto")),
        imd=_text(file, "[areas] imd", areas.get("imd", "auto")),
        population=_text(file, "[areas] population", areas.get("population", "auto")),
        rules=_text(file, "[rules] path", rules.get("path", "default")),
    )


def _register(file: Path, index: int, raw: Any) -> RegisterConfig:
    where = f"[[register]] #{index + 1}"
    if not isinstance(raw, dict):
        msg = f"{file}: {where} must be a table"
        raise ConfigError(msg)
    _check_keys(file, where, raw, _REGISTER_KEYS)
    if "path" not in raw:
        msg = f"{file}: {where} has no 'path' (expected e.g. path = \"data/demo/social_enterprises.csv\")"
        raise ConfigError(msg)
    columns = raw.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        msg = f"{file}: {where} 'columns' must map register headers to standard names (strings)"
        raise ConfigError(msg)
    path = Path(_text(file, f"{where} path", raw["path"]))
    return RegisterConfig(
        path=path if path.is_absolute() else file.parent / path,
        kind=_choice(file, f"{where} kind", raw.get("kind", "micro"), KINDS),
        columns=dict(columns),
        category=raw.get("category"),
        label=_text(file, f"{where} label", raw.get("label", path.stem)),
    )


def _map(file: Path, index: int, raw: Any) -> MapConfig:
    where = f"[[map]] #{index + 1}"
    if not isinstance(raw, dict):
        msg = f"{file}: {where} must be a table"
        raise ConfigError(msg)
    _check_keys(file, where, raw, _MAP_KEYS)
    name = _text(file, f"{where} name", raw.get("name", ""))
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        msg = f"{file}: {where} name {name!r} must be a file-name-safe word (letters, digits, - and _)"
        raise ConfigError(msg)
    minutes = raw.get("minutes", [10, 20, 30])
    if not isinstance(minutes, list) or not all(
        isinstance(m, int | float) and m > 0 for m in minutes
    ):
        msg = f"{file}: {where} minutes {minutes!r} must be a list of positive numbers, e.g. [10, 20, 30]"
        raise ConfigError(msg)
    return MapConfig(
        name=name,
        kind=_choice(file, f"{where} kind", raw.get("kind", "overview"), MAP_KINDS),
        title=_text(file, f"{where} title", raw.get("title", name)),
        description=_text(file, f"{where} description", raw.get("description", "")),
        micro_categories=_strings(
            file, f"{where} micro_categories", raw.get("micro_categories", [])
        ),
        macro_categories=_strings(
            file, f"{where} macro_categories", raw.get("macro_categories", [])
        ),
        rules=_strings(file, f"{where} rules", raw.get("rules", [])),
        catchment_sites=_strings(file, f"{where} catchment_sites", raw.get("catchment_sites", [])),
        minutes=tuple(float(m) for m in sorted(minutes)),
    )


def _check_keys(file: Path, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        msg = f"{file}: {where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        raise ConfigError(msg)


def _table(file: Path, raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        msg = f"{file}: [{key}] must be a table"
        raise ConfigError(msg)
    return value


def _array(file: Path, raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        msg = f"{file}: {key} must be an array of tables ([[{key}]])"
        raise ConfigError(msg)
    return value


def _text(file: Path, where: str, value: Any) -> str:
    if not isinstance(value, str):
        msg = f"{file}: {where} = {value!r} must be text"
        raise ConfigError(msg)
    return value


def _bool(file: Path, where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        msg = f"{file}: {where} = {value!r} must be true or false"
        raise ConfigError(msg)
    return value


def _number(file: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        msg = f"{file}: {where} = {value!r} must be a positive number"
        raise ConfigError(msg)
    return float(value)


def _choice(file: Path, where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        msg = f"{file}: {where} = {value!r} is not allowed (allowed: {', '.join(allowed)})"
        raise ConfigError(msg)
    return str(value)


def _strings(file: Path, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        msg = f"{file}: {where} = {value!r} must be a list of text values"
        raise ConfigError(msg)
    return tuple(value)
