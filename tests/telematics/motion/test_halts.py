"""Halts inside a trip and at a stop: when a halt is a stop, and when the vehicle hopped on.

The ground truth (benchmarks/data/motion) defines a stop as the time a vehicle is at rest, from
the moment it comes to rest to the last moment it is at rest, while it stays within the stop
radius and never goes faster than the creep speed in between. These tests pin down the rules the
detector uses to see that through fixes ten seconds apart: a halt counts only its time at rest,
its ends are dated between the fixes around them, and a move between fixes that report low
speeds but lie too far apart for creeping is a hop that ends the halt.

Times are offsets from the builder's start (08:00 UTC); positions metres east of its origin.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from telematics.motion.geodesy import haversine_m
from telematics.motion.pipeline import MotionProcessor
from telematics.motion.records import MotionFix
from telematics.motion.trips import Stop, Trip

from .conftest import FixBuilder

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(fixes: list[MotionFix]) -> tuple[list[Trip], list[Stop]]:
    result = MotionProcessor().process(fixes)
    trips = list(result.trips) + [o for o in result.provisional if isinstance(o, Trip)]
    stops = list(result.stops) + [o for o in result.provisional if isinstance(o, Stop)]
    return trips, stops


def drive_in(b: FixBuilder) -> FixBuilder:
    """Parked 300 s at 0 m, then 1000 m east at 36 km/h: fixes at 300 .. 390 s, the last at
    1000 m; the builder's clock is then at 400 s."""
    return b.park(300).drive(1000, 0, 36)


def test_creeping_away_does_not_lengthen_a_halt() -> None:
    # At rest at 1000 m from 400 s to 570 s (18 fixes), then two fixes creeping at 7 km/h
    # (580 s at 1005 m, 590 s at 1008 m), then driving on. Time at rest: from 400 s (the fix
    # before it reported 36 km/h at the very spot, so the arrival is the first fix at rest) to
    # 570 s plus the start of the creep: 5 m at 7 km/h (1.94 m/s) from rest takes 2 x 5 / 1.94
    # = 5.1 s, so it left at 574.9 s: 174.9 s at rest, less than the 180 s of a stop.
    b = drive_in(FixBuilder())
    b.park(180)
    b.emit(1005, 0, 7.0)
    b.t += timedelta(seconds=10)
    b.emit(1008, 0, 7.0)
    b.t += timedelta(seconds=10)
    b.x = 1008
    b.drive(1000, 0, 36).park(300)
    trips, _stops = run(b.fixes)
    assert len(trips) == 1


def test_halt_whose_ends_fall_between_fixes_is_dated_there_and_can_be_a_stop() -> None:
    # 400 s: 998 m at 10 km/h (2.78 m/s); at rest at 1000 m from 410 s to 580 s (18 fixes,
    # 170 s apart); 590 s: 1002 m at 10 km/h. Braking evenly over the 2 m took 2 x 2 / 2.78 =
    # 1.44 s, so it arrived at 401.44 s; speeding up over the last 2 m took as long, so it left
    # at 588.56 s. 187.1 s at rest: a stop, though its fixes at rest span only 170 s.
    b = FixBuilder().park(300).drive(998, 0, 36)
    b.emit(998, 0, 10.0)
    b.t += timedelta(seconds=10)
    b.x = 1000
    b.park(180)
    b.emit(1002, 0, 10.0)
    b.t += timedelta(seconds=10)
    b.x = 1002
    b.drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 2
    middle = stops[1]
    assert middle.start_time == trips[0].end_time
    assert middle.end_time == trips[1].start_time
    assert abs((middle.start_time - at(401.44)).total_seconds()) < 0.1
    assert abs((middle.end_time - at(588.56)).total_seconds()) < 0.1


def test_hop_between_two_short_halts_inside_a_trip_is_no_stop() -> None:
    # A refuse truck: at rest at 1000 m for 110 s (400 .. 500 s), 40 m further on at the next
    # fix (510 s) though every fix reports 0 km/h, and at rest there for 100 s (510 .. 600 s).
    # 40 m in 10 s is 14.4 km/h, and 12.6 km/h even less 5 m of noise: faster than creeping
    # (10 km/h), so the halts are two, of 100 s and 90 s, and neither is a stop. Counted as
    # one halt inside 50 m it would have lasted 200 s.
    b = drive_in(FixBuilder()).park(110)
    b.x = 1040
    b.park(100).drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 1
    assert len(stops) == 2


def test_hop_after_a_stop_ends_the_stop_there() -> None:
    # Stopped at 1000 m from 400 s to 700 s (31 fixes), then at 1040 m from 710 s to 800 s
    # (hop: 40 m in 10 s), then driving away. The stop ended when the vehicle hopped, after its
    # last fix at 1000 m (700 s), not when it drove off after resting 90 s at 1040 m.
    b = drive_in(FixBuilder()).park(310)
    b.x = 1040
    b.park(100).drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 2
    assert stops[1].start_time == at(400)
    assert stops[1].end_time == at(700) == trips[1].start_time


def test_hop_followed_by_a_long_rest_stays_one_stop() -> None:
    # As above, but resting 600 s after the hop: 40 m is no trip, so it is all one stop.
    b = drive_in(FixBuilder()).park(310)
    b.x = 1040
    b.park(600).drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 2
    assert stops[1].start_time == at(400)
    assert stops[1].end_time == trips[1].start_time == at(1300)


@pytest.mark.parametrize("offset_m", [40.0, 45.0])
def test_one_displaced_fix_while_parked_is_no_hop(offset_m: float) -> None:
    # Parked at 1000 m for 20 minutes; one fix 40-45 m off (multipath), the next back in place.
    b = drive_in(FixBuilder()).park(600)
    b.emit(1000 + offset_m, 0, 0.0)
    b.t += timedelta(seconds=10)
    b.park(600).drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 2
    assert stops[1].start_time == at(400)
    assert stops[1].end_time == at(1600)


def test_hops_while_parked_with_the_key_out_are_the_receiver_wandering() -> None:
    # Ignition off: fixes 40 m apart 10 s apart are not a vehicle moving.
    b = FixBuilder().set(ignition=True).park(300).drive(1000, 0, 36).set(ignition=False)
    for k in range(30):
        b.x = 1000 + (40 if k % 2 else 0)
        b.park(60)
    b.set(ignition=True).drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 2
    assert math.isclose(
        (stops[1].end_time - stops[1].start_time).total_seconds(), 30 * 60 - 10, abs_tol=10
    )


def test_key_turned_on_then_a_dropout_then_parked_elsewhere_is_a_trip() -> None:
    # Key out at 0 m (a fix every 300 s), key on at 1500 s, then the tracker is silent for
    # 430 s, drive and key-off record included; it reports again parked 600 m away with the key
    # out, then drives on at 2830 s. 600 m at the 20 km/h assumed after silences takes 108 s,
    # centred in the silence: from 1661 s to 1769 s.
    b = FixBuilder().set(ignition=False).park(1500, interval=300)
    b.set(ignition=True).park(10).silence(420).move_to(600, 0)
    b.set(ignition=False).park(900, interval=300).set(ignition=True).park(10)
    b.drive(2000, 0, 40).park(600)
    trips, stops = run(b.fixes)
    assert len(trips) == 2
    assert trips[0].start_time == pytest.approx(at(1661), abs=timedelta(seconds=2))
    assert trips[0].end_time == pytest.approx(at(1769), abs=timedelta(seconds=2))
    assert trips[0].distance_m == pytest.approx(600, abs=5)
    assert stops[1].start_time == trips[0].end_time


def test_a_far_fix_with_the_key_out_after_the_key_was_out_is_still_the_receiver() -> None:
    # The same silence and far fix, but the key never went on: a receiver's wander, no trip.
    b = FixBuilder().set(ignition=False).park(1510, interval=300).silence(420).move_to(600, 0)
    b.park(300, interval=300).move_to(0, 0).park(900, interval=300)
    trips, _stops = run(b.fixes)
    assert trips == []


def test_drive_inside_a_dropout_is_a_trip_placed_in_the_middle_of_it() -> None:
    # Parked at 0 m (fixes 0 .. 590 s), no fix for 160 s, then at rest 700 m away from 750 s
    # on. 700 m in 160 s is faster than walking pace: it drove, unseen. At the 20 km/h assumed
    # after silences the drive took 700 / 5.56 = 126 s; centred in the silence it ran from
    # 607 s to 733 s.
    b = FixBuilder().park(600).silence(150).move_to(700, 0).park(600)
    trips, stops = run(b.fixes)
    assert len(trips) == 1
    assert abs((trips[0].start_time - at(607)).total_seconds()) < 1
    assert abs((trips[0].end_time - at(733)).total_seconds()) < 1
    assert trips[0].distance_m == pytest.approx(700, rel=0.005)
    assert stops[0].end_time == trips[0].start_time and stops[1].start_time == trips[0].end_time
    # Every fix reported 0 km/h, but 700 m in 126 s is 20 km/h: it went at least that fast.
    assert trips[0].max_speed_kmh == pytest.approx(20.0, rel=0.01)


def test_top_speed_across_a_dropout_is_at_least_the_average_over_it() -> None:
    # Driving east at 18 km/h, the last fix at 500 m; no fix for 60 s; then driving on at
    # 18 km/h, the first fix at 1450 m, 70 s after the last: 950 m in 70 s is 49 km/h, so the
    # vehicle went at least that fast unseen.
    b = FixBuilder().park(300).drive(500, 0, 18)
    b.silence(60)
    b.x += 900
    b.drive(500, 0, 18).park(300)
    trips, _stops = run(b.fixes)
    assert len(trips) == 1
    assert trips[0].max_speed_kmh >= 950 / 70 * 3.6 - 0.5


def test_one_fix_elsewhere_after_a_dropout_is_no_trip() -> None:
    # The same silence, but only one fix 700 m away, and the next ones back in place.
    b = FixBuilder().park(600).silence(150).move_to(700, 0).park(10).move_to(0, 0).park(600)
    trips, stops = run(b.fixes)
    assert trips == []
    assert len(stops) == 1


def test_parked_with_the_key_out_the_receiver_relocating_after_a_silence_is_no_trip() -> None:
    b = FixBuilder().set(ignition=False).park(600).silence(150).move_to(700, 0).park(600)
    trips, _stops = run(b.fixes)
    assert trips == []


def test_hop_from_a_rolling_start_is_judged_by_its_top_speed_not_its_average() -> None:
    # A refuse truck at rest at 1000 m from 400 s to 500 s; at 510 s still there but rolling at
    # 6 km/h; at 520 s at rest 30 m further on, and there until 610 s. 30 m less 5 m of noise
    # in 10 s is 9 km/h on average, slower than creeping (10 km/h); but from 6 km/h to rest,
    # speeding up and braking evenly, the truck covers d = (6 + vp) t0 / 2 + vp t1 / 2 with
    # t0 + t1 = 10 s, so its top speed vp was at least 2 x 9 - 6 = 12 km/h: it drove on. The
    # halts are two, of 110 s and 90 s, and neither is a stop (as one halt inside 50 m it
    # would have lasted 210 s).
    b = drive_in(FixBuilder()).park(110)
    b.emit(1000, 0, 6.0)
    b.t += timedelta(seconds=10)
    b.x = 1030
    b.park(100).drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 1
    assert len(stops) == 2


def test_creeping_at_a_steady_pace_is_no_hop() -> None:
    # The same 30 m, but rolling at 9 km/h at both ends: at a steady 9 km/h (25 m in 10 s
    # beyond the noise) it never went faster than creeping, so the halt from 400 s to 610 s is
    # one, and long enough to be a stop.
    b = drive_in(FixBuilder()).park(110)
    b.emit(1000, 0, 9.0)
    b.t += timedelta(seconds=10)
    b.x = 1030
    b.emit(1030, 0, 9.0)
    b.t += timedelta(seconds=10)
    b.park(100).drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 2
    assert len(stops) == 3


def _silent_halt(ignition: bool | None) -> list[MotionFix]:
    """Driving at 36 km/h (10 m/s), last fix at 1000 m at 390 s; silence until 700 s, when the
    vehicle is at rest 20 m on (key out if it has ignition wiring) and stays until 790 s;
    then it drives away (key in)."""
    b = drive_in(FixBuilder().set(ignition=None if ignition is None else True))
    b.silence(300)
    b.x = 1020
    b.set(ignition=None if ignition is None else False).park(100)
    b.set(ignition=None if ignition is None else True)
    return b.drive(1000, 0, 36).park(300).fixes


def test_halt_after_a_silence_with_the_key_out_counts_from_the_dated_arrival() -> None:
    # Braking evenly from 10 m/s over the 20 m took 2 x 20 / 10 = 4 s: it came to rest at
    # 394 s. The key is out at the first fix after the silence: the tracker was asleep with the
    # engine off, so the halt lasted from 394 s to about 800 s, a stop, although its fixes at
    # rest span only 90 s.
    trips, stops = run(_silent_halt(ignition=True))
    assert len(trips) == 2
    assert abs((trips[0].end_time - at(394)).total_seconds()) < 0.1
    assert stops[1].start_time == trips[0].end_time


def test_halt_after_a_silence_without_ignition_counts_from_its_first_fix() -> None:
    # The same track from a phone: nothing says why it fell silent (it may have halted
    # elsewhere and driven on unseen), so only the fixes at rest count: 700 s to about 800 s,
    # too short for a stop.
    trips, _stops = run(_silent_halt(ignition=None))
    assert len(trips) == 1


def straight_road(factor: float = 1.0):
    """A road-distance function: the road is ``factor`` times the straight line."""

    def road(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
        return factor * haversine_m(lat0, lon0, lat1, lon1)

    return road


def run_with_road(fixes: list[MotionFix], road) -> tuple[list[Trip], list[Stop]]:
    result = MotionProcessor(road_distance=road).process(fixes)
    trips = list(result.trips) + [o for o in result.provisional if isinstance(o, Trip)]
    stops = list(result.stops) + [o for o in result.provisional if isinstance(o, Stop)]
    return trips, stops


def dropout_then_rest(road_east: float) -> FixBuilder:
    """:func:`drive_in`, then no fix for 40 s, then at rest from 440 s at ``road_east`` m."""
    b = drive_in(FixBuilder()).silence(40)
    b.x = road_east
    return b.park(300).drive(1000, 0, 36).park(300)


@pytest.mark.parametrize(
    ("factor", "arrival"),
    [
        # Last moving fix at 390 s, 1000 m, 36 km/h (10 m/s); at rest 200 m further on from
        # 440 s. Braking at 1.5 m/s² from 10 m/s takes 6.67 s and 33.3 m: the other 166.7 m
        # at 10 m/s took 16.67 s, so it came to rest at 390 + 23.33 = 413.33 s.
        (1.0, 413.33),
        # A winding road of 400 m: 36.67 s at 10 m/s, then 6.67 s braking: 433.33 s.
        (2.0, 433.33),
    ],
)
def test_arrival_after_a_dropout_is_dated_along_the_road(factor: float, arrival: float) -> None:
    trips, stops = run_with_road(dropout_then_rest(1200).fixes, straight_road(factor))
    assert len(trips) == 2
    assert abs((trips[0].end_time - at(arrival)).total_seconds()) < 0.05
    assert stops[1].start_time == trips[0].end_time


@pytest.mark.parametrize("road", [None, straight_road(3.0), lambda *_args: None])
def test_arrival_after_a_dropout_without_a_plausible_road_brakes_over_the_straight_line(
    road,
) -> None:
    # No router, a road longer than 2.5 times the straight line (a wrong snap) or no route:
    # braking evenly over the 200 m from 10 m/s takes 40 s, so it came to rest at 430 s.
    trips, _stops = run_with_road(dropout_then_rest(1200).fixes, road)
    assert len(trips) == 2
    assert abs((trips[0].end_time - at(430)).total_seconds()) < 0.05


def test_arrival_without_a_dropout_is_not_measured_along_the_road() -> None:
    # Fixes 10 s apart: the arrival is dated as before, and the road is not asked.
    asked: list[tuple[float, ...]] = []

    def road(*points: float) -> float:
        asked.append(points)
        return 1e6

    b = drive_in(FixBuilder()).park(300).drive(1000, 0, 36).park(300)
    trips, _stops = run_with_road(b.fixes, road)
    assert len(trips) == 2
    assert trips[0].end_time == at(400)
    assert asked == []


def short_move_ending_in_a_dropout() -> FixBuilder:
    # Parked at 0 m until 290 s; 300 s: 20 m on at 20 km/h (5.56 m/s), so it left at
    # 300 - 2 x 20 / 5.56 = 292.8 s; 310 s: 130 m at 40 km/h (11.1 m/s); then nothing until
    # 360 s, at rest at 370 m from then on.
    b = FixBuilder().park(300)
    b.emit(20, 0, 20.0)
    b.t += timedelta(seconds=10)
    b.emit(130, 0, 40.0)
    b.t += timedelta(seconds=50)
    b.x = 370
    return b.park(600)


def test_short_move_whose_end_falls_in_a_dropout_is_no_trip_along_a_straight_road() -> None:
    # Along the 240 m of straight road after 310 s: braking at 1.5 m/s² from 11.1 m/s takes
    # 7.4 s and 41.2 m, the other 198.8 m took 17.9 s: at rest by 335.3 s, 42.5 s after it
    # left, shorter than the 60 s of a trip; the move belongs to the stop.
    trips, stops = run_with_road(short_move_ending_in_a_dropout().fixes, straight_road())
    assert trips == []
    assert len(stops) == 1


def test_short_move_whose_end_falls_in_a_dropout_is_a_trip_along_a_winding_road() -> None:
    # The same fixes, but the road is 2.4 times the straight line (576 m): 576 / 11.1 + 11.1 /
    # 3 = 55.5 s after 310 s, at rest by 365.5 s, which is after the first fix at rest
    # (360 s): it arrived at 360 s, 67.2 s after it left: a trip. (Without a router, braking
    # evenly over the straight 240 m, 43.2 s: at 353.2 s, also a trip.)
    for road in (straight_road(2.4), None):
        trips, _stops = run_with_road(short_move_ending_in_a_dropout().fixes, road)
        assert len(trips) == 1


def _hop_with_odometer(rolling: float, gps_m: float, counted_m: float | None) -> list[MotionFix]:
    """A refuse truck with a CAN odometer (metres): at rest at 1000 m from 400 s to 500 s; at
    510 s still there but rolling at ``rolling`` km/h; at 520 s at rest ``gps_m`` further on by
    GPS, the odometer having counted ``counted_m`` since 510 s; at rest there until 610 s."""
    b = drive_in(FixBuilder()).set(odometer=50_000.0).park(110)
    b.emit(1000, 0, rolling)
    b.t += timedelta(seconds=10)
    b.x = 1000 + gps_m
    b.odometer = None if counted_m is None else 50_000.0 + counted_m
    b.park(100).set(odometer=None).drive(1000, 0, 36).park(300)
    return b.fixes


@pytest.mark.parametrize(
    ("rolling", "gps_m", "counted_m"),
    [
        # From 6 km/h, 27 m counted in 10 s is 9.7 km/h on average, a top speed of at least
        # 2 x 9.7 - 6 = 13.4 km/h; GPS noise made the fixes 25 m apart, 20 m beyond the 5 m
        # allowed for noise: 7.2 km/h, a top speed of 8.4 km/h, creeping.
        (6.0, 25.0, 27.0),
        # From 4 km/h (not rolling: no top-speed argument), 29 m counted is 10.4 km/h; the
        # fixes 27 m apart, less 5 m of noise, 7.9 km/h.
        (4.0, 27.0, 29.0),
    ],
)
def test_hop_measured_by_the_odometer_ends_the_halt(
    rolling: float, gps_m: float, counted_m: float
) -> None:
    # Two halts, of 110 s and 90 s, neither a stop; as one halt inside 50 m it would have
    # lasted 210 s. Taking the noise allowance off the GPS distance hides the hop; the
    # odometer, which has no such noise, shows it.
    trips, stops = run(_hop_with_odometer(rolling, gps_m, counted_m))
    assert len(trips) == 1
    assert len(stops) == 2


@pytest.mark.parametrize("counted_m", [None, 0.027])
def test_hop_without_a_believable_odometer_is_judged_by_gps(counted_m: float | None) -> None:
    # No odometer, or one counting in kilometres (less than the straight line between the
    # fixes, less noise): the GPS rule stands, the 25 m are creeping, the halt is one of 210 s.
    trips, stops = run(_hop_with_odometer(6.0, 25.0, counted_m))
    assert len(trips) == 2
    assert len(stops) == 3


def _hop_seen_rolling(odometer: bool) -> list[MotionFix]:
    """A refuse truck at rest at 1000 m from 400 s to 530 s; at 540 s rolling at 10 km/h at
    1012 m; at rest at 1022 m from 550 s to 600 s; then it drives on. With an odometer, it
    counts 24 m by 540 s and 26 m by 550 s."""
    b = drive_in(FixBuilder()).set(odometer=50_000.0 if odometer else None).park(140)
    b.emit(1012, 0, 10.0, odometer=50_024.0 if odometer else None)
    b.t += timedelta(seconds=10)
    b.x = 1022
    b.odometer = 50_026.0 if odometer else None
    b.park(60).set(odometer=None).drive(1000, 0, 36).park(300)
    return b.fixes


def test_a_move_shorter_than_gps_noise_counted_by_the_odometer_ends_the_halt() -> None:
    # The fixes at rest before and after lie 22 m apart, within what GPS noise can put between
    # two fixes of a vehicle at rest (twice the 12 m jitter radius), so by GPS the rolling fix
    # could be a Doppler spike. The odometer counted 26 m: the truck moved, and the halts are
    # of 140 s and 50 s, neither a stop. As one halt it would have lasted 200 s.
    trips, stops = run(_hop_seen_rolling(odometer=True))
    assert len(trips) == 1
    assert len(stops) == 2


def test_a_move_shorter_than_gps_noise_without_an_odometer_is_no_hop() -> None:
    trips, stops = run(_hop_seen_rolling(odometer=False))
    assert len(trips) == 2
    assert len(stops) == 3


def _move_in_a_silence(odometer: bool) -> list[MotionFix]:
    """A refuse truck at rest at 1000 m from 400 s to 450 s; no fix for 100 s (a dropout);
    at rest 30 m further on from 550 s to 640 s, its odometer (when it has one) having counted
    the 30 m; then it drives on."""
    b = drive_in(FixBuilder()).set(odometer=50_000.0 if odometer else None).park(60)
    b.silence(90)
    b.x = 1030
    b.odometer = 50_030.0 if odometer else None
    b.park(100).set(odometer=None).drive(1000, 0, 36).park(300)
    return b.fixes


def test_a_move_counted_by_the_odometer_in_a_silence_ends_the_halt() -> None:
    # 30 m in 100 s is 1.1 km/h on average, which says nothing about how fast the truck went
    # in the silence. As one halt it would have lasted 240 s; no rest is inferred across a
    # silence in which the vehicle moved, so the halts are of 50 s and 90 s, neither a stop.
    trips, stops = run(_move_in_a_silence(odometer=True))
    assert len(trips) == 1
    assert len(stops) == 2


def test_gps_distance_across_a_silence_is_not_taken_as_a_move() -> None:
    # Without an odometer the 30 m between two fixes a silence apart may be GPS noise (its
    # errors decorrelate over the silence): the halt goes on, 240 s, a stop.
    trips, stops = run(_move_in_a_silence(odometer=False))
    assert len(trips) == 2
    assert len(stops) == 3


def silence_then_driving() -> FixBuilder:
    """Parked at 0 m until 290 s; no fix until 600 s, when it drives at 36 km/h (10 m/s) at
    1000 m; then on for another 1000 m and parked."""
    b = FixBuilder().park(300).silence(300)
    b.x = 900
    return b.drive(1100, 0, 36).park(300)


@pytest.mark.parametrize(
    ("road", "departure"),
    [
        # Along the 1000 m of straight road: speeding up at 1.5 m/s² to 10 m/s takes 6.67 s
        # and 33.3 m, the other 966.7 m at 10 m/s 96.67 s: it left at 600 - 103.33 s.
        (straight_road(1.0), 496.67),
        # No router: speeding up evenly over the straight line, 2 x 1000 / 10 = 200 s.
        (None, 400.0),
    ],
)
def test_departure_before_a_dropout_is_dated_along_the_road(road, departure: float) -> None:
    trips, stops = run_with_road(silence_then_driving().fixes, road)
    assert len(trips) == 1
    assert abs((trips[0].start_time - at(departure)).total_seconds()) < 0.05
    assert stops[0].end_time == trips[0].start_time


def test_a_reflection_as_the_vehicle_leaves_does_not_date_the_departure() -> None:
    # A phone (a fix every 5 s, no ignition) at rest at 0 m until 595 s. At 600 s a reflection
    # throws one fix 70 m north, at rest; at 605 s the car is back where it was, 8 m on, at
    # 13.4 km/h (3.72 m/s), then drives 1000 m east. Speeding up evenly over the 8 m took
    # 2 x 8 / 3.72 = 4.3 s: it left at 600.7 s. Dated at the reflection, the departure would be
    # the last fix at rest (595 s), and the trip 70 m out and back longer.
    b = FixBuilder(interval=5.0).park(600)
    b.emit(0, 70, 0.1)
    b.t += timedelta(seconds=5)
    b.emit(8, 0, 13.4)
    b.t += timedelta(seconds=5)
    b.x = 8
    b.drive(1000, 0, 40).park(300)
    trips, _stops = run(b.fixes)
    assert len(trips) == 1
    assert trips[0].start_time == pytest.approx(at(600.7), abs=timedelta(seconds=0.5))
    assert trips[0].distance_m == pytest.approx(1008, abs=15)
