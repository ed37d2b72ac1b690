"""Position filters: decide, fix by fix, which fixes are fit to store and to move a vehicle.

Every rejection has a :class:`RejectReason` so the gateway can count it and log
``gateway.fix_rejected device=... reason=...``; nothing is dropped silently.

Two uses share one class:

* the gateway keeps a :class:`FixFilter` per connected device and checks fixes in arrival order;
* the motion pipeline runs its own :class:`FixFilter` over stored positions in time order, as a
  second line of defence (data imported around the gateway, filters changed since).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from telematics.motion.geodesy import EARTH_RADIUS_M, haversine_m
from telematics.motion.records import FixLike

_METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0

__all__ = [
    "FilterConfig",
    "FixFilter",
    "RejectReason",
    "check_fix",
    "filter_fixes",
]


class RejectReason(StrEnum):
    INVALID = "invalid"  # the receiver itself flagged the fix as not valid (no GPS lock)
    OUT_OF_RANGE = "out_of_range"  # NaN, infinite or beyond ±90/±180
    NULL_ISLAND = "null_island"  # (0, 0): a receiver with no fix that still sends zeros
    DUPLICATE = "duplicate"  # same fix time as a fix already accepted
    FUTURE = "future"  # fix time too far ahead of the server's clock
    TOO_OLD = "too_old"  # 1970 clocks, GPS week-number rollover, a stale RTC
    JUMP = "jump"  # implies a speed no vehicle of the fleet reaches


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """Each check can be switched off (``False`` or ``None``)."""

    reject_invalid: bool = True
    reject_null_island: bool = True
    # Degrees: a fix this close to (0, 0) is a receiver fault. 0.01° is about a kilometre; no
    # municipal fleet works in the Gulf of Guinea.
    null_island_tolerance_deg: float = 0.01
    reject_duplicates: bool = True
    # How many recent fix times are remembered for duplicate detection in arrival order.
    duplicate_memory: int = 256
    max_future: timedelta | None = timedelta(minutes=5)
    # Absolute floor: clocks reset to 1970 or 1980, and GPS week rollovers (1024 weeks back).
    earliest_fix_time: datetime | None = datetime(2015, 1, 1, tzinfo=UTC)
    # Relative floor against the server's receive time: a buffered upload older than this is a
    # stale clock rather than history.
    max_age: timedelta | None = timedelta(days=120)
    max_speed_kmh: float | None = 250.0
    # A jump shorter than this is never called impossible: at one fix per second GPS noise alone
    # gives "speeds" of hundreds of km/h over a few metres.
    jump_min_distance_m: float = 300.0
    # After this many consecutive jump rejections that agree with each other, the receiver is
    # believed and the old anchor dropped; otherwise one bad accepted fix would block a device.
    reanchor_after: int = 4


def _coordinates_ok(lat: Any, lon: Any) -> bool:
    try:
        lat_f = float(lat)
        lon_f = float(lon)
    except (TypeError, ValueError):
        return False
    return (
        math.isfinite(lat_f)
        and math.isfinite(lon_f)
        and -90.0 <= lat_f <= 90.0
        and -180.0 <= lon_f <= 180.0
    )


def check_fix(
    fix: FixLike, config: FilterConfig, server_time: datetime | None = None
) -> RejectReason | None:
    """The checks that need no history: validity, coordinates, clock."""
    if not _coordinates_ok(fix.latitude, fix.longitude):
        return RejectReason.OUT_OF_RANGE
    if config.reject_invalid and not fix.valid:
        return RejectReason.INVALID
    if (
        config.reject_null_island
        and abs(fix.latitude) < config.null_island_tolerance_deg
        and abs(fix.longitude) < config.null_island_tolerance_deg
    ):
        return RejectReason.NULL_ISLAND
    fix_time = fix.fix_time
    if fix_time.tzinfo is None:
        # Naive times cannot be placed on the timeline; treat as a broken clock.
        return RejectReason.TOO_OLD
    if config.earliest_fix_time is not None and fix_time < config.earliest_fix_time:
        return RejectReason.TOO_OLD
    if server_time is None:
        server_time = getattr(fix, "server_time", None)
    if server_time is not None:
        if config.max_future is not None and fix_time > server_time + config.max_future:
            return RejectReason.FUTURE
        if config.max_age is not None and fix_time < server_time - config.max_age:
            return RejectReason.TOO_OLD
    return None


class FixFilter:
    """Stateful filter for one device: the static checks plus duplicates and jumps.

    ``check`` accepts or rejects one fix and remembers accepted ones. Fixes may come in any order
    (the gateway sees a tracker's buffer after its live fixes); the jump test compares with the
    last accepted fix using the absolute time difference.
    """

    __slots__ = ("config", "_last", "_recent", "_recent_set", "_streak", "_streak_last")

    def __init__(self, config: FilterConfig | None = None) -> None:
        self.config = config or FilterConfig()
        self._last: tuple[float, float, float] | None = None  # (t, lat, lon) last accepted
        self._recent: deque[float] = deque()
        self._recent_set: set[float] = set()
        self._streak = 0
        self._streak_last: tuple[float, float, float] | None = None

    def check(self, fix: FixLike, server_time: datetime | None = None) -> RejectReason | None:
        """Return ``None`` if the fix is accepted (and remember it), else the reason."""
        reason = check_fix(fix, self.config, server_time)
        if reason is not None:
            return reason
        return self.check_history(fix)

    def check_history(self, fix: FixLike) -> RejectReason | None:
        """Only the checks against earlier fixes (duplicates, jumps); for fixes that already
        passed :func:`check_fix`."""
        config = self.config
        t = fix.fix_time.timestamp()
        lat = float(fix.latitude)
        lon = float(fix.longitude)
        if config.reject_duplicates and t in self._recent_set:
            return RejectReason.DUPLICATE
        if (
            config.max_speed_kmh is not None
            and self._last is not None
            and self._is_jump(self._last, t, lat, lon)
        ):
            if self._streak_agrees(t, lat, lon):
                self._streak += 1
            else:
                self._streak = 1
            self._streak_last = (t, lat, lon)
            if self._streak < config.reanchor_after:
                return RejectReason.JUMP
            # Several fixes agree with each other and not with the anchor: the anchor was the
            # bad one (or the vehicle really was carried, e.g. on a ferry). Move on.
        self._accept(t, lat, lon)
        return None

    def _is_jump(self, last: tuple[float, float, float], t: float, lat: float, lon: float) -> bool:
        config = self.config
        # First a bound that is never shorter than the great circle (along the meridian, then
        # along the parallel, whose length is at most that of the equator's arc): fixes metres
        # apart, nearly all of them, are settled without the trigonometry.
        if (abs(lat - last[1]) + abs(lon - last[2])) * _METRES_PER_DEGREE < (
            config.jump_min_distance_m
        ):
            return False
        distance = haversine_m(last[1], last[2], lat, lon)
        if distance < config.jump_min_distance_m:
            return False
        dt = abs(t - last[0])
        if dt <= 0.0:
            return True
        assert config.max_speed_kmh is not None
        return distance / dt * 3.6 > config.max_speed_kmh

    def _streak_agrees(self, t: float, lat: float, lon: float) -> bool:
        if self._streak_last is None:
            return False
        return not self._is_jump(self._streak_last, t, lat, lon)

    def _accept(self, t: float, lat: float, lon: float) -> None:
        self._last = (t, lat, lon)
        self._streak = 0
        self._streak_last = None
        if self.config.reject_duplicates:
            self._recent.append(t)
            self._recent_set.add(t)
            while len(self._recent) > self.config.duplicate_memory:
                self._recent_set.discard(self._recent.popleft())

    def to_dict(self) -> dict[str, Any]:
        return {
            "last": list(self._last) if self._last else None,
            "recent": list(self._recent),
            "streak": self._streak,
            "streak_last": list(self._streak_last) if self._streak_last else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: FilterConfig | None = None) -> FixFilter:
        self = cls(config)
        last = data.get("last")
        self._last = (last[0], last[1], last[2]) if last else None
        self._recent = deque(data.get("recent", ()))
        self._recent_set = set(self._recent)
        self._streak = int(data.get("streak", 0))
        streak_last = data.get("streak_last")
        self._streak_last = (
            (streak_last[0], streak_last[1], streak_last[2]) if streak_last else None
        )
        return self


def filter_fixes(
    fixes: Iterable[FixLike],
    config: FilterConfig | None = None,
    server_time: datetime | None = None,
) -> tuple[list[FixLike], list[tuple[FixLike, RejectReason]]]:
    """Filter a batch with a fresh :class:`FixFilter`; returns (accepted, rejected with reason)."""
    flt = FixFilter(config)
    accepted: list[FixLike] = []
    rejected: list[tuple[FixLike, RejectReason]] = []
    for fix in fixes:
        reason = flt.check(fix, server_time)
        if reason is None:
            accepted.append(fix)
        else:
            rejected.append((fix, reason))
    return accepted, rejected
