"""H02 (Sinotrack and many cheap trackers) over TCP: text frames, plus the binary '$' frames.

Text: ``*HQ,<id>,<type>,hhmmss,<A|V>,lat,N|S,lon,E|W,speed,course,ddmmyy,<status hex>[,…]#``.
Speed is in knots, time is UTC. Coordinates come as ``DDMM.MMMM`` (any number of degree digits,
even none), ``-DD-MM.MMMM`` or ``DDMMmmmm`` without a dot. The 32-bit status word is mostly
active-low; bit 10 is ACC (ignition), 1 = on.

Binary: ``$ | id 5 BCD bytes | hhmmss DDMMYY BCD | lat DDMMmmmm BCD | battery | lon DDDMMmmmm BCD
+ flags nibble | speed 3 BCD digits (knots) + course 3 BCD digits | status u32 | …``, 32 or 45
bytes long. The length cannot be read from the frame; like Traccar, the session takes 45 when the
first binary chunk is exactly 45 bytes and 32 otherwise, unless told (``binary_length``).

Replies: a ``V1`` position is acknowledged ``*HQ,<id>,V4,V1,<yyyyMMddHHmmss>#``; heartbeats are
echoed; with ``ack_all`` every position gets ``*HQ,<id>,R12,<HHmmss>#`` (a setting some
firmwares need).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from .base import KNOTS_TO_KMH, Fix, Message, ProtocolError, StreamSession

__all__ = ["H02Session", "encode_h02_command", "encode_h02_position"]

_TEXT_MAX = 4096
_BINARY_SHORT = 32
_BINARY_LONG = 45
_HEARTBEATS = frozenset({"V0", "HTBT"})
_NOT_POSITIONS = frozenset({"V3", "V4", "VP1", "V0"})


def _now() -> datetime:
    return datetime.now(UTC)


def _coordinate(text: str, hemisphere: str, positive: str, negative: str) -> float | None:
    """Degrees from any of H02's three coordinate spellings; None when the device has no fix."""
    text = text.strip()
    if hemisphere not in (positive, negative):
        # Devices without a fix send empty fields or "0.0000,0"; anything else is corrupt.
        if text in ("", "0", "0.0000", "0.000000") and hemisphere in ("", "0"):
            return None
        raise ProtocolError("bad_hemisphere", hemisphere[:4])
    if text == "":
        return None
    try:
        if text.startswith("-"):
            degrees_text, minutes_text = text[1:].split("-")
            degrees, minutes = int(degrees_text), float(minutes_text)
        elif "." in text:
            whole, fraction = text.split(".")
            if not whole.isdigit() or not fraction.isdigit():
                raise ValueError(text)
            degrees = int(whole[:-2] or "0")
            minutes = float(f"{whole[-2:]}.{fraction}")
        else:
            if not text.isdigit() or len(text) < 6:
                raise ValueError(text)
            degrees = int(text[:-6] or "0")
            minutes = int(text[-6:-4]) + int(text[-4:]) / 10000
    except ValueError:
        raise ProtocolError("bad_coordinate", text[:20])
    if not 0 <= minutes < 60 or not math.isfinite(minutes):
        raise ProtocolError("bad_coordinate", text[:20])
    value = degrees + minutes / 60
    return -value if hemisphere == negative else value


def _float(text: str, name: str) -> float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ProtocolError("bad_number", name)
    if not math.isfinite(value) or value < 0:
        raise ProtocolError("bad_number", name)
    return value


def _time_of_day(text: str) -> time | None:
    if text == "":
        return None
    if len(text) != 6 or not text.isdigit():
        raise ProtocolError("bad_time", text[:10])
    try:
        return time(int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        raise ProtocolError("bad_time", text)


def _day(text: str) -> date | None:
    if text == "":
        return None
    if len(text) != 6 or not text.isdigit():
        raise ProtocolError("bad_date", text[:10])
    try:
        return date(2000 + int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        raise ProtocolError("bad_date", text)


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def _status_attributes(status: int, attributes: dict[str, Any]) -> bool:
    """Fill alarm and status from the active-low status word; return ignition (bit 10)."""
    if not status & (1 << 0):
        attributes["alarm"] = "vibration"
    elif not status & (1 << 1) or not status & (1 << 18):
        attributes["alarm"] = "sos"
    elif not status & (1 << 2):
        attributes["alarm"] = "overspeed"
    elif not status & (1 << 19):
        attributes["alarm"] = "powerCut"
    attributes["status"] = status
    return bool(status & (1 << 10))


def _battery_level(value: int) -> int | None:
    if value == 0:
        return None
    if value <= 3:
        return (value - 1) * 10
    if value <= 6:
        return (value - 1) * 20
    if value <= 100:
        return value
    if 0xF1 <= value <= 0xF6:
        return value - 0xF0
    return None


class H02Session(StreamSession):
    """One TCP connection from an H02 device."""

    protocol = "h02"

    def __init__(
        self,
        *,
        ack_all: bool = False,
        binary_length: int | None = None,
        clock: Callable[[], datetime] = _now,
        max_frame: int = _TEXT_MAX,
    ) -> None:
        super().__init__(max_frame=max_frame)
        if binary_length not in (None, _BINARY_SHORT, _BINARY_LONG):
            raise ValueError("binary_length is 32 or 45")
        self.ack_all = ack_all
        self.binary_length = binary_length
        self.clock = clock

    # -- framing --------------------------------------------------------------------------------

    def _frame_length(self, buffer: bytearray) -> int | None:
        marker = buffer[0]
        if marker == ord("*"):
            end = buffer.find(b"#")
            if end == -1:
                return None
            end += 1
            while end < len(buffer) and buffer[end] in b"\r\n":
                end += 1
            return end
        if marker == ord("$"):
            if self.binary_length is None:
                self.binary_length = _BINARY_LONG if len(buffer) == _BINARY_LONG else _BINARY_SHORT
            return self.binary_length
        if marker == ord("X"):
            return _BINARY_SHORT
        # Line noise between frames (Traccar skips it too): drop up to the next marker.
        for index in range(1, len(buffer)):
            if buffer[index] in b"*$X":
                return index
        return len(buffer)

    def _decode_frame(self, frame: bytes) -> Message | None:
        marker = frame[0]
        if marker == ord("*"):
            return self._decode_text(frame)
        if marker == ord("$"):
            return self._decode_binary(frame)
        return None  # noise, or an 'X' frame whose layout nobody has documented

    # -- text -----------------------------------------------------------------------------------

    def _decode_text(self, frame: bytes) -> Message:
        try:
            sentence = frame.rstrip(b"\r\n").decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("not_ascii", frame[:40].hex())
        if not sentence.endswith("#"):
            raise ProtocolError("unterminated", sentence[:40])
        fields = sentence[1:-1].split(",")
        if len(fields) < 3 or len(fields[0]) != 2:
            raise ProtocolError("bad_header", sentence[:40])
        unique_id, kind = fields[1], fields[2]
        if not unique_id.isdigit():
            raise ProtocolError("bad_id", unique_id[:20])
        self.unique_id = unique_id

        if kind in _HEARTBEATS:
            reply = f"*HQ,{unique_id},{kind}#".encode()
            return Message(unique_id=unique_id, kind="heartbeat", reply=reply)
        if kind == "NBR":
            stamp = self.clock().astimezone(UTC).strftime("%Y%m%d%H%M%S")
            reply = f"*HQ,{unique_id},V4,NBR,{stamp}#".encode()
            cells = ",".join(fields[3:])
            return Message(
                unique_id=unique_id, kind="other", reply=reply, attributes={"nbr": cells}
            )
        if kind == "V4":
            return self._decode_command_reply(unique_id, fields)
        if not kind.startswith("V") or kind in _NOT_POSITIONS:
            return Message(unique_id=unique_id, kind="other", attributes={"type": kind})

        fix = self._position(unique_id, fields, 3, {"type": kind})
        reply = b""
        if kind == "V1":
            stamp = self.clock().astimezone(UTC).strftime("%Y%m%d%H%M%S")
            reply = f"*HQ,{unique_id},V4,V1,{stamp}#".encode()
        elif self.ack_all:
            stamp = self.clock().astimezone(UTC).strftime("%H%M%S")
            reply = f"*HQ,{unique_id},R12,{stamp}#".encode()
        if fix is None:
            return Message(unique_id=unique_id, kind="status", reply=reply)
        kind_out = "alarm" if "alarm" in fix.attributes else "position"
        return Message(unique_id=unique_id, fixes=[fix], reply=reply, kind=kind_out)

    def _decode_command_reply(self, unique_id: str, fields: list[str]) -> Message:
        # "V4,<command>,<result…>,hhmmss,<position>": the position, when present, is the
        # last run of fields that reads as one (its N/S and E/W letters anchor it).
        start = None
        for index in range(len(fields) - 6, 3, -1):
            if fields[index + 3] in ("N", "S") and fields[index + 5] in ("E", "W"):
                start = index
                break
        result = ",".join(fields[3 : start if start is not None else len(fields)])
        attributes: dict[str, Any] = {"result": result}
        if start is None:
            return Message(unique_id=unique_id, kind="other", attributes=attributes)
        fix = self._position(unique_id, fields, start, attributes)
        return Message(unique_id=unique_id, kind="other", fixes=[fix] if fix else [])

    def _position(
        self, unique_id: str, fields: list[str], start: int, attributes: dict[str, Any]
    ) -> Fix | None:
        rest = fields[start:]
        if len(rest) < 9:
            raise ProtocolError("too_few_fields", str(len(fields)))
        clock_time = _time_of_day(rest[0])
        validity = rest[1]
        latitude = _coordinate(rest[2], rest[3], "N", "S")
        longitude = _coordinate(rest[4], rest[5], "E", "W")
        speed_knots = _float(rest[6], "speed")
        course = _float(rest[7], "course")
        index = 8
        # Some firmwares put a battery figure between course and date.
        if (
            len(rest) > index + 1
            and rest[index].isdigit()
            and len(rest[index]) != 6
            and len(rest[index + 1]) == 6
            and rest[index + 1].isdigit()
        ):
            attributes["batteryLevel"] = int(rest[index])
            index += 1
        day = _day(rest[index]) if index < len(rest) else None
        index += 1
        tail = rest[index:]

        ignition = None
        # The status word follows the date, sometimes after three SIM-information fields.
        for offset in (0, 3):
            if offset < len(tail) and len(tail[offset]) == 8 and _is_hex(tail[offset]):
                ignition = _status_attributes(int(tail[offset], 16), attributes)
                tail = tail[offset + 1 :]
                break
        fuel_level = altitude = odometer = None
        if len(tail) == 6 and _looks_like_sensor_tail(tail):
            odometer = float(tail[0])
            attributes["temp1"] = int(tail[1])
            fuel_level = float(tail[2])
            altitude = float(tail[3])
            attributes["cell"] = {"lac": int(tail[4], 16), "cid": int(tail[5], 16)}
        else:
            for number, value in enumerate(tail, start=1):
                attributes[f"io{number}"] = value.strip()

        if latitude is None or longitude is None:
            return None
        if day is None:
            fix_time = self.clock().astimezone(UTC)
        else:
            fix_time = datetime.combine(day, clock_time or time(0), tzinfo=UTC)
        return Fix(
            unique_id=unique_id,
            fix_time=fix_time,
            latitude=latitude,
            longitude=longitude,
            valid=validity == "A" or validity.isdigit(),
            speed_kmh=None if speed_knots is None else speed_knots * KNOTS_TO_KMH,
            course=course,
            altitude=altitude,
            ignition=ignition,
            odometer=odometer,
            fuel_level=fuel_level,
            battery=_optional_float(attributes.get("batteryLevel")),
            attributes=attributes,
        )

    # -- binary ---------------------------------------------------------------------------------

    def _decode_binary(self, frame: bytes) -> Message:
        digits = frame[1:].hex()
        unique_id = digits[:10]
        if not unique_id.isdigit():
            raise ProtocolError("bad_bcd", "id")
        self.unique_id = unique_id
        stamp = _bcd(digits, 10, 22)  # hhmmss DDMMYY
        try:
            fix_time = datetime(
                2000 + int(stamp[10:12]),
                int(stamp[8:10]),
                int(stamp[6:8]),
                int(stamp[0:2]),
                int(stamp[2:4]),
                int(stamp[4:6]),
                tzinfo=UTC,
            )
        except ValueError:
            raise ProtocolError("bad_time", stamp)
        latitude_digits = _bcd(digits, 22, 30)
        battery = int(digits[30:32], 16)
        longitude_digits = _bcd(digits, 32, 41)
        flags = int(digits[41], 16)
        motion = _bcd(digits, 42, 48)
        status = int(digits[48:56], 16)

        latitude = int(latitude_digits[:2]) + int(latitude_digits[2:]) / 10000 / 60
        longitude = int(longitude_digits[:3]) + int(longitude_digits[3:]) / 10000 / 60
        if int(latitude_digits[2:4]) >= 60 or int(longitude_digits[3:5]) >= 60:
            raise ProtocolError("bad_coordinate", latitude_digits + longitude_digits)
        if not flags & 0x04:
            latitude = -latitude
        if not flags & 0x08:
            longitude = -longitude
        attributes: dict[str, Any] = {}
        level = _battery_level(battery)
        if level is not None:
            attributes["batteryLevel"] = level
        ignition = _status_attributes(status, attributes)
        fix = Fix(
            unique_id=unique_id,
            fix_time=fix_time,
            latitude=latitude,
            longitude=longitude,
            valid=bool(flags & 0x02),
            speed_kmh=int(motion[:3]) * KNOTS_TO_KMH,
            course=float(int(motion[3:])),
            ignition=ignition,
            battery=_optional_float(level),
            attributes=attributes,
        )
        kind = "alarm" if "alarm" in attributes else "position"
        reply = b""
        if self.ack_all:
            reply = f"*HQ,{unique_id},R12,{self.clock().astimezone(UTC):%H%M%S}#".encode()
        return Message(unique_id=unique_id, fixes=[fix], reply=reply, kind=kind)


def _bcd(digits: str, start: int, end: int) -> str:
    chunk = digits[start:end]
    if len(chunk) != end - start or not chunk.isdigit():
        raise ProtocolError("bad_bcd", chunk)
    return chunk


def _looks_like_sensor_tail(tail: list[str]) -> bool:
    odometer, temperature, fuel, altitude, lac, cid = (value.strip() for value in tail)

    def signed(text: str) -> bool:
        return text.lstrip("-").isdigit()

    return (
        odometer.isdigit()
        and signed(temperature)
        and fuel.replace(".", "", 1).isdigit()
        and "." in fuel
        and signed(altitude)
        and _is_hex(lac)
        and _is_hex(cid)
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------------------------------------
# Encoders.


def encode_h02_command(unique_id: str, command: str, when: datetime, *params: str) -> bytes:
    """``*HQ,<id>,<command>,<HHmmss>[,params]#``, e.g. ``S20`` with ``1,1`` stops the engine."""
    text = ",".join(["*HQ", unique_id, command, f"{when.astimezone(UTC):%H%M%S}", *params])
    return f"{text}#".encode("ascii")


def encode_h02_position(fix: Fix, *, status: int = 0xFFFFFBFF) -> bytes:
    """A ``V1`` text frame for ``fix``; ignition, when known, is written into status bit 10."""
    if fix.ignition is not None:
        status = status | (1 << 10) if fix.ignition else status & ~(1 << 10)
    when = fix.fix_time.astimezone(UTC)

    def minutes(value: float, width: int) -> str:
        # Round once, in the wire's unit (1/10000 minute), so 59.99999' never prints as 60'.
        degrees, rest = divmod(round(abs(value) * 600_000), 600_000)
        whole, fraction = divmod(rest, 10_000)
        return f"{degrees:0{width}d}{whole:02d}.{fraction:04d}"

    fields = [
        "*HQ",
        fix.unique_id,
        "V1",
        f"{when:%H%M%S}",
        "A" if fix.valid else "V",
        minutes(fix.latitude, 2),
        "N" if fix.latitude >= 0 else "S",
        minutes(fix.longitude, 3),
        "E" if fix.longitude >= 0 else "W",
        f"{(fix.speed_kmh or 0) / KNOTS_TO_KMH:.2f}",
        f"{round(fix.course or 0) % 360:03d}",
        f"{when:%d%m%y}",
        f"{status & 0xFFFFFFFF:08X}",
    ]
    return (",".join(fields) + "#").encode("ascii")
