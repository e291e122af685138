"""Choropleths: areas (LSOAs, wards) filled by class of one numeric column, for equity maps.

:func:`classify` turns a column of an area frame into classes (mapclassify quantiles, natural
breaks, equal intervals, or fixed IMD deciles) with colour-blind-safe sequential colours;
:func:`add_choropleth` draws it as one toggleable GeoJSON layer with escaped tooltips and
returns its legend section. ``assetmap.map(choropleths=[...])`` and
``save_png(choropleths=[...])`` take the same keyword arguments as dicts.

Areas without a value form a "no data" class: pale grey, hatched where the map draws SVG
(canvas maps and the legend swatch fall back to the grey and a dashed outline).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap._errors import CRSError
from assetmap.maps.breaks import MAX_CLASSES as MAX_CLASSES
from assetmap.maps.breaks import NATURAL_BREAKS_SEED as NATURAL_BREAKS_SEED
from assetmap.maps.breaks import (
    PALETTES,
    SCHEMES,
    Choropleth,
    _auto_decimals,
    _check_options,
    _number,
    _with_unit,
    class_colours,
    classify_values,
)
from assetmap.maps.choropleth_layer import FILL_OPACITY as FILL_OPACITY
from assetmap.maps.choropleth_layer import (
    NO_DATA_COLOUR,
    ChoroplethLayer,
    draw_choropleth,
    legend_section,
)
from assetmap.maps.choropleth_layer import NO_DATA_HATCH as NO_DATA_HATCH
from assetmap.maps.choropleth_layer import ChoroplethSupport as ChoroplethSupport
from assetmap.maps.legend import LegendSection
from assetmap.schema import CRS_WGS84

__all__ = [
    "NO_DATA_COLOUR",
    "PALETTES",
    "SCHEMES",
    "Choropleth",
    "ChoroplethLayer",
    "add_choropleth",
    "class_colours",
    "classify",
    "classify_values",
    "draw_choropleth",
    "legend_section",
    "prepare_choropleth",
]

#: Columns tried, in order, for the area id and the area name when not given.
AREA_ID_COLUMNS: Final = ("area_id", "lsoa_code", "lsoa11_code", "lsoa21_code", "ward_code")
AREA_NAME_COLUMNS: Final = ("area_name", "lsoa_name", "lsoa11_name", "ward_name", "name")
#: Keys a choropleth spec (a dict for ``map(choropleths=...)``) may hold.
SPEC_KEYS: Final = (
    "areas",
    "column",
    "label",
    "scheme",
    "k",
    "palette",
    "reverse",
    "show",
    "tooltip_columns",
    "unit",
    "decimals",
    "area_id",
    "name_column",
)
_NUMERIC_OBJECTS: Final = ("integer", "floating", "mixed-integer-float", "decimal", "empty")


def _numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The column as float64 (NaN = missing); text, booleans and ±inf are errors."""
    series = frame[column]
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if not numeric and series.dtype == object:
        numeric = pd.api.types.infer_dtype(series, skipna=True) in _NUMERIC_OBJECTS
    if not numeric:
        sample = next((v for v in series.tolist() if not pd.isna(v)), None)
        msg = (
            f"column {column!r} holds {series.dtype} values (e.g. {sample!r}), not numbers: only "
            "a numeric column can be classified; published text such as '<8', '15' or '*' "
            "can be shown with tooltip_columns"
        )
        raise ValueError(msg)
    values = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _area_ids(frame: pd.DataFrame, area_id: str | None) -> tuple[pd.Series, str]:
    if area_id is None:
        area_id = next((c for c in AREA_ID_COLUMNS if c in frame), None)
    if area_id is None:
        ids = pd.Series(frame.index.astype("str"), index=frame.index)
        where = "the index"
    else:
        if area_id not in frame:
            msg = f"areas: no id column {area_id!r} (found {list(frame.columns)})"
            raise ValueError(msg)
        if frame[area_id].isna().any():
            msg = f"areas: column {area_id!r} has empty ids (expected one id per area)"
            raise ValueError(msg)
        ids = frame[area_id].astype("str")
        where = f"column {area_id!r}"
    if ids.duplicated().any():
        msg = f"areas: id {ids[ids.duplicated()].iloc[0]!r} appears more than once in {where} (expected one row per area)"
        raise ValueError(msg)
    return ids, where


def classify(
    areas: gpd.GeoDataFrame,
    column: str,
    *,
    label: str,
    scheme: str = "quantiles",
    k: int = 5,
    palette: str = "viridis",
    reverse: bool = False,
    unit: str = "",
    decimals: int | None = None,
    area_id: str | None = None,
    name_column: str | None = None,
) -> Choropleth:
    """Classify one numeric column of an area frame (the part shared by HTML and PNG).

    Parameters
    ----------
    areas
        Area polygons in any CRS (reprojected to EPSG:4326), e.g. LSOAs joined to
        :func:`assetmap.equity.area_table`. Not modified.
    column
        Numeric column to classify (int, float, nullable Int64/Float64); NaN/<NA> values form
        the "no data" class. Text columns (published counts such as ``"<8"``) raise.
    label
        Display label (layer name, legend heading, tooltip), e.g. "Average walk to a GP".
    scheme
        ``"quantiles"`` (equal counts), ``"natural_breaks"`` (Jenks, via mapclassify's
        k-means ``NaturalBreaks``, seeded so the same data gives the same breaks),
        ``"equal_interval"``, or ``"decile"`` for IMD deciles: whole numbers 1–10, ten fixed
        classes, decile 1 (most deprived) darkest.
    k
        Number of classes, 2–12 (fewer when the column has fewer distinct values); ignored
        for ``"decile"``.
    palette
        One of :data:`PALETTES` (``"viridis"``, ``"cividis"``, ``"YlOrBr"``,
        ``"iridescent"``). Higher values are darker (deciles: decile 1 darkest).
    reverse
        Flip the colours.
    unit
        Unit of the values shown after every number ("min", "m", "%"); ignored for deciles.
    decimals
        Decimal places of the numbers shown; default the fewest that keep class bounds apart
        (0 for whole numbers).
    area_id
        Id column (sorting, tooltips); default the first of :data:`AREA_ID_COLUMNS`
        present, else the index. Ids must be unique.
    name_column
        Name column for tooltips; default the first of :data:`AREA_NAME_COLUMNS` present.

    Returns
    -------
    Choropleth

    Raises
    ------
    ValueError
        Unknown column/scheme/palette, a text or boolean column, ±inf values, deciles
        outside 1–10, duplicate ids, or a geometry that is not a polygon.
    CRSError
        ``areas`` has no CRS.
    """
    if not isinstance(areas, gpd.GeoDataFrame):
        msg = f"areas: expected a GeoDataFrame of polygons, got {type(areas).__name__}"
        raise TypeError(msg)
    if areas.crs is None:
        msg = "areas: the frame has no CRS (expected EPSG:4326 or any CRS to convert from)"
        raise CRSError(msg)
    if column not in areas:
        msg = f"areas: no column {column!r} to classify (found {list(areas.columns)})"
        raise ValueError(msg)
    _check_options(scheme, k, decimals)
    if palette not in PALETTES:
        msg = f"palette {palette!r} is not one of {sorted(PALETTES)}"
        raise ValueError(msg)
    if name_column is not None and name_column not in areas:
        msg = f"areas: no name column {name_column!r} (found {list(areas.columns)})"
        raise ValueError(msg)

    ids, _ = _area_ids(areas, area_id)
    values = _numeric_column(areas, column)
    infinite = np.isinf(values)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        msg = f"column {column!r}: area {ids.iloc[first]!r} has value {values[first]} (expected a finite number or NaN for no data)"
        raise ValueError(msg)
    if scheme == "decile":
        finite = np.isfinite(values)
        bad = finite & ~np.isin(values, np.arange(1.0, 11.0))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            msg = f"column {column!r}: area {ids.iloc[first]!r} has decile {values[first]:g} (expected a whole number from 1 to 10)"
            raise ValueError(msg)

    geoms = areas.geometry.to_numpy()
    drawable = (
        ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(areas) else np.zeros(0, bool)
    )
    kinds = shapely.get_type_id(geoms[drawable])
    not_polygon = ~np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
    if not_polygon.any():
        first = int(np.flatnonzero(drawable)[np.flatnonzero(not_polygon)[0]])
        kind = geoms[first].geom_type
        msg = f"areas: area {ids.iloc[first]!r} is a {kind} (expected Polygon or MultiPolygon)"
        raise ValueError(msg)

    order = np.argsort(ids.to_numpy(dtype=object)[drawable].astype(str), kind="stable")
    keep = np.flatnonzero(drawable)[order]
    frame = areas.iloc[keep]
    if frame.crs != CRS_WGS84:
        frame = frame.to_crs(CRS_WGS84)
    kept_ids = ids.to_numpy(dtype=object)[keep].astype(str)
    if name_column is None:
        name_column = next((c for c in AREA_NAME_COLUMNS if c in frame), None)
    names = (
        frame[name_column].astype("str").fillna("").to_numpy(dtype=object)
        if name_column is not None
        else np.full(len(frame), "", dtype=object)
    )
    kept_values = values[keep]
    classes, lower, upper = classify_values(kept_values, scheme=scheme, k=int(k))
    n_classes = int(upper.size)
    counts = np.bincount(classes[classes >= 0], minlength=n_classes).astype(int)

    if scheme == "decile":
        colours = class_colours(10, palette, reverse=not reverse)  # decile 1 darkest
        labels = tuple(
            ["1 (most deprived 10 %)"]
            + [str(d) for d in range(2, 10)]
            + ["10 (least deprived 10 %)"]
        )
        places = 0
    else:
        colours = class_colours(n_classes, palette, reverse=reverse)
        places = (
            int(decimals)
            if decimals is not None
            else _auto_decimals(kept_values, np.concatenate([lower, upper]))
        )
        labels = tuple(
            _with_unit(_number(lo, places), unit)
            if lo == hi
            else _with_unit(f"{_number(lo, places)} – {_number(hi, places)}", unit)
            for lo, hi in zip(lower.tolist(), upper.tolist(), strict=True)
        )
    return Choropleth(
        areas=frame,
        ids=tuple(kept_ids.tolist()),
        names=tuple(str(n) for n in names.tolist()),
        column=column,
        label=str(label),
        unit="" if scheme == "decile" else str(unit),
        scheme=scheme,
        values=kept_values,
        classes=classes,
        lower=tuple(lower.tolist()),
        upper=tuple(upper.tolist()),
        colours=colours,
        labels=labels,
        counts=tuple(counts.tolist()),
        n_no_data=int((classes < 0).sum()),
        n_without_boundary=int((~drawable).sum()),
        decimals=places,
    )


def prepare_choropleth(spec: Mapping[str, Any], *, where: str | None = None) -> ChoroplethLayer:
    """Check and classify one spec dict (the keyword arguments of :func:`add_choropleth`).

    Parameters
    ----------
    spec
        ``areas``, ``column`` and ``label`` (required) and any of :data:`SPEC_KEYS`.
    where
        How to name the spec at the start of every error (``"choropleths[1]"``), or None.
    """
    try:
        return _prepare(spec)
    except (ValueError, TypeError, CRSError) as exc:
        if where is None:
            raise
        raise type(exc)(f"{where}: {exc}") from exc


def _prepare(spec: Mapping[str, Any]) -> ChoroplethLayer:
    if not isinstance(spec, Mapping):
        msg = f"expected a dict of add_choropleth arguments (areas, column, label, …), got {type(spec).__name__}"
        raise TypeError(msg)
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        msg = f"unknown key {unknown[0]!r} (allowed: {list(SPEC_KEYS)})"
        raise ValueError(msg)
    missing = [key for key in ("areas", "column", "label") if key not in spec]
    if missing:
        msg = f"missing {missing} (expected at least areas, column and label)"
        raise ValueError(msg)
    options = {
        key: spec[key] for key in spec if key not in ("areas", "column", "show", "tooltip_columns")
    }
    choropleth = classify(spec["areas"], spec["column"], **options)
    tooltip = spec.get("tooltip_columns", ())
    columns = (tooltip,) if isinstance(tooltip, str) else tuple(str(c) for c in tooltip)
    absent = [c for c in columns if c not in choropleth.areas]
    if absent:
        msg = (
            f"tooltip column {absent[0]!r} is not in areas (found {list(choropleth.areas.columns)})"
        )
        raise ValueError(msg)
    return ChoroplethLayer(choropleth, show=bool(spec.get("show", True)), tooltip_columns=columns)


def add_choropleth(
    m: folium.Map,
    areas: gpd.GeoDataFrame,
    column: str,
    *,
    label: str,
    scheme: str = "quantiles",
    k: int = 5,
    palette: str = "viridis",
    reverse: bool = False,
    show: bool = True,
    tooltip_columns: Sequence[str] = (),
    unit: str = "",
    decimals: int | None = None,
    area_id: str | None = None,
    name_column: str | None = None,
) -> LegendSection:
    """Draw areas filled by class of a numeric column as a toggleable layer of ``m``.

    Parameters
    ----------
    m
        The map (from :func:`assetmap.maps.map` or any folium map).
    areas, column, label, scheme, k, palette, reverse, unit, decimals, area_id, name_column
        As :func:`classify`.
    show
        Whether the layer is on when the page opens (it is listed in the layer control
        either way).
    tooltip_columns
        More columns of ``areas`` shown in the hover tooltip, as escaped text — published
        counts such as ``"<8"`` or ``"*"`` belong here, not in ``column``.

    Returns
    -------
    LegendSection
        The classes (bounds with units and area counts) and "no data". ``assetmap.map(...,
        choropleths=[{...}])`` puts it in the map's legend; a map built otherwise can show
        it with :class:`assetmap.maps.legend.Legend`.
    """
    spec = {
        "areas": areas,
        "column": column,
        "label": label,
        "scheme": scheme,
        "k": k,
        "palette": palette,
        "reverse": reverse,
        "show": show,
        "tooltip_columns": tooltip_columns,
        "unit": unit,
        "decimals": decimals,
        "area_id": area_id,
        "name_column": name_column,
    }
    return draw_choropleth(m, prepare_choropleth(spec))
