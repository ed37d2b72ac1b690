from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telematics.protocols.base import Fix, ProtocolError
from telematics.protocols.osmand import _split_pairs, decode_osmand, encode_osmand_query

VECTOR_PROTOCOLS = ("osmand",)

RECEIVED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def split_request(text: str) -> tuple[str, str, bytes, str | None]:
    """A vector's request text as (method, query, body, content type)."""
    head, _, body = text.partition("\n")
    method, _, rest = head.partition(" ")
    path = rest.split(" ")[0]
    query = path.partition("?")[2]
    content_type = None
    if "(Content-Type:" in head:
        content_type = head.split("(Content-Type:")[1].rstrip(")").strip()
    return method, query, body.encode(), content_type


def test_every_osmand_vector_decodes_to_its_expected_values(vector, check_fix):
    method, query, body, content_type = split_request(vector["text"])
    message = decode_osmand(method, query, body, content_type, received_at=RECEIVED)
    expected = dict(vector["expected"])

    assert message.unique_id == expected["unique_id"]
    assert message.reply == b""
    assert len(message.fixes) == 1
    fix = message.fixes[0]
    skip: list[str] = []
    if "server receive time" in expected["time_utc"]:
        assert fix.fix_time == RECEIVED
        skip.append("time_utc")
    if "server local zone" in expected["time_utc"]:
        # Traccar reads it in the server JVM's zone; Kinisi reads it in UTC unless told.
        assert fix.fix_time == datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC)
        skip.append("time_utc")
    if content_type == "application/json":
        # Deliberate differences from Traccar (see osmand.py): accuracy as sent, and an unknown
        # heading (-1) stays unknown instead of becoming 0.
        skip.append("accuracy")
        coords = vector["text"].split('"coords":')[1]
        if '"heading":-1' in coords:
            assert fix.course is None
            skip.append("course")
    check_fix(fix, expected, skip=tuple(skip))


def test_json_accuracy_is_kept_as_sent():
    body = (
        b'{"location":{"timestamp":"2021-07-21T08:06:34.444Z","coords":{"latitude":-6.1148096,'
        b'"longitude":106.6837015,"accuracy":3.8,"speed":18.67,"heading":63}},'
        b'"device_id":"8737767034"}'
    )
    fix = decode_osmand("POST", "", body, "application/json").fixes[0]
    assert fix.accuracy == 3.8
    # 18.67 m/s is 67.212 km/h (× 3.6).
    assert fix.speed_kmh == pytest.approx(67.212)


def test_naive_timestamp_is_read_in_the_given_zone():
    athens_summer = timezone(timedelta(hours=3))
    message = decode_osmand(
        "GET", "id=1&lat=35.5&lon=24.0&timestamp=2024-07-01+12%3A00%3A00", naive_tz=athens_summer
    )
    assert message.fixes[0].fix_time == datetime(2024, 7, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        # One below the boundary is seconds: 2038-01-19T03:14:06Z.
        ("2147483646", datetime(2038, 1, 19, 3, 14, 6, tzinfo=UTC)),
        # The boundary itself is milliseconds: 2147483.647 s after the epoch.
        ("2147483647", datetime(1970, 1, 25, 20, 31, 23, 647000, tzinfo=UTC)),
        ("1442068686579", datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC)),
        ("1377177267", datetime(2013, 8, 22, 13, 14, 27, tzinfo=UTC)),
        ("2016-01-27T18:55:47Z", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)),
        ("2016-01-27T20:55:47%2B02:00", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)),
    ],
)
def test_timestamp_units_follow_the_millisecond_boundary(timestamp, expected):
    message = decode_osmand("GET", f"id=7&lat=1&lon=2&timestamp={timestamp}")
    assert message.fixes[0].fix_time == expected


def test_unencoded_plus_in_an_iso_timestamp_is_still_read_as_an_offset():
    # Some clients forget to percent-encode '+', which a query string turns into a space.
    message = decode_osmand("GET", "id=7&lat=1&lon=2&timestamp=2016-01-27T20:55:47+02:00")
    assert message.fixes[0].fix_time == datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)


def test_southern_and_western_hemispheres_keep_their_sign():
    fix = decode_osmand("GET", "id=7&lat=-33.8688&lon=-70.6693&timestamp=1700000000").fixes[0]
    assert (fix.latitude, fix.longitude) == (-33.8688, -70.6693)


def test_zero_speed_is_zero_and_missing_speed_is_none():
    stopped = decode_osmand("GET", "id=7&lat=1&lon=2&speed=0").fixes[0]
    unknown = decode_osmand("GET", "id=7&lat=1&lon=2").fixes[0]
    assert stopped.speed_kmh == 0.0
    assert unknown.speed_kmh is None
    assert unknown.course is None and unknown.altitude is None and unknown.battery is None


@pytest.mark.parametrize(("sat", "expected"), [("7", 7), ("0", 0), ("12.0", 12), ("", None)])
def test_sat_parameter_is_the_satellite_count(sat, expected):
    [fix] = decode_osmand("GET", f"id=1&lat=35.5&lon=24.0&sat={sat}").fixes
    assert fix.satellites == expected
    assert "sat" not in fix.attributes


def test_missing_sat_leaves_the_satellite_count_unknown():
    [fix] = decode_osmand("GET", "id=1&lat=35.5&lon=24.0").fixes
    assert fix.satellites is None


def test_invalid_fix_flag_is_honoured():
    fix = decode_osmand("GET", "id=7&lat=1&lon=2&valid=false").fixes[0]
    assert fix.valid is False


def test_form_body_is_used_when_the_query_is_empty():
    body = b"id=48241179&lat=37.4219983&lon=-122.084&timestamp=1750000000&speed=9.72"
    message = decode_osmand("POST", "", body, "application/x-www-form-urlencoded")
    assert message.unique_id == "48241179"
    # 9.72 kn × 1.852 = 18.00144 km/h
    assert message.fixes[0].speed_kmh == pytest.approx(18.00144)


def test_request_without_coordinates_is_a_heartbeat():
    message = decode_osmand("POST", "", b"id=42&timestamp=1750000000&batt=50")
    assert message.unique_id == "42"
    assert message.fixes == []
    assert message.kind == "heartbeat"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("lat=1&lon=2", "missing_id"),
        ("id=1&lat=abc&lon=2", "bad_number"),
        ("id=1&lat=1", "half_a_position"),
        ("id=1&lat=91&lon=2", "coordinates_out_of_range"),
        ("id=1&lat=1&lon=2&timestamp=yesterday", "bad_timestamp"),
        ("id=1&lat=1&lon=2&speed=nan", "bad_number"),
        ("id=1&location=1", "bad_location"),
        ("id=1&lat=1&lon=2&sat=many", "bad_number"),
        ("id=1&lat=1&lon=2&sat=7.5", "bad_number"),
        ("id=1&lat=1&lon=2&sat=-1", "bad_number"),
    ],
)
def test_malformed_requests_raise_protocol_error_with_a_reason(query, reason):
    with pytest.raises(ProtocolError) as caught:
        decode_osmand("GET", query)
    assert caught.value.reason == reason


def test_malformed_json_raises_protocol_error():
    for body in (b"{", b"[]", b'{"device_id": "1", "location": 3}', b'{"location": {}}'):
        with pytest.raises(ProtocolError):
            decode_osmand("POST", "", body, "application/json")


def test_encoded_query_round_trips_through_the_decoder():
    fix = Fix(
        unique_id="kinisi-17",
        fix_time=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        latitude=35.5138,
        longitude=-24.018,
        valid=True,
        speed_kmh=42.5,
        course=181.0,
        altitude=12.0,
        accuracy=4.0,
        battery=77.0,
        satellites=9,
        ignition=True,
        odometer=123456.0,
        driver_tag="D-9",
    )
    decoded = decode_osmand("GET", encode_osmand_query(fix)).fixes[0]
    assert decoded.unique_id == fix.unique_id
    assert decoded.fix_time == fix.fix_time
    assert (decoded.latitude, decoded.longitude) == (fix.latitude, fix.longitude)
    assert decoded.speed_kmh == pytest.approx(42.5)
    names = ("course", "altitude", "accuracy", "battery", "satellites", "ignition", "odometer")
    for name in (*names, "driver_tag"):
        assert getattr(decoded, name) == getattr(fix, name), name


def test_encoded_query_matches_the_vector_layout():
    # Vector 2's fields, in Traccar Client's units: the query must carry the same values.
    fix = Fix(
        unique_id="123456",
        fix_time=datetime(2013, 8, 22, 13, 14, 27, tzinfo=UTC),
        latitude=60.0,
        longitude=30.0,
        valid=True,
        speed_kmh=0.0,
        course=0.0,
        altitude=0.0,
        hdop=0.0,
    )
    assert encode_osmand_query(fix) == (
        "id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0.0"
        "&hdop=0.0"
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab=&;%+2F.-é", max_size=30))
def test_query_pairs_split_as_parse_qsl_splits_them(text):
    # The decoder splits plain queries itself (faster); whatever the text, the pairs must be
    # the standard library's.
    assert _split_pairs(text) == parse_qsl(text, keep_blank_values=True)
