"""Numbers, dates and periods as a Greek or English reader expects them. Pure module.

Greek writes 1.234,56 and English 1,234.56; both read dates as dd/mm/yyyy (the office's
convention, in English too) and times on the 24-hour clock.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from reports.generators.document import (
    DATE,
    DATETIME,
    MONEY,
    NUMBER,
    PERCENT,
    TIME,
    Column,
    Translate,
    Value,
    gettext_noop,
    identity,
)

DASH = "—"

MONTHS = (
    gettext_noop("January"),
    gettext_noop("February"),
    gettext_noop("March"),
    gettext_noop("April"),
    gettext_noop("May"),
    gettext_noop("June"),
    gettext_noop("July"),
    gettext_noop("August"),
    gettext_noop("September"),
    gettext_noop("October"),
    gettext_noop("November"),
    gettext_noop("December"),
)
# Three-letter month names for chart axes. Django's catalog translates "Jan." style abbreviations
# (django.utils.dates.MONTHS_AP) with a context, so these are ours.
MONTHS_SHORT = tuple(
    gettext_noop(m)
    for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
)


def _separators(language: str) -> tuple[str, str]:
    return (",", ".") if language.startswith("en") else (".", ",")


def number(value: float | Decimal | int | None, decimals: int = 0, language: str = "el") -> str:
    if value is None:
        return DASH
    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0,0"
    text = f"{rounded:,.{decimals}f}"
    thousands, point = _separators(language)
    return text.replace(",", "\0").replace(".", point).replace("\0", thousands)


def money(value: float | Decimal | None, language: str = "el") -> str:
    return number(value, 2, language)


def percent(value: float | None, language: str = "el", decimals: int = 1) -> str:
    if value is None:
        return DASH
    text = number(value, decimals, language)
    sign = "+" if Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals)) > 0 else ""
    return f"{sign}{text}%"


def day(value: date | None) -> str:
    return DASH if value is None else f"{value:%d/%m/%Y}"


def local(value: datetime, tz: str) -> datetime:
    return value.astimezone(ZoneInfo(tz))


def clock(value: datetime | None, tz: str) -> str:
    return DASH if value is None else f"{local(value, tz):%H:%M}"


def moment(value: datetime | None, tz: str) -> str:
    return DASH if value is None else f"{local(value, tz):%d/%m/%Y %H:%M}"


def duration(seconds: float | None) -> str:
    """Hours and minutes, "7:05"."""
    if seconds is None:
        return DASH
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


def cell(value: Value, column: Column, language: str, tz: str = "Europe/Athens") -> str:
    """One table cell as text."""
    if value is None:
        return DASH
    if isinstance(value, str):
        return value
    if column.kind == MONEY:
        return money(value, language)  # type: ignore[arg-type]
    if column.kind == PERCENT:
        return percent(float(value), language, column.decimals or 1)  # type: ignore[arg-type]
    if column.kind == NUMBER:
        return number(value, column.decimals, language)  # type: ignore[arg-type]
    if column.kind == TIME and isinstance(value, datetime):
        return clock(value, tz)
    if column.kind == DATETIME and isinstance(value, datetime):
        return moment(value, tz)
    if column.kind == DATE and isinstance(value, datetime):
        return day(local(value, tz).date())
    if isinstance(value, date):
        return day(value)
    return str(value)


# --- Periods --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar month or a single day; ``end`` is inclusive."""

    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> Period:
        """``YYYY-MM`` (a month) or ``YYYY-MM-DD`` (a day); ValueError otherwise."""
        text = (text or "").strip()
        if len(text) == 7:
            year, month = (int(p) for p in text.split("-"))
            if not 1 <= month <= 12 or not 2000 <= year <= 2100:
                raise ValueError(f"not a month: {text!r}")
            return cls.month(year, month)
        if len(text) == 10:
            d = date.fromisoformat(text)
            return cls(d, d)
        raise ValueError(f"expected YYYY-MM or YYYY-MM-DD, got {text!r}")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        last = calendar.monthrange(year, month)[1]
        return cls(date(year, month, 1), date(year, month, last))

    @property
    def is_day(self) -> bool:
        return self.start == self.end

    @property
    def key(self) -> str:
        return self.start.isoformat() if self.is_day else f"{self.start:%Y-%m}"

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def label(self, tr: Translate = identity) -> str:
        if self.is_day:
            return day(self.start)
        if self.start.day == 1 and self.end.day == calendar.monthrange(*self._ym)[1]:
            return f"{tr(MONTHS[self.start.month - 1])} {self.start.year}"
        return f"{day(self.start)} – {day(self.end)}"

    @property
    def _ym(self) -> tuple[int, int]:
        return self.start.year, self.start.month

    def previous_months(self, count: int) -> list[date]:
        """First days of ``count`` months ending with this period's month, oldest first."""
        months = []
        first = self.start.replace(day=1)
        for _ in range(count):
            months.append(first)
            first = (first - timedelta(days=1)).replace(day=1)
        return months[::-1]

    def next_month(self) -> Period:
        first = (self.end.replace(day=1) + timedelta(days=32)).replace(day=1)
        return Period.month(first.year, first.month)


def previous_month(today: date) -> Period:
    last = today.replace(day=1) - timedelta(days=1)
    return Period.month(last.year, last.month)
