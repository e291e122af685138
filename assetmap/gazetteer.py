"""Site gazetteer: the macro-assets of an area (package GeoJSON) and name matching against them.

A gazetteer is a GeoJSON ``FeatureCollection`` of Point features (WGS84 lon/lat), one per
site, whose properties are ``asset_id``, ``name``, ``aliases``, ``category``, ``tags``,
``postcode``, ``capacity``, ``homes``, ``hectares``, ``investment_gbp``, ``status``,
``opened``, ``description``, ``source`` and an optional ``footprint`` (a GeoJSON Polygon or
MultiPolygon, WGS84). An optional top-level ``masterplan`` object carries area-wide figures.
The packaged gazetteers live in ``assetmap/data/sites/<name>.geojson``; any file of the same
shape can be passed by path.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import shape

from assetmap import schema
from assetmap._errors import RegisterError
from assetmap._paths import PACKAGE_DATA

__all__ = ["STOPWORDS", "available", "masterplan", "match_names", "normalise_name", "sites"]

#: Folder of the packaged gazetteers (``<name>.geojson``).
SITES_DIR: Final = PACKAGE_DATA / "sites"
#: Default gazetteer.
DEFAULT: Final = "greater-icknield"
#: Words dropped by :func:`normalise_name` ("The Grove Lane site" ~ "Grove Lane").
STOPWORDS: Final = ("the", "a", "an", "site")
#: Extra columns of :func:`sites` after :data:`assetmap.schema.ASSET_COLUMNS`.
SITE_COLUMNS: Final = (
    "aliases",
    "homes",
    "hectares",
    "investment_gbp",
    "status",
    "opened",
    "description",
    "footprint",
)
_NUMERIC: Final = ("homes", "hectares", "investment_gbp")
_TEXT: Final = ("postcode", "status", "opened", "description", "source")
_STOPWORD_RE: Final = r"\b(?:" + "|".join(STOPWORDS) + r")\b"


def available() -> list[str]:
    """Names of the packaged gazetteers, sorted (e.g. ``["greater-icknield", "rutland"]``)."""
    return sorted(path.stem for path in SITES_DIR.glob("*.geojson"))


def sites(name: str | os.PathLike[str] = DEFAULT) -> gpd.GeoDataFrame:
    """Load a gazetteer as macro-assets.

    Parameters
    ----------
    name
        A packaged gazetteer (see :func:`available`) or the path of a GeoJSON file of the
        same shape.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``asset_id``, CRS EPSG:4326, geometry the site point. Columns:
        :data:`assetmap.schema.ASSET_COLUMNS` (``kind="macro"``, ``personal=False``,
        ``source`` the feature's source note, ``source_line`` the 1-based feature number),
        then ``aliases`` (list of str), ``homes``, ``hectares`` (ha), ``investment_gbp``
        (£) as floats with NaN where unknown, ``status``, ``opened``, ``description``,
        ``footprint`` (a GeoSeries in EPSG:4326, None where no extent is published) and the
        provenance columns ``geocode_source="gazetteer"``, ``geocode_quality="site"``,
        ``geocode_note=""``. ``capacity`` is the supply weight (beds, homes or units as the
        description says; 1 where no figure is published).

    Raises
    ------
    ValueError
        ``name`` is neither a packaged gazetteer nor an existing ``.geojson``/``.json`` file.
    assetmap.RegisterError
        The file is not a gazetteer: the message names the file, the feature number, the
        property, the value and what was expected.
    """
    path = _resolve(name)
    document = _read_document(path)
    features = document["features"]
    records = [_feature_record(path, number, feature) for number, feature in enumerate(features, 1)]
    _check_unique_ids(path, records)

    def column(key: str) -> list[Any]:
        return [record[key] for record in records]

    n = len(records)
    frame = pd.DataFrame(
        {
            "name": pd.array(column("name"), dtype="str"),
            "kind": pd.array([schema.MACRO] * n, dtype="str"),
            "category": pd.array(column("category"), dtype="str"),
            "tags": _object_array(column("tags")),
            "postcode": pd.array(column("postcode"), dtype="str"),
            "capacity": np.array(column("capacity"), dtype="float64"),
            "personal": np.zeros(n, dtype="bool"),
            "source": pd.array(column("source"), dtype="str"),
            "source_line": np.arange(1, n + 1, dtype="int64"),
            "aliases": _object_array(column("aliases")),
            **{key: np.array(column(key), dtype="float64") for key in _NUMERIC},
            "status": pd.array(column("status"), dtype="str"),
            "opened": pd.array(column("opened"), dtype="str"),
            "description": pd.array(column("description"), dtype="str"),
            "geocode_source": pd.array(["gazetteer"] * n, dtype="str"),
            "geocode_quality": pd.array(["site"] * n, dtype="str"),
            "geocode_note": pd.array([""] * n, dtype="str"),
        },
        index=pd.Index(column("asset_id"), dtype="str", name=schema.ASSET_ID),
    )
    points = shapely.points(
        np.array([record["point"] for record in records], dtype="float64").reshape(-1, 2)
    )
    frame["footprint"] = gpd.GeoSeries(column("footprint"), index=frame.index, crs=schema.CRS_WGS84)
    ordered = frame[[*schema.ASSET_COLUMNS, *SITE_COLUMNS, *schema.GEOCODE_COLUMNS]]
    return gpd.GeoDataFrame(
        ordered, geometry=gpd.GeoSeries(points, index=frame.index), crs=schema.CRS_WGS84
    )


def masterplan(name: str | os.PathLike[str] = DEFAULT) -> dict[str, Any]:
    """Area-wide figures of a gazetteer's top-level ``masterplan`` member.

    For ``"greater-icknield"``: ``homes`` (5,160), ``hectares`` of brownfield land (137),
    ``housing_investment_gbp`` and ``infrastructure_investment_gbp`` (£400m each), the
    ``sites`` it names, and ``name``, ``published``, ``publisher``, ``source``. An empty dict
    when the gazetteer has no masterplan. The dict is a copy; changing it changes nothing.
    """
    document = _read_document(_resolve(name))
    plan = document.get("masterplan", {})
    if not isinstance(plan, dict):
        msg = f"{_resolve(name)}: 'masterplan' is {type(plan).__name__}, expected a JSON object"
        raise RegisterError(msg)
    copied: dict[str, Any] = json.loads(json.dumps(plan))
    return copied


def normalise_name(names: pd.Series) -> pd.Series:
    """Normalise site names for matching, vectorised.

    Unicode NFKC → casefold → apostrophes removed → ``&`` becomes ``and`` → every other
    punctuation mark becomes a space → the words of :data:`STOPWORDS` are dropped →
    whitespace collapsed and stripped. Missing values become ``""``.
    """
    text = names.astype("string").fillna("")
    text = text.str.normalize("NFKC").str.casefold()
    text = text.str.replace(r"['’`]", "", regex=True).str.replace("&", " and ", regex=False)
    text = text.str.replace(r"[^\w\s]|_", " ", regex=True)
    text = text.str.replace(_STOPWORD_RE, " ", regex=True)
    return text.str.replace(r"\s+", " ", regex=True).str.strip().astype("str")


def match_names(
    names: pd.Series,
    *,
    gazetteer: gpd.GeoDataFrame | str | os.PathLike[str] = DEFAULT,
    threshold: float = 90.0,
) -> pd.DataFrame:
    """Match free-text names to gazetteer sites (name or any alias).

    Three passes, each only for the names still unmatched:

    1. **exact** -- the text, stripped of surrounding whitespace, equals a site name or
       alias (case-sensitive); score 100.
    2. **normalised** -- equal after :func:`normalise_name` (case, punctuation, ``&``,
       stopwords, spacing); score 100.
    3. **fuzzy** -- ``rapidfuzz.fuzz.token_sort_ratio`` between the normalised texts (the
       Indel similarity, 0-100, of the two strings with their words sorted, so word order
       does not matter), computed for all names × all labels at once with
       ``rapidfuzz.process.cdist``; the best label wins when its score is ``>= threshold``.

    Ties (several sites equally good, e.g. a shared alias) go to the lowest ``asset_id``.

    Parameters
    ----------
    names
        Names to match; any index, missing values allowed.
    gazetteer
        A frame from :func:`sites` (``name`` column, optional ``aliases`` column of lists,
        index ``asset_id``) or a gazetteer name or path for :func:`sites`.
    threshold
        Lowest fuzzy score (0-100) accepted as a match.

    Returns
    -------
    pandas.DataFrame
        Aligned to ``names.index``: ``site_id`` (string, ``<NA>`` when unmatched),
        ``score`` (float 0-100: 100 for exact/normalised, the best fuzzy score otherwise,
        also when below the threshold; 0 for empty names) and ``method``
        (``"exact"``, ``"normalised"``, ``"fuzzy"`` or ``""`` when unmatched).
    """
    if not isinstance(threshold, int | float) or not 0.0 <= float(threshold) <= 100.0:
        msg = f"threshold {threshold!r} is not a number from 0 to 100"
        raise ValueError(msg)
    labels = _labels(gazetteer if isinstance(gazetteer, gpd.GeoDataFrame) else sites(gazetteer))

    text = names.astype("string").str.strip().fillna("")
    # Match each distinct text once; registers repeat names a lot.
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    site_id, score, method = _match_unique(
        np.asarray(uniques, dtype=object), labels, float(threshold)
    )
    return pd.DataFrame(
        {
            "site_id": pd.array(site_id[codes], dtype="string"),
            "score": score[codes],
            "method": pd.array(method[codes], dtype="str"),
        },
        index=names.index,
    )


def _match_unique(
    text: npt.NDArray[np.object_], labels: pd.DataFrame, threshold: float
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """The three passes of :func:`match_names` over distinct, stripped texts (arrays)."""
    from rapidfuzz import fuzz, process

    site_id = np.full(len(text), None, dtype=object)
    score = np.zeros(len(text), dtype=np.float64)
    method = np.full(len(text), "", dtype=object)
    matched = np.zeros(len(text), dtype=bool)
    ids = labels["asset_id"].to_numpy(dtype=object)

    normal = normalise_name(pd.Series(text, dtype=object)).to_numpy(dtype=object)
    # Labels are sorted by asset_id, so the first row of a label is its lowest asset_id.
    for column, name, values in (("label", "exact", text), ("normal", "normalised", normal)):
        first = ~labels[column].duplicated().to_numpy()
        position = pd.Index(labels[column].to_numpy()[first]).get_indexer(values)
        hit = ~matched & (position >= 0) & (values != "")
        site_id[hit] = ids[first][position[hit]]
        score[hit], method[hit], matched[hit] = 100.0, name, True

    todo = np.flatnonzero(~matched & (normal != ""))
    if len(todo) and len(labels):
        matrix = process.cdist(
            list(normal[todo]),
            list(labels["normal"]),
            scorer=fuzz.token_sort_ratio,
            dtype=np.float64,
            workers=1,
        )
        # argmax takes the first maximum, i.e. the lowest asset_id among equal scores.
        best = np.argmax(matrix, axis=1)
        score[todo] = matrix[np.arange(len(todo)), best]
        accept = score[todo] >= threshold
        site_id[todo[accept]] = ids[best[accept]]
        method[todo[accept]] = "fuzzy"
    return site_id, score, method


# --- reading and checking -------------------------------------------------------------------


def _resolve(name: str | os.PathLike[str]) -> Path:
    """Path of a packaged gazetteer or of a GeoJSON file given by path."""
    names = available()
    if isinstance(name, str) and name in names:
        return SITES_DIR / f"{name}.geojson"
    path = Path(name)
    if path.suffix.lower() in {".geojson", ".json"} and path.is_file():
        return path
    msg = (
        f"unknown gazetteer {str(name)!r}: expected one of {names} "
        "or the path of an existing .geojson file"
    )
    raise ValueError(msg)


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a UTF-8 JSON document ({exc})"
        raise RegisterError(msg) from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        msg = f"{path}: expected a GeoJSON FeatureCollection at the top level"
        raise RegisterError(msg)
    if not isinstance(document.get("features"), list):
        msg = f"{path}: 'features' must be a list of GeoJSON Features"
        raise RegisterError(msg)
    return document


def _feature_record(path: Path, number: int, feature: object) -> dict[str, Any]:
    """Check one feature and return its values; errors name the file, feature and property."""
    where = f"{path}: feature {number}"

    def fail(prop: str, value: object, expected: str) -> RegisterError:
        return RegisterError(f"{where}, property {prop!r}: value {value!r}, expected {expected}")

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        msg = f"{where}: expected a GeoJSON Feature, found {type(feature).__name__}"
        raise RegisterError(msg)
    props = feature.get("properties")
    if not isinstance(props, dict):
        msg = f"{where}: 'properties' must be a JSON object"
        raise RegisterError(msg)
    record: dict[str, Any] = {"point": _point(where, feature.get("geometry"))}

    for key in ("asset_id", "name"):
        value = props.get(key)
        if not isinstance(value, str) or not value.strip():
            raise fail(key, value, "a non-empty string")
        record[key] = value.strip()
    category = props.get("category")
    if category not in schema.categories(schema.MACRO):
        raise fail("category", category, f"one of {sorted(schema.categories(schema.MACRO))}")
    record["category"] = category
    for key in ("aliases", "tags"):
        value = props.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise fail(key, value, "a list of non-empty strings")
        record[key] = [v.strip() for v in value]
    for key in _TEXT:
        value = props.get(key) or ""
        if not isinstance(value, str):
            raise fail(key, value, "a string")
        record[key] = value.strip()
    record["postcode"] = record["postcode"].upper()
    record["capacity"] = _number(
        props.get("capacity"), default=1.0, fail=lambda v: fail("capacity", v, _NUM)
    )
    for key in _NUMERIC:
        record[key] = _number(
            props.get(key), default=math.nan, fail=lambda v, k=key: fail(k, v, _NUM)
        )
    record["footprint"] = _footprint(
        props.get("footprint"), fail=lambda v: fail("footprint", v, _POLY)
    )
    return record


_NUM: Final = "a finite number >= 0 or null"
_POLY: Final = "a valid GeoJSON Polygon or MultiPolygon (WGS84) or null"


def _point(where: str, geometry: object) -> tuple[float, float]:
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    ok = (
        isinstance(geometry, dict)
        and geometry.get("type") == "Point"
        and isinstance(coords, list)
        and len(coords) in (2, 3)
        and all(
            isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
            for c in coords
        )
    )
    if not ok or coords is None:
        msg = f"{where}: geometry {geometry!r}, expected a GeoJSON Point [lon, lat] in WGS84"
        raise RegisterError(msg)
    lon, lat = float(coords[0]), float(coords[1])
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        msg = f"{where}: point ({lon}, {lat}) is outside lon -180..180 / lat -90..90 (expected WGS84 [lon, lat])"
        raise RegisterError(msg)
    return lon, lat


def _number(value: object, *, default: float, fail: Any) -> float:
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise fail(value)
    return float(value)


def _footprint(value: object, *, fail: Any) -> shapely.Geometry | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in {"Polygon", "MultiPolygon"}:
        raise fail(value)
    try:
        geom = shape(value)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise fail(value) from exc
    if geom.is_empty or not geom.is_valid:
        raise fail(value)
    return geom


def _check_unique_ids(path: Path, records: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    for number, record in enumerate(records, 1):
        first = seen.setdefault(record["asset_id"], number)
        if first != number:
            msg = (
                f"{path}: feature {number}, property 'asset_id': value {record['asset_id']!r} "
                f"already used by feature {first} (expected unique ids)"
            )
            raise RegisterError(msg)


# --- matching helpers -----------------------------------------------------------------------


def _labels(gazetteer: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per (site, name-or-alias), sorted by asset_id so ties resolve to the lowest id."""
    if "name" not in gazetteer.columns:
        msg = f"gazetteer frame has no 'name' column (columns: {list(gazetteer.columns)})"
        raise ValueError(msg)
    if not gazetteer.index.is_unique:
        msg = "gazetteer frame index (asset_id) is not unique"
        raise ValueError(msg)
    ids = gazetteer.index.astype("str")
    names = pd.DataFrame({"asset_id": ids, "label": gazetteer["name"].astype("str").to_numpy()})
    if "aliases" in gazetteer.columns:
        aliases = (
            pd.Series(gazetteer["aliases"].to_numpy(), index=ids).map(_as_list).explode().dropna()
        )
        alias_rows = pd.DataFrame(
            {"asset_id": aliases.index, "label": aliases.astype("str").to_numpy()}
        )
        names = pd.concat([names, alias_rows], ignore_index=True)
    names["label"] = names["label"].str.strip()
    names = names[names["label"].ne("")]
    names = names.sort_values(["asset_id", "label"], kind="stable", ignore_index=True)
    names["normal"] = normalise_name(names["label"])
    return names[names["normal"].ne("")].reset_index(drop=True)


def _object_array(values: list[list[str]]) -> np.ndarray:
    """A 1-d object array of lists (numpy would otherwise build a 2-d array from them)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _as_list(value: object) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    if isinstance(value, str) and value:
        return [part for part in value.split(";") if part.strip()]
    return []
