"""Sending queued fixes to the Kinisi gateway: the two wire formats and the HTTP transport.

A fix leaves the queue only when the server answered **HTTP 200** to the request that carried it;
any other answer, a timeout or a refused connection leaves it queued, and the sender tries again
after an exponentially growing, jittered delay (:class:`Backoff`). Fixes go out strictly in queue
order. If a 200 is lost on the way back the fix is sent again: the gateway stores positions
unique on (device, fix time), so a resend is harmless.

OsmAnd form (default, ``--mode osmand``)
========================================

The protocol of the Traccar Client phone app, so the agent also works with a Traccar server. One
fix per request: ``POST <server URL>`` (default port 5055), ``Content-Type:
application/x-www-form-urlencoded``, body fields:

============  ==============================================================================
``id``        device id
``timestamp`` fix time, whole seconds since the Unix epoch (UTC)
``lat/lon``   WGS84 decimal degrees
``speed``     **knots** (gpsd's m/s × 3600/1852), as the protocol requires
``bearing``   course, degrees from true north
``altitude``  metres above mean sea level
``accuracy``  gpsd's horizontal error estimate, metres
``hdop``      horizontal dilution of precision
``sat``       satellites used
``batt``      battery, percent (only with ``--battery-path``)
============  ==============================================================================

A value gpsd did not report is left out of the body, never sent as 0. With a token configured,
the request also carries ``Authorization: Bearer <token>``.

Batch JSON (``--mode batch``)
=============================

Many fixes per request, for catching up after an outage on a slow link. ``POST <server
URL><batch path>`` (default path ``/agent/batch``), ``Content-Type: application/json``,
``Authorization: Bearer <device token>``, body::

    {
      "device_id": "KIN-0042",
      "positions": [
        {"seq": 17, "time": "2024-05-01T12:00:05.000Z", "lat": 35.5125, "lon": 24.025,
         "speed_kmh": 19.447, "course": 45.0, "altitude": 12.5, "accuracy": 17.1,
         "hdop": 0.9, "satellites": 8, "mode": 3, "battery": null}
      ]
    }

* ``positions`` holds 1 to ``--batch-size`` fixes (default 100, at most 1000, the gateway's
  limit) in the order they were recorded;
  ``seq`` is the agent's queue id, strictly increasing for a device over the agent's lifetime
  (a gap means the agent dropped fixes from a full queue).
* ``time`` is ISO 8601 UTC with milliseconds. Units are Kinisi's: ``speed_kmh`` km/h,
  ``course`` degrees, ``altitude``/``accuracy`` metres, ``battery`` percent; ``mode`` is gpsd's
  fix mode (2 = 2D, 3 = 3D). Every key is always present; ``null`` means not reported.
* The server answers **200 only after every position in the batch is committed** (body ignored);
  anything else makes the agent resend the whole batch later. 401/403 mean the token is wrong:
  the agent keeps the fixes and keeps retrying, so nothing is lost while an administrator fixes
  the device's token.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from telematics.agent.fix import AgentFix, format_time
from telematics.agent.fix_queue import QueuedFix

__all__ = [
    "DEFAULT_BATCH_PATH",
    "KNOTS_PER_MPS",
    "Backoff",
    "HttpTransport",
    "Request",
    "ServerUnreachable",
    "encode_batch",
    "encode_osmand",
]

logger = logging.getLogger(__name__)

# One knot is 1852 m per hour, exactly.
KNOTS_PER_MPS = 3600 / 1852
KMH_PER_MPS = 3.6
DEFAULT_BATCH_PATH = "/agent/batch"


@dataclass(frozen=True, slots=True)
class Request:
    body: bytes
    content_type: str
    path: str | None = None  # None: the server URL's own path


def _decimal(value: float, places: int) -> str:
    # Fixed point, trailing zeros trimmed: repr() would write tiny values as 1e-05.
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def encode_osmand(device_id: str, fix: AgentFix) -> Request:
    """The OsmAnd form body for one fix (field table in the module docstring)."""
    fields: list[tuple[str, str]] = [
        ("id", device_id),
        ("timestamp", str(fix.time_ms // 1000)),
        ("lat", _decimal(fix.lat, 7)),
        ("lon", _decimal(fix.lon, 7)),
    ]
    optional = (
        ("speed", None if fix.speed_mps is None else fix.speed_mps * KNOTS_PER_MPS, 3),
        ("bearing", fix.course, 2),
        ("altitude", fix.altitude, 2),
        ("accuracy", fix.accuracy, 2),
        ("hdop", fix.hdop, 2),
        ("sat", fix.satellites, 0),
        ("batt", fix.battery, 1),
    )
    fields.extend(
        (name, _decimal(value, places)) for name, value, places in optional if value is not None
    )
    return Request(urlencode(fields).encode("ascii"), "application/x-www-form-urlencoded")


def encode_batch(
    device_id: str, items: Sequence[QueuedFix], path: str = DEFAULT_BATCH_PATH
) -> Request:
    """The batch JSON body for ``items`` (shape in the module docstring)."""
    positions = []
    for item in items:
        fix = item.fix
        speed_kmh = None if fix.speed_mps is None else round(fix.speed_mps * KMH_PER_MPS, 3)
        positions.append(
            {
                "seq": item.id,
                "time": format_time(fix.time),
                "lat": fix.lat,
                "lon": fix.lon,
                "speed_kmh": speed_kmh,
                "course": fix.course,
                "altitude": fix.altitude,
                "accuracy": fix.accuracy,
                "hdop": fix.hdop,
                "satellites": fix.satellites,
                "mode": fix.mode,
                "battery": fix.battery,
            }
        )
    body = json.dumps({"device_id": device_id, "positions": positions}, separators=(",", ":"))
    return Request(body.encode("utf-8"), "application/json", path)


class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of
    ``min(maximum, base * 2**(n-1))`` seconds.

    The jitter spreads a fleet that lost the server at the same moment, so hundreds of vehicles do
    not hit it in lockstep when it comes back; keeping at least half of the delay means a single
    agent never retries in a tight loop.
    """

    def __init__(self, base: float = 1.0, maximum: float = 300.0, rng: random.Random | None = None):
        if base <= 0 or maximum < base:
            raise ValueError("backoff needs 0 < base <= maximum")
        self.base = base
        self.maximum = maximum
        self._rng = rng or random.Random()

    def ceiling(self, attempt: int) -> float:
        # Cap the exponent: 2**attempt overflows a float after a few days of failures.
        return min(self.maximum, self.base * 2 ** min(max(attempt, 1) - 1, 60))

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


class ServerUnreachable(Exception):
    """No HTTP answer: refused, reset, timed out, DNS failure, TLS failure."""


class HttpTransport:
    """POSTs to one server, keeping the connection alive between requests.

    A kept-alive connection the server has meanwhile closed fails on the next request; that one
    failure is retried at once on a fresh connection instead of counting as an outage.
    """

    def __init__(self, server_url: str, *, token: str | None = None, timeout: float = 15.0) -> None:
        parts = urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"server URL must be http:// or https://host[:port][/path]: {server_url!r}"
            )
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path or "/"
        if parts.query:
            self.base_path += f"?{parts.query}"
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def post(self, request: Request) -> int:
        """Send ``request``; return the HTTP status. Raises :class:`ServerUnreachable`."""
        path = request.path or self.base_path
        if request.path and self.base_path not in ("/", ""):
            path = self.base_path.rstrip("/") + request.path
        headers = {"Content-Type": request.content_type, "User-Agent": "kinisi-agent"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        reused = self._conn is not None
        try:
            return self._post_once(path, request.body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            if not reused or isinstance(exc, TimeoutError):
                raise ServerUnreachable(f"{type(exc).__name__}: {exc}") from exc
        try:
            return self._post_once(path, request.body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ServerUnreachable(f"{type(exc).__name__}: {exc}") from exc

    def _post_once(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._conn.request("POST", path, body=body, headers=headers)
        response = self._conn.getresponse()
        # The body is ignored but must be read before the connection can carry another request;
        # a server that sends more than a reply's worth gets its connection closed instead.
        response.read(64 * 1024)
        if response.will_close or not response.isclosed():
            self.close()
        return response.status

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):  # a broken socket has nothing left to release
                self._conn.close()
            self._conn = None
