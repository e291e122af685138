"""Street networks on the real Rutland extract: loading (vs osmnx) and travel times (vs networkx).

(a) ``osmnx.graph_from_xml`` + ``project_graph`` on the whole extract converted to XML (osmnx
    cannot read PBF) against ``load_network`` from its on-disk cache; the first, uncached load
    is recorded too.
(b) minutes from 10 sites (fixed seed) to every node: one ``StreetNetwork.travel`` call (a
    single scipy Dijkstra) against networkx ``single_source_dijkstra_path_length`` per site on
    the same osmnx graph; the run fails unless the times agree to 1e-9 relative.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench._common import record, timed

RUTLAND = "osm_rutland/rutland-2022-07-20.osm.pbf"
N_SITES = 10
SEED = 20221120


def _rutland() -> Path:
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests"))
    try:
        from conftest import real_data
    finally:
        sys.path.remove(str(root / "tests"))
    return Path(real_data(RUTLAND))


def run(quick: bool) -> list[dict[str, Any]]:
    import networkx as nx
    import osmium
    import osmnx as ox

    from assetmap import _osm
    from assetmap.network import load_network

    pbf = _rutland()
    repeat = 2 if quick else 5
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-network-") as tmp:
        folder = Path(tmp)
        # ---- (a) loading
        xml = folder / "rutland.osm"
        with osmium.SimpleWriter(str(xml)) as writer:
            for obj in osmium.FileProcessor(str(pbf)):
                writer.add(obj)

        def peer_load() -> Any:
            return ox.project_graph(ox.graph_from_xml(xml), to_crs="EPSG:27700")

        peer_s, peer_graph = timed(peer_load)
        cache = folder / "cache"
        cold_s, cold = timed(lambda: load_network(pbf, cache_dir=cache))
        warm_s, net = timed(lambda: load_network(pbf, cache_dir=cache), repeat=repeat)
        assert net.n_nodes == cold.n_nodes
        rows.append(
            record(
                "load Rutland OSM (cached)",
                warm_s,
                "s",
                peer="osmnx.graph_from_xml + project_graph",
                peer_value=peer_s,
                target="cached load ≤ 0.5 s",
                meets_target=warm_s <= 0.5,
                nodes=net.n_nodes,
                edges=net.n_edges,
                peer_nodes=len(peer_graph),
            )
        )
        rows.append(
            record(
                "load Rutland OSM (first, builds the cache)",
                cold_s,
                "s",
                peer="osmnx.graph_from_xml + project_graph",
                peer_value=peer_s,
                target="informational (walk network only, incl. coverage polygon)",
                nodes=cold.n_nodes,
            )
        )

        # ---- (b) travel times from 10 sites
        graph = _osm.osm_graph(pbf, mode="walk")
        m_per_min = net.walk_kmh * 1000 / 60
        weighted = graph.copy()
        for _, _, data in weighted.edges(data=True):
            data["minutes"] = data["length"] / m_per_min
        sources = np.random.default_rng(SEED).choice(net.n_nodes, size=N_SITES, replace=False)
        osmids = [int(o) for o in net.node_osmid[sources]]

        def peer_travel() -> list[dict[int, float]]:
            return [
                nx.single_source_dijkstra_path_length(weighted, o, weight="minutes") for o in osmids
            ]

        net.travel(sources[:1])  # builds the CSR matrix once, as any first query does
        peer_t, reference = timed(peer_travel, repeat=max(1, repeat // 2))
        ours_t, (minutes, _) = timed(lambda: net.travel(sources), repeat=repeat)
        index = {int(o): i for i, o in enumerate(net.node_osmid)}
        for row, ref_map in enumerate(reference):
            ref = np.full(net.n_nodes, np.inf)
            ref[[index[n] for n in ref_map]] = list(ref_map.values())
            np.testing.assert_allclose(minutes[row], ref, rtol=1e-9, atol=0)
        ratio = peer_t / ours_t
        rows.append(
            record(
                "times from 10 sites to all nodes",
                ours_t,
                "s",
                peer="networkx single_source_dijkstra_path_length per site",
                peer_value=peer_t,
                target="≥ 20× faster, identical (1e-9)",
                meets_target=ratio >= 20,
                nodes=net.n_nodes,
                identical=True,
            )
        )
    return rows


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
