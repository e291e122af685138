"""Classes of one numeric column: schemes, class breaks, palettes, labels, and the Choropleth."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import numpy as np

__all__ = [
    "MAX_CLASSES",
    "NATURAL_BREAKS_SEED",
    "PALETTES",
    "SCHEMES",
    "Choropleth",
    "class_colours",
    "classify_values",
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
#: Most classes a numeric scheme may ask for.
MAX_CLASSES: Final = 12
#: Seed of mapclassify's NaturalBreaks (k-means with random starts): same input, same breaks.
NATURAL_BREAKS_SEED: Final = 2019
_SCHEME_TEXT: Final = {
    "quantiles": "quantiles",
    "natural_breaks": "natural breaks (Jenks)",
    "equal_interval": "equal intervals",
}


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
