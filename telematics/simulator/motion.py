"""The fleet simulator's motion model: municipal vehicles driving a town's real streets.

Pure module (numpy, scipy and the routing modules; no Django, no sockets), so it is tested in
milliseconds. The command ``simulate_fleet`` wires it to the database and to the gateway.

Each vehicle lives a working day: parked at its depot with the ignition off outside working
hours; during them it warms up, drives to a destination along the router's best path, stops to
work there (refuse trucks and machinery with the engine running), drives on, and when its tank
runs low goes to the fuel station. Driving is integrated in one-second steps: speed follows each
road's limit (the graph's free-flow speed), times a per-vehicle driving style, never above the
vehicle's own top speed; the vehicle accelerates and brakes within its limits, slows for turns,
brakes ahead of lower limits, and now and then waits at a junction (traffic lights, give way).

A vehicle reports a :class:`Fix` every few seconds while moving, less often while stopped, and at
once when its ignition changes, the way trackers are usually configured.

A vehicle can also be sent on an :class:`Errand` (a dispatcher's demo, a browser test): it leaves
from where it is at once, whatever the hour, drives the router's road route to the given place,
stops there for the errand's dwell time and then either parks there or drives back to its depot.
"""

from __future__ import annotations

import copy
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from dispatch.routing.router import Metric, Router
from dispatch.routing.router import Vehicle as RoutingVehicle
from telematics.motion.workcalendar import WorkingCalendar
from telematics.protocols.base import Fix

__all__ = [
    "PROFILES",
    "Errand",
    "FleetSimulation",
    "ReportPolicy",
    "RoadMap",
    "SimVehicle",
    "Step",
    "Track",
    "VehicleProfile",
    "VehicleSpec",
    "profile_for",
]

EARTH_RADIUS_M = 6_371_008.8

log = logging.getLogger("telematics.simulator")


@dataclass(frozen=True)
class VehicleProfile:
    """How a kind of vehicle moves and uses fuel.

    ``stop_s`` is the range of a work stop's length; ``engine_on_at_stops`` keeps the ignition on
    while working (a refuse truck's compactor, a crane, an excavator).
    """

    max_speed_kmh: float
    accel_mps2: float
    decel_mps2: float
    tank_l: float
    l_per_100km: float
    idle_l_per_h: float
    stop_s: tuple[int, int]
    engine_on_at_stops: bool = False
    hop_m: tuple[int, int] = (300, 4000)  # how far apart consecutive work stops are


PROFILES: dict[str, VehicleProfile] = {
    # A collection round: short hops from bin to bin.
    "refuse_truck": VehicleProfile(60, 0.8, 1.8, 250, 55, 3.0, (20, 120), True, (60, 600)),
    "sweeper": VehicleProfile(40, 0.6, 1.5, 150, 25, 3.5, (60, 600), True, (100, 1000)),
    "tipper": VehicleProfile(70, 0.9, 2.0, 200, 30, 2.5, (300, 1500)),
    "crane_truck": VehicleProfile(70, 0.8, 2.0, 200, 35, 3.0, (900, 2700), True),
    "water_tanker": VehicleProfile(60, 0.7, 1.8, 250, 40, 2.5, (300, 1500), True),
    "basket_truck": VehicleProfile(70, 1.0, 2.0, 100, 15, 1.5, (900, 2700), True),
    "pickup": VehicleProfile(90, 1.5, 2.5, 80, 10, 1.0, (300, 2400)),
    "van": VehicleProfile(90, 1.3, 2.5, 80, 10, 1.0, (300, 1800)),
    "bus": VehicleProfile(80, 1.0, 2.0, 100, 14, 1.5, (120, 900), True),
    "passenger_car": VehicleProfile(90, 1.8, 3.0, 40, 5, 0.6, (600, 3600)),
    "motorcycle": VehicleProfile(80, 2.0, 3.0, 8, 2.5, 0.3, (300, 1800)),
    "excavator": VehicleProfile(25, 0.4, 1.5, 160, 60, 7.0, (1800, 5400), True),
    "loader": VehicleProfile(35, 0.5, 1.5, 120, 50, 6.0, (1800, 5400), True),
    "grader": VehicleProfile(40, 0.4, 1.5, 300, 60, 8.0, (1800, 5400), True),
    "tractor": VehicleProfile(40, 0.6, 1.8, 150, 35, 4.0, (1200, 3600), True),
}
_DEFAULT_PROFILE = VehicleProfile(80, 1.2, 2.2, 80, 12, 1.0, (300, 1800))


def profile_for(category: str) -> VehicleProfile:
    return PROFILES.get(category, _DEFAULT_PROFILE)


@dataclass(frozen=True)
class ReportPolicy:
    """How often a tracker reports (seconds): moving, stopped with the engine on, parked."""

    moving_s: int = 10
    idling_s: int = 60
    parked_s: int = 300


@dataclass(frozen=True)
class VehicleSpec:
    """One simulated vehicle: its tracker id, kind and where it starts its day."""

    unique_id: str
    category: str
    depot: tuple[float, float]  # (lat, lon)
    weight_t: float = 0.0
    odometer_m: float = 0.0
    engine_hours: float = 0.0
    fuel_fraction: float = 0.8
    # Where the vehicle is when the simulation starts (its last known position); used by
    # errands. ``None``: at its depot.
    start: tuple[float, float] | None = None


@dataclass(frozen=True)
class Errand:
    """Drive to ``destination`` (lat, lon) along the router's road route, stay ``dwell_s``
    seconds, then park there, or drive back to the depot and park if ``leave``.

    The destination is taken to the nearest point of a road the vehicle may use, and that is
    where it stops.
    """

    destination: tuple[float, float]
    dwell_s: int = 600
    leave: bool = False

    def __post_init__(self) -> None:
        lat, lon = self.destination
        finite = math.isfinite(lat) and math.isfinite(lon)
        if not (finite and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"not a place on Earth: {self.destination!r}")
        if self.dwell_s < 0:
            raise ValueError("an errand's dwell time cannot be negative")


# -- the road network as the model reads it ------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """A route's shape as one polyline, with what the driver must respect along it.

    ``s`` is the distance (m) from the start at each vertex; segment ``i`` runs from vertex ``i``
    to ``i + 1``, lies on graph edge ``seg_edge[i]`` and has limit ``seg_limit_kmh[i]``.
    ``turns`` caps the speed at junctions (position, km/h); ``stops`` are junctions where the
    vehicle waits (position, seconds).
    """

    edges: tuple[int, ...]
    lon: np.ndarray
    lat: np.ndarray
    s: np.ndarray
    seg_edge: np.ndarray
    seg_limit_kmh: np.ndarray
    seg_course: np.ndarray
    turns: tuple[tuple[float, float], ...]
    stops: tuple[tuple[float, int], ...]

    @property
    def length_m(self) -> float:
        return float(self.s[-1])

    def segment_at(self, position: float) -> int:
        index = int(np.searchsorted(self.s, position, side="right")) - 1
        return min(max(index, 0), len(self.seg_edge) - 1)

    def between(self, start: float, end: float) -> Track:
        """The part of the track from ``start`` to ``end`` metres (clamped to the track), its
        ends interpolated; positions in the result count from its own start."""
        start = min(max(start, 0.0), self.length_m)
        end = min(max(end, start), self.length_m)
        first, last = self.segment_at(start), self.segment_at(end)
        lat0, lon0, _, _ = self.point_at(start)
        lat1, lon1, _, _ = self.point_at(end)
        inner = slice(first + 1, last + 1)  # vertices strictly inside, by position
        segments = slice(first, last + 1)
        seg_edge = self.seg_edge[segments]
        edges = [int(e) for i, e in enumerate(seg_edge) if i == 0 or e != seg_edge[i - 1]]
        return Track(
            edges=tuple(edges),
            lon=np.concatenate(([lon0], self.lon[inner], [lon1])),
            lat=np.concatenate(([lat0], self.lat[inner], [lat1])),
            s=np.concatenate(([0.0], self.s[inner] - start, [end - start])),
            seg_edge=seg_edge,
            seg_limit_kmh=self.seg_limit_kmh[segments],
            seg_course=self.seg_course[segments],
            turns=tuple((w - start, c) for w, c in self.turns if start < w < end),
            stops=tuple((w - start, d) for w, d in self.stops if start < w < end),
        )

    def point_at(self, position: float) -> tuple[float, float, float, int]:
        """(lat, lon, course, segment) at ``position`` metres along the track."""
        i = self.segment_at(position)
        span = self.s[i + 1] - self.s[i]
        f = 0.0 if span <= 0 else min(max((position - self.s[i]) / span, 0.0), 1.0)
        lat = float(self.lat[i] + f * (self.lat[i + 1] - self.lat[i]))
        lon = float(self.lon[i] + f * (self.lon[i + 1] - self.lon[i]))
        return lat, lon, float(self.seg_course[i]), i


class RoadMap:
    """Paths, shapes and limits of one municipality's road graph, for the motion model."""

    def __init__(self, router: Router) -> None:
        self.router = router
        net = self.net = router.net
        with np.errstate(divide="ignore", invalid="ignore"):
            # mm per ms is m/s; the graph's free-flow speed stands in for the legal limit.
            limit = np.where(net.time_ms > 0, net.length_mm / net.time_ms * 3.6, 0.0)
        self.limit_kmh = limit
        n = net.n_nodes
        adjacency = csr_matrix(
            (np.ones(net.n_edges), (net.src.astype(np.int64), net.dst.astype(np.int64))),
            shape=(n, n),
        )
        _, labels = connected_components(adjacency, directed=True, connection="strong")
        # Only nodes from which every other can be reached (and back) make good destinations:
        # a dead-end one-way spur would trap a vehicle.
        self.nodes = np.flatnonzero(labels == np.bincount(labels).argmax())
        self.degree = np.bincount(net.src, minlength=n) + np.bincount(net.dst, minlength=n)
        self.lat0 = float(np.mean(net.lat))
        self._kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))
        self._ky = math.radians(1) * EARTH_RADIUS_M

    def metres(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Local planar coordinates (m): at town scale the error is far below GPS noise."""
        return np.column_stack((np.asarray(lon) * self._kx, np.asarray(lat) * self._ky))

    def distance_m(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        return math.hypot((a[1] - b[1]) * self._kx, (a[0] - b[0]) * self._ky)

    def nearest_node(self, lat: float, lon: float) -> int:
        dx = (self.net.lon[self.nodes] - lon) * self._kx
        dy = (self.net.lat[self.nodes] - lat) * self._ky
        return int(self.nodes[int(np.argmin(dx * dx + dy * dy))])

    def node_point(self, node: int) -> tuple[float, float]:
        return float(self.net.lat[node]), float(self.net.lon[node])

    def path(self, a: int, b: int, vehicle: RoutingVehicle | None = None) -> list[int] | None:
        if a == b:
            return None
        edges = self.router.node_path(a, b, metric=Metric.TIME, vehicle=vehicle)
        if edges is None or len(edges) == 0:
            return None
        return [int(e) for e in edges]

    def track(self, edges: Sequence[int], rng: random.Random, stop_chance: float) -> Track:
        net = self.net
        lons: list[np.ndarray] = []
        lats: list[np.ndarray] = []
        seg_edges: list[np.ndarray] = []
        junctions: list[int] = []  # vertex index where each edge after the first begins
        count = 0
        for k, edge in enumerate(edges):
            coords = net.edge_coords(edge)
            if k:
                coords = coords[1:]  # the junction is already the previous edge's last point
                junctions.append(count - 1)
            lons.append(coords[:, 0])
            lats.append(coords[:, 1])
            seg_edges.append(np.full(len(coords), edge, dtype=np.int64))
            count += len(coords)
        lon = np.concatenate(lons)
        lat = np.concatenate(lats)
        # Segment i belongs to the edge of its end vertex.
        seg_edge = np.concatenate(seg_edges)[1:]
        xy = self.metres(lat, lon)
        step = np.diff(xy, axis=0)
        s = np.concatenate(([0.0], np.cumsum(np.hypot(step[:, 0], step[:, 1]))))
        course = (np.degrees(np.arctan2(step[:, 0], step[:, 1])) + 360.0) % 360.0
        turns: list[tuple[float, float]] = []
        stops: list[tuple[float, int]] = []
        for vertex in junctions:
            before = vertex - 1
            while before > 0 and s[before + 1] == s[before]:
                before -= 1
            after = vertex
            while after < len(course) - 1 and s[after + 1] == s[after]:
                after += 1
            change = abs((course[after] - course[before] + 180.0) % 360.0 - 180.0)
            cap = _turn_speed_kmh(change)
            if cap is not None:
                turns.append((float(s[vertex]), cap))
            node = int(net.src[seg_edge[vertex]])
            if self.degree[node] >= 6 and rng.random() < stop_chance:
                stops.append((float(s[vertex]), rng.randint(5, 40)))
        return Track(
            edges=tuple(int(e) for e in edges),
            lon=lon,
            lat=lat,
            s=s,
            seg_edge=seg_edge,
            seg_limit_kmh=self.limit_kmh[seg_edge],
            seg_course=course,
            turns=tuple(turns),
            stops=tuple(stops),
        )

    def road_track(
        self,
        origin: tuple[float, float],
        destination: tuple[float, float],
        rng: random.Random,
        stop_chance: float,
        vehicle: RoutingVehicle | None = None,
    ) -> Track | None:
        """The router's best road route between two places (lat, lon), each taken to its
        nearest road, as a track from the one road point to the other; None if there is none."""
        route = self.router.route([origin, destination], metric=Metric.TIME, vehicle=vehicle)
        if not route.ok and vehicle is not None:
            # Every way there closed to this truck? Drive anyway rather than stand.
            route = self.router.route([origin, destination], metric=Metric.TIME)
        if not route.ok or not route.edges:
            return None
        full = self.track(route.edges, rng, stop_chance)
        # The route begins and ends part-way along its first and last roads: cut the track at
        # the snapped points (each lies on the shape of its road, in either direction).
        begin, end = route.snaps[0], route.snaps[-1]
        start = self._locate(full, begin.road_lat, begin.road_lon, first=True)
        finish = self._locate(full, end.road_lat, end.road_lon, first=False)
        return full.between(start, max(start, finish))

    def _locate(self, track: Track, lat: float, lon: float, *, first: bool) -> float:
        """Position (m) along ``track`` nearest to a point, searched on the track's first road
        (``first``) or its last one."""
        edge = track.seg_edge[0] if first else track.seg_edge[-1]
        on_edge = np.flatnonzero(track.seg_edge == edge)
        # The first (or last) run of that road's segments.
        breaks = np.flatnonzero(np.diff(on_edge) > 1)
        if len(breaks):
            on_edge = on_edge[: breaks[0] + 1] if first else on_edge[breaks[-1] + 1 :]
        xy = self.metres(track.lat, track.lon)
        point = self.metres(np.array([lat]), np.array([lon]))[0]
        a, b = xy[on_edge], xy[on_edge + 1]
        d = b - a
        span = np.einsum("ij,ij->i", d, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(span > 0, np.einsum("ij,ij->i", point - a, d) / span, 0.0)
        t = np.clip(t, 0.0, 1.0)
        gap = np.hypot(*(a + d * t[:, None] - point).T)
        best = int(np.argmin(gap))
        i = int(on_edge[best])
        return float(track.s[i] + t[best] * (track.s[i + 1] - track.s[i]))


def _turn_speed_kmh(change_deg: float) -> float | None:
    """How fast a driver takes a turn of this many degrees (None: no need to slow)."""
    if change_deg >= 135:
        return 10.0
    if change_deg >= 60:
        return 20.0
    if change_deg >= 30:
        return 35.0
    return None


# -- one vehicle ---------------------------------------------------------------------------------

PARKED = "parked"
WARMUP = "warmup"
DRIVING = "driving"
WORKING = "working"
REFUELLING = "refuelling"

# An errand's stages.
ERRAND_SET_OUT = "set_out"
ERRAND_GOING = "going"
ERRAND_STAYING = "staying"
ERRAND_LEAVING = "leaving"
ERRAND_DONE = "done"


@dataclass(frozen=True)
class Step:
    """One second of driving, for observers (tests, debugging): where and how fast."""

    unique_id: str
    t: int
    edge: int
    latitude: float
    longitude: float
    speed_kmh: float
    limit_kmh: float
    accel_mps2: float


@dataclass
class SimVehicle:
    spec: VehicleSpec
    profile: VehicleProfile
    rng: random.Random
    node: int
    depot_node: int
    t: int
    style: float  # share of the limit this driver drives at
    phase: str = PARKED
    until: int = 0
    ignition: bool = False
    odometer_m: float = 0.0
    engine_hours: float = 0.0
    fuel_l: float = 0.0
    speed: float = 0.0  # m/s
    track: Track | None = None
    position: float = 0.0
    destination: str = ""  # "work", "fuel" or "depot"
    next_stop: int = 0  # index into track.stops
    waiting_until: int = 0
    next_report: int = 0
    last_report: int = -1
    shift_started: bool = False
    # The latest routes driven (bounded: a simulator may run for weeks).
    routes: deque[tuple[int, ...]] = field(default_factory=lambda: deque(maxlen=1000))
    parked_point: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (lat, lon, course)
    errand: Errand | None = None
    errand_stage: str = ""
    errand_arrived_at: int | None = None  # when it stopped at the errand's destination

    @property
    def point(self) -> tuple[float, float, float]:
        """(lat, lon, course) now."""
        if self.track is not None:
            lat, lon, course, _ = self.track.point_at(self.position)
            return lat, lon, course
        return self.parked_point


class FleetSimulation:
    """Every simulated vehicle of a town, advanced together in simulated time (POSIX seconds).

    ``errands`` (by tracker id) send vehicles on an :class:`Errand` from the start; :meth:`send`
    does it later.
    """

    def __init__(
        self,
        road: RoadMap,
        vehicles: Sequence[VehicleSpec],
        *,
        calendar: WorkingCalendar,
        start: int,
        fuel_station: tuple[float, float] | None = None,
        seed: int = 1,
        reports: ReportPolicy | None = None,
        stop_chance: float = 0.15,
        observer: Callable[[Step], None] | None = None,
        errands: Mapping[str, Errand] | None = None,
    ) -> None:
        self.road = road
        self.calendar = calendar
        self.reports = reports or ReportPolicy()
        self.stop_chance = stop_chance
        self.observer = observer
        self.t = int(start)
        self.fuel_node = None if fuel_station is None else road.nearest_node(*fuel_station)
        self.vehicles: list[SimVehicle] = []
        master = random.Random(seed)
        working = calendar.is_working_time(_utc(self.t))
        for spec in vehicles:
            rng = random.Random(master.getrandbits(64))
            profile = profile_for(spec.category)
            depot = road.nearest_node(*spec.depot)
            vehicle = SimVehicle(
                spec=spec,
                profile=profile,
                rng=rng,
                node=depot,
                depot_node=depot,
                t=self.t,
                style=rng.uniform(0.8, 1.0),
                odometer_m=spec.odometer_m,
                engine_hours=spec.engine_hours,
                fuel_l=profile.tank_l * min(max(spec.fuel_fraction, 0.0), 1.0),
            )
            errand = (errands or {}).get(spec.unique_id)
            if errand is not None or spec.start is not None:
                vehicle.node = road.nearest_node(*(spec.start or spec.depot))
                vehicle.until = self.t
            elif working:
                # Started mid-shift: spread the fleet over the town, already at work.
                vehicle.node = int(rng.choice(road.nodes))
                vehicle.phase = WORKING
                vehicle.shift_started = True
                vehicle.ignition = profile.engine_on_at_stops
                vehicle.until = self.t + rng.randint(0, profile.stop_s[1])
            else:
                vehicle.until = self.t
            vehicle.parked_point = (*(spec.start or road.node_point(vehicle.node)), 0.0)
            vehicle.next_report = self.t + rng.randint(0, self.reports.moving_s)
            self.vehicles.append(vehicle)
            if errand is not None:
                self.send(spec.unique_id, errand)

    # -- errands -------------------------------------------------------------------------------

    def vehicle(self, unique_id: str) -> SimVehicle:
        for vehicle in self.vehicles:
            if vehicle.spec.unique_id == unique_id:
                return vehicle
        raise KeyError(unique_id)

    def send(self, unique_id: str, errand: Errand) -> None:
        """Send a vehicle on an errand: it sets out at once if standing, or when it reaches the
        end of the stretch it is driving."""
        vehicle = self.vehicle(unique_id)
        vehicle.errand = errand
        vehicle.errand_stage = ERRAND_SET_OUT
        vehicle.errand_arrived_at = None
        if vehicle.phase != DRIVING:
            vehicle.until = vehicle.t

    @property
    def errands_done(self) -> bool:
        """Every errand finished (its vehicle parked for good)."""
        return all(v.errand_stage in ("", ERRAND_DONE) for v in self.vehicles)

    def errand_eta(self, unique_id: str, limit_s: int = 6 * 3600) -> int | None:
        """Simulated seconds from the vehicle's present until it stops at its errand's
        destination; None if it cannot get there within ``limit_s``.

        Found by driving a copy of the vehicle: its random draws are its own and an errand
        ignores the working calendar, so the copy drives exactly as the vehicle will.
        """
        original = self.vehicle(unique_id)
        if original.errand is None:
            raise ValueError(f"{unique_id} has no errand")
        probe = copy.deepcopy(original)
        observer, self.observer = self.observer, None
        try:
            end = probe.t + limit_s
            while probe.errand_stage in (ERRAND_SET_OUT, ERRAND_GOING) and probe.t < end:
                self._advance_vehicle(probe, min(probe.t + 60, end), [])
        finally:
            self.observer = observer
        if probe.errand_arrived_at is None:
            return None
        return probe.errand_arrived_at - original.t

    def _errand_next(self, v: SimVehicle, out: list[Fix]) -> None:
        errand = v.errand
        assert errand is not None
        if v.errand_stage == ERRAND_SET_OUT:
            if self._drive_to(v, errand.destination, "errand", out):
                v.errand_stage = ERRAND_GOING
                return
            log.warning("simulator.errand_no_route vehicle=%s", v.spec.unique_id)
        elif v.errand_stage == ERRAND_STAYING and errand.leave:
            if self._drive_to(v, v.spec.depot, "depot", out):
                v.errand_stage = ERRAND_LEAVING
                return
            log.warning("simulator.errand_no_route_back vehicle=%s", v.spec.unique_id)
        # Done: parked where it is, for as long as the simulation runs.
        v.errand_stage = ERRAND_DONE
        self._park(v, out)

    def advance(self, until: int) -> list[Fix]:
        """Move every vehicle up to ``until``; the fixes their trackers report, in time order."""
        until = int(until)
        fixes: list[Fix] = []
        for vehicle in self.vehicles:
            self._advance_vehicle(vehicle, until, fixes)
        self.t = max(self.t, until)
        fixes.sort(key=lambda f: f.fix_time)
        return fixes

    # -- per vehicle ---------------------------------------------------------------------------

    def _advance_vehicle(self, v: SimVehicle, until: int, out: list[Fix]) -> None:
        while v.t < until:
            if v.phase != DRIVING and v.t >= v.until:
                self._decide(v, out)
                continue
            if v.phase == DRIVING:
                self._drive_one_second(v, out)
            else:
                target = min(until, v.until, max(v.next_report, v.t + 1))
                self._idle(v, target - v.t)
                v.t = target
            if v.t >= v.next_report:
                self._report(v, out)

    def _idle(self, v: SimVehicle, seconds: int) -> None:
        if v.ignition:
            v.engine_hours += seconds / 3600
            v.fuel_l = max(v.fuel_l - v.profile.idle_l_per_h * seconds / 3600, 0.0)

    def _set_ignition(self, v: SimVehicle, on: bool, out: list[Fix]) -> None:
        if v.ignition != on:
            v.ignition = on
            # Trackers send a record on every ignition change.
            self._report(v, out)

    def _decide(self, v: SimVehicle, out: list[Fix]) -> None:
        if v.errand is not None:
            self._errand_next(v, out)
            return
        working = self.calendar.is_working_time(_utc(v.t))
        rng = v.rng
        if v.phase == PARKED:
            if not working:
                v.shift_started = False
                v.until = v.t + 300
            elif not v.shift_started:
                # Crews do not all leave at the stroke of the hour.
                v.shift_started = True
                v.until = v.t + rng.randint(0, 1800)
            else:
                v.phase = WARMUP
                self._set_ignition(v, True, out)
                v.until = v.t + rng.randint(30, 120)
            return
        if v.phase == REFUELLING:
            v.fuel_l = v.profile.tank_l
        if not working:
            at_depot = v.node == v.depot_node
            if at_depot or not self._start_drive(v, v.depot_node, "depot", out):
                self._park(v, out)
            return
        low = v.fuel_l < 0.2 * v.profile.tank_l and v.profile.tank_l > 0
        fuel = self.fuel_node
        if low and fuel is not None and v.node != fuel and self._start_drive(v, fuel, "fuel", out):
            return
        for _ in range(12):
            target = int(rng.choice(self.road.nodes))
            distance = self.road.distance_m(
                self.road.node_point(v.node), self.road.node_point(target)
            )
            near, far = v.profile.hop_m
            if near <= distance <= far and self._start_drive(v, target, "work", out):
                return
        # Nowhere reachable worth going: keep working where it is a little longer.
        v.phase = WORKING
        v.until = v.t + 60

    def _park(self, v: SimVehicle, out: list[Fix]) -> None:
        v.phase = PARKED
        v.speed = 0.0
        self._set_ignition(v, False, out)
        v.until = v.t + 300

    def _start_drive(self, v: SimVehicle, target: int, purpose: str, out: list[Fix]) -> bool:
        routing_vehicle = _routing_vehicle(v)
        edges = self.road.path(v.node, target, routing_vehicle)
        if edges is None and routing_vehicle is not None:
            # Every street of the town closed to this truck? Drive anyway rather than stand.
            edges = self.road.path(v.node, target)
        if edges is None:
            return False
        self._begin_track(v, self.road.track(edges, v.rng, self.stop_chance), purpose, out)
        v.node = target
        return True

    def _drive_to(
        self, v: SimVehicle, place: tuple[float, float], purpose: str, out: list[Fix]
    ) -> bool:
        """Set out along the road route from where the vehicle is to a place (lat, lon)."""
        lat, lon, _ = v.point
        track = self.road.road_track(
            (lat, lon), place, v.rng, self.stop_chance, _routing_vehicle(v)
        )
        if track is None:
            return False
        self._begin_track(v, track, purpose, out)
        v.node = self.road.nearest_node(*place)
        return True

    def _begin_track(self, v: SimVehicle, track: Track, purpose: str, out: list[Fix]) -> None:
        v.track = track
        v.routes.append(track.edges)
        v.position = 0.0
        v.speed = 0.0
        v.next_stop = 0
        v.waiting_until = 0
        v.destination = purpose
        v.phase = DRIVING
        self._set_ignition(v, True, out)

    def _arrive(self, v: SimVehicle, out: list[Fix]) -> None:
        assert v.track is not None
        lat, lon, course, _ = v.track.point_at(v.track.length_m)
        v.parked_point = (lat, lon, course)
        v.track = None
        v.speed = 0.0
        rng = v.rng
        if v.destination == "errand":
            v.errand_stage = ERRAND_STAYING
            v.errand_arrived_at = v.t
            v.phase = WORKING
            dwell = v.errand.dwell_s if v.errand is not None else 0
            self._set_ignition(v, v.profile.engine_on_at_stops or dwell < 300, out)
            v.until = v.t + dwell
            # A tracker reports the stop itself (a "motion ended" record).
            self._report(v, out)
        elif v.destination == "depot":
            self._park(v, out)
            if v.errand is not None:
                v.errand_stage = ERRAND_DONE
        elif v.destination == "fuel":
            v.phase = REFUELLING
            self._set_ignition(v, False, out)
            v.until = v.t + rng.randint(240, 480)
        else:
            v.phase = WORKING
            low, high = v.profile.stop_s
            duration = rng.randint(low, high)
            self._set_ignition(v, v.profile.engine_on_at_stops or duration < 300, out)
            v.until = v.t + duration
        if v.errand_stage == ERRAND_SET_OUT:
            v.until = v.t  # sent on an errand while driving: it sets out from here

    def _drive_one_second(self, v: SimVehicle, out: list[Fix]) -> None:
        track = v.track
        assert track is not None
        profile = v.profile
        v.t += 1
        v.engine_hours += 1 / 3600
        if v.waiting_until >= v.t:
            # Waiting at a junction, engine running.
            v.fuel_l = max(v.fuel_l - profile.idle_l_per_h / 3600, 0.0)
            self._observe(v, track, 0.0)
            return

        decel = profile.decel_mps2
        top = profile.max_speed_kmh / 3.6
        segment = track.segment_at(v.position)
        cap = min(track.seg_limit_kmh[segment] / 3.6 * v.style, top)
        # Stop line ahead: the next junction wait, or the end of the route.
        stops = track.stops
        stop_at = stops[v.next_stop][0] if v.next_stop < len(stops) else track.length_m
        horizon = v.speed * v.speed / (2 * decel) + 30.0
        now = v.speed
        cap = min(cap, _safe_speed(0.0, stop_at - v.position, now, decel))
        for where, speed_kmh in track.turns:
            if v.position < where <= v.position + horizon:
                cap = min(cap, _safe_speed(speed_kmh / 3.6, where - v.position, now, decel))
        ahead = segment + 1
        while ahead < len(track.seg_edge) and track.s[ahead] - v.position <= horizon:
            limit = min(track.seg_limit_kmh[ahead] / 3.6 * v.style, top)
            cap = min(cap, _safe_speed(limit, track.s[ahead] - v.position, now, decel))
            ahead += 1

        speed = max(min(v.speed + profile.accel_mps2, cap), 0.0)
        travelled = (v.speed + speed) / 2
        remaining = stop_at - v.position
        # Within a metre of the stop line and slow enough to stop this second: stop there.
        creeping = remaining < 1.0 and speed < 1.0 and v.speed <= decel
        if travelled >= remaining or creeping:
            travelled = max(remaining, 0.0)
            speed = 0.0
        v.position += travelled
        # The limit where the vehicle now is binds even if braking fell short by a rounding.
        here = track.segment_at(v.position)
        speed = min(speed, track.seg_limit_kmh[here] / 3.6 * v.style, top)
        accel = speed - v.speed
        v.speed = speed
        v.odometer_m += travelled
        v.fuel_l = max(
            v.fuel_l - profile.l_per_100km * travelled / 100_000 - profile.idle_l_per_h / 3600, 0.0
        )
        self._observe(v, track, accel)

        if v.position >= stop_at - 1e-9:
            if v.next_stop < len(track.stops) and stop_at == track.stops[v.next_stop][0]:
                v.waiting_until = v.t + track.stops[v.next_stop][1]
                v.next_stop += 1
            else:
                self._arrive(v, out)

    def _observe(self, v: SimVehicle, track: Track, accel: float) -> None:
        if self.observer is None:
            return
        lat, lon, _, segment = track.point_at(v.position)
        self.observer(
            Step(
                unique_id=v.spec.unique_id,
                t=v.t,
                edge=int(track.seg_edge[segment]),
                latitude=lat,
                longitude=lon,
                speed_kmh=v.speed * 3.6,
                limit_kmh=float(track.seg_limit_kmh[segment]),
                accel_mps2=accel,
            )
        )

    def _report(self, v: SimVehicle, out: list[Fix]) -> None:
        if v.t <= v.last_report:
            return  # one record per second at most: positions are unique on (device, time)
        lat, lon, course = v.point
        moving = v.speed > 0
        if moving:
            interval = self.reports.moving_s
        elif v.ignition:
            interval = self.reports.idling_s
        else:
            interval = self.reports.parked_s
        rng = v.rng
        tank = v.profile.tank_l
        out.append(
            Fix(
                unique_id=v.spec.unique_id,
                fix_time=_utc(v.t),
                latitude=lat,
                longitude=lon,
                valid=True,
                # Rounded down so a reported speed never exceeds the one driven.
                speed_kmh=math.floor(v.speed * 36) / 10,
                course=round(course, 1),
                hdop=round(rng.uniform(0.7, 1.5), 1),
                satellites=rng.randint(7, 12),
                ignition=v.ignition,
                odometer=round(v.odometer_m),
                engine_hours=round(v.engine_hours, 3),
                fuel_level=round(100 * v.fuel_l / tank, 1) if tank else None,
                attributes={"motion": moving},
            )
        )
        v.last_report = v.t
        v.next_report = v.t + interval


def _routing_vehicle(v: SimVehicle) -> RoutingVehicle | None:
    return RoutingVehicle(weight_t=v.spec.weight_t) if v.spec.weight_t else None


def _safe_speed(target: float, distance: float, speed: float, decel: float) -> float:
    """The highest speed to reach in this one-second step and still slow to ``target`` (m/s)
    within ``distance`` (m) braking at ``decel``.

    The step covers (speed + v) / 2 metres, after which v² ≤ target² + 2·decel·(what is left);
    solving that quadratic for v keeps the braking curve exact in discrete time.
    """
    c = target * target + 2 * decel * distance - decel * speed
    discriminant = decel * decel + 4 * c
    if discriminant <= 0:
        return target
    return max((-decel + math.sqrt(discriminant)) / 2, 0.0)


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)
