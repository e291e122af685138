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

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap._errors import CRSError
from assetmap.maps import layers as lay
from assetmap.maps.legend import LegendEntry, LegendSection
from assetmap.maps.safe import RawMacroElement, safe_text, safe_texts
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

#: Sequential, colour-blind-safe palettes, light → dark, as ``#RRGGBB``; classes take colours
#: linearly interpolated between these stops (as Tol advises for his schemes). viridis and
#: cividis are matplotlib's maps sampled at 0, 0.1, …, 1 (reversed); YlOrBr and iridescent
#: are Paul Tol's sequential schemes ("Colour Schemes", SRON technical note, 2021).
_PALETTE_STOPS: Final = {
    "viridis": "FDE725 BDDF26 7AD151 44BF70 22A884 21918C 2A788E 355F8D 414487 482475 440154",
    "cividis": "FEE838 E5CF52 C8B866 AEA371 948E77 7D7C78 666970 4F576C 35456C 083370 00224E",
    "YlOrBr": "FFFFE5 FFF7BC FEE391 FEC44F FB9A29 EC7014 CC4C02 993404 662506",
    "iridescent": (
        "FEFBE9 FCF7D5 F5F3C1 EAF0B5 DDECBF D0E7CA C2E3D2 B5DDD8 A8D8DC 9BD2E1 8DCBE4 "
        "81C4E7 7BBCE7 7EB2E4 88A5DD 9398D2 9B8AC4 9D7DB2 9A709E 906388 805770 684957 "
        "46353A"
    ),
}
PALETTES: Final[Mapping[str, tuple[str, ...]]] = {
    name: tuple(f"#{stop}" for stop in stops.split()) for name, stops in _PALETTE_STOPS.items()
}
#: Classification schemes: mapclassify ``Quantiles``, ``NaturalBreaks``, ``EqualInterval``,
#: and ``decile`` — fixed classes 1–10 (IMD: decile 1 = the most deprived 10 % of areas).
SCHEMES: Final = ("quantiles", "natural_breaks", "equal_interval", "decile")
#: Fill of the "no data" class (hatched with :data:`NO_DATA_HATCH` where drawn as SVG).
NO_DATA_COLOUR: Final = "#E0E0E0"
NO_DATA_HATCH: Final = "#808080"
#: Fill opacity of every class.
FILL_OPACITY: Final = 0.75
#: Most classes a numeric scheme may ask for.
MAX_CLASSES: Final = 12
#: Seed of mapclassify's NaturalBreaks (k-means with random starts): same input, same breaks.
NATURAL_BREAKS_SEED: Final = 2019
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
_SCHEME_TEXT: Final = {
    "quantiles": "quantiles",
    "natural_breaks": "natural breaks (Jenks)",
    "equal_interval": "equal intervals",
}
_NUMERIC_OBJECTS: Final = ("integer", "floating", "mixed-integer-float", "decimal", "empty")
_HATCH_PATTERN_ID: Final = "am-hatch"
_NO_DATA_CLASS: Final = "am-nodata"


# ----------------------------------------------------------------------------- classes


@dataclass(frozen=True)
class Choropleth:
    """A classified area column, ready to draw (HTML or PNG).

    Attributes
    ----------
    areas
        The areas drawn: EPSG:4326 Polygon/MultiPolygon, sorted by area id (as text), every
        column of the input kept.
    ids, names
        Area id and display name (``""`` when unknown) of each row of ``areas``, as text.
    column, label, unit, scheme
        The classified column, its display label, the unit of its values ("min", "%", "")
        and the scheme.
    values
        The column as float64, NaN where there is no value.
    classes
        Class index of each area into ``colours``/``labels``; -1 = no data.
    lower, upper
        Bounds of each class (the first class includes its lower bound; every class
        includes its upper bound; equal for a class of one value or a decile).
    colours
        ``#RRGGBB`` fill of each class.
    labels
        Plain-text legend label of each class, with units ("12.5 – 20 min"); escape before
        putting it in HTML.
    counts
        Areas in each class.
    n_no_data
        Areas drawn with no value (NaN/missing).
    n_without_boundary
        Input rows with no geometry: not drawn, not classified.
    decimals
        Decimal places of the numbers shown.
    """

    areas: gpd.GeoDataFrame
    ids: tuple[str, ...]
    names: tuple[str, ...]
    column: str
    label: str
    unit: str
    scheme: str
    values: np.ndarray
    classes: np.ndarray
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    colours: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    n_no_data: int
    n_without_boundary: int
    decimals: int

    def value_texts(self) -> list[str]:
        """Each area's value as plain text with its unit ("12.5 min"; "no data")."""
        if self.scheme == "decile":
            return [self.labels[c] if c >= 0 else "no data" for c in self.classes.tolist()]
        return [
            _with_unit(_number(v, self.decimals), self.unit) if np.isfinite(v) else "no data"
            for v in self.values.tolist()
        ]

    def note(self) -> str:
        """Plain-text note for the legend: how the classes were made, what was left out."""
        n = len(self.labels)
        if self.scheme == "decile":
            text = "Deciles of the national ranking: 1 = the most deprived 10 % (darkest)."
        else:
            text = (
                f"{_SCHEME_TEXT[self.scheme].capitalize()}, {n} class{'es' if n != 1 else ''}; "
                "each class includes its upper bound."
            )
        if self.n_without_boundary:
            text += f" {_areas(self.n_without_boundary)} without a boundary not drawn."
        return text


@dataclass(frozen=True)
class ChoroplethLayer:
    """A :class:`Choropleth` with how to draw it (from a spec dict)."""

    choropleth: Choropleth
    show: bool = True
    tooltip_columns: tuple[str, ...] = ()


def _areas(n: int) -> str:
    return f"{n} area" if n == 1 else f"{n} areas"


def _number(value: float, decimals: int) -> str:
    # +0.0 turns a rounded -0.0 into 0.0, so "-0" never appears.
    return f"{round(value, decimals) + 0.0:,.{decimals}f}"


def _with_unit(text: str, unit: str) -> str:
    if not unit:
        return text
    return text + unit if unit in ("%", "°", "‰") else f"{text} {unit}"


def classify_values(
    values: np.ndarray, *, scheme: str = "quantiles", k: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class of each value, and the lower and upper bound of each class.

    Parameters
    ----------
    values
        Float values; NaN = no data. Must not hold ±inf.
    scheme
        ``"quantiles"``, ``"natural_breaks"``, ``"equal_interval"`` (mapclassify, upper
        bounds inclusive) or ``"decile"`` (whole numbers 1–10, ten fixed classes).
    k
        Classes wanted (2–12); ignored for ``"decile"``. When the values hold no more than
        ``k`` distinct numbers, each distinct number is its own class.

    Returns
    -------
    classes, lower, upper
        ``classes``: int64 index per value (-1 for NaN). ``lower``/``upper``: float64 bounds
        per class, ascending; class 0 starts at the smallest value, class ``i > 0`` is
        ``upper[i-1] < v <= upper[i]``.
    """
    _check_options(scheme, k, None)
    data = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(data)
    classes = np.full(data.shape, -1, dtype=np.int64)
    if scheme == "decile":
        deciles = np.arange(1.0, 11.0)
        if not np.isin(data[finite], deciles).all():
            bad = data[finite][~np.isin(data[finite], deciles)][0]
            msg = f"decile {bad:g} is not a whole number from 1 to 10"
            raise ValueError(msg)
        classes[finite] = data[finite].astype(np.int64) - 1
        return classes, deciles, deciles.copy()
    distinct = np.unique(data[finite])
    if distinct.size == 0:
        return classes, np.empty(0), np.empty(0)
    if distinct.size <= k:
        upper = distinct
        lower = distinct.copy()
    else:
        import mapclassify

        present = data[finite]
        with warnings.catch_warnings():
            # "Not enough unique values …": ties collapse quantiles; handled by np.unique.
            warnings.simplefilter("ignore", UserWarning)
            if scheme == "quantiles":
                bins = mapclassify.Quantiles(present, k=k).bins
            elif scheme == "equal_interval":
                bins = mapclassify.EqualInterval(present, k=k).bins
            else:
                # NaturalBreaks is k-means from random starts on NumPy's global generator
                # (through scikit-learn): seed it, then put the caller's state back.
                state = np.random.get_state()
                try:
                    np.random.seed(NATURAL_BREAKS_SEED)
                    bins = mapclassify.NaturalBreaks(present, k=k).bins
                finally:
                    np.random.set_state(state)
        upper = np.unique(np.asarray(bins, dtype=np.float64))
        lower = np.concatenate([[distinct[0]], upper[:-1]])
    codes = np.searchsorted(upper, data[finite], side="left")
    classes[finite] = np.minimum(codes, upper.size - 1)
    return classes, lower, upper


def class_colours(n: int, palette: str = "viridis", *, reverse: bool = False) -> tuple[str, ...]:
    """``n`` colours of a palette, light → dark (dark → light with ``reverse``).

    Colours are interpolated linearly in sRGB between the palette's stops, evenly from its
    lightest to its darkest; one class takes the middle colour.
    """
    if palette not in PALETTES:
        msg = f"palette {palette!r} is not one of {sorted(PALETTES)}"
        raise ValueError(msg)
    if n <= 0:
        return ()
    stops = np.array(
        [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in PALETTES[palette]], dtype=np.float64
    )
    where = np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5])
    position = where * (len(stops) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(stops) - 1)
    fraction = (position - low)[:, None]
    rgb = np.rint(stops[low] * (1.0 - fraction) + stops[high] * fraction).astype(int)
    colours = tuple(f"#{r:02X}{g:02X}{b:02X}" for r, g, b in rgb.tolist())
    return colours[::-1] if reverse else colours


def _auto_decimals(values: np.ndarray, bounds: np.ndarray) -> int:
    """Fewest decimals (0–4) that keep every distinct bound distinct; 0 for whole numbers."""
    present = np.concatenate([values[np.isfinite(values)], bounds])
    if not present.size or np.all(present == np.round(present)):
        return 0
    distinct = np.unique(bounds)
    for decimals in range(1, 5):
        if np.unique(np.round(distinct, decimals)).size == distinct.size:
            return decimals
    return 4


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


def _check_options(scheme: str, k: int, decimals: int | None) -> None:
    if scheme not in SCHEMES:
        msg = f"scheme {scheme!r} is not one of {list(SCHEMES)}"
        raise ValueError(msg)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= MAX_CLASSES:
        msg = f"k must be a whole number of classes from 2 to {MAX_CLASSES}, got {k!r}"
        raise ValueError(msg)
    if decimals is not None and (
        isinstance(decimals, bool)
        or not isinstance(decimals, int | np.integer)
        or not 0 <= decimals <= 6
    ):
        msg = f"decimals must be None or a whole number from 0 to 6, got {decimals!r}"
        raise ValueError(msg)


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


# ----------------------------------------------------------------------------- drawing


class ChoroplethSupport(RawMacroElement):
    """The hatch pattern and CSS of the "no data" class; one per map, added before layers."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "ChoroplethSupport"

    def header_html(self) -> str:
        return f"<style>.leaflet-interactive.{_NO_DATA_CLASS},path.{_NO_DATA_CLASS}{{fill:url(#{_HATCH_PATTERN_ID})}}</style>"

    def body_html(self) -> str:
        return (
            '<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false">'
            f'<defs><pattern id="{_HATCH_PATTERN_ID}" patternUnits="userSpaceOnUse" width="6" height="6" '
            'patternTransform="rotate(45)">'
            f'<rect width="6" height="6" fill="{NO_DATA_COLOUR}"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{NO_DATA_HATCH}" stroke-width="2"/>'
            "</pattern></defs></svg>"
        )


def _styles(choropleth: Choropleth) -> list[dict[str, Any]]:
    styles: list[dict[str, Any]] = [
        {
            "color": "#555555",
            "weight": 0.6,
            "opacity": 0.8,
            "fillColor": colour,
            "fillOpacity": FILL_OPACITY,
        }
        for colour in choropleth.colours
    ]
    styles.append(
        {
            "color": NO_DATA_HATCH,
            "weight": 0.8,
            "opacity": 0.9,
            "dashArray": "3 3",
            "fillColor": NO_DATA_COLOUR,
            "fillOpacity": FILL_OPACITY,
            "className": _NO_DATA_CLASS,
        }
    )
    return styles


def _column_texts(frame: pd.DataFrame, column: str) -> list[str]:
    """Escaped text of a tooltip column; floats as ``{:g}``, missing as ``""``."""
    series = frame[column]
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return [format(v, "g") if np.isfinite(v) else "" for v in values.tolist()]
    return safe_texts(series)


def _tooltips(choropleth: Choropleth, tooltip_columns: Sequence[str]) -> list[str]:
    names = safe_texts(list(choropleth.names))
    ids = safe_texts(list(choropleth.ids))
    label = safe_text(choropleth.label)
    values = safe_texts(choropleth.value_texts())
    extra = [(safe_text(c), _column_texts(choropleth.areas, c)) for c in tooltip_columns]
    tips = []
    for i, (name, area, value) in enumerate(zip(names, ids, values, strict=True)):
        lines = [f"<b>{name}</b>", area] if name else [f"<b>{area}</b>"]
        lines.append(f"{label}: {value}")
        lines += [f"{heading}: {texts[i]}" for heading, texts in extra]
        tips.append("<br>".join(lines))
    return tips


def legend_section(choropleth: Choropleth) -> LegendSection:
    """Legend rows: each class (bounds with units, area count), then "no data"; a note."""
    entries = [
        LegendEntry(safe_text(f"{text} ({_areas(n)})"), colour, "square", FILL_OPACITY)
        for text, colour, n in zip(
            choropleth.labels, choropleth.colours, choropleth.counts, strict=True
        )
    ]
    entries.append(
        LegendEntry(
            safe_text(f"no data ({_areas(choropleth.n_no_data)})"), NO_DATA_COLOUR, "hatched", 1.0
        )
    )
    return LegendSection(safe_text(choropleth.label), tuple(entries), safe_text(choropleth.note()))


def draw_choropleth(m: folium.Map, layer: ChoroplethLayer) -> LegendSection:
    """Add a classified choropleth to a map as one toggleable layer; return its legend section.

    The layer keeps itself under every other overlay (also after being toggled off and on),
    so points and lines stay clickable above it. Tooltips show the area's name and id, the
    value with its unit and the ``tooltip_columns``, every string escaped with
    :func:`~assetmap.maps.safe.safe_text`.
    """
    choropleth = layer.choropleth
    children = list(m._children.values())
    if not any(isinstance(c, lay.Runtime) for c in children):
        m.add_child(lay.Runtime())
    if not any(isinstance(c, ChoroplethSupport) for c in children):
        m.add_child(ChoroplethSupport())
    n_classes = len(choropleth.colours)
    styles = np.where(choropleth.classes >= 0, choropleth.classes, n_classes).tolist()
    tips = _tooltips(choropleth, layer.tooltip_columns)
    props = [{"tt": tip, "_s": int(s)} for tip, s in zip(tips, styles, strict=True)]
    shapes = shapely.simplify(
        choropleth.areas.geometry.to_numpy(), lay.SIMPLIFY_DEG, preserve_topology=True
    )
    group = folium.FeatureGroup(name=safe_text(choropleth.label), overlay=True, show=layer.show)
    group.add_to(m)
    group.add_child(
        lay.GeoLayer(
            lay.shape_payload(shapes, props),
            styles=_styles(choropleth),
            popup=False,
            title_key=None,
            tooltip_key="tt",
            n_features=len(props),
            keep_at_back=True,
        )
    )
    return legend_section(choropleth)


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
