# ruff: noqa: S608 - SQL built from this file's constant column list and integer ids
"""Benchmark: sustained ingestion through the real gateway, with a plain COPY as the ceiling.

    .venv/bin/python benchmarks/ingest.py --db postgres      # PostgreSQL at 127.0.0.1:5432
    .venv/bin/python benchmarks/ingest.py --db sqlite        # the embedded default
    .venv/bin/python benchmarks/ingest.py --db postgres --trackers 200 --duration 5   # quick

What runs: a fresh database (PostgreSQL database ``kinisi_bench``, or a SQLite file in a temp
directory) migrated with Django; one municipality with ``--trackers`` Teltonika devices and
``--http`` OsmAnd devices, each in its own vehicle; the gateway as its own process
(``manage.py run_gateway``, exactly as deployed, hand-off to the workers included unless
``--no-handoff``); and ``--procs`` load-generator processes. Every simulated tracker holds one
connection (Teltonika TCP, or OsmAnd HTTP/1.1 keep-alive), sends a frame and waits for its
acknowledgement before sending the next, as real trackers do. Two shapes: one position per
Teltonika frame, and ten (a tracker emptying its buffer); OsmAnd always carries one.

The load generator shares the two cores with the gateway and the database, so it is kept cheap:
one asyncio protocol object per tracker (no coroutine per tracker), and the frames of the
measured window built before it starts (``--prebuild-rate`` positions a second's worth; more
are built on the fly if the gateway is faster). Each frame still carries fresh fix times, so
every position sent is a new row. The window starts once every tracker is connected and logged
in.

Figures per shape: positions stored per second over the measured window (acknowledged
positions / wall time: a position is acknowledged only after its commit), acknowledgement latency
p50/p99 per protocol, and the count check: every position sent must be a stored row, exactly.
CPU per position stored of the gateway (split into its event-loop thread and its other threads:
writers, hand-off, reader), of its database backends and of the load generator. Then the
ceiling: the same rows, dumped from the table, loaded with one plain ``COPY`` (PostgreSQL) or one
``executemany`` in one transaction (SQLite) into an empty table of the same schema and indexes;
the ratio is gateway rate / plain rate. On PostgreSQL each shape is then run once more
against the bare baseline the issue quotes (``BareServer`` below: one loop, batched COPY, no
filters, live state, deduplication or hand-off), with the same generator, and the ratio gateway /
bare is printed (``--no-baseline`` skips it). Every tracker waits for its acknowledgement, so
the positions in flight are fixed (trackers x positions per message) and the mean latency is that
number divided by the rate (Little's law): at 1,100 trackers and ten positions per message no
server can answer 40,000 positions a second in under 275 ms on average. So each shape is also
run paced (``--paced``, by default at the issue's aim: 20,000 positions a second in all with one
per message, 40,000 with ten): every tracker sends one message per interval on a fixed
schedule, still waiting for each answer, and a message whose predecessor was answered late
counts its latency from when it was due, so a server that falls behind shows it in p99
rather than by slowing the senders. The machine has 2 cores shared by the gateway, the load
generator and the database, so all three compete; figures are single runs (the medians of
latencies are printed; run again to see the noise).
``--profile PREFIX`` runs the gateway under cProfile (its event-loop thread only) and leaves
the stats in ``PREFIX-<shape>``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "kinisi_bench"
# The issue's aim, positions a second, by positions per message (the paced runs' default).
AIM = {1: 20_000, 10: 40_000}

# --- Teltonika Codec 8 frames, built from the wire format --------------------------------------

_CRC_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0xA001 if _crc & 1 else _crc >> 1
    _CRC_TABLE.append(_crc)


def crc16_ibm(data: bytes) -> int:
    """CRC-16/IBM (ARC), table-driven: the generator must stay cheaper than the gateway."""
    crc = 0
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


# IO elements of every record: ignition (239) and movement (240) as 1-byte values, external
# voltage (66) as 2 bytes, total odometer (16) as 4 bytes: what an FMB920 sends by default.
# One struct per record: header, event IO id and IO total, then the 1/2/4/8-byte IO groups.
_RECORD = struct.Struct(">QBiihHBH" + "BB" + "B" + "BB" + "BB" + "B" + "BH" + "B" + "BI" + "B")
_PREAMBLE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def teltonika_login(imei: str) -> bytes:
    return struct.pack(">H", len(imei)) + imei.encode()


def teltonika_packet(records: list[tuple[int, float, float, int]]) -> bytes:
    """A Codec 8 packet; records: (unix ms, latitude, longitude, odometer m)."""
    pack = _RECORD.pack
    count = len(records)
    body = b"".join(
        [bytes((0x08, count))]
        + [
            pack(
                ms,
                0,
                round(lon * 1e7),
                round(lat * 1e7),
                20,
                90,
                9,
                40,
                0,
                4,
                2,
                239,
                1,
                240,
                1,
                1,
                66,
                12500,
                1,
                16,
                odometer,
                0,
            )  # fmt: skip
            for ms, lat, lon, odometer in records
        ]
        + [bytes((count,))]
    )
    return _PREAMBLE.pack(0, len(body)) + body + _CRC.pack(crc16_ibm(body))


# --- load generator -------------------------------------------------------------------------------


class Track:
    """A device's synthetic path: one fix a second, 40 km/h north-east, never implausible."""

    def __init__(self, index: int, base_time: float) -> None:
        self.t = base_time
        self.lat = 35.40 + (index % 100) * 0.002
        self.lon = 23.90 + (index // 100) * 0.002
        self.odometer = 1_000_000 + index

    def next(self) -> tuple[int, float, float, int]:
        self.t += 1.0
        self.lat += 0.00008
        self.lon += 0.00008
        self.odometer += 11
        return int(self.t * 1000), self.lat, self.lon, self.odometer


class Client(asyncio.Protocol):
    """One simulated tracker on its own connection: sends a message, waits for its answer,
    records the latency, sends the next, until the generator's deadline.

    Callbacks rather than streams and a coroutine per tracker, and messages built before the
    measured window (more are built on the fly if those run out): the load generator shares the
    two cores with the gateway and the database, so it must stay cheap."""

    protocol = ""

    def __init__(self, generator: Generator, index: int, unique_id: str) -> None:
        self.generator = generator
        self.index = index
        self.unique_id = unique_id
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.ready = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()
        self.messages: list[bytes] = []
        self.next_message = 0
        self.track = Track(index, generator.base_time)
        self.started = 0.0
        self.per_message = 1
        # Paced runs: a message is due every ``interval`` seconds (0: send the next as soon as
        # the last is acknowledged), and its latency counts from when it was due.
        self.interval = 0.0
        self.due = 0.0

    def prepare(self, count: int) -> None:
        self.messages = [self.build() for _ in range(count)]

    def build(self) -> bytes:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"{self.unique_id}: closed before ready"))
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"{self.unique_id}: closed by the gateway"))

    def send_next(self) -> None:
        generator = self.generator
        if time.monotonic() >= generator.deadline:
            self.done.set_result(None)
            self.transport.close()
            return
        if self.next_message < len(self.messages):
            message = self.messages[self.next_message]
            self.next_message += 1
        else:
            message = self.build()
        # Paced, a message sent late (its predecessor's answer came after this one was due)
        # counts its latency from when it was due: the wait is the server's doing.
        self.started = self.due if self.interval else time.perf_counter()
        self.transport.write(message)

    def answered(self) -> None:
        now = time.perf_counter()
        self.generator.latency[self.protocol].append(now - self.started)
        self.generator.sent[self.protocol] += self.per_message
        if self.interval:
            self.due += self.interval
            if self.due > now:
                asyncio.get_running_loop().call_later(self.due - now, self.send_next)
                return
        self.send_next()

    def failed(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(f"{self.unique_id}: {reason}"))
        self.transport.close()


class TeltonikaClient(Client):
    protocol = "teltonika"

    def __init__(self, generator: Generator, index: int, unique_id: str) -> None:
        super().__init__(generator, index, unique_id)
        self.per_message = generator.per_message
        self.expected_ack = self.per_message.to_bytes(4, "big")

    def build(self) -> bytes:
        track = self.track
        return teltonika_packet([track.next() for _ in range(self.per_message)])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(teltonika_login(self.unique_id))

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            if data[:1] != b"\x01":
                self.ready.set_exception(RuntimeError(f"login refused for {self.unique_id}"))
                return
            self.ready.set_result(None)
            data = data[1:]
        buffer = self.buffer + data if self.buffer else data
        while len(buffer) >= 4:
            if buffer[:4] != self.expected_ack:
                self.failed(f"bad ack {buffer[:4]!r}")
                return
            buffer = buffer[4:]
            self.answered()
        self.buffer = buffer


class OsmandClient(Client):
    protocol = "osmand"

    def build(self) -> bytes:
        ms, lat, lon, _ = self.track.next()
        return (
            f"GET /?id={self.unique_id}&timestamp={ms // 1000}&lat={lat:.6f}&lon={lon:.6f}"
            f"&speed=21.6&bearing=45&altitude=20&accuracy=5&batt=80 HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\n\r\n"
        ).encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head, buffer = buffer[:end], buffer[end + 4 :]
            if not head.startswith(b"HTTP/1.1 200"):
                self.failed(f"bad response {head[:40]!r}")
                return
            self.answered()
        self.buffer = buffer


class Generator:
    def __init__(self, ports, teltonika_ids, http_ids, per_message, base_time, rate) -> None:
        self.ports = ports
        self.rate = rate  # offered positions a second in all; 0: as fast as answers come
        self.teltonika_ids = teltonika_ids
        self.http_ids = http_ids
        self.per_message = per_message
        self.base_time = base_time
        self.latency = {"teltonika": array.array("d"), "osmand": array.array("d")}
        self.sent = {"teltonika": 0, "osmand": 0}
        self.errors = 0
        self.deadline = float("inf")
        self.last_fix = 0.0

    async def run(self, prebuild_rate: float, duration: float, ready, start_at) -> None:
        """Connect every tracker, build its messages, tell the parent (``ready``), wait for the
        common start time (``start_at``), then run for ``duration`` seconds."""
        loop = asyncio.get_running_loop()
        clients: list[Client] = []
        for i, imei in enumerate(self.teltonika_ids):
            clients.append(TeltonikaClient(self, i, imei))
        for i, device_id in enumerate(self.http_ids):
            clients.append(OsmandClient(self, 10_000 + i, device_id))
        # Messages for the measured window at ``prebuild_rate`` positions a second in all.
        per_client = int(prebuild_rate * duration / max(1, len(clients)) / self.per_message) + 1
        for client in clients:
            client.prepare(per_client if client.protocol == "teltonika" else per_client * 2)
        for start in range(0, len(clients), 200):
            batch = clients[start : start + 200]
            await asyncio.gather(
                *(
                    loop.create_connection(
                        lambda c=client: c, "127.0.0.1", self.ports[client.protocol]
                    )
                    for client in batch
                )
            )
        await asyncio.wait_for(asyncio.gather(*(c.ready for c in clients)), 120)
        ready()
        start_time = await loop.run_in_executor(None, start_at)
        await asyncio.sleep(max(0.0, start_time - time.time()))
        self.deadline = time.monotonic() + duration
        if self.rate:
            # Every tracker sends one message per interval, as a fleet on one reporting
            # schedule does (a phone one position per request, a tracker emptying its buffer
            # ten per frame), the interval chosen so that together they offer ``rate``; the
            # first messages are spread evenly over one interval. (Giving each tracker an equal
            # share of the positions instead had every phone send a request every 27 ms at
            # 40,000 a second, faster than any commit can answer it.)
            interval = sum(client.per_message for client in clients) / self.rate
            now = time.perf_counter()
            for i, client in enumerate(clients):
                client.interval = interval
                client.due = now + interval * i / len(clients)
                loop.call_later(client.due - now, client.send_next)
        else:
            for client in clients:
                client.send_next()
        results = await asyncio.gather(*(c.done for c in clients), return_exceptions=True)
        self.errors = sum(1 for r in results if isinstance(r, BaseException))
        self.last_fix = max(client.track.t for client in clients)
        for r in results:
            if isinstance(r, BaseException):
                print(f"  generator error: {r!r}", file=sys.stderr)
                break


def generator_process(args, connection, start_event, start_value) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    generator = Generator(*args[:6])

    def start_at() -> float:
        start_event.wait()
        return start_value.value

    cpu = {}

    def ready() -> None:
        connection.send({"ready": True})
        cpu["started"] = time.process_time()

    asyncio.run(generator.run(args[6], args[7], ready, start_at))
    connection.send(
        {
            "sent": generator.sent,
            "errors": generator.errors,
            "latency": {k: v.tobytes() for k, v in generator.latency.items()},
            "cpu": time.process_time() - cpu["started"],
            "last_fix": generator.last_fix,
        }
    )
    connection.close()


# --- the bare baseline ------------------------------------------------------------------------
# What the issue compares the gateway with: one asyncio loop that reads the same frames, batches
# their rows and COPYs them, acknowledging after the commit, with no filtering, live state,
# deduplication, registry of assignments, hand-off or flow control. Same load generator, same
# database, same machine, same run: the gap between the two is the price of the real work.

_BARE_RECORD = struct.Struct(">QBiihHBH")


class BareConnection(asyncio.Protocol):
    def __init__(self, server: BareServer) -> None:
        self.server = server
        self.device_id = None
        self.vehicle_id = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        server = self.server
        if data[:4] == b"GET ":
            query = data[6 : data.index(b" ", 6)].decode()
            values = dict(pair.split("=", 1) for pair in query.split("&"))
            device_id = server.devices[values["id"]]
            fix = datetime.fromtimestamp(int(values["timestamp"]), UTC)
            latitude, longitude = float(values["lat"]), float(values["lon"])
            speed = float(values["speed"]) * 1.852
            vehicle_id = server.vehicle_of[device_id]
            now = datetime.now(UTC)
            rows = [
                (device_id, vehicle_id, server.municipality, fix, now, latitude, longitude, speed,
                 True, "", "{}")
            ]  # fmt: skip
            server.submit(self, rows, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            return
        if self.device_id is None:
            self.device_id = server.devices[data[2:].decode()]
            self.vehicle_id = server.vehicle_of[self.device_id]
            self.transport.write(b"\x01")
            return
        count = data[9]
        now = datetime.now(UTC)
        rows = []
        position = 10
        for _ in range(count):
            ms, _priority, lon, lat, _altitude, _course, _satellites, speed = (
                _BARE_RECORD.unpack_from(data, position)
            )
            position += _RECORD.size  # this generator's records are all alike
            rows.append(
                (self.device_id, self.vehicle_id, server.municipality,
                 datetime.fromtimestamp(ms / 1000, UTC), now, lat / 1e7, lon / 1e7, float(speed),
                 True, "", "{}")
            )  # fmt: skip
        server.submit(self, rows, count.to_bytes(4, "big"))


class BareServer:
    COLUMNS = (
        "device_id, vehicle_id, municipality_id, fix_time, server_time, latitude, longitude, "
        "speed_kmh, valid, driver_tag, attributes"
    )

    def __init__(self, db_target: str) -> None:
        import psycopg

        self.conn = psycopg.connect(db_target, autocommit=True, application_name="bare")
        rows = self.conn.execute("SELECT unique_id, id, municipality_id FROM telematics_device")
        self.devices = {}
        for unique_id, device_id, municipality in rows:
            self.devices[unique_id] = device_id
            self.municipality = municipality
        # The benchmark gives vehicle i to device i in creation order; the bare server does not
        # look assignments up, it maps device ids to vehicle ids by that order.
        vehicles = [v for (v,) in self.conn.execute("SELECT id FROM fleet_vehicle ORDER BY id")]
        order = sorted(self.devices.values())
        self.vehicle_of = dict(zip(order, vehicles, strict=False))
        self.queue: list = []
        self.wake = threading.Event()

    def submit(self, connection, rows, reply) -> None:
        self.queue.append((connection, rows, reply))
        self.wake.set()

    def write_loop(self, loop) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            jobs, self.queue = self.queue, []
            if not jobs:
                continue
            with (
                self.conn.transaction(),
                self.conn.cursor().copy(
                    f"COPY telematics_position ({self.COLUMNS}) FROM STDIN"
                ) as copy,
            ):
                for _connection, rows, _reply in jobs:
                    for row in rows:
                        copy.write_row(row)
            loop.call_soon_threadsafe(self.acknowledge, jobs)

    @staticmethod
    def acknowledge(jobs) -> None:
        for connection, _rows, reply in jobs:
            connection.transport.write(reply)


def bare_server_process(db_target: str, ports_queue) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = BareServer(db_target)
        threading.Thread(target=server.write_loop, args=(loop,), daemon=True).start()
        tcp = await loop.create_server(lambda: BareConnection(server), "127.0.0.1", 0, backlog=4096)
        http = await loop.create_server(
            lambda: BareConnection(server), "127.0.0.1", 0, backlog=4096
        )
        ports_queue.put(
            {
                "teltonika": tcp.sockets[0].getsockname()[1],
                "osmand": http.sockets[0].getsockname()[1],
            }
        )
        await asyncio.Event().wait()

    asyncio.run(serve())


# --- database set-up ------------------------------------------------------------------------------


def run_django(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], env=env, check=True, cwd=ROOT)


SEED_SCRIPT = """
import sys
from django.utils import timezone
from fleet.models import Municipality, Vehicle
from telematics.models import Device, DeviceAssignment
teltonika, http = int(sys.argv[1]), int(sys.argv[2])
m = Municipality.objects.create(name="Benchmark", slug="benchmark")
devices = [Device(municipality=m, unique_id=f"86{i:013d}", protocol="teltonika")
           for i in range(teltonika)]
devices += [Device(municipality=m, unique_id=f"phone{i:05d}", protocol="osmand")
            for i in range(http)]
Device.objects.bulk_create(devices, batch_size=500)
vehicles = Vehicle.objects.bulk_create(
    [Vehicle(municipality=m, plate=f"BEN{i:05d}") for i in range(len(devices))], batch_size=500)
since = timezone.now() - timezone.timedelta(days=60)
DeviceAssignment.objects.bulk_create(
    [DeviceAssignment(municipality=m, device=d, vehicle=v, valid_from=since)
     for d, v in zip(Device.objects.order_by("id"), vehicles)], batch_size=500)
print(Device.objects.count(), "devices")
"""


def seed(env: dict, teltonika: int, http: int) -> None:
    subprocess.run(
        [
            PYTHON,
            "-c",
            "import django; django.setup(); exec(open(0).read())",
            str(teltonika),
            str(http),
        ],
        input=SEED_SCRIPT,
        text=True,
        env=env,
        check=True,
        cwd=ROOT,
    )


def count_rows(db: str, url_or_path: str) -> int:
    if db == "postgres":
        import psycopg

        with psycopg.connect(url_or_path) as conn:
            return conn.execute("SELECT count(*) FROM telematics_position").fetchone()[0]
    with sqlite3.connect(url_or_path) as conn:
        return conn.execute("SELECT count(*) FROM telematics_position").fetchone()[0]


COLUMNS = (
    "device_id, vehicle_id, municipality_id, fix_time, server_time, latitude, longitude, "
    "speed_kmh, course, altitude, accuracy, hdop, satellites, valid, ignition, odometer, "
    "engine_hours, fuel_level, battery, driver_tag, attributes"
)


def plain_copy_rate(db: str, url_or_path: str, since_id: int) -> tuple[int, float]:
    """Load the rows the gateway stored (id > since_id) again with one plain COPY (or one
    executemany) into an empty table with the same columns and indexes; rows per second."""
    if db == "postgres":
        import psycopg

        with psycopg.connect(url_or_path, autocommit=True) as conn:
            buffer = bytearray()
            with conn.cursor().copy(
                f"COPY (SELECT {COLUMNS} FROM telematics_position WHERE id > {since_id}) TO STDOUT"
            ) as copy:
                for chunk in copy:
                    buffer += chunk
            rows = conn.execute(
                "SELECT count(*) FROM telematics_position WHERE id > %s", (since_id,)
            ).fetchone()[0]
            conn.execute("DROP TABLE IF EXISTS bench_plain_copy")
            conn.execute(
                "CREATE TABLE bench_plain_copy (LIKE telematics_position INCLUDING DEFAULTS "
                "INCLUDING CONSTRAINTS) PARTITION BY RANGE (fix_time)"
            )
            conn.execute("ALTER TABLE bench_plain_copy ADD PRIMARY KEY (id, fix_time)")
            conn.execute("ALTER TABLE bench_plain_copy ADD UNIQUE (device_id, fix_time)")
            conn.execute("CREATE INDEX ON bench_plain_copy (vehicle_id, fix_time)")
            conn.execute(
                "CREATE TABLE bench_plain_copy_default PARTITION OF bench_plain_copy DEFAULT"
            )
            started = time.perf_counter()
            with (
                conn.transaction(),
                conn.cursor().copy(f"COPY bench_plain_copy ({COLUMNS}) FROM STDIN") as copy,
            ):
                copy.write(bytes(buffer))
            elapsed = time.perf_counter() - started
            conn.execute("DROP TABLE bench_plain_copy")
        return rows, rows / elapsed
    with sqlite3.connect(url_or_path, isolation_level=None) as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM telematics_position WHERE id > ?", (since_id,)
        ).fetchall()
        schema = [
            sql.replace("telematics_position", "bench_plain")
            .replace("position_unique_device_fix_time", "bench_plain_unique")
            .replace("position_vehicle_fix_time", "bench_plain_vehicle")
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'telematics_position' "
                "AND sql IS NOT NULL"
            )
        ]
        conn.execute("DROP TABLE IF EXISTS bench_plain")
        for statement in schema:
            conn.execute(statement)
        marks = ", ".join("?" * 21)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO bench_plain ({COLUMNS}) VALUES ({marks})", rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_plain")
    return len(rows), len(rows) / elapsed


MAX_ID_SQL = "SELECT coalesce(max(id), 0) FROM telematics_position"


def max_id(db: str, url_or_path: str) -> int:
    if db == "postgres":
        import psycopg

        with psycopg.connect(url_or_path) as conn:
            return conn.execute(MAX_ID_SQL).fetchone()[0]
    with sqlite3.connect(url_or_path) as conn:
        return conn.execute(MAX_ID_SQL).fetchone()[0]


def process_cpu(pid: int | str) -> float:
    """User + system CPU seconds of a process and its threads, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process (the event loop thread's id is the pid)."""
    result = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return result
    for tid in tids:
        result[int(tid)] = process_cpu(f"{pid}/task/{tid}")
    return result


def database_backend_pids(db: str, url: str, application: str = "gateway") -> list[int]:
    if db != "postgres":
        return []
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)
        ).fetchall()
    return [r[0] for r in rows]


# --- one shape ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_shape(
    opts,
    env,
    db_target,
    per_message: int,
    base_time: float,
    workdir: Path,
    bare: bool = False,
    rate: float = 0.0,
) -> dict:
    """One measured window against the gateway (or, ``bare``, against the bare baseline),
    as fast as the answers come or, ``rate``, offered at that many positions a second."""
    run_name = f"{per_message}{'-bare' if bare else ''}{f'-paced{rate:.0f}' if rate else ''}"
    port_file = workdir / f"ports-{run_name}.json"
    log_path = workdir / f"gateway-{run_name}.log"
    profile = [] if not opts.profile else ["-m", "cProfile", "-o", f"{opts.profile}-{per_message}"]
    command = [
        PYTHON,
        *profile,
        str(ROOT / "manage.py"),
        "run_gateway",
        "--host",
        "127.0.0.1",
        "--osmand-port",
        "0",
        "--teltonika-port",
        "0",
        "--gt06-port",
        "-1",
        "--h02-port",
        "-1",
        "--port-file",
        str(port_file),
    ]
    if opts.no_handoff:
        command.append("--no-handoff")
    if bare:
        ports_queue = mp.Queue()
        gateway = mp.Process(target=bare_server_process, args=(db_target, ports_queue))
        gateway.start()
        log_path.write_text("")
    else:
        with open(log_path, "w") as log_file:
            gateway = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT
            )
    try:
        if bare:
            ports = ports_queue.get(timeout=60)
        else:
            deadline = time.monotonic() + 60
            while not port_file.exists():
                if gateway.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gateway did not start; see {log_path}")
                time.sleep(0.1)
            ports = json.loads(port_file.read_text())
        before_rows = count_rows(opts.db, db_target)
        before_id = max_id(opts.db, db_target)

        imeis = [f"86{i:013d}" for i in range(opts.trackers)]
        phones = [f"phone{i:05d}" for i in range(opts.http)]
        start_event = mp.Event()
        start_value = mp.Value("d", 0.0)
        pipes, processes = [], []
        for p in range(opts.procs):
            parent, child = mp.Pipe(duplex=False)
            args = (
                ports,
                imeis[p :: opts.procs],
                phones[p :: opts.procs],
                per_message,
                base_time,
                rate / opts.procs,
                opts.prebuild_rate / opts.procs,
                opts.duration,
            )
            process = mp.Process(
                target=generator_process, args=(args, child, start_event, start_value)
            )
            process.start()
            pipes.append(parent)
            processes.append(process)
        for pipe in pipes:
            if not pipe.poll(300):
                raise SystemExit("load generator not ready after 300 s")
            pipe.recv()
        # Every tracker connected and logged in, every message built: start together.
        start_at = time.time() + 0.5
        start_value.value = start_at
        start_event.set()
        while time.time() < start_at:
            time.sleep(0.02)
        backends = database_backend_pids(opts.db, db_target, "bare" if bare else "gateway")
        cpu_before = process_cpu(gateway.pid)
        threads_before = thread_cpu(gateway.pid)
        db_before = sum(process_cpu(pid) for pid in backends)
        results = [pipe.recv() for pipe in pipes]
        gateway_cpu = process_cpu(gateway.pid) - cpu_before
        threads = thread_cpu(gateway.pid)
        loop_cpu = threads.get(gateway.pid, 0.0) - threads_before.get(gateway.pid, 0.0)
        other_threads = sorted(
            (
                cpu - threads_before.get(tid, 0.0)
                for tid, cpu in threads.items()
                if tid != gateway.pid
            ),
            reverse=True,
        )
        database_cpu = sum(process_cpu(pid) for pid in backends) - db_before
        for process in processes:
            process.join()
    finally:
        if bare:
            gateway.kill()  # every acknowledged row is committed; nothing else to wait for
            gateway.join()
        else:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(30)
            except subprocess.TimeoutExpired:
                gateway.kill()
    sent = {"teltonika": 0, "osmand": 0}
    latency: dict[str, list[float]] = {"teltonika": [], "osmand": []}
    for result in results:
        for key in sent:
            sent[key] += result["sent"][key]
            latency[key].extend(array.array("d", result["latency"][key]))
    errors = sum(r["errors"] for r in results)
    stored = count_rows(opts.db, db_target) - before_rows
    total_sent = sum(sent.values())
    window = opts.duration
    plain_rows, plain_rate = plain_copy_rate(opts.db, db_target, before_id)
    stats_lines = [line for line in log_path.read_text().splitlines() if "gateway.stats" in line]
    return {
        "per_message": per_message,
        "offered": rate,
        "last_fix": max(r["last_fix"] for r in results),
        "sent": sent,
        "total_sent": total_sent,
        "stored": stored,
        "errors": errors,
        "rate": total_sent / window,
        "latency": latency,
        "plain_rows": plain_rows,
        "plain_rate": plain_rate,
        "gateway_stats": stats_lines[-1] if stats_lines else "",
        "gateway_cpu": gateway_cpu,
        "loop_cpu": loop_cpu,
        "thread_cpu": [cpu for cpu in other_threads if cpu > 0.01],
        "database_cpu": database_cpu,
        "generator_cpu": sum(r["cpu"] for r in results),
    }


def report(opts, result: dict) -> None:
    all_latency = result["latency"]["teltonika"] + result["latency"]["osmand"]
    ms = 1000.0
    print(
        f"\nshape: {result['per_message']} position(s) per Teltonika frame (OsmAnd: 1 per request)"
    )
    print(
        f"  trackers: {opts.trackers} Teltonika TCP + {opts.http} OsmAnd HTTP, "
        f"{opts.procs} generator process(es), {opts.duration:.0f} s measured"
    )
    print(
        f"  positions sent (acknowledged): {result['total_sent']}  "
        f"(teltonika {result['sent']['teltonika']}, osmand {result['sent']['osmand']})"
    )
    print(f"  rows stored:                   {result['stored']}")
    verdict = (
        "MATCH"
        if result["stored"] == result["total_sent"] and not result["errors"]
        else ("MISMATCH")
    )
    print(f"  sent == stored:                {verdict}  (generator errors: {result['errors']})")
    print(f"  positions stored per second:   {result['rate']:,.0f}")
    print(
        f"  ack latency all:       p50 {percentile(all_latency, 0.5) * ms:7.1f} ms   "
        f"p99 {percentile(all_latency, 0.99) * ms:7.1f} ms   ({len(all_latency)} acks)"
    )
    for protocol in ("teltonika", "osmand"):
        values = result["latency"][protocol]
        print(
            f"  ack latency {protocol:9s}: p50 {percentile(values, 0.5) * ms:7.1f} ms   "
            f"p99 {percentile(values, 0.99) * ms:7.1f} ms"
        )
    kind = "PostgreSQL COPY" if opts.db == "postgres" else "SQLite executemany"
    print(
        f"  plain {kind} of the same {result['plain_rows']} rows: "
        f"{result['plain_rate']:,.0f} rows/s -> gateway/plain = "
        f"{result['rate'] / result['plain_rate'] if result['plain_rate'] else float('nan'):.2f}"
    )
    per = 1e6 / max(1, result["total_sent"])
    database = (
        f", database backends {result['database_cpu'] * per:.0f}" if opts.db == "postgres" else ""
    )
    print(
        f"  CPU per position stored (us): gateway {result['gateway_cpu'] * per:.0f}"
        f"{database}, load generator {result['generator_cpu'] * per:.0f}"
        f"  (gateway used {result['gateway_cpu'] / opts.duration:.0%} of one core)"
    )
    threads = ", ".join(f"{cpu * per:.0f}" for cpu in result["thread_cpu"])
    loop = result["loop_cpu"] * per
    print(f"    of which event loop thread {loop:.0f}, other threads: {threads}")
    print(f"  gateway: {result['gateway_stats'].split(' INFO telematics.gateway ')[-1]}")


def report_bare(result: dict, bare: dict) -> None:
    """The bare baseline of the same shape, and how close the gateway came to it."""
    latency = bare["latency"]["teltonika"] + bare["latency"]["osmand"]
    per = 1e6 / max(1, bare["total_sent"])
    verdict = "MATCH" if bare["stored"] == bare["total_sent"] and not bare["errors"] else "MISMATCH"
    print(
        f"  bare baseline (one loop, batched COPY; no filters, live state, dedup, hand-off): "
        f"{bare['rate']:,.0f}/s, ack p50 {percentile(latency, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latency, 0.99) * 1000:.1f} ms, sent == stored {verdict}, "
        f"CPU per position {bare['gateway_cpu'] * per:.0f} us"
    )
    print(f"  gateway / bare baseline = {result['rate'] / bare['rate']:.2f}")


def report_paced(result: dict) -> None:
    """A run at an offered rate: what got through, and how long the answers took."""
    latency = result["latency"]["teltonika"] + result["latency"]["osmand"]
    ok = result["stored"] == result["total_sent"] and not result["errors"]
    by_protocol = ", ".join(
        f"{protocol} {percentile(values, 0.99) * 1000:.1f}"
        for protocol, values in result["latency"].items()
        if values
    )
    print(
        f"  offered {result['offered']:,.0f}/s: stored {result['rate']:,.0f}/s, "
        f"ack p50 {percentile(latency, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latency, 0.99) * 1000:.1f} ms ({by_protocol}), "
        f"sent == stored {'MATCH' if ok else 'MISMATCH'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--trackers", type=int, default=1000, help="Teltonika TCP trackers")
    parser.add_argument("--http", type=int, default=100, help="OsmAnd HTTP trackers")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per shape")
    parser.add_argument("--procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--shapes", default="1,10", help="positions per Teltonika frame")
    parser.add_argument(
        "--prebuild-rate",
        type=float,
        default=40_000,
        help="messages built before the window, for this many positions a second (more are "
        "built on the fly if needed)",
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="run the gateway under cProfile (event loop thread only); stats to PREFIX-<shape>",
    )
    parser.add_argument(
        "--no-handoff", action="store_true", help="gateway without the hand-over to the workers"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the bare baseline (PostgreSQL: one loop with batched COPY, nothing else)",
    )
    parser.add_argument(
        "--paced",
        default="aim",
        help="offered rates (positions a second, comma-separated; empty for none) at which each "
        "shape is also run paced: every tracker sends one message per interval, and latency "
        "counts from when a message was due; 'aim' is the issue's aim for the shape (20,000 "
        "with one position per message, 40,000 with ten)",
    )
    opts = parser.parse_args()
    paced = [r.strip() for r in opts.paced.split(",") if r.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="kinisi-ingest-"))
    env = dict(os.environ)
    env["KINISI_VAR_DIR"] = str(workdir / "var")  # Celery's filesystem broker lands here
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.pop("REDIS_URL", None)
    env["KINISI_LOG_LEVEL"] = "WARNING"
    if opts.db == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
        db_target = f"postgres://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
        env["DATABASE_URL"] = db_target
    else:
        db_target = str(workdir / "bench.sqlite3")
        env["DATABASE_URL"] = f"sqlite:///{db_target}"
    print(
        f"ingest benchmark: db={opts.db} cpus={os.cpu_count()} "
        f"load={os.getloadavg()[0]:.2f} handoff={'off' if opts.no_handoff else 'on'}"
    )
    run_django(env, "migrate", "-v0")
    seed(env, opts.trackers, opts.http)
    env["KINISI_LOG_LEVEL"] = "INFO"

    # Fix times one second apart per device; each run's start after the last fix of the one
    # before (built frames included), so no two runs' rows collide. The first starts far enough
    # back that at 100,000 positions a second (plus the frames built ahead) the last run's
    # fixes are still in the past, or the future-fix filter would refuse them (and the count
    # check would say so).
    results = []
    bare_baseline = opts.db == "postgres" and not opts.no_baseline
    runs = len(opts.shapes.split(",")) * (1 + bare_baseline + len(paced))
    per_device = (100_000 + opts.prebuild_rate) * opts.duration / (opts.trackers + opts.http)
    base_time = time.time() - 600 - runs * per_device
    for shape in [int(s) for s in opts.shapes.split(",")]:
        result = run_shape(opts, env, db_target, shape, base_time, workdir)
        base_time = result["last_fix"] + 60
        report(opts, result)
        results.append(result)
        if bare_baseline:
            bare = run_shape(opts, env, db_target, shape, base_time, workdir, bare=True)
            base_time = bare["last_fix"] + 60
            report_bare(result, bare)
            results.append(bare)
        for rate in paced:
            offered = AIM.get(shape, 40_000) if rate == "aim" else float(rate)
            result = run_shape(opts, env, db_target, shape, base_time, workdir, rate=offered)
            base_time = result["last_fix"] + 60
            report_paced(result)
            results.append(result)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    shutil.rmtree(workdir, ignore_errors=True)
    if any(r["stored"] != r["total_sent"] or r["errors"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
