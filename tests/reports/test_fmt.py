"""Numbers, dates and periods as Greek and English readers expect them (expected values written
by hand)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from reports.generators import fmt
from reports.generators.document import MONEY, NUMBER, PERCENT, Column
from reports.generators.fmt import Period, previous_month


@pytest.mark.parametrize(
    ("value", "decimals", "language", "expected"),
    [
        (1234567.891, 2, "el", "1.234.567,89"),
        (1234567.891, 2, "en", "1,234,567.89"),
        (Decimal("0.005"), 2, "el", "0,01"),  # half up, as on an invoice
        (-0.04, 1, "el", "0,0"),  # never "-0,0"
        (999.95, 1, "en", "1,000.0"),
        (12, 0, "el", "12"),
        (None, 2, "el", "—"),
    ],
)
def test_number_uses_the_readers_separators(value, decimals, language, expected):
    assert fmt.number(value, decimals, language) == expected


def test_percent_is_signed():
    assert fmt.percent(12.34, "el") == "+12,3%"
    assert fmt.percent(-5, "en") == "-5.0%"
    assert fmt.percent(0.01, "en") == "0.0%"


def test_cells_format_by_column_kind():
    assert fmt.cell(Decimal("1500.5"), Column("a", "A", MONEY), "el") == "1.500,50"
    assert fmt.cell(3.14159, Column("a", "A", NUMBER, 1), "en") == "3.1"
    assert fmt.cell(-7.25, Column("a", "A", PERCENT, 1), "el") == "-7,3%"
    assert fmt.cell(date(2025, 2, 3), Column("a", "A"), "en") == "03/02/2025"
    assert fmt.cell(None, Column("a", "A", MONEY), "el") == "—"


def test_times_are_shown_in_athens():
    # EET is UTC+2 in winter, EEST UTC+3 in summer.
    assert fmt.clock(datetime(2025, 2, 3, 6, 30, tzinfo=UTC), "Europe/Athens") == "08:30"
    assert fmt.clock(datetime(2025, 7, 1, 6, 30, tzinfo=UTC), "Europe/Athens") == "09:30"
    assert fmt.moment(datetime(2025, 2, 28, 22, 30, tzinfo=UTC), "Europe/Athens") == (
        "01/03/2025 00:30"
    )


def test_duration_in_hours_and_minutes():
    assert fmt.duration(3900) == "1:05"
    assert fmt.duration(59) == "0:01"
    assert fmt.duration(None) == "—"


def test_period_of_a_month_and_of_a_day():
    feb = Period.parse("2025-02")
    assert (feb.start, feb.end, feb.key, feb.is_day) == (
        date(2025, 2, 1),
        date(2025, 2, 28),
        "2025-02",
        False,
    )
    assert Period.parse("2024-02").end == date(2024, 2, 29)
    day = Period.parse("2025-02-14")
    assert day.is_day and day.key == "2025-02-14" and day.days == [date(2025, 2, 14)]
    assert feb.label() == "February 2025"
    assert day.label() == "14/02/2025"


@pytest.mark.parametrize("text", ["2025-13", "Feb 2025", "", "2025-02-30", "1999-01"])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValueError):
        Period.parse(text)


def test_previous_month_and_the_twelve_months_before():
    assert previous_month(date(2025, 3, 1)) == Period.month(2025, 2)
    assert previous_month(date(2025, 1, 15)) == Period.month(2024, 12)
    months = Period.month(2025, 2).previous_months(12)
    assert months[0] == date(2024, 3, 1) and months[-1] == date(2025, 2, 1)
    assert len(months) == 12
    assert Period.month(2025, 12).next_month() == Period.month(2026, 1)
