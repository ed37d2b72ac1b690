from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from telematics.motion.workcalendar import WorkingCalendar, greek_public_holidays, orthodox_easter

# Published dates of Orthodox Easter Sunday.
KNOWN_EASTERS = [
    date(2000, 4, 30),
    date(2010, 4, 4),
    date(2015, 4, 12),
    date(2020, 4, 19),
    date(2021, 5, 2),
    date(2022, 4, 24),
    date(2023, 4, 16),
    date(2024, 5, 5),
    date(2025, 4, 20),
    date(2026, 4, 12),
    date(2027, 5, 2),
]


@pytest.mark.parametrize("easter", KNOWN_EASTERS, ids=str)
def test_orthodox_easter_matches_published_dates(easter: date) -> None:
    assert orthodox_easter(easter.year) == easter


def test_orthodox_easter_outside_supported_years_is_refused() -> None:
    with pytest.raises(ValueError):
        orthodox_easter(2100)


def test_movable_holidays_of_2025() -> None:
    days = greek_public_holidays(2025)
    assert days[date(2025, 3, 3)] == "Clean Monday"
    assert days[date(2025, 4, 18)] == "Good Friday"
    assert days[date(2025, 4, 21)] == "Easter Monday"
    assert days[date(2025, 6, 9)] == "Whit Monday"


def test_movable_holidays_of_2024() -> None:
    days = greek_public_holidays(2024)
    assert days[date(2024, 3, 18)] == "Clean Monday"
    assert days[date(2024, 5, 3)] == "Good Friday"
    assert days[date(2024, 5, 6)] == "Easter Monday"
    assert days[date(2024, 6, 24)] == "Whit Monday"


def test_fixed_holidays() -> None:
    days = greek_public_holidays(2026)
    for month, day in [(1, 1), (1, 6), (3, 25), (5, 1), (8, 15), (10, 28), (12, 25), (12, 26)]:
        assert date(2026, month, day) in days


def test_weekday_hours_weekends_and_holidays() -> None:
    calendar = WorkingCalendar()
    # Athens is UTC+2 in winter: 07:00-15:00 local is 05:00-13:00 UTC.
    assert calendar.is_working_time(datetime(2025, 3, 4, 5, 0, tzinfo=UTC))
    assert not calendar.is_working_time(datetime(2025, 3, 4, 4, 59, tzinfo=UTC))
    assert not calendar.is_working_time(datetime(2025, 3, 4, 13, 0, tzinfo=UTC))
    assert not calendar.is_working_time(datetime(2025, 3, 8, 9, 0, tzinfo=UTC))  # Saturday
    assert not calendar.is_working_time(datetime(2025, 3, 3, 9, 0, tzinfo=UTC))  # Clean Monday


def test_municipal_extra_holiday_and_extra_working_day() -> None:
    calendar = WorkingCalendar(
        extra_holidays=frozenset({date(2025, 11, 14)}),
        extra_working_days=frozenset({date(2025, 3, 8)}),
    )
    assert not calendar.is_working_time(datetime(2025, 11, 14, 8, 0, tzinfo=UTC))
    assert calendar.is_working_time(datetime(2025, 3, 8, 8, 0, tzinfo=UTC))


def test_outside_time_over_a_weekend_with_the_clock_change() -> None:
    # Friday 28 March 2025 12:00 UTC to Monday 31 March 05:00 UTC. Working: Friday until
    # 13:00 UTC (15:00 EET) and Monday from 04:00 UTC (07:00 EEST, summer time began on
    # Sunday). Outside: Friday 13:00 UTC to Monday 04:00 UTC = 63 hours.
    calendar = WorkingCalendar()
    t0 = datetime(2025, 3, 28, 12, 0, tzinfo=UTC).timestamp()
    t1 = datetime(2025, 3, 31, 5, 0, tzinfo=UTC).timestamp()
    assert calendar.outside_seconds(t0, t1) == 63 * 3600
    intervals = calendar.outside_intervals(t0, t1)
    assert intervals[0][0] == datetime(2025, 3, 28, 13, 0, tzinfo=UTC).timestamp()
    assert intervals[-1][1] == datetime(2025, 3, 31, 4, 0, tzinfo=UTC).timestamp()


def test_split_shifts() -> None:
    shifts = ((time(6), time(10)), (time(17), time(21)))
    calendar = WorkingCalendar(week=(shifts,) * 5 + ((), ()))
    # Tuesday 4 March 2025, 10:00-17:00 local (08:00-15:00 UTC) is the break.
    t0 = datetime(2025, 3, 4, 7, 0, tzinfo=UTC).timestamp()
    t1 = datetime(2025, 3, 4, 16, 0, tzinfo=UTC).timestamp()
    assert calendar.outside_seconds(t0, t1) == 7 * 3600


def test_shift_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(week=(((time(22), time(6)),),) + ((),) * 6)
