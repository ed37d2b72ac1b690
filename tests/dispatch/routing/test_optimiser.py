"""Tests for the round optimiser (pure: no database).

Expected costs come from hand computation on tiny instances (the derivation is next to each
one); larger instances are checked by an independent re-computation of every constraint from
the input data (``check_plan`` below), not by the optimiser's own scheduler.
"""

from __future__ import annotations

import math
import random

import pytest

from dispatch.routing.optimiser import (
    Depot,
    Job,
    Problem,
    ProblemError,
    Reason,
    UnloadSite,
    Vehicle,
    optimise,
    schedule_route,
)

ITERS = 3000  # enough for PyVRP to settle on these small instances; keeps runs deterministic


def line_matrix(points: list[int]) -> list[list[int]]:
    return [[abs(a - b) for b in points] for a in points]


def solve(problem: Problem, **kwargs):
    kwargs.setdefault("max_iterations", ITERS)
    return optimise(problem, seed=kwargs.pop("seed", 1), **kwargs)


def reasons(plan) -> dict:
    return {u.job_id: u.reason for u in plan.unassigned}


# ---------------------------------------------------------------------------------------------
# An independent checker: recomputes every route from the input only.


def check_plan(problem: Problem, plan) -> None:
    jobs = {j.id: j for j in problem.jobs}
    sites = {u.id: u for u in problem.unload_sites}
    depots = {d.id: d for d in problem.depots}
    vehicles = {v.id: v for v in problem.vehicles}
    dur, dist = problem.durations, problem.distances
    seen: list = []
    for route in plan.routes:
        v = vehicles[route.vehicle_id]
        stops = route.stops
        assert stops[0].kind == "start" and stops[-1].kind == "end"
        assert stops[0].location == depots[v.start_depot].location
        end_depot = v.end_depot if v.end_depot is not None else v.start_depot
        assert stops[-1].location == depots[end_depot].location
        assert stops[0].departure >= v.shift_start
        t = stops[0].departure
        load = peak = total = 0
        for prev, stop in zip(stops, stops[1:], strict=False):
            leg = dur[prev.location][stop.location]
            assert leg >= 0, "used a road that does not exist"
            total += dist[prev.location][stop.location]
            arrival = t + leg
            assert stop.arrival == arrival
            if stop.kind == "job":
                job = jobs[stop.ref]
                seen.append(job.id)
                assert stop.location == job.location
                lo, hi = job.time_window or (0, math.inf)
                assert stop.start == max(arrival, lo)
                assert stop.start <= hi, f"job {job.id} starts after its window"
                assert stop.departure == stop.start + job.service_time
                assert job.category in (None, v.category), f"job {job.id} on wrong category"
                load += job.demand
                assert load <= v.capacity, f"vehicle {v.id} overloaded at job {job.id}"
            elif stop.kind == "unload":
                site = sites[stop.ref]
                lo, hi = site.time_window or (0, math.inf)
                assert stop.start == max(arrival, lo) and stop.start <= hi
                assert stop.departure == stop.start + site.service_time
                load = 0
            else:
                assert stop.kind == "end" and stop is stops[-1]
                if v.shift_end is not None:
                    assert arrival <= v.shift_end, f"vehicle {v.id} home after its shift"
                if v.return_empty and problem.unload_sites:
                    assert load == 0, f"vehicle {v.id} parks with load {load}"
            assert stop.load == load
            peak = max(peak, load)
            t = stop.departure
        assert route.distance == total
        assert route.max_load == peak
        assert route.duration == stops[-1].arrival - stops[0].departure
    unassigned = [u.job_id for u in plan.unassigned]
    assert sorted(map(str, seen + unassigned)) == sorted(str(j.id) for j in problem.jobs)
    assert len(set(seen)) == len(seen), "a job is served twice"
    assert plan.distance == sum(r.distance for r in plan.routes)


# ---------------------------------------------------------------------------------------------
# Hand-checkable optima

# The "square" world: depot P0 (0,0); P1 (0,10), P2 (0,20) north; P3 (10,0), P4 (20,0) east.
# Euclidean distances rounded: P1-P3 = 14.1 -> 14, P1-P4 = P2-P3 = 22.4 -> 22, P2-P4 = 28.3 -> 28.
SQUARE = [
    [0, 10, 20, 10, 20],
    [10, 0, 10, 14, 22],
    [20, 10, 0, 22, 28],
    [10, 14, 22, 0, 10],
    [20, 22, 28, 10, 0],
]


def square_problem(capacity: int, vehicles: int = 2) -> Problem:
    return Problem(
        depots=[Depot("G", 0)],
        jobs=[Job(f"P{i}", i, demand=5) for i in range(1, 5)],
        vehicles=[Vehicle(f"v{k}", capacity, "G") for k in range(vehicles)],
        durations=SQUARE,
        distances=SQUARE,
    )


def test_single_vehicle_tour_is_the_hand_computed_optimum():
    # Capacity 20 takes all four jobs. Tours from P0 (up to direction):
    # P1 P2 P4 P3 = 10+10+28+10+10 = 68; P1 P2 P3 P4 = 10+10+22+10+20 = 72;
    # P1 P3 P4 P2 = 10+14+10+28+20 = 82; P1 P4 P2 P3, P1 P3 P2 P4 ... are all longer.
    # A second vehicle never helps: splitting north/east costs 40 + 40 = 80.
    plan = solve(square_problem(capacity=20))
    assert plan.complete
    assert plan.distance == 68
    assert len(plan.routes) == 1
    assert plan.routes[0].job_ids in (["P1", "P2", "P4", "P3"], ["P3", "P4", "P2", "P1"])
    check_plan(square_problem(capacity=20), plan)


def test_capacity_splits_the_jobs_the_cheapest_way():
    # Capacity 10 fits two jobs of 5. Pairings: {P1,P2}+{P3,P4} = 40+40 = 80;
    # {P1,P3}+{P2,P4} = 34+68 = 102; {P1,P4}+{P2,P3} = 52+52 = 104. Optimum 80.
    problem = square_problem(capacity=10)
    plan = solve(problem)
    assert plan.distance == 80
    assert sorted(sorted(r.job_ids) for r in plan.routes) == [["P1", "P2"], ["P3", "P4"]]
    assert all(r.max_load <= 10 for r in plan.routes)
    check_plan(problem, plan)


# The line world: garage G at 0, landfill L at 100, jobs at 10, 20 and 30, demand 6 each,
# capacity 10: every job needs its own trip.
LINE = [0, 100, 10, 20, 30]


def line_problem(*, return_empty: bool, unload_time: int = 5) -> Problem:
    return Problem(
        depots=[Depot("G", 0)],
        unload_sites=[UnloadSite("L", 1, service_time=unload_time)],
        jobs=[Job(f"j{x}", i, demand=6, service_time=3) for i, x in ((2, 10), (3, 20), (4, 30))],
        vehicles=[Vehicle("v", 10, "G", shift_start=1000, return_empty=return_empty)],
        durations=line_matrix(LINE),
        distances=line_matrix(LINE),
    )


def test_vehicle_unloads_when_full_and_plans_the_best_trip_order():
    # Order a, b, c with unloads between: a + (100-a) + 2(100-b) + (100-c) + c = 400 - 2b,
    # smallest with b = 30: 340 (the job at 30 is the one visited between two unloads).
    problem = line_problem(return_empty=False)
    plan = solve(problem)
    route = plan.routes[0]
    assert plan.complete and plan.distance == 340
    assert [s.kind for s in route.stops] == [
        "start", "job", "unload", "job", "unload", "job", "end"
    ]  # fmt: skip
    assert route.stops[3].ref == "j30"
    assert route.unloads == 2
    assert route.max_load == 6
    check_plan(problem, plan)


def test_vehicle_that_must_return_empty_unloads_before_going_home():
    # a + (100-a) + 2(100-b) + 2(100-c) + 100 = 600 - 2(b+c), smallest with {b,c} = {20,30}: 500.
    # Times: leave 1000, j10 at 1010 (3 s), L at 1103 (5 s), j20/j30 and L twice, home at 1524.
    problem = line_problem(return_empty=True)
    plan = solve(problem)
    route = plan.routes[0]
    assert plan.distance == 500
    assert route.job_ids[0] == "j10"
    assert route.stops[-2].kind == "unload" and route.stops[-1].load == 0
    assert route.unloads == 3
    assert route.start_time == 1000
    assert route.end_time == 1000 + 500 + 3 * 3 + 3 * 5  # travel + service + unloading
    check_plan(problem, plan)


def test_nearest_useful_unload_site_is_chosen():
    # G at 0, landfill West at -50, transfer station East at 100; jobs at 40 and 60, demand 6,
    # capacity 10. Via East: 40 + 60 + 40 + 60 = 200; via West: 40 + 90 + 110 + 60 = 300.
    points = [0, -50, 100, 40, 60]
    problem = Problem(
        depots=[Depot("G", 0)],
        unload_sites=[UnloadSite("West", 1), UnloadSite("East", 2)],
        jobs=[Job("a", 3, demand=6), Job("b", 4, demand=6)],
        vehicles=[Vehicle("v", 10, "G")],
        durations=line_matrix(points),
        distances=line_matrix(points),
    )
    plan = solve(problem)
    assert plan.distance == 200
    assert [s.ref for s in plan.routes[0].stops if s.kind == "unload"] == ["East"]
    check_plan(problem, plan)


def test_empty_vehicle_goes_straight_home_even_when_it_must_return_empty():
    # Nothing collected (an inspection): no reason to pass by the landfill at 100.
    points = [0, 100, 10]
    problem = Problem(
        depots=[Depot("G", 0)],
        unload_sites=[UnloadSite("L", 1, service_time=600)],
        jobs=[Job("inspect", 2, service_time=300)],
        vehicles=[Vehicle("v", 10, "G", return_empty=True)],
        durations=line_matrix(points),
        distances=line_matrix(points),
    )
    route = solve(problem).routes[0]
    assert [s.kind for s in route.stops] == ["start", "job", "end"]
    assert route.distance == 20


def test_vehicle_may_end_at_another_depot():
    # From A (0) through the job at 50 to B (100): 100, the same as a round trip back to A,
    # so only the end depot tells them apart.
    points = [0, 100, 50]
    problem = Problem(
        depots=[Depot("A", 0), Depot("B", 1)],
        jobs=[Job("j", 2)],
        vehicles=[Vehicle("v", 10, "A", end_depot="B")],
        durations=line_matrix(points),
        distances=line_matrix(points),
    )
    plan = solve(problem)
    assert plan.routes[0].stops[-1].ref == "B"
    assert plan.distance == 100
    check_plan(problem, plan)


def test_max_unloads_limits_the_trips():
    # One unload allowed, return_empty off: two trips, so one job cannot be served.
    base = line_problem(return_empty=False)
    problem = Problem(
        depots=base.depots,
        unload_sites=base.unload_sites,
        jobs=base.jobs,
        vehicles=[Vehicle("v", 10, "G", shift_start=1000, max_unloads=1)],
        durations=base.durations,
        distances=base.distances,
    )
    plan = solve(problem)
    assert plan.routes[0].unloads == 1
    assert len(plan.routes[0].job_ids) == 2
    assert [u.reason for u in plan.unassigned] == [Reason.NO_ROOM]
    check_plan(problem, plan)


def test_waiting_for_a_window_moves_the_departure_not_the_service():
    # Job 10 s away, window [50, 60], 5 s on site: leave at 40, start 50, leave 55, home 65.
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("a", 1, time_window=(50, 60), service_time=5)],
        vehicles=[Vehicle("v", 10, "G")],
        durations=[[0, 10], [10, 0]],
        distances=[[0, 10], [10, 0]],
    )
    stops = solve(problem).routes[0].stops
    assert [(s.arrival, s.start, s.departure) for s in stops] == [
        (40, 40, 40),
        (50, 50, 55),
        (65, 65, 65),
    ]


def test_time_windows_force_a_second_vehicle():
    # A at +10 and B at -10 must both start by t=10; one vehicle reaches the second at 30.
    points = [0, 10, -10]
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("A", 1, time_window=(0, 10)), Job("B", 2, time_window=(0, 10))],
        vehicles=[Vehicle("v1", 10, "G"), Vehicle("v2", 10, "G")],
        durations=line_matrix(points),
        distances=line_matrix(points),
    )
    plan = solve(problem)
    assert plan.complete
    assert sorted(r.job_ids for r in plan.routes) == [["A"], ["B"]]
    assert plan.distance == 40
    check_plan(problem, plan)


def test_time_windows_decide_the_order():
    # Distance alone prefers G-A-B-G or G-B-A-G (same on a line: 40). Here A (at 10) opens at
    # 100 and B (at 20) closes at 25, so B must come first: G-B (20) - A (30, waits to 100).
    points = [0, 10, 20]
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("A", 1, time_window=(100, 200)), Job("B", 2, time_window=(0, 25))],
        vehicles=[Vehicle("v", 10, "G", shift_start=0)],
        durations=line_matrix(points),
        distances=line_matrix(points),
    )
    plan = solve(problem)
    route = plan.routes[0]
    assert route.job_ids == ["B", "A"]
    b, a = route.stops[1], route.stops[2]
    assert b.start <= 25 and a.start == 100
    check_plan(problem, plan)


# ---------------------------------------------------------------------------------------------
# Vehicle categories


def category_problem(extra_jobs=()) -> Problem:
    # Truck T at depot D1 (location 0), crane C at depot D2 (location 1), 100 apart.
    # The job needing a crane sits next to the truck's depot (location 2, 1 from D1).
    m = [
        [0, 100, 1],
        [100, 0, 100],
        [1, 100, 0],
    ]
    return Problem(
        depots=[Depot("D1", 0), Depot("D2", 1)],
        jobs=[Job("lift", 2, category="crane"), *extra_jobs],
        vehicles=[
            Vehicle("T", 10, "D1", category="truck"),
            Vehicle("C", 10, "D2", category="crane"),
        ],
        durations=m,
        distances=m,
    )


def test_job_needing_a_category_goes_to_that_category_even_when_dearer():
    # The truck would do it for 1 + 1; the crane must drive 100 + 100.
    problem = category_problem()
    plan = solve(problem)
    assert plan.route_for("C").job_ids == ["lift"]
    assert plan.route_for("T") is None
    assert plan.distance == 200
    check_plan(problem, plan)


def test_job_without_a_category_may_ride_along_with_the_specialist():
    # An uncategorised job at the same place: crane does both (200) rather than the truck
    # doing it separately (200 + 2).
    problem = category_problem([Job("any", 2)])
    plan = solve(problem)
    assert sorted(plan.route_for("C").job_ids) == ["any", "lift"]
    assert plan.distance == 200


def test_job_needing_a_category_nobody_has_is_reported():
    plan = solve(category_problem([Job("sweep", 2, category="sweeper")]))
    assert reasons(plan) == {"sweep": Reason.NO_COMPATIBLE_VEHICLE}
    assert plan.route_for("C").job_ids == ["lift"]


def test_incompatible_vehicle_is_never_used_even_when_the_right_one_is_full():
    # Two crane jobs, demand 10 each, crane capacity 10 and no unload site: one crane job
    # stays out; the truck (free, right next to it) must not take it.
    m = [[0, 100, 1], [100, 0, 100], [1, 100, 0]]
    problem = Problem(
        depots=[Depot("D1", 0), Depot("D2", 1)],
        jobs=[
            Job("lift1", 2, demand=10, category="crane"),
            Job("lift2", 2, demand=10, category="crane", priority=3),
        ],
        vehicles=[
            Vehicle("T", 50, "D1", category="truck"),
            Vehicle("C", 10, "D2", category="crane"),
        ],
        durations=m,
        distances=m,
    )
    plan = solve(problem)
    assert plan.route_for("T") is None
    assert plan.route_for("C").job_ids == ["lift2"]  # the higher priority one
    assert reasons(plan) == {"lift1": Reason.NO_ROOM}
    check_plan(problem, plan)


# ---------------------------------------------------------------------------------------------
# Infeasible input: answered, never raised


def test_demand_larger_than_every_vehicle_is_reported():
    problem = square_problem(capacity=10)
    problem = Problem(
        depots=problem.depots,
        jobs=[*problem.jobs, Job("huge", 1, demand=11)],
        vehicles=problem.vehicles,
        durations=SQUARE,
        distances=SQUARE,
    )
    plan = solve(problem)
    assert reasons(plan) == {"huge": Reason.DEMAND_EXCEEDS_CAPACITY}
    assert plan.distance == 80  # the rest is planned as before
    check_plan(problem, plan)


def test_window_nobody_can_reach_is_reported():
    # P2 is 20 s from the depot; its window closes at 15. Another closes before the shift starts.
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[
            Job("late", 2, time_window=(0, 15)),
            Job("before_shift", 1, time_window=(0, 50)),
            Job("ok", 3, time_window=(0, 500)),
        ],
        vehicles=[Vehicle("v", 10, "G", shift_start=100, shift_end=1000)],
        durations=SQUARE,
        distances=SQUARE,
    )
    plan = solve(problem)
    assert reasons(plan) == {
        "late": Reason.TIME_WINDOW_UNREACHABLE,
        "before_shift": Reason.TIME_WINDOW_UNREACHABLE,
    }
    assert plan.routes[0].job_ids == ["ok"]


def test_job_that_cannot_be_done_before_the_shift_ends_is_reported():
    # 20 s there, 100 s on site, 20 s back: 140 s, in a 100 s shift.
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("long", 2, service_time=100)],
        vehicles=[Vehicle("v", 10, "G", shift_start=0, shift_end=100)],
        durations=SQUARE,
        distances=SQUARE,
    )
    assert reasons(solve(problem)) == {"long": Reason.TIME_WINDOW_UNREACHABLE}


def test_location_without_a_road_is_reported():
    m = [[0, 10, -1], [10, 0, -1], [-1, -1, 0]]
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("island", 2), Job("ok", 1)],
        vehicles=[Vehicle("v", 10, "G")],
        durations=m,
        distances=m,
    )
    plan = solve(problem)
    assert reasons(plan) == {"island": Reason.LOCATION_UNREACHABLE}
    assert plan.routes[0].job_ids == ["ok"]


def test_missing_road_between_two_jobs_is_never_driven():
    # A and B are each reachable from the depot but not from each other, so no vehicle can
    # chain them: each of the two vehicles takes one.
    m = [[0, 10, 10], [10, 0, -1], [10, -1, 0]]
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("A", 1), Job("B", 2)],
        vehicles=[Vehicle("v1", 10, "G"), Vehicle("v2", 10, "G")],
        durations=m,
        distances=m,
    )
    plan = solve(problem)
    assert plan.complete
    assert sorted(r.job_ids for r in plan.routes) == [["A"], ["B"]]
    check_plan(problem, plan)


def test_bad_job_data_is_reported_and_the_rest_planned():
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[
            Job("neg", 1, demand=-3),
            Job("window", 1, time_window=(50, 10)),
            Job("nowhere", 99),
            Job("prio", 1, priority=42),
            Job("ok", 2),
        ],
        vehicles=[Vehicle("v", 10, "G")],
        durations=SQUARE,
        distances=SQUARE,
    )
    plan = solve(problem)
    bad = ("neg", "window", "nowhere", "prio")
    assert reasons(plan) == dict.fromkeys(bad, Reason.INVALID_JOB)
    assert plan.routes[0].job_ids == ["ok"]


def test_too_many_jobs_drops_the_lowest_priority_not_the_farthest():
    # One vehicle, capacity 10, three jobs of 5 on a line at 10 (priority 0), 50 and 60
    # (priority 5). Distance alone would keep {10, 50} (100) over {50, 60} (120).
    points = [0, 10, 50, 60]
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[
            Job("near", 1, demand=5, priority=0),
            Job("mid", 2, demand=5, priority=5),
            Job("far", 3, demand=5, priority=5),
        ],
        vehicles=[Vehicle("v", 10, "G")],
        durations=line_matrix(points),
        distances=line_matrix(points),
    )
    plan = solve(problem)
    assert reasons(plan) == {"near": Reason.NO_ROOM}
    assert plan.distance == 120
    check_plan(problem, plan)


def test_without_vehicles_every_job_is_reported():
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("a", 1), Job("b", 2)],
        vehicles=[],
        durations=SQUARE,
        distances=SQUARE,
    )
    plan = optimise(problem)
    assert plan.routes == ()
    assert set(reasons(plan)) == {"a", "b"}


def test_vehicle_with_impossible_shift_is_left_idle_with_a_warning():
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("a", 1)],
        vehicles=[
            Vehicle("broken", 10, "G", shift_start=500, shift_end=100),
            Vehicle("ok", 10, "G"),
        ],
        durations=SQUARE,
        distances=SQUARE,
    )
    plan = solve(problem)
    assert plan.route_for("ok").job_ids == ["a"]
    assert plan.idle_vehicles == ("broken",)
    assert any("broken" in w for w in plan.warnings)


def test_nothing_to_plan_gives_an_empty_plan():
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[],
        vehicles=[Vehicle("v", 10, "G")],
        durations=SQUARE,
        distances=SQUARE,
    )
    plan = optimise(problem)
    assert plan.routes == () and plan.unassigned == () and plan.idle_vehicles == ("v",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"durations": [[0, 1], [1, 0], [2, 2]]}, "square"),
        ({"distances": [[0, 1], [1, 0]]}, "differ"),
        ({"vehicles": [Vehicle("v", 10, "nowhere")]}, "unknown depot"),
        ({"depots": [Depot("G", 0), Depot("G", 1)]}, "duplicate depot"),
        ({"durations": [[0.5] * 5] * 5}, "integers"),
    ],
)
def test_structurally_broken_problem_raises_a_clear_error(change, message):
    fields = {
        "depots": [Depot("G", 0)],
        "jobs": [Job("a", 1)],
        "vehicles": [Vehicle("v", 10, "G")],
        "durations": SQUARE,
        "distances": SQUARE,
    }
    fields.update(change)
    with pytest.raises(ProblemError, match=message):
        optimise(Problem(**fields))


# ---------------------------------------------------------------------------------------------
# Larger instances: every constraint, checked independently; determinism


def random_problem(seed: int, n_jobs: int = 40) -> Problem:
    rng = random.Random(seed)
    # Locations: 0, 1 depots; 2 landfill; then jobs. Road time = 1.3 x straight line, 10 m/s.
    points = [(0, 0), (3000, 500), (5000, 5000)] + [
        (rng.randint(-4000, 6000), rng.randint(-4000, 6000)) for _ in range(n_jobs)
    ]
    dist = [[round(1.3 * math.dist(a, b)) for b in points] for a in points]
    dur = [[round(d / 10) for d in row] for row in dist]
    jobs = []
    for i in range(n_jobs):
        start = rng.choice([None, 0, 3600, 7200])
        window = None if start is None else (start, start + rng.choice([1800, 3600, 7200]))
        jobs.append(
            Job(
                id=f"J{i}",
                location=3 + i,
                demand=rng.randint(1, 4),
                time_window=window,
                service_time=rng.choice([60, 300, 600]),
                priority=rng.randint(0, 3),
                category=rng.choice([None, None, None, "crane"]),
            )
        )
    vehicles = [
        Vehicle("truck1", 12, "north", shift_start=0, shift_end=6 * 3600, return_empty=True),
        Vehicle("truck2", 12, "north", shift_start=0, shift_end=6 * 3600, return_empty=True),
        Vehicle("truck3", 8, "east", shift_start=1800, shift_end=5 * 3600),
        Vehicle("crane", 6, "east", shift_start=0, shift_end=8 * 3600, category="crane"),
    ]
    return Problem(
        depots=[Depot("north", 0), Depot("east", 1)],
        unload_sites=[UnloadSite("landfill", 2, service_time=600, time_window=(0, 7 * 3600))],
        jobs=jobs,
        vehicles=vehicles,
        durations=dur,
        distances=dist,
        # Generous, so that the iteration limit binds and the runs stay deterministic.
        time_limit=120,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_day_respects_every_constraint(seed):
    problem = random_problem(seed)
    plan = solve(problem, max_iterations=1000)
    check_plan(problem, plan)
    assert len(plan.routes) >= 2


def test_overloaded_day_respects_every_constraint_and_explains_the_rest():
    # 100 jobs for four vehicles: many cannot fit; whatever is planned must still be valid.
    problem = random_problem(7, n_jobs=100)
    plan = solve(problem, max_iterations=600)
    check_plan(problem, plan)
    assert plan.unassigned
    assert all(u.detail for u in plan.unassigned)


def test_same_seed_same_plan():
    problem = random_problem(4)
    first = solve(problem, seed=11, max_iterations=800)
    second = solve(problem, seed=11, max_iterations=800)
    assert first.routes == second.routes
    assert first.unassigned == second.unassigned


# ---------------------------------------------------------------------------------------------
# Re-timing a dispatcher's edited route


def test_schedule_route_times_an_edited_route_and_lists_what_it_breaks():
    points = [0, 10, 20]
    problem = Problem(
        depots=[Depot("G", 0)],
        jobs=[Job("A", 1, time_window=(0, 15), demand=6), Job("B", 2, demand=6)],
        vehicles=[Vehicle("v", 10, "G")],
        durations=line_matrix(points),
        distances=line_matrix(points),
    )
    a, b = problem.jobs
    route, problems = schedule_route(problem, problem.vehicles[0], [b, a])
    # B at 20, A at 30 (window closed at 15), load 12 > 10, home at 40.
    assert [s.arrival for s in route.stops] == [0, 20, 30, 40]
    assert route.distance == 40
    assert any("window" in p for p in problems)
    assert any("capacity" in p for p in problems)
    route, problems = schedule_route(problem, problem.vehicles[0], [a])
    assert problems == []
