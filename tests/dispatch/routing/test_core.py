"""The core engine (chains folded, all-pairs table or per-query search) against networkx.

The unsimplified Chania graph is mostly pass-through nodes, so random pairs land inside chains,
at chain ends and on the core; both the table and the per-query search must give networkx's
exact totals.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.routing import graph
from dispatch.routing.core import CoreEngine
from dispatch.routing.router import Metric, Router
from tests.dispatch.routing.conftest import CHANIA, write_osm

HYPO = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def raw_graph():
    return graph.build_nx_graph(CHANIA, simplify=False)


@pytest.fixture(scope="module")
def raw_net(raw_graph):
    return graph.graph_to_network(raw_graph)


@pytest.fixture(scope="module", params=["table", "search"])
def raw_router(request, raw_net):
    return Router(raw_net, max_table_nodes=10_000 if request.param == "table" else 0)


def test_unsimplified_graph_has_a_small_core(raw_router):
    core = raw_router._core(raw_router._profile(None), Metric.TIME)
    assert core.n_core < raw_router.net.n_nodes / 2


@HYPO
@given(data=st.data())
def test_core_engine_equals_networkx(raw_graph, raw_net, raw_router, data):
    n = raw_net.n_nodes
    sources = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4), label="sources")
    targets = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4), label="targets")
    got = raw_router.node_table(sources, targets)
    got_m = raw_router.node_table(sources, targets, metric=Metric.DISTANCE)
    for i, s in enumerate(sources):
        by_time = nx.single_source_dijkstra_path_length(
            raw_graph, int(raw_net.osm_ids[s]), weight="travel_time_ms"
        )
        by_length = nx.single_source_dijkstra_path_length(
            raw_graph, int(raw_net.osm_ids[s]), weight="length_mm"
        )
        for j, t in enumerate(targets):
            assert got[i, j] == by_time[int(raw_net.osm_ids[t])]
            assert got_m[i, j] == by_length[int(raw_net.osm_ids[t])]
        # and the path it returns is a connected path of exactly that duration
        t = targets[0]
        edges = raw_router.node_path(s, t)
        assert edges is not None
        assert float(raw_net.time_ms[edges].sum()) == by_time[int(raw_net.osm_ids[t])]
        if len(edges):
            assert raw_net.src[edges[0]] == s and raw_net.dst[edges[-1]] == t
            assert np.array_equal(raw_net.dst[edges[:-1]], raw_net.src[edges[1:]])


@HYPO
@given(data=st.data())
def test_lengths_along_fastest_paths_match_the_path(raw_net, raw_router, data):
    """The matrix's second figure is the length of the very path the route takes."""
    n = raw_net.n_nodes
    s, t = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    core = raw_router._core(raw_router._profile(None), Metric.TIME)
    dur, length = core.table_between(np.array([s]), np.array([t]), annotate=True)
    edges = raw_router.node_path(s, t)
    assert dur[0, 0] == raw_net.time_ms[edges].sum()
    assert length[0, 0] == raw_net.length_mm[edges].sum()


def test_a_lone_roundabout_has_no_junction_and_still_routes(tmp_path):
    # Six nodes on a one-way ring: every node passes traffic through, none is a junction.
    import math

    nodes = {
        i + 1: (35.0 + 0.001 * math.sin(i * math.pi / 3), 24.0 + 0.001 * math.cos(i * math.pi / 3))
        for i in range(6)
    }
    ways = [(1, [1, 2, 3, 4, 5, 6, 1], {"highway": "tertiary", "junction": "roundabout"})]
    net = graph.graph_to_network(
        graph.build_nx_graph(write_osm(tmp_path / "ring.osm", nodes, ways), simplify=False)
    )
    G = graph.network_to_nx(net)
    router = Router(net)
    table = router.node_table(range(net.n_nodes), range(net.n_nodes))
    for s in range(net.n_nodes):
        lengths = nx.single_source_dijkstra_path_length(G, s, weight="travel_time_ms")
        for t in range(net.n_nodes):
            assert table[s, t] == lengths[t]


def test_unreachable_is_infinite_and_has_no_path():
    # Two one-way arcs 0 -> 1 -> 2: nothing goes back.
    src, dst = np.array([0, 1]), np.array([1, 2])
    w = np.array([5.0, 7.0])
    core = CoreEngine(3, src, dst, w, w, np.ones(2, dtype=bool))
    table, _ = core.table_between(np.arange(3), np.arange(3))
    assert table.tolist() == [[0, 5, 12], [np.inf, 0, 7], [np.inf, np.inf, 0]]
    assert core.path(2, 0) is None
    assert core.path(0, 2).tolist() == [0, 1]
