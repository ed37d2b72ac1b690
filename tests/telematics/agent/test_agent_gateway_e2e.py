"""End to end: gpsd → ``kinisi-agent`` → the real gateway (``manage.py run_gateway``) → stored
positions, with the gateway killed and restarted in the middle.

The gateway runs as its own process on the test database (pytest-django's, committed for real
by ``transaction=True``), exactly as in production; the test reads the stored rows back with the
ORM.
"""

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from telematics.agent.fix import format_time
from telematics.gateway.registry import token_hash
from telematics.models import Device, Position
from tests.factories import MunicipalityFactory

pytestmark = [
    pytest.mark.slow,  # two Django processes start per test
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

REPO = Path(__file__).resolve().parents[3]
TOKEN = "agent-e2e-token-0042"


def database_url() -> str:
    """The test database as a DATABASE_URL for the gateway process."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


class GatewayProcess:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port_file = workdir / "gateway-ports.json"
        self.process: subprocess.Popen | None = None
        self.osmand_port = 0

    def start(self, wait) -> None:
        self.port_file.unlink(missing_ok=True)
        env = dict(os.environ, DATABASE_URL=database_url())
        log = open(self.workdir / "gateway.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_gateway",
                "--host",
                "127.0.0.1",
                "--osmand-port",
                str(self.osmand_port),
                "--teltonika-port",
                "-1",
                "--gt06-port",
                "-1",
                "--h02-port",
                "-1",
                "--port-file",
                str(self.port_file),
                "--no-handoff",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail("gateway exited:\n" + (self.workdir / "gateway.log").read_text())
            return self.port_file.exists()

        wait(ready, timeout=60, what="the gateway's port file")
        self.osmand_port = json.loads(self.port_file.read_text())["osmand"]

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def gateway(tmp_path, wait):
    process = GatewayProcess(tmp_path)
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize("mode", ["osmand", "batch"])
def test_fixes_reach_the_database_through_a_gateway_crash(
    tmp_path, gpsd_feed, gateway, start_agent, wait, mode
):
    municipality = MunicipalityFactory()
    device = Device.objects.create(
        municipality=municipality,
        unique_id="KIN-E2E-0042",
        protocol="agent",
        auth_token_hash=token_hash(TOKEN),
    )
    gateway.start(wait)

    # The gateway refuses fixes older than its maximum age, so these are recent ones.
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    at = [t0 + timedelta(seconds=s) for s in range(8)]
    agent = start_agent(
        "--server",
        f"http://127.0.0.1:{gateway.osmand_port}",
        "--device-id",
        "KIN-E2E-0042",
        "--queue",
        str(tmp_path / "queue.sqlite3"),
        "--gpsd-port",
        str(gpsd_feed.port),
        "--interval",
        "0.05",
        "--backoff-base",
        "0.05",
        "--backoff-max",
        "0.5",
        "--http-timeout",
        "5",
        "--log-level",
        "debug",
        "--mode",
        mode,
        env={"KINISI_AGENT_TOKEN": TOKEN},
    )

    def feed(when):
        gpsd_feed.send_fix(when)
        agent.wait_for_log(rf"agent\.fix_queued time={format_time(when)}")

    for when in at[:4]:
        feed(when)
    wait(lambda: Position.objects.filter(device=device).count() == 4, what="four stored")

    gateway.kill()
    for when in at[4:]:
        feed(when)
    agent.wait_for_log(r"agent\.server_unreachable ")
    gateway.start(wait)  # same port as before

    wait(lambda: Position.objects.filter(device=device).count() >= 8, what="eight stored")
    agent.wait_for_log(r"agent\.sent n=\d+ queued=0")
    rows = list(Position.objects.filter(device=device).order_by("fix_time"))
    assert [row.fix_time for row in rows] == at
    for row in rows:
        assert row.latitude == pytest.approx(35.5125, abs=1e-7)
        assert row.longitude == pytest.approx(24.025, abs=1e-7)
        # 10.5 kn in the NMEA → gpsd m/s → the agent's knots (OsmAnd) or km/h (batch) → the
        # gateway's km/h: 10.5 × 1.852 = 19.446 km/h (gpsd rounds m/s to 3 decimals: ±0.01).
        assert row.speed_kmh == pytest.approx(10.5 * 1.852, abs=0.01)
        assert row.course == pytest.approx(45.0)

    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0
