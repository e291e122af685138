"""assetmap.scale: the dask path gives exactly what the in-memory functions give.

One LocalCluster of two worker processes serves the whole module. Each test runs the same
input through both engines and compares every row, id, value, dtype and geometry (WKB).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetmap import scale, schema
from assetmap._errors import GeocodeError, MissingDependencyError
from assetmap.areas import assign
from assetmap.cli import _engine
from assetmap.gazetteer import sites
from assetmap.geocode import geocode
from assetmap.links import LinkTable, link
from assetmap.network import StreetNetwork
from assetmap.postcodes import EXTRACT_PATH, PostcodeDirectory

SEED = 20261126
N_MESSY = 20_000
X0, Y0 = 400_000.0, 300_000.0  # a grid origin in EPSG:27700 (metres)
RULES_TOML = """
[[rule]]
name = "skills-walk"
micro = { category = "resident_skill" }
macro = { category = "nhs_anchor" }
mode = "walk"
max_minutes = 12

[[rule]]
name = "enterprises-to-sites"
micro = { category = "social_enterprise", tags_any = ["food", "retail"] }
macro = { category = "development_site" }
mode = "euclidean"
max_metres = 900
k = 2
"""


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """Two worker processes, one thread each, for the whole module."""
    with scale.client(workers=2) as started:
        yield started


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> PostcodeDirectory:
    """The packaged Code-Point Open extract (its index cached in a temp folder)."""
    return PostcodeDirectory.from_path(
        EXTRACT_PATH, cache_dir=tmp_path_factory.mktemp("postcode-index")
    )


def messy_register(n: int = N_MESSY, seed: int = SEED) -> pd.DataFrame:
    """A register as stewards type it: postcodes drawn from the packaged extract and mangled
    (case, spacing, NBSP, zero-width spaces), malformed and unknown postcodes, Northern
    Ireland, text coordinates (some swapped or outside the UK), gazetteer names, personal rows.
    Ids are shuffled so id order and row order differ."""
    rng = np.random.default_rng(seed)
    live = pd.read_csv(EXTRACT_PATH, header=None, usecols=[0], dtype="str")[0].to_numpy(
        dtype=object
    )
    postcode = pd.Series(rng.choice(live, n), dtype="str")
    kind = rng.integers(0, 20, n)  # 3..8: as typed
    lower = kind == 0
    postcode[lower] = postcode[lower].str.lower()
    squashed = kind == 1
    postcode[squashed] = postcode[squashed].str.replace(" ", "", regex=False)
    odd_space = kind == 2
    postcode[odd_space] = (
        "\u200b " + postcode[odd_space].str.replace(" ", "\u00a0", regex=False) + "  "
    )
    postcode[kind == 9] = rng.choice(["B66 2QQX", "12345", "B1", "ZZ99 9ZZZ"], (kind == 9).sum())
    postcode[kind == 10] = rng.choice(["SW1A 1AA", "M1 1AD", "LS1 4AP"], (kind == 10).sum())
    postcode[kind == 11] = rng.choice(["BT1 1AA", "BT7 1NN"], (kind == 11).sum())
    no_postcode = kind >= 12
    postcode[no_postcode] = ""
    lat = pd.Series("", index=postcode.index, dtype="str")
    lon = lat.copy()
    located = kind == 12
    lat[located] = rng.uniform(52.40, 52.55, located.sum()).round(6).astype(str)
    lon[located] = rng.uniform(-2.05, -1.85, located.sum()).round(6).astype(str)
    swapped = kind == 13
    lat[swapped] = rng.uniform(-2.05, -1.85, swapped.sum()).round(6).astype(str)
    lon[swapped] = rng.uniform(52.40, 52.55, swapped.sum()).round(6).astype(str)
    abroad = kind == 14
    lat[abroad], lon[abroad] = "48.8566", "2.3522"
    names = pd.Series([f"Group {i}" for i in range(n)], dtype="str")
    site_names = ["Grove Lane regeneration", "windmill eye", "Icknield Port Loop site", "MMUH"]
    by_name = (kind == 15) | (kind == 16)
    names[by_name] = rng.choice(site_names, by_name.sum())
    index = pd.Index([f"r{i}" for i in rng.permutation(n)], name="asset_id", dtype="str")
    frame = pd.DataFrame(
        {
            "name": names.to_numpy(),
            "postcode": postcode.to_numpy(),
            "lat": lat.to_numpy(),
            "lon": lon.to_numpy(),
            "personal": rng.random(n) < 0.1,
            "category": rng.choice(["resident_skill", "social_enterprise"], n),
            "tags": pd.Series(rng.choice(["food;retail", "nurse", "care"], n), dtype="str"),
            "source": "messy.csv",
            "source_line": np.arange(2, n + 2),
        },
        index=index,
    )
    return frame


@pytest.fixture(scope="module")
def register() -> pd.DataFrame:
    return messy_register()


@pytest.fixture(scope="module")
def placed(register: pd.DataFrame, directory: PostcodeDirectory) -> gpd.GeoDataFrame:
    """The messy register geocoded in memory, plus a row without geometry and a polygon."""
    assets = geocode(register, postcodes=directory).assets
    extra = gpd.GeoDataFrame(
        {"name": ["no location", "a footprint"], "category": ["resident_skill"] * 2},
        geometry=[None, shapely.box(-1.95, 52.48, -1.94, 52.49)],
        index=pd.Index(["x-none", "x-polygon"], name="asset_id", dtype="str"),
        crs=schema.CRS_WGS84,
    )
    return pd.concat([assets, extra])


# ------------------------------------------------------------------------------ comparing


def assert_same_geometry(left: gpd.GeoSeries, right: gpd.GeoSeries) -> None:
    assert left.crs == right.crs
    assert left.name == right.name
    assert list(shapely.to_wkb(left.array)) == list(shapely.to_wkb(right.array))


def assert_same_register(memory: schema.Register, dask: schema.Register) -> None:
    pd.testing.assert_frame_equal(dask.assets, memory.assets, check_exact=True)
    assert isinstance(dask.assets, gpd.GeoDataFrame)
    assert_same_geometry(dask.assets.geometry, memory.assets.geometry)
    pd.testing.assert_frame_equal(dask.rejects, memory.rejects, check_exact=True)
    assert (dask.rows_in, dask.source, dask.notes) == (memory.rows_in, memory.source, memory.notes)


def assert_same_links(memory: LinkTable, dask: LinkTable) -> None:
    pd.testing.assert_frame_equal(dask.links, memory.links, check_exact=True)
    pd.testing.assert_frame_equal(dask.unreached, memory.unreached, check_exact=True)
    pd.testing.assert_index_equal(dask.micro_ids, memory.micro_ids, exact=True)
    assert dask.rules == memory.rules
    assert dask.notes == memory.notes


# ------------------------------------------------------------------------------ geocode


def test_geocode_of_20000_messy_rows_is_identical(
    register: pd.DataFrame, directory: PostcodeDirectory, dask_client: Any
) -> None:
    memory = geocode(register, postcodes=EXTRACT_PATH)
    dask = scale.geocode(register, postcodes=EXTRACT_PATH, npartitions=7, client=dask_client)
    assert_same_register(memory, dask)
    # the sample really exercises the whole chain, rejects included
    assert set(dask.assets["geocode_source"]) == {"coords", "postcode", "gazetteer"}
    assert {
        "postcode_malformed",
        "postcode_not_found",
        "postcode_outside_coverage",
        "coord_swapped_lat_lon",
        "coord_outside_uk",
        "no_location",
    } <= set(dask.rejects["reason_code"])
    assert len(dask.assets) > 10_000 and len(dask.rejects) > 3_000


def test_geocode_with_a_directory_object_or_the_default(
    register: pd.DataFrame,
    directory: PostcodeDirectory,
    dask_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sample = register.iloc[:3000]
    memory = geocode(sample, postcodes=directory)
    assert_same_register(
        memory, scale.geocode(sample, postcodes=directory, npartitions=3, client=dask_client)
    )
    # no directory given: the default one (here the packaged extract: no data installed)
    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(tmp_path))
    assert_same_register(geocode(sample), scale.geocode(sample, npartitions=2, client=dask_client))


def test_geocode_without_postcodes_partitions_by_geometry(dask_client: Any) -> None:
    rng = np.random.default_rng(SEED)
    n = 4000
    points = shapely.points(rng.uniform(390_000, 420_000, n), rng.uniform(270_000, 300_000, n))
    points[::50] = None
    frame = gpd.GeoDataFrame(
        {"name": [f"Hall {i}" for i in range(n)]},
        geometry=points,
        index=pd.Index([f"h{i}" for i in range(n)], name="asset_id"),
        crs=schema.CRS_BNG,
    )
    memory = geocode(frame, gazetteer=None)
    dask = scale.geocode(frame, gazetteer=None, npartitions=4, client=dask_client)
    assert_same_register(memory, dask)
    assert len(dask.rejects) == n // 50  # the rows without geometry


def test_geocode_refuses_what_a_partition_cannot_see(register: pd.DataFrame) -> None:
    doubled = pd.concat([register.iloc[:5], register.iloc[:1]])
    with pytest.raises(GeocodeError, match="duplicate asset_id 'r"):
        scale.geocode(doubled, postcodes=EXTRACT_PATH, client="tcp://127.0.0.1:9")
    with pytest.raises(GeocodeError, match="rate limited"):
        scale.geocode(register, online=True, client="tcp://127.0.0.1:9")
    with pytest.raises(GeocodeError, match="not a Register"):
        scale.geocode(schema.Register(register.iloc[:0], schema.empty_rejects(), 0))


def test_geocode_errors_on_the_workers_reach_the_caller(
    register: pd.DataFrame, dask_client: Any
) -> None:
    with pytest.raises(GeocodeError, match="disagree_m"):
        scale.geocode(
            register.iloc[:100], postcodes=EXTRACT_PATH, disagree_m=-1.0, client=dask_client
        )
    with pytest.raises(GeocodeError, match="does not exist"):
        scale.geocode(register.iloc[:100], postcodes="no/such/codepo_gb.zip", client=dask_client)


# ------------------------------------------------------------------------------ link


@pytest.mark.parametrize(
    "options",
    [{"k": 1}, {"k": 3}, {"within_m": 1500.0}, {"k": 2, "within_m": 800.0}],
    ids=["k1", "k3", "within-1500m", "k2-within-800m"],
)
def test_link_is_identical(
    placed: gpd.GeoDataFrame, dask_client: Any, options: dict[str, Any]
) -> None:
    macro = sites("greater-icknield")
    memory = link(placed, macro, **options)
    dask = scale.link(placed, macro, npartitions=5, client=dask_client, **options)
    assert_same_links(memory, dask)
    assert len(dask.links) >= len(placed) - 1  # every placed micro-asset has a link
    assert dask.unreached["micro_id"].tolist() == ["x-none"]


def grid_network(n: int = 12, spacing_m: float = 100.0) -> StreetNetwork:
    """An n × n two-way street grid in EPSG:27700 starting at (X0, Y0)."""
    xs, ys = np.meshgrid(np.arange(n) * spacing_m + X0, np.arange(n) * spacing_m + Y0)
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return StreetNetwork.from_edges(xs.ravel(), ys.ravel(), u, v, np.full(u.size, spacing_m))


def test_link_with_rules_and_a_street_network_is_identical(dask_client: Any) -> None:
    rng = np.random.default_rng(SEED + 1)
    n = 3000
    micro = gpd.GeoDataFrame(
        {
            "category": rng.choice(["resident_skill", "social_enterprise"], n),
            "tags": rng.choice(["food;retail", "care", ""], n),
        },
        # some micro-assets lie beyond the grid: straight-line fallbacks with notes
        geometry=shapely.points(rng.uniform(-300, 1500, n) + X0, rng.uniform(-300, 1500, n) + Y0),
        index=pd.Index([f"m{i}" for i in range(n)], name="asset_id"),
        crs=schema.CRS_BNG,
    )
    macro = gpd.GeoDataFrame(
        {"category": ["nhs_anchor", "development_site", "development_site", "nhs_anchor"]},
        geometry=shapely.points(
            [X0 + 200, X0 + 900, X0 + 500, X0 + 2500], [Y0 + 300, Y0 + 800, Y0, Y0]
        ),
        index=pd.Index(["h1", "s1", "s2", "h2"], name="asset_id"),
        crs=schema.CRS_BNG,
    )
    network = grid_network()
    memory = link(micro, macro, rules=RULES_TOML, network=network)
    dask = scale.link(
        micro, macro, rules=RULES_TOML, network=network, npartitions=4, client=dask_client
    )
    assert_same_links(memory, dask)
    assert set(dask.links["mode"]) == {"walk", "euclidean"}
    assert dask.links["note"].str.startswith("outside_network").any()
    assert set(dask.unreached["reason_code"]) == {"no_rule"}


def test_link_refuses_duplicates_and_reports_worker_errors(
    placed: gpd.GeoDataFrame, dask_client: Any
) -> None:
    macro = sites("greater-icknield")
    # across partitions: found on the client while the workers compute
    doubled = pd.concat([placed.iloc[:3000], placed.iloc[:1]])
    with pytest.raises(ValueError, match="micro asset ids must be unique; 'r"):
        scale.link(doubled, macro, npartitions=3, client=dask_client)
    with pytest.raises(ValueError, match="macro asset ids must be unique"):
        scale.link(placed.iloc[:10], pd.concat([macro, macro.iloc[:1]]), client="tcp://127.0.0.1:9")
    with pytest.raises(ValueError, match="k must be a whole number"):
        scale.link(placed.iloc[:500], macro, k=0, client=dask_client)
    with pytest.raises(ValueError, match="npartitions must be a whole number"):
        scale.link(placed.iloc[:500], macro, npartitions=0, client=dask_client)


def test_link_of_no_micro_assets_is_the_in_memory_answer(placed: gpd.GeoDataFrame) -> None:
    macro = sites("greater-icknield")
    # no rows: answered here, without a cluster (an unreachable address is never contacted)
    assert_same_links(
        link(placed.iloc[:0], macro), scale.link(placed.iloc[:0], macro, client="tcp://127.0.0.1:9")
    )


def test_ids_equal_only_as_text_are_linked_in_memory(
    placed: gpd.GeoDataFrame, dask_client: Any
) -> None:
    micro = placed.iloc[:4].set_axis(pd.Index([1, "1", "b", "c"], dtype=object, name="asset_id"))
    macro = sites("greater-icknield")
    memory = link(micro, macro, k=2)
    assert memory.links["micro_id"].tolist().count("1") == 4
    assert_same_links(memory, scale.link(micro, macro, k=2, npartitions=2, client=dask_client))


# ------------------------------------------------------------------------------ areas


def test_assign_areas_is_identical(dask_client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # 10 × 10 squares of 1 km with ids whose text order differs from their number order
    squares = [
        shapely.box(X0 + i * 1000, Y0 + j * 1000, X0 + (i + 1) * 1000, Y0 + (j + 1) * 1000)
        for i in range(10)
        for j in range(10)
    ]
    areas = gpd.GeoDataFrame(
        {"code": [f"A{k}" for k in range(100)]}, geometry=squares, crs=schema.CRS_BNG
    ).to_crs(schema.CRS_WGS84)
    rng = np.random.default_rng(SEED + 2)
    n = 5000
    x = rng.uniform(-2000, 12_000, n) + X0
    y = rng.uniform(-2000, 12_000, n) + Y0
    x[:300] = np.round(x[:300], -3)  # on shared edges: the lowest id as text wins
    points = gpd.GeoDataFrame(
        {"n": np.arange(n)},
        geometry=shapely.points(x, y),
        index=pd.Index([f"p{i % 4000}" for i in range(n)]),  # repeated labels are fine
        crs=schema.CRS_BNG,
    )
    points.loc[points.index[::97], "geometry"] = None
    memory = assign(points, areas, area_id="code")
    dask = scale.assign_areas(
        points, areas, area_id="code", npartitions=4, client=dask_client, progress=True
    )
    pd.testing.assert_series_equal(dask, memory, check_exact=True)
    assert "assign: 100%" in capsys.readouterr().err  # the progress bar over partitions
    assert dask.isna().sum() > 1500 and dask.notna().sum() > 2000  # about half inside


# ------------------------------------------------------------------------------ clusters


def test_a_scheduler_address_connects_to_a_running_cluster(
    register: pd.DataFrame, dask_client: Any
) -> None:
    address = dask_client.scheduler.address
    assert address.startswith("tcp://")
    sample = register.iloc[:2000]
    memory = geocode(sample, postcodes=EXTRACT_PATH)
    with scale.client(address) as remote:
        assert remote.scheduler.address == address
        assert_same_register(memory, scale.geocode(sample, postcodes=EXTRACT_PATH, client=remote))
    # the address itself is accepted too
    assert_same_register(memory, scale.geocode(sample, postcodes=EXTRACT_PATH, client=address))


def test_the_current_default_client_is_used(placed: gpd.GeoDataFrame, dask_client: Any) -> None:
    import distributed

    assert distributed.default_client().scheduler.address == dask_client.scheduler.address
    macro = sites("greater-icknield")
    assert_same_links(link(placed.iloc[:4000], macro), scale.link(placed.iloc[:4000], macro))


def test_missing_dask_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, register: pd.DataFrame
) -> None:
    monkeypatch.setitem(sys.modules, "dask_geopandas", None)
    expected = r'dask_geopandas.*pip install "assetmap\[scale\]"'
    with pytest.raises(MissingDependencyError, match=expected):
        scale.geocode(register.iloc[:10], postcodes=EXTRACT_PATH)
    with pytest.raises(MissingDependencyError, match=expected):
        scale.link(register.iloc[:0], sites("greater-icknield"))
    with pytest.raises(MissingDependencyError, match=expected), scale.client():
        pass
    with pytest.raises(ImportError):  # the error is an ImportError too
        scale.assign_areas(gpd.GeoDataFrame(), gpd.GeoDataFrame(), area_id="code")


def test_local_cluster_options_are_checked() -> None:
    with pytest.raises(ValueError, match="workers must be a whole number"), scale.client(workers=0):
        pass


# ------------------------------------------------------------------------------ CLI engine


def engine_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="test")
    _engine.add_engine_arguments(parser)
    return parser.parse_args(list(argv))


def test_engine_arguments() -> None:
    default = engine_args()
    assert (default.engine, default.workers, default.scheduler, default.partitions) == (
        "memory",
        2,
        None,
        None,
    )
    given = engine_args(
        "--engine",
        "dask",
        "--workers",
        "3",
        "--scheduler",
        "tcp://10.0.0.5:8786",
        "--partitions",
        "8",
    )
    assert (given.engine, given.workers, given.scheduler, given.partitions) == (
        "dask",
        3,
        "tcp://10.0.0.5:8786",
        8,
    )
    for bad in (["--workers", "0"], ["--partitions", "two"], ["--engine", "spark"]):
        with pytest.raises(SystemExit):
            engine_args(*bad)


def test_engines_give_the_same_register_and_links(register: pd.DataFrame, dask_client: Any) -> None:
    sample = register.iloc[:5000]
    address = dask_client.scheduler.address
    memory_args = engine_args()
    dask_args = engine_args("--engine", "dask", "--scheduler", address, "--partitions", "3")
    options = {"postcodes": EXTRACT_PATH, "gazetteer": "greater-icknield"}
    memory = _engine.run_geocode(memory_args, sample, **options)
    dask = _engine.run_geocode(dask_args, sample, **options)
    assert_same_register(memory, dask)
    macro = sites("greater-icknield")
    assert_same_links(
        _engine.run_link(memory_args, memory.assets, macro, k=2, within_m=1000.0),
        _engine.run_link(dask_args, dask.assets, macro, k=2, within_m=1000.0),
    )


# ------------------------------------------------------------------------------ properties


@st.composite
def point_frames(draw: st.DrawFn) -> gpd.GeoDataFrame:
    n = draw(st.integers(0, 25))
    coordinate = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    xy = draw(st.lists(st.tuples(coordinate, coordinate), min_size=n, max_size=n))
    missing = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    geoms = [None if m else shapely.Point(p) for p, m in zip(xy, missing, strict=True)]
    crs = draw(st.sampled_from([schema.CRS_WGS84, schema.CRS_BNG, None]))
    name = draw(st.sampled_from(["geometry", "site"]))
    frame = gpd.GeoDataFrame(
        {"label": [f"s{i}" for i in range(n)], "value": np.arange(n, dtype=float)},
        geometry=gpd.GeoSeries(geoms, crs=crs),
        crs=crs,
    )
    if name != "geometry":
        frame = frame.rename_geometry(name)
    if draw(st.booleans()):  # a second point column, placed first
        frame.insert(0, "entrance", gpd.GeoSeries(geoms[::-1], crs=crs))
    if draw(st.booleans()) and n:  # a polygon or an empty point stays a geometry
        odd = draw(st.sampled_from([shapely.box(0, 0, 1, 1), shapely.Point()]))
        frame.loc[frame.index[0], name] = odd
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point_frames())
def test_packing_for_the_wire_rebuilds_the_frame_exactly(frame: gpd.GeoDataFrame) -> None:
    rebuilt = scale._unpack(scale._pack(frame))
    assert isinstance(rebuilt, gpd.GeoDataFrame)
    assert list(rebuilt.columns) == list(frame.columns)
    assert rebuilt.geometry.name == frame.geometry.name
    pd.testing.assert_frame_equal(rebuilt, frame, check_exact=True)
    for column in frame.columns:
        if isinstance(frame[column].dtype, gpd.array.GeometryDtype):
            assert_same_geometry(rebuilt[column], frame[column])


@given(
    st.lists(st.integers(-1, 6), min_size=1, max_size=300),
    st.integers(1, 40),
)
def test_partitions_cover_every_row_once_in_key_order(key: list[int], wanted: int) -> None:
    keys = np.asarray(key, dtype=np.int64)
    count = scale.partitions(len(keys), npartitions=wanted)
    runs = scale._cuts(scale._order(keys), count)
    assert len(runs) == count == min(wanted, len(keys))
    joined = np.concatenate(runs)
    assert sorted(joined.tolist()) == list(range(len(keys)))
    ordered = np.where(keys[joined] < 0, np.iinfo(np.int64).max, keys[joined])
    assert (np.diff(ordered) >= 0).all()
    sizes = [len(r) for r in runs]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_default_partition_counts() -> None:
    assert scale.partitions(1_745_849, threads=2) == 9  # ≤ 200,000 rows each
    assert scale.partitions(100_000, threads=2) == 2  # at least one per worker thread
    assert scale.partitions(15_000, threads=4) == 2  # but ≥ 10,000 rows per partition
    assert scale.partitions(5, threads=2) == 1
    spatial = scale.ROWS_PER_SPATIAL_PARTITION
    assert scale.partitions(1_745_849, threads=2, rows_per_partition=spatial) == 4


def test_spatial_key_orders_rows_along_a_z_curve() -> None:
    corners = gpd.GeoDataFrame(
        geometry=[
            shapely.Point(1, 1),
            None,
            shapely.Point(0, 1),
            shapely.box(0.9, -0.1, 1.1, 0.1),  # a polygon: the centre of its bounds, (1, 0)
            shapely.Point(0, 0),
            shapely.Point(),
        ],
        crs=schema.CRS_BNG,
    )
    key = scale._spatial_key(scale._pack(corners))
    assert key[[1, 5]].tolist() == [-1, -1]  # no location
    assert scale._order(key).tolist() == [4, 3, 2, 0, 1, 5]  # (0,0) (1,0) (0,1) (1,1), then none
    # equal runs of the key are compact patches: each quarter of a uniform cloud spreads about
    # half as far as the cloud (a quadrant); a random split would spread as far
    rng = np.random.default_rng(SEED)
    xy = rng.uniform(0, 1000, (20_000, 2))
    cloud = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=schema.CRS_BNG)
    for run in scale._cuts(scale._order(scale._spatial_key(scale._pack(cloud))), 4):
        assert (xy[run].std(axis=0) < 0.6 * xy.std(axis=0)).all()
