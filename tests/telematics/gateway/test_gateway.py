"""The gateway end to end: real sockets on 127.0.0.1, the real database, frames built from the
wire formats (WIRE-FORMATS.md) and the replies the protocols prescribe."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from telematics.models import DeviceAssignment, Position, UnknownDevice, VehicleLiveState
from telematics.protocols.base import Fix
from telematics.protocols.teltonika import encode_teltonika_login, encode_teltonika_packet
from telematics.services import device_token_issue
from tests.factories import VehicleFactory
from tests.telematics.gateway.conftest import GatewayThread, stored_positions, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def teltonika_connect(port: int, imei: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(encode_teltonika_login(imei))
    assert recv_exact(sock, 1) == b"\x01"
    return sock


def fixes(imei: str, start: datetime, count: int, **values) -> list[Fix]:
    return [
        Fix(
            imei,
            start + timedelta(seconds=i),
            35.5100 + i * 0.0001,
            24.0200,
            True,
            speed_kmh=40.0,
            course=90.0,
            altitude=12.0,
            satellites=9,
            **values,
        )
        for i in range(count)
    ]


def test_teltonika_records_are_stored_then_acknowledged_with_their_count(fleet, gateway):
    imei = fleet.ids("teltonika")[0]
    start = now_s() - timedelta(minutes=5)
    with teltonika_connect(gateway.ports["teltonika"], imei) as sock:
        sock.sendall(encode_teltonika_packet(fixes(imei, start, 3, ignition=True)))
        # The acknowledgement is the 4-byte big-endian record count.
        assert recv_exact(sock, 4) == b"\x00\x00\x00\x03"
        # Sent only after the commit: the rows are there the moment the ack is.
        stored = stored_positions(fleet.devices[imei])
    assert [p.fix_time for p in stored] == [start + timedelta(seconds=i) for i in range(3)]
    first = stored[0]
    assert (first.latitude, first.longitude) == (35.51, 24.02)
    assert first.speed_kmh == 40.0 and first.course == 90.0 and first.altitude == 12.0
    assert first.satellites == 9 and first.valid is True and first.ignition is True
    assert first.vehicle_id == fleet.vehicles[imei].pk
    assert first.municipality_id == fleet.municipality.pk


def test_a_frame_resent_after_reconnecting_is_acknowledged_but_stored_once(fleet, gateway):
    imei = fleet.ids("teltonika")[0]
    packet = encode_teltonika_packet(fixes(imei, now_s() - timedelta(minutes=2), 2))
    for _attempt in range(3):
        with teltonika_connect(gateway.ports["teltonika"], imei) as sock:
            sock.sendall(packet)
            assert recv_exact(sock, 4) == b"\x00\x00\x00\x02"
    assert Position.objects.filter(device=fleet.devices[imei]).count() == 2


def test_unknown_teltonika_is_refused_with_a_zero_byte_and_recorded(fleet, gateway):
    with socket.create_connection(("127.0.0.1", gateway.ports["teltonika"]), timeout=10) as s:
        s.sendall(encode_teltonika_login("999999999999999"))
        assert recv_exact(s, 1) == b"\x00"
        assert s.recv(1) == b""  # and the connection is closed
    unknown = wait_for(lambda: UnknownDevice.objects.filter(unique_id="999999999999999").first())
    assert unknown is not None
    assert unknown.protocol == "teltonika" and unknown.attempts == 1
    assert unknown.remote_address.startswith("127.0.0.1:")


def http_request(conn: http.client.HTTPConnection, method: str, path: str, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def test_osmand_get_form_post_and_json_on_one_keep_alive_connection(fleet, gateway):
    phone = fleet.ids("osmand")[0]
    t = int(now_s().timestamp()) - 60
    conn = http.client.HTTPConnection("127.0.0.1", gateway.ports["osmand"], timeout=10)
    # Query form, speed in knots: 10 kn = 18.52 km/h; sat is the satellite count.
    query = f"/?id={phone}&lat=35.5&lon=24.0&timestamp={t}&speed=10&sat=6"
    status, _ = http_request(conn, "GET", query)
    assert status == 200
    # Traccar Client's current SDK: POST, form body, empty query; timestamp in milliseconds.
    body = f"id={phone}&lat=35.5001&lon=24.0001&timestamp={(t + 1) * 1000}&speed=0&batt=77"
    status, _ = http_request(
        conn, "POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200
    # JSON variant: speed in m/s, 10 m/s = 36 km/h.
    iso = datetime.fromtimestamp(t + 2, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {
        "device_id": phone,
        "location": {
            "timestamp": iso,
            "coords": {"latitude": 35.5002, "longitude": 24.0002, "speed": 10, "heading": 180},
        },
    }
    status, _ = http_request(
        conn, "POST", "/", json.dumps(payload), {"Content-Type": "application/json"}
    )
    assert status == 200
    conn.close()
    stored = stored_positions(fleet.devices[phone])
    assert [(p.latitude, p.longitude) for p in stored] == [
        (35.5, 24.0),
        (35.5001, 24.0001),
        (35.5002, 24.0002),
    ]
    assert stored[0].speed_kmh == pytest.approx(18.52)
    assert stored[0].satellites == 6 and "sat" not in stored[0].attributes
    assert stored[1].battery == 77 and stored[1].satellites is None
    assert stored[2].speed_kmh == pytest.approx(36.0) and stored[2].course == 180


def test_osmand_pipelined_requests_are_answered_in_order_and_all_stored(fleet, gateway):
    """A client that sends many requests without waiting (more than a request head's worth, so
    the gateway stops reading for a while) gets one 200 per request, in order."""
    phone = fleet.ids("osmand")[0]
    t = int(now_s().timestamp()) - 600
    requests = b"".join(
        f"GET /?id={phone}&lat={35.5 + i * 0.0001:.4f}&lon=24.0&timestamp={t + i}&pad={'x' * 100}"
        f" HTTP/1.1\r\nHost: kinisi\r\n\r\n".encode()
        for i in range(120)
    )
    assert len(requests) > 8192  # more than http_max_head ahead of the answers
    with socket.create_connection(("127.0.0.1", gateway.ports["osmand"]), timeout=10) as sock:
        sock.sendall(requests)
        answers = b""
        while answers.count(b"HTTP/1.1 ") < 120:
            chunk = sock.recv(65536)
            assert chunk, "connection closed before every request was answered"
            answers += chunk
    assert answers.count(b"HTTP/1.1 200 OK") == 120
    stored = stored_positions(fleet.devices[phone])
    assert [p.latitude for p in stored] == [pytest.approx(35.5 + i * 0.0001) for i in range(120)]


def test_osmand_unknown_device_and_bad_request_get_400(fleet, gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.ports["osmand"], timeout=10)
    status, _ = http_request(conn, "GET", "/?id=stranger&lat=35.5&lon=24.0")
    assert status == 400
    status, _ = http_request(conn, "GET", "/?lat=35.5&lon=24.0")  # no id at all
    assert status == 400
    conn.close()
    assert wait_for(lambda: UnknownDevice.objects.filter(unique_id="stranger").exists())


def test_osmand_device_with_a_token_needs_it(fleet):
    phone = fleet.ids("osmand")[1]
    token = device_token_issue(device=fleet.devices[phone])
    t = int(now_s().timestamp()) - 30
    running = GatewayThread().start()
    conn = http.client.HTTPConnection("127.0.0.1", running.ports["osmand"], timeout=10)

    def send(headers, second):
        return http_request(
            conn, "GET", f"/?id={phone}&lat=35.5&lon=24.0&timestamp={t + second}", None, headers
        )[0]

    try:
        assert send({}, 0) == 401
        assert send({"Authorization": "Token wrong"}, 1) == 401
        assert send({"Authorization": f"Token {token}"}, 2) == 200
    finally:
        conn.close()
        running.stop()
    assert [p.fix_time.timestamp() for p in stored_positions(fleet.devices[phone])] == [t + 2]


def test_gt06_login_is_acknowledged_as_the_protocol_prescribes(fleet, gateway):
    # Traccar's login vector (IMEI 864717003283581, serial 9) and the ack given in the spec.
    login = bytes.fromhex("78780d01086471700328358100093f040d0a")
    with socket.create_connection(("127.0.0.1", gateway.ports["gt06"]), timeout=10) as sock:
        sock.sendall(login)
        assert recv_exact(sock, 10) == bytes.fromhex("7878050100095594 0d0a".replace(" ", ""))


def test_gt06_location_is_stored_and_acknowledged(fleet, gateway):
    from telematics.protocols.gt06 import crc_itu, encode_gt06_location, encode_gt06_login

    imei = fleet.ids("gt06")[0]
    when = now_s() - timedelta(minutes=1)
    with socket.create_connection(("127.0.0.1", gateway.ports["gt06"]), timeout=10) as sock:
        sock.sendall(encode_gt06_login(imei, 1))
        assert recv_exact(sock, 10)[3] == 0x01
        fix = Fix(imei, when, 35.5, 24.0, True, speed_kmh=30.0, course=45.0, satellites=7)
        sock.sendall(encode_gt06_location(fix, 2))
        ack = recv_exact(sock, 10)
    # ACK: 78 78 05 <type> <serial> <crc over len..serial> 0D 0A, serial echoed.
    assert ack[:3] == b"\x78\x78\x05" and ack[4:6] == b"\x00\x02" and ack[-2:] == b"\r\n"
    assert ack[6:8] == struct.pack(">H", crc_itu(ack[2:6]))
    [stored] = stored_positions(fleet.devices[imei])
    assert stored.fix_time == when
    # GT06 coordinates are degrees x 1,800,000 (1/30000 of a minute).
    assert stored.latitude == pytest.approx(35.5, abs=1e-6)
    assert stored.speed_kmh == 30.0


def test_h02_text_frame_is_stored_and_v1_acknowledged(fleet, gateway):
    device_id = fleet.ids("h02")[0]
    when = now_s() - timedelta(minutes=1)
    # 3530.6000 N = 35 + 30.6/60 = 35.51; 02401.2000 E = 24 + 1.2/60 = 24.02; 10 knots.
    frame = (
        f"*HQ,{device_id},V1,{when:%H%M%S},A,3530.6000,N,02401.2000,E,10.00,90,"
        f"{when:%d%m%y},FFFFFBFF#"
    ).encode()
    with socket.create_connection(("127.0.0.1", gateway.ports["h02"]), timeout=10) as sock:
        sock.sendall(frame)
        reply = sock.recv(100)
    assert reply.startswith(f"*HQ,{device_id},V4,V1,".encode()) and reply.endswith(b"#")
    [stored] = stored_positions(fleet.devices[device_id])
    assert stored.fix_time == when
    assert stored.latitude == pytest.approx(35.51) and stored.longitude == pytest.approx(24.02)
    assert stored.speed_kmh == pytest.approx(18.52)


def test_malformed_frame_closes_only_its_connection(fleet, gateway):
    good, other = fleet.ids("teltonika")[:2]
    start = now_s() - timedelta(minutes=3)
    with teltonika_connect(gateway.ports["teltonika"], good) as steady:
        steady.sendall(encode_teltonika_packet(fixes(good, start, 1)))
        assert recv_exact(steady, 4) == b"\x00\x00\x00\x01"
        with teltonika_connect(gateway.ports["teltonika"], other) as broken:
            packet = bytearray(encode_teltonika_packet(fixes(other, start, 1)))
            packet[-5] = 7  # the closing record count no longer matches the opening one
            broken.sendall(packet)
            assert broken.recv(4) == b""  # closed, no acknowledgement
        steady.sendall(encode_teltonika_packet(fixes(good, start + timedelta(seconds=5), 1)))
        assert recv_exact(steady, 4) == b"\x00\x00\x00\x01"
    assert Position.objects.filter(device=fleet.devices[good]).count() == 2
    assert not Position.objects.filter(device=fleet.devices[other]).exists()
    assert sum(gateway.gateway.stats.frames_rejected.values()) == 1


def test_rejected_fixes_are_acknowledged_counted_and_not_stored(fleet, gateway):
    imei = fleet.ids("teltonika")[0]
    start = now_s() - timedelta(minutes=4)
    invalid = Fix(imei, start, 35.5, 24.0, False, satellites=0)  # no GPS lock
    future = Fix(imei, now_s() + timedelta(hours=1), 35.5, 24.0, True, satellites=8)
    good = Fix(imei, start + timedelta(seconds=1), 35.5, 24.0, True, satellites=8)
    with teltonika_connect(gateway.ports["teltonika"], imei) as sock:
        sock.sendall(encode_teltonika_packet([invalid, future, good]))
        assert recv_exact(sock, 4) == b"\x00\x00\x00\x03"
    assert [p.fix_time for p in stored_positions(fleet.devices[imei])] == [good.fix_time]
    assert gateway.gateway.stats.rejected == {"invalid": 1, "future": 1}


def test_live_state_follows_the_newest_fix(fleet, gateway):
    imei = fleet.ids("teltonika")[0]
    vehicle = fleet.vehicles[imei]
    start = now_s() - timedelta(minutes=2)
    with teltonika_connect(gateway.ports["teltonika"], imei) as sock:
        newest = Fix(
            imei,
            start + timedelta(seconds=10),
            35.52,
            24.03,
            True,
            speed_kmh=50.0,
            satellites=8,
            ignition=True,
        )
        sock.sendall(encode_teltonika_packet([newest]))
        recv_exact(sock, 4)
        # An older fix from the tracker's buffer must not move the live state back.
        older = Fix(imei, start, 35.50, 24.00, True, speed_kmh=0.0, satellites=8)
        sock.sendall(encode_teltonika_packet([older]))
        recv_exact(sock, 4)
    state = wait_for(lambda: VehicleLiveState.objects.filter(vehicle=vehicle).first())
    assert state is not None
    assert state.fix_time == newest.fix_time
    assert (state.latitude, state.longitude) == (35.52, 24.03)
    assert state.moving is True and state.ignition is True and state.speed_kmh == 50.0


def test_positions_follow_the_assignment_history(fleet):
    imei = fleet.ids("teltonika")[0]
    device = fleet.devices[imei]
    first_vehicle = fleet.vehicles[imei]
    second_vehicle = VehicleFactory(municipality=fleet.municipality)
    switch = now_s() - timedelta(minutes=10)
    assignment = DeviceAssignment.objects.get(device=device)
    assignment.valid_to = switch
    assignment.save()
    DeviceAssignment.objects.create(
        municipality=fleet.municipality, device=device, vehicle=second_vehicle, valid_from=switch
    )
    running = GatewayThread().start()
    try:
        with teltonika_connect(running.ports["teltonika"], imei) as sock:
            before = Fix(imei, switch - timedelta(seconds=30), 35.5, 24.0, True, satellites=8)
            after = Fix(imei, switch + timedelta(seconds=30), 35.5, 24.0, True, satellites=8)
            sock.sendall(encode_teltonika_packet([before, after]))
            assert recv_exact(sock, 4) == b"\x00\x00\x00\x02"
    finally:
        running.stop()
    assert [p.vehicle_id for p in stored_positions(device)] == [first_vehicle.pk, second_vehicle.pk]


def test_nothing_is_acknowledged_while_the_database_refuses_writes(fleet, gateway):
    """The table is locked by another transaction: the frame waits, unacknowledged, and is
    acknowledged once its rows are committed."""
    imei = fleet.ids("teltonika")[0]
    locked = threading.Event()
    release = threading.Event()

    def hold_lock():
        from django.db import connections

        with transaction.atomic():
            cursor = connections["default"].cursor()
            if connection.vendor == "postgresql":
                cursor.execute("LOCK TABLE telematics_position IN EXCLUSIVE MODE")
            else:
                cursor.execute("DELETE FROM telematics_position WHERE id < 0")  # takes the lock
            locked.set()
            release.wait(30)
        connections["default"].close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    try:
        with teltonika_connect(gateway.ports["teltonika"], imei) as sock:
            sock.sendall(encode_teltonika_packet(fixes(imei, now_s() - timedelta(minutes=1), 1)))
            sock.settimeout(1.5)
            with pytest.raises(TimeoutError):
                sock.recv(4)
            release.set()
            sock.settimeout(30)
            assert recv_exact(sock, 4) == b"\x00\x00\x00\x01"
    finally:
        release.set()
        holder.join(30)
    assert Position.objects.filter(device=fleet.devices[imei]).count() == 1


def test_stored_ranges_are_handed_to_the_workers_per_device(fleet):
    sent: list[tuple[int, datetime, datetime]] = []
    running = GatewayThread(handoff_send=sent.extend, handoff_interval=0.2).start()
    imeis = fleet.ids("teltonika")[:2]
    start = now_s() - timedelta(minutes=5)
    try:
        for imei in imeis:
            with teltonika_connect(running.ports["teltonika"], imei) as sock:
                sock.sendall(encode_teltonika_packet(fixes(imei, start, 4)))
                recv_exact(sock, 4)
        assert wait_for(lambda: len({d for d, _s, _e in sent}) == 2)
    finally:
        running.stop()
    ranges = {d: (s, e) for d, s, e in sent}
    for imei in imeis:
        assert ranges[fleet.devices[imei].pk] == (start, start + timedelta(seconds=3))


def test_teltonika_frame_with_a_wrong_crc_is_accepted_as_traccar_does(fleet, gateway):
    imei = fleet.ids("teltonika")[0]
    packet = bytearray(encode_teltonika_packet(fixes(imei, now_s() - timedelta(minutes=7), 2)))
    packet[-1] ^= 0xFF
    with teltonika_connect(gateway.ports["teltonika"], imei) as sock:
        sock.sendall(packet)
        assert recv_exact(sock, 4) == b"\x00\x00\x00\x02"
    assert Position.objects.filter(device=fleet.devices[imei]).count() == 2


def test_agent_batch_is_stored_and_answered_200_only_with_the_right_token(fleet):
    """The batch format the agent sends (telematics/agent/sender.py): Kinisi units, nulls for
    values gpsd did not report, Bearer token."""
    phone = fleet.ids("osmand")[0]
    token = device_token_issue(device=fleet.devices[phone])
    start = now_s() - timedelta(minutes=10)
    positions = [
        {
            "seq": 17 + i,
            "time": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "lat": 35.5125 + i * 0.0001,
            "lon": 24.025,
            "speed_kmh": 19.447,
            "course": 45.0,
            "altitude": 12.5,
            "accuracy": 17.1,
            "hdop": 0.9,
            "satellites": 8,
            "mode": 3,
            "battery": None,
        }
        for i in range(3)
    ]
    body = json.dumps({"device_id": phone, "positions": positions})
    running = GatewayThread().start()
    conn = http.client.HTTPConnection("127.0.0.1", running.ports["osmand"], timeout=10)
    try:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer nope"}
        assert http_request(conn, "POST", "/agent/batch", body, headers)[0] == 401
        headers["Authorization"] = f"Bearer {token}"
        assert http_request(conn, "POST", "/agent/batch", body, headers)[0] == 200
        assert http_request(conn, "POST", "/agent/batch", "{}", headers)[0] == 400
    finally:
        conn.close()
        running.stop()
    stored = stored_positions(fleet.devices[phone])
    assert [p.fix_time for p in stored] == [start + timedelta(seconds=i) for i in range(3)]
    assert stored[0].speed_kmh == 19.447 and stored[0].accuracy == 17.1
    assert stored[0].satellites == 8 and stored[0].battery is None
    assert stored[2].attributes == {"seq": 19, "mode": 3}


def test_backpressure_stops_reading_while_too_much_waits_for_the_database(fleet):
    """With the table locked, rows pile up to max_pending_rows; then the gateway stops reading
    from every tracker (bounded memory) and resumes once the database takes the rows."""
    running = GatewayThread(max_pending_rows=4).start()
    imeis = fleet.ids("teltonika")
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        from django.db import connections

        with transaction.atomic():
            cursor = connections["default"].cursor()
            if connection.vendor == "postgresql":
                cursor.execute("LOCK TABLE telematics_position IN EXCLUSIVE MODE")
            else:
                cursor.execute("DELETE FROM telematics_position WHERE id < 0")
            locked.set()
            release.wait(30)
        connections["default"].close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    socks = [teltonika_connect(running.ports["teltonika"], imei) for imei in imeis]
    try:
        start = now_s() - timedelta(minutes=20)
        for sock, imei in zip(socks, imeis, strict=True):
            sock.sendall(encode_teltonika_packet(fixes(imei, start, 2)))
        assert wait_for(lambda: running.gateway.overloaded)
        assert running.gateway.pending_rows == 2 * len(imeis)
        assert running.gateway.paused_connections  # the one that tipped it over stops reading
        release.set()
        for sock in socks:
            sock.settimeout(30)
            assert recv_exact(sock, 4) == b"\x00\x00\x00\x02"
        assert wait_for(lambda: not running.gateway.overloaded)
    finally:
        release.set()
        holder.join(30)
        for sock in socks:
            sock.close()
        running.stop()
    assert Position.objects.filter(device__municipality=fleet.municipality).count() == 6
