"""The compliance calendar over the database: eligibility for dispatch, reminders by e-mail,
the cost of ownership."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fleet.choices import DocumentKind, Role
from fleet.models import Reminder
from fleet.selectors import maintenance as selectors
from fleet.services import maintenance as services
from tests.factories import (
    DocumentFactory,
    DriverFactory,
    DriverLicenceFactory,
    ExpenseFactory,
    FuelEntryFactory,
    RoadworthinessTestFactory,
    UserFactory,
    VehicleFactory,
    WorkOrderFactory,
    WorkOrderPartFactory,
)

pytestmark = pytest.mark.django_db
TODAY = date(2025, 3, 10)


@pytest.fixture
def truck(municipality_a):
    return VehicleFactory(
        municipality=municipality_a,
        plate="ΚΗΥ-1234",
        gross_weight_kg=26000,
        first_registration=date(2018, 5, 1),
    )


def _insure(vehicle, expires_on):
    return DocumentFactory(
        municipality=vehicle.municipality,
        vehicle=vehicle,
        kind=DocumentKind.INSURANCE,
        issued_on=expires_on - timedelta(days=365),
        expires_on=expires_on,
    )


def test_a_compliant_vehicle_is_eligible(truck):
    _insure(truck, date(2025, 12, 31))
    RoadworthinessTestFactory(
        municipality=truck.municipality, vehicle=truck, tested_on=date(2024, 11, 1)
    )
    assert selectors.eligibility(truck, on=TODAY) == []


def test_expired_insurance_and_overdue_kteo_make_a_vehicle_ineligible(truck):
    _insure(truck, date(2025, 3, 1))
    RoadworthinessTestFactory(
        municipality=truck.municipality, vehicle=truck, tested_on=date(2024, 2, 1)
    )  # heavy: due 2025-02-01
    reasons = selectors.eligibility(truck, on=TODAY)
    assert sorted(r.code for r in reasons) == ["insurance", "kteo"]
    insurance = next(r for r in reasons if r.code == "insurance")
    assert insurance.due_on == date(2025, 3, 1)
    assert "Insurance" in str(insurance)


def test_kteo_inside_its_grace_week_does_not_block(truck):
    _insure(truck, date(2025, 12, 31))
    RoadworthinessTestFactory(
        municipality=truck.municipality, vehicle=truck, tested_on=date(2024, 3, 5)
    )  # due 2025-03-05, window to 03-12
    assert selectors.eligibility(truck, on=TODAY) == []
    assert [r.code for r in selectors.eligibility(truck, on=date(2025, 3, 13))] == ["kteo"]


def test_dangerous_deficiencies_block_at_once(truck):
    _insure(truck, date(2025, 12, 31))
    RoadworthinessTestFactory(
        municipality=truck.municipality,
        vehicle=truck,
        tested_on=date(2025, 3, 9),
        result="dangerous",
    )
    (reason,) = selectors.eligibility(truck, on=TODAY)
    assert reason.code == "kteo_retest"


def test_eligibility_of_a_whole_fleet_takes_a_fixed_number_of_queries(
    municipality_a, django_assert_max_num_queries
):
    for _ in range(15):
        vehicle = VehicleFactory(municipality=municipality_a)
        _insure(vehicle, date(2025, 12, 31))
    with django_assert_max_num_queries(4):
        result = selectors.vehicles_eligibility(municipality_id=municipality_a.pk, on=TODAY)
    assert len(result) == 15


def test_driver_eligibility_for_a_truck(truck):
    driver = DriverFactory(municipality=truck.municipality, pei_expiry=date(2027, 1, 1))
    DriverLicenceFactory(driver=driver, category="B", expires_on=date(2030, 1, 1))
    licence_c = DriverLicenceFactory(driver=driver, category="C", expires_on=date(2030, 1, 1))
    assert selectors.driver_eligibility(driver, on=TODAY, vehicle=truck) == []
    licence_c.expires_on = date(2025, 3, 1)
    licence_c.save()
    (reason,) = selectors.driver_eligibility(driver, on=TODAY, vehicle=truck)
    assert reason.code == "licence" and reason.due_on == date(2025, 3, 1)
    # Without a vehicle, any overdue item counts.
    assert [r.code for r in selectors.driver_eligibility(driver, on=TODAY)] == ["licence"]


def test_calendar_lists_what_is_due_and_overdue_most_urgent_first(truck):
    _insure(truck, date(2025, 3, 25))
    driver = DriverFactory(municipality=truck.municipality, pei_expiry=date(2025, 3, 1))
    DriverLicenceFactory(driver=driver, category="C", expires_on=date(2028, 1, 1))
    rows = selectors.compliance_calendar(municipality=truck.municipality, on=TODAY)
    summary = [(r.subject, str(r.item.rule), str(r.item.status), r.item.due_on) for r in rows]
    assert summary == [
        # First ΚΤΕΟ of a heavy vehicle a year after first registration, nothing recorded since.
        ("vehicle", "kteo", "overdue", date(2019, 5, 1)),
        ("driver", "pei", "overdue", date(2025, 3, 1)),
        ("vehicle", "insurance", "due_soon", date(2025, 3, 25)),
    ]
    assert rows[0].reference.startswith("Οδηγία 2014/45/ΕΕ")


def test_reminders_are_created_once_and_emailed_once(truck, mailoutbox):
    _insure(truck, date(2025, 3, 25))
    UserFactory(municipality=truck.municipality, role=Role.MANAGER, email="manager@example.org")
    UserFactory(municipality=truck.municipality, role=Role.DRIVER, email="driver@example.org")
    first = services.reminders_generate(municipality=truck.municipality, on=TODAY)
    again = services.reminders_generate(municipality=truck.municipality, on=TODAY)
    assert sorted(r.rule for r in first) == ["insurance", "kteo"]
    assert again == []
    assert services.reminders_email(municipality=truck.municipality) == 2
    assert services.reminders_email(municipality=truck.municipality) == 0
    (mail,) = mailoutbox
    assert mail.to == ["manager@example.org"]
    assert "ΚΗΥ-1234" in mail.body and "25/03/2025" in mail.body
    assert Reminder.objects.filter(emailed_at__isnull=True).count() == 0


def test_a_renewed_document_reminds_again_for_its_new_date(truck):
    doc = _insure(truck, date(2025, 3, 25))
    services.reminders_generate(municipality=truck.municipality, on=TODAY)
    doc.expires_on = date(2026, 3, 25)
    doc.save()
    later = services.reminders_generate(
        municipality=truck.municipality, on=date(2026, 3, 1), horizon_days=30
    )
    assert [(r.rule, r.due_on) for r in later if r.rule == "insurance"] == [
        ("insurance", date(2026, 3, 25))
    ]


def test_cost_of_ownership_adds_fuel_parts_labour_and_documents(truck, municipality_a):
    FuelEntryFactory(
        municipality=municipality_a,
        vehicle=truck,
        amount=Decimal("132.00"),
        odometer_km=Decimal("1000"),
        filled_at=datetime(2025, 2, 3, 8, tzinfo=UTC),
    )
    FuelEntryFactory(
        municipality=municipality_a,
        vehicle=truck,
        amount=Decimal("68.00"),
        odometer_km=Decimal("1400"),
        filled_at=datetime(2025, 2, 20, 8, tzinfo=UTC),
    )
    FuelEntryFactory(
        municipality=municipality_a,
        vehicle=truck,
        amount=Decimal("999.00"),
        filled_at=datetime(2025, 4, 1, 8, tzinfo=UTC),
    )  # outside the period
    order = WorkOrderFactory(
        municipality=municipality_a,
        vehicle=truck,
        labour_cost=Decimal("100.00"),
        other_cost=Decimal("10.00"),
    )
    WorkOrderPartFactory(work_order=order, quantity=Decimal("2"), unit_cost=Decimal("25.00"))
    cancelled = WorkOrderFactory(
        municipality=municipality_a,
        vehicle=truck,
        status="cancelled",
        labour_cost=Decimal("500.00"),
    )
    WorkOrderPartFactory(work_order=cancelled, unit_cost=Decimal("300.00"))
    ExpenseFactory(
        municipality=municipality_a,
        vehicle=truck,
        amount=Decimal("450.00"),
        incurred_on=date(2025, 1, 10),
    )
    RoadworthinessTestFactory(
        municipality=municipality_a,
        vehicle=truck,
        tested_on=date(2025, 2, 10),
        cost=Decimal("50.00"),
    )
    (row,) = selectors.vehicle_costs(
        municipality_id=municipality_a.pk, start=date(2025, 1, 1), end=date(2025, 3, 31)
    )
    assert (row.fuel, row.parts, row.labour, row.other, row.documents) == (
        Decimal("200.00"),
        Decimal("50.00"),
        Decimal("100.00"),
        Decimal("10.00"),
        Decimal("500.00"),
    )
    assert row.total == Decimal("860.00")
    assert row.km == Decimal("400") and row.per_km == Decimal("2.150")
