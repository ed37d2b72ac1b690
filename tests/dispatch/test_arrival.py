"""Arrival and completion decisions from positions (no database)."""

from datetime import UTC, datetime, timedelta

from dispatch import arrival as a

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
SITE = (35.5149, 24.0182)
# One thousandth of a degree of latitude is 111.2 m (R = 6371.0088 km): 0.0005° ≈ 55.6 m.
NEAR = (SITE[0] + 0.0005, SITE[1])
FAR = (SITE[0] + 0.002, SITE[1])  # ≈ 222 m
CONFIG = a.Config(arrival_radius_m=80, arrival_dwell_s=30, departure_radius_m=150)


def site(status="assigned", **kw):
    return a.Site(lat=SITE[0], lon=SITE[1], status=status, **kw)


def obs(point, at, moving=False, speed=0.0):
    return a.Observation(lat=point[0], lon=point[1], at=at, moving=moving, speed_kmh=speed)


def test_distance_matches_hand_computed_meridian_arc():
    assert abs(a.distance_m(35.0, 24.0, 35.001, 24.0) - 111.195) < 0.01


def test_stopping_near_the_place_starts_the_dwell_then_arrives_at_the_stop_time():
    first = a.decide(site(), obs(NEAR, T0), CONFIG)
    assert first == a.Decision(a.Action.NEAR, T0)
    waiting = a.decide(site(near_since=T0), obs(NEAR, T0 + timedelta(seconds=29)), CONFIG)
    assert waiting.action == a.Action.NONE
    arrived = a.decide(site(near_since=T0), obs(NEAR, T0 + timedelta(seconds=30)), CONFIG)
    assert arrived == a.Decision(a.Action.ARRIVE, T0)


def test_driving_past_the_place_does_not_count():
    assert a.decide(site(), obs(NEAR, T0, moving=True, speed=30), CONFIG).action == a.Action.NONE
    # Moving away after stopping briefly clears the dwell.
    left = a.decide(site(near_since=T0), obs(NEAR, T0 + timedelta(seconds=10), moving=True), CONFIG)
    assert left.action == a.Action.CLEAR


def test_stopping_outside_the_radius_is_not_arrival():
    assert a.decide(site(), obs(FAR, T0), CONFIG).action == a.Action.NONE


def test_zero_dwell_arrives_at_once():
    config = a.Config(arrival_radius_m=80, arrival_dwell_s=0)
    assert a.decide(site(), obs(NEAR, T0), config) == a.Decision(a.Action.ARRIVE, T0)


def test_completion_on_departure_needs_the_time_on_site_and_distance():
    config = a.Config(departure_radius_m=150, complete_on_departure=True)
    on_site = site("on_site", arrived_at=T0, service_s=600)
    too_soon = a.decide(on_site, obs(FAR, T0 + timedelta(minutes=5), moving=True), config)
    assert too_soon.action == a.Action.NONE
    still_there = a.decide(on_site, obs(NEAR, T0 + timedelta(minutes=15)), config)
    assert still_there.action == a.Action.NONE
    gone = a.decide(on_site, obs(FAR, T0 + timedelta(minutes=11), moving=True), config)
    assert gone == a.Decision(a.Action.COMPLETE, T0 + timedelta(minutes=11))


def test_without_completion_on_departure_the_driver_closes_the_job():
    on_site = site("on_site", arrived_at=T0, service_s=60)
    assert a.decide(on_site, obs(FAR, T0 + timedelta(hours=1)), CONFIG).action == a.Action.NONE


def test_closed_jobs_are_left_alone():
    assert a.decide(site("done"), obs(NEAR, T0), CONFIG).action == a.Action.NONE
