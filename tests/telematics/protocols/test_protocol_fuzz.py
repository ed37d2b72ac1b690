"""Property-based: whatever bytes arrive, a decoder answers with messages or ProtocolError.

Truncated, oversized, garbage and mutated frames must never raise anything else (an IndexError or
a struct.error would crash the gateway's connection handler) and must never make a session hold
more than its frame limit. Hypothesis's deadline is off: these properties are about outcomes,
not speed, and the machine is shared.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telematics.protocols.base import Message, ProtocolError, StreamSession
from telematics.protocols.gt06 import Gt06Session
from telematics.protocols.h02 import H02Session
from telematics.protocols.nmea import Gps103Session, GpsGateSession
from telematics.protocols.osmand import decode_osmand
from telematics.protocols.teltonika import TeltonikaSession, decode_teltonika_udp

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "protocols" / "vectors.json").read_text()
)
MAX_FRAME = 4096

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


def frames(protocol: str) -> list[bytes]:
    out = []
    for vector in VECTORS:
        if (
            vector["protocol"] == protocol
            and vector["direction"] == "device_to_server"
            and vector["transport"] == "tcp"
        ):
            out.append(bytes.fromhex(vector["hex"]) if "hex" in vector else vector["text"].encode())
    return out


TELTONIKA_LOGIN = bytes.fromhex(VECTORS[11]["hex"])
GT06_LOGIN = bytes.fromhex(VECTORS[27]["hex"])

SESSIONS: dict[str, tuple[Callable[[], StreamSession], bytes, list[bytes]]] = {
    "teltonika": (
        lambda: TeltonikaSession(max_frame=MAX_FRAME),
        TELTONIKA_LOGIN,
        frames("teltonika"),
    ),
    "teltonika-nocrc": (
        lambda: TeltonikaSession(max_frame=MAX_FRAME, verify_crc=False),
        TELTONIKA_LOGIN,
        frames("teltonika"),
    ),
    "gt06": (lambda: Gt06Session(max_frame=MAX_FRAME), GT06_LOGIN, frames("gt06")),
    "h02": (lambda: H02Session(max_frame=MAX_FRAME), b"", frames("h02")),
    "h02-long": (lambda: H02Session(max_frame=MAX_FRAME, binary_length=45), b"", frames("h02")),
    "gpsgate": (
        lambda: GpsGateSession(max_frame=MAX_FRAME),
        b"$FRLIN,,354503026292842,VGZTHKT*0C\r\n",
        [f.encode() + b"\r\n" for f in (v["text"] for v in VECTORS if "gpsgate" in v["protocol"])],
    ),
    "gps103": (
        lambda: Gps103Session(max_frame=MAX_FRAME),
        b"",
        [v["text"].encode() + b";" for v in VECTORS if v["protocol"].startswith("gps103")],
    ),
}
NAMES = sorted(SESSIONS)


def feed_in_chunks(session: StreamSession, data: bytes, cuts: list[int]) -> list[Message]:
    """Feed ``data`` split at ``cuts``; stop at the first ProtocolError, as the gateway does."""
    messages: list[Message] = []
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    try:
        for start, end in zip(bounds, bounds[1:], strict=False):
            messages.extend(session.feed(data[start:end]))
            assert session.buffered <= MAX_FRAME
    except ProtocolError:
        pass
    return messages


def check_messages(messages: list[Message]) -> None:
    for message in messages:
        assert isinstance(message.reply, bytes)
        for fix in message.fixes:
            assert -90 <= fix.latitude <= 90 and -180 <= fix.longitude <= 180
            assert fix.fix_time.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(
    logged_in=st.booleans(),
    garbage=st.binary(max_size=3 * MAX_FRAME),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
)
def test_garbage_never_raises_anything_but_protocol_error(name, logged_in, garbage, cuts):
    factory, login, _ = SESSIONS[name]
    session = factory()
    if logged_in and login:
        session.feed(login)
    check_messages(feed_in_chunks(session, garbage, cuts))


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data(), cuts=st.lists(st.integers(0), max_size=6))
def test_truncated_frames_stay_buffered_or_fail_cleanly(name, data, cuts):
    factory, login, samples = SESSIONS[name]
    frame = data.draw(st.sampled_from(samples))
    keep = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    session = factory()
    if login:
        session.feed(login)
    messages = feed_in_chunks(session, frame[:keep], cuts)
    check_messages(messages)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data(), cuts=st.lists(st.integers(0), max_size=6))
def test_mutated_frames_never_raise_anything_but_protocol_error(name, data, cuts):
    factory, login, samples = SESSIONS[name]
    frame = bytearray(data.draw(st.sampled_from(samples)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        operation = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        index = data.draw(st.integers(min_value=0, max_value=max(len(frame) - 1, 0)))
        if operation == "flip" and frame:
            frame[index] ^= 1 << data.draw(st.integers(0, 7))
        elif operation == "set" and frame:
            frame[index] = data.draw(st.integers(0, 255))
        elif operation == "insert":
            frame[index:index] = data.draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete" and frame:
            del frame[index]
    session = factory()
    if login:
        session.feed(login)
    check_messages(feed_in_chunks(session, bytes(frame), cuts))


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data(), size=st.integers(MAX_FRAME, 4 * MAX_FRAME))
def test_oversized_input_is_refused_not_buffered(name, data, size):
    factory, login, samples = SESSIONS[name]
    frame = data.draw(st.sampled_from(samples))
    # A real frame's start followed by far more bytes than any frame may hold, with no end.
    filler = bytes([data.draw(st.sampled_from([0x00, 0x41, 0x55]))]) * size
    session = factory()
    if login:
        session.feed(login)
    check_messages(feed_in_chunks(session, frame[: len(frame) // 2] + filler, [MAX_FRAME // 3]))


@FUZZ
@given(frame=st.binary(max_size=600))
def test_teltonika_udp_garbage_raises_only_protocol_error(frame):
    with contextlib.suppress(ProtocolError):
        check_messages([decode_teltonika_udp(frame)])


OSMAND_KEYS = [
    "id",
    "deviceid",
    "lat",
    "lon",
    "location",
    "timestamp",
    "speed",
    "bearing",
    "altitude",
    "accuracy",
    "hdop",
    "batt",
    "valid",
    "ignition",
    "cell",
    "x",
]
OSMAND_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "nan",
            "inf",
            "-1e400",
            "1e400",
            "2147483647",
            "99999999999999999999999",
            "9" * 5000,
            "2016-01-27T18:55:47Z",
            "true",
            "0",
            "-91",
            "181",
            "1,2",
            "",
        ]
    ),
    st.floats(allow_nan=True).map(repr),
    st.integers().map(str),
)


@FUZZ
@given(
    pairs=st.lists(st.tuples(st.sampled_from(OSMAND_KEYS), OSMAND_VALUES), max_size=10),
    as_body=st.booleans(),
)
def test_osmand_query_fuzz_raises_only_protocol_error(pairs, as_body):
    from urllib.parse import urlencode

    encoded = urlencode(pairs)
    try:
        if as_body:
            message = decode_osmand(
                "POST", "", encoded.encode(), "application/x-www-form-urlencoded"
            )
        else:
            message = decode_osmand("GET", encoded)
        check_messages([message])
    except ProtocolError:
        pass


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "coords",
                    "latitude",
                    "longitude",
                    "speed",
                    "heading",
                    "timestamp",
                    "battery",
                    "level",
                    "extras",
                    "activity",
                    "type",
                    "odometer",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=15,
)


@FUZZ
@given(location=JSON_VALUES, device_id=JSON_SCALARS, raw=st.binary(max_size=200))
def test_osmand_json_fuzz_raises_only_protocol_error(location, device_id, raw):
    for body in (json.dumps({"location": location, "device_id": device_id}).encode(), raw):
        with contextlib.suppress(ProtocolError):
            check_messages([decode_osmand("POST", "", body, "application/json")])
