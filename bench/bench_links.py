"""Links and catchments on real data: nearest site for every GB postcode, a network link table on
the Rutland walk network, and isochrones against the osmnx-examples approach.

(a) Nearest of the 10 Greater Icknield gazetteer sites for all 1,745,849 Code-Point Open postcode
    points (quick: the first 200,000), both frames as GeoDataFrames in EPSG:27700.
    Peer: ``geopandas.sjoin_nearest``. Ours: the KD-tree query on the frames' coordinates (the
    assignment ``link`` does), and the whole ``link(k=1)`` (ids, table, sort) for reference.
    k=1 must equal ``sjoin_nearest`` (ties allowed only at equal distance); k=3 must equal a
    brute-force numpy ``argsort`` of all 10 distances (``sjoin_nearest`` has no k).
(b) 10,000 micro-assets (Rutland postcodes, sampled with replacement, jittered by up to 30 m)
    × 10 sites (the 4 Rutland gazetteer sites and 6 postcodes) on the Rutland walk network,
    the full 10 × 10,000 table (``k=10``) after the graph is loaded; three rows checked against
    networkx.
(c) 10 sites × 3 bands (10, 20, 30 min) of walking isochrones: ``catchments`` against the
    osmnx-examples recipe (``networkx.ego_graph(radius=t, distance="time")``, buffer the
    subgraph's nodes and edges by 50 m, ``union_all``) on a networkx graph of the same edges.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from bench._common import record, timed

CODEPOINT = "codepoint_gb/codepo_gb.zip"
RUTLAND = "osm_rutland/rutland-2022-07-20.osm.pbf"
RUTLAND_DISTRICT = "E06000017"
SEED = 20261125
WORK = Path(__file__).parent / "work"


def _real(relpath: str) -> Path:
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests"))
    try:
        from conftest import real_data
    finally:
        sys.path.remove(str(root / "tests"))
    return real_data(relpath)


def _codepoint(limit: int | None) -> Any:
    """Postcode, easting, northing and district of Code-Point Open, read straight from the zip."""
    import pandas as pd

    frames = []
    with zipfile.ZipFile(_real(CODEPOINT)) as archive:
        names = sorted(
            n for n in archive.namelist() if n.startswith("Data/CSV/") and n.endswith(".csv")
        )
        for name in names:
            with archive.open(name) as fh:
                frames.append(
                    pd.read_csv(
                        fh,
                        header=None,
                        usecols=[0, 2, 3, 8],
                        names=["postcode", "easting", "northing", "district"],
                        dtype={"postcode": "str", "district": "str"},
                    )
                )
    table = pd.concat(frames, ignore_index=True)
    return table if limit is None else table.iloc[:limit]


def run(quick: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    postcodes = _codepoint(None)
    rows += _nearest(postcodes.iloc[:200_000] if quick else postcodes)
    rows += _network_rows(postcodes, quick)
    return rows


# ------------------------------------------------------------------------------------ (a)


def _nearest(postcodes: Any) -> list[dict[str, Any]]:
    import geopandas as gpd
    import shapely
    from scipy.spatial import cKDTree

    from assetmap.gazetteer import sites
    from assetmap.links import link

    macro = sites("greater-icknield").to_crs(27700)[["category", "geometry"]]
    micro = gpd.GeoDataFrame(
        geometry=shapely.points(
            postcodes["easting"].to_numpy(float), postcodes["northing"].to_numpy(float)
        ),
        index=postcodes["postcode"].rename("asset_id"),
        crs=27700,
    )
    n = len(micro)

    def peer() -> Any:
        return gpd.sjoin_nearest(micro, macro, distance_col="metres")

    def ours(k: int) -> Any:
        points = shapely.get_coordinates(micro.geometry.array)
        tree = cKDTree(shapely.get_coordinates(macro.geometry.array))
        return tree.query(points, k=k)

    peer_s, joined = timed(peer, repeat=2)
    ours_s, (dist, col) = timed(lambda: ours(1), repeat=3)
    # Identical assignment: same site, or (a tie) another site at the same distance.
    joined = joined[~joined.index.duplicated(keep="first")].loc[micro.index]
    expected = joined["asset_id_right"].to_numpy()
    got = macro.index.to_numpy()[col]
    differ = got != expected
    assert np.allclose(dist[differ], joined["metres"].to_numpy()[differ], rtol=0, atol=1e-6), (
        f"{differ.sum()} postcodes assigned differently from sjoin_nearest"
    )
    link_s, table = timed(lambda: link(micro, macro, k=1), repeat=2)
    assert len(table.links) == n
    assert (table.links.set_index("micro_id").loc[micro.index, "macro_id"].to_numpy() == got).all()

    k3_s, (dist3, col3) = timed(lambda: ours(3), repeat=3)
    xy = shapely.get_coordinates(micro.geometry.array)
    sxy = shapely.get_coordinates(macro.geometry.array)
    dense = np.hypot(xy[:, :1] - sxy[None, :, 0], xy[:, 1:] - sxy[None, :, 1])
    brute = np.argsort(dense, axis=1, kind="stable")[:, :3]
    ties = np.take_along_axis(dense, brute, axis=1)
    assert np.allclose(dist3, ties, rtol=0, atol=1e-6), "k=3 distances differ from brute force"
    assert ((col3 == brute) | np.isclose(dist3, ties, atol=1e-6)).all()
    label = f"{n:,} GB postcodes"
    return [
        record(
            f"nearest of 10 sites, k=1 ({label})",
            ours_s,
            "s",
            peer="geopandas.sjoin_nearest",
            peer_value=peer_s,
            target="≥ 2× faster, identical",
            meets_target=peer_s / ours_s >= 2.0,
            rows=n,
            differing_ties=int(differ.sum()),
        ),
        record(
            f"link(k=1) whole table ({label})",
            link_s,
            "s",
            peer="geopandas.sjoin_nearest",
            peer_value=peer_s,
            target="reference (ids, columns, sort)",
            rows=n,
        ),
        record(
            f"nearest of 10 sites, k=3 ({label})",
            k3_s,
            "s",
            target="identical to brute force (sjoin_nearest has no k)",
            meets_target=True,
            rows=n,
        ),
    ]


# ------------------------------------------------------------------------------- (b) and (c)


def _network_rows(postcodes: Any, quick: bool) -> list[dict[str, Any]]:
    import geopandas as gpd
    import networkx as nx
    import pandas as pd
    import shapely

    from assetmap.catchments import catchments
    from assetmap.gazetteer import sites
    from assetmap.links import link
    from assetmap.network import load_network

    net = load_network(_real(RUTLAND), cache_dir=WORK / "networks")
    rng = np.random.default_rng(SEED)
    local = postcodes[postcodes["district"] == RUTLAND_DISTRICT].reset_index(drop=True)
    pick = rng.integers(0, len(local), 10_000)
    jitter = rng.uniform(-30, 30, (10_000, 2))
    micro = gpd.GeoDataFrame(
        geometry=shapely.points(
            local["easting"].to_numpy(float)[pick] + jitter[:, 0],
            local["northing"].to_numpy(float)[pick] + jitter[:, 1],
        ),
        index=pd.Index([f"m{i:05d}" for i in range(10_000)], name="asset_id"),
        crs=27700,
    )
    gazetteer = sites("rutland").to_crs(27700)[["geometry"]]
    extra = local.iloc[rng.choice(len(local), 6, replace=False)]
    macro = pd.concat(
        [
            gazetteer,
            gpd.GeoDataFrame(
                geometry=shapely.points(
                    extra["easting"].to_numpy(float), extra["northing"].to_numpy(float)
                ),
                index=pd.Index(extra["postcode"].to_numpy(), name="asset_id"),
                crs=27700,
            ),
        ]
    )
    link_s, table = timed(lambda: link(micro, macro, network=net, k=10), repeat=3)
    assert len(table.links) == 100_000
    routed = table.links[table.links["mode"] == "walk"]
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(
        zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_min.tolist(), strict=True)
    )
    speed = net.walk_kmh * 1000 / 60
    for row in routed.sample(3, random_state=SEED).itertuples(index=False):
        a, b = micro.loc[row.micro_id].geometry, macro.loc[row.macro_id].geometry
        (src,), _ = net.snap([a.x], [a.y])
        (dst,), _ = net.snap([b.x], [b.y])
        path = nx.shortest_path_length(graph, int(src), int(dst), weight="weight")
        expected = path + (row.snap_m_micro + row.snap_m_macro) / speed
        assert abs(row.minutes - expected) <= 1e-9 * max(1.0, expected)
    rows = [
        record(
            "network link table 10,000 micro × 10 sites (Rutland walk)",
            link_s,
            "s",
            target="≤ 1 s after the graph is loaded",
            meets_target=link_s <= 1.0,
            links=len(table.links),
            routed_share=round(len(routed) / len(table.links), 3),
        )
    ]

    # ---- (c) isochrones
    n_sites = 3 if quick else 10
    centres = macro.iloc[:n_sites]
    bands = (10.0, 20.0, 30.0)
    ours_s, result = timed(lambda: catchments(centres, network=net, minutes=bands), repeat=2)
    graph_time = nx.MultiDiGraph()
    graph_time.add_nodes_from(
        (i, {"x": float(x), "y": float(y)})
        for i, (x, y) in enumerate(zip(net.node_x, net.node_y, strict=True))
    )
    graph_time.add_edges_from(
        (int(a), int(b), {"time": float(t)})
        for a, b, t in zip(net.edge_u, net.edge_v, net.edge_min, strict=True)
    )
    (nodes, _) = net.snap(centres.geometry.x.to_numpy(), centres.geometry.y.to_numpy())
    peer_s, peer_polys = timed(
        lambda: [_ego_isochrone(graph_time, int(node), t) for node in nodes for t in bands]
    )
    ours_area = float(result["area_m2"].sum())
    peer_area = float(sum(p.area for p in peer_polys))
    rows.append(
        record(
            f"isochrones {n_sites} sites × 3 bands (Rutland walk)",
            ours_s,
            "s",
            peer="networkx.ego_graph + buffer (osmnx examples)",
            peer_value=peer_s,
            target="≥ 5× faster",
            meets_target=peer_s / ours_s >= 5.0,
            area_ratio_ours_to_peer=round(ours_area / peer_area, 3),
        )
    )
    return rows


def _ego_isochrone(graph: Any, centre: int, minutes: float) -> Any:
    """The osmnx-examples isochrone: ego graph by time, nodes and edges buffered 50 m, unioned."""
    import geopandas as gpd
    import networkx as nx
    from shapely.geometry import LineString, Point

    sub = nx.ego_graph(graph, centre, radius=minutes, distance="time")
    nodes = gpd.GeoDataFrame(
        {"id": list(sub.nodes)},
        geometry=[Point(data["x"], data["y"]) for _, data in sub.nodes(data=True)],
    ).set_index("id")
    lines = [LineString([nodes.loc[a].geometry, nodes.loc[b].geometry]) for a, b in sub.edges()]
    pieces = list(nodes.buffer(50).geometry) + list(gpd.GeoSeries(lines).buffer(50).geometry)
    return gpd.GeoSeries(pieces).union_all()
