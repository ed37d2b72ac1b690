"""Generate the motion ground-truth set: simulated days on Chania's real streets.

    .venv/bin/python benchmarks/data/motion/generate.py
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20250417 --out heldout
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20250529 --out validation
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20251207 --out fourth
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261207 --out fifth
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261208 --out sixth
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261209 --out seventh
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261210 --out eighth
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261211 --out ninth
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261212 --out tenth
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261213 --out eleventh
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261214 --out twelfth
    .venv/bin/python benchmarks/data/motion/generate.py --seed 20261215 --out thirteenth

Writes ``fixes.csv.xz`` (what the trackers reported, noisy, in arrival order) and
``truth.json.xz`` (what the vehicles really did) next to this file, or in ``--out`` (relative
to this folder). Deterministic for a seed. The default seed makes the set the detector is tuned
and checked on; ``heldout/`` (seed 20250417) is a second week nobody looked at while tuning it;
``validation/`` (seed 20250529) a third, made after the detector's changes for the exact trip
count and scored only once they were done; ``fourth/`` (seed 20251207) a fourth, made when
arrivals after a silence began to be dated along the road and scored only before and after;
``fifth/`` (seed 20261207) a fifth, made once all four had been studied; ``sixth/`` (seed
20261208) a sixth, made after the changes the fifth led to; ``seventh/`` (seed 20261209) a
seventh, made after the changes the sixth led to; ``eighth/`` (seed 20261210) an eighth, made
after the distance changes the seventh led to; ``ninth/`` (seed 20261211) a ninth, made after
the change the eighth led to; ``tenth/`` (seed 20261212) a tenth, made with the margins below;
``eleventh/`` (seed 20261213) an eleventh, made after the change the tenth led to;
``twelfth/`` (seed 20261214) a twelfth, made with no change since; ``thirteenth/`` (seed
20261215) a thirteenth, likewise.

How the truth is made. The fleet simulator's motion model (``telematics/simulator/motion.py``)
drives six municipal vehicles over five days (Thursday to the following Monday, a weekend
parked in between) along the router's paths on the Chania street graph, second by second, with
acceleration, braking, turns, junction waits, work stops, refuelling and working hours. Its
one-second trace is the truth. A stop begins when a vehicle comes to rest (the first second at
speed 0 in its final place) and lasts while it stays within ``STOP_RADIUS_M`` of that point
without going faster than ``CREEP_KMH`` (edging forward in a queue, a refuse truck moving from
one bin to the next), until the last second it is at rest there; it counts when that is at
least ``MIN_STOP_S``. The movement between two stops
is a trip when it covers at least ``MIN_TRIP_M`` and lasts at least ``MIN_TRIP_S`` (otherwise
it belongs to the stop). These are the detector's default parameters; the truth applies them
to the exact one-second positions, the detector to what the trackers report. Distances are
summed along the one-second trace on the road.

The truth's count can turn on a second or a metre that no tracker sees: a halt of 178 s
against one of 181 s, a move of 59 s against 61 s, a hop peaking at 11 km/h against 9. So for
each vehicle and local day, ``trips_by_day_range`` holds the fewest and the most true trips when
any one rule moves by what that vehicle's tracker resolves (``resolution``: one record interval
on the stop and trip durations, 10 m on the trip length and the stop radius, 3 km/h on the creep
speed), the others staying put. Where the two are equal, the day's count is decided by what the
trackers can see.

How the trackers see it. Each vehicle carries one kind of tracker:

* hardware (Teltonika-like): a record every 10 s while the ignition is on, every 300 s while it
  is off, at once on an ignition change and, when angle recording is on, whenever the heading
  turns 15° since the last record; integer km/h; ignition; one reports its CAN odometer;
* hardware (GT06-like): time only, 10 or 15 s with ignition on, 300 s off;
* phones (Traccar Client): a fixed interval day and night, no ignition, noisier.

Noise: a Gauss-Markov position error per axis (σ 3-7 m, correlation time 30-90 s) plus white
noise, larger while parked; multipath outliers (50-200 m, 0.3 % of fixes); speed and course
noise;
invalid fixes, (0, 0), 1970 clocks and next-year clocks now and then. Dropouts: 20-150 s with no
fix while driving. Delivery: normally 1-3 s late; connection outages deliver their backlog in
one burst at reconnection; some hours are uploaded only at the end of the day (out of order).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import math
import random
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))

from dispatch.routing.network import load_network  # noqa: E402
from dispatch.routing.router import Router  # noqa: E402
from telematics.motion.workcalendar import WorkingCalendar  # noqa: E402
from telematics.simulator.motion import (  # noqa: E402
    FleetSimulation,
    ReportPolicy,
    RoadMap,
    Step,
    VehicleSpec,
)

SEED = 20250306
TZ = ZoneInfo("Europe/Athens")
# Thursday 6 March 2025 00:00 to Tuesday 11 March 00:00, Athens time (UTC+2).
START = int(datetime(2025, 3, 6, 0, 0, tzinfo=TZ).timestamp())
END = int(datetime(2025, 3, 11, 0, 0, tzinfo=TZ).timestamp())
DEPOT = (35.5105, 24.0205)
FUEL = (35.5125, 24.0300)
MIN_STOP_S = 180
MIN_TRIP_M = 200.0
MIN_TRIP_S = 60
STOP_RADIUS_M = 50.0
CREEP_KMH = 10.0
R = 6_371_008.8


@dataclass(frozen=True)
class Rules:
    """What makes a stop and a trip; the defaults are the detector's."""

    min_stop_s: float = MIN_STOP_S
    min_trip_m: float = MIN_TRIP_M
    min_trip_s: float = MIN_TRIP_S
    stop_radius_m: float = STOP_RADIUS_M
    creep_kmh: float = CREEP_KMH


# How far each rule can move before a tracker could tell the difference: a halt or a move
# measured from records is known to about one record interval, a place and a length to about
# the GPS error, and a hop's top speed only when a record happens to fall on it. A true count
# that changes when one rule moves this far turns on something the trackers do not resolve.
def resolution(on_interval: int) -> dict[str, float]:
    return {
        "min_stop_s": on_interval,
        "min_trip_s": on_interval,
        "min_trip_m": 10.0,
        "stop_radius_m": 10.0,
        "creep_kmh": 3.0,
    }


@dataclass(frozen=True)
class Tracker:
    kind: str  # "hardware" or "phone"
    on_interval: int  # seconds between records with the ignition on (phones: always)
    off_interval: int  # with the ignition off (hardware)
    angle_deg: float | None  # heading change that triggers a record (None: time only)
    ignition: bool
    odometer: bool
    sigma_m: float  # correlated position error, per axis
    tau_s: float
    white_m: float
    parked_sigma_m: float
    speed_decimals: int
    speed_sigma_kmh: float


def hardware(
    interval: int, angle: float | None, odometer: bool = False, sigma: float = 3, parked: float = 4
) -> Tracker:
    return Tracker("hardware", interval, 300, angle, True, odometer, sigma, 60, 1, parked, 0, 0.5)


def phone(interval: int, sigma: float, tau: float, parked: float) -> Tracker:
    return Tracker("phone", interval, interval, None, False, False, sigma, tau, 2, parked, 1, 0.8)


FLEET = [
    (VehicleSpec("van-1", "van", DEPOT), hardware(10, 15)),
    (VehicleSpec("pickup-1", "pickup", DEPOT, weight_t=3.2), hardware(10, None)),
    (VehicleSpec("refuse-1", "refuse_truck", DEPOT, weight_t=26), hardware(10, 15, True, 3, 5)),
    (VehicleSpec("tipper-1", "tipper", DEPOT, weight_t=16), hardware(15, None, False, 4, 5)),
    (VehicleSpec("car-1", "passenger_car", DEPOT), phone(5, 5, 30, 7)),
    (VehicleSpec("sweeper-1", "sweeper", DEPOT, weight_t=12), phone(10, 6, 90, 8)),
]


def haversine(lat1, lon1, lat2, lon2):
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.asarray(lon2) - lon1) / 2) ** 2
    )
    return 2 * R * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


# ------------------------------------------------------------------------------------------------
# truth


def simulate(seed: int = SEED) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """One-second traces per vehicle: lat, lon, speed (km/h), ignition, over [START, END)."""
    net = load_network(REPO / "data" / "osm" / "chania.osm.bz2", cache_dir=REPO / "var" / "graph")
    road = RoadMap(Router(net))
    steps: list[Step] = []
    specs = [spec for spec, _tracker in FLEET]
    sim = FleetSimulation(
        road,
        specs,
        calendar=WorkingCalendar(),
        start=START,
        fuel_station=FUEL,
        seed=seed,
        reports=ReportPolicy(moving_s=1, idling_s=5, parked_s=60),
        observer=steps.append,
    )
    fixes = sim.advance(END)
    n = END - START
    traces: dict[str, dict[str, np.ndarray]] = {}
    for spec in specs:
        traces[spec.unique_id] = {
            "lat": np.full(n, np.nan),
            "lon": np.full(n, np.nan),
            "speed": np.zeros(n),
            "ignition": np.zeros(n, dtype=bool),
            "known": np.zeros(n, dtype=bool),
        }
    ignition_at: dict[str, list[tuple[int, bool]]] = {s.unique_id: [] for s in specs}
    for fix in fixes:
        i = int(fix.fix_time.timestamp()) - START
        if not 0 <= i < n:
            continue
        tr = traces[fix.unique_id]
        tr["lat"][i] = fix.latitude
        tr["lon"][i] = fix.longitude
        tr["known"][i] = True
        ignition_at[fix.unique_id].append((i, bool(fix.ignition)))
    for step in steps:
        i = step.t - START
        if not 0 <= i < n:
            continue
        tr = traces[step.unique_id]
        tr["lat"][i] = step.latitude
        tr["lon"][i] = step.longitude
        tr["speed"][i] = step.speed_kmh
        tr["known"][i] = True
    for uid, tr in traces.items():
        # Between reports a vehicle that is not driving stands where it was last seen.
        idx = np.where(tr["known"], np.arange(n), 0)
        np.maximum.accumulate(idx, out=idx)
        first = int(np.argmax(tr["known"]))
        idx[:first] = first  # before its first report it stood where that report puts it
        tr["lat"] = tr["lat"][idx]
        tr["lon"] = tr["lon"][idx]
        ign = tr["ignition"]
        changes = sorted(ignition_at[uid])
        for (i, on), nxt in zip(changes, changes[1:] + [(n, False)], strict=True):
            ign[i : nxt[0]] = on
        ign[tr["speed"] > 0] = True
    categories = {spec.unique_id: spec.category for spec in specs}
    return traces, categories


def truth_of(trace: dict[str, np.ndarray], rules: Rules = Rules()) -> dict:
    lat, lon, speed = trace["lat"], trace["lon"], trace["speed"]
    step = np.concatenate(([0.0], haversine(lat[:-1], lon[:-1], lat[1:], lon[1:])))
    moving = step > 0.05
    cum = np.cumsum(step)
    n = len(lat)
    # Stops: from the second a vehicle comes to rest, while it stays within the stop radius of
    # that point and slower than the creep speed, until the last second it is at rest there; at
    # least the minimum stop long. [a, b) = arrived at a, left after b - 1. The scan finds a as the
    # first second without a step; when the step into the second before it already ended at
    # speed 0, the vehicle was at rest in its place from that second on, and a is that second
    # (as the departure is the last second at rest, not the first one moving).
    # Local metres (equirectangular about the depot): exact enough over a town.
    x = ((lon - DEPOT[1]) * math.radians(1) * R * math.cos(math.radians(DEPOT[0]))).tolist()
    y = ((lat - DEPOT[0]) * math.radians(1) * R).tolist()
    slow = (speed < rules.creep_kmh).tolist()
    rest = (~moving).tolist()
    r2 = rules.stop_radius_m * rules.stop_radius_m
    stops: list[tuple[int, int]] = []
    i = 0
    while i < n:
        if not rest[i]:
            i += 1
            continue
        a = i
        j = a
        last_rest = a
        xa, ya = x[a], y[a]
        while j < n and slow[j] and (x[j] - xa) ** 2 + (y[j] - ya) ** 2 <= r2:
            if rest[j]:
                last_rest = j
            j += 1
        if a > 0 and speed[a - 1] == 0:
            a -= 1
        if last_rest - a >= rules.min_stop_s or a == 0:
            stops.append((a, last_rest + 1))
            i = last_rest + 1
        else:
            while i < n and rest[i]:
                i += 1
    merged: list[list[int]] = []
    for a, b in stops:
        if merged:
            prev = merged[-1]
            travelled = cum[a] - cum[prev[1] - 1]
            if travelled < rules.min_trip_m or a - (prev[1] - 1) < rules.min_trip_s:
                prev[1] = b  # too short a move: still the same stop
                continue
        merged.append([a, b])
    trips = []
    for (_a0, b0), (a1, _b1) in zip(merged, merged[1:], strict=False):
        start, end = b0 - 1, a1
        trips.append(
            {
                "start": START + start,
                "end": START + end,
                "distance_m": float(cum[end] - cum[start]),
                "start_point": [float(lat[start]), float(lon[start])],
                "end_point": [float(lat[end]), float(lon[end])],
            }
        )
    stop_list = [{"start": START + a, "end": START + b - 1} for a, b in merged]
    days: dict[str, float] = {}
    t = np.arange(n) + START
    local_days = np.array(
        [datetime.fromtimestamp(int(x), TZ).date().isoformat() for x in t[::3600]]
    )
    for k, day in enumerate(local_days):
        lo = k * 3600
        hi = min(n, lo + 3600)
        days[day] = days.get(day, 0.0) + float(cum[hi - 1] - (cum[lo - 1] if lo else 0.0))
    return {"trips": trips, "stops": stop_list, "distance_by_day": days}


def trip_count_range(
    trace: dict[str, np.ndarray], on_interval: int, truth: dict
) -> dict[str, list[int]]:
    """Per local day, the fewest and the most true trips when any one rule moves by what the
    tracker resolves (``resolution``), the others staying put."""

    def by_day(vt: dict) -> Counter:
        return Counter(
            datetime.fromtimestamp(trip["start"], TZ).date().isoformat() for trip in vt["trips"]
        )

    counts = [by_day(truth)]
    for name, step in resolution(on_interval).items():
        for sign in (-1, 1):
            moved = replace(Rules(), **{name: getattr(Rules(), name) + sign * step})
            counts.append(by_day(truth_of(trace, moved)))
    days = sorted(set(truth["distance_by_day"]).union(*counts))
    return {day: [min(c[day] for c in counts), max(c[day] for c in counts)] for day in days}


# ------------------------------------------------------------------------------------------------
# trackers


def m_lon_factor(lat: np.ndarray) -> np.ndarray:
    return R * math.pi / 180 * np.cos(np.radians(lat))


def heading(lat0, lon0, lat1, lon1) -> float:
    dx = (lon1 - lon0) * math.cos(math.radians(lat0))
    dy = lat1 - lat0
    return math.degrees(math.atan2(dx, dy)) % 360


def record_times(trace: dict[str, np.ndarray], tracker: Tracker, rng: random.Random) -> list[int]:
    lat, lon, ign, speed = trace["lat"], trace["lon"], trace["ignition"], trace["speed"]
    n = len(lat)
    times: list[int] = []
    last = -10_000
    last_heading: float | None = None
    for i in range(n):
        if tracker.kind == "phone":
            if i - last >= tracker.on_interval:
                times.append(i)
                last = i
            continue
        changed = i > 0 and ign[i] != ign[i - 1]
        interval = tracker.on_interval if ign[i] else tracker.off_interval
        due = i - last >= interval
        turned = False
        if tracker.angle_deg is not None and speed[i] > 3 and i > 0 and i - last >= 1:
            h = heading(lat[i - 1], lon[i - 1], lat[i], lon[i])
            if last_heading is not None:
                turned = abs((h - last_heading + 180) % 360 - 180) >= tracker.angle_deg
        if changed or due or turned:
            times.append(i)
            last = i
            if speed[i] > 3 and i > 0:
                last_heading = heading(lat[i - 1], lon[i - 1], lat[i], lon[i])
    return times


def dropouts(trace: dict[str, np.ndarray], rng: random.Random) -> np.ndarray:
    """Seconds with no fix at all: 20-150 s while the engine runs, about 0.7 an hour."""
    n = len(trace["lat"])
    lost = np.zeros(n, dtype=bool)
    on = np.flatnonzero(trace["ignition"])
    if len(on) == 0:
        return lost
    count = int(len(on) / 3600 * 0.7)
    for _ in range(count):
        at = int(on[rng.randrange(len(on))])
        lost[at : at + rng.randint(20, 150)] = True
    return lost


def observe(
    uid: str, trace: dict[str, np.ndarray], tracker: Tracker, rng: random.Random
) -> list[dict]:
    lat, lon, ign, speed = trace["lat"], trace["lon"], trace["ignition"], trace["speed"]
    step = np.concatenate(([0.0], haversine(lat[:-1], lon[:-1], lat[1:], lon[1:])))
    odometer = 84_000_000.0 + np.cumsum(step)
    lost = dropouts(trace, rng)
    m_lat = R * math.pi / 180
    m_lon = m_lat * math.cos(math.radians(DEPOT[0]))
    ex = ey = 0.0
    last_t = None
    rows = []
    # Heading of travel, as the receiver's course: the direction of the last movement.
    dx_m = np.diff(lon, prepend=lon[0]) * m_lon_factor(lat)
    dy_m = np.diff(lat, prepend=lat[0]) * (R * math.pi / 180)
    heading_now = np.degrees(np.arctan2(dx_m, dy_m)) % 360
    still = np.hypot(dx_m, dy_m) < 0.05
    idx = np.where(~still, np.arange(len(lat)), 0)
    np.maximum.accumulate(idx, out=idx)
    heading_now = heading_now[idx]
    for i in record_times(trace, tracker, rng):
        if lost[i]:
            continue
        parked = speed[i] == 0 and not ign[i]
        sigma = tracker.parked_sigma_m if parked else tracker.sigma_m
        dt = 1.0 if last_t is None else i - last_t
        rho = math.exp(-dt / tracker.tau_s)
        scale = sigma * math.sqrt(1 - rho * rho)
        ex = ex * rho + scale * rng.gauss(0, 1)
        ey = ey * rho + scale * rng.gauss(0, 1)
        last_t = i
        dx = ex + rng.gauss(0, tracker.white_m)
        dy = ey + rng.gauss(0, tracker.white_m)
        if rng.random() < 0.003:
            # Multipath: one fix thrown off by a reflection.
            angle = rng.uniform(0, 2 * math.pi)
            jump = rng.uniform(50, 200)
            dx += jump * math.cos(angle)
            dy += jump * math.sin(angle)
        v = speed[i] + rng.gauss(0, tracker.speed_sigma_kmh)
        if speed[i] == 0:
            v = abs(rng.gauss(0, tracker.speed_sigma_kmh))
        v = max(v, 0.0)
        row = {
            "t": START + i,
            "lat": round(float(lat[i]) + dy / m_lat, 7),
            "lon": round(float(lon[i]) + dx / m_lon, 7),
            "speed": round(v, tracker.speed_decimals),
            "course": round((float(heading_now[i]) + rng.gauss(0, 3.0)) % 360, 1),
            "ignition": (1 if ign[i] else 0) if tracker.ignition else "",
            "valid": 1,
            "odometer": round(float(odometer[i])) if tracker.odometer else "",
        }
        r = rng.random()
        if r < 0.002:
            row["valid"] = 0  # lost lock: the receiver repeats a stale position, flagged
        elif r < 0.0025:
            row["lat"], row["lon"] = 0.0, 0.0
        rows.append(row)
    # Clock faults: a fix stamped 1970 and one stamped a year ahead, on some days.
    for _day in range(0, len(lat), 86400):
        if rng.random() < 0.3 and rows:
            base = dict(rows[min(len(rows) - 1, rng.randrange(len(rows)))])
            base["t"] = rng.randint(0, 86400 * 3)
            rows.append(base)
        if rng.random() < 0.3 and rows:
            base = dict(rows[rng.randrange(len(rows))])
            base["t"] = base["t"] + 365 * 86400
            rows.append(base)
    for row in rows:
        row["device"] = uid
    return rows


def deliver(rows: list[dict], rng: random.Random) -> list[dict]:
    """Arrival times: latency, connection outages (backlog in one burst at reconnection), and
    some hours uploaded only at the end of the day."""
    real = [r for r in rows if START <= r["t"] < END]
    for r in rows:
        r["arrival"] = max(r["t"], START) + rng.randint(1, 3)
        if r["t"] >= END:
            r["arrival"] = r["t"] - 365 * 86400 + rng.randint(1, 3)  # clock a year ahead
        if r["t"] < START:
            r["arrival"] = START + rng.randint(0, 86400 * 5 - 1)
    for day in range(START, END, 86400):
        working = [r for r in real if day + 7 * 3600 <= r["t"] < day + 15 * 3600]
        if not working:
            continue
        if rng.random() < 0.6:
            a = rng.choice(working)["t"]
            b = a + rng.randint(600, 3600)
            for r in real:
                if a <= r["t"] < b:
                    r["arrival"] = b + rng.randint(2, 20)
        if rng.random() < 0.4:
            a = rng.choice(working)["t"]
            b = a + rng.randint(1200, 5400)
            upload = day + 20 * 3600 + rng.randint(0, 3600)
            for r in real:
                if a <= r["t"] < b:
                    r["arrival"] = max(upload, r["arrival"])
    return sorted(rows, key=lambda r: (r["arrival"], r["t"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", default=".", help="folder, relative to this one")
    args = parser.parse_args()
    out = (HERE / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    traces, categories = simulate(args.seed)
    rng = random.Random(args.seed)
    truth = {
        "seed": args.seed,
        "start": START,
        "end": END,
        "timezone": "Europe/Athens",
        "min_stop_s": MIN_STOP_S,
        "min_trip_m": MIN_TRIP_M,
        "min_trip_s": MIN_TRIP_S,
        "vehicles": {},
    }
    all_rows: list[dict] = []
    for spec, tracker in FLEET:
        uid = spec.unique_id
        vt = truth_of(traces[uid])
        vt["resolution"] = resolution(tracker.on_interval)
        vt["trips_by_day_range"] = trip_count_range(traces[uid], tracker.on_interval, vt)
        vt["category"] = categories[uid]
        vt["tracker"] = tracker.__dict__
        truth["vehicles"][uid] = vt
        rows = deliver(observe(uid, traces[uid], tracker, rng), rng)
        all_rows.extend(rows)
        km = sum(vt["distance_by_day"].values()) / 1000
        print(f"{uid:10s} trips={len(vt['trips']):3d} km={km:7.1f} fixes={len(rows)}")
    all_rows.sort(key=lambda r: (r["arrival"], r["device"], r["t"]))
    buf = io.StringIO()
    fields = [
        "arrival",
        "device",
        "t",
        "lat",
        "lon",
        "speed",
        "course",
        "ignition",
        "valid",
        "odometer",
    ]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(all_rows)
    (out / "fixes.csv.xz").write_bytes(lzma.compress(buf.getvalue().encode(), preset=9))
    (out / "truth.json.xz").write_bytes(
        lzma.compress(json.dumps(truth, indent=1).encode(), preset=9)
    )
    print(f"{len(all_rows)} fixes written")


if __name__ == "__main__":
    main()
