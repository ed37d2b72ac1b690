"""The fleet simulator: the pure motion model on Chania's real street graph, and the whole
simulator against the real gateway."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely

from dispatch.routing.network import Clip, load_network
from dispatch.routing.router import Router
from dispatch.routing.router import Vehicle as RoutingVehicle
from telematics.motion.workcalendar import WorkingCalendar
from telematics.simulator.motion import (
    Errand,
    FleetSimulation,
    ReportPolicy,
    RoadMap,
    Step,
    VehicleSpec,
    profile_for,
)

REPO = Path(__file__).resolve().parents[2]
CHANIA = REPO / "data" / "osm" / "chania.osm.bz2"
CHANIA_BBOX = (35.5033, 24.0059, 35.5187, 24.0395)
DEPOT = (35.5105, 24.0205)
FUEL = (35.5125, 24.0300)
# Tuesday 4 March 2025, 06:30 in Athens (UTC+2): half an hour before the 07:00-15:00 shift.
BEFORE_SHIFT = int(datetime(2025, 3, 4, 4, 30, tzinfo=UTC).timestamp())
SHIFT_START = BEFORE_SHIFT + 1800
SHIFT_END = SHIFT_START + 8 * 3600
# An errand's place and a start elsewhere in town (both a few metres from a street).
JOB_PLACE = (35.5149, 24.0182)
WEST = (35.5135, 24.0110)


@pytest.fixture(scope="module")
def road(tmp_path_factory) -> RoadMap:
    cache = tmp_path_factory.mktemp("graph")
    return RoadMap(Router(load_network(CHANIA, Clip(bbox=CHANIA_BBOX), cache_dir=cache)))


@pytest.fixture(scope="module")
def day(road):
    """One working day of a mixed fleet, every second of driving observed."""
    steps: list[Step] = []
    specs = [
        VehicleSpec("refuse-1", "refuse_truck", DEPOT, weight_t=26),
        VehicleSpec("pickup-1", "pickup", DEPOT, weight_t=3.2),
        VehicleSpec("car-1", "passenger_car", DEPOT),
        VehicleSpec("car-low-fuel", "passenger_car", DEPOT, fuel_fraction=0.12),
        VehicleSpec("excavator-1", "excavator", DEPOT, weight_t=8),
        VehicleSpec("moto-1", "motorcycle", DEPOT),
    ]
    sim = FleetSimulation(
        road,
        specs,
        calendar=WorkingCalendar(),
        start=BEFORE_SHIFT,
        fuel_station=FUEL,
        seed=7,
        observer=steps.append,
    )
    fixes = sim.advance(SHIFT_END + 2 * 3600)
    return sim, fixes, steps


def _planar(road: RoadMap, lat, lon):
    # An independent local projection for the geometry checks (metres east/north of the town).
    lat0 = 35.51
    kx = math.pi / 180 * 6_371_008.8 * math.cos(math.radians(lat0))
    ky = math.pi / 180 * 6_371_008.8
    return np.column_stack(((np.asarray(lon) - 24.02) * kx, (np.asarray(lat) - lat0) * ky))


def test_every_second_of_driving_lies_on_the_edge_being_driven(road, day):
    _, _, steps = day
    net = road.net
    assert len(steps) > 10_000
    worst = 0.0
    for edge in {s.edge for s in steps}:
        coords = net.edge_coords(edge)
        line = shapely.LineString(_planar(road, coords[:, 1], coords[:, 0]))
        on_edge = [s for s in steps if s.edge == edge]
        points = shapely.points(
            _planar(road, [s.latitude for s in on_edge], [s.longitude for s in on_edge])
        )
        worst = max(worst, float(shapely.distance(line, points).max()))
    assert worst < 0.05  # metres: on the road's centre line, up to float rounding


def test_every_route_is_a_connected_path_of_the_graph(road, day):
    sim, _, _ = day
    net = road.net
    routes = [route for vehicle in sim.vehicles for route in vehicle.routes]
    assert len(routes) > 30
    for route in routes:
        assert all(net.dst[a] == net.src[b] for a, b in zip(route, route[1:], strict=False))
    for vehicle in sim.vehicles:
        # Each route starts where the previous one ended.
        routes = list(vehicle.routes)
        for before, after in zip(routes, routes[1:], strict=False):
            assert net.dst[before[-1]] == net.src[after[0]]


def test_speeds_stay_within_road_limits_and_vehicle_top_speed(day):
    sim, _, steps = day
    category = {v.spec.unique_id: v.spec.category for v in sim.vehicles}
    for step in steps:
        profile = profile_for(category[step.unique_id])
        assert step.speed_kmh <= step.limit_kmh + 1e-6
        assert step.speed_kmh <= profile.max_speed_kmh + 1e-6
    # The model does reach the limits where it can: it is not crawling everywhere.
    assert max(s.speed_kmh / s.limit_kmh for s in steps if s.limit_kmh) > 0.85


def test_acceleration_and_braking_stay_within_each_vehicle_profile(day):
    sim, _, steps = day
    category = {v.spec.unique_id: v.spec.category for v in sim.vehicles}
    for step in steps:
        profile = profile_for(category[step.unique_id])
        assert step.accel_mps2 <= profile.accel_mps2 + 1e-9
        assert step.accel_mps2 >= -profile.decel_mps2 - 1e-9


def test_nobody_drives_before_the_shift_and_everyone_is_home_after_it(road, day):
    sim, fixes, steps = day
    assert min(s.t for s in steps) >= SHIFT_START
    # Trips started before the shift ended finish at the depot; an hour later all is quiet.
    assert all(s.t < SHIFT_END + 3600 for s in steps)
    for vehicle in sim.vehicles:
        assert vehicle.phase == "parked" and vehicle.ignition is False
        assert vehicle.node == road.nearest_node(*DEPOT)
    last = {}
    for fix in fixes:
        last[fix.unique_id] = fix
    assert all(fix.ignition is False and fix.speed_kmh == 0 for fix in last.values())


def test_reports_follow_the_tracker_policy(day):
    _, fixes, _ = day
    by_vehicle = defaultdict(list)
    for fix in fixes:
        by_vehicle[fix.unique_id].append(fix)
    policy = ReportPolicy()
    for series in by_vehicle.values():
        times = [f.fix_time for f in series]
        assert times == sorted(times) and len(set(times)) == len(times)
        for before, after in zip(series, series[1:], strict=False):
            gap = (after.fix_time - before.fix_time).total_seconds()
            if before.speed_kmh > 0:
                assert gap <= policy.moving_s
            assert gap <= policy.parked_s
        for fix in series:
            if fix.speed_kmh > 0:
                assert fix.ignition is True
        odometers = [f.odometer for f in series]
        assert odometers == sorted(odometers)


def test_a_vehicle_low_on_fuel_refuels_at_the_station(road, day):
    _, fixes, _ = day
    series = [f for f in fixes if f.unique_id == "car-low-fuel"]
    assert series[0].fuel_level == pytest.approx(12.0)
    full = [f for f in series if f.fuel_level == 100.0]
    assert full, "the tank was never filled"
    station = road.node_point(road.nearest_node(*FUEL))
    first_full = full[0]
    assert road.distance_m((first_full.latitude, first_full.longitude), station) < 1.0
    # Parked with the engine off while filling up: the fix before the refill is at the pump.
    before = series[series.index(first_full) - 1]
    assert before.ignition is False and before.speed_kmh == 0


def test_same_seed_gives_the_same_day(road):
    def run():
        specs = [VehicleSpec("a", "van", DEPOT), VehicleSpec("b", "refuse_truck", DEPOT)]
        sim = FleetSimulation(
            road, specs, calendar=WorkingCalendar(), start=SHIFT_START, seed=3, fuel_station=FUEL
        )
        return [
            (f.unique_id, f.fix_time, f.latitude, f.longitude)
            for f in sim.advance(SHIFT_START + 3600)
        ]

    assert run() == run()


def test_simulator_imeis_carry_a_luhn_check_digit():
    from telematics.simulator.provision import simulator_imei

    # By hand: body 99000000000001 -> doubled digits 1->2 and 9->9, plus 9: 20, check digit 0.
    assert simulator_imei(1) == "990000000000010"
    # Body 99000000000002 -> 4 + 9 + 9 = 22, check digit 8.
    assert simulator_imei(2) == "990000000000028"


def test_started_mid_shift_the_fleet_is_spread_over_the_town(road):
    specs = [VehicleSpec(f"v{i}", "pickup", DEPOT) for i in range(10)]
    sim = FleetSimulation(road, specs, calendar=WorkingCalendar(), start=SHIFT_START + 7200)
    points = {v.point[:2] for v in sim.vehicles}
    assert len(points) >= 8


# -- errands: one vehicle sent to a place --------------------------------------------------------


def _errand_day(road, errand: Errand, *, start=WEST, observer=None, probe=False):
    spec = VehicleSpec("sent", "refuse_truck", DEPOT, weight_t=26, start=start)
    sim = FleetSimulation(
        road,
        [spec],
        calendar=WorkingCalendar(),
        start=BEFORE_SHIFT,  # before working hours: an errand goes all the same
        reports=ReportPolicy(moving_s=5, idling_s=5, parked_s=60),
        errands={"sent": errand},
        observer=observer,
        seed=5,
    )
    eta = sim.errand_eta("sent") if probe else None
    fixes = sim.advance(BEFORE_SHIFT + 3600)
    return sim, fixes, eta


def _metres(a, b) -> float:
    from dispatch.arrival import distance_m

    return distance_m(a[0], a[1], b[0], b[1])


def test_an_errand_drives_the_road_route_stays_and_drives_home(road):
    steps: list[Step] = []
    errand = Errand(JOB_PLACE, dwell_s=300, leave=True)
    sim, fixes, eta = _errand_day(road, errand, observer=steps.append, probe=True)
    vehicle = sim.vehicle("sent")
    truck = RoutingVehicle(weight_t=26)
    there = road.router.route([WEST, JOB_PLACE], vehicle=truck)
    place = road.router.snap(*JOB_PLACE, vehicle=truck)

    # It set out at once, before the shift, from the road beside where it was.
    assert steps and steps[0].t == BEFORE_SHIFT + 1
    assert _metres((fixes[0].latitude, fixes[0].longitude), WEST) < 30
    # On the road all the way: every second of driving lies on the edge being driven.
    for step in steps:
        coords = road.net.edge_coords(step.edge)
        line = shapely.LineString(_planar(road, coords[:, 1], coords[:, 0]))
        point = shapely.Point(_planar(road, [step.latitude], [step.longitude])[0])
        assert line.distance(point) < 0.05
    # Stopped where the router puts the place on the road, after the odometer ran the route.
    arrived = vehicle.errand_arrived_at
    assert arrived == BEFORE_SHIFT + eta
    stay = [f for f in fixes if arrived <= f.fix_time.timestamp() < arrived + 300]
    assert len(stay) >= 50  # a report every 5 s
    for fix in stay:
        assert fix.speed_kmh == 0 and fix.attributes["motion"] is False
        assert _metres((fix.latitude, fix.longitude), (place.road_lat, place.road_lon)) < 0.5
    assert stay[0].odometer - fixes[0].odometer == pytest.approx(there.length_m, rel=0.01)
    # Then home to the depot, parked with the engine off; the errand is over.
    assert sim.errands_done
    assert vehicle.phase == "parked" and vehicle.ignition is False
    depot = road.router.snap(*DEPOT, vehicle=truck)
    last = fixes[-1]
    assert _metres((last.latitude, last.longitude), (depot.road_lat, depot.road_lon)) < 0.5
    assert max(s.t for s in steps) > arrived + 300


def test_an_errand_without_leaving_parks_at_the_place(road):
    sim, fixes, _ = _errand_day(road, Errand(JOB_PLACE, dwell_s=60))
    vehicle = sim.vehicle("sent")
    assert sim.errands_done
    assert vehicle.phase == "parked" and vehicle.ignition is False
    last = fixes[-1]
    assert _metres((last.latitude, last.longitude), JOB_PLACE) < 80
    assert last.fix_time.timestamp() > vehicle.errand_arrived_at + 60


def test_the_errand_estimate_is_the_drive_itself_and_leaves_it_unchanged(road):
    errand = Errand(JOB_PLACE, dwell_s=120)
    probed, probed_fixes, eta = _errand_day(road, errand, probe=True)
    plain, plain_fixes, _ = _errand_day(road, errand)
    assert eta == plain.vehicle("sent").errand_arrived_at - BEFORE_SHIFT
    assert [(f.fix_time, f.latitude, f.longitude) for f in probed_fixes] == [
        (f.fix_time, f.latitude, f.longitude) for f in plain_fixes
    ]


def test_a_vehicle_sent_while_driving_ends_its_stretch_then_goes(road):
    steps: list[Step] = []
    sim = FleetSimulation(
        road,
        [VehicleSpec("v", "pickup", DEPOT)],
        calendar=WorkingCalendar(),
        start=SHIFT_START + 3600,
        seed=2,
        observer=steps.append,
    )
    vehicle = sim.vehicle("v")
    while vehicle.phase != "driving":
        sim.advance(sim.t + 10)
    stretches = len(vehicle.routes)
    sim.send("v", Errand(JOB_PLACE, dwell_s=60))
    sim.advance(sim.t + 3600)
    assert sim.errands_done and vehicle.errand_arrived_at is not None
    # The stretch it was on, then straight on to the errand (no work stop in between).
    assert len(vehicle.routes) == stretches + 1
    profile = profile_for("pickup")
    bad = [
        s
        for s in steps
        if not -profile.decel_mps2 - 1e-9 <= s.accel_mps2 <= profile.accel_mps2 + 1e-9
    ]
    assert not bad, bad[:3]


def test_an_errand_to_nowhere_reachable_has_no_estimate(road):
    sim, fixes, eta = _errand_day(road, Errand((35.60, 24.20), dwell_s=60), probe=True)
    assert eta is None
    assert sim.errands_done and sim.vehicle("sent").errand_arrived_at is None


def test_errand_refuses_impossible_places():
    with pytest.raises(ValueError):
        Errand((91.0, 24.0))
    with pytest.raises(ValueError):
        Errand((float("nan"), 24.0))
    with pytest.raises(ValueError):
        Errand(JOB_PLACE, dwell_s=-1)


def test_a_cut_track_keeps_the_shape_between_its_ends(road):
    import random

    edges = road.path(road.nearest_node(*WEST), road.nearest_node(*JOB_PLACE))
    track = road.track(edges, random.Random(1), stop_chance=1.0)
    start, end = 0.3 * track.length_m, 0.8 * track.length_m
    part = track.between(start, end)
    assert part.length_m == pytest.approx(end - start)
    for f in np.linspace(0, 1, 23):
        lat, lon, _, _ = part.point_at(f * part.length_m)
        expected = track.point_at(start + f * part.length_m)
        assert (lat, lon) == pytest.approx(expected[:2], abs=1e-9)
    assert all(0 < where < part.length_m for where, _ in part.turns + part.stops)
    assert set(part.edges) <= set(track.edges)


@pytest.mark.django_db
def test_the_errand_vehicle_is_found_by_id_or_by_plate_however_typed():
    from telematics.simulator.provision import vehicle_find
    from tests.factories import MunicipalityFactory, VehicleFactory

    one, other = MunicipalityFactory(), MunicipalityFactory()
    truck = VehicleFactory(municipality=one, plate="ΚΗΥ-1234")
    VehicleFactory(municipality=other, plate="ΚΗΥ-1234")
    assert vehicle_find(str(truck.pk)) == truck
    assert vehicle_find("khy 1234", one) == truck
    with pytest.raises(LookupError, match="2 vehicles"):
        vehicle_find("KHY-1234")
    with pytest.raises(LookupError, match="no vehicle"):
        vehicle_find("ΚΗΥ-9999", one)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--vehicle", "1"], "--vehicle and --to go together"),
        (["--to", "35.51,24.02"], "--vehicle and --to go together"),
        (["--vehicle", "ΖΖΖ-9999", "--to", "35.51,24.02"], "no vehicle"),
        (["--vehicle", "{pk}", "--to", "35.51"], "--to wants latitude,longitude"),
        (["--vehicle", "{pk}", "--to", "95,24.02"], "--to wants latitude,longitude"),
        (["--vehicle", "{pk}", "--to", "35.51,24.02", "--dwell", "-5"], "--dwell"),
        (["--vehicle", "{pk}", "--to", "35.51,24.02", "--report-every", "0"], "--report-every"),
    ],
)
def test_simulate_fleet_errand_refuses_bad_input(arguments, message):
    from django.core.management import CommandError, call_command

    from tests.factories import VehicleFactory

    vehicle = VehicleFactory()
    arguments = [a.format(pk=vehicle.pk) for a in arguments]
    with pytest.raises(CommandError, match=message):
        call_command("simulate_fleet", *arguments)


# -- end to end: the simulator's trackers against the real gateway --------------------------------


def _database_url() -> str:
    """The test database as a DATABASE_URL for the gateway process."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


class Gateway:
    """``manage.py run_gateway`` as its own process on the test database, as in production."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port_file = workdir / "ports.json"
        self.ports = {"osmand": 0, "teltonika": 0, "gt06": 0}
        self.process = None

    def start(self) -> None:
        import json
        import os
        import subprocess
        import sys
        import time

        self.port_file.unlink(missing_ok=True)
        arguments = [sys.executable, "manage.py", "run_gateway", "--host", "127.0.0.1"]
        for protocol, port in self.ports.items():
            arguments += [f"--{protocol}-port", str(port)]
        arguments += ["--h02-port", "-1", "--port-file", str(self.port_file), "--no-handoff"]
        with open(self.workdir / "gateway.log", "ab") as log:
            self.process = subprocess.Popen(
                arguments,
                cwd=REPO,
                env=dict(os.environ, DATABASE_URL=_database_url()),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not self.port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gateway did not start:\n" + (self.workdir / "gateway.log").read_text())
            time.sleep(0.1)
        # Restarts reuse the same ports, as a tracker only knows the address it was given.
        self.ports = json.loads(self.port_file.read_text())

    def kill(self) -> None:
        import signal

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def gateway(tmp_path):
    process = Gateway(tmp_path)
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_simulated_fleet_reaches_the_database_through_a_gateway_crash(gateway, settings):
    import asyncio
    import time
    from datetime import time as clock_time

    from dispatch.routing.registry import router_for
    from telematics.models import Position
    from telematics.simulator.provision import fleet_prepare
    from telematics.simulator.transport import DeviceLink, run_fleet
    from tests.factories import DepartmentFactory, MunicipalityFactory, VehicleFactory

    municipality = MunicipalityFactory(slug="sim-e2e")
    department = DepartmentFactory(municipality=municipality, depot_lat=35.512, depot_lon=24.02)
    for category in ("refuse_truck", "pickup", "passenger_car", "van", "tipper", "bus"):
        VehicleFactory(municipality=municipality, department=department, category=category)

    now = int(time.time())
    start = now - 40 * 60
    vehicles = fleet_prepare(
        municipality=municipality, count=6, valid_from=datetime.fromtimestamp(start - 60, UTC)
    )
    assert sorted(v.protocol for v in vehicles) == ["gt06", "gt06", "osmand", "osmand"] + [
        "teltonika",
        "teltonika",
    ]
    gateway.start()

    always = ((clock_time(0, 0), clock_time(23, 59, 59)),)
    simulation = FleetSimulation(
        RoadMap(router_for(municipality)),
        [v.spec for v in vehicles],
        calendar=WorkingCalendar(week=(always,) * 7, public_holidays=False),
        start=start,
        fuel_station=FUEL,
        seed=11,
    )
    links = {
        v.spec.unique_id: DeviceLink(
            unique_id=v.spec.unique_id,
            protocol=v.protocol,
            host="127.0.0.1",
            port=gateway.ports[v.protocol],
            batch=10 if v.protocol == "teltonika" else 1,
            ack_timeout=5.0,
            max_backoff=1.0,
        )
        for v in vehicles
    }

    async def scenario():
        stop = asyncio.Event()
        runner = asyncio.ensure_future(
            run_fleet(simulation, links, speedup=200, until=now - 60, stop=stop, tick_s=0.2)
        )
        # Let some positions through, then kill the gateway mid-stream and bring it back.
        while sum(link.stats.acknowledged for link in links.values()) < 150:
            assert not runner.done(), runner
            await asyncio.sleep(0.05)
        await asyncio.to_thread(gateway.kill)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(gateway.start)
        return await asyncio.wait_for(runner, timeout=180)

    stats = asyncio.run(scenario())

    generated = {unique_id: s.generated for unique_id, s in stats.items()}
    assert all(s.acknowledged == s.generated for s in stats.values())
    assert sum(s.failures for s in stats.values()) > 0, "the crash went unnoticed"
    assert sum(generated.values()) > 150
    stored = {
        unique_id: Position.objects.filter(device__unique_id=unique_id).count()
        for unique_id in generated
    }
    # Every position sent arrived, none twice (positions are unique on device and fix time).
    assert stored == generated
    moving = Position.objects.filter(speed_kmh__gt=0)
    assert moving.exists()
    assert not moving.filter(ignition=False).exists()
