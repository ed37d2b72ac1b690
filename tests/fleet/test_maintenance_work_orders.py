"""Work orders: the defect-to-done flow, the vehicle's status, off-road days, parts and costs."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from fleet.choices import VehicleStatus
from fleet.models import ServiceRecord
from fleet.models.maintenance import WorkOrderStatus
from fleet.selectors import maintenance as selectors
from fleet.services import maintenance as services
from tests.factories import DriverFactory, ServicePlanFactory, VehicleFactory

pytestmark = pytest.mark.django_db

MON = datetime(2025, 2, 3, 8, 0, tzinfo=UTC)  # 10:00 in Athens
WED = datetime(2025, 2, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def truck(municipality_a):
    return VehicleFactory(municipality=municipality_a, plate="ΚΗΥ-1234")


def _report(truck, **kw):
    kw.setdefault("title", "Διαρροή υδραυλικών")
    kw.setdefault("reported_at", MON)
    return services.work_order_report(municipality=truck.municipality, vehicle=truck, **kw)


def test_off_road_defect_puts_the_vehicle_in_maintenance_until_closed(truck):
    order = _report(truck, takes_off_road=True)
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.IN_MAINTENANCE
    assert order.off_road_from == MON
    reasons = selectors.eligibility(truck, on=date(2025, 2, 4))
    assert {r.code for r in reasons} >= {"status", "work_order"}

    services.work_order_start(order=order, at=MON)
    order = services.work_order_close(order=order, at=WED, resolution="Άλλαξε σωλήνας")
    truck.refresh_from_db()
    assert order.status == WorkOrderStatus.DONE
    assert truck.status == VehicleStatus.AVAILABLE
    assert order.off_road_until == WED
    assert order.off_road_days == 3  # Monday, Tuesday and Wednesday
    assert not [
        r
        for r in selectors.eligibility(truck, on=date(2025, 2, 6))
        if r.code in ("status", "work_order")
    ]


def test_a_defect_that_keeps_the_vehicle_on_the_road_changes_nothing(truck):
    _report(truck, takes_off_road=False)
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.AVAILABLE


def test_the_vehicle_stays_in_maintenance_while_another_order_keeps_it(truck):
    first = _report(truck, takes_off_road=True)
    second = _report(truck, title="Φρένα", takes_off_road=True)
    services.work_order_close(order=first, at=WED)
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.IN_MAINTENANCE
    services.work_order_cancel(order=second, at=WED)
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.AVAILABLE


def test_an_out_of_service_vehicle_is_left_out_of_service(truck):
    truck.status = VehicleStatus.OUT_OF_SERVICE
    truck.save()
    order = _report(truck, takes_off_road=True)
    services.work_order_close(order=order, at=WED)
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.OUT_OF_SERVICE


def test_marking_an_open_order_off_road_later_takes_the_vehicle_off(truck):
    order = _report(truck)
    services.work_order_update(order=order, takes_off_road=True)
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.IN_MAINTENANCE
    services.work_order_update(order=order, takes_off_road=False)
    truck.refresh_from_db()
    assert truck.status == VehicleStatus.AVAILABLE


def test_status_flow_refuses_impossible_steps(truck):
    order = _report(truck)
    services.work_order_open(order=order)
    with pytest.raises(ValidationError):
        services.work_order_open(order=order)
    services.work_order_close(order=order, at=WED)
    for step in (services.work_order_start, services.work_order_cancel, services.work_order_close):
        with pytest.raises(ValidationError):
            step(order=order)


def test_closing_before_the_report_is_refused(truck):
    order = _report(truck)
    with pytest.raises(ValidationError):
        services.work_order_close(order=order, at=datetime(2025, 2, 1, tzinfo=UTC))


def test_closing_a_service_order_records_the_service(truck):
    plan = ServicePlanFactory(municipality=truck.municipality, vehicle=truck, every_km=20000)
    order = _report(truck, title="Σέρβις 20.000", service_plan=plan, status="open")
    services.work_order_close(order=order, at=WED, odometer_km=Decimal("120150"))
    record = ServiceRecord.objects.get()
    assert (record.plan, record.vehicle, record.performed_on) == (plan, truck, date(2025, 2, 5))
    assert record.odometer_km == Decimal("120150")
    truck.refresh_from_db()
    assert truck.odometer_km == Decimal("120150")
    (row,) = selectors.service_due_list(municipality_id=truck.municipality_id, on=date(2025, 2, 6))
    assert row.due.due_km == 140150


def test_driver_reported_defect_is_recorded_with_the_driver(truck):
    driver = DriverFactory(municipality=truck.municipality)
    order = _report(truck, reported_by_driver=driver, takes_off_road=True)
    assert order.status == WorkOrderStatus.REPORTED
    assert list(driver.reported_defects.all()) == [order]


def test_parts_labour_and_costs(truck):
    order = _report(truck, labour_cost=Decimal("120.00"), labour_hours=Decimal("3"))
    services.work_order_part_add(
        order=order, name="Σωλήνας", quantity=Decimal("2"), unit_cost=Decimal("35.50")
    )
    services.work_order_part_add(
        order=order, name="Λάδι", quantity=Decimal("20"), unit_cost=Decimal("4.25")
    )
    costs = selectors.work_order_costs(order)
    assert costs == {
        "parts": Decimal("156.00"),  # 2 × 35.50 + 20 × 4.25
        "labour": Decimal("120.00"),
        "other": Decimal("0"),
        "total": Decimal("276.00"),
    }
    listed = selectors.work_order_list(municipality_id=truck.municipality_id).get()
    assert listed.parts_cost == Decimal("156")


def test_negative_costs_and_quantities_are_refused(truck):
    order = _report(truck)
    with pytest.raises(ValidationError):
        services.work_order_part_add(order=order, name="x", quantity=Decimal("0"))
    with pytest.raises(ValidationError):
        services.work_order_update(order=order, labour_cost=Decimal("-1"))


def test_other_municipalitys_vehicle_is_refused(truck, municipality_b):
    other = VehicleFactory(municipality=municipality_b)
    with pytest.raises(ValidationError):
        services.work_order_report(municipality=truck.municipality, vehicle=other, title="x")
