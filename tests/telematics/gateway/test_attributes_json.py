"""The attributes of every stored position become jsonb text: whatever a decoder put there must
give JSON that PostgreSQL accepts, and the position must never be lost over it."""

from __future__ import annotations

import json
import math

from telematics.gateway.app import attributes_json


def test_plain_attributes_round_trip() -> None:
    attributes = {"priority": 0, "sat": 9, "ignition": True, "power": 12.5, "name": "Χανιά"}
    assert json.loads(attributes_json(attributes)) == attributes


def test_empty_attributes_are_an_empty_object() -> None:
    assert attributes_json({}) == "{}"


def test_values_json_cannot_hold_are_made_safe() -> None:
    text = attributes_json(
        {
            "nan": math.nan,
            "inf": math.inf,
            "raw": b"\x01\xab",
            7: "integer key",
            "huge": 2**70,
            "nul": "a\x00b",
        }
    )
    assert "\\u0000" not in text  # jsonb refuses it
    assert json.loads(text) == {
        "nan": None,
        "inf": None,
        "raw": "01ab",
        "7": "integer key",
        "huge": 2**70,
        "nul": "ab",
    }


def test_nested_values_are_kept() -> None:
    attributes = {"dtcs": ["P0300", "P0171"], "io": {"io200": 1}}
    assert json.loads(attributes_json(attributes)) == attributes
