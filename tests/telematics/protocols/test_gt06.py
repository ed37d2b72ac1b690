from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telematics.protocols.base import Fix, FrameError, ProtocolError
from telematics.protocols.gt06 import (
    Gt06Session,
    crc_itu,
    encode_gt06_ack,
    encode_gt06_command,
    encode_gt06_location,
    encode_gt06_login,
)

VECTOR_PROTOCOLS = ("gt06",)
VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "protocols" / "vectors.json").read_text()
)
LOGIN = bytes.fromhex(VECTORS[27]["hex"])  # IMEI 864717003283581, serial 9
LOCATION = bytes.fromhex(VECTORS[29]["hex"])  # 0x12, standard, Lithuania
MOVING = bytes.fromhex(VECTORS[30]["hex"])  # 0x12 with odometer, ACC on, 32 km/h
HEARTBEAT = bytes.fromhex(VECTORS[39]["hex"])  # 0x13 status


def logged_in() -> Gt06Session:
    session = Gt06Session()
    [message] = session.feed(LOGIN)
    assert message.kind == "login"
    return session


def test_every_gt06_vector_decodes_to_its_expected_values(vector, check_fix):
    frame = bytes.fromhex(vector["hex"])
    expected = vector["expected"]
    is_login = frame[3] == 0x01
    session = Gt06Session() if is_login else logged_in()
    [message] = session.feed(frame)

    assert message.reply == bytes.fromhex(vector["server_response_hex"])
    # The acknowledgement echoes the serial number the vector names.
    assert int.from_bytes(message.reply[4:6], "big") == expected["serial"]
    body = frame[2:-4]
    assert (crc_itu(body) == int.from_bytes(frame[-4:-2], "big")) == expected["crc_ok"]
    if is_login:
        assert message.unique_id == expected["imei"]
        assert message.fixes == []
        offset = expected.get("login_timezone_offset_minutes")
        assert message.attributes.get("timezoneOffsetMinutes") == offset
    elif "time_utc" not in expected:
        # Status/heartbeat: no position of its own, but the live state still learns from it.
        assert message.fixes == []
        assert message.kind == "heartbeat"
        for key in ("ignition", "batteryLevel", "rssi", "charge"):
            assert message.attributes[key] == expected[key], key
    else:
        assert message.unique_id == "864717003283581"
        [fix] = message.fixes
        check_fix(fix, expected)


def test_server_command_matches_the_vector_byte_for_byte(command_vector):
    assert encode_gt06_command(command_vector["expected"]["command"]) == bytes.fromhex(
        command_vector["hex"]
    )


def test_crc_itu_check_value():
    # The catalogue check value of CRC-16/X-25 over "123456789".
    assert crc_itu(b"123456789") == 0x906E


def test_login_encoder_matches_the_vector_byte_for_byte():
    assert encode_gt06_login("864717003283581", serial=9) == LOGIN
    extended = bytes.fromhex(VECTORS[28]["hex"])
    # The extended login adds the type id and the time-zone word; the encoder writes the type id.
    assert (
        encode_gt06_login("864717003664467", serial=2, device_type=0x100F)[4:14] == (extended[4:14])
    )


def test_location_encoder_matches_the_vector_byte_for_byte():
    [message] = logged_in().feed(LOCATION)
    assert encode_gt06_location(message.fixes[0], serial=3) == LOCATION


def test_location_with_odometer_matches_the_vector_byte_for_byte():
    [message] = logged_in().feed(MOVING)
    assert message.fixes[0].odometer == 4320784.0
    assert encode_gt06_location(message.fixes[0], serial=0x0576, odometer=True) == MOVING


def test_encoded_location_round_trips_for_every_hemisphere():
    for latitude, longitude in ((35.51, 24.02), (-33.9, 18.4), (40.7, -74.0), (-23.5, -46.6)):
        fix = Fix(
            unique_id="864717003283581",
            fix_time=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
            latitude=latitude,
            longitude=longitude,
            valid=True,
            speed_kmh=0.0,
            course=359.0,
            satellites=7,
            ignition=False,
        )
        [message] = logged_in().feed(encode_gt06_location(fix, serial=77))
        decoded = message.fixes[0]
        assert decoded.latitude == pytest.approx(latitude, abs=1e-6)
        assert decoded.longitude == pytest.approx(longitude, abs=1e-6)
        assert (decoded.speed_kmh, decoded.course, decoded.ignition) == (0.0, 359.0, False)
        assert message.reply == encode_gt06_ack(0x12, 77)


def test_invalid_fix_is_kept_and_marked_invalid():
    [message] = logged_in().feed(bytes.fromhex(VECTORS[33]["hex"]))
    assert message.fixes[0].valid is False


def test_login_time_zone_shifts_later_fix_times_to_utc():
    session = Gt06Session()
    session.feed(bytes.fromhex(VECTORS[28]["hex"]))  # device clock is UTC-04:00
    [message] = session.feed(LOCATION)
    # The frame says 2015-10-20 14:21:11 device time, which is 18:21:11 UTC.
    assert message.fixes[0].fix_time == datetime(2015, 10, 20, 18, 21, 11, tzinfo=UTC)


def test_alarm_packet_is_reported_as_an_alarm():
    [message] = logged_in().feed(bytes.fromhex(VECTORS[37]["hex"]))
    assert message.kind == "alarm"
    assert message.fixes[0].attributes["alarm"] == "sos"


def test_a_frame_split_across_many_feeds_decodes_once_complete():
    session = Gt06Session()
    stream = LOGIN + LOCATION + HEARTBEAT
    messages = []
    for index in range(0, len(stream), 3):
        messages.extend(session.feed(stream[index : index + 3]))
    assert [m.kind for m in messages] == ["login", "position", "heartbeat"]
    assert session.buffered == 0


def test_two_frames_in_one_feed_give_two_messages_in_order():
    session = logged_in()
    messages = session.feed(LOCATION + MOVING)
    assert [m.fixes[0].speed_kmh for m in messages] == [0.0, 32.0]


def test_location_before_login_is_refused():
    with pytest.raises(ProtocolError) as caught:
        Gt06Session().feed(LOCATION)
    assert caught.value.reason == "not_logged_in"


def test_garbage_header_is_refused():
    with pytest.raises(ProtocolError) as caught:
        Gt06Session().feed(b"GET / HTTP/1.1\r\n")
    assert caught.value.reason == "bad_header"


def test_unterminated_frame_beyond_the_limit_raises_frame_error():
    session = Gt06Session(max_frame=512)
    with pytest.raises(FrameError):
        session.feed(b"\x78\x78\x10" + b"\x00" * 600)
