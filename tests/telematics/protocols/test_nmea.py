from __future__ import annotations

from datetime import UTC, datetime

import pytest

from telematics.protocols.base import ProtocolError
from telematics.protocols.nmea import Gps103Session, GpsGateSession, nmea_checksum

VECTOR_PROTOCOLS = ("nmea_gprmc (gpsgate)", "gps103 (GPRMC-style fields)", "gps103")


def test_every_nmea_and_gps103_vector_decodes_to_its_expected_values(vector, check_fix):
    expected = vector["expected"]
    text = vector["text"]
    if vector["protocol"].startswith("nmea"):
        session = GpsGateSession()
        if not text.startswith("$FRLIN"):
            session.feed(b"$FRLIN,,354503026292842,VGZTHKT*0C\r\n")
        messages = session.feed(text.encode() + b"\r\n")
    else:
        messages = Gps103Session().feed(text.encode() + b";")
    [message] = messages
    if "time_utc" not in expected:
        # Login and heartbeat frames: no position (Traccar's decoder returns null).
        assert expected["decode_returns"] is None
        assert message.fixes == []
        if "imei" in expected:
            assert message.unique_id == expected["imei"]
        response = vector["server_response"]
        if response.startswith("$FRSES"):
            assert message.reply.startswith(b"$FRSES,")
            assert message.reply.endswith(b"\r\n")
        else:
            assert message.reply == response.split(" ")[0].encode()
        return
    [fix] = message.fixes
    if "imei" in expected:
        assert fix.unique_id == expected["imei"]
    check_fix(fix, expected)


def test_nmea_checksum_of_the_vector_sentence():
    # Vector 52 carries *0A, the XOR of the characters between '$' and '*'.
    assert nmea_checksum("GPRMC,154403.000,A,6311.64120,N,01438.02740,E,0.000,0.0,270707,,") == "0A"


def test_gpsgate_login_reply_carries_a_valid_checksum():
    [message] = GpsGateSession().feed(b"$FRLIN,,354503026292842,VGZTHKT*0C\r\n")
    body, checksum = message.reply.decode().strip()[1:].split("*")
    assert checksum == nmea_checksum(body)


def test_gprmc_before_login_is_refused():
    with pytest.raises(ProtocolError):
        GpsGateSession().feed(
            b"$GPRMC,074524,A,5553.73701,N,03728.90491,E,10.39,226.5,160614,,*75\n"
        )


def test_gps103_utc_date_crosses_midnight_backwards():
    # Local 2015-10-27 02:59 at UTC+3 is 2015-10-26 23:59:57 UTC (vector 56's rule).
    frame = (
        b"imei:359710049092324,tracker,151027025958,,F,235957.000,A,2429.5156,N,04424.5828,E,"
        b"0.01,27.91,,0,0,,,;"
    )
    [message] = Gps103Session().feed(frame)
    assert message.fixes[0].fix_time == datetime(2015, 10, 26, 23, 59, 57, tzinfo=UTC)


def test_gps103_southern_western_fix_with_ignition_on():
    frame = (
        b"imei:359710049092324,tracker,151027025958,,F,235957.000,V,2429.5156,S,04424.5828,W,"
        b"0.00,0,12.5,1,0,50%,,;"
    )
    [message] = Gps103Session().feed(frame)
    fix = message.fixes[0]
    assert fix.latitude < 0 and fix.longitude < 0
    assert fix.valid is False
    assert (fix.speed_kmh, fix.ignition, fix.altitude, fix.fuel_level) == (0.0, True, 12.5, 50.0)
