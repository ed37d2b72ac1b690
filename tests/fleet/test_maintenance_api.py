"""The maintenance API: work orders and their steps, parts, plans, ΚΤΕΟ results, the calendar,
eligibility, costs; and the daily tasks."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from fleet.choices import DocumentKind, Role, VehicleStatus
from fleet.models import FuelAnomaly, Reminder
from fleet.tasks import compliance_reminders, fuel_anomalies_daily
from tests.factories import (
    DocumentFactory,
    DriverFactory,
    DriverLicenceFactory,
    FuelEntryFactory,
    UserFactory,
    VehicleFactory,
)

pytestmark = pytest.mark.django_db


def test_work_order_through_the_api(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.MECHANIC])
    created = api.post(
        "/api/v1/work-orders/",
        {"vehicle": truck.pk, "title": "Υδραυλικά", "takes_off_road": True},
        format="json",
    )
    assert created.status_code == 201, created.json()
    order = created.json()
    assert order["status"] == "reported" and order["off_road_from"]
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.IN_MAINTENANCE
    url = f"/api/v1/work-orders/{order['id']}/"
    part = api.post(
        "/api/v1/work-order-parts/",
        {"work_order": order["id"], "name": "Σωλήνας", "quantity": "2", "unit_cost": "35.50"},
        format="json",
    )
    assert part.status_code == 201, part.json()
    assert api.post(url + "start/").json()["status"] == "in_progress"
    closed = api.post(url + "close/", {"resolution": "OK", "odometer_km": "99000"}, format="json")
    assert closed.status_code == 200, closed.json()
    assert closed.json()["status"] == "done"
    assert closed.json()["costs"]["parts"] == "71.00"
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.AVAILABLE
    again = api.post(url + "close/")
    assert again.status_code == 400 and "status" in again.json()
    # Orders are kept: no delete.
    assert api.delete(url).status_code == 405


def test_dispatcher_may_read_but_not_write(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.DISPATCHER])
    assert api.get("/api/v1/work-orders/").status_code == 200
    response = api.post("/api/v1/work-orders/", {"vehicle": truck.pk, "title": "x"}, format="json")
    assert response.status_code == 403


def test_service_plan_must_be_for_a_vehicle_or_a_category(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.MANAGER])
    both = api.post(
        "/api/v1/service-plans/",
        {"name": "Λάδια", "vehicle": truck.pk, "category": "refuse_truck", "every_km": 20000},
        format="json",
    )
    neither = api.post(
        "/api/v1/service-plans/", {"name": "Λάδια", "every_km": 20000}, format="json"
    )
    no_interval = api.post(
        "/api/v1/service-plans/", {"name": "Λάδια", "category": "refuse_truck"}, format="json"
    )
    ok = api.post(
        "/api/v1/service-plans/",
        {"name": "Λάδια", "category": "refuse_truck", "every_km": 20000, "every_days": 365},
        format="json",
    )
    assert [r.status_code for r in (both, neither, no_interval, ok)] == [400, 400, 400, 201]


def test_kteo_result_in_the_future_is_refused(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.MANAGER])
    future = (date.today() + timedelta(days=3)).isoformat()
    response = api.post(
        "/api/v1/kteo-tests/",
        {"vehicle": truck.pk, "tested_on": future, "result": "pass"},
        format="json",
    )
    assert response.status_code == 400 and "tested_on" in response.json()
    response = api.post(
        "/api/v1/kteo-tests/",
        {"vehicle": truck.pk, "tested_on": "2025-01-10", "result": "wobbly"},
        format="json",
    )
    assert response.status_code == 400 and "result" in response.json()


def test_compliance_and_eligibility_endpoints(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a, plate="ΚΗΥ-1000")
    DocumentFactory(
        municipality=municipality_a,
        vehicle=truck,
        kind=DocumentKind.INSURANCE,
        issued_on=date(2024, 3, 1),
        expires_on=date(2025, 3, 1),
    )
    driver = DriverFactory(municipality=municipality_a, pei_expiry=date(2027, 1, 1))
    DriverLicenceFactory(driver=driver, category="C", expires_on=date(2030, 1, 1))
    api = api_client_for(users_a[Role.DISPATCHER])
    calendar = api.get("/api/v1/compliance/?on=2025-03-10&subject=vehicle").json()
    insurance = next(r for r in calendar["results"] if r["rule"] == "insurance")
    assert insurance["status"] == "overdue" and insurance["blocks_dispatch"]
    assert insurance["due_on"] == "2025-03-01" and insurance["days_left"] == -9
    eligibility = api.get(
        f"/api/v1/eligibility/?on=2025-03-10&vehicle={truck.pk}&driver={driver.pk}"
    ).json()
    assert [r["code"] for r in eligibility["vehicles"][str(truck.pk)]] == ["insurance"]
    assert eligibility["drivers"][str(driver.pk)] == []
    assert api.get("/api/v1/eligibility/?vehicle=abc").status_code == 400


def test_costs_endpoint(municipality_a, users_a, api_client_for):
    truck = VehicleFactory(municipality=municipality_a)
    FuelEntryFactory(municipality=municipality_a, vehicle=truck, amount=Decimal("132.00"))
    body = (
        api_client_for(users_a[Role.MANAGER])
        .get("/api/v1/vehicle-costs/?start=2025-01-01&end=2025-12-31")
        .json()
    )
    assert [(r["vehicle"], r["fuel"], r["total"]) for r in body["results"]] == [
        (truck.pk, "132.00", "132.00")
    ]


def test_daily_tasks_run_for_every_municipality(municipality_a, municipality_b, mailoutbox):
    for municipality in (municipality_a, municipality_b):
        truck = VehicleFactory(municipality=municipality, tank_capacity_l=Decimal("100"))
        DocumentFactory(
            municipality=municipality,
            vehicle=truck,
            kind=DocumentKind.INSURANCE,
            issued_on=date.today() - timedelta(days=300),
            expires_on=date.today() + timedelta(days=10),
        )
        UserFactory(municipality=municipality, role=Role.MANAGER, email=f"m@{municipality.slug}")
        FuelEntryFactory(
            municipality=municipality,
            vehicle=truck,
            litres=Decimal("150"),
            filled_at=datetime.combine(date.today() - timedelta(days=1), time(9), UTC),
        )
    fuel_anomalies_daily.delay()
    compliance_reminders.delay()
    assert FuelAnomaly.objects.filter(kind="over_capacity").count() == 2
    assert Reminder.objects.filter(rule="insurance").count() == 2
    assert sorted(m.to[0] for m in mailoutbox) == ["m@town-a", "m@town-b"]
