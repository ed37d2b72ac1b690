"""Garbage, truncated, oversized and mutated frames over real sockets never take the gateway
down, and a well-behaved tracker on another connection keeps being acknowledged throughout."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telematics.models import Position
from telematics.protocols.base import Fix
from telematics.protocols.gt06 import encode_gt06_location, encode_gt06_login
from telematics.protocols.teltonika import encode_teltonika_login, encode_teltonika_packet
from tests.telematics.gateway.conftest import GatewayThread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def valid_frames(fleet) -> dict[str, list[bytes]]:
    imei = fleet.ids("teltonika")[1]
    gt06 = fleet.ids("gt06")[0]
    h02 = fleet.ids("h02")[0]
    phone = fleet.ids("osmand")[0]
    fix = Fix(imei, NOW, 35.5, 24.0, True, speed_kmh=30.0, satellites=8, ignition=True)
    gt06_fix = Fix(gt06, NOW, 35.5, 24.0, True, speed_kmh=30.0, satellites=8)
    return {
        "teltonika": [encode_teltonika_login(imei) + encode_teltonika_packet([fix, fix])],
        "gt06": [encode_gt06_login(gt06, 1) + encode_gt06_location(gt06_fix, 2)],
        "h02": [
            f"*HQ,{h02},V1,{NOW:%H%M%S},A,3530.6000,N,02401.2000,E,10.00,90,{NOW:%d%m%y},"
            f"FFFFFBFF#".encode()
        ],
        "osmand": [
            f"GET /?id={phone}&lat=35.5&lon=24.0&timestamp={int(NOW.timestamp())} HTTP/1.1\r\n"
            f"Host: x\r\n\r\n".encode(),
            f"POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n"
            f'{{"device_id":"{phone}","location":{{"coords":{{"latitude":1}}}}}}'.encode(),
        ],
    }


@st.composite
def hostile_payload(draw, frames: dict[str, list[bytes]]):
    protocol = draw(st.sampled_from(sorted(frames)))
    base = draw(st.sampled_from(frames[protocol]))
    kind = draw(st.sampled_from(["garbage", "truncated", "mutated", "oversized", "repeated"]))
    if kind == "garbage":
        payload = draw(st.binary(min_size=1, max_size=600))
    elif kind == "truncated":
        payload = base[: draw(st.integers(0, len(base) - 1))]
    elif kind == "mutated":
        payload = bytearray(base)
        for _ in range(draw(st.integers(1, 6))):
            position = draw(st.integers(0, len(payload) - 1))
            payload[position] = draw(st.integers(0, 255))
        payload = bytes(payload)
    elif kind == "oversized":
        payload = base[:4] + b"\xff" * draw(st.integers(70_000, 140_000))
    else:
        payload = base * draw(st.integers(2, 5))
    return protocol, kind, payload


def exchange(port: int, payload: bytes) -> None:
    """Send everything, then read whatever comes back until the gateway closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(payload)
            sock.settimeout(0.3)
            while sock.recv(4096):
                pass
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            pass


def test_hostile_frames_never_stop_the_gateway_or_other_trackers(fleet):
    running = GatewayThread().start()
    canary_imei = fleet.ids("teltonika")[0]
    canary = socket.create_connection(("127.0.0.1", running.ports["teltonika"]), timeout=10)
    canary.sendall(encode_teltonika_login(canary_imei))
    assert canary.recv(1) == b"\x01"
    frames = valid_frames(fleet)
    sent = []

    def canary_reports() -> None:
        when = NOW + timedelta(seconds=len(sent) + 1)
        fix = Fix(canary_imei, when, 35.5, 24.0, True, speed_kmh=10.0, satellites=8)
        canary.sendall(encode_teltonika_packet([fix]))
        ack = b""
        while len(ack) < 4:
            chunk = canary.recv(4 - len(ack))
            assert chunk, "the canary's connection was closed"
            ack += chunk
        assert ack == b"\x00\x00\x00\x01"
        sent.append(when)

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(hostile_payload(frames))
    def attack(case) -> None:
        protocol, _kind, payload = case
        exchange(running.ports[protocol], payload)
        canary_reports()

    try:
        attack()
    finally:
        canary.close()
        running.stop()
    assert running.error is None
    stored = Position.objects.filter(device=fleet.devices[canary_imei]).order_by("fix_time")
    assert list(stored.values_list("fix_time", flat=True)) == sent
    stats = running.gateway.stats
    # The hostile connections were refused for what they were, and counted.
    assert sum(stats.frames_rejected.values()) > 0
