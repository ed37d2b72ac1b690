"""Daily per-vehicle summaries in the municipality's time zone.

A trip that crosses midnight counts its kilometres and times on the day each part was driven
(from the trip's ``day_parts``, which the detector splits at local midnight as it goes); it is
counted as a trip on the day it started. Stops are split the same way. A day's kilometres
also count the moves too short to be trips (across the depot yard, to the next bay), which the
detector keeps on the stop they were folded into.

Engine hours come, in order of preference, from the device's engine-hour meter, from ignition
sessions, or, for trackers with neither (phones), from the time spent in trips.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from telematics.motion.events import MotionEvent
from telematics.motion.localdays import LocalDays
from telematics.motion.pipeline import DayMeter, EngineSession
from telematics.motion.trips import Stop, Trip

__all__ = ["DailySummary", "daily_summaries", "daily_summary", "days_touched"]


@dataclass(frozen=True)
class DailySummary:
    day: date
    distance_m: float
    engine_hours: float
    engine_hours_source: str  # "device", "ignition", "trips" or "none"
    moving_s: float
    idle_s: float
    stopped_s: float
    trip_count: int
    first_movement: datetime | None
    last_movement: datetime | None
    max_speed_kmh: float
    events: dict[str, int] = field(default_factory=dict)
    odometer_start: float | None = None
    odometer_end: float | None = None


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def daily_summary(
    day: date,
    *,
    trips: Iterable[Trip],
    stops: Iterable[Stop] = (),
    events: Iterable[MotionEvent] = (),
    engine_sessions: Iterable[EngineSession] = (),
    day_meters: Iterable[DayMeter] = (),
    timezone: str = "Europe/Athens",
) -> DailySummary:
    """Summary of one local day. Pass every output that overlaps the day (more is harmless)."""
    days = LocalDays(timezone)
    d0, d1 = days.bounds(day)
    distance = moving = idle = 0.0
    top = 0.0
    first: datetime | None = None
    last: datetime | None = None
    count = 0
    trip_list = list(trips)
    for trip in trip_list:
        if d0 <= trip.start_time.timestamp() < d1:
            count += 1
        for part in trip.day_parts:
            if part.day != day:
                continue
            distance += part.distance_m
            moving += part.moving_s
            idle += part.idle_s
            top = max(top, part.max_speed_kmh)
            if first is None or part.start_time < first:
                first = part.start_time
            if last is None or part.end_time > last:
                last = part.end_time
    stop_list = list(stops)
    stopped = sum(
        seconds for stop in stop_list for part_day, seconds in stop.day_parts if part_day == day
    )
    # Moves too short to be trips still put kilometres on the vehicle.
    distance += sum(
        metres for stop in stop_list for moved_day, metres in stop.moved if moved_day == day
    )
    by_type = Counter(str(e.type) for e in events if d0 <= e.time.timestamp() < d1)

    meters = {m.day: m for m in day_meters}
    today = meters.get(day)
    yesterday = meters.get(day - timedelta(days=1))
    engine_hours = 0.0
    source = "none"
    if today is not None and today.engine_hours_last is not None:
        base = today.engine_hours_first
        if yesterday is not None and yesterday.engine_hours_last is not None:
            # Hours run between yesterday's last report and today's first belong to today too
            # (an engine running through midnight).
            base = yesterday.engine_hours_last
        if base is not None and today.engine_hours_last >= base:
            engine_hours = today.engine_hours_last - base
            source = "device"
    if source == "none":
        sessions = list(engine_sessions)
        if sessions:
            source = "ignition"
            for session in sessions:
                s0 = session.start_time.timestamp()
                s1 = session.end_time.timestamp()
                if s1 <= s0:
                    continue
                engine_hours += session.hours * _overlap(s0, s1, d0, d1) / (s1 - s0)
        elif trip_list:
            source = "trips"
            engine_hours = (moving + idle) / 3600.0
    odometer_start = today.odometer_first if today is not None else None
    odometer_end = today.odometer_last if today is not None else None
    return DailySummary(
        day=day,
        distance_m=distance,
        engine_hours=engine_hours,
        engine_hours_source=source,
        moving_s=moving,
        idle_s=idle,
        stopped_s=stopped,
        trip_count=count,
        first_movement=first,
        last_movement=last,
        max_speed_kmh=top,
        events=dict(sorted(by_type.items())),
        odometer_start=odometer_start,
        odometer_end=odometer_end,
    )


def days_touched(start: datetime, end: datetime, timezone: str = "Europe/Athens") -> list[date]:
    """Local days from ``start`` to ``end`` inclusive: the summaries an update must redo."""
    days = LocalDays(timezone)
    first = days.day_of(start.timestamp())[0]
    final = days.day_of(end.timestamp())[0]
    out = []
    day = first
    while day <= final:
        out.append(day)
        day += timedelta(days=1)
    return out


def daily_summaries(
    first_day: date,
    last_day: date,
    *,
    trips: Iterable[Trip],
    stops: Iterable[Stop] = (),
    events: Iterable[MotionEvent] = (),
    engine_sessions: Iterable[EngineSession] = (),
    day_meters: Iterable[DayMeter] = (),
    timezone: str = "Europe/Athens",
) -> list[DailySummary]:
    """Summaries for each day from ``first_day`` to ``last_day`` inclusive."""
    trip_list = list(trips)
    stop_list = list(stops)
    event_list = list(events)
    session_list = list(engine_sessions)
    meter_list = list(day_meters)
    days = LocalDays(timezone)
    out = []
    day = first_day
    while day <= last_day:
        d0, d1 = days.bounds(day)
        out.append(
            daily_summary(
                day,
                trips=[t for t in trip_list if any(p.day == day for p in t.day_parts)]
                + [t for t in trip_list if d0 <= t.start_time.timestamp() < d1 and not t.day_parts],
                stops=stop_list,
                events=event_list,
                engine_sessions=[
                    s
                    for s in session_list
                    if _overlap(s.start_time.timestamp(), s.end_time.timestamp(), d0, d1) > 0
                ],
                day_meters=meter_list,
                timezone=timezone,
            )
        )
        day += timedelta(days=1)
    return out
