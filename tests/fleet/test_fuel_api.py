"""The fuel API: entries with validation per field, statement import by API, anomaly review,
consumption; roles."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fleet.choices import Role
from fleet.models import FuelEntry
from tests.factories import (
    FuelAnomalyFactory,
    FuelCardProviderFactory,
    FuelEntryFactory,
    VehicleFactory,
)

pytestmark = pytest.mark.django_db


def _entry(vehicle, **overrides):
    payload = {
        "vehicle": vehicle.pk,
        "filled_at": "2025-02-03T10:15:00+02:00",
        "litres": "52.30",
        "unit_price": "1.659",
        "full_tank": True,
        "odometer_km": "120450.0",
    }
    payload.update(overrides)
    return payload


def test_manager_records_a_refuel(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post("/api/v1/fuel-entries/", _entry(truck), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["amount"] == "86.77"  # 52.30 × 1.659 = 86.7657
    assert body["filled_at"] == "2025-02-03T10:15:00+02:00"
    entry = FuelEntry.objects.get()
    assert entry.filled_at == datetime(2025, 2, 3, 8, 15, tzinfo=UTC)
    assert entry.created_by == users_a[Role.MANAGER]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("litres", "-5"),
        ("litres", "0"),
        ("amount", "-1.00"),
        ("filled_at", "31/02/2025"),
        ("odometer_km", "-3"),
    ],
)
def test_bad_refuels_are_400_with_a_message_per_field(
    field, value, municipality_a, users_a, api_client_for
):
    truck = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post("/api/v1/fuel-entries/", _entry(truck, **{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert FuelEntry.objects.count() == 0


def test_another_municipalitys_vehicle_cannot_be_fuelled(municipality_b, users_a, api_client_for):
    other = VehicleFactory(municipality=municipality_b)
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post("/api/v1/fuel-entries/", _entry(other), format="json")
    assert response.status_code == 400 and "vehicle" in response.json()


def test_statement_import_by_api(
    municipality_a, users_a, api_client_for, django_capture_on_commit_callbacks
):
    VehicleFactory(municipality=municipality_a, plate="ΚΗΥ-1234")
    provider = FuelCardProviderFactory(municipality=municipality_a)
    text = (
        "Αρ. Συναλλαγής;Ημερομηνία;Ώρα;Πινακίδα;Κάρτα;Λίτρα;Τιμή;Ποσό;Πρατήριο\n"
        "A1;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;86,77;ΕΚΟ\n"
        "A2;03/02/2025;08:15;ΚΗΥ-1234;;52,30;1,659;-86,77;ΕΚΟ\n"
    )
    api = api_client_for(users_a[Role.MANAGER])
    upload = SimpleUploadedFile("s.csv", text.encode("cp1253"), content_type="text/csv")
    created = api.post("/api/v1/fuel-imports/", {"provider": provider.pk, "file": upload})
    assert created.status_code == 201, created.json()
    run_id = created.json()["id"]
    preview = api.get(f"/api/v1/fuel-imports/{run_id}/preview/").json()
    assert [row["ok"] for row in preview["rows"]] == [True, False]
    assert preview["rows"][1]["code"] == "negative"
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/fuel-imports/{run_id}/execute/").status_code == 202
    run = api.get(f"/api/v1/fuel-imports/{run_id}/").json()
    assert (run["status"], run["rows_imported"], run["rows_failed"]) == ("done", 1, 1)
    assert run["errors"][0]["line"] == 3


def test_anomaly_review_by_api(municipality_a, users_a, api_client_for):
    anomaly = FuelAnomalyFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.MANAGER])
    url = f"/api/v1/fuel-anomalies/{anomaly.pk}/resolve/"
    assert api.post(url, {"status": "justified"}, format="json").status_code == 400
    response = api.post(url, {"status": "justified", "note": "Δεύτερη δεξαμενή"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "justified"
    listed = api.get("/api/v1/fuel-anomalies/?status=justified").json()
    assert [a["id"] for a in listed["results"]] == [anomaly.pk]


def test_consumption_by_api(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a, consumption_norm=Decimal("50"))
    FuelEntryFactory(
        municipality=municipality_a,
        vehicle=truck,
        full_tank=True,
        odometer_km=Decimal("1000"),
        filled_at=datetime(2025, 2, 3, tzinfo=UTC),
    )
    FuelEntryFactory(
        municipality=municipality_a,
        vehicle=truck,
        full_tank=True,
        litres=Decimal("110"),
        odometer_km=Decimal("1200"),
        filled_at=datetime(2025, 2, 10, tzinfo=UTC),
    )
    api = api_client_for(users_a[Role.AUDITOR])
    body = api.get("/api/v1/fuel-consumption/?start=2025-02-01&end=2025-02-28").json()
    (row,) = body["results"]
    assert (row["consumption"], row["norm"], row["off_norm_pct"]) == (55.0, 50.0, 10.0)
    assert api.get("/api/v1/fuel-consumption/?start=2025-02-30").status_code == 400


def test_roles(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a)
    auditor = api_client_for(users_a[Role.AUDITOR])
    assert auditor.get("/api/v1/fuel-entries/").status_code == 200
    assert auditor.post("/api/v1/fuel-entries/", _entry(truck), format="json").status_code == 403
    driver = api_client_for(users_a[Role.DRIVER])
    assert driver.get("/api/v1/fuel-entries/").status_code == 403
    dispatcher = api_client_for(users_a[Role.DISPATCHER])
    assert dispatcher.get("/api/v1/fuel-anomalies/").status_code == 403
