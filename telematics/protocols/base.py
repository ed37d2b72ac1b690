"""The normalised fix record and the decoder contract shared by every tracker protocol.

Pure module: no Django, no sockets. The gateway owns the sockets and the database; a decoder only
turns bytes into :class:`Fix` records and tells the gateway which bytes to answer with.

Contract
========

TCP protocols (Teltonika, GT06, H02) are decoded by one :class:`StreamSession` per connection::

    session = TeltonikaSession()
    for message in session.feed(chunk):        # chunk: whatever recv() returned
        ...store message.fixes, then send message.reply (may be b"")...

* ``feed`` does the framing. A partial frame stays buffered until the next ``feed``; several frames
  in one chunk give several messages, in wire order. Keep-alive bytes that need no answer give no
  message at all.
* Each :class:`Message` carries the device's ``unique_id`` (from the login frame, or from the frame
  itself for protocols such as H02 that repeat it), the decoded ``fixes`` (possibly none: login,
  heartbeat) and the ``reply`` bytes. Send ``reply`` only once the fixes are committed: a tracker
  resends whatever was not acknowledged, and positions are unique on (device, fix time).
* A login message has ``kind == "login"``. If the gateway does not know the device it sends
  ``session.reject_reply()`` instead of ``message.reply`` (Teltonika has a reject byte, the
  others have none) and closes the connection.
* Malformed input raises :class:`ProtocolError` (with a short machine-readable ``reason``) and
  nothing else; a frame whose declared or scanned length exceeds ``max_frame`` raises its subclass
  :class:`FrameError`. After an error the session's state is undefined: close the connection.

HTTP (OsmAnd / Traccar Client) is a pure function in ``osmand.py``::

    decode_osmand(method, query_string, body, content_type) -> Message

It never needs a session; the gateway answers HTTP 200 on success, 400 on ``ProtocolError``.

Units (see DESIGN.md): speed km/h, distances metres, altitude metres, engine hours hours,
times timezone-aware UTC. A value the device did not send is ``None``, never 0.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

__all__ = [
    "DEFAULT_MAX_FRAME",
    "ByteReader",
    "KNOTS_TO_KMH",
    "MPS_TO_KMH",
    "Fix",
    "FrameError",
    "Message",
    "ProtocolError",
    "StreamSession",
]

# Exact by definition: one knot is 1852 m per hour.
KNOTS_TO_KMH = 1.852
MPS_TO_KMH = 3.6

# No tracker we speak sends a frame near this; anything longer is garbage or an attack, and
# buffering it would let one connection eat the gateway's memory.
DEFAULT_MAX_FRAME = 64 * 1024


class ProtocolError(Exception):
    """Malformed or unsupported input. ``reason`` is a short token fit for a log line."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class FrameError(ProtocolError):
    """A frame is larger than the session's limit (or its length field claims so)."""


@dataclass(slots=True)
class Fix:
    """One position as every protocol reports it, in Kinisi's units.

    ``accuracy`` metres; ``course`` degrees clockwise from north; ``odometer`` metres (the
    device's total); ``engine_hours`` hours; ``fuel_level`` percent of the tank; ``battery``
    percent (voltages, when that is all a device sends, stay in ``attributes``); ``driver_tag``
    the driver identification (iButton / RFID / app's driver id) as text. ``attributes`` keeps
    the protocol's other values under the protocol's own names.
    """

    unique_id: str
    fix_time: datetime
    latitude: float
    longitude: float
    valid: bool
    speed_kmh: float | None = None
    course: float | None = None
    altitude: float | None = None
    accuracy: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    ignition: bool | None = None
    odometer: float | None = None
    engine_hours: float | None = None
    fuel_level: float | None = None
    battery: float | None = None
    driver_tag: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Decoders build fixes from untrusted bytes; reject what the database must never hold.
        if self.fix_time.tzinfo is None:
            raise ProtocolError("naive_time", str(self.fix_time))
        if self.fix_time.utcoffset():
            self.fix_time = self.fix_time.astimezone(UTC)
        if not (-90.0 <= self.latitude <= 90.0) or not (-180.0 <= self.longitude <= 180.0):
            raise ProtocolError("coordinates_out_of_range", f"{self.latitude},{self.longitude}")


@dataclass(slots=True)
class Message:
    """What one frame (or one HTTP request) means.

    ``kind`` is one of ``login``, ``position``, ``heartbeat``, ``status``, ``alarm``, ``other``.
    ``attributes`` holds values that came without a position (a GT06 heartbeat's battery level
    and ignition, for instance) so the gateway can still update the vehicle's live state.
    """

    unique_id: str | None
    fixes: list[Fix] = field(default_factory=list)
    reply: bytes = b""
    kind: str = "position"
    attributes: dict[str, Any] = field(default_factory=dict)


class StreamSession(ABC):
    """Per-connection decoder for a TCP protocol. Subclasses implement the two hooks below."""

    protocol: ClassVar[str] = ""

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.unique_id: str | None = None
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """Take the next chunk from the socket; return the messages of every complete frame."""
        if not self._buffer and data:
            # The usual case: nothing buffered and the chunk is exactly one frame. Decode it as
            # it is, without copying it through the buffer (anything else takes the long way).
            frame_length = self._frame_length(data)
            if frame_length == len(data) and frame_length <= self.max_frame:
                message = self._decode_frame(bytes(data))
                return [] if message is None else [message]
        self._buffer += data
        messages: list[Message] = []
        while self._buffer:
            frame_length = self._frame_length(self._buffer)
            if frame_length is None:
                if len(self._buffer) > self.max_frame:
                    raise FrameError("frame_too_large", f"{len(self._buffer)} bytes unframed")
                break
            if frame_length > self.max_frame:
                raise FrameError("frame_too_large", f"{frame_length} bytes")
            if frame_length <= 0:
                raise ProtocolError("bad_frame_length", str(frame_length))
            if len(self._buffer) < frame_length:
                break
            frame = bytes(self._buffer[:frame_length])
            del self._buffer[:frame_length]
            message = self._decode_frame(frame)
            if message is not None:
                messages.append(message)
        return messages

    def reject_reply(self) -> bytes:
        """Bytes to send before closing when the gateway refuses the device at login."""
        return b""

    @abstractmethod
    def _frame_length(self, buffer: bytearray) -> int | None:
        """Length of the frame at the start of ``buffer`` (junk to skip counts as a frame that
        decodes to ``None``), or ``None`` when more bytes are needed to know."""

    @abstractmethod
    def _decode_frame(self, frame: bytes) -> Message | None:
        """Decode one complete frame; ``None`` for frames that need neither storing nor reply."""


class ByteReader:
    """Big-endian reads over one frame; running off the end is a ProtocolError, not IndexError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("truncated", f"need {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def skip(self, n: int) -> None:
        self.take(n)

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def sint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big", signed=True)

    def u8(self) -> int:
        return self.uint(1)

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)
