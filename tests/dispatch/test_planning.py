"""Optimised rounds: the day's jobs planned on the router's matrices, adjusted, applied as
assignments, and compared with what happened."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import planning, selectors, services
from dispatch.choices import JobStatus, PlanStatus
from dispatch.models import Job, Plan
from fleet.choices import Role
from tests.dispatch.conftest import DEPOT, EAST, JOB_PLACE, ROUND_PLACES, make_round_day
from tests.factories import JobFactory, UnloadSiteFactory

pytestmark = pytest.mark.django_db

PLACES = ROUND_PLACES


@pytest.fixture
def day_setup(municipality_a, routed):
    return make_round_day(municipality_a)


@pytest.fixture
def request_plan(django_capture_on_commit_callbacks):
    """Request a plan; the Celery task (eager in tests) runs when the request commits."""

    def make(municipality, users, vehicles, jobs, day):
        with django_capture_on_commit_callbacks(execute=True):
            return services.plan_request(
                municipality=municipality,
                actor=users[Role.DISPATCHER],
                day=day,
                vehicle_ids=[v.pk for v in vehicles],
                job_ids=[j.pk for j in jobs],
                time_limit_s=1.0,
            )

    return make


def test_plan_is_computed_on_road_times_within_shifts(
    municipality_a, users_a, day_setup, request_plan, routed
):
    vehicles, jobs, day = day_setup
    plan = request_plan(municipality_a, users_a, vehicles, jobs, day)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.DRAFT
    result = plan.result
    assert result["routed"] is True
    planned = sorted(s["job"] for r in result["routes"] for s in r["stops"] if s["kind"] == "job")
    assert planned == sorted(j.pk for j in jobs)
    assert result["unassigned"] == []
    for route in result["routes"]:
        stops = route["stops"]
        assert stops[0]["kind"] == "start" and stops[-1]["kind"] == "end"
        # Shift 07:00-15:00 local: seconds since local midnight.
        assert stops[0]["departure"] >= 7 * 3600
        assert stops[-1]["arrival"] <= 15 * 3600
        # Each leg takes the router's road time between the two places.
        for a, b in zip(stops, stops[1:], strict=False):
            if (a["lat"], a["lon"]) != (b["lat"], b["lon"]):
                expected = routed.matrix([(a["lat"], a["lon"])], [(b["lat"], b["lon"])]).durations_s
                heavy = round(float(expected[0, 0]))
                assert b["travel_time"] >= heavy - 1  # trucks may be kept off a few roads


def test_jobs_of_another_category_or_too_heavy_are_left_out_with_reasons(
    municipality_a, users_a, day_setup, request_plan
):
    vehicles, jobs, day = day_setup
    Job.objects.filter(pk=jobs[0].pk).update(vehicle_category="bus")
    Job.objects.filter(pk=jobs[1].pk).update(load_kg=50_000)
    plan = request_plan(municipality_a, users_a, vehicles, jobs, day)
    plan.refresh_from_db()
    reasons = {u["job"]: u["reason"] for u in plan.result["unassigned"]}
    assert reasons == {jobs[0].pk: "no_compatible_vehicle", jobs[1].pk: "demand_exceeds_capacity"}


def test_full_trucks_unload_at_the_transfer_station(
    municipality_a, users_a, day_setup, request_plan
):
    vehicles, jobs, day = day_setup
    UnloadSiteFactory(municipality=municipality_a, latitude=DEPOT[0], longitude=DEPOT[1] + 0.004)
    Job.objects.filter(pk__in=[j.pk for j in jobs]).update(load_kg=5000)
    plan = request_plan(municipality_a, users_a, vehicles[:1], jobs[:3], day)
    plan.refresh_from_db()
    (route,) = plan.result["routes"]
    kinds = [s["kind"] for s in route["stops"]]
    assert kinds.count("job") == 3
    assert "unload" in kinds
    assert route["max_load"] <= 8000  # the truck's payload


def test_apply_assigns_in_the_planned_order_and_times(
    municipality_a, users_a, day_setup, request_plan
):
    vehicles, jobs, day = day_setup
    plan = request_plan(municipality_a, users_a, vehicles, jobs, day)
    plan.refresh_from_db()
    outcome = services.plan_apply(plan=plan, actor=users_a[Role.DISPATCHER])
    assert sorted(outcome.applied) == sorted(j.pk for j in jobs)
    assert outcome.refused == {}
    midnight, _ = selectors.local_day_bounds(municipality_a, day)
    for route in plan.result["routes"]:
        order = [s["job"] for s in route["stops"] if s["kind"] == "job"]
        queued = list(Job.objects.filter(vehicle_id=route["vehicle"]).order_by("queue_position"))
        assert [j.pk for j in queued] == order
        for job, stop in zip(
            queued, [s for s in route["stops"] if s["kind"] == "job"], strict=True
        ):
            assert job.planned_start == midnight + timedelta(seconds=stop["start"])
            assert job.plan_id == plan.pk
            assert job.status == JobStatus.ASSIGNED
    plan.refresh_from_db()
    assert plan.status == PlanStatus.APPLIED
    with pytest.raises(Exception):  # noqa: B017 - an applied plan cannot be applied again
        services.plan_apply(plan=plan, actor=users_a[Role.DISPATCHER])


def test_dispatcher_moves_a_stop_and_the_plan_is_retimed(
    municipality_a, users_a, day_setup, request_plan
):
    vehicles, jobs, day = day_setup
    plan = request_plan(municipality_a, users_a, vehicles, jobs, day)
    plan.refresh_from_db()
    everything = [j.pk for j in jobs]
    plan = services.plan_adjust(plan=plan, routes={vehicles[0].pk: everything[::-1]})
    (route,) = plan.result["routes"]
    assert [s["job"] for s in route["stops"] if s["kind"] == "job"] == everything[::-1]
    starts = [s["start"] for s in route["stops"] if s["kind"] == "job"]
    assert starts == sorted(starts)
    assert plan.result["adjusted"] is True
    with pytest.raises(ValueError):
        services.plan_adjust(plan=plan, routes={vehicles[0].pk: [everything[0], everything[0]]})


def test_planned_and_actual_are_compared(municipality_a, users_a, day_setup, request_plan):
    vehicles, jobs, day = day_setup
    plan = request_plan(municipality_a, users_a, vehicles[:1], jobs[:3], day)
    plan.refresh_from_db()
    services.plan_apply(plan=plan, actor=users_a[Role.DISPATCHER])
    plan.refresh_from_db()
    midnight, _ = selectors.local_day_bounds(municipality_a, day)
    stops = [s for s in plan.result["routes"][0]["stops"] if s["kind"] == "job"]
    first, second, third = (Job.objects.get(pk=s["job"]) for s in stops)
    planned = [midnight + timedelta(seconds=s["start"]) for s in stops]
    # The first on time, the third done before the second (out of order), the second late.
    Job.objects.filter(pk=first.pk).update(status="done", arrived_at=planned[0])
    Job.objects.filter(pk=third.pk).update(status="done", arrived_at=planned[1])
    Job.objects.filter(pk=second.pk).update(
        status="on_site", arrived_at=planned[1] + timedelta(minutes=40)
    )
    rows = {r["job"]: r["state"] for r in selectors.plan_comparison(plan=plan)}
    assert rows == {first.pk: "on_time", second.pk: "out_of_order", third.pk: "out_of_order"}
    Job.objects.filter(pk=second.pk).update(status="cancelled", arrived_at=None)
    rows = {r["job"]: r["state"] for r in selectors.plan_comparison(plan=plan)}
    assert rows[second.pk] == "skipped"


def test_plan_api_returns_202_then_the_draft(
    municipality_a, users_a, api_client_for, day_setup, django_capture_on_commit_callbacks
):
    vehicles, jobs, day = day_setup
    api = api_client_for(users_a[Role.DISPATCHER])
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/plans/",
            {
                "day": day.isoformat(),
                "vehicles": [v.pk for v in vehicles],
                "jobs": [j.pk for j in jobs],
                "time_limit_s": 1,
            },
            format="json",
        )
    assert response.status_code == 202
    plan_id = response.json()["id"]
    assert api.get(f"/api/v1/plans/{plan_id}/").json()["status"] == "draft"
    applied = api.post(f"/api/v1/plans/{plan_id}/apply/").json()
    assert sorted(applied["applied"]) == sorted(j.pk for j in jobs)
    comparison = api.get(f"/api/v1/plans/{plan_id}/comparison/").json()
    assert {row["state"] for row in comparison} == {"pending"}


def test_build_problem_uses_each_vehicles_depot(municipality_a, day_setup, request_plan):
    vehicles, jobs, day = day_setup
    plan = Plan.objects.create(
        municipality=municipality_a,
        day=day,
        params={"vehicles": [v.pk for v in vehicles], "jobs": [j.pk for j in jobs]},
    )
    problem, index = planning.build_problem(plan)
    depots = [p for p in index["places"] if p["kind"] == "depot"]
    assert [(d["lat"], d["lon"]) for d in depots] == [DEPOT, DEPOT]
    assert [v.capacity for v in problem.vehicles] == [8000, 8000]
    assert problem.vehicles[0].shift_start == 7 * 3600


def test_planning_the_day_under_way_starts_now(municipality_a, crewed):
    vehicle = crewed(municipality_a)
    job = JobFactory(municipality=municipality_a)
    zone = selectors.local_zone(municipality_a)
    now = timezone.now().astimezone(zone)
    plan = Plan.objects.create(
        municipality=municipality_a,
        day=now.date(),
        params={"vehicles": [vehicle.pk], "jobs": [job.pk]},
    )
    problem, _index = planning.build_problem(plan)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert problem.vehicles[0].shift_start >= int((now - midnight).total_seconds())


# --- the routes' shapes on the map ---------------------------------------------------------------


def _metres(points):
    """Length of a [lat, lon] polyline along the ground (haversine), in metres."""
    import math

    total = 0.0
    for (lat1, lon1), (lat2, lon2) in zip(points, points[1:], strict=False):
        p1, p2 = math.radians(lat1), math.radians(lat2)
        a = (
            math.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
        )
        total += 2 * 6_371_008.8 * math.asin(math.sqrt(a))
    return total


def test_each_route_is_drawn_along_the_roads_leg_by_leg(
    municipality_a, users_a, day_setup, request_plan, routed
):
    vehicles, jobs, day = day_setup
    UnloadSiteFactory(municipality=municipality_a, latitude=DEPOT[0], longitude=DEPOT[1] + 0.004)
    Job.objects.filter(pk__in=[j.pk for j in jobs]).update(load_kg=4000)
    plan = request_plan(municipality_a, users_a, vehicles, jobs, day)
    plan.refresh_from_db()
    routes = plan.result["routes"]
    geometry = plan.result["geometry"]
    assert len(geometry) == len(routes) >= 1
    assert any(s["kind"] == "unload" for r in routes for s in r["stops"])
    for route, shape in zip(routes, geometry, strict=True):
        stops = route["stops"]
        assert shape["vehicle"] == route["vehicle"]
        # depot -> stops in order (unload trips included) -> depot: one leg between each two.
        assert len(shape["legs"]) == len(stops) - 1
        points = [p for leg in shape["legs"] for p in leg["points"]]
        assert len(points) > 3 * len(stops)  # it bends with the streets
        for a, b, leg in zip(stops[:-1], stops[1:], shape["legs"], strict=True):
            assert leg["ok"] is True
            # Starts and ends where the two stops meet the road.
            for stop, end in ((a, leg["points"][0]), (b, leg["points"][-1])):
                snap = routed.snap(stop["lat"], stop["lon"])
                assert _metres([[snap.road_lat, snap.road_lon], end]) < 1.0
            # As long as the router's road distance between them (simplifying cuts corners by
            # at most a few metres), and as the plan's own distance for that leg.
            drawn = _metres(leg["points"])
            assert drawn == pytest.approx(leg["length_m"], rel=0.03, abs=5)
            assert drawn == pytest.approx(b["travel_distance"], rel=0.03, abs=5)
        # Every drawn vertex lies on a road of the graph.
        snaps = routed.snap_many([tuple(p) for p in points], max_snap_m=50)
        assert max(s.distance_m for s in snaps) < 1.0
        assert _metres(points) == pytest.approx(route["distance"], rel=0.03, abs=10)


def test_a_leg_without_a_road_route_is_a_straight_line_with_its_reason(municipality_a, routed):
    at_sea = (35.5300, 24.0200)  # north of Chania's harbour, far from any road
    stops = [
        {"kind": "start", "lat": DEPOT[0], "lon": DEPOT[1]},
        {"kind": "job", "lat": JOB_PLACE[0], "lon": JOB_PLACE[1]},
        {"kind": "job", "lat": at_sea[0], "lon": at_sea[1]},
        {"kind": "end", "lat": DEPOT[0], "lon": DEPOT[1]},
    ]
    (shape,) = planning.routes_geometry(municipality_a, [{"vehicle": 1, "stops": stops}], [])
    ok = [leg["ok"] for leg in shape["legs"]]
    assert ok == [True, False, False]
    for leg, (a, b) in zip(shape["legs"][1:], [(1, 2), (2, 3)], strict=True):
        assert leg["points"] == [
            [stops[a]["lat"], stops[a]["lon"]],
            [stops[b]["lat"], stops[b]["lon"]],
        ]
        assert leg["reason"]


def test_without_a_road_graph_every_leg_is_a_straight_line(municipality_a):
    municipality_a.osm_file = ""
    municipality_a.save()
    stops = [{"lat": DEPOT[0], "lon": DEPOT[1]}, {"lat": EAST[0], "lon": EAST[1]}]
    (shape,) = planning.routes_geometry(municipality_a, [{"vehicle": 1, "stops": stops}], [])
    assert shape["legs"] == [
        {"ok": False, "points": [list(DEPOT), list(EAST)], "reason": "no_graph"}
    ]


def test_simplifying_keeps_the_corners_and_drops_points_on_a_straight_stretch():
    import numpy as np

    # lon, lat: 50 points due east, then 50 due north (about 5 m apart).
    east = np.column_stack([24.0 + np.arange(50) * 5.5e-5, np.full(50, 35.5)])
    north = np.column_stack([np.full(50, east[-1, 0]), 35.5 + np.arange(1, 51) * 4.5e-5])
    line = np.vstack([east, north])
    kept = planning.simplify_line(line)
    assert np.allclose(kept, line[[0, 49, -1]], rtol=0, atol=1e-9)
    # A detour of 10 m off the straight stretch is kept; one of 1 m is not.
    for bump, kept_it in ((9e-5, True), (9e-6, False)):
        bent = line.copy()
        bent[25, 1] += bump
        kept = planning.simplify_line(bent)
        assert any(np.allclose(p, bent[25], rtol=0, atol=1e-9) for p in kept) is kept_it
        assert np.allclose(kept[[0, -1]], line[[0, -1]], rtol=0, atol=1e-9)


def test_retimed_plan_is_redrawn_for_its_new_order(
    municipality_a, users_a, day_setup, request_plan, routed
):
    vehicles, jobs, day = day_setup
    plan = request_plan(municipality_a, users_a, vehicles, jobs, day)
    plan.refresh_from_db()
    everything = [j.pk for j in jobs]
    plan = services.plan_adjust(plan=plan, routes={vehicles[0].pk: everything[::-1]})
    (route,) = plan.result["routes"]
    (shape,) = plan.result["geometry"]
    assert shape["vehicle"] == vehicles[0].pk
    assert len(shape["legs"]) == len(route["stops"]) - 1
    jobs_by_pk = {j.pk: j for j in jobs}
    first = routed.snap(jobs_by_pk[everything[-1]].latitude, jobs_by_pk[everything[-1]].longitude)
    assert _metres([[first.road_lat, first.road_lon], shape["legs"][0]["points"][-1]]) < 1.0


def _map_config(response):
    import json
    import re

    found = re.search(
        r'<script id="map-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(found.group(1))


def test_plan_page_carries_the_shapes_and_not_the_matrices(
    municipality_a, users_a, web_client_for, day_setup, request_plan
):
    from django.urls import reverse

    vehicles, jobs, day = day_setup
    plan = request_plan(municipality_a, users_a, vehicles, jobs, day)
    plan.refresh_from_db()
    client = web_client_for(users_a[Role.DISPATCHER])
    config = _map_config(client.get(reverse("dispatch:plan_detail", args=[plan.pk])))
    assert config["geometry"] == plan.result["geometry"]
    assert config["plan"]["result"]["routes"] == plan.result["routes"]
    for heavy in ("durations", "distances", "places", "geometry"):
        assert heavy not in config["plan"]["result"]
    # A plan stored before the shapes were: they are worked out for the page.
    Plan.objects.filter(pk=plan.pk).update(
        result={k: v for k, v in plan.result.items() if k != "geometry"}
    )
    config = _map_config(client.get(reverse("dispatch:plan_detail", args=[plan.pk])))
    assert config["geometry"] == plan.result["geometry"]


def test_shapes_worked_out_for_an_older_plan_are_stored_and_not_routed_again(
    municipality_a, users_a, web_client_for, day_setup, request_plan, routed, monkeypatch
):
    from django.urls import reverse

    vehicles, jobs, day = day_setup
    plan = request_plan(municipality_a, users_a, vehicles, jobs, day)
    plan.refresh_from_db()
    drawn = plan.result["geometry"]
    legs = sum(len(r["stops"]) - 1 for r in plan.result["routes"])
    # A plan stored before the shapes were.
    Plan.objects.filter(pk=plan.pk).update(
        result={k: v for k, v in plan.result.items() if k != "geometry"}
    )
    calls = []
    real_route = routed.route

    def counted(*args, **kwargs):
        calls.append(args)
        return real_route(*args, **kwargs)

    monkeypatch.setattr(routed, "route", counted)
    client = web_client_for(users_a[Role.DISPATCHER])
    url = reverse("dispatch:plan_detail", args=[plan.pk])

    assert _map_config(client.get(url))["geometry"] == drawn
    assert len(calls) == legs > 0
    plan.refresh_from_db()
    assert plan.result["geometry"] == drawn
    # The second view draws the stored shapes: no routing.
    assert _map_config(client.get(url))["geometry"] == drawn
    assert len(calls) == legs


def test_shapes_are_not_stored_over_routes_changed_meanwhile(municipality_a, day_setup):
    vehicles, _jobs, day = day_setup
    stops = [
        {"kind": "start", "lat": DEPOT[0], "lon": DEPOT[1]},
        {"kind": "end", "lat": EAST[0], "lon": EAST[1]},
    ]
    old = {"routes": [{"vehicle": vehicles[0].pk, "stops": stops}]}
    plan = Plan.objects.create(
        municipality=municipality_a, day=day, params={"vehicles": [vehicles[0].pk]}, result=old
    )
    # Adjusted by someone else after this view read it: the new routes keep their own shapes.
    new = {"routes": [{"vehicle": vehicles[0].pk, "stops": stops[::-1]}]}
    Plan.objects.filter(pk=plan.pk).update(result=new)
    assert len(planning.plan_geometry(plan)) == 1
    plan.refresh_from_db()
    assert plan.result == new
