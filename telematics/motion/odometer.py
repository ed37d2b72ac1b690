"""Distance from GPS (robust to parked jitter and gaps), and engine hours.

Why the distance is not just the sum of straight lines between fixes:

* **Jitter.** A parked receiver wanders a few metres every fix. Summing those steps adds
  kilometres a day to a vehicle that never moved. :class:`GpsDistance` only measures from an
  anchor and moves the anchor once the vehicle is clearly elsewhere (``jitter_radius_m``) or says
  it is moving.
* **Corners.** Trackers that record every 10 s cut every corner: a right-angle turn at 30 km/h
  loses about 20 m, several per cent of an urban day. The receiver's own speed (Doppler, accurate
  to a few tenths of a m/s) integrated over time follows the road instead, so when both fixes of
  an interval carry moving speeds the path length is the speed integral, checked against the
  straight line (never shorter than it by much, never absurdly longer).
* **Gaps.** Across a gap longer than ``max_gap_s`` the route is unknown; no distance is invented.
  Shorter silences while driving (a phone losing the sky, a dropped connection) are measured
  along the street network when the caller passes a ``road_distance`` function (the router's
  shortest road distance); otherwise as the straight line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telematics.motion.geodesy import haversine_m
from telematics.motion.records import Sample

__all__ = ["EngineMeter", "EngineSessionDraft", "GpsDistance", "OdometerConfig", "RoadDistance"]

# (lat0, lon0, lat1, lon1) -> shortest road distance in metres, or None when there is none.
RoadDistance = Callable[[float, float, float, float], float | None]


@dataclass(frozen=True, slots=True)
class OdometerConfig:
    jitter_radius_m: float = 12.0
    use_reported_speed: bool = True
    max_gap_s: float = 900.0
    # Below this ratio to the straight line, the speed integral must be missing a manoeuvre
    # (a hard brake between two fixes): the straight line is the better estimate.
    speed_integral_min_ratio: float = 0.85
    # A path can be much longer than the chord (a roundabout, a U-turn), but not unboundedly.
    speed_integral_max_ratio: float = 4.0
    speed_integral_slack_m: float = 50.0
    # Both fixes of an interval must be at least this fast, and no more than this far apart in
    # time, for the speed integral to be used (a vehicle may halt unseen in a longer interval).
    integral_min_speed_kmh: float = 5.0
    integral_max_interval_s: float = 30.0
    # A straight line longer than any vehicle could drive between the two reported speeds in
    # the time (accelerating and braking hard) is a position spike (multipath) rather than a
    # path: the speed integral is the distance.
    spike_accel_mps2: float = 2.5
    spike_decel_mps2: float = 4.0
    spike_ratio: float = 1.3
    spike_slack_m: float = 20.0
    # A silence at least this long after a fix that shows the vehicle driving (whether the fix
    # after it shows driving or rest) is measured along the road (when the caller provides a
    # road-distance function), not as the crow flies; the road length must stay within this
    # factor of the straight line.
    road_gap_min_s: float = 45.0
    road_gap_max_ratio: float = 2.5
    road_gap_speed_floor_kmh: float = 50.0
    # Doppler speeds this low at both ends of every interval since the last counted point mean
    # the vehicle stood still, however far the fixes wander (up to ``still_max_chord_m``).
    still_speed_kmh: float = 3.0
    still_max_chord_m: float = 60.0
    # Moving off between two fixes so close in time that the vehicle cannot have gone farther
    # than the jitter radius: the straight line would be mostly noise. Take the vehicle to have
    # left as late as a brisk start allows, covering v²/2a by the second fix.
    start_accel_mps2: float = 1.0
    # Use the device's own odometer for trip distances when it is present and plausible.
    prefer_device_odometer: bool = True
    # Device and GPS distances of one trip must agree within this factor for the device value to
    # be trusted (a tracker whose odometer was reset, or counts in the wrong unit, fails it).
    device_odometer_tolerance: float = 0.25
    # Engine hours while the ignition is on but fixes stop: cap what one silent interval may add.
    engine_max_gap_s: float = 900.0


def reachable_m(v0_kmh: float, v1_kmh: float, dt: float, config: OdometerConfig) -> float:
    """The farthest a vehicle can go in ``dt`` seconds starting at one speed and ending at the
    other: full acceleration, then full braking."""
    a = config.spike_accel_mps2
    d = config.spike_decel_mps2
    v0 = v0_kmh / 3.6
    v1 = v1_kmh / 3.6
    peak = (dt + v0 / a + v1 / d) / (1.0 / a + 1.0 / d)
    if peak <= max(v0, v1):
        return max(v0, v1) * dt
    peak = min(peak, 40.0)  # 144 km/h: no municipal vehicle goes faster
    cruise = max(0.0, dt - (peak - v0) / a - (peak - v1) / d)
    return (peak * peak - v0 * v0) / (2 * a) + (peak * peak - v1 * v1) / (2 * d) + peak * cruise


def _bounded_by_turn(
    chord: float, est: float, course0: float, course1: float, config: OdometerConfig
) -> float:
    """The speed integral, kept within what the turn between two fixes allows.

    With the heading turning by Δ between the fixes, the road is at least as long as a circular
    arc on the chord (chord · (Δ/2) / sin(Δ/2)) and at most as long as one sharp corner with two
    equal legs (chord / cos(Δ/2)). On a straight road both bounds are the chord, so the speed
    integral's own errors (a speed profile sampled every 10 s is coarse) never count; at a
    corner it decides within the range geometry leaves open.
    """
    delta = math.radians(abs((course1 - course0 + 180.0) % 360.0 - 180.0))
    if delta < 1e-3:
        return chord
    half = delta * 0.5
    low = chord * half / math.sin(half)
    if delta >= math.radians(160.0):
        high = config.speed_integral_max_ratio * chord + config.speed_integral_slack_m
    else:
        high = chord / math.cos(half)
    return min(max(est, low), high)


class GpsDistance:
    """Anchor-based path length over the samples a caller commits, in time order."""

    __slots__ = (
        "config",
        "anchor",
        "last",
        "integral",
        "integral_ok",
        "integral_known",
        "speed_seen",
        "speeds_live",
        "still",
        "road_distance",
    )

    def __init__(self, config: OdometerConfig, road_distance: RoadDistance | None = None) -> None:
        self.config = config
        self.road_distance = road_distance
        self.anchor: Sample | None = None  # last sample distance was measured to
        self.last: Sample | None = None  # last sample seen (for the speed integral)
        self.integral = 0.0  # metres integrated from speeds since the anchor
        self.integral_ok = True  # ...and precise: every interval short, both ends moving
        self.integral_known = True  # ...and every interval had both speeds
        self.speed_seen = False  # some interval had a moving speed at one end
        # The receiver has reported a moving speed at some time: its speeds are live, so two
        # standstill speeds mean standing still (a receiver stuck at 0 never sets this).
        self.speeds_live = False
        self.still = True  # every interval reported standstill speeds at both ends

    def reset(self, sample: Sample | None) -> None:
        self.anchor = sample
        self.last = sample
        self.integral = 0.0
        self.integral_ok = True
        self.integral_known = True
        self.speed_seen = False
        self.still = True

    def advance(self, sample: Sample, moving: bool) -> float:
        """Metres travelled since the previous committed sample (0 while jittering in place)."""
        config = self.config
        last = self.last
        if last is None or self.anchor is None:
            self.reset(sample)
            return 0.0
        dt = sample.t - last.t
        if dt > config.max_gap_s or dt < 0:
            self.reset(sample)
            return 0.0
        v0 = last.speed
        v1 = sample.speed
        if v0 is None or v1 is None or max(v0, v1) >= config.still_speed_kmh:
            self.still = False
        if v0 is not None and v1 is not None and dt <= config.integral_max_interval_s:
            self.integral += (v0 + v1) * 0.5 / 3.6 * dt
            if min(v0, v1) < config.integral_min_speed_kmh:
                # A slow end: the vehicle may have halted in between (a junction, a queue),
                # where the average of the two speeds invents distance. Still good enough to
                # expose a position spike, as long as some speed was reported at all.
                self.integral_ok = False
            if max(v0, v1) >= config.integral_min_speed_kmh:
                self.speed_seen = True
                self.speeds_live = True
        else:
            self.integral_ok = False
            self.integral_known = False
        self.last = sample
        anchor = self.anchor
        chord = haversine_m(anchor.lat, anchor.lon, sample.lat, sample.lon)
        if v0 is not None and v1 is not None and chord <= config.still_max_chord_m:
            if max(v0, v1) < config.still_speed_kmh:
                # The receiver says it stands still: the positions wander, the vehicle does
                # not. Follow them without counting.
                self.reset(sample)
                return 0.0
            if v0 < config.still_speed_kmh and v1 / 3.6 * dt <= config.jitter_radius_m:
                moved = min(chord, (v1 / 3.6) ** 2 / (2.0 * config.start_accel_mps2))
                self.reset(sample)
                return moved
        if chord < config.jitter_radius_m and not (moving and chord > 0.0):
            return 0.0
        distance = chord
        if (
            self.road_distance is not None
            and dt >= config.road_gap_min_s
            and v0 is not None
            and v1 is not None
            and v0 >= config.integral_min_speed_kmh
        ):
            # Driving into a silence, and driving or at rest after it: it drove the streets in
            # between (a vehicle found parked after a dropout drove there along the road, as
            # its arrival is dated; the straight line cuts every corner).
            road = self.road_distance(anchor.lat, anchor.lon, sample.lat, sample.lon)
            top = max(v0, v1, config.road_gap_speed_floor_kmh) / 3.6 * dt * 1.5
            if road is not None and chord <= road <= min(config.road_gap_max_ratio * chord, top):
                distance = road
                self.integral_known = False
        if config.use_reported_speed and self.integral_known:
            est = self.integral
            standing = v0 is not None and v1 is not None and max(v0, v1) < config.still_speed_kmh
            if (
                (self.speed_seen or (self.speeds_live and standing))
                and anchor is last
                and v0 is not None
                and v1 is not None
                and chord
                > config.spike_ratio * reachable_m(v0, v1, dt, config) + config.spike_slack_m
            ):
                distance = est
            elif not self.integral_ok:
                pass
            elif anchor.course is not None and sample.course is not None:
                distance = _bounded_by_turn(chord, est, anchor.course, sample.course, config)
            elif (
                config.speed_integral_min_ratio * chord
                <= est
                <= config.speed_integral_max_ratio * chord + config.speed_integral_slack_m
            ):
                distance = est
        self.anchor = sample
        self.integral = 0.0
        self.integral_ok = True
        self.integral_known = True
        self.speed_seen = False
        self.still = True
        return distance

    def to_dict(self) -> dict[str, Any]:
        return {
            "anchor": self.anchor.to_list() if self.anchor else None,
            "last": self.last.to_list() if self.last else None,
            "integral": self.integral,
            "integral_ok": self.integral_ok,
            "integral_known": self.integral_known,
            "speed_seen": self.speed_seen,
            "speeds_live": self.speeds_live,
            "still": self.still,
        }

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        config: OdometerConfig,
        road_distance: RoadDistance | None = None,
    ) -> GpsDistance:
        self = cls(config, road_distance)
        self.anchor = Sample.from_list(data["anchor"]) if data.get("anchor") else None
        if data.get("last") and data["last"] == data.get("anchor"):
            # One sample, as before the checkpoint: the spike test asks whether the last
            # sample is the anchor itself.
            self.last = self.anchor
        else:
            self.last = Sample.from_list(data["last"]) if data.get("last") else None
        self.integral = float(data.get("integral", 0.0))
        self.integral_ok = bool(data.get("integral_ok", True))
        self.integral_known = bool(data.get("integral_known", True))
        self.speed_seen = bool(data.get("speed_seen", False))
        self.speeds_live = bool(data.get("speeds_live", False))
        self.still = bool(data.get("still", True))
        return self


@dataclass(frozen=True, slots=True)
class EngineSessionDraft:
    """An ignition-on interval, in POSIX seconds (the pipeline turns it into an output)."""

    start: float
    end: float
    seconds: float  # ignition-on time actually observed (silent gaps capped)
    device_hours_start: float | None
    device_hours_end: float | None
    lat_start: float
    lon_start: float
    lat_end: float
    lon_end: float


class EngineMeter:
    """Ignition on/off sessions; engine hours come from them or from the device's own meter."""

    __slots__ = ("config", "on_since", "last", "seconds", "hours_start")

    def __init__(self, config: OdometerConfig) -> None:
        self.config = config
        self.on_since: Sample | None = None
        self.last: Sample | None = None
        self.seconds = 0.0
        self.hours_start: float | None = None

    def step(self, sample: Sample) -> EngineSessionDraft | None:
        """Feed the next sample; returns the session that this sample closed, if any."""
        closed: EngineSessionDraft | None = None
        last = self.last
        if self.on_since is not None and last is not None:
            dt = sample.t - last.t
            if dt > self.config.engine_max_gap_s:
                # Silent for too long: the session ends at the last fix we saw.
                closed = self._close(last)
            elif sample.ignition is False:
                self.seconds += dt
                closed = self._close(sample)
            elif sample.ignition is True:
                self.seconds += dt
            else:
                # Ignition not reported on this fix: no claim either way; keep the session.
                self.seconds += dt
        if self.on_since is None and sample.ignition is True:
            self.on_since = sample
            self.seconds = 0.0
            self.hours_start = sample.engine_hours
        if sample.ignition is not None or self.on_since is not None:
            self.last = sample
        return closed

    def _close(self, end: Sample) -> EngineSessionDraft:
        start = self.on_since
        assert start is not None
        last_hours = end.engine_hours if end.engine_hours is not None else None
        draft = EngineSessionDraft(
            start=start.t,
            end=end.t,
            seconds=self.seconds,
            device_hours_start=self.hours_start,
            device_hours_end=last_hours,
            lat_start=start.lat,
            lon_start=start.lon,
            lat_end=end.lat,
            lon_end=end.lon,
        )
        self.on_since = None
        self.seconds = 0.0
        self.hours_start = None
        return draft

    def open_session(self) -> EngineSessionDraft | None:
        if self.on_since is None or self.last is None:
            return None
        start = self.on_since
        return EngineSessionDraft(
            start=start.t,
            end=self.last.t,
            seconds=self.seconds,
            device_hours_start=self.hours_start,
            device_hours_end=self.last.engine_hours,
            lat_start=start.lat,
            lon_start=start.lon,
            lat_end=self.last.lat,
            lon_end=self.last.lon,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "on_since": self.on_since.to_list() if self.on_since else None,
            "last": self.last.to_list() if self.last else None,
            "seconds": self.seconds,
            "hours_start": self.hours_start,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: OdometerConfig) -> EngineMeter:
        self = cls(config)
        self.on_since = Sample.from_list(data["on_since"]) if data.get("on_since") else None
        self.last = Sample.from_list(data["last"]) if data.get("last") else None
        self.seconds = float(data.get("seconds", 0.0))
        self.hours_start = data.get("hours_start")
        return self
