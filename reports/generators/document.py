"""What a report is made of, independent of how it is drawn.

Pure module (no Django, no reportlab). A generator turns plain inputs into a
:class:`ReportDocument`: a header (:class:`DocMeta`) and a list of blocks (headings, facts,
tables, charts, a route map, signature lines). The PDF renderer draws the blocks; the CSV and
XLSX exports and the API write the same :class:`TableData`, so every output of one run shows
the same figures.

Values in tables stay raw (``Decimal``, ``float``, ``int``, ``date``, ``str``, ``None``);
formatting for the reader's language happens only when drawing (:mod:`reports.generators.fmt`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

Translate = Callable[[str], str]

# Column kinds: how a value is formatted and aligned.
TEXT = "text"
NUMBER = "number"  # with ``decimals``
MONEY = "money"  # euros, two decimals
PERCENT = "percent"  # signed, one decimal
DATE = "date"
TIME = "time"
DATETIME = "datetime"

Value = str | int | float | Decimal | date | datetime | None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = TEXT
    decimals: int = 0
    width: float = 1.0  # relative share of the table width
    in_pdf: bool = True  # False: exported (CSV, XLSX, API) but not drawn
    in_export: bool = True  # False: drawn only (a PDF column combining exported ones)

    @property
    def numeric(self) -> bool:
        return self.kind in (NUMBER, MONEY, PERCENT)


@dataclass(frozen=True)
class TableData:
    key: str  # stable name, used for export file names and the API
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Value, ...], ...]
    totals: tuple[Value, ...] | None = None
    # Rows drawn as a group heading (a department's name across the table) or a subtotal.
    group_rows: frozenset[int] = frozenset()
    subtotal_rows: frozenset[int] = frozenset()
    empty_text: str = ""

    def __post_init__(self) -> None:
        width = len(self.columns)
        for i, row in enumerate(self.rows):
            if i not in self.group_rows and len(row) != width:
                raise ValueError(f"table {self.key}: row {i} has {len(row)} cells, not {width}")
        if self.totals is not None and len(self.totals) != width:
            raise ValueError(f"table {self.key}: totals have {len(self.totals)} cells")

    def data_rows(self) -> list[tuple[Value, ...]]:
        """The rows without group headings and subtotals (for exports and checks)."""
        skip = self.group_rows | self.subtotal_rows
        return [row for i, row in enumerate(self.rows) if i not in skip]

    def as_json(self) -> dict[str, Any]:
        keep = [(j, c) for j, c in enumerate(self.columns) if c.in_export]
        return {
            "key": self.key,
            "title": self.title,
            "columns": [
                {"key": c.key, "label": c.label, "kind": c.kind, "decimals": c.decimals}
                for _j, c in keep
            ],
            "rows": [{c.key: json_value(row[j]) for j, c in keep} for row in self.data_rows()],
            "totals": None
            if self.totals is None
            else {c.key: json_value(self.totals[j]) for j, c in keep},
        }


def json_value(value: Value) -> Any:
    """Decimals as strings (exact), dates as ISO text; everything else as is."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# --- Blocks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1


@dataclass(frozen=True)
class Text:
    text: str
    style: str = "body"  # "body", "note" (small, grey) or "empty" (a clear "nothing here" box)


@dataclass(frozen=True)
class Facts:
    """Label/value pairs in a two-column box (a summary, a contract, a vehicle)."""

    rows: tuple[tuple[str, str], ...]
    title: str = ""


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class BarChart:
    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str = ""


@dataclass(frozen=True)
class TrendChart:
    """A value per month (bars) and optionally a second one on its own axis (line)."""

    title: str
    months: tuple[str, ...]
    bars: Series
    line: Series | None = None
    bar_unit: str = ""
    line_unit: str = ""


@dataclass(frozen=True)
class MapMarker:
    lon: float
    lat: float
    label: str
    kind: str = "stop"  # "start", "end" or "stop"


@dataclass(frozen=True)
class RouteMap:
    """Streets (grey) and the vehicle's tracks (coloured), in lon/lat."""

    title: str
    streets: tuple[Sequence[tuple[float, float]], ...]
    tracks: tuple[Sequence[tuple[float, float]], ...]
    markers: tuple[MapMarker, ...] = ()
    attribution: str = "© OpenStreetMap contributors"
    empty_text: str = ""


@dataclass(frozen=True)
class Signatures:
    roles: tuple[str, ...]
    place_date: str = ""  # "Χανιά, ..../..../2025"


@dataclass(frozen=True)
class PageBreak:
    pass


Block = (
    Heading | Text | Facts | TableData | BarChart | TrendChart | RouteMap | Signatures | PageBreak
)


@dataclass(frozen=True)
class DocMeta:
    municipality: str
    title: str
    period_label: str
    generated_at: datetime  # aware; shown in ``timezone``
    language: str = "el"  # decides the number format
    timezone: str = "Europe/Athens"
    subtitle: str = ""  # the scope: a department, a vehicle
    reference: str = ""  # a sheet number, "Αρ. 12/2025"
    logo: bytes | None = None  # PNG or JPEG
    landscape: bool = False
    # Labels in the reader's language; the renderer has English defaults.
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportDocument:
    meta: DocMeta
    blocks: tuple[Block, ...]
    # Headline figures for the run's summary (API, e-mail); JSON-ready.
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def tables(self) -> list[TableData]:
        return [b for b in self.blocks if isinstance(b, TableData)]

    def table(self, key: str) -> TableData:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(key)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.meta.title,
            "period": self.meta.period_label,
            "scope": self.meta.subtitle,
            "reference": self.meta.reference,
            "summary": self.summary,
            "tables": [t.as_json() for t in self.tables],
        }


def identity(text: str) -> str:
    return text


def gettext_noop(text: str) -> str:
    """Marks a constant for translation (``makemessages`` extracts this name) without Django;
    the text is translated where it is used, through the ``tr`` a generator is given."""
    return text
