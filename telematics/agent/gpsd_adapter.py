"""gpsd through gpsd-py3: the only module of Kinisi that imports ``gpsd``.

gpsd-py3 (last release 2017) has quirks that this adapter absorbs so the rest of the agent never
sees them:

* ``GpsResponse.speed()`` returns 0 whenever the speed is below gpsd's error estimate ``eps``, so
  a slow-moving vehicle would look parked: the adapter reads ``hspeed``, gpsd's own value.
* Every value gpsd did not report comes back as 0 (latitude, altitude, track, speed, error
  estimates, satellite counts), which is indistinguishable from a real 0 (a vehicle heading due
  north, a quay at sea level). The adapter keeps the raw line gpsd-py3 read and reports a value
  only when gpsd sent it; otherwise ``None``.
* Positions exist only with ``mode >= 2``; below that the adapter returns no fix at all.
* The library keeps one global connection in module variables and never closes an old one
  when ``connect()`` is called again. The adapter closes it explicitly before reconnecting,
  allows one owner per process, and bounds connecting and every read with a timeout so a hung
  gpsd cannot block the agent forever (the library sets none).
* ``get_current()`` expects the very next line after ``?POLL`` to be the answer and raises on
  anything gpsd pushes in between; the adapter skips such lines.
* It raises bare ``Exception``, ``UserWarning`` ("GPS not active") and ``IndexError`` (gpsd
  knows a receiver but has no report yet) for ordinary situations; the adapter turns these into
  "no fix" or :class:`GpsdUnavailable`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from typing import Any

import gpsd

from telematics.agent.fix import AgentFix, parse_gpsd_time

__all__ = ["GpsdAdapter", "GpsdUnavailable"]

logger = logging.getLogger(__name__)

_owner_lock = threading.Lock()
_owner: GpsdAdapter | None = None


class GpsdUnavailable(Exception):
    """gpsd cannot be reached or stopped answering; ``reason`` is a short log token."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


# A watcher may receive reports gpsd pushes on its own (DEVICE when a receiver appears or goes,
# ERROR, ...) between a ?POLL and its answer. More than this many in a row is not gpsd.
_MAX_SKIPPED_LINES = 50


class _RecordingStream:
    """Wraps gpsd-py3's socket file so the adapter can see the raw JSON line behind a response.

    Two repairs on the way: an empty read means gpsd closed the connection, which gpsd-py3 would
    report as a confusing JSON decode error, so it is raised as a connection error; and after a
    ``?POLL`` any line that is not the POLL answer is skipped, where gpsd-py3 would raise
    "Unexpected message received from gps" and cost a reconnect.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._awaiting_poll = False
        self.last_line = ""

    def _read(self) -> str:
        line = self._stream.readline()
        if not line:
            raise ConnectionResetError("gpsd closed the connection")
        return line

    def readline(self) -> str:
        line = self._read()
        if self._awaiting_poll:
            for _ in range(_MAX_SKIPPED_LINES):
                if _report_class(line) == "POLL":
                    break
                logger.debug("agent.gpsd_line_skipped class=%s", _report_class(line))
                line = self._read()
            self._awaiting_poll = False
        self.last_line = line
        return line

    def write(self, data: str) -> int:
        self._awaiting_poll = data.startswith("?POLL")
        return self._stream.write(data)

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


def _report_class(line: str) -> str | None:
    try:
        report = json.loads(line)
    except ValueError:
        return None
    return report.get("class") if isinstance(report, dict) else None


def _drop_library_connection() -> None:
    for name in ("gpsd_stream", "gpsd_socket"):
        handle = getattr(gpsd, name, None)
        if handle is not None:
            # Already broken or not: the point is only to release the descriptor.
            with contextlib.suppress(OSError):
                handle.close()
        setattr(gpsd, name, None)
    gpsd.state = {}


class GpsdAdapter:
    """Polls gpsd for the current fix. Use from one thread; one connected adapter per process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 2947, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        #: gpsd's fix mode at the last poll (0 unknown, 1 no fix, 2 2D, 3 3D).
        self.last_mode = 0
        #: why the last poll gave no fix, as a log token (``None`` after a fix).
        self.last_reason: str | None = "not_polled"
        self._stream: _RecordingStream | None = None

    @property
    def connected(self) -> bool:
        return self._stream is not None

    def connect(self) -> None:
        """(Re)connect to gpsd; raises :class:`GpsdUnavailable`."""
        global _owner
        with _owner_lock:
            if _owner is not None and _owner is not self:
                raise RuntimeError("gpsd-py3 keeps one global connection: one GpsdAdapter only")
            _owner = self
        self._release_stream()
        # gpsd-py3 creates its socket without a timeout, so a gpsd that accepts but never
        # answers would block connect() forever. The process-wide default is set around the call
        # only; the agent's other sockets (HTTP) pass their own timeouts explicitly.
        previous_default = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self.timeout)
        try:
            gpsd.connect(host=self.host, port=self.port)
            gpsd.gpsd_socket.settimeout(self.timeout)
        except Exception as exc:  # gpsd-py3 raises bare Exception for protocol surprises
            self.close()
            raise GpsdUnavailable("connect_failed", f"{type(exc).__name__}: {exc}") from exc
        finally:
            socket.setdefaulttimeout(previous_default)
        self._stream = _RecordingStream(gpsd.gpsd_stream)
        gpsd.gpsd_stream = self._stream
        logger.info("agent.gpsd_connected host=%s port=%s", self.host, self.port)

    def close(self) -> None:
        global _owner
        self._release_stream()
        with _owner_lock:
            if _owner is self:
                _owner = None

    def _release_stream(self) -> None:
        self._stream = None
        _drop_library_connection()

    def read_fix(self) -> AgentFix | None:
        """Poll gpsd once. ``None`` when there is no usable fix (see :attr:`last_reason`).

        Raises :class:`GpsdUnavailable` (and drops the connection) when gpsd does not answer.
        """
        if self._stream is None:
            raise GpsdUnavailable("not_connected")
        try:
            response = gpsd.get_current()
        except UserWarning:
            # gpsd-py3's "GPS not active": gpsd is up but no receiver is sending.
            return self._no_fix(0, "receiver_inactive")
        except IndexError:
            # An active receiver with no TPV or SKY report yet.
            return self._no_fix(0, "no_report_yet")
        except Exception as exc:  # socket errors, timeouts, garbage, gpsd-py3's bare Exception
            self.close()
            raise GpsdUnavailable("poll_failed", f"{type(exc).__name__}: {exc}") from exc

        mode = int(response.mode or 0)
        if mode < 2:
            return self._no_fix(mode, "no_fix")
        try:
            packet = json.loads(self._stream.last_line)
            tpv: dict[str, Any] = packet["tpv"][-1]
            sky: dict[str, Any] = packet["sky"][-1] if packet.get("sky") else {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self.close()
            raise GpsdUnavailable("bad_poll_reply", f"{type(exc).__name__}: {exc}") from exc
        if "time" not in tpv:
            # Without a time (gpsd has not seen a date yet) the fix cannot be ordered or
            # deduplicated by the server, so it is not worth sending.
            return self._no_fix(mode, "no_time")
        if "lat" not in tpv or "lon" not in tpv:
            return self._no_fix(mode, "no_position")
        try:
            fix = AgentFix(
                time=parse_gpsd_time(tpv["time"]),
                lat=float(response.lat),
                lon=float(response.lon),
                mode=mode,
                # hspeed, never speed(): the latter reads 0 below gpsd's error estimate.
                speed_mps=float(response.hspeed) if "speed" in tpv else None,
                course=float(response.track) if "track" in tpv else None,
                altitude=_altitude(tpv, mode),
                accuracy=_accuracy(tpv),
                hdop=_number(sky.get("hdop")),
                satellites=_satellites(sky, response.sats_valid),
            )
        except (ValueError, TypeError) as exc:
            logger.warning("agent.gps_fix_invalid mode=%s error=%s", mode, exc)
            return self._no_fix(mode, "invalid")
        self.last_mode = mode
        self.last_reason = None
        return fix

    def _no_fix(self, mode: int, reason: str) -> None:
        self.last_mode = mode
        self.last_reason = reason
        return None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    return float(value)


def _altitude(tpv: dict[str, Any], mode: int) -> float | None:
    if mode < 3:
        return None
    # gpsd 3.20+ names the mean-sea-level altitude altMSL; older releases only have alt.
    if "altMSL" in tpv:
        return _number(tpv["altMSL"])
    return _number(tpv.get("alt"))


def _accuracy(tpv: dict[str, Any]) -> float | None:
    if "eph" in tpv:
        return _number(tpv["eph"])
    if "epx" in tpv and "epy" in tpv:
        return max(float(tpv["epx"]), float(tpv["epy"]))
    return None


def _satellites(sky: dict[str, Any], counted_by_library: int) -> int | None:
    # A fix is never computed from zero satellites: 0 here means gpsd was not told (plain
    # RMC/GGA without GSA/GSV leaves both counts at 0), so it is missing, not zero.
    used = sky.get("uSat")
    if isinstance(used, int) and used > 0:
        return used
    if "satellites" in sky and counted_by_library > 0:
        return int(counted_by_library)
    return None
