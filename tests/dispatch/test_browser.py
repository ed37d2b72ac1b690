"""The dispatcher's day in a real browser (Playwright driving Debian's headless Chromium).

The web process is a real Daphne server (HTTP and WebSocket) started on the test database. The
vehicle's movements are written to the live-state table the way the gateway writes them; the
arrival check is the worker's task, called here directly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from dispatch import services
from dispatch.models import Job
from fleet.choices import Role
from telematics.models import VehicleLiveState
from tests.dispatch.conftest import JOB_PLACE
from tests.factories import JobFactory, UserFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
# Bounds on waiting (a broken page fails instead of hanging), not measures of speed.
WAIT_MS = 15_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{user}{password}@{host}/{db['NAME']}"


@pytest.fixture
def asgi_server(transactional_db, chania_router_session, chania_graph_dir, tmp_path):
    """Daphne serving config.asgi on the test database, in its own process."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "KINISI_GRAPH_DIR": str(chania_graph_dir),
        "KINISI_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_DEBUG": "true",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "PYTHONPATH": str(REPO),
    }
    env.pop("REDIS_URL", None)  # the server follows the tables itself, as without Redis
    log = open(tmp_path / "daphne.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    if process.poll() is not None:
        log.close()
        pytest.fail("daphne did not start:\n" + (tmp_path / "daphne.log").read_text())
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own database
    # calls stay synchronous, so Django's guard against ORM use inside event loops is lifted.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def login(browser, base: str, username: str):
    """A browser context logged in as ``username`` (a session made by Django's test client:
    the tests hash passwords with MD5, which the server process does not accept)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    context = browser.new_context(locale="en-GB", viewport={"width": 1400, "height": 900})
    context.add_cookies(
        [
            {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base},
            # English, so the assertions below read the msgids.
            {"name": "django_language", "value": "en", "url": base},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


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


def test_create_suggest_assign_then_driver_page_and_arrival(
    asgi_server, browser, municipality_a, users_a, crewed, routed
):
    vehicle = crewed(municipality_a)
    driver_user = users_a[Role.DRIVER]
    vehicle.crew_driver.user = driver_user
    vehicle.crew_driver.save()
    # A second, farther truck, so "the first suggestion" means something.
    crewed(municipality_a, depot=(35.5105, 24.0330))
    start = routed.route([(35.512, 24.02), JOB_PLACE])
    write_live(vehicle, 35.512, 24.02, moving=False)

    office = login(browser, asgi_server, users_a[Role.DISPATCHER].username)
    office.goto(f"{asgi_server}/dispatch/jobs/new/")
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

    # The truck drives to the job along the road (the gateway's writes); the board follows.
    coords = start.coordinates
    for lon, lat in coords[:: max(1, len(coords) // 5)]:
        write_live(vehicle, float(lat), float(lon), moving=True)
        office.wait_for_function(
            f"(p => p && Math.abs(p[0] - {lat}) < 1e-9 && Math.abs(p[1] - {lon}) < 1e-9)"
            f"(window.kinisiBoard.position({vehicle.pk}))"
        )
    stopped_at = timezone.now() - timedelta(minutes=1)
    write_live(vehicle, JOB_PLACE[0], JOB_PLACE[1], moving=False, at=stopped_at)
    services.arrivals_track()
    write_live(vehicle, JOB_PLACE[0], JOB_PLACE[1], moving=False)
    services.arrivals_track()  # the worker's periodic task
    office.wait_for_function(f"window.kinisiBoard.jobStatus({job.pk}) === 'on_site'")

    driver.goto(f"{asgi_server}/dispatch/me/")
    driver.locator(f".driver-job[data-job='{job.pk}'] button:has-text('Done')").click()
    driver.wait_for_url("**/dispatch/me/")
    office.wait_for_function(f"window.kinisiBoard.jobStatus({job.pk}) === 'done'")
    job.refresh_from_db()
    assert job.status == "done"
    assert [e.action for e in job.events.all()] == [
        "created",
        "assigned",
        "status",
        "status",
        "status",
    ]


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
