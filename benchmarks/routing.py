"""Routing benchmark: Kinisi's router against OSMnx/networkx on the same graphs and weights.

    .venv/bin/python benchmarks/routing.py

Graphs: Chania (the demo municipality, data/osm/chania.osm.bz2), Andorra (a whole country,
benchmarks/data/osm/andorra.osm.pbf) as the production pipeline builds them (simplified), and
Andorra unsimplified (every OSM node kept, about 25,000 junctions) as the large graph.

For each graph, both sides get the same OSMnx MultiDiGraph and the same integer weights
(``travel_time_ms``):
- one route: ``ox.routing.shortest_path`` against ``Router.node_path`` (path and its duration),
  junction to junction, over random origin/destination pairs; the time per route is the time for
  all pairs divided by their number, and each figure is the median of the repeats;
- N x N duration matrices: networkx's ``single_source_dijkstra_path_length`` from each origin
  (what OSMnx's routing runs underneath; one search per origin is the fastest way to fill a
  matrix with networkx) against ``Router.node_table``;
- the largest absolute difference in route duration between the two, over every route and
  every matrix cell: it must be 0 (the router is exact; weights are integers).
Also shown, not compared: the full point-to-point API path (``Router.route``: snapping onto the
road, partial edges, geometry) and a 500 x 500 point matrix (``Router.matrix``).

The machine has 2 noisy cores shared with other work: medians, and figures vary run to run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.routing import graph  # noqa: E402
from dispatch.routing.router import Router  # noqa: E402

GRAPHS = [
    ("Chania (simplified)", ROOT / "data/osm/chania.osm.bz2", True),
    ("Andorra (simplified)", ROOT / "benchmarks/data/osm/andorra.osm.pbf", True),
    ("Andorra (unsimplified)", ROOT / "benchmarks/data/osm/andorra.osm.pbf", False),
]
WEIGHT = "travel_time_ms"


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:8.2f} s "
    if seconds >= 1e-3:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds * 1e6:8.1f} µs"


def nx_matrix(G: nx.MultiDiGraph, origins: list[int], targets: list[int]) -> np.ndarray:
    out = np.empty((len(origins), len(targets)))
    for i, o in enumerate(origins):
        lengths = nx.single_source_dijkstra_path_length(G, o, weight=WEIGHT)
        out[i] = [lengths.get(t, np.inf) for t in targets]
    return out


def bench_graph(name: str, source: Path, simplify: bool, args: argparse.Namespace) -> dict:
    print(f"\n== {name}: {source.relative_to(ROOT)} ==")
    t0 = time.perf_counter()
    G = graph.build_nx_graph(source, simplify=simplify)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    net = graph.graph_to_network(G)
    router = Router(net)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    prep = router.prepare()
    prep_s = time.perf_counter() - t0
    # The same router with no precomputed table: Dijkstra on the core for every query.
    searched = Router(net, max_table_nodes=0)
    searched.prepare()
    print(
        f"graph: {net.n_nodes:,} junctions, {net.n_edges:,} directed edges; "
        f"built with OSMnx in {build_s:.1f} s, router set up in {init_s * 1e3:.0f} ms, "
        f"precomputation ({prep}) {prep_s:.2f} s (both once per graph and vehicle profile)"
    )
    rng = np.random.default_rng(args.seed)
    ids = net.osm_ids
    max_diff = 0.0

    # -- one route: each side runs over all pairs in its own loop (interleaving the two would
    # let networkx's allocations evict the router's small tables from the cache) --
    pairs = rng.integers(0, net.n_nodes, size=(args.pairs, 2))
    od = [(int(ids[s]), int(ids[t])) for s, t in pairs]
    st = [(int(s), int(t)) for s, t in pairs]

    def ox_routes() -> list[float]:
        return [
            nx.path_weight(G, ox.routing.shortest_path(G, o, d, weight=WEIGHT), weight=WEIGHT)
            for o, d in od
        ]

    def kinisi_routes() -> list[float]:
        return [float(net.time_ms[router.node_path(s, t)].sum()) for s, t in st]

    ox_s, ox_ms = median_time(ox_routes, args.repeats)
    k_s, k_ms = median_time(kinisi_routes, max(args.repeats, 5))
    max_diff = max(max_diff, float(np.max(np.abs(np.array(ox_ms) - np.array(k_ms)))))
    rows: list[tuple] = [("one route", ox_s / len(od), k_s / len(st), "")]

    # -- matrices --
    for n in (100, 500):
        origins = rng.choice(net.n_nodes, n, replace=False)
        targets = rng.choice(net.n_nodes, n, replace=False)
        o_ids, t_ids = [int(ids[i]) for i in origins], [int(ids[i]) for i in targets]
        nx_repeats = args.repeats if n == 100 or net.n_nodes < 5000 else 1
        nx_s, nx_m = median_time(lambda o=o_ids, t=t_ids: nx_matrix(G, o, t), nx_repeats)
        k_s, k_m = median_time(
            lambda o=origins, t=targets: router.node_table(o, t), max(args.repeats, 5)
        )
        s_s, s_m = median_time(
            lambda o=origins, t=targets: searched.node_table(o, t), max(args.repeats, 3)
        )
        diff = max(float(np.max(np.abs(nx_m - k_m))), float(np.max(np.abs(nx_m - s_m))))
        max_diff = max(max_diff, diff)
        note = "networkx: 1 run, full (not sampled)" if nx_repeats < args.repeats else ""
        rows.append((f"{n}x{n} matrix", nx_s, k_s, note, s_s))

    print(
        f"{'':22}{'networkx':>12}{'kinisi':>13}{'speed-up':>11}"
        f"   (kinisi without the table: Dijkstra on the core per query)"
    )
    for label, a, b, note, *rest in rows:
        extra = f"   ({fmt(rest[0]).strip()}, {a / rest[0]:.0f}x)" if rest else ""
        print(f"{label:22}{fmt(a):>12} {fmt(b):>12}{a / b:>10.0f}x{extra}  {note}")
    print(f"largest |duration difference| over all routes and cells: {max_diff:g} ms")

    # -- the API path, for scale (not compared) --
    lat = rng.uniform(net.lat.min(), net.lat.max(), size=(500, 2))
    lon = rng.uniform(net.lon.min(), net.lon.max(), size=(500, 2))
    pts = [(float(a), float(b)) for a, b in zip(lat[:, 0], lon[:, 0], strict=True)]
    pts2 = [(float(a), float(b)) for a, b in zip(lat[:, 1], lon[:, 1], strict=True)]
    route_s, _ = median_time(
        lambda: [router.route([pts[i], pts2[i]]) for i in range(50)], args.repeats
    )
    matrix_s, m = median_time(lambda: router.matrix(pts, pts2), 3)
    reachable = int(np.isfinite(m.durations_s).sum())
    print(
        f"API path: point-to-point route with snapping and geometry {fmt(route_s / 50).strip()} "
        f"per route; 500x500 point matrix (durations and lengths) {fmt(matrix_s).strip()} "
        f"({reachable:,} of 250,000 cells routable)"
    )
    return {"name": name, "rows": rows, "max_diff": max_diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=50, help="O/D pairs for the one-route test")
    parser.add_argument("--seed", type=int, default=20201105)
    parser.add_argument("--only", help="run only graphs whose name contains this")
    args = parser.parse_args()
    print(
        f"osmnx {ox.__version__}, networkx {nx.__version__}, numpy {np.__version__}; "
        f"repeats={args.repeats}, one-route pairs={args.pairs}"
    )
    results = []
    for name, source, simplify in GRAPHS:
        if args.only and args.only.lower() not in name.lower():
            continue
        results.append(bench_graph(name, source, simplify, args))
    print("\n== summary (medians) ==")
    for r in results:
        cells = ", ".join(f"{row[0]} {row[1] / row[2]:.0f}x" for row in r["rows"])
        print(f"{r['name']}: {cells}; max duration difference {r['max_diff']:g} ms")


if __name__ == "__main__":
    main()
