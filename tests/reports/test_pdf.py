"""The PDF drawing, read back with poppler: page numbers on every page, the header of a long
table repeated on each page it runs onto, Greek text in an embedded font, the logo, the map's
attribution, and columns wide enough for their longest figure."""

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

from matplotlib.figure import Figure
from pypdf import PdfReader

from reports.generators import fuel, movement
from reports.generators.document import (
    MONEY,
    NUMBER,
    Column,
    DocMeta,
    ReportDocument,
    RouteMap,
    TableData,
)
from reports.generators.fmt import Period
from reports.pdf import render as render_module
from reports.pdf.fonts import string_width
from reports.pdf.render import render

FEB = Period.month(2025, 2)
GREEK_PAGE = "Σελίδα %(page)s από %(pages)s"


def _fleet(n):
    return [
        fuel.FuelVehicleInput(
            vehicle_id=i,
            plate=f"ΧΝΑ-{1000 + i}",
            description="Mercedes-Benz Econic 2630",
            department=("Καθαριότητας", "Πρασίνου", "Ηλεκτροφωτισμού")[i % 3],
            fuel_type="Πετρέλαιο",
            uses_hours=False,
            norm=55.0,
            refuels=3,
            litres=Decimal("250.00") + i,
            amount=Decimal("412.50") + i,
            km_telematics=480.0 + i,
            consumption=52.1,
        )
        for i in range(n)
    ]


def _fuel_pdf(n, labels=None, logo=None, language="el"):
    data = fuel.FuelReportInput(
        municipality="Δήμος Χανίων",
        period=FEB,
        vehicles=_fleet(n),
        generated_at=datetime(2025, 3, 1, 4, 5, tzinfo=UTC),
        language=language,
        logo=logo,
    )
    doc = fuel.build(data)
    if labels:
        doc = ReportDocument(
            DocMeta(**{**doc.meta.__dict__, "labels": labels}), doc.blocks, doc.summary
        )
    return render(doc)


def test_every_page_is_numbered_out_of_the_total(pdf_text):
    pdf = _fuel_pdf(150, labels={"page": GREEK_PAGE})
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages > 3
    text = pdf_text(pdf)
    for page in range(1, pages + 1):
        assert f"Σελίδα {page} από {pages}" in text
    # The generation time in Athens (UTC+2 in March): 04:05 UTC is 06:05.
    assert "01/03/2025 06:05" in text


def test_long_table_repeats_its_header_and_loses_no_row(pdf_text):
    pdf = _fuel_pdf(150)
    per_page = pdf_text(pdf).split("\f")
    table_pages = [p for p in per_page if re.search(r"ΧΝΑ-1\d{3}", p)]
    assert len(table_pages) >= 3
    for page in table_pages:
        assert re.search(r"Plate\s+Vehicle\s+Refuels\s+Litres", page), page[:400]
    text = "\n".join(per_page)
    for i in range(150):
        assert len(re.findall(rf"ΧΝΑ-{1000 + i}\b", text)) == 1
    # Sum of 250 + i for i < 150: 150 * 250 + 149 * 150 / 2 = 48,675.
    assert re.search(r"Grand total\s+150 vehicles\s+450\s+48\.675,0\s+", text)


def test_greek_is_drawn_with_an_embedded_dejavu_font(pdf_text, pdf_fonts):
    pdf = _fuel_pdf(5)
    fonts = pdf_fonts(pdf)
    assert fonts and all("DejaVuSans" in name and embedded for name, embedded in fonts)
    text = pdf_text(pdf)
    assert "Δήμος Χανίων" in text and "Καθαριότητας" in text and "Πετρέλαιο" in text


def test_english_numbers_in_an_english_report(pdf_text):
    text = pdf_text(_fuel_pdf(4, language="en"))
    # Litres 250 + 251 + 252 + 253 = 1,006 ; cost 412.50 * 4 + 6 = 1,656.00
    assert re.search(r"Grand total\s+4 vehicles\s+12\s+1,006\.0\s+1,656\.00", text)


def _png(width=300, height=120) -> bytes:
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    fig.patch.set_facecolor("#17324d")
    fig.text(0.5, 0.5, "ΔΗΜΟΣ", color="white", ha="center", va="center", fontsize=30)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _image_count(pdf: bytes) -> int:
    reader = PdfReader(io.BytesIO(pdf))
    return sum(len(page.images) for page in reader.pages)


def test_logo_is_drawn_on_every_page_and_a_broken_logo_is_skipped():
    without = _image_count(_fuel_pdf(40))
    pdf = _fuel_pdf(40, logo=_png())
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert _image_count(pdf) == without + pages
    assert _image_count(_fuel_pdf(40, logo=b"not an image")) == without


def test_route_map_carries_the_openstreetmap_attribution(pdf_text):
    trip = movement.TripInput(
        start_time=datetime(2025, 2, 3, 6, tzinfo=UTC),
        end_time=datetime(2025, 2, 3, 6, 40, tzinfo=UTC),
        start_place="Χάληδων",
        end_place="Ακτή Τομπάζη",
        distance_m=5400,
        track=((24.018, 35.515), (24.025, 35.512), (24.03, 35.51)),
        start_lonlat=(24.018, 35.515),
        end_lonlat=(24.03, 35.51),
    )
    data = movement.MovementSheetInput(
        municipality="Δήμος Χανίων",
        period=Period.parse("2025-02-03"),
        plate="ΧΝΑ-1234",
        vehicle="Iveco Daily",
        department="Καθαριότητας",
        trips=[trip],
        streets=(((24.01, 35.51), (24.04, 35.51)), ((24.02, 35.50), (24.02, 35.52))),
        generated_at=datetime(2025, 3, 1, tzinfo=UTC),
    )
    doc = movement.build(data)
    assert any(isinstance(b, RouteMap) for b in doc.blocks)
    pdf = render(doc)
    text = pdf_text(pdf)
    assert "© OpenStreetMap contributors" in text
    assert "Χάληδων" in text and "Ακτή Τομπάζη" in text
    assert re.search(r"08:00\s+Χάληδων\s+08:40\s+Ακτή Τομπάζη\s+5,4", text)
    assert _image_count(pdf) == 1


def test_columns_are_widened_to_fit_their_longest_figure():
    table = TableData(
        "t",
        "t",
        (
            Column("name", "Name", width=6.0),
            Column("litres", "Litres", NUMBER, 1, width=0.3),
            Column("cost", "Cost", MONEY, width=0.3),
        ),
        (("A", Decimal("1500000.0"), Decimal("2475000.55")),),
    )
    doc = ReportDocument(
        DocMeta("Δήμος", "Τ", "Φεβρουάριος 2025", datetime(2025, 3, 1, tzinfo=UTC)), (table,)
    )
    r = render_module._Renderer(doc)
    cells = [["A", "1.500.000,0", "2.475.000,55"]]
    widths = r._widths(table, cells)
    size = r.styles.cell.fontSize
    assert widths[1] >= string_width("1.500.000,0", size, bold=True) + 2 * render_module.CELL_PAD
    assert widths[2] >= string_width("2.475.000,55", size, bold=True) + 2 * render_module.CELL_PAD
    assert abs(sum(widths) - r.width) < 0.01


def test_an_empty_report_is_a_valid_pdf(pdf_text):
    data = fuel.FuelReportInput(
        municipality="Δήμος Χανίων",
        period=FEB,
        vehicles=[],
        generated_at=datetime(2025, 3, 1, tzinfo=UTC),
    )
    pdf = render(fuel.build(data))
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 1
    text = pdf_text(pdf)
    assert "No refuels and no vehicle movement were recorded for February 2025" in text
    assert "There are no vehicles in this scope." in text


def test_documents_name_their_municipality_and_period():
    pdf = _fuel_pdf(2)
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info.author == "Δήμος Χανίων"
    assert "February 2025" in info.title
    assert date(2025, 2, 1).year == 2025
