"""The agent's fix record: what gpsd reported, in SI units, with ``None`` for what it did not.

Pure module. The record is serialised to JSON for the queue, so its stored form is versioned
(:data:`PAYLOAD_VERSION`) and :meth:`AgentFix.from_payload` refuses shapes it does not know.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["PAYLOAD_VERSION", "AgentFix", "format_time", "parse_gpsd_time"]

PAYLOAD_VERSION = 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class AgentFix:
    """One position fix as the agent queues it.

    ``time`` is the GPS fix time (aware, UTC). ``speed_mps`` is gpsd's horizontal speed in metres
    per second; ``course`` degrees clockwise from true north; ``altitude`` metres above mean sea
    level; ``accuracy`` gpsd's horizontal error estimate in metres (95 %); ``battery`` percent.
    ``mode`` is gpsd's fix mode (2 = 2D, 3 = 3D); the agent never builds a record for mode < 2.
    """

    time: datetime
    lat: float
    lon: float
    mode: int
    speed_mps: float | None = None
    course: float | None = None
    altitude: float | None = None
    accuracy: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    battery: float | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError(f"fix time must be timezone-aware: {self.time!r}")
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"coordinates out of range: {self.lat},{self.lon}")
        if self.mode < 2:
            raise ValueError(f"no position without a 2D or 3D fix (mode {self.mode})")
        for name in ("speed_mps", "course", "altitude", "accuracy", "hdop", "battery"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} is not a finite number: {value!r}")

    @property
    def time_ms(self) -> int:
        """Fix time in whole milliseconds since the Unix epoch (the queue's duplicate key)."""
        # Integer arithmetic: a float timestamp could round a millisecond the other way.
        return (self.time - _EPOCH) // _ONE_MS

    def to_payload(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["time"] = self.time_ms
        data["v"] = PAYLOAD_VERSION
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_payload(cls, payload: str) -> AgentFix:
        data = json.loads(payload)
        version = data.pop("v", None)
        if version != PAYLOAD_VERSION:
            raise ValueError(f"unknown queued fix version: {version!r}")
        data["time"] = _EPOCH + data["time"] * _ONE_MS
        return cls(**data)


def parse_gpsd_time(text: str) -> datetime:
    """Parse a gpsd ISO 8601 time (``2024-05-01T12:00:05.000Z``, fraction optional) to UTC.

    gpsd-py3's own ``get_time()`` insists on a fractional part, which gpsd omits in some
    configurations, so the agent parses the text itself.
    """
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        # gpsd times are UTC by definition even if a build ever drops the suffix.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z`` suffix, as in the batch wire format."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )
