"""Greek registration plates.

Greek plates use only the 14 capital letters that look the same in the Greek and Latin alphabets
(Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ), so `KHY1234` typed on a Latin keyboard, `ΚΗΥ-1234` and `khy 1234`
are one plate. The normal form is Greek capitals, a hyphen, the digits: ``ΚΗΥ-1234``. Machinery
carries a separate ΜΕ plate (``ΜΕ-123456``), which follows the same rule.
"""

import re

# Latin look-alike -> Greek capital. Lower case is folded before the lookup.
_LATIN_TO_GREEK = str.maketrans("ABEZHIKMNOPTYX", "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")
_GREEK_LOWER_TO_UPPER = str.maketrans("αβεζηικμνορτυχάέήίόύ", "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧΑΕΗΙΟΥ")
_ALLOWED_LETTERS = frozenset("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")
_SEPARATORS = re.compile(r"[\s\-‐‑–—_.·]+")
_SHAPE = re.compile(r"^(?P<letters>[^\d]{1,3})(?P<digits>\d{1,6})$")


class InvalidPlate(ValueError):
    """The text is not a Greek plate; the message says why (in English, for logs)."""


def normalize_plate(text: str) -> str:
    """Return the normal form of a plate, or raise InvalidPlate."""
    if not text or not text.strip():
        raise InvalidPlate("empty plate")
    compact = _SEPARATORS.sub("", text.strip())
    compact = compact.upper().translate(_LATIN_TO_GREEK).translate(_GREEK_LOWER_TO_UPPER)
    # str.upper() maps accented Greek to accented capitals; strip the tonos.
    compact = compact.translate(str.maketrans("ΆΈΉΊΌΎ", "ΑΕΗΙΟΥ"))
    match = _SHAPE.match(compact)
    if not match:
        raise InvalidPlate(f"not letters followed by digits: {text!r}")
    letters = match["letters"]
    bad = sorted({ch for ch in letters if ch not in _ALLOWED_LETTERS})
    if bad:
        raise InvalidPlate(f"letters not used on Greek plates: {''.join(bad)}")
    return f"{letters}-{match['digits']}"


def plate_search_key(text: str) -> str:
    """A best-effort key for searching: the normal form if valid, else folded text."""
    try:
        return normalize_plate(text)
    except InvalidPlate:
        folded = _SEPARATORS.sub("", text.strip()).upper().translate(_LATIN_TO_GREEK)
        return folded.translate(_GREEK_LOWER_TO_UPPER)
