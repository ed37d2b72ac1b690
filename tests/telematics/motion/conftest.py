"""Synthetic fix sequences for the motion tests.

Positions are laid out in metres east/north of a point in Chania and converted with a flat-earth
factor; over the few kilometres used here that agrees with great-circle distance to better than
0.01 %, so expected distances are computed by hand in metres.

Parked jitter is a fixed, repeating pattern (not random) so that a test can say exactly how far
the receiver wandered.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from telematics.motion.records import MotionFix

LAT0 = 35.5138
LON0 = 24.0180
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180.0
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(LAT0))

# Metres (east, north): a receiver wandering within about 12 m of where it lies.
JITTER = [(0, 0), (6, -4), (-5, 7), (9, 3), (-8, -6), (3, 10), (-10, 2), (4, -9)]


def to_latlon(east: float, north: float) -> tuple[float, float]:
    return LAT0 + north / M_PER_DEG_LAT, LON0 + east / M_PER_DEG_LON


class FixBuilder:
    """Builds a time-ordered list of :class:`MotionFix`, one call per phase of a day."""

    def __init__(self, start: datetime | None = None, interval: float = 10.0) -> None:
        self.t = start or datetime(2025, 3, 4, 8, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Athens
        self.x = 0.0
        self.y = 0.0
        self.interval = interval
        self.fixes: list[MotionFix] = []
        self.ignition: bool | None = None
        self.driver: str | None = None
        self.fuel: float | None = None
        self.odometer: float | None = None
        self.hours: float | None = None

    def _fix(self, east: float, north: float, speed: float | None, **kw: object) -> MotionFix:
        lat, lon = to_latlon(east, north)
        fields = {
            "ignition": self.ignition,
            "driver_tag": self.driver,
            "fuel_level": self.fuel,
            "odometer": self.odometer,
            "engine_hours": self.hours,
            "server_time": self.t,
        }
        fields.update(kw)
        return MotionFix(fix_time=self.t, latitude=lat, longitude=lon, speed_kmh=speed, **fields)

    def emit(self, east: float, north: float, speed: float | None, **kw: object) -> MotionFix:
        fix = self._fix(east, north, speed, **kw)
        self.fixes.append(fix)
        return fix

    def park(
        self,
        seconds: float,
        *,
        jitter: float = 0.0,
        speed: float | None = 0.0,
        interval: float | None = None,
    ) -> FixBuilder:
        """Stand still for ``seconds`` (one fix per interval, the first right away)."""
        step = interval or self.interval
        n = int(seconds // step)
        for i in range(n):
            jx, jy = JITTER[i % len(JITTER)]
            self.emit(self.x + jx * jitter, self.y + jy * jitter, speed)
            self.t += timedelta(seconds=step)
        return self

    def drive(
        self,
        east: float,
        north: float,
        speed_kmh: float,
        *,
        report_speed: bool = True,
        interval: float | None = None,
    ) -> FixBuilder:
        """Drive in a straight line at constant speed: ``n`` fixes one interval apart, the
        first one interval's travel from the start, the last at the destination."""
        step = interval or self.interval
        length = math.hypot(east, north)
        seconds = length / (speed_kmh / 3.6)
        n = max(1, round(seconds / step))
        x0, y0 = self.x, self.y
        for i in range(1, n + 1):
            f = i / n
            self.emit(x0 + east * f, y0 + north * f, speed_kmh if report_speed else None)
            self.t += timedelta(seconds=step)
        self.x, self.y = x0 + east, y0 + north
        return self

    def silence(self, seconds: float) -> FixBuilder:
        self.t += timedelta(seconds=seconds)
        return self

    def move_to(self, east: float, north: float) -> FixBuilder:
        """Teleport (what the server sees after a gap)."""
        self.x, self.y = east, north
        return self

    def set(self, **kw: object) -> FixBuilder:
        for key, value in kw.items():
            setattr(self, key, value)
        return self


@pytest.fixture
def build():
    return FixBuilder


@pytest.fixture
def with_time():
    def _with_time(fix: MotionFix, when: datetime) -> MotionFix:
        return replace(fix, fix_time=when)

    return _with_time
