"""assetmap.toml parsing: the shipped config is valid; bad keys and values name file, key, allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from assetmap import ConfigError
from assetmap.config import MAP_KINDS, load

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
[project]
title = "t"
[[register]]
path = "r.csv"
[[map]]
name = "overview"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "assetmap.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid_and_points_at_committed_registers() -> None:
    config = load(ROOT / "assetmap.toml")
    assert config.area == "greater-icknield"
    assert {m.name for m in config.maps} >= {
        "overview",
        "hospital-opportunities",
        "consortia-sites",
        "community",
        "equity",
    }
    for register in config.registers:
        assert register.path.is_absolute()
    assert config.output == ROOT / "dist" / "maps"
    assert all(m.kind in MAP_KINDS for m in config.maps)


def test_minimal_config_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, MINIMAL))
    assert config.registers[0].path == tmp_path / "r.csv"
    assert config.registers[0].kind == "micro"
    assert config.maps[0].minutes == (10.0, 20.0, 30.0)
    assert config.postcodes == "auto" and config.rules == "default"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            MINIMAL + "\n[network]\nspeed = 5\n",
            "[network]: unknown key 'speed' (allowed: mode, path",
        ),
        (
            MINIMAL.replace('name = "overview"', 'name = "overview"\ncolour = 1'),
            "[[map]] #1: unknown key 'colour'",
        ),
        (MINIMAL + "\n[bogus]\n", "top level: unknown key 'bogus'"),
        (
            MINIMAL.replace('path = "r.csv"', 'path = "r.csv"\nkind = "mega"'),
            "kind = 'mega' is not allowed (allowed: micro, macro)",
        ),
        (
            MINIMAL + "\n[network]\nmode = 'fly'\n",
            "[network] mode = 'fly' is not allowed (allowed: walk, cycle, drive)",
        ),
        (MINIMAL + "\n[network]\nwalk_kmh = -1\n", "walk_kmh = -1 must be a positive number"),
        ("[project]\ntitle='x'\n", "no [[register]] tables"),
        (MINIMAL + '\n[[map]]\nname = "overview"\n', "name 'overview' is used twice"),
        (MINIMAL.replace('name = "overview"', 'name = "../evil"'), "must be a file-name-safe word"),
        ("[project\n", "not valid TOML"),
    ],
)
def test_errors_name_file_key_and_allowed(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="assetmap init"):
        load(tmp_path / "nope.toml")


def test_rutland_config_is_valid() -> None:
    config = load(ROOT / "rutland.toml")
    assert config.area == "rutland"
    assert config.network == "auto"
    assert config.resolve(config.rules).exists()
