"""Reading fuel-card statements (CSV or XLSX) into checked rows. Pure: no Django.

Greek statements come in every shape: Windows-1253 or UTF-8, ``;`` or ``,`` between fields,
decimal commas and thousands dots (``1.234,56``), dates as dd/mm/yyyy, title lines above the
header, totals below it. The user maps the provider's column headers to our fields once; from
then on each row either becomes a :class:`ParsedRow` or a :class:`RowError` with its line number
and the reason. Nothing here raises for a bad row; only a file that cannot be read at all (or
lacks a mapped column) raises :class:`ImportFileError`.

Files are streamed (CSV through an incremental decoder, XLSX through openpyxl's read-only mode),
so a 50,000-row statement never sits in memory as a whole.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import IO, Any
from zoneinfo import ZoneInfo

from fleet.plates import InvalidPlate, normalize_plate

__all__ = [
    "FIELDS",
    "ColumnMapping",
    "ImportFileError",
    "ImportOptions",
    "ParsedRow",
    "RowError",
    "Table",
    "VehicleDirectory",
    "detect_encoding",
    "normalize_card",
    "normalize_header",
    "open_table",
    "parse_datetime",
    "parse_number",
    "parse_rows",
]

# Our fields, in the order the mapping form shows them.
FIELDS = (
    "transaction_id",
    "date",
    "time",
    "plate",
    "card_number",
    "tracker",
    "litres",
    "unit_price",
    "amount",
    "station",
    "odometer",
    "product",
    "driver",
)
REQUIRED_FIELDS = ("date", "litres")
VEHICLE_KEYS = ("plate", "card_number", "tracker")
MAX_LITRES = Decimal("5000")  # more than any road tanker's own tank: a misread number
CHUNK = 1 << 20


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unreadable, or a mapped column is missing)."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class ImportOptions:
    date_order: str = "dmy"  # "dmy" (Greek), "mdy" or "ymd"; four-digit-first dates are ymd
    decimal: str = "auto"  # "auto", "," or "."
    encoding: str = "auto"
    delimiter: str = "auto"
    timezone: str = "Europe/Athens"  # statements print local times
    sheet: str = ""  # XLSX sheet; the first one when empty


@dataclass(frozen=True)
class ColumnMapping:
    """Our field -> the provider's header text (compared case- and accent-insensitively)."""

    columns: dict[str, str]

    def missing_required(self) -> list[str]:
        missing = [f for f in REQUIRED_FIELDS if not self.columns.get(f)]
        if not any(self.columns.get(k) for k in VEHICLE_KEYS):
            missing.append("plate|card_number|tracker")
        return missing


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    code: str
    message: str  # English, for logs; pages translate ``code`` with ``params``
    field: str = ""
    value: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "code": self.code,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ParsedRow:
    line: int
    occurred_at: datetime  # aware, UTC
    litres: Decimal
    vehicle_id: int
    matched_by: str  # "plate", "card_number" or "tracker"
    unit_price: Decimal | None = None
    amount: Decimal | None = None
    card_number: str = ""
    plate: str = ""
    tracker: str = ""
    station: str = ""
    odometer: Decimal | None = None
    transaction_id: str = ""
    product: str = ""
    driver: str = ""
    dedupe_key: str = ""


# --- Text and numbers -----------------------------------------------------------------------------


def normalize_header(text: Any) -> str:
    """Header text compared without case, accents or extra spaces (``Λίτρα`` == ``ΛΙΤΡΑ``)."""
    if text is None:
        return ""
    decomposed = unicodedata.normalize("NFD", str(text))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(stripped.casefold().split())


def normalize_card(text: Any) -> str:
    return re.sub(r"[^0-9A-Za-z*]", "", str(text or "")).upper()


# Statements often print a card half hidden: "7077 **** **** 1234", "7077XXXXXXXX1234", "••••1234".
_MASK = re.compile(r"[*•●#]+|(?<=\d)[xX]{2,}(?=\d)|^[xX]{2,}(?=\d)")
MASKED_SUFFIX_MIN = 4  # fewer visible trailing digits than this would match too many cards


def masked_card_parts(text: Any) -> tuple[str, str] | None:
    """The visible head and tail of a masked card number, or None when nothing is masked."""
    raw = str(text or "")
    if not _MASK.search(raw):
        return None
    head, _, tail = _MASK.sub("*", raw).partition("*")
    tail = tail.rsplit("*", 1)[-1]
    return normalize_card(head), normalize_card(tail)


_NUMBER_JUNK = re.compile(r"(?i)[\s\u00a0\u202f'€$£]|eur|ltr?s?\.?$|λιτ\.?$|l$")
_PLAIN = re.compile(r"^\d+(\.\d+)?$")
_GROUPED_DOT = re.compile(r"^\d{1,3}(\.\d{3})+$")
_GROUPED_COMMA = re.compile(r"^\d{1,3}(,\d{3})+$")


class BadNumber(ValueError):
    pass


def parse_number(value: Any, decimal: str = "auto") -> Decimal:
    """A Decimal from ``12,5``, ``1.234,56``, ``1,234.56``, ``1 234``, ``-3``, ``(3,00)``, ``€ 5``.

    ``decimal`` is the file's decimal separator; ``auto`` decides per value and treats a lone
    comma as decimal (Greek usage). A value that only makes sense with the other separator is
    refused rather than silently read ten or a thousand times too big.
    """
    if isinstance(value, bool):
        raise BadNumber("not a number")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value).strip()
    if not text:
        raise BadNumber("empty")
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    text = text.replace("\u2212", "-")
    if text.startswith("-"):
        negative, text = True, text[1:]
    elif text.endswith("-"):
        negative, text = True, text[:-1]
    text = _NUMBER_JUNK.sub("", text).lstrip("+")
    if text.startswith("-"):
        negative, text = True, text[1:]
    if not text:
        raise BadNumber("empty")
    has_dot, has_comma = "." in text, "," in text
    if decimal == "auto":
        if has_dot and has_comma:
            decimal = "," if text.rfind(",") > text.rfind(".") else "."
        elif has_comma:
            decimal = ","
        elif has_dot and _GROUPED_DOT.match(text) and text.count(".") > 1:
            decimal = ","  # 1.234.567: only thousands dots
        else:
            decimal = "."
    if decimal == ",":
        whole, _, frac = text.partition(",")
        if "," in frac or "." in frac:
            raise BadNumber("two decimal separators")
        if "." in whole and not _GROUPED_DOT.match(whole):
            raise BadNumber("a dot where the file uses a decimal comma")
        whole = whole.replace(".", "")
    else:
        whole, _, frac = text.partition(".")
        if "." in frac or "," in frac:
            raise BadNumber("two decimal separators")
        if "," in whole and not _GROUPED_COMMA.match(whole):
            raise BadNumber("a comma where the file uses a decimal point")
        whole = whole.replace(",", "")
    plain = f"{whole}.{frac}" if frac else whole
    if not _PLAIN.match(plain):
        raise BadNumber("not a number")
    try:
        number = Decimal(plain)
    except InvalidOperation as exc:  # pragma: no cover - the pattern above already checks
        raise BadNumber("not a number") from exc
    return -number if negative else number


def detect_decimal(values: Iterable[Any]) -> str:
    """The decimal separator a sample of number cells shows unambiguously (``,`` when unsure)."""
    comma = dot = 0
    for value in values:
        if not isinstance(value, str):
            continue
        text = _NUMBER_JUNK.sub("", value.strip()).strip("-()")
        if "," in text and "." in text:
            if text.rfind(",") > text.rfind("."):
                comma += 1
            else:
                dot += 1
        elif re.search(r",\d{1,2}$|,\d{4,}$", text):
            comma += 1
        elif re.search(r"\.\d{1,2}$|\.\d{4,}$", text):
            dot += 1
    return "." if dot > comma else ","


_DATE = re.compile(
    r"^(?P<a>\d{1,4})[./\-](?P<b>\d{1,2})[./\-](?P<c>\d{1,4})"
    r"(?:[ T]+(?P<h>\d{1,2})[:.](?P<m>\d{2})(?:[:.](?P<s>\d{2}))?(?:\.\d+)?)?$"
)
_TIME = re.compile(r"^(?P<h>\d{1,2})[:.](?P<m>\d{2})(?:[:.](?P<s>\d{2}))?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)


class BadDate(ValueError):
    pass


def _as_date(value: Any, order: str) -> tuple[date, time | None]:
    if isinstance(value, datetime):
        return value.date(), (value.time() if value.time() != time(0) else None)
    if isinstance(value, date):
        return value, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # An XLSX date cell without a date format arrives as Excel's serial day number.
        if not 20000 < value < 80000:
            raise BadDate("not a date")
        moment = _EXCEL_EPOCH + timedelta(days=float(value))
        return moment.date(), (moment.time() if moment.time() != time(0) else None)
    text = str(value).strip()
    match = _DATE.match(text)
    if not match:
        raise BadDate("not a date")
    a, b, c = match["a"], int(match["b"]), match["c"]
    if len(a) == 4:
        year, month, day = int(a), b, int(c)
    elif order == "mdy":
        month, day, year = int(a), b, int(c)
    elif order == "ymd":
        year, month, day = int(a), b, int(c)
    else:
        day, month, year = int(a), b, int(c)
    if year < 100:
        year += 2000
    try:
        result = date(year, month, day)
    except ValueError as exc:
        raise BadDate("no such day") from exc
    clock = None
    if match["h"] is not None:
        clock = _clock(int(match["h"]), int(match["m"]), int(match["s"] or 0))
    return result, clock


def _clock(h: int, m: int, s: int) -> time:
    try:
        return time(h, m, s)
    except ValueError as exc:
        raise BadDate("no such time") from exc


def _as_time(value: Any) -> time | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    if isinstance(value, timedelta):
        return (datetime.min + value).time()
    if isinstance(value, float) and 0 <= value < 1:
        return (datetime.min + timedelta(days=value)).time().replace(microsecond=0)
    match = _TIME.match(str(value).strip())
    if not match:
        raise BadDate("not a time")
    return _clock(int(match["h"]), int(match["m"]), int(match["s"] or 0))


def parse_datetime(
    date_value: Any, time_value: Any = None, *, order: str = "dmy", tz: str | ZoneInfo = "UTC"
) -> datetime:
    """An aware UTC datetime from a local date (``31/01/2025``, ``2025-01-31``, a cell) and time."""
    day, clock = _as_date(date_value, order)
    separate = _as_time(time_value)
    clock = separate or clock or time(0)
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    if isinstance(date_value, datetime) and date_value.tzinfo is not None:
        return date_value.astimezone(UTC)
    # fold=0: in the repeated hour of the October change the first (summer-time) hour is meant.
    return datetime.combine(day, clock).replace(tzinfo=zone).astimezone(UTC)


# --- Reading files --------------------------------------------------------------------------------


def detect_encoding(stream: IO[bytes]) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1253, else ISO-8859-7.

    Reads the stream through once in chunks and rewinds it.
    """
    start = stream.tell()
    head = stream.read(4)
    stream.seek(start)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        for candidate in ("utf-8", "cp1253", "iso-8859-7"):
            decoder = codecs.getincrementaldecoder(candidate)()
            try:
                while chunk := stream.read(CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
                return candidate
            except UnicodeDecodeError:
                stream.seek(start)
        return "latin-1"
    finally:
        stream.seek(start)


def _sniff_delimiter(lines: list[str]) -> str:
    """The separator that splits the most lines the same way (a title line above the header
    has none, so one line alone would mislead)."""
    best, best_score = ",", 0
    for candidate in (";", ",", "\t", "|"):
        counts = []
        for line in lines:
            quoted, n = False, 0
            for ch in line:
                if ch == '"':
                    quoted = not quoted
                elif not quoted and ch == candidate:
                    n += 1
            if n:
                counts.append(n)
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        score = mode * counts.count(mode)
        if score > best_score:
            best, best_score = candidate, score
    return best


@dataclass
class Table:
    """Rows of a file as (line number, cells); ``close`` releases the file."""

    rows: Iterator[tuple[int, list[Any]]]
    kind: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in self._closers:
            closer()
        self._closers.clear()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_xlsx(stream: IO[bytes], filename: str) -> bool:
    start = stream.tell()
    head = stream.read(4)
    stream.seek(start)
    return head == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm"))


def open_table(stream: IO[bytes], *, filename: str = "", options: ImportOptions) -> Table:
    """Open a CSV or XLSX statement for streaming. Raises ImportFileError if unreadable."""
    head = stream.read(8)
    stream.seek(0)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            "xls_unsupported",
            "old Excel (.xls) files cannot be read; save the file as .xlsx or .csv",
        )
    if _is_xlsx(stream, filename):
        return _open_xlsx(stream, options)
    return _open_csv(stream, options)


def _open_csv(stream: IO[bytes], options: ImportOptions) -> Table:
    encoding = detect_encoding(stream) if options.encoding == "auto" else options.encoding
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ImportFileError("bad_encoding", f"unknown encoding {encoding}") from exc
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    try:
        sample = [line for line in (text.readline() for _ in range(20)) if line.strip()]
    except UnicodeDecodeError as exc:
        text.detach()
        raise ImportFileError("bad_encoding", f"not {encoding}") from exc
    if any("\x00" in line for line in sample):
        text.detach()
        raise ImportFileError("not_text", "the file is not a text (CSV) file")
    delimiter = _sniff_delimiter(sample) if options.delimiter == "auto" else options.delimiter
    text.seek(0)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        reader = csv.reader(text, delimiter=delimiter)
        previous = 0
        try:
            for cells in reader:
                line = previous + 1
                previous = reader.line_num
                yield line, cells
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                "bad_encoding", f"line {previous + 1} is not {encoding}", line=previous + 1
            ) from exc
        except csv.Error as exc:
            raise ImportFileError(
                "bad_csv", f"line {previous + 1}: {exc}", line=previous + 1
            ) from exc

    return Table(
        rows=rows(), kind="csv", encoding=encoding, delimiter=delimiter, _closers=[text.detach]
    )


def _open_xlsx(stream: IO[bytes], options: ImportOptions) -> Table:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError("bad_xlsx", f"not a readable XLSX file: {exc}") from exc
    try:
        sheet = workbook[options.sheet] if options.sheet else workbook.worksheets[0]
    except (KeyError, IndexError) as exc:
        workbook.close()
        raise ImportFileError(
            "no_sheet", f"no sheet {options.sheet!r}", sheet=options.sheet
        ) from exc

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)

    return Table(rows=rows(), kind="xlsx", _closers=[workbook.close])


def _blank(cells: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def find_header(table: Table, mapping: ColumnMapping | None = None, *, scan: int = 30):
    """Consume rows up to the header; return (line, headers, rows read before it).

    With a mapping, the header is the first row that holds every mapped header; without one, the
    first row with at least two text cells that is as wide as the widest of the first rows.
    """
    wanted = {normalize_header(h) for h in mapping.columns.values() if h} if mapping else set()
    seen: list[tuple[int, list[Any]]] = []
    for line, cells in table.rows:
        if _blank(cells):
            continue
        names = {normalize_header(c) for c in cells if c is not None}
        if wanted and wanted <= names:
            return line, [("" if c is None else str(c).strip()) for c in cells]
        seen.append((line, cells))
        if len(seen) >= scan:
            break
    if wanted:
        present = (
            set().union(*({normalize_header(c) for c in cells} for _, cells in seen))
            if seen
            else set()
        )
        missing = sorted(
            h for h in mapping.columns.values() if h and normalize_header(h) not in present
        )
        raise ImportFileError(
            "missing_columns",
            "the file has no header row with the mapped columns: " + ", ".join(missing),
            columns=missing,
        )
    if not seen:
        raise ImportFileError("empty", "the file is empty")
    widest = max(sum(1 for c in cells if c not in (None, "")) for _, cells in seen)
    for line, cells in seen:
        texts = [c for c in cells if isinstance(c, str) and c.strip()]
        if len(texts) >= 2 and len(texts) >= 0.6 * widest:
            return line, [("" if c is None else str(c).strip()) for c in cells]
    line, cells = seen[0]
    return line, [("" if c is None else str(c).strip()) for c in cells]


# --- Matching rows to vehicles --------------------------------------------------------------------


@dataclass
class VehicleDirectory:
    """Everything that identifies a vehicle on a statement, loaded once per import."""

    by_plate: dict[str, int] = field(default_factory=dict)  # normal form -> vehicle id
    by_card: dict[str, int] = field(default_factory=dict)  # normalize_card -> vehicle id
    # tracker unique id -> [(from, until or None, vehicle id)]
    by_tracker: dict[str, list[tuple[datetime, datetime | None, int]]] = field(default_factory=dict)

    def match(
        self, *, line: int, plate: str, card: str, tracker: str, at: datetime
    ) -> tuple[int, str] | RowError:
        # A plate, when the row has one, is what the attendant saw on the vehicle: it decides.
        if plate:
            try:
                normal = normalize_plate(plate)
            except InvalidPlate:
                return RowError(
                    line, "invalid_plate", f"not a Greek plate: {plate}", "plate", plate
                )
            vehicle = self.by_plate.get(normal)
            if vehicle is None:
                return RowError(
                    line, "unknown_plate", f"no vehicle has plate {normal}", "plate", plate
                )
            return vehicle, "plate"
        if card:
            vehicle = self.by_card.get(normalize_card(card))
            if vehicle is None and (parts := masked_card_parts(card)) is not None:
                return self._match_masked(line, card, *parts)
            if vehicle is None:
                return RowError(
                    line,
                    "unknown_card",
                    f"card {card} is not linked to a vehicle",
                    "card_number",
                    card,
                )
            return vehicle, "card_number"
        if tracker:
            for start, end, vehicle in self.by_tracker.get(tracker.strip(), ()):
                if start <= at and (end is None or at < end):
                    return vehicle, "tracker"
            return RowError(
                line,
                "unknown_tracker",
                f"tracker {tracker} was in no vehicle then",
                "tracker",
                tracker,
            )
        return RowError(line, "no_vehicle", "no plate, card or tracker on the row", "plate", "")

    def _match_masked(
        self, line: int, card: str, head: str, tail: str
    ) -> tuple[int, str] | RowError:
        """A masked number matches the one card that starts with its head and ends with its
        tail; none or several is an error on the row, never a guess."""
        if len(tail) < MASKED_SUFFIX_MIN:
            return RowError(
                line,
                "unknown_card",
                f"card {card} shows fewer than {MASKED_SUFFIX_MIN} final digits",
                "card_number",
                card,
            )
        vehicles = {
            vehicle
            for number, vehicle in self.by_card.items()
            if len(number) >= len(head) + len(tail)
            and number.startswith(head)
            and number.endswith(tail)
        }
        if len(vehicles) == 1:
            return vehicles.pop(), "card_number"
        if not vehicles:
            return RowError(
                line, "unknown_card", f"card {card} matches no card", "card_number", card
            )
        return RowError(
            line,
            "ambiguous_card",
            f"card {card} matches {len(vehicles)} cards of different vehicles",
            "card_number",
            card,
        )


# --- Rows -----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # card and transaction numbers that Excel stored as numbers
    return str(value).strip()


def _fmt(value: Any) -> str:
    text = _text(value)
    return text[:60]


def dedupe_key(provider_key: str, row: dict[str, Any]) -> str:
    """Identity of one card transaction: the provider's id when it prints one, else its facts."""
    if row["transaction_id"]:
        basis = f"tx|{provider_key}|{row['transaction_id']}"
    else:
        basis = "|".join(
            [
                "row",
                provider_key,
                normalize_card(row["card_number"]),
                row["plate_key"],
                row["occurred_at"].isoformat(),
                f"{row['litres']:.2f}",
                f"{row['amount']:.2f}" if row["amount"] is not None else "",
            ]
        )
    return hashlib.sha256(basis.encode()).hexdigest()[:40]


def parse_rows(
    table: Table,
    mapping: ColumnMapping,
    *,
    options: ImportOptions,
    directory: VehicleDirectory,
    now: datetime,
    provider_key: str = "",
    decimal_sample: int = 200,
) -> Iterator[ParsedRow | RowError]:
    """Every data row of ``table`` as a ParsedRow or a RowError, in file order.

    Raises ImportFileError only before the first row (no header with the mapped columns).
    """
    missing = mapping.missing_required()
    if missing:
        raise ImportFileError(
            "mapping_incomplete", "the mapping lacks: " + ", ".join(missing), fields=missing
        )
    header_line, headers = find_header(table, mapping)
    index = {normalize_header(h): i for i, h in reversed(list(enumerate(headers)))}
    columns = {
        name: index[normalize_header(header)]
        for name, header in mapping.columns.items()
        if header and name in FIELDS
    }
    width = max((i for i, h in enumerate(headers) if h), default=-1) + 1
    zone = ZoneInfo(options.timezone)
    decimal = options.decimal
    rows = table.rows
    if decimal == "auto":
        # Look ahead at the number columns to learn the file's decimal separator, then replay.
        buffered: list[tuple[int, list[Any]]] = []
        for item in rows:
            buffered.append(item)
            if len(buffered) >= decimal_sample:
                break
        number_columns = [
            columns[f] for f in ("litres", "unit_price", "amount", "odometer") if f in columns
        ]
        decimal = detect_decimal(
            cells[i] for _, cells in buffered for i in number_columns if i < len(cells)
        )
        rows = _chain(buffered, rows)
    for line, cells in rows:
        if _blank(cells):
            continue
        yield _parse_row(
            line, cells, columns, width, decimal, zone, options, directory, now, provider_key
        )


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _parse_row(
    line: int,
    cells: list[Any],
    columns: dict[str, int],
    width: int,
    decimal: str,
    zone: ZoneInfo,
    options: ImportOptions,
    directory: VehicleDirectory,
    now: datetime,
    provider_key: str,
) -> ParsedRow | RowError:
    if len(cells) > width and not _blank(cells[width:]):
        return RowError(
            line,
            "extra_cells",
            f"{len(cells)} cells where the header has {width}: a separator inside a value?",
            "",
            str(len(cells)),
        )

    def cell(name: str) -> Any:
        position = columns.get(name)
        if position is None or position >= len(cells):
            return None
        value = cells[position]
        return None if isinstance(value, str) and not value.strip() else value

    if len(cells) < width and any(columns[f] >= len(cells) for f in REQUIRED_FIELDS):
        return RowError(
            line,
            "short_row",
            f"{len(cells)} cells where the header has {width}",
            "",
            str(len(cells)),
        )
    raw_date = cell("date")
    if raw_date is None:
        return RowError(line, "missing_value", "no date", "date", "")
    try:
        occurred_at = parse_datetime(raw_date, cell("time"), order=options.date_order, tz=zone)
    except BadDate as exc:
        return RowError(line, "bad_date", f"date: {exc}", "date", _fmt(raw_date))
    if occurred_at > now + timedelta(days=1):
        return RowError(line, "future_date", "the date is in the future", "date", _fmt(raw_date))

    numbers: dict[str, Decimal | None] = {}
    for name in ("litres", "unit_price", "amount", "odometer"):
        raw = cell(name)
        if raw is None:
            numbers[name] = None
            continue
        try:
            number = parse_number(raw, decimal)
        except BadNumber as exc:
            return RowError(line, "bad_number", f"{name}: {exc}", name, _fmt(raw))
        if number < 0:
            return RowError(line, "negative", f"{name} is negative", name, _fmt(raw))
        numbers[name] = number
    litres = numbers["litres"]
    if litres is None:
        return RowError(line, "missing_value", "no litres", "litres", "")
    if litres == 0:
        return RowError(line, "zero", "zero litres", "litres", _fmt(cell("litres")))
    if litres > MAX_LITRES:
        return RowError(
            line, "too_large", "more litres than any tank holds", "litres", _fmt(cell("litres"))
        )
    amount, price = numbers["amount"], numbers["unit_price"]
    if amount is None and price is not None:
        amount = (price * litres).quantize(Decimal("0.01"))
    if price is None and amount is not None:
        price = (amount / litres).quantize(Decimal("0.0001"))

    plate, card, tracker = _text(cell("plate")), _text(cell("card_number")), _text(cell("tracker"))
    matched = directory.match(line=line, plate=plate, card=card, tracker=tracker, at=occurred_at)
    if isinstance(matched, RowError):
        return matched
    vehicle_id, how = matched
    try:
        plate_key = normalize_plate(plate) if plate else ""
    except InvalidPlate:  # pragma: no cover - match() already refused it
        plate_key = plate
    facts = {
        "transaction_id": _text(cell("transaction_id"))[:80],
        "card_number": card,
        "plate_key": plate_key,
        "occurred_at": occurred_at,
        "litres": litres,
        "amount": amount,
    }
    return ParsedRow(
        line=line,
        occurred_at=occurred_at,
        litres=litres.quantize(Decimal("0.01")),
        vehicle_id=vehicle_id,
        matched_by=how,
        unit_price=price.quantize(Decimal("0.0001")) if price is not None else None,
        amount=amount.quantize(Decimal("0.01")) if amount is not None else None,
        card_number=normalize_card(card)[:40],
        plate=plate_key,
        tracker=tracker[:64],
        station=_text(cell("station"))[:200],
        odometer=numbers["odometer"],
        transaction_id=facts["transaction_id"],
        product=_text(cell("product"))[:60],
        driver=_text(cell("driver"))[:100],
        dedupe_key=dedupe_key(provider_key, facts),
    )


def read_headers(stream: IO[bytes], *, filename: str = "", options: ImportOptions) -> list[str]:
    """The header row of a file, for the column-mapping form."""
    with open_table(stream, filename=filename, options=options) as table:
        _line, headers = find_header(table)
    return [h for h in headers if h]
