"""The movement order PDF: one page, Greek text, its number (no database)."""

import io

from pypdf import PdfReader

from dispatch import pdf


def doc(**kw):
    values = {
        "municipality": "Δήμος Χανίων",
        "reference": "12/2025",
        "issued": "10/03/2025 09:12",
        "department": "Διεύθυνση Καθαριότητας",
        "vehicle": "ΚΗΥ-1234 Mercedes-Benz Econic",
        "driver": "Παπαδάκης Γιώργος",
        "purpose": "Μεταφορά υλικών στο ΚΑΠΗ",
        "destination": "Σούδα",
        "passengers": "2",
        "starts": "11/03/2025 08:00",
        "ends": "11/03/2025 12:00",
        "requested_by": "Νίκος Αλεξάκης",
        "approved_by": "Μαρία Κωνσταντάκη",
        "approved_on": "10/03/2025 11:00",
        "labels": {"title": "Εντολή κίνησης", "number": "Αρ."},
    }
    values.update(kw)
    return pdf.MovementOrderDoc(**values)


def text_of(body: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(body))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


def test_order_prints_on_one_page_with_number_and_greek_text():
    pages, text = text_of(pdf.render_movement_order(doc()))
    assert pages == 1
    for expected in ("Εντολή κίνησης", "Αρ. 12/2025", "Δήμος Χανίων", "ΚΗΥ-1234", "Σούδα"):
        assert expected in text


def test_a_very_long_purpose_still_fits_one_page():
    purpose = "Μεταφορά εξοπλισμού για την εκδήλωση του Δήμου. " * 120
    pages, text = text_of(pdf.render_movement_order(doc(purpose=purpose)))
    assert pages == 1
    assert "12/2025" in text


def test_markup_in_user_text_is_printed_not_interpreted():
    pages, text = text_of(pdf.render_movement_order(doc(destination="<b>Σούδα</b> & <i>Χανιά")))
    assert pages == 1
    assert "<b>Σούδα</b> & <i>Χανιά" in text


def test_the_font_is_embedded_dejavu():
    body = pdf.render_movement_order(doc())
    reader = PdfReader(io.BytesIO(body))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    names = {str(f.get_object()["/BaseFont"]) for f in fonts.values()}
    assert any("DejaVuSans" in n for n in names)
