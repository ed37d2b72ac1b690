from __future__ import annotations

import math

import pytest

from telematics.motion.odometer import EngineMeter, GpsDistance, OdometerConfig
from telematics.motion.records import Sample

from .conftest import to_latlon


def sample(t: float, east: float, north: float, speed: float | None = None, **kw) -> Sample:
    lat, lon = to_latlon(east, north)
    return Sample(t, lat, lon, speed, **kw)


def total(samples: list[Sample], moving: bool = True, **config) -> float:
    meter = GpsDistance(OdometerConfig(**config))
    meter.reset(samples[0])
    return sum(meter.advance(s, moving) for s in samples[1:])


def test_straight_line_is_the_chord() -> None:
    samples = [sample(10 * i, 100 * i, 0, 36.0) for i in range(11)]
    assert total(samples) == pytest.approx(1000, rel=1e-4)


def test_jitter_in_place_adds_nothing() -> None:
    offsets = [(0, 0), (6, -4), (-5, 7), (9, 3), (-8, -6), (3, 10)] * 20
    samples = [sample(10 * i, x, y, 1.0) for i, (x, y) in enumerate(offsets)]
    assert total(samples, moving=False) == 0.0


def test_corner_between_two_fixes_is_followed_by_the_speed_integral() -> None:
    # A right-angle turn 40 m after the first fix; the second fix is 43.3 m past the corner.
    # At a steady 30 km/h the road distance in 10 s is 83.3 m; the chord only 59.0 m.
    samples = [sample(0, 0, 0, 30.0), sample(10, 40, 43.33, 30.0)]
    assert math.hypot(40, 43.33) == pytest.approx(59.0, abs=0.1)
    assert total(samples) == pytest.approx(30 / 3.6 * 10, rel=1e-6)
    assert total(samples, use_reported_speed=False) == pytest.approx(59.0, abs=0.1)


def test_hard_brake_after_a_fix_falls_back_to_the_chord() -> None:
    # 100 m straight, speeds 40 then 0: the trapezoid says 55.6 m, less than the chord, which
    # a path can never be.
    samples = [sample(0, 0, 0, 40.0), sample(10, 100, 0, 0.0)]
    assert total(samples) == pytest.approx(100, rel=1e-4)


def test_no_distance_across_a_long_gap() -> None:
    samples = [sample(0, 0, 0, 50.0), sample(3600, 5000, 0, 50.0), sample(3610, 5139, 0, 50.0)]
    assert total(samples, max_gap_s=900) == pytest.approx(139, rel=1e-3)


def test_distance_is_never_negative_for_time_going_backwards() -> None:
    samples = [sample(100, 0, 0, 50.0), sample(50, 500, 0, 50.0)]
    assert total(samples) == 0.0


def test_engine_session_from_ignition_with_device_hours() -> None:
    meter = EngineMeter(OdometerConfig())
    closed = [
        meter.step(sample(t, 0, 0, 0.0, ignition=ign, engine_hours=h))
        for t, ign, h in [
            (0, False, 100.0),
            (60, True, 100.0),
            (660, True, 100.2),
            (1260, False, 100.3),
        ]
    ]
    sessions = [c for c in closed if c is not None]
    assert len(sessions) == 1
    assert sessions[0].start == 60 and sessions[0].end == 1260
    assert sessions[0].seconds == 1200
    assert sessions[0].device_hours_end - sessions[0].device_hours_start == pytest.approx(0.3)


def test_engine_session_closes_at_the_last_fix_before_a_silence() -> None:
    meter = EngineMeter(OdometerConfig(engine_max_gap_s=900))
    steps = [(0, True), (600, True), (5000, True), (5600, False)]
    closed = [meter.step(sample(t, 0, 0, 0.0, ignition=ign)) for t, ign in steps]
    sessions = [c for c in closed if c is not None]
    assert [(s.start, s.end, s.seconds) for s in sessions] == [(0, 600, 600), (5000, 5600, 600)]


def step_total(samples: list[Sample], **config) -> float:
    """Like ``total`` but with the detector's own moving flag (speed at least 5 km/h)."""
    meter = GpsDistance(OdometerConfig(**config))
    meter.reset(samples[0])
    return sum(meter.advance(s, s.speed is not None and s.speed >= 5) for s in samples[1:])


def test_wandering_fixes_with_standstill_speeds_add_nothing() -> None:
    # A receiver under trees drifts up to 40 m over a few minutes; Doppler says 0-2 km/h.
    drift = [(0, 0), (15, 5), (30, 10), (40, -5), (20, -20), (0, 0)] * 5
    samples = [sample(10 * i, x, y, float(i % 3)) for i, (x, y) in enumerate(drift)]
    assert step_total(samples) == 0.0


def test_multipath_spike_while_driving_counts_the_speed_integral() -> None:
    # 30 km/h is 41.7 m per 5 s; the middle fix is thrown 150 m sideways.
    samples = [
        sample(0, 0, 0, 30.0),
        sample(5, 41.7, 150, 30.0),
        sample(10, 83.3, 0, 30.0),
    ]
    assert step_total(samples) == pytest.approx(83.3, abs=0.5)


def test_multipath_spike_is_caught_across_a_checkpoint() -> None:
    # The batch ends on the spike: the next batch starts from the saved state. Caught there as
    # in one run (it used to be measured as the chord, 150 m back, when a batch began after it).
    samples = [
        sample(0, 0, 0, 30.0),
        sample(5, 41.7, 0, 30.0),
        sample(10, 83.3, 150, 30.0),
        sample(15, 125.0, 0, 30.0),
        sample(20, 166.7, 0, 30.0),
    ]
    config = OdometerConfig()
    for cut in range(1, len(samples)):
        meter = GpsDistance(config)
        meter.reset(samples[0])
        metres = 0.0
        for i, s in enumerate(samples[1:], start=1):
            if i == cut:
                meter = GpsDistance.from_dict(meter.to_dict(), config)
            metres += meter.advance(s, True)
        assert metres == pytest.approx(166.7, abs=0.5), cut


def test_multipath_spike_at_rest_adds_nothing() -> None:
    # A car drove up, stopped, and its phone threw one fix 150 m off while it stood: Doppler
    # 0.6-1.0 km/h at both ends of both intervals. Only the drive up counts.
    samples = [
        sample(0, -41.7, 0, 30.0),
        sample(5, 0, 0, 0.0),
        sample(10, 0, 1, 0.6),
        sample(15, 0, 150, 1.0),
        sample(20, 1, 0, 0.8),
        sample(25, 0, 0, 0.4),
    ]
    assert step_total(samples) == pytest.approx(41.7, abs=3.0)


def test_fixes_far_apart_from_a_receiver_whose_speed_never_moves_still_count() -> None:
    # A receiver stuck at 0 km/h (it has never reported a moving speed): its fixes 130 m apart
    # every 10 s are the only evidence of the drive, not spikes.
    samples = [sample(10 * i, 130.0 * i, 0, 0.0) for i in range(5)]
    assert step_total(samples) == pytest.approx(520.0, abs=1.0)


def test_long_interval_stop_and_go_is_not_mistaken_for_a_spike() -> None:
    # 15 s apart, 6 km/h then 1 km/h, 72 m apart: a truck can do that (accelerate, brake).
    samples = [sample(0, 0, 0, 6.0), sample(15, 72.5, 0, 1.0)]
    assert step_total(samples) == pytest.approx(72.5, abs=0.1)


def test_straight_road_ignores_a_coarse_speed_profile() -> None:
    # Courses agree (due east): the road is straight, so the 93 m chord stands even though the
    # trapezoid of 18 and 31 km/h over 10 s says 68 m.
    samples = [sample(0, 0, 0, 18.0, course=90.0), sample(10, 93.7, 0, 31.0, course=90.0)]
    assert step_total(samples) == pytest.approx(93.7, abs=0.1)


def test_right_angle_corner_uses_the_speed_integral_within_the_turn_bounds() -> None:
    # Course 0° then 90°: the road lies between the arc (1.11 x chord) and the sharp corner
    # (1.41 x chord); the speed integral, 83.3 m, lies inside and is taken.
    samples = [sample(0, 0, 0, 30.0, course=0.0), sample(10, 43.33, 40, 30.0, course=90.0)]
    chord = math.hypot(43.33, 40)
    assert chord * 1.11 < 83.3 < chord * 1.414
    assert step_total(samples) == pytest.approx(30 / 3.6 * 10, rel=1e-6)


def test_moving_off_right_after_a_fix_counts_a_brisk_start_not_the_jitter() -> None:
    # 5 s apart, 0.5 then 7.5 km/h, 6 m apart (mostly noise): v²/2a with a = 1 m/s².
    samples = [sample(0, 0, 0, 0.5), sample(5, 6, 0, 7.5)]
    assert step_total(samples) == pytest.approx((7.5 / 3.6) ** 2 / 2, rel=1e-6)


def road_of(metres: float):
    """A road-distance function that finds ``metres`` of road between any two points."""

    def road(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
        return metres

    return road


def measured(samples: list, moving: bool, road) -> float:
    meter = GpsDistance(OdometerConfig(), road_distance=road)
    meter.reset(samples[0])
    return meter.advance(samples[1], moving)


def test_silence_while_driving_is_measured_along_the_road_when_known() -> None:
    samples = [sample(0, 0, 0, 40.0), sample(120, 1000, 0, 40.0)]
    assert measured(samples, True, road_of(1400.0)) == 1400.0
    # A detour no 40 km/h vehicle drives in two minutes: the straight line stands.
    assert measured(samples, True, road_of(9000.0)) == pytest.approx(1000, rel=1e-3)


def test_silence_ending_at_rest_is_measured_along_the_road_when_known() -> None:
    # Driving at 40 km/h into a dropout and found at rest 1000 m away (straight line) two
    # minutes later, as a vehicle parked during the silence is: it drove the streets there,
    # 1400 m, not the straight line that cuts every corner.
    samples = [sample(0, 0, 0, 40.0), sample(120, 1000, 0, 0.0)]
    assert measured(samples, False, road_of(1400.0)) == 1400.0


def test_silence_starting_at_rest_is_the_straight_line() -> None:
    # At rest before the silence: nothing says it drove the whole time (it may have left late
    # or halted in between): the straight line stands.
    samples = [sample(0, 0, 0, 0.0), sample(120, 1000, 0, 40.0)]
    assert measured(samples, True, road_of(1400.0)) == pytest.approx(1000, rel=1e-3)
