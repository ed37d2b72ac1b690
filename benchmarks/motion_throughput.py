"""Motion pipeline throughput on one core.

    .venv/bin/python benchmarks/motion_throughput.py

One vehicle reporting every 10 s for 30 days (259 200 fixes): parked with GPS jitter, driving
with turns, halts and noise, ignition, fuel level and driver tags, through a municipality with
60 geofences (polygons and circles, some with their own speed limits), a working calendar and
a category speed limit, so every rule of the pipeline runs. Measured, medians of a few runs:

* rebuilding the whole month (filters + trips/stops + distance + engine + events, one pass);
* daily summaries of the month from the outputs;
* incremental processing as the Celery task does it: one batch per minute of fixes, each restored
  from the previous checkpoint (reported for the first days only, as positions per second).
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shapely.geometry import box  # noqa: E402

from telematics.motion.events import EventConfig  # noqa: E402
from telematics.motion.geofence import Geofence, GeofenceIndex  # noqa: E402
from telematics.motion.pipeline import (  # noqa: E402
    InMemoryMotionStore,
    MotionConfig,
    MotionProcessor,
    motion_update,
)
from telematics.motion.records import MotionFix  # noqa: E402
from telematics.motion.summary import daily_summaries  # noqa: E402
from telematics.motion.trips import Stop, Trip  # noqa: E402
from telematics.motion.workcalendar import WorkingCalendar  # noqa: E402

LAT0, LON0 = 35.5138, 24.0180
M_LAT = 6_371_008.8 * math.pi / 180
M_LON = M_LAT * math.cos(math.radians(LAT0))
START = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
DAYS = 30
STEP = 10


def month_of_fixes(seed: int = 1) -> list[MotionFix]:
    rng = random.Random(seed)
    fixes: list[MotionFix] = []
    t = START
    end = START + timedelta(days=DAYS)
    x = y = 0.0
    heading = 0.0
    fuel = 80.0
    driving = False
    phase_end = t
    speed = 0.0
    ex = ey = 0.0
    while t < end:
        if t >= phase_end:
            driving = not driving
            phase_end = t + timedelta(seconds=rng.randint(120, 1200 if driving else 3600))
            if driving:
                heading = rng.uniform(0, 360)
        if driving:
            if rng.random() < 0.1:
                heading += rng.choice((-90, 90, 45, -45))
            halted = rng.random() < 0.08
            speed = 0.0 if halted else max(0.0, min(70.0, speed + rng.gauss(0, 8) or 30.0))
            if speed < 5 and not halted:
                speed = 25.0
            d = speed / 3.6 * STEP
            x += d * math.sin(math.radians(heading))
            y += d * math.cos(math.radians(heading))
            # Stay in town: turn back towards the centre when far out.
            if math.hypot(x, y) > 6000:
                heading = math.degrees(math.atan2(-x, -y))
            fuel = max(5.0, fuel - d / 1000 * 0.15)
        else:
            speed = 0.0
        ex = ex * 0.9 + rng.gauss(0, 1.5)
        ey = ey * 0.9 + rng.gauss(0, 1.5)
        if fuel < 10:
            fuel = 95.0
        fixes.append(
            MotionFix(
                fix_time=t,
                latitude=LAT0 + (y + ey) / M_LAT,
                longitude=LON0 + (x + ex) / M_LON,
                valid=True,
                speed_kmh=round(speed + abs(rng.gauss(0, 0.5)), 1),
                ignition=driving,
                fuel_level=round(fuel + rng.gauss(0, 0.3), 1),
                driver_tag="D-7" if driving else None,
                server_time=t + timedelta(seconds=2),
                course=heading % 360,
            )
        )
        t += timedelta(seconds=STEP)
    return fixes


def geofences(seed: int = 2) -> GeofenceIndex:
    rng = random.Random(seed)
    fences = [
        Geofence(
            id="boundary",
            name="Municipality",
            polygon=box(LON0 - 0.08, LAT0 - 0.06, LON0 + 0.08, LAT0 + 0.06),
            role="boundary",
        )
    ]
    for i in range(30):
        cx = LON0 + rng.uniform(-0.06, 0.06)
        cy = LAT0 + rng.uniform(-0.05, 0.05)
        w = rng.uniform(0.001, 0.005)
        fences.append(
            Geofence(
                id=f"poly-{i}",
                name=f"Zone {i}",
                polygon=box(cx - w, cy - w, cx + w, cy + w),
                speed_limit_kmh=30.0 if i % 3 == 0 else None,
            )
        )
    for i in range(29):
        fences.append(
            Geofence(
                id=f"circle-{i}",
                name=f"School {i}",
                center=(LAT0 + rng.uniform(-0.05, 0.05), LON0 + rng.uniform(-0.06, 0.06)),
                radius_m=rng.uniform(80, 400),
                speed_limit_kmh=30.0,
            )
        )
    return GeofenceIndex(fences)


def timed(fn, runs: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(runs):
        started = time.process_time()
        result = fn()
        times.append(time.process_time() - started)
    return statistics.median(times), result


def main() -> None:
    fixes = month_of_fixes()
    index = geofences()
    config = MotionConfig(
        events=EventConfig(
            speed_limit_kmh=50.0, calendar=WorkingCalendar(), idle_min_duration_s=300
        )
    )
    n = len(fixes)
    print(
        f"Motion throughput: one vehicle, {DAYS} days at one fix every {STEP} s = {n} fixes, "
        f"{len(index)} geofences (CPU time of this process, medians)"
    )

    rebuild_s, result = timed(lambda: MotionProcessor(config, index).process(fixes), 3)
    trips = [o for o in result.trips + result.provisional if isinstance(o, Trip)]
    stops = [o for o in result.stops + result.provisional if isinstance(o, Stop)]
    print(
        f"  rebuild of the month (filters, trips/stops, distance, engine, events): "
        f"{rebuild_s:.2f} s = {n / rebuild_s:,.0f} positions/s"
    )
    print(
        f"    found {len(trips)} trips, {len(stops)} stops, {len(result.events)} events, "
        f"{len(result.checkpoints)} checkpoints, {sum(t.distance_m for t in trips) / 1000:.0f} km"
    )

    first = START.date()
    last = first + timedelta(days=DAYS - 1)
    summary_s, _ = timed(
        lambda: daily_summaries(
            first,
            last,
            trips=trips,
            stops=stops,
            events=result.events,
            engine_sessions=result.engine_sessions,
        ),
        3,
    )
    print(f"  daily summaries of the {DAYS} days: {summary_s * 1000:.0f} ms")
    total = rebuild_s + summary_s
    print(
        f"  month of one vehicle, processed and summarised: {total:.2f} s "
        f"({n / total:,.0f} positions/s)"
    )

    # Incremental: one batch per minute of fixes (6 fixes), as the task gets them.
    sample = fixes[: 3 * 8640]

    def incremental() -> InMemoryMotionStore:
        store = InMemoryMotionStore()
        for i in range(0, len(sample), 6):
            earliest = store.add_fixes(sample[i : i + 6])
            motion_update(store, config, index, earliest_new=earliest)
        return store

    inc_s, _ = timed(incremental, 3)
    batches = math.ceil(len(sample) / 6)
    print(
        f"  incremental, one batch a minute ({batches} batches over 3 days): "
        f"{inc_s:.2f} s = {len(sample) / inc_s:,.0f} positions/s, "
        f"{inc_s / batches * 1000:.2f} ms per batch"
    )


if __name__ == "__main__":
    main()
