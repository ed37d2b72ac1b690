"""Arrival and completion from where a vehicle is: the decisions, on plain values.

Pure module (no Django). The service feeds it each queued job with the live state of its vehicle;
it answers what changed:

- a vehicle *stopped* within ``arrival_radius_m`` of the job's place is near it; once it has been
  near for ``arrival_dwell_s`` it has arrived (the job goes on site, at the time it stopped), so a
  truck waiting at a red light by the place does not count;
- a job on site whose municipality completes jobs on departure is done when the vehicle is more
  than ``departure_radius_m`` away and the time on site has passed; leaving earlier leaves the job
  on site for the driver or dispatcher to close (it may have failed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

EARTH_RADIUS_M = 6_371_008.8
# Below this a vehicle counts as stopped even if the tracker's motion flag lags behind.
STOPPED_KMH = 3.0


class Action(StrEnum):
    NONE = "none"
    NEAR = "near"  # remember when it stopped here
    CLEAR = "clear"  # it moved on before arriving
    ARRIVE = "arrive"
    COMPLETE = "complete"


@dataclass(frozen=True)
class Config:
    arrival_radius_m: float = 80.0
    arrival_dwell_s: float = 30.0
    departure_radius_m: float = 150.0
    complete_on_departure: bool = False


@dataclass(frozen=True)
class Observation:
    lat: float
    lon: float
    at: datetime  # fix time
    moving: bool = False
    speed_kmh: float | None = None

    @property
    def stopped(self) -> bool:
        return not self.moving and (self.speed_kmh is None or self.speed_kmh < STOPPED_KMH)


@dataclass(frozen=True)
class Site:
    lat: float
    lon: float
    status: str  # assigned, en_route, on_site
    near_since: datetime | None = None
    arrived_at: datetime | None = None
    service_s: float = 0.0


@dataclass(frozen=True)
class Decision:
    action: Action
    at: datetime | None = None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def decide(site: Site, obs: Observation, config: Config) -> Decision:
    away = distance_m(site.lat, site.lon, obs.lat, obs.lon)
    if site.status == "on_site":
        if not config.complete_on_departure or site.arrived_at is None:
            return Decision(Action.NONE)
        served = obs.at - site.arrived_at >= timedelta(seconds=site.service_s)
        if away > config.departure_radius_m and served:
            return Decision(Action.COMPLETE, obs.at)
        return Decision(Action.NONE)
    if site.status not in ("assigned", "en_route"):
        return Decision(Action.NONE)
    if away <= config.arrival_radius_m and obs.stopped:
        if site.near_since is None:
            if config.arrival_dwell_s <= 0:
                return Decision(Action.ARRIVE, obs.at)
            return Decision(Action.NEAR, obs.at)
        if obs.at - site.near_since >= timedelta(seconds=config.arrival_dwell_s):
            return Decision(Action.ARRIVE, site.near_since)
        return Decision(Action.NONE)
    if site.near_since is not None:
        return Decision(Action.CLEAR)
    return Decision(Action.NONE)
