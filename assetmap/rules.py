"""Link rules: which micro-assets should reach which macro-assets, how, and how far (DESIGN §2.4)."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from assetmap._errors import ConfigError

#: Travel modes a rule may ask for; ``euclidean`` is a straight line in EPSG:27700.
MODES: Final = ("walk", "cycle", "drive", "euclidean")
#: Distance-decay kinds for link scores.
DECAY_KINDS: Final = ("step", "linear", "exponential", "gaussian")
#: Speeds (km/h) that turn a reach in minutes into a straight-line reach in metres where no
#: network of the rule's mode reaches an asset. Walking uses the caller's ``walk_kmh``; cycle
#: is the DfT Journey Time Statistics speed and drive a modest urban average. They only set a
#: *straight-line* reach (and the decay over it) — no travel time is invented from them.
STRAIGHT_LINE_KMH: Final[Mapping[str, float]] = {"cycle": 16.0, "drive": 30.0}

_RULE_KEYS: Final = (
    "name",
    "description",
    "micro",
    "macro",
    "mode",
    "max_minutes",
    "max_metres",
    "k",
    "decay",
)
_MICRO_KEYS: Final = ("category", "tags_any", "tags_all")
_MACRO_KEYS: Final = ("category", "tags_any", "ids")
_DECAY_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "step": ("kind",),
    "linear": ("kind", "reach_minutes", "reach_metres"),
    "exponential": ("kind", "half_life_minutes", "half_life_metres"),
    "gaussian": ("kind", "sigma_minutes", "sigma_metres"),
}


def straight_line_kmh(mode: str, *, walk_kmh: float) -> float:
    """Speed (km/h) used to compare a straight-line distance with a reach in minutes.

    ``walk`` and ``euclidean`` use ``walk_kmh``; ``cycle`` and ``drive`` use
    :data:`STRAIGHT_LINE_KMH`.
    """
    return float(STRAIGHT_LINE_KMH.get(mode, walk_kmh))


@dataclass(frozen=True)
class Selector:
    """Which assets a rule applies to; every given facet must hold (an empty selector takes all).

    Attributes
    ----------
    category
        Categories accepted (any of them).
    tags_any
        The asset has at least one of these tags.
    tags_all
        The asset has every one of these tags.
    ids
        Exact asset ids (macro side only in rule files, but usable anywhere from Python).
    """

    category: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    tags_all: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()

    def describe(self) -> str:
        """A short human-readable description, e.g. ``category=nhs_anchor``."""
        parts = [
            f"{name}={'|'.join(values)}"
            for name, values in (
                ("category", self.category),
                ("tags_any", self.tags_any),
                ("tags_all", self.tags_all),
                ("ids", self.ids),
            )
            if values
        ]
        return ", ".join(parts) or "all"


@dataclass(frozen=True)
class Decay:
    """How a link's score falls with travel cost.

    Attributes
    ----------
    kind
        One of :data:`DECAY_KINDS`.
    scale
        ``reach`` for step/linear, ``half_life`` for exponential, ``sigma`` for gaussian;
        ``None`` for step/linear means "the rule's reach".
    unit
        ``"minutes"`` or ``"metres"`` (the unit of ``scale``); ``None`` with ``scale=None``.
    """

    kind: str = "step"
    scale: float | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in DECAY_KINDS:
            msg = f"decay kind {self.kind!r} is not one of {'|'.join(DECAY_KINDS)}"
            raise ValueError(msg)
        if (self.scale is None) != (self.unit is None):
            msg = f"decay {self.kind}: scale and unit must both be given or both be None"
            raise ValueError(msg)
        if self.unit is not None and self.unit not in ("minutes", "metres"):
            msg = f"decay unit {self.unit!r} is not 'minutes' or 'metres'"
            raise ValueError(msg)
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            msg = f"decay {self.kind}: scale {self.scale!r} must be a positive finite number"
            raise ValueError(msg)
        if self.scale is None and self.kind in ("exponential", "gaussian"):
            msg = f"decay {self.kind} needs a scale ({'half_life' if self.kind == 'exponential' else 'sigma'})"
            raise ValueError(msg)

    def describe(self) -> str:
        """E.g. ``exponential (half life 15 minutes)``."""
        if self.scale is None:
            return f"{self.kind} (at the reach)"
        label = {
            "step": "reach",
            "linear": "reach",
            "exponential": "half life",
            "gaussian": "sigma",
        }
        return f"{self.kind} ({label[self.kind]} {self.scale:g} {self.unit})"


@dataclass(frozen=True)
class Rule:
    """One link rule (DESIGN §2.4).

    Attributes
    ----------
    name
        Unique name, written in the ``rule`` column of the link table.
    micro, macro
        Selectors of the micro-assets and macro-assets the rule pairs.
    mode
        ``walk``, ``cycle``, ``drive`` or ``euclidean``. A network mode falls back to a straight
        line (labelled ``euclidean``) where no network of that mode reaches an asset.
    max_minutes, max_metres
        The reach (at most one). A reach in minutes is compared with network minutes, or with
        straight-line metres at :func:`straight_line_kmh` where the line is straight.
        With neither, every selected macro-asset is within reach.
    k
        Keep at most the ``k`` nearest macro-assets within reach per micro-asset (``None``: all).
    decay
        The score's decay over travel cost.
    description
        Free text for people reading the rules.
    """

    name: str
    micro: Selector = field(default_factory=Selector)
    macro: Selector = field(default_factory=Selector)
    mode: str = "euclidean"
    max_minutes: float | None = None
    max_metres: float | None = None
    k: int | None = None
    decay: Decay = field(default_factory=Decay)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            msg = f"rule name {self.name!r} must be non-empty text"
            raise ValueError(msg)
        if self.mode not in MODES:
            msg = f"rule {self.name!r}: mode {self.mode!r} is not one of {'|'.join(MODES)}"
            raise ValueError(msg)
        if self.max_minutes is not None and self.max_metres is not None:
            msg = f"rule {self.name!r}: give max_minutes or max_metres, not both"
            raise ValueError(msg)
        for label, value in (("max_minutes", self.max_minutes), ("max_metres", self.max_metres)):
            if value is not None and not (math.isfinite(value) and value > 0):
                msg = f"rule {self.name!r}: {label} {value!r} must be a positive finite number"
                raise ValueError(msg)
        if self.k is not None and (
            isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1
        ):
            msg = f"rule {self.name!r}: k {self.k!r} must be a whole number ≥ 1"
            raise ValueError(msg)
        if self.decay.kind == "linear" and self.decay.scale is None and self.reach is None:
            msg = (
                f"rule {self.name!r}: decay linear needs a reach "
                "(max_minutes or max_metres on the rule, or reach_minutes/reach_metres in the decay)"
            )
            raise ValueError(msg)

    def straight_line(self) -> Rule:
        """The same rule measured by straight line (``mode="euclidean"``), reach unchanged."""
        return replace(self, mode="euclidean")

    @property
    def reach(self) -> tuple[float, str] | None:
        """``(value, unit)`` of the reach, unit ``"minutes"`` or ``"metres"``; None without one."""
        if self.max_minutes is not None:
            return float(self.max_minutes), "minutes"
        if self.max_metres is not None:
            return float(self.max_metres), "metres"
        return None

    def describe(self) -> str:
        """One line for summaries: selectors, mode, reach and decay."""
        reach = self.reach
        reach_text = f"{reach[0]:g} {reach[1]}" if reach else "no reach limit"
        return (
            f"{self.micro.describe()} → {self.macro.describe()}; {self.mode}, {reach_text}; "
            f"{self.decay.describe()}"
        )


def decay(kind: str, values: npt.ArrayLike, **params: float) -> npt.NDArray[np.float64]:
    """Score travel costs with a distance-decay function (1 at zero cost).

    Parameters
    ----------
    kind
        ``"step"`` (1 where ``value <= reach``, else 0), ``"linear"`` (``1 - value/reach``
        floored at 0), ``"exponential"`` (``0.5 ** (value / half_life)``) or ``"gaussian"``
        (``exp(-0.5 * (value / sigma) ** 2)``).
    values
        Travel costs (minutes or metres, in the same unit as the parameter); NaN stays NaN,
        ``inf`` scores 0.
    **params
        ``reach`` (step, linear), ``half_life`` (exponential) or ``sigma`` (gaussian).

    Returns
    -------
    numpy.ndarray
        Scores in [0, 1], float64, same shape as ``values``.
    """
    required = {"step": "reach", "linear": "reach", "exponential": "half_life", "gaussian": "sigma"}
    if kind not in required:
        msg = f"decay kind {kind!r} is not one of {'|'.join(DECAY_KINDS)}"
        raise ValueError(msg)
    name = required[kind]
    if set(params) != {name}:
        msg = f"decay {kind} takes exactly one parameter {name!r}, got {sorted(params)}"
        raise ValueError(msg)
    scale = float(params[name])
    if not (math.isfinite(scale) and scale > 0):
        msg = f"decay {kind}: {name} {scale!r} must be a positive finite number"
        raise ValueError(msg)
    t = np.asarray(values, dtype="float64")
    with np.errstate(invalid="ignore", over="ignore"):
        if kind == "step":
            out = np.where(t <= scale, 1.0, 0.0)
        elif kind == "linear":
            out = np.clip(1.0 - t / scale, 0.0, 1.0)
        elif kind == "exponential":
            out = np.power(0.5, t / scale)
        else:
            out = np.exp(-0.5 * (t / scale) ** 2)
    return np.where(np.isnan(t), np.nan, out).astype("float64")


def select(frame: pd.DataFrame, selector: Selector | Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    """Boolean mask of the rows of an asset frame that ``selector`` picks (vectorised).

    Parameters
    ----------
    frame
        Asset frame with ``category`` and ``tags`` (list of str, or ``;``/``,``-separated
        text) columns; missing columns select nothing for a facet that needs them.
    selector
        A :class:`Selector` or a mapping with its fields.

    Returns
    -------
    numpy.ndarray
        One bool per row, in row order.
    """
    sel = (
        selector if isinstance(selector, Selector) else _selector_from_mapping(selector, "selector")
    )
    mask = np.ones(len(frame), dtype=bool)
    if sel.category:
        if "category" in frame:
            mask &= (
                frame["category"]
                .astype("string")
                .isin(sel.category)
                .fillna(False)
                .to_numpy(dtype=bool)
            )
        else:
            mask[:] = False
    if sel.ids:
        mask &= pd.Index(frame.index.astype(str)).isin(sel.ids)
    if sel.tags_any or sel.tags_all:
        if "tags" not in frame:
            mask[:] = False
        else:
            tags = _exploded_tags(frame["tags"])
            if sel.tags_any:
                hit = tags.isin(sel.tags_any).groupby(level=0).any()
                mask &= hit.reindex(range(len(frame)), fill_value=False).to_numpy(dtype=bool)
            if sel.tags_all:
                wanted = tags[tags.isin(sel.tags_all)]
                distinct = wanted.groupby(level=0).nunique()
                full = distinct.reindex(range(len(frame)), fill_value=0).to_numpy() == len(
                    set(sel.tags_all)
                )
                mask &= full
    return mask


def _exploded_tags(tags: pd.Series) -> pd.Series:
    """One tag per row, indexed by the position of the asset it came from.

    Lists (or tuples/arrays) of tags and ``;``/``,``-separated text are both understood.
    """
    positional = pd.Series(tags.to_numpy(dtype=object), index=pd.RangeIndex(len(tags)))
    exploded = positional.explode()
    exploded = exploded[exploded.notna()]
    split = exploded.astype(str).str.replace(",", ";", regex=False).str.split(";").explode()
    split = split.str.strip()
    return split[split != ""]


def parse_rules(source: str | os.PathLike[str], *, label: str | None = None) -> list[Rule]:
    """Parse link rules from a TOML file or TOML text (``[[rule]]`` tables, DESIGN §2.4).

    Parameters
    ----------
    source
        A path (``pathlib.Path``, or a one-line string without ``=`` or ``[``, naming a
        ``.toml`` file) or TOML text.
    label
        What to call the source in error messages (default: the path, or ``<rules text>``).

    Returns
    -------
    list of Rule
        In file order.

    Raises
    ------
    ConfigError
        On a TOML syntax error, an unknown key, a wrong type or value, or a duplicate rule
        name; the message names the file, the rule (name or position) and what is allowed.
    """
    where, text = _read_source(source)
    label = label or where
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{label}: not valid TOML: {exc}"
        raise ConfigError(msg) from exc
    unknown = sorted(set(document) - {"rule"})
    if unknown:
        msg = f"{label}: unknown top-level key {unknown[0]!r} (allowed: [[rule]] tables)"
        raise ConfigError(msg)
    tables = document.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        msg = f"{label}: 'rule' must be an array of tables written [[rule]]"
        raise ConfigError(msg)
    rules = [_rule_from_table(table, label, position) for position, table in enumerate(tables, 1)]
    seen: dict[str, int] = {}
    for position, rule in enumerate(rules, 1):
        if rule.name in seen:
            msg = f"{label}: rule #{position} name {rule.name!r} repeats rule #{seen[rule.name]} (names must be unique)"
            raise ConfigError(msg)
        seen[rule.name] = position
    return rules


def default() -> list[Rule]:
    """The USE-IT! pairings shipped in ``assetmap/data/rules/default.toml``."""
    resource = resources.files("assetmap").joinpath("data/rules/default.toml")
    return parse_rules(
        resource.read_text(encoding="utf-8"), label="assetmap/data/rules/default.toml"
    )


def as_rules(rules: Sequence[Rule] | str | os.PathLike[str]) -> list[Rule]:
    """Accept a list of rules, a rules file path or TOML text; return a list of rules."""
    if isinstance(rules, (str, os.PathLike)):
        return parse_rules(rules)
    out = list(rules)
    bad = [r for r in out if not isinstance(r, Rule)]
    if bad:
        msg = f"rules must be Rule objects, a TOML file or TOML text; got {type(bad[0]).__name__}"
        raise TypeError(msg)
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        msg = f"rule names must be unique; repeated: {repeated}"
        raise ValueError(msg)
    return out


def _read_source(source: str | os.PathLike[str]) -> tuple[str, str]:
    looks_like_path = isinstance(source, os.PathLike) or (
        "\n" not in source and "=" not in source and "[" not in source
    )
    if not looks_like_path:
        return "<rules text>", str(source)
    path = Path(source)
    try:
        return str(path), path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        msg = f"{path}: rules file not found"
        raise ConfigError(msg) from exc
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read rules file: {exc}"
        raise ConfigError(msg) from exc


def _rule_from_table(table: Mapping[str, Any], label: str, position: int) -> Rule:
    raw_name = table.get("name")
    where = f"{label}: rule #{position}" + (f" ({raw_name!r})" if isinstance(raw_name, str) else "")
    unknown = sorted(set(table) - set(_RULE_KEYS))
    if unknown:
        msg = f"{where}: unknown key {unknown[0]!r} (allowed keys: {', '.join(_RULE_KEYS)})"
        raise ConfigError(msg)
    if not isinstance(raw_name, str) or not raw_name.strip():
        msg = f"{where}: 'name' is required and must be non-empty text, got {raw_name!r}"
        raise ConfigError(msg)
    description = table.get("description", "")
    if not isinstance(description, str):
        msg = f"{where}: 'description' must be text, got {description!r}"
        raise ConfigError(msg)
    mode = table.get("mode", "euclidean")
    if mode not in MODES:
        msg = f"{where}: mode {mode!r} is not one of {'|'.join(MODES)}"
        raise ConfigError(msg)
    max_minutes = _positive_number(table, "max_minutes", where)
    max_metres = _positive_number(table, "max_metres", where)
    if max_minutes is not None and max_metres is not None:
        msg = f"{where}: give max_minutes or max_metres, not both"
        raise ConfigError(msg)
    k = table.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        msg = f"{where}: k {k!r} must be a whole number ≥ 1"
        raise ConfigError(msg)
    micro = _selector_from_table(table.get("micro", {}), f"{where}: micro", _MICRO_KEYS)
    macro = _selector_from_table(table.get("macro", {}), f"{where}: macro", _MACRO_KEYS)
    decay_spec = _decay_from_table(table.get("decay", {"kind": "step"}), f"{where}: decay")
    try:
        return Rule(
            name=raw_name.strip(),
            micro=micro,
            macro=macro,
            mode=mode,
            max_minutes=max_minutes,
            max_metres=max_metres,
            k=k,
            decay=decay_spec,
            description=description,
        )
    except ValueError as exc:
        msg = f"{where}: {exc}"
        raise ConfigError(msg) from exc


def _positive_number(table: Mapping[str, Any], key: str, where: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        msg = f"{where}: {key} {value!r} must be a positive number"
        raise ConfigError(msg)
    return float(value)


def _selector_from_table(value: object, where: str, allowed: tuple[str, ...]) -> Selector:
    if not isinstance(value, dict):
        msg = f'{where} must be a table like {{ category = "nhs_anchor" }}, got {value!r}'
        raise ConfigError(msg)
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        msg = f"{where}: unknown key {unknown[0]!r} (allowed keys: {', '.join(allowed)})"
        raise ConfigError(msg)
    fields: dict[str, tuple[str, ...]] = {}
    for key, item in value.items():
        items = [item] if isinstance(item, str) else item
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(v, str) and v.strip() for v in items)
        ):
            msg = f"{where}: {key} must be text or a non-empty list of text, got {item!r}"
            raise ConfigError(msg)
        fields[key] = tuple(v.strip() for v in items)
    return Selector(**fields)


def _selector_from_mapping(value: Mapping[str, Any], where: str) -> Selector:
    return _selector_from_table(dict(value), where, ("category", "tags_any", "tags_all", "ids"))


def _decay_from_table(value: object, where: str) -> Decay:
    if not isinstance(value, dict):
        msg = f'{where} must be a table like {{ kind = "exponential", half_life_minutes = 15 }}, got {value!r}'
        raise ConfigError(msg)
    kind = value.get("kind")
    if kind not in DECAY_KINDS:
        msg = f"{where}: kind {kind!r} is not one of {'|'.join(DECAY_KINDS)}"
        raise ConfigError(msg)
    allowed = _DECAY_KEYS[kind]
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        msg = f"{where}: unknown key {unknown[0]!r} for kind {kind!r} (allowed keys: {', '.join(allowed)})"
        raise ConfigError(msg)
    given = [key for key in allowed[1:] if key in value]
    if len(given) > 1:
        msg = f"{where}: give one of {', '.join(given)}, not both"
        raise ConfigError(msg)
    if not given:
        if kind in ("exponential", "gaussian"):
            msg = f"{where}: kind {kind!r} needs one of {', '.join(allowed[1:])}"
            raise ConfigError(msg)
        return Decay(kind=kind)
    key = given[0]
    scale = _positive_number(value, key, where)
    return Decay(kind=kind, scale=scale, unit=key.rsplit("_", 1)[1])


def decay_spec(value: Decay | Mapping[str, Any] | str | None) -> Decay:
    """Build a :class:`Decay` from a Decay, a TOML-style mapping or a kind name.

    ``{"kind": "exponential", "half_life_minutes": 15}`` and ``"step"`` are both accepted.
    """
    if value is None:
        return Decay()
    if isinstance(value, Decay):
        return value
    if isinstance(value, str):
        value = {"kind": value}
    return _decay_from_table(dict(value), "decay")
