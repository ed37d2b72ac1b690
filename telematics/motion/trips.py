"""Trip and stop detection: a state machine over one device's time-ordered samples.

The vehicle is either *stopped* (parked somewhere, with an anchor position) or *moving* (in a
trip). Decisions are made from positions first and speeds second, so GPS noise while parked
cannot make a trip:

* **Departure.** While stopped, a sample counts as *away* when it lies farther than
  ``stop_radius_m`` from the stop's anchor (the mean of the parked fixes). A departure needs two
  away samples, or one away sample that also reports moving speed; a single stray fix is
  ignored. With ignition wiring, fixes with the ignition off never depart. The trip starts at the
  last *still* sample (parked, slow, near the anchor) before the departure.
* **Stop.** While moving, the detector follows the current *stationary run* (a halt):
  consecutive samples within ``stop_radius_m`` of the run's first sample and no faster than
  ``creep_speed_kmh``, tolerating one stray fix. Only the time at rest counts: from the arrival,
  dated between the last moving fix and the first fix at rest by braking evenly from the
  reported speed (``2 d / v``; after a silence, when a road-distance function is given, by
  driving the road at that speed and braking at the end, and likewise for a departure before a
  silence), to the last fix at rest (creeping away does not lengthen a halt). When that
  reaches ``min_stop_duration_s`` the trip ends at the arrival and a stop begins there; a
  halt that ends first is still a stop if the departure, dated by speeding up evenly between
  the last fix at rest and the next one, makes it long enough. (Speed matters: a refuse truck
  that halts, drives 40 m, halts and turns back past where it first halted has not stopped for
  three minutes.) Fixes that report low speeds but lie farther apart than creeping covers in
  the time between them (beyond ``fix_noise_m``, or by the distance the device's odometer
  counted when both fixes carry one; when one of them reports the vehicle rolling, speeding
  up and braking evenly, as for dating), and farther apart than this receiver has lately put
  fixes of a vehicle at rest (``scatter_window``), are a *hop*, driving unseen: once the next fix
  confirms the vehicle stayed where it hopped to, the halt (or the stop) ends there, and a new
  halt begins; a hop of a few metres followed by a long rest is folded back into the stop like
  any excursion too short to be a trip.
* **Validity.** A trip becomes real once it has covered ``min_trip_distance_m`` over at least
  ``min_trip_duration_s`` with some samples at moving speed. Until then it is tentative: if the
  vehicle settles again first (a parking manoeuvre, a wandering receiver in a garage), the
  excursion is folded back into the stop it came from.
* **Dropouts.** A vehicle last seen at rest that turns up, after a silence shorter than
  ``max_gap_s``, more than ``stop_radius_m`` away, at more than walking pace for the silence,
  and stays there for two fixes, drove unseen: a trip, centred in the silence (the receiver
  wandering with the key out is not a drive).
* **Gaps.** When no fix arrives for more than ``max_gap_s`` the trip ends at the last fix before
  the gap. If the vehicle is found where it was, it was parked all along and the stop goes on;
  if it is found elsewhere, the route is unknown: no trip and no distance are invented, the stop
  before the gap ends at its last fix and a new stop begins at the first fix after it.

Trips and stops are emitted when they close, each with ``emitted_at`` = the time of the sample
whose processing closed it. That is what makes rebuilding exact (see ``pipeline.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from telematics.motion.geodesy import haversine_m, local_xy, simplify_indices
from telematics.motion.localdays import LocalDays
from telematics.motion.odometer import GpsDistance, OdometerConfig, RoadDistance, reachable_m
from telematics.motion.records import Sample, from_epoch

__all__ = [
    "DayPart",
    "Stop",
    "Trip",
    "TripConfig",
    "TripDetector",
    "SampleStatus",
]


@dataclass(frozen=True, slots=True)
class TripConfig:
    min_trip_distance_m: float = 200.0
    min_trip_duration_s: float = 60.0
    # Shorter halts (traffic lights, a queue, a bin being emptied) stay inside the trip.
    min_stop_duration_s: float = 180.0
    max_gap_s: float = 900.0
    use_ignition: bool = True
    move_speed_kmh: float = 5.0
    # Within a halt, slower than this is still halted (edging forward in a queue).
    creep_speed_kmh: float = 10.0
    # Parked receivers wander 5-20 m, more under trees or between buildings.
    stop_radius_m: float = 50.0
    # After a silence, a vehicle found this close to where it was parked is taken to have been
    # parked until just before the fix (trackers sleep while parked and need a while for their
    # first fix on waking). Farther than this, the route in between is unknown.
    gap_resume_radius_m: float = 1000.0
    # Speed assumed, when the first fix after a silence reports none, to date the departure.
    gap_resume_speed_kmh: float = 20.0
    # A departure (or an arrival) is dated between the resting fix and the moving one by the
    # distance covered and the moving fix's speed. When that fix reports no speed it is dated
    # at the resting fix, unless the two are more than this far apart in time (a tracker
    # reporting every few minutes while parked, a lost ignition record): then by the distance
    # at ``gap_resume_speed_kmh``.
    dating_interval_s: float = 30.0
    # Consecutive fixes farther apart than this speed allows are a teleport (the position
    # filter re-anchored on a receiver that was wrong before): handled like a silence, so no
    # distance or speed is made of it.
    teleport_speed_kmh: float = 300.0
    # ...and at least this far apart: multipath throws single fixes a few hundred metres, which
    # the stationary-run and distance rules absorb; a teleport is a different place.
    teleport_min_distance_m: float = 1000.0
    # Harder than this no vehicle speeds up or brakes (about 0.3 g): a reported speed that
    # could not be reached or shed within the distance between two fixes cannot date a
    # departure or an arrival between them.
    max_accel_mps2: float = 3.0
    # Braking to a halt in traffic (about 0.15 g, a driver's ordinary stop rather than a hard
    # one): an arrival after a silence, measured along the road, is dated by driving on at the
    # reported speed and braking at this rate only at the end (a departure before a silence by
    # speeding up at this rate, then driving on).
    service_brake_mps2: float = 1.5
    # GPS noise in the distance between two consecutive fixes of a halted vehicle. Fixes that
    # report creeping speeds yet lie farther apart than creeping covers, beyond this, show the
    # vehicle drove between them (a hop to the next junction, back and forth at a bin).
    fix_noise_m: float = 5.0
    # Some receivers scatter (an urban canyon, a poor antenna): the fixes of a vehicle at rest
    # land tens of metres apart, one after another, while their Doppler speed says it stands
    # still. Two fixes no farther apart than ``scatter_factor`` times that receiver's recent
    # scatter show no hop, however fast the distance would be driven. The recent scatter is the
    # third smallest distance between consecutive fixes at rest (both under
    # ``move_speed_kmh``, at most ``dating_interval_s`` apart) among the last
    # ``scatter_window``: hops and reflections among them do not raise it, and a receiver
    # that begins to scatter is recognised after six such intervals. (For independent errors,
    # that statistic is about three quarters of the median distance, and 3.5 times it is
    # exceeded by fewer than one interval in a hundred.)
    scatter_window: int = 8
    scatter_rank: int = 3
    scatter_factor: float = 3.5
    # Samples at moving speed a trip needs to be real (wandering fixes report ~0 km/h Doppler).
    min_moving_samples: int = 2
    track_tolerance_m: float = 5.0
    timezone: str = "Europe/Athens"


class SampleStatus:
    """What the detector made of one sample, for the event rules that depend on it."""

    PARKED = 0  # stopped, at the stop's anchor
    PARKED_PENDING = 1  # stopped, but this fix is away or moving: maybe a departure
    MOVING = 2  # in a trip
    HALTED = 3  # in a trip, stationary (traffic light, queue, maybe the start of a stop)


@dataclass(frozen=True, slots=True)
class DayPart:
    """The share of a trip that falls on one local day."""

    day: date
    start_time: datetime
    end_time: datetime
    distance_m: float
    moving_s: float
    idle_s: float
    max_speed_kmh: float


@dataclass(frozen=True, slots=True)
class Trip:
    start_time: datetime
    end_time: datetime
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    distance_m: float
    gps_distance_m: float
    distance_source: str  # "gps" or "device"
    odometer_start: float | None
    odometer_end: float | None
    duration_s: float
    moving_s: float
    idle_s: float
    max_speed_kmh: float
    avg_speed_kmh: float  # distance over duration
    driver_tags: tuple[str, ...]
    # Simplified track: (POSIX seconds, latitude, longitude).
    track: tuple[tuple[float, float, float], ...]
    day_parts: tuple[DayPart, ...]
    emitted_at: datetime
    closed: bool = True


@dataclass(frozen=True, slots=True)
class Stop:
    start_time: datetime
    end_time: datetime
    latitude: float
    longitude: float
    duration_s: float
    day_parts: tuple[tuple[date, float], ...]  # (local date, seconds)
    emitted_at: datetime
    closed: bool = True
    # Metres driven during the stop, by local day: moves too short to be trips (across the
    # yard, to the next bay). They are part of the day's kilometres.
    moved: tuple[tuple[date, float], ...] = ()


class _TripAcc:
    """A trip being built."""

    __slots__ = (
        "start",
        "last",
        "distance",
        "moving_s",
        "idle_s",
        "max_speed",
        "moving_count",
        "valid",
        "points",
        "drivers",
        "odo_start",
        "odo_end",
        "days",
    )

    def __init__(self, start: Sample) -> None:
        self.start = start
        self.last = start
        self.distance = 0.0
        self.moving_s = 0.0
        self.idle_s = 0.0
        self.max_speed = start.speed or 0.0
        self.moving_count = 0
        self.valid = False
        self.points: list[list[float]] = [[start.t, start.lat, start.lon]]
        self.drivers: list[str] = [start.driver] if start.driver else []
        self.odo_start = start.odometer
        self.odo_end = start.odometer
        # local date ordinal -> [distance, moving_s, idle_s, max_speed, first_t, last_t]
        self.days: dict[int, list[float]] = {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.to_list(),
            "last": self.last.to_list(),
            "distance": self.distance,
            "moving_s": self.moving_s,
            "idle_s": self.idle_s,
            "max_speed": self.max_speed,
            "moving_count": self.moving_count,
            "valid": self.valid,
            "points": self.points,
            "drivers": self.drivers,
            "odo_start": self.odo_start,
            "odo_end": self.odo_end,
            "days": [[k, *v] for k, v in self.days.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _TripAcc:
        self = cls(Sample.from_list(data["start"]))
        self.last = Sample.from_list(data["last"])
        self.distance = data["distance"]
        self.moving_s = data["moving_s"]
        self.idle_s = data["idle_s"]
        self.max_speed = data["max_speed"]
        self.moving_count = data["moving_count"]
        self.valid = data["valid"]
        self.points = [list(p) for p in data["points"]]
        self.drivers = list(data["drivers"])
        self.odo_start = data["odo_start"]
        self.odo_end = data["odo_end"]
        self.days = {int(row[0]): list(row[1:]) for row in data["days"]}
        return self


class _StopAcc:
    """An open stop: where and since when the vehicle is parked."""

    __slots__ = ("start", "ref_lat", "ref_lon", "sum_lat", "sum_lon", "n", "moved")

    def __init__(self, start: Sample) -> None:
        self.start = start
        # Where the vehicle came to rest: a fixed point for geofence tests while parked.
        self.ref_lat = start.lat
        self.ref_lon = start.lon
        self.sum_lat = 0.0
        self.sum_lon = 0.0
        self.n = 0
        self.moved: dict[int, float] = {}  # metres of moves folded into the stop, by day ordinal

    def add(self, s: Sample) -> None:
        self.sum_lat += s.lat
        self.sum_lon += s.lon
        self.n += 1

    def reset_anchor(self, samples: list[Sample]) -> None:
        self.sum_lat = self.sum_lon = 0.0
        self.n = 0
        if samples:
            self.ref_lat, self.ref_lon = samples[0].lat, samples[0].lon
        for s in samples:
            self.add(s)

    def anchor(self) -> tuple[float, float]:
        if self.n == 0:
            return self.start.lat, self.start.lon
        return self.sum_lat / self.n, self.sum_lon / self.n

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.to_list(),
            "ref": [self.ref_lat, self.ref_lon],
            "sum": [self.sum_lat, self.sum_lon, self.n],
            "moved": [[day, metres] for day, metres in self.moved.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _StopAcc:
        self = cls(Sample.from_list(data["start"]))
        self.ref_lat, self.ref_lon = data["ref"]
        self.sum_lat, self.sum_lon, self.n = data["sum"][0], data["sum"][1], int(data["sum"][2])
        self.moved = {int(day): float(metres) for day, metres in data.get("moved", ())}
        return self


# Simplify a long trip's buffered track in place beyond this many points, so a trip's state
# (which travels in checkpoints) stays small however long the trip.
_TRACK_CHUNK = 400


class TripDetector:
    """Feed samples in strictly increasing time with :meth:`step`; collect :attr:`emitted`."""

    def __init__(
        self,
        config: TripConfig | None = None,
        odometer: OdometerConfig | None = None,
        road_distance: RoadDistance | None = None,
    ) -> None:
        self.config = config or TripConfig()
        self.odo_config = odometer or OdometerConfig()
        self.days = LocalDays(self.config.timezone)
        self.road_distance = road_distance
        self.dist = GpsDistance(self.odo_config, road_distance)
        self.emitted: list[Trip | Stop] = []
        self.stop_confirmed = False  # set when the last step confirmed a stop (checkpoint hint)
        self.last: Sample | None = None
        self.moving_mode = False
        # stopped mode
        self.stop: _StopAcc | None = None
        self.still: Sample | None = None
        self.pending: list[tuple[Sample, bool, bool]] = []  # (sample, moving, away)
        # moving mode
        self.trip: _TripAcc | None = None
        self.prev_stop: _StopAcc | None = None  # stop the (tentative) trip came from
        self.run: list[Sample] = []
        # Estimated arrival before the run's first fix, when that fix came long after the last
        # moving one. It dates the stop; it is no evidence of stillness.
        self.arrival: Sample | None = None
        # The halt's last fix at rest (later fixes in the run may be creeping away).
        self.rest_last: Sample | None = None
        self.outlier: Sample | None = None
        # Distances between the last consecutive fixes at rest (see ``scatter_window``).
        self.scatter: list[float] = []
        self._now = 0.0

    # ----------------------------------------------------------------------------------------
    # classification

    def _moving(self, s: Sample) -> bool:
        config = self.config
        if config.use_ignition and s.ignition is False:
            return False
        if s.speed is not None:
            return s.speed >= config.move_speed_kmh
        last = self.last
        if last is None:
            return False
        dt = s.t - last.t
        if dt <= 0.0 or dt > config.max_gap_s:
            return False
        d = haversine_m(last.lat, last.lon, s.lat, s.lon)
        return d >= self.odo_config.jitter_radius_m and d / dt * 3.6 >= config.move_speed_kmh

    # ----------------------------------------------------------------------------------------
    # main entry

    def step(self, s: Sample) -> int:
        """Process the next sample; returns its :class:`SampleStatus`."""
        self._now = s.t
        self.stop_confirmed = False
        last = self.last
        if last is not None and s.t - last.t > self.config.max_gap_s:
            status = self._gap(s, teleport=False)
        elif last is not None and haversine_m(last.lat, last.lon, s.lat, s.lon) > max(
            self.config.teleport_speed_kmh / 3.6 * (s.t - last.t),
            self.config.teleport_min_distance_m,
        ):
            status = self._gap(s, teleport=True)
        elif self.stop is None and self.trip is None:
            self._open_stop(s)
            status = SampleStatus.PARKED
        elif self.moving_mode:
            status = self._moving_step(s)
        else:
            status = self._stopped_step(s)
        if last is not None:
            self._learn_scatter(last, s)
        self.last = s
        return status

    def _learn_scatter(self, before: Sample, s: Sample) -> None:
        config = self.config
        v0, v1 = before.speed, s.speed
        if (
            v0 is None
            or v1 is None
            or max(v0, v1) >= config.move_speed_kmh
            or not 0.0 < s.t - before.t <= config.dating_interval_s
        ):
            return
        scatter = self.scatter
        scatter.append(haversine_m(before.lat, before.lon, s.lat, s.lon))
        if len(scatter) > config.scatter_window:
            del scatter[0]

    def _scatter_m(self) -> float:
        """How far apart this receiver has lately put consecutive fixes of a vehicle at rest,
        times ``scatter_factor`` (0 until ``scatter_rank`` such intervals were seen)."""
        config = self.config
        if len(self.scatter) < config.scatter_rank:
            return 0.0
        return sorted(self.scatter)[config.scatter_rank - 1] * config.scatter_factor

    # ----------------------------------------------------------------------------------------
    # stopped

    def _open_stop(self, s: Sample, members: list[Sample] | None = None) -> None:
        self.stop = _StopAcc(s)
        if members:
            self.stop.reset_anchor(members)
        else:
            self.stop.add(s)
        self.still = members[-1] if members else s
        self.pending = []
        self.moving_mode = False

    def _stopped_step(self, s: Sample) -> int:
        config = self.config
        stop = self.stop
        assert stop is not None
        moving = self._moving(s)
        alat, alon = stop.anchor()
        away = haversine_m(alat, alon, s.lat, s.lon) > config.stop_radius_m
        if not away and not moving:
            still = self.still or stop.start
            pending = self.pending
            # A pending fix neither away nor moving is a hop: see below.
            hop = None
            if len(pending) == 1 and not (pending[0][1] or pending[0][2]):
                hop = pending[0][0]
            if hop is not None and self._drove_to(hop, s, still):
                # Hopped a few metres and stayed there (the next junction, the next bin): the
                # stop ended with the hop. Whether the vehicle rests long enough here to go on
                # being stopped is the halt's to decide; if it does, the hop is folded back.
                self.pending = []
                self._depart()
                self._begin_halt(hop)
                return self._moving_step(s)
            if hop is None and self._hopped(still, s):
                # Farther from the last fix at rest than creeping goes: held until the next fix
                # tells a hop from a noisy fix.
                self.pending = [(s, False, False)]
                return SampleStatus.PARKED_PENDING
            self.still = s
            self.pending = []
            stop.add(s)
            return SampleStatus.PARKED
        if away and config.use_ignition and s.ignition is False:
            if self._parked_elsewhere(s):
                # The engine ran into a silence, and the vehicle turns up farther than a trip
                # goes with the key out: it drove there unseen (a dropout that swallowed the
                # drive and the key-off record) and parked.
                self.pending = [(s, False, True)]
                self._depart(relocated=True)
                return SampleStatus.MOVING
            # Key out, yet the fix is elsewhere: the receiver wanders, the vehicle does not.
            return SampleStatus.PARKED
        self.pending.append((s, moving, away))
        if away and (moving or sum(1 for p in self.pending if p[2]) >= 2):
            self._depart()
            return SampleStatus.MOVING
        return SampleStatus.PARKED_PENDING

    def _depart(self, relocated: bool = False) -> None:
        stop = self.stop
        assert stop is not None
        start = self.still or stop.start
        parked_again = False
        self._drop_reflections(start)
        if self.pending:
            first = self.pending[0][0]
            relocated = relocated or self._relocated(start, [p for p, _m, _a in self.pending])
            parked_again = relocated and not self._kinematic(
                haversine_m(start.lat, start.lon, first.lat, first.lon), first.speed
            )
            if parked_again:
                # At rest before and after: when in the silence it drove is unknown. Its
                # middle is the best guess, the drive taking the distance at the speed assumed
                # after silences.
                travel = haversine_m(start.lat, start.lon, first.lat, first.lon) / (
                    self.config.gap_resume_speed_kmh / 3.6
                )
                t = start.t + max(0.0, (first.t - start.t - travel) / 2.0)
                start = Sample(
                    t,
                    start.lat,
                    start.lon,
                    0.0,
                    start.ignition,
                    start.odometer,
                    start.engine_hours,
                    start.fuel,
                    start.driver,
                )
            else:
                start = self._dated(start, first, first.speed, at_start=True)
        self.prev_stop = stop
        self.stop = None
        self.trip = _TripAcc(start)
        if relocated:
            # The whole drive fell in a silence: the move itself is the evidence that moving
            # fixes would have given.
            self.trip.moving_count = self.config.min_moving_samples
        self.dist.reset(start)
        self.moving_mode = True
        self.run = []
        self.outlier = None
        self.arrival = None
        self.rest_last = None
        pending = self.pending
        self.pending = []
        if parked_again:
            # ...and it is at rest in its new place: a halt begins there.
            self._begin_halt(pending[0][0])
            for p, _moving, _away in pending[1:]:
                self._moving_step(p)
            return
        for p, moving, _away in pending:
            self._commit(p, moving)

    def _parked_elsewhere(self, s: Sample) -> bool:
        """Whether ``s``, a fix with the key out, ends a silence that began with the key on (the
        tracker reports often while the engine runs, so the silence is a dropout, not the
        tracker sleeping) at least ``min_trip_distance_m`` from the last fix at rest: farther
        than a receiver wanders, so the vehicle drove there during the silence."""
        config = self.config
        last = self.last
        stop = self.stop
        if last is None or stop is None or last.ignition is not True:
            return False
        if s.t - last.t <= config.dating_interval_s:
            return False
        still = self.still or stop.start
        return haversine_m(still.lat, still.lon, s.lat, s.lon) >= config.min_trip_distance_m

    def _drop_reflections(self, start: Sample) -> None:
        """Drops from the fixes held at a departure each one at rest that a reflection threw
        far off while the vehicle was still at its stop (the fix after it is back within the
        stop radius of ``start``, the last fix at rest): it would date the departure at
        ``start``, however late the moving fixes after it say the vehicle left. Reflections
        the vehicle does not come back from are left to the distance rules."""
        radius = self.config.stop_radius_m
        kept: list[tuple[Sample, bool, bool]] = []
        for entry, after in zip(self.pending, self.pending[1:], strict=False):
            p, moving, _away = entry
            back = haversine_m(start.lat, start.lon, after[0].lat, after[0].lon) <= radius
            if moving or not back or not self._reflection(start, p, after[0]):
                kept.append(entry)
        self.pending = kept + self.pending[-1:]

    def _reflection(self, before: Sample, p: Sample, after: Sample) -> bool:
        """Whether ``p``, between the fixes ``before`` and ``after``, lies farther than the stop
        radius from both, and farther from ``before`` than ``after`` is: not a place the vehicle
        went to on its way."""
        radius = self.config.stop_radius_m
        out = haversine_m(before.lat, before.lon, p.lat, p.lon)
        return (
            out > radius
            and haversine_m(after.lat, after.lon, p.lat, p.lon) > radius
            and haversine_m(before.lat, before.lon, after.lat, after.lon) < out
        )

    def _relocated(self, still: Sample, away: list[Sample]) -> bool:
        """Whether the vehicle, silent for a while after its last fix at rest, turned up
        elsewhere and stayed there: more than the stop radius away, farther than a vehicle
        covers below ``move_speed_kmh`` in the silence, and the fixes since then agree with
        each other. A wandering receiver strays for a fix or two, or slowly; this is a drive
        the tracker missed (a phone losing the sky, a tracker's dropout)."""
        config = self.config
        first = away[0]
        dt = first.t - still.t
        if dt <= config.dating_interval_s or len(away) < 2:
            return False
        if config.use_ignition and any(p.ignition is False for p in away):
            return False
        d = haversine_m(still.lat, still.lon, first.lat, first.lon)
        radius = config.stop_radius_m
        return (
            d > radius
            and d / dt * 3.6 >= config.move_speed_kmh
            and all(haversine_m(first.lat, first.lon, p.lat, p.lon) <= radius for p in away)
        )

    # ----------------------------------------------------------------------------------------
    # moving

    def _moving_step(self, s: Sample) -> int:
        moving = self._moving(s)
        run = self.run
        if not run:
            if moving:
                self._commit(s, True)
                return SampleStatus.MOVING
            self._begin_halt(s)
            return SampleStatus.HALTED
        r0 = run[0]
        near = haversine_m(r0.lat, r0.lon, s.lat, s.lon) <= self.config.stop_radius_m
        # Creeping (a queue, a truck edging from bin to bin) keeps a halt going; driving ends it.
        driving = self._driving(s, moving) or (
            near and (self._hopped(run[-1], s) or self._moved_unseen(run[-1], s))
        )
        if near and not driving:
            held = self.outlier
            if held is not None and self._drove_to(held, s, run[-1]):
                # The held-back fix was real driving, and the vehicle is now where it drove to:
                # this halt is over and a new one begins here.
                status = self._halt_over([held, s])
                if status is not None:
                    return status
                self._fold_run()
                if self._moving(held):
                    self._commit(held, True)
                    self._begin_halt(s)
                else:
                    # The held-back fix is already at rest where the vehicle drove to.
                    self._begin_halt(held)
                    self.run.append(s)
                    self.rest_last = s
                return SampleStatus.HALTED
            # One stray fix between two near ones is noise: it never reaches the trip.
            self.outlier = None
            run.append(s)
            if not moving:
                # Only a fix at rest makes a halt longer: creeping away is not resting.
                self.rest_last = s
                if s.t - self._halt_start().t >= self.config.min_stop_duration_s:
                    self._confirm_stop(run)
                    return SampleStatus.PARKED
            return SampleStatus.HALTED
        if self.outlier is None and (near or not driving):
            # Either far but reporting no speed (multipath) or near but reporting speed (a
            # Doppler spike): one such fix is noise; two in a row mean the vehicle moves on.
            self.outlier = s
            return SampleStatus.HALTED
        # The run is over: the vehicle drove on. Everything held back belongs to the trip,
        # except a held-back fix that lies far from both the halt and where the vehicle is
        # now: that was a reflection, not a place the vehicle went to.
        outlier = self.outlier
        keep = outlier is not None and not self._reflection(r0, outlier, s)
        status = self._halt_over([outlier, s] if keep and outlier is not None else [s])
        if status is not None:
            return status
        self._fold_run()
        if keep and outlier is not None:
            self._moving_step(outlier)
        return self._moving_step(s)

    def _driving(self, s: Sample, moving: bool) -> bool:
        """Whether ``s`` reports driving rather than halted or creeping. A fix without a speed
        reports neither: inside a halt, its distance from the others decides (a hop, or far
        from the halt), with the same allowance for creeping and noise as for any fix."""
        return moving and s.speed is not None and s.speed >= self.config.creep_speed_kmh

    def _hopped(self, before: Sample, s: Sample) -> bool:
        """Whether the vehicle, though its fixes report low speeds, moved from ``before`` to
        ``s`` farther than creeping goes in the time between them (beyond GPS noise): a hop to
        the next junction or bin inside a halt. Only for fixes near the halt: a far fix that
        reports no speed is a reflection until the next fix confirms it. With the key out the
        vehicle does not move: the receiver wanders."""
        config = self.config
        if config.use_ignition and s.ignition is False:
            return False
        dt = s.t - before.t
        if dt <= 0.0:
            return False
        covered = self._odometer_m(before, s)
        if covered is None:
            chord = haversine_m(before.lat, before.lon, s.lat, s.lon)
            if chord <= self._scatter_m():
                return False
            d = chord - config.fix_noise_m
        else:
            # The device's odometer counts the ground covered, free of GPS noise.
            d = covered
        if d <= 0.0:
            return False
        average = d / dt * 3.6
        v0, v1 = before.speed, s.speed
        if (
            dt <= config.dating_interval_s
            and v0 is not None
            and v1 is not None
            and max(v0, v1) >= config.move_speed_kmh
        ):
            # The Doppler speed says the vehicle was rolling at one end of the move: speeding up
            # and braking evenly between the two speeds (as arrivals and departures are dated),
            # it covers d = (v0 + vp) t0 / 2 + (vp + v1) t1 / 2 with t0 + t1 = dt, so its top
            # speed vp was at least 2 d / dt - max(v0, v1), more than the average.
            average = max(average, 2.0 * average - max(v0, v1))
        return average >= config.creep_speed_kmh

    def _moved_unseen(self, before: Sample, s: Sample) -> bool:
        """Whether the vehicle, halted at ``before`` and at rest again at ``s`` after a silence
        (longer than ``dating_interval_s``), moved in between by more than ``fix_noise_m`` as
        the device's odometer counts it. How fast it went is unknown: the average over the
        silence bounds the top speed from below by nothing useful. Like a halt that begins
        after a dropout (:meth:`_halt_start`) or ends in one (:meth:`_halt_over`), no rest is
        inferred across it: the halt ends before the silence and a new one begins after it.
        Without an odometer, the distance between two fixes a silence apart is mostly GPS
        noise (the errors decorrelate), so it is not taken as a move."""
        config = self.config
        if config.use_ignition and s.ignition is False:
            return False
        if s.t - before.t <= config.dating_interval_s:
            return False
        covered = self._odometer_m(before, s)
        return covered is not None and covered > config.fix_noise_m

    def _begin_halt(self, s: Sample) -> None:
        """The vehicle is at rest at ``s`` after driving: a halt (maybe a stop) begins."""
        last = self.trip.last if self.trip else None
        arrival = self._dated(last, s, last.speed, at_start=False) if last else s
        self.arrival = arrival if arrival is not s else None
        self.run = [s]
        self.rest_last = s
        self.outlier = None

    def _halt_start(self) -> Sample:
        """Where a halt's duration counts from: the estimated arrival, unless the fixes around
        it are far apart in time (a dropout, a lost record), when the vehicle may have halted
        and gone on unseen in between: then only the first fix at rest is certain. If that fix
        has the key out, the silence is the tracker sleeping with the engine off (parked
        trackers report every few minutes), not a drive it missed: the arrival stands."""
        arrival = self.arrival
        first = self.run[0]
        trip = self.trip
        if arrival is None or trip is None:
            return first
        config = self.config
        if first.t - trip.last.t > config.dating_interval_s and not (
            config.use_ignition and first.ignition is False
        ):
            return first
        return arrival

    def _halt_over(self, after: list[Sample]) -> int | None:
        """The halt in :attr:`run` ends: the vehicle drove off, ``after`` being the fixes from
        then on (the last is the one being processed). If the halt, from the estimated arrival
        to the estimated moment the vehicle left its last fix at rest, lasted the minimum stop
        duration, it was a stop although no single fix at rest showed that: the trip ends at
        the arrival, the stop opens, and the fixes after it are replayed against it; returns
        the last one's status. Otherwise nothing changes and None is returned.
        """
        run = self.run
        rest = self.rest_last
        if rest is None:
            return None
        k = next((i for i in range(len(run) - 1, -1, -1) if run[i].t == rest.t), None)
        if k is None:
            return None
        later = run[k + 1 :] + after
        leaving = later[0]
        start = self._halt_start().t
        limit = self.config.min_stop_duration_s
        if leaving.t - start < limit or leaving.t - rest.t > self.config.dating_interval_s:
            # Too short, or the fixes leave too much unknown (a dropout): no stop is inferred.
            return None
        if self._dated(rest, leaving, leaving.speed, at_start=True).t - start < limit:
            return None
        self._confirm_stop(run[: k + 1])
        status = SampleStatus.PARKED
        for p in later:
            status = self._moving_step(p) if self.moving_mode else self._stopped_step(p)
        return status

    def _drove_to(self, held: Sample, s: Sample, before: Sample) -> bool:
        """Whether ``held`` (a fix showing driving inside a halt) was a real move that ended
        where ``s`` is, rather than a Doppler spike or a noisy fix: ``s`` has left ``before``,
        the halt's last position, towards ``held``, by more than GPS noise (or, less far, by
        what the device's odometer counted)."""
        if not (self._driving(held, self._moving(held)) or self._hopped(before, held)):
            return False
        moved = haversine_m(before.lat, before.lon, s.lat, s.lon)
        if haversine_m(held.lat, held.lon, s.lat, s.lon) >= moved:
            return False
        if moved > max(2.0 * self.odo_config.jitter_radius_m, self._scatter_m()):
            return True
        # Closer than GPS noise could put two fixes of a vehicle at rest: the device's odometer,
        # when both fixes carry one, says whether the vehicle really covered the distance (a
        # Doppler spike or a noisy fix does not turn the wheels), as it does for a hop.
        covered = self._odometer_m(before, s)
        return (
            covered is not None
            and covered > 2.0 * self.config.fix_noise_m
            and moved > 2.0 * self.config.fix_noise_m
        )

    def _odometer_m(self, before: Sample, after: Sample) -> float | None:
        """Metres the device's odometer says the vehicle covered from ``before`` to ``after``,
        when both carry one and the reading is believable: no less than the straight line
        between the fixes (GPS noise aside, ``fix_noise_m`` at each end) and no more than a
        vehicle drives in the time from the first reported speed to the second
        (:func:`~telematics.motion.odometer.reachable_m`; a reset, another unit or a jump fails
        the test: None). Over the 20-30 m of a hop from bin to bin, GPS noise is a fair share
        of the move and taking ``fix_noise_m`` off it can hide the hop; the odometer has no
        such noise."""
        if before.odometer is None or after.odometer is None:
            return None
        dt = after.t - before.t
        covered = after.odometer - before.odometer
        if dt <= 0.0 or covered < 0.0:
            return None
        config = self.config
        chord = haversine_m(before.lat, before.lon, after.lat, after.lon)
        reach = reachable_m(before.speed or 0.0, after.speed or 0.0, dt, self.odo_config)
        if covered < chord - 2.0 * config.fix_noise_m or covered > reach:
            return None
        return covered

    def _kinematic(self, d: float, speed: float | None) -> bool:
        """Whether a move of ``d`` metres from or to rest can be timed by ``speed`` (km/h): a
        moving speed, reached or shed within ``d`` at no more than ``max_accel_mps2``."""
        config = self.config
        if speed is None or speed < config.move_speed_kmh:
            return False
        v = speed / 3.6
        return d >= v * v / (2.0 * config.max_accel_mps2)

    def _dated(self, before: Sample, after: Sample, speed: float | None, at_start: bool) -> Sample:
        """The moment the vehicle left ``before`` (``at_start``) or came to rest at ``after``: a
        made-up sample at the resting place, timed from the distance ``d`` between the two fixes
        and the moving fix's ``speed`` ``v``. The vehicle is taken to speed up from rest (or
        brake to rest) evenly, which covers ``d`` in ``2 d / v``; that also holds up after a
        dropout, where the straight line is shorter than the road but the average speed from
        rest lower than the speed reported at the far end. An arrival after a silence, or a
        departure before one, is dated along the road instead when the caller gave a
        road-distance function (see :meth:`_travel_by_road`). Without a usable speed (none, or
        one no vehicle reaches or sheds within ``d``): the resting fix itself when the fixes are
        close in time, else ``gap_resume_speed_kmh`` all the way.
        """
        config = self.config
        dt = after.t - before.t
        if dt <= 0.0:
            return before if at_start else after
        d = haversine_m(before.lat, before.lon, after.lat, after.lon)
        if self._kinematic(d, speed):
            assert speed is not None
            travel = 2.0 * d / (speed / 3.6)
            if dt > config.dating_interval_s:
                travel = self._travel_by_road(before, after, d, speed) or travel
        elif dt <= config.dating_interval_s:
            return before if at_start else after
        else:
            travel = d / (config.gap_resume_speed_kmh / 3.6)
        if at_start:
            t = after.t - travel
            if t <= before.t:
                return before
            rest = before
        else:
            t = before.t + travel
            if t >= after.t:
                return after
            rest = after
        return Sample(
            t,
            rest.lat,
            rest.lon,
            0.0,
            rest.ignition,
            rest.odometer,
            rest.engine_hours,
            rest.fuel,
            rest.driver,
        )

    def _travel_by_road(
        self, before: Sample, after: Sample, d: float, speed: float
    ) -> float | None:
        """Seconds a vehicle driving at ``speed`` (km/h) at ``before`` took to come to rest at
        ``after``, a silence later, along the shortest road between them: on at that speed,
        then braking at ``service_brake_mps2`` (evenly all the way if the road is shorter than
        that takes); or, for a departure, a vehicle at rest at ``before`` took to be driving at
        ``speed`` at ``after``: speeding up at that rate, then on at that speed. None without a
        road-distance function or a plausible road (none found, or longer than
        ``road_gap_max_ratio`` times the straight line ``d``: a wrong snap).

        Braking evenly over the straight line (``2 d / v``) stands in for the road being longer
        than the line; where a silence hides a drive of a few hundred metres on a straight
        street it dates the arrival tens of seconds late, which can stretch a short move past
        the minimum trip duration. With the road measured, that stand-in is not needed. A
        departure before a silence, speeding up evenly over hundreds of metres, is dated a minute
        or more early for the same reason.
        """
        if self.road_distance is None:
            return None
        road = self.road_distance(before.lat, before.lon, after.lat, after.lon)
        if road is None or road > self.odo_config.road_gap_max_ratio * d:
            return None
        road = max(road, d)
        v = speed / 3.6
        braking = v * v / (2.0 * self.config.service_brake_mps2)
        if road <= braking:
            return 2.0 * road / v
        return road / v + v / (2.0 * self.config.service_brake_mps2)

    def _fold_run(self) -> None:
        run = self.run
        self.run = []
        self.outlier = None
        self.arrival = None
        self.rest_last = None
        for r in run:
            self._commit(r, self._moving_committed(r))

    def _moving_committed(self, r: Sample) -> bool:
        config = self.config
        if config.use_ignition and r.ignition is False:
            return False
        return r.speed is not None and r.speed >= config.move_speed_kmh

    def _commit(self, s: Sample, moving: bool) -> None:
        trip = self.trip
        assert trip is not None
        prev = trip.last
        dt = s.t - prev.t
        if dt <= 0.0:
            return
        dd = self.dist.advance(s, moving)
        is_moving = moving or dd >= self.odo_config.jitter_radius_m
        trip.distance += dd
        if is_moving:
            trip.moving_s += dt
        else:
            trip.idle_s += dt
        speed = s.speed
        if speed is None or dt > self.odo_config.integral_max_interval_s:
            # No speed reported, or a silence the vehicle drove through unseen (a dropout, a
            # drive placed in a silence): it went at least as fast as its average.
            average = dd / dt * 3.6
            speed = average if speed is None else max(speed, average)
        if speed > trip.max_speed:
            trip.max_speed = speed
        if moving:
            trip.moving_count += 1
        day, _start, end = self.days.day_of(prev.t)
        if s.t <= end:
            self._add_day(trip, day.toordinal(), prev.t, s.t, dd, dt, is_moving, speed)
        else:
            for pday, p0, p1 in self.days.split(prev.t, s.t):
                share = (p1 - p0) / dt
                self._add_day(trip, pday.toordinal(), p0, p1, dd * share, p1 - p0, is_moving, speed)
        trip.points.append([s.t, s.lat, s.lon])
        if len(trip.points) > _TRACK_CHUNK:
            trip.points = self._simplified(trip.points[:-1]) + [trip.points[-1]]
        if s.driver and s.driver not in trip.drivers:
            trip.drivers.append(s.driver)
        if s.odometer is not None:
            if trip.odo_start is None:
                trip.odo_start = s.odometer
            trip.odo_end = s.odometer
        trip.last = s
        if (
            not trip.valid
            and trip.distance >= self.config.min_trip_distance_m
            and s.t - trip.start.t >= self.config.min_trip_duration_s
            and trip.moving_count >= self.config.min_moving_samples
        ):
            trip.valid = True
            prev_stop = self.prev_stop
            self.prev_stop = None
            if prev_stop is not None:
                self._emit_stop(prev_stop, trip.start.t)

    @staticmethod
    def _add_day(
        trip: _TripAcc,
        key: int,
        t0: float,
        t1: float,
        distance: float,
        seconds: float,
        moving: bool,
        speed: float,
    ) -> None:
        row = trip.days.get(key)
        if row is None:
            row = trip.days[key] = [0.0, 0.0, 0.0, 0.0, t0, t1]
        row[0] += distance
        if moving:
            row[1] += seconds
        else:
            row[2] += seconds
        if speed > row[3]:
            row[3] = speed
        row[5] = t1

    def _confirm_stop(self, members: list[Sample]) -> None:
        end = self.arrival or members[0]
        self.run = []
        self.rest_last = None
        self.outlier = None
        self.arrival = None
        self._commit(end, False)
        self._end_trip(end, members)

    def _end_trip(self, end: Sample, stop_members: list[Sample]) -> None:
        """Close the trip at ``end``; the vehicle is parked there from then on."""
        trip = self.trip
        assert trip is not None
        self.trip = None
        self.moving_mode = False
        self.stop_confirmed = True
        self.run = []
        self.outlier = None
        self.arrival = None
        self.rest_last = None
        if trip.valid:
            self._emit_trip(trip)
            self._open_stop(end, stop_members)
        else:
            # Never a trip: the stop it came from goes on, now anchored where the vehicle is.
            stop = self.prev_stop
            self.prev_stop = None
            if stop is None:
                self._open_stop(end, stop_members)
            else:
                for day, row in trip.days.items():
                    if row[0] > 0.0:
                        stop.moved[day] = stop.moved.get(day, 0.0) + row[0]
                self.stop = stop
                stop.reset_anchor(stop_members or [end])
                self.still = (stop_members or [end])[-1]
                self.pending = []

    # ----------------------------------------------------------------------------------------
    # gaps

    def _gap(self, s: Sample, teleport: bool) -> int:
        if self.moving_mode:
            run = self.run
            if run:
                end = self.arrival or run[0]
                self.run = []
                self._commit(end, False)
                members = run
            else:
                trip = self.trip
                assert trip is not None
                end = trip.last
                members = [end]
            self._end_trip(end, members)
        stop = self.stop
        assert stop is not None
        self.pending = []
        alat, alon = stop.anchor()
        config = self.config
        d = haversine_m(alat, alon, s.lat, s.lon)
        if d <= config.stop_radius_m:
            # Found where it was left: parked through the silence (trackers sleep when parked).
            return self._stopped_step(s)
        last = self.last
        assert last is not None
        if (
            not teleport
            and d <= config.gap_resume_radius_m
            and not (config.use_ignition and s.ignition is False)
        ):
            # Found just down the road: it left its parking place shortly before this fix.
            speed = s.speed if s.speed and s.speed >= config.move_speed_kmh else None
            travel = d / ((speed or config.gap_resume_speed_kmh) / 3.6)
            departed = Sample(max(last.t, s.t - travel), alat, alon, 0.0, None)
            stop.add(departed)
            self.still = departed
            return self._stopped_step(s)
        assert last is not None
        self._emit_stop(stop, last.t)
        self._open_stop(s)
        return SampleStatus.PARKED

    # ----------------------------------------------------------------------------------------
    # outputs

    def _simplified(self, points: list[list[float]]) -> list[list[float]]:
        if len(points) <= 2:
            return points
        lat0, lon0 = points[0][1], points[0][2]
        xs: list[float] = []
        ys: list[float] = []
        for p in points:
            x, y = local_xy(p[1], p[2], lat0, lon0)
            xs.append(x)
            ys.append(y)
        return [points[i] for i in simplify_indices(xs, ys, self.config.track_tolerance_m)]

    def _build_trip(self, trip: _TripAcc, end: Sample, closed: bool) -> Trip:
        duration = end.t - trip.start.t
        gps = trip.distance
        distance = gps
        source = "gps"
        odo = self.odo_config
        if (
            odo.prefer_device_odometer
            and trip.odo_start is not None
            and trip.odo_end is not None
            and trip.odo_end >= trip.odo_start
        ):
            device = trip.odo_end - trip.odo_start
            reference = max(gps, self.config.min_trip_distance_m)
            if abs(device - gps) <= odo.device_odometer_tolerance * reference:
                distance = device
                source = "device"
        scale = distance / gps if gps > 0 else 0.0
        parts = tuple(
            DayPart(
                day=date.fromordinal(key),
                start_time=from_epoch(row[4]),
                end_time=from_epoch(row[5]),
                distance_m=row[0] * scale,
                moving_s=row[1],
                idle_s=row[2],
                max_speed_kmh=row[3],
            )
            for key, row in sorted(trip.days.items())
        )
        track = tuple((p[0], p[1], p[2]) for p in self._simplified(trip.points))
        return Trip(
            start_time=from_epoch(trip.start.t),
            end_time=from_epoch(end.t),
            start_lat=trip.start.lat,
            start_lon=trip.start.lon,
            end_lat=end.lat,
            end_lon=end.lon,
            distance_m=distance,
            gps_distance_m=gps,
            distance_source=source,
            odometer_start=trip.odo_start,
            odometer_end=trip.odo_end,
            duration_s=duration,
            moving_s=trip.moving_s,
            idle_s=trip.idle_s,
            max_speed_kmh=trip.max_speed,
            avg_speed_kmh=distance / duration * 3.6 if duration > 0 else 0.0,
            driver_tags=tuple(trip.drivers),
            track=track,
            day_parts=parts,
            emitted_at=from_epoch(self._now),
            closed=closed,
        )

    def _emit_trip(self, trip: _TripAcc) -> None:
        self.emitted.append(self._build_trip(trip, trip.last, True))

    def _build_stop(self, stop: _StopAcc, end_t: float, closed: bool) -> Stop:
        lat, lon = stop.anchor()
        parts = tuple(
            (day, p1 - p0) for day, p0, p1 in self.days.split(stop.start.t, end_t) if p1 > p0
        )
        return Stop(
            start_time=from_epoch(stop.start.t),
            end_time=from_epoch(end_t),
            latitude=lat,
            longitude=lon,
            duration_s=end_t - stop.start.t,
            day_parts=parts,
            emitted_at=from_epoch(self._now),
            closed=closed,
            moved=tuple((date.fromordinal(day), m) for day, m in sorted(stop.moved.items())),
        )

    def _emit_stop(self, stop: _StopAcc, end_t: float) -> None:
        if end_t > stop.start.t:
            self.emitted.append(self._build_stop(stop, end_t, True))

    def provisional(self) -> list[Trip | Stop]:
        """The trip or stop still open after the last sample (replaced on the next call)."""
        last = self.last
        if last is None:
            return []
        if self.moving_mode:
            trip = self.trip
            assert trip is not None
            if trip.valid:
                return [self._build_trip(trip, trip.last, False)]
            if self.prev_stop is not None:
                return [self._build_stop(self.prev_stop, last.t, False)]
            return []
        if self.stop is not None:
            return [self._build_stop(self.stop, last.t, False)]
        return []

    def open_since(self) -> float | None:
        """Start of the earliest trip or stop not yet emitted as closed."""
        if self.moving_mode:
            if self.prev_stop is not None:
                return self.prev_stop.start.t
            return self.trip.start.t if self.trip else None
        return self.stop.start.t if self.stop else None

    def stop_anchor(self) -> tuple[float, float] | None:
        """Where the vehicle is parked (for geofence tests that must not follow jitter)."""
        if self.moving_mode or self.stop is None:
            return None
        return self.stop.ref_lat, self.stop.ref_lon

    # ----------------------------------------------------------------------------------------
    # state

    def to_dict(self) -> dict[str, Any]:
        return {
            "last": self.last.to_list() if self.last else None,
            "moving": self.moving_mode,
            "stop": self.stop.to_dict() if self.stop else None,
            "still": self.still.to_list() if self.still else None,
            "pending": [[p.to_list(), m, a] for p, m, a in self.pending],
            "trip": self.trip.to_dict() if self.trip else None,
            "prev_stop": self.prev_stop.to_dict() if self.prev_stop else None,
            "run": [r.to_list() for r in self.run],
            "arrival": self.arrival.to_list() if self.arrival else None,
            "rest_last": self.rest_last.to_list() if self.rest_last else None,
            "outlier": self.outlier.to_list() if self.outlier else None,
            "scatter": list(self.scatter),
            "dist": self.dist.to_dict(),
        }

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        config: TripConfig | None = None,
        odometer: OdometerConfig | None = None,
        road_distance: RoadDistance | None = None,
    ) -> TripDetector:
        self = cls(config, odometer, road_distance)
        self.last = Sample.from_list(data["last"]) if data.get("last") else None
        self.moving_mode = bool(data.get("moving"))
        self.stop = _StopAcc.from_dict(data["stop"]) if data.get("stop") else None
        self.still = Sample.from_list(data["still"]) if data.get("still") else None
        self.pending = [(Sample.from_list(p), bool(m), bool(a)) for p, m, a in data["pending"]]
        self.trip = _TripAcc.from_dict(data["trip"]) if data.get("trip") else None
        self.prev_stop = _StopAcc.from_dict(data["prev_stop"]) if data.get("prev_stop") else None
        self.run = [Sample.from_list(r) for r in data["run"]]
        self.arrival = Sample.from_list(data["arrival"]) if data.get("arrival") else None
        rest_last = data.get("rest_last")
        if rest_last:
            self.rest_last = Sample.from_list(rest_last)
        elif self.run:  # a checkpoint from before this was kept
            self.rest_last = self.run[-1]
        self.outlier = Sample.from_list(data["outlier"]) if data.get("outlier") else None
        self.scatter = [float(x) for x in data.get("scatter", ())]
        self.dist = GpsDistance.from_dict(data["dist"], self.odo_config, road_distance)
        self._now = self.last.t if self.last else 0.0
        return self
