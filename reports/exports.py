"""CSV and XLSX of a report's tables, from the figures stored with its run.

The tables are the ones the PDF was drawn from (``ReportRun.data``), so an export always shows
the same figures as the PDF of the same run. Decimals are stored as exact strings; they become
numbers in XLSX and stay as written (point decimals) in CSV, for spreadsheets and scripts alike.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

NUMERIC = {"number", "money", "percent"}
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


class UnknownTable(KeyError):
    pass


def _tables(data: dict[str, Any], key: str = "") -> list[dict[str, Any]]:
    tables = list(data.get("tables") or [])
    if key:
        tables = [t for t in tables if t["key"] == key]
        if not tables:
            raise UnknownTable(key)
    return tables


def _rows(table: dict[str, Any]) -> list[list[Any]]:
    keys = [c["key"] for c in table["columns"]]
    rows = [[row.get(k) for k in keys] for row in table["rows"]]
    if table.get("totals"):
        rows.append([table["totals"].get(k) for k in keys])
    return rows


def to_csv(data: dict[str, Any], table: str = "") -> bytes:
    """One table (the first if none is named) as UTF-8 CSV with a BOM, so spreadsheet programs
    read the Greek correctly."""
    chosen = _tables(data, table)[:1]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for t in chosen:
        writer.writerow([c["label"] for c in t["columns"]])
        for row in _rows(t):
            writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind in NUMERIC and isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return value
    if kind in ("datetime", "time") and isinstance(value, str):
        try:
            # Excel has no time zones: the local time the PDF shows is what the reader expects.
            return datetime.fromisoformat(value).replace(tzinfo=None)
        except ValueError:
            return value
    return value


def _format(kind: str, decimals: int) -> str:
    if kind == "money":
        return "#,##0.00"
    if kind == "percent":
        return "+0.0;-0.0;0.0"
    if kind == "number":
        return "#,##0" + ("." + "0" * decimals if decimals else "")
    if kind == "date":
        return "dd/mm/yyyy"
    if kind == "datetime":
        return "dd/mm/yyyy hh:mm"
    if kind == "time":
        return "hh:mm"
    return "General"


def to_xlsx(data: dict[str, Any], table: str = "", *, title: str = "", tz: str = "") -> bytes:
    """Every table (or the one named) on its own sheet, with numbers as numbers."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz) if tz else None
    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DFE7F0")
    used: set[str] = set()
    for t in _tables(data, table):
        name = _SHEET_BAD.sub(" ", t.get("title") or t["key"])[:31].strip() or t["key"][:31]
        base, n = name, 2
        while name in used:
            suffix = f" ({n})"
            name = base[: 31 - len(suffix)] + suffix
            n += 1
        used.add(name)
        sheet = book.create_sheet(name)
        columns = t["columns"]
        sheet.append([c["label"] for c in columns])
        for cell in sheet[1]:
            cell.font = bold
            cell.fill = head_fill
        rows = _rows(t)
        for row in rows:
            values = []
            for value, column in zip(row, columns, strict=True):
                v = _xlsx_value(value, column["kind"])
                if isinstance(v, datetime) and zone is not None and isinstance(value, str):
                    aware = datetime.fromisoformat(value)
                    if aware.tzinfo is not None:
                        v = aware.astimezone(zone).replace(tzinfo=None)
                values.append(v)
            sheet.append(values)
        if t.get("totals"):
            for cell in sheet[sheet.max_row]:
                cell.font = bold
        for j, column in enumerate(columns, start=1):
            letter = get_column_letter(j)
            number_format = _format(column["kind"], column.get("decimals", 0))
            for cell in sheet[letter][1:]:
                cell.number_format = number_format
            width = max([len(str(column["label"]))] + [len(str(r[j - 1] or "")) for r in rows])
            sheet.column_dimensions[letter].width = min(max(8, width + 2), 60)
        sheet.freeze_panes = "A2"
    if not book.sheetnames:
        book.create_sheet(title[:31] or "Report")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
