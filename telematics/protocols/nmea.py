"""NMEA-style text trackers over TCP: GpsGate (``$FRLIN`` login + ``$GPRMC``) and GPS103.

Neither has a port of its own in Kinisi's default setup; they are decoded so that the frames of
these common cheap trackers can be adopted without new code. Both send speed in knots.

GpsGate: lines ended by NUL, LF or CR LF. ``$FRLIN,<type>,<imei>,<password>*CS`` logs in and is
answered ``$FRSES,<session id>*CS``; ``$GPRMC`` sentences follow. Checksums (XOR of the characters
between ``$`` and ``*``) are written on replies and, like in Traccar, not checked on input.

GPS103: frames end with ``;``. ``##,imei:<imei>,A`` is answered ``LOAD``, a bare IMEI (heartbeat)
``ON``; positions read ``imei:<imei>,<keyword>,<local yymmddhhmm[ss]>,<rfid>,<F|L>,
<UTC hhmmss.sss>,<A|V>,<ddmm.mmmm>,<N|S>,<dddmm.mmmm>,<E|W>,<knots>,<course>[,altitude,acc,door,
fuel1,fuel2,temp]``. The UTC date is not sent: it is the device's local date shifted by the
difference between its local and UTC clock times.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .base import KNOTS_TO_KMH, Fix, Message, ProtocolError, StreamSession

__all__ = ["GpsGateSession", "Gps103Session", "nmea_checksum"]

_LINE_MAX = 2048


def nmea_checksum(body: str) -> str:
    """Two hex digits: XOR of every character of ``body`` (the text between ``$`` and ``*``)."""
    value = 0
    for char in body.encode("ascii"):
        value ^= char
    return f"{value:02X}"


def _degrees(text: str, hemisphere: str, positive: str, negative: str) -> float:
    if hemisphere not in (positive, negative):
        raise ProtocolError("bad_hemisphere", hemisphere[:4])
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(whole) < 3:
        raise ProtocolError("bad_coordinate", text[:20])
    minutes = float(f"{whole[-2:]}.{fraction or '0'}")
    if minutes >= 60:
        raise ProtocolError("bad_coordinate", text[:20])
    value = int(whole[:-2]) + minutes / 60
    return -value if hemisphere == negative else value


def _number(text: str, name: str) -> float | None:
    if text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ProtocolError("bad_number", name)
    if not math.isfinite(value) or value < 0:
        raise ProtocolError("bad_number", name)
    return value


def _clock(text: str) -> time:
    whole, _, fraction = text.partition(".")
    if len(whole) != 6 or not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise ProtocolError("bad_time", text[:12])
    try:
        micro = round(float(f"0.{fraction}") * 1_000_000) if fraction else 0
        return time(int(whole[:2]), int(whole[2:4]), int(whole[4:]), min(micro, 999_999))
    except ValueError:
        raise ProtocolError("bad_time", text[:12])


def _rmc_fix(unique_id: str, fields: list[str]) -> Fix:
    """Fields of ``$GPRMC`` after the sentence name."""
    if len(fields) < 9:
        raise ProtocolError("too_few_fields", str(len(fields)))
    clock = _clock(fields[0])
    day_text = fields[8]
    if len(day_text) != 6 or not day_text.isdigit():
        raise ProtocolError("bad_date", day_text[:10])
    try:
        day = date(2000 + int(day_text[4:]), int(day_text[2:4]), int(day_text[:2]))
    except ValueError:
        raise ProtocolError("bad_date", day_text)
    speed = _number(fields[6], "speed")
    return Fix(
        unique_id=unique_id,
        fix_time=datetime.combine(day, clock, tzinfo=UTC),
        latitude=_degrees(fields[2], fields[3], "N", "S"),
        longitude=_degrees(fields[4], fields[5], "E", "W"),
        valid=fields[1] == "A",
        speed_kmh=None if speed is None else speed * KNOTS_TO_KMH,
        course=_number(fields[7], "course"),
    )


def _split_line(buffer: bytearray, terminators: bytes) -> int | None:
    for index, byte in enumerate(buffer):
        if byte in terminators:
            return index + 1
    return None


class GpsGateSession(StreamSession):
    """One TCP connection from a GpsGate-protocol tracker."""

    protocol = "gpsgate"

    def __init__(self, *, max_frame: int = _LINE_MAX) -> None:
        super().__init__(max_frame=max_frame)
        self._session_counter = 0

    def _frame_length(self, buffer: bytearray) -> int | None:
        return _split_line(buffer, b"\0\n")

    def _decode_frame(self, frame: bytes) -> Message | None:
        try:
            line = frame.strip(b"\0\r\n ").decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("not_ascii", frame[:40].hex())
        if not line:
            return None
        if not line.startswith("$"):
            raise ProtocolError("bad_sentence", line[:40])
        body = line[1:].split("*", 1)[0]
        fields = body.split(",")
        name = fields[0]
        if name == "FRLIN":
            if len(fields) < 3 or not fields[2]:
                raise ProtocolError("bad_login", line[:40])
            self.unique_id = fields[2]
            self._session_counter += 1
            answer = f"FRSES,{self._session_counter}"
            reply = f"${answer}*{nmea_checksum(answer)}\r\n".encode()
            return Message(unique_id=self.unique_id, kind="login", reply=reply)
        if name == "FRVER":
            answer = "FRVER,1,0,Kinisi 1.0"
            reply = f"${answer}*{nmea_checksum(answer)}\r\n".encode()
            return Message(unique_id=self.unique_id, kind="other", reply=reply)
        if name in ("GPRMC", "GNRMC"):
            if self.unique_id is None:
                raise ProtocolError("not_logged_in")
            fix = _rmc_fix(self.unique_id, fields[1:])
            return Message(unique_id=self.unique_id, fixes=[fix])
        return Message(unique_id=self.unique_id, kind="other", attributes={"sentence": name})

    def reject_reply(self) -> bytes:
        answer = "FRERR,AuthError,Unknown device"
        return f"${answer}*{nmea_checksum(answer)}\r\n".encode()


_GPS103_ALARMS = {
    "help me": "sos",
    "low battery": "lowBattery",
    "move": "movement",
    "speed": "overspeed",
    "stockade": "geofence",
    "ac alarm": "powerCut",
    "door alarm": "door",
    "sensor alarm": "shock",
    "acc alarm": "powerCut",
    "accident alarm": "accident",
    "bonnet alarm": "bonnet",
    "footbrake alarm": "footBrake",
}


class Gps103Session(StreamSession):
    """One TCP connection from a GPS103 (TK103-2 / Coban) tracker."""

    protocol = "gps103"

    def __init__(self, *, max_frame: int = _LINE_MAX) -> None:
        super().__init__(max_frame=max_frame)

    def _frame_length(self, buffer: bytearray) -> int | None:
        return _split_line(buffer, b";\n")

    def _decode_frame(self, frame: bytes) -> Message | None:
        try:
            text = frame.strip(b";\r\n ").decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("not_ascii", frame[:40].hex())
        if not text:
            return None
        if text.startswith("##"):
            fields = text.split(",")
            if len(fields) < 2 or not fields[1].startswith("imei:"):
                raise ProtocolError("bad_handshake", text[:40])
            self.unique_id = _imei(fields[1][5:])
            return Message(unique_id=self.unique_id, kind="login", reply=b"LOAD")
        if text.isdigit():
            self.unique_id = _imei(text)
            return Message(unique_id=self.unique_id, kind="heartbeat", reply=b"ON")
        if not text.startswith("imei:"):
            raise ProtocolError("bad_message", text[:40])
        fields = text[5:].split(",")
        if len(fields) < 13:
            raise ProtocolError("too_few_fields", str(len(fields)))
        self.unique_id = _imei(fields[0])
        keyword = fields[1]
        attributes: dict[str, Any] = {}
        alarm = _GPS103_ALARMS.get(keyword)
        if alarm:
            attributes["alarm"] = alarm
        elif keyword not in ("tracker", "001"):
            attributes["event"] = keyword
        if fields[3]:
            attributes["driverUniqueId"] = fields[3]
        if fields[4] != "F":
            # 'L': no GPS fix, only cell data; nothing to store as a position.
            return Message(unique_id=self.unique_id, kind="status", attributes=attributes)

        local = fields[2]
        if len(local) not in (10, 12) or not local.isdigit():
            raise ProtocolError("bad_time", local[:12])
        try:
            local_time = datetime(
                2000 + int(local[:2]),
                int(local[2:4]),
                int(local[4:6]),
                int(local[6:8]),
                int(local[8:10]),
            )
        except ValueError:
            raise ProtocolError("bad_time", local)
        clock = _clock(fields[5])
        fix_time = _utc_from_local(local_time, clock)

        ignition = None
        altitude = None
        fuel_level = None
        extra = fields[13:]
        if len(extra) >= 1:
            altitude = _number(extra[0], "altitude")
        if len(extra) >= 2 and extra[1] in ("0", "1"):
            ignition = extra[1] == "1"
        if len(extra) >= 3 and extra[2] in ("0", "1"):
            attributes["door"] = extra[2] == "1"
        if len(extra) >= 4 and extra[3]:
            fuel_level = _number(extra[3].rstrip("%"), "fuel")
        speed = _number(fields[11], "speed")
        fix = Fix(
            unique_id=self.unique_id,
            fix_time=fix_time,
            latitude=_degrees(fields[7], fields[8], "N", "S"),
            longitude=_degrees(fields[9], fields[10], "E", "W"),
            valid=fields[6] == "A",
            speed_kmh=None if speed is None else speed * KNOTS_TO_KMH,
            course=_number(fields[12], "course"),
            altitude=altitude,
            ignition=ignition,
            fuel_level=fuel_level,
            driver_tag=attributes.get("driverUniqueId"),
            attributes=attributes,
        )
        return Message(unique_id=self.unique_id, fixes=[fix], kind="alarm" if alarm else "position")


def _imei(text: str) -> str:
    if not text.isdigit() or len(text) > 20:
        raise ProtocolError("bad_imei", text[:20])
    return text


def _utc_from_local(local: datetime, clock: time) -> datetime:
    """The UTC instant whose time of day is ``clock`` closest to the device's local time.

    Time zones are at most 14 hours from UTC, so of the three candidate days exactly one lies
    within 14 hours of the local reading.
    """
    best = None
    for shift in (-1, 0, 1):
        candidate = datetime.combine(local.date() + timedelta(days=shift), clock)
        distance = abs(candidate - local)
        if best is None or distance < best[0]:
            best = (distance, candidate)
    assert best is not None
    return best[1].replace(tzinfo=UTC)
