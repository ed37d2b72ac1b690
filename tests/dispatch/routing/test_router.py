"""The router: exactness against networkx, snapping, restrictions, one-ways, clear failures.

Expected values come from networkx (OSMnx's own routing on the same graph and weights) or from
hand geometry (haversine lengths of hand-made streets at the default speeds), never from the
router itself.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.routing import graph
from dispatch.routing.router import Metric, Reason, Router, Vehicle
from tests.dispatch.routing.conftest import write_osm

LAT, LON = 35.0, 24.0
RESIDENTIAL_MPS = graph.GREEK_URBAN_SPEEDS_KPH["residential"] / 3.6
TRUCK = Vehicle(weight_t=12.0, height_m=3.8)
VAN = Vehicle(weight_t=3.0, height_m=2.5)

HYPO = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def hav(a, b):
    """Great-circle metres between (lat, lon) points: the test's own formula."""
    r = 6_371_009.0
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def polyline_m(points):
    return sum(hav(a, b) for a, b in zip(points[:-1], points[1:], strict=True))


# --- exactness against networkx on Chania ------------------------------------------------------


@HYPO
@given(data=st.data())
def test_durations_equal_networkx_on_random_pairs(
    chania_graph, chania_network, chania_router, data
):
    n = chania_network.n_nodes
    s = data.draw(st.integers(0, n - 1), label="origin")
    t = data.draw(st.integers(0, n - 1), label="destination")
    o_id, d_id = int(chania_network.osm_ids[s]), int(chania_network.osm_ids[t])
    expected = nx.shortest_path_length(chania_graph, o_id, d_id, weight="travel_time_ms")
    got = chania_router.node_table([s], [t])[0, 0]
    assert got == expected  # exact: integer milliseconds

    # The path the router returns is as fast as OSMnx's own shortest path.
    ox_path = ox.routing.shortest_path(chania_graph, o_id, d_id, weight="travel_time_ms")
    ox_ms = nx.path_weight(chania_graph, ox_path, weight="travel_time_ms")
    edges = chania_router.node_path(s, t)
    assert edges is not None
    assert float(chania_network.time_ms[edges].sum()) == ox_ms == expected
    if len(edges):
        assert chania_network.src[edges[0]] == s and chania_network.dst[edges[-1]] == t
        assert np.array_equal(chania_network.dst[edges[:-1]], chania_network.src[edges[1:]])


@HYPO
@given(data=st.data())
def test_distances_equal_networkx_on_random_pairs(
    chania_graph, chania_network, chania_router, data
):
    n = chania_network.n_nodes
    s, t = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    o_id, d_id = int(chania_network.osm_ids[s]), int(chania_network.osm_ids[t])
    expected = nx.shortest_path_length(chania_graph, o_id, d_id, weight="length_mm")
    assert chania_router.node_table([s], [t], metric=Metric.DISTANCE)[0, 0] == expected


def test_matrix_between_junctions_equals_networkx(chania_graph, chania_network, chania_router):
    rng = np.random.default_rng(7)
    nodes = rng.choice(chania_network.n_nodes, 12, replace=False)
    pts = [(float(chania_network.lat[i]), float(chania_network.lon[i])) for i in nodes]
    m = chania_router.matrix(pts, pts)
    for a, i in enumerate(nodes):
        lengths = nx.single_source_dijkstra_path_length(
            chania_graph, int(chania_network.osm_ids[i]), weight="travel_time_ms"
        )
        for b, j in enumerate(nodes):
            expected_s = lengths[int(chania_network.osm_ids[j])] / 1000.0
            # Points given at a junction's coordinates snap onto the junction (up to float noise
            # in the planar projection), so the durations match to the microsecond.
            assert m.durations_s[a, b] == pytest.approx(expected_s, abs=1e-6)


@HYPO
@given(data=st.data())
def test_matrix_agrees_with_routes_between_arbitrary_points(chania_router, data):
    net = chania_router.net
    lat = st.floats(float(net.lat.min()), float(net.lat.max()))
    lon = st.floats(float(net.lon.min()), float(net.lon.max()))
    pts = data.draw(st.lists(st.tuples(lat, lon), min_size=2, max_size=4))
    m = chania_router.matrix(pts, pts)
    for a, p in enumerate(pts):
        for b, q in enumerate(pts):
            r = chania_router.route([p, q])
            if math.isnan(m.durations_s[a, b]):
                assert not r.ok
                continue
            assert r.ok
            assert r.duration_s == pytest.approx(m.durations_s[a, b], abs=1e-6)
            assert r.length_m == pytest.approx(m.lengths_m[a, b], abs=1e-6)


# --- snapping ----------------------------------------------------------------------------------


@HYPO
@given(data=st.data())
def test_point_on_a_street_snaps_onto_that_street(chania_router, data):
    net = chania_router.net
    e = data.draw(st.integers(0, net.n_edges - 1), label="edge")
    coords = net.edge_coords(e)  # lon, lat
    k = data.draw(st.integers(0, len(coords) - 2), label="segment")
    t = data.draw(st.floats(0.05, 0.95), label="along")
    (lon1, lat1), (lon2, lat2) = coords[k], coords[k + 1]
    if hav((lat1, lon1), (lat2, lon2)) < 2.0:
        return  # a degenerate sliver segment has no inside to aim at
    lat, lon = lat1 + (lat2 - lat1) * t, lon1 + (lon2 - lon1) * t
    snap = chania_router.snap(lat, lon)
    assert snap.ok
    assert snap.distance_m < 0.05
    # Snapped onto this street (either direction of it), or onto another street drawn over the
    # very same line (the distance check above already says it is on the road).
    same_street = {e, int(chania_router._twin[e])}
    assert snap.edge in same_street or snap.street == net.edge_name(e)
    assert hav((lat, lon), (snap.road_lat, snap.road_lon)) < 0.05


def test_point_off_the_road_snaps_to_the_nearest_point_on_a_segment_not_a_junction(tmp_path):
    router = Router(graph.build_network(_square_town(tmp_path / "t.osm")))
    # 20 m south of the middle of the Short street (A-B), far from both junctions.
    lat, lon = LAT - 20 / 111_195, LON + 0.002
    snap = router.snap(lat, lon)
    assert snap.ok and snap.street == "Short"
    assert snap.road_lat == pytest.approx(LAT, abs=1e-7)
    assert snap.road_lon == pytest.approx(LON + 0.002, abs=1e-7)
    assert snap.distance_m == pytest.approx(hav((lat, lon), (LAT, LON + 0.002)), abs=0.01)
    assert snap.fraction == pytest.approx(0.5, abs=1e-6)


def test_point_outside_the_network_is_a_clear_answer(chania_router):
    far = chania_router.snap(35.60, 24.00)  # about 10 km north, at sea
    assert not far.ok and far.reason == Reason.OUTSIDE_NETWORK
    r = chania_router.route([(35.60, 24.00), (35.512, 24.02)])
    assert not r.ok and r.reason == Reason.OUTSIDE_NETWORK
    assert r.to_geojson()["geometry"] is None
    assert r.to_geojson()["properties"]["reason"] == "outside_network"
    m = chania_router.matrix([(35.60, 24.00), (35.512, 24.02)], [(35.512, 24.02)])
    assert math.isnan(m.durations_s[0, 0]) and m.durations_s[1, 0] == 0.0
    assert not m.origins[0].ok


@pytest.mark.parametrize("point", [(math.nan, 24.0), (91.0, 24.0), (35.5, 181.0), (math.inf, 0)])
def test_invalid_coordinates_are_a_clear_answer(chania_router, point):
    snap = chania_router.snap(*point)
    assert not snap.ok and snap.reason == Reason.INVALID_COORDINATES
    r = chania_router.route([point, (35.512, 24.02)])
    assert not r.ok and r.reason == Reason.INVALID_COORDINATES


def test_route_needs_two_points(chania_router):
    r = chania_router.route([(35.512, 24.02)])
    assert not r.ok and r.reason == Reason.TOO_FEW_POINTS


# --- hand-made towns: restrictions, one-ways, partial edges ----------------------------------


def _square_town(path, short_tags=None, extra_nodes=None, extra_ways=()):
    """W-A-B-E along the parallel LAT, a short street A-B and a detour A-C-D-B to the north."""
    nodes = {
        1: (LAT, LON - 0.002),  # W
        2: (LAT, LON),  # A
        3: (LAT, LON + 0.004),  # B
        4: (LAT, LON + 0.006),  # E
        5: (LAT + 0.002, LON),  # C
        6: (LAT + 0.002, LON + 0.004),  # D
        **(extra_nodes or {}),
    }
    ways = [
        (10, [1, 2], {"highway": "residential", "name": "West"}),
        (11, [2, 3], {"highway": "residential", "name": "Short", **(short_tags or {})}),
        (12, [2, 5, 6, 3], {"highway": "residential", "name": "Detour"}),
        (13, [3, 4], {"highway": "residential", "name": "East"}),
        *extra_ways,
    ]
    return write_osm(path, nodes, ways)


W, A, B, E = (LAT, LON - 0.002), (LAT, LON), (LAT, LON + 0.004), (LAT, LON + 0.006)
C, D = (LAT + 0.002, LON), (LAT + 0.002, LON + 0.004)
P = (LAT, LON - 0.001)  # on West, halfway
Q = (LAT, LON + 0.005)  # on East, halfway
DIRECT_M = polyline_m([P, A, B, Q])
DETOUR_M = polyline_m([P, A, C, D, B, Q])


def _assert_route(route, expected_m):
    assert route.ok, route.reason
    assert route.length_m == pytest.approx(expected_m, rel=1e-4)
    assert route.duration_s == pytest.approx(expected_m / RESIDENTIAL_MPS, rel=1e-3)
    # The geometry is the road itself: its own length is the route's length.
    pts = [(lat, lon) for lon, lat in route.coordinates.tolist()]
    assert polyline_m(pts) == pytest.approx(expected_m, rel=1e-4)


@pytest.mark.parametrize(
    ("tags", "blocked", "allowed"),
    [
        ({"maxweight": "3.5"}, TRUCK, VAN),
        ({"hgv": "no"}, TRUCK, VAN),
        ({"maxheight": "3.2"}, TRUCK, VAN),
        ({"maxweight": "7.5 t"}, Vehicle(weight_t=12.0), Vehicle(weight_t=7.5)),
    ],
)
def test_truck_restricted_road_is_avoided_by_a_truck_and_used_by_a_car(
    tmp_path, tags, blocked, allowed
):
    router = Router(graph.build_network(_square_town(tmp_path / "t.osm", short_tags=tags)))
    car = router.route([P, Q])
    _assert_route(car, DIRECT_M)
    _assert_route(router.route([P, Q], vehicle=allowed), DIRECT_M)
    truck = router.route([P, Q], vehicle=blocked)
    _assert_route(truck, DETOUR_M)
    assert "Short" not in {router.net.edge_name(e) for e in truck.edges}
    m = router.matrix([P], [Q], vehicle=blocked)
    assert m.durations_s[0, 0] == pytest.approx(truck.duration_s)


def test_truck_gets_no_route_into_an_area_reached_only_through_a_restricted_road(tmp_path):
    # East of E, a loop reached only over a 3.5 t bridge.
    extra_nodes = {
        7: (LAT, LON + 0.008),
        8: (LAT + 0.001, LON + 0.009),
        9: (LAT - 0.001, LON + 0.009),
    }
    extra_ways = [
        (14, [4, 7], {"highway": "residential", "name": "Bridge", "maxweight": "3.5"}),
        (15, [7, 8, 9, 7], {"highway": "residential", "name": "Loop"}),
    ]
    router = Router(
        graph.build_network(
            _square_town(tmp_path / "t.osm", extra_nodes=extra_nodes, extra_ways=extra_ways)
        )
    )
    loop_point = (LAT + 0.0005, LON + 0.0085)  # on Loop, between 7 and 8
    assert router.route([P, loop_point]).ok
    truck = router.route([P, loop_point], vehicle=TRUCK)
    assert not truck.ok and truck.reason == Reason.NO_ROUTE
    assert truck.to_geojson()["properties"]["reason"] == "no_route"
    m = router.matrix([P], [loop_point], vehicle=TRUCK)
    assert math.isnan(m.durations_s[0, 0])


def test_truck_never_snaps_onto_a_road_closed_to_it(tmp_path):
    router = Router(
        graph.build_network(_square_town(tmp_path / "t.osm", short_tags={"maxweight": "3.5"}))
    )
    on_short = (LAT - 0.00001, LON + 0.002)
    assert router.snap(*on_short).street == "Short"
    truck_snap = router.snap(*on_short, vehicle=TRUCK)
    assert truck_snap.ok and truck_snap.street != "Short"


@pytest.mark.parametrize("oneway", ["yes", "-1"])
def test_one_way_is_respected(tmp_path, oneway):
    router = Router(
        graph.build_network(_square_town(tmp_path / "t.osm", short_tags={"oneway": oneway}))
    )
    forward, backward = router.route([P, Q]), router.route([Q, P])
    if oneway == "yes":  # drivable from A to B only
        _assert_route(forward, DIRECT_M)
        _assert_route(backward, DETOUR_M)
    else:
        _assert_route(forward, DETOUR_M)
        _assert_route(backward, DIRECT_M)


def test_points_on_the_same_one_way_street(tmp_path):
    router = Router(
        graph.build_network(_square_town(tmp_path / "t.osm", short_tags={"oneway": "yes"}))
    )
    x, y = (LAT, LON + 0.001), (LAT, LON + 0.003)  # both on Short, x west of y
    _assert_route(router.route([x, y]), hav(x, y))  # straight along it
    # Backwards means going round: on to B, back over the detour to A, then along Short to x.
    _assert_route(router.route([y, x]), polyline_m([y, B, D, C, A, x]))


def test_points_on_the_same_two_way_street_go_straight_either_way(tmp_path):
    router = Router(graph.build_network(_square_town(tmp_path / "t.osm")))
    x, y = (LAT, LON + 0.001), (LAT, LON + 0.003)
    _assert_route(router.route([x, y]), hav(x, y))
    _assert_route(router.route([y, x]), hav(x, y))


def test_route_through_several_points_adds_up_its_legs(tmp_path):
    router = Router(graph.build_network(_square_town(tmp_path / "t.osm")))
    via = (LAT + 0.002, LON + 0.002)  # middle of the detour's northern side
    r = router.route([P, via, Q])
    _assert_route(r, polyline_m([P, A, C, via]) + polyline_m([via, D, B, Q]))
    assert len(r.legs) == 2
    assert sum(d for d, _ in r.legs) == pytest.approx(r.duration_s)
    feature = r.to_geojson()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    assert feature["properties"]["length_m"] == pytest.approx(r.length_m, abs=0.1)
    assert feature["geometry"]["coordinates"][0] == pytest.approx([P[1], P[0]], abs=1e-7)
    assert feature["geometry"]["coordinates"][-1] == pytest.approx([Q[1], Q[0]], abs=1e-7)


def test_route_by_distance_can_differ_from_route_by_time(tmp_path):
    # The short street is a slow living street; the detour is a fast primary road.
    path = _square_town(tmp_path / "t.osm")
    text = path.read_text()
    text = text.replace(
        'v="residential"/><tag k="name" v="Short"/>', 'v="living_street"/><tag k="name" v="Short"/>'
    )
    text = text.replace(
        'v="residential"/><tag k="name" v="Detour"/>', 'v="primary"/><tag k="name" v="Detour"/>'
    )
    path.write_text(text)
    router = Router(graph.build_network(path))
    by_distance = router.route([A, B], metric=Metric.DISTANCE)
    by_time = router.route([A, B], metric=Metric.TIME)
    short_m, detour_m = hav(A, B), polyline_m([A, C, D, B])
    living = graph.GREEK_URBAN_SPEEDS_KPH["living_street"] / 3.6
    primary = graph.GREEK_URBAN_SPEEDS_KPH["primary"] / 3.6
    assert detour_m / primary < short_m / living  # the premise of the test
    assert by_distance.length_m == pytest.approx(short_m, rel=1e-4)
    assert by_distance.duration_s == pytest.approx(short_m / living, rel=1e-3)
    assert by_time.length_m == pytest.approx(detour_m, rel=1e-4)
    assert by_time.duration_s == pytest.approx(detour_m / primary, rel=1e-3)


@HYPO
@given(data=st.data())
def test_vectorised_links_match_the_one_point_links(chania_router, data):
    """The matrix joins points to the graph in bulk; it must do exactly what a route does."""
    net = chania_router.net
    lat = st.floats(float(net.lat.min()), float(net.lat.max()))
    lon = st.floats(float(net.lon.min()), float(net.lon.max()))
    at_node = st.integers(0, net.n_nodes - 1).map(lambda i: (float(net.lat[i]), float(net.lon[i])))
    pts = data.draw(st.lists(st.one_of(st.tuples(lat, lon), at_node), min_size=1, max_size=6))
    vehicle = data.draw(st.sampled_from([None, TRUCK]))
    prof = chania_router._profile(vehicle)
    snaps = chania_router.snap_many(pts, vehicle=vehicle)
    w, o = net.time_ms, net.length_mm
    for leaving, one in ((True, chania_router._exits), (False, chania_router._entries)):
        node, cost, oth = chania_router._links(snaps, prof, w, o, leaving=leaving)
        for i, snap in enumerate(snaps):
            links = one(snap, prof, w) if snap.ok else []
            assert node[i].tolist() == [x.node for x in links] + [-1] * (2 - len(links))
            assert cost[i, : len(links)].tolist() == [x.cost for x in links]
            assert oth[i, : len(links)].tolist() == [x.rest(o) for x in links]


def test_twins_pair_each_two_way_stretch_with_its_reverse(chania_router):
    net, twin = chania_router.net, chania_router._twin
    has = np.flatnonzero(twin >= 0)
    assert len(has) > net.n_edges / 2  # most of Chania's streets are two-way
    assert np.array_equal(twin[twin[has]], has)  # one to one
    for e in has[:: max(1, len(has) // 200)]:
        t = twin[e]
        assert net.src[t] == net.dst[e] and net.dst[t] == net.src[e]
        assert np.array_equal(net.edge_coords(t), net.edge_coords(e)[::-1])
    one_way = np.flatnonzero(twin < 0)
    # a one-way stretch has no reverse edge along the same shape
    for e in one_way[:50]:
        back = [
            x
            for x in np.flatnonzero((net.src == net.dst[e]) & (net.dst == net.src[e]))
            if np.array_equal(net.edge_coords(x), net.edge_coords(e)[::-1])
        ]
        assert back == [] or all(twin[x] >= 0 and twin[x] != e for x in back)
