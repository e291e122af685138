"""Small areas: LSOA and ward boundaries, IMD 2019, Census 2021 population, point-in-area."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap._errors import CRSError, DataError
from assetmap._paths import data_dir, mirror_dir
from assetmap.schema import CRS_BNG, CRS_WGS84, MICRO

__all__ = [
    "IMD_DOMAINS",
    "assign",
    "join_imd_population",
    "load_imd",
    "load_lsoa",
    "load_population",
    "load_wards",
    "profile",
]

#: Default locations under the data folder (same layout as the shared mirror).
LSOA2011_FILE = "boundaries/lsoa2011_birmingham_sandwell.geojson"
WARDS_FILE = "boundaries/wards_sandwell.geojson"
IMD_FILE = "imd2019/IoD2019_domains_ranks_deciles_lsoa2011_england.csv"
POPULATION_FILE = "census2021/census2021_usual_residents_by_age6_lsoa2021_ew.csv"

_ONS_PORTAL = "https://geoportal.statistics.gov.uk/"

#: IoD2019 domain → short snake_case stem (``<stem>_rank``, ``<stem>_decile``), keyed by the
#: start of the published column header (File 2, sheet "IoD2019 Domains").
IMD_DOMAINS: Mapping[str, str] = {
    "Index of Multiple Deprivation (IMD)": "imd",
    "Income": "income",
    "Employment": "employment",
    "Education, Skills and Training": "education",
    "Health Deprivation and Disability": "health",
    "Crime": "crime",
    "Barriers to Housing and Services": "barriers",
    "Living Environment": "living_env",
}
_IMD_KEYS: Mapping[str, str] = {
    "LSOA code (2011)": "lsoa11_code",
    "LSOA name (2011)": "lsoa11_name",
    "Local Authority District code (2019)": "lad19_code",
    "Local Authority District name (2019)": "lad19_name",
}
#: Census 2021 custom-dataset headers → our column names.
_POPULATION_COLUMNS: Mapping[str, str] = {
    "LSOA21CD": "lsoa21_code",
    "LSOA21NM": "lsoa21_name",
    "All usual residents (sum of age bands)": "population",
    "Aged 15 years and under": "age_0_15",
    "Aged 16 to 24 years": "age_16_24",
    "Aged 25 to 34 years": "age_25_34",
    "Aged 35 to 49 years": "age_35_49",
    "Aged 50 to 64 years": "age_50_64",
    "Aged 65 years and over": "age_65_plus",
}
AGE_BANDS = tuple(v for v in _POPULATION_COLUMNS.values() if v.startswith("age_"))

#: LSOA names are "<local authority> <3-digit MSOA number><letter>", e.g. "Sandwell 012A".
_LSOA_NAME_SUFFIX = re.compile(r"\s+\d{3}[A-Z]$")


# --------------------------------------------------------------------------- files


def _data_file(relpath: str, path: str | Path | None) -> Path:
    """The explicit ``path``, else ``relpath`` under data_dir(), else under the mirror."""
    if path is not None:
        target = Path(path)
        if not target.is_file():
            msg = f"{target}: file not found (expected the file {relpath} or an equivalent)"
            raise DataError(msg)
        return target
    candidates = [data_dir() / relpath]
    mirror = mirror_dir()
    if mirror is not None:
        candidates.append(mirror / relpath)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = ", ".join(str(c) for c in candidates)
    msg = (
        f"{relpath} is not installed (looked in {where}); run `make data` to install the open data"
    )
    raise DataError(msg)


def _read_text_csv(file: Path) -> pd.DataFrame:
    """Every cell as text exactly as published: UTF-8 (with or without BOM), else cp1252."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return pd.read_csv(file, dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            msg = f"{file}: not a readable CSV ({exc})"
            raise DataError(msg) from exc
    msg = f"{file}: neither UTF-8 nor cp1252 text"
    raise DataError(msg)


def _integers(
    frame: pd.DataFrame, column: str, file: Path, *, low: int, high: int | None = None
) -> pd.Series:
    """Parse a text column as int64, naming the first bad line (header is line 1)."""
    text = frame[column]
    number = pd.to_numeric(text.str.strip(), errors="coerce")
    bad = number.isna() | (number != np.floor(number)) | (number < low)
    if high is not None:
        bad |= number > high
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        expected = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
        msg = (
            f"{file}: line {first + 2}, column {column!r}: value {text.iloc[first]!r} "
            f"is not {expected}"
        )
        raise DataError(msg)
    return number.astype("int64")


def _unique_codes(codes: pd.Series, file: Path | str, column: str) -> None:
    empty = codes.isna() | (codes.astype(str).str.strip() == "")
    if empty.any():
        first = int(np.flatnonzero(empty.to_numpy())[0])
        msg = f"{file}: row {first + 1}: {column} is empty (expected an area code)"
        raise DataError(msg)
    dup = codes.duplicated()
    if dup.any():
        msg = f"{file}: {column} {codes[dup].iloc[0]!r} appears more than once (expected unique codes)"
        raise DataError(msg)


# --------------------------------------------------------------------------- boundaries


def _read_boundaries(
    file: Path, patterns: Mapping[str, str], *, required: tuple[str, ...]
) -> gpd.GeoDataFrame:
    """Read polygons, rename properties matching ``patterns`` (regex → name), EPSG:4326."""
    try:
        raw = gpd.read_file(file)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        msg = f"{file}: cannot read boundaries ({exc})"
        raise DataError(msg) from exc
    rename: dict[str, str] = {}
    for pattern, name in patterns.items():
        matches = [c for c in raw.columns if re.fullmatch(pattern, str(c), flags=re.IGNORECASE)]
        if matches:
            rename[matches[0]] = name
    missing = [n for n in required if n not in rename.values()]
    if missing:
        msg = (
            f"{file}: no property for {missing} (expected properties matching "
            f"{[p for p, n in patterns.items() if n in missing]}, found {list(raw.columns)})"
        )
        raise DataError(msg)
    if raw.crs is None:
        msg = f"{file}: no CRS (expected a GeoJSON in CRS84 or a file with its CRS set)"
        raise CRSError(msg)
    frame = raw.rename(columns=rename)
    names = list(patterns.values())
    for name in names:
        if name not in frame:
            frame[name] = pd.Series(pd.NA, index=frame.index, dtype="str")
    geoms = frame.geometry.to_numpy()
    missing_geom = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing_geom.any():
        first = int(np.flatnonzero(missing_geom)[0])
        msg = f"{file}: feature {first} ({frame[names[0]].iloc[first]}) has no geometry"
        raise DataError(msg)
    # Generalised ONS boundaries hold a few self-touching rings; repair them without
    # changing area (method="structure" keeps polygons polygonal).
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(
            geoms[invalid], method="structure", keep_collapsed=False
        )
    kinds = shapely.get_type_id(geoms)
    not_polygon = ~np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
    if not_polygon.any():
        first = int(np.flatnonzero(not_polygon)[0])
        msg = (
            f"{file}: feature {first} ({frame[names[0]].iloc[first]}) is a "
            f"{shapely.get_type_id(geoms[first])} geometry (expected Polygon or MultiPolygon)"
        )
        raise DataError(msg)
    out = gpd.GeoDataFrame(
        {name: frame[name].astype("str") for name in names},
        geometry=gpd.GeoSeries(geoms, crs=raw.crs, index=frame.index),
    ).to_crs(CRS_WGS84)
    _unique_codes(out[names[0]], file, names[0])
    return out.reset_index(drop=True)


def load_lsoa(year: int = 2011, path: str | Path | None = None) -> gpd.GeoDataFrame:
    """LSOA boundaries as a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    year
        2011 (the geography of IMD 2019; installed by ``make data`` for Birmingham and
        Sandwell) or 2021 (Census 2021 geography; only with an explicit ``path``).
    path
        A GeoJSON/GPKG/shapefile with ``LSOA{yy}CD``/``LSOA{yy}NM`` properties (and
        optionally ``LAD..CD``/``LAD..NM``); default
        ``data_dir()/boundaries/lsoa2011_birmingham_sandwell.geojson`` (or the mirror).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``lsoa_code, lsoa_name, lad_code, lad_name, geometry`` (Polygon or
        MultiPolygon, EPSG:4326), one row per LSOA, codes unique. ``lad_*`` are <NA>
        when the file has no local-authority properties.

    Raises
    ------
    DataError
        The file is missing ("run `make data`"), unreadable or lacks the properties;
        and for ``year=2021`` without ``path``, since the mirror has no 2021 boundaries.
    """
    if year not in (2011, 2021):
        msg = f"LSOA year {year!r} is not supported (expected 2011 or 2021)"
        raise ValueError(msg)
    if year == 2021 and path is None:
        msg = (
            "LSOA 2021 boundaries are not in the assetmap data mirror (`make data` installs "
            "LSOA 2011 only, the geography of IMD 2019). Download 'Lower layer Super Output "
            f"Areas (December 2021) Boundaries EW BGC' from the ONS Open Geography Portal "
            f"({_ONS_PORTAL}) and pass it as load_lsoa(2021, path=...)"
        )
        raise DataError(msg)
    file = _data_file(LSOA2011_FILE, path)
    yy = str(year)[2:]
    patterns = {
        f"LSOA{yy}CD": "lsoa_code",
        f"LSOA{yy}NM": "lsoa_name",
        r"LAD\d\dCD": "lad_code",
        r"LAD\d\dNM": "lad_name",
    }
    return _read_boundaries(file, patterns, required=("lsoa_code", "lsoa_name"))


def load_wards(path: str | Path | None = None) -> gpd.GeoDataFrame:
    """Electoral ward boundaries as a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    path
        A boundary file with ``WD{yy}CD``/``WD{yy}NM`` (and optionally ``LAD{yy}CD/NM``)
        properties; default ``data_dir()/boundaries/wards_sandwell.geojson`` (Sandwell's
        24 wards, December 2013 — unchanged since; Birmingham's 2018 wards are not in
        the mirror).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``ward_code, ward_name, lad_code, lad_name, geometry`` (EPSG:4326).
    """
    file = _data_file(WARDS_FILE, path)
    patterns = {
        r"WD\d\dCD": "ward_code",
        r"WD\d\dNM": "ward_name",
        r"LAD\d\dCD": "lad_code",
        r"LAD\d\dNM": "lad_name",
    }
    return _read_boundaries(file, patterns, required=("ward_code", "ward_name"))


# --------------------------------------------------------------------------- IMD and census


def load_imd(path: str | Path | None = None) -> pd.DataFrame:
    """English Indices of Deprivation 2019 (File 2: domains), one row per LSOA 2011.

    Rank 1 is the most deprived of 32,844 LSOAs; decile 1 the most deprived 10 %.

    Parameters
    ----------
    path
        The CSV of the IoD2019 Domains sheet with the published headers; default
        ``data_dir()/imd2019/IoD2019_domains_ranks_deciles_lsoa2011_england.csv``.

    Returns
    -------
    pandas.DataFrame
        ``lsoa11_code`` (unique), ``lsoa11_name``, ``lad19_code``, ``lad19_name``, then
        ``<domain>_rank`` and ``<domain>_decile`` (int64) for the domains in
        :data:`IMD_DOMAINS`: imd, income, employment, education, health, crime,
        barriers, living_env.
    """
    file = _data_file(IMD_FILE, path)
    raw = _read_text_csv(file)
    rename: dict[str, str] = {}
    missing: list[str] = []
    for header, name in _IMD_KEYS.items():
        if header in raw.columns:
            rename[header] = name
        else:
            missing.append(header)
    for prefix, stem in IMD_DOMAINS.items():
        for measure in ("Rank", "Decile"):
            start = f"{prefix} {measure}"
            found = [c for c in raw.columns if str(c).startswith(start)]
            if found:
                rename[found[0]] = f"{stem}_{measure.lower()}"
            else:
                missing.append(f"{start} (where 1 is most deprived ...)")
    if missing:
        msg = f"{file}: missing IMD columns {missing} (found {list(raw.columns)})"
        raise DataError(msg)
    frame = raw[list(rename)].rename(columns=rename)
    for stem in IMD_DOMAINS.values():
        frame[f"{stem}_rank"] = _integers(frame, f"{stem}_rank", file, low=1)
        frame[f"{stem}_decile"] = _integers(frame, f"{stem}_decile", file, low=1, high=10)
    _unique_codes(frame["lsoa11_code"], file, "lsoa11_code")
    return frame


def load_population(path: str | Path | None = None) -> pd.DataFrame:
    """Census 2021 usual residents by LSOA 2021 and six age bands (England and Wales).

    Parameters
    ----------
    path
        The ONS custom-dataset CSV (``LSOA21CD, LSOA21NM, All usual residents (sum of age
        bands), Aged 15 years and under, …``); default
        ``data_dir()/census2021/census2021_usual_residents_by_age6_lsoa2021_ew.csv``.

    Returns
    -------
    pandas.DataFrame
        ``lsoa21_code`` (unique), ``lsoa21_name``, ``population`` and ``age_0_15``,
        ``age_16_24``, ``age_25_34``, ``age_35_49``, ``age_50_64``, ``age_65_plus``
        (int64 persons). ``population`` equals the sum of the bands (checked).
    """
    file = _data_file(POPULATION_FILE, path)
    raw = _read_text_csv(file)
    missing = [c for c in _POPULATION_COLUMNS if c not in raw.columns]
    if missing:
        msg = f"{file}: missing columns {missing} (found {list(raw.columns)})"
        raise DataError(msg)
    frame = raw[list(_POPULATION_COLUMNS)].rename(columns=dict(_POPULATION_COLUMNS))
    for column in ("population", *AGE_BANDS):
        frame[column] = _integers(frame, column, file, low=0)
    mismatch = frame["population"] != frame[list(AGE_BANDS)].sum(axis=1)
    if mismatch.any():
        first = int(np.flatnonzero(mismatch.to_numpy())[0])
        msg = (
            f"{file}: line {first + 2}: population {frame['population'].iloc[first]} is not "
            "the sum of the six age bands (expected the custom dataset's summed total)"
        )
        raise DataError(msg)
    _unique_codes(frame["lsoa21_code"], file, "lsoa21_code")
    return frame


def _indexed(frame: pd.DataFrame, key: str, what: str) -> pd.DataFrame:
    if key not in frame:
        msg = f"{what}: no column {key!r} (found {list(frame.columns)})"
        raise DataError(msg)
    dup = frame[key].duplicated()
    if dup.any():
        msg = (
            f"{what}: {key} {frame.loc[dup, key].iloc[0]!r} appears more than once, so the join "
            "would duplicate rows (expected one row per code)"
        )
        raise DataError(msg)
    return frame.set_index(key)


def join_imd_population(
    lsoa11: pd.DataFrame,
    *,
    imd: pd.DataFrame | None = None,
    population: pd.DataFrame | None = None,
    code_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join IMD 2019 (LSOA 2011) and Census 2021 population (LSOA 2021) onto LSOA 2011 rows.

    About 97 % of LSOAs kept their code from 2011 to 2021; those join directly. The rest
    were split, merged or redrawn: they are *reported*, never guessed (apportioning needs
    ONS's LSOA 2011→2021 lookup and a weighting choice), and their population is <NA>.

    Parameters
    ----------
    lsoa11
        One row per LSOA 2011 (e.g. :func:`load_lsoa`), with the code in ``code_column``
        (default ``lsoa11_code`` or ``lsoa_code``). Not modified.
    imd, population
        :func:`load_imd` and :func:`load_population` frames; loaded from the data folder
        when not given.

    Returns
    -------
    joined
        ``lsoa11`` (same index, same rows, same order) plus the IMD columns and
        ``lsoa21_code`` (<NA> where the code changed), ``population`` and the age bands
        (Int64, <NA> where the code changed).
    report
        Columns ``code, name, lad_name, reason``; reason ``no_imd_match`` (a 2011 code
        missing from IMD, e.g. Welsh LSOAs), ``no_2021_match`` (a 2011 code with no
        identical 2021 code) or ``no_2011_match`` (a 2021 LSOA in the same local
        authorities whose code did not exist in 2011).

    Raises
    ------
    DataError
        ``imd`` or ``population`` hold a code twice (the join would duplicate rows).
    """
    column = code_column or next((c for c in ("lsoa11_code", "lsoa_code") if c in lsoa11), None)
    if column is None or column not in lsoa11:
        msg = f"lsoa11: no LSOA 2011 code column (expected 'lsoa11_code' or 'lsoa_code', found {list(lsoa11.columns)})"
        raise ValueError(msg)
    imd = load_imd() if imd is None else imd
    population = load_population() if population is None else population
    imd_by_code = _indexed(imd, "lsoa11_code", "imd")
    pop_by_code = _indexed(population, "lsoa21_code", "population")
    codes = lsoa11[column].astype("str").to_numpy()

    imd_part = imd_by_code.reindex(codes)
    pop_part = pop_by_code.reindex(codes)
    new_columns = [*imd_part.columns, "lsoa21_code", *pop_part.columns]
    clash = [c for c in new_columns if c in lsoa11.columns and c != column]
    if clash:
        msg = f"lsoa11 already has columns {clash}; drop them before joining"
        raise ValueError(msg)

    joined = lsoa11.copy()
    for name in imd_part.columns:
        values = imd_part[name]
        is_number = name.endswith(("_rank", "_decile"))
        joined[name] = values.astype("Int64").array if is_number else values.array
    has_2021 = pop_part["population"].notna().to_numpy()
    joined["lsoa21_code"] = pd.Series(codes, dtype="str").where(has_2021).array
    for name in pop_part.columns:
        values = pop_part[name]
        joined[name] = values.array if name == "lsoa21_name" else values.astype("Int64").array
    if len(joined) != len(lsoa11) or not joined.index.equals(lsoa11.index):
        msg = f"join changed the rows: {len(lsoa11)} in, {len(joined)} out"
        raise AssertionError(msg)

    names = (
        joined["lsoa11_name"] if "lsoa11_name" in joined else pd.Series(pd.NA, index=joined.index)
    )
    lad_names = (
        imd_part["lad19_name"].to_numpy() if "lad19_name" in imd_part else np.full(len(codes), None)
    )
    no_imd = (
        imd_part.iloc[:, 0].isna().to_numpy() if imd_part.shape[1] else np.ones(len(codes), bool)
    )
    parts = [
        pd.DataFrame(
            {
                "code": codes[mask],
                "name": names.to_numpy()[mask],
                "lad_name": lad_names[mask],
                "reason": reason,
            }
        )
        for mask, reason in ((no_imd, "no_imd_match"), (~has_2021, "no_2021_match"))
    ]
    # 2021 LSOAs of the same local authorities (named "<LAD> 012A") that are new codes.
    scope = {str(n) for n in lad_names if isinstance(n, str)}
    if "lad_name" in lsoa11:
        scope |= {str(n) for n in lsoa11["lad_name"].dropna().unique()}
    pop_lad = population["lsoa21_name"].astype("str").str.replace(_LSOA_NAME_SUFFIX, "", regex=True)
    known_2011 = set(imd["lsoa11_code"].astype("str")) | set(codes)
    new_2021 = pop_lad.isin(scope) & ~population["lsoa21_code"].astype("str").isin(known_2011)
    parts.append(
        pd.DataFrame(
            {
                "code": population.loc[new_2021, "lsoa21_code"].to_numpy(),
                "name": population.loc[new_2021, "lsoa21_name"].to_numpy(),
                "lad_name": pop_lad[new_2021].to_numpy(),
                "reason": "no_2011_match",
            }
        )
    )
    report = pd.concat(parts, ignore_index=True).astype("str")
    report = report.sort_values(["reason", "code"], kind="stable").reset_index(drop=True)
    return joined, report


# --------------------------------------------------------------------------- point in area


def assign(
    points: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    area_id: str,
    crs: str = CRS_BNG,
) -> pd.Series:
    """The id of the area containing each point (one vectorised STRtree query).

    Parameters
    ----------
    points
        GeoDataFrame (any CRS, usually EPSG:4326); rows without geometry get <NA>.
    areas
        Polygons (any CRS); ``area_id`` names the id column.
    area_id
        Column of ``areas`` holding the id.
    crs
        CRS in which the test is made, EPSG:27700 (British National Grid) by default.

    Returns
    -------
    pandas.Series
        Aligned to ``points.index`` (same length, same order, never duplicated rows),
        named ``area_id``: the id of the area the point intersects; a point on a shared
        boundary gets the lowest id (sorted as text); <NA> outside every area.

    Raises
    ------
    CRSError
        Either frame has no CRS.
    """
    for frame, what in ((points, "points"), (areas, "areas")):
        if frame.crs is None:
            msg = f"{what} have no CRS (expected e.g. EPSG:4326); set it with .set_crs()"
            raise CRSError(msg)
    if area_id not in areas:
        msg = f"areas: no column {area_id!r} (found {list(areas.columns)})"
        raise ValueError(msg)
    ids = areas[area_id]
    if ids.isna().any():
        msg = f"areas: column {area_id!r} has empty ids (expected one id per area)"
        raise ValueError(msg)

    point_geoms = points.geometry if points.crs == crs else points.geometry.to_crs(crs)
    area_geoms = areas.geometry if areas.crs == crs else areas.geometry.to_crs(crs)
    tree = shapely.STRtree(area_geoms.to_numpy())
    point_idx, area_idx = tree.query(point_geoms.to_numpy(), predicate="intersects")

    # Tie-break: rank ids as text, keep the lowest rank per point.
    ranks, labels = pd.factorize(ids.astype("str"), sort=True)
    hit_rank = ranks[area_idx]
    order = np.lexsort((hit_rank, point_idx))
    first_points, first_at = np.unique(point_idx[order], return_index=True)
    chosen = hit_rank[order][first_at]

    result = np.full(len(points), None, dtype=object)
    result[first_points] = np.asarray(labels, dtype=object)[chosen]
    return pd.Series(pd.array(result, dtype="str"), index=points.index, name=area_id)


# --------------------------------------------------------------------------- area profile


def profile(
    assets: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    area_id: str,
    imd: pd.DataFrame | None = None,
    population: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-area counts of micro-assets, personal ones suppressed, with IMD and population.

    Parameters
    ----------
    assets
        Asset frame (EPSG:4326); only ``kind == "micro"`` rows are counted.
    areas
        Polygons with ids in ``area_id``.
    imd
        :func:`load_imd` frame; adds ``imd_rank`` and ``imd_decile`` by matching the area
        id to ``lsoa11_code``.
    population
        :func:`load_population` frame; adds ``population`` by matching the area id to
        ``lsoa21_code`` (<NA> for LSOAs whose code changed in 2021 — see
        :func:`join_imd_population`).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``areas`` (one row per area, same order): ``area_id``; ``n_<category>``
        (int64) plain counts of non-personal micro-assets; ``personal_<category>`` and
        ``personal_total`` published text from :func:`assetmap.privacy.suppress` over all
        areas (``"0"``, ``"<8"``, rounded to 5, ``"*"``); then ``imd_rank``,
        ``imd_decile``, ``population`` (Int64) when given. ``attrs["disclosure_log"]`` holds
        the suppression log as records and ``attrs["assets_outside_areas"]`` the number of
        micro-assets in no area.
    """
    # privacy imports this module (assign), so import it here rather than at the top.
    from assetmap.privacy import personal_mask, suppress

    micro = assets[assets["kind"] == MICRO] if "kind" in assets else assets
    where = assign(micro, areas, area_id=area_id)
    personal = personal_mask(micro)
    category = micro["category"].astype("str")
    area_ids = areas[area_id].astype("str")
    if area_ids.duplicated().any():
        msg = f"areas: id {area_ids[area_ids.duplicated()].iloc[0]!r} appears more than once"
        raise ValueError(msg)

    def counts(mask: np.ndarray) -> pd.DataFrame:
        table = pd.crosstab(where[mask], category[mask]) if mask.any() else pd.DataFrame()
        return table.reindex(index=area_ids.to_numpy(), fill_value=0).fillna(0).astype("int64")

    placed = where.notna().to_numpy()
    public = counts(placed & ~personal)
    private = counts(placed & personal)

    out = pd.DataFrame({area_id: area_ids.to_numpy()}, index=areas.index)
    for name in sorted(public.columns):
        out[f"n_{name}"] = public[name].to_numpy()
    published, log = suppress(private, table="area_profile_personal", total_row=False)
    for name in [*sorted(private.columns), "total"]:
        out[f"personal_{name}"] = published[name].to_numpy()
    if imd is not None:
        imd_part = _indexed(imd, "lsoa11_code", "imd").reindex(area_ids.to_numpy())
        out["imd_rank"] = imd_part["imd_rank"].astype("Int64").array
        out["imd_decile"] = imd_part["imd_decile"].astype("Int64").array
    if population is not None:
        pop_part = _indexed(population, "lsoa21_code", "population").reindex(area_ids.to_numpy())
        out["population"] = pop_part["population"].astype("Int64").array
    out.attrs["disclosure_log"] = log.to_dict("records")
    out.attrs["assets_outside_areas"] = int((~placed).sum())
    return out
