"""Round optimisation: plan multi-stop routes for a fleet on road travel times.

Pure module (no Django, no OSMnx). The caller describes the day as plain dataclasses and the
router's integer matrices; :func:`optimise` returns a :class:`Plan` that always respects every
constraint. Jobs that cannot be served come back in ``Plan.unassigned`` with a reason; nothing
about the input data makes the solver raise, except a structurally broken problem (matrix of the
wrong shape, unknown depot id), which raises :class:`ProblemError` with a message.

Model (all integers):

- times are seconds from one origin the caller picks (for example local midnight of the plan's
  day); distances are metres. ``durations[i][j]`` and ``distances[i][j]`` are the road time and
  length from location index ``i`` to ``j``; a negative entry means "no road" (the router could
  not connect the two points).
- a job's ``demand`` is what the vehicle collects there (bulky waste, goods picked up). A vehicle
  whose load would exceed its capacity goes to an unload site (landfill, transfer station) first;
  the unload site empties it. With ``return_empty`` the vehicle also unloads before going home.
- a job's time window bounds the *start* of service; a vehicle arriving early waits.
- a job with ``category`` set may only go to vehicles of that category.
- when not every job fits, the plan drops the fewest and least important: each job is worth a
  prize far larger than any detour, scaled by its priority, so lower-priority jobs go first.

The solver is PyVRP (iterated local search). Unload sites map onto PyVRP's reload depots (multiple
trips per route), vehicle categories onto routing profiles in which forbidden jobs are out of
reach. The search runs in two phases: first with every job required (the plain VRP, where PyVRP
is strongest; the usual case ends here); if that finds no feasible plan within a share of the
budget, the rest of the budget goes to a prize-collecting search, warm-started from the first
phase's plan with the offending jobs removed, that fits in as many (and as important) jobs as it
can. Every route is then re-timed and checked here, independently of PyVRP.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np
import pyvrp
from pyvrp.constants import MAX_SIZE, MAX_VALUE
from pyvrp.exceptions import PenaltyBoundWarning

log = logging.getLogger(__name__)

Id = int | str
TimeWindow = tuple[int, int]

MAX_PRIORITY = 9
# Times are seconds from the caller's origin and must stay below this (68 years).
OPEN_END = 1 << 31
# Travel time given to edges PyVRP must never use (incompatible category, no road): longer than
# any horizon, so using one breaks a time window or shift wherever one is set; small enough that
# PyVRP's time-warp penalties on it cannot overflow int64.
_FORBIDDEN_DURATION = 1 << 33


class ProblemError(ValueError):
    """The problem description is structurally broken (not merely infeasible)."""


class Reason(StrEnum):
    """Why a job is not in the plan."""

    INVALID_JOB = "invalid_job"
    LOCATION_UNREACHABLE = "location_unreachable"
    NO_COMPATIBLE_VEHICLE = "no_compatible_vehicle"
    DEMAND_EXCEEDS_CAPACITY = "demand_exceeds_capacity"
    TIME_WINDOW_UNREACHABLE = "time_window_unreachable"
    NO_ROOM = "no_room_in_plan"
    SOLVER_ERROR = "solver_error"


# ---------------------------------------------------------------------------------------------
# Input


@dataclass(frozen=True)
class Depot:
    """Where vehicles start and end their shift (a garage, or a vehicle's current position)."""

    id: Id
    location: int
    time_window: TimeWindow | None = None


@dataclass(frozen=True)
class UnloadSite:
    """Landfill or transfer station: a visit empties the vehicle."""

    id: Id
    location: int
    service_time: int = 0
    time_window: TimeWindow | None = None


@dataclass(frozen=True)
class Job:
    """A stop to make. ``time_window`` bounds the start of service (seconds); ``demand`` is what
    the vehicle collects, in the same unit as vehicle capacities; ``priority`` 0..MAX_PRIORITY,
    higher is kept first when not everything fits; ``category`` restricts it to vehicles of that
    category (None: any vehicle)."""

    id: Id
    location: int
    demand: int = 0
    time_window: TimeWindow | None = None
    service_time: int = 0
    priority: int = 0
    category: str | None = None


@dataclass(frozen=True)
class Vehicle:
    """One vehicle for the day. The shift bounds when it may leave its start depot and must be
    back at its end depot (default: the start depot). ``fixed_cost`` is charged if it is used at
    all (in the objective's unit), to prefer fewer vehicles; ``max_unloads`` caps the unload
    visits along the route (None: no cap)."""

    id: Id
    capacity: int
    start_depot: Id
    end_depot: Id | None = None
    shift_start: int = 0
    shift_end: int | None = None
    category: str = ""
    fixed_cost: int = 0
    max_unloads: int | None = None
    # Waste trucks must not park full: they pass by an unload site before going home. The site
    # is the one closest (in time) to the end depot, fixed per vehicle before the search.
    return_empty: bool = False


@dataclass(frozen=True)
class Problem:
    """The day to plan. The objective is ``distance_cost`` per metre plus ``duration_cost`` per
    second of route time (waiting included) plus the fixed costs of the vehicles used;
    ``time_limit`` (seconds) bounds the whole call."""

    depots: Sequence[Depot]
    jobs: Sequence[Job]
    vehicles: Sequence[Vehicle]
    durations: Sequence[Sequence[int]] | np.ndarray
    distances: Sequence[Sequence[int]] | np.ndarray
    unload_sites: Sequence[UnloadSite] = ()
    time_limit: float = 5.0
    distance_cost: int = 1
    duration_cost: int = 0


# ---------------------------------------------------------------------------------------------
# Output


StopKind = Literal["start", "job", "unload", "end"]


@dataclass(frozen=True)
class Stop:
    kind: StopKind
    ref: Id  # depot id, job id or unload site id
    location: int
    arrival: int
    start: int  # start of service (after any wait)
    departure: int
    load: int  # on board when leaving
    travel_time: int  # from the previous stop
    travel_distance: int


@dataclass(frozen=True)
class Route:
    vehicle_id: Id
    stops: tuple[Stop, ...]
    distance: int
    duration: int
    start_time: int
    end_time: int
    max_load: int

    @property
    def job_ids(self) -> list[Id]:
        return [s.ref for s in self.stops if s.kind == "job"]

    @property
    def unloads(self) -> int:
        return sum(1 for s in self.stops if s.kind == "unload")


@dataclass(frozen=True)
class Unassigned:
    job_id: Id
    reason: Reason
    detail: str


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    idle_vehicles: tuple[Id, ...]
    distance: int
    duration: int
    cost: int
    iterations: int = 0
    runtime: float = 0.0
    warnings: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return not self.unassigned

    def route_for(self, vehicle_id: Id) -> Route | None:
        return next((r for r in self.routes if r.vehicle_id == vehicle_id), None)


# ---------------------------------------------------------------------------------------------
# Internal model


@dataclass
class _Fleet:
    """Vehicles that are interchangeable for the solver: one PyVRP vehicle type."""

    vehicle_ids: list[Id]
    spec: Vehicle
    start_loc: int
    home_loc: int  # the end depot's location
    home_tw: TimeWindow
    start_tw: TimeWindow
    unload: UnloadSite | None  # the site visited before home when return_empty
    # Latest arrival at the solver's end point (home, or the final unload site), and whether
    # anything (shift, opening hours) bounds it at all.
    end_limit: int
    end_bounded: bool
    shift_start: int
    pyvrp_start: int = 0
    pyvrp_end: int = 0
    profile: int = 0


def _fleet_key(v: Vehicle) -> tuple:
    return (
        v.capacity,
        v.start_depot,
        v.end_depot if v.end_depot is not None else v.start_depot,
        v.shift_start,
        v.shift_end,
        v.category,
        v.fixed_cost,
        v.max_unloads,
        v.return_empty,
    )


def _tw(window: TimeWindow | None) -> TimeWindow:
    return (0, OPEN_END) if window is None else (int(window[0]), int(window[1]))


def _matrix(name: str, raw: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    try:
        arr = np.asarray(raw)
    except (TypeError, ValueError) as exc:  # ragged rows
        raise ProblemError(f"{name} matrix is not rectangular: {exc}")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ProblemError(f"{name} matrix must be square, got shape {arr.shape}")
    whole_floats = np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0)
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or whole_floats):
        raise ProblemError(f"{name} matrix must hold integers (seconds or metres)")
    arr = arr.astype(np.int64, copy=True)
    np.fill_diagonal(arr, 0)
    return arr


def _check_structure(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    durations = _matrix("duration", problem.durations)
    distances = _matrix("distance", problem.distances)
    if durations.shape != distances.shape:
        raise ProblemError(
            f"duration matrix {durations.shape} and distance matrix {distances.shape} differ"
        )
    n = durations.shape[0]

    def check_ids(kind: str, items: Sequence) -> None:
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            raise ProblemError(f"duplicate {kind} ids")

    check_ids("depot", problem.depots)
    check_ids("job", problem.jobs)
    check_ids("vehicle", problem.vehicles)
    check_ids("unload site", problem.unload_sites)
    for kind, items in (("depot", problem.depots), ("unload site", problem.unload_sites)):
        for item in items:
            if not 0 <= item.location < n:
                raise ProblemError(f"{kind} {item.id}: location {item.location} not in matrix")
            lo, hi = _tw(item.time_window)
            if lo < 0 or hi < lo or hi > OPEN_END:
                raise ProblemError(f"{kind} {item.id}: bad time window {item.time_window}")
            if getattr(item, "service_time", 0) < 0:
                raise ProblemError(f"{kind} {item.id}: negative service time")
    depot_ids = {d.id for d in problem.depots}
    for v in problem.vehicles:
        for ref in (v.start_depot, v.end_depot):
            if ref is not None and ref not in depot_ids:
                raise ProblemError(f"vehicle {v.id}: unknown depot {ref}")
    if problem.distance_cost < 0 or problem.duration_cost < 0:
        raise ProblemError("costs must be non-negative")
    if problem.distance_cost == 0 and problem.duration_cost == 0:
        raise ProblemError("at least one of distance_cost and duration_cost must be positive")
    if not problem.time_limit > 0:
        raise ProblemError("time_limit must be positive")
    return durations, distances


def _job_problem(job: Job, n: int) -> str | None:
    """Why a job's own data is unusable, or None."""
    if not 0 <= job.location < n:
        return f"location {job.location} is not in the matrix"
    if job.demand < 0:
        return f"negative demand {job.demand}"
    if job.service_time < 0:
        return f"negative service time {job.service_time}"
    if not 0 <= job.priority <= MAX_PRIORITY:
        return f"priority {job.priority} outside 0..{MAX_PRIORITY}"
    lo, hi = _tw(job.time_window)
    if lo < 0 or hi < lo or hi > OPEN_END:
        return f"bad time window {job.time_window}"
    return None


def _vehicle_problem(v: Vehicle) -> str | None:
    if v.capacity < 0:
        return f"negative capacity {v.capacity}"
    end = v.shift_start if v.shift_end is None else v.shift_end
    if v.shift_start < 0 or end < v.shift_start or end > OPEN_END:
        return f"bad shift {v.shift_start}..{v.shift_end}"
    if v.fixed_cost < 0:
        return f"negative fixed cost {v.fixed_cost}"
    if v.max_unloads is not None and v.max_unloads < 0:
        return f"negative max_unloads {v.max_unloads}"
    return None


def _build_fleets(
    problem: Problem, vehicles: list[Vehicle], dur: np.ndarray, notes: list[str]
) -> list[_Fleet]:
    depots = {d.id: d for d in problem.depots}
    groups: dict[tuple, list[Vehicle]] = {}
    for v in vehicles:
        groups.setdefault(_fleet_key(v), []).append(v)

    fleets = []
    for members in groups.values():
        spec = members[0]
        start = depots[spec.start_depot]
        home = depots[spec.end_depot if spec.end_depot is not None else spec.start_depot]
        home_tw, start_tw = _tw(home.time_window), _tw(start.time_window)
        shift_end = OPEN_END if spec.shift_end is None else spec.shift_end
        end_limit = min(shift_end, home_tw[1])
        unload = None
        if spec.return_empty and problem.unload_sites:
            reachable = [u for u in problem.unload_sites if dur[u.location, home.location] >= 0]
            if not reachable:
                for v in members:
                    notes.append(f"vehicle {v.id}: no unload site connects to its end depot")
                continue
            unload = min(reachable, key=lambda u: (dur[u.location, home.location], str(u.id)))
            back = unload.service_time + int(dur[unload.location, home.location])
            end_limit = min(end_limit - back, _tw(unload.time_window)[1])
        shift_start = max(spec.shift_start, start_tw[0])
        if end_limit < shift_start:
            for v in members:
                notes.append(f"vehicle {v.id}: its shift leaves no time to work")
            continue
        fleets.append(
            _Fleet(
                vehicle_ids=[v.id for v in members],
                spec=spec,
                start_loc=start.location,
                home_loc=home.location,
                home_tw=home_tw,
                start_tw=start_tw,
                unload=unload,
                end_limit=end_limit,
                end_bounded=spec.shift_end is not None
                or home.time_window is not None
                or (unload is not None and unload.time_window is not None),
                shift_start=shift_start,
            )
        )
    return fleets


def _end_leg(fleet: _Fleet, dur: np.ndarray, loc: int) -> int:
    """Time from leaving ``loc`` to reaching the solver's end point; -1 when there is no road."""
    end = fleet.unload.location if fleet.unload is not None else fleet.home_loc
    return int(dur[loc, end])


def _prefilter(
    problem: Problem, jobs: list[Job], fleets: list[_Fleet], dur: np.ndarray, dist: np.ndarray
) -> tuple[list[Job], list[Unassigned], dict[Id, set[int]]]:
    """Set aside jobs no vehicle could ever serve, each with the first reason that rules out the
    last candidate vehicle. Returns the plannable jobs and, per job, the fleets that may serve it.
    """
    keep: list[Job] = []
    rejected: list[Unassigned] = []
    allowed: dict[Id, set[int]] = {}
    for job in jobs:
        loc = job.location
        candidates = list(range(len(fleets)))
        reason: tuple[Reason, str] | None = None

        def connected(f: _Fleet, loc: int = loc) -> bool:
            if min(dur[f.start_loc, loc], dist[f.start_loc, loc]) < 0:
                return False
            return _end_leg(f, dur, loc) >= 0

        steps = [
            (
                Reason.LOCATION_UNREACHABLE,
                "no road between the job and any vehicle's depot",
                connected,
            ),
            (
                Reason.NO_COMPATIBLE_VEHICLE,
                f"no vehicle of category {job.category!r}",
                lambda f, job=job: job.category is None or f.spec.category == job.category,
            ),
            (
                Reason.DEMAND_EXCEEDS_CAPACITY,
                f"demand {job.demand} exceeds the capacity of every eligible vehicle",
                lambda f, job=job: job.demand <= f.spec.capacity,
            ),
            (
                Reason.TIME_WINDOW_UNREACHABLE,
                "no eligible vehicle can reach the job within its time window and its shift",
                lambda f, job=job: _time_feasible(job, f, dur),
            ),
        ]
        for code, detail, test in steps:
            candidates = [i for i in candidates if test(fleets[i])]
            if not candidates:
                reason = (code, detail)
                break
        if reason is None:
            keep.append(job)
            allowed[job.id] = set(candidates)
        else:
            rejected.append(Unassigned(job.id, reason[0], reason[1]))
            log.info("optimiser.job_rejected job=%s reason=%s", job.id, reason[0])
    return keep, rejected, allowed


def _time_feasible(job: Job, f: _Fleet, dur: np.ndarray) -> bool:
    """Could this fleet serve the job alone: leave at shift start, serve, (unload,) end in time."""
    lo, hi = _tw(job.time_window)
    arrival = f.shift_start + int(dur[f.start_loc, job.location])
    start = max(arrival, lo)
    if start > hi:
        return False
    end = start + job.service_time + _end_leg(f, dur, job.location)
    if f.unload is not None:
        end = max(end, _tw(f.unload.time_window)[0])  # waits for the unload site to open
    return end <= f.end_limit


def _price_scale(
    problem: Problem, fleets: list[_Fleet], dur: np.ndarray, dist: np.ndarray
) -> tuple[int, int]:
    """Prize per priority step, and the length given to forbidden edges.

    A job's prize must beat the most its insertion can cost (a few edges, a detour to an unload
    site, a vehicle's fixed cost), so that PyVRP leaves a job out only when it does not fit; a
    generous margin also helps the search accept an insertion that first needs an unload. The
    forbidden length must cost more than every prize together, so that no prize ever makes an
    incompatible or non-existent edge worth taking.
    """
    edge = problem.distance_cost * int(dist.max(initial=0))
    edge += problem.duration_cost * int(dur.max(initial=0))
    fixed = max((f.spec.fixed_cost for f in fleets), default=0)
    unit = 16 * edge + fixed + 1
    all_prizes = unit * (MAX_PRIORITY + 1) * max(1, len(problem.jobs))
    if problem.distance_cost == 0:
        return unit, 0
    return unit, min(MAX_VALUE, all_prizes // problem.distance_cost + 1)


# ---------------------------------------------------------------------------------------------
# Solving


def optimise(problem: Problem, *, seed: int = 0, max_iterations: int | None = None) -> Plan:
    """Plan routes for ``problem``. Deterministic for a given seed when ``max_iterations`` is the
    binding stop; with only the time limit, the plan depends on how many iterations fit in it.
    """
    began = time.perf_counter()
    dur, dist = _check_structure(problem)
    n = dur.shape[0]
    notes: list[str] = []

    unassigned: list[Unassigned] = []
    jobs: list[Job] = []
    for job in problem.jobs:
        why = _job_problem(job, n)
        if why:
            unassigned.append(Unassigned(job.id, Reason.INVALID_JOB, why))
            log.warning("optimiser.job_invalid job=%s detail=%s", job.id, why)
        else:
            jobs.append(job)

    vehicles = []
    for v in problem.vehicles:
        why = _vehicle_problem(v)
        if why:
            notes.append(f"vehicle {v.id}: {why}")
            log.warning("optimiser.vehicle_invalid vehicle=%s detail=%s", v.id, why)
        else:
            vehicles.append(v)
    fleets = _build_fleets(problem, vehicles, dur, notes)
    jobs, rejected, allowed = _prefilter(problem, jobs, fleets, dur, dist)
    unassigned.extend(rejected)

    routes: list[Route] = []
    iterations, runtime = 0, 0.0
    if jobs and fleets:
        try:
            routes, dropped, iterations, runtime = _solve(
                problem, jobs, fleets, allowed, dur, dist, seed, max_iterations, began
            )
            unassigned.extend(dropped)
        except Exception as exc:  # noqa: BLE001 - the solver must never take the caller down
            log.exception("optimiser.solver_failed jobs=%d error=%s", len(jobs), exc)
            unassigned.extend(
                Unassigned(j.id, Reason.SOLVER_ERROR, f"the solver failed: {exc}") for j in jobs
            )
    elif jobs:
        unassigned.extend(
            Unassigned(j.id, Reason.NO_COMPATIBLE_VEHICLE, "no usable vehicle") for j in jobs
        )

    order = {job.id: i for i, job in enumerate(problem.jobs)}
    unassigned.sort(key=lambda u: order[u.job_id])
    used = {r.vehicle_id for r in routes}
    plan = Plan(
        routes=tuple(routes),
        unassigned=tuple(unassigned),
        idle_vehicles=tuple(v.id for v in problem.vehicles if v.id not in used),
        distance=sum(r.distance for r in routes),
        duration=sum(r.duration for r in routes),
        cost=sum(_route_cost(problem, r, vehicles) for r in routes),
        iterations=iterations,
        runtime=runtime,
        warnings=tuple(notes),
    )
    log.info(
        "optimiser.planned jobs=%d vehicles=%d routes=%d unassigned=%d distance=%d "
        "iterations=%d runtime=%.2f",
        len(problem.jobs),
        len(problem.vehicles),
        len(plan.routes),
        len(plan.unassigned),
        plan.distance,
        iterations,
        runtime,
    )
    return plan


def _route_cost(problem: Problem, route: Route, vehicles: list[Vehicle]) -> int:
    fixed = next(v.fixed_cost for v in vehicles if v.id == route.vehicle_id)
    return problem.distance_cost * route.distance + problem.duration_cost * route.duration + fixed


class _Stop:
    """Stops PyVRP at the time or iteration limit, or early when the search has found no
    feasible solution by ``give_up`` of the budget (the jobs then do not all fit, and the rest of
    the budget goes to choosing which to leave out). Counting iterations keeps the early stop
    deterministic when an iteration limit is given."""

    def __init__(self, seconds: float, iterations: int | None, give_up: float | None) -> None:
        self.seconds, self.iterations, self.give_up = seconds, iterations, give_up
        self.count = 0
        self.started: float | None = None

    def __call__(self, best_cost: int) -> bool:
        if self.started is None:
            self.started = time.perf_counter()
        elapsed = time.perf_counter() - self.started
        self.count += 1
        if elapsed > self.seconds:
            return True
        if self.iterations is not None and self.count > self.iterations:
            return True
        if self.give_up is None or best_cost < _INFEASIBLE_COST:
            return False
        if self.iterations is not None:
            return self.count > self.give_up * self.iterations
        return elapsed > self.give_up * self.seconds


_INFEASIBLE_COST = np.iinfo(np.int64).max
# Share of the budget after which a search that found no feasible plan serving every job stops
# trying, and the remainder goes to planning without some of them.
_GIVE_UP = 0.3


@dataclass
class _Model:
    data: pyvrp.ProblemData
    jobs: list[Job]
    fleets: list[_Fleet]
    site_of: dict[int, UnloadSite]  # PyVRP depot index -> unload site
    site_index: dict[Id, int]
    prize_unit: int


def _build_model(
    problem: Problem,
    jobs: list[Job],
    fleets: list[_Fleet],
    allowed: dict[Id, set[int]],
    dur: np.ndarray,
    dist: np.ndarray,
) -> _Model:
    # PyVRP depots: each depot in use and each unload site. PyVRP locations: the depots, then one
    # per job (jobs at one place get separate locations at distance 0, so that routing profiles
    # can forbid them one by one).
    depot_locs: list[int] = []
    depot_index: dict[tuple[str, Id], int] = {}

    def pyvrp_depot(kind: str, ref: Id, loc: int) -> int:
        if (kind, ref) not in depot_index:
            depot_index[(kind, ref)] = len(depot_locs)
            depot_locs.append(loc)
        return depot_index[(kind, ref)]

    for f in fleets:
        end_id = f.spec.end_depot if f.spec.end_depot is not None else f.spec.start_depot
        f.pyvrp_start = pyvrp_depot("depot", f.spec.start_depot, f.start_loc)
        if f.unload is not None:
            f.pyvrp_end = pyvrp_depot("unload", f.unload.id, f.unload.location)
        else:
            f.pyvrp_end = pyvrp_depot("depot", end_id, f.home_loc)
    reload_ids = [pyvrp_depot("unload", u.id, u.location) for u in problem.unload_sites]
    site_index = {u.id: depot_index[("unload", u.id)] for u in problem.unload_sites}

    depots_by_id = {d.id: d for d in problem.depots}
    sites_by_id = {u.id: u for u in problem.unload_sites}
    pyvrp_depots = []
    for (kind, ref), idx in sorted(depot_index.items(), key=lambda kv: kv[1]):
        place = depots_by_id[ref] if kind == "depot" else sites_by_id[ref]
        pyvrp_depots.append(
            pyvrp.Depot(
                location=idx,
                service_duration=place.service_time if kind == "unload" else 0,
                **_pyvrp_window(place.time_window),
                name=str(ref),
            )
        )

    n_depots = len(depot_locs)
    source = np.array(depot_locs + [j.location for j in jobs], dtype=np.int64)
    prize_unit, forbidden_distance = _price_scale(problem, fleets, dur, dist)
    base_dur = dur[np.ix_(source, source)]
    base_dist = dist[np.ix_(source, source)]
    missing = (base_dur < 0) | (base_dist < 0)
    base_dur = np.where(missing, _FORBIDDEN_DURATION, base_dur)
    base_dist = np.where(missing, forbidden_distance, base_dist)
    np.fill_diagonal(base_dur, 0)
    np.fill_diagonal(base_dist, 0)

    # One routing profile per distinct set of forbidden jobs (in practice: per vehicle category).
    profiles: dict[frozenset[int], int] = {}
    dur_mats: list[np.ndarray] = []
    dist_mats: list[np.ndarray] = []
    for fi, f in enumerate(fleets):
        banned = frozenset(n_depots + k for k, job in enumerate(jobs) if fi not in allowed[job.id])
        if banned not in profiles:
            profiles[banned] = len(dur_mats)
            pd, pt = base_dist.copy(), base_dur.copy()
            if banned:
                cols = np.fromiter(sorted(banned), dtype=np.int64)
                pd[:, cols] = forbidden_distance
                pt[:, cols] = _FORBIDDEN_DURATION
                pd[cols, cols] = 0
                pt[cols, cols] = 0
            dist_mats.append(pd)
            dur_mats.append(pt)
        f.profile = profiles[banned]

    clients = [
        pyvrp.Client(
            location=n_depots + k,
            pickup=[job.demand],
            service_duration=job.service_time,
            **_pyvrp_window(job.time_window),
            prize=prize_unit * (job.priority + 1),
            required=True,
            name=str(job.id),
        )
        for k, job in enumerate(jobs)
    ]
    vehicle_types = []
    for f in fleets:
        spec = f.spec
        # An unbounded shift keeps PyVRP's default, as for open time windows.
        late = {"tw_late": f.end_limit} if f.end_bounded else {}
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=len(f.vehicle_ids),
                capacity=[spec.capacity],
                start_depot=f.pyvrp_start,
                end_depot=f.pyvrp_end,
                fixed_cost=spec.fixed_cost + _return_cost(problem, f, dur, dist),
                tw_early=f.shift_start,
                **late,
                unit_distance_cost=problem.distance_cost,
                unit_duration_cost=problem.duration_cost,
                profile=f.profile,
                reload_depots=reload_ids if problem.unload_sites else [],
                max_reloads=spec.max_unloads if spec.max_unloads is not None else MAX_SIZE,
                name=",".join(map(str, f.vehicle_ids)),
            )
        )
    # Coordinates only serve PyVRP's plotting; the matrices carry the geography.
    locations = [pyvrp.Location(x=0, y=0) for _ in source]
    data = pyvrp.ProblemData(locations, clients, pyvrp_depots, vehicle_types, dist_mats, dur_mats)
    return _Model(
        data=data,
        jobs=jobs,
        fleets=fleets,
        site_of={i: sites_by_id[ref] for ref, i in site_index.items()},
        site_index=site_index,
        prize_unit=prize_unit,
    )


def _pyvrp_window(window: TimeWindow | None) -> dict[str, int]:
    # Open windows keep PyVRP's own defaults, so that a problem without time windows is one
    # for PyVRP too.
    if window is None:
        return {}
    return {"tw_early": int(window[0]), "tw_late": int(window[1])}


def _solve(
    problem: Problem,
    jobs: list[Job],
    fleets: list[_Fleet],
    allowed: dict[Id, set[int]],
    dur: np.ndarray,
    dist: np.ndarray,
    seed: int,
    max_iterations: int | None,
    began: float,
) -> tuple[list[Route], list[Unassigned], int, float]:
    model = _build_model(problem, jobs, fleets, allowed, dur, dist)

    def budget() -> float:
        return max(0.05, problem.time_limit - (time.perf_counter() - began))

    # First, every job required: the plain VRP, where PyVRP is at its strongest.
    stop = _Stop(budget(), max_iterations, _GIVE_UP)
    result = _run(model.data, stop, seed)
    iterations, runtime = result.num_iterations, result.runtime
    planned = _extract(problem, model, result.best, dur, dist)
    if not result.best.is_feasible() or planned.repaired:
        # Not everything fits. Start again from the repaired plan with every job optional and
        # worth its prize: PyVRP then keeps the plan feasible and fits in what it can.
        log.info(
            "optimiser.overconstrained jobs=%d served=%d; planning without some jobs",
            len(jobs),
            len(planned.served),
        )
        optional = model.data.replace(
            clients=[
                pyvrp.Client(
                    location=c.location,
                    pickup=c.pickup,
                    service_duration=c.service_duration,
                    tw_early=c.tw_early,
                    tw_late=c.tw_late,
                    prize=c.prize,
                    required=False,
                    name=c.name,
                )
                for c in model.data.clients()
            ]
        )
        left = None if max_iterations is None else max(1, max_iterations - iterations)
        try:
            warm = planned.as_solution(optional, model)
            second = _run(optional, _Stop(budget(), left, None), seed, warm)
        except Exception as exc:  # noqa: BLE001 - keep the repaired plan rather than nothing
            log.exception("optimiser.second_phase_failed error=%s", exc)
        else:
            iterations += second.num_iterations
            runtime += second.runtime
            model.data = optional
            planned = _extract(problem, model, second.best, dur, dist)

    dropped = [
        Unassigned(
            j.id,
            Reason.NO_ROOM,
            "the fleet has no room left for this job alongside the others "
            "(capacity, shifts, or time windows), or none was found within the time limit",
        )
        for j in jobs
        if j.id not in planned.served
    ]
    for u in dropped:
        log.info("optimiser.job_unplanned job=%s reason=%s", u.job_id, u.reason)
    return planned.routes, dropped, iterations, runtime


def _run(
    data: pyvrp.ProblemData, stop: _Stop, seed: int, warm: pyvrp.Solution | None = None
) -> pyvrp.Result:
    with warnings.catch_warnings():
        # PyVRP warns when its penalties max out, i.e. when the jobs do not all fit; that is a
        # normal outcome here, handled by the second phase and reported per job.
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        return pyvrp.solve(
            data, stop, seed=seed, collect_stats=False, display=False, initial_solution=warm
        )


@dataclass
class _Extracted:
    routes: list[Route]
    fleet_of: list[int]  # per route, its fleet index
    visits: list[list[Job | UnloadSite]]
    served: set[Id]
    repaired: bool

    def as_solution(self, data: pyvrp.ProblemData, model: _Model) -> pyvrp.Solution:
        job_index = {job.id: k for k, job in enumerate(model.jobs)}
        routes = []
        for fi, seq in zip(self.fleet_of, self.visits, strict=True):
            acts = [
                pyvrp.Activity(pyvrp.ActivityType.CLIENT, job_index[item.id])
                if isinstance(item, Job)
                else pyvrp.Activity(pyvrp.ActivityType.DEPOT, model.site_index[item.id])
                for item in seq
            ]
            routes.append(pyvrp.Route(data, acts, fi))
        return pyvrp.Solution(data, routes)


def _extract(
    problem: Problem,
    model: _Model,
    solution: pyvrp.Solution,
    dur: np.ndarray,
    dist: np.ndarray,
) -> _Extracted:
    out = _Extracted([], [], [], set(), False)
    by_type: dict[int, list[pyvrp.Route]] = {}
    for r in solution.routes():
        by_type.setdefault(r.vehicle_type(), []).append(r)
    for fi, pyvrp_routes in sorted(by_type.items()):
        f = model.fleets[fi]
        # Interchangeable vehicles take the routes in a stable order: earliest start first.
        pyvrp_routes.sort(key=lambda r: (r.start_time(), [a.idx for a in r.schedule()]))
        for vehicle_id, r in zip(f.vehicle_ids, pyvrp_routes, strict=False):
            schedule = r.schedule()
            seq = [
                model.jobs[a.idx] if a.is_client() else model.site_of[a.idx] for a in schedule[1:-1]
            ]
            fixed = _schedule_repaired(
                problem, f, vehicle_id, seq, int(schedule[0].end_time), dur, dist
            )
            if fixed is None:
                out.repaired = out.repaired or any(isinstance(x, Job) for x in seq)
                continue
            route, kept, changed = fixed
            out.repaired = out.repaired or changed
            out.routes.append(route)
            out.fleet_of.append(fi)
            out.visits.append(kept)
            out.served.update(route.job_ids)
    return out


def _return_cost(problem: Problem, f: _Fleet, dur: np.ndarray, dist: np.ndarray) -> int:
    """Cost of the fixed leg from the final unload site home, charged once per used vehicle."""
    if f.unload is None:
        return 0
    u, h = f.unload.location, f.home_loc
    return problem.distance_cost * int(dist[u, h]) + problem.duration_cost * int(dur[u, h])


# ---------------------------------------------------------------------------------------------
# Scheduling and checking a route, independently of the solver


def schedule_route(
    problem: Problem,
    vehicle: Vehicle,
    visits: Sequence[Job | UnloadSite],
    *,
    departure: int | None = None,
) -> tuple[Route, list[str]]:
    """Times and loads of ``vehicle`` doing ``visits`` in order, and every rule the order breaks.

    Used to check the solver's routes, and by callers to re-time a route a dispatcher edited.
    """
    dur, dist = _check_structure(problem)
    fleets = _build_fleets(problem, [vehicle], dur, [])
    if not fleets:
        raise ProblemError(f"vehicle {vehicle.id} cannot work (see its shift and depots)")
    f = fleets[0]
    start = f.shift_start if departure is None else departure
    route, problems, _ = _simulate(problem, f, vehicle.id, visits, start, dur, dist)
    return route, problems


def _simulate(
    problem: Problem,
    f: _Fleet,
    vehicle_id: Id,
    seq: Sequence[Job | UnloadSite],
    departure: int,
    dur: np.ndarray,
    dist: np.ndarray,
) -> tuple[Route, list[str], int | None]:
    """Walk the route; returns it, the rules broken, and the index in ``seq`` of the job to drop
    first to repair it (None when nothing breaks)."""
    spec = f.spec
    problems: list[str] = []
    culprit: int | None = None
    last_job: int | None = None
    stops = [Stop("start", spec.start_depot, f.start_loc, departure, departure, departure, 0, 0, 0)]
    t, load, peak, here, total_d = departure, 0, 0, f.start_loc, 0

    def blame(i: int | None, message: str) -> None:
        nonlocal culprit
        problems.append(message)
        if culprit is None:
            culprit = i

    def go(to: int, blame_on: int | None, what: str) -> tuple[int, int, int]:
        nonlocal total_d, here
        travel, length = int(dur[here, to]), int(dist[here, to])
        if travel < 0 or length < 0:
            blame(blame_on, f"no road to {what}")
            travel, length = max(travel, 0), max(length, 0)
        total_d += length
        here = to
        return t + travel, travel, length

    def unload_at(site: UnloadSite) -> None:
        nonlocal t, load
        arrival, travel, length = go(site.location, last_job, f"unload site {site.id}")
        lo, hi = _tw(site.time_window)
        begin = max(arrival, lo)
        if begin > hi:
            blame(last_job, f"unload site {site.id}: arrives at {arrival}, after it closes at {hi}")
        load, t = 0, begin + site.service_time
        stops.append(Stop("unload", site.id, site.location, arrival, begin, t, 0, travel, length))

    if departure < f.shift_start:
        blame(None, f"departs at {departure}, before the shift starts at {f.shift_start}")
    for i, item in enumerate(seq):
        if isinstance(item, UnloadSite):
            unload_at(item)
            continue
        job = item
        arrival, travel, length = go(job.location, i, f"job {job.id}")
        lo, hi = _tw(job.time_window)
        begin = max(arrival, lo)
        if begin > hi:
            blame(i, f"job {job.id}: arrives at {arrival}, after its window closes at {hi}")
        if job.category is not None and job.category != spec.category:
            blame(i, f"job {job.id} needs category {job.category!r}, not {spec.category!r}")
        load += job.demand
        peak = max(peak, load)
        if load > spec.capacity:
            blame(i, f"job {job.id}: load {load} exceeds capacity {spec.capacity}")
        t = begin + job.service_time
        stops.append(Stop("job", job.id, job.location, arrival, begin, t, load, travel, length))
        last_job = i

    # The unload on the way home (return_empty) is not one of the limited intermediate unloads,
    # as in PyVRP, where it is the route's end point rather than a reload.
    unloads = sum(1 for item in seq if isinstance(item, UnloadSite))
    if spec.max_unloads is not None and unloads > spec.max_unloads:
        blame(last_job, f"{unloads} unloads, more than the {spec.max_unloads} allowed")
    if f.unload is not None and load > 0:
        unload_at(f.unload)
    arrival, travel, length = go(f.home_loc, last_job, "the end depot")
    end_id = spec.end_depot if spec.end_depot is not None else spec.start_depot
    stops.append(Stop("end", end_id, f.home_loc, arrival, arrival, arrival, load, travel, length))
    shift_end = OPEN_END if spec.shift_end is None else spec.shift_end
    if arrival > min(shift_end, f.home_tw[1]):
        blame(last_job, f"returns at {arrival}, after the shift or the depot closes")

    route = Route(
        vehicle_id=vehicle_id,
        stops=tuple(stops),
        distance=total_d,
        duration=arrival - departure,
        start_time=departure,
        end_time=arrival,
        max_load=peak,
    )
    return route, problems, culprit


def _schedule_repaired(
    problem: Problem,
    f: _Fleet,
    vehicle_id: Id,
    seq: list[Job | UnloadSite],
    departure: int,
    dur: np.ndarray,
    dist: np.ndarray,
) -> tuple[Route, list[Job | UnloadSite], bool] | None:
    """Time the solver's route; if it breaks a rule (only when the search ended on an
    infeasible solution), drop jobs until it does not. Returns the route, the visits kept and
    whether any job was dropped; None when no job is left."""
    jobs_before = sum(1 for item in seq if isinstance(item, Job))
    seq = _tidy(seq, f)
    first_problem = None
    while any(isinstance(item, Job) for item in seq):
        route, problems, culprit = _simulate(problem, f, vehicle_id, seq, departure, dur, dist)
        if not problems:
            break
        first_problem = first_problem or problems[0]
        if culprit is None:
            departure = max(departure, f.shift_start)
            continue
        del seq[culprit]
        seq = _tidy(seq, f)
    kept = sum(1 for item in seq if isinstance(item, Job))
    if first_problem:
        log.info(
            "optimiser.route_repaired vehicle=%s dropped=%d first_problem=%r",
            vehicle_id,
            jobs_before - kept,
            first_problem,
        )
    return (route, seq, kept < jobs_before) if kept else None


def _tidy(seq: list[Job | UnloadSite], f: _Fleet) -> list[Job | UnloadSite]:
    """Drop unload visits that would empty an already empty vehicle (a trip with no load)."""
    out: list[Job | UnloadSite] = []
    carrying = False
    for item in seq:
        if isinstance(item, UnloadSite):
            if not carrying:
                continue
            carrying = False
        elif item.demand > 0:
            carrying = True
        out.append(item)
    # The unload on the way home is _simulate's to add (only when the vehicle is not empty).
    if f.unload is not None and out and out[-1] == f.unload:
        out.pop()
    return out
