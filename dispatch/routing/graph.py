"""Build the road graph from a local OpenStreetMap extract.

This is the only module that imports OSMnx. Nothing here downloads: the input is always a file on
disk (``.osm``, ``.osm.bz2`` or ``.osm.pbf``). The result is exported to the compact array form in
:mod:`dispatch.routing.network`, which the router works on and which is cached to disk.

Pipeline: pyosmium reads the file (any of the three formats) and keeps only the ways a municipal
vehicle can drive; they are written to a small OSM XML file that ``osmnx.graph_from_xml`` turns into
a graph (``graph_from_xml`` itself does not filter by network type, and the raw extracts carry
buildings and footways). Then: clip, largest strongly connected component, per-segment speeds and
restrictions, simplification, export.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import quoteattr

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
from shapely.geometry import LineString

from dispatch.routing.network import NO_LIMIT, Clip, RoadNetwork

logger = logging.getLogger(__name__)

# OSMnx's "drive_service" network type: its "drive" rules plus service roads (refuse trucks and
# utility vans use them), still excluding parking aisles, emergency access and private ways.
# Each rule is (tag, regex): the way is dropped when the tag is present and the regex matches
# anywhere in its value, which is how the Overpass filter OSMnx generates behaves (`!~` is an
# unanchored regex test). Copied as data from osmnx._overpass._get_network_filter; a test checks
# the two stay in step.
DRIVE_SERVICE_EXCLUDE: tuple[tuple[str, str], ...] = (
    ("area", "yes"),
    ("access", "private"),
    (
        "highway",
        "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|escalator|"
        "footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|rest_area|services|"
        "steps|track",
    ),
    ("motor_vehicle", "no"),
    ("motorcar", "no"),
    ("service", "emergency_access|parking|parking_aisle|private"),
)
_EXCLUDE_RE = tuple((tag, re.compile(pattern)) for tag, pattern in DRIVE_SERVICE_EXCLUDE)

# Way tags carried onto graph edges. The restriction tags are extra to OSMnx's defaults.
WAY_TAGS: tuple[str, ...] = (
    "highway",
    "name",
    "ref",
    "oneway",
    "junction",
    "maxspeed",
    "access",
    "service",
    "lanes",
    "maxweight",
    "maxheight",
    "hgv",
)

# Default speeds (km/h) where a way has no usable maxspeed, which is most of the Greek extracts.
# They are typical driving speeds in a Greek town rather than legal limits: the general limit
# inside built-up areas is 50 km/h, and narrow residential streets, living streets and service
# roads are driven well below it.
GREEK_URBAN_SPEEDS_KPH: dict[str, float] = {
    "motorway": 90.0,
    "motorway_link": 50.0,
    "trunk": 70.0,
    "trunk_link": 40.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 45.0,
    "secondary_link": 35.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "road": 30.0,
    "living_street": 15.0,
    "service": 15.0,
    "busway": 30.0,
}
FALLBACK_SPEED_KPH = 30.0

# EU vehicle categories N2/N3 (Directive 2007/46/EC): "heavy goods vehicle" means a maximum mass
# above 3.5 tonnes, which is what hgv=no closes a road to.
HGV_THRESHOLD_T = 3.5

_OSMNX_SETTINGS_LOCK = threading.Lock()


class GraphBuildError(Exception):
    """The OSM file cannot be turned into a usable road graph."""


def way_is_drivable(tags: dict[str, str]) -> bool:
    """OSMnx's drive_service rules for one way's tags."""
    if "highway" not in tags:
        return False
    for tag, regex in _EXCLUDE_RE:
        value = tags.get(tag)
        if value is not None and regex.search(value):
            return False
    return True


def write_drivable_xml(source: Path, dest: Path) -> tuple[int, int]:
    """Read ``source`` with pyosmium and write only its drivable ways (and their nodes) as OSM XML.

    Returns (number of nodes, number of ways) written.
    """
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    processor = osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY)
    processor = processor.with_locations()
    missing = 0
    for obj in processor:
        if not obj.is_way():
            continue
        tags = {t.k: t.v for t in obj.tags}
        if not way_is_drivable(tags):
            continue
        refs = []
        for nd in obj.nodes:
            loc = nd.location
            if not loc.valid():
                # Extracts cut at a bounding box keep ways whose outer nodes are missing.
                missing += 1
                continue
            nodes[nd.ref] = (loc.lat, loc.lon)
            refs.append(nd.ref)
        if len(refs) >= 2:
            ways.append((obj.id, refs, {k: tags[k] for k in WAY_TAGS if k in tags}))
    if missing:
        logger.info("routing.osm_missing_nodes source=%s count=%d", source.name, missing)
    with dest.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="kinisi">\n'
        )
        for node_id in sorted(nodes):
            lat, lon = nodes[node_id]
            out.write(f'<node id="{node_id}" lat="{lat:.7f}" lon="{lon:.7f}"/>\n')
        for way_id, refs, tags in ways:
            out.write(f'<way id="{way_id}">')
            out.writelines(f'<nd ref="{ref}"/>' for ref in refs)
            out.writelines(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            out.write("</way>\n")
        out.write("</osm>\n")
    return len(nodes), len(ways)


_NUMBER_RE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*([a-zA-Z]*)\s*$")
_FEET_INCHES_RE = re.compile(r"^\s*([0-9]+)\s*'\s*(?:([0-9]+(?:\.[0-9]+)?)\s*\")?\s*$")


def parse_maxweight(value: str | None) -> float:
    """OSM maxweight in tonnes; ``NO_LIMIT`` when absent or not a number we understand."""
    if not value:
        return NO_LIMIT
    m = _NUMBER_RE.match(value)
    if not m:
        logger.info("routing.tag_unparsed tag=maxweight value=%r", value)
        return NO_LIMIT
    number = float(m.group(1).replace(",", "."))
    unit = m.group(2).lower()
    if unit in ("", "t"):
        return number
    if unit == "kg":
        return number / 1000.0
    if unit in ("st",):  # short tons (US)
        return number * 0.90718474
    if unit in ("lbs", "lb"):
        return number * 0.00045359237
    logger.info("routing.tag_unparsed tag=maxweight value=%r", value)
    return NO_LIMIT


def parse_maxheight(value: str | None) -> float:
    """OSM maxheight in metres; ``NO_LIMIT`` when absent, "none"/"default" or not understood."""
    if not value:
        return NO_LIMIT
    m = _NUMBER_RE.match(value)
    if m:
        number = float(m.group(1).replace(",", "."))
        unit = m.group(2).lower()
        if unit in ("", "m"):
            return number
        if unit == "cm":
            return number / 100.0
        if unit == "ft":
            return number * 0.3048
    f = _FEET_INCHES_RE.match(value)
    if f:
        return int(f.group(1)) * 0.3048 + float(f.group(2) or 0) * 0.0254
    if value.strip() not in ("none", "default", "below_default", "no_sign", "no_indications"):
        logger.info("routing.tag_unparsed tag=maxheight value=%r", value)
    return NO_LIMIT


def _first(value: object) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return None if value is None else str(value)


def build_nx_graph(
    source: Path | str, clip: Clip | None = None, *, simplify: bool = True
) -> nx.MultiDiGraph:
    """The drivable, strongly connected, simplified OSMnx graph of ``source``.

    ``simplify=False`` keeps every OSM node (benchmarks use it for a larger graph).

    Edges carry OSMnx's ``length`` (m), ``speed_kph`` and ``travel_time`` (s), plus the integer
    weights the router uses (``travel_time_ms``, ``length_mm``) and the heavy vehicle limits
    (``maxweight_t``, ``maxheight_m``, ``hgv_no``).
    """
    source = Path(source)
    if not source.is_file():
        raise GraphBuildError(f"OSM file not found: {source}")
    clip = clip or Clip()
    with tempfile.TemporaryDirectory(prefix="kinisi-osm-") as tmp:
        xml_path = Path(tmp) / "drivable.osm"
        try:
            n_nodes, n_ways = write_drivable_xml(source, xml_path)
        except RuntimeError as exc:  # pyosmium reports unreadable files as RuntimeError
            raise GraphBuildError(f"cannot read OSM file {source}: {exc}") from exc
        if n_ways == 0:
            raise GraphBuildError(f"no drivable ways in {source}")
        logger.info("routing.osm_filtered source=%s nodes=%d ways=%d", source.name, n_nodes, n_ways)
        # OSMnx copies only the way tags listed in its (global) settings onto edges.
        with _OSMNX_SETTINGS_LOCK:
            saved = ox.settings.useful_tags_way
            ox.settings.useful_tags_way = list(WAY_TAGS)
            try:
                G = ox.graph_from_xml(
                    xml_path, bidirectional=False, simplify=False, retain_all=True
                )
            finally:
                ox.settings.useful_tags_way = saved

    if clip.bbox is not None:
        south, west, north, east = clip.bbox
        G = ox.truncate.truncate_graph_bbox(G, (west, south, east, north))
    if clip.polygon is not None:
        G = ox.truncate.truncate_graph_polygon(G, clip.polygon)
    if len(G) == 0:
        raise GraphBuildError(f"no road left in {source} after clipping to {clip.key()}")
    G = ox.truncate.largest_component(G, strongly=True)

    # Speeds and limits are set per OSM segment, before simplification, so that a simplified
    # edge's travel time is the sum over its segments.
    for _u, _v, data in G.edges(data=True):
        data["highway"] = _first(data.get("highway")) or "road"
        data["maxweight_t"] = parse_maxweight(_first(data.get("maxweight")))
        data["maxheight_m"] = parse_maxheight(_first(data.get("maxheight")))
        data["hgv_no"] = _first(data.get("hgv")) == "no"
    G = ox.routing.add_edge_speeds(
        G, hwy_speeds=GREEK_URBAN_SPEEDS_KPH, fallback=FALLBACK_SPEED_KPH
    )
    G = ox.routing.add_edge_travel_times(G)
    # A node is kept wherever the road class, name, speed or a limit changes, so every simplified
    # edge has one street name, one speed and one set of limits: a point snapped halfway along it
    # is then reached in exactly half its time, and a limit closes only the stretch it is signed
    # on.
    if simplify:
        G = ox.simplify_graph(
            G,
            edge_attrs_differ=[
                "highway",
                "name",
                "speed_kph",
                "maxweight_t",
                "maxheight_m",
                "hgv_no",
            ],
            edge_attr_aggs={"length": sum, "travel_time": sum},
        )
    for _u, _v, data in G.edges(data=True):
        for key in ("speed_kph", "maxweight_t", "maxheight_m", "hgv_no", "highway"):
            value = data[key]
            if isinstance(value, list):  # cannot happen with edge_attrs_differ; be safe
                data[key] = min(value) if key != "highway" else value[0]
        # Integer weights make every sum exact, so the router (whatever order it adds edges in)
        # and networkx agree to the last bit on the same graph.
        data["travel_time_ms"] = max(1, round(data["travel_time"] * 1000.0))
        data["length_mm"] = max(1, round(data["length"] * 1000.0))
    logger.info(
        "routing.graph_built source=%s nodes=%d edges=%d clip=%s",
        source.name,
        len(G),
        G.number_of_edges(),
        clip.key(),
    )
    return G


def _edge_coords(G: nx.MultiDiGraph, u: int, v: int, data: dict) -> np.ndarray:
    geom = data.get("geometry")
    if isinstance(geom, LineString):
        return np.asarray(geom.coords, dtype=np.float64)
    nu, nv = G.nodes[u], G.nodes[v]
    return np.array([[nu["x"], nu["y"]], [nv["x"], nv["y"]]], dtype=np.float64)


def _names(data: dict) -> str:
    names: Iterable[str]
    raw = data.get("name")
    if raw is None:
        ref = data.get("ref")
        raw = ref if ref is not None else ""
    names = raw if isinstance(raw, list) else [raw]
    # Keep the order OSMnx gives but drop repeats ("Odos A / Odos A").
    seen: list[str] = []
    for n in names:
        n = str(n)
        if n and n not in seen:
            seen.append(n)
    return " / ".join(seen)


def graph_to_network(
    G: nx.MultiDiGraph, *, source_sha256: str = "", clip_key: str = ""
) -> RoadNetwork:
    """Export an OSMnx graph (from :func:`build_nx_graph`) to the router's array form."""
    osm_ids = np.array(sorted(G.nodes), dtype=np.int64)
    index = {int(n): i for i, n in enumerate(osm_ids)}
    lon = np.array([G.nodes[n]["x"] for n in osm_ids], dtype=np.float64)
    lat = np.array([G.nodes[n]["y"] for n in osm_ids], dtype=np.float64)

    edges = sorted(G.edges(keys=True, data=True), key=lambda e: (index[e[0]], index[e[1]], e[2]))
    n_edges = len(edges)
    src = np.empty(n_edges, dtype=np.int32)
    dst = np.empty(n_edges, dtype=np.int32)
    keys = np.empty(n_edges, dtype=np.int32)
    time_ms = np.empty(n_edges, dtype=np.float64)
    length_mm = np.empty(n_edges, dtype=np.float64)
    maxweight = np.empty(n_edges, dtype=np.float32)
    maxheight = np.empty(n_edges, dtype=np.float32)
    hgv_no = np.empty(n_edges, dtype=bool)
    name_idx = np.empty(n_edges, dtype=np.int32)
    class_idx = np.empty(n_edges, dtype=np.int16)
    names: dict[str, int] = {}
    classes: dict[str, int] = {}
    coords: list[np.ndarray] = []
    geom_offsets = np.zeros(n_edges + 1, dtype=np.int64)
    for i, (u, v, k, data) in enumerate(edges):
        src[i], dst[i], keys[i] = index[u], index[v], k
        time_ms[i] = data["travel_time_ms"]
        length_mm[i] = data["length_mm"]
        maxweight[i] = data["maxweight_t"]
        maxheight[i] = data["maxheight_m"]
        hgv_no[i] = bool(data["hgv_no"])
        name_idx[i] = names.setdefault(_names(data), len(names))
        class_idx[i] = classes.setdefault(str(data["highway"]), len(classes))
        c = _edge_coords(G, u, v, data)
        coords.append(c)
        geom_offsets[i + 1] = geom_offsets[i] + len(c)
    return RoadNetwork(
        osm_ids=osm_ids,
        lon=lon,
        lat=lat,
        src=src,
        dst=dst,
        edge_key=keys,
        time_ms=time_ms,
        length_mm=length_mm,
        maxweight_t=maxweight,
        maxheight_m=maxheight,
        hgv_no=hgv_no,
        name_idx=name_idx,
        names=np.array(list(names), dtype=str),
        class_idx=class_idx,
        classes=np.array(list(classes), dtype=str),
        geom_offsets=geom_offsets,
        geom_coords=np.concatenate(coords) if coords else np.zeros((0, 2)),
        source_sha256=source_sha256,
        clip_key=clip_key,
    )


def build_network(
    source: Path | str, clip: Clip | None = None, *, source_sha256: str = ""
) -> RoadNetwork:
    """Build the array form of ``source`` (no cache; see :func:`network.load_network`)."""
    clip = clip or Clip()
    G = build_nx_graph(source, clip)
    return graph_to_network(G, source_sha256=source_sha256, clip_key=clip.key())


def network_to_nx(net: RoadNetwork) -> nx.MultiDiGraph:
    """A networkx graph with exactly the router's nodes, edges and weights (for cross-checks)."""
    G = nx.MultiDiGraph()
    for i in range(len(net.osm_ids)):
        G.add_node(i, x=float(net.lon[i]), y=float(net.lat[i]))
    for e in range(len(net.src)):
        G.add_edge(
            int(net.src[e]),
            int(net.dst[e]),
            key=int(net.edge_key[e]),
            travel_time_ms=float(net.time_ms[e]),
            length_mm=float(net.length_mm[e]),
        )
    return G


__all__ = [
    "Clip",
    "GraphBuildError",
    "build_network",
    "build_nx_graph",
    "graph_to_network",
    "network_to_nx",
    "parse_maxheight",
    "parse_maxweight",
    "way_is_drivable",
]
