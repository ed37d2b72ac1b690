"""Motion accuracy against ground truth: trips, stops and kilometres per vehicle and day.

    .venv/bin/python benchmarks/motion_accuracy.py
    .venv/bin/python benchmarks/motion_accuracy.py --data heldout --gps-only
    .venv/bin/python benchmarks/motion_accuracy.py --data validation
    .venv/bin/python benchmarks/motion_accuracy.py --data fourth
    .venv/bin/python benchmarks/motion_accuracy.py --data fifth
    .venv/bin/python benchmarks/motion_accuracy.py --data sixth
    .venv/bin/python benchmarks/motion_accuracy.py --data seventh
    .venv/bin/python benchmarks/motion_accuracy.py --data eighth
    .venv/bin/python benchmarks/motion_accuracy.py --data ninth
    .venv/bin/python benchmarks/motion_accuracy.py --data tenth
    .venv/bin/python benchmarks/motion_accuracy.py --data eleventh
    .venv/bin/python benchmarks/motion_accuracy.py --data twelfth
    .venv/bin/python benchmarks/motion_accuracy.py --data thirteenth

Reads the simulated week in ``benchmarks/data/motion/`` (or the held-out week in its ``heldout/``
folder, made with another seed and not looked at while tuning the detector, or the validation
week in ``validation/``, made with a third seed after the last changes and only scored, or the
fourth week in ``fourth/``, made with a fourth seed and scored only before and after the change
to arrivals dated along the road, or the fifth in ``fifth/``, made with a fifth seed when none of
the four was unseen any more, or the sixth in ``sixth/``, made after the changes the fifth led
to, or the seventh in ``seventh/``, made after the changes the sixth led to, or the eighth in
``eighth/``, made after the distance changes the seventh led to, or the ninth in ``ninth/``,
made after the change the eighth led to, or the tenth in ``tenth/``, made to test the margins
below, or the eleventh in ``eleventh/``, made after the change the tenth led to, or the
twelfth in ``twelfth/``, or the thirteenth in ``thirteenth/``, the unseen one; see
``generate.py`` there for how they are made), feeds each vehicle's fixes to the motion
pipeline *in arrival order*, one batch per minute of arrivals (so late uploads and connection
backlogs go through the incremental/rebuild path exactly as the Celery task would), and
compares the result with what the vehicles really did.

Targets (issue 5): trips found = true trips per vehicle-day; distance error < 2 % per day;
stop start/end error < 60 s.

Beside the exact count over all vehicle-days, it splits them in two: the days whose true count
does not change when any one rule (minimum stop and trip duration, minimum trip length, stop
radius, creep speed) moves by what the tracker can resolve, and the days where it does, because
the truth itself has a halt, a move or a hop at a threshold. The table's "margin" column gives,
for those, the true counts the moved rules give. Stop starts and ends found 60 s or more off
are listed one by one, each with what put it out of reach when something did: a silence of
the tracker of over two minutes around the true moment, or a day whose count turns on a
threshold.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import io
import json
import lzma
import math
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from telematics.motion.odometer import RoadDistance  # noqa: E402
from telematics.motion.pipeline import (  # noqa: E402
    InMemoryMotionStore,
    MotionConfig,
    motion_update,
)
from telematics.motion.records import MotionFix  # noqa: E402
from telematics.motion.summary import daily_summaries  # noqa: E402
from telematics.motion.trips import Stop, Trip, TripConfig  # noqa: E402

DATA = REPO / "benchmarks" / "data" / "motion"
# Issue 5's target for stop start and end times.
STOP_TARGET_S = 60.0
# A true arrival or departure with no fix for longer than this around it happened in a silence
# of the tracker (a dropout, a tracker asleep): the data do not say when, to within the target.
SILENCE_S = 120.0
BATCH_S = 60


def load(data: Path = DATA) -> tuple[dict, dict[str, list[tuple[int, MotionFix]]]]:
    truth = json.loads(lzma.decompress((data / "truth.json.xz").read_bytes()))
    text = lzma.decompress((data / "fixes.csv.xz").read_bytes()).decode()
    per_device: dict[str, list[tuple[int, MotionFix]]] = defaultdict(list)
    for row in csv.DictReader(io.StringIO(text)):
        arrival = int(row["arrival"])
        fix = MotionFix(
            fix_time=datetime.fromtimestamp(int(row["t"]), UTC),
            latitude=float(row["lat"]),
            longitude=float(row["lon"]),
            valid=row["valid"] == "1",
            speed_kmh=float(row["speed"]) if row["speed"] else None,
            course=float(row["course"]) if row.get("course") else None,
            ignition=None if row["ignition"] == "" else row["ignition"] == "1",
            odometer=float(row["odometer"]) if row["odometer"] else None,
            server_time=datetime.fromtimestamp(arrival, UTC),
        )
        per_device[row["device"]].append((arrival, fix))
    return truth, per_device


def road_distance_function() -> RoadDistance:
    """The router's shortest road distance on the Chania street graph (for silences)."""
    from dispatch.routing.network import load_network  # noqa: PLC0415
    from dispatch.routing.router import Metric, Router  # noqa: PLC0415

    net = load_network(REPO / "data" / "osm" / "chania.osm.bz2", cache_dir=REPO / "var" / "graph")
    router = Router(net)

    def road(lat0: float, lon0: float, lat1: float, lon1: float) -> float | None:
        route = router.route([(lat0, lon0), (lat1, lon1)], metric=Metric.DISTANCE)
        return float(route.length_m) if route.ok else None

    return road


def run_device(
    arrivals: list[tuple[int, MotionFix]],
    config: MotionConfig,
    road: RoadDistance | None,
) -> tuple[InMemoryMotionStore, set, int, int]:
    store = InMemoryMotionStore()
    rejected: set = set()
    updates = rebuilds = 0
    batch: list[MotionFix] = []
    window = None
    last_processed = None

    def flush() -> None:
        nonlocal updates, rebuilds, last_processed
        earliest = store.add_fixes(batch)
        batch.clear()
        if earliest is None:
            return
        result = motion_update(store, config, earliest_new=earliest, road_distance=road)
        updates += 1
        if last_processed is not None and result.rebuilt_from != last_processed:
            rebuilds += 1
        if result.affected_to is not None:
            last_processed = result.affected_to
        for fix, reason in result.rejected:
            # Rebuilds see the same bad fix again: count each once.
            rejected.add((fix.fix_time, reason))

    for arrival, fix in arrivals:
        key = arrival // BATCH_S
        if window is not None and key != window:
            flush()
        window = key
        batch.append(fix)
    flush()
    return store, rejected, updates, rebuilds


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def match(truth: list[tuple[float, float]], found: list[tuple[float, float]]) -> dict[int, int]:
    """One-to-one, by largest time overlap first."""
    pairs = sorted(
        (
            (overlap(t0, t1, f0, f1), i, j)
            for i, (t0, t1) in enumerate(truth)
            for j, (f0, f1) in enumerate(found)
            if overlap(t0, t1, f0, f1) > 0 or (t0 == t1 == f0 == f1)
        ),
        reverse=True,
    )
    taken_t: set[int] = set()
    taken_f: set[int] = set()
    out: dict[int, int] = {}
    for _ov, i, j in pairs:
        if i in taken_t or j in taken_f:
            continue
        out[i] = j
        taken_t.add(i)
        taken_f.add(j)
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def hard_to_see(t: float, seen: list[float], span: list[int] | None) -> str:
    """Why a true stop start or end at ``t`` may be out of the trackers' reach: no fix for a
    long while around it (``seen``: the fix times, sorted), or a day whose true trip count
    turns on a threshold (``span``: the day's fewest and most true trips); "" when neither."""
    k = bisect.bisect_left(seen, t)
    before = seen[k - 1] if k > 0 else -math.inf
    after = seen[k] if k < len(seen) else math.inf
    if after - before > SILENCE_S:
        return f"in a silence of the tracker of {after - before:.0f} s"
    if span is not None and span[0] != span[1]:
        return "on a day whose count turns on a threshold"
    return ""


def evaluate(truth: dict, per_device: dict, config: MotionConfig, road: RoadDistance | None):
    tz = ZoneInfo(truth["timezone"])
    end = truth["end"]
    out: dict = {
        "rejected": Counter(),
        "rows": [],
        "stop_start": [],
        "stop_end": [],
        # Stop starts and ends found 60 s or more off: (vehicle, true time, "arrival" or
        # "departure", error, why it is hard to see).
        "stop_misses": [],
        "trip_true": 0,
        "trip_found": 0,
        "trip_matched": 0,
        "days_exact": 0,
        "days": 0,
        "days_resolved": 0,
        "days_resolved_exact": 0,
        "days_marginal_in_range": 0,
        "updates": 0,
        "rebuilds": 0,
    }
    started = time.perf_counter()

    def local_day(t: float) -> date:
        return datetime.fromtimestamp(t, tz).date()

    for uid, vt in truth["vehicles"].items():
        store, rejected, updates, rebuilds = run_device(per_device[uid], config, road)
        out["updates"] += updates
        out["rebuilds"] += rebuilds
        out["rejected"].update(reason for _t, reason in rejected)
        trips: list[Trip] = store.trips(include_open=True)
        stops: list[Stop] = store.stops(include_open=True)

        true_by_day = Counter(local_day(t["start"]) for t in vt["trips"])
        found_by_day = Counter(local_day(t.start_time.timestamp()) for t in trips)
        driven = {date.fromisoformat(d) for d in vt["distance_by_day"]}
        ranges = {date.fromisoformat(d): r for d, r in vt.get("trips_by_day_range", {}).items()}
        for day in sorted(set(true_by_day) | set(found_by_day) | driven):
            exact = true_by_day[day] == found_by_day[day]
            out["days"] += 1
            out["days_exact"] += exact
            lo, hi = ranges.get(day, (true_by_day[day], true_by_day[day]))
            if lo == hi:
                out["days_resolved"] += 1
                out["days_resolved_exact"] += exact
            else:
                out["days_marginal_in_range"] += lo <= found_by_day[day] <= hi
        out["trip_true"] += len(vt["trips"])
        out["trip_found"] += len(trips)
        # One to one by time overlap: a day's count can be exact with a trip missed and another
        # made up; this shows those.
        paired = match(
            [(t["start"], t["end"]) for t in vt["trips"]],
            [(t.start_time.timestamp(), t.end_time.timestamp()) for t in trips],
        )
        out["trip_matched"] += len(paired)

        # Stops: compare arrivals and departures (not the data's first arrival or the last,
        # still open, departure).
        true_stops = [(s["start"], s["end"]) for s in vt["stops"]]
        found_stops = [(s.start_time.timestamp(), s.end_time.timestamp()) for s in stops]
        seen = sorted(f.fix_time.timestamp() for _arrival, f in per_device[uid] if f.valid)

        for i, j in match(true_stops, found_stops).items():
            (t0, t1), (f0, f1) = true_stops[i], found_stops[j]
            moments = []
            if i > 0:
                moments.append(("arrival", t0, f0 - t0, out["stop_start"]))
            if t1 < end - 1:
                moments.append(("departure", t1, f1 - t1, out["stop_end"]))
            for kind, t, error, errors in moments:
                errors.append(error)
                if abs(error) >= STOP_TARGET_S:
                    why = hard_to_see(t, seen, ranges.get(local_day(t)))
                    out["stop_misses"].append((uid, t, kind, error, why))

        first, last = min(driven), max(driven)
        summaries = {
            s.day: s
            for s in daily_summaries(
                first, last, trips=trips, stops=stops, timezone=truth["timezone"]
            )
        }
        for day_iso, true_m in sorted(vt["distance_by_day"].items()):
            day = date.fromisoformat(day_iso)
            out["rows"].append(
                (
                    uid,
                    day_iso,
                    true_m,
                    summaries[day].distance_m,
                    true_by_day[day],
                    found_by_day[day],
                    ranges.get(day),
                )
            )
    out["seconds"] = time.perf_counter() - started
    out["timezone"] = truth["timezone"]
    return out


def report(title: str, out: dict, table: bool) -> None:
    print(f"== {title}")
    print(
        f"  pipeline runs (one per minute of arrivals): {out['updates']}, rebuilds from an "
        f"earlier checkpoint (late data): {out['rebuilds']}, {out['seconds']:.1f} s"
    )
    print(f"  fixes rejected (each counted once): {dict(sorted(out['rejected'].items()))}")
    errors = []
    if table:
        print(
            f"  {'vehicle':10s} {'day':10s} {'true km':>8s} {'found km':>9s} {'error':>7s} "
            f"{'trips':>5s} {'found':>5s} {'margin':>6s}"
        )
    for uid, day_iso, true_m, found_m, nt, nf, span in out["rows"]:
        err = (found_m - true_m) / true_m * 100 if true_m > 1000 else None
        if err is not None:
            errors.append(abs(err))
        if table:
            shown = f"{err:+6.2f}%" if err is not None else "     - "
            marginal = f"{span[0]}-{span[1]}" if span and span[0] != span[1] else ""
            flag = "" if nt == nf else "  <- trip count differs"
            print(
                f"  {uid:10s} {day_iso:10s} {true_m / 1000:8.2f} {found_m / 1000:9.2f} "
                f"{shown} {nt:5d} {nf:5d} {marginal:>6s}{flag}"
            )
    driving = len(errors)
    within = sum(1 for e in errors if e < 2.0)
    print(
        f"  Trips: true {out['trip_true']}, found {out['trip_found']}; vehicle-days with the "
        f"exact count: {out['days_exact']}/{out['days']} (target: all)"
    )
    marginal = out["days"] - out["days_resolved"]
    if marginal:
        # The truth's count on a vehicle-day can itself turn on a second or a metre: a halt of
        # 178 s against 181 s, a hop at 11 km/h against 9. generate.py stores, per day, the true
        # counts when any one rule moves by what the tracker resolves (a record interval on the
        # stop and trip durations, 10 m on the trip length and the stop radius, 3 km/h on the
        # creep speed).
        print(
            f"    on the {out['days_resolved']} vehicle-days whose true count stays the same when "
            f"any one rule moves by what the tracker resolves: exact "
            f"{out['days_resolved_exact']}/{out['days_resolved']}"
        )
        print(
            f"    on the other {marginal}, where it does not ('margin' in the table: the true "
            f"counts those moves give): exact {out['days_exact'] - out['days_resolved_exact']}/"
            f"{marginal}, found count within the margin {out['days_marginal_in_range']}/{marginal}"
        )
    print(
        f"  Trips paired one to one with a true trip by time overlap: {out['trip_matched']}; "
        f"true trips missed {out['trip_true'] - out['trip_matched']}, found trips with no "
        f"true one {out['trip_found'] - out['trip_matched']}"
    )
    print(
        f"  Distance error per driving day ({driving} vehicle-days): median "
        f"{statistics.median(errors):.2f}%, p90 {pct(errors, 0.9):.2f}%, max "
        f"{max(errors):.2f}%; under 2%: {within}/{driving} (target: all)"
    )
    for name, errs in (
        ("start (arrival)", out["stop_start"]),
        ("end (departure)", out["stop_end"]),
    ):
        a = [abs(e) for e in errs]
        print(
            f"  Stop {name} error, {len(a)} stops: median {statistics.median(a):.0f} s, "
            f"p95 {pct(a, 0.95):.0f} s, max {max(a):.0f} s; under 60 s: "
            f"{sum(1 for e in a if e < STOP_TARGET_S)}/{len(a)} (target: all)"
        )
    misses = sorted(out["stop_misses"], key=lambda m: (m[0], m[1]))
    if misses:
        # A moment inside a long silence is not in the data at all; one on a day whose count
        # turns on a threshold usually belongs to a halt that the truth and the detector cut
        # on opposite sides of that threshold (a stop of 185 s against a halt of 175 s).
        silent = sum(1 for m in misses if m[4].startswith("in a silence"))
        marginal = sum(1 for m in misses if m[4].startswith("on a day"))
        print(
            f"  Stop starts and ends {STOP_TARGET_S:.0f} s or more off: {len(misses)}; in a "
            f"silence of the tracker over {SILENCE_S:.0f} s: {silent}; on a day whose count "
            f"turns on a threshold: {marginal}; others: {len(misses) - silent - marginal}"
        )
        for uid, t, kind, error, why in misses:
            when = datetime.fromtimestamp(t, ZoneInfo(out["timezone"]))
            print(f"    {uid:10s} {when:%Y-%m-%d %H:%M:%S} {kind:9s} {error:+5.0f} s  {why}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=".", help="folder of the set, relative to benchmarks/data/motion"
    )
    parser.add_argument(
        "--gps-only", action="store_true", help="skip the run with the router measuring silences"
    )
    args = parser.parse_args()
    data = (DATA / args.data).resolve()
    truth, per_device = load(data)
    config = MotionConfig(
        trips=TripConfig(
            min_stop_duration_s=truth["min_stop_s"],
            min_trip_distance_m=truth["min_trip_m"],
            min_trip_duration_s=truth["min_trip_s"],
            timezone=truth["timezone"],
        )
    )
    n = sum(len(v) for v in per_device.values())
    print(
        f"Motion accuracy: {len(truth['vehicles'])} vehicles x 5 days on Chania's streets, "
        f"{n} fixes delivered in arrival order ({data.relative_to(REPO)}, seed "
        f"{truth.get('seed', 20250306)})"
    )
    report(
        "GPS only (silences measured as straight lines)",
        evaluate(truth, per_device, config, None),
        table=True,
    )
    if args.gps_only:
        return
    report(
        "GPS with the router measuring silences while driving along the streets",
        evaluate(truth, per_device, config, road_distance_function()),
        table=True,
    )


if __name__ == "__main__":
    main()
