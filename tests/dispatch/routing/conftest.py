"""Fixtures for the routing tests: the Chania graph and tiny hand-made OSM files."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

REPO = Path(__file__).resolve().parents[3]
CHANIA = REPO / "data" / "osm" / "chania.osm.bz2"


def write_osm(
    path: Path,
    nodes: dict[int, tuple[float, float]],
    ways: list[tuple[int, list[int], dict[str, str]]],
) -> Path:
    """Write a minimal OSM XML file: nodes as id -> (lat, lon), ways as (id, node ids, tags)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lat, lon) in sorted(nodes.items()):
        lines.append(f'<node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for wid, refs, tags in ways:
        body = "".join(f'<nd ref="{r}"/>' for r in refs)
        body += "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        lines.append(f'<way id="{wid}" version="1">{body}</way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def chania_graph():
    """The OSMnx graph of the Chania extract (the reference for networkx cross-checks)."""
    from dispatch.routing import graph

    return graph.build_nx_graph(CHANIA)


@pytest.fixture(scope="session")
def chania_network(chania_graph):
    from dispatch.routing import graph

    return graph.graph_to_network(chania_graph)


@pytest.fixture(scope="session")
def chania_router(chania_network):
    from dispatch.routing.router import Router

    return Router(chania_network)
