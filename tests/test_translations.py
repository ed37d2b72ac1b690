"""The Greek catalogue is complete and every translation keeps its placeholders."""

import re
from pathlib import Path

import polib

CATALOGUE = Path(__file__).resolve().parent.parent / "config/locale/el/LC_MESSAGES/django.po"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]*\}")


def _entries():
    return [e for e in polib.pofile(str(CATALOGUE)) if not e.obsolete]


def test_every_message_has_a_greek_translation():
    missing = [e.msgid for e in _entries() if not (e.msgstr or any(e.msgstr_plural.values()))]
    fuzzy = [e.msgid for e in _entries() if "fuzzy" in e.flags]
    assert not missing, missing[:20]
    assert not fuzzy, fuzzy[:20]


def test_translations_keep_their_placeholders():
    wrong = []
    for entry in _entries():
        texts = [entry.msgstr] if not entry.msgid_plural else list(entry.msgstr_plural.values())
        for text in texts:
            if sorted(PLACEHOLDER.findall(entry.msgid)) != sorted(PLACEHOLDER.findall(text)):
                wrong.append((entry.msgid, text))
    assert not wrong, wrong[:10]


def test_compiled_catalogue_is_shipped():
    compiled = CATALOGUE.with_suffix(".mo")
    assert compiled.exists()
    assert compiled.stat().st_size > 10_000
