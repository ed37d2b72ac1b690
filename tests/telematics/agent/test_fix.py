from datetime import UTC, datetime, timedelta, timezone

import pytest

from telematics.agent.fix import AgentFix, format_time, parse_gpsd_time

T = datetime(2024, 5, 1, 12, 0, 5, 123000, tzinfo=UTC)


def test_payload_round_trip_keeps_missing_values_missing_and_real_zeros_zero():
    fix = AgentFix(time=T, lat=35.5125, lon=24.025, mode=2, speed_mps=0.0, course=0.0)
    back = AgentFix.from_payload(fix.to_payload())
    assert back == fix
    assert back.speed_mps == 0.0 and back.course == 0.0
    assert back.altitude is None and back.accuracy is None and back.hdop is None
    assert back.satellites is None and back.battery is None


def test_time_ms_is_exact_milliseconds_since_epoch():
    # 2024-05-01T12:00:05.123Z: 1,714,564,805 s (see conftest BASE_EPOCH + 5) and 123 ms.
    assert AgentFix(time=T, lat=0, lon=0, mode=2).time_ms == 1_714_564_805_123


def test_payload_with_unknown_version_is_refused():
    payload = AgentFix(time=T, lat=1, lon=2, mode=3).to_payload().replace('"v":1', '"v":99')
    with pytest.raises(ValueError, match="version"):
        AgentFix.from_payload(payload)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"time": T.replace(tzinfo=None)}, "timezone-aware"),
        ({"lat": 90.5}, "out of range"),
        ({"lon": -180.01}, "out of range"),
        ({"mode": 1}, "mode 1"),
        ({"speed_mps": float("nan")}, "speed_mps"),
    ],
)
def test_impossible_fixes_are_refused(kwargs, message):
    args = {"time": T, "lat": 35.0, "lon": 24.0, "mode": 3} | kwargs
    with pytest.raises(ValueError, match=message):
        AgentFix(**args)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-05-01T12:00:05.123Z", T),
        ("2024-05-01T12:00:05Z", T.replace(microsecond=0)),
        ("2024-05-01T12:00:05.1Z", T.replace(microsecond=100000)),
    ],
)
def test_gpsd_times_parse_with_or_without_fraction(text, expected):
    parsed = parse_gpsd_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_format_time_is_utc_with_milliseconds():
    athens = timezone(timedelta(hours=3))
    assert format_time(T.astimezone(athens)) == "2024-05-01T12:00:05.123Z"
