"""The real open data assetmap uses, and ``assetmap data`` to install it into ``data/external``.

Each dataset is copied from a local mirror (``$ASSETMAP_DATA_MIRROR``, e.g. ``../shared/data``)
and checked against its known sha256, or downloaded from the publisher when no mirror is set.
Downloads go to ``*.part`` files and are renamed only when complete (RELIABILITY §4.3).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assetmap._errors import DataError
from assetmap._io import atomic_open, sha256_of
from assetmap._paths import data_dir, mirror_dir

log = logging.getLogger(__name__)

OGL = "Open Government Licence v3.0"


@dataclass(frozen=True)
class Dataset:
    """One open dataset: where it lives under ``data/external`` and where it comes from.

    Attributes
    ----------
    key
        Short name used on the command line (``assetmap data --only codepoint``).
    relpath
        Path under the data folder and under the mirror (same layout).
    sha256, size
        Of the mirror copy; a copied file must match both.
    url
        The publisher's page or direct download.
    direct
        Whether ``url`` downloads this exact file (otherwise the publisher's release
        must be converted by hand and the message says how).
    licence, attribution
        Licence name and the attribution text every output using it must show.
    """

    key: str
    relpath: str
    sha256: str
    size: int
    title: str
    url: str
    direct: bool
    licence: str
    attribution: str


OS_ATTRIBUTION = (
    "Contains OS data © Crown copyright and database right 2025. "
    "Contains Royal Mail data © Royal Mail copyright and database right 2025. "
    "Contains National Statistics data © Crown copyright and database right 2025."
)
ONS_ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0."
)
OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"

DATASETS: tuple[Dataset, ...] = (
    Dataset(
        key="codepoint",
        relpath="codepoint_gb/codepo_gb.zip",
        sha256="ee6624e5c7754ed4727f3f15e9fced3affc76e8b5bcf6806ed98151298f01d92",
        size=16224061,
        title="OS Code-Point Open (all GB unit postcodes), 2025.4.0",
        url="https://api.os.uk/downloads/v1/products/CodePointOpen/downloads?area=GB&format=CSV&redirect",
        direct=True,
        licence=OGL,
        attribution=OS_ATTRIBUTION,
    ),
    Dataset(
        key="imd",
        relpath="imd2019/IoD2019_domains_ranks_deciles_lsoa2011_england.csv",
        sha256="106e7dd4965d04d106dbd85515884f174113b922da65ea04f43cceb1bbe96b9b",
        size=3662039,
        title="English Indices of Deprivation 2019, domains (LSOA 2011)",
        url="https://www.gov.uk/government/statistics/english-indices-of-deprivation-2019",
        direct=False,
        licence=OGL,
        attribution=(
            "Contains public sector information licensed under the Open Government Licence v3.0. "
            "Source: Ministry of Housing, Communities & Local Government, English Indices of Deprivation 2019."
        ),
    ),
    Dataset(
        key="population",
        relpath="census2021/census2021_usual_residents_by_age6_lsoa2021_ew.csv",
        sha256="601351c8f8b18e0d130ee53d1e4e98c5aede954979a8ca819c489d04e4c387d3",
        size=1985228,
        title="Census 2021 usual residents by age (6), LSOA 2021",
        url="https://www.ons.gov.uk/datasets/create",
        direct=False,
        licence=OGL,
        attribution=ONS_ATTRIBUTION,
    ),
    Dataset(
        key="lsoa2011",
        relpath="boundaries/lsoa2011_birmingham_sandwell.geojson",
        sha256="91b2a7d78fdb623d4bce52f560f5c6f95b50ffb0e12c66ca2f069366dae48475",
        size=1368751,
        title="LSOA (Dec 2011) BGC boundaries, Birmingham + Sandwell",
        url="https://geoportal.statistics.gov.uk/",
        direct=False,
        licence=OGL,
        attribution=ONS_ATTRIBUTION + " Contains OS data © Crown copyright and database right.",
    ),
    Dataset(
        key="wards",
        relpath="boundaries/wards_sandwell.geojson",
        sha256="35f93591112629449ddd8163bd95f43047b2347762667846f4005c86dd16d690",
        size=53364,
        title="Wards (Dec 2013) BGC boundaries, Sandwell",
        url="https://geoportal.statistics.gov.uk/",
        direct=False,
        licence=OGL,
        attribution=ONS_ATTRIBUTION + " Contains OS data © Crown copyright and database right.",
    ),
    Dataset(
        key="osm-rutland",
        relpath="osm_rutland/rutland-2022-07-20.osm.pbf",
        sha256="85f7540a52772856e61fca49c257ebdf653e62b4a552a9c59fc65b626582e387",
        size=1609743,
        title="OpenStreetMap extract of Rutland (Geofabrik, 2022-07-20)",
        url="https://download.geofabrik.de/europe/united-kingdom/england/rutland-220720.osm.pbf",
        direct=True,
        licence="Open Database Licence 1.0",
        attribution=OSM_ATTRIBUTION,
    ),
    Dataset(
        key="onspd-sample",
        relpath="onspd_sample/onspd_sample.csv",
        sha256="8faf1a1149cc4f18e01d67f5319e5970b93215a81d1dad2fd00f38759bdfc6f1",
        size=5590,
        title="ONS Postcode Directory, 10 sample rows",
        url="https://geoportal.statistics.gov.uk/",
        direct=False,
        licence=OGL,
        attribution=ONS_ATTRIBUTION,
    ),
)

#: Not in the mirror; named so that ``assetmap data`` can say where to get them.
NOT_INCLUDED = (
    "GP practices (NHS ODS epraccur): https://digital.nhs.uk/services/organisation-data-service",
    "Schools (GIAS): https://get-information-schools.service.gov.uk/Downloads",
    "LSOA 2021 boundaries and current Birmingham wards: https://geoportal.statistics.gov.uk/",
)

MANIFEST = "MANIFEST.json"


def by_key(keys: Iterable[str] | None = None) -> list[Dataset]:
    """Datasets selected by key (all when ``keys`` is empty); unknown keys are an error."""
    wanted = list(keys or [])
    known = {d.key: d for d in DATASETS}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        msg = f"unknown dataset {unknown[0]!r} (expected one of {sorted(known)})"
        raise DataError(msg)
    return [known[k] for k in wanted] if wanted else list(DATASETS)


def path_of(key: str, *, root: Path | None = None) -> Path:
    """Where dataset ``key`` lives once installed (whether or not it is there yet)."""
    (dataset,) = by_key([key])
    return (root or data_dir()) / dataset.relpath


@dataclass(frozen=True)
class Outcome:
    """What happened to one dataset during :func:`install`."""

    dataset: Dataset
    status: str  # "present" | "copied" | "downloaded" | "failed"
    detail: str = ""


def install(
    keys: Iterable[str] | None = None,
    *,
    dest: Path | None = None,
    mirror: Path | None = None,
    allow_download: bool = True,
) -> list[Outcome]:
    """Install datasets into ``dest`` (default ``data/external``).

    A file already present with the right checksum is kept. Otherwise it is copied from
    ``mirror`` (default ``$ASSETMAP_DATA_MIRROR``) and verified, or downloaded from the
    publisher when the mirror is absent and the publisher offers the exact file.

    Returns
    -------
    list of Outcome
        One per dataset; ``status == "failed"`` carries a message saying what to do.
    """
    root = (dest or data_dir()).resolve()
    source = mirror if mirror is not None else mirror_dir()
    outcomes = []
    for dataset in by_key(keys):
        outcomes.append(_install_one(dataset, root, source, allow_download))
    _write_manifest(root, outcomes)
    return outcomes


def _install_one(
    dataset: Dataset, root: Path, mirror: Path | None, allow_download: bool
) -> Outcome:
    target = root / dataset.relpath
    if (
        target.exists()
        and target.stat().st_size == dataset.size
        and sha256_of(target) == dataset.sha256
    ):
        return Outcome(dataset, "present")
    if mirror is not None:
        candidate = mirror / dataset.relpath
        if candidate.exists():
            digest = sha256_of(candidate)
            if digest != dataset.sha256:
                return Outcome(
                    dataset,
                    "failed",
                    f"{candidate}: sha256 {digest} does not match the expected {dataset.sha256}",
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(target, "wb") as out, open(candidate, "rb") as src:
                shutil.copyfileobj(src, out)  # type: ignore[misc]
            return Outcome(dataset, "copied", str(candidate))
    if not dataset.direct:
        return Outcome(
            dataset,
            "failed",
            f"not in the mirror and the publisher has no direct download of this file: "
            f"get it from {dataset.url} and put it at {target}, or set $ASSETMAP_DATA_MIRROR",
        )
    if not allow_download:
        return Outcome(
            dataset, "failed", f"not in the mirror and downloads are off: get {dataset.url}"
        )
    try:
        from assetmap._http import download

        download(dataset.url, target)
    except Exception as exc:  # any failure becomes one plain line for the user
        return Outcome(
            dataset, "failed", f"download from {dataset.url} failed ({exc}); are you online?"
        )
    return Outcome(dataset, "downloaded", dataset.url)


def _write_manifest(root: Path, outcomes: list[Outcome]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    path = root / MANIFEST
    manifest: dict[str, dict[str, object]] = {}
    if path.exists():
        manifest = json.loads(path.read_text(encoding="utf-8"))
    for outcome in outcomes:
        if outcome.status == "failed":
            continue
        target = root / outcome.dataset.relpath
        manifest[outcome.dataset.key] = {
            "path": outcome.dataset.relpath,
            "sha256": outcome.dataset.sha256
            if outcome.status != "downloaded"
            else sha256_of(target),
            "bytes": target.stat().st_size,
            "from": outcome.detail or "already present",
            "licence": outcome.dataset.licence,
            "attribution": outcome.dataset.attribution,
            "checked": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")


def installed(key: str) -> Path | None:
    """Path of dataset ``key`` under ``data/external`` if it is installed, else None."""
    path = path_of(key)
    return path if path.exists() else None
