"""Fixtures for gateway tests: a real gateway on 127.0.0.1 with ephemeral ports, against the
test database (committed data: the gateway has its own connection)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from telematics.gateway.app import Gateway
from telematics.gateway.django_glue import database_config, gateway_config
from telematics.models import Device, DeviceAssignment, Position
from tests.factories import MunicipalityFactory, VehicleFactory

ROOT = Path(__file__).resolve().parents[3]


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "postgres_only: needs PostgreSQL (deselected, not skipped, on SQLite)"
    )


def pytest_collection_modifyitems(config, items) -> None:
    """On SQLite, leave out PostgreSQL-only tests (a skip would fail CI, where nothing may
    skip; the PostgreSQL pass of CI runs them)."""
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return
    selected, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("postgres_only") else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


class Fleet:
    """A municipality with devices, each in its own vehicle since a day ago."""

    def __init__(self, teltonika: int = 3, osmand: int = 2, gt06: int = 1, h02: int = 1):
        self.municipality = MunicipalityFactory()
        since = timezone.now() - timedelta(days=1)
        self.devices: dict[str, Device] = {}
        self.vehicles = {}
        specs = (
            [("teltonika", f"35{i:013d}") for i in range(teltonika)]
            + [("osmand", f"phone-{i}") for i in range(osmand)]
            + [("gt06", "864717003283581")] * gt06
            + [("h02", f"41{i:08d}") for i in range(h02)]
        )
        for protocol, unique_id in specs:
            device = Device.objects.create(
                municipality=self.municipality, unique_id=unique_id, protocol=protocol
            )
            vehicle = VehicleFactory(municipality=self.municipality)
            DeviceAssignment.objects.create(
                municipality=self.municipality, device=device, vehicle=vehicle, valid_from=since
            )
            self.devices[unique_id] = device
            self.vehicles[unique_id] = vehicle

    def ids(self, protocol: str) -> list[str]:
        return [uid for uid, d in self.devices.items() if d.protocol == protocol]


@pytest.fixture
def fleet(transactional_db) -> Fleet:
    return Fleet()


class GatewayThread:
    """The gateway in a thread of the test process, on its own event loop."""

    def __init__(self, **overrides) -> None:
        overrides.setdefault("host", "127.0.0.1")
        overrides.setdefault("ports", {"osmand": 0, "teltonika": 0, "gt06": 0, "h02": 0})
        overrides.setdefault("live_state_interval", 0.2)
        overrides.setdefault("registry_refresh_interval", 0.5)
        overrides.setdefault("unknown_recheck_interval", 0.0)
        handoff = overrides.pop("handoff_send", None)
        self.config = gateway_config(**overrides)
        self.ready = threading.Event()
        self.gateway = Gateway(self.config, handoff_send=handoff, on_ready=self._ready)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _ready(self, ports) -> None:
        self.ready.set()

    def _run(self) -> None:
        try:
            asyncio.run(self.gateway.serve())
        except BaseException as exc:  # reported by the fixture
            self.error = exc
            self.ready.set()

    @property
    def ports(self) -> dict[str, int]:
        return self.gateway.ports

    def start(self) -> GatewayThread:
        self.thread.start()
        assert self.ready.wait(30), "gateway did not start"
        if self.error:
            raise self.error
        return self

    def stop(self) -> None:
        self.gateway.stop()
        self.thread.join(30)


@pytest.fixture
def gateway(fleet):
    running = GatewayThread().start()
    yield running
    running.stop()
    assert running.error is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """DATABASE_URL of the test database, for a gateway in a separate process."""
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class GatewayProcess:
    """``manage.py run_gateway`` as its own process, on fixed ports so it can be restarted."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.ports = {p: free_port() for p in ("osmand", "teltonika", "gt06", "h02")}
        self.process: subprocess.Popen | None = None
        self.runs = 0
        assert database_config().vendor in ("sqlite", "postgresql")

    def start(self) -> None:
        self.runs += 1
        port_file = self.tmp_path / f"ports-{self.runs}.json"
        env = dict(os.environ)
        env["DATABASE_URL"] = database_url()
        env["KINISI_VAR_DIR"] = str(self.tmp_path / "var")
        env.pop("REDIS_URL", None)
        command = [
            sys.executable,
            str(ROOT / "manage.py"),
            "run_gateway",
            "--host",
            "127.0.0.1",
            "--port-file",
            str(port_file),
            "--no-handoff",
        ]
        for protocol, port in self.ports.items():
            command += [f"--{protocol}-port", str(port)]
        self.log = open(self.tmp_path / f"gateway-{self.runs}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert self.process.poll() is None, self.log_text()
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log_text(self) -> str:
        return "".join(
            (self.tmp_path / f"gateway-{n}.log").read_text() for n in range(1, self.runs + 1)
        )


@pytest.fixture
def gateway_process(fleet, tmp_path):
    process = GatewayProcess(tmp_path)
    yield process
    process.stop()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy (the gateway writes from its own thread/process)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def stored_positions(device: Device) -> list[Position]:
    return list(Position.objects.filter(device=device).order_by("fix_time"))
