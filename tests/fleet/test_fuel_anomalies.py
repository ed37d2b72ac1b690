"""Fuel anomaly checks and consumption over plain inputs (no database).

Distances are chosen along a meridian, where one hundredth of a degree of latitude is
R·π/180·0.01 = 1,111.95 m on the mean-radius sphere, so expected figures are hand-computable.
"""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fleet.anomalies import (
    AnomalyConfig,
    FuelDrop,
    Kind,
    Refuel,
    Track,
    VehicleProfile,
    check_vehicle,
    consumption,
    haversine_m,
)

T0 = datetime(2025, 2, 3, 6, 0, tzinfo=UTC)
STATION = (35.5000, 24.0000)
TRUCK = VehicleProfile(vehicle_id=7, tank_capacity_l=300.0, norm=55.0)
CONFIG = AnomalyConfig()
DEG_M = 6_371_008.8 * np.pi / 180  # metres per degree of latitude


def _refuel(i, hours, litres, **kw):
    kw.setdefault("station_lat", STATION[0])
    kw.setdefault("station_lon", STATION[1])
    return Refuel(id=i, time=T0 + timedelta(hours=hours), litres=litres, **kw)


def _parked_track(lat, lon, start, hours, step=10.0):
    t = np.arange(start.timestamp(), start.timestamp() + hours * 3600, step)
    return Track(t=t, lat=np.full(t.shape, lat), lon=np.full(t.shape, lon), speed=np.zeros(t.shape))


def _northbound_track(km, start, hours, step=10.0, lat0=STATION[0]):
    """Fixes every ``step`` s driving due north at a constant speed, ``km`` over ``hours``."""
    t = np.arange(0, hours * 3600 + step, step)
    lat = lat0 + (km * 1000 / DEG_M) * t / t[-1]
    speed = np.full(t.shape, km / hours)
    return Track(t=t + start.timestamp(), lat=lat, lon=np.full(t.shape, STATION[1]), speed=speed)


def _kinds(findings):
    return sorted(str(f.kind) for f in findings)


def test_haversine_hundredth_of_a_degree():
    assert haversine_m(35.50, 24.0, 35.51, 24.0) == pytest.approx(1111.95, abs=0.01)


def test_track_distance_is_the_sum_of_steps():
    track = _northbound_track(km=50, start=T0, hours=1)
    assert track.distance_km(T0.timestamp(), T0.timestamp() + 3600) == pytest.approx(50, rel=1e-6)
    assert track.distance_km(T0.timestamp(), T0.timestamp() + 1800) == pytest.approx(25, rel=1e-3)
    assert track.distance_km(T0.timestamp() - 7200, T0.timestamp() - 3600) is None


def test_more_litres_than_the_tank_holds():
    # 300 l tank with a 5 % margin: 315 l is the most that is not flagged.
    over = check_vehicle(TRUCK, [_refuel(1, 0, 320.0)], None, period=(0, 1))
    at_margin = check_vehicle(TRUCK, [_refuel(1, 0, 315.0)], None, period=(0, 1))
    assert _kinds(over) == ["over_capacity"]
    assert over[0].facts["excess_l"] == 20.0
    assert at_margin == []


def test_refuel_far_from_the_station_is_flagged():
    track = _parked_track(STATION[0] + 0.02, STATION[1], T0 - timedelta(hours=1), 2)  # 2.2 km
    findings = check_vehicle(TRUCK, [_refuel(1, 0, 100.0)], track, period=(0, 1))
    assert _kinds(findings) == ["far_from_station"]
    assert findings[0].facts["distance_m"] == round(2 * 1111.95)


def test_refuel_at_the_station_is_not_flagged():
    track = _parked_track(STATION[0] + 0.002, STATION[1], T0 - timedelta(hours=1), 2)  # 222 m
    assert check_vehicle(TRUCK, [_refuel(1, 0, 100.0)], track, period=(0, 1)) == []


def test_vehicle_that_left_right_after_paying_was_still_at_the_station():
    # At the station until 2 minutes before the card time, then 3 km away.
    start = T0 - timedelta(hours=1)
    t = np.arange(start.timestamp(), start.timestamp() + 7200, 10.0)
    lat = np.where(t < T0.timestamp() - 120, STATION[0], STATION[0] + 0.03)
    track = Track(t=t, lat=lat, lon=np.full(t.shape, STATION[1]), speed=np.zeros(t.shape))
    assert check_vehicle(TRUCK, [_refuel(1, 0, 100.0)], track, period=(0, 1)) == []


def test_refuel_while_moving_is_flagged():
    track = _northbound_track(km=40, start=T0 - timedelta(minutes=30), hours=1)
    findings = check_vehicle(
        TRUCK, [_refuel(1, 0, 100.0, station_lat=None, station_lon=None)], track, period=(0, 1)
    )
    assert _kinds(findings) == ["moving"]
    assert findings[0].facts["min_speed_kmh"] == 40.0


def test_speed_is_derived_from_positions_when_fixes_carry_none():
    track = _northbound_track(km=36, start=T0 - timedelta(minutes=30), hours=1)
    track.speed = None
    findings = check_vehicle(
        TRUCK, [_refuel(1, 0, 100.0, station_lat=None, station_lon=None)], track, period=(0, 1)
    )
    assert _kinds(findings) == ["moving"]
    assert findings[0].facts["median_speed_kmh"] == pytest.approx(36.0, abs=0.1)


def test_no_positions_no_location_finding():
    track = _parked_track(*STATION, T0 - timedelta(days=3), 1)
    assert check_vehicle(TRUCK, [_refuel(1, 0, 100.0)], track, period=(0, 1)) == []


def test_two_refuels_closer_than_the_fuel_could_be_burnt():
    # Full tank, then 10 km later 60 l. At 55 l/100 km with a 50 % margin plus 5 l the truck
    # could have burnt at most 10 × 0.55 × 1.5 + 5 = 13.25 l.
    track = _northbound_track(km=10, start=T0, hours=2)
    track.speed = np.zeros(track.t.shape)  # slow crawl; keeps the location checks quiet
    track.lat = np.full(track.t.shape, STATION[0])
    track._cum_m = np.linspace(0, 10_000, len(track.t))
    track._cum_h = np.linspace(0, 2, len(track.t))
    prev = _refuel(1, 0, 200.0, full_tank=True)
    findings = check_vehicle(TRUCK, [_refuel(2, 2, 60.0)], track, period=(0, 1), previous=prev)
    assert _kinds(findings) == ["too_soon"]
    facts = findings[0].facts
    assert facts["max_burnt_l"] == 13.2  # 13.25 rounded to one decimal (half to even)
    assert facts["distance_km"] == 10.0 and facts["usage_source"] == "telematics"
    ok = check_vehicle(TRUCK, [_refuel(2, 2, 13.0)], track, period=(0, 1), previous=prev)
    assert ok == []


def test_too_soon_uses_tank_room_when_the_previous_fill_was_not_full():
    # 200 l went in last time: at most 100 l of room plus what was burnt (meter: 20 km ->
    # 20 × 0.55 × 1.5 + 5 = 21.5 l) = 121.5 l.
    prev = _refuel(1, 0, 200.0, odometer_km=1000.0)
    late = _refuel(2, 5, 130.0, odometer_km=1020.0)
    fine = _refuel(2, 5, 120.0, odometer_km=1020.0)
    assert _kinds(check_vehicle(TRUCK, [late], None, period=(0, 1), previous=prev)) == ["too_soon"]
    assert check_vehicle(TRUCK, [fine], None, period=(0, 1), previous=prev) == []


def test_odometer_going_backwards():
    refuels = [
        _refuel(1, 0, 50.0, odometer_km=120500.0),
        _refuel(2, 48, 50.0, odometer_km=120100.0),
    ]
    findings = check_vehicle(TRUCK, refuels, None, period=(0, 1))
    assert _kinds(findings) == ["odometer_backwards"]
    assert findings[0].facts["difference"] == -400.0


def test_odometer_disagreeing_with_telematics():
    track = _northbound_track(km=50, start=T0, hours=10)
    track.speed = np.zeros(track.t.shape)
    refuels = [
        _refuel(1, 0, 50.0, odometer_km=1000.0, station_lat=None, station_lon=None),
        _refuel(2, 10, 30.0, odometer_km=1200.0, station_lat=None, station_lon=None),
    ]
    no_norm = VehicleProfile(vehicle_id=7, tank_capacity_l=300.0)  # keep consumption out of it
    findings = check_vehicle(no_norm, refuels, track, period=(0, 1))
    assert _kinds(findings) == ["odometer_mismatch"]
    assert findings[0].facts["meter_difference"] == 200.0
    assert findings[0].facts["telematics"] == 50.0
    # 60 km on the meter against 50 tracked: within max(20 km, 10 %).
    close = [
        refuels[0],
        _refuel(2, 10, 30.0, odometer_km=1060.0, station_lat=None, station_lon=None),
    ]
    assert check_vehicle(no_norm, close, track, period=(0, 1)) == []


def test_fuel_drop_while_parked_in_litres_of_this_tank():
    track = _parked_track(*STATION, T0, 5)
    track.drops = [
        FuelDrop(T0.timestamp() + 3600, STATION[0], STATION[1], 40.0, 30.0),  # 30 l of 300
        FuelDrop(T0.timestamp() + 7200, STATION[0], STATION[1], 30.0, 27.0),  # 9 l: too little
    ]
    period = (T0.timestamp(), T0.timestamp() + 5 * 3600)
    findings = check_vehicle(TRUCK, [], track, period=period)
    assert _kinds(findings) == ["fuel_drop"]
    assert findings[0].facts["litres"] == 30.0


def test_full_to_full_consumption_against_telematics():
    # Full at 0 h and 10 h with 25 + 30 l between, over 100 km: 55 l/100 km.
    track = _northbound_track(km=100, start=T0, hours=10)
    refuels = [
        _refuel(1, 0, 200.0, full_tank=True),
        _refuel(2, 4, 25.0),
        _refuel(3, 10, 30.0, full_tank=True),
    ]
    result = consumption(refuels, uses_hours=False, motion=track)
    assert (result.litres, result.usage, result.value, result.method) == (
        55.0,
        100.0,
        55.0,
        "full_to_full",
    )


def test_consumption_from_odometer_readings_without_a_tracker():
    refuels = [
        _refuel(1, 0, 60.0, odometer_km=10_000.0),
        _refuel(2, 24, 40.0),
        _refuel(3, 48, 50.0, odometer_km=10_300.0),
    ]
    result = consumption(refuels, uses_hours=False)
    assert result.method == "meter"
    assert result.value == 30.0  # (40 + 50) l over 300 km


def test_machinery_consumption_in_litres_per_hour():
    profile = VehicleProfile(vehicle_id=3, tank_capacity_l=150.0, norm=12.0, uses_hours=True)
    refuels = [
        Refuel(1, T0, 100.0, full_tank=True, engine_hours=4000.0),
        Refuel(2, T0 + timedelta(days=5), 240.0, full_tank=True, engine_hours=4016.0),
    ]
    result = consumption(refuels, uses_hours=True)
    assert (result.value, result.unit) == (15.0, "l/h")  # 240 l over 16 h
    findings = check_vehicle(profile, refuels, None, period=(0, 1), period_key="2025-02")
    assert "consumption_norm" in _kinds(findings)  # 25 % over 12 l/h


def test_too_little_driving_gives_no_consumption():
    refuels = [_refuel(1, 0, 60.0, odometer_km=10_000.0), _refuel(2, 5, 40.0, odometer_km=10_050.0)]
    assert consumption(refuels, uses_hours=False) is None


def test_consumption_off_the_norm_and_off_its_own_history():
    # 70 l over 100 km = 70 l/100 km: 27 % over the 55 norm; 40 % over a history of 50.
    refuels = [
        _refuel(1, 0, 100.0, full_tank=True, odometer_km=5000.0),
        _refuel(2, 20, 70.0, full_tank=True, odometer_km=5100.0),
    ]
    findings = check_vehicle(
        TRUCK, refuels, None, period=(0, 1), history=[49.0, 50.0, 52.0], period_key="2025-02"
    )
    by_kind = {f.kind: f for f in findings}
    assert set(by_kind) == {Kind.CONSUMPTION_NORM, Kind.CONSUMPTION_HISTORY}
    assert by_kind[Kind.CONSUMPTION_NORM].facts["off_pct"] == 27.3
    assert by_kind[Kind.CONSUMPTION_HISTORY].facts["baseline"] == 50.0
    assert by_kind[Kind.CONSUMPTION_HISTORY].facts["off_pct"] == 40.0
    assert by_kind[Kind.CONSUMPTION_NORM].key == "consumption_norm:2025-02"


def test_consumption_within_tolerance_is_quiet():
    refuels = [
        _refuel(1, 0, 100.0, full_tank=True, odometer_km=5000.0),
        _refuel(2, 20, 60.0, full_tank=True, odometer_km=5100.0),
    ]
    assert check_vehicle(TRUCK, refuels, None, period=(0, 1), history=[58.0, 61.0]) == []


def test_finding_keys_are_stable_across_runs():
    refuels = [_refuel(1, 0, 400.0)]
    first = check_vehicle(TRUCK, refuels, None, period=(0, 1))
    second = check_vehicle(TRUCK, refuels, None, period=(0, 1))
    assert [f.key for f in first] == [f.key for f in second] == ["over_capacity:1"]


def test_config_thresholds_are_honoured():
    track = _parked_track(STATION[0] + 0.006, STATION[1], T0 - timedelta(hours=1), 2)  # 667 m
    refuels = [_refuel(1, 0, 100.0)]
    assert _kinds(check_vehicle(TRUCK, refuels, track, period=(0, 1))) == ["far_from_station"]
    relaxed = AnomalyConfig(max_distance_m=1000)
    assert check_vehicle(TRUCK, refuels, track, period=(0, 1), config=relaxed) == []
