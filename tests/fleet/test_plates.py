import pytest

from fleet.plates import InvalidPlate, normalize_plate


@pytest.mark.parametrize(
    "text",
    ["KHY1234", "ΚΗΥ-1234", "khy 1234", "κηυ1234", "K H Y - 1234", "ΚΗΥ 1234", "kHy–1234"],
)
def test_spellings_of_one_plate_have_one_normal_form(text):
    assert normalize_plate(text) == "ΚΗΥ-1234"


def test_normal_form_uses_greek_letters():
    plate = normalize_plate("ABE123")
    assert plate == "\u0391\u0392\u0395-123"
    assert all(ord(ch) > 0x370 for ch in plate.split("-")[0])


def test_machinery_plate():
    assert normalize_plate("me 123456") == "ΜΕ-123456"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ΛΑΜ-1234",
        "QWE1234",
        "DDD-1234",
        "1234",
        "ΚΗΥ",
        "ΚΗΥΑ-1234",
        "ΚΗΥ-1234567",
        "ΚΗ1Υ-234",
        "ΚΗΥ-12Α4",
    ],
)
def test_not_a_greek_plate(text):
    with pytest.raises(InvalidPlate):
        normalize_plate(text)
