"""Generate the SYNTHETIC demo registers in ``data/demo/`` (no real residents, no network).

Every name, email, phone number, description and coordinate is invented. Postcodes are real
units drawn from the committed Code-Point Open extract
(``assetmap/data/postcodes/codepoint_extract.csv``); coordinates are synthesised by moving the
drawn postcode's point by up to 150 m in a random direction (or, for some rows, a random point
in the Greater Icknield area), so no coordinate is copied from the directory.

Output is deterministic byte for byte: one ``numpy.random.Generator`` with :data:`SEED`, sorted
inputs, fixed formatting. Files written:

``residents_skills.csv``, ``social_enterprises.csv``, ``community_buildings.csv`` (Windows-1252
on purpose), ``community_researchers.csv``, ``rutland_assets.csv`` and ``expected_rejects.csv``
(the deliberately bad rows: file, physical line, asset id, column, value, expected reason code).

Usage::

    python scripts/make_demo_data.py [--out DIR] [--extract PATH]
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from assetmap.postcodes import CODEPOINT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data" / "demo"
DEFAULT_EXTRACT = ROOT / "assetmap" / "data" / "postcodes" / "codepoint_extract.csv"

#: Fixed seed of the one random generator (the prospectus was published on 19 October 2016).
SEED = 20161019
HEADER = (
    "asset_id",
    "name",
    "category",
    "tags",
    "postcode",
    "lat",
    "lon",
    "easting",
    "northing",
    "capacity",
    "personal",
    "description",
    "website",
    "email",
    "phone",
)
#: Postcode districts the Greater Icknield registers draw from.
GI_DISTRICTS = ("B1", "B3", "B16", "B18", "B66", "B67")
RUTLAND_CODE = "E06000017"
#: Greater Icknield area for coordinates-only rows (WGS84 degrees).
GI_BBOX = (-1.98, 52.47, -1.90, 52.51)
JITTER_M = 150.0
#: Share of rows located by postcode only, lat/lon only, easting/northing only, postcode+lat/lon.
LOCATION_MIX = {"postcode": 0.70, "latlon": 0.12, "bng": 0.08, "both": 0.10}

#: Good rows per file; each file also holds the eight deliberate bad rows of BAD_KINDS.
GOOD_ROWS = {
    "residents_skills.csv": 300,
    "social_enterprises.csv": 120,
    "community_buildings.csv": 40,
    "community_researchers.csv": 85,
    "rutland_assets.csv": 40,
}
CLINICAL_COUNTS = {
    "doctor": 70,
    "nurse": 80,
    "midwife": 20,
    "pharmacist": 25,
    "dentist": 15,
    "physiotherapist": 15,
    "healthcare_assistant": 15,
    "radiographer": 10,
}
TRADES = ("carpenter", "electrician", "plumber", "chef", "retail", "care", "tourism", "translation")
CONSORTIUM_COUNTS = {
    "health_care": 30,
    "retail": 25,
    "built_environment": 25,
    "tourism": 15,
    "food": 25,
}
BUILDING_TYPES = (
    "community_centre",
    "faith_building",
    "library",
    "school",
    "gp_practice",
    "youth_centre",
)
LANGUAGES = (
    "english",
    "punjabi",
    "urdu",
    "bengali",
    "arabic",
    "polish",
    "somali",
    "tigrinya",
    "romanian",
)

FIRST_NAMES = (
    "Amara", "Bilal", "Chiara", "Dariusz", "Efua", "Farah", "Gurpreet", "Hassan", "Ioana", "Jamal",
    "Kiran", "Leila", "Mehmet", "Nadia", "Oluwaseun", "Priya", "Qasim", "Rosa", "Samir", "Tendai",
    "Uzma", "Viktor", "Wanjiru", "Xin", "Yusuf", "Zainab", "Aisha", "Ben", "Chidi", "Dana",
)  # fmt: skip
#: Invented surnames, so no row can be mistaken for a real person.
LAST_NAMES = (
    "Ashcombe", "Birchmoor", "Cedarfold", "Dunmere", "Elmstead", "Fernleigh", "Glenbrook", "Hollins",
    "Ivybridge", "Juniper", "Kestrelton", "Larchfield", "Millbeck", "Netherby", "Oakhurst",
    "Pinecroft", "Quarrydale", "Rowanby", "Stonemoor", "Thornwick", "Underhill", "Valemont",
    "Willowmere", "Yewdale",
)  # fmt: skip
GI_PLACES = (
    "Grove Lane", "Cape Hill", "Soho", "Ladywood", "Winson Green", "Spring Hill", "Rotton Park",
    "Edgbaston Reservoir", "Icknield", "Dudley Road", "Windmill Lane", "Galton", "Rolfe Street",
    "Smethwick", "Brasshouse", "Summerfield",
)  # fmt: skip
RUTLAND_PLACES = (
    "Oakham", "Uppingham", "Cottesmore", "Empingham", "Ketton", "Langham", "Whissendine",
    "Edith Weston", "Greetham", "Market Overton", "Barleythorpe", "Exton",
)  # fmt: skip
CONSORTIUM_NOUNS = {
    "health_care": (
        "Wellbeing Collective",
        "Home Care Partners",
        "Health Champions",
        "Carers Network",
    ),
    "retail": ("Community Shop", "Repair Café", "Market Traders", "Preloved Store"),
    "built_environment": (
        "Building Skills",
        "Retrofit Collective",
        "Green Roofs",
        "Joinery Workshop",
    ),
    "tourism": ("Canal Heritage Tours", "Heritage Walks", "Boat Trips", "Visitor Guides"),
    "food": ("Community Kitchen", "Bakery", "Food Hub", "Growers"),
}
SUFFIXES = ("CIC", "Co-operative Ltd", "Community Interest Company", "Social Enterprise Ltd")
BUILDING_NOUNS = {
    "community_centre": ("Community Centre", "Neighbourhood Hall", "Community Café"),
    "faith_building": ("Faith Centre", "Chapel Hall", "Prayer Hall"),
    "library": ("Community Library", "Reading Room"),
    "school": ("Primary School", "Academy"),
    "gp_practice": ("Medical Practice", "Health Centre"),
    "youth_centre": ("Youth Centre", "Young People’s Centre"),
}
SKILL_LABELS = {
    "doctor": "doctor",
    "nurse": "registered nurse",
    "midwife": "midwife",
    "pharmacist": "pharmacist",
    "dentist": "dentist",
    "physiotherapist": "physiotherapist",
    "healthcare_assistant": "healthcare assistant",
    "radiographer": "radiographer",
    "carpenter": "carpenter",
    "electrician": "electrician",
    "plumber": "plumber",
    "chef": "chef",
    "retail": "retail supervisor",
    "care": "care worker",
    "tourism": "tour guide",
    "translation": "interpreter and translator",
}

#: Kinds of deliberate bad rows, in the order they are spread through each file.
BAD_KINDS = (
    "postcode_malformed",
    "postcode_not_found",
    "coord_swapped_lat_lon",
    "ragged_row",
    "missing_required",
    "duplicate_of",
    "coord_out_of_range",
    "category_unknown",
)
UNKNOWN_CATEGORY = {
    "residents_skills.csv": "resident_skills",
    "social_enterprises.csv": "charity",
    "community_buildings.csv": "park",
    "community_researchers.csv": "researcher",
    "rutland_assets.csv": "village_hall",
}


@dataclass(frozen=True)
class Postcodes:
    """Units to draw from: normalised postcode and BNG easting/northing (m)."""

    code: np.ndarray
    easting: np.ndarray
    northing: np.ndarray


def load_postcodes(
    extract: Path, *, districts: Sequence[str] = (), rutland: bool = False
) -> Postcodes:
    """Read the Code-Point extract and keep positional-quality-10 units of the chosen area."""
    frame = pd.read_csv(
        extract, header=None, names=list(CODEPOINT_COLUMNS), dtype=str, keep_default_na=False
    )
    district = frame["Postcode"].str.split(" ", n=1).str[0]
    area = (
        frame["Admin_district_code"].eq(RUTLAND_CODE) & district.eq("LE15")
        if rutland
        else district.isin(districts)
    )
    keep = frame[area & frame["Positional_quality_indicator"].eq("10")].sort_values("Postcode")
    return Postcodes(
        code=keep["Postcode"].to_numpy(dtype=object),
        easting=keep["Eastings"].astype("float64").to_numpy(),
        northing=keep["Northings"].astype("float64").to_numpy(),
    )


@functools.cache
def transformers() -> tuple[Transformer, Transformer]:
    """BNG (EPSG:27700) → WGS84 and back, lon/lat order; built once (each costs ~0.2 s)."""
    return (
        Transformer.from_crs(27700, 4326, always_xy=True),
        Transformer.from_crs(4326, 27700, always_xy=True),
    )


def locate(
    rng: np.random.Generator, postcodes: Postcodes, n: int, *, area_bbox: tuple[float, ...] | None
) -> pd.DataFrame:
    """Postcode and synthetic coordinates for ``n`` rows, following :data:`LOCATION_MIX`.

    Coordinates are the drawn unit's point moved by up to :data:`JITTER_M` metres (uniform
    over the disc); half of the lat/lon-only rows instead get a uniform random point in
    ``area_bbox`` when one is given.
    """
    to_wgs84, to_bng = transformers()
    modes = rng.choice(
        np.array(list(LOCATION_MIX)), size=n, p=np.array(list(LOCATION_MIX.values()))
    )
    pick = rng.integers(len(postcodes.code), size=n)
    radius = JITTER_M * np.sqrt(rng.random(n))
    angle = rng.random(n) * 2 * np.pi
    easting = postcodes.easting[pick] + radius * np.cos(angle)
    northing = postcodes.northing[pick] + radius * np.sin(angle)
    lon, lat = to_wgs84.transform(easting, northing)
    if area_bbox is not None:
        random_area = (modes == "latlon") & (rng.random(n) < 0.5)
        lon = np.where(random_area, rng.uniform(area_bbox[0], area_bbox[2], n), lon)
        lat = np.where(random_area, rng.uniform(area_bbox[1], area_bbox[3], n), lat)
        easting, northing = to_bng.transform(lon, lat)
    has_postcode = np.isin(modes, ["postcode", "both"])
    has_latlon = np.isin(modes, ["latlon", "both"])
    has_bng = modes == "bng"
    return pd.DataFrame(
        {
            "postcode": np.where(has_postcode, postcodes.code[pick], ""),
            "lat": np.where(has_latlon, np.char.mod("%.6f", lat), ""),
            "lon": np.where(has_latlon, np.char.mod("%.6f", lon), ""),
            "easting": np.where(has_bng, np.char.mod("%.0f", easting), ""),
            "northing": np.where(has_bng, np.char.mod("%.0f", northing), ""),
        }
    )


def unique_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct numbers from Ofcom's drama ranges (0121 496 0xxx, 07700 900xxx)."""
    numbers = rng.choice(2000, size=n, replace=False)
    landline = np.char.mod("0121 496 0%03d", numbers % 1000)
    mobile = np.char.mod("07700 900%03d", numbers % 1000)
    return np.where(numbers < 1000, landline, mobile)


def person_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct invented full names and their example.org emails."""
    combos = rng.choice(len(FIRST_NAMES) * len(LAST_NAMES), size=n, replace=False)
    first = np.array(FIRST_NAMES, dtype=object)[combos // len(LAST_NAMES)]
    last = np.array(LAST_NAMES, dtype=object)[combos % len(LAST_NAMES)]
    names = first + " " + last
    emails = pd.Series(first + "." + last).str.lower().to_numpy(dtype=object) + "@example.org"
    return names, emails


def slugs(names: np.ndarray) -> np.ndarray:
    """URL slugs of organisation names (lower case, hyphens)."""
    text = pd.Series(names, dtype="str").str.normalize("NFKD").str.lower()
    # NFKD splits "é" into "e" + accent; dropping non-ASCII then gives "cafe", "peoples".
    text = text.str.replace(r"[’']|[^\x00-\x7f]", "", regex=True)
    return text.str.replace(r"[^a-z0-9]+", "-", regex=True).str.strip("-").to_numpy(dtype=object)


def register_frame(
    ids: np.ndarray, columns: dict[str, object], located: pd.DataFrame
) -> pd.DataFrame:
    """Assemble a register frame in :data:`HEADER` order."""
    data = pd.DataFrame({"asset_id": ids, **columns})
    data = pd.concat([data, located.reset_index(drop=True)], axis=1)
    for column in HEADER:
        if column not in data:
            data[column] = ""
    return data[list(HEADER)].astype(str)


def residents(rng: np.random.Generator, postcodes: Postcodes) -> pd.DataFrame:
    """Residents' skills: 250 overseas-qualified clinical professionals and 50 tradespeople."""
    n = GOOD_ROWS["residents_skills.csv"]
    clinical = np.repeat(list(CLINICAL_COUNTS), list(CLINICAL_COUNTS.values()))
    trades = rng.choice(np.array(TRADES), size=n - len(clinical))
    skills = rng.permutation(np.concatenate([clinical, trades]))
    is_clinical = np.isin(skills, list(CLINICAL_COUNTS))
    tags = np.where(
        is_clinical, np.char.add(skills.astype(str), ";clinical;overseas_qualified"), skills
    )
    names, emails = person_names(rng, n)
    years = rng.integers(2, 26, size=n)
    labels = pd.Series(skills).map(SKILL_LABELS).to_numpy(dtype=object)
    qualified = np.where(is_clinical, ", qualified overseas", "")
    description = (
        labels + qualified + ", " + years.astype(str) + " years' experience (synthetic record)"
    )
    return register_frame(
        np.char.mod("rs-%04d", np.arange(1, n + 1)),
        {
            "name": names,
            "category": "resident_skill",
            "tags": tags,
            "capacity": "1",
            "personal": "true",
            "description": description,
            "email": emails,
            "phone": unique_phones(rng, n),
        },
        locate(rng, postcodes, n, area_bbox=GI_BBOX),
    )


def organisations(
    rng: np.random.Generator,
    n: int,
    nouns: Mapping[str, tuple[str, ...]],
    counts: dict[str, int],
    places: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``"<place> <noun>"`` names and the key (consortium or type) of each, shuffled."""
    keys = np.repeat(list(counts), list(counts.values()))
    names = np.empty(n, dtype=object)
    for key in counts:  # one draw per consortium/type, not per row
        where = np.flatnonzero(keys == key)
        pool = np.array([f"{p} {w}" for p in places for w in nouns[key]], dtype=object)
        names[where] = rng.choice(pool, size=len(where), replace=False)
    order = rng.permutation(n)
    return names[order], keys[order]


def social_enterprises(rng: np.random.Generator, postcodes: Postcodes) -> pd.DataFrame:
    """Social enterprises, one USE-IT! consortium tag each."""
    n = GOOD_ROWS["social_enterprises.csv"]
    base, consortia = organisations(rng, n, CONSORTIUM_NOUNS, CONSORTIUM_COUNTS, GI_PLACES)
    names = base + " " + rng.choice(np.array(SUFFIXES, dtype=object), size=n)
    slug = slugs(names)
    staff = rng.integers(1, 26, size=n)
    label = pd.Series(consortia).str.replace("_", " ").to_numpy(dtype=object)
    description = (
        "Social enterprise in the "
        + label
        + " consortium, "
        + staff.astype(str)
        + " staff (synthetic)"
    )
    # One multi-line description exercises readers that must count embedded newlines.
    description[7] = description[7] + "\nOpen to volunteers on weekdays."
    return register_frame(
        np.char.mod("se-%04d", np.arange(1, n + 1)),
        {
            "name": names,
            "category": "social_enterprise",
            "tags": consortia,
            "capacity": staff.astype(str),
            "personal": "false",
            "description": description,
            "website": "https://example.org/" + slug,
            "email": slug + "@example.org",
            "phone": unique_phones(rng, n),
        },
        locate(rng, postcodes, n, area_bbox=GI_BBOX),
    )


def buildings(
    rng: np.random.Generator,
    postcodes: Postcodes,
    n: int,
    places: Sequence[str],
    prefix: str,
    bbox: tuple[float, ...] | None,
    *,
    forced: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Community buildings of the six types, with a capacity in places.

    ``forced`` maps a building type to a name that must appear: it replaces the first row of
    that type unless the name was drawn already.
    """
    per_type = np.full(len(BUILDING_TYPES), n // len(BUILDING_TYPES))
    per_type[: n % len(BUILDING_TYPES)] += 1
    counts = dict(zip(BUILDING_TYPES, per_type.tolist(), strict=True))
    names, kinds = organisations(rng, n, BUILDING_NOUNS, counts, places)
    for kind, name in (forced or {}).items():
        if name not in set(names):
            names[np.flatnonzero(kinds == kind)[0]] = name
    slug = slugs(names)
    places_n = rng.integers(3, 81, size=n) * 5
    label = pd.Series(kinds).str.replace("_", " ").to_numpy(dtype=object)
    return register_frame(
        np.char.mod(f"{prefix}-%04d", np.arange(1, n + 1)),
        {
            "name": names,
            "category": "community_building",
            "tags": kinds,
            "capacity": places_n.astype(str),
            "personal": "false",
            "description": "Community building ("
            + label
            + "), "
            + places_n.astype(str)
            + " places (synthetic)",
            "website": "https://example.org/" + slug,
            "phone": unique_phones(rng, n),
        },
        locate(rng, postcodes, n, area_bbox=bbox),
    )


def community_buildings(rng: np.random.Generator, postcodes: Postcodes) -> pd.DataFrame:
    """Greater Icknield community buildings (the file is written in Windows-1252)."""
    # Non-ASCII names that decode differently in UTF-8, Windows-1252 and Latin-1.
    forced = {
        "community_centre": "Cape Hill Community Café",
        "youth_centre": "Soho Young People’s Centre",
    }
    return buildings(
        rng,
        postcodes,
        GOOD_ROWS["community_buildings.csv"],
        GI_PLACES,
        "cb",
        GI_BBOX,
        forced=forced,
    )


def researchers(rng: np.random.Generator, postcodes: Postcodes) -> pd.DataFrame:
    """Community researchers (personal) with the languages they work in as tags."""
    n = GOOD_ROWS["community_researchers.csv"]
    names, emails = person_names(rng, n)
    first = rng.choice(np.array(LANGUAGES[1:], dtype=object), size=n)
    second = np.where(rng.random(n) < 0.8, "english", "")
    tags = np.where(second == "", first, second + ";" + first)
    cohort = rng.integers(2017, 2025, size=n)
    return register_frame(
        np.char.mod("cr-%03d", np.arange(1, n + 1)),
        {
            "name": names,
            "category": "community_researcher",
            "tags": tags,
            "capacity": "1",
            "personal": "true",
            "description": "Community researcher, trained "
            + cohort.astype(str)
            + " (synthetic record)",
            "email": emails,
            "phone": unique_phones(rng, n),
        },
        locate(rng, postcodes, n, area_bbox=GI_BBOX),
    )


def rutland(rng: np.random.Generator, postcodes: Postcodes) -> pd.DataFrame:
    """Rutland community buildings and social enterprises (LE15 postcodes)."""
    n = GOOD_ROWS["rutland_assets.csv"]
    n_buildings = n // 2
    halls = buildings(rng, postcodes, n_buildings, RUTLAND_PLACES, "ru", None)
    counts = {
        "health_care": 4,
        "retail": 4,
        "built_environment": 4,
        "tourism": 4,
        "food": n - n_buildings - 16,
    }
    base, consortia = organisations(rng, n - n_buildings, CONSORTIUM_NOUNS, counts, RUTLAND_PLACES)
    names = base + " " + rng.choice(np.array(SUFFIXES, dtype=object), size=len(base))
    slug = slugs(names)
    staff = rng.integers(1, 16, size=len(base))
    label = pd.Series(consortia).str.replace("_", " ").to_numpy(dtype=object)
    enterprises = register_frame(
        np.char.mod("ru-%04d", np.arange(n_buildings + 1, n + 1)),
        {
            "name": names,
            "category": "social_enterprise",
            "tags": consortia,
            "capacity": staff.astype(str),
            "personal": "false",
            "description": "Social enterprise in the "
            + label
            + " consortium, "
            + staff.astype(str)
            + " staff (synthetic)",
            "website": "https://example.org/" + slug,
            "email": slug + "@example.org",
            "phone": unique_phones(rng, len(base)),
        },
        locate(rng, postcodes, len(base), area_bbox=None),
    )
    return pd.concat([halls, enterprises], ignore_index=True)


BadRow = tuple[list[str], str, str, str, str]


def bad_rows(
    good: pd.DataFrame, file_name: str, *, prefix: str, missing_postcode: str, malformed: str
) -> list[BadRow]:
    """The eight deliberate bad rows of one file, in :data:`BAD_KINDS` order.

    Returns ``(fields, asset_id, column, value, reason_code)`` per row. Each row has exactly
    one defect, and a row whose defect is in a location column carries no other location, so
    the expected reason is the only one possible.
    """
    template = {str(k): str(v) for k, v in good.iloc[0].items()}
    personal = template["personal"] == "true"
    postcode_only = good[good["postcode"].ne("") & good["lat"].eq("") & good["easting"].eq("")]
    original = postcode_only.iloc[len(postcode_only) // 3]
    with_latlon = good[good["lat"].ne("")].iloc[0]
    width = 3 if prefix == "cr-" else 4
    rows: list[BadRow] = []
    for offset, kind in enumerate(BAD_KINDS):
        asset_id = f"{prefix}{len(good) + 1 + offset:0{width}d}"
        row = dict(
            template, asset_id=asset_id, postcode="", lat="", lon="", easting="", northing=""
        )
        if personal:
            row["name"] = f"Test Row{offset + 1} Sample"
            row["email"] = f"test.row{offset + 1}@example.org"
        else:
            row["name"] = f"{template['name']} ({kind.replace('_', ' ')})"
        extra: list[str] = []
        reason = kind
        if kind == "postcode_malformed":
            row["postcode"] = malformed
            column, value = "postcode", malformed
        elif kind == "postcode_not_found":
            row["postcode"] = missing_postcode
            column, value = "postcode", missing_postcode
        elif kind == "coord_swapped_lat_lon":
            row["lat"], row["lon"] = with_latlon["lon"], with_latlon["lat"]
            column, value = "lat", row["lat"]
        elif kind == "ragged_row":
            row["postcode"] = original["postcode"]
            extra = ["unexpected extra field"]
            column, value = "", f"{len(HEADER) + 1} fields, header has {len(HEADER)}"
        elif kind == "missing_required":
            row["postcode"] = original["postcode"]
            row["name"] = ""
            column, value = "name", ""
        elif kind == "duplicate_of":
            row["postcode"], row["name"] = original["postcode"], original["name"]
            column, value = "name", original["name"]
            reason = f"duplicate_of:{original['asset_id']}"
        elif kind == "coord_out_of_range":
            row["lat"], row["lon"] = "95", with_latlon["lon"]
            column, value = "lat", "95"
        else:  # category_unknown
            row["postcode"] = original["postcode"]
            row["category"] = UNKNOWN_CATEGORY[file_name]
            column, value = "category", row["category"]
        rows.append(([row[c] for c in HEADER] + extra, asset_id, column, value, reason))
    return rows


def write_register(
    path: Path, good: pd.DataFrame, bad: list[BadRow], *, encoding: str
) -> list[dict[str, object]]:
    """Write good rows with the bad ones spread through them; return the bad rows' line numbers."""
    records = [list(r) for r in good.itertuples(index=False, name=None)]
    positions = np.linspace(5, len(records), num=len(bad), endpoint=False).astype(int)
    for offset, position in enumerate(positions):
        records.insert(int(position) + offset, bad[offset][0])
    bad_ids = {b[1]: b for b in bad}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    line = 2
    expected: list[dict[str, object]] = []
    for record in records:
        if record[0] in bad_ids:
            _, asset_id, column, value, reason = bad_ids[record[0]]
            expected.append(
                {
                    "source": path.name,
                    "source_line": line,
                    "asset_id": asset_id,
                    "column": column,
                    "value": value,
                    "reason_code": reason,
                }
            )
        writer.writerow(record)
        line += sum(field.count("\n") for field in record) + 1
    data = buffer.getvalue().encode(encoding)  # strict: a character outside the encoding fails
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return expected


def generate(out_dir: Path, extract: Path = DEFAULT_EXTRACT) -> dict[str, int]:
    """Write every demo register into ``out_dir``; return data rows written per file."""
    rng = np.random.default_rng(SEED)
    greater_icknield = load_postcodes(extract, districts=GI_DISTRICTS)
    rutland_pc = load_postcodes(extract, rutland=True)
    present = set(greater_icknield.code) | set(rutland_pc.code)
    for code in ("B66 9ZZ", "LE15 9ZZ"):
        if code in present:
            msg = f"{code} is in the directory; pick another postcode for the not-found row"
            raise ValueError(msg)
    registers = {
        "residents_skills.csv": (
            residents(rng, greater_icknield),
            "rs-",
            "B66 9ZZ",
            "B66 2QQX",
            "utf-8",
        ),
        "social_enterprises.csv": (
            social_enterprises(rng, greater_icknield),
            "se-",
            "B66 9ZZ",
            "B66 2QQX",
            "utf-8",
        ),
        "community_buildings.csv": (
            community_buildings(rng, greater_icknield),
            "cb-",
            "B66 9ZZ",
            "B66 2QQX",
            "cp1252",
        ),
        "community_researchers.csv": (
            researchers(rng, greater_icknield),
            "cr-",
            "B66 9ZZ",
            "B66 2QQX",
            "utf-8",
        ),
        "rutland_assets.csv": (rutland(rng, rutland_pc), "ru-", "LE15 9ZZ", "LE15 6QQX", "utf-8"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    expected: list[dict[str, object]] = []
    written: dict[str, int] = {}
    for file_name, (good, prefix, missing, malformed, encoding) in registers.items():
        bad = bad_rows(
            good, file_name, prefix=prefix, missing_postcode=missing, malformed=malformed
        )
        expected += write_register(out_dir / file_name, good, bad, encoding=encoding)
        written[file_name] = len(good) + len(bad)
    table = pd.DataFrame.from_records(expected)
    tmp = out_dir / "expected_rejects.csv.part"
    table.to_csv(tmp, index=False, lineterminator="\n")
    os.replace(tmp, out_dir / "expected_rejects.csv")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default data/demo)"
    )
    parser.add_argument(
        "--extract",
        type=Path,
        default=DEFAULT_EXTRACT,
        help="Code-Point extract to draw postcodes from",
    )
    args = parser.parse_args(argv)
    written = generate(args.out, args.extract)
    for file_name, rows in written.items():
        print(f"{args.out / file_name}: {rows} data rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
