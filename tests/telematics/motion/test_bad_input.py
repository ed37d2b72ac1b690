"""The issue's bad input, end to end through the pipeline and the daily summaries.

An impossible jump, a clock from 1970 or next year, a sudden (0, 0), a week without positions:
no phantom trips, no infinite speeds, no negative distances, whether the vehicle is parked or
driving when they come. Times are offsets from the builder's start (08:00 UTC, 10:00 in Athens).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from telematics.motion.pipeline import InMemoryMotionStore, MotionProcessor, motion_update
from telematics.motion.records import MotionFix
from telematics.motion.summary import daily_summaries
from telematics.motion.trips import Stop, Trip

from .conftest import FixBuilder, to_latlon

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def bad(when: datetime, lat: float, lon: float, **kw: object) -> MotionFix:
    fields: dict[str, object] = {"valid": True, "speed_kmh": 0.0, "server_time": when}
    fields.update(kw)
    return MotionFix(fix_time=when, latitude=lat, longitude=lon, **fields)  # type: ignore[arg-type]


def assert_sane(trips: list[Trip], stops: list[Stop]) -> None:
    for trip in trips:
        assert trip.end_time >= trip.start_time
        assert math.isfinite(trip.distance_m) and trip.distance_m >= 0
        assert math.isfinite(trip.max_speed_kmh) and 0 <= trip.max_speed_kmh <= 250
        assert math.isfinite(trip.avg_speed_kmh) and trip.avg_speed_kmh >= 0
        assert trip.moving_s >= 0 and trip.idle_s >= 0
        assert all(part.distance_m >= 0 for part in trip.day_parts)
    for stop in stops:
        assert stop.end_time >= stop.start_time and stop.duration_s >= 0


def outputs(fixes: list[MotionFix]) -> tuple[list[Trip], list[Stop], list[str]]:
    result = MotionProcessor().process(fixes)
    trips = list(result.trips) + [o for o in result.provisional if isinstance(o, Trip)]
    stops = list(result.stops) + [o for o in result.provisional if isinstance(o, Stop)]
    return trips, stops, sorted(str(r) for _f, r in result.rejected)


def test_every_kind_of_bad_fix_while_parked_makes_no_trip() -> None:
    # Parked two hours at the origin, jittering a few metres; in between: a fix 50 km away
    # 10 s after a good one, a (0, 0), a fix stamped 1970, one stamped a year ahead of the
    # server's clock, and one the receiver flagged invalid, 30 km off.
    b = FixBuilder().park(7200, jitter=0.5)
    lat, lon = to_latlon(0, 0)
    far_lat, far_lon = to_latlon(50_000, 0)
    b.fixes[100] = bad(b.fixes[100].fix_time, far_lat, far_lon)
    b.fixes[200] = bad(b.fixes[200].fix_time, 0.0, 0.0)
    b.fixes[300] = bad(datetime(1970, 1, 1, 0, 5, tzinfo=UTC), lat, lon, server_time=at(3000))
    b.fixes[400] = bad(at(4000) + timedelta(days=365), lat, lon, server_time=at(4000))
    b.fixes[500] = bad(b.fixes[500].fix_time, *to_latlon(30_000, 0), valid=False)
    b.fixes.sort(key=lambda f: f.fix_time)
    trips, stops, rejected = outputs(b.fixes)
    assert rejected == ["future", "invalid", "jump", "null_island", "too_old"]
    assert trips == []
    assert len(stops) == 1
    assert stops[0].start_time == at(0) and stops[0].end_time == at(7190)
    assert_sane(trips, stops)


def test_bad_fixes_during_a_drive_leave_the_trip_as_it_was() -> None:
    clean = FixBuilder().park(300).drive(3000, 0, 36).park(300)
    dirty = FixBuilder().park(300).drive(3000, 0, 36).park(300)
    fixes = dirty.fixes
    t = fixes[40].fix_time
    fixes[40] = bad(t, fixes[40].latitude + 0.5, fixes[40].longitude, speed_kmh=36.0)  # 55 km
    fixes[45] = bad(fixes[45].fix_time, 0.0, 0.0, speed_kmh=36.0)
    fixes.append(bad(datetime(1970, 1, 1, tzinfo=UTC), fixes[50].latitude, fixes[50].longitude))
    fixes.append(
        bad(t + timedelta(days=365), fixes[50].latitude, fixes[50].longitude, server_time=t)
    )
    fixes.sort(key=lambda f: f.fix_time)
    clean_trips, _clean_stops, _ = outputs(clean.fixes)
    trips, stops, rejected = outputs(fixes)
    assert rejected == ["future", "jump", "null_island", "too_old"]
    assert len(trips) == len(clean_trips) == 1
    assert trips[0].distance_m == pytest.approx(clean_trips[0].distance_m, rel=0.002)
    assert trips[0].max_speed_kmh == clean_trips[0].max_speed_kmh == 36
    assert_sane(trips, stops)


def test_week_of_silence_in_the_middle_of_a_drive_invents_no_trip_or_distance() -> None:
    # 3 km at 36 km/h, then nothing for a week (the tracker died mid-drive), then the vehicle
    # 20 km away, driving another 3 km and parking. The week is unknown: no trip spans it and
    # no distance is counted across it; each day of the silence has 0 km.
    b = FixBuilder().park(300).drive(3000, 0, 36).silence(7 * 86400)
    b.move_to(23_000, 0).drive(3000, 0, 36).park(600)
    trips, stops, _ = outputs(b.fixes)
    assert_sane(trips, stops)
    assert all(t.end_time - t.start_time < timedelta(hours=1) for t in trips)
    assert sum(t.distance_m for t in trips) <= 6000 * 1.002
    days = daily_summaries(
        date(2025, 3, 4), date(2025, 3, 12), trips=trips, stops=stops, timezone="Europe/Athens"
    )
    assert all(d.distance_m >= 0 and math.isfinite(d.max_speed_kmh) for d in days)
    assert [d.distance_m for d in days[1:7]] == [0.0] * 6


def test_bad_fixes_arriving_late_rebuild_to_the_same_result() -> None:
    # The same dirty drive delivered in five batches in reverse order of time (every batch a
    # late upload): the pipeline must end where one pass over the time-ordered fixes ends.
    b = FixBuilder().park(600).drive(3000, 0, 36).park(600).drive(-3000, 0, 36).park(600)
    fixes = b.fixes
    fixes[70] = bad(fixes[70].fix_time, 0.0, 0.0)
    fixes[80] = bad(fixes[80].fix_time, fixes[80].latitude + 1.0, fixes[80].longitude)
    one_pass = outputs(fixes)
    store = InMemoryMotionStore()
    size = len(fixes) // 5 + 1
    for k in reversed(range(5)):
        earliest = store.add_fixes(fixes[k * size : (k + 1) * size])
        motion_update(store, earliest_new=earliest)
    trips = store.trips(include_open=True)
    stops = store.stops(include_open=True)
    assert_sane(trips, stops)
    assert [(t.start_time, t.end_time, round(t.distance_m, 3)) for t in trips] == [
        (t.start_time, t.end_time, round(t.distance_m, 3)) for t in one_pass[0]
    ]
    assert len(trips) == 2
