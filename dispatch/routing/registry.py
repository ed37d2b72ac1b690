"""One router per municipality, loaded once per process.

The Django side of routing: it reads where a municipality's OSM extract is and how to clip it,
and keeps the loaded :class:`Router` for the life of the process. The graph itself comes from the
on-disk cache (``settings.KINISI_GRAPH_DIR``), so a restarted process is routing again in well
under a second; only a new or changed extract pays for a build.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from shapely.geometry import shape

from dispatch.routing.network import Clip, load_network
from dispatch.routing.router import Router

logger = logging.getLogger(__name__)


class RoutingUnavailable(Exception):
    """The municipality has no usable road graph (no extract configured, missing or unreadable)."""


@dataclass(frozen=True)
class GraphSource:
    path: Path
    clip: Clip


def clip_for(municipality) -> Clip:
    """The area of a municipality's graph: its boundary polygon if set, and its bbox."""
    polygon = None
    if municipality.boundary:
        try:
            geojson = municipality.boundary
            if geojson.get("type") == "Feature":
                geojson = geojson["geometry"]
            polygon = shape(geojson)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A broken boundary must not take routing down; the bbox still clips.
            logger.warning(
                "routing.boundary_ignored municipality=%s error=%s", municipality.slug, exc
            )
    return Clip(bbox=municipality.bbox, polygon=polygon)


def source_for(municipality) -> GraphSource:
    """Where a municipality's road graph comes from: its OSM file, its boundary or bbox."""
    if not municipality.osm_file:
        raise RoutingUnavailable(f"municipality {municipality.slug} has no OSM extract configured")
    path = Path(municipality.osm_file)
    if not path.is_absolute():
        path = Path(settings.KINISI_OSM_DIR) / path
    return GraphSource(path=path, clip=clip_for(municipality))


_lock = threading.Lock()
_routers: dict[tuple, Router] = {}


def _key(source: GraphSource) -> tuple:
    stat = source.path.stat()
    # mtime and size catch a replaced extract without hashing it on every request; the loader
    # then checks the SHA-256 against the cache.
    return (str(source.path), stat.st_mtime_ns, stat.st_size, source.clip.key())


def router_for_source(source: GraphSource) -> Router:
    if not source.path.is_file():
        raise RoutingUnavailable(f"OSM extract not found: {source.path}")
    key = _key(source)
    router = _routers.get(key)
    if router is not None:
        return router
    with _lock:
        router = _routers.get(key)
        if router is None:
            try:
                net = load_network(source.path, source.clip, cache_dir=settings.KINISI_GRAPH_DIR)
            except Exception as exc:
                logger.exception("routing.graph_unavailable source=%s", source.path)
                raise RoutingUnavailable(f"cannot build the road graph: {exc}") from exc
            router = Router(net)
            # Drop routers of an older version of the same file and clip.
            for old in [k for k in _routers if k[0] == key[0] and k[3] == key[3]]:
                del _routers[old]
            _routers[key] = router
    return router


def router_for(municipality) -> Router:
    """The router of ``municipality``'s street network; raises :class:`RoutingUnavailable`."""
    return router_for_source(source_for(municipality))


def clear() -> None:
    """Forget every loaded router (tests, or after rebuilding graphs in this process)."""
    with _lock:
        _routers.clear()
