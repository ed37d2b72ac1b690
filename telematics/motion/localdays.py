"""Local calendar days as POSIX-second intervals, for splitting trips and stops at midnight."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["LocalDays"]


class LocalDays:
    """Maps instants to local dates in one time zone; remembers the last day looked up.

    Days are not always 24 h long (the daylight-saving changes in March and October), so each
    day's bounds come from the zone, never from adding 86 400 s.
    """

    __slots__ = ("tz", "_start", "_end", "_date")

    def __init__(self, tz: str | ZoneInfo) -> None:
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self._start = 0.0
        self._end = -1.0
        self._date = date(1970, 1, 1)

    def bounds(self, day: date) -> tuple[float, float]:
        start = datetime.combine(day, time(0), self.tz).astimezone(UTC).timestamp()
        end = (
            datetime.combine(day + timedelta(days=1), time(0), self.tz).astimezone(UTC).timestamp()
        )
        return start, end

    def day_of(self, t: float) -> tuple[date, float, float]:
        """(local date, day start, day end) for the instant ``t``."""
        if self._start <= t < self._end:
            return self._date, self._start, self._end
        day = datetime.fromtimestamp(t, self.tz).date()
        self._start, self._end = self.bounds(day)
        self._date = day
        return day, self._start, self._end

    def split(self, t0: float, t1: float) -> Iterator[tuple[date, float, float]]:
        """Pieces (local date, piece start, piece end) of the interval [t0, t1]."""
        t = t0
        while True:
            day, _start, end = self.day_of(t)
            if t1 <= end:
                yield day, t, t1
                return
            yield day, t, end
            t = end
