"""The motion pipeline for one device: filters, trips and stops, distance, engine hours, events.

Incremental processing and exact rebuilds
=========================================

:class:`MotionProcessor` is deterministic: the same state plus the same fixes always give the
same outputs. Its whole state serialises to JSON (:meth:`MotionProcessor.snapshot`), and it
offers a :class:`Checkpoint` after every confirmed stop and after the last fix of each run.

Every output (trip, stop, event, engine session, day meter) carries ``emitted_at``: the fix time
of the sample whose processing finalised it. So, for a checkpoint taken after the fix at time C,
the outputs emitted at or before C are exactly those of a run over the fixes up to C, and the
outputs emitted after C depend only on the checkpoint's state and the fixes after C.

That gives one rule for everything (:func:`motion_update`): given the earliest fix time T among
newly stored positions, take the latest checkpoint *before* T, delete the outputs emitted after
it, and reprocess the stored fixes after it. New fixes after everything processed so far simply
continue from the live checkpoint; a late upload rebuilds from the last confirmed stop before
it, which rebuilds exactly the trips, stops and events it can affect; processing the same batch
twice produces the same outputs again.

The storage behind it is the :class:`MotionStore` protocol: the Django side implements it on
the database, :class:`InMemoryMotionStore` on lists (tests, benchmarks, replays).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from itertools import islice
from typing import Any, Protocol

from telematics.motion.events import EventConfig, EventDetector, MotionEvent
from telematics.motion.filters import FilterConfig, FixFilter, RejectReason, check_fix
from telematics.motion.geofence import GeofenceIndex
from telematics.motion.localdays import LocalDays
from telematics.motion.odometer import (
    EngineMeter,
    EngineSessionDraft,
    OdometerConfig,
    RoadDistance,
)
from telematics.motion.records import FixLike, Sample, from_epoch, sample_from_fix
from telematics.motion.trips import SampleStatus, Stop, Trip, TripConfig, TripDetector

__all__ = [
    "Checkpoint",
    "DayMeter",
    "EngineSession",
    "InMemoryMotionStore",
    "MotionConfig",
    "MotionProcessor",
    "MotionResult",
    "MotionStore",
    "OrderReason",
    "motion_update",
]

log = logging.getLogger(__name__)

STATE_VERSION = 1
_CHUNK = 4096


class OrderReason(StrEnum):
    """Why the pipeline skipped a fix that the position filters had nothing against."""

    OUT_OF_ORDER = "out_of_order"  # older than a fix already processed: the caller must rebuild
    SAME_TIME = "same_time"  # same fix time as the previous fix


@dataclass(frozen=True)
class MotionConfig:
    filters: FilterConfig = field(default_factory=FilterConfig)
    trips: TripConfig = field(default_factory=TripConfig)
    odometer: OdometerConfig = field(default_factory=OdometerConfig)
    events: EventConfig = field(default_factory=EventConfig)


@dataclass(frozen=True, slots=True)
class EngineSession:
    start_time: datetime
    end_time: datetime
    hours: float  # from ignition time
    device_hours: float | None  # from the device's engine-hour meter, when it reports one
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    emitted_at: datetime
    closed: bool = True


@dataclass(frozen=True, slots=True)
class DayMeter:
    """First and last device meter readings seen on one local day (machinery reads these)."""

    day: date
    odometer_first: float | None
    odometer_last: float | None
    engine_hours_first: float | None
    engine_hours_last: float | None
    emitted_at: datetime
    closed: bool = True


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The processor's state right after the fix at ``time`` (JSON-serialisable ``state``)."""

    time: datetime
    state: dict[str, Any]


Output = Trip | Stop | MotionEvent | EngineSession | DayMeter


@dataclass
class MotionResult:
    trips: list[Trip] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)
    events: list[MotionEvent] = field(default_factory=list)
    engine_sessions: list[EngineSession] = field(default_factory=list)
    day_meters: list[DayMeter] = field(default_factory=list)
    # The open trip or stop, open engine session and today's meters: replace, don't append.
    provisional: list[Output] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    rejected: list[tuple[FixLike, str]] = field(default_factory=list)
    accepted: int = 0
    # Local days whose summaries may have changed (from the first open output to the last fix).
    affected_from: datetime | None = None
    affected_to: datetime | None = None
    # Set by motion_update: the checkpoint the run restarted from (None: from the beginning).
    rebuilt_from: datetime | None = None

    def closed_outputs(self) -> list[Output]:
        return [
            *self.trips,
            *self.stops,
            *self.events,
            *self.engine_sessions,
            *self.day_meters,
        ]


def _session(draft: EngineSessionDraft, now: float, closed: bool) -> EngineSession:
    device = None
    if draft.device_hours_start is not None and draft.device_hours_end is not None:
        diff = draft.device_hours_end - draft.device_hours_start
        if diff >= 0:
            device = diff
    return EngineSession(
        start_time=from_epoch(draft.start),
        end_time=from_epoch(draft.end),
        hours=draft.seconds / 3600.0,
        device_hours=device,
        start_lat=draft.lat_start,
        start_lon=draft.lon_start,
        end_lat=draft.lat_end,
        end_lon=draft.lon_end,
        emitted_at=from_epoch(now),
        closed=closed,
    )


def _json_copy(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, allow_nan=False))


class MotionProcessor:
    """Filters + trip detector + engine meter + day meters + event rules, for one device."""

    def __init__(
        self,
        config: MotionConfig | None = None,
        geofences: GeofenceIndex | None = None,
        state: dict[str, Any] | None = None,
        road_distance: RoadDistance | None = None,
    ) -> None:
        """``road_distance`` (optional, e.g. the router's shortest road distance) measures
        silences while driving along the streets and dates an arrival after a silence along
        them; it must be deterministic for rebuilds to be exact."""
        self.config = config or MotionConfig()
        self.geofences = geofences or GeofenceIndex()
        cfg = self.config
        tz = cfg.trips.timezone
        self.days = LocalDays(tz)
        if state is not None and state.get("version") != STATE_VERSION:
            raise ValueError(f"checkpoint version {state.get('version')} is not {STATE_VERSION}")
        if state is not None:
            # The caller's checkpoint must stay as it is: it may be restored again later.
            state = _json_copy(state)
        if state is None:
            self.filter = FixFilter(cfg.filters)
            self.detector = TripDetector(cfg.trips, cfg.odometer, road_distance)
            self.engine = EngineMeter(cfg.odometer)
            self.events = EventDetector(cfg.events, self.geofences, tz)
            self.last_t: float | None = None
            # [day ordinal, odometer first, odometer last, hours first, hours last]
            self.meter: list[Any] | None = None
            self.ref_membership: list[Any] | None = None  # [lat, lon, ids]
        else:
            self.filter = FixFilter.from_dict(state["filter"], cfg.filters)
            self.detector = TripDetector.from_dict(
                state["detector"], cfg.trips, cfg.odometer, road_distance
            )
            self.engine = EngineMeter.from_dict(state["engine"], cfg.odometer)
            self.events = EventDetector.from_dict(state["events"], cfg.events, self.geofences, tz)
            self.last_t = state["last_t"]
            self.meter = state["meter"]
            self.ref_membership = None

    # ----------------------------------------------------------------------------------------

    def snapshot(self, last: Sample | None = None) -> dict[str, Any]:
        """The processor's whole state as JSON-ready data.

        The filter is not serialised as is: it ran ahead over the chunk. Its state right after
        accepting ``last`` is fully determined by ``last`` (time-ordered input leaves no older
        duplicates to remember and no jump streak after an acceptance).
        """
        if last is not None:
            flt: dict[str, Any] = {
                "last": [last.t, last.lat, last.lon],
                "recent": [last.t],
                "streak": 0,
                "streak_last": None,
            }
        else:
            flt = self.filter.to_dict()
        # A deep copy through JSON: the live state keeps changing after the snapshot, and what
        # the store receives must be plain JSON.
        return _json_copy(
            {
                "version": STATE_VERSION,
                "filter": flt,
                "detector": self.detector.to_dict(),
                "engine": self.engine.to_dict(),
                "events": self.events.to_dict(),
                "last_t": self.last_t,
                "meter": self.meter,
            }
        )

    def open_since(self) -> float | None:
        candidates = [self.detector.open_since()]
        if self.engine.on_since is not None:
            candidates.append(self.engine.on_since.t)
        if self.meter is not None:
            candidates.append(self.days.bounds(date.fromordinal(self.meter[0]))[0])
        for episode in (self.events.over, self.events.idle):
            if episode:
                candidates.append(episode[0].t)
        candidates.extend(row[1] for row in self.events.fence_pending.values())
        values = [c for c in candidates if c is not None]
        return min(values) if values else None

    # ----------------------------------------------------------------------------------------

    def process(self, fixes: Iterable[FixLike]) -> MotionResult:
        """Process fixes in ascending fix time. Older or same-time fixes are skipped and listed
        in ``rejected`` (``out_of_order`` means the caller should have rebuilt instead)."""
        result = MotionResult()
        since = self.open_since()
        result.affected_from = from_epoch(since) if since is not None else None
        detector = self.detector
        events = self.events
        iterator: Iterator[FixLike] = iter(fixes)
        last_sample: Sample | None = None
        while True:
            chunk = list(islice(iterator, _CHUNK))
            if not chunk:
                break
            samples = self._accept(chunk, result)
            if not samples:
                continue
            if result.affected_from is None:
                result.affected_from = from_epoch(samples[0].t)
            memberships = self.geofences.containing_many(
                [s.lat for s in samples], [s.lon for s in samples]
            )
            for s, membership in zip(samples, memberships, strict=True):
                status = detector.step(s)
                if status == SampleStatus.PARKED:
                    membership = self._parked_membership(membership)
                events.step(s, status, membership, detector)
                closed = self.engine.step(s)
                if closed is not None:
                    result.engine_sessions.append(_session(closed, s.t, True))
                self._meters(s, result)
                if detector.emitted:
                    for out in detector.emitted:
                        if isinstance(out, Trip):
                            result.trips.append(out)
                        else:
                            result.stops.append(out)
                    detector.emitted = []
                if events.emitted:
                    result.events.extend(events.emitted)
                    events.emitted = []
                self.last_t = s.t
                if detector.stop_confirmed:
                    result.checkpoints.append(Checkpoint(from_epoch(s.t), self.snapshot(s)))
                last_sample = s
            result.accepted += len(samples)
        if last_sample is not None:
            result.affected_to = from_epoch(last_sample.t)
            if not result.checkpoints or result.checkpoints[-1].time != result.affected_to:
                result.checkpoints.append(
                    Checkpoint(result.affected_to, self.snapshot(last_sample))
                )
        result.provisional = self.provisional()
        return result

    def _accept(self, chunk: list[FixLike], result: MotionResult) -> list[Sample]:
        flt = self.filter
        config = self.config.filters
        samples: list[Sample] = []
        last_t = self.last_t
        for fix in chunk:
            reason: str | None = check_fix(fix, config)
            if reason is None:
                t = fix.fix_time.timestamp()
                if last_t is not None and t <= last_t:
                    reason = OrderReason.SAME_TIME if t == last_t else OrderReason.OUT_OF_ORDER
                else:
                    reason = flt.check_history(fix)
                    if reason is None:
                        samples.append(sample_from_fix(fix))
                        last_t = t
            if reason is not None:
                result.rejected.append((fix, str(reason)))
                if reason in (OrderReason.OUT_OF_ORDER, RejectReason.JUMP):
                    log.info(
                        "motion.fix_skipped reason=%s fix_time=%s", reason, fix.fix_time.isoformat()
                    )
        return samples

    def _parked_membership(self, membership: frozenset[Any]) -> frozenset[Any]:
        anchor = self.detector.stop_anchor()
        if anchor is None or not self.geofences.fences:
            return membership
        cached = self.ref_membership
        if cached is None or cached[0] != anchor[0] or cached[1] != anchor[1]:
            ids = self.geofences.containing(anchor[0], anchor[1])
            self.ref_membership = cached = [anchor[0], anchor[1], ids]
        return cached[2]

    def _meters(self, s: Sample, result: MotionResult) -> None:
        if s.odometer is None and s.engine_hours is None:
            return
        day, _a, _b = self.days.day_of(s.t)
        key = day.toordinal()
        meter = self.meter
        if meter is not None and meter[0] != key:
            result.day_meters.append(self._day_meter(meter, s.t, True))
            meter = None
        if meter is None:
            meter = self.meter = [key, None, None, None, None]
        if s.odometer is not None:
            if meter[1] is None:
                meter[1] = s.odometer
            meter[2] = s.odometer
        if s.engine_hours is not None:
            if meter[3] is None:
                meter[3] = s.engine_hours
            meter[4] = s.engine_hours

    @staticmethod
    def _day_meter(meter: list[Any], now: float, closed: bool) -> DayMeter:
        return DayMeter(
            day=date.fromordinal(meter[0]),
            odometer_first=meter[1],
            odometer_last=meter[2],
            engine_hours_first=meter[3],
            engine_hours_last=meter[4],
            emitted_at=from_epoch(now),
            closed=closed,
        )

    def provisional(self) -> list[Output]:
        out: list[Output] = list(self.detector.provisional())
        if self.last_t is None:
            return out
        draft = self.engine.open_session()
        if draft is not None:
            out.append(_session(draft, self.last_t, False))
        if self.meter is not None:
            out.append(self._day_meter(self.meter, self.last_t, False))
        return out


# ----------------------------------------------------------------------------------------------
# storage and the update rule


class MotionStore(Protocol):
    """Where one device's positions and motion outputs live."""

    def load_fixes(self, after: datetime | None) -> Iterable[FixLike]:
        """Stored fixes with fix time strictly after ``after`` (all if None), ascending."""
        ...

    def latest_checkpoint(self, before: datetime | None) -> Checkpoint | None:
        """The latest checkpoint whose time is strictly before ``before`` (latest if None)."""
        ...

    def replace_after(self, after: datetime | None, result: MotionResult) -> None:
        """In one transaction: delete outputs emitted after ``after`` (all if None), delete
        checkpoints after it, replace all provisional outputs, then save ``result``."""
        ...


def motion_update(
    store: MotionStore,
    config: MotionConfig | None = None,
    geofences: GeofenceIndex | None = None,
    *,
    earliest_new: datetime | None,
    road_distance: RoadDistance | None = None,
) -> MotionResult:
    """Bring a device's motion outputs up to date after new positions were stored.

    ``earliest_new`` is the smallest fix time among the positions stored since the last update
    (``None`` rebuilds everything from scratch). See the module docstring for why this is exact.
    """
    checkpoint = store.latest_checkpoint(earliest_new) if earliest_new is not None else None
    state = checkpoint.state if checkpoint is not None else None
    after = checkpoint.time if checkpoint is not None else None
    try:
        processor = MotionProcessor(config, geofences, state, road_distance)
    except (ValueError, KeyError, TypeError) as exc:
        # A checkpoint from another version of this code: rebuild from the beginning.
        log.warning("motion.checkpoint_unusable time=%s error=%s", after, exc)
        processor = MotionProcessor(config, geofences, road_distance=road_distance)
        after = None
    result = processor.process(store.load_fixes(after))
    result.rebuilt_from = after
    store.replace_after(after, result)
    return result


class InMemoryMotionStore:
    """A :class:`MotionStore` on Python lists, for one device."""

    def __init__(self) -> None:
        self.fixes: dict[float, FixLike] = {}
        self._times: list[float] = []  # sorted keys of ``fixes``
        self.outputs: list[Output] = []
        self.provisional: list[Output] = []
        self.checkpoints: list[Checkpoint] = []

    def add_fixes(self, fixes: Iterable[FixLike]) -> datetime | None:
        """Store fixes (unique on fix time, first one wins, as the database does); returns the
        earliest fix time among those actually added."""
        earliest: datetime | None = None
        for fix in fixes:
            key = fix.fix_time.timestamp()
            if key in self.fixes:
                continue
            self.fixes[key] = fix
            if self._times and key < self._times[-1]:
                bisect.insort(self._times, key)
            else:
                self._times.append(key)
            if earliest is None or fix.fix_time < earliest:
                earliest = fix.fix_time
        return earliest

    def load_fixes(self, after: datetime | None) -> Iterable[FixLike]:
        start = 0 if after is None else bisect.bisect_right(self._times, after.timestamp())
        fixes = self.fixes
        return [fixes[k] for k in self._times[start:]]

    def latest_checkpoint(self, before: datetime | None) -> Checkpoint | None:
        best: Checkpoint | None = None
        for cp in self.checkpoints:
            if (before is None or cp.time < before) and (best is None or cp.time > best.time):
                best = cp
        return best

    def replace_after(self, after: datetime | None, result: MotionResult) -> None:
        if after is None:
            self.outputs = []
            self.checkpoints = []
        else:
            self.outputs = [o for o in self.outputs if o.emitted_at <= after]
            self.checkpoints = [c for c in self.checkpoints if c.time <= after]
        self.outputs.extend(result.closed_outputs())
        self.checkpoints.extend(result.checkpoints)
        self.provisional = list(result.provisional)

    def trips(self, include_open: bool = False) -> list[Trip]:
        items = [o for o in self.outputs if isinstance(o, Trip)]
        if include_open:
            items += [o for o in self.provisional if isinstance(o, Trip)]
        return sorted(items, key=lambda o: o.start_time)

    def stops(self, include_open: bool = False) -> list[Stop]:
        items = [o for o in self.outputs if isinstance(o, Stop)]
        if include_open:
            items += [o for o in self.provisional if isinstance(o, Stop)]
        return sorted(items, key=lambda o: o.start_time)

    def events(self) -> list[MotionEvent]:
        return sorted(
            (o for o in self.outputs if isinstance(o, MotionEvent)),
            key=lambda e: (e.time, e.type),
        )

    def engine_sessions(self, include_open: bool = False) -> list[EngineSession]:
        items = [o for o in self.outputs if isinstance(o, EngineSession)]
        if include_open:
            items += [o for o in self.provisional if isinstance(o, EngineSession)]
        return sorted(items, key=lambda o: o.start_time)

    def day_meters(self, include_open: bool = False) -> list[DayMeter]:
        items = [o for o in self.outputs if isinstance(o, DayMeter)]
        if include_open:
            items += [o for o in self.provisional if isinstance(o, DayMeter)]
        return sorted(items, key=lambda o: o.day)
