"""The monthly maintenance report from the database to the PDF: costs equal the work-order
API's, days off the road and due items are computed by hand."""

import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fleet.choices import Role
from reports.models import ReportStatus
from reports.services import report_run_request
from tests.factories import (
    DepartmentFactory,
    DocumentFactory,
    ServicePlanFactory,
    ServiceRecordFactory,
    VehicleFactory,
    WorkOrderFactory,
    WorkOrderPartFactory,
)

ATHENS = ZoneInfo("Europe/Athens")
pytestmark = pytest.mark.django_db


def _local(*args):
    return datetime(*args, tzinfo=ATHENS)


@pytest.fixture
def workshop(municipality_a):
    m = municipality_a
    cleaning = DepartmentFactory(municipality=m, name="Καθαριότητας")
    green = DepartmentFactory(municipality=m, name="Πρασίνου")
    truck = VehicleFactory(municipality=m, department=cleaning, plate="ΧΝΑ-1001")
    pickup = VehicleFactory(municipality=m, department=green, plate="ΧΝΑ-1002")
    # Done in February, off the road from 30 January 10:00 to 2 February 09:00.
    brakes = WorkOrderFactory(
        municipality=m,
        vehicle=truck,
        title="Φρένα",
        status="done",
        reported_at=_local(2025, 1, 30, 9),
        closed_at=_local(2025, 2, 2, 9),
        takes_off_road=True,
        off_road_from=_local(2025, 1, 30, 10),
        off_road_until=_local(2025, 2, 2, 9),
        off_road_days=4,
        vendor="Συνεργείο Παπαδάκη",
        labour_cost=Decimal("120.00"),
        other_cost=Decimal("10.00"),
    )
    # 2.5 x 12.35 = 30.875 -> 30.88 (each part is rounded to the cent) ; 1 x 80.00.
    WorkOrderPartFactory(
        work_order=brakes,
        municipality=m,
        name="Τακάκια",
        quantity=Decimal("2.5"),
        unit_cost=Decimal("12.35"),
    )
    WorkOrderPartFactory(work_order=brakes, municipality=m, name="Δίσκος", unit_cost=Decimal("80"))
    # Done in the municipality's own workshop; closed 23:30 on 28 February, local time.
    oil = WorkOrderFactory(
        municipality=m,
        vehicle=pickup,
        title="Αλλαγή λαδιών",
        status="done",
        reported_at=_local(2025, 2, 27, 9),
        closed_at=_local(2025, 2, 28, 23, 30),
        labour_cost=Decimal("40.00"),
    )
    WorkOrderPartFactory(work_order=oil, municipality=m, name="Λάδι", unit_cost=Decimal("35.50"))
    # Closed on 1 March at 00:30 (still February in UTC): not in February's report.
    WorkOrderFactory(
        municipality=m,
        vehicle=pickup,
        status="done",
        reported_at=_local(2025, 2, 27, 9),
        closed_at=_local(2025, 3, 1, 0, 30),
        labour_cost=Decimal("999.00"),
    )
    # Still open and off the road since 26 February: 26, 27, 28 count for February.
    WorkOrderFactory(
        municipality=m,
        vehicle=pickup,
        status="in_progress",
        reported_at=_local(2025, 2, 26, 8),
        takes_off_road=True,
        off_road_from=_local(2025, 2, 26, 8),
    )
    plan = ServicePlanFactory(
        municipality=m, vehicle=truck, name="Ετήσιο σέρβις", every_km=None, every_days=365
    )
    ServiceRecordFactory(
        municipality=m, vehicle=truck, plan=plan, performed_on=date(2024, 3, 15), odometer_km=9000
    )
    ServiceRecordFactory(
        municipality=m,
        vehicle=pickup,
        performed_on=date(2025, 2, 28),
        odometer_km=Decimal("45210"),
        work_order=oil,
        notes="Λάδια και φίλτρα",
    )
    # Insurance ends 10 March: due within the next month.
    DocumentFactory(
        municipality=m,
        vehicle=truck,
        kind="insurance",
        issued_on=date(2024, 3, 10),
        expires_on=date(2025, 3, 10),
    )
    return {"truck": truck, "pickup": pickup, "brakes": brakes, "oil": oil}


def _run(municipality, capture, **kw):
    with capture(execute=True):
        run, _queued = report_run_request(
            municipality=municipality, kind="maintenance", period="2025-02", **kw
        )
    run.refresh_from_db()
    assert run.status == ReportStatus.DONE, run.error
    return run


def test_maintenance_costs_equal_the_work_order_api(
    workshop,
    municipality_a,
    users_a,
    api_client_for,
    django_capture_on_commit_callbacks,
    pdf_text,
):
    run = _run(municipality_a, django_capture_on_commit_callbacks, language="en")
    api = api_client_for(users_a[Role.MANAGER])
    tables = {t["key"]: t for t in run.data["tables"]}
    orders = {r["number"]: r for r in tables["work_orders"]["rows"]}
    assert set(orders) == {workshop["brakes"].pk, workshop["oil"].pk}
    with open(run.file.path, "rb") as fh:
        text = pdf_text(fh.read())
    for number, row in orders.items():
        costs = api.get(f"/api/v1/work-orders/{number}/").json()["costs"]
        assert Decimal(row["parts"]) == Decimal(costs["parts"])
        assert Decimal(row["labour"]) == Decimal(costs["labour"])
        assert Decimal(row["total"]) == Decimal(costs["total"])
        assert re.search(rf"\b{number}\s+\d\d/0[23]/2025\s.*{re.escape(costs['total'])}", text)
    # Brakes: parts 30.88 + 80.00 = 110.88, labour 120, other 10 -> 240.88.
    assert orders[workshop["brakes"].pk]["parts"] == "110.88"
    assert orders[workshop["brakes"].pk]["total"] == "240.88"
    assert orders[workshop["oil"].pk]["vendor"] == "Own workshop"
    per_vehicle = {r["plate"]: r for r in tables["vehicle_costs"]["rows"]}
    # Truck: off the road on 1 and 2 February; pickup: 26, 27, 28 February (still open).
    assert per_vehicle["ΧΝΑ-1001"]["off_road_days"] == 2
    assert per_vehicle["ΧΝΑ-1002"]["off_road_days"] == 3
    assert per_vehicle["ΧΝΑ-1002"]["total"] == "75.50"
    vendors = {r["vendor"]: r for r in tables["vendor_costs"]["rows"]}
    assert vendors["Συνεργείο Παπαδάκη"]["total"] == "240.88"
    assert tables["work_orders"]["totals"]["total"] == "316.38"
    assert run.data["summary"]["open_work_orders"] == 1
    services = tables["services"]["rows"]
    assert [(s["plate"], s["service"]) for s in services] == [("ΧΝΑ-1002", "Λάδια και φίλτρα")]
    due = tables["services_due"]["rows"]
    assert [(d["subject"], d["item"], d["due_on"]) for d in due] == [
        ("ΧΝΑ-1001", "Ετήσιο σέρβις", "2025-03-15")
    ]
    assert due[0]["detail"].endswith("in 15 days")  # 15 March is 15 days after 28 February
    compliance = {(d["subject"], d["item"]): d for d in tables["compliance"]["rows"]}
    assert compliance[("ΧΝΑ-1001", "Insurance")]["due_on"] == "2025-03-10"
    assert compliance[("ΧΝΑ-1001", "Insurance")]["detail"] == "in 10 days"
    assert re.search(r"ΧΝΑ-1001\s+Insurance\s+10/03/2025\s+in 10 days", text)
    assert "Συνεργείο Παπαδάκη" in text and "316.38" in text


def test_maintenance_month_without_data_is_clear(
    municipality_a, django_capture_on_commit_callbacks, pdf_text
):
    VehicleFactory(municipality=municipality_a)
    run = _run(municipality_a, django_capture_on_commit_callbacks, language="en")
    with open(run.file.path, "rb") as fh:
        text = pdf_text(fh.read())
    assert "No work orders, services or days off the road were recorded for February 2025" in (
        " ".join(text.split())
    )
    assert "No work orders were completed in this period." in text
    assert re.search(r"Page 1 of \d", text)
