"""Fuel anomaly checks and consumption figures. Pure: no Django.

Each check takes plain facts (refuels, a vehicle's tank and norm, what the tracker saw) and
returns :class:`Finding` objects carrying the facts behind them, so a reviewer can judge each one
without opening another page. The motion data comes through the small :class:`Motion` interface:
the database layer implements it over positions, trips and daily summaries; :class:`Track`
implements it over in-memory arrays (tests and the benchmark).

Tolerances are deliberately generous: a false accusation of fuel theft costs more trust than a
missed litre, and every finding goes to a person who marks it justified or confirmed.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

__all__ = [
    "AnomalyConfig",
    "Consumption",
    "Finding",
    "Fix",
    "FuelDrop",
    "Kind",
    "Motion",
    "Refuel",
    "Track",
    "VehicleProfile",
    "check_vehicle",
    "consumption",
    "haversine_m",
]

EARTH_RADIUS_M = 6_371_008.8


class Kind(StrEnum):
    OVER_CAPACITY = "over_capacity"
    FAR_FROM_STATION = "far_from_station"
    MOVING = "moving"
    TOO_SOON = "too_soon"
    CONSUMPTION_NORM = "consumption_norm"
    CONSUMPTION_HISTORY = "consumption_history"
    FUEL_DROP = "fuel_drop"
    ODOMETER_BACKWARDS = "odometer_backwards"
    ODOMETER_MISMATCH = "odometer_mismatch"


@dataclass(frozen=True)
class AnomalyConfig:
    # Nominal tank capacities leave out the filler neck and the reserve: a few per cent over is a
    # brim-full tank, not a second vehicle.
    capacity_tolerance_pct: float = 5.0
    max_distance_m: float = 500.0
    # Card terminals stamp the payment, which can come minutes after the pump stopped.
    position_window_s: float = 600.0
    moving_window_s: float = 180.0
    moving_speed_kmh: float = 5.0
    # The most a vehicle can burn between two refuels: its norm plus this margin (hills, loads,
    # idling with the compactor running), plus a fixed allowance for pump and gauge rounding.
    burn_margin_pct: float = 50.0
    burn_allowance_l: float = 5.0
    consumption_tolerance_pct: float = 15.0
    min_period_km: float = 100.0
    min_period_hours: float = 10.0
    history_min_periods: int = 2
    fuel_drop_min_l: float = 10.0
    odometer_tolerance_km: float = 20.0
    odometer_tolerance_pct: float = 10.0


@dataclass(frozen=True)
class Refuel:
    id: int
    time: datetime  # aware
    litres: float
    full_tank: bool = False
    odometer_km: float | None = None
    engine_hours: float | None = None
    station_lat: float | None = None
    station_lon: float | None = None
    station: str = ""

    @property
    def t(self) -> float:
        return self.time.timestamp()


@dataclass(frozen=True)
class VehicleProfile:
    vehicle_id: int
    tank_capacity_l: float | None = None
    norm: float | None = None  # l/100 km, or l/h when ``uses_hours``
    uses_hours: bool = False


@dataclass(frozen=True, slots=True)
class Fix:
    t: float  # POSIX seconds
    lat: float
    lon: float
    speed_kmh: float | None = None


@dataclass(frozen=True)
class FuelDrop:
    """A fuel-level fall while parked, as the motion events report it (percent of the tank)."""

    t: float
    lat: float
    lon: float
    before_pct: float
    after_pct: float


class Motion(Protocol):
    def fixes_near(self, t: float, window_s: float) -> Sequence[Fix]: ...

    def distance_km(self, t0: float, t1: float) -> float | None: ...

    def engine_hours(self, t0: float, t1: float) -> float | None: ...

    def fuel_drops(self, t0: float, t1: float) -> Sequence[FuelDrop]: ...


@dataclass(frozen=True)
class Finding:
    kind: Kind
    vehicle_id: int
    occurred_at: datetime
    key: str  # stable across re-runs, so a finding is stored once however often checks run
    facts: dict[str, Any]
    refuel_id: int | None = None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# --- Per-refuel checks --------------------------------------------------------------------------


def check_capacity(
    refuel: Refuel, profile: VehicleProfile, config: AnomalyConfig
) -> Finding | None:
    capacity = profile.tank_capacity_l
    if not capacity:
        return None
    limit = capacity * (1 + config.capacity_tolerance_pct / 100)
    if refuel.litres <= limit:
        return None
    return Finding(
        Kind.OVER_CAPACITY,
        profile.vehicle_id,
        refuel.time,
        f"{Kind.OVER_CAPACITY}:{refuel.id}",
        {
            "litres": refuel.litres,
            "tank_capacity_l": capacity,
            "excess_l": _r(refuel.litres - capacity),
        },
        refuel.id,
    )


def check_location(
    refuel: Refuel, profile: VehicleProfile, motion: Motion, config: AnomalyConfig
) -> list[Finding]:
    """Far from the station, or moving, at the time of the refuel (no positions: no finding)."""
    findings: list[Finding] = []
    fixes = motion.fixes_near(refuel.t, config.position_window_s)
    if not fixes:
        return findings
    if refuel.station_lat is not None and refuel.station_lon is not None:
        # The vehicle was at the station if any fix of the window puts it there.
        distances = [
            (haversine_m(f.lat, f.lon, refuel.station_lat, refuel.station_lon), f) for f in fixes
        ]
        nearest, fix = min(distances, key=lambda pair: pair[0])
        if nearest > config.max_distance_m:
            findings.append(
                Finding(
                    Kind.FAR_FROM_STATION,
                    profile.vehicle_id,
                    refuel.time,
                    f"{Kind.FAR_FROM_STATION}:{refuel.id}",
                    {
                        "distance_m": round(nearest),
                        "limit_m": config.max_distance_m,
                        "station": refuel.station,
                        "station_lat": refuel.station_lat,
                        "station_lon": refuel.station_lon,
                        "fix_time": _iso(fix.t),
                        "fix_lat": round(fix.lat, 6),
                        "fix_lon": round(fix.lon, 6),
                        "fixes": len(fixes),
                    },
                    refuel.id,
                )
            )
    close = [f for f in fixes if abs(f.t - refuel.t) <= config.moving_window_s]
    speeds = _speeds(close)
    # Moving only if every fix around the refuel says so: one stale fix proves nothing.
    if len(speeds) >= 2 and min(speeds) >= config.moving_speed_kmh:
        findings.append(
            Finding(
                Kind.MOVING,
                profile.vehicle_id,
                refuel.time,
                f"{Kind.MOVING}:{refuel.id}",
                {
                    "min_speed_kmh": _r(min(speeds)),
                    "median_speed_kmh": _r(statistics.median(speeds)),
                    "fixes": len(speeds),
                    "window_s": config.moving_window_s,
                },
                refuel.id,
            )
        )
    return findings


def _speeds(fixes: Sequence[Fix]) -> list[float]:
    speeds: list[float] = []
    for i, fix in enumerate(fixes):
        if fix.speed_kmh is not None:
            speeds.append(fix.speed_kmh)
        elif i > 0 and fix.t > fixes[i - 1].t:
            prev = fixes[i - 1]
            metres = haversine_m(prev.lat, prev.lon, fix.lat, fix.lon)
            speeds.append(metres / (fix.t - prev.t) * 3.6)
    return speeds


def _meter_between(prev: Refuel, cur: Refuel, uses_hours: bool) -> float | None:
    a, b = (
        (prev.engine_hours, cur.engine_hours) if uses_hours else (prev.odometer_km, cur.odometer_km)
    )
    if a is None or b is None or b < a:
        return None
    return b - a


def _usage_between(
    prev: Refuel, cur: Refuel, profile: VehicleProfile, motion: Motion | None
) -> tuple[float | None, str]:
    """Km (or engine hours) between two refuels: telematics first, the meter readings second."""
    if motion is not None:
        tracked = (
            motion.engine_hours(prev.t, cur.t)
            if profile.uses_hours
            else motion.distance_km(prev.t, cur.t)
        )
        if tracked is not None:
            return tracked, "telematics"
    meter = _meter_between(prev, cur, profile.uses_hours)
    return (meter, "meter") if meter is not None else (None, "")


def check_too_soon(
    prev: Refuel,
    cur: Refuel,
    profile: VehicleProfile,
    motion: Motion | None,
    config: AnomalyConfig,
) -> Finding | None:
    """More fuel went in than the tank could have had room for since the previous refuel."""
    if not profile.norm:
        return None
    used, source = _usage_between(prev, cur, profile, motion)
    if used is None:
        return None
    rate = profile.norm if profile.uses_hours else profile.norm / 100
    burnt_max = used * rate * (1 + config.burn_margin_pct / 100) + config.burn_allowance_l
    if prev.full_tank:
        room = burnt_max
    elif profile.tank_capacity_l:
        # At least the previous refuel's litres were still in the tank after it.
        room = profile.tank_capacity_l - min(prev.litres, profile.tank_capacity_l) + burnt_max
    else:
        return None
    if cur.litres <= room:
        return None
    return Finding(
        Kind.TOO_SOON,
        profile.vehicle_id,
        cur.time,
        f"{Kind.TOO_SOON}:{cur.id}",
        {
            "previous_refuel": prev.id,
            "previous_time": prev.time.isoformat(),
            "previous_full": prev.full_tank,
            "hours_between": _r((cur.t - prev.t) / 3600),
            ("engine_hours" if profile.uses_hours else "distance_km"): _r(used),
            "usage_source": source,
            "max_burnt_l": _r(burnt_max),
            "room_l": _r(room),
            "litres": cur.litres,
        },
        cur.id,
    )


def check_meter(
    prev: Refuel,
    cur: Refuel,
    profile: VehicleProfile,
    motion: Motion | None,
    config: AnomalyConfig,
) -> Finding | None:
    """A meter reading lower than the one before, or far from what the tracker measured."""
    unit = "h" if profile.uses_hours else "km"
    a, b = (
        (prev.engine_hours, cur.engine_hours)
        if profile.uses_hours
        else (prev.odometer_km, cur.odometer_km)
    )
    if a is None or b is None:
        return None
    if b < a:
        return Finding(
            Kind.ODOMETER_BACKWARDS,
            profile.vehicle_id,
            cur.time,
            f"{Kind.ODOMETER_BACKWARDS}:{cur.id}",
            {
                "unit": unit,
                "previous_reading": a,
                "previous_time": prev.time.isoformat(),
                "previous_refuel": prev.id,
                "reading": b,
                "difference": _r(b - a),
            },
            cur.id,
        )
    if motion is None:
        return None
    tracked = (
        motion.engine_hours(prev.t, cur.t)
        if profile.uses_hours
        else motion.distance_km(prev.t, cur.t)
    )
    if tracked is None:
        return None
    delta = b - a
    tolerance = max(
        config.odometer_tolerance_km if unit == "km" else config.odometer_tolerance_km / 10,
        tracked * config.odometer_tolerance_pct / 100,
    )
    if abs(delta - tracked) <= tolerance:
        return None
    return Finding(
        Kind.ODOMETER_MISMATCH,
        profile.vehicle_id,
        cur.time,
        f"{Kind.ODOMETER_MISMATCH}:{cur.id}",
        {
            "unit": unit,
            "previous_reading": a,
            "previous_refuel": prev.id,
            "reading": b,
            "meter_difference": _r(delta),
            "telematics": _r(tracked),
            "tolerance": _r(tolerance),
        },
        cur.id,
    )


def check_fuel_drops(
    drops: Iterable[FuelDrop], profile: VehicleProfile, config: AnomalyConfig
) -> list[Finding]:
    findings = []
    for drop in drops:
        pct = drop.before_pct - drop.after_pct
        litres = pct / 100 * profile.tank_capacity_l if profile.tank_capacity_l else None
        if litres is not None and litres < config.fuel_drop_min_l:
            continue
        findings.append(
            Finding(
                Kind.FUEL_DROP,
                profile.vehicle_id,
                datetime.fromtimestamp(drop.t, UTC),
                f"{Kind.FUEL_DROP}:{int(drop.t)}",
                {
                    "before_pct": _r(drop.before_pct),
                    "after_pct": _r(drop.after_pct),
                    "drop_pct": _r(pct),
                    "litres": _r(litres),
                    "lat": round(drop.lat, 6),
                    "lon": round(drop.lon, 6),
                },
            )
        )
    return findings


# --- Consumption ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consumption:
    litres: float
    usage: float  # km or engine hours over which ``litres`` were burnt
    value: float  # l/100 km, or l/h
    unit: str  # "l/100km" or "l/h"
    method: str  # "full_to_full", "period" or "meter"
    refuels: int


def consumption(
    refuels: Sequence[Refuel],
    *,
    uses_hours: bool,
    motion: Motion | None = None,
    period: tuple[float, float] | None = None,
    config: AnomalyConfig = AnomalyConfig(),  # noqa: B008 - frozen, shared safely
) -> Consumption | None:
    """Consumption over the refuels of one period, or None when there is too little to judge.

    Full-to-full is the honest method: the litres that refill the tank after the first full fill
    are exactly what was burnt since. Telematics usage is preferred; meter readings on the
    refuels stand in where there is no tracker. Without two full fills, all the period's litres
    over all its usage is the rough fallback.
    """
    ordered = sorted(refuels, key=lambda r: r.t)
    unit = "l/h" if uses_hours else "l/100km"
    minimum = config.min_period_hours if uses_hours else config.min_period_km

    def result(litres: float, usage: float | None, method: str, count: int) -> Consumption | None:
        if usage is None or usage < minimum or litres <= 0:
            return None
        value = litres / usage if uses_hours else litres / usage * 100
        return Consumption(round(litres, 2), round(usage, 2), round(value, 2), unit, method, count)

    full = [i for i, r in enumerate(ordered) if r.full_tank]
    if len(full) >= 2:
        first, last = ordered[full[0]], ordered[full[-1]]
        burnt = sum(r.litres for r in ordered[full[0] + 1 : full[-1] + 1])
        count = full[-1] - full[0]
        if motion is not None:
            tracked = (
                motion.engine_hours(first.t, last.t)
                if uses_hours
                else motion.distance_km(first.t, last.t)
            )
            found = result(burnt, tracked, "full_to_full", count)
            if found is not None:
                return found
        found = result(burnt, _meter_between(first, last, uses_hours), "meter", count)
        if found is not None:
            return found
    if motion is not None and period is not None and ordered:
        tracked = motion.engine_hours(*period) if uses_hours else motion.distance_km(*period)
        found = result(sum(r.litres for r in ordered), tracked, "period", len(ordered))
        if found is not None:
            return found
    readings = [r for r in ordered if (r.engine_hours if uses_hours else r.odometer_km) is not None]
    if len(readings) >= 2:
        # Litres after the first reading were burnt over the distance to the last one.
        start = ordered.index(readings[0])
        end = ordered.index(readings[-1])
        burnt = sum(r.litres for r in ordered[start + 1 : end + 1])
        return result(
            burnt, _meter_between(readings[0], readings[-1], uses_hours), "meter", end - start
        )
    return None


def check_consumption(
    current: Consumption | None,
    profile: VehicleProfile,
    history: Sequence[float],
    *,
    period_key: str,
    occurred_at: datetime,
    config: AnomalyConfig,
) -> list[Finding]:
    if current is None:
        return []
    findings = []
    limit = config.consumption_tolerance_pct
    if profile.norm:
        off = (current.value - profile.norm) / profile.norm * 100
        if abs(off) > limit:
            findings.append(
                Finding(
                    Kind.CONSUMPTION_NORM,
                    profile.vehicle_id,
                    occurred_at,
                    f"{Kind.CONSUMPTION_NORM}:{period_key}",
                    {
                        "value": current.value,
                        "unit": current.unit,
                        "norm": profile.norm,
                        "off_pct": _r(off),
                        "limit_pct": limit,
                        "litres": current.litres,
                        "usage": current.usage,
                        "method": current.method,
                        "period": period_key,
                    },
                )
            )
    past = [v for v in history if v and v > 0]
    if len(past) >= config.history_min_periods:
        baseline = statistics.median(past)
        off = (current.value - baseline) / baseline * 100
        if abs(off) > limit:
            findings.append(
                Finding(
                    Kind.CONSUMPTION_HISTORY,
                    profile.vehicle_id,
                    occurred_at,
                    f"{Kind.CONSUMPTION_HISTORY}:{period_key}",
                    {
                        "value": current.value,
                        "unit": current.unit,
                        "baseline": round(baseline, 2),
                        "history": [round(v, 2) for v in past],
                        "off_pct": _r(off),
                        "limit_pct": limit,
                        "period": period_key,
                    },
                )
            )
    return findings


# --- Everything for one vehicle -------------------------------------------------------------------


def check_vehicle(
    profile: VehicleProfile,
    refuels: Sequence[Refuel],
    motion: Motion | None,
    *,
    period: tuple[float, float],
    previous: Refuel | None = None,
    history: Sequence[float] = (),
    period_key: str = "",
    config: AnomalyConfig = AnomalyConfig(),  # noqa: B008 - frozen, shared safely
) -> list[Finding]:
    """All checks for one vehicle over one period.

    ``refuels`` are those inside ``period`` (POSIX seconds); ``previous`` is the last one before
    it, so the first refuel of the period is compared with something.
    """
    findings: list[Finding] = []
    ordered = sorted(refuels, key=lambda r: (r.t, r.id))
    before = previous
    last_reading = previous
    for refuel in ordered:
        found = check_capacity(refuel, profile, config)
        if found:
            findings.append(found)
        if motion is not None:
            findings.extend(check_location(refuel, profile, motion, config))
        if before is not None:
            found = check_too_soon(before, refuel, profile, motion, config)
            if found:
                findings.append(found)
        reading = refuel.engine_hours if profile.uses_hours else refuel.odometer_km
        if reading is not None:
            if last_reading is not None:
                found = check_meter(last_reading, refuel, profile, motion, config)
                if found:
                    findings.append(found)
            last_reading = refuel
        before = refuel
    if motion is not None:
        findings.extend(check_fuel_drops(motion.fuel_drops(*period), profile, config))
    current = consumption(
        ordered, uses_hours=profile.uses_hours, motion=motion, period=period, config=config
    )
    findings.extend(
        check_consumption(
            current,
            profile,
            history,
            period_key=period_key or f"{int(period[0])}-{int(period[1])}",
            # The last second of the period, so it never falls into the next one.
            occurred_at=datetime.fromtimestamp(period[1] - 1, UTC),
            config=config,
        )
    )
    return findings


# --- In-memory motion ---------------------------------------------------------------------------


@dataclass
class Track:
    """One vehicle's fixes as arrays, sorted by time: a :class:`Motion` for tests and benchmarks.

    Distance is the sum of great-circle steps between consecutive fixes, skipping steps across
    gaps longer than ``max_gap_s`` (the route there is unknown); engine hours are the time with
    ignition on (or, without ignition data, moving) between fixes no further apart than the gap.
    """

    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed: np.ndarray | None = None
    ignition: np.ndarray | None = None
    drops: list[FuelDrop] = field(default_factory=list)
    max_gap_s: float = 300.0
    _cum_m: np.ndarray | None = None
    _cum_h: np.ndarray | None = None

    def _cumulative(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cum_m is None:
            lat, lon = np.radians(self.lat), np.radians(self.lon)
            dp, dl = np.diff(lat), np.diff(lon)
            a = np.sin(dp / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(dl / 2) ** 2
            steps = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
            dt = np.diff(self.t)
            ok = dt <= self.max_gap_s
            steps = np.where(ok, steps, 0.0)
            if self.ignition is not None:
                on = self.ignition[:-1].astype(bool)
            elif self.speed is not None:
                on = self.speed[:-1] > 1.0
            else:
                on = steps > 0
            hours = np.where(ok & on, dt, 0.0) / 3600.0
            self._cum_m = np.concatenate(([0.0], np.cumsum(steps)))
            self._cum_h = np.concatenate(([0.0], np.cumsum(hours)))
        assert self._cum_h is not None
        return self._cum_m, self._cum_h

    def _at(self, cum: np.ndarray, t: float) -> float:
        return float(np.interp(t, self.t, cum))

    def distance_km(self, t0: float, t1: float) -> float | None:
        if len(self.t) < 2 or t1 <= self.t[0] or t0 >= self.t[-1]:
            return None
        cum, _ = self._cumulative()
        return (self._at(cum, t1) - self._at(cum, t0)) / 1000.0

    def engine_hours(self, t0: float, t1: float) -> float | None:
        if len(self.t) < 2 or t1 <= self.t[0] or t0 >= self.t[-1]:
            return None
        _, cum = self._cumulative()
        return self._at(cum, t1) - self._at(cum, t0)

    def fixes_near(self, t: float, window_s: float) -> list[Fix]:
        lo = int(np.searchsorted(self.t, t - window_s, side="left"))
        hi = int(np.searchsorted(self.t, t + window_s, side="right"))
        speeds = self.speed
        return [
            Fix(
                float(self.t[i]),
                float(self.lat[i]),
                float(self.lon[i]),
                None if speeds is None else float(speeds[i]),
            )
            for i in range(lo, hi)
        ]

    def fuel_drops(self, t0: float, t1: float) -> list[FuelDrop]:
        times = [d.t for d in self.drops]
        return self.drops[bisect_left(times, t0) : bisect_right(times, t1)]
