"""Working calendars: weekly hours per department, Greek public holidays, Orthodox Easter.

The fixed-date national holidays and the movable ones tied to Orthodox Easter are those observed
by the Greek public sector: New Year, Epiphany, Clean Monday (Easter − 48 days), 25 March, Good
Friday (Easter − 2), Easter Monday (Easter + 1), 1 May, Whit Monday / Αγίου Πνεύματος
(Easter + 50), 15 August, 28 October, Christmas and 26 December. A municipality adds its own
(the local patron saint's day) and any moved date (1 May has been moved when it fell in Holy
Week) through ``extra_holidays``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from telematics.motion.localdays import LocalDays

__all__ = ["WorkingCalendar", "greek_public_holidays", "orthodox_easter"]


def orthodox_easter(year: int) -> date:
    """Orthodox Easter Sunday (Gregorian date) for 1900-2099.

    Meeus' algorithm for the Julian-calendar Easter, then the 13-day Julian-to-Gregorian offset,
    which holds from 1 March 1900 to 28 February 2100.
    """
    if not 1900 <= year <= 2099:
        raise ValueError(f"orthodox_easter supports 1900-2099, not {year}")
    a = year % 4
    b = year % 7
    c = year % 19
    d = (19 * c + 15) % 30
    e = (2 * a + 4 * b - d + 34) % 7
    month = (d + e + 114) // 31
    day = (d + e + 114) % 31 + 1
    return date(year, month, day) + timedelta(days=13)


@lru_cache(maxsize=64)
def greek_public_holidays(year: int) -> dict[date, str]:
    """Public-sector holidays of one year, date -> English name."""
    easter = orthodox_easter(year)
    days = {
        date(year, 1, 1): "New Year's Day",
        date(year, 1, 6): "Epiphany",
        easter - timedelta(days=48): "Clean Monday",
        date(year, 3, 25): "Independence Day",
        easter - timedelta(days=2): "Good Friday",
        easter: "Easter Sunday",
        easter + timedelta(days=1): "Easter Monday",
        date(year, 5, 1): "Labour Day",
        easter + timedelta(days=50): "Whit Monday",
        date(year, 8, 15): "Dormition of the Mother of God",
        date(year, 10, 28): "Ohi Day",
        date(year, 12, 25): "Christmas Day",
        date(year, 12, 26): "Synaxis of the Mother of God",
    }
    return days


Shift = tuple[time, time]

_WEEKDAYS_7_TO_15: tuple[tuple[Shift, ...], ...] = (
    ((time(7), time(15)),),
    ((time(7), time(15)),),
    ((time(7), time(15)),),
    ((time(7), time(15)),),
    ((time(7), time(15)),),
    (),
    (),
)


@dataclass(frozen=True)
class WorkingCalendar:
    """When a department's vehicles are expected to be in use.

    ``week`` has seven entries, Monday first, each a tuple of (start, end) shifts in local time
    (end after start; a night shift is two shifts on two days). Holidays have no working time.
    """

    week: tuple[tuple[Shift, ...], ...] = _WEEKDAYS_7_TO_15
    timezone: str = "Europe/Athens"
    public_holidays: bool = True
    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    # Dates that are working days despite the rules (a Saturday for a festival's clean-up).
    extra_working_days: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a working week needs seven entries, Monday first")
        for shifts in self.week:
            for start, end in shifts:
                if not start < end:
                    raise ValueError(f"shift {start}-{end} must end after it starts")

    def is_holiday(self, day: date) -> bool:
        if day in self.extra_working_days:
            return False
        if day in self.extra_holidays:
            return True
        return self.public_holidays and day in greek_public_holidays(day.year)

    def shifts_on(self, day: date) -> tuple[Shift, ...]:
        if self.is_holiday(day):
            return ()
        shifts = self.week[day.weekday()]
        if not shifts and day in self.extra_working_days:
            # An extra working day on a day with no hours of its own works Monday's hours.
            return self.week[0]
        return shifts

    def working_intervals(self, day: date) -> list[tuple[float, float]]:
        """Working time of one local day, as POSIX-second intervals."""
        tz = ZoneInfo(self.timezone)
        return [
            (
                datetime.combine(day, start, tz).timestamp(),
                datetime.combine(day, end, tz).timestamp(),
            )
            for start, end in self.shifts_on(day)
        ]

    def is_working_time(self, when: datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.timezone))
        t = local.time()
        return any(start <= t < end for start, end in self.shifts_on(local.date()))

    def outside_intervals(
        self, t0: float, t1: float, days: LocalDays | None = None
    ) -> list[tuple[float, float]]:
        """The parts of [t0, t1] (POSIX seconds) that fall outside working time."""
        days = days or LocalDays(self.timezone)
        out: list[tuple[float, float]] = []
        for day, p0, p1 in days.split(t0, t1):
            cursor = p0
            for w0, w1 in sorted(self.working_intervals(day)):
                if w1 <= cursor or w0 >= p1:
                    continue
                if w0 > cursor:
                    out.append((cursor, w0))
                cursor = max(cursor, w1)
            if cursor < p1:
                out.append((cursor, p1))
        return out

    def outside_seconds(self, t0: float, t1: float, days: LocalDays | None = None) -> float:
        return sum(b - a for a, b in self.outside_intervals(t0, t1, days))


def holidays_between(start: date, end: date, calendar: WorkingCalendar) -> Iterable[date]:
    """Holiday dates from ``start`` to ``end`` inclusive (for listings and reports)."""
    day = start
    while day <= end:
        if calendar.is_holiday(day):
            yield day
        day += timedelta(days=1)
