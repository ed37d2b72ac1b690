"""Real collaborators for the agent's tests: a gpsd daemon fed NMEA through a pseudo-terminal,
an HTTP server that records what it acknowledged and can be cut off, and the agent process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import reduce
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

GPSD = shutil.which("gpsd") or "/usr/sbin/gpsd"
REPO = Path(__file__).resolve().parents[3]


def wait_until(predicate: Callable[[], object], timeout: float = 60.0, what: str = "") -> object:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- NMEA ------------------------------------------------------------------------------------


def nmea(body: str) -> bytes:
    """``$body*CS\\r\\n``; CS is the XOR of every character between ``$`` and ``*`` (NMEA 0183)."""
    checksum = reduce(lambda acc, char: acc ^ ord(char), body, 0)
    return f"${body}*{checksum:02X}\r\n".encode("ascii")


def _angle(value: float, degree_digits: int) -> str:
    degrees = int(abs(value))
    minutes = (abs(value) - degrees) * 60
    return f"{degrees:0{degree_digits}d}{minutes:07.4f}"


def rmc(
    when: datetime,
    lat: float = 35.5125,
    lon: float = 24.025,
    *,
    speed_kn: float | None = 10.5,
    course: float | None = 45.0,
    valid: bool = True,
) -> bytes:
    hhmmss = when.strftime("%H%M%S.00")
    date = when.strftime("%d%m%y")
    if not valid:
        return nmea(f"GPRMC,{hhmmss},V,,,,,,,{date},,,N")
    fields = [
        "GPRMC",
        hhmmss,
        "A",
        _angle(lat, 2),
        "N" if lat >= 0 else "S",
        _angle(lon, 3),
        "E" if lon >= 0 else "W",
        "" if speed_kn is None else f"{speed_kn:.1f}",
        "" if course is None else f"{course:.1f}",
        date,
        "",
        "",
        "A",
    ]
    return nmea(",".join(fields))


def gga(
    when: datetime,
    lat: float = 35.5125,
    lon: float = 24.025,
    *,
    quality: int = 1,
    satellites: int = 8,
    hdop: float = 0.9,
    altitude: float | None = 12.5,
) -> bytes:
    hhmmss = when.strftime("%H%M%S.00")
    if quality == 0:
        return nmea(f"GPGGA,{hhmmss},,,,,0,00,99.9,,,,,,")
    fields = [
        "GPGGA",
        hhmmss,
        _angle(lat, 2),
        "N" if lat >= 0 else "S",
        _angle(lon, 3),
        "E" if lon >= 0 else "W",
        str(quality),
        f"{satellites:02d}",
        f"{hdop:.1f}",
        "" if altitude is None else f"{altitude:.1f}",
        "M",
        "30.0",
        "M",
        "",
        "",
    ]
    return nmea(",".join(fields))


# Six satellites in view, all used (PRN, elevation, azimuth, SNR). With their geometry gpsd
# computes DOPs and error estimates (epx, epy, eps), as with a real receiver.
SATELLITES = [
    (5, 40, 83, 42),
    (7, 22, 310, 38),
    (13, 55, 130, 45),
    (20, 70, 240, 47),
    (24, 15, 45, 35),
    (30, 35, 190, 40),
]


def gsa_gsv() -> list[bytes]:
    prns = [f"{prn:02d}" for prn, *_ in SATELLITES]
    gsa = nmea(",".join(["GPGSA", "A", "3", *prns, *[""] * (12 - len(prns)), "2.1", "1.2", "1.7"]))
    views = [f"{prn:02d},{el:02d},{az:03d},{snr:02d}" for prn, el, az, snr in SATELLITES]
    return [
        gsa,
        nmea(f"GPGSV,2,1,{len(SATELLITES):02d}," + ",".join(views[:4])),
        nmea(f"GPGSV,2,2,{len(SATELLITES):02d}," + ",".join(views[4:])),
    ]


class Nmea:
    """The sentence builders, handed to tests as a fixture (tests/ is not an import path)."""

    sentence = staticmethod(nmea)
    rmc = staticmethod(rmc)
    gga = staticmethod(gga)
    gsa_gsv = staticmethod(gsa_gsv)


@pytest.fixture
def nmea_builder() -> type[Nmea]:
    return Nmea


@pytest.fixture
def wait() -> Callable[..., object]:
    """``wait(predicate, timeout=60, what="")``: poll until truthy, fail the test otherwise."""
    return wait_until


# --- gpsd on a pseudo-terminal ---------------------------------------------------------------


class GpsdFeed:
    """A real gpsd reading a pseudo-terminal whose other end the test writes NMEA into."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.master, self.slave = os.openpty()
        # Raw mode: no echo and no CR/LF translation, as on a real serial GPS line.
        tty.setraw(self.slave)
        self.device = os.ttyname(self.slave)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, port: int | None = None) -> None:
        for _attempt in range(5):
            self.port = port or free_port()
            log = open(self.workdir / "gpsd.log", "ab")  # noqa: SIM115 - owned by the process
            # -N foreground, -n poll the device without waiting for a client, -b never write to
            # the device (we do not read the pty's master side), -F a control socket of our own.
            self.process = subprocess.Popen(
                [
                    GPSD,
                    "-N",
                    "-n",
                    "-b",
                    "-S",
                    str(self.port),
                    "-F",
                    str(self.workdir / f"gpsd-{self.port}.sock"),
                    self.device,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            if self._wait_listening():
                return
            self.stop()
            if port:
                break
        pytest.fail(f"gpsd did not start; see {self.workdir / 'gpsd.log'}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if b"VERSION" in sock.recv(4096):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def send(self, *sentences: bytes) -> None:
        for sentence in sentences:
            os.write(self.master, sentence)

    def send_fix(self, when: datetime, **kwargs: object) -> None:
        """One reporting cycle: RMC then GGA for the same second."""
        self.send(
            rmc(when, **kwargs),
            gga(when, **{k: v for k, v in kwargs.items() if k in ("lat", "lon")}),
        )

    def poll_raw(self) -> dict:
        """gpsd's own answer to ?POLL, read without gpsd-py3: the reference for what gpsd knows."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            stream = sock.makefile("rw")
            stream.readline()  # VERSION
            stream.write('?WATCH={"enable":true};\n')
            stream.flush()
            while True:
                reply = json.loads(stream.readline())
                if reply["class"] == "WATCH":
                    break
            stream.write("?POLL;\n")
            stream.flush()
            while True:
                reply = json.loads(stream.readline())
                if reply["class"] == "POLL":
                    return reply

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def gpsd_feed(tmp_path: Path) -> Iterator[GpsdFeed]:
    if not os.path.exists(GPSD):
        # In CI (which installs gpsd) any skip fails the run: see tests/conftest.py.
        pytest.skip("gpsd is not installed (Debian package 'gpsd'); the agent's gpsd tests need it")
    feed = GpsdFeed(tmp_path)
    feed.start()
    try:
        yield feed
    finally:
        feed.close()


# --- the server ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1, so the agent's kept-alive connection is exercised (and cut) as in production.
    protocol_version = "HTTP/1.1"
    server: _RecordingHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, add=False)
        super().finish()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        owner._attempt()
        if owner.stall:
            # A network that swallows the request: no answer until the client gives up.
            time.sleep(owner.stall)
            self.close_connection = True
            return
        status = owner.status
        if status == 200:
            owner._record(self.path, dict(self.headers), body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the test output stays readable; the recorder keeps what matters


class _RecordingHTTPServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    owner: RecordingServer


class RecordingServer:
    """Records every request it acknowledged with 200. ``stop()`` cuts the network (listening
    socket closed, open connections reset); ``start()`` brings it back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.stall: float = 0.0
        #: requests answered 200, in arrival order: (path, headers, body)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        #: every POST received, acknowledged or not
        self.attempts = 0
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _RecordingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = _RecordingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._server = None

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _attempt(self) -> None:
        with self._lock:
            self.attempts += 1

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.requests.append((path, headers, body))

    def forms(self) -> list[dict[str, str]]:
        """Acknowledged OsmAnd form bodies, one dict per request, in arrival order."""
        with self._lock:
            bodies = [body for _path, _headers, body in self.requests]
        return [
            {k: v[0] for k, v in parse_qs(b.decode(), strict_parsing=True).items()} for b in bodies
        ]

    def json_bodies(self) -> list[dict]:
        with self._lock:
            return [json.loads(body) for _path, _headers, body in self.requests]

    def timestamps(self) -> list[int]:
        return [int(form["timestamp"]) for form in self.forms()]


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the agent process -----------------------------------------------------------------------


class AgentProcess:
    """``kinisi-agent`` as a child process, its log lines collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        script = Path(sys.executable).with_name("kinisi-agent")
        command = (
            [str(script)] if script.exists() else [sys.executable, "-m", "telematics.agent.cli"]
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [*command, *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> str:
        regex = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in self.log() if regex.search(line)), None)

        def check() -> str | None:
            if self.process.poll() is not None and not found():
                pytest.fail(f"agent exited ({self.process.returncode}):\n" + "\n".join(self.log()))
            return found()

        return wait_until(check, timeout, f"log line /{pattern}/ in:\n" + "\n".join(self.log()))

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> AgentProcess:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KINISI_AGENT_")}
        full_env.update(env or {})
        agent = AgentProcess(list(args), full_env)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.kill()


BASE_TIME = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
# 2024-05-01T12:00:00Z by hand: 2024-01-01 is 1,704,067,200; Jan-Apr 2024 is 121 days
# (10,454,400 s); plus 12 h (43,200 s).
BASE_EPOCH = 1_714_564_800


@pytest.fixture
def base_time() -> tuple[datetime, int]:
    return BASE_TIME, BASE_EPOCH
