"""The Kinisi agent's batch upload (``POST /agent/batch`` on the OsmAnd port): JSON in, fixes out.

The format is defined by the agent (``telematics/agent/sender.py``): ``{"device_id": ...,
"positions": [{"seq", "time", "lat", "lon", "speed_kmh", "course", "altitude", "accuracy",
"hdop", "satellites", "mode", "battery"}, ...]}``, units already Kinisi's, ``null`` for values
not reported. Pure: no Django, no sockets.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from telematics.protocols.base import Fix, Message, ProtocolError

BATCH_PATH = "/agent/batch"
MAX_POSITIONS = 1000


def _number(value: Any, name: str, *, required: bool = False) -> float | None:
    if value is None:
        if required:
            raise ProtocolError("bad_batch", f"{name} missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("bad_batch", f"{name} not a number")
    value = float(value)
    if not math.isfinite(value):
        raise ProtocolError("bad_batch", f"{name} not finite")
    return value


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ProtocolError("bad_batch", "time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError("bad_batch", f"time {value[:40]!r}")
    if parsed.tzinfo is None:
        raise ProtocolError("bad_batch", "time without zone")
    return parsed.astimezone(UTC)


def decode_agent_batch(body: bytes) -> Message:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", str(exc)[:80])
    if not isinstance(document, dict):
        raise ProtocolError("bad_batch", "not an object")
    device_id = document.get("device_id")
    if not isinstance(device_id, str) or not device_id or len(device_id) > 64:
        raise ProtocolError("missing_id")
    positions = document.get("positions")
    if not isinstance(positions, list) or not 1 <= len(positions) <= MAX_POSITIONS:
        raise ProtocolError("bad_batch", "positions")
    fixes = []
    for item in positions:
        if not isinstance(item, dict):
            raise ProtocolError("bad_batch", "position not an object")
        mode = item.get("mode")
        satellites = _number(item.get("satellites"), "satellites")
        attributes: dict[str, Any] = {}
        if isinstance(item.get("seq"), int):
            attributes["seq"] = item["seq"]
        if isinstance(mode, int):
            attributes["mode"] = mode
        fixes.append(
            Fix(
                unique_id=device_id,
                fix_time=_time(item.get("time")),
                latitude=_number(item.get("lat"), "lat", required=True),
                longitude=_number(item.get("lon"), "lon", required=True),
                # gpsd: mode 2 is a 2D fix, 3 a 3D fix; below that there is no position.
                valid=not isinstance(mode, int) or mode >= 2,
                speed_kmh=_number(item.get("speed_kmh"), "speed_kmh"),
                course=_number(item.get("course"), "course"),
                altitude=_number(item.get("altitude"), "altitude"),
                accuracy=_number(item.get("accuracy"), "accuracy"),
                hdop=_number(item.get("hdop"), "hdop"),
                satellites=None if satellites is None else int(satellites),
                battery=_number(item.get("battery"), "battery"),
                attributes=attributes,
            )
        )
    return Message(unique_id=device_id, fixes=fixes, kind="position")
