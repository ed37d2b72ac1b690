"""GT06 (Concox and its many clones) over TCP.

Frame: ``78 78 <len u8> <type> <content> <serial u16> <crc u16> 0D 0A`` (or ``79 79 <len u16>``),
``len`` counting from the type byte through the CRC. The CRC is CRC-ITU (X.25) over
``len..serial``. Like Traccar, Kinisi does not reject a frame whose CRC is wrong: several clone
firmwares compute it wrongly, and TCP already guards the bytes in transit.

Every supported packet (login, locations, status/heartbeat, alarms) is acknowledged with
``78 78 05 <type> <serial> <crc> 0D 0A``; a device resends what it did not see acknowledged.

Clones reuse type numbers with different layouts; the few variants we can tell apart by
(type, length) are decoded (VXT01, SEEWORLD), the rest read as the standard layout and ignore
bytes they do not understand.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .base import ByteReader, Fix, Message, ProtocolError, StreamSession

__all__ = [
    "Gt06Session",
    "crc_itu",
    "encode_gt06_ack",
    "encode_gt06_command",
    "encode_gt06_location",
    "encode_gt06_login",
]

MSG_LOGIN = 0x01
MSG_GPS = 0x10
MSG_GPS_LBS_6 = 0x11
MSG_GPS_LBS_1 = 0x12
MSG_STATUS = 0x13
MSG_GPS_LBS_STATUS_1 = 0x16
MSG_GPS_LBS_2 = 0x22
MSG_HEARTBEAT = 0x23
MSG_GPS_LBS_STATUS_2 = 0x26
MSG_GPS_LBS_STATUS_3 = 0x27
MSG_COMMAND_0 = 0x80
MSG_COMMAND_1 = 0x81
MSG_COMMAND_2 = 0x82
MSG_TIME_REQUEST = 0x8A

_GPS_TYPES = {
    MSG_GPS,
    MSG_GPS_LBS_6,
    MSG_GPS_LBS_1,
    MSG_GPS_LBS_STATUS_1,
    MSG_GPS_LBS_2,
    MSG_GPS_LBS_STATUS_2,
    MSG_GPS_LBS_STATUS_3,
}
_LBS_TYPES = _GPS_TYPES - {MSG_GPS}
_STATUS_TYPES = {MSG_GPS_LBS_STATUS_1, MSG_GPS_LBS_STATUS_2, MSG_GPS_LBS_STATUS_3}
# Server-to-device types: a device never sends them, and they are never acknowledged.
_UNACKNOWLEDGED = {MSG_COMMAND_0, MSG_COMMAND_1, MSG_COMMAND_2}

_STATUS_ALARMS = {1: "vibration", 2: "powerCut", 3: "lowBattery", 4: "sos", 6: "geofence"}
_ALARM_BYTE = {
    0x01: "sos",
    0x02: "powerCut",
    0x03: "vibration",
    0x04: "geofenceEnter",
    0x05: "geofenceExit",
    0x06: "overspeed",
    0x09: "vibration",
    0x0E: "lowBattery",
    0x0F: "lowBattery",
    0x11: "powerOff",
    0x13: "tampering",
    0x14: "door",
    0x29: "hardAcceleration",
    0x2A: "hardCornering",
    0x2B: "hardCornering",
    0x2C: "accident",
    0x30: "hardBraking",
}

# One degree is 60 minutes of 30,000 units each.
_COORDINATE_UNITS = 1_800_000


def crc_itu(data: bytes) -> int:
    """CRC-16/X-25 (CRC-ITU): poly 0x1021 reflected (0x8408), init 0xFFFF, final xor 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def encode_gt06_ack(message_type: int, serial: int) -> bytes:
    """``78 78 05 <type> <serial> <crc> 0D 0A``."""
    body = bytes([0x05, message_type]) + struct.pack(">H", serial & 0xFFFF)
    return b"\x78\x78" + body + struct.pack(">H", crc_itu(body)) + b"\r\n"


def _battery_level(value: int) -> int:
    # Older firmware sends a 0..6 scale, newer a percentage.
    return value * 100 // 6 if value <= 6 else min(value, 100)


class Gt06Session(StreamSession):
    """One TCP connection from a GT06-family device."""

    protocol = "gt06"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.device_tz: timezone = UTC  # from the login's extension word, when sent

    # -- framing --------------------------------------------------------------------------------

    def _frame_length(self, buffer: bytearray) -> int | None:
        if len(buffer) < 2:
            return None if buffer[:1] in (b"x", b"y") else self._bad_header(buffer)
        header = bytes(buffer[:2])
        if header == b"\x78\x78":
            if len(buffer) < 3:
                return None
            length = buffer[2] + 5
        elif header == b"\x79\x79":
            if len(buffer) < 4:
                return None
            length = int.from_bytes(buffer[2:4], "big") + 6
        else:
            return self._bad_header(buffer)
        if length < 10:
            raise ProtocolError("bad_length", str(length))
        if len(buffer) < length:
            return length
        if buffer[length - 2 : length] == b"\r\n":
            return length
        # Some firmware miscounts the length byte; the 0D 0A trailer still ends the frame.
        end = buffer.find(b"\r\n", 4)
        if end == -1:
            return None
        return end + 2

    @staticmethod
    def _bad_header(buffer: bytearray) -> int:
        raise ProtocolError("bad_header", bytes(buffer[:2]).hex())

    # -- decoding -------------------------------------------------------------------------------

    def _decode_frame(self, frame: bytes) -> Message | None:
        extended = frame[0] == 0x79
        header = 4 if extended else 3
        if len(frame) < header + 1 + 6:
            raise ProtocolError("truncated", frame.hex())
        message_type = frame[header]
        serial = int.from_bytes(frame[-6:-4], "big")
        content = frame[header + 1 : -6]
        length_field = int.from_bytes(frame[2:header], "big")
        ack = b"" if message_type in _UNACKNOWLEDGED else encode_gt06_ack(message_type, serial)

        if message_type == MSG_LOGIN:
            return self._login(content, ack)
        if self.unique_id is None:
            raise ProtocolError("not_logged_in", f"type 0x{message_type:02x}")
        if extended:
            # Extended frames carry text, photos and OBD data we do not use; acknowledge them
            # so the device moves on.
            return Message(unique_id=self.unique_id, kind="other", reply=ack)
        if message_type in (MSG_STATUS, MSG_HEARTBEAT):
            return self._status(message_type, content, ack)
        if message_type == MSG_TIME_REQUEST:
            now = datetime.now(UTC)
            body = bytes([now.year - 2000, now.month, now.day, now.hour, now.minute, now.second])
            reply = _frame(MSG_TIME_REQUEST, body, 0)
            return Message(unique_id=self.unique_id, kind="other", reply=reply)
        if message_type in _GPS_TYPES:
            return self._location(message_type, length_field, content, ack)
        return Message(unique_id=self.unique_id, kind="other", reply=ack)

    def _login(self, content: bytes, ack: bytes) -> Message:
        reader = ByteReader(content)
        digits = reader.take(8).hex()
        if not digits.isdigit():
            raise ProtocolError("bad_imei", digits)
        self.unique_id = digits[1:]
        attributes: dict[str, Any] = {}
        if reader.remaining >= 2:
            attributes["deviceType"] = reader.u16()
        if reader.remaining >= 2:
            word = reader.u16()
            hours, minutes = divmod(word >> 4, 100)
            offset = hours * 60 + minutes
            if word & 0x08:
                offset = -offset
            if abs(offset) > 14 * 60:
                raise ProtocolError("bad_timezone", f"{word:04x}")
            self.device_tz = timezone(timedelta(minutes=offset))
            attributes["timezoneOffsetMinutes"] = offset
        return Message(unique_id=self.unique_id, kind="login", reply=ack, attributes=attributes)

    def _status(self, message_type: int, content: bytes, ack: bytes) -> Message:
        reader = ByteReader(content)
        attributes: dict[str, Any] = {}
        status = reader.u8()
        attributes["status"] = status
        attributes["ignition"] = bool(status & 0x02)
        attributes["charge"] = bool(status & 0x04)
        if message_type == MSG_STATUS:
            attributes["blocked"] = bool(status & 0x80)
            alarm = _STATUS_ALARMS.get((status >> 3) & 0x07)
            if alarm:
                attributes["alarm"] = alarm
            if reader.remaining >= 1:
                attributes["batteryLevel"] = _battery_level(reader.u8())
            if reader.remaining >= 1:
                attributes["rssi"] = reader.u8()
        else:
            if reader.remaining >= 2:
                attributes["battery"] = reader.u16() / 100
            if reader.remaining >= 1:
                attributes["rssi"] = reader.u8()
        kind = "alarm" if "alarm" in attributes else "heartbeat"
        return Message(unique_id=self.unique_id, kind=kind, reply=ack, attributes=attributes)

    def _location(
        self, message_type: int, length_field: int, content: bytes, ack: bytes
    ) -> Message:
        unique_id = self.unique_id or ""
        reader = ByteReader(content)
        attributes: dict[str, Any] = {}
        variant = "STANDARD"
        if message_type == MSG_GPS_LBS_1 and length_field == 0x24:
            variant = "VXT01"
        elif (message_type == MSG_GPS_LBS_STATUS_1 and length_field == 0x26) or (
            message_type == MSG_GPS_LBS_2 and length_field == 0x2F
        ):
            variant = "SEEWORLD"

        year, month, day, hour, minute, second = reader.take(6)
        try:
            local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=self.device_tz)
        except ValueError:
            raise ProtocolError("bad_time", content[:6].hex())
        satellites = reader.u8() & 0x0F
        latitude = reader.u32() / _COORDINATE_UNITS
        longitude = reader.u32() / _COORDINATE_UNITS
        speed = reader.u8()
        flags = reader.u16()
        if not flags & 0x0400:
            latitude = -latitude
        if flags & 0x0800:
            longitude = -longitude
        ignition: bool | None = bool(flags & 0x8000) if flags & 0x4000 else None

        if message_type in _LBS_TYPES:
            has_length = message_type in _STATUS_TYPES
            lbs_length = reader.u8() if has_length else 0
            if not has_length or lbs_length:
                start = reader.pos
                mcc = reader.u16()
                mnc = reader.u16() if mcc & 0x8000 or message_type == MSG_GPS_LBS_6 else reader.u8()
                lac = reader.u16()
                long_cid = message_type == MSG_GPS_LBS_6 or variant == "SEEWORLD"
                cid = reader.u32() if long_cid else reader.uint(3)
                attributes["cell"] = {"mcc": mcc & 0x7FFF, "mnc": mnc, "lac": lac, "cid": cid}
                if has_length and reader.pos - start < lbs_length - 1:
                    reader.skip(lbs_length - 1 - (reader.pos - start))

        if message_type in _STATUS_TYPES:
            ignition = self._terminal_info(reader, attributes, battery_level=True)
            alarm = _ALARM_BYTE.get(reader.u8())
            if alarm:
                attributes["alarm"] = alarm
        # Six bytes of the frame (serial, CRC, 0D 0A) are not in ``content``.
        if message_type == MSG_GPS_LBS_1 and variant == "VXT01":
            ignition = self._terminal_info(reader, attributes, battery_level=False)
            reader.skip(1)  # alarm extension
        elif (message_type == MSG_GPS_LBS_2 and reader.remaining >= 3) or (
            message_type == MSG_GPS_LBS_1 and reader.remaining == 3
        ):
            ignition = reader.u8() > 0
            attributes["event"] = reader.u8()
            attributes["archive"] = reader.u8() > 0
        elif message_type == MSG_GPS_LBS_1 and reader.remaining == 4:
            attributes["odometer"] = reader.u32()
        if message_type == MSG_GPS_LBS_STATUS_3 and reader.remaining >= 3:
            reader.skip(2)  # language
            attributes["geofence"] = reader.u8()

        if ignition is not None:
            attributes["ignition"] = ignition
        odometer = attributes.get("odometer")
        level = attributes.get("batteryLevel")
        fix = Fix(
            unique_id=unique_id,
            fix_time=local.astimezone(UTC),
            latitude=latitude,
            longitude=longitude,
            valid=bool(flags & 0x1000),
            speed_kmh=float(speed),
            course=float(flags & 0x03FF),
            satellites=satellites,
            ignition=ignition,
            odometer=None if odometer is None else float(odometer),
            battery=None if level is None else float(level),
            attributes=attributes,
        )
        kind = "alarm" if "alarm" in attributes else "position"
        return Message(unique_id=unique_id, fixes=[fix], reply=ack, kind=kind)

    @staticmethod
    def _terminal_info(
        reader: ByteReader, attributes: dict[str, Any], *, battery_level: bool
    ) -> bool:
        status = reader.u8()
        attributes["status"] = status
        attributes["charge"] = bool(status & 0x04)
        attributes["blocked"] = bool(status & 0x80)
        alarm_code = (status >> 3) & 0x07
        alarm = _STATUS_ALARMS.get(alarm_code)
        if alarm_code == 7:
            # VXT01 (the variant that reports power instead of battery) means overspeed by 7.
            alarm = "removing" if battery_level else "overspeed"
        if alarm:
            attributes["alarm"] = alarm
        if battery_level:
            attributes["batteryLevel"] = _battery_level(reader.u8())
        else:
            attributes["power"] = reader.u16() / 100
        attributes["rssi"] = reader.u8()
        return bool(status & 0x02)


# ---------------------------------------------------------------------------------------------
# Encoders (the fleet simulator speaks GT06 through these).


def _frame(message_type: int, content: bytes, serial: int) -> bytes:
    body = bytes([len(content) + 5, message_type]) + content + struct.pack(">H", serial & 0xFFFF)
    return b"\x78\x78" + body + struct.pack(">H", crc_itu(body)) + b"\r\n"


def encode_gt06_login(imei: str, serial: int, *, device_type: int | None = None) -> bytes:
    """Login (0x01): the IMEI as 8 BCD bytes with a leading zero nibble."""
    if not (imei.isdigit() and len(imei) <= 15):
        raise ValueError("IMEI must be up to 15 digits")
    content = bytes.fromhex(imei.rjust(16, "0"))
    if device_type is not None:
        content += struct.pack(">H", device_type)
    return _frame(MSG_LOGIN, content, serial)


def encode_gt06_location(fix: Fix, serial: int, *, odometer: bool = False) -> bytes:
    """GPS + LBS location (0x12), in UTC, with ACC (ignition) in the course word when known.

    With ``odometer`` the standard trailing 4-byte odometer (metres) is appended.
    """
    when = fix.fix_time.astimezone(UTC)
    if not 2000 <= when.year <= 2255:
        raise ValueError("GT06 years are 2000..2255")
    satellites = min(fix.satellites if fix.satellites is not None else 8, 15)
    flags = round(fix.course or 0) % 360
    if fix.latitude >= 0:
        flags |= 0x0400
    if fix.longitude < 0:
        flags |= 0x0800
    if fix.valid:
        flags |= 0x1000
    if fix.ignition is not None:
        flags |= 0x4000 | (0x8000 if fix.ignition else 0)
    content = bytes([when.year - 2000, when.month, when.day, when.hour, when.minute, when.second])
    content += struct.pack(
        ">BIIBH",
        0xC0 | satellites,
        round(abs(fix.latitude) * _COORDINATE_UNITS),
        round(abs(fix.longitude) * _COORDINATE_UNITS),
        min(round(fix.speed_kmh or 0), 255),
        flags,
    )
    cell = fix.attributes.get("cell") or {"mcc": 202, "mnc": 1, "lac": 0, "cid": 0}
    content += struct.pack(">HBH", cell["mcc"], cell["mnc"], cell["lac"])
    content += cell["cid"].to_bytes(3, "big")
    if odometer:
        content += struct.pack(">I", round(fix.odometer or 0))
    return _frame(MSG_GPS_LBS_1, content, serial)


def encode_gt06_command(command: str, *, server_flag: int = 0, serial: int = 0) -> bytes:
    """A server command (0x80), e.g. ``Relay,1#`` to stop the engine."""
    text = command.encode("ascii")
    content = bytes([len(text) + 4]) + struct.pack(">I", server_flag) + text
    return _frame(MSG_COMMAND_0, content, serial)
