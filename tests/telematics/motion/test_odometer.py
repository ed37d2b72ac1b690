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
