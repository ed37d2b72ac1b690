"""Benchmark: suggestions for one job with 500 vehicles (target: under 200 ms).

    .venv/bin/python benchmarks/suggestions.py                  # Andorra, SQLite then PostgreSQL
    .venv/bin/python benchmarks/suggestions.py --db sqlite      # one database only
    .venv/bin/python benchmarks/suggestions.py --graph chania --vehicles 500 --runs 50

What runs: a fresh database migrated with Django (SQLite in a temp directory, PostgreSQL at
127.0.0.1:5432 in a database of its own); one municipality on a test graph: by default the
larger one, Andorra with every OSM node kept (benchmarks/data/osm/andorra.osm.pbf, about 25,000
junctions, built once with OSMnx and cached under var/graphs-bench/ in the format the router
loads), or ``--graph chania`` / ``rethymno``; ``--vehicles`` vehicles of four categories and
several weights (so several routing profiles) spread over the graph's roads, each with a driver
on shift holding licences and ΠΕΙ, insurance and ΚΤΕΟ documents, and a live position (a share
of them busy with a queued job, a tenth parked with only a depot); one new job somewhere on the
graph. Then the full ``selectors.job_suggestions`` call, as the API's
``GET /jobs/<id>/suggestions/`` makes it (facts from the database, the rules, road times for
every vehicle from its live position or depot, ranking), ``--runs`` times after one warm-up call
(the graph and its core table are built once per process). Figures: median and p95 of the
whole call, the median of each stage, and the number of SQL queries of one call.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "kinisi_bench_suggestions"
ANDORRA = ROOT / "benchmarks" / "data" / "osm" / "andorra.osm.pbf"
GRAPHS = {
    # (file, bbox south, west, north, east): the bbox the test municipalities use; None: the
    # whole file.
    "chania": ("chania.osm.bz2", (35.5033, 24.0059, 35.5187, 24.0395)),
    "rethymno": ("rethymno.osm.bz2", None),
    "andorra": (str(ANDORRA), None),
}
# The unsimplified Andorra network lives in a cache directory of its own, so the production
# cache (simplified graphs) is never overwritten with it.
BENCH_GRAPH_DIR = ROOT / "var" / "graphs-bench"


def prepare_unsimplified_andorra() -> None:
    """Put the unsimplified Andorra network where the router registry will look for Andorra
    (the cache file for the file's hash and an empty clip), built once with OSMnx."""
    from dispatch.routing import network

    clip = network.Clip()
    sha = network.file_sha256(ANDORRA)
    path = network.cache_path(BENCH_GRAPH_DIR, ANDORRA, sha, clip)
    if path.is_file():
        return
    from dispatch.routing import graph

    started = time.perf_counter()
    G = graph.build_nx_graph(ANDORRA, clip, simplify=False)
    net = graph.graph_to_network(G, source_sha256=sha, clip_key=clip.key())
    net.save(path)
    print(
        f"built the unsimplified Andorra graph ({net.n_nodes} junctions) in "
        f"{time.perf_counter() - started:.0f} s: {path.relative_to(ROOT)}"
    )


def setup_django(db: str, workdir: Path, graph: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["KINISI_VAR_DIR"] = str(workdir / "var")
    if graph == "andorra":
        prepare_unsimplified_andorra()
        os.environ["KINISI_GRAPH_DIR"] = str(BENCH_GRAPH_DIR)
    else:
        os.environ["KINISI_GRAPH_DIR"] = str(ROOT / "var" / "graphs")
    os.environ["KINISI_LOG_LEVEL"] = "WARNING"
    if db == "postgres":
        import psycopg

        with psycopg.connect(
            PG_ADMIN.replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            c.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            c.execute(f"CREATE DATABASE {PG_BENCH_DB}")
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def populate(n_vehicles: int, graph: str, seed: int = 1):
    from django.utils import timezone

    from dispatch.models import Job, Shift
    from fleet.models import (
        Department,
        Document,
        Driver,
        DriverLicence,
        Municipality,
        Vehicle,
    )
    from telematics.models import VehicleLiveState

    rng = random.Random(seed)
    osm_file, bbox = GRAPHS[graph]
    south, west, north, east = bbox or (35.355, 24.455, 35.375, 24.49)
    municipality = Municipality.objects.create(
        name="Δήμος Μετρήσεων",
        slug="bench",
        osm_file=osm_file,
        bbox_south=bbox[0] if bbox else None,
        bbox_west=bbox[1] if bbox else None,
        bbox_north=bbox[2] if bbox else None,
        bbox_east=bbox[3] if bbox else None,
    )
    from dispatch.routing.registry import router_for

    net = router_for(municipality).net
    if bbox is not None:
        inside = (
            (net.lat >= south) & (net.lat <= north) & (net.lon >= west) & (net.lon <= east)
        ).nonzero()[0]
    else:
        inside = range(net.n_nodes)
    inside = list(inside)

    def point():
        # A junction of the graph, moved by up to ~20 m: on or next to a road, as a GPS fix
        # is. (Uniform points in a box would land on mountainsides in Andorra.)
        node = rng.choice(inside)
        return (
            float(net.lat[node]) + rng.uniform(-1.5e-4, 1.5e-4),
            float(net.lon[node]) + rng.uniform(-1.5e-4, 1.5e-4),
        )

    departments = [
        Department.objects.create(
            municipality=municipality, name=f"Τμήμα {i}", depot_lat=p[0], depot_lon=p[1]
        )
        for i, p in enumerate(point() for _ in range(5))
    ]
    kinds = [
        ("refuse_truck", 26000, 9000, "C"),
        ("refuse_truck", 18000, 6000, "C"),
        ("tipper", 12000, 5000, "C"),
        ("pickup", 3500, 900, "B"),
        ("van", 3000, 800, "B"),
    ]
    now = timezone.now()
    today = date.today()
    vehicles, drivers = [], []
    for i in range(n_vehicles):
        category, weight, payload, _ = kinds[i % len(kinds)]
        vehicles.append(
            Vehicle(
                municipality=municipality,
                department=departments[i % len(departments)],
                plate=f"ΚΗΙ-{1000 + i}",
                category=category,
                gross_weight_kg=weight,
                payload_kg=payload,
            )
        )
    Vehicle.objects.bulk_create(vehicles)
    vehicles = list(Vehicle.objects.filter(municipality=municipality).order_by("pk"))
    for i, _v in enumerate(vehicles):
        drivers.append(
            Driver(
                municipality=municipality,
                first_name="Οδηγός",
                last_name=f"{i}",
                employee_number=f"B{i:05d}",
                pei_expiry=today + timedelta(days=300),
            )
        )
    Driver.objects.bulk_create(drivers)
    drivers = list(Driver.objects.filter(municipality=municipality).order_by("pk"))
    DriverLicence.objects.bulk_create(
        DriverLicence(
            municipality=municipality,
            driver=d,
            category=kinds[i % len(kinds)][3],
            expires_on=today + timedelta(days=900),
        )
        for i, d in enumerate(drivers)
    )
    Shift.objects.bulk_create(
        Shift(
            municipality=municipality,
            driver=d,
            vehicle=v,
            starts_at=now - timedelta(hours=2),
            ends_at=now + timedelta(hours=6),
        )
        for d, v in zip(drivers, vehicles, strict=True)
    )
    Document.objects.bulk_create(
        Document(
            municipality=municipality,
            vehicle=v,
            kind=kind,
            number=f"{kind}-{v.pk}",
            issued_on=today - timedelta(days=100),
            expires_on=today + timedelta(days=200 + v.pk % 300),
        )
        for v in vehicles
        for kind in ("insurance", "kteo")
    )
    live = []
    for i, v in enumerate(vehicles):
        if i % 10 == 9:
            continue  # parked at the depot, no tracker report today
        lat, lon = point()
        live.append(
            VehicleLiveState(
                vehicle=v,
                municipality=municipality,
                latitude=lat,
                longitude=lon,
                moving=i % 3 == 0,
                speed_kmh=20.0 if i % 3 == 0 else 0.0,
                fix_time=now,
                last_seen=now,
                updated_at=now,
            )
        )
    VehicleLiveState.objects.bulk_create(live)
    # A fifth of the fleet is busy with a job already.
    busy = []
    for i, v in enumerate(vehicles[::5]):
        lat, lon = point()
        busy.append(
            Job(
                municipality=municipality,
                kind="repair",
                title=f"Σε εξέλιξη {i}",
                latitude=lat,
                longitude=lon,
                status="assigned",
                vehicle=v,
                driver=drivers[vehicles.index(v)],
                queue_position=1,
                planned_start=now + timedelta(minutes=10),
            )
        )
    Job.objects.bulk_create(busy)
    lat, lon = point()
    job = Job.objects.create(
        municipality=municipality,
        kind="bulky_waste",
        title="Η δουλειά που μετράμε",
        latitude=lat,
        longitude=lon,
        load_kg=500,
    )
    return municipality, job


def profile(municipality, job) -> None:
    """Where the time of one call goes (``--profile``)."""
    import cProfile
    import pstats

    from dispatch import selectors

    profiler = cProfile.Profile()
    profiler.enable()
    selectors.job_suggestions(job=job)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def ms(values, q=None) -> str:
    if q is None:
        return f"{statistics.median(values) * 1000:.1f} ms"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f} ms"


def run_one(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kinisi-bench-suggestions-"))
    setup_django(args.db, workdir, args.graph)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from dispatch import selectors
    from dispatch import suggestions as rules
    from dispatch.routing.registry import router_for

    started = time.perf_counter()
    municipality, job = populate(args.vehicles, args.graph)
    took = time.perf_counter() - started
    print(f"== {args.db}: {args.vehicles} vehicles on {args.graph}, set up in {took:.1f} s")
    router = router_for(municipality)
    print(f"graph: {router.net.n_nodes} junctions, {router.net.n_edges} road stretches")

    started = time.perf_counter()
    selectors.job_suggestions(job=job)  # warm-up: graph, profiles, core tables
    print(f"warm-up call (profiles, core tables): {time.perf_counter() - started:.1f} s")
    if args.profile:
        profile(municipality, job)
        return
    with CaptureQueriesContext(connection) as queries:
        selectors.job_suggestions(job=job)
    totals, cpu, facts_t, travel_t, rank_t = [], [], [], [], []
    result = None
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = selectors.job_suggestions(job=job)
        totals.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        # The stages, timed separately on the same inputs.
        now = timezone.now()
        t0 = time.perf_counter()
        facts = selectors.fleet_facts(municipality=municipality, job=job, now=now)
        t1 = time.perf_counter()
        travel, _ = selectors.travel_to(
            municipality=municipality, facts=facts, destination=(job.latitude, job.longitude)
        )
        t2 = time.perf_counter()
        rules.rank(selectors.job_facts(job, now), facts.vehicles, travel, now=now)
        t3 = time.perf_counter()
        facts_t.append(t1 - t0)
        travel_t.append(t2 - t1)
        rank_t.append(t3 - t2)

    profiles = len(set(facts.profiles.values()))
    print(
        f"suggestions: {len(result.result.eligible)} eligible, {len(result.result.ineligible)} "
        f"ineligible, {profiles} routing profiles, {len(queries.captured_queries)} SQL queries"
    )
    print(f"job_suggestions, {args.runs} runs: median {ms(totals)}, p95 {ms(totals, 0.95)}")
    # The machine is shared: CPU time of this process is the steadier figure under load.
    print(f"  CPU time of the call: median {ms(cpu)}, p95 {ms(cpu, 0.95)}")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"  stages (medians): facts from the database {ms(facts_t)}, road times {ms(travel_t)}, "
        f"rules and ranking {ms(rank_t)}"
    )
    origins = list(facts.origins.values())
    reference = []
    for _ in range(3):
        t0 = time.perf_counter()
        router.matrix(origins, [(job.latitude, job.longitude)])
        reference.append(time.perf_counter() - t0)
    print(
        f"for comparison: Router.matrix with {len(origins)} origins (one profile) "
        f"median {ms(reference)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["both", "sqlite", "postgres"], default="both")
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--graph", choices=sorted(GRAPHS), default="andorra")
    parser.add_argument("--profile", action="store_true", help="print where one call spends time")
    args = parser.parse_args()
    if args.db != "both":
        run_one(args)
        return
    # Django is set up once per process: one child process per database.
    print(f"load average at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for db in ("sqlite", "postgres"):
        command = [sys.executable, __file__, "--db", db, "--vehicles", str(args.vehicles)]
        command += ["--runs", str(args.runs), "--graph", args.graph]
        if args.profile:
            command.append("--profile")
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
