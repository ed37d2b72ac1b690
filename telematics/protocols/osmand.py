"""OsmAnd protocol: what the Traccar Client phone app (and Kinisi's agent) send over HTTP.

Two shapes reach the same port (5055 by default):

* query/form: ``GET /?id=…&lat=…&lon=…`` or ``POST`` with the same pairs in an
  ``application/x-www-form-urlencoded`` body (Traccar Client since SDK 0.0.12). ``speed`` is in
  knots; ``timestamp`` is Unix seconds, Unix milliseconds (any integer from 2^31-1 up) or ISO 8601.
* JSON: ``{"location": {...}, "device_id": "…"}`` as Traccar Client 9.x posts it (the
  Transistorsoft background-geolocation shape); ``coords.speed`` is in m/s.

A request without coordinates is a heartbeat: the message names the device and carries no fix.

Two deliberate differences from Traccar, because Kinisi keeps missing values as missing: a JSON
``coords.accuracy`` is kept as sent (Traccar zeroes values under 10 m), and a negative JSON
``heading`` or ``speed`` means "unknown" and becomes ``None`` (Traccar stores 0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .base import KNOTS_TO_KMH, MPS_TO_KMH, Fix, Message, ProtocolError

__all__ = ["decode_osmand", "encode_osmand_query", "MILLISECONDS_THRESHOLD"]

# Traccar reads an integer timestamp as seconds below this value and as milliseconds from it on:
# 2^31-1 seconds is January 2038, while the smallest millisecond value a phone sends (2001 and
# later) is far above it, so the two ranges never collide for real data.
MILLISECONDS_THRESHOLD = 2**31 - 1

# Keys this module turns into Fix fields; everything else goes to attributes.
_CONSUMED = frozenset(
    {
        "id",
        "deviceid",
        "timestamp",
        "lat",
        "lon",
        "location",
        "speed",
        "bearing",
        "heading",
        "altitude",
        "accuracy",
        "hdop",
        "sat",
        "batt",
        "valid",
        "driverUniqueId",
        "ignition",
        "odometer",
    }
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decode_osmand(
    method: str,
    query: str,
    body: bytes = b"",
    content_type: str | None = None,
    *,
    received_at: datetime | None = None,
    naive_tz: tzinfo = UTC,
) -> Message:
    """Decode one OsmAnd request into a message (no reply bytes: the gateway answers HTTP 200).

    ``query`` is the raw query string (without ``?``). ``received_at`` stands in for a missing
    timestamp. ``naive_tz`` is the zone of a ``yyyy-MM-dd HH:mm:ss`` timestamp that names none
    (Traccar uses the server's zone; Kinisi makes it explicit, UTC unless told otherwise).
    Raises ProtocolError on anything it cannot read.
    """
    now = received_at or datetime.now(UTC)
    if content_type and content_type.split(";")[0].strip().lower() == "application/json":
        return _decode_json(body, now)
    try:
        pairs = _split_pairs(query)
        if not pairs and body:
            # Traccar Client's current SDK posts the pairs as a form body with an empty query.
            pairs = _split_pairs(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("bad_encoding", str(exc))
    return _decode_pairs(pairs, now, naive_tz)


def _split_pairs(text: str) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True)``; a text with nothing to unquote (no ``%``,
    no ``+``: what phones send for numbers) is split directly, which is several times faster
    and gives the same pairs."""
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    pairs = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((name, value))
    return pairs


def _decode_pairs(pairs: list[tuple[str, str]], now: datetime, naive_tz: tzinfo) -> Message:
    params: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    cells: list[str] = []
    wifis: list[str] = []
    for key, value in pairs:
        if key == "cell":
            cells.append(value)
        elif key == "wifi":
            wifis.append(value)
        else:
            params[key] = value
    unique_id = params.get("id") or params.get("deviceid")
    if not unique_id:
        raise ProtocolError("missing_id")
    if cells:
        attributes["cell"] = cells
    if wifis:
        attributes["wifi"] = wifis

    if "location" in params:
        parts = params["location"].split(",")
        if len(parts) != 2:
            raise ProtocolError("bad_location", params["location"])
        lat_text, lon_text = parts
    else:
        lat_text, lon_text = params.get("lat"), params.get("lon")
    if lat_text is None and lon_text is None:
        return Message(unique_id=unique_id, kind="heartbeat", attributes=attributes)
    if lat_text is None or lon_text is None:
        raise ProtocolError("half_a_position")

    for key, value in params.items():
        if key not in _CONSUMED:
            attributes[key] = _typed(value)
    if "charge" in attributes and not isinstance(attributes["charge"], bool):
        raise ProtocolError("bad_boolean", "charge")

    speed_knots = _number(params, "speed")
    course = _number(params, "bearing")
    if course is None:
        course = _number(params, "heading")
    fix = Fix(
        unique_id=unique_id,
        fix_time=_parse_time(params.get("timestamp"), now, naive_tz),
        latitude=_required_number(lat_text, "lat"),
        longitude=_required_number(lon_text, "lon"),
        valid=_boolean(params.get("valid"), default=True),
        speed_kmh=None if speed_knots is None else speed_knots * KNOTS_TO_KMH,
        course=course,
        altitude=_number(params, "altitude"),
        accuracy=_number(params, "accuracy"),
        hdop=_number(params, "hdop"),
        satellites=_count(params, "sat"),
        ignition=_boolean(params["ignition"]) if "ignition" in params else None,
        odometer=_number(params, "odometer"),
        battery=_number(params, "batt"),
        driver_tag=params.get("driverUniqueId") or None,
        attributes=attributes,
    )
    return Message(unique_id=unique_id, fixes=[fix])


def _parse_time(value: str | None, now: datetime, naive_tz: tzinfo) -> datetime:
    if value is None or value == "":
        return now
    text = value.strip()
    try:
        if text.isdigit():
            number = int(text)
            if number < MILLISECONDS_THRESHOLD:
                return _EPOCH + timedelta(seconds=number)
            return _EPOCH + timedelta(milliseconds=number)
        if "T" in text or " " in text:
            if "T" in text and " " in text:
                # An unencoded '+' of a UTC offset arrives as a space.
                text = text.replace(" ", "+")
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=naive_tz)
            return parsed.astimezone(UTC)
        number = float(text)  # some clients send fractional seconds
    except (ValueError, OverflowError) as exc:
        raise ProtocolError("bad_timestamp", text[:40]) from exc
    if not math.isfinite(number) or number < 0:
        raise ProtocolError("bad_timestamp", text[:40])
    try:
        if number < MILLISECONDS_THRESHOLD:
            return _EPOCH + timedelta(seconds=number)
        return _EPOCH + timedelta(milliseconds=number)
    except OverflowError as exc:
        raise ProtocolError("bad_timestamp", text[:40]) from exc


def _required_number(text: str, name: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ProtocolError("bad_number", name)
    if not math.isfinite(number):
        raise ProtocolError("bad_number", name)
    return number


def _number(params: Mapping[str, str], name: str) -> float | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    return _required_number(text, name)


def _count(params: Mapping[str, str], name: str) -> int | None:
    """A whole non-negative number (``7`` or ``7.0``); anything else is a bad number."""
    number = _number(params, name)
    if number is None:
        return None
    if number < 0 or not number.is_integer():
        raise ProtocolError("bad_number", name)
    return int(number)


def _boolean(text: str | None, *, default: bool | None = None) -> bool | None:
    if text is None or text == "":
        return default
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ProtocolError("bad_boolean", text[:20])


def _typed(text: str) -> Any:
    """Traccar's rule for unknown keys: numbers become floats, true/false booleans, else text."""
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _decode_json(body: bytes, now: datetime) -> Message:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", str(exc)[:80])
    if not isinstance(document, dict):
        raise ProtocolError("bad_json", "not an object")
    unique_id = document.get("device_id")
    params = document.get("params")
    if unique_id is None and isinstance(params, dict):
        unique_id = params.get("device_id")
    if not isinstance(unique_id, str | int) or isinstance(unique_id, bool) or unique_id == "":
        raise ProtocolError("missing_id")
    unique_id = str(unique_id)

    locations = document.get("location")
    if isinstance(locations, dict):
        locations = [locations]
    if not isinstance(locations, list) or not all(isinstance(x, dict) for x in locations):
        raise ProtocolError("bad_json", "location")
    fixes = [
        fix
        for fix in (_json_fix(unique_id, location, now) for location in locations)
        if fix is not None
    ]
    if not fixes:
        return Message(unique_id=unique_id, kind="heartbeat")
    return Message(unique_id=unique_id, fixes=fixes)


def _json_fix(unique_id: str, location: dict[str, Any], now: datetime) -> Fix | None:
    coords = location.get("coords")
    if coords is None:
        return None
    if not isinstance(coords, dict):
        raise ProtocolError("bad_json", "coords")
    attributes: dict[str, Any] = {}
    for key, target in (("event", "event"), ("alarm", "alarm"), ("mock", "mock")):
        if key in location:
            attributes[target] = location[key]
    if "is_moving" in location:
        attributes["motion"] = bool(location["is_moving"])
    activity = location.get("activity")
    if isinstance(activity, dict) and "type" in activity:
        attributes["activity"] = activity["type"]
    battery_level = None
    battery = location.get("battery")
    if isinstance(battery, dict):
        level = _json_number(battery.get("level"), "battery.level")
        if level is not None and level >= 0:
            battery_level = float(round(level * 100))
        if "is_charging" in battery:
            attributes["charge"] = bool(battery["is_charging"])
    extras = location.get("extras")
    if isinstance(extras, dict):
        for key, value in extras.items():
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
                value = int(value)
            attributes[str(key)] = value

    timestamp = location.get("timestamp")
    if timestamp is None:
        fix_time = now
    elif isinstance(timestamp, str):
        try:
            fix_time = datetime.fromisoformat(timestamp)
        except ValueError:
            raise ProtocolError("bad_timestamp", timestamp[:40])
        if fix_time.tzinfo is None:
            fix_time = fix_time.replace(tzinfo=UTC)
    else:
        raise ProtocolError("bad_timestamp", "not a string")

    latitude = _json_number(coords.get("latitude"), "latitude")
    longitude = _json_number(coords.get("longitude"), "longitude")
    if latitude is None or longitude is None:
        raise ProtocolError("half_a_position")
    speed = _json_number(coords.get("speed"), "speed")
    heading = _json_number(coords.get("heading"), "heading")
    accuracy = _json_number(coords.get("accuracy"), "accuracy")
    return Fix(
        unique_id=unique_id,
        fix_time=fix_time,
        latitude=latitude,
        longitude=longitude,
        valid=True,
        speed_kmh=speed * MPS_TO_KMH if speed is not None and speed >= 0 else None,
        course=heading if heading is not None and heading >= 0 else None,
        altitude=_json_number(coords.get("altitude"), "altitude"),
        accuracy=accuracy if accuracy is not None and accuracy >= 0 else None,
        odometer=_json_number(location.get("odometer"), "odometer"),
        battery=battery_level,
        attributes=attributes,
    )


def _json_number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("bad_number", name)
    number = float(value)
    if not math.isfinite(number):
        raise ProtocolError("bad_number", name)
    return number


def encode_osmand_query(fix: Fix) -> str:
    """The query string Traccar Client would send for ``fix`` (speed in knots, Unix seconds).

    Sub-second parts of the fix time are dropped, as the app does.
    """
    pairs: list[tuple[str, str]] = [
        ("id", fix.unique_id),
        ("timestamp", str(int(fix.fix_time.timestamp()))),
        ("lat", repr(fix.latitude)),
        ("lon", repr(fix.longitude)),
    ]
    if not fix.valid:
        pairs.append(("valid", "false"))
    optional: list[tuple[str, float | None]] = [
        ("speed", None if fix.speed_kmh is None else fix.speed_kmh / KNOTS_TO_KMH),
        ("bearing", fix.course),
        ("altitude", fix.altitude),
        ("accuracy", fix.accuracy),
        ("hdop", fix.hdop),
        ("batt", fix.battery),
        ("odometer", fix.odometer),
    ]
    pairs.extend((key, repr(float(value))) for key, value in optional if value is not None)
    if fix.satellites is not None:
        pairs.append(("sat", str(fix.satellites)))
    if fix.ignition is not None:
        pairs.append(("ignition", "true" if fix.ignition else "false"))
    if fix.driver_tag:
        pairs.append(("driverUniqueId", fix.driver_tag))
    return urlencode(pairs)
