"""Exact shortest routes and matrices on the road network's array form.

Pure module: numpy, scipy and shapely only (no OSMnx, no Django). Weights are the network's
integer milliseconds and millimetres, so every total is exact whatever order edges are added in.

Points are snapped onto the nearest point *on* a drivable road (not the nearest junction); a
route leaves the origin along the part of its road that lies ahead, in each direction the road
may be driven, and reaches the destination the same way. Problems come back as results with
``ok=False`` and a ``reason``, never as exceptions: ``invalid_coordinates``,
``outside_network`` (farther than ``max_snap_m`` from any road open to the vehicle), ``no_route``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from dispatch.routing.core import DEFAULT_MAX_TABLE_NODES, CoreEngine
from dispatch.routing.network import RoadNetwork

logger = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8
DEFAULT_MAX_SNAP_M = 500.0
AT_JUNCTION_M = 0.01


class Metric(StrEnum):
    TIME = "time"
    DISTANCE = "distance"


class Reason(StrEnum):
    INVALID_COORDINATES = "invalid_coordinates"
    OUTSIDE_NETWORK = "outside_network"
    NO_ROUTE = "no_route"
    TOO_FEW_POINTS = "too_few_points"


@dataclass(frozen=True)
class Vehicle:
    """What closes roads to a vehicle: its actual weight (tonnes) and height (metres).

    A road is closed when ``maxweight`` is below the weight, ``maxheight`` below the height, or
    ``hgv=no`` and the vehicle is a heavy goods vehicle (over 3.5 t).
    """

    weight_t: float = 0.0
    height_m: float = 0.0


CAR = Vehicle()
HGV_THRESHOLD_T = 3.5


@dataclass(frozen=True)
class Snap:
    """Where a requested point meets the road network."""

    lat: float
    lon: float
    ok: bool
    reason: str = ""
    edge: int = -1  # the road stretch (directed edge id) the point lies on
    fraction: float = 0.0  # position along that edge, 0 at its start, 1 at its end
    road_lat: float = math.nan
    road_lon: float = math.nan
    distance_m: float = math.nan  # from the requested point to the road
    street: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"lat": self.lat, "lon": self.lon, "ok": self.ok}
        if self.ok:
            data.update(
                road_lat=self.road_lat,
                road_lon=self.road_lon,
                distance_m=round(self.distance_m, 1),
                street=self.street,
            )
        else:
            data["reason"] = self.reason
        return data


@dataclass(frozen=True)
class Route:
    """A route through two or more points; ``ok=False`` with a ``reason`` when there is none."""

    ok: bool
    reason: str = ""
    duration_s: float = math.nan
    length_m: float = math.nan
    coordinates: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # lon, lat
    edges: tuple[int, ...] = ()
    snaps: tuple[Snap, ...] = ()
    legs: tuple[tuple[float, float], ...] = ()  # (duration_s, length_m) per leg

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Feature (LineString) with length and duration; geometry null when not ok."""
        props: dict[str, Any] = {
            "ok": self.ok,
            "points": [s.as_dict() for s in self.snaps],
        }
        geometry = None
        if self.ok:
            props.update(
                duration_s=round(self.duration_s, 1),
                length_m=round(self.length_m, 1),
                legs=[{"duration_s": round(d, 1), "length_m": round(m, 1)} for d, m in self.legs],
            )
            geometry = {
                "type": "LineString",
                "coordinates": [[round(x, 7), round(y, 7)] for x, y in self.coordinates.tolist()],
            }
        else:
            props["reason"] = self.reason
        return {"type": "Feature", "geometry": geometry, "properties": props}


@dataclass(frozen=True)
class Matrix:
    """Durations (s) and lengths (m) of the best route from each origin to each destination,
    by the metric asked for; NaN where a point is unusable or there is no route."""

    durations_s: np.ndarray
    lengths_m: np.ndarray
    origins: tuple[Snap, ...]
    destinations: tuple[Snap, ...]
    metric: Metric


@dataclass(frozen=True)
class _Link:
    """How a snapped point joins a junction: over the stretch of ``edge`` between fractions
    ``start`` and ``end`` (edge -1: the point is at the junction itself)."""

    node: int
    cost: float
    edge: int
    start: float = 0.0
    end: float = 0.0

    def rest(self, weight: np.ndarray) -> float:
        """The share of this edge's ``weight`` that the link covers."""
        return 0.0 if self.edge < 0 else (self.end - self.start) * float(weight[self.edge])


def _cheapest_per_node(links: list[_Link]) -> list[_Link]:
    best: dict[int, _Link] = {}
    for link in links:
        if link.node not in best or link.cost < best[link.node].cost:
            best[link.node] = link
    return list(best.values())


# --- node-to-node engines ---------------------------------------------------------------------


class DijkstraEngine:
    """Exact node-to-node shortest paths with scipy's Dijkstra on a CSR matrix.

    Parallel edges are reduced to the cheapest open one, since a CSR matrix holds one entry per
    (row, column); ``entry_edge`` remembers which edge that was, to rebuild paths.
    """

    def __init__(self, net: RoadNetwork, weight: np.ndarray, open_mask: np.ndarray) -> None:
        n = net.n_nodes
        edges = np.flatnonzero(open_mask)
        # Sort by (src, dst, weight) so the first edge of each (src, dst) run is the cheapest.
        order = np.lexsort((weight[edges], net.dst[edges], net.src[edges]))
        edges = edges[order]
        pair = net.src[edges].astype(np.int64) * n + net.dst[edges]
        first = np.ones(len(edges), dtype=bool)
        first[1:] = pair[1:] != pair[:-1]
        edges = edges[first]
        self.n = n
        self.entry_edge = edges
        self.pair_key = pair[first]  # sorted, to look edges up from (u, v)
        self.csr = csr_matrix(
            (weight[edges], (net.src[edges], net.dst[edges])), shape=(n, n), dtype=np.float64
        )
        self.csr.sort_indices()

    def table(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        if len(sources) == 0 or len(targets) == 0:
            return np.full((len(sources), len(targets)), np.inf)
        dist = dijkstra(self.csr, directed=True, indices=sources)
        return dist[:, targets]

    def path_edges(self, source: int, target: int) -> np.ndarray | None:
        if source == target:
            return np.zeros(0, dtype=np.int64)
        dist, pred = dijkstra(self.csr, directed=True, indices=source, return_predecessors=True)
        if not np.isfinite(dist[target]):
            return None
        nodes = [target]
        node = target
        while node != source:
            node = pred[node]
            nodes.append(node)
        nodes.reverse()
        return self.edges_between(np.asarray(nodes, dtype=np.int64))

    def edges_between(self, nodes: np.ndarray) -> np.ndarray:
        """Edge ids along a node path."""
        return self.edges_between_pairs(nodes[:-1], nodes[1:])

    def edges_between_pairs(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        keys = u.astype(np.int64) * self.n + v
        return self.entry_edge[np.searchsorted(self.pair_key, keys)]


# --- geometry helpers -------------------------------------------------------------------------


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


@dataclass
class _Profile:
    """Everything that depends on which roads are open: built once per distinct closure set."""

    open_mask: np.ndarray
    snap_edges: np.ndarray  # canonical edges with at least one open direction
    tree: shapely.STRtree
    engines: dict[Metric, DijkstraEngine] = field(default_factory=dict)
    cores: dict[Metric, CoreEngine] = field(default_factory=dict)


class Router:
    """Routes, matrices and snapping on one :class:`RoadNetwork`. Thread-safe for queries."""

    def __init__(
        self,
        net: RoadNetwork,
        *,
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
        max_table_nodes: int = DEFAULT_MAX_TABLE_NODES,
    ) -> None:
        self.net = net
        self.max_snap_m = max_snap_m
        self.max_table_nodes = max_table_nodes
        self._lock = threading.Lock()
        self._profiles: dict[bytes, _Profile] = {}
        self._by_vehicle: dict[Vehicle | None, _Profile] = {}
        self._weights = {Metric.TIME: net.time_ms, Metric.DISTANCE: net.length_mm}
        # Local equirectangular projection (metres) for snapping: at municipal scale its error
        # is far below GPS noise, and it keeps the nearest-point search in plain planar maths.
        self.lat0 = float(np.mean(net.lat)) if net.n_nodes else 0.0
        self.lon0 = float(np.mean(net.lon)) if net.n_nodes else 0.0
        self._kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))
        self._ky = math.radians(1) * EARTH_RADIUS_M
        xy = self._project(net.geom_coords[:, 1], net.geom_coords[:, 0])
        self._xy = xy
        self._twin = self._find_twins()
        names = net.names.tolist()
        self.edge_names: list[str] = [names[i] for i in net.name_idx.tolist()]
        e = np.arange(net.n_edges)
        self._canonical = (self._twin < 0) | (e < self._twin)
        # Cumulative planar length along each edge's shape, for cutting partial edges.
        seg = np.hypot(*np.diff(xy, axis=0).T)
        starts = net.geom_offsets[:-1]
        seg[net.geom_offsets[1:-1] - 1] = 0.0  # no segment across an edge boundary
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        self._cum = cum - np.repeat(cum[starts], np.diff(net.geom_offsets))
        self._lines = shapely.linestrings(xy, indices=np.repeat(e, np.diff(net.geom_offsets)))

    # -- set-up --

    def _project(self, lat: Any, lon: Any) -> np.ndarray:
        x = (np.asarray(lon, dtype=np.float64) - self.lon0) * self._kx
        y = (np.asarray(lat, dtype=np.float64) - self.lat0) * self._ky
        return np.column_stack([x, y])

    def _find_twins(self) -> np.ndarray:
        """For each edge, the opposite direction of the same two-way road (-1 for one-ways).

        A twin runs between the same junctions the other way along exactly the reversed shape.
        Vectorised: candidates are found by sorted (src, dst) keys, shapes compared in bulk.
        """
        net = self.net
        n_e = net.n_edges
        twin = np.full(n_e, -1, dtype=np.int64)
        if n_e == 0:
            return twin
        n = max(net.n_nodes, 1)
        key = net.src.astype(np.int64) * n + net.dst
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        rev = net.dst.astype(np.int64) * n + net.src
        lo = np.searchsorted(sorted_key, rev, side="left")
        hi = np.searchsorted(sorted_key, rev, side="right")
        count = hi - lo
        npts = np.diff(net.geom_offsets)
        # The common case: exactly one edge the other way; compare its shape reversed.
        e1 = np.flatnonzero(count == 1)
        e2 = order[lo[e1]]
        # Only mutual single candidates here, so the pairing is one to one.
        same_len = (npts[e1] == npts[e2]) & (e1 != e2) & (count[e2] == 1)
        e1, e2 = e1[same_len], e2[same_len]
        if len(e1):
            lengths = npts[e1]
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            within = np.arange(lengths.sum()) - np.repeat(starts, lengths)
            fwd = np.repeat(net.geom_offsets[e2], lengths) + within
            back = np.repeat(net.geom_offsets[e1] + lengths - 1, lengths) - within
            equal = (net.geom_coords[fwd] == net.geom_coords[back]).all(axis=1)
            matched = np.logical_and.reduceat(equal, starts)
            twin[e1[matched]] = e2[matched]
        # Parallel edges (two ways over the same nodes; rare): pair them up one to one.
        for e in np.flatnonzero((count >= 1) & (twin < 0)).tolist():
            if twin[e] >= 0:
                continue
            mine = net.edge_coords(e)[::-1]
            for other in order[lo[e] : hi[e]].tolist():
                if other != e and twin[other] < 0 and np.array_equal(net.edge_coords(other), mine):
                    twin[e], twin[other] = other, e
                    break
        return twin

    def prepare(
        self, vehicle: Vehicle | None = None, metrics: Sequence[Metric] = (Metric.TIME,)
    ) -> str:
        """Do the per-profile precomputation now rather than on the first query; says what."""
        prof = self._profile(vehicle)
        done = []
        for metric in metrics:
            core = self._core(prof, Metric(metric))
            table = core.build_table()
            done.append(
                f"{metric}: core of {core.n_core:,} junctions"
                + (", all-pairs table" if table else ", searched per query")
            )
        return "; ".join(done)

    def drawn_edges(self) -> np.ndarray:
        """One edge per street stretch: both directions of a two-way street count once."""
        return np.flatnonzero(self._canonical)

    def is_one_way(self, edge: int) -> bool:
        return bool(self._twin[edge] < 0)

    def open_mask(self, vehicle: Vehicle | None) -> np.ndarray:
        net = self.net
        if vehicle is None or (vehicle.weight_t <= 0 and vehicle.height_m <= 0):
            return np.ones(net.n_edges, dtype=bool)
        closed = np.zeros(net.n_edges, dtype=bool)
        if vehicle.weight_t > 0:
            closed |= net.maxweight_t < vehicle.weight_t
            if vehicle.weight_t > HGV_THRESHOLD_T:
                closed |= net.hgv_no
        if vehicle.height_m > 0:
            closed |= net.maxheight_m < vehicle.height_m
        return ~closed

    def _profile(self, vehicle: Vehicle | None) -> _Profile:
        prof = self._by_vehicle.get(vehicle)
        if prof is None:
            prof = self._profile_for_mask(self.open_mask(vehicle))
            if len(self._by_vehicle) > 256:  # weights come from requests: keep this bounded
                self._by_vehicle.clear()
            self._by_vehicle[vehicle] = prof
        return prof

    def _profile_for_mask(self, mask: np.ndarray) -> _Profile:
        """Vehicles that close the same roads share one profile."""
        key = np.packbits(mask).tobytes()
        prof = self._profiles.get(key)
        if prof is not None:
            return prof
        with self._lock:
            prof = self._profiles.get(key)
            if prof is None:
                usable = mask | (self._twin >= 0) & mask[np.maximum(self._twin, 0)]
                snap_edges = np.flatnonzero(self._canonical & usable)
                prof = _Profile(
                    open_mask=mask,
                    snap_edges=snap_edges,
                    tree=shapely.STRtree(self._lines[snap_edges]),
                )
                self._profiles[key] = prof
                logger.info("routing.profile_ready closed_edges=%d", int((~mask).sum()))
        return prof

    def _engine(self, prof: _Profile, metric: Metric) -> DijkstraEngine:
        engine = prof.engines.get(metric)
        if engine is None:
            engine = DijkstraEngine(self.net, self._weights[metric], prof.open_mask)
            prof.engines[metric] = engine
        return engine

    def _core(self, prof: _Profile, metric: Metric) -> CoreEngine:
        core = prof.cores.get(metric)
        if core is None:
            with self._lock:
                core = prof.cores.get(metric)
                if core is None:
                    other = Metric.DISTANCE if metric == Metric.TIME else Metric.TIME
                    core = CoreEngine(
                        self.net.n_nodes,
                        self.net.src,
                        self.net.dst,
                        self._weights[metric],
                        self._weights[other],
                        prof.open_mask,
                        max_table_nodes=self.max_table_nodes,
                    )
                    prof.cores[metric] = core
                    logger.info(
                        "routing.core_ready metric=%s nodes=%d core=%d ms=%.0f",
                        metric,
                        self.net.n_nodes,
                        core.n_core,
                        core.setup_s * 1000,
                    )
        return core

    # -- snapping --

    def snap(
        self,
        lat: float,
        lon: float,
        *,
        vehicle: Vehicle | None = None,
        max_snap_m: float | None = None,
    ) -> Snap:
        """The nearest point on a road open to ``vehicle``, or a Snap with ``ok=False``."""
        return self.snap_many([(lat, lon)], vehicle=vehicle, max_snap_m=max_snap_m)[0]

    def snap_many(
        self,
        points: Sequence[tuple[float, float]],
        *,
        vehicle: Vehicle | None = None,
        max_snap_m: float | None = None,
    ) -> list[Snap]:
        """Snap (lat, lon) points; vectorised, for matrices of hundreds of points."""
        limit = self.max_snap_m if max_snap_m is None else max_snap_m
        prof = self._profile(vehicle)
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        valid = (
            np.isfinite(pts).all(axis=1) & (np.abs(pts[:, 0]) <= 90) & (np.abs(pts[:, 1]) <= 180)
        )
        results: list[Snap | None] = [None] * len(pts)
        for i in np.flatnonzero(~valid):
            lat, lon = pts[i]
            logger.info("routing.snap_rejected reason=invalid_coordinates lat=%s lon=%s", lat, lon)
            results[i] = Snap(float(lat), float(lon), ok=False, reason=Reason.INVALID_COORDINATES)
        vi = np.flatnonzero(valid)
        if len(vi) and len(prof.snap_edges):
            xy = self._project(pts[vi, 0], pts[vi, 1])
            geoms = shapely.points(xy)
            # No max_distance: shapely's nearest search is faster without one here, and the
            # exact (haversine) distance to the road is checked against the limit below.
            (qi, ti), _ = self.tree_query(prof, geoms)
            hit_point = np.full(len(vi), -1, dtype=np.int64)
            hit_point[qi] = ti  # with all_matches=False each query has at most one hit
            for j, i in enumerate(vi):
                lat, lon = float(pts[i, 0]), float(pts[i, 1])
                if hit_point[j] < 0:
                    results[i] = Snap(lat, lon, ok=False, reason=Reason.OUTSIDE_NETWORK)
            hit = np.flatnonzero(hit_point >= 0)
            if len(hit):
                edges = prof.snap_edges[hit_point[hit]]
                lines = self._lines[edges]
                frac = shapely.line_locate_point(lines, geoms[hit], normalized=True)
                frac = np.nan_to_num(frac, nan=0.0)
                on_road = self._point_at(edges, frac)
                dist = haversine_m(pts[vi[hit], 0], pts[vi[hit], 1], on_road[:, 1], on_road[:, 0])
                for k, j in enumerate(hit):
                    i = vi[j]
                    lat, lon = float(pts[i, 0]), float(pts[i, 1])
                    if dist[k] > limit:
                        results[i] = Snap(lat, lon, ok=False, reason=Reason.OUTSIDE_NETWORK)
                        continue
                    e = int(edges[k])
                    results[i] = Snap(
                        lat,
                        lon,
                        ok=True,
                        edge=e,
                        fraction=float(frac[k]),
                        road_lat=float(on_road[k, 1]),
                        road_lon=float(on_road[k, 0]),
                        distance_m=float(dist[k]),
                        street=self.edge_names[e],
                    )
        for i, r in enumerate(results):
            if r is None:
                lat, lon = float(pts[i, 0]), float(pts[i, 1])
                results[i] = Snap(lat, lon, ok=False, reason=Reason.OUTSIDE_NETWORK)
        for r in results:
            if r is not None and not r.ok and r.reason == Reason.OUTSIDE_NETWORK:
                logger.info(
                    "routing.snap_rejected reason=outside_network lat=%s lon=%s", r.lat, r.lon
                )
        return results  # type: ignore[return-value]

    @staticmethod
    def tree_query(prof: _Profile, geoms: np.ndarray) -> Any:
        return prof.tree.query_nearest(geoms, return_distance=True, all_matches=False)

    def _point_at(self, edges: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """lon/lat of the point at ``frac`` (of planar length) along each edge."""
        xy = shapely.get_coordinates(
            shapely.line_interpolate_point(self._lines[edges], frac, normalized=True)
        )
        # The projection is affine, so this is the same point _cut() interpolates in lon/lat.
        return np.column_stack([xy[:, 0] / self._kx + self.lon0, xy[:, 1] / self._ky + self.lat0])

    def _cut(self, edge: int, a: float, b: float) -> np.ndarray:
        """lon/lat coordinates of ``edge`` between fractions ``a`` <= ``b`` of its length."""
        lo, hi = self.net.geom_offsets[edge], self.net.geom_offsets[edge + 1]
        cum = self._cum[lo:hi]
        coords = self.net.geom_coords[lo:hi]
        total = cum[-1]
        if total <= 0:
            return coords[:1].copy() if a == b else coords.copy()
        da, db = a * total, b * total

        def at(d: float) -> tuple[int, np.ndarray]:
            i = int(np.searchsorted(cum, d, side="right")) - 1
            i = min(max(i, 0), len(cum) - 2)
            seg = cum[i + 1] - cum[i]
            t = 0.0 if seg <= 0 else (d - cum[i]) / seg
            return i, coords[i] + (coords[i + 1] - coords[i]) * t

        ia, pa = at(da)
        ib, pb = at(db)
        if a == b:
            return pa[None, :]
        middle = coords[ia + 1 : ib + 1]
        return np.vstack([pa, middle, pb])

    # -- how a snapped point joins the graph --

    def _at_end(self, edge: int, fraction: float) -> tuple[bool, bool]:
        """Whether a point at ``fraction`` along ``edge`` is at its start / end junction.

        A point given at a junction's own coordinates lands a hair's breadth from it after
        projection; on a one-way street it must still be able to leave from that junction.
        """
        length = self._cum[self.net.geom_offsets[edge + 1] - 1]
        return fraction * length <= AT_JUNCTION_M, (1.0 - fraction) * length <= AT_JUNCTION_M

    def _exits(self, snap: Snap, prof: _Profile, weight: np.ndarray) -> list[_Link]:
        """The ways to leave a snapped point, at most one per junction reached."""
        net, e, f = self.net, snap.edge, snap.fraction
        out: list[_Link] = []
        if prof.open_mask[e]:
            out.append(_Link(int(net.dst[e]), (1.0 - f) * weight[e], e, f, 1.0))
        t = int(self._twin[e])
        if t >= 0 and prof.open_mask[t]:
            out.append(_Link(int(net.dst[t]), f * weight[t], t, 1.0 - f, 1.0))
        at_start, at_end = self._at_end(e, f)
        if at_start:
            out.append(_Link(int(net.src[e]), 0.0, -1))
        if at_end:
            out.append(_Link(int(net.dst[e]), 0.0, -1))
        return _cheapest_per_node(out)

    def _entries(self, snap: Snap, prof: _Profile, weight: np.ndarray) -> list[_Link]:
        """The ways to arrive at a snapped point, at most one per junction left from."""
        net, e, f = self.net, snap.edge, snap.fraction
        out: list[_Link] = []
        if prof.open_mask[e]:
            out.append(_Link(int(net.src[e]), f * weight[e], e, 0.0, f))
        t = int(self._twin[e])
        if t >= 0 and prof.open_mask[t]:
            out.append(_Link(int(net.src[t]), (1.0 - f) * weight[t], t, 0.0, 1.0 - f))
        at_start, at_end = self._at_end(e, f)
        if at_start:
            out.append(_Link(int(net.src[e]), 0.0, -1))
        if at_end:
            out.append(_Link(int(net.dst[e]), 0.0, -1))
        return _cheapest_per_node(out)

    def _links(
        self,
        snaps: Sequence[Snap],
        prof: _Profile,
        weight: np.ndarray,
        other: np.ndarray,
        *,
        leaving: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_exits` (``leaving``) or :meth:`_entries` for many snaps at once, as
        (node, cost, other weight) arrays of shape (n, 2); node -1 and cost inf mark no link.
        Same links, same order, same ties as the one-snap methods."""
        n = len(snaps)
        node = np.full((n, 2), -1, dtype=np.int64)
        cost = np.full((n, 2), np.inf)
        oth = np.zeros((n, 2))
        ok = np.array([s.ok for s in snaps], dtype=bool)
        idx = np.flatnonzero(ok)
        if len(idx) == 0:
            return node, cost, oth
        e = np.array([snaps[i].edge for i in idx], dtype=np.int64)
        f = np.array([snaps[i].fraction for i in idx])
        net = self.net
        twin = self._twin[e]
        has_twin = twin >= 0
        t = np.where(has_twin, twin, 0)
        length = self._cum[net.geom_offsets[e + 1] - 1]
        at_start = f * length <= AT_JUNCTION_M
        at_end = (1.0 - f) * length <= AT_JUNCTION_M
        c0 = prof.open_mask[e]  # along the edge itself
        c1 = has_twin & prof.open_mask[t]  # along its other direction
        share_e = (1.0 - f) if leaving else f  # share of the edge covered, either direction
        share_t = f if leaving else (1.0 - f)
        # Two candidate junctions: "a" is reached along the edge (its end when leaving, its
        # start when arriving), "b" along the twin; a point at a junction links there for free.
        a_node = net.dst[e] if leaving else net.src[e]
        b_node = net.src[e] if leaving else net.dst[e]
        a_free = at_end if leaving else at_start
        b_free = at_start if leaving else at_end
        a_cost = np.where(c0, share_e * weight[e], np.inf)
        a_oth = np.where(c0, share_e * other[e], 0.0)
        free = a_free & (a_cost > 0.0)
        a_cost, a_oth = np.where(free, 0.0, a_cost), np.where(free, 0.0, a_oth)
        b_cost = np.where(c1, share_t * weight[t], np.inf)
        # _Link.rest computes the twin's share as end - start = 1 - (1 - f): same float here.
        rest_t = (1.0 - (1.0 - f)) if leaving else share_t
        b_oth = np.where(c1, rest_t * other[t], 0.0)
        free = b_free & (b_cost > 0.0)
        b_cost, b_oth = np.where(free, 0.0, b_cost), np.where(free, 0.0, b_oth)
        # Order of first appearance in _exits/_entries, which decides ties downstream.
        only_a_free = (~c1 & ~at_start & at_end) if leaving else (~c1 & at_start)
        a_first = c0 | only_a_free
        a_ok, b_ok = np.isfinite(a_cost), np.isfinite(b_cost)
        same = a_node == b_node  # a loop edge: one junction, keep the cheaper link
        merge_b = same & b_ok & (~a_ok | (b_cost < a_cost))
        a_cost = np.where(merge_b, b_cost, a_cost)
        a_oth = np.where(merge_b, b_oth, a_oth)
        a_ok = a_ok | merge_b
        b_ok = b_ok & ~same
        first_node = np.where(a_first, a_node, b_node)
        first_cost = np.where(a_first, a_cost, b_cost)
        first_oth = np.where(a_first, a_oth, b_oth)
        first_ok = np.where(a_first, a_ok, b_ok)
        second_node = np.where(a_first, b_node, a_node)
        second_cost = np.where(a_first, b_cost, a_cost)
        second_oth = np.where(a_first, b_oth, a_oth)
        second_ok = np.where(a_first, b_ok, a_ok)
        # Compact: a missing first link lets the second move into slot 0.
        slot0_node = np.where(first_ok, first_node, np.where(second_ok, second_node, -1))
        slot0_cost = np.where(first_ok, first_cost, np.where(second_ok, second_cost, np.inf))
        slot0_oth = np.where(first_ok, first_oth, np.where(second_ok, second_oth, 0.0))
        both = first_ok & second_ok
        node[idx, 0], cost[idx, 0], oth[idx, 0] = slot0_node, slot0_cost, slot0_oth
        node[idx, 1] = np.where(both, second_node, -1)
        cost[idx, 1] = np.where(both, second_cost, np.inf)
        oth[idx, 1] = np.where(both, second_oth, 0.0)
        return node, cost, oth

    def _direct(
        self, a: Snap, b: Snap, prof: _Profile, weight: np.ndarray
    ) -> tuple[float, int, float, float]:
        """Driving straight from ``a`` to ``b`` along the one road they share, if possible:
        (cost, edge, from fraction, to fraction) with fractions along that edge."""
        best = (math.inf, -1, 0.0, 0.0)
        if a.edge != b.edge:
            return best
        e, fa, fb = a.edge, a.fraction, b.fraction
        if prof.open_mask[e] and fb >= fa:
            best = ((fb - fa) * weight[e], e, fa, fb)
        t = int(self._twin[e])
        if t >= 0 and prof.open_mask[t] and fb <= fa:
            cost = (fa - fb) * weight[t]
            if cost < best[0]:
                best = (cost, t, 1.0 - fa, 1.0 - fb)
        return best

    # -- queries --

    def route(
        self,
        points: Sequence[tuple[float, float]],
        *,
        metric: Metric | str = Metric.TIME,
        vehicle: Vehicle | None = None,
        max_snap_m: float | None = None,
    ) -> Route:
        """The best route through ``points`` ((lat, lon) pairs, in order)."""
        metric = Metric(metric)
        if len(points) < 2:
            return Route(ok=False, reason=Reason.TOO_FEW_POINTS)
        snaps = tuple(self.snap_many(points, vehicle=vehicle, max_snap_m=max_snap_m))
        bad = [s for s in snaps if not s.ok]
        if bad:
            return Route(ok=False, reason=bad[0].reason, snaps=snaps)
        prof = self._profile(vehicle)
        engine = self._core(prof, metric)
        weight = self._weights[metric]
        pieces: list[np.ndarray] = []
        all_edges: list[int] = []
        legs: list[tuple[float, float]] = []
        for a, b in zip(snaps[:-1], snaps[1:], strict=True):
            leg = self._leg(a, b, prof, engine, weight)
            if leg is None:
                logger.info(
                    "routing.no_route from=%.6f,%.6f to=%.6f,%.6f metric=%s",
                    a.lat,
                    a.lon,
                    b.lat,
                    b.lon,
                    metric,
                )
                return Route(ok=False, reason=Reason.NO_ROUTE, snaps=snaps)
            coords, edges, dur_ms, len_mm = leg
            pieces.append(coords if not pieces else coords[1:])
            all_edges.extend(edges)
            legs.append((dur_ms / 1000.0, len_mm / 1000.0))
        coordinates = np.vstack(pieces)
        return Route(
            ok=True,
            duration_s=sum(d for d, _ in legs),
            length_m=sum(m for _, m in legs),
            coordinates=coordinates,
            edges=tuple(all_edges),
            snaps=snaps,
            legs=tuple(legs),
        )

    def _leg(
        self,
        a: Snap,
        b: Snap,
        prof: _Profile,
        engine: CoreEngine | DijkstraEngine,
        weight: np.ndarray,
    ) -> tuple[np.ndarray, list[int], float, float] | None:
        net = self.net
        exits = self._exits(a, prof, weight)
        entries = self._entries(b, prof, weight)
        direct = self._direct(a, b, prof, weight)
        best_cost, best = direct[0], None
        if exits and entries:
            us = np.unique([x.node for x in exits])
            ud = np.unique([y.node for y in entries])
            table = engine.table(us, ud)
            for x in exits:
                for y in entries:
                    d = table[np.searchsorted(us, x.node), np.searchsorted(ud, y.node)]
                    cost = x.cost + d + y.cost
                    if cost < best_cost:
                        best_cost, best = cost, (x, y)
        if not math.isfinite(best_cost):
            return None
        if best is None:  # straight along the shared road
            _, e, fa, fb = direct
            coords = self._cut(e, fa, fb)
            return (
                coords,
                [e],
                self._partial(net.time_ms, e, fa, fb),
                self._partial(net.length_mm, e, fa, fb),
            )
        x, y = best
        path = engine.path_edges(x.node, y.node)
        if path is None:
            return None
        parts = [self._cut(x.edge, x.start, x.end) if x.edge >= 0 else self._node_xy(x.node)]
        parts.extend(net.edge_coords(int(e)) for e in path)
        parts.append(self._cut(y.edge, y.start, y.end) if y.edge >= 0 else self._node_xy(y.node))
        coords = _join(parts)
        dur = float(net.time_ms[path].sum()) + x.rest(net.time_ms) + y.rest(net.time_ms)
        length = float(net.length_mm[path].sum()) + x.rest(net.length_mm) + y.rest(net.length_mm)
        edges = (
            ([x.edge] if x.edge >= 0 else []) + path.tolist() + ([y.edge] if y.edge >= 0 else [])
        )
        return coords, edges, dur, length

    def _node_xy(self, node: int) -> np.ndarray:
        return np.array([[self.net.lon[node], self.net.lat[node]]])

    @staticmethod
    def _partial(weight: np.ndarray, edge: int, a: float, b: float) -> float:
        return (b - a) * float(weight[edge])

    def matrix(
        self,
        origins: Sequence[tuple[float, float]],
        destinations: Sequence[tuple[float, float]] | None = None,
        *,
        metric: Metric | str = Metric.TIME,
        vehicle: Vehicle | None = None,
        max_snap_m: float | None = None,
    ) -> Matrix:
        """Costs of the best route from every origin to every destination ((lat, lon) pairs).

        ``durations_s`` and ``lengths_m`` are both of the route that is best by ``metric``.
        """
        metric = Metric(metric)
        o_snaps = self.snap_many(origins, vehicle=vehicle, max_snap_m=max_snap_m)
        if destinations is None:
            d_snaps = o_snaps
        else:
            d_snaps = self.snap_many(destinations, vehicle=vehicle, max_snap_m=max_snap_m)
        prof = self._profile(vehicle)
        primary = self._weights[metric]
        other = self._weights[Metric.DISTANCE if metric == Metric.TIME else Metric.TIME]
        values, others = self._matrix_snapped(o_snaps, d_snaps, prof, metric, primary, other)
        if metric == Metric.TIME:
            durations, lengths = values, others
        else:
            durations, lengths = others, values
        return Matrix(
            durations_s=durations / 1000.0,
            lengths_m=lengths / 1000.0,
            origins=tuple(o_snaps),
            destinations=tuple(d_snaps),
            metric=metric,
        )

    def _matrix_snapped(
        self,
        o_snaps: Sequence[Snap],
        d_snaps: Sequence[Snap],
        prof: _Profile,
        metric: Metric,
        primary: np.ndarray,
        other: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_o, n_d = len(o_snaps), len(d_snaps)
        # Up to two ways out of each origin and two ways into each destination.
        x_node, x_cost, x_other = self._links(o_snaps, prof, primary, other, leaving=True)
        y_node, y_cost, y_other = self._links(d_snaps, prof, primary, other, leaving=False)
        src = np.unique(x_node[x_node >= 0])
        dst = np.unique(y_node[y_node >= 0])
        table, table_other = self._core(prof, metric).table_between(src, dst, annotate=True)
        xi = np.searchsorted(src, np.maximum(x_node, 0)) if len(src) else np.zeros_like(x_node)
        yi = np.searchsorted(dst, np.maximum(y_node, 0)) if len(dst) else np.zeros_like(y_node)
        best = np.full((n_o, n_d), np.inf)
        best_other = np.full((n_o, n_d), np.nan)
        if len(src) and len(dst):
            for a in range(2):
                for b in range(2):
                    cost = (
                        x_cost[:, a, None]
                        + table[xi[:, a][:, None], yi[:, b][None, :]]
                        + y_cost[None, :, b]
                    )
                    oth = (
                        x_other[:, a, None]
                        + table_other[xi[:, a][:, None], yi[:, b][None, :]]
                        + y_other[None, :, b]
                    )
                    better = cost < best
                    best = np.where(better, cost, best)
                    best_other = np.where(better, oth, best_other)
        # Origin and destination on the same road: driving straight along it may be best.
        by_edge: dict[int, list[int]] = {}
        for j, s in enumerate(d_snaps):
            if s.ok:
                by_edge.setdefault(s.edge, []).append(j)
        for i, s in enumerate(o_snaps):
            if not s.ok:
                continue
            for j in by_edge.get(s.edge, ()):
                cost, e, fa, fb = self._direct(s, d_snaps[j], prof, primary)
                if cost <= best[i, j]:  # ties go to the straight drive, as in route()
                    best[i, j] = cost
                    best_other[i, j] = (fb - fa) * other[e]
        unreachable = ~np.isfinite(best)
        best[unreachable] = np.nan
        best_other[unreachable] = np.nan
        return best, best_other

    def node_table(
        self,
        sources: Sequence[int] | np.ndarray,
        targets: Sequence[int] | np.ndarray,
        *,
        metric: Metric | str = Metric.TIME,
        vehicle: Vehicle | None = None,
    ) -> np.ndarray:
        """Junction-to-junction costs (node indices in, ms or mm out; inf when unreachable)."""
        core = self._core(self._profile(vehicle), Metric(metric))
        return core.table_between(np.asarray(sources), np.asarray(targets))[0]

    def node_path(
        self,
        source: int,
        target: int,
        *,
        metric: Metric | str = Metric.TIME,
        vehicle: Vehicle | None = None,
    ) -> np.ndarray | None:
        """Edge ids of the best junction-to-junction path, or None when there is none."""
        core = self._core(self._profile(vehicle), Metric(metric))
        return core.path(int(source), int(target))

    def durations_from(
        self,
        origin: tuple[float, float],
        destinations: Sequence[tuple[float, float]],
        *,
        vehicle: Vehicle | None = None,
    ) -> Matrix:
        """One-to-many by travel time (e.g. one job to every free vehicle's position)."""
        return self.matrix([origin], destinations, vehicle=vehicle)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate coordinate runs, dropping the repeated point where one run meets the next."""
    out = [parts[0]]
    for p in parts[1:]:
        if len(p) == 0:
            continue
        if len(out[-1]) and np.array_equal(out[-1][-1], p[0]):
            p = p[1:]
        out.append(p)
    return np.vstack(out)
