"""Reading fuel-card statements: the pure parser, with hand-made files of every bad shape."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook

from fleet.fuel_import import (
    BadDate,
    BadNumber,
    ColumnMapping,
    ImportFileError,
    ImportOptions,
    ParsedRow,
    RowError,
    VehicleDirectory,
    detect_decimal,
    detect_encoding,
    open_table,
    parse_datetime,
    parse_number,
    parse_rows,
    read_headers,
)

NOW = datetime(2025, 3, 1, tzinfo=UTC)
MAPPING = ColumnMapping(
    {
        "transaction_id": "Αρ. Συναλλαγής",
        "date": "Ημερομηνία",
        "time": "Ώρα",
        "plate": "Πινακίδα",
        "card_number": "Κάρτα",
        "litres": "Λίτρα",
        "unit_price": "Τιμή",
        "amount": "Ποσό",
        "station": "Πρατήριο",
    }
)
DIRECTORY = VehicleDirectory(
    by_plate={"ΚΗΥ-1234": 1, "ΧΝΑ-5678": 2},
    by_card={"7077123412341234": 2},
    by_tracker={"352093081234567": [(datetime(2024, 1, 1, tzinfo=UTC), None, 1)]},
)


DEFAULT_OPTIONS = ImportOptions()


def _parse(data: bytes, *, filename="s.csv", mapping=MAPPING, options=DEFAULT_OPTIONS):
    with open_table(io.BytesIO(data), filename=filename, options=options) as table:
        return list(
            parse_rows(
                table, mapping, options=options, directory=DIRECTORY, now=NOW, provider_key="p1"
            )
        )


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [
        ("12,5", "auto", "12.5"),
        ("1.234,56", "auto", "1234.56"),
        ("1,234.56", "auto", "1234.56"),
        ("1 234,5", "auto", "1234.5"),
        ("1\u00a0234,50", ",", "1234.50"),
        ("-3,00", ",", "-3.00"),
        ("3,00-", ",", "-3.00"),
        ("(3,00)", ",", "-3.00"),
        ("€ 45,10", ",", "45.10"),
        ("45,10 €", ",", "45.10"),
        ("52,3 lt", ",", "52.3"),
        ("1.234", ",", "1234"),
        ("1,234", ".", "1234"),
        ("1.234.567", "auto", "1234567"),
        ("7", "auto", "7"),
    ],
)
def test_numbers_in_greek_and_english_notation(text, decimal, expected):
    assert parse_number(text, decimal) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "decimal"),
    [("12.5", ","), ("12,5", "."), ("abc", "auto"), ("", "auto"), ("1,2,3", ","), ("1.2.3", ".")],
)
def test_numbers_that_make_no_sense_are_refused(text, decimal):
    with pytest.raises(BadNumber):
        parse_number(text, decimal)


def test_decimal_separator_is_learnt_from_the_file():
    assert detect_decimal(["52,30", "1.234,56", "40"]) == ","
    assert detect_decimal(["52.30", "1,234.56", "40"]) == "."
    assert detect_decimal(["40", "1.234"]) == ","  # nothing decisive: Greek usage


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        # Athens is UTC+2 in winter, UTC+3 in summer.
        ("31/01/2025", "14:05", datetime(2025, 1, 31, 12, 5, tzinfo=UTC)),
        ("15/07/2024 08:30", None, datetime(2024, 7, 15, 5, 30, tzinfo=UTC)),
        ("2025-01-31", "14:05:30", datetime(2025, 1, 31, 12, 5, 30, tzinfo=UTC)),
        ("31.01.25", "7.05", datetime(2025, 1, 31, 5, 5, tzinfo=UTC)),
        ("1/2/2025", None, datetime(2025, 1, 31, 22, 0, tzinfo=UTC)),  # 1 February, local midnight
    ],
)
def test_dates_are_read_day_first_in_local_time(day, clock, expected):
    assert parse_datetime(day, clock, tz="Europe/Athens") == expected


@pytest.mark.parametrize(
    ("day", "clock"),
    [("31/02/2025", None), ("13/25/2025", None), ("yesterday", None), ("01/02/2025", "25:00")],
)
def test_impossible_dates_are_refused(day, clock):
    with pytest.raises(BadDate):
        parse_datetime(day, clock, tz="Europe/Athens")


def test_encoding_detection():
    greek = "Πρατήριο;Λίτρα\nΕΚΟ Σούδας;52,3\n"
    assert detect_encoding(io.BytesIO(greek.encode("utf-8"))) == "utf-8"
    assert detect_encoding(io.BytesIO(greek.encode("utf-8-sig"))) == "utf-8-sig"
    assert detect_encoding(io.BytesIO(greek.encode("cp1253"))) == "cp1253"


HEADER = "Αρ. Συναλλαγής;Ημερομηνία;Ώρα;Πινακίδα;Κάρτα;Λίτρα;Τιμή;Ποσό;Πρατήριο;Σχόλια"


def _statement(*rows: str, title: bool = True) -> str:
    lines = ["ΚΑΤΑΣΤΑΣΗ ΚΙΝΗΣΕΩΝ ΚΑΡΤΩΝ ΚΑΥΣΙΜΟΥ;;;;", ""] if title else []
    return "\r\n".join([*lines, HEADER, *rows]) + "\r\n"


def test_windows_1253_statement_with_decimal_commas_thousands_and_bad_rows():
    text = _statement(
        "T1;03/02/2025;08:15;khy 1234;;52,30;1,659;86,77;ΕΚΟ Σούδας;",
        "T2;03/02/2025;09:40;;7077 1234 1234 1234;1.050,00;1,600;1.680,00;Δεξαμενή;",
        "T3;04/02/2025;10:00;ΙΧΡ-9999;;40,00;1,650;66,00;ΕΚΟ;",
        "T4;04/02/2025;11:00;ΚΗΥ-1234;;40,00;1,650;-66,00;ΕΚΟ;επιστροφή",
        "T5;31/02/2025;11:00;ΚΗΥ-1234;;40,00;1,650;66,00;ΕΚΟ;",
        "T6;05/02/2025;11:00;ΚΗΥ-1234;;σαράντα;1,650;66,00;ΕΚΟ;",
        ";;;;;;;;;",
        "Σύνολο;;;;;1.222,30;;1.832,77;;",
    )
    results = _parse(text.encode("cp1253"))
    good = [r for r in results if isinstance(r, ParsedRow)]
    bad = {r.line: r.code for r in results if isinstance(r, RowError)}
    assert [(r.line, r.vehicle_id, r.matched_by) for r in good] == [
        (4, 1, "plate"),
        (5, 2, "card_number"),
    ]
    first, second = good
    assert first.litres == Decimal("52.30") and first.amount == Decimal("86.77")
    assert first.unit_price == Decimal("1.6590")
    assert first.station == "ΕΚΟ Σούδας" and first.plate == "ΚΗΥ-1234"
    assert first.occurred_at == datetime(2025, 2, 3, 6, 15, tzinfo=UTC)
    assert second.litres == Decimal("1050.00") and second.amount == Decimal("1680.00")
    assert second.card_number == "7077123412341234"
    # Line numbers are the file's own: title, blank, header, then data from line 4.
    assert bad == {
        6: "unknown_plate",
        7: "negative",
        8: "bad_date",
        9: "bad_number",
        11: "missing_value",  # the totals line has no date
    }


def test_utf8_comma_separated_statement_with_decimal_points():
    header = HEADER.replace(";", ",")
    text = "\n".join([header, 'T1,2025-02-03,08:15,ΚΗΥ-1234,,"1,052.30",1.659,86.77,"EKO, Souda",'])
    (row,) = _parse(text.encode("utf-8"))
    assert isinstance(row, ParsedRow)
    assert row.litres == Decimal("1052.30")
    assert row.station == "EKO, Souda"


def test_extra_and_missing_cells_are_reported_per_row():
    text = _statement(
        "T1;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ;;surplus",
        "T2;03/02/2025;08:15;ΚΗΥ-1234",
        "T3;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ;;",  # trailing empty cell: fine
        "T4;03/02/2025;08:15;ΚΗΥ-1234;;52,30",  # short but nothing needed is missing
        title=False,
    )
    results = _parse(text.encode("utf-8"))
    assert [(r.line, getattr(r, "code", "ok")) for r in results] == [
        (2, "extra_cells"),
        (3, "short_row"),
        (4, "ok"),
        (5, "ok"),
    ]


def test_a_mapped_column_missing_from_the_file_stops_the_whole_file():
    text = "Ημερομηνία;Πινακίδα;Ποσό\n03/02/2025;ΚΗΥ-1234;86,77\n"
    with pytest.raises(ImportFileError) as error:
        _parse(text.encode("utf-8"))
    assert error.value.code == "missing_columns"
    assert "Λίτρα" in error.value.params["columns"]


def test_an_incomplete_mapping_is_refused_before_reading():
    with pytest.raises(ImportFileError) as error:
        _parse(b"a;b\n1;2\n", mapping=ColumnMapping({"date": "a"}))
    assert error.value.code == "mapping_incomplete"


def test_headers_match_without_case_or_accents():
    text = "ΗΜΕΡΟΜΗΝΙΑ;ΩΡΑ;ΠΙΝΑΚΙΔΑ;ΛΙΤΡΑ\n03/02/2025;08:00;ΚΗΥ-1234;10\n"
    mapping = ColumnMapping(
        {"date": "Ημερομηνία", "time": "ώρα", "plate": "πινακίδα", "litres": "Λίτρα"}
    )
    (row,) = _parse(text.encode("utf-8"), mapping=mapping)
    assert isinstance(row, ParsedRow) and row.litres == Decimal("10")


def test_future_zero_and_absurd_litres_are_reported():
    text = _statement(
        "T1;03/02/2026;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ;",
        "T2;03/02/2025;08:15;ΚΗΥ-1234;;0;1,659;0;ΕΚΟ;",
        "T3;03/02/2025;08:15;ΚΗΥ-1234;;52.300,00;1,659;86,77;ΕΚΟ;",
        "T4;03/02/2025;08:15;ΛΑΜ-1234;;52,30;1,659;86,77;ΕΚΟ;",
        title=False,
    )
    codes = [r.code for r in _parse(text.encode("utf-8"))]
    assert codes == ["future_date", "zero", "too_large", "invalid_plate"]


def test_tracker_matches_only_while_it_was_in_the_vehicle():
    mapping = ColumnMapping({"date": "d", "litres": "l", "tracker": "imei"})
    text = "d;l;imei\n03/02/2025;10;352093081234567\n03/02/2023;10;352093081234567\n"
    first, second = _parse(text.encode("utf-8"), mapping=mapping)
    assert isinstance(first, ParsedRow) and first.vehicle_id == 1 and first.matched_by == "tracker"
    assert second.code == "unknown_tracker"


def test_same_transaction_gives_the_same_key_and_other_transactions_do_not():
    text = _statement(
        "T1;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ;",
        "T1;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ;",
        "T2;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ;",
        title=False,
    )
    a, b, c = _parse(text.encode("utf-8"))
    assert a.dedupe_key == b.dedupe_key != c.dedupe_key


def test_without_transaction_ids_the_facts_identify_a_transaction():
    mapping = ColumnMapping({"date": "d", "time": "t", "litres": "l", "plate": "p"})
    text = (
        "d;t;p;l\n03/02/2025;08:00;ΚΗΥ-1234;10\n"
        "03/02/2025;08:00;khy1234;10,00\n03/02/2025;08:01;ΚΗΥ-1234;10\n"
    )
    a, b, c = _parse(text.encode("utf-8"), mapping=mapping)
    assert a.dedupe_key == b.dedupe_key != c.dedupe_key


def _xlsx(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_statement_with_real_dates_numbers_and_text_numbers():
    data = _xlsx(
        [
            ["Κινήσεις Φεβρουαρίου"],
            [
                "Αρ. Συναλλαγής",
                "Ημερομηνία",
                "Ώρα",
                "Πινακίδα",
                "Κάρτα",
                "Λίτρα",
                "Τιμή",
                "Ποσό",
                "Πρατήριο",
            ],
            [1001, datetime(2025, 2, 3, 8, 15), None, "KHY1234", None, 52.3, 1.659, 86.77, "ΕΚΟ"],
            [1002, "04/02/2025", "10:30", None, 7077123412341234, "40,5", None, "67,19", "ΕΚΟ"],
            [1003, datetime(2025, 2, 5), None, "ΚΗΥ-1234", None, -5, 1.659, -8.3, "ΕΚΟ"],
        ]
    )
    results = _parse(data, filename="statement.xlsx")
    first, second, third = results
    assert first.line == 3 and first.vehicle_id == 1
    assert first.occurred_at == datetime(2025, 2, 3, 6, 15, tzinfo=UTC)
    assert first.litres == Decimal("52.30") and first.transaction_id == "1001"
    assert second.vehicle_id == 2 and second.litres == Decimal("40.50")
    assert second.unit_price == Decimal("1.6590")  # 67.19 / 40.5
    assert third.code == "negative" and third.line == 5


def test_read_headers_finds_the_header_under_a_title():
    data = _statement("T1;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ;").encode("cp1253")
    headers = read_headers(io.BytesIO(data), options=ImportOptions())
    assert headers == HEADER.split(";")


def test_old_excel_and_binary_junk_are_refused_cleanly():
    with pytest.raises(ImportFileError) as old:
        _parse(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, filename="s.xls")
    assert old.value.code == "xls_unsupported"
    with pytest.raises(ImportFileError) as broken:
        _parse(b"PK\x03\x04 not really a zip", filename="s.xlsx")
    assert broken.value.code == "bad_xlsx"
    with pytest.raises(ImportFileError):
        _parse(b"\x00\x01\x02\x03" * 50)


def test_separator_is_found_under_a_title_line_that_has_none():
    text = (
        "Κινήσεις καρτών Φεβρουάριος 2025\nΗμερομηνία;Πινακίδα;Λίτρα\n03/02/2025;ΚΗΥ-1234;52,30\n"
    )
    mapping = ColumnMapping({"date": "Ημερομηνία", "plate": "Πινακίδα", "litres": "Λίτρα"})
    (row,) = _parse(text.encode("cp1253"), mapping=mapping)
    assert isinstance(row, ParsedRow) and row.litres == Decimal("52.30") and row.line == 3


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("7077 **** **** 1234", 2),  # head and tail visible
        ("7077XXXXXXXX1234", 2),  # masked with letters
        ("••••1234", 2),  # tail only
        ("7077 1234 1234 1234", 2),  # not masked at all: the exact number
        ("7078 **** 1234", "unknown_card"),  # wrong head
        ("**34", "unknown_card"),  # too few visible digits to tell
    ],
)
def test_masked_card_numbers_match_the_one_card_they_fit(printed, expected):
    directory = VehicleDirectory(by_card={"7077123412341234": 2, "7077999988885678": 3})
    found = directory.match(line=7, plate="", card=printed, tracker="", at=NOW)
    if isinstance(expected, int):
        assert found == (expected, "card_number")
    else:
        assert found.code == expected and found.line == 7


def test_a_masked_card_number_fitting_two_vehicles_is_not_guessed():
    directory = VehicleDirectory(by_card={"7077123412341234": 2, "7077555512341234": 3})
    found = directory.match(line=3, plate="", card="7077 **** 1234", tracker="", at=NOW)
    assert found.code == "ambiguous_card"
    # The same card on two entries of one vehicle is not ambiguous.
    directory = VehicleDirectory(by_card={"7077123412341234": 2, "7077555512341234": 2})
    assert directory.match(line=3, plate="", card="7077 **** 1234", tracker="", at=NOW) == (
        2,
        "card_number",
    )
