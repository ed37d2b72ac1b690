from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telematics.motion.events import EventConfig, EventType, MotionEvent
from telematics.motion.geofence import Geofence, GeofenceIndex
from telematics.motion.pipeline import MotionConfig, MotionProcessor
from telematics.motion.records import MotionFix
from telematics.motion.workcalendar import WorkingCalendar

from .conftest import FixBuilder, to_latlon

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)  # Tuesday 10:00 in Athens


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def events_of(fixes: list[MotionFix], fences: list[Geofence] = (), **event_kw) -> list[MotionEvent]:
    config = MotionConfig(events=EventConfig(**event_kw))
    result = MotionProcessor(config, GeofenceIndex(fences)).process(fixes)
    return sorted(result.events, key=lambda e: (e.time, e.type))


def of_type(events: list[MotionEvent], kind: EventType) -> list[MotionEvent]:
    return [e for e in events if e.type == kind]


def test_ignition_on_and_off_at_the_fix_that_changed() -> None:
    b = FixBuilder().set(ignition=False).park(300).set(ignition=True).park(120)
    b.set(ignition=False).park(60)
    events = events_of(b.fixes)
    assert [(e.type, e.time) for e in events] == [
        (EventType.IGNITION_ON, at(300)),
        (EventType.IGNITION_OFF, at(420)),
    ]


def test_overspeed_lasting_long_enough_is_one_event_with_its_facts() -> None:
    # 50 km/h limit; 80 km/h for fixes at 300..310..320 (20 s), then back to 40.
    b = FixBuilder().park(300)
    for speed in (80.0, 85.0, 80.0, 40.0, 40.0):
        b.emit(b.x, b.y, speed)
        b.x += speed / 3.6 * 10
        b.silence(10)
    events = of_type(events_of(b.fixes, speed_limit_kmh=50.0), EventType.OVERSPEED)
    assert len(events) == 1
    event = events[0]
    assert event.time == at(300)
    assert event.facts["max_speed_kmh"] == 85.0
    assert event.facts["limit_kmh"] == 50.0
    assert event.facts["duration_s"] == 20.0


def test_one_noisy_fast_fix_is_not_overspeed() -> None:
    b = FixBuilder().park(300)
    for speed in (40.0, 95.0, 40.0, 40.0):
        b.emit(b.x, b.y, speed)
        b.x += speed / 3.6 * 10
        b.silence(10)
    assert of_type(events_of(b.fixes, speed_limit_kmh=50.0), EventType.OVERSPEED) == []


def test_geofence_speed_limit_applies_inside_it_only() -> None:
    # A school zone (circle of 200 m around x = 1500 m) with its own 30 km/h limit; the vehicle
    # drives through at 40 km/h, legal outside under the 50 km/h category limit.
    school = Geofence(
        id=7, name="School", center=to_latlon(1500, 0), radius_m=200.0, speed_limit_kmh=30.0
    )
    b = FixBuilder().park(300).drive(3000, 0, 40).park(300)
    events = of_type(events_of(b.fixes, [school], speed_limit_kmh=50.0), EventType.OVERSPEED)
    assert len(events) == 1
    facts = events[0].facts
    assert facts["limit_kmh"] == 30.0
    assert facts["geofence"] == 7 and facts["geofence_name"] == "School"
    # Fixes every 111 m: inside the 400 m wide zone for 4 fixes (1333, 1444, 1556, 1667 m).
    assert facts["duration_s"] == 30.0


def test_idling_longer_than_the_threshold_is_reported_with_its_duration() -> None:
    b = FixBuilder().set(ignition=True).park(360).drive(1000, 0, 36).park(200)
    events = of_type(events_of(b.fixes, idle_min_duration_s=300), EventType.IDLING)
    assert len(events) == 1
    # Idle from the first fix (0 s) until the first moving fix (360 s).
    assert events[0].time == at(0)
    assert events[0].facts["duration_s"] == 360.0


def test_short_idling_is_not_reported() -> None:
    b = FixBuilder().set(ignition=True).park(240).drive(1000, 0, 36)
    b.set(ignition=False).park(60)
    assert of_type(events_of(b.fixes, idle_min_duration_s=300), EventType.IDLING) == []


def test_geofence_enter_and_exit_at_the_first_fix_on_the_other_side() -> None:
    # A square from x = 1000 to 2000 m (and 500 m either side of the road).
    sw = to_latlon(1000, -500)
    ne = to_latlon(2000, 500)
    square = {
        "type": "Polygon",
        "coordinates": [
            [[sw[1], sw[0]], [ne[1], sw[0]], [ne[1], ne[0]], [sw[1], ne[0]], [sw[1], sw[0]]]
        ],
    }
    from telematics.motion.geofence import geofence_from_geojson

    fence = geofence_from_geojson("yard", square, name="Yard")
    # 3 km at 36 km/h: a fix every 100 m at 300, 310, ... s; x = 100 m at 300 s.
    b = FixBuilder().park(300).drive(3000, 0, 36).park(300)
    events = events_of(b.fixes, [fence])
    crossings = [
        (e.type, e.time)
        for e in events
        if e.type in (EventType.GEOFENCE_ENTER, EventType.GEOFENCE_EXIT)
    ]
    # First fix inside: x = 1000 m (on the edge counts) at 390 s; first outside: 2100 m, 500 s.
    assert crossings == [(EventType.GEOFENCE_ENTER, at(390)), (EventType.GEOFENCE_EXIT, at(500))]


def test_parked_on_a_fence_line_with_jitter_makes_no_events() -> None:
    # The fence edge runs 5 m east of where the vehicle is parked; jitter crosses it.
    edge = to_latlon(5, 0)[1]
    south, north = to_latlon(0, -500)[0], to_latlon(0, 500)[0]
    fence = Geofence(
        id="lot",
        name="Lot",
        polygon=__import__("shapely").geometry.box(edge, south, edge + 0.01, north),
    )
    b = FixBuilder().park(4 * 3600, jitter=1.5)
    events = events_of(b.fixes, [fence])
    assert [e for e in events if "geofence" in e.type] == []


def test_leaving_the_municipal_boundary_has_its_own_event_type() -> None:
    boundary = Geofence(
        id="chania", name="Chania", center=to_latlon(0, 0), radius_m=1000.0, role="boundary"
    )
    b = FixBuilder().park(300).drive(3000, 0, 36).park(300).drive(-3000, 0, 36).park(300)
    events = events_of(b.fixes, [boundary])
    kinds = [e.type for e in events if "boundary" in e.type]
    assert kinds == [EventType.BOUNDARY_EXIT, EventType.BOUNDARY_ENTER]


def test_use_on_a_public_holiday_is_outside_working_hours() -> None:
    # Clean Monday 2025 is 3 March: a 20-minute drive at 10:00 local is use outside hours.
    holiday = FixBuilder(start=datetime(2025, 3, 3, 8, 0, tzinfo=UTC))
    holiday.park(300).drive(12_000, 0, 36).park(300)
    events = events_of(holiday.fixes, calendar=WorkingCalendar())
    after = of_type(events, EventType.AFTER_HOURS)
    assert len(after) == 1
    assert after[0].time == datetime(2025, 3, 3, 8, 4, 50, tzinfo=UTC)  # the trip's start


def test_same_drive_on_a_working_tuesday_is_not_flagged() -> None:
    b = FixBuilder(start=datetime(2025, 3, 4, 8, 0, tzinfo=UTC))
    b.park(300).drive(12_000, 0, 36).park(300)
    assert of_type(events_of(b.fixes, calendar=WorkingCalendar()), EventType.AFTER_HOURS) == []


def test_driving_past_the_end_of_the_shift_is_flagged_once_long_enough() -> None:
    # Shift ends 15:00 local = 13:00 UTC. Leave at 12:55 UTC, drive 30 min: 25 min outside.
    b = FixBuilder(start=datetime(2025, 3, 4, 12, 50, tzinfo=UTC))
    b.park(300).drive(18_000, 0, 36).park(300)
    after = of_type(
        events_of(b.fixes, calendar=WorkingCalendar(), after_hours_min_s=600),
        EventType.AFTER_HOURS,
    )
    assert len(after) == 1
    # First outside moment: the first fix at or after 13:00:00 UTC that was counted.
    assert datetime(2025, 3, 4, 12, 59, 50, tzinfo=UTC) <= after[0].time
    assert after[0].time <= datetime(2025, 3, 4, 13, 0, 0, tzinfo=UTC)
    assert after[0].facts["outside_s"] >= 600


def test_tracker_silent_for_45_minutes_while_driving_goes_offline_and_back() -> None:
    b = FixBuilder().set(ignition=True).park(60).drive(1000, 0, 36)
    b.silence(2700).drive(1000, 0, 36)
    events = events_of(b.fixes, offline_after_s=1800)
    offline = of_type(events, EventType.TRACKER_OFFLINE)
    online = of_type(events, EventType.TRACKER_ONLINE)
    assert len(offline) == 1 and len(online) == 1
    # Last fix before the silence at 150 s; offline declared 30 min later.
    assert offline[0].time == at(150 + 1800)
    assert online[0].time == at(160 + 2700)
    assert online[0].facts["silent_s"] == 2710.0


def test_parked_tracker_that_sleeps_overnight_is_not_offline() -> None:
    b = FixBuilder().set(ignition=False).park(600).silence(10 * 3600).park(600)
    assert of_type(events_of(b.fixes), EventType.TRACKER_OFFLINE) == []


def test_driver_change_reports_previous_and_new_driver() -> None:
    b = FixBuilder().set(driver="A").park(60).set(driver=None).park(60).set(driver="B").park(60)
    events = of_type(events_of(b.fixes), EventType.DRIVER_CHANGE)
    assert [(e.facts["previous"], e.facts["driver"]) for e in events] == [(None, "A"), ("A", "B")]
    assert events[1].time == at(120)


def test_fuel_drop_while_parked_is_reported_once() -> None:
    b = FixBuilder().set(ignition=False, fuel=62.0).park(1200).set(fuel=41.0).park(1200)
    events = of_type(events_of(b.fixes), EventType.FUEL_DROP)
    assert len(events) == 1
    assert events[0].facts["before"] == 62.0
    assert events[0].facts["after"] == 41.0
    # Median of three readings: the second reading at 41 % (1210 s) tips it.
    assert events[0].time == at(1210)


def test_fuel_used_while_driving_is_not_a_drop() -> None:
    b = FixBuilder().set(fuel=62.0).park(600).set(fuel=50.0).drive(20_000, 0, 60)
    b.set(fuel=40.0).park(1200)
    assert of_type(events_of(b.fixes), EventType.FUEL_DROP) == []


def test_single_noisy_fuel_reading_is_not_a_drop() -> None:
    b = FixBuilder().set(fuel=62.0).park(600)
    b.emit(b.x, b.y, 0.0, fuel_level=20.0)
    b.silence(10)
    b.park(600)
    assert of_type(events_of(b.fixes), EventType.FUEL_DROP) == []


@pytest.mark.parametrize("limit", [None, 50.0])
def test_no_speed_limit_no_overspeed_without_limit(limit) -> None:
    b = FixBuilder().park(60).drive(3000, 0, 45).park(60)
    assert of_type(events_of(b.fixes, speed_limit_kmh=limit), EventType.OVERSPEED) == []
