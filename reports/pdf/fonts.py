"""DejaVu Sans for reportlab and matplotlib.

Reportlab's built-in fonts have no Greek glyphs; DejaVu Sans covers Greek and ships inside
matplotlib, so no system font is needed and the PDFs embed the same font everywhere.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
FONT_ITALIC = "DejaVuSans-Oblique"

_lock = threading.Lock()


@cache
def fonts_dir() -> Path:
    import matplotlib  # noqa: PLC0415 - only to find its bundled fonts

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def register_fonts() -> None:
    """Register DejaVu Sans (regular, bold, oblique) with reportlab, once per process."""
    with _lock:
        if FONT_ITALIC in pdfmetrics.getRegisteredFontNames():
            return
        folder = fonts_dir()
        for name, filename in (
            (FONT, "DejaVuSans.ttf"),
            (FONT_BOLD, "DejaVuSans-Bold.ttf"),
            (FONT_ITALIC, "DejaVuSans-Oblique.ttf"),
        ):
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(folder / filename)))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC)


def string_width(text: str, size: float, bold: bool = False) -> float:
    register_fonts()
    return pdfmetrics.stringWidth(text, FONT_BOLD if bold else FONT, size)
