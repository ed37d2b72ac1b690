"""Teltonika FMxxx over TCP: IMEI login, then AVL packets in Codec 8, 8 Extended or 16.

Framing (Teltonika's published layout, as Traccar reads it):

* one ``0xFF`` byte: keep-alive, no reply;
* ``[len u16 > 0][IMEI ascii]``: login, answered ``01`` (accept) or ``00`` (reject);
* ``[00000000][dataLength u32][codec][N1][records…][N2][CRC u32]``: data, answered with the
  record count as a 4-byte big-endian integer. The CRC is CRC-16/IBM over codec..N2.

Record: ``timestamp ms u64 | priority | lon i32 | lat i32 (degrees × 10^7) | altitude i16 |
angle u16 | satellites | speed u16 km/h | IO elements``. IO ids without a fixed meaning are kept
as ``io<ID>`` with their raw unsigned value; the model-independent ones get Traccar's names.
"""

from __future__ import annotations

import operator
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import ByteReader, Fix, Message, ProtocolError, StreamSession

__all__ = [
    "TeltonikaSession",
    "crc16_ibm",
    "decode_teltonika_udp",
    "encode_teltonika_command",
    "encode_teltonika_login",
    "encode_teltonika_packet",
]

CODEC_8 = 0x08
CODEC_8_EXTENDED = 0x8E
CODEC_16 = 0x10
CODEC_12 = 0x0C
CODEC_13 = 0x0D

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A packet that cannot hold even one record; guards the dataLength field against nonsense.
_MIN_DATA_LENGTH = 3


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_ibm(data: bytes) -> int:
    """CRC-16/IBM (ARC): poly 0x8005 reflected (0xA001), init 0, no final xor; one table
    lookup per byte."""
    crc = 0
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def _millivolts(value: int) -> float:
    return value / 1000


def _tenths(value: int) -> float:
    return value / 10


# Model-independent IO ids (Teltonika's FMB parameter list; names as Traccar stores them).
_IO_NAMES: dict[int, tuple[str, Any]] = {
    1: ("in1", bool),
    2: ("in2", bool),
    3: ("in3", bool),
    4: ("in4", bool),
    16: ("odometer", int),
    17: ("axisX", _signed16),
    18: ("axisY", _signed16),
    19: ("axisZ", _signed16),
    21: ("rssi", int),
    66: ("power", _millivolts),
    67: ("battery", _millivolts),
    179: ("out1", bool),
    180: ("out2", bool),
    181: ("pdop", _tenths),
    182: ("hdop", _tenths),
    199: ("tripOdometer", int),
    239: ("ignition", bool),
    240: ("motion", bool),
    241: ("operator", int),
}

_HARSH_EVENTS = {1: "hardAcceleration", 2: "hardBraking", 3: "hardCornering"}


def _set_other_io(attributes: dict[str, Any], io_id: int, value: int, size: int) -> None:
    """IO ids without an entry in _IO_NAMES (``value`` is the unsigned big-endian reading)."""
    if io_id == 78:
        # iButton serial: the device sends it little-endian; 0 means no key present.
        if value:
            serial = int.from_bytes(value.to_bytes(size, "big"), "little")
            attributes["driverUniqueId"] = f"{serial:016X}"
    elif io_id == 236:
        if value:
            attributes["alarm"] = "general"
    elif io_id == 253:
        if value in _HARSH_EVENTS:
            attributes["alarm"] = _HARSH_EVENTS[value]
    else:
        attributes[f"io{io_id}"] = value


def _set_variable_io(attributes: dict[str, Any], io_id: int, raw: bytes) -> None:
    if io_id in (256, 325):
        attributes["vin"] = raw.decode("ascii", "replace")
    elif io_id == 281:
        attributes["dtcs"] = raw.decode("ascii", "replace").replace(",", " ")
    else:
        attributes[f"io{io_id}"] = raw.hex()


# Every record starts alike: timestamp ms, priority, lon, lat, altitude, angle, satellites, speed.
_RECORD_HEAD = struct.Struct(">QBiihHBH")
_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U16_PAIR = struct.Struct(">HH")


def _io_structs(id_format: str) -> tuple[tuple[int, struct.Struct], ...]:
    """(value size, struct of one ``id + value`` element) for the four fixed-size IO groups."""
    return tuple(
        (size, struct.Struct(">" + id_format + value_format))
        for size, value_format in ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))
    )


class _Layout:
    """Where the codecs differ: the event id and IO count fields, and the IO id width."""

    __slots__ = ("count", "extended", "groups", "header")

    def __init__(self, header: str, count: struct.Struct, id_format: str, extended: bool) -> None:
        # ``header``: event IO id first, then what is skipped (generation type, total count).
        self.header = struct.Struct(">" + header)
        self.count = count
        self.groups = _io_structs(id_format)
        self.extended = extended


_LAYOUTS = {
    CODEC_8: _Layout("BB", _U8, "B", False),
    CODEC_8_EXTENDED: _Layout("HH", _U16, "H", True),
    CODEC_16: _Layout("HBB", _U8, "H", False),
}


# IO ids whose attribute depends on the value itself, not only on a name and a conversion.
_VALUE_DEPENDENT_IO = frozenset((78, 236, 253))
_VALUE_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


class _Shape:
    """A record's IO layout (its counts and IO ids, no variable-length elements) read with one
    struct. A tracker sends the same layout record after record, so a session remembers the
    last one per codec and checks every record against it before using it."""

    __slots__ = ("expected", "fields", "keys", "size", "unpack")

    def __init__(self, fmt: str, key_indexes: list[int], expected: tuple, fields: tuple) -> None:
        compiled = struct.Struct(fmt)
        self.unpack = compiled.unpack_from
        self.size = compiled.size
        # The counts and ids must read as remembered (there are always at least four counts,
        # so itemgetter returns a tuple).
        self.keys = operator.itemgetter(*key_indexes)
        self.expected = expected
        # (attribute name, conversion or None, index of the value in the unpacked tuple)
        self.fields = fields


def _io_shape(body: bytes, pos: int, codec: int) -> _Shape | None:
    """The shape of the IO section that starts at ``body[pos]`` (after the 24-byte record head),
    or None if it cannot have one (value-dependent ids, variable-length elements, too short)."""
    layout = _LAYOUTS[codec]
    id_format = "B" if codec == CODEC_8 else "H"
    count_format = "H" if layout.count.size == 2 else "B"
    fmt = [">", layout.header.format[1:]]
    index = len(layout.header.format) - 1  # the event id is index 0, the rest is skipped
    keys: list[int] = []
    expected: list[int] = []
    fields: list[tuple[str, Any, int]] = []
    try:
        pos += layout.header.size
        for size, element in layout.groups:
            (elements,) = layout.count.unpack_from(body, pos)
            pos += layout.count.size
            fmt.append(count_format)
            keys.append(index)
            expected.append(elements)
            index += 1
            for _ in range(elements):
                io_id, _value = element.unpack_from(body, pos)
                pos += element.size
                if io_id in _VALUE_DEPENDENT_IO:
                    return None
                fmt.append(id_format + _VALUE_FORMATS[size])
                keys.append(index)
                expected.append(io_id)
                named = _IO_NAMES.get(io_id)
                name, convert = named if named is not None else (f"io{io_id}", None)
                fields.append((name, convert, index + 1))
                index += 2
        if layout.extended:
            (elements,) = _U16.unpack_from(body, pos)
            if elements:
                return None
            fmt.append("H")
            keys.append(index)
            expected.append(0)
    except struct.error:
        return None
    return _Shape("".join(fmt), keys, tuple(expected), tuple(fields))


def _read_io(body: bytes, pos: int, layout: _Layout, attributes: dict[str, Any]) -> int:
    """The IO section at ``body[pos]`` (event id onwards) into ``attributes``; the offset
    after it."""
    attributes["event"] = layout.header.unpack_from(body, pos)[0]
    pos += layout.header.size
    count_unpack = layout.count.unpack_from
    count_size = layout.count.size
    names = _IO_NAMES
    for size, element in layout.groups:
        (elements,) = count_unpack(body, pos)
        pos += count_size
        unpack = element.unpack_from
        step = element.size
        for _ in range(elements):
            io_id, value = unpack(body, pos)
            pos += step
            named = names.get(io_id)
            if named is not None:
                attributes[named[0]] = named[1](value)
            else:
                _set_other_io(attributes, io_id, value, size)
    if layout.extended:
        (elements,) = _U16.unpack_from(body, pos)
        pos += 2
        for _ in range(elements):
            io_id, length = _U16_PAIR.unpack_from(body, pos)
            pos += 4
            if pos + length > len(body):
                raise ProtocolError("truncated", f"need {length} bytes at offset {pos}")
            _set_variable_io(attributes, io_id, body[pos : pos + length])
            pos += length
    return pos


def _read_records(
    body: bytes,
    pos: int,
    count: int,
    codec: int,
    unique_id: str,
    shapes: dict[int, _Shape] | None = None,
) -> tuple[list[Fix], int]:
    """``count`` records starting at ``body[pos]``, and the offset after them.

    Precompiled structs read straight from the frame: this runs for every position the gateway
    stores. ``shapes`` (a session's memory of IO layouts, by codec) lets a record whose layout
    matches the remembered one be read with a single struct. ``struct.error`` means the frame
    ended early (the caller reports it)."""
    layout = _LAYOUTS[codec]
    head_unpack = _RECORD_HEAD.unpack_from
    epoch = _EPOCH
    length = len(body)
    shape = shapes.get(codec) if shapes is not None else None
    fixes = []
    for _ in range(count):
        milliseconds, priority, lon, lat, altitude, course, satellites, speed = head_unpack(
            body, pos
        )
        pos += 24
        try:
            fix_time = epoch + timedelta(milliseconds=milliseconds)
        except OverflowError:
            raise ProtocolError("bad_timestamp", str(milliseconds))
        attributes: dict[str, Any] = {"priority": priority, "sat": satellites}
        values = None
        if shape is not None and pos + shape.size <= length:
            values = shape.unpack(body, pos)
            if shape.keys(values) != shape.expected:
                values = None
        if values is not None:
            attributes["event"] = values[0]
            for name, convert, index in shape.fields:
                value = values[index]
                attributes[name] = value if convert is None else convert(value)
            pos += shape.size
        else:
            if shapes is not None:
                shape = _io_shape(body, pos, codec)
                if shape is not None:
                    shapes[codec] = shape
            pos = _read_io(body, pos, layout, attributes)
        odometer = attributes.get("odometer")
        fixes.append(
            Fix(
                unique_id,
                fix_time,
                lat / 1e7,
                lon / 1e7,
                satellites != 0,
                float(speed),
                float(course),
                float(altitude),
                None,
                attributes.get("hdop"),
                satellites,
                attributes.get("ignition"),
                None if odometer is None else float(odometer),
                None,
                None,
                None,
                attributes.get("driverUniqueId"),
                attributes,
            )
        )
    return fixes, pos


def _decode_avl(
    body: bytes, unique_id: str, shapes: dict[int, _Shape] | None = None
) -> tuple[int, list[Fix] | None, dict[str, Any]]:
    """Decode ``codec..N2``. Returns (codec, fixes or None for command replies, attributes)."""
    if len(body) < 2:
        raise ProtocolError("truncated", "no codec and record count")
    codec = body[0]
    count = body[1]
    if codec in (CODEC_12, CODEC_13):
        # A device's answer to a server command: kept, never acknowledged (as Teltonika says).
        reader = ByteReader(body, 2)
        reader.skip(1)  # type
        size = reader.u32()
        text = reader.take(size).decode("ascii", "replace")
        return codec, None, {"result": text}
    if codec not in _LAYOUTS:
        raise ProtocolError("unsupported_codec", f"0x{codec:02x}")
    try:
        fixes, end = _read_records(body, 2, count, codec, unique_id, shapes)
    except struct.error as exc:
        raise ProtocolError("truncated", str(exc)) from None
    if end != len(body) - 1 or body[end] != count:
        raise ProtocolError("record_count_mismatch")
    return codec, fixes, {}


class TeltonikaSession(StreamSession):
    """One TCP connection from a Teltonika device."""

    protocol = "teltonika"

    def __init__(self, *, verify_crc: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Off only to read captured frames whose CRC was never right (two of Traccar's tests).
        self.verify_crc = verify_crc
        self._shapes: dict[int, _Shape] = {}

    def reject_reply(self) -> bytes:
        return b"\x00"

    def _frame_length(self, buffer: bytearray) -> int | None:
        if buffer[0] == 0xFF:
            return 1
        if len(buffer) < 2:
            return None
        login_length = int.from_bytes(buffer[:2], "big")
        if login_length > 0:
            if login_length > 32:
                raise ProtocolError("bad_login_length", str(login_length))
            return 2 + login_length
        if len(buffer) < 8:
            return None
        if buffer[2:4] != b"\x00\x00":
            raise ProtocolError("bad_preamble")
        data_length = int.from_bytes(buffer[4:8], "big")
        if data_length < _MIN_DATA_LENGTH:
            raise ProtocolError("bad_data_length", str(data_length))
        return data_length + 12

    def _decode_frame(self, frame: bytes) -> Message | None:
        if frame == b"\xff":
            return None
        if frame[:2] != b"\x00\x00":
            imei = frame[2:]
            if not imei.isdigit():
                raise ProtocolError("bad_imei", imei[:32].hex())
            self.unique_id = imei.decode("ascii")
            return Message(unique_id=self.unique_id, kind="login", reply=b"\x01")
        if self.unique_id is None:
            raise ProtocolError("not_logged_in")
        body = frame[8:-4]
        if self.verify_crc:
            crc = int.from_bytes(frame[-4:], "big")
            if crc != crc16_ibm(body):
                raise ProtocolError("bad_crc", f"{crc:08x}")
        codec, fixes, attributes = _decode_avl(body, self.unique_id, self._shapes)
        if fixes is None:
            return Message(unique_id=self.unique_id, kind="other", attributes=attributes)
        return Message(
            unique_id=self.unique_id,
            fixes=fixes,
            reply=struct.pack(">I", len(fixes)),
            kind="position",
        )


def decode_teltonika_udp(datagram: bytes) -> Message:
    """One UDP datagram: ``[len u16][packet id u16][type u8][AVL packet id u8][IMEI][codec..N2]``.

    The reply is ``0005 0000 01 <AVL packet id> <count>`` as Traccar writes it (packet id 0).
    """
    reader = ByteReader(datagram)
    length = reader.u16()
    if length != len(datagram) - 2:
        raise ProtocolError("bad_length", f"{length} for {len(datagram)} bytes")
    reader.skip(3)  # packet id, packet type
    avl_packet_id = reader.u8()
    imei = reader.take(reader.u16())
    if not imei.isdigit():
        raise ProtocolError("bad_imei", imei[:32].hex())
    unique_id = imei.decode("ascii")
    codec, fixes, attributes = _decode_avl(datagram[reader.pos :], unique_id)
    if fixes is None:
        return Message(unique_id=unique_id, kind="other", attributes=attributes)
    reply = struct.pack(">HHBBB", 5, 0, 1, avl_packet_id, len(fixes) & 0xFF)
    return Message(unique_id=unique_id, fixes=fixes, reply=reply)


# ---------------------------------------------------------------------------------------------
# Encoders (the fleet simulator speaks Teltonika through these).


def encode_teltonika_login(imei: str) -> bytes:
    """The login frame a device sends first: IMEI length and the IMEI in ASCII."""
    raw = imei.encode("ascii")
    return struct.pack(">H", len(raw)) + raw


def _default_io(fix: Fix) -> list[tuple[int, int, int]]:
    """(IO id, size, value) for what a Fix says: ignition, motion, hdop, power, odometer."""
    ios: list[tuple[int, int, int]] = []
    if fix.ignition is not None:
        ios.append((239, 1, int(fix.ignition)))
    motion = fix.attributes.get("motion")
    if motion is None and fix.speed_kmh is not None:
        motion = fix.speed_kmh > 0
    if motion is not None:
        ios.append((240, 1, int(bool(motion))))
    if fix.hdop is not None:
        ios.append((182, 2, round(fix.hdop * 10)))
    power = fix.attributes.get("power")
    if power is not None:
        ios.append((66, 2, round(power * 1000)))
    if fix.odometer is not None:
        ios.append((16, 4, round(fix.odometer)))
    return ios


def _encode_record(fix: Fix, event_io: int, io: list[tuple[int, int, int]]) -> bytes:
    groups: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 4: [], 8: []}
    for io_id, size, value in io:
        groups[size].append((io_id, value))
    satellites = fix.satellites if fix.satellites is not None else (8 if fix.valid else 0)
    if not fix.valid:
        satellites = 0
    milliseconds = round((fix.fix_time - _EPOCH) / timedelta(milliseconds=1))
    parts = [
        struct.pack(
            ">QBiihHBH",
            milliseconds,
            int(fix.attributes.get("priority", 0)),
            round(fix.longitude * 1e7),
            round(fix.latitude * 1e7),
            round(fix.altitude or 0),
            round(fix.course or 0) % 360,
            satellites,
            round(fix.speed_kmh or 0),
        ),
        bytes([event_io, len(io)]),
    ]
    for size in (1, 2, 4, 8):
        parts.append(bytes([len(groups[size])]))
        for io_id, value in groups[size]:
            parts.append(bytes([io_id]) + value.to_bytes(size, "big"))
    return b"".join(parts)


def encode_teltonika_packet(
    fixes: list[Fix],
    *,
    event_io: int = 0,
    io: list[list[tuple[int, int, int]]] | None = None,
) -> bytes:
    """A Codec 8 AVL packet with one record per fix.

    By default each record carries what the fix says (IO 239 ignition, 240 motion, 182 hdop,
    66 power, 16 odometer); ``io`` gives each record's IO elements as (id, size, value) instead.
    """
    if not 1 <= len(fixes) <= 255:
        raise ValueError("a Codec 8 packet holds 1 to 255 records")
    if io is None:
        io = [_default_io(fix) for fix in fixes]
    if len(io) != len(fixes) or any(size not in (1, 2, 4, 8) for r in io for _, size, _ in r):
        raise ValueError("one IO list per fix, sizes 1, 2, 4 or 8")
    body = bytes([CODEC_8, len(fixes)])
    body += b"".join(
        _encode_record(fix, event_io, record_io) for fix, record_io in zip(fixes, io, strict=True)
    )
    body += bytes([len(fixes)])
    return struct.pack(">II", 0, len(body)) + body + struct.pack(">I", crc16_ibm(body))


def encode_teltonika_command(text: str) -> bytes:
    """A Codec 12 command (e.g. ``setdigout 1``); text made only of hex pairs is sent as bytes."""
    stripped = text.strip()
    if stripped and len(stripped) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in stripped):
        payload = bytes.fromhex(stripped)
    else:
        payload = text.encode("ascii")
    body = bytes([CODEC_12, 1, 0x05]) + struct.pack(">I", len(payload)) + payload + b"\x01"
    return struct.pack(">II", 0, len(body)) + body + struct.pack(">I", crc16_ibm(body))
