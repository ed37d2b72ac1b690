"""Distance from GPS (robust to parked jitter and gaps), and engine hours.

Why the distance is not just the sum of straight lines between fixes:

* **Jitter.** A parked receiver wanders a few metres every fix. Summing those steps adds
  kilometres a day to a vehicle that never moved. :class:`GpsDistance` only measures from an
  anchor and moves the anchor once the vehicle is clearly elsewhere (``jitter_radius_m``) or says
  it is moving.
* **Corners.** Trackers that record every 10 s cut every corner: a right-angle turn at 30 km/h
  loses about 20 m, several per cent of an urban day. The receiver's own speed (Doppler, accurate
  to a few tenths of a m/s) integrated over time follows the road instead, so when the fixes
  carry speeds the path length is the speed integral, checked against the straight line.
* **Gaps.** Across a gap longer than ``max_gap_s`` the route is unknown; no distance is invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telematics.motion.geodesy import haversine_m
from telematics.motion.records import Sample

__all__ = ["EngineMeter", "EngineSessionDraft", "GpsDistance", "OdometerConfig"]


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
    # Use the device's own odometer for trip distances when it is present and plausible.
    prefer_device_odometer: bool = True
    # Device and GPS distances of one trip must agree within this factor for the device value to
    # be trusted (a tracker whose odometer was reset, or counts in the wrong unit, fails it).
    device_odometer_tolerance: float = 0.25
    # Engine hours while the ignition is on but fixes stop: cap what one silent interval may add.
    engine_max_gap_s: float = 900.0


class GpsDistance:
    """Anchor-based path length over the samples a caller commits, in time order."""

    __slots__ = ("config", "anchor", "last", "integral", "integral_ok")

    def __init__(self, config: OdometerConfig) -> None:
        self.config = config
        self.anchor: Sample | None = None  # last sample distance was measured to
        self.last: Sample | None = None  # last sample seen (for the speed integral)
        self.integral = 0.0  # metres integrated from speeds since the anchor
        self.integral_ok = True

    def reset(self, sample: Sample | None) -> None:
        self.anchor = sample
        self.last = sample
        self.integral = 0.0
        self.integral_ok = True

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
        if last.speed is not None and sample.speed is not None:
            self.integral += (last.speed + sample.speed) * 0.5 / 3.6 * dt
        else:
            self.integral_ok = False
        self.last = sample
        anchor = self.anchor
        chord = haversine_m(anchor.lat, anchor.lon, sample.lat, sample.lon)
        if chord < config.jitter_radius_m and not (moving and chord > 0.0):
            return 0.0
        distance = chord
        if config.use_reported_speed and self.integral_ok:
            est = self.integral
            if (
                config.speed_integral_min_ratio * chord
                <= est
                <= config.speed_integral_max_ratio * chord + config.speed_integral_slack_m
            ):
                distance = est
        self.anchor = sample
        self.integral = 0.0
        self.integral_ok = True
        return distance

    def to_dict(self) -> dict[str, Any]:
        return {
            "anchor": self.anchor.to_list() if self.anchor else None,
            "last": self.last.to_list() if self.last else None,
            "integral": self.integral,
            "integral_ok": self.integral_ok,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: OdometerConfig) -> GpsDistance:
        self = cls(config)
        self.anchor = Sample.from_list(data["anchor"]) if data.get("anchor") else None
        self.last = Sample.from_list(data["last"]) if data.get("last") else None
        self.integral = float(data.get("integral", 0.0))
        self.integral_ok = bool(data.get("integral_ok", True))
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
