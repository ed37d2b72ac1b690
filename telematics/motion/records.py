"""The fix record the motion layer reads, and its compact internal form.

:class:`FixLike` matches :class:`telematics.protocols.base.Fix` and the stored position rows by
field name, so decoders' fixes and database rows can be passed in unchanged. :class:`MotionFix`
is a small frozen record for callers that build fixes themselves (tests, benchmarks, replays).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = ["FixLike", "MotionFix", "Sample", "from_epoch", "sample_from_fix"]

# A reported speed above this is a decoder or receiver fault, not a vehicle: treat it as unknown.
_MAX_PLAUSIBLE_REPORTED_SPEED_KMH = 400.0


class FixLike(Protocol):
    """What the motion layer needs from a fix (a decoder's Fix or a stored position)."""

    fix_time: datetime
    latitude: float
    longitude: float
    valid: bool
    speed_kmh: float | None
    ignition: bool | None
    odometer: float | None
    engine_hours: float | None
    fuel_level: float | None
    driver_tag: str | None
    course: float | None


@dataclass(frozen=True, slots=True)
class MotionFix:
    """A fix as the motion layer sees it. Units as in base.Fix: km/h, metres, hours, percent."""

    fix_time: datetime
    latitude: float
    longitude: float
    valid: bool = True
    speed_kmh: float | None = None
    ignition: bool | None = None
    odometer: float | None = None
    engine_hours: float | None = None
    fuel_level: float | None = None
    driver_tag: str | None = None
    server_time: datetime | None = None
    course: float | None = None  # degrees clockwise from north


def from_epoch(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class Sample:
    """A fix reduced to plain floats: the unit of work of the hot loops.

    Times are POSIX seconds; datetimes are only rebuilt for outputs. Values that cannot be true
    (negative or infinite speed, NaN odometer) become ``None`` here, once, so no state machine
    ever sees them.
    """

    __slots__ = (
        "t",
        "lat",
        "lon",
        "speed",
        "ignition",
        "odometer",
        "engine_hours",
        "fuel",
        "driver",
        "course",
    )

    def __init__(
        self,
        t: float,
        lat: float,
        lon: float,
        speed: float | None = None,
        ignition: bool | None = None,
        odometer: float | None = None,
        engine_hours: float | None = None,
        fuel: float | None = None,
        driver: str | None = None,
        course: float | None = None,
    ) -> None:
        self.t = t
        self.lat = lat
        self.lon = lon
        self.speed = speed
        self.ignition = ignition
        self.odometer = odometer
        self.engine_hours = engine_hours
        self.fuel = fuel
        self.driver = driver
        self.course = course

    def to_list(self) -> list[Any]:
        return [
            self.t,
            self.lat,
            self.lon,
            self.speed,
            self.ignition,
            self.odometer,
            self.engine_hours,
            self.fuel,
            self.driver,
            self.course,
        ]

    @classmethod
    def from_list(cls, data: list[Any]) -> Sample:
        return cls(*data)

    def __repr__(self) -> str:
        return f"Sample(t={self.t}, lat={self.lat:.6f}, lon={self.lon:.6f}, v={self.speed})"


def sample_from_fix(fix: FixLike) -> Sample:
    speed = _finite_or_none(getattr(fix, "speed_kmh", None))
    if speed is not None and not (0.0 <= speed <= _MAX_PLAUSIBLE_REPORTED_SPEED_KMH):
        speed = None
    odometer = _finite_or_none(getattr(fix, "odometer", None))
    if odometer is not None and odometer < 0:
        odometer = None
    hours = _finite_or_none(getattr(fix, "engine_hours", None))
    if hours is not None and hours < 0:
        hours = None
    fuel = _finite_or_none(getattr(fix, "fuel_level", None))
    if fuel is not None and fuel < 0:
        fuel = None
    ignition = getattr(fix, "ignition", None)
    driver = getattr(fix, "driver_tag", None)
    course = _finite_or_none(getattr(fix, "course", None))
    if course is not None:
        course %= 360.0
    return Sample(
        fix.fix_time.timestamp(),
        float(fix.latitude),
        float(fix.longitude),
        speed,
        None if ignition is None else bool(ignition),
        odometer,
        hours,
        fuel,
        str(driver) if driver not in (None, "") else None,
        course,
    )
