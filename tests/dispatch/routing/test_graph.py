"""Building the road graph from OSM files: filtering, restrictions, formats and the cache."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import osmium
import osmnx as ox
import pytest

from dispatch.routing import graph
from dispatch.routing.network import Clip, RoadNetwork, load_network
from tests.dispatch.routing.conftest import CHANIA, write_osm

LAT, LON = 35.0, 24.0


def _square_town(path, extra_ways=()):
    """Two blocks: a direct street A-B and a detour A-C-D-B, with dead-end stubs W-A and B-E."""
    nodes = {
        1: (LAT, LON - 0.002),  # W
        2: (LAT, LON),  # A
        3: (LAT, LON + 0.004),  # B
        4: (LAT, LON + 0.006),  # E
        5: (LAT + 0.002, LON),  # C
        6: (LAT + 0.002, LON + 0.004),  # D
    }
    ways = [
        (10, [1, 2], {"highway": "residential", "name": "West"}),
        (11, [2, 3], {"highway": "residential", "name": "Short"}),
        (12, [2, 5, 6, 3], {"highway": "residential", "name": "Detour"}),
        (13, [3, 4], {"highway": "residential", "name": "East"}),
        *extra_ways,
    ]
    return write_osm(path, nodes, ways)


def test_drive_service_rules_match_osmnx_filter():
    # The rules are copied as data from OSMnx; this catches an OSMnx upgrade that changes them.
    flt = ox._overpass._get_network_filter("drive_service")
    theirs = {(k, v) for k, v in re.findall(r'\["([^"]+)"!~"([^"]+)"\]', flt)}
    assert theirs == set(graph.DRIVE_SERVICE_EXCLUDE)
    assert '["highway"]' in flt


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "residential"}, True),
        ({"highway": "service"}, True),
        ({"highway": "service", "service": "driveway"}, True),
        ({"highway": "service", "service": "parking_aisle"}, False),
        ({"highway": "footway"}, False),
        ({"highway": "pedestrian"}, False),
        ({"highway": "track"}, False),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "motor_vehicle": "no"}, False),
        ({"highway": "primary", "area": "yes"}, False),
        ({"building": "yes"}, False),
    ],
)
def test_way_is_drivable(tags, expected):
    assert graph.way_is_drivable(tags) is expected


@pytest.mark.parametrize(
    ("value", "tonnes"),
    [("3.5", 3.5), ("7.5 t", 7.5), ("12t", 12.0), ("3500 kg", 3.5), ("3,5", 3.5)],
)
def test_parse_maxweight(value, tonnes):
    assert graph.parse_maxweight(value) == pytest.approx(tonnes)


@pytest.mark.parametrize("value", [None, "", "unsigned", "5 elephants"])
def test_unparseable_maxweight_is_no_limit(value):
    assert math.isinf(graph.parse_maxweight(value))


@pytest.mark.parametrize(
    ("value", "metres"),
    [("3.2", 3.2), ("3.2 m", 3.2), ("11'6\"", 11 * 0.3048 + 6 * 0.0254), ("12'", 12 * 0.3048)],
)
def test_parse_maxheight(value, metres):
    assert graph.parse_maxheight(value) == pytest.approx(metres)


@pytest.mark.parametrize("value", [None, "default", "none", "below_default"])
def test_maxheight_without_a_number_is_no_limit(value):
    assert math.isinf(graph.parse_maxheight(value))


def test_chania_graph_keeps_only_drivable_roads_in_one_strong_component(chania_graph):
    import networkx as nx

    assert nx.is_strongly_connected(chania_graph)
    classes = {d["highway"] for _, _, d in chania_graph.edges(data=True)}
    assert "footway" not in classes and "pedestrian" not in classes
    assert "residential" in classes and "service" in classes
    # The extract's README: about 1,070 nodes once filtered to "drive" and simplified; service
    # roads add some.
    assert 1000 < len(chania_graph) < 2000


def test_speeds_default_to_greek_urban_values_when_maxspeed_is_missing(chania_graph):
    for _, _, d in chania_graph.edges(data=True):
        if d.get("maxspeed") is None:
            assert d["speed_kph"] == graph.GREEK_URBAN_SPEEDS_KPH[d["highway"]]
        # travel time follows from length and speed, to the millisecond
        assert d["travel_time_ms"] == pytest.approx(
            d["length"] / (d["speed_kph"] / 3.6) * 1000, abs=1
        )


def test_restrictions_are_kept_per_edge(tmp_path):
    path = tmp_path / "town.osm"
    _square_town(path)
    text = path.read_text().replace(
        '<tag k="name" v="Short"/>',
        '<tag k="name" v="Short"/><tag k="maxweight" v="3.5"/><tag k="maxheight" v="3.2"/>'
        '<tag k="hgv" v="no"/>',
    )
    path.write_text(text)
    net = graph.build_network(path)
    short = [e for e in range(net.n_edges) if net.edge_name(e) == "Short"]
    assert len(short) == 2  # both directions
    for e in short:
        assert net.maxweight_t[e] == pytest.approx(3.5)
        assert net.maxheight_m[e] == pytest.approx(3.2)
        assert net.hgv_no[e]
    others = [e for e in range(net.n_edges) if net.edge_name(e) != "Short"]
    assert all(math.isinf(net.maxweight_t[e]) and not net.hgv_no[e] for e in others)


def test_one_way_street_has_a_single_direction(tmp_path):
    path = _square_town(tmp_path / "town.osm")
    path.write_text(path.read_text().replace('v="Short"/>', 'v="Short"/><tag k="oneway" v="-1"/>'))
    net = graph.build_network(path)
    short = [e for e in range(net.n_edges) if net.edge_name(e) == "Short"]
    assert len(short) == 1
    # oneway=-1: only from B (east) to A (west)
    assert net.lon[net.src[short[0]]] > net.lon[net.dst[short[0]]]


def test_bbox_clip_keeps_only_the_inside(tmp_path):
    path = _square_town(tmp_path / "town.osm")
    # South, west, north, east: everything but the northern detour.
    net = graph.build_network(path, Clip(bbox=(LAT - 0.001, LON - 0.003, LAT + 0.001, LON + 0.007)))
    assert net.lat.max() < LAT + 0.001
    assert {net.edge_name(e) for e in range(net.n_edges)} == {"West", "Short", "East"}


def test_footways_and_buildings_are_dropped(tmp_path):
    path = _square_town(
        tmp_path / "town.osm",
        extra_ways=[
            (20, [5, 6], {"highway": "footway", "name": "Walk"}),
            (21, [2, 5, 6, 2], {"building": "yes"}),
        ],
    )
    net = graph.build_network(path)
    assert "Walk" not in {net.edge_name(e) for e in range(net.n_edges)}


def test_pbf_gives_the_same_network_as_xml(tmp_path):
    xml = _square_town(tmp_path / "town.osm")
    pbf = tmp_path / "town.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(xml)):
            writer.add(obj)
    a, b = graph.build_network(xml), graph.build_network(pbf)
    assert np.array_equal(a.osm_ids, b.osm_ids)
    assert np.array_equal(a.src, b.src) and np.array_equal(a.dst, b.dst)
    assert np.array_equal(a.time_ms, b.time_ms)
    assert np.allclose(a.geom_coords, b.geom_coords, atol=1e-7)


def test_missing_or_empty_file_is_a_clear_error(tmp_path):
    with pytest.raises(graph.GraphBuildError, match="not found"):
        graph.build_network(tmp_path / "nope.osm")
    empty = write_osm(tmp_path / "empty.osm", {1: (LAT, LON)}, [])
    with pytest.raises(graph.GraphBuildError, match="no drivable ways"):
        graph.build_network(empty)


def test_cache_is_reused_and_rebuilt_when_the_extract_changes(tmp_path, caplog):
    source = _square_town(tmp_path / "town.osm")
    cache = tmp_path / "cache"
    caplog.set_level(logging.INFO, logger="dispatch.routing.network")

    first = load_network(source, cache_dir=cache)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    assert any("routing.cache_built" in r.getMessage() for r in caplog.records)
    mtime = files[0].stat().st_mtime_ns

    caplog.clear()
    again = load_network(source, cache_dir=cache)
    assert any("routing.cache_hit" in r.getMessage() for r in caplog.records)
    assert not any("routing.cache_built" in r.getMessage() for r in caplog.records)
    assert files[0].stat().st_mtime_ns == mtime
    for name in ("src", "dst", "time_ms", "length_mm", "geom_coords", "names"):
        assert np.array_equal(getattr(first, name), getattr(again, name))

    # The extract changes: one more street. The old cache must not be used, and is removed.
    _square_town(
        source,
        extra_ways=[(14, [4, 6], {"highway": "residential", "name": "New"})],
    )
    caplog.clear()
    changed = load_network(source, cache_dir=cache)
    assert any("routing.cache_built" in r.getMessage() for r in caplog.records)
    assert "New" in {changed.edge_name(e) for e in range(changed.n_edges)}
    assert [p.name for p in cache.glob("*.npz")] != [files[0].name]
    assert len(list(cache.glob("*.npz"))) == 1


def test_a_different_clip_is_a_different_cache_entry(tmp_path):
    source = _square_town(tmp_path / "town.osm")
    cache = tmp_path / "cache"
    full = load_network(source, cache_dir=cache)
    clipped = load_network(
        source, Clip(bbox=(LAT - 0.001, LON - 0.003, LAT + 0.001, LON + 0.007)), cache_dir=cache
    )
    assert clipped.n_edges < full.n_edges
    assert len(list(cache.glob("*.npz"))) == 2


def test_corrupt_cache_file_is_rebuilt(tmp_path):
    source = _square_town(tmp_path / "town.osm")
    cache = tmp_path / "cache"
    load_network(source, cache_dir=cache)
    (path,) = cache.glob("*.npz")
    path.write_bytes(b"not a zip file")
    net = load_network(source, cache_dir=cache)
    assert net.n_edges > 0
    assert RoadNetwork.load(path).n_edges == net.n_edges


def test_chania_cache_round_trip(tmp_path, chania_network):
    path = tmp_path / "c.npz"
    chania_network.save(path)
    loaded = RoadNetwork.load(path)
    assert loaded.n_nodes == chania_network.n_nodes
    assert np.array_equal(loaded.names, chania_network.names)
    assert loaded.edge_name(0) == chania_network.edge_name(0)
    assert CHANIA.is_file()


def test_polygon_clip_keeps_only_the_inside(tmp_path):
    from shapely.geometry import box

    path = _square_town(tmp_path / "town.osm")
    # The same area as the bbox test, as a boundary polygon (lon/lat).
    polygon = box(LON - 0.003, LAT - 0.001, LON + 0.007, LAT + 0.001)
    net = graph.build_network(path, Clip(polygon=polygon))
    assert net.lat.max() < LAT + 0.001
    assert {net.edge_name(e) for e in range(net.n_edges)} == {"West", "Short", "East"}
