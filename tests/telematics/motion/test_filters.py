from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from telematics.motion.filters import (
    FilterConfig,
    FixFilter,
    RejectReason,
    check_fix,
    filter_fixes,
)
from telematics.motion.records import MotionFix

NOW = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
CHANIA = (35.5138, 24.0180)


def fix(seconds: float = 0.0, lat: float = CHANIA[0], lon: float = CHANIA[1], **kw) -> MotionFix:
    return MotionFix(fix_time=NOW + timedelta(seconds=seconds), latitude=lat, longitude=lon, **kw)


def test_good_fix_is_accepted() -> None:
    assert check_fix(fix(), FilterConfig(), NOW) is None


def test_fix_flagged_invalid_by_receiver_is_rejected() -> None:
    assert check_fix(fix(valid=False), FilterConfig(), NOW) == RejectReason.INVALID


def test_invalid_fix_accepted_when_that_filter_is_off() -> None:
    assert check_fix(fix(valid=False), FilterConfig(reject_invalid=False), NOW) is None


def test_zero_zero_is_rejected() -> None:
    assert check_fix(fix(lat=0.0, lon=0.0), FilterConfig(), NOW) == RejectReason.NULL_ISLAND


def test_not_a_number_and_infinite_coordinates_are_out_of_range() -> None:
    config = FilterConfig()
    assert check_fix(fix(lat=float("nan")), config, NOW) == RejectReason.OUT_OF_RANGE
    assert check_fix(fix(lon=float("inf")), config, NOW) == RejectReason.OUT_OF_RANGE
    assert check_fix(fix(lat=91.0), config, NOW) == RejectReason.OUT_OF_RANGE


def test_fix_more_than_five_minutes_ahead_of_server_is_future() -> None:
    config = FilterConfig()
    assert check_fix(fix(seconds=301), config, NOW) == RejectReason.FUTURE
    assert check_fix(fix(seconds=299), config, NOW) is None


def test_next_year_clock_is_future() -> None:
    ahead = fix(seconds=366 * 86400)
    assert check_fix(ahead, FilterConfig(), NOW) == RejectReason.FUTURE


def test_server_time_is_taken_from_the_fix_when_not_given() -> None:
    ahead = fix(seconds=3600, server_time=NOW)
    assert check_fix(ahead, FilterConfig()) == RejectReason.FUTURE


def test_1970_clock_is_too_old_even_without_server_time() -> None:
    epoch = MotionFix(
        fix_time=datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC), latitude=CHANIA[0], longitude=CHANIA[1]
    )
    assert check_fix(epoch, FilterConfig()) == RejectReason.TOO_OLD


def test_gps_week_rollover_date_is_too_old() -> None:
    # 1024 weeks before a 2025 date: what a receiver with the rollover bug reports.
    rolled = fix(seconds=-1024 * 7 * 86400)
    assert check_fix(rolled, FilterConfig(), NOW) == RejectReason.TOO_OLD


def test_stale_clock_relative_to_server_is_too_old() -> None:
    config = FilterConfig(max_age=timedelta(days=30))
    assert check_fix(fix(seconds=-31 * 86400), config, NOW) == RejectReason.TOO_OLD
    assert check_fix(fix(seconds=-29 * 86400), config, NOW) is None


def test_naive_time_is_rejected_not_crashed_on() -> None:
    naive = MotionFix(fix_time=datetime(2025, 6, 10, 9, 0), latitude=1.0, longitude=1.0)
    assert check_fix(naive, FilterConfig()) == RejectReason.TOO_OLD


def test_exact_duplicate_is_rejected_even_out_of_order() -> None:
    flt = FixFilter()
    assert flt.check(fix(0), NOW) is None
    assert flt.check(fix(10), NOW) is None
    assert flt.check(fix(0), NOW) == RejectReason.DUPLICATE


def test_impossible_jump_is_rejected_and_the_track_continues() -> None:
    flt = FixFilter()
    assert flt.check(fix(0), NOW) is None
    # 1 degree of latitude (111 km) in 10 s: about 40 000 km/h.
    assert flt.check(fix(10, lat=CHANIA[0] + 1.0), NOW) == RejectReason.JUMP
    # Back where the vehicle really is, 100 m further on: plausible again.
    assert flt.check(fix(20, lat=CHANIA[0] + 0.0009), NOW) is None


def test_short_noisy_jump_is_not_called_impossible() -> None:
    flt = FixFilter()
    assert flt.check(fix(0), NOW) is None
    # 200 m in one second is 720 km/h, but well within what multipath does to a fix.
    assert flt.check(fix(1, lat=CHANIA[0] + 200 / 111_195), NOW) is None


def test_jump_at_identical_time_is_rejected() -> None:
    flt = FixFilter(FilterConfig(reject_duplicates=False))
    assert flt.check(fix(0), NOW) is None
    assert flt.check(fix(0, lat=CHANIA[0] + 0.1), NOW) == RejectReason.JUMP


def test_filter_reanchors_after_consistent_fixes_elsewhere() -> None:
    # The first accepted fix was the bad one: four fixes agreeing with each other win.
    flt = FixFilter(FilterConfig(reanchor_after=4))
    far = CHANIA[0] + 1.0
    assert flt.check(fix(0), NOW) is None
    results = [flt.check(fix(10 * i, lat=far + 0.0005 * i), NOW) for i in range(1, 6)]
    assert results == [RejectReason.JUMP] * 3 + [None, None]


def test_scattered_glitches_never_reanchor() -> None:
    flt = FixFilter(FilterConfig(reanchor_after=2))
    assert flt.check(fix(0), NOW) is None
    # Each glitch is far from the anchor and from the previous glitch.
    assert flt.check(fix(10, lat=CHANIA[0] + 1.0), NOW) == RejectReason.JUMP
    assert flt.check(fix(20, lat=CHANIA[0] - 1.0), NOW) == RejectReason.JUMP
    assert flt.check(fix(30, lat=CHANIA[0] + 1.0, lon=CHANIA[1] + 1.0), NOW) == RejectReason.JUMP


def test_filter_state_survives_serialisation() -> None:
    flt = FixFilter()
    assert flt.check(fix(0), NOW) is None
    restored = FixFilter.from_dict(flt.to_dict())
    assert restored.check(fix(0), NOW) == RejectReason.DUPLICATE
    assert restored.check(fix(10, lat=CHANIA[0] + 1.0), NOW) == RejectReason.JUMP


def test_filter_fixes_reports_every_rejection_with_its_reason() -> None:
    batch = [
        fix(0),
        fix(10, valid=False),
        fix(20, lat=0.0, lon=0.0),
        fix(30, lat=CHANIA[0] + 2.0),
        fix(40),
        fix(40),
    ]
    accepted, rejected = filter_fixes(batch, server_time=NOW)
    assert accepted == [batch[0], batch[4]]
    assert [reason for _fix, reason in rejected] == [
        RejectReason.INVALID,
        RejectReason.NULL_ISLAND,
        RejectReason.JUMP,
        RejectReason.DUPLICATE,
    ]


def test_protocol_fix_record_is_accepted_as_is() -> None:
    from telematics.protocols.base import Fix

    decoded = Fix(
        unique_id="123", fix_time=NOW, latitude=CHANIA[0], longitude=CHANIA[1], valid=True
    )
    assert FixFilter().check(decoded, NOW) is None
    assert FixFilter().check(replace(decoded, valid=False), NOW) == RejectReason.INVALID


def test_the_jump_shortcut_agrees_with_the_great_circle_everywhere() -> None:
    """The jump check skips the haversine when a cheap bound already says "nearer than
    jump_min_distance_m"; the verdict must be the one the great-circle distance gives, near
    the threshold, near the poles and across the antimeridian."""
    import random

    from telematics.motion.geodesy import haversine_m

    config = FilterConfig()
    rng = random.Random(20261122)
    flt = FixFilter(config)
    checked = 0
    for _ in range(20_000):
        lat = rng.uniform(-89.9, 89.9)
        lon = rng.uniform(-180.0, 180.0)
        # Distances around the 300 m threshold (a few degrees of scale: metres to kilometres).
        step = rng.choice((1e-4, 1e-3, 3e-3, 1e-2))
        lat2 = max(-90.0, min(90.0, lat + rng.uniform(-step, step)))
        lon2 = lon + rng.uniform(-step, step)
        if lon2 > 180.0:
            lon2 -= 360.0
        dt = rng.uniform(0.5, 20.0)
        distance = haversine_m(lat, lon, lat2, lon2)
        expected = distance >= config.jump_min_distance_m and distance / dt * 3.6 > (
            config.max_speed_kmh
        )
        assert flt._is_jump((0.0, lat, lon), dt, lat2, lon2) == expected, (lat, lon, lat2, lon2)
        checked += expected
    assert checked > 100  # the sample did reach jumps, not only short hops
