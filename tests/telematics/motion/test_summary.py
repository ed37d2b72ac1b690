from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from telematics.motion.events import EventType, MotionEvent
from telematics.motion.pipeline import DayMeter, EngineSession, MotionProcessor
from telematics.motion.summary import daily_summaries, daily_summary, days_touched
from telematics.motion.trips import Trip

from .conftest import FixBuilder

JAN14 = date(2025, 1, 14)
JAN15 = date(2025, 1, 15)


def midnight_trip() -> tuple[list[Trip], list]:
    # Athens is UTC+2 in January: local midnight is 22:00 UTC. Parked from 21:40, leave at
    # 21:49:50, 12 km at 36 km/h (fixes 21:50:00 .. 22:09:50), parked again from 22:10:00.
    b = FixBuilder(start=datetime(2025, 1, 14, 21, 40, tzinfo=UTC))
    b.park(600).drive(12_000, 0, 36).park(600)
    result = MotionProcessor().process(b.fixes)
    trips = result.trips + [o for o in result.provisional if isinstance(o, Trip)]
    stops = result.stops + [o for o in result.provisional if not isinstance(o, Trip)]
    return trips, stops


def test_trip_across_midnight_counts_its_km_on_both_days() -> None:
    trips, stops = midnight_trip()
    first, second = daily_summaries(JAN14, JAN15, trips=trips, stops=stops)
    assert first.day == JAN14 and second.day == JAN15
    assert first.distance_m + second.distance_m == pytest.approx(trips[0].distance_m)
    # 21:49:50-22:00:00 local-day-one part is 610 s of driving time, 22:00:00-22:10:00 600 s.
    assert first.moving_s + first.idle_s == 610
    assert second.moving_s + second.idle_s == 600
    assert first.trip_count == 1 and second.trip_count == 0
    assert first.first_movement == datetime(2025, 1, 14, 21, 49, 50, tzinfo=UTC)
    assert first.last_movement == datetime(2025, 1, 14, 22, 0, tzinfo=UTC)
    assert second.first_movement == datetime(2025, 1, 14, 22, 0, tzinfo=UTC)
    # Stops: 21:40:00-21:49:50 on day one (590 s); 22:10:00-22:19:50 on day two (590 s).
    assert first.stopped_s == 590
    assert second.stopped_s == 590
    assert first.max_speed_kmh == 36


def test_engine_hours_from_ignition_sessions_split_at_midnight() -> None:
    session = EngineSession(
        start_time=datetime(2025, 1, 14, 21, 0, tzinfo=UTC),  # 23:00 local
        end_time=datetime(2025, 1, 14, 23, 0, tzinfo=UTC),  # 01:00 local next day
        hours=2.0,
        device_hours=None,
        start_lat=0,
        start_lon=0,
        end_lat=0,
        end_lon=0,
        emitted_at=datetime(2025, 1, 14, 23, 0, tzinfo=UTC),
    )
    one = daily_summary(JAN14, trips=[], engine_sessions=[session])
    two = daily_summary(JAN15, trips=[], engine_sessions=[session])
    assert one.engine_hours == pytest.approx(1.0)
    assert two.engine_hours == pytest.approx(1.0)
    assert one.engine_hours_source == "ignition"


def test_device_engine_hour_meter_wins_and_counts_across_midnight() -> None:
    meters = [
        DayMeter(JAN14, None, None, 1000.0, 1003.5, datetime(2025, 1, 15, tzinfo=UTC)),
        DayMeter(JAN15, None, None, 1004.0, 1009.0, datetime(2025, 1, 16, tzinfo=UTC)),
    ]
    summary = daily_summary(JAN15, trips=[], day_meters=meters)
    # From yesterday's last reading (1003.5 h) to today's last (1009.0 h).
    assert summary.engine_hours == pytest.approx(5.5)
    assert summary.engine_hours_source == "device"


def test_phone_without_ignition_uses_time_in_trips_as_engine_hours() -> None:
    trips, _stops = midnight_trip()
    summary = daily_summary(JAN15, trips=trips)
    assert summary.engine_hours_source == "trips"
    assert summary.engine_hours == pytest.approx(600 / 3600)


def test_events_are_counted_by_type_on_their_local_day() -> None:
    def event(kind: EventType, when: datetime) -> MotionEvent:
        return MotionEvent(kind, when, 0.0, 0.0, {}, when)

    events = [
        event(EventType.OVERSPEED, datetime(2025, 1, 14, 21, 59, tzinfo=UTC)),  # 23:59 local
        event(EventType.OVERSPEED, datetime(2025, 1, 14, 22, 1, tzinfo=UTC)),  # 00:01 next day
        event(EventType.IDLING, datetime(2025, 1, 15, 8, 0, tzinfo=UTC)),
    ]
    assert daily_summary(JAN14, trips=[], events=events).events == {"overspeed": 1}
    assert daily_summary(JAN15, trips=[], events=events).events == {"idling": 1, "overspeed": 1}


def test_day_with_nothing_is_all_zero() -> None:
    summary = daily_summary(JAN14, trips=[])
    assert (summary.distance_m, summary.trip_count, summary.engine_hours) == (0.0, 0, 0.0)
    assert summary.first_movement is None and summary.engine_hours_source == "none"


def test_days_touched_in_local_time() -> None:
    start = datetime(2025, 1, 14, 21, 30, tzinfo=UTC)  # 23:30 local
    assert days_touched(start, start + timedelta(hours=1)) == [JAN14, JAN15]
