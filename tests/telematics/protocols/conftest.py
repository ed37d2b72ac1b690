"""Shared helpers for the protocol tests: the captured frames and a strict fix comparison."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from telematics.protocols.base import Fix

VECTORS_PATH = Path(__file__).resolve().parents[2] / "data" / "protocols" / "vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text())

# Traccar attribute names whose values Kinisi keeps in a Fix field instead.
FIELD_FOR_ATTRIBUTE = {
    "hdop": "hdop",
    "batteryLevel": "battery",
    "ignition": "ignition",
    "odometer": "odometer",
    "driverUniqueId": "driver_tag",
}
# Top-level expected keys that describe the frame rather than the fix.
FRAME_KEYS = {
    "unique_id",
    "imei",
    "serial",
    "crc_ok",
    "variant",
    "codec",
    "records",
    "crc16_ibm_matches_trailer",
    "msg_type",
    "status_hex",
    "type",
    "decode_returns",
    "speed_mps_wire",
    "login_timezone_offset_minutes",
    "udp_header",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``vector`` runs once per captured frame of its module's protocol.

    The module names the protocol (``VECTOR_PROTOCOLS``, as spelled in vectors.json); a test
    taking ``command_vector`` gets the server-to-device frames instead.
    """
    protocols = getattr(metafunc.module, "VECTOR_PROTOCOLS", ())
    arguments = (("vector", "device_to_server"), ("command_vector", "server_to_device"))
    for argument, direction in arguments:
        if argument in metafunc.fixturenames:
            params = [
                pytest.param(vector, id=f"vector{index:02d}")
                for index, vector in enumerate(VECTORS)
                if vector["protocol"] in protocols and vector["direction"] == direction
            ]
            metafunc.parametrize(argument, params)


def tolerance(expected: float) -> float:
    """Half a unit in the last decimal the expected value was written with."""
    text = repr(float(expected))
    if "e" in text:
        return 1e-9
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10**-decimals + 1e-9


def approx_equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(actual, expected, rel_tol=0, abs_tol=tolerance(expected))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() <= actual.keys() and all(
            approx_equal(actual[key], value) for key, value in expected.items()
        )
    return actual == expected


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_fix(fix: Fix, expected: dict[str, Any], *, skip: tuple[str, ...] = ()) -> None:
    """Every expected value (Traccar names) must be present in the fix with the same value."""
    problems: list[str] = []

    def check(name: str, actual: Any, wanted: Any) -> None:
        if not approx_equal(actual, wanted):
            problems.append(f"{name}: got {actual!r}, expected {wanted!r}")

    for key, wanted in expected.items():
        if key in skip or key in FRAME_KEYS:
            continue
        if key == "time_utc":
            check(key, fix.fix_time, parse_time(wanted))
        elif key == "lat":
            check(key, fix.latitude, wanted)
        elif key == "lon":
            check(key, fix.longitude, wanted)
        elif key == "speed_knots":
            # Traccar converts with rounded factors (0.539957 kn per km/h, 1.94384 kn per m/s),
            # off by up to 2e-6 relative; Kinisi stores exact km/h, checked by speed_kmh.
            knots = None if fix.speed_kmh is None else fix.speed_kmh / 1.852
            if knots is None or not math.isclose(knots, wanted, rel_tol=1e-5, abs_tol=1e-9):
                problems.append(f"{key}: got {knots!r}, expected {wanted!r}")
        elif key in ("valid", "speed_kmh", "course", "altitude", "accuracy", "satellites"):
            check(key, getattr(fix, key), wanted)
        elif key == "attributes":
            for name, value in wanted.items():
                if name in skip:
                    continue
                if name in FIELD_FOR_ATTRIBUTE:
                    check(name, getattr(fix, FIELD_FOR_ATTRIBUTE[name]), value)
                else:
                    check(name, fix.attributes.get(name), value)
        elif key in FIELD_FOR_ATTRIBUTE:
            check(key, getattr(fix, FIELD_FOR_ATTRIBUTE[key]), wanted)
        else:
            check(key, fix.attributes.get(key), wanted)
    assert not problems, "; ".join(problems)
    assert fix.fix_time.tzinfo is not None and fix.fix_time.utcoffset().total_seconds() == 0


@pytest.fixture
def check_fix():
    """The strict comparison of a decoded fix against a vector's expected values."""
    return assert_fix
