"""Fixtures for the dispatch tests: the Chania road graph (built once per session), places on
its streets, a vehicle with a qualified driver on shift, and for the browser tests the system's
own processes (web server, gateway, worker) on the test database and a headless Chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from dispatch.routing.network import Clip
from dispatch.routing.registry import GraphSource, router_for_source
from tests.factories import (
    DepartmentFactory,
    DriverFactory,
    DriverLicenceFactory,
    ShiftFactory,
    VehicleFactory,
)

REPO = Path(__file__).resolve().parents[2]
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
# Bounds on waiting for a page (a broken page fails instead of hanging), not measures of speed.
WAIT_MS = 30_000
CHANIA = REPO / "data" / "osm" / "chania.osm.bz2"
# The bbox MunicipalityFactory gives every test municipality.
CHANIA_BBOX = (35.5033, 24.0059, 35.5187, 24.0395)
# Points on Chania's streets (checked to snap within a few metres).
DEPOT = (35.512, 24.02)
JOB_PLACE = (35.5149, 24.0182)
EAST = (35.5105, 24.0330)
WEST = (35.5135, 24.0110)


@pytest.fixture(scope="session")
def chania_graph_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("graphs")


@pytest.fixture(scope="session")
def chania_router_session(chania_graph_dir):
    """The router the registry hands out for a test municipality (cached in-process, so later
    ``router_for`` calls in any test reuse it whatever their graph directory)."""
    from django.conf import settings

    old = settings.KINISI_GRAPH_DIR
    settings.KINISI_GRAPH_DIR = chania_graph_dir
    try:
        return router_for_source(GraphSource(path=CHANIA, clip=Clip(bbox=CHANIA_BBOX)))
    finally:
        settings.KINISI_GRAPH_DIR = old


@pytest.fixture
def routed(chania_router_session, settings, chania_graph_dir):
    """Road routing available to the services (the registry's cached Chania router)."""
    settings.KINISI_GRAPH_DIR = chania_graph_dir
    return chania_router_session


@pytest.fixture
def crewed_vehicle(municipality_a):
    """A 26-tonne refuse truck at the depot with a qualified driver on shift now."""
    department = DepartmentFactory(
        municipality=municipality_a, depot_lat=DEPOT[0], depot_lon=DEPOT[1]
    )
    vehicle = VehicleFactory(
        municipality=municipality_a, department=department, payload_kg=8000, gross_weight_kg=26000
    )
    driver = DriverFactory(
        municipality=municipality_a,
        department=department,
        pei_expiry=date.today() + timedelta(days=400),
    )
    DriverLicenceFactory(driver=driver, category="C")
    now = timezone.now()
    ShiftFactory(
        municipality=municipality_a,
        driver=driver,
        vehicle=vehicle,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=7),
    )
    vehicle.crew_driver = driver
    return vehicle


def make_crewed_vehicle(municipality, *, depot=DEPOT, category="refuse_truck", **kw):
    department = DepartmentFactory(
        municipality=municipality, depot_lat=depot[0], depot_lon=depot[1]
    )
    vehicle = VehicleFactory(
        municipality=municipality,
        department=department,
        category=category,
        payload_kg=kw.pop("payload_kg", 8000),
        gross_weight_kg=kw.pop("gross_weight_kg", 26000),
        **kw,
    )
    driver = DriverFactory(
        municipality=municipality,
        department=department,
        pei_expiry=date.today() + timedelta(days=400),
    )
    DriverLicenceFactory(driver=driver, category="C")
    now = timezone.now()
    ShiftFactory(
        municipality=municipality,
        driver=driver,
        vehicle=vehicle,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=7),
    )
    vehicle.crew_driver = driver
    return vehicle


# Six places around Chania's centre for a day's round of jobs.
ROUND_PLACES = [
    JOB_PLACE,
    EAST,
    WEST,
    (35.5080, 24.0200),
    (35.5160, 24.0300),
    (35.5110, 24.0150),
]


def make_round_day(municipality, *, vehicles: int = 2):
    """Tomorrow's round: crewed trucks on a 07:00-15:00 shift and a 1 t job at each of
    ROUND_PLACES, 10 minutes on site, window 07:00-14:00. Returns (vehicles, jobs, day)."""
    from datetime import datetime
    from datetime import time as time_of_day

    from dispatch import selectors
    from tests.factories import JobFactory, ShiftFactory

    zone = selectors.local_zone(municipality)
    day = timezone.now().astimezone(zone).date() + timedelta(days=1)

    def at(hour: int) -> datetime:
        return datetime.combine(day, time_of_day(hour), tzinfo=zone)

    trucks = [make_crewed_vehicle(municipality) for _ in range(vehicles)]
    for truck in trucks:
        ShiftFactory(
            municipality=municipality,
            driver=truck.crew_driver,
            vehicle=truck,
            starts_at=at(7),
            ends_at=at(15),
        )
    jobs = [
        JobFactory(
            municipality=municipality,
            latitude=lat,
            longitude=lon,
            service_minutes=10,
            load_kg=1000,
            window_start=at(7),
            window_end=at(14),
        )
        for lat, lon in ROUND_PLACES
    ]
    return trucks, jobs, day


@pytest.fixture
def crewed():
    return make_crewed_vehicle


# --- the system's processes, for the browser tests ---------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The test database as a DATABASE_URL for another process."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{user}{password}@{host}/{db['NAME']}"


def process_env(workdir: Path, graph_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a Kinisi process on the test database: the embedded set-up (no Redis:
    the web process follows the live-state table itself, Celery uses its filesystem broker in
    ``workdir``), the session's road graphs."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "KINISI_GRAPH_DIR": str(graph_dir),
        "KINISI_VAR_DIR": str(workdir / "var"),
        "DJANGO_DEBUG": "true",
        "PYTHONPATH": str(REPO),
        **extra,
    }
    env.pop("REDIS_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


class Process:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited ({self.popen.returncode}):\n{self.log()[-4000:]}")

    def wait_for(self, ready, what: str, timeout: float = 90.0) -> None:
        """Poll ``ready()`` until true; fail with the log if the process dies or it times out."""
        deadline = time.monotonic() + timeout
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name}: no {what} after {timeout:.0f} s:\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def terminate(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()

    def stop(self) -> None:
        self.terminate()
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        self._log.close()


def _other_sessions_closed() -> bool:
    """PostgreSQL: no other process is connected to the test database any more."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] == 0


@pytest.fixture
def processes(transactional_db):
    """The test's child processes, stopped together at the end (each shuts down gracefully, so
    one after the other would add up), before the test database is emptied."""
    started: list[Process] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        process.stop()
    # Their database sessions end a moment after them; the database is emptied (and at the end
    # dropped) only once they have.
    deadline = time.monotonic() + 15
    while not _other_sessions_closed() and time.monotonic() < deadline:
        time.sleep(0.1)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def asgi_server(processes, chania_router_session, chania_graph_dir, tmp_path):
    """Daphne serving config.asgi (pages and the board's WebSocket) on the test database."""
    port = free_port()
    env = process_env(tmp_path, chania_graph_dir, CELERY_TASK_ALWAYS_EAGER="true")
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    web = Process("daphne", [*command, "config.asgi:application"], env, tmp_path)
    processes.append(web)
    web.wait_for(lambda: _port_open(port), "open port")
    return f"http://127.0.0.1:{port}"


class Gateway(Process):
    """``manage.py run_gateway`` on ephemeral ports; :meth:`ports` waits until it listens."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port_file = workdir / "gateway-ports.json"
        command = [sys.executable, "manage.py", "run_gateway", "--host", "127.0.0.1"]
        for protocol in ("osmand", "teltonika", "gt06"):
            command += [f"--{protocol}-port", "0"]
        command += ["--h02-port", "-1", "--port-file", str(self.port_file), "--no-handoff"]
        super().__init__("gateway", command, env, workdir)

    def ports(self) -> dict[str, int]:
        self.wait_for(self.port_file.exists, "port file")
        return json.loads(self.port_file.read_text())


@pytest.fixture
def gateway(processes, chania_graph_dir, tmp_path):
    """The gateway storing positions and live state in the test database, as in production
    but without handing stored positions to the workers: the arrival check reads the live
    state, not the motion pipeline. Started, not waited for (the processes start together)."""
    process = Gateway(process_env(tmp_path, chania_graph_dir), tmp_path)
    processes.append(process)
    return process


@pytest.fixture
def celery_worker(processes, chania_graph_dir, tmp_path):
    """A Celery worker with its beat (the settings' schedule: the arrival check every 5 s) on the
    filesystem broker in this test's own directory. Started, not waited for."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--beat",
        "--pool",
        "solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]
    worker = Process("worker", command, process_env(tmp_path, chania_graph_dir), tmp_path)
    processes.append(worker)
    return worker


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
        # While Playwright's loop runs, the ORM keeps its connections apart from the usual
        # ones: close them here, or they outlive the test database (and hold up its removal).
        from django.db import connections

        connections.close_all()


def login(browser, base: str, username: str):
    """A browser page logged in as ``username`` (a session made by Django's test client: the
    tests hash passwords with MD5, which the server process does not accept), in English so the
    assertions read the msgids."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    context = browser.new_context(locale="en-GB", viewport={"width": 1400, "height": 900})
    context.add_cookies(
        [
            {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base},
            {"name": "django_language", "value": "en", "url": base},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page
