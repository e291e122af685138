"""Vocabularies, column names, CRSs and reason codes shared by every step of the pipeline."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import geopandas as gpd
import pandas as pd

#: CRS for exchange (GeoJSON, maps).
CRS_WGS84: Final = "EPSG:4326"
#: CRS for every distance in Great Britain (British National Grid, metres).
CRS_BNG: Final = "EPSG:27700"

MICRO: Final = "micro"
MACRO: Final = "macro"
KINDS: Final = (MICRO, MACRO)

#: Index name of every asset frame.
ASSET_ID: Final = "asset_id"

#: Core columns of an asset frame (DESIGN §2.1), in output order.
ASSET_COLUMNS: Final = (
    "name",
    "kind",
    "category",
    "tags",
    "postcode",
    "capacity",
    "personal",
    "source",
    "source_line",
)
#: Optional raw location columns carried from a register to the geocoder (text as typed).
COORD_COLUMNS: Final = ("lat", "lon", "easting", "northing")
#: Optional descriptive columns kept when present (never shown for personal rows).
EXTRA_COLUMNS: Final = ("description", "website", "email", "phone", "address")
#: Provenance columns added by geocoding (DESIGN §4).
GEOCODE_COLUMNS: Final = ("geocode_source", "geocode_quality", "geocode_note")

#: Columns of every rejects table (RELIABILITY §1.2), in output order.
REJECT_COLUMNS: Final = (
    "source",
    "source_line",
    "asset_id",
    "column",
    "value",
    "reason_code",
    "message",
)

#: Micro-asset categories and whether rows of that category are personal data by default.
MICRO_CATEGORIES: dict[str, bool] = {
    "resident_skill": True,
    "social_enterprise": False,
    "community_building": False,
    "community_researcher": True,
}
#: Macro-asset categories (never personal).
MACRO_CATEGORIES: dict[str, bool] = {
    "nhs_anchor": False,
    "development_site": False,
    "anchor_institution": False,
    "infrastructure": False,
}

#: Skills recorded as tags on ``resident_skill`` rows; the clinical ones feed the NHS rule.
CLINICAL_SKILLS: Final = (
    "doctor",
    "nurse",
    "midwife",
    "pharmacist",
    "dentist",
    "physiotherapist",
    "healthcare_assistant",
    "radiographer",
)
TRADE_SKILLS: Final = (
    "carpenter",
    "electrician",
    "plumber",
    "bricklayer",
    "chef",
    "retail",
    "care",
    "tourism",
    "translation",
    "accountancy",
    "it",
)
#: Social-enterprise consortia (USE-IT!), recorded as a tag.
CONSORTIA: Final = ("health_care", "retail", "built_environment", "tourism", "food")


def categories(kind: str | None = None) -> dict[str, bool]:
    """Return the category vocabulary (name → personal by default) for ``kind`` or both."""
    if kind == MICRO:
        return dict(MICRO_CATEGORIES)
    if kind == MACRO:
        return dict(MACRO_CATEGORIES)
    return {**MICRO_CATEGORIES, **MACRO_CATEGORIES}


def register_category(name: str, *, kind: str, personal: bool = False) -> None:
    """Extend the vocabulary with a new category (config files call this for custom ones).

    Parameters
    ----------
    name
        Lower-case identifier, e.g. ``"food_bank"``.
    kind
        ``"micro"`` or ``"macro"``.
    personal
        Whether rows of this category describe a person (privacy rules apply).
    """
    if kind not in KINDS:
        msg = f"category {name!r}: kind {kind!r} is not one of {KINDS}"
        raise ValueError(msg)
    if not name or not name.replace("_", "").isalnum() or name.lower() != name:
        msg = f"category {name!r} is not a lower-case identifier (expected e.g. 'food_bank')"
        raise ValueError(msg)
    target = MICRO_CATEGORIES if kind == MICRO else MACRO_CATEGORIES
    target[name] = personal


#: Closed vocabulary of reason codes for rejected or unreached rows, with what each means.
REASON_CODES: Final[Mapping[str, str]] = {
    # registers
    "ragged_row": "the row has more or fewer fields than the header",
    "missing_required": "a required value (name, category) is empty",
    "category_unknown": "the category is not in the vocabulary for this kind",
    "kind_mismatch": "the row's kind disagrees with the register's kind",
    "capacity_invalid": "capacity is not a non-negative finite number",
    "personal_invalid": "personal is not a recognised true/false value",
    "id_invalid": "the asset id is empty or not text",
    "duplicate_of": "same asset id or same normalised name+postcode as an earlier row",
    "geometry_missing": "a spatial register row has no geometry",
    "geometry_invalid": "the geometry is empty, invalid or not a point/polygon",
    # coordinates
    "coord_not_numeric": "a coordinate is not a number",
    "coord_nan": "a coordinate is NaN or infinite",
    "coord_incomplete": "only one of a coordinate pair is given",
    "coord_out_of_range": "latitude/longitude or easting/northing outside their valid range",
    "coord_swapped_lat_lon": "latitude and longitude look swapped",
    "coord_outside_uk": "the point lies outside the UK extent",
    # postcodes
    "postcode_malformed": "not a valid UK postcode (BS 7666)",
    "postcode_not_found": "a valid postcode that is not in the directory",
    "postcode_terminated": "the postcode has been terminated (ONSPD doterm set)",
    "postcode_no_coordinates": "the directory has no grid reference for the postcode",
    "postcode_outside_coverage": "the directory does not cover this postcode's area (BT/IM/GY/JE)",
    # gazetteer / online / overall
    "gazetteer_no_match": "the name matches no gazetteer site above the threshold",
    "online_not_found": "the online provider has no result",
    "online_failed": "the online provider could not be reached or answered badly",
    "no_location": "the row has no coordinates, no postcode and no gazetteer match",
    # links (unreached)
    "outside_network": "the asset lies outside the street network's coverage",
    "no_rule": "no link rule selects the asset",
    "beyond_reach": "no macro-asset is within the rule's reach",
    "no_geometry": "the asset has no geometry",
}


def reason_base(code: str) -> str:
    """Return the vocabulary part of a reason code (``duplicate_of:abc`` → ``duplicate_of``)."""
    return code.split(":", 1)[0]


def is_reason_code(code: str) -> bool:
    """Whether ``code`` belongs to the closed vocabulary (parametrised codes included)."""
    return reason_base(code) in REASON_CODES


def empty_rejects() -> pd.DataFrame:
    """An empty rejects table with the right columns and dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})
    frame["source_line"] = frame["source_line"].astype("Int64")
    return frame


def make_rejects(rows: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Build a rejects table from row dicts, checking each reason code is in the vocabulary."""
    records = list(rows)
    if not records:
        return empty_rejects()
    frame = pd.DataFrame.from_records(records)
    for column in REJECT_COLUMNS:
        if column not in frame:
            frame[column] = None
    bad = [c for c in frame["reason_code"].astype(str).unique() if not is_reason_code(c)]
    if bad:
        msg = f"reason code {bad[0]!r} is not in assetmap.schema.REASON_CODES"
        raise ValueError(msg)
    frame = frame[list(REJECT_COLUMNS)]
    frame["source_line"] = frame["source_line"].astype("Int64")
    return frame


@dataclass(frozen=True)
class Register:
    """Accepted assets and the rejects table of one read or geocode step.

    Attributes
    ----------
    assets
        GeoDataFrame indexed by unique ``asset_id`` (CRS EPSG:4326).
    rejects
        DataFrame with :data:`REJECT_COLUMNS`, one row per rejected input row.
    rows_in
        Data rows that entered the step; ``len(assets) + len(rejects) == rows_in``.
    source
        The file (or description) the rows came from.
    """

    assets: gpd.GeoDataFrame
    rejects: pd.DataFrame
    rows_in: int
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        accounted = len(self.assets) + len(self.rejects)
        if accounted != self.rows_in:
            msg = (
                f"{self.source or 'register'}: row accounting broken: "
                f"{len(self.assets)} accepted + {len(self.rejects)} rejected != {self.rows_in} rows in"
            )
            raise AssertionError(msg)

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Unpack as ``assets, rejects = register``."""
        return iter((self.assets, self.rejects))

    def reasons(self) -> pd.Series:
        """Rejected rows counted by reason (parametrised codes grouped by their base)."""
        if self.rejects.empty:
            return pd.Series(dtype="int64", name="rows")
        codes = self.rejects["reason_code"].astype(str)
        return codes.str.split(":", n=1).str[0].value_counts().rename("rows")

    def _repr_html_(self) -> str:
        source = html.escape(self.source or "register")
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{v}</td></tr>"
            for k, v in self.reasons().items()
        )
        by_cat = ""
        if "category" in self.assets and len(self.assets):
            by_cat = ", ".join(
                f"{html.escape(str(k))}: {v}"
                for k, v in self.assets["category"].value_counts().items()
            )
        return (
            f"<div><strong>Register</strong> {source}: {self.rows_in} rows in, "
            f"<strong>{len(self.assets)}</strong> accepted, <strong>{len(self.rejects)}</strong> rejected"
            f"<br/><small>{by_cat}</small>"
            + (f"<table><tr><th>reason</th><th>rows</th></tr>{rows}</table>" if rows else "")
            + "</div>"
        )

    def __repr__(self) -> str:
        return (
            f"Register({self.source!r}: {self.rows_in} rows in, {len(self.assets)} accepted, "
            f"{len(self.rejects)} rejected)"
        )
