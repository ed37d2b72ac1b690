"""Benchmark: from a position arriving at the gateway to the marker moving on the board, in a
real headless Chromium (target: under 1 s).

    .venv/bin/python benchmarks/board_latency.py                  # SQLite, 500 vehicles
    .venv/bin/python benchmarks/board_latency.py --db postgres    # PostgreSQL at 127.0.0.1:5432
    .venv/bin/python benchmarks/board_latency.py --samples 40 --background 150

What runs, every part a real process as deployed: a fresh database migrated with Django; one
municipality on the Chania extract with ``--vehicles`` vehicles, each with an OsmAnd tracker
(the Traccar Client phone protocol) and a last known position; the gateway (``manage.py
run_gateway``, positions stored and the live state written as in production, its default
once-a-second live-state flush included); the web process (Daphne serving ``config.asgi``:
pages and the board's WebSocket, without Redis, so the web process follows the live-state table
itself); Debian's Chromium driven by Playwright, logged in as a dispatcher with the board open
and every marker drawn. ``--background`` other trackers report every second throughout.

One sample: a tracker sends a fix to a new place (HTTP to the gateway, answered once stored);
the page notes the wall-clock time at the first animation frame in which that vehicle's marker
stands at the new place. Latency = that time - the time just before the fix was sent (same
machine, same clock). Also split: until the live-state row changed in the database (polled every
10 ms by this script), and from there to the marker. Figures: median and p95 over ``--samples``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "kinisi_bench_board"
BBOX = (35.5033, 24.0059, 35.5187, 24.0395)

# Waits for the marker of vehicle `id` to stand at (lat, lon); resolves with the wall-clock time
# (ms since the epoch) of the first animation frame that shows it there.
WAIT_FOR_MARKER = """
([id, lat, lon]) => new Promise((resolve) => {
  function look() {
    const p = window.kinisiBoard.position(id);
    if (p && Math.abs(p[0] - lat) < 1e-6 && Math.abs(p[1] - lon) < 1e-6) {
      resolve(performance.timeOrigin + performance.now());
    } else {
      requestAnimationFrame(look);
    }
  }
  look();
})
"""


def watch_row(vehicle_id: int, lat: float, lon: float, found: list[float]) -> None:
    """Poll the live-state row every 10 ms until it holds the new place; note when."""
    from django.db import connection

    from telematics.models import VehicleLiveState

    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            row = VehicleLiveState.objects.filter(vehicle_id=vehicle_id).values_list(
                "latitude", "longitude"
            )[0]
            if abs(row[0] - lat) < 1e-6 and abs(row[1] - lon) < 1e-6:
                found.append(time.time())
                return
            time.sleep(0.01)
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(args, workdir: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "KINISI_VAR_DIR": str(workdir / "var"),
        "KINISI_GRAPH_DIR": str(ROOT / "var" / "graphs"),
        "KINISI_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "true",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    if args.db == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            c.execute(f"CREATE DATABASE {PG_BENCH_DB}")
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'board.sqlite3'}"
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def populate(n: int):
    from django.utils import timezone

    from fleet.choices import Role
    from fleet.models import Department, Municipality, User, Vehicle
    from telematics.models import Device, DeviceAssignment, VehicleLiveState

    rng = random.Random(5)
    south, west, north, east = BBOX
    m = Municipality.objects.create(
        name="Δήμος Μετρήσεων",
        slug="bench",
        osm_file="chania.osm.bz2",
        bbox_south=south,
        bbox_west=west,
        bbox_north=north,
        bbox_east=east,
        center_lat=(south + north) / 2,
        center_lon=(west + east) / 2,
    )
    department = Department.objects.create(
        municipality=m, name="Καθαριότητα", depot_lat=35.512, depot_lon=24.02
    )
    Vehicle.objects.bulk_create(
        Vehicle(
            municipality=m,
            department=department,
            plate=f"ΚΗΙ-{1000 + i}",
            category="refuse_truck",
            gross_weight_kg=18000,
        )
        for i in range(n)
    )
    vehicles = list(Vehicle.objects.filter(municipality=m).order_by("pk"))
    Device.objects.bulk_create(
        Device(municipality=m, unique_id=f"board{i:05d}", protocol="osmand") for i in range(n)
    )
    devices = list(Device.objects.filter(municipality=m).order_by("pk"))
    since = timezone.now() - timezone.timedelta(days=1)
    DeviceAssignment.objects.bulk_create(
        DeviceAssignment(municipality=m, device=d, vehicle=v, valid_from=since)
        for d, v in zip(devices, vehicles, strict=True)
    )
    now = timezone.now() - timezone.timedelta(seconds=30)
    VehicleLiveState.objects.bulk_create(
        VehicleLiveState(
            vehicle=v,
            municipality=m,
            device=d,
            latitude=rng.uniform(south, north),
            longitude=rng.uniform(west, east),
            moving=False,
            fix_time=now,
            last_seen=now,
            updated_at=now,
        )
        for v, d in zip(vehicles, devices, strict=True)
    )
    user = User.objects.create(username="bench-dispatcher", municipality=m, role=Role.DISPATCHER)
    return m, vehicles, [d.unique_id for d in devices], user


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = open(log, "wb")  # noqa: SIM115 - the process owns it until the end
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)


def wait_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"process exited; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} never opened; see {log}")


def fix_request(device: str, lat: float, lon: float, speed_kn: float = 12.0) -> bytes:
    # OsmAnd / Traccar Client: one GET per fix; speed in knots, timestamp in seconds.
    return (
        f"GET /?id={device}&timestamp={int(time.time())}&lat={lat:.6f}&lon={lon:.6f}"
        f"&speed={speed_kn}&bearing=90&accuracy=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    ).encode()


class Sender:
    """Keep-alive HTTP connections to the gateway's OsmAnd port, on an event loop thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.streams: dict[str, tuple] = {}
        self.stop = False

    async def _send(self, device: str, lat: float, lon: float) -> None:
        if device not in self.streams:
            self.streams[device] = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams[device]
        writer.write(fix_request(device, lat, lon))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"gateway answered {head[:30]!r}")

    def send(self, device: str, lat: float, lon: float) -> None:
        asyncio.run_coroutine_threadsafe(self._send(device, lat, lon), self.loop).result(10)

    async def _background(self, devices: list[str], rng: random.Random) -> None:
        south, west, north, east = BBOX
        while not self.stop:
            started = time.monotonic()
            for device in devices:
                await self._send(device, rng.uniform(south, north), rng.uniform(west, east))
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    def background(self, devices: list[str]) -> None:
        if devices:
            asyncio.run_coroutine_threadsafe(self._background(devices, random.Random(9)), self.loop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--background", type=int, default=100)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="kinisi-bench-board-"))
    env = setup(args, workdir)
    municipality, vehicles, devices, user = populate(args.vehicles)

    from django.test import Client

    web_port = free_port()
    port_file = workdir / "gateway-ports.json"
    web = start(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "config.asgi:application"],
        env,
        workdir / "web.log",
    )
    gateway = start(
        [
            PYTHON,
            "manage.py",
            "run_gateway",
            "--host",
            "127.0.0.1",
            "--osmand-port",
            "0",
            "--teltonika-port",
            "-1",
            "--gt06-port",
            "-1",
            "--h02-port",
            "-1",
            "--port-file",
            str(port_file),
            "--no-handoff",
        ],
        env,
        workdir / "gateway.log",
    )
    try:
        wait_port(web_port, web, workdir / "web.log")
        deadline = time.monotonic() + 60
        while not port_file.exists():
            if gateway.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gateway did not start; see {workdir / 'gateway.log'}")
            time.sleep(0.1)
        osmand_port = json.loads(port_file.read_text())["osmand"]
        client = Client()
        client.force_login(user)
        base = f"http://127.0.0.1:{web_port}"

        from playwright.sync_api import sync_playwright

        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync loop; ORM stays sync
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies(
                [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
            )
            page = context.new_page()
            page.set_default_timeout(60_000)
            loaded = time.perf_counter()
            page.goto(f"{base}/dispatch/")
            page.wait_for_function(f"window.kinisiBoard.markerCount() === {args.vehicles}")
            print(
                f"board: {args.vehicles} markers drawn {time.perf_counter() - loaded:.2f} s "
                f"after opening the page ({args.db})"
            )
            sender = Sender(osmand_port)
            measured = devices[: args.samples]
            sender.background(devices[args.samples : args.samples + args.background])
            time.sleep(2)
            rng = random.Random(11)
            south, west, north, east = BBOX
            total, to_row, to_marker = [], [], []
            for device, vehicle in zip(measured, vehicles, strict=False):
                time.sleep(rng.uniform(0.3, 1.2))  # off the gateway's and the hub's beat
                lat = round(rng.uniform(south, north), 6)
                lon = round(rng.uniform(west, east), 6)
                row_at: list[float] = []
                watcher = threading.Thread(target=watch_row, args=(vehicle.pk, lat, lon, row_at))
                watcher.start()
                sent = time.time()
                sender.send(device, lat, lon)
                # Blocks until the page's promise resolves: the marker stands at the new place.
                marker_at = page.evaluate(WAIT_FOR_MARKER, [vehicle.pk, lat, lon]) / 1000.0
                watcher.join(30)
                row_at = row_at[0]
                total.append(marker_at - sent)
                to_row.append(row_at - sent)
                to_marker.append(marker_at - row_at)
            sender.stop = True
            browser.close()

        def q(values, fraction):
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

        print(
            f"position → marker, {len(total)} samples, {args.background} trackers reporting "
            f"every second besides: median {statistics.median(total) * 1000:.0f} ms, "
            f"p95 {q(total, 0.95) * 1000:.0f} ms, max {max(total) * 1000:.0f} ms"
        )
        print(
            f"  gateway to live-state row: median {statistics.median(to_row) * 1000:.0f} ms, "
            f"p95 {q(to_row, 0.95) * 1000:.0f} ms"
            " (the gateway flushes live state every live_state_interval, 0.5 s by default)"
        )
        print(
            f"  row to marker (web poll, WebSocket, browser): median "
            f"{statistics.median(to_marker) * 1000:.0f} ms, p95 {q(to_marker, 0.95) * 1000:.0f} ms"
        )
        print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    finally:
        for process in (gateway, web):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
