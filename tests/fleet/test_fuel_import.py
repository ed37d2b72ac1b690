"""Fuel-card imports end to end against the database: preview, import, duplicates, per-row report,
all-or-nothing."""

from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError

from fleet.models import FuelEntry, FuelImportRun
from fleet.models.fuel import FuelSource, ImportStatus
from fleet.selectors import fuel as selectors
from fleet.services import fuel as services
from tests.factories import (
    FuelCardFactory,
    FuelCardProviderFactory,
    FuelStationFactory,
    VehicleFactory,
)

pytestmark = pytest.mark.django_db

HEADER = "Αρ. Συναλλαγής;Ημερομηνία;Ώρα;Πινακίδα;Κάρτα;Λίτρα;Τιμή;Ποσό;Πρατήριο"


@pytest.fixture
def fleet(municipality_a):
    truck = VehicleFactory(municipality=municipality_a, plate="ΚΗΥ-1234")
    van = VehicleFactory(municipality=municipality_a, plate="ΧΝΑ-5678", odometer_km=Decimal("1000"))
    provider = FuelCardProviderFactory(municipality=municipality_a, name="Κάρτες Α")
    card = FuelCardFactory(
        municipality=municipality_a, provider=provider, number="7077123412341234", vehicle=van
    )
    station = FuelStationFactory(municipality=municipality_a, name="ΕΚΟ Σούδας")
    return {"truck": truck, "van": van, "provider": provider, "card": card, "station": station}


def _upload(municipality, provider, text: str, *, encoding="cp1253", name="statement.csv"):
    upload = SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")
    return services.fuel_import_upload(municipality=municipality, provider=provider, upload=upload)


STATEMENT = "\r\n".join(
    [
        "ΚΑΤΑΣΤΑΣΗ ΚΙΝΗΣΕΩΝ;;;;;;;;",
        HEADER,
        "T1;03/02/2025;08:15;khy 1234;;52,30;1,659;86,77;ΕΚΟ Σούδας",
        "T2;03/02/2025;09:40;;7077 1234 1234 1234;1.050,00;1,600;1.680,00;Δεξαμενή",
        "T3;04/02/2025;10:00;ΙΧΡ-9999;;40,00;1,650;66,00;ΕΚΟ",
        "T4;04/02/2025;11:00;ΚΗΥ-1234;;40,00;1,650;-66,00;ΕΚΟ",
        "T5;31/02/2025;11:00;ΚΗΥ-1234;;40,00;1,650;66,00;ΕΚΟ",
        "T1;03/02/2025;08:15;khy 1234;;52,30;1,659;86,77;ΕΚΟ Σούδας",
        "",
    ]
)


def test_preview_shows_parsed_rows_and_errors_and_writes_nothing(municipality_a, fleet):
    run = _upload(municipality_a, fleet["provider"], STATEMENT)
    preview = selectors.fuel_import_preview(run=run)
    assert preview.mapping_fits
    assert preview.headers == HEADER.split(";")
    kinds = [(r.line, getattr(r, "code", "ok")) for r in preview.rows]
    assert kinds == [
        (3, "ok"),
        (4, "ok"),
        (5, "unknown_plate"),
        (6, "negative"),
        (7, "bad_date"),
        (8, "ok"),  # the duplicate is only known at import
    ]
    assert preview.vehicles == {fleet["truck"].pk: "ΚΗΥ-1234", fleet["van"].pk: "ΧΝΑ-5678"}
    assert FuelEntry.objects.count() == 0
    assert FuelImportRun.objects.get().status == ImportStatus.UPLOADED


def test_import_puts_good_rows_in_and_reports_each_bad_row(municipality_a, fleet):
    run = _upload(municipality_a, fleet["provider"], STATEMENT)
    run = services.fuel_import_execute(run_id=run.pk)
    assert run.status == ImportStatus.DONE
    assert (run.rows_total, run.rows_imported, run.rows_duplicate, run.rows_failed) == (6, 2, 1, 3)
    assert [(e["line"], e["code"], e["value"]) for e in run.errors] == [
        (5, "unknown_plate", "ΙΧΡ-9999"),
        (6, "negative", "-66,00"),
        (7, "bad_date", "31/02/2025"),
    ]
    truck_entry = FuelEntry.objects.get(vehicle=fleet["truck"])
    van_entry = FuelEntry.objects.get(vehicle=fleet["van"])
    assert truck_entry.litres == Decimal("52.30") and truck_entry.amount == Decimal("86.77")
    assert truck_entry.filled_at == datetime(2025, 2, 3, 6, 15, tzinfo=UTC)
    assert truck_entry.station == fleet["station"]  # matched by name
    assert truck_entry.source == FuelSource.CARD and truck_entry.import_line == 3
    assert van_entry.litres == Decimal("1050.00") and van_entry.card == fleet["card"]
    assert van_entry.station is None and van_entry.station_name == "Δεξαμενή"


def test_importing_the_same_statement_twice_skips_every_transaction(municipality_a, fleet):
    first = services.fuel_import_execute(
        run_id=_upload(municipality_a, fleet["provider"], STATEMENT).pk
    )
    second = services.fuel_import_execute(
        run_id=_upload(
            municipality_a, fleet["provider"], STATEMENT.replace("\r\n", "\n"), encoding="utf-8"
        ).pk
    )
    assert first.rows_imported == 2
    assert (second.rows_imported, second.rows_duplicate, second.rows_failed) == (0, 3, 3)
    assert FuelEntry.objects.count() == 2


def test_a_run_is_imported_once_however_often_the_task_runs(municipality_a, fleet):
    run = _upload(municipality_a, fleet["provider"], STATEMENT)
    services.fuel_import_execute(run_id=run.pk)
    again = services.fuel_import_execute(run_id=run.pk)
    assert again.status == ImportStatus.DONE
    assert FuelEntry.objects.count() == 2


def test_a_database_failure_leaves_nothing_half_imported(municipality_a, fleet):
    run = _upload(municipality_a, fleet["provider"], STATEMENT)
    real = services._insert_batch
    calls = []

    def fail_on_second_batch(rows, *args, **kwargs):
        calls.append(len(rows))
        if len(calls) == 2:
            raise DatabaseError("disk full")
        return real(rows, *args, **kwargs)

    # A real failure mid-write cannot be provoked on demand, so the second batch is made to fail.
    with (
        mock.patch.object(services, "BULK_BATCH", 1),
        mock.patch.object(services, "_insert_batch", side_effect=fail_on_second_batch),
    ):
        run = services.fuel_import_execute(run_id=run.pk)
    assert calls == [1, 1]
    assert run.status == ImportStatus.FAILED and run.error_code == "database"
    assert FuelEntry.objects.count() == 0
    # And it can be retried once the cause is fixed.
    assert services.fuel_import_execute(run_id=run.pk).rows_imported == 2


def test_a_file_missing_a_mapped_column_fails_as_a_whole(municipality_a, fleet):
    run = _upload(municipality_a, fleet["provider"], "Ημερομηνία;Πινακίδα\n03/02/2025;ΚΗΥ-1234\n")
    run = services.fuel_import_execute(run_id=run.pk)
    assert run.status == ImportStatus.FAILED and run.error_code == "missing_columns"
    assert "Λίτρα" in run.error_message
    assert FuelEntry.objects.count() == 0


def test_extra_columns_are_ignored(municipality_a, fleet):
    text = HEADER + ";Σχόλια;Κωδικός\nT9;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ;x;y\n"
    run = services.fuel_import_execute(run_id=_upload(municipality_a, fleet["provider"], text).pk)
    assert run.rows_imported == 1 and run.errors == []


def test_import_advances_the_vehicle_odometer(municipality_a, fleet):
    provider = services.fuel_provider_update(
        provider=fleet["provider"],
        columns={**fleet["provider"].columns, "odometer": "Χιλιόμετρα"},
    )
    text = HEADER + ";Χιλιόμετρα\nT1;03/02/2025;08:15;ΧΝΑ-5678;;52,30;1,659;86,77;ΕΚΟ;12.345\n"
    services.fuel_import_execute(run_id=_upload(municipality_a, provider, text).pk)
    fleet["van"].refresh_from_db()
    assert fleet["van"].odometer_km == Decimal("12345")


def test_other_municipalitys_plates_do_not_match(municipality_a, municipality_b, fleet):
    VehicleFactory(municipality=municipality_b, plate="ΡΕΚ-1111")
    text = HEADER + "\nT1;03/02/2025;08:15;ΡΕΚ-1111;;52,30;1,659;86,77;ΕΚΟ\n"
    run = services.fuel_import_execute(run_id=_upload(municipality_a, fleet["provider"], text).pk)
    assert run.rows_imported == 0 and run.errors[0]["code"] == "unknown_plate"


def test_non_statement_uploads_are_refused(municipality_a, fleet):
    upload = SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff" + b"0" * 100)
    with pytest.raises(Exception) as error:
        services.fuel_import_upload(
            municipality=municipality_a, provider=fleet["provider"], upload=upload
        )
    assert "file" in error.value.message_dict


def test_provider_mapping_must_cover_date_litres_and_a_vehicle_key(municipality_a):
    with pytest.raises(Exception) as error:
        services.fuel_provider_create(
            municipality=municipality_a, name="Χ", columns={"date": "Ημ/νία", "litres": "Λίτρα"}
        )
    assert "columns" in error.value.message_dict
    provider = services.fuel_provider_create(
        municipality=municipality_a,
        name="Χ",
        columns={"date": "Ημ/νία", "litres": "Λίτρα", "plate": " Αρ. Κυκλοφορίας ", "amount": ""},
    )
    assert provider.columns == {"date": "Ημ/νία", "litres": "Λίτρα", "plate": "Αρ. Κυκλοφορίας"}
