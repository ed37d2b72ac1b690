"""Optimised rounds: turn a day's jobs and vehicles into the optimiser's problem and back.

The optimiser (:mod:`dispatch.routing.optimiser`) is pure and speaks in matrix indices and
seconds; this module gathers the places (depots, jobs, unload sites), asks the router for the
road-time and distance matrices, sets shifts from the drivers' shifts (or the municipality's usual
hours) and stores the answer as plain JSON on the :class:`~dispatch.models.Plan`.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

import numpy as np
import shapely
from django.db import transaction
from django.utils import timezone

from dispatch import selectors
from dispatch.models import Job, Plan, Shift, UnloadSite
from dispatch.routing import optimiser as opt
from fleet.models import Vehicle

log = logging.getLogger(__name__)


def _seconds(midnight: datetime, moment: datetime) -> int:
    return max(0, int((moment - midnight).total_seconds()))


def _matrices(municipality, points: list[tuple[float, float]], vehicles: list[Vehicle]):
    """Integer road-time (s) and distance (m) matrices; -1 where there is no road."""
    from dispatch.routing.registry import RoutingUnavailable, router_for  # noqa: PLC0415

    try:
        router = router_for(municipality)
    except RoutingUnavailable as exc:
        log.warning("dispatch.plan_straight_line municipality=%s error=%s", municipality.pk, exc)
        n = len(points)
        dur = np.zeros((n, n))
        dist = np.zeros((n, n))
        for i, a in enumerate(points):
            for j, b in enumerate(points):
                travel = selectors._straight_line(a, b)
                dur[i, j], dist[i, j] = travel.duration_s, travel.length_m
        return np.rint(dur).astype(np.int64), np.rint(dist).astype(np.int64), False
    matrix = router.matrix(points, vehicle=_plan_profile(vehicles))
    dur = np.where(np.isfinite(matrix.durations_s), np.rint(matrix.durations_s), -1)
    dist = np.where(np.isfinite(matrix.lengths_m), np.rint(matrix.lengths_m), -1)
    return dur.astype(np.int64), dist.astype(np.int64), True


def _plan_profile(vehicles: list[Vehicle]):
    """The heaviest, tallest vehicle's routing profile: every planned road is open to all of
    them."""
    from dispatch.routing.selectors import vehicle_profile  # noqa: PLC0415

    profiles = [vehicle_profile(vehicle=v) for v in vehicles]
    profiles = [p for p in profiles if p is not None]
    return max(profiles, key=lambda p: (p.weight_t, p.height_m)) if profiles else None


def _shift_bounds(plan: Plan, vehicle: Vehicle, midnight: datetime, shifts: list[Shift]):
    mine = [s for s in shifts if s.vehicle_id == vehicle.pk]
    if mine:
        return (
            _seconds(midnight, min(s.starts_at for s in mine)),
            _seconds(midnight, max(s.ends_at for s in mine)),
        )
    settings_ = selectors.dispatch_settings(plan.municipality)
    start = datetime.combine(plan.day, settings_.shift_start, tzinfo=midnight.tzinfo)
    end = datetime.combine(plan.day, settings_.shift_end, tzinfo=midnight.tzinfo)
    return _seconds(midnight, start), _seconds(midnight, end)


def build_problem(plan: Plan) -> tuple[opt.Problem, dict]:
    """The optimiser's problem for ``plan`` and the index needed to read its answer."""
    municipality = plan.municipality
    midnight, day_end = selectors.local_day_bounds(municipality, plan.day)
    now = timezone.now()
    vehicles = list(
        Vehicle.objects.filter(municipality=municipality, pk__in=plan.params.get("vehicles", []))
        .select_related("department")
        .order_by("pk")
    )
    jobs = list(
        Job.objects.filter(municipality=municipality, pk__in=plan.params.get("jobs", [])).order_by(
            "pk"
        )
    )
    sites = list(UnloadSite.objects.filter(municipality=municipality, active=True).order_by("pk"))
    shifts = list(
        Shift.objects.filter(
            municipality=municipality,
            vehicle_id__in=[v.pk for v in vehicles],
            # The shifts that start on the plan's day (a night shift belongs to its first day).
            starts_at__gte=midnight,
            starts_at__lt=day_end,
        )
    )
    from telematics.models import VehicleLiveState  # noqa: PLC0415

    live = {
        s.vehicle_id: s
        for s in VehicleLiveState.objects.filter(vehicle_id__in=[v.pk for v in vehicles])
        if s.latitude is not None
    }
    points: list[tuple[float, float]] = []
    places: list[dict] = []

    def place(lat: float, lon: float, **info) -> int:
        points.append((lat, lon))
        places.append({"lat": lat, "lon": lon, **info})
        return len(points) - 1

    depots: list[opt.Depot] = []
    fleet: list[opt.Vehicle] = []
    notes: list[str] = []
    for v in vehicles:
        if v.department and v.department.depot_lat is not None:
            lat, lon = v.department.depot_lat, v.department.depot_lon
        elif v.pk in live:
            lat, lon = live[v.pk].latitude, live[v.pk].longitude
        else:
            notes.append(f"vehicle {v.pk}: no depot and no position")
            continue
        loc = place(lat, lon, kind="depot", vehicle=v.pk)
        depots.append(opt.Depot(id=f"d{v.pk}", location=loc))
        start, end = _shift_bounds(plan, v, midnight, shifts)
        # Planning the day that is under way: nobody leaves in the past.
        start = max(start, _seconds(midnight, now)) if midnight <= now < day_end else start
        fleet.append(
            opt.Vehicle(
                id=v.pk,
                capacity=int(v.payload_kg or 0),
                start_depot=f"d{v.pk}",
                shift_start=start,
                shift_end=max(end, start),
                category=v.category,
                return_empty=bool(sites) and bool(v.payload_kg),
            )
        )
    opt_jobs: list[opt.Job] = []
    for job in jobs:
        loc = place(job.latitude, job.longitude, kind="job", job=job.pk)
        window = None
        if job.window_start or job.window_end:
            lo = _seconds(midnight, job.window_start) if job.window_start else 0
            hi = _seconds(midnight, job.window_end) if job.window_end else opt.OPEN_END - 1
            window = (lo, max(lo, hi))
        opt_jobs.append(
            opt.Job(
                id=job.pk,
                location=loc,
                demand=int(job.load_kg),
                time_window=window,
                service_time=job.service_minutes * 60,
                priority=min(opt.MAX_PRIORITY, int(job.priority)),
                category=job.vehicle_category or None,
            )
        )
    opt_sites = [
        opt.UnloadSite(
            id=f"u{s.pk}",
            location=place(s.latitude, s.longitude, kind="unload", site=s.pk, name=s.name),
            service_time=s.service_minutes * 60,
        )
        for s in sites
    ]
    dur, dist, routed = _matrices(municipality, points, vehicles)
    problem = opt.Problem(
        depots=depots,
        jobs=opt_jobs,
        vehicles=fleet,
        durations=dur,
        distances=dist,
        unload_sites=opt_sites,
        time_limit=float(plan.params.get("time_limit_s", 5.0)),
        distance_cost=1,
        duration_cost=1,
    )
    index = {
        "places": places,
        "routed": routed,
        "notes": notes,
        "durations": dur.tolist(),
        "distances": dist.tolist(),
    }
    return problem, index


def _route_json(route: opt.Route, places: list[dict], problems: list[str] | None = None) -> dict:
    stops = []
    for s in route.stops:
        p = places[s.location]
        stop = {
            "kind": s.kind,
            "lat": p["lat"],
            "lon": p["lon"],
            "arrival": s.arrival,
            "start": s.start,
            "departure": s.departure,
            "load": s.load,
            "travel_time": s.travel_time,
            "travel_distance": s.travel_distance,
        }
        if s.kind == "job":
            stop["job"] = int(s.ref)
        elif s.kind == "unload":
            stop["site"] = p.get("site")
            stop["name"] = p.get("name", "")
        stops.append(stop)
    return {
        "vehicle": int(route.vehicle_id),
        "distance": route.distance,
        "duration": route.duration,
        "start_time": route.start_time,
        "end_time": route.end_time,
        "max_load": route.max_load,
        "stops": stops,
        "problems": problems or [],
    }


# --- the routes' shapes on the map ---------------------------------------------------------------

# Douglas-Peucker tolerance for the drawn routes: the kept points are points of the road's own
# shape, and the line between them strays from the road by at most this much.
GEOMETRY_TOLERANCE_M = 3.0


def simplify_line(points: np.ndarray, tolerance_m: float = GEOMETRY_TOLERANCE_M) -> np.ndarray:
    """``points`` (lon, lat rows) without the vertices that change the line by less than
    ``tolerance_m``; the first and last are always kept."""
    if len(points) <= 2:
        return points
    lat0 = float(np.mean(points[:, 1]))
    kx = math.radians(1) * 6_371_008.8 * math.cos(math.radians(lat0))
    ky = math.radians(1) * 6_371_008.8
    origin = points[0]
    xy = (points - origin) * (kx, ky)
    kept = shapely.get_coordinates(
        shapely.simplify(shapely.linestrings(xy), tolerance_m, preserve_topology=False)
    )
    return kept / (kx, ky) + origin


def _leg_json(ok: bool, coords: np.ndarray, **info) -> dict:
    return {
        "ok": ok,
        # [lat, lon], as Leaflet takes them; 6 decimals is about 0.1 m.
        "points": [[round(lat, 6), round(lon, 6)] for lon, lat in coords.tolist()],
        **info,
    }


def _straight_leg(a: dict, b: dict, reason: str) -> dict:
    return _leg_json(False, np.array([[a["lon"], a["lat"]], [b["lon"], b["lat"]]]), reason=reason)


def routes_geometry(municipality, routes: list[dict], vehicle_ids: list[int]) -> list[dict]:
    """The road each planned route follows, leg by leg (depot, stops in order, unload trips,
    depot), simplified for drawing; one entry per route, in the same order. A leg the router
    cannot route (or every leg, without a road graph) is a straight line with ``ok`` false and
    the reason."""
    from dispatch.routing.registry import RoutingUnavailable, router_for  # noqa: PLC0415

    try:
        router = router_for(municipality)
    except RoutingUnavailable as exc:
        log.warning(
            "dispatch.plan_geometry_unavailable municipality=%s error=%s", municipality.pk, exc
        )
        router = None
    profile = _plan_profile(list(Vehicle.objects.filter(pk__in=vehicle_ids)))
    out = []
    for route in routes:
        stops = route.get("stops", [])
        legs = []
        for a, b in zip(stops[:-1], stops[1:], strict=False):
            if router is None:
                legs.append(_straight_leg(a, b, "no_graph"))
                continue
            try:
                found = router.route([(a["lat"], a["lon"]), (b["lat"], b["lon"])], vehicle=profile)
            except Exception:  # noqa: BLE001 - a shape is not worth losing the plan over
                log.exception("dispatch.plan_leg_failed vehicle=%s", route.get("vehicle"))
                legs.append(_straight_leg(a, b, "error"))
                continue
            if not found.ok:
                log.info(
                    "dispatch.plan_leg_unrouted vehicle=%s reason=%s",
                    route.get("vehicle"),
                    found.reason,
                )
                legs.append(_straight_leg(a, b, str(found.reason)))
                continue
            legs.append(
                _leg_json(
                    True,
                    simplify_line(found.coordinates),
                    length_m=round(found.length_m, 1),
                    duration_s=round(found.duration_s, 1),
                )
            )
        out.append({"vehicle": route.get("vehicle"), "legs": legs})
    return out


def plan_geometry(plan: Plan) -> list[dict]:
    """The stored shapes of ``plan``'s routes, or (for a plan made before they were stored) the
    shapes worked out now and stored with the plan, so the next view does not route again."""
    result = plan.result or {}
    routes = result.get("routes", [])
    stored = result.get("geometry")
    if isinstance(stored, list) and len(stored) == len(routes):
        return stored
    geometry = routes_geometry(plan.municipality, routes, plan.params.get("vehicles", []))
    _plan_geometry_store(plan, routes, geometry)
    return geometry


def _plan_geometry_store(plan: Plan, routes: list[dict], geometry: list[dict]) -> None:
    """Store ``geometry`` in the plan's result, unless its routes changed while it was worked
    out (an adjustment stores its own shapes then); only the ``geometry`` key is written."""
    with transaction.atomic():
        current = (
            Plan.objects.select_for_update()
            .filter(pk=plan.pk)
            .values_list("result", flat=True)
            .first()
        )
        if not isinstance(current, dict) or current.get("routes") != routes:
            log.info("dispatch.plan_geometry_not_stored plan=%s reason=changed", plan.pk)
            return
        Plan.objects.filter(pk=plan.pk).update(result={**current, "geometry": geometry})
    plan.result = {**(plan.result or {}), "geometry": geometry}
    log.info("dispatch.plan_geometry_stored plan=%s routes=%d", plan.pk, len(routes))


def compute(plan: Plan) -> dict:
    problem, index = build_problem(plan)
    result = opt.optimise(problem)
    labels = dict(
        Vehicle.objects.filter(pk__in=[v.id for v in problem.vehicles]).values_list("pk", "plate")
    )
    out = {
        "routes": [_route_json(r, index["places"]) for r in result.routes],
        "unassigned": [
            {"job": int(u.job_id), "reason": str(u.reason), "detail": u.detail}
            for u in result.unassigned
        ],
        "idle_vehicles": [int(v) for v in result.idle_vehicles],
        "labels": {str(k): v for k, v in labels.items()},
        "distance": result.distance,
        "duration": result.duration,
        "runtime_s": round(result.runtime, 3),
        "warnings": [*index["notes"], *result.warnings],
        "routed": index["routed"],
        "places": index["places"],
        "durations": index["durations"],
        "distances": index["distances"],
    }
    for r in out["routes"]:
        r["label"] = labels.get(r["vehicle"], "")
    out["geometry"] = routes_geometry(
        plan.municipality, out["routes"], [v.id for v in problem.vehicles]
    )
    return out


def retime(plan: Plan, routes: dict[int, list[int]]) -> dict:
    """The plan's result with the routes replaced by the given job orders, re-timed."""
    problem, index = build_problem(plan)
    # Keep the matrices the plan was made with, so adjusting never re-routes behind one's back.
    stored = plan.result
    if stored.get("durations") and len(stored["durations"]) == len(index["places"]):
        problem = opt.Problem(
            depots=problem.depots,
            jobs=problem.jobs,
            vehicles=problem.vehicles,
            durations=np.asarray(stored["durations"], dtype=np.int64),
            distances=np.asarray(stored["distances"], dtype=np.int64),
            unload_sites=problem.unload_sites,
            time_limit=problem.time_limit,
            distance_cost=problem.distance_cost,
            duration_cost=problem.duration_cost,
        )
    jobs = {j.id: j for j in problem.jobs}
    fleet = {v.id: v for v in problem.vehicles}
    seen: set[int] = set()
    new_routes = []
    for vehicle_id, job_ids in routes.items():
        vehicle = fleet.get(int(vehicle_id))
        if vehicle is None:
            raise ValueError(f"vehicle {vehicle_id} is not in the plan")
        visits = []
        for jid in job_ids:
            if jid not in jobs or jid in seen:
                raise ValueError(f"job {jid} is not in the plan or is listed twice")
            seen.add(jid)
            visits.append(jobs[jid])
        if not visits:
            continue
        route, problems = opt.schedule_route(problem, vehicle, visits)
        data = _route_json(route, index["places"], problems)
        data["label"] = stored.get("labels", {}).get(str(vehicle.id), "")
        new_routes.append(data)
    left_out = [
        {"job": j, "reason": "removed", "detail": "left out by the dispatcher"}
        for j in sorted(jobs)
        if j not in seen
    ]
    return {
        **stored,
        "routes": new_routes,
        "unassigned": left_out,
        "distance": sum(r["distance"] for r in new_routes),
        "duration": sum(r["duration"] for r in new_routes),
        "adjusted": True,
        "geometry": routes_geometry(
            plan.municipality, new_routes, [v.id for v in problem.vehicles]
        ),
    }
