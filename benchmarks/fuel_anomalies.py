"""Benchmark: the fuel anomaly checks over a month for 300 vehicles with positions every 10 s.

    .venv/bin/python benchmarks/fuel_anomalies.py               # both parts
    .venv/bin/python benchmarks/fuel_anomalies.py --part pure --runs 1 --vehicles 50   # quick

Two parts, because a month of positions for 300 vehicles is 77.8 million fixes:

* **pure**: every check of ``fleet.anomalies.check_vehicle`` over the whole month of every
  vehicle, with all 259,200 fixes of each vehicle in memory (``fleet.anomalies.Track``: distance
  and engine hours integrated over every fix, positions looked up around every refuel). Each
  vehicle works an out-and-back shift 06:00-14:00 (Athens) at town speeds and is parked at the
  depot otherwise; it refuels to full every other morning at the depot's pump, the litres being
  what its norm says it burnt. A few vehicles carry planted anomalies (a refuel while out on the
  round, one over the tank's capacity, an odometer reading that goes back, a fuel-level drop at
  night), so the figures include the cost of finding and describing them. The fixes are
  generated vehicle by vehicle (numpy); generation time is reported apart from the checks.
* **db**: the service the nightly task runs, ``fleet.services.fuel.fuel_anomalies_detect`` for the
  month, on a fresh SQLite database (the embedded default): 300 vehicles, the same refuels as fuel
  entries, and the positions at 10 s within 20 minutes either side of every refuel, with the
  device odometer on them (the service reads positions only around refuels, through the
  (vehicle, fix_time) index, so the rest of the month's fixes would not be read; an index range
  scan costs the logarithm of the table size). Figures: wall and CPU time, queries.

Target (issue 7): under 60 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleet import anomalies as checks  # noqa: E402

ATHENS = ZoneInfo("Europe/Athens")
MONTH_START = datetime(2025, 3, 1, tzinfo=ATHENS)
DAYS = 30
STEP_S = 10.0
DEPOT = (35.5138, 24.0180)
DEG_M = 6_371_008.8 * np.pi / 180
NORM = 55.0  # l/100 km
TANK = 300.0


def _local_ts(day: int, hour: float) -> float:
    moment = MONTH_START + timedelta(days=day)
    return moment.replace(hour=int(hour), minute=int(hour % 1 * 60)).timestamp()


def vehicle_month(index: int, seed: int = 11):
    """Fixes, refuels and planted anomalies of one vehicle for the month."""
    rng = np.random.default_rng(seed * 1000 + index)
    t0 = MONTH_START.timestamp()
    t = t0 + np.arange(int(DAYS * 86400 / STEP_S)) * STEP_S
    lat = np.full(t.shape, DEPOT[0]) + rng.normal(0, 2e-5, t.shape)  # parked receiver jitter
    lon = np.full(t.shape, DEPOT[1]) + rng.normal(0, 2e-5, t.shape)
    speed = np.zeros(t.shape)
    ignition = np.zeros(t.shape, dtype=bool)
    for day in range(DAYS):
        a = int((_local_ts(day, 6) - t0) / STEP_S)
        b = int((_local_ts(day, 14) - t0) / STEP_S)
        half = (b - a) // 2
        # Out along a wandering street pattern, then back the same way.
        heading = np.cumsum(rng.normal(0, 0.15, half))
        v = np.clip(rng.normal(22, 9, half), 0, 50)  # km/h, with stops
        v[rng.random(half) < 0.25] = 0.0
        step = v / 3.6 * STEP_S
        north, east = np.cumsum(step * np.cos(heading)), np.cumsum(step * np.sin(heading))
        out_lat = DEPOT[0] + north / DEG_M
        out_lon = DEPOT[1] + east / (DEG_M * np.cos(np.radians(DEPOT[0])))
        lat[a : a + half], lon[a : a + half] = out_lat, out_lon
        lat[a + half : a + 2 * half], lon[a + half : a + 2 * half] = out_lat[::-1], out_lon[::-1]
        speed[a : a + half], speed[a + half : a + 2 * half] = v, v[::-1]
        ignition[a : a + 2 * half] = True
    track = checks.Track(t=t, lat=lat, lon=lon, speed=speed, ignition=ignition, max_gap_s=300)
    refuels = []
    odometer = 100_000.0 + index * 1000
    previous_t = t0
    for day in range(0, DAYS, 2):
        when = _local_ts(day, 5.83)  # 05:50, at the depot's pump
        km = track.distance_km(previous_t, when) or 0.0
        odometer += km
        litres = round(km * NORM / 100 * rng.uniform(0.92, 1.08), 2) if km else 150.0
        refuels.append(
            checks.Refuel(
                id=index * 100 + day,
                time=datetime.fromtimestamp(when, UTC),
                litres=max(litres, 5.0),
                full_tank=True,
                odometer_km=round(odometer, 1),
                station_lat=DEPOT[0],
                station_lon=DEPOT[1],
                station="Δεξαμενή αμαξοστασίου",
            )
        )
        previous_t = when
    planted = []
    if index % 20 == 1:  # a refuel while out on the round
        when = _local_ts(9, 10.5)
        refuels.append(
            checks.Refuel(
                index * 100 + 99,
                datetime.fromtimestamp(when, UTC),
                80.0,
                False,
                station_lat=DEPOT[0],
                station_lon=DEPOT[1],
                station="ΕΚΟ",
            )
        )
        planted.append("far/moving")
    if index % 20 == 2:
        refuels[5] = checks.Refuel(**{**refuels[5].__dict__, "litres": TANK * 1.2})
        planted.append("over_capacity")
    if index % 20 == 3:
        refuels[7] = checks.Refuel(**{**refuels[7].__dict__, "odometer_km": 1000.0})
        planted.append("odometer_backwards")
    if index % 20 == 4:
        when = _local_ts(12, 2.0)
        track.drops = [checks.FuelDrop(when, DEPOT[0], DEPOT[1], 64.0, 40.0)]
        planted.append("fuel_drop")
    refuels.sort(key=lambda r: r.t)
    return track, refuels, planted


def run_pure(vehicles: int) -> dict:
    profile_of = {
        i: checks.VehicleProfile(vehicle_id=i, tank_capacity_l=TANK, norm=NORM)
        for i in range(vehicles)
    }
    period = (MONTH_START.timestamp(), (MONTH_START + timedelta(days=DAYS)).timestamp())
    generate = check = 0.0
    cpu = 0.0
    fixes = 0
    found: dict[str, int] = {}
    planted = 0
    for i in range(vehicles):
        g0 = time.perf_counter()
        track, refuels, plants = vehicle_month(i)
        # Generating the litres integrated the distance; the checks must do that work again.
        track._cum_m = track._cum_h = None
        generate += time.perf_counter() - g0
        planted += len(plants)
        fixes += len(track.t)
        c0, p0 = time.perf_counter(), time.process_time()
        findings = checks.check_vehicle(
            profile_of[i],
            refuels,
            track,
            period=period,
            history=[54.0, 56.5, 55.2],
            period_key="2025-03",
        )
        check += time.perf_counter() - c0
        cpu += time.process_time() - p0
        for finding in findings:
            found[str(finding.kind)] = found.get(str(finding.kind), 0) + 1
    return {
        "generate_s": generate,
        "check_s": check,
        "check_cpu_s": cpu,
        "fixes": fixes,
        "found": found,
        "planted": planted,
    }


# --- The database part ------------------------------------------------------------------------


def prepare_db(workdir: Path, vehicles: int) -> tuple[Path, int]:
    db = workdir / "anomalies.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "KINISI_VAR_DIR": str(workdir / "var")}
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        check=True,
        env=env,
        cwd=ROOT,
    )
    os.environ.update({**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    import django

    django.setup()
    import logging

    logging.disable(logging.INFO)
    from decimal import Decimal

    from fleet.models import FuelEntry, FuelStation, Municipality, Vehicle
    from telematics.models import Device

    municipality = Municipality.objects.create(name="Δήμος Δοκιμής", slug="bench")
    station = FuelStation.objects.create(
        municipality=municipality,
        name="Δεξαμενή",
        latitude=DEPOT[0],
        longitude=DEPOT[1],
        is_municipal_tank=True,
    )
    rows = []
    entries = []
    for i in range(vehicles):
        vehicle = Vehicle.objects.create(
            municipality=municipality,
            plate=f"ΚΗΥ-{1000 + i}",
            category="refuse_truck",
            tank_capacity_l=Decimal(TANK),
            consumption_norm=Decimal(NORM),
        )
        device = Device.objects.create(
            municipality=municipality, unique_id=f"35209{i:010d}", protocol="teltonika"
        )
        track, refuels, _plants = vehicle_month(i)
        cum_m, _ = track._cumulative()
        for refuel in refuels:
            entries.append(
                FuelEntry(
                    municipality=municipality,
                    vehicle=vehicle,
                    filled_at=refuel.time,
                    litres=Decimal(str(refuel.litres)),
                    full_tank=refuel.full_tank,
                    odometer_km=None
                    if refuel.odometer_km is None
                    else Decimal(str(refuel.odometer_km)),
                    station=station,
                    station_name=station.name,
                    source="tank",
                )
            )
            lo = int(np.searchsorted(track.t, refuel.t - 1200))
            hi = int(np.searchsorted(track.t, refuel.t + 1200))
            for k in range(lo, hi):
                moment = datetime.fromtimestamp(float(track.t[k]), UTC).strftime(
                    "%Y-%m-%d %H:%M:%S"
                )
                rows.append(
                    (
                        device.pk,
                        vehicle.pk,
                        municipality.pk,
                        moment,
                        moment,
                        float(track.lat[k]),
                        float(track.lon[k]),
                        float(track.speed[k]),
                        1,
                        float(cum_m[k]) + 1e8,
                        "",
                        "{}",
                    )
                )
    FuelEntry.objects.bulk_create(entries, batch_size=500)
    from django.db import connection

    connection.close()
    raw = sqlite3.connect(db)
    raw.executemany(
        "INSERT INTO telematics_position (device_id, vehicle_id, municipality_id, fix_time, "
        "server_time, latitude, longitude, speed_kmh, valid, odometer, driver_tag, attributes) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    raw.commit()
    raw.close()
    return db, len(rows)


def run_db(workdir: Path, vehicles: int, runs: int) -> None:
    t0 = time.perf_counter()
    db, positions = prepare_db(workdir, vehicles)
    print(f"  prepared in {time.perf_counter() - t0:.0f} s: {positions:,} positions stored")
    from django.db import connection

    from fleet.models import FuelAnomaly, FuelEntry, Municipality
    from fleet.services.fuel import fuel_anomalies_detect

    municipality = Municipality.objects.get(slug="bench")
    print(f"  {FuelEntry.objects.count():,} refuels")
    walls, cpus, queries = [], [], 0
    counter = [0]

    def count(execute, sql, params, many, context):
        counter[0] += 1
        return execute(sql, params, many, context)

    for n in range(runs):
        FuelAnomaly.objects.all().delete()
        start, cpu = time.perf_counter(), time.process_time()
        counter[0] = 0
        with connection.execute_wrapper(count):
            result = fuel_anomalies_detect(
                municipality_id=municipality.pk,
                start=MONTH_START.date(),
                end=(MONTH_START + timedelta(days=DAYS)).date(),
            )
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        queries = counter[0]
        del n
    kinds = {}
    for kind in FuelAnomaly.objects.values_list("kind", flat=True):
        kinds[kind] = kinds.get(kind, 0) + 1
    each = ", ".join(f"{w:.2f}" for w in walls)
    print(
        f"  detect, month: wall median {statistics.median(walls):.2f} s (runs: {each}), "
        f"CPU median {statistics.median(cpus):.2f} s, {queries:,} queries"
    )
    print(f"  stored: {result}, by kind: {kinds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["pure", "db", "both"], default="both")
    parser.add_argument("--vehicles", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.part in ("pure", "both"):
        print(f"PURE: {args.vehicles} vehicles × {DAYS} days, a fix every {STEP_S:.0f} s")
        results = [run_pure(args.vehicles) for _ in range(args.runs)]
        last = results[-1]
        print(f"  fixes checked per run: {last['fixes']:,}")
        print(
            "  checks: wall median {:.2f} s (runs: {}), CPU median {:.2f} s".format(
                statistics.median(r["check_s"] for r in results),
                ", ".join(f"{r['check_s']:.2f}" for r in results),
                statistics.median(r["check_cpu_s"] for r in results),
            )
        )
        print(
            "  generating the fixes (not part of the checks): median {:.2f} s".format(
                statistics.median(r["generate_s"] for r in results)
            )
        )
        print(f"  findings: {last['found']} ({last['planted']} planted)")
    if args.part in ("db", "both"):
        print(f"DB: {args.vehicles} vehicles, fuel_anomalies_detect for the month (SQLite)")
        workdir = Path(tempfile.mkdtemp(prefix="kinisi-anomaly-bench-"))
        try:
            run_db(workdir, args.vehicles, args.runs)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
