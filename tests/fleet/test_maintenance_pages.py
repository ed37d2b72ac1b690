"""Maintenance pages: the driver's defect report, the workshop's status steps and parts, the
calendar and the costs, and who may do what."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fleet.choices import DocumentKind, Role, VehicleStatus
from fleet.models import Reminder, WorkOrder
from fleet.models.maintenance import WorkOrderStatus
from tests.factories import (
    DocumentFactory,
    DriverFactory,
    ExpenseFactory,
    ReminderFactory,
    RoadworthinessTestFactory,
    ServicePlanFactory,
    VehicleFactory,
    WorkOrderFactory,
    WorkOrderPartFactory,
)

pytestmark = pytest.mark.django_db


def test_driver_reports_a_defect_that_takes_the_vehicle_off_the_road(
    municipality_a, users_a, web_client_for
):
    driver = DriverFactory(municipality=municipality_a, user=users_a[Role.DRIVER])
    truck = VehicleFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.DRIVER])
    assert client.get("/maintenance/defect/").status_code == 200
    response = client.post(
        "/maintenance/defect/",
        {"vehicle": truck.pk, "title": "Δεν φρενάρει", "takes_off_road": "on"},
    )
    assert response.status_code == 302
    order = WorkOrder.objects.get()
    assert order.reported_by_driver == driver and order.status == WorkOrderStatus.REPORTED
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.IN_MAINTENANCE
    # The driver sees no workshop pages.
    assert client.get(f"/maintenance/work-orders/{order.pk}/").status_code == 403


def test_mechanic_takes_an_order_through_to_done(municipality_a, users_a, web_client_for):
    truck = VehicleFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MECHANIC])
    response = client.post(
        "/maintenance/work-orders/new/",
        {
            "vehicle": truck.pk,
            "title": "Αλλαγή τακακιών",
            "takes_off_road": "on",
            "labour_hours": "2",
            "labour_cost": "80",
            "other_cost": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    order = WorkOrder.objects.get()
    url = f"/maintenance/work-orders/{order.pk}/"
    client.post(url + "status/", {"action": "start"})
    client.post(url + "parts/", {"name": "Τακάκια", "quantity": "4", "unit_cost": "22.50"})
    page = client.get(url).content.decode()
    assert "Τακάκια" in page and "170.00" in page  # 4 × 22.50 + 80
    client.post(url + "status/", {"action": "close", "resolution": "Έγινε", "odometer_km": "88000"})
    order.refresh_from_db()
    truck.refresh_from_db()
    assert order.status == WorkOrderStatus.DONE and order.resolution == "Έγινε"
    assert truck.status == VehicleStatus.AVAILABLE and truck.odometer_km == Decimal("88000")
    # A second close is refused with a message, not an error page.
    response = client.post(url + "status/", {"action": "close"}, follow=True)
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == WorkOrderStatus.DONE


def test_dispatcher_sees_the_calendar_but_cannot_change_orders(
    municipality_a, users_a, web_client_for
):
    order = WorkOrderFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.DISPATCHER])
    assert client.get("/maintenance/calendar/").status_code == 200
    assert client.get(f"/maintenance/work-orders/{order.pk}/").status_code == 200
    assert (
        client.post(
            f"/maintenance/work-orders/{order.pk}/status/", {"action": "cancel"}
        ).status_code
        == 403
    )
    order.refresh_from_db()
    assert order.status == WorkOrderStatus.REPORTED


def test_calendar_page_lists_overdue_items_and_reminders(municipality_a, users_a, web_client_for):
    truck = VehicleFactory(municipality=municipality_a, plate="ΚΗΥ-4321")
    DocumentFactory(
        municipality=municipality_a,
        vehicle=truck,
        kind=DocumentKind.INSURANCE,
        issued_on=date.today() - timedelta(days=400),
        expires_on=date.today() - timedelta(days=3),
    )
    reminder = ReminderFactory(municipality=municipality_a, vehicle=truck)
    client = web_client_for(users_a[Role.MANAGER])
    page = client.get("/maintenance/calendar/?subject=vehicle").content.decode()
    assert "ΚΗΥ-4321" in page and "not dispatchable" in page and "Π.Δ. 237/1986" in page
    client.post(f"/maintenance/reminders/{reminder.pk}/dismiss/")
    reminder.refresh_from_db()
    assert reminder.dismissed_at is not None
    assert Reminder.objects.filter(dismissed_at__isnull=True).count() == 0


def test_every_maintenance_page_renders(municipality_a, users_a, web_client_for, settings):
    truck = VehicleFactory(municipality=municipality_a, odometer_km=Decimal("50000"))
    plan = ServicePlanFactory(municipality=municipality_a, vehicle=truck)
    order = WorkOrderFactory(municipality=municipality_a, vehicle=truck)
    WorkOrderPartFactory(work_order=order)
    test = RoadworthinessTestFactory(municipality=municipality_a, vehicle=truck)
    expense = ExpenseFactory(municipality=municipality_a, vehicle=truck)
    urls = [
        "/maintenance/",
        "/maintenance/?status=all",
        "/maintenance/work-orders/new/",
        f"/maintenance/work-orders/{order.pk}/",
        f"/maintenance/work-orders/{order.pk}/edit/",
        "/maintenance/plans/",
        "/maintenance/plans/new/",
        f"/maintenance/plans/{plan.pk}/edit/",
        "/maintenance/kteo/",
        "/maintenance/kteo/new/",
        f"/maintenance/kteo/{test.pk}/edit/",
        "/maintenance/expenses/",
        "/maintenance/expenses/new/",
        f"/maintenance/expenses/{expense.pk}/edit/",
        "/maintenance/calendar/",
        "/maintenance/costs/",
        f"/maintenance/costs/?vehicle={truck.pk}&start=2025-01-01&end=2025-12-31",
    ]
    client = web_client_for(users_a[Role.MANAGER])
    for language in ("el", "en"):
        settings.LANGUAGE_CODE = language
        for url in urls:
            assert client.get(url, HTTP_ACCEPT_LANGUAGE=language).status_code == 200, (
                url,
                language,
            )


def test_service_plan_form_refuses_a_plan_without_an_interval(
    municipality_a, users_a, web_client_for
):
    truck = VehicleFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MANAGER])
    response = client.post(
        "/maintenance/plans/new/",
        {
            "name": "Σέρβις",
            "vehicle": truck.pk,
            "warn_km": 1000,
            "warn_hours": 25,
            "warn_days": 14,
            "active": "on",
        },
    )
    assert response.status_code == 200
    response = client.post(
        "/maintenance/plans/new/",
        {
            "name": "Σέρβις",
            "vehicle": truck.pk,
            "every_km": 20000,
            "warn_km": 1000,
            "warn_hours": 25,
            "warn_days": 14,
            "active": "on",
        },
    )
    assert response.status_code == 302
    page = client.get("/maintenance/plans/").content.decode()
    assert "Σέρβις" in page


def test_a_closed_order_still_takes_its_invoice(municipality_a, users_a, web_client_for):
    from fleet.services import maintenance as services

    order = WorkOrderFactory(municipality=municipality_a, status="open")
    services.work_order_close(order=order)
    client = web_client_for(users_a[Role.MANAGER])
    url = f"/maintenance/work-orders/{order.pk}/edit/"
    page = client.get(url).content.decode()
    assert 'name="labour_cost"' in page and 'name="title"' not in page
    response = client.post(
        url,
        {
            "vendor": "Συνεργείο Κρήτης",
            "labour_hours": "3",
            "labour_cost": "150",
            "other_cost": "0",
            "resolution": "Τιμολόγιο 118",
        },
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.vendor, order.labour_cost) == ("Συνεργείο Κρήτης", Decimal("150"))
