"""Receivers that scatter: fixes of a vehicle at rest landing tens of metres apart, one after
another, while the Doppler speed says it stands still (an urban canyon, a poor antenna).

A hop (a refuse truck moving to the next bin between two fixes that both report 0 km/h) is
seen from positions alone, so without care every scattered fix of an idling vehicle is a hop:
the halt never lasts long enough to be a stop, the trips before and after it merge, and the
scatter is counted as kilometres. The detector learns how far apart this receiver puts
consecutive fixes at rest and sees no hop within a few times that. These tests compare a
scattering receiver with a clean one on the same day.

Times are offsets from the builder's start (08:00 UTC); positions metres east/north of its
origin.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from telematics.motion.pipeline import InMemoryMotionStore, MotionProcessor, motion_update
from telematics.motion.records import MotionFix
from telematics.motion.trips import Stop, Trip

from .conftest import FixBuilder


def run(fixes: list[MotionFix]) -> tuple[list[Trip], list[Stop]]:
    result = MotionProcessor().process(fixes)
    trips = list(result.trips) + [o for o in result.provisional if isinstance(o, Trip)]
    stops = list(result.stops) + [o for o in result.provisional if isinstance(o, Stop)]
    return trips, stops


def errand(
    jitter: float, speed: float | None, ignition: bool | None = True, seed: int | None = None
) -> FixBuilder:
    """Parked 120 s, 800 m east at 30 km/h, 15 minutes at rest with the engine on while the
    receiver scatters (the builder's fixed pattern scaled by ``jitter``, or white noise of
    ``jitter`` metres per axis when a ``seed`` is given), 600 m north, parked 300 s."""
    b = FixBuilder().set(ignition=ignition)
    b.park(120).drive(800, 0, 30)
    if seed is None:
        b.park(900, jitter=jitter, speed=speed)
    else:
        rnd = random.Random(seed)
        for _ in range(90):
            b.emit(b.x + rnd.gauss(0, jitter), b.y + rnd.gauss(0, jitter), speed)
            b.t += timedelta(seconds=10)
    return b.drive(0, 600, 30).park(300)


def assert_like_a_clean_receiver(fixes: list[MotionFix], speed: float | None) -> None:
    clean_trips, clean_stops = run(errand(0.0, speed).fixes)
    trips, stops = run(fixes)
    assert len(clean_trips) == 2
    assert len(trips) == 2
    for trip, clean in zip(trips, clean_trips, strict=True):
        assert abs(trip.distance_m - clean.distance_m) <= 30.0
        assert abs((trip.start_time - clean.start_time).total_seconds()) <= 30.0
        assert abs((trip.end_time - clean.end_time).total_seconds()) <= 30.0
    # The halt between them is one stop of about 15 minutes.
    middle = [s for s in stops if trips[0].end_time <= s.start_time < trips[1].start_time]
    assert len(middle) == 1
    assert middle[0].duration_s >= 14 * 60


@pytest.mark.parametrize("speed", [0.0, 3.0, 4.0])
@pytest.mark.parametrize("jitter", [1.0, 2.0, 3.0, 4.0])
def test_a_receiver_scattering_at_a_halt_makes_a_stop_not_a_trip(jitter, speed) -> None:
    # The pattern reaches 10 m per unit of jitter from where the vehicle stands, so up to
    # 42 m: consecutive fixes 29-78 m apart at the largest, every 10 s, all reporting a speed
    # under the 5 km/h of moving. 78 m in 10 s would be a hop at 28 km/h.
    assert_like_a_clean_receiver(errand(jitter, speed).fixes, speed)


@pytest.mark.parametrize("ignition", [True, None])
def test_scatter_makes_no_trip_with_or_without_ignition_wiring(ignition) -> None:
    assert_like_a_clean_receiver(errand(4.0, 3.0, ignition).fixes, 3.0)


@pytest.mark.parametrize("seed", range(5))
def test_white_scatter_of_ten_metres_makes_no_trip(seed) -> None:
    # Independent errors of 10 m per axis: consecutive fixes typically 17 m apart, at times 45.
    assert_like_a_clean_receiver(errand(10.0, 0.0, seed=seed).fixes, 0.0)


def test_a_receiver_without_speeds_wandering_at_a_halt_makes_a_stop() -> None:
    # No Doppler at all: consecutive fixes 7-19 m apart (the pattern at 10 m) are not driving,
    # which would need more than creeping speed (10 km/h) beyond the noise of two fixes.
    assert_like_a_clean_receiver(errand(1.0, None).fixes, None)


def test_hops_count_again_once_the_receiver_settles() -> None:
    # A stop of 400 s with the receiver scattering (pattern at 40 m), then a drive, then a
    # refuse truck's work with a clean receiver: at rest 110 s, 40 m further on at the next fix
    # though every fix reports 0 km/h (a hop at 14 km/h), at rest 100 s. The scatter it learnt
    # at the stop is forgotten after a few intervals at rest, so the hop is seen and the two
    # halts stay two short ones inside the trip; taken for scatter, they would make one stop of
    # 210 s and split the trip.
    b = FixBuilder().set(ignition=True)
    b.park(120).drive(1000, 0, 36).park(400, jitter=4.0, speed=3.0)
    b.drive(1000, 0, 36).park(110)
    b.x += 40
    b.park(100).drive(1000, 0, 36).park(300)
    trips, stops = run(b.fixes)
    assert len(trips) == 2
    assert len(stops) == 3


def test_what_the_scatter_taught_survives_a_checkpoint() -> None:
    # Delivered in batches of 7 fixes, each run resuming from the last checkpoint, the day
    # comes out as in one pass.
    fixes = errand(4.0, 3.0).fixes
    reference = InMemoryMotionStore()
    motion_update(reference, earliest_new=reference.add_fixes(fixes))
    store = InMemoryMotionStore()
    for i in range(0, len(fixes), 7):
        motion_update(store, earliest_new=store.add_fixes(fixes[i : i + 7]))
    assert store.trips(include_open=True) == reference.trips(include_open=True)
    assert store.stops(include_open=True) == reference.stops(include_open=True)
    assert len(reference.trips(include_open=True)) == 2
