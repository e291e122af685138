"""Street networks: arrays, min-weight reduction, snapping, coverage, Dijkstra, OSM loading, cache."""

from __future__ import annotations

import bz2
import gzip
import math
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from conftest import FIXTURES, real_data
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from assetmap import NetworkError, _osm
from assetmap import network as network_module
from assetmap.network import (
    GREATER_ICKNIELD_BBOX,
    StreetNetwork,
    download_network,
    load_network,
    network_from_graph,
)

TINY = FIXTURES / "network" / "tiny_town.osm"
WALK_M_PER_MIN = 4.8 * 1000 / 60  # 80 m per minute
RUTLAND = "osm_rutland/rutland-2022-07-20.osm.pbf"


def grid_network(**kwargs: Any) -> StreetNetwork:
    """3 x 3 grid of nodes 100 m apart, numbered row by row from (0, 0); two-way streets.

    6 7 8
    3 4 5
    0 1 2
    """
    xs, ys = np.meshgrid(np.arange(3) * 100.0, np.arange(3) * 100.0)
    u = [0, 1, 3, 4, 6, 7, 0, 3, 1, 4, 2, 5]
    v = [1, 2, 4, 5, 7, 8, 3, 6, 4, 7, 5, 8]
    return StreetNetwork.from_edges(xs.ravel(), ys.ravel(), u, v, np.full(12, 100.0), **kwargs)


# ---------------------------------------------------------------------- from_edges


def test_grid_walk_times_are_manhattan_distance_at_walking_speed() -> None:
    net = grid_network()
    minutes, metres = net.travel([0, 4])
    expected_m = np.array(
        [[0, 100, 200, 100, 200, 300, 200, 300, 400], [200, 100, 200, 100, 0, 100, 200, 100, 200]],
        dtype=float,
    )
    np.testing.assert_allclose(metres, expected_m, rtol=1e-12)
    np.testing.assert_allclose(minutes, expected_m / WALK_M_PER_MIN, rtol=1e-12)
    assert net.n_nodes == 9
    assert net.n_edges == 24  # 12 streets, both directions


def test_parallel_edges_keep_the_fastest_and_never_add_up() -> None:
    # Two parallel edges 0→1 (100 m and 40 m) and the same street again in the input:
    # scipy would sum them to 240 m; the network must keep 40 m.
    x, y = [0.0, 40.0, 80.0], [0.0, 0.0, 0.0]
    net = StreetNetwork.from_edges(
        x, y, [0, 0, 0, 1], [1, 1, 1, 2], [100.0, 40.0, 100.0, 40.0], bidirectional=True
    )
    assert net.n_edges == 4  # 0→1, 1→0, 1→2, 2→1
    assert net.metres_csr[0, 1] == 40.0
    assert net.metres_csr[1, 0] == 40.0
    minutes, metres = net.travel([0])
    np.testing.assert_allclose(metres[0], [0.0, 40.0, 80.0])
    np.testing.assert_allclose(minutes[0], [0.0, 0.5, 1.0])


def test_one_way_edge_binds_forward_and_reverse_travel() -> None:
    # Drive: 0→1 is a one-way shortcut (1 min); 1→0 must go round via 2 (2 + 2 min).
    x, y = [0.0, 100.0, 50.0], [0.0, 0.0, 80.0]
    u, v = [0, 1, 2], [1, 2, 0]
    metres = [100.0, 94.3, 94.3]
    net = StreetNetwork.from_edges(
        x, y, u, v, metres, mode="drive", edge_min=[1.0, 2.0, 2.0], bidirectional=False
    )
    forward, _ = net.travel([0])
    to_zero, _ = net.travel([0], reverse=True)
    np.testing.assert_allclose(forward[0], [0.0, 1.0, 3.0])
    np.testing.assert_allclose(to_zero[0], [0.0, 4.0, 2.0])  # from 1 to 0: 1→2→0


def test_drive_metres_are_the_length_of_the_fastest_path_not_the_shortest() -> None:
    # 0→2 direct: 1000 m in 5 min (slow lane); 0→1→2: 1500 m in 2 min (bypass).
    x, y = [0.0, 500.0, 1000.0], [0.0, 600.0, 0.0]
    net = StreetNetwork.from_edges(
        x,
        y,
        [0, 1, 0],
        [1, 2, 2],
        [750.0, 750.0, 1000.0],
        mode="drive",
        edge_min=[1.0, 1.0, 5.0],
        bidirectional=False,
    )
    minutes, metres = net.travel([0])
    np.testing.assert_allclose(minutes[0], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(metres[0], [0.0, 750.0, 1500.0])
    back_min, back_m = net.travel([2], reverse=True)
    np.testing.assert_allclose(back_min[0], [2.0, 1.0, 0.0])
    np.testing.assert_allclose(back_m[0], [1500.0, 750.0, 0.0])


def test_travel_limit_sets_farther_nodes_to_inf() -> None:
    net = grid_network()
    minutes, metres = net.travel([0], limit_minutes=2.5)  # 200 m = 2.5 min
    reached = np.isfinite(minutes[0])
    np.testing.assert_array_equal(np.flatnonzero(reached), [0, 1, 2, 3, 4, 6])
    assert np.isinf(metres[0, ~reached]).all()
    assert minutes.shape == (1, 9)


def test_travel_with_no_sources_and_bad_sources() -> None:
    net = grid_network()
    minutes, metres = net.travel(np.array([], dtype=np.int64))
    assert minutes.shape == metres.shape == (0, 9)
    with pytest.raises(
        NetworkError, match=r"sources\[1\] = 9 is not a node index \(expected 0..8\)"
    ):
        net.travel([0, 9])
    with pytest.raises(NetworkError, match="limit_minutes"):
        net.travel([0], limit_minutes=-1)


def test_unreachable_nodes_are_inf() -> None:
    x, y = [0.0, 100.0, 500.0], [0.0, 0.0, 0.0]
    net = StreetNetwork.from_edges(x, y, [0], [1], [100.0])
    minutes, metres = net.travel([0, 2])
    assert np.isinf(minutes[0, 2]) and np.isinf(metres[0, 2])
    assert minutes[1].tolist() == [math.inf, math.inf, 0.0]


def test_zero_length_edges_are_edges() -> None:
    # Two OSM nodes at one spot joined by a 0 m edge: scipy must not drop the explicit zero.
    x, y = [0.0, 0.0, 100.0], [0.0, 0.0, 0.0]
    net = StreetNetwork.from_edges(x, y, [0, 1], [1, 2], [0.0, 100.0])
    minutes, metres = net.travel([0])
    np.testing.assert_allclose(metres[0], [0.0, 0.0, 100.0])
    np.testing.assert_allclose(minutes[0], [0.0, 0.0, 1.25])


def test_cycle_speed_and_drive_needs_minutes() -> None:
    net = grid_network(mode="cycle", cycle_kmh=12.0)
    minutes, _ = net.travel([0])
    assert minutes[0, 8] == pytest.approx(400 / (12_000 / 60))
    with pytest.raises(NetworkError, match="needs edge_min"):
        grid_network(mode="drive")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"edge_u": [0, 5]}, r"edge_u\[1\] = 5 is not a node index \(expected 0..2\)"),
        ({"edge_m": [10.0, -1.0]}, r"edge_m\[1\] = -1.0 is not a travel cost"),
        ({"edge_m": [10.0, np.nan]}, r"edge_m\[1\] = nan is not a travel cost"),
        ({"node_y": [0.0, 1.0]}, "node_x has 3 values but node_y has 2"),
        ({"mode": "bus"}, "network mode 'bus' is not one of"),
        ({"walk_kmh": 0.0}, "walk_kmh must be a positive number"),
    ],
)
def test_from_edges_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "node_x": [0.0, 1.0, 2.0],
        "node_y": [0.0, 0.0, 0.0],
        "edge_u": [0, 1],
        "edge_v": [1, 2],
        "edge_m": [1.0, 1.0],
    }
    args.update(kwargs)
    with pytest.raises(NetworkError, match=message):
        StreetNetwork.from_edges(**args)


def test_empty_graph_is_an_error() -> None:
    with pytest.raises(NetworkError, match="the graph is empty"):
        StreetNetwork.from_edges([], [], [], [], [])


def test_constructor_refuses_duplicate_pairs() -> None:
    net = grid_network()
    with pytest.raises(NetworkError, match=r"unique directed \(u, v\) pairs"):
        StreetNetwork(
            mode="walk",
            walk_kmh=4.8,
            node_x=net.node_x,
            node_y=net.node_y,
            node_osmid=net.node_osmid,
            edge_u=np.array([0, 0], dtype=np.int32),
            edge_v=np.array([1, 1], dtype=np.int32),
            edge_m=np.array([1.0, 2.0]),
            edge_min=np.array([1.0, 2.0]),
            coverage=net.coverage,
        )


def test_inputs_are_not_mutated_and_arrays_are_read_only() -> None:
    u = np.array([1, 0])
    m = np.array([5.0, 7.0])
    net = StreetNetwork.from_edges([0.0, 1.0], [0.0, 0.0], u, np.array([0, 1]), m)
    assert u.tolist() == [1, 0] and m.tolist() == [5.0, 7.0]
    with pytest.raises(ValueError, match="read-only"):
        net.edge_m[0] = 1.0


# ---------------------------------------------------------------------- snap / covers / export


def test_snap_returns_nearest_node_and_distance() -> None:
    net = grid_network()
    node, snap_m = net.snap([10.0, 190.0, 130.0, np.nan], [20.0, 210.0, 100.0, 0.0])
    assert node.dtype == np.int64
    assert node.tolist() == [0, 8, 4, -1]
    np.testing.assert_allclose(snap_m[:3], [math.hypot(10, 20), math.hypot(10, 10), 30.0])
    assert np.isinf(snap_m[3])


def test_covers_is_the_buffered_edges_not_a_hull() -> None:
    # An L-shaped street: the empty corner of its bounding box is not covered.
    x, y = [0.0, 1000.0, 1000.0], [0.0, 0.0, 1000.0]
    net = StreetNetwork.from_edges(x, y, [0, 1], [1, 2], [1000.0, 1000.0], coverage_buffer_m=50.0)
    inside = net.covers([500.0, 1040.0, 500.0, 0.0, np.nan], [30.0, 500.0, 500.0, 1000.0, 0.0])
    assert inside.tolist() == [True, True, False, False, False]
    assert net.coverage.area == pytest.approx(2 * 1000 * 100 + math.pi * 50**2, rel=0.02)


def test_isolated_nodes_are_covered() -> None:
    net = StreetNetwork.from_edges([0.0, 100.0, 5000.0], [0.0, 0.0, 0.0], [0], [1], [100.0])
    assert net.covers([5000.0, 5030.0, 2500.0], [0.0, 0.0, 0.0]).tolist() == [True, True, False]


def test_edges_gdf() -> None:
    net = grid_network()
    gdf = net.edges_gdf()
    assert gdf.crs.to_epsg() == 27700
    assert len(gdf) == 24
    assert list(gdf.columns) == ["u", "v", "metres", "minutes", "geometry"]
    np.testing.assert_allclose(gdf.geometry.length, gdf["metres"])
    np.testing.assert_allclose(gdf["minutes"], 100 / WALK_M_PER_MIN)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    net = grid_network(source="grid.osm", walk_kmh=5.0)
    path = net.save(tmp_path / "grid.npz")
    back = StreetNetwork.load(path)
    for name in ("node_x", "node_y", "node_osmid", "edge_u", "edge_v", "edge_m", "edge_min"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
        assert getattr(back, name).dtype == getattr(net, name).dtype
    assert back.coverage.equals(net.coverage)
    assert (back.mode, back.walk_kmh, back.source) == ("walk", 5.0, "grid.osm")
    np.testing.assert_array_equal(back.travel([3])[0], net.travel([3])[0])
    assert [p.name for p in tmp_path.iterdir()] == ["grid.npz"]  # no temp files left


def test_load_of_a_broken_cache_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(NetworkError, match=r"cannot read network cache .*bad\.npz"):
        StreetNetwork.load(bad)
    good = grid_network().save(tmp_path / "good.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:200])  # a zip that ends early
    with pytest.raises(NetworkError, match=r"cannot read network cache .*cut\.npz"):
        StreetNetwork.load(cut)


# ---------------------------------------------------------------------- property: equals networkx


@st.composite
def random_graphs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 12))
    k = draw(st.integers(0, 30))
    node = st.integers(0, n - 1)
    weight = st.integers(0, 40).map(lambda i: i * 12.5)
    return {
        "n": n,
        "u": draw(st.lists(node, min_size=k, max_size=k)),
        "v": draw(st.lists(node, min_size=k, max_size=k)),
        "metres": draw(st.lists(weight, min_size=k, max_size=k)),
        "minutes": draw(
            st.lists(st.floats(0.0, 9.0, allow_subnormal=False), min_size=k, max_size=k)
        ),
        "bidirectional": draw(st.booleans()),
        "drive": draw(st.booleans()),
    }


@settings(max_examples=60, deadline=None)
@given(random_graphs())
def test_travel_equals_networkx_on_multidigraphs(g: dict[str, Any]) -> None:
    n = g["n"]
    minutes_in = g["minutes"] if g["drive"] else [m / WALK_M_PER_MIN for m in g["metres"]]
    net = StreetNetwork.from_edges(
        np.arange(n, dtype=float),
        np.zeros(n),
        g["u"],
        g["v"],
        g["metres"],
        mode="drive" if g["drive"] else "walk",
        edge_min=g["minutes"] if g["drive"] else None,
        bidirectional=g["bidirectional"],
    )
    multi = nx.MultiDiGraph()
    multi.add_nodes_from(range(n))
    for a, b, metres, minutes in zip(g["u"], g["v"], g["metres"], minutes_in, strict=True):
        multi.add_edge(a, b, minutes=minutes, metres=metres)
        if g["bidirectional"]:
            multi.add_edge(b, a, minutes=minutes, metres=metres)
    for reverse in (False, True):
        graph = multi.reverse() if reverse else multi
        ours, ours_m = net.travel(np.arange(n), reverse=reverse)
        for s in range(n):
            ref = np.full(n, np.inf)
            for node, value in nx.single_source_dijkstra_path_length(
                graph, s, weight="minutes"
            ).items():
                ref[node] = value
            np.testing.assert_allclose(ours[s], ref, rtol=1e-9, atol=1e-12)
            shortest_m = np.full(n, np.inf)
            for node, value in nx.single_source_dijkstra_path_length(
                graph, s, weight="metres"
            ).items():
                shortest_m[node] = value
            assert (np.isfinite(ours_m[s]) == np.isfinite(ref)).all()
            # the fastest path is never shorter than the shortest one
            assert (ours_m[s] >= shortest_m - 1e-6).all()
            if not g["drive"]:
                np.testing.assert_allclose(ours_m[s], shortest_m, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------- OSM files (tiny fixture)


def tiny_copy(tmp_path: Path, suffix: str) -> Path:
    data = TINY.read_bytes()
    target = tmp_path / f"tiny_town{suffix}"
    if suffix == ".osm.gz":
        target.write_bytes(gzip.compress(data))
    elif suffix == ".osm.bz2":
        target.write_bytes(bz2.compress(data))
    else:
        target.write_bytes(data)
    return target


def test_walk_filter_follows_osmnx_rules(tmp_path: Path) -> None:
    walk = load_network(TINY, mode="walk", cache_dir=tmp_path)
    drive = load_network(TINY, mode="drive", cache_dir=tmp_path)
    cycle = load_network(TINY, mode="cycle", cache_dir=tmp_path)
    # 7 is only on a motorway, 8 only on a foot=no street; 2 and 5 only matter via the footway.
    assert set(walk.node_osmid.tolist()) == {1, 2, 3, 5, 10, 11}
    assert set(drive.node_osmid.tolist()) == {1, 3, 4, 6, 7, 8, 10, 11}
    assert set(cycle.node_osmid.tolist()) == {1, 3, 4, 6, 8, 10, 11}
    assert 9 not in walk.node_osmid  # the school building is not a street
    assert walk.mode == "walk" and drive.mode == "drive"


def test_walk_minutes_are_great_circle_lengths_at_walking_speed(tmp_path: Path) -> None:
    walk = load_network(TINY, mode="walk", cache_dir=tmp_path)
    index = {int(o): i for i, o in enumerate(walk.node_osmid)}
    # 10 → 1 → 4 → 5 (lengths from the coordinates): 2 mm shorter than 10 → 1 → 2 → 5 over
    # the footway, as 4-5 runs 111 m further north than 1-2 where a degree of longitude is shorter.
    legs = [((52.4890, -1.9505), (52.4900, -1.9500)), ((52.4900, -1.9500), (52.4910, -1.9500))]
    legs.append(((52.4910, -1.9500), (52.4910, -1.9485)))
    expected_m = sum(float(ox.distance.great_circle(a[0], a[1], b[0], b[1])) for a, b in legs)
    minutes, metres = walk.travel([index[10]])
    assert metres[0, index[5]] == pytest.approx(expected_m, rel=1e-9)
    assert minutes[0, index[5]] == pytest.approx(expected_m / WALK_M_PER_MIN, rel=1e-9)


def test_drive_respects_one_way_and_walk_does_not(tmp_path: Path) -> None:
    drive = load_network(TINY, mode="drive", cache_dir=tmp_path)
    walk = load_network(TINY, mode="walk", cache_dir=tmp_path)
    d = {int(o): i for i, o in enumerate(drive.node_osmid)}
    there, _ = drive.travel([d[3]])
    back, _ = drive.travel([d[3]], reverse=True)
    # 3 → 6 on the one-way street; 6 → 3 goes round 6-4-1-3.
    assert there[0, d[6]] < back[0, d[6]]
    legs = drive.minutes_csr
    assert back[0, d[6]] == pytest.approx(legs[d[6], d[4]] + legs[d[4], d[1]] + legs[d[1], d[3]])
    assert there[0, d[6]] == pytest.approx(legs[d[3], d[6]])
    w = {int(o): i for i, o in enumerate(walk.node_osmid)}
    fw, _ = walk.travel([w[3]])
    bw, _ = walk.travel([w[3]], reverse=True)
    np.testing.assert_allclose(fw, bw)


@pytest.mark.parametrize("suffix", [".osm.gz", ".osm.bz2"])
def test_compressed_xml_gives_the_same_network(tmp_path: Path, suffix: str) -> None:
    plain = load_network(TINY, cache_dir=tmp_path / "a")
    packed = load_network(tiny_copy(tmp_path, suffix), cache_dir=tmp_path / "b")
    assert_same_network(plain, packed)


def test_graphml_gives_the_same_network(tmp_path: Path) -> None:
    # GraphML is taken as saved (already filtered to a network type), as osmnx downloads are
    walk_ways = tmp_path / "walk_ways.osm"
    _osm.extract_ways(TINY, walk_ways, mode="walk")
    graph = ox.graph_from_xml(walk_ways, bidirectional=True)
    path = tmp_path / "tiny.graphml"
    ox.save_graphml(graph, path)
    from_graphml = load_network(path, cache_dir=tmp_path)
    from_osm = load_network(TINY, cache_dir=tmp_path)
    assert_same_network(from_graphml, from_osm)


@pytest.mark.parametrize("name", ["streets.shp", "streets.csv", "streets.geojson"])
def test_unknown_format_names_file_and_expected_formats(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x")
    with pytest.raises(NetworkError, match=rf"{name}.*expected OSM PBF \(\.osm\.pbf\), OSM XML"):
        load_network(path, cache_dir=tmp_path)


def test_missing_broken_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match=r"nowhere\.osm\.pbf does not exist"):
        load_network(tmp_path / "nowhere.osm.pbf", cache_dir=tmp_path)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1' lat='52' lon='-1'></osm")
    with pytest.raises(NetworkError, match=r"broken\.osm"):
        load_network(broken, cache_dir=tmp_path)
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(NetworkError, match=r"cannot read OSM file .*garbage\.osm\.pbf: PBF error"):
        load_network(garbage, cache_dir=tmp_path)
    no_streets = tmp_path / "no_streets.osm"
    no_streets.write_text(
        '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="52" lon="-1"/>'
        '<node id="2" lat="52.001" lon="-1"/><way id="3"><nd ref="1"/><nd ref="2"/>'
        '<tag k="waterway" v="river"/></way></osm>'
    )
    with pytest.raises(NetworkError, match=r"no_streets\.osm holds no ways .* the graph is empty"):
        load_network(no_streets, cache_dir=tmp_path)
    with pytest.raises(NetworkError, match="mode 'boat'"):
        load_network(TINY, mode="boat", cache_dir=tmp_path)


def test_cache_is_used_and_keyed_by_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tiny_copy(tmp_path, ".osm")
    calls: list[Path] = []
    real_osm_graph = _osm.osm_graph

    def counting(path: Path, **kwargs: Any) -> nx.MultiDiGraph:
        calls.append(Path(path))
        return real_osm_graph(path, **kwargs)

    monkeypatch.setattr(_osm, "osm_graph", counting)
    cache = tmp_path / "cache"
    first = load_network(source, cache_dir=cache)
    second = load_network(source, cache_dir=cache)
    assert len(calls) == 1
    assert_same_network(first, second)
    assert second.source_sha256 == network_module.sha256_of(source)
    faster = load_network(source, walk_kmh=6.0, cache_dir=cache)
    assert len(calls) == 2
    assert len(list(cache.glob("*.npz"))) == 2
    np.testing.assert_allclose(faster.edge_min * 6.0, first.edge_min * 4.8)
    # a changed file is a new key: the old cache is not used
    source.write_text(
        source.read_text().replace('lat="52.4910" lon="-1.9485"', 'lat="52.4912" lon="-1.9485"')
    )
    load_network(source, cache_dir=cache)
    assert len(calls) == 3


def test_default_cache_dir_is_under_assetmap_cache(tmp_path: Path) -> None:
    source = tiny_copy(tmp_path, ".osm")
    load_network(source)
    from assetmap._paths import cache_dir

    assert list((cache_dir() / "networks").glob("tiny_town-walk-*.npz"))


def test_broken_cache_file_is_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    net = load_network(TINY, cache_dir=cache)
    (cached,) = cache.glob("*.npz")
    cached.write_bytes(b"garbage")
    again = load_network(TINY, cache_dir=cache)
    assert_same_network(net, again)
    assert StreetNetwork.load(cached).n_nodes == net.n_nodes


def test_progress_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_network(TINY, cache_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "reading OSM ways" in err and "projecting" in err and "nodes" in err


def test_overpass_filter_semantics() -> None:
    accept = _osm.parse_overpass_filter(
        '["highway"]["area"!~"yes"]["highway"!~"motor|cycleway"]["surface"~"paved"]'
    )
    assert accept({"highway": "residential", "surface": "paved"})
    assert accept({"highway": "residential", "surface": "unpaved"})  # unanchored, like Overpass
    assert not accept({"highway": "residential"})  # ~ needs the key
    assert not accept({"highway": "motorway_link", "surface": "paved"})
    assert not accept({"highway": "footway", "area": "yes", "surface": "paved"})
    assert not accept({"surface": "paved"})
    with pytest.raises(NetworkError, match="cannot understand"):
        _osm.parse_overpass_filter('["highway"] and more')


# ---------------------------------------------------------------------- download (mocked)


def test_download_writes_graphml_with_polite_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    before = (ox.settings.use_cache, ox.settings.http_user_agent, ox.settings.cache_folder)

    def fake_graph_from_bbox(bbox: tuple[float, ...], **kwargs: Any) -> nx.MultiDiGraph:
        seen.update(
            bbox=bbox,
            use_cache=ox.settings.use_cache,
            agent=ox.settings.http_user_agent,
            folder=ox.settings.cache_folder,
            timeout=ox.settings.requests_timeout,
            **kwargs,
        )
        return ox.graph_from_xml(TINY, bidirectional=True)

    monkeypatch.setenv("ASSETMAP_DATA_DIR", str(tmp_path / "external"))
    monkeypatch.setattr(ox, "graph_from_bbox", fake_graph_from_bbox)
    dest = tmp_path / "out" / "greater-icknield.graphml"
    got = download_network(
        GREATER_ICKNIELD_BBOX, dest, user_agent="assetmap-tests (ops@example.org)"
    )
    assert got == dest and dest.is_file()
    assert seen["bbox"] == GREATER_ICKNIELD_BBOX == (-2.00, 52.46, -1.88, 52.51)
    assert seen["network_type"] == "walk"
    assert seen["use_cache"] is True
    assert seen["agent"] == "assetmap-tests (ops@example.org)"
    assert Path(seen["folder"]) == tmp_path / "external" / "osm-cache"
    assert seen["timeout"] == 180.0
    assert (ox.settings.use_cache, ox.settings.http_user_agent, ox.settings.cache_folder) == before
    assert len(ox.load_graphml(dest)) == len(ox.graph_from_xml(TINY, bidirectional=True))
    assert [p.name for p in dest.parent.iterdir()] == ["greater-icknield.graphml"]
    net = load_network(dest, cache_dir=tmp_path)
    assert net.n_nodes > 0


def test_download_offline_is_one_plain_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(bbox: tuple[float, ...], **kwargs: Any) -> nx.MultiDiGraph:
        raise ConnectionError("Failed to establish a new connection: [Errno -3] name resolution")

    monkeypatch.setattr(ox, "graph_from_bbox", offline)
    dest = tmp_path / "g.graphml"
    with pytest.raises(NetworkError) as info:
        download_network(GREATER_ICKNIELD_BBOX, dest, mode="drive")
    message = str(info.value)
    assert message.startswith("offline: could not download the OpenStreetMap drive network")
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    assert not dest.exists()
    with pytest.raises(NetworkError, match="bbox"):
        download_network((-1.88, 52.46, -2.00, 52.51), dest)  # west east of east


# ---------------------------------------------------------------------- the real Rutland extract


def assert_same_network(a: StreetNetwork, b: StreetNetwork) -> None:
    order_a, order_b = np.argsort(a.node_osmid), np.argsort(b.node_osmid)
    np.testing.assert_array_equal(a.node_osmid[order_a], b.node_osmid[order_b])
    np.testing.assert_allclose(a.node_x[order_a], b.node_x[order_b], rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.node_y[order_a], b.node_y[order_b], rtol=0, atol=1e-6)

    def edges(net: StreetNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys = np.column_stack([net.node_osmid[net.edge_u], net.node_osmid[net.edge_v]])
        order = np.lexsort((keys[:, 1], keys[:, 0]))
        return keys[order], net.edge_m[order], net.edge_min[order]

    ka, ma, ta = edges(a)
    kb, mb, tb = edges(b)
    np.testing.assert_array_equal(ka, kb)
    np.testing.assert_allclose(ma, mb, rtol=1e-12)
    np.testing.assert_allclose(ta, tb, rtol=1e-12)


@pytest.fixture(scope="module")
def rutland() -> tuple[Path, nx.MultiDiGraph, StreetNetwork]:
    pbf = real_data(RUTLAND)
    graph = _osm.osm_graph(pbf, mode="walk")
    net = network_from_graph(graph, source=str(pbf), source_sha256=network_module.sha256_of(pbf))
    return pbf, graph, net


@pytest.mark.data
def test_rutland_walk_network_shape(rutland: tuple[Path, nx.MultiDiGraph, StreetNetwork]) -> None:
    _, graph, net = rutland
    assert net.n_nodes == len(graph) > 5_000
    # both directions of each street, parallel edges reduced: fewer rows than osmnx edges
    assert 0 < graph.number_of_edges() - net.n_edges < 0.05 * graph.number_of_edges()
    # around the extract's bbox (lon -0.8229..-0.4277, lat 52.5236..52.7611) in EPSG:27700;
    # Geofabrik keeps ways that cross the county line whole, so allow a few km beyond it
    to_bng = Transformer.from_crs(4326, 27700, always_xy=True)
    west_e, south_n = to_bng.transform(-0.8229, 52.5236)
    east_e, north_n = to_bng.transform(-0.4277, 52.7611)
    assert west_e - 5_000 < net.node_x.min() < net.node_x.max() < east_e + 5_000
    assert south_n - 5_000 < net.node_y.min() < net.node_y.max() < north_n + 5_000
    assert net.node_x.max() - net.node_x.min() > 20_000  # the whole county, not a corner


@pytest.mark.data
def test_rutland_times_equal_networkx(rutland: tuple[Path, nx.MultiDiGraph, StreetNetwork]) -> None:
    _, graph, net = rutland
    sources = np.random.default_rng(7).choice(net.n_nodes, size=10, replace=False)
    ours, metres = net.travel(sources)
    node_index = {int(o): i for i, o in enumerate(net.node_osmid)}

    def walk_minutes(u: int, v: int, parallel: dict[int, dict[str, Any]]) -> float:
        return min(float(e["length"]) for e in parallel.values()) / WALK_M_PER_MIN

    for row, source in enumerate(sources):
        reference = nx.single_source_dijkstra_path_length(
            graph, int(net.node_osmid[source]), weight=walk_minutes
        )
        ref = np.full(net.n_nodes, np.inf)
        ref[[node_index[n] for n in reference]] = list(reference.values())
        np.testing.assert_allclose(ours[row], ref, rtol=1e-9, atol=0)
    np.testing.assert_allclose(metres, ours * WALK_M_PER_MIN, rtol=1e-9)
    # the walk graph is one connected component with two-way streets
    assert np.isfinite(ours).all()


@pytest.mark.data
@pytest.mark.slow
def test_rutland_pbf_and_xml_give_the_same_graph(
    rutland: tuple[Path, nx.MultiDiGraph, StreetNetwork], tmp_path: Path
) -> None:
    import osmium

    pbf, _, net = rutland
    xml = tmp_path / "rutland.osm"
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(str(pbf)):
            writer.add(obj)
    assert xml.stat().st_size > 10 * pbf.stat().st_size  # really XML, really all of it
    from_xml = network_from_graph(_osm.osm_graph(xml, mode="walk"))
    assert_same_network(net, from_xml)


@pytest.mark.data
def test_rutland_cache(
    rutland: tuple[Path, nx.MultiDiGraph, StreetNetwork],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pbf, graph, net = rutland
    calls: list[str] = []

    def built(path: Path, **kwargs: Any) -> nx.MultiDiGraph:
        calls.append(kwargs["mode"])
        return graph  # the fixture read this file already; reading it again takes ~20 s

    monkeypatch.setattr(_osm, "osm_graph", built)
    first = load_network(pbf, cache_dir=tmp_path)
    assert calls == ["walk"]
    assert_same_network(first, net)

    def must_not_read(path: Path, **kwargs: Any) -> nx.MultiDiGraph:
        raise AssertionError("the cached network was not used")

    monkeypatch.setattr(_osm, "osm_graph", must_not_read)
    cached = load_network(pbf, cache_dir=tmp_path)
    assert_same_network(cached, net)
    assert cached.coverage.equals(first.coverage)
    assert (
        cached.source_sha256 == "85f7540a52772856e61fca49c257ebdf653e62b4a552a9c59fc65b626582e387"
    )
    monkeypatch.setattr(_osm, "osm_graph", built)
    slower = load_network(pbf, walk_kmh=4.0, cache_dir=tmp_path)
    assert calls == ["walk", "walk"]
    np.testing.assert_allclose(slower.edge_min, net.edge_min * 4.8 / 4.0, rtol=1e-12)


@pytest.mark.data
def test_rutland_coverage(rutland: tuple[Path, nx.MultiDiGraph, StreetNetwork]) -> None:
    _, _, net = rutland
    assert net.covers(net.node_x, net.node_y).mean() > 0.99
    # Oakham Castle (SK 862 088) is on the network; a point 20 km east of Rutland is not.
    assert net.covers([486_200.0], [308_800.0]).tolist() == [True]
    assert net.covers([net.node_x.max() + 20_000], [net.node_y.mean()]).tolist() == [False]
    # far smaller than the convex hull of the nodes: it follows the streets
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([net.node_x, net.node_y])))
    assert net.coverage.area < 0.5 * hull.area
    node, snap_m = net.snap([486_200.0], [308_800.0])
    assert snap_m[0] < 300 and 0 <= node[0] < net.n_nodes
