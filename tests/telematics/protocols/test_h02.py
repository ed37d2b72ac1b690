from __future__ import annotations

from datetime import UTC, datetime

import pytest

from telematics.protocols.base import Fix, FrameError, ProtocolError
from telematics.protocols.h02 import H02Session, encode_h02_command, encode_h02_position

VECTOR_PROTOCOLS = ("h02",)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

V1 = b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF,712,01,0,0,6#"
SOUTH_WEST = b"*HQ,1451316409,V1,030149,A,-23-29.0095,S,-46-51.5852,W,2.4,065,070315,FFFFFFFF#"


def session(**kwargs) -> H02Session:
    return H02Session(clock=lambda: NOW, **kwargs)


def test_every_h02_vector_decodes_to_its_expected_values(vector, check_fix):
    expected = vector["expected"]
    frame = bytes.fromhex(vector["hex"]) if "hex" in vector else vector["text"].encode()
    [message] = session().feed(frame)
    assert message.unique_id == expected["unique_id"]
    [fix] = message.fixes
    check_fix(fix, expected)
    assert fix.attributes["status"] == int(expected["status_hex"], 16)
    if expected.get("msg_type") == "V1":
        # "*HQ,<id>,V4,V1,<yyyyMMddHHmmss UTC now>#"
        assert message.reply == f"*HQ,{expected['unique_id']},V4,V1,20260102030405#".encode()
    else:
        assert message.reply == b""


def test_server_command_matches_the_vector_byte_for_byte(command_vector):
    when = datetime(2026, 1, 2, 1, 2, 3, tzinfo=UTC)
    assert encode_h02_command("123456789012345", "S20", when, "1", "1") == (
        command_vector["text"].encode()
    )


def test_southern_and_western_hemispheres_are_negative():
    [message] = session().feed(SOUTH_WEST)
    fix = message.fixes[0]
    # 23° 29.0095' S and 46° 51.5852' W, computed by hand.
    assert fix.latitude == pytest.approx(-(23 + 29.0095 / 60), abs=1e-9)
    assert fix.longitude == pytest.approx(-(46 + 51.5852 / 60), abs=1e-9)
    # 2.4 knots × 1.852
    assert fix.speed_kmh == pytest.approx(4.4448)


def test_zero_speed_and_ignition_off_from_status_bit_10():
    [message] = session().feed(V1)
    fix = message.fixes[0]
    assert fix.speed_kmh == 0.0
    assert fix.ignition is False  # FFFFFBFF: bit 10 clear
    assert "alarm" not in fix.attributes


def test_heartbeat_is_echoed_without_a_fix():
    [message] = session().feed(b"*HQ,4210051415,V0#")
    assert message.kind == "heartbeat"
    assert message.fixes == []
    assert message.reply == b"*HQ,4210051415,V0#"


def test_empty_coordinates_mean_no_fix_yet():
    frame = b"*HQ,353505510948929,V1,,V,,N,,E,0.00,0,,FFFFF7FF,f0,a,11a0,c0c6#"
    [message] = session().feed(frame)
    assert message.fixes == []
    assert message.reply.startswith(b"*HQ,353505510948929,V4,V1,")


def test_ack_all_answers_r12_for_other_position_types():
    frame = (
        b"*HQ,4209951296,V19,214452,A,5201.0178,N,01830.5029,E,000.00,000,200417,,"
        b"195.63.13.195,89480610500392633029,BFFFFBFF#"
    )
    [message] = session(ack_all=True).feed(frame)
    assert message.reply == b"*HQ,4209951296,R12,030405#"
    fix = message.fixes[0]
    assert fix.fix_time == datetime(2017, 4, 20, 21, 44, 52, tzinfo=UTC)
    assert fix.attributes["status"] == 0xBFFFFBFF


def test_sensor_tail_gives_odometer_fuel_and_altitude():
    frame = (
        b"*HQ,2130510938,V1,012632,A,0520.0663,N,10028.6324,E,0.286,023,100317,FFFFDFFF,"
        b"69129336,0,100.0,18,5141,5A20#"
    )
    [message] = session().feed(frame)
    fix = message.fixes[0]
    assert (fix.odometer, fix.fuel_level, fix.altitude) == (69129336.0, 100.0, 18.0)
    assert fix.attributes["cell"] == {"lac": 0x5141, "cid": 0x5A20}


def test_command_reply_with_position_takes_the_last_position_run():
    frame = (
        b"*TH,2020916012,V4,S20,DONE,130305,050316,A,2212.8745,N,11346.6574,E,14.28,028,"
        b"220902,F7FFFBFF#"
    )
    [message] = session().feed(frame)
    assert message.fixes[0].latitude == pytest.approx(22 + 12.8745 / 60)
    assert message.fixes[0].fix_time == datetime(2002, 9, 22, 5, 3, 16, tzinfo=UTC)


def test_a_frame_split_across_many_feeds_decodes_once_complete():
    s = session()
    messages = []
    for index in range(len(V1)):
        messages.extend(s.feed(V1[index : index + 1]))
    assert len(messages) == 1 and len(messages[0].fixes) == 1


def test_two_frames_in_one_feed_with_line_breaks_and_noise():
    messages = session().feed(V1 + b"\r\n" + b"\x00\x00" + SOUTH_WEST + b"\r\n")
    assert [m.unique_id for m in messages] == ["4210051415", "1451316409"]


def test_binary_frames_split_across_feeds_with_a_known_length():
    frame = bytes.fromhex("2441060116601245431311165035313006004318210e000000fffffbffff0024")
    s = session(binary_length=32)
    assert s.feed(frame[:10]) == []
    [message] = s.feed(frame[10:] + frame)[:1]
    assert message.fixes[0].latitude == pytest.approx(50 + 35.3130 / 60)


def test_invalid_bcd_in_a_binary_frame_is_refused():
    frame = bytearray.fromhex("2441060116601245431311165035313006004318210e000000fffffbffff0024")
    frame[13] = 0x3A
    with pytest.raises(ProtocolError) as caught:
        session(binary_length=32).feed(bytes(frame))
    assert caught.value.reason == "bad_bcd"


def test_unterminated_text_frame_beyond_the_limit_raises_frame_error():
    with pytest.raises(FrameError):
        session().feed(b"*HQ," + b"1" * 5000)


@pytest.mark.parametrize(
    "frame",
    [
        b"*HQ,4210051415,V1,164549,A,0956.3869,X,08406.7068,W,000.00,000,221215,FFFFFBFF#",
        b"*HQ,4210051415,V1,164549,A,09x6.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF#",
        b"*HQ,4210051415,V1,996549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF#",
        b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,abc,000,221215,FFFFFBFF#",
        b"*HQ,abc,V1#",
        b"*HQ,4210051415,V1,164549#",
    ],
)
def test_malformed_text_frames_raise_protocol_error(frame):
    with pytest.raises(ProtocolError):
        session().feed(frame)


def test_position_encoder_round_trips_through_the_decoder():
    fix = Fix(
        unique_id="4210051415",
        fix_time=datetime(2025, 12, 22, 16, 45, 49, tzinfo=UTC),
        latitude=-35.4999999,
        longitude=-0.6441,
        valid=True,
        speed_kmh=50.0,
        course=7.0,
        ignition=True,
    )
    [message] = session().feed(encode_h02_position(fix))
    decoded = message.fixes[0]
    assert decoded.latitude == pytest.approx(fix.latitude, abs=1e-6)
    assert decoded.longitude == pytest.approx(fix.longitude, abs=1e-6)
    assert decoded.speed_kmh == pytest.approx(50.0, abs=0.01)
    assert (decoded.fix_time, decoded.course, decoded.ignition) == (fix.fix_time, 7.0, True)


def test_position_encoder_writes_vector_44s_values_in_the_plain_spelling():
    fix = Fix(
        unique_id="1451316409",
        fix_time=datetime(2015, 3, 7, 3, 1, 49, tzinfo=UTC),
        latitude=-(23 + 29.0095 / 60),
        longitude=-(46 + 51.5852 / 60),
        valid=True,
        speed_kmh=0.0,
        course=65.0,
    )
    # Same values as vector 44 written in the plain DDMM.MMMM spelling and Kinisi's fixed widths.
    assert encode_h02_position(fix, status=0xFFFFFFFF) == (
        b"*HQ,1451316409,V1,030149,A,2329.0095,S,04651.5852,W,0.00,065,070315,FFFFFFFF#"
    )
