from datetime import date

import pytest

from fleet.choices import Role
from fleet.models import Document, Driver, DriverLicence, Vehicle
from tests.factories import DepartmentFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def _vehicle_payload(**overrides):
    payload = {
        "plate": "khy 1234",
        "category": "refuse_truck",
        "make": "MAN",
        "tank_capacity_l": "250.0",
        "fuel_type": "diesel",
    }
    payload.update(overrides)
    return payload


def test_manager_creates_vehicle_with_normalised_plate(users_a, api_client_for):
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post("/api/v1/vehicles/", _vehicle_payload(), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["plate"] == "ΚΗΥ-1234"
    vehicle = Vehicle.objects.get()
    assert vehicle.municipality == users_a[Role.MANAGER].municipality


def test_same_plate_in_any_spelling_is_refused_within_a_municipality(users_a, api_client_for):
    api = api_client_for(users_a[Role.MANAGER])
    assert api.post("/api/v1/vehicles/", _vehicle_payload(), format="json").status_code == 201
    response = api.post("/api/v1/vehicles/", _vehicle_payload(plate="ΚΗΥ-1234"), format="json")
    assert response.status_code == 400
    assert "plate" in str(response.json())
    assert Vehicle.objects.count() == 1


def test_same_plate_in_another_municipality_is_allowed(users_a, users_b, api_client_for):
    for users in (users_a, users_b):
        response = api_client_for(users[Role.MANAGER]).post(
            "/api/v1/vehicles/", _vehicle_payload(), format="json"
        )
        assert response.status_code == 201
    assert Vehicle.objects.filter(plate="ΚΗΥ-1234").count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("plate", "ΛΑΜ-1234"), ("tank_capacity_l", "-5"), ("category", "spaceship"), ("year", 1800)],
)
def test_bad_vehicle_input_is_400_with_a_message_per_field(field, value, users_a, api_client_for):
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post("/api/v1/vehicles/", _vehicle_payload(**{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Vehicle.objects.count() == 0


def test_errors_come_in_greek_for_greek_users(users_a, api_client_for):
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post(
        "/api/v1/vehicles/",
        _vehicle_payload(plate="QQQ-1"),
        format="json",
        HTTP_ACCEPT_LANGUAGE="el",
    )
    assert response.status_code == 400
    assert "πινακίδα" in response.json()["plate"][0]


def test_department_of_another_municipality_cannot_be_used(users_a, municipality_b, api_client_for):
    foreign = DepartmentFactory(municipality=municipality_b)
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post("/api/v1/vehicles/", _vehicle_payload(department=foreign.pk), format="json")
    assert response.status_code == 400
    assert "department" in response.json()


def test_document_expiry_before_issue_is_refused(users_a, municipality_a, api_client_for):
    vehicle = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post(
        "/api/v1/documents/",
        {
            "vehicle": vehicle.pk,
            "kind": "insurance",
            "issued_on": "2026-05-01",
            "expires_on": "2026-04-30",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "expires_on" in response.json()
    assert Document.objects.count() == 0


def test_driver_with_licences_is_saved_whole_or_not_at_all(users_a, api_client_for):
    api = api_client_for(users_a[Role.MANAGER])
    good = {
        "first_name": "Νίκος",
        "last_name": "Μαρκάκης",
        "employee_number": "E1",
        "licences": [
            {"category": "C", "expires_on": "2030-01-01"},
            {"category": "B", "expires_on": "2031-01-01"},
        ],
    }
    response = api.post("/api/v1/drivers/", good, format="json")
    assert response.status_code == 201, response.json()
    assert sorted(lic["category"] for lic in response.json()["licences"]) == ["B", "C"]
    bad = dict(
        good, employee_number="E2", licences=[{"category": "ZZ", "expires_on": "2030-01-01"}]
    )
    response = api.post("/api/v1/drivers/", bad, format="json")
    assert response.status_code == 400
    assert Driver.objects.count() == 1
    assert DriverLicence.objects.count() == 2


def test_auditor_reads_but_cannot_write(users_a, municipality_a, api_client_for):
    vehicle = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.AUDITOR])
    assert api.get("/api/v1/vehicles/").status_code == 200
    assert (
        api.patch(f"/api/v1/vehicles/{vehicle.pk}/", {"make": "X"}, format="json").status_code
        == 403
    )
    assert api.post("/api/v1/vehicles/", _vehicle_payload(), format="json").status_code == 403


def test_vehicle_list_is_paginated_and_filterable(users_a, municipality_a, api_client_for):
    VehicleFactory.create_batch(3, municipality=municipality_a, category="sweeper")
    VehicleFactory.create_batch(2, municipality=municipality_a, category="van")
    api = api_client_for(users_a[Role.DISPATCHER])
    body = api.get("/api/v1/vehicles/?category=van").json()
    assert body["count"] == 2
    assert {row["category"] for row in body["results"]} == {"van"}


def test_token_authentication(users_a, client):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=users_a[Role.DISPATCHER])
    assert client.get("/api/v1/vehicles/").status_code in (401, 403)
    response = client.get("/api/v1/vehicles/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_openapi_schema_is_served(users_a, client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/vehicles/" in response.content


def test_licence_expiry_in_the_past_is_still_recorded(users_a, api_client_for):
    # An expired licence is a fact to record (and to warn about), not invalid input.
    api = api_client_for(users_a[Role.MANAGER])
    response = api.post(
        "/api/v1/drivers/",
        {
            "first_name": "Α",
            "last_name": "Β",
            "employee_number": "E9",
            "licences": [{"category": "C", "expires_on": "2020-01-01"}],
        },
        format="json",
    )
    assert response.status_code == 201
    assert DriverLicence.objects.get().expires_on == date(2020, 1, 1)
