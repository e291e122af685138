"""``assetmap build`` / ``make maps``: a folder of self-contained maps, data and a manifest.

The bundle is written into a staging folder beside the output and swapped in only when
complete, so a failure or Ctrl-C leaves the previous bundle in place (RELIABILITY §4.3).
Before the swap every file is scanned for personal data of residents' rows; a hit fails
the build.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from assetmap import __version__
from assetmap._errors import AssetmapError
from assetmap._io import atomic_open, sha256_of, write_csv, write_frame
from assetmap.config import Config, MapConfig, load
from assetmap.schema import CRS_WGS84, REJECT_COLUMNS, Register, make_rejects

log = logging.getLogger(__name__)


@dataclass
class Context:
    """Everything the maps of one bundle share, computed once."""

    config: Config
    micro: gpd.GeoDataFrame
    macro: gpd.GeoDataFrame
    rejects: pd.DataFrame
    accounting: list[dict[str, Any]]
    personal_sources: set[str]
    postcodes: Any = None
    network: Any = None
    rules: list[Any] = field(default_factory=list)
    links: Any = None
    lsoa: gpd.GeoDataFrame | None = None
    imd: pd.DataFrame | None = None
    population: pd.DataFrame | None = None
    attribution: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    disclosure: list[pd.DataFrame] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build` wrote."""

    output: Path
    maps: tuple[Path, ...]
    skipped: tuple[str, ...]
    manifest: dict[str, Any]

    def __repr__(self) -> str:
        return f"BuildResult({self.output}: {len(self.maps)} maps, {len(self.skipped)} skipped)"


def build(
    config: Config | str | os.PathLike[str] = "assetmap.toml",
    *,
    output: str | os.PathLike[str] | None = None,
    only: Sequence[str] = (),
    progress: bool = False,
) -> BuildResult:
    """Build the map bundle described by ``config``.

    Parameters
    ----------
    config
        A parsed :class:`~assetmap.config.Config` or the path of an ``assetmap.toml``.
    output
        Bundle folder (default: the config's ``[project] output``).
    only
        Map names to (re)build; the rest of an existing bundle is kept.
    progress
        Show a progress bar on the console.

    Returns
    -------
    BuildResult
        The output folder, the map files, what was skipped (and why), the manifest.
    """
    cfg = config if isinstance(config, Config) else load(config)
    out = Path(output) if output is not None else cfg.output
    unknown = sorted(set(only) - {m.name for m in cfg.maps})
    if unknown:
        msg = f"{cfg.path}: no [[map]] named {unknown[0]!r} (maps: {', '.join(m.name for m in cfg.maps)})"
        raise AssetmapError(msg)
    chosen = [m for m in cfg.maps if not only or m.name in only]
    started = time.perf_counter()
    steps: list[tuple[str, Callable[[], None]]] = []
    holder: dict[str, Any] = {}
    staging = _staging_folder(out, keep_previous=bool(only))

    def prepare() -> None:
        holder["ctx"] = _prepare(cfg)

    steps.append(("read, geocode and link", prepare))
    written: list[Path] = []
    for spec in chosen:
        steps.append((f"map {spec.name}", _map_step(spec, holder, staging, written)))
    steps.append(
        ("data, index and manifest", lambda: _finish(holder["ctx"], staging, chosen, started))
    )
    try:
        _run_steps(steps, progress)
        ctx: Context = holder["ctx"]
        _privacy_gate(ctx, staging)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for line in ctx.skipped:
        log.debug("skipped: %s", line)
    return BuildResult(
        output=out,
        maps=tuple(out / p.name for p in written),
        skipped=tuple(ctx.skipped),
        manifest=manifest,
    )


def _run_steps(steps: list[tuple[str, Callable[[], None]]], progress: bool) -> None:
    if not progress:
        for name, step in steps:
            log.info("%s …", name)
            step()
        return
    from tqdm import tqdm

    with tqdm(total=len(steps), unit="step", desc="assetmap build") as bar:
        for name, step in steps:
            bar.set_postfix_str(name)
            step()
            bar.update()


def _map_step(
    spec: MapConfig, holder: dict[str, Any], staging: Path, written: list[Path]
) -> Callable[[], None]:
    def step() -> None:
        written.append(_write_map(holder["ctx"], spec, staging))

    return step


# --------------------------------------------------------------------------- inputs


def _prepare(cfg: Config) -> Context:
    from assetmap.gazetteer import sites
    from assetmap.geocode import geocode
    from assetmap.links import link
    from assetmap.registers import read_assets

    registers: list[Register] = []
    inputs: dict[str, str] = {}
    for reg in cfg.registers:
        registers.append(
            read_assets(
                reg.path, kind=reg.kind, columns=dict(reg.columns) or None, category=reg.category
            )
        )
        inputs[_relative(reg.path, cfg)] = sha256_of(reg.path)
    assets, clash_rejects = _concat_registers(registers)
    personal_sources = {
        str(r.source)
        for r in registers
        if bool(r.assets.get("personal", pd.Series(dtype=bool)).any())
    }
    ctx = Context(
        config=cfg,
        micro=assets.iloc[0:0],
        macro=sites(cfg.area),
        rejects=pd.concat([r.rejects for r in registers] + [clash_rejects], ignore_index=True),
        accounting=[],
        personal_sources=personal_sources,
        inputs=inputs,
    )
    _resolve_postcodes(ctx)
    placed = geocode(
        assets,
        postcodes=ctx.postcodes,
        gazetteer=cfg.area,
        online=cfg.online,
        user_agent=cfg.user_agent or None,
    )
    ctx.micro = placed.assets[placed.assets["kind"] == "micro"]
    ctx.rejects = pd.concat([ctx.rejects, placed.rejects], ignore_index=True)
    ctx.accounting = _accounting(registers, clash_rejects, placed)
    _resolve_network(ctx)
    _resolve_rules(ctx)
    ctx.links = link(
        ctx.micro,
        ctx.macro,
        rules=ctx.rules,
        network=ctx.network,
        walk_kmh=cfg.walk_kmh,
        snap_tolerance_m=cfg.snap_tolerance_m,
    )
    _resolve_areas(ctx)
    return ctx


def _concat_registers(registers: Sequence[Register]) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Stack registers; an asset id already used by an earlier register is a reject, not lost."""
    frames = [r.assets for r in registers if len(r.assets)]
    if not frames:
        msg = "no register has any accepted row: nothing to map"
        raise AssetmapError(msg)
    stacked = pd.concat(frames)
    clash = stacked.index.duplicated(keep="first")
    rejects = make_rejects(
        {
            "source": row.source,
            "source_line": row.source_line,
            "asset_id": asset_id,
            "column": "asset_id",
            "value": asset_id,
            "reason_code": f"duplicate_of:{asset_id}",
            "message": f"{row.source} line {row.source_line}, column 'asset_id': value {asset_id!r} "
            "is already used by an earlier register (expected ids unique across registers)",
        }
        for asset_id, row in stacked[clash].iterrows()
    )
    return gpd.GeoDataFrame(stacked[~clash], crs=CRS_WGS84), rejects


def _accounting(
    registers: Sequence[Register], clash: pd.DataFrame, placed: Register
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    geo_rejects = (
        placed.rejects.groupby("source").size() if len(placed.rejects) else pd.Series(dtype=int)
    )
    clash_rejects = clash.groupby("source").size() if len(clash) else pd.Series(dtype=int)
    placed_by = (
        placed.assets.groupby("source").size() if len(placed.assets) else pd.Series(dtype=int)
    )
    for r in registers:
        src = str(r.source)
        rows.append(
            {
                "source": src,
                "rows_in": r.rows_in,
                "read_rejected": len(r.rejects),
                "duplicate_across_registers": int(clash_rejects.get(src, 0)),
                "geocode_rejected": int(geo_rejects.get(src, 0)),
                "placed": int(placed_by.get(src, 0)),
            }
        )
    for row in rows:
        total = (
            row["read_rejected"]
            + row["duplicate_across_registers"]
            + row["geocode_rejected"]
            + row["placed"]
        )
        if total != row["rows_in"]:
            msg = f"{row['source']}: row accounting broken in the bundle: {row}"
            raise AssertionError(msg)
    return rows


def _resolve_postcodes(ctx: Context) -> None:
    from assetmap.postcodes import PostcodeDirectory

    value = ctx.config.postcodes
    directory = (
        PostcodeDirectory.default()
        if value == "auto"
        else PostcodeDirectory.from_path(ctx.config.resolve(value))
    )
    ctx.postcodes = directory
    ctx.attribution.append(directory.attribution)
    if getattr(directory, "is_extract", False):
        ctx.skipped.append(
            "full GB postcode directory not installed: the committed Code-Point Open extract "
            "(Birmingham/Sandwell districts and Rutland) was used; run `make data` for all of GB"
        )


#: Open-data street networks that ``assetmap data`` installs, by gazetteer area.
AREA_NETWORKS = {"rutland": "osm-rutland"}


def _resolve_network(ctx: Context) -> None:
    """``auto``: a downloaded network of the area, else an installed open-data extract."""
    from assetmap import datasets
    from assetmap._paths import data_dir
    from assetmap.network import load_network

    value, area = ctx.config.network, ctx.config.area
    if value == "auto":
        candidates = [data_dir() / "networks" / f"{area}-{ctx.config.network_mode}.graphml"]
        if area in AREA_NETWORKS:
            candidates.append(datasets.path_of(AREA_NETWORKS[area]))
        path = next((p for p in candidates if p.exists()), candidates[-1])
        how = (
            "run `make data`"
            if area in AREA_NETWORKS
            else f"run `assetmap data --network {area}` when online"
        )
    else:
        path, how = ctx.config.resolve(value), "check [network] path"
    if not path.exists():
        ctx.skipped.append(
            f"no street network installed for {area} ({path} is missing): links and catchments "
            f"are straight-line; {how}"
        )
        return
    ctx.network = load_network(path, mode=ctx.config.network_mode, walk_kmh=ctx.config.walk_kmh)
    ctx.attribution.append("Street network © OpenStreetMap contributors (ODbL 1.0)")


def _resolve_rules(ctx: Context) -> None:
    from assetmap import rules

    value = ctx.config.rules
    ctx.rules = (
        rules.default() if value == "default" else rules.parse_rules(ctx.config.resolve(value))
    )
    if ctx.network is None:
        ctx.rules = [r.straight_line() if hasattr(r, "straight_line") else r for r in ctx.rules]


def _resolve_areas(ctx: Context) -> None:
    from assetmap import areas

    def attempt(name: str, loader: Callable[[], Any]) -> Any:
        try:
            return loader()
        except AssetmapError as exc:
            ctx.skipped.append(f"{name}: {exc}")
            return None

    cfg = ctx.config
    ctx.lsoa = attempt(
        "LSOA boundaries",
        lambda: areas.load_lsoa(2011, path=None if cfg.lsoa == "auto" else cfg.resolve(cfg.lsoa)),
    )
    ctx.imd = attempt(
        "IMD 2019", lambda: areas.load_imd(path=None if cfg.imd == "auto" else cfg.resolve(cfg.imd))
    )
    ctx.population = attempt(
        "Census 2021 population",
        lambda: areas.load_population(
            path=None if cfg.population == "auto" else cfg.resolve(cfg.population)
        ),
    )
    if ctx.imd is not None:
        ctx.attribution.append("English Indices of Deprivation 2019, MHCLG (OGL v3.0)")
    if ctx.population is not None:
        ctx.attribution.append("Census 2021: Office for National Statistics (OGL v3.0)")


# --------------------------------------------------------------------------- maps


def _write_map(ctx: Context, spec: MapConfig, staging: Path) -> Path:
    from assetmap import maps
    from assetmap.maps import static

    view = _map_view(ctx, spec)
    choropleths = _equity_layers(ctx, spec, view, staging) if spec.kind == "equity" else []
    html_path = staging / f"{spec.name}.html"
    fmap = maps.map(
        view["micro"],
        view["macro"],
        links=view["links"],
        catchments=view["catchments"],
        areas=view["areas"],
        title=spec.title,
        self_contained=True,
        tiles=ctx.config.tiles,
        attribution=_map_attribution(ctx, spec),
        choropleths=choropleths,
    )
    maps.save(fmap, html_path, self_contained=True)
    static.save_png(
        view["micro"],
        view["macro"],
        staging / f"{spec.name}.png",
        links=view["links"],
        catchments=view["catchments"],
        areas=view["areas"],
        title=spec.title,
        choropleths=choropleths[:1],
    )
    if not isinstance(fmap, maps.AssetMap):  # pragma: no cover - map() always builds one
        msg = f"map {spec.name!r}: expected an AssetMap, got {type(fmap).__name__}"
        raise TypeError(msg)
    content = fmap.content
    if content is None:  # pragma: no cover - set when the map is built
        msg = f"map {spec.name!r} has no content"
        raise TypeError(msg)
    log_frame = content.disclosure_log
    if len(log_frame):
        ctx.disclosure.append(log_frame.assign(map=spec.name))
    totals = getattr(content.privacy, "totals", None)
    ctx.figures[spec.name] = {
        **ctx.figures.get(spec.name, {}),
        "assets_shown": len(content.micro),
        "residents_in_area_counts": str(totals.get("total", "0")) if totals is not None else "0",
        "sites": len(content.macro),
        "links_drawn": len(content.links),
    }
    return html_path


def _equity_layers(
    ctx: Context, spec: MapConfig, view: dict[str, Any], staging: Path
) -> list[dict[str, Any]]:
    """Choropleths, tables and headline figures of the equity map (needs `make data`).

    Writes ``data/equity_lsoa.csv`` (DfT-style access columns per LSOA; personal counts
    published through the suppression rules) and ``data/gaps_lsoa.csv``.
    """
    from assetmap import equity
    from assetmap.catchments import catchments

    if ctx.lsoa is None or ctx.imd is None:
        ctx.skipped.append(
            f"map {spec.name}: IMD 2019 and LSOA boundaries are not installed, so it shows "
            "residents' counts only; run `make data` for deprivation, population and access"
        )
        return []
    near = view["areas"]
    lsoa = ctx.lsoa[ctx.lsoa["lsoa_code"].isin(near["area_id"])] if near is not None else ctx.lsoa
    table = equity.area_table(
        ctx.micro,
        ctx.links,
        lsoa,
        area_id="lsoa_code",
        macro=ctx.macro,
        imd=ctx.imd,
        population=ctx.population,
    )
    gaps = equity.gaps(ctx.micro, ctx.links, lsoa, area_id="lsoa_code")
    for frame in (table, gaps):
        log = pd.DataFrame(frame.attrs.get("disclosure_log", []))
        if len(log):
            ctx.disclosure.append(log.assign(map=spec.name))
    (staging / "data").mkdir(exist_ok=True)
    write_csv(table, staging / "data" / "equity_lsoa.csv")
    write_csv(gaps, staging / "data" / "gaps_lsoa.csv")
    extra = [c for c in table.columns if c not in lsoa.columns]
    joined = lsoa[["lsoa_code", "lsoa_name", lsoa.geometry.name]].join(table[extra])
    figures: dict[str, Any] = {"lsoas": len(joined)}
    if ctx.population is not None and "mmuh" in ctx.macro.index:
        band = catchments(
            ctx.macro.loc[["mmuh"]], network=ctx.network, minutes=[20], walk_kmh=ctx.config.walk_kmh
        )
        within = equity.residents_within(
            ctx.population, lsoa, band, imd=ctx.imd, decile_max=1, site="mmuh", band=20
        )
        key = "residents_of_10pct_most_deprived_lsoas_within_20_min_of_mmuh"
        figures[key] = f"{round(within['residents'], -1):,.0f} ({within['mode']})"
    ctx.figures[spec.name] = figures
    common = {"areas": joined, "area_id": "lsoa_code", "name_column": "lsoa_name"}
    layers: list[dict[str, Any]] = [
        {
            **common,
            "column": "imd_decile",
            "label": "IMD 2019 decile (1 = most deprived 10%)",
            "scheme": "decile",
            "tooltip_columns": [
                c for c in ("imd_rank", "population", "personal_total") if c in joined
            ],
        }
    ]
    if "population" in joined and joined["population"].notna().any():
        layers.append(
            {
                **common,
                "areas": joined.assign(population=joined["population"].astype("float64")),
                "column": "population",
                "label": "Census 2021 usual residents",
                "palette": "cividis",
                "show": False,
            }
        )
    access = "avg_minutes_to_nhs_anchor"
    if access in joined and joined[access].notna().any():
        layers.append(
            {
                **common,
                "column": access,
                "label": "Average minimum time from organisations to an NHS anchor",
                "reverse": True,
                "unit": " min",
                "show": False,
            }
        )
    return layers


def _map_attribution(ctx: Context, spec: MapConfig) -> tuple[str, ...]:
    """Sources the map builder cannot see for itself (it credits postcodes, sites, areas)."""
    extra = [a for a in ctx.attribution if "OpenStreetMap" in a and ctx.network is not None]
    if spec.kind == "equity":
        extra += [a for a in ctx.attribution if "Deprivation" in a or "Census" in a]
    return tuple(extra)


def _map_view(ctx: Context, spec: MapConfig) -> dict[str, Any]:
    """The subsets, links and catchments one map shows.

    Personal rows are handed to the map builder, which only ever publishes them as
    suppressed counts per area (LSOA when installed, else H3) and per site.
    """
    from assetmap.catchments import catchments

    micro = ctx.micro
    if spec.micro_categories:
        micro = micro[micro["category"].isin(spec.micro_categories)]
    macro = ctx.macro
    if spec.macro_categories:
        macro = macro[macro["category"].isin(spec.macro_categories)]
    links = ctx.links.subset(rules=spec.rules) if spec.rules else None
    bands = None
    if spec.catchment_sites:
        sites = macro.loc[macro.index.intersection(list(spec.catchment_sites))]
        bands = catchments(
            sites, network=ctx.network, minutes=spec.minutes, walk_kmh=ctx.config.walk_kmh
        )
    return {
        "micro": micro,
        "macro": macro,
        "links": links,
        "catchments": bands,
        "areas": _areas_near(ctx.lsoa, micro, macro),
    }


def _areas_near(
    areas: gpd.GeoDataFrame | None, *frames: gpd.GeoDataFrame
) -> gpd.GeoDataFrame | None:
    """The LSOAs around the assets (1 km margin), as ``area_id``/``area_name`` polygons."""
    if areas is None:
        return None
    placed = pd.concat([f.geometry for f in frames if len(f)])
    minx, miny, maxx, maxy = gpd.GeoSeries(placed, crs=CRS_WGS84).to_crs(27700).total_bounds
    bbox = gpd.GeoSeries.from_xy([minx - 1000, maxx + 1000], [miny - 1000, maxy + 1000], crs=27700)
    lo, hi = bbox.to_crs(areas.crs)
    near = areas.cx[lo.x : hi.x, lo.y : hi.y]
    if near.empty:
        return None
    return near.rename(columns={"lsoa_code": "area_id", "lsoa_name": "area_name"})[
        ["area_id", "area_name", near.geometry.name]
    ]


# --------------------------------------------------------------------------- data, index, manifest


def _finish(ctx: Context, staging: Path, chosen: Sequence[MapConfig], started: float) -> None:
    data = staging / "data"
    data.mkdir(exist_ok=True)
    public = ctx.micro[~ctx.micro["personal"].astype(bool)]
    write_frame(_for_download(public), data / "micro_assets.geojson")
    write_frame(_for_download(ctx.macro), data / "sites.geojson")
    links_public = ctx.links.links[ctx.links.links["micro_id"].isin(public.index)]
    write_csv(links_public, data / "links.csv")
    published_rejects = ctx.rejects[~ctx.rejects["source"].astype(str).isin(ctx.personal_sources)]
    published_rejects = published_rejects.assign(
        source=published_rejects["source"].map(lambda p: _relative(Path(str(p)), ctx.config))
    )
    write_csv(published_rejects[list(REJECT_COLUMNS)], data / "rejects.csv")
    disclosure = (
        pd.concat(ctx.disclosure, ignore_index=True)
        if ctx.disclosure
        else pd.DataFrame(columns=["map", "table", "row", "column", "rule", "published"])
    )
    write_csv(disclosure, staging / "disclosure-log.csv")
    manifest = _manifest(ctx, chosen, disclosure, started)
    with atomic_open(staging / "manifest.json", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    with atomic_open(staging / "index.html", "w", encoding="utf-8") as fh:
        fh.write(_index_html(ctx, manifest))


def _for_download(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop contact columns and secondary geometries from a published layer."""
    drop = [
        c
        for c in ("email", "phone", "footprint", "lat", "lon", "easting", "northing")
        if c in frame
    ]
    out = frame.drop(columns=drop)
    return gpd.GeoDataFrame(out, geometry=frame.geometry.name, crs=frame.crs)


def _manifest(
    ctx: Context, chosen: Sequence[MapConfig], disclosure: pd.DataFrame, started: float
) -> dict[str, Any]:
    rules_counts = disclosure["rule"].value_counts().to_dict() if len(disclosure) else {}
    return {
        "assetmap": __version__,
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 2),
        "versions": {
            name: _version(name)
            for name in ("geopandas", "shapely", "pyproj", "pandas", "folium", "osmnx", "scipy")
        },
        "config": _relative(ctx.config.path, ctx.config),
        "inputs_sha256": ctx.inputs,
        "row_accounting": [
            {**row, "source": _relative(Path(row["source"]), ctx.config)} for row in ctx.accounting
        ],
        "rejects_by_reason": ctx.rejects["reason_code"]
        .astype(str)
        .str.split(":")
        .str[0]
        .value_counts()
        .to_dict(),
        "links": {
            "rows": len(ctx.links.links),
            "within_reach": int(ctx.links.links["within_reach"].sum()),
            "unreached": len(ctx.links.unreached),
            "network": None if ctx.network is None else str(getattr(ctx.network, "source", "")),
        },
        "suppression": {"cells_logged": len(disclosure), "by_rule": rules_counts},
        "maps": [
            {
                "name": m.name,
                "title": m.title,
                "description": m.description,
                "figures": ctx.figures.get(m.name, {}),
            }
            for m in chosen
        ],
        "skipped": ctx.skipped,
        "attribution": sorted(set(ctx.attribution)),
    }


def _index_html(ctx: Context, manifest: dict[str, Any]) -> str:
    from assetmap.maps.safe import safe_text

    items = []
    for entry in manifest["maps"]:
        figures = ", ".join(
            f"{safe_text(k.replace('_', ' '))}: {v}" for k, v in entry["figures"].items()
        )
        items.append(
            f'<li><a href="{safe_text(entry["name"])}.html">{safe_text(entry["title"])}</a>'
            f"<p>{safe_text(entry['description'])}</p><p class=fig>{figures}</p>"
            f'<p><a href="{safe_text(entry["name"])}.png">static image (PNG)</a></p></li>'
        )
    accounting = "".join(
        f"<tr><td>{safe_text(Path(r['source']).name)}</td><td>{r['rows_in']}</td><td>{r['placed']}</td>"
        f"<td>{r['read_rejected'] + r['duplicate_across_registers'] + r['geocode_rejected']}</td></tr>"
        for r in manifest["row_accounting"]
    )
    skipped = "".join(f"<li>{safe_text(s)}</li>" for s in manifest["skipped"]) or "<li>nothing</li>"
    attribution = "".join(f"<li>{safe_text(a)}</li>" for a in manifest["attribution"])
    links = manifest["links"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{safe_text(ctx.config.title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
li{{margin-bottom:1rem}} .fig{{color:#555;font-size:.9rem}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}} td:first-child{{text-align:left}}</style>
</head><body>
<h1>{safe_text(ctx.config.title)}</h1>
<p>{safe_text(ctx.config.description)}</p>
<p>Links: {links["rows"]} ({links["within_reach"]} within reach); micro-assets without a link: {links["unreached"]}.
Residents appear only as area counts (counts 1–7 shown as &lt;8, others rounded to 5).</p>
<h2>Maps</h2><ul>{"".join(items)}</ul>
<h2>Registers</h2><table><tr><th>register</th><th>rows</th><th>placed</th><th>rejected</th></tr>{accounting}</table>
<p>Downloads: <a href="data/micro_assets.geojson">micro-assets (non-personal)</a>,
<a href="data/sites.geojson">sites</a>, <a href="data/links.csv">links</a>,
<a href="data/rejects.csv">rejected rows</a>, <a href="disclosure-log.csv">disclosure log</a>,
<a href="manifest.json">manifest</a>.</p>
<h2>Skipped</h2><ul>{skipped}</ul>
<h2>Sources and attribution</h2><ul>{attribution}</ul>
<p><small>Built by assetmap {safe_text(__version__)}.</small></p>
</body></html>
"""


# --------------------------------------------------------------------------- safety


def _privacy_gate(ctx: Context, staging: Path) -> None:
    from assetmap.privacy import scan_for_personal

    # The whole frame goes in: values a public row shares (a resident at the library's
    # postcode) are public, and the scanner needs the ``personal`` column to tell.
    hits = scan_for_personal(published_files(staging), ctx.micro)
    if hits:
        msg = "personal data found in the bundle, refusing to publish it:\n  " + "\n  ".join(
            hits[:20]
        )
        raise AssetmapError(msg)


def _staging_folder(out: Path, *, keep_previous: bool) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    if keep_previous and out.exists():
        shutil.copytree(out, staging)
    else:
        staging.mkdir()
    return staging


def _swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with two renames; the old bundle is removed last."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(old)


def _relative(path: Path, cfg: Config) -> str:
    try:
        return str(path.relative_to(cfg.path.parent))
    except ValueError:
        return str(path)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def published_files(folder: Path) -> Iterable[Path]:
    """Every file of a bundle (for scans and checksums)."""
    return sorted(p for p in folder.rglob("*") if p.is_file())
