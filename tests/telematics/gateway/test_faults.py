"""Faults mid-stream: the gateway killed with SIGKILL, PostgreSQL restarted. Trackers behave as
real ones do (resend what was not acknowledged, reconnect when the connection drops); afterwards
every position generated is stored exactly once."""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from telematics.models import Position
from telematics.protocols.base import Fix
from telematics.protocols.teltonika import encode_teltonika_login, encode_teltonika_packet
from tests.telematics.gateway.conftest import Fleet, GatewayProcess, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# A tracker gives up only if the gateway stays unreachable this long (the test then fails).
GIVE_UP_AFTER = 120.0


class Tracker(threading.Thread):
    """At-least-once sender: a frame is repeated, over new connections if need be, until it is
    acknowledged; only then is the next one built."""

    def __init__(self, unique_id: str, start: datetime, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.unique_id = unique_id
        self.next_time = start
        self.stop = stop
        self.generated: list[datetime] = []
        self.acked = 0
        self.failures = 0
        self.gave_up = False

    def next_fixes(self, count: int) -> list[Fix]:
        fixes = []
        for _ in range(count):
            self.next_time += timedelta(seconds=1)
            offset = len(self.generated) * 0.00005
            fixes.append(
                Fix(
                    self.unique_id,
                    self.next_time,
                    35.50 + offset,
                    24.00 + offset,
                    True,
                    speed_kmh=20.0,
                    satellites=8,
                )
            )
            self.generated.append(self.next_time)
        return fixes

    def run(self) -> None:
        pending = None
        last_success = time.monotonic()
        while True:
            if pending is None:
                if self.stop.is_set():
                    break
                pending = self.build()
            try:
                self.send(pending)
            except (OSError, ConnectionError, http.client.HTTPException):
                self.failures += 1
                self.disconnect()
                if time.monotonic() - last_success > GIVE_UP_AFTER:
                    self.gave_up = True
                    return
                time.sleep(0.1)
                continue
            last_success = time.monotonic()
            pending = None
        self.disconnect()


class TeltonikaTracker(Tracker):
    def __init__(self, port: int, *args) -> None:
        super().__init__(*args)
        self.port = port
        self.sock = None

    def build(self):
        fixes = self.next_fixes(3)
        return encode_teltonika_packet(fixes), len(fixes)

    def send(self, pending) -> None:
        import socket

        packet, count = pending
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            self.sock.sendall(encode_teltonika_login(self.unique_id))
            if self.sock.recv(1) != b"\x01":
                raise ConnectionError("login refused")
        self.sock.sendall(packet)
        ack = b""
        while len(ack) < 4:
            chunk = self.sock.recv(4 - len(ack))
            if not chunk:
                raise ConnectionError("closed before the ack")
            ack += chunk
        assert int.from_bytes(ack, "big") == count
        self.acked += count

    def disconnect(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class OsmAndTracker(Tracker):
    def __init__(self, port: int, *args) -> None:
        super().__init__(*args)
        self.port = port
        self.conn = None

    def build(self):
        [fix] = self.next_fixes(1)
        return (
            f"/?id={self.unique_id}&lat={fix.latitude:.6f}&lon={fix.longitude:.6f}"
            f"&timestamp={int(fix.fix_time.timestamp())}&speed=10"
        )

    def send(self, path) -> None:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        response.read()
        if response.status != 200:
            raise ConnectionError(f"HTTP {response.status}")
        self.acked += 1

    def disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def start_trackers(fleet: Fleet, process: GatewayProcess, stop: threading.Event):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    trackers: list[Tracker] = [
        TeltonikaTracker(process.ports["teltonika"], uid, start, stop)
        for uid in fleet.ids("teltonika")
    ] + [OsmAndTracker(process.ports["osmand"], uid, start, stop) for uid in fleet.ids("osmand")]
    for tracker in trackers:
        tracker.start()
    return trackers


def total_acked(trackers) -> int:
    return sum(t.acked for t in trackers)


def finish(trackers, stop: threading.Event) -> None:
    stop.set()
    for tracker in trackers:
        tracker.join(GIVE_UP_AFTER + 30)
    assert not any(t.gave_up or t.is_alive() for t in trackers), "a tracker could not deliver"


def assert_stored_exactly_once(fleet: Fleet, trackers) -> None:
    connection.close()  # the test's own connection may predate a database restart
    for tracker in trackers:
        device = fleet.devices[tracker.unique_id]
        stored = list(
            Position.objects.filter(device=device)
            .order_by("fix_time")
            .values_list("fix_time", flat=True)
        )
        assert stored == tracker.generated, tracker.unique_id
    total = Position.objects.filter(device__municipality=fleet.municipality).count()
    assert total == sum(len(t.generated) for t in trackers)


def test_gateway_killed_mid_stream_loses_and_duplicates_nothing(tmp_path):
    fleet = Fleet(teltonika=12, osmand=3, gt06=0, h02=0)
    process = GatewayProcess(tmp_path)
    process.start()
    stop = threading.Event()
    trackers = start_trackers(fleet, process, stop)
    try:
        assert wait_for(lambda: total_acked(trackers) >= 300, timeout=60)
        process.kill()
        failures_before = sum(t.failures for t in trackers)
        # Trackers notice: their connections are gone and nothing is acknowledged.
        assert wait_for(lambda: sum(t.failures for t in trackers) > failures_before, 30)
        process.start()
        acked_after_restart = total_acked(trackers)
        assert wait_for(lambda: total_acked(trackers) >= acked_after_restart + 300, timeout=60)
    finally:
        finish(trackers, stop)
        process.stop()
    assert_stored_exactly_once(fleet, trackers)


def postgres_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[0]


@pytest.mark.postgres_only
def test_postgresql_restart_mid_stream_pauses_acks_and_loses_nothing(tmp_path):
    assert connection.vendor == "postgresql"
    fleet = Fleet(teltonika=12, osmand=3, gt06=0, h02=0)
    process = GatewayProcess(tmp_path)
    process.start()
    stop = threading.Event()
    trackers = start_trackers(fleet, process, stop)
    try:
        assert wait_for(lambda: total_acked(trackers) >= 300, timeout=60)
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", "restart"],
            check=True,
            timeout=120,
        )
        acked_after_restart = total_acked(trackers)
        assert wait_for(lambda: total_acked(trackers) >= acked_after_restart + 300, timeout=90)
    finally:
        finish(trackers, stop)
        process.stop()
    log = process.log_text()
    assert "gateway.db_unavailable" in log and "gateway.db_available" in log
    assert_stored_exactly_once(fleet, trackers)
