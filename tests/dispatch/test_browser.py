"""The dispatcher's day in a real browser (Playwright driving Debian's headless Chromium).

Every part runs as deployed, each in its own process on the test database: the web process
(Daphne: pages and the board's WebSocket), the gateway (``manage.py run_gateway``), a Celery
worker with its beat (the arrival check every 5 s), and the fleet simulator (``manage.py
simulate_fleet --vehicle … --to …``) driving the assigned truck along the router's road route
and reporting over a tracker protocol (Teltonika, GT06). Nothing is written on their behalf: the
job goes on site because the worker saw the gateway's live state stop at the place, and done
when the driver says so on the phone page or, where the municipality wants it, when the truck
leaves. (The last test, of drawing many markers, writes live states directly.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from dispatch import services
from dispatch.arrival import distance_m
from dispatch.models import DispatchSettings, Job
from fleet.choices import Role
from telematics.models import Position, VehicleLiveState
from tests.dispatch.conftest import CHROMIUM, DEPOT, JOB_PLACE, Process, login, process_env
from tests.factories import JobFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]
# Bounds on waiting for what the other processes do (a stuck system fails, it does not hang).
FIELD_WAIT_MS = 120_000

# Notes every place the board's marker of a vehicle stands at (as drawn, polled each 50 ms).
RECORD_TRAIL = """
(id) => {
  window.kinisiTrail = [];
  setInterval(() => {
    const p = window.kinisiBoard.position(id);
    const trail = window.kinisiTrail;
    const last = trail[trail.length - 1];
    if (p && !(last && last[0] === p[0] && last[1] === p[1])) { trail.push(p); }
  }, 50);
}
"""


def write_live(vehicle, lat: float, lon: float, *, moving: bool, at=None):
    at = at or timezone.now()
    VehicleLiveState.objects.update_or_create(
        vehicle=vehicle,
        defaults={
            "municipality_id": vehicle.municipality_id,
            "latitude": lat,
            "longitude": lon,
            "moving": moving,
            "speed_kmh": 25.0 if moving else 0.0,
            "fix_time": at,
            "last_seen": at,
            "updated_at": at,
        },
    )


@pytest.fixture
def simulator(processes, chania_graph_dir, tmp_path):
    """Starts ``manage.py simulate_fleet`` sending one vehicle on an errand; stopped after."""

    def start(vehicle, place, *, port: int, protocol: str, dwell: int, leave: bool = False):
        command = [
            sys.executable,
            "manage.py",
            "simulate_fleet",
            "--vehicle",
            str(vehicle.pk),
            "--to",
            f"{place[0]},{place[1]}",
            "--speedup",
            "10",
            "--dwell",
            str(dwell),
            "--report-every",
            "2",
            "--protocols",
            protocol,
            f"--{protocol}-port",
            str(port),
        ]
        if leave:
            command.append("--then-leave")
        process = Process("simulator", command, process_env(tmp_path, chania_graph_dir), tmp_path)
        processes.append(process)
        return process

    return start


def test_create_suggest_assign_then_the_simulated_truck_arrives_and_the_driver_closes(
    gateway,
    celery_worker,
    asgi_server,
    simulator,
    browser,
    municipality_a,
    users_a,
    crewed,
    routed,
):
    # The municipality counts a stop of 10 s at the place as an arrival (the default is 30 s;
    # shorter keeps the test short), and the driver closes the job.
    DispatchSettings.objects.create(
        municipality=municipality_a, arrival_dwell_s=10, completion_mode="driver"
    )
    vehicle = crewed(municipality_a)  # parked at DEPOT, no tracker yet: the simulator adds one
    driver_user = users_a[Role.DRIVER]
    vehicle.crew_driver.user = driver_user
    vehicle.crew_driver.save()
    # A second, farther truck, so "the first suggestion" means something.
    crewed(municipality_a, depot=(35.5105, 24.0330))

    office = login(browser, asgi_server, users_a[Role.DISPATCHER].username)
    # The first page waits longer: the other processes are still starting beside the server.
    office.goto(f"{asgi_server}/dispatch/jobs/new/", timeout=FIELD_WAIT_MS)
    office.fill("#id_title", "Στρώμα στο πεζοδρόμιο")
    office.select_option("#id_kind", "bulky_waste")
    office.fill("#geocode-q", "Αποκορώνου 56")
    office.click("#geocode-results button")
    assert office.input_value("#id_latitude").startswith("35.5115")
    office.fill("#id_latitude", f"{JOB_PLACE[0]:.6f}")
    office.fill("#id_longitude", f"{JOB_PLACE[1]:.6f}")
    office.fill("#id_service_minutes", "10")
    office.click("#save-and-suggest")
    office.wait_for_url("**/dispatch/?job=*")
    job = Job.objects.get(title="Στρώμα στο πεζοδρόμιο")

    # The board opens the job's suggestions by itself; the nearer truck is first.
    first = office.locator("#eligible tr.candidate").first
    first.wait_for()
    assert first.get_attribute("data-vehicle") == str(vehicle.pk)
    first.locator("button.assign").click()
    office.wait_for_selector("#toast.ok")
    office.wait_for_function(f"window.kinisiBoard.jobStatus({job.pk}) === 'assigned'")
    assert office.locator(f"#job-list [data-job='{job.pk}']").count() == 0
    office.wait_for_selector(
        f"#vehicle-list [data-vehicle='{vehicle.pk}'] .chip[data-job='{job.pk}']"
    )
    job.refresh_from_db()
    assert (job.status, job.vehicle_id) == ("assigned", vehicle.pk)

    driver = login(browser, asgi_server, driver_user.username)
    driver.goto(f"{asgi_server}/dispatch/me/")
    card = driver.locator(f".driver-job[data-job='{job.pk}']")
    assert "Στρώμα στο πεζοδρόμιο" in card.inner_text()
    card.locator("button:has-text('Start')").click()
    driver.wait_for_url("**/dispatch/me/")
    office.wait_for_function(f"window.kinisiBoard.jobStatus({job.pk}) === 'en_route'")

    # The truck drives there: the simulator's tracker reports to the gateway over Teltonika.
    office.evaluate(RECORD_TRAIL, vehicle.pk)
    celery_worker.check_alive()
    sim = simulator(
        vehicle, JOB_PLACE, port=gateway.ports()["teltonika"], protocol="teltonika", dwell=600
    )
    # The worker's arrival check puts the job on site; the board hears it over its socket.
    office.wait_for_function(
        f"window.kinisiBoard.jobStatus({job.pk}) === 'on_site'", timeout=FIELD_WAIT_MS
    )
    sim.check_alive()  # still standing at the place, as told

    # The marker drove there along the streets: from the depot, through several places on the
    # road, to a stop within the arrival radius.
    trail = office.evaluate("window.kinisiTrail")
    assert len(trail) >= 5, trail
    assert distance_m(*trail[0], *DEPOT) < 60, trail[0]
    assert distance_m(*trail[-1], *JOB_PLACE) <= 80, trail[-1]
    for lat, lon in trail[1:]:
        assert routed.snap(lat, lon).distance_m < 2.0, (lat, lon)
    travelled = sum(distance_m(*a, *b) for a, b in zip(trail, trail[1:], strict=False))
    assert travelled > distance_m(*DEPOT, *JOB_PLACE)

    job.refresh_from_db()
    on_site = job.events.get(to_status="on_site")
    assert on_site.actor is None and on_site.data["automatic"] is True
    assert job.arrived_at > job.started_at
    positions = Position.objects.filter(vehicle=vehicle)
    assert positions.count() >= 10
    assert positions.filter(speed_kmh__gt=0).exists()

    # The driver, on site, closes the job from the phone.
    driver.goto(f"{asgi_server}/dispatch/me/")
    card = driver.locator(f".driver-job[data-job='{job.pk}']")
    assert card.locator("button:has-text('Arrived')").count() == 0
    card.locator("button:has-text('Done')").click()
    driver.wait_for_url("**/dispatch/me/")
    office.wait_for_function(f"window.kinisiBoard.jobStatus({job.pk}) === 'done'")
    job.refresh_from_db()
    assert job.status == "done"
    events = list(job.events.order_by("pk"))
    assert [e.action for e in events] == ["created", "assigned", "status", "status", "status"]
    assert [e.to_status for e in events[2:]] == ["en_route", "on_site", "done"]


def test_a_truck_leaving_after_its_time_on_site_closes_the_job_by_itself(
    gateway, celery_worker, asgi_server, simulator, browser, municipality_a, users_a, crewed
):
    # This municipality closes a job when the vehicle leaves the place after the time on site
    # (none here, so the test does not wait a minute for it).
    DispatchSettings.objects.create(
        municipality=municipality_a, arrival_dwell_s=10, completion_mode="departure"
    )
    vehicle = crewed(municipality_a)
    dispatcher = users_a[Role.DISPATCHER]
    job = services.job_create(
        municipality=municipality_a,
        actor=dispatcher,
        title="Κλαδιά",
        kind="bulky_waste",
        latitude=JOB_PLACE[0],
        longitude=JOB_PLACE[1],
        service_minutes=0,
    )
    services.job_assign(job=job, vehicle=vehicle, actor=dispatcher)

    # There, 30 s at the place (the arrival needs 10 s stopped and a pass of the worker's
    # check), then back to the depot. The simulator starts first: the board opens while it does.
    simulator(
        vehicle,
        JOB_PLACE,
        port=gateway.ports()["gt06"],
        protocol="gt06",
        dwell=30,
        leave=True,
    )
    office = login(browser, asgi_server, dispatcher.username)
    office.goto(f"{asgi_server}/dispatch/", timeout=FIELD_WAIT_MS)
    # (Assigned still, unless the machine is so slow that the simulator won the race; either
    # way "done" has yet to come, through the board's socket.)
    office.wait_for_function(f"window.kinisiBoard.jobStatus({job.pk}) !== null")
    office.evaluate(RECORD_TRAIL, vehicle.pk)
    celery_worker.check_alive()
    office.wait_for_function(
        f"window.kinisiBoard.jobStatus({job.pk}) === 'on_site'", timeout=FIELD_WAIT_MS
    )
    office.wait_for_function(
        f"window.kinisiBoard.jobStatus({job.pk}) === 'done'", timeout=FIELD_WAIT_MS
    )
    job.refresh_from_db()
    assert job.status == "done"
    done = job.events.get(to_status="done")
    assert done.actor is None and done.data["automatic"] is True
    # Done where the truck was on its way home: beyond the departure radius (150 m).
    assert distance_m(done.data["lat"], done.data["lon"], *JOB_PLACE) > 150
    # The job's status and the truck's position reach the board in separate deltas, and the
    # trail is sampled every 50 ms: "done" can show while the marker is still at the last
    # position inside the radius (148 m in one CI run). The board must show it beyond.
    deadline = time.monotonic() + 30
    trail = office.evaluate("window.kinisiTrail")
    while distance_m(*trail[-1], *JOB_PLACE) <= 150 and time.monotonic() < deadline:
        office.wait_for_timeout(100)
        trail = office.evaluate("window.kinisiTrail")
    nearest = min(distance_m(*p, *JOB_PLACE) for p in trail)
    assert nearest <= 80 and distance_m(*trail[-1], *JOB_PLACE) > 150


def test_two_dispatchers_race_for_one_vehicle(asgi_server, browser, municipality_a, crewed, routed):
    vehicle = crewed(municipality_a, depot=JOB_PLACE)
    crewed(municipality_a, depot=(35.5105, 24.0330))
    one = JobFactory(municipality=municipality_a, title="Πρώτη", latitude=JOB_PLACE[0] + 0.0003)
    two = JobFactory(municipality=municipality_a, title="Δεύτερη", latitude=JOB_PLACE[0] - 0.0003)
    for name in ("maria", "nikos"):
        UserFactory(username=name, municipality=municipality_a, role=Role.DISPATCHER)
    pages = [login(browser, asgi_server, "maria"), login(browser, asgi_server, "nikos")]
    for page, job in zip(pages, (one, two), strict=True):
        page.goto(f"{asgi_server}/dispatch/?job={job.pk}")
        top = page.locator("#eligible tr.candidate").first
        top.wait_for()
        assert top.get_attribute("data-vehicle") == str(vehicle.pk)
    # Both press "Assign" on the same vehicle at (nearly) the same instant.
    for page in pages:
        page.evaluate(
            "() => setTimeout(() => document.querySelector('#eligible button.assign').click(), 0)"
        )
    for page in pages:
        page.wait_for_selector("#toast.ok, #toast.bad")
    outcomes = sorted(page.get_attribute("#toast", "class") for page in pages)
    assert outcomes == ["toast bad", "toast ok"]
    loser = next(p for p in pages if "bad" in p.get_attribute("#toast", "class"))
    assert "just booked" in loser.inner_text("#toast")
    # Exactly one of the two jobs went to the vehicle; the other is still waiting.
    statuses = sorted(Job.objects.filter(pk__in=[one.pk, two.pk]).values_list("status", flat=True))
    assert statuses == ["assigned", "new"]
    assert Job.objects.filter(vehicle=vehicle).count() == 1
    # The loser's board refreshed: the vehicle now shows the winner's job in its queue.
    winner_job = Job.objects.get(vehicle=vehicle)
    loser.wait_for_selector(
        f"#vehicle-list [data-vehicle='{vehicle.pk}'] .chip[data-job='{winner_job.pk}']"
    )


def test_board_draws_every_vehicle(asgi_server, browser, municipality_a, users_a):
    from tests.factories import DepartmentFactory, VehicleFactory

    department = DepartmentFactory(municipality=municipality_a)
    vehicles = [
        VehicleFactory(municipality=municipality_a, department=department) for _ in range(120)
    ]
    for i, v in enumerate(vehicles):
        write_live(v, 35.505 + (i % 12) * 0.001, 24.01 + (i // 12) * 0.002, moving=i % 2 == 0)
    page = login(browser, asgi_server, users_a[Role.AUDITOR].username)
    page.goto(f"{asgi_server}/dispatch/")
    page.wait_for_function("window.kinisiBoard.markerCount() === 120")
    assert page.locator("#vehicle-list .vehicle-item").count() == 120
