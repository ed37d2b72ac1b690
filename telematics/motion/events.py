"""Event rules over one device's time-ordered samples.

Each :class:`MotionEvent` carries its time, position, type and the facts that triggered it (the
limit and the speed reached, how long the engine idled, which geofence...). Rules with a
duration (overspeed, idling) emit once the episode is over, so the facts are complete; a single
noisy fix never makes an episode long enough.

The rules get, for every sample, what the trip detector made of it (parked, moving...) and the
geofences that contain it. While a vehicle is parked its geofence membership is that of the
place where it came to rest, so a receiver wandering across a fence line does not make a storm
of enter/exit events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from telematics.motion.geofence import GeofenceIndex
from telematics.motion.localdays import LocalDays
from telematics.motion.records import Sample, from_epoch
from telematics.motion.trips import SampleStatus, TripDetector
from telematics.motion.workcalendar import WorkingCalendar

__all__ = ["EventConfig", "EventDetector", "EventType", "MotionEvent"]


class EventType(StrEnum):
    IGNITION_ON = "ignition_on"
    IGNITION_OFF = "ignition_off"
    OVERSPEED = "overspeed"
    IDLING = "idling"
    GEOFENCE_ENTER = "geofence_enter"
    GEOFENCE_EXIT = "geofence_exit"
    BOUNDARY_EXIT = "boundary_exit"  # left the municipality
    BOUNDARY_ENTER = "boundary_enter"  # came back
    AFTER_HOURS = "after_hours"  # used outside the department's working hours
    TRACKER_OFFLINE = "tracker_offline"
    TRACKER_ONLINE = "tracker_online"
    DRIVER_CHANGE = "driver_change"
    FUEL_DROP = "fuel_drop"  # fuel level fell while parked


@dataclass(frozen=True, slots=True)
class MotionEvent:
    type: EventType
    time: datetime
    latitude: float
    longitude: float
    facts: dict[str, Any]
    emitted_at: datetime


@dataclass(frozen=True)
class EventConfig:
    # The vehicle category's limit; geofences may set lower (or higher) limits of their own.
    speed_limit_kmh: float | None = None
    overspeed_tolerance_kmh: float = 0.0
    overspeed_min_duration_s: float = 20.0
    idle_min_duration_s: float = 300.0
    idle_speed_kmh: float = 5.0
    # A geofence crossing counts once this many consecutive fixes agree on it.
    geofence_confirm_samples: int = 2
    offline_after_s: float = 1800.0
    # Many trackers report rarely, or not at all, while parked with the ignition off.
    offline_after_parked_s: float = 24 * 3600.0
    # fuel_level is percent of the tank (see protocols/base.py).
    fuel_drop_threshold: float = 8.0
    # Fuel sloshes and sensors settle after a stop; readings this early in a stop are ignored.
    fuel_settle_s: float = 120.0
    calendar: WorkingCalendar | None = None
    # Minutes outside working hours a trip needs before it is use outside hours, so a driver
    # coming back five minutes late is not flagged.
    after_hours_min_s: float = 600.0
    max_gap_s: float = 900.0
    fence_names: dict[Any, str] = field(default_factory=dict)


class EventDetector:
    def __init__(
        self,
        config: EventConfig | None = None,
        geofences: GeofenceIndex | None = None,
        timezone: str = "Europe/Athens",
    ) -> None:
        self.config = config or EventConfig()
        self.geofences = geofences or GeofenceIndex()
        self.days = LocalDays(self.config.calendar.timezone if self.config.calendar else timezone)
        self.emitted: list[MotionEvent] = []
        self._now = 0.0
        self.last: Sample | None = None
        self.last_status = SampleStatus.PARKED
        self.ignition: bool | None = None
        self.driver: str | None = None
        # overspeed episode: [start sample, last over sample, max speed, limit, fence id]
        self.over: list[Any] | None = None
        # idling episode: [start sample, last sample]
        self.idle: list[Sample] | None = None
        self.inside: frozenset[Any] | None = None
        self.fence_pending: dict[Any, list[Any]] = {}  # id -> [count, t, lat, lon]
        self.fuel_stop: float | None = None  # start time of the stop the fuel watch is for
        self.fuel_ref: float | None = None
        self.fuel_window: list[float] = []
        self.after_trip: float | None = None  # start of the valid trip being watched
        self.after_outside = 0.0
        self.after_first: list[float] | None = None  # [t, lat, lon] first outside moment
        self.after_done = False
        self._work_day: int | None = None
        self._work_intervals: list[tuple[float, float]] = []

    # ----------------------------------------------------------------------------------------

    def _emit(
        self, kind: EventType, t: float, lat: float, lon: float, facts: dict[str, Any]
    ) -> None:
        self.emitted.append(
            MotionEvent(
                type=kind,
                time=from_epoch(t),
                latitude=lat,
                longitude=lon,
                facts=facts,
                emitted_at=from_epoch(self._now),
            )
        )

    def step(
        self,
        s: Sample,
        status: int,
        membership: frozenset[Any],
        detector: TripDetector,
    ) -> None:
        config = self.config
        self._now = s.t
        last = self.last
        gap = last is not None and s.t - last.t > config.max_gap_s
        if last is not None:
            self._offline(last, s)
        if gap:
            self._close_over()
            self._close_idle()
        self._ignition(s)
        self._driver(s)
        self._overspeed(s, membership, status)
        self._idling(s, status)
        self._geofences(s, membership)
        self._fuel(s, status, detector)
        self._after_hours(s, detector)
        self.last = s
        self.last_status = status

    # ----------------------------------------------------------------------------------------

    def _offline(self, last: Sample, s: Sample) -> None:
        config = self.config
        parked = self.last_status in (SampleStatus.PARKED, SampleStatus.PARKED_PENDING)
        threshold = (
            config.offline_after_parked_s
            if parked and last.ignition is not True
            else config.offline_after_s
        )
        silence = s.t - last.t
        if silence > threshold:
            self._emit(
                EventType.TRACKER_OFFLINE,
                last.t + threshold,
                last.lat,
                last.lon,
                {"last_fix_time": from_epoch(last.t).isoformat(), "threshold_s": threshold},
            )
            self._emit(
                EventType.TRACKER_ONLINE,
                s.t,
                s.lat,
                s.lon,
                {"silent_s": silence},
            )

    def _ignition(self, s: Sample) -> None:
        if s.ignition is None:
            return
        if self.ignition is not None and s.ignition != self.ignition:
            kind = EventType.IGNITION_ON if s.ignition else EventType.IGNITION_OFF
            self._emit(kind, s.t, s.lat, s.lon, {"odometer": s.odometer})
        self.ignition = s.ignition

    def _driver(self, s: Sample) -> None:
        if s.driver is None or s.driver == self.driver:
            return
        facts = {"previous": self.driver, "driver": s.driver}
        self._emit(EventType.DRIVER_CHANGE, s.t, s.lat, s.lon, facts)
        self.driver = s.driver

    def _limit_for(self, membership: frozenset[Any]) -> tuple[float | None, Any]:
        limit = self.config.speed_limit_kmh
        source = None
        fences = self.geofences.fences
        for fid in membership:
            fence_limit = fences[fid].speed_limit_kmh
            if fence_limit is not None and (limit is None or fence_limit < limit):
                limit = fence_limit
                source = fid
        return limit, source

    def _overspeed(self, s: Sample, membership: frozenset[Any], status: int) -> None:
        speed = s.speed
        if speed is None or status == SampleStatus.PARKED:
            self._close_over()
            return
        limit, source = self._limit_for(membership)
        if limit is None or speed <= limit + self.config.overspeed_tolerance_kmh:
            self._close_over()
            return
        over = self.over
        if over is None:
            self.over = [s, s, speed, limit, source]
            return
        over[1] = s
        if speed > over[2]:
            over[2] = speed
        if limit < over[3]:
            over[3] = limit
            over[4] = source

    def _close_over(self) -> None:
        over = self.over
        if over is None:
            return
        self.over = None
        start, end, top, limit, source = over
        duration = end.t - start.t
        if duration < self.config.overspeed_min_duration_s:
            return
        facts: dict[str, Any] = {
            "max_speed_kmh": round(top, 1),
            "limit_kmh": limit,
            "duration_s": duration,
            "end_time": from_epoch(end.t).isoformat(),
        }
        if source is not None:
            facts["geofence"] = source
            facts["geofence_name"] = self.geofences.fences[source].name
        self._emit(EventType.OVERSPEED, start.t, start.lat, start.lon, facts)

    def _idling(self, s: Sample, status: int) -> None:
        still = (
            s.speed < self.config.idle_speed_kmh
            if s.speed is not None
            else status != SampleStatus.MOVING
        )
        if s.ignition is True and still:
            if self.idle is None:
                self.idle = [s, s]
            else:
                self.idle[1] = s
            return
        if self.idle is not None:
            # The episode lasted until this fix showed motion or the key turned off.
            self.idle[1] = s
            self._close_idle()

    def _close_idle(self) -> None:
        idle = self.idle
        if idle is None:
            return
        self.idle = None
        start, end = idle
        duration = end.t - start.t
        if duration >= self.config.idle_min_duration_s:
            self._emit(
                EventType.IDLING,
                start.t,
                start.lat,
                start.lon,
                {"duration_s": duration, "end_time": from_epoch(end.t).isoformat()},
            )

    def _geofences(self, s: Sample, membership: frozenset[Any]) -> None:
        inside = self.inside
        if inside is None:
            self.inside = membership
            return
        if membership == inside and not self.fence_pending:
            return
        changed = membership ^ inside
        pending = self.fence_pending
        for fid in list(pending):
            if fid not in changed:
                del pending[fid]
        if not changed:
            return
        confirmed: list[Any] = []
        for fid in changed:
            row = pending.get(fid)
            if row is None:
                row = pending[fid] = [0, s.t, s.lat, s.lon]
            row[0] += 1
            if row[0] >= self.config.geofence_confirm_samples:
                confirmed.append(fid)
        if not confirmed:
            return
        new_inside = set(inside)
        fences = self.geofences.fences
        boundary = self.geofences.boundary_ids
        for fid in sorted(confirmed, key=lambda f: (pending[f][1], str(f))):
            _count, t, lat, lon = pending.pop(fid)
            entering = fid in membership
            if fid in boundary:
                kind = EventType.BOUNDARY_ENTER if entering else EventType.BOUNDARY_EXIT
            else:
                kind = EventType.GEOFENCE_ENTER if entering else EventType.GEOFENCE_EXIT
            if entering:
                new_inside.add(fid)
            else:
                new_inside.discard(fid)
            self._emit(kind, t, lat, lon, {"geofence": fid, "geofence_name": fences[fid].name})
        self.inside = frozenset(new_inside)

    def _fuel(self, s: Sample, status: int, detector: TripDetector) -> None:
        if status not in (SampleStatus.PARKED, SampleStatus.PARKED_PENDING) or s.fuel is None:
            return
        stop_start = detector.open_since()
        if stop_start != self.fuel_stop:
            self.fuel_stop = stop_start
            self.fuel_ref = None
            self.fuel_window = []
        if stop_start is None or s.t - stop_start < self.config.fuel_settle_s:
            return
        window = self.fuel_window
        window.append(s.fuel)
        if len(window) > 3:
            del window[0]
        level = sorted(window)[len(window) // 2]
        ref = self.fuel_ref
        if ref is None or level > ref:
            self.fuel_ref = level
            return
        if ref - level >= self.config.fuel_drop_threshold:
            anchor = detector.stop_anchor() or (s.lat, s.lon)
            self._emit(
                EventType.FUEL_DROP,
                s.t,
                anchor[0],
                anchor[1],
                {"before": ref, "after": level, "drop": round(ref - level, 2)},
            )
            self.fuel_ref = level

    def _working(self, t: float) -> bool:
        calendar = self.config.calendar
        assert calendar is not None
        day, _start, _end = self.days.day_of(t)
        key = day.toordinal()
        if key != self._work_day:
            self._work_day = key
            self._work_intervals = calendar.working_intervals(day)
        return any(a <= t < b for a, b in self._work_intervals)

    def _after_hours(self, s: Sample, detector: TripDetector) -> None:
        calendar = self.config.calendar
        if calendar is None:
            return
        trip = detector.trip if detector.moving_mode else None
        if trip is None or not trip.valid:
            self.after_trip = None
            return
        if self.after_trip != trip.start.t:
            # A trip just became real: count what it already spent outside working hours.
            self.after_trip = trip.start.t
            self.after_done = False
            intervals = calendar.outside_intervals(trip.start.t, s.t, self.days)
            self.after_outside = sum(b - a for a, b in intervals)
            self.after_first = None
            if intervals:
                first = intervals[0][0]
                lat, lon = _position_at(trip.points, first)
                self.after_first = [first, lat, lon]
        elif not self.after_done and self.last is not None and not self._working(s.t):
            self.after_outside += s.t - max(self.last.t, trip.start.t)
            if self.after_first is None:
                self.after_first = [self.last.t, self.last.lat, self.last.lon]
        if (
            not self.after_done
            and self.after_first is not None
            and self.after_outside >= self.config.after_hours_min_s
        ):
            self.after_done = True
            t, lat, lon = self.after_first
            self._emit(
                EventType.AFTER_HOURS,
                t,
                lat,
                lon,
                {
                    "trip_start": from_epoch(trip.start.t).isoformat(),
                    "outside_s": round(self.after_outside, 1),
                },
            )

    def flush(self) -> None:
        """Nothing is pending across batches except open episodes, which stay open."""

    # ----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        over = self.over
        return {
            "last": self.last.to_list() if self.last else None,
            "last_status": self.last_status,
            "ignition": self.ignition,
            "driver": self.driver,
            "over": [over[0].to_list(), over[1].to_list(), over[2], over[3], over[4]]
            if over
            else None,
            "idle": [i.to_list() for i in self.idle] if self.idle else None,
            "inside": sorted(self.inside, key=str) if self.inside is not None else None,
            "fence_pending": [[k, *v] for k, v in self.fence_pending.items()],
            "fuel": [self.fuel_stop, self.fuel_ref, self.fuel_window],
            "after": [self.after_trip, self.after_outside, self.after_first, self.after_done],
        }

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        config: EventConfig | None = None,
        geofences: GeofenceIndex | None = None,
        timezone: str = "Europe/Athens",
    ) -> EventDetector:
        self = cls(config, geofences, timezone)
        self.last = Sample.from_list(data["last"]) if data.get("last") else None
        self.last_status = int(data.get("last_status", SampleStatus.PARKED))
        self.ignition = data.get("ignition")
        self.driver = data.get("driver")
        over = data.get("over")
        if over:
            self.over = [Sample.from_list(over[0]), Sample.from_list(over[1]), *over[2:]]
        idle = data.get("idle")
        self.idle = [Sample.from_list(i) for i in idle] if idle else None
        known = self.geofences.fences
        inside = data.get("inside")
        # Geofences deleted since the checkpoint are forgotten rather than "exited".
        self.inside = frozenset(f for f in inside if f in known) if inside is not None else None
        self.fence_pending = {
            row[0]: list(row[1:]) for row in data["fence_pending"] if row[0] in known
        }
        self.fuel_stop, self.fuel_ref, self.fuel_window = data["fuel"]
        self.fuel_window = list(self.fuel_window)
        self.after_trip, self.after_outside, self.after_first, self.after_done = data["after"]
        return self


def _position_at(points: list[list[float]], t: float) -> tuple[float, float]:
    """Track position at or just before ``t`` (points are [t, lat, lon], time-ordered)."""
    best = points[0]
    for p in points:
        if p[0] > t:
            break
        best = p
    return best[1], best[2]
