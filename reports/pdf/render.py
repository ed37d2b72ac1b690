"""Draw a :class:`ReportDocument` as a PDF with reportlab.

Pure module (no Django). Every page carries the municipality's logo and name, the report's
title and period, the generation time and "Page n of N"; the total page count is known only
once the story has been laid out, so the pages are kept and decorated at the end
(:class:`_NumberedCanvas`). Tables repeat their header row on every page they run onto, and
their column widths are widened to fit the longest figure or heading word, so nothing is
clipped.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from reports.generators import fmt
from reports.generators.document import (
    BarChart,
    DocMeta,
    Facts,
    Heading,
    ReportDocument,
    RouteMap,
    Signatures,
    TableData,
    Text,
    TrendChart,
)
from reports.generators.document import PageBreak as PageBreakBlock
from reports.pdf import charts
from reports.pdf.fonts import FONT, FONT_BOLD, register_fonts, string_width

log = logging.getLogger("kinisi.reports")

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#5f6b7a")
LINE = colors.HexColor("#9aa5b1")
HEAD_BG = colors.HexColor("#dfe7f0")
GROUP_BG = colors.HexColor("#eef3f8")
ZEBRA = colors.HexColor("#f7f9fb")
EMPTY_BG = colors.HexColor("#fff6e0")

MARGIN = 12 * mm
HEADER_H = 20 * mm
FOOTER_H = 10 * mm
CELL_PAD = 2.5  # points, left and right

# English labels; the Django side passes translated ones in DocMeta.labels.
DEFAULT_LABELS: dict[str, str] = {
    "page": "Page %(page)s of %(pages)s",
    "generated": "Generated on %(when)s",
    "period": "Period",
    "software": "Kinisi",
    "signature_date": "Date",
}


class _Styles:
    def __init__(self, table_font: float) -> None:
        base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=11.5, textColor=INK)
        self.body = base
        self.note = ParagraphStyle("note", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED)
        self.title = ParagraphStyle(
            "title", parent=base, fontName=FONT_BOLD, fontSize=16, leading=20, spaceAfter=2
        )
        self.subtitle = ParagraphStyle("subtitle", parent=base, fontSize=10.5, leading=14)
        self.h1 = ParagraphStyle(
            "h1",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
        )
        self.h2 = ParagraphStyle(
            "h2", parent=self.h1, fontSize=9.5, leading=12, spaceBefore=6, spaceAfter=3
        )
        self.cell = ParagraphStyle(
            "cell", parent=base, fontSize=table_font, leading=table_font * 1.22
        )
        self.cell_bold = ParagraphStyle("cellb", parent=self.cell, fontName=FONT_BOLD)
        # Headings a little smaller than the figures: Greek column names are long.
        self.head = ParagraphStyle(
            "head",
            parent=self.cell_bold,
            alignment=TA_LEFT,
            fontSize=table_font - 0.5,
            leading=(table_font - 0.5) * 1.2,
        )
        self.head_num = ParagraphStyle("headn", parent=self.head, alignment=TA_RIGHT)
        self.empty = ParagraphStyle(
            "empty", parent=base, fontName=FONT_BOLD, fontSize=10, leading=13
        )
        self.sign = ParagraphStyle("sign", parent=base, alignment=TA_CENTER, fontName=FONT_BOLD)
        self.sign_line = ParagraphStyle("signl", parent=self.note, alignment=TA_CENTER)
        self.caption = ParagraphStyle("caption", parent=self.note, alignment=TA_RIGHT)


def _style(commands: list) -> TableStyle:
    # Empty cells are drawn too, in the table's default font (Helvetica) unless told otherwise:
    # every table starts in DejaVu so no other font gets into the PDF.
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), *commands])


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    # Paragraph reads a small XML dialect: user text must be escaped, line breaks kept.
    return Paragraph(escape(text or "").replace("\n", "<br/>"), style)


class _NumberedCanvas(canvas.Canvas):
    """Keeps every page until the end, then draws the header and footer with the page count."""

    decorate: Callable[[canvas.Canvas, int, int], None] = staticmethod(lambda c, n, total: None)

    def __init__(self, *args, **kwargs) -> None:
        # Reportlab starts every page in Helvetica; starting in DejaVu keeps every font used
        # embedded and Greek-capable.
        kwargs["initialFontName"] = kwargs.get("initialFontName") or FONT
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            type(self).decorate(self, number, total)
            super().showPage()
        super().save()


class _Renderer:
    def __init__(self, doc: ReportDocument) -> None:
        register_fonts()
        self.doc = doc
        self.meta: DocMeta = doc.meta
        self.labels = {**DEFAULT_LABELS, **self.meta.labels}
        self.pagesize = landscape(A4) if self.meta.landscape else A4
        self.width = self.pagesize[0] - 2 * MARGIN
        self.styles = _Styles(7.4 if self.meta.landscape else 8)
        self.logo = self._logo()

    def _logo(self) -> ImageReader | None:
        if not self.meta.logo:
            return None
        try:
            reader = ImageReader(io.BytesIO(self.meta.logo))
            reader.getSize()
            return reader
        except Exception as exc:  # noqa: BLE001 - a broken upload must not stop the report
            log.warning(
                "reports.logo_unreadable municipality=%s error=%s", self.meta.municipality, exc
            )
            return None

    # --- page decoration --------------------------------------------------------------------

    def decorate(self, c: canvas.Canvas, number: int, total: int) -> None:
        page_w, page_h = self.pagesize
        top = page_h - MARGIN
        c.saveState()
        x = MARGIN
        if self.logo is not None:
            iw, ih = self.logo.getSize()
            h = 13 * mm
            w = min(h * iw / ih, 35 * mm)
            h = w * ih / iw
            c.drawImage(self.logo, x, top - h, w, h, mask="auto")
            x += w + 3 * mm
        c.setFillColor(INK)
        c.setFont(FONT_BOLD, 10.5)
        c.drawString(x, top - 5 * mm, self.meta.municipality)
        c.setFont(FONT, 8)
        c.setFillColor(MUTED)
        if self.meta.subtitle:
            c.drawString(x, top - 9.5 * mm, self.meta.subtitle)
        right = page_w - MARGIN
        c.setFillColor(INK)
        c.setFont(FONT_BOLD, 9.5)
        title = self.meta.title + (f" · {self.meta.reference}" if self.meta.reference else "")
        c.drawRightString(right, top - 5 * mm, title)
        c.setFont(FONT, 8.5)
        c.drawRightString(
            right, top - 9.5 * mm, f"{self.labels['period']}: {self.meta.period_label}"
        )
        c.setStrokeColor(LINE)
        c.setLineWidth(0.6)
        c.line(MARGIN, top - HEADER_H + 4 * mm, right, top - HEADER_H + 4 * mm)
        # Footer
        y = MARGIN - 2 * mm
        c.line(MARGIN, y + 4.5 * mm, right, y + 4.5 * mm)
        c.setFont(FONT, 7.5)
        c.setFillColor(MUTED)
        when = fmt.moment(self.meta.generated_at, self.meta.timezone)
        c.drawString(MARGIN, y + 1.2 * mm, self.labels["generated"] % {"when": when})
        c.drawCentredString(page_w / 2, y + 1.2 * mm, self.labels["software"])
        c.setFillColor(INK)
        c.setFont(FONT_BOLD, 8)
        c.drawRightString(
            right, y + 1.2 * mm, self.labels["page"] % {"page": number, "pages": total}
        )
        c.restoreState()

    # --- blocks -------------------------------------------------------------------------------

    def story(self) -> list:
        s = self.styles
        out: list = [
            _p(self.meta.title, s.title),
            _p(
                " · ".join(
                    part
                    for part in (self.meta.subtitle, self.meta.period_label, self.meta.reference)
                    if part
                ),
                s.subtitle,
            ),
            Spacer(1, 4 * mm),
        ]
        blocks = list(self.doc.blocks)
        i = 0
        while i < len(blocks):
            block = blocks[i]
            # Two fact boxes in a row sit side by side.
            if (
                isinstance(block, Facts)
                and i + 1 < len(blocks)
                and isinstance(blocks[i + 1], Facts)
            ):
                out.append(self._facts_pair(block, blocks[i + 1]))
                i += 2
                continue
            out += self._block(block)
            i += 1
        return out

    def _block(self, block) -> list:
        s = self.styles
        if isinstance(block, Heading):
            # A heading never ends a page: at least a few table rows must fit under it. (Not
            # keepWithNext: that glues the heading to the whole of a long table and moves both.)
            return [CondPageBreak(30 * mm), _p(block.text, s.h1 if block.level == 1 else s.h2)]
        if isinstance(block, Text):
            if block.style == "empty":
                box = Table([[_p(block.text, s.empty)]], colWidths=[self.width])
                box.setStyle(
                    _style(
                        [
                            ("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor("#d9a441")),
                            ("BACKGROUND", (0, 0), (-1, -1), EMPTY_BG),
                            ("TOPPADDING", (0, 0), (-1, -1), 6),
                            ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                            ("LEFTPADDING", (0, 0), (-1, -1), 8),
                        ]
                    )
                )
                return [Spacer(1, 2 * mm), box, Spacer(1, 2 * mm)]
            return [_p(block.text, s.note if block.style == "note" else s.body)]
        if isinstance(block, Facts):
            return [self._facts(block, self.width * (0.55 if self.meta.landscape else 1.0))]
        if isinstance(block, TableData):
            return self._table(block)
        if isinstance(block, BarChart):
            w, h = self.width, (62 if self.meta.landscape else 70) * mm
            png = charts.bar_chart(
                block, width_in=w / 72, height_in=h / 72, language=self.meta.language
            )
            return [CondPageBreak(h + 6 * mm), Spacer(1, 3 * mm), Image(io.BytesIO(png), w, h)]
        if isinstance(block, TrendChart):
            w, h = self.width, (58 if self.meta.landscape else 65) * mm
            png = charts.trend_chart(
                block, width_in=w / 72, height_in=h / 72, language=self.meta.language
            )
            return [CondPageBreak(h + 6 * mm), Spacer(1, 3 * mm), Image(io.BytesIO(png), w, h)]
        if isinstance(block, RouteMap):
            w = self.width
            # Low enough that a day's sheet with a few trips keeps its signatures on page one.
            h = w * (0.44 if not self.meta.landscape else 0.42)
            png = charts.route_map(
                block, width_in=w / 72, height_in=h / 72, language=self.meta.language
            )
            # The attribution is in the picture and, so it can be found and copied, under it.
            parts = [
                _p(block.title, s.h2),
                Image(io.BytesIO(png), w, h),
                _p(block.attribution, s.caption),
            ]
            return [CondPageBreak(h + 12 * mm), KeepTogether(parts)]
        if isinstance(block, Signatures):
            return [self._signatures(block)]
        if isinstance(block, PageBreakBlock):
            return [PageBreak()]
        raise TypeError(f"unknown block {type(block).__name__}")

    def _facts(self, facts: Facts, width: float) -> Table:
        s = self.styles
        rows = []
        style = [
            ("GRID", (0, 0), (-1, -1), 0.4, LINE),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ]
        if facts.title:
            rows.append([_p(facts.title, s.cell_bold), ""])
            style += [("SPAN", (0, 0), (-1, 0)), ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG)]
        start = len(rows)
        for label, value in facts.rows:
            rows.append([_p(label, s.cell), _p(value, s.cell_bold)])
        style.append(("BACKGROUND", (0, start), (0, -1), GROUP_BG))
        table = Table(rows, colWidths=[width * 0.45, width * 0.55], hAlign="LEFT")
        table.setStyle(_style(style))
        return table

    def _facts_pair(self, left: Facts, right: Facts) -> Table:
        gap = 6 * mm
        half = (self.width - gap) / 2
        pair = Table(
            [[self._facts(left, half), "", self._facts(right, half)]],
            colWidths=[half, gap, half],
            hAlign="LEFT",
        )
        pair.setStyle(
            _style(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ]
            )
        )
        return pair

    def _widths(
        self, table: TableData, cells: list[list[str]], word_rows: list[list[str]] | None = None
    ) -> list[float]:
        """Share the width by the columns' weights, then widen any column whose longest figure
        or longest heading word would not fit, taking the room from the text columns (which
        wrap)."""
        size = self.styles.cell.fontSize
        weights = [c.width for c in table.columns]
        scale = self.width / sum(weights)
        widths = [w * scale for w in weights]
        head_size = self.styles.head.fontSize
        # Rows whose words must not be cut; subtotals and totals may wrap their long labels.
        word_rows = cells if word_rows is None else word_rows
        need = []
        for j, column in enumerate(table.columns):
            words = column.label.split() or [""]
            longest = max(string_width(w, head_size, bold=True) for w in words)
            values = [row[j] for row in cells if j < len(row)]
            words_of = [row[j] for row in word_rows if j < len(row)]
            if column.numeric or column.kind != "text":
                longest = max([longest] + [string_width(v, size, bold=True) for v in values])
            else:
                # Text wraps at spaces only: its longest word must fit, or it is cut mid-word.
                # A quarter of the table at most, so one odd value cannot squeeze the rest.
                word = max(
                    (string_width(w, size, bold=True) for v in words_of for w in v.split()),
                    default=0.0,
                )
                longest = max(longest, min(word, self.width / 4))
            need.append(longest + 2 * CELL_PAD + 1)
        extra = sum(max(0.0, n - w) for n, w in zip(need, widths, strict=True))
        if extra <= 0:
            return widths
        flexible = [
            j for j, c in enumerate(table.columns) if c.kind == "text" and widths[j] > need[j]
        ]
        spare = sum(widths[j] - need[j] for j in flexible)
        take = min(extra, spare)
        for j in flexible:
            widths[j] -= take * (widths[j] - need[j]) / spare if spare else 0
        for j in range(len(widths)):
            widths[j] = max(widths[j], need[j])
        total = sum(widths)
        if total > self.width:
            # Still too wide: shrink everything proportionally; better small than cut.
            widths = [w * self.width / total for w in widths]
        return widths

    @staticmethod
    def _visible(table: TableData) -> TableData:
        keep = [j for j, c in enumerate(table.columns) if c.in_pdf]
        if len(keep) == len(table.columns):
            return table

        def cut(row):
            return tuple(row[j] for j in keep)

        return dataclasses.replace(
            table,
            columns=cut(table.columns),
            rows=tuple(
                row if i in table.group_rows else cut(row) for i, row in enumerate(table.rows)
            ),
            totals=cut(table.totals) if table.totals is not None else None,
        )

    def _table(self, table: TableData) -> list:
        s = self.styles
        table = self._visible(table)
        language, tz = self.meta.language, self.meta.timezone
        if not table.rows:
            return [_p(table.empty_text or "—", s.note), Spacer(1, 2 * mm)]
        text_rows: list[list[str]] = []
        for i, row in enumerate(table.rows):
            if i in table.group_rows:
                text_rows.append([str(row[0])])
                continue
            text_rows.append(
                [fmt.cell(v, c, language, tz) for v, c in zip(row, table.columns, strict=True)]
            )
        totals = (
            [fmt.cell(v, c, language, tz) for v, c in zip(table.totals, table.columns, strict=True)]
            if table.totals is not None
            else None
        )
        plain = [
            row
            for i, row in enumerate(text_rows)
            if i not in table.subtotal_rows | table.group_rows
        ]
        widths = self._widths(table, text_rows + ([totals] if totals else []), plain)
        header = [_p(c.label, s.head_num if c.numeric else s.head) for c in table.columns]
        data: list[list] = [header]
        style: list[tuple] = [
            ("FONTNAME", (0, 0), (-1, -1), FONT),
            ("FONTSIZE", (0, 0), (-1, -1), s.cell.fontSize),
            ("LEADING", (0, 0), (-1, -1), s.cell.leading),
            ("TEXTCOLOR", (0, 0), (-1, -1), INK),
            ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("VALIGN", (0, 0), (-1, 0), "BOTTOM"),
            ("TOPPADDING", (0, 0), (-1, -1), 1.6),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.8),
            ("LEFTPADDING", (0, 0), (-1, -1), CELL_PAD),
            ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PAD),
            ("BOX", (0, 0), (-1, -1), 0.5, LINE),
        ]
        for j, column in enumerate(table.columns):
            if column.numeric:
                style.append(("ALIGN", (j, 1), (j, -1), "RIGHT"))
        zebra = 0
        for i, row in enumerate(text_rows):
            r = len(data)
            if i in table.group_rows:
                data.append([_p(row[0], s.cell_bold)] + [""] * (len(table.columns) - 1))
                style += [
                    ("SPAN", (0, r), (-1, r)),
                    ("BACKGROUND", (0, r), (-1, r), GROUP_BG),
                    ("LINEABOVE", (0, r), (-1, r), 0.5, LINE),
                ]
                zebra = 0
                continue
            cells = [
                _p(text, s.cell_bold if i in table.subtotal_rows else s.cell)
                if not column.numeric
                else text
                for text, column in zip(row, table.columns, strict=True)
            ]
            data.append(cells)
            if i in table.subtotal_rows:
                style += [
                    ("FONTNAME", (0, r), (-1, r), FONT_BOLD),
                    ("LINEABOVE", (0, r), (-1, r), 0.5, LINE),
                ]
            else:
                zebra += 1
                if zebra % 2 == 0:
                    style.append(("BACKGROUND", (0, r), (-1, r), ZEBRA))
        if totals is not None:
            r = len(data)
            data.append(
                [
                    _p(text, s.cell_bold) if not column.numeric else text
                    for text, column in zip(totals, table.columns, strict=True)
                ]
            )
            style += [
                ("FONTNAME", (0, r), (-1, r), FONT_BOLD),
                ("LINEABOVE", (0, r), (-1, r), 0.9, INK),
                ("BACKGROUND", (0, r), (-1, r), HEAD_BG),
            ]
        flow = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT", splitByRow=1)
        flow.setStyle(_style(style))
        return [flow, Spacer(1, 3 * mm)]

    def _signatures(self, block: Signatures) -> KeepTogether:
        s = self.styles
        n = len(block.roles)
        width = self.width / max(n, 1)
        rows = [
            [_p(role, s.sign) for role in block.roles],
            [Spacer(1, 14 * mm) for _ in block.roles],
            [_p("." * 45, s.sign_line) for _ in block.roles],
        ]
        table = Table(rows, colWidths=[width] * n)
        table.setStyle(
            _style(
                [
                    ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        parts: list = [Spacer(1, 5 * mm)]
        if block.place_date:
            parts.append(_p(block.place_date, s.body))
            parts.append(Spacer(1, 3 * mm))
        parts.append(table)
        return KeepTogether(parts)


def render(doc: ReportDocument) -> bytes:
    """The document as PDF bytes."""
    r = _Renderer(doc)
    buffer = io.BytesIO()
    page_w, page_h = r.pagesize
    frame = Frame(
        MARGIN,
        MARGIN + FOOTER_H - 4 * mm,
        r.width,
        page_h - 2 * MARGIN - HEADER_H - FOOTER_H + 4 * mm,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="body",
    )
    template = BaseDocTemplate(
        buffer,
        pagesize=r.pagesize,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + HEADER_H,
        bottomMargin=MARGIN + FOOTER_H,
        title=f"{doc.meta.title} · {doc.meta.period_label}",
        author=doc.meta.municipality,
        subject=doc.meta.subtitle,
        creator="Kinisi",
        pageCompression=1,
    )
    template.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    canvas_class = type("_Canvas", (_NumberedCanvas,), {"decorate": staticmethod(r.decorate)})
    template.build(r.story(), canvasmaker=canvas_class)
    return buffer.getvalue()
