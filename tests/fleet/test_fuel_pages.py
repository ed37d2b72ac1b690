"""Fuel pages: the import flow a fleet manager clicks through, the driver's refuel form, the
review of an anomaly, and who may see and change what."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fleet.choices import Role
from fleet.models import FuelAnomaly, FuelCardProvider, FuelEntry, FuelImportRun
from fleet.models.fuel import ImportStatus
from tests.factories import (
    DriverFactory,
    FuelAnomalyFactory,
    FuelCardFactory,
    FuelCardProviderFactory,
    FuelEntryFactory,
    FuelImportRunFactory,
    FuelStationFactory,
    VehicleFactory,
)

pytestmark = pytest.mark.django_db

STATEMENT = (
    "Κινήσεις καρτών Φεβρουάριος 2025\r\n"
    "Α/Α;Ημ/νία;Ώρα;Αρ. Κυκλ.;Λίτρα;Αξία;Πρατήριο\r\n"
    "9001;03/02/2025;08:15;ΚΗΥ-1234;52,30;86,77;ΕΚΟ Σούδας\r\n"
    "9002;03/02/2025;09:40;ΙΧΡ-9999;40,00;66,00;ΕΚΟ\r\n"
    "9003;04/02/2025;11:00;khy1234;1.040,00;-1.716,00;ΕΚΟ\r\n"
).encode("cp1253")


def test_manager_imports_a_statement_from_a_new_provider(
    municipality_a, users_a, web_client_for, django_capture_on_commit_callbacks
):
    truck = VehicleFactory(municipality=municipality_a, plate="ΚΗΥ-1234")
    client = web_client_for(users_a[Role.MANAGER])
    upload = SimpleUploadedFile("feb.csv", STATEMENT, content_type="text/csv")
    response = client.post("/fuel/imports/new/", {"new_provider": "Κάρτες Βορρά", "file": upload})
    run = FuelImportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/fuel/imports/{run.pk}/mapping/"  # columns not yet mapped

    mapping_page = client.get(f"/fuel/imports/{run.pk}/mapping/")
    assert mapping_page.status_code == 200
    assert "Αρ. Κυκλ." in mapping_page.content.decode()  # the file's own headers to pick from
    response = client.post(
        f"/fuel/imports/{run.pk}/mapping/",
        {
            "transaction_id": "Α/Α",
            "date": "Ημ/νία",
            "time": "Ώρα",
            "plate": "Αρ. Κυκλ.",
            "litres": "Λίτρα",
            "amount": "Αξία",
            "station": "Πρατήριο",
            "date_order": "dmy",
            "decimal_separator": "auto",
        },
    )
    assert response.status_code == 302
    assert FuelCardProvider.objects.get().columns["plate"] == "Αρ. Κυκλ."

    preview = client.get(f"/fuel/imports/{run.pk}/").content.decode()
    assert "86,77" in preview or "86.77" in preview
    assert "no vehicle with this plate" in preview
    assert FuelEntry.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/fuel/imports/{run.pk}/import/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == ImportStatus.DONE
    assert (run.rows_imported, run.rows_failed) == (1, 2)
    report = client.get(f"/fuel/imports/{run.pk}/").content.decode()
    assert "negative amount" in report and "ΙΧΡ-9999" in report
    assert FuelEntry.objects.get().vehicle == truck


def test_a_second_statement_of_the_same_provider_needs_no_mapping(
    municipality_a, users_a, web_client_for
):
    provider = FuelCardProviderFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MANAGER])
    upload = SimpleUploadedFile("mar.csv", b"x;y\n1;2\n")
    response = client.post("/fuel/imports/new/", {"provider": provider.pk, "file": upload})
    run = FuelImportRun.objects.get()
    assert response["Location"] == f"/fuel/imports/{run.pk}/"
    # The mapped columns are not in this file: the preview says so instead of crashing.
    page = client.get(f"/fuel/imports/{run.pk}/").content.decode()
    assert "no header row with the mapped columns" in page


def test_driver_logs_a_refuel_from_the_phone_page(municipality_a, users_a, web_client_for):
    driver_user = users_a[Role.DRIVER]
    driver = DriverFactory(municipality=municipality_a, user=driver_user)
    truck = VehicleFactory(municipality=municipality_a)
    station = FuelStationFactory(municipality=municipality_a)
    client = web_client_for(driver_user)
    assert client.get("/fuel/refuel/").status_code == 200
    response = client.post(
        "/fuel/refuel/",
        {
            "vehicle": truck.pk,
            "filled_at": "2025-02-03T10:15",
            "litres": "61.5",
            "amount": "101.48",
            "station": station.pk,
            "odometer_km": "120450",
            "full_tank": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = FuelEntry.objects.get()
    assert (entry.driver, entry.vehicle, entry.litres) == (driver, truck, Decimal("61.5"))
    assert entry.filled_at == datetime(2025, 2, 3, 8, 15, tzinfo=UTC)  # 10:15 in Athens
    assert entry.created_by == driver_user and entry.full_tank


def test_driver_refuel_for_another_municipalitys_vehicle_is_refused(
    municipality_a, municipality_b, users_a, web_client_for
):
    DriverFactory(municipality=municipality_a, user=users_a[Role.DRIVER])
    other = VehicleFactory(municipality=municipality_b)
    client = web_client_for(users_a[Role.DRIVER])
    response = client.post(
        "/fuel/refuel/", {"vehicle": other.pk, "filled_at": "2025-02-03T10:15", "litres": "50"}
    )
    assert response.status_code == 200  # the form again, with the error
    assert FuelEntry.objects.count() == 0


def test_manager_justifies_an_anomaly_with_a_note(municipality_a, users_a, web_client_for):
    anomaly = FuelAnomalyFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MANAGER])
    page = client.get(f"/fuel/anomalies/{anomaly.pk}/")
    assert page.status_code == 200 and "tank_capacity_l" in page.content.decode()
    refused = client.post(f"/fuel/anomalies/{anomaly.pk}/", {"status": "justified", "note": ""})
    assert refused.status_code == 200
    anomaly.refresh_from_db()
    assert anomaly.status == "open"
    client.post(f"/fuel/anomalies/{anomaly.pk}/", {"status": "justified", "note": "Δεξαμενή Β"})
    anomaly.refresh_from_db()
    assert (anomaly.status, anomaly.note) == ("justified", "Δεξαμενή Β")


def test_auditor_reads_but_does_not_change_and_driver_sees_nothing(
    municipality_a, users_a, web_client_for
):
    entry = FuelEntryFactory(municipality=municipality_a)
    anomaly = FuelAnomalyFactory(municipality=municipality_a)
    auditor = web_client_for(users_a[Role.AUDITOR])
    for url in ("/fuel/", f"/fuel/{entry.pk}/", "/fuel/anomalies/", "/fuel/consumption/"):
        assert auditor.get(url).status_code == 200, url
    for url in ("/fuel/new/", f"/fuel/{entry.pk}/edit/", "/fuel/imports/new/"):
        assert auditor.get(url).status_code == 403, url
    assert (
        auditor.post(f"/fuel/anomalies/{anomaly.pk}/", {"status": "confirmed"}).status_code == 403
    )
    driver = web_client_for(users_a[Role.DRIVER])
    for url in ("/fuel/", f"/fuel/{entry.pk}/", "/fuel/anomalies/", "/fuel/imports/"):
        assert driver.get(url).status_code == 403, url


def test_every_fuel_page_renders_in_greek_and_english(
    municipality_a, users_a, web_client_for, settings
):
    entry = FuelEntryFactory(municipality=municipality_a, odometer_km=Decimal("1000"))
    FuelEntryFactory(
        municipality=municipality_a,
        vehicle=entry.vehicle,
        odometer_km=Decimal("1500"),
        filled_at=datetime(2025, 2, 20, 8, tzinfo=UTC),
    )
    anomaly = FuelAnomalyFactory(municipality=municipality_a, fuel_entry=entry)
    run = FuelImportRunFactory(municipality=municipality_a)
    card = FuelCardFactory(municipality=municipality_a)
    station = FuelStationFactory(municipality=municipality_a)
    urls = [
        "/fuel/",
        "/fuel/new/",
        f"/fuel/{entry.pk}/",
        f"/fuel/{entry.pk}/edit/",
        "/fuel/imports/",
        "/fuel/imports/new/",
        f"/fuel/imports/{run.pk}/",
        f"/fuel/imports/{run.pk}/mapping/",
        "/fuel/anomalies/",
        f"/fuel/anomalies/{anomaly.pk}/",
        "/fuel/consumption/?start=2025-02-01&end=2025-02-28",
        "/fuel/stations/",
        "/fuel/stations/new/",
        f"/fuel/stations/{station.pk}/edit/",
        "/fuel/cards/",
        f"/fuel/cards/{card.pk}/edit/",
        "/fuel/providers/",
        f"/fuel/providers/{card.provider_id}/edit/",
    ]
    client = web_client_for(users_a[Role.MANAGER])
    for language in ("el", "en"):
        settings.LANGUAGE_CODE = language
        for url in urls:
            response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
            assert response.status_code == 200, (url, language)
    consumption = client.get("/fuel/consumption/?start=2025-02-01&end=2025-02-28")
    assert entry.vehicle.plate in consumption.content.decode()


def test_import_button_is_post_only(municipality_a, users_a, web_client_for):
    run = FuelImportRunFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MANAGER])
    assert client.get(f"/fuel/imports/{run.pk}/import/").status_code == 405
    assert FuelAnomaly.objects.count() == 0
