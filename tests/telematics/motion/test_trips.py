"""Trip and stop detection on hand-built fix sequences (see conftest.FixBuilder).

Times below are offsets from the builder's start (08:00 UTC); each expected value is worked out
from how the sequence was built, in the comment next to it.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from telematics.motion.pipeline import MotionConfig, MotionProcessor, MotionResult
from telematics.motion.records import MotionFix
from telematics.motion.summary import daily_summaries
from telematics.motion.trips import Stop, Trip, TripConfig

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(fixes: list[MotionFix], **trip_kw) -> tuple[list[Trip], list[Stop], MotionResult]:
    config = MotionConfig(trips=TripConfig(**trip_kw)) if trip_kw else MotionConfig()
    result = MotionProcessor(config).process(fixes)
    trips = list(result.trips) + [o for o in result.provisional if isinstance(o, Trip)]
    stops = list(result.stops) + [o for o in result.provisional if isinstance(o, Stop)]
    return trips, stops, result


def test_park_drive_park_makes_one_trip_between_two_stops(build) -> None:
    # Fixes every 10 s: parked at 0..590 s, driving 2 km east at 36 km/h (fixes 600..790 s,
    # 100 m apart), parked again from 800 s.
    b = build().park(600).drive(2000, 0, 36).park(600)
    trips, stops, _ = run(b.fixes)
    assert len(trips) == 1
    trip = trips[0]
    assert trip.start_time == at(590)  # last parked fix before leaving
    assert trip.end_time == at(800)  # first parked fix at the destination
    assert trip.distance_m == pytest.approx(2000, rel=0.002)
    assert trip.max_speed_kmh == 36
    assert trip.duration_s == 210
    assert [(s.start_time, s.end_time) for s in stops] == [
        (at(0), at(590)),
        (at(800), at(1390)),
    ]
    assert stops[0].closed and not stops[1].closed


def test_trip_and_stop_times_tile_the_timeline(build) -> None:
    b = build().park(300).drive(1500, 0, 40).park(400).drive(0, 1200, 30).park(300)
    trips, stops, _ = run(b.fixes)
    spans = sorted([(t.start_time, t.end_time) for t in trips + stops])
    for (_a0, a1), (b0, _b1) in zip(spans, spans[1:], strict=False):
        assert a1 == b0


def test_parked_jitter_for_eight_hours_makes_no_trip_and_no_distance(build) -> None:
    # The pattern wanders up to 2 x 10.2 m from the true spot, with 0-2 km/h Doppler noise.
    b = build()
    for hour in range(8):
        b.park(3600, jitter=2.0, speed=float(hour % 3))
    trips, stops, _ = run(b.fixes)
    assert trips == []
    assert len(stops) == 1
    assert stops[0].duration_s == 8 * 3600 - 10


def test_stray_fixes_while_parked_make_no_trip(build) -> None:
    # Every 10 minutes one fix lands 150 m away (multipath), then the receiver recovers.
    b = build()
    for _ in range(12):
        b.park(590, jitter=1.0)
        b.emit(150.0, 0.0, 0.0)
        b.silence(10)
    trips, _stops, _ = run(b.fixes)
    assert trips == []


def test_wandering_receiver_with_ignition_off_makes_no_trip(build) -> None:
    # Garage: two fixes in a row 300 m off, twice an hour, key out.
    b = build().set(ignition=False)
    for _ in range(4):
        b.park(900, jitter=1.0)
        b.emit(300.0, 0.0, 0.0)
        b.silence(10)
        b.emit(310.0, 5.0, 0.0)
        b.silence(10)
    trips, _stops, _ = run(b.fixes)
    assert trips == []


def test_wandering_without_doppler_speed_is_never_a_trip_even_without_ignition(build) -> None:
    # A phone indoors: fixes hop 250-400 m for a minute, each reporting 0 km/h. The excursion
    # covers more than the minimum distance but never any moving speed.
    b = build()
    for _ in range(3):
        b.park(1200, jitter=1.0)
        for east in (250.0, 400.0, 320.0, 380.0, 260.0):
            b.emit(east, 0.0, 0.0)
            b.silence(10)
    trips, stops, _ = run(b.fixes, use_ignition=False)
    assert trips == []
    assert len(stops) == 1


def test_short_traffic_light_halt_stays_inside_the_trip(build) -> None:
    # 1 km, 2 minutes at a red light, 1 km more: one trip, two minutes of it idle.
    b = build().park(300).drive(1000, 0, 36).park(120).drive(1000, 0, 36).park(300)
    trips, _stops, _ = run(b.fixes)
    assert len(trips) == 1
    assert trips[0].distance_m == pytest.approx(2000, rel=0.002)
    # Idle: the 12 fixes at the light (120 s) plus the trip's last interval into the stop.
    assert trips[0].idle_s == pytest.approx(130, abs=10)
    assert trips[0].moving_s + trips[0].idle_s == trips[0].duration_s


def test_halt_longer_than_minimum_stop_splits_trips(build) -> None:
    b = build().park(300).drive(1000, 0, 36).park(240).drive(1000, 0, 36).park(300)
    trips, stops, _ = run(b.fixes)
    assert len(trips) == 2
    # First trip: leaves at 290, arrives at the light at 400 (first halted fix); the second
    # leaves from the last halted fix (400 + 230 = 630).
    assert trips[0].end_time == at(400)
    assert trips[1].start_time == at(630)
    assert stops[1].start_time == at(400) and stops[1].end_time == at(630)


def test_moving_the_car_a_few_metres_is_not_a_trip(build) -> None:
    # Re-parking 80 m away inside the depot: under the minimum trip distance.
    b = build().park(600).drive(80, 0, 10).park(600)
    trips, stops, _ = run(b.fixes)
    assert trips == []
    assert len(stops) == 1
    assert stops[0].start_time == at(0)


def test_trip_shorter_than_minimum_distance_is_folded_into_the_stop(build) -> None:
    b = build().park(600).drive(150, 0, 20).park(600)
    trips, stops, _ = run(b.fixes)
    assert trips == []
    assert [(s.start_time, s.closed) for s in stops] == [(at(0), False)]


def test_moves_too_short_to_be_trips_still_count_in_the_days_kilometres(build) -> None:
    # Across the yard (150 m), later to the next bay (120 m): no trip, one stop, 270 m moved;
    # then a 2 km trip. The day's distance is all three.
    b = build().park(600).drive(150, 0, 18).park(900).drive(0, 120, 14.4).park(900)
    b.drive(2000, 0, 40).park(600)
    trips, stops, _ = run(b.fixes)
    assert [round(t.distance_m) for t in trips] == [2000]
    assert [round(sum(m for _d, m in s.moved)) for s in stops] == [270, 0]
    (summary,) = daily_summaries(date(2025, 3, 4), date(2025, 3, 4), trips=trips, stops=stops)
    assert summary.distance_m == pytest.approx(2270, abs=5)
    assert summary.trip_count == 1


def test_data_gap_while_driving_ends_the_trip_and_invents_nothing(build) -> None:
    # Drive 1 km, the tracker goes silent for 20 minutes, reappears 5 km away still driving.
    b = build().park(300).drive(1000, 0, 36)
    b.silence(1200).move_to(6000, 0).drive(1000, 0, 36).park(300)
    trips, _stops, _ = run(b.fixes)
    assert len(trips) == 2
    assert trips[0].end_time == at(390)  # last fix before the silence (300 + 9 x 10)
    assert trips[0].distance_m == pytest.approx(1000, rel=0.002)
    # The second trip starts at the first fix after the gap; the 5 km in the dark are not in
    # it. It covers 900 m (its first fix is already 100 m along the road).
    assert trips[1].start_time == at(400 + 1200)
    assert trips[1].distance_m == pytest.approx(900, rel=0.002)
    assert sum(t.distance_m for t in trips) < 2000 * 1.002


def test_week_without_positions_at_the_same_place_is_one_stop(build) -> None:
    b = build().park(600, jitter=1.0).silence(7 * 86400).park(600, jitter=1.0)
    trips, stops, _ = run(b.fixes)
    assert trips == []
    assert len(stops) == 1
    assert stops[0].end_time - stops[0].start_time > timedelta(days=7)


def test_week_without_positions_then_elsewhere_makes_no_phantom_trip(build) -> None:
    # Towed, or the tracker was moved: 30 km away after a week of silence.
    b = build().park(600).silence(7 * 86400).move_to(30_000, 0).park(600)
    trips, stops, _ = run(b.fixes)
    assert trips == []
    assert [s.end_time for s in stops][0] == at(590)
    assert stops[1].start_time == at(600 + 7 * 86400)


def test_tracker_asleep_while_parked_keeps_one_stop(build) -> None:
    # Ignition off: the tracker sends one fix an hour (480, 4080, 7680 s), sleeps, and its
    # first fix on waking (11 280 s) is already 111 m down the road at 40 km/h.
    b = build().set(ignition=True).park(300).drive(2000, 0, 40)
    b.set(ignition=False).park(3 * 3600, interval=3600).set(ignition=True).drive(0, 2000, 40)
    b.park(300)
    trips, stops, _ = run(b.fixes)
    assert len(trips) == 2
    middle = stops[1]
    assert middle.start_time == trips[0].end_time == at(480)
    assert middle.end_time == trips[1].start_time
    # 111.1 m at 40 km/h is 10 s: it left at about 11 270 s, from where it was parked.
    assert abs((trips[1].start_time - at(11_270)).total_seconds()) < 1
    assert trips[1].distance_m == pytest.approx(2000, rel=0.002)


def test_far_from_the_parking_place_after_a_silence_the_route_is_unknown(build) -> None:
    b = build().park(600).silence(3600).move_to(5000, 0).drive(1000, 0, 36).park(300)
    trips, stops, _ = run(b.fixes)
    assert stops[0].end_time == at(590)
    assert trips[0].start_time == at(590 + 3610)
    assert trips[0].distance_m == pytest.approx(900, rel=0.002)


def test_phone_without_speed_or_ignition_still_finds_the_trip(build) -> None:
    b = build().park(600, speed=None).drive(3000, 0, 50, report_speed=False).park(600, speed=None)
    trips, _stops, _ = run(b.fixes)
    assert len(trips) == 1
    assert trips[0].distance_m == pytest.approx(3000, rel=0.01)
    # Derived speed: 3000 m in 216 s is 50 km/h.
    assert trips[0].max_speed_kmh == pytest.approx(50, rel=0.05)


def test_one_hertz_phone_with_speeds(build) -> None:
    b = build(interval=1.0).park(300).drive(1500, 0, 30).park(300)
    trips, _stops, _ = run(b.fixes)
    assert len(trips) == 1
    assert trips[0].distance_m == pytest.approx(1500, rel=0.005)


def test_sudden_zero_zero_in_a_drive_changes_nothing(build) -> None:
    clean = build().park(300).drive(2000, 0, 36).park(300)
    dirty = build().park(300).drive(2000, 0, 36).park(300)
    glitch = dirty.fixes[40]
    dirty.fixes[40] = MotionFix(glitch.fix_time, 0.0, 0.0, True, 36.0, server_time=glitch.fix_time)
    trips_clean, _, _ = run(clean.fixes)
    trips_dirty, _, result = run(dirty.fixes)
    assert [r for _f, r in result.rejected] == ["null_island"]
    assert len(trips_dirty) == 1
    assert trips_dirty[0].distance_m == pytest.approx(trips_clean[0].distance_m, rel=0.001)


def test_impossible_jump_makes_no_infinite_speed_or_extra_distance(build) -> None:
    b = build().park(300).drive(2000, 0, 36).park(300)
    original = b.fixes[35]
    b.fixes[35] = MotionFix(
        original.fix_time, original.latitude + 0.5, original.longitude, True, None
    )
    trips, _stops, result = run(b.fixes)
    assert [r for _f, r in result.rejected] == ["jump"]
    assert len(trips) == 1
    assert math.isfinite(trips[0].max_speed_kmh) and trips[0].max_speed_kmh <= 36
    assert trips[0].distance_m == pytest.approx(2000, rel=0.002)


def test_clock_from_1970_and_next_year_do_not_disturb_trips(build) -> None:
    b = build().park(300).drive(2000, 0, 36).park(300)
    good = b.fixes[30]
    b.fixes.insert(
        0, MotionFix(datetime(1970, 1, 1, tzinfo=UTC), good.latitude, good.longitude, True, 0.0)
    )
    b.fixes.append(
        MotionFix(
            good.fix_time + timedelta(days=365),
            good.latitude,
            good.longitude,
            True,
            0.0,
            server_time=good.fix_time,
        )
    )
    trips, stops, result = run(b.fixes)
    assert sorted(r for _f, r in result.rejected) == ["future", "too_old"]
    assert len(trips) == 1
    assert stops[0].start_time == at(0)
    assert stops[-1].end_time < at(86400)


def test_negative_and_infinite_reported_speeds_are_ignored(build) -> None:
    b = build().park(300).drive(2000, 0, 36).park(300)
    for i in (31, 32):
        f = b.fixes[i]
        b.fixes[i] = MotionFix(
            f.fix_time, f.latitude, f.longitude, True, float("inf") if i == 31 else -50.0
        )
    trips, _stops, _ = run(b.fixes)
    assert len(trips) == 1
    assert trips[0].max_speed_kmh == 36
    assert trips[0].distance_m == pytest.approx(2000, rel=0.002)


def test_trip_crossing_local_midnight_is_split_by_day(build) -> None:
    # Athens is UTC+2 in January: local midnight is 22:00 UTC. Leave at 21:50 UTC, drive
    # 12 km at 36 km/h (fixes 21:50:10 .. 22:10:00), so half the driving falls on each day.
    start = datetime(2025, 1, 14, 21, 40, tzinfo=UTC)
    b = build(start=start).park(600).drive(12_000, 0, 36).park(600)
    trips, _stops, _ = run(b.fixes)
    assert len(trips) == 1
    parts = trips[0].day_parts
    assert [p.day for p in parts] == [date(2025, 1, 14), date(2025, 1, 15)]
    assert sum(p.distance_m for p in parts) == pytest.approx(trips[0].distance_m)
    # 21:49:50 -> 22:00:00 is 610 s of the trip's 1210 s; at constant speed the distance
    # splits about the same way.
    assert parts[0].distance_m == pytest.approx(12_000 * 600 / 1200, rel=0.02)
    assert parts[0].end_time == datetime(2025, 1, 14, 22, 0, tzinfo=UTC)


def test_driver_tags_seen_during_the_trip_are_kept_in_order(build) -> None:
    b = build().park(300).set(driver="A17").drive(1000, 0, 36).set(driver="B02")
    b.drive(1000, 0, 36).park(300)
    trips, _stops, _ = run(b.fixes)
    assert trips[0].driver_tags == ("A17", "B02")


def test_device_odometer_is_preferred_when_it_agrees(build) -> None:
    b = build().set(odometer=100_000.0).park(300)
    b.set(odometer=None).drive(2000, 0, 36).set(odometer=102_050.0).park(300)
    trips, _stops, _ = run(b.fixes)
    # The trip's first fix carries 100 000 m and the stop's first 102 050 m.
    assert trips[0].distance_source == "device"
    assert trips[0].distance_m == 2050
    assert trips[0].gps_distance_m == pytest.approx(2000, rel=0.002)


def test_device_odometer_that_disagrees_is_not_trusted(build) -> None:
    b = build().set(odometer=100_000.0).park(300)
    b.set(odometer=None).drive(2000, 0, 36).set(odometer=900_000.0).park(300)
    trips, _stops, _ = run(b.fixes)
    assert trips[0].distance_source == "gps"
    assert trips[0].distance_m == pytest.approx(2000, rel=0.002)


def test_simplified_track_keeps_the_corner(build) -> None:
    b = build().park(300).drive(1000, 0, 36).drive(0, 1000, 36).park(300)
    trips, _stops, _ = run(b.fixes)
    track = trips[0].track
    # Two straight legs: the start, the corner, the end (and the last halted fix).
    assert 3 <= len(track) <= 4
    assert min(abs(p[0] - at(390).timestamp()) for p in track) == 0


def test_lost_arrival_record_is_dated_by_distance_at_the_last_speed(build) -> None:
    # Driving at 36 km/h (10 m/s), fixes every 10 s; the tracker then says nothing for 200 s
    # and its next fix shows the vehicle at rest 100 m further on. Braking evenly from 10 m/s
    # to rest over those 100 m takes 20 s: it arrived then, not 200 s later.
    b = build().park(300).drive(1000, 0, 36)
    last_moving = b.fixes[-1].fix_time
    b.silence(190).move_to(1100, 0).park(600)
    trips, stops, _ = run(b.fixes)
    assert len(trips) == 1
    assert abs((trips[0].end_time - (last_moving + timedelta(seconds=20))).total_seconds()) < 1
    assert stops[-1].start_time == trips[0].end_time


def test_creeping_in_a_queue_is_a_halt_and_driving_past_is_not(build) -> None:
    # Edging forward at 4 km/h for four minutes inside 50 m: a stop.
    b = build().park(300).drive(1000, 0, 36)
    b.drive(30, 0, 4).drive(0, 0.1, 4)
    b.park(200).drive(1000, 0, 36).park(300)
    trips, _stops, _ = run(b.fixes)
    assert len(trips) == 2

    # Halting twice for 100 s with a 40 m run at 20 km/h in between: no stop (the halts are
    # short, and 20 km/h is driving).
    c = build().park(300).drive(1000, 0, 36).park(100).drive(40, 0, 20).park(100)
    c.drive(-40, 0, 20).park(20).drive(1000, 0, 36).park(300)
    trips, _stops, _ = run(c.fixes)
    assert len(trips) == 1
