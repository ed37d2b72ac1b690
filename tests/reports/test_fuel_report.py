"""The monthly fuel report from the database to the PDF: its figures must equal the fuel API's
for the same period, and hand-computed values."""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fleet.choices import FuelType, Meter, Role
from reports.models import ReportRun, ReportStatus
from reports.services import report_run_request
from tests.factories import (
    DepartmentFactory,
    FuelAnomalyFactory,
    FuelContractFactory,
    FuelEntryFactory,
    StopFactory,
    TripFactory,
    VehicleFactory,
)

ATHENS = ZoneInfo("Europe/Athens")
pytestmark = pytest.mark.django_db


def _local(*args):
    return datetime(*args, tzinfo=ATHENS)


@pytest.fixture
def fleet(municipality_a):
    m = municipality_a
    cleaning = DepartmentFactory(municipality=m, name="Καθαριότητας")
    green = DepartmentFactory(municipality=m, name="Πρασίνου")
    truck = VehicleFactory(
        municipality=m, department=cleaning, plate="ΧΝΑ-1001", consumption_norm=Decimal("15")
    )
    loader = VehicleFactory(
        municipality=m,
        department=green,
        plate="",
        machinery_plate="ΜΕ-12345",
        meter=Meter.HOURS,
        consumption_norm=Decimal("7"),
    )
    van = VehicleFactory(
        municipality=m,
        department=green,
        plate="ΧΝΑ-1003",
        fuel_type=FuelType.PETROL,
        consumption_norm=Decimal("10"),
    )

    def entry(vehicle, when, litres, amount, **kw):
        return FuelEntryFactory(
            municipality=m,
            vehicle=vehicle,
            filled_at=when,
            litres=Decimal(litres),
            amount=Decimal(amount),
            **kw,
        )

    # The truck: three full fills; 60 + 40 = 100 l burnt over 10,700 - 10,000 = 700 km
    # -> 14.29 l/100 km, (14.29 - 15) / 15 = -4.7 % of its norm.
    e1 = entry(truck, _local(2025, 2, 3, 9), "50.00", "82.50", full_tank=True, odometer_km=10000)
    entry(truck, _local(2025, 2, 10, 9), "60.00", "99.00", full_tank=True, odometer_km=10400)
    entry(truck, _local(2025, 2, 20, 9), "40.00", "66.00", full_tank=True, odometer_km=10700)
    # The loader: 42 l over 1,214 - 1,200 = 14 engine hours -> 3.00 l/h, -57.1 % of 7 l/h.
    entry(loader, _local(2025, 2, 5, 8), "30.00", "49.50", full_tank=True, engine_hours=1200)
    entry(loader, _local(2025, 2, 25, 8), "42.00", "69.30", full_tank=True, engine_hours=1214)
    # The van: 23:30 on the last day of February (21:30 UTC) is in the month...
    entry(van, _local(2025, 2, 28, 23, 30), "20.00", "35.00")
    # ...00:30 on 1 March is not, although it is still 28 February in UTC.
    entry(van, _local(2025, 3, 1, 0, 30), "25.00", "43.75")
    entry(truck, _local(2025, 1, 31, 12), "10.00", "16.50")
    FuelAnomalyFactory(municipality=m, fuel_entry=e1, vehicle=truck, status="open")
    FuelAnomalyFactory(
        municipality=m,
        fuel_entry=e1,
        vehicle=truck,
        key="x",
        kind="too_soon",
        status="justified",
    )
    FuelAnomalyFactory(
        municipality=m,
        fuel_entry=e1,
        vehicle=truck,
        key="y",
        occurred_at=_local(2025, 3, 2, 9),
    )
    FuelContractFactory(
        municipality=m,
        reference="ΣΥΜ-7/2025",
        starts_on=date(2025, 1, 1),
        amount=Decimal("1000.00"),
    )
    return {"truck": truck, "loader": loader, "van": van}


def _generate(municipality, capture, **kw):
    with capture(execute=True):
        run, queued = report_run_request(
            municipality=municipality, kind=kw.pop("kind", "fuel"), period="2025-02", **kw
        )
    run.refresh_from_db()
    assert queued and run.status == ReportStatus.DONE, run.error
    return run


def _pdf(run) -> bytes:
    with run.file.open("rb") as fh:
        return fh.read()


def _en(value, decimals):
    return f"{Decimal(str(value)):,.{decimals}f}"


def test_fuel_report_figures_equal_the_fuel_api(
    fleet,
    municipality_a,
    users_a,
    api_client_for,
    django_capture_on_commit_callbacks,
    pdf_text,
):
    run = _generate(municipality_a, django_capture_on_commit_callbacks, language="en")
    api = api_client_for(users_a[Role.MANAGER])
    consumption = api.get("/api/v1/fuel-consumption/", {"start": "2025-02-01", "end": "2025-02-28"})
    assert consumption.status_code == 200
    expected = {row["vehicle_plate"]: row for row in consumption.json()["results"]}
    assert set(expected) == {"ΧΝΑ-1001", "ΜΕ-12345", "ΧΝΑ-1003"}

    data = api.get(f"/api/v1/reports/runs/{run.pk}/data/").json()
    assert data == run.data
    rows = {r["plate"]: r for r in data["tables"][0]["rows"]}
    text = pdf_text(_pdf(run))
    for plate, row in expected.items():
        mine = rows[plate]
        assert Decimal(mine["litres"]) == Decimal(row["litres"])
        assert Decimal(mine["amount"]) == Decimal(row["amount"])
        assert mine["refuels"] == row["refuels"]
        assert mine["consumption"] == row["consumption"]
        assert mine["deviation"] == row["off_norm_pct"]
        # The same figures, as printed on the vehicle's row of the PDF.
        printed = (
            rf"{re.escape(plate)}\s.*?\s{row['refuels']}\s+{_en(row['litres'], 1)}\s+"
            rf"{_en(row['amount'], 2)}\s"
        )
        assert re.search(printed, text), plate
        if row["consumption"] is not None:
            line = next(line for line in text.splitlines() if plate in line)
            assert f" {_en(row['consumption'], 1)} " in line
    # Hand-computed: see the fixture.
    assert rows["ΧΝΑ-1001"]["consumption"] == 14.29 and rows["ΧΝΑ-1001"]["deviation"] == -4.7
    assert rows["ΜΕ-12345"]["consumption"] == 3.0 and rows["ΜΕ-12345"]["deviation"] == -57.1
    assert rows["ΜΕ-12345"]["unit"] == "l/h"
    assert rows["ΧΝΑ-1003"]["litres"] == "20.00"
    assert rows["ΧΝΑ-1001"]["km_odometer"] == 700.0
    assert rows["ΧΝΑ-1001"]["anomalies"] == 2 and rows["ΧΝΑ-1001"]["anomalies_open"] == 1
    totals = data["tables"][0]["totals"]
    # 150 + 72 + 20 = 242 l; 247.50 + 118.80 + 35.00 = 401.30 EUR.
    assert (totals["litres"], totals["amount"]) == ("242.00", "401.30")
    assert re.search(r"Grand total\s+3 vehicles\s+6\s+242\.0\s+401\.30", text)


def test_departments_fuel_types_contract_and_trend(
    fleet, municipality_a, django_capture_on_commit_callbacks, pdf_text
):
    run = _generate(municipality_a, django_capture_on_commit_callbacks, language="en")
    tables = {t["key"]: t for t in run.data["tables"]}
    departments = {r["department"]: r for r in tables["departments"]["rows"]}
    assert departments["Καθαριότητας"]["litres"] == "150.00"
    assert departments["Πρασίνου"]["amount"] == "153.80"  # 118.80 + 35.00
    types = {r["fuel_type"]: r for r in tables["fuel_types"]["rows"]}
    assert types["Petrol"]["litres"] == "20.00" and types["Diesel"]["litres"] == "222.00"
    trend = {r["month"]: r for r in tables["trend"]["rows"]}
    assert len(trend) == 12
    assert trend["01/2025"]["litres"] == "10.00" and trend["02/2025"]["litres"] == "242.00"
    assert len(tables["anomalies"]["rows"]) == 2
    # The contract counts everything from 1 January to 28 February: 16.50 + 401.30 = 417.80.
    assert run.data["summary"]["contract_spent"] == "417.80"
    text = pdf_text(_pdf(run))
    assert "ΣΥΜ-7/2025" in text
    assert re.search(r"Spent to date \(€\)\s+417\.80 \(41\.8%\)", text)
    assert re.search(r"Remaining \(€\)\s+582\.20", text)
    assert "Litres and cost per department" not in text  # drawn inside the chart image


def test_department_scope_lists_only_its_vehicles(
    fleet, municipality_a, django_capture_on_commit_callbacks, pdf_text
):
    green = fleet["loader"].department
    run = _generate(
        municipality_a, django_capture_on_commit_callbacks, department=green, language="en"
    )
    assert run.scope == f"department:{green.pk}"
    plates = {r["plate"] for r in run.data["tables"][0]["rows"]}
    assert plates == {"ΜΕ-12345", "ΧΝΑ-1003"}
    text = pdf_text(_pdf(run))
    assert "Πρασίνου" in text and "ΧΝΑ-1001" not in text


def test_a_month_without_data_gives_a_clear_valid_report(
    municipality_a, django_capture_on_commit_callbacks, pdf_text
):
    VehicleFactory(municipality=municipality_a, plate="ΧΝΑ-2000")
    run = _generate(municipality_a, django_capture_on_commit_callbacks, language="en")
    text = pdf_text(_pdf(run))
    assert "No refuels and no vehicle movement were recorded for February 2025" in text
    assert re.search(r"Page 1 of \d+", text)
    assert run.data["summary"]["has_data"] is False
    assert ReportRun.objects.count() == 1


def test_greek_report_uses_greek_numbers(
    fleet, municipality_a, django_capture_on_commit_callbacks, pdf_text
):
    run = _generate(municipality_a, django_capture_on_commit_callbacks, language="el")
    assert run.language == "el"
    text = pdf_text(_pdf(run))
    assert re.search(r"242,0\s+401,30", text)
    assert "Καθαριότητας" in text


def test_daily_summaries_give_gps_km_and_the_same_consumption_as_the_api(
    municipality_a, users_a, api_client_for, django_capture_on_commit_callbacks
):
    from telematics.models import DailySummary

    pickup = VehicleFactory(
        municipality=municipality_a, plate="ΧΝΑ-3000", consumption_norm=Decimal("10")
    )
    # 20 days x 60 km = 1,200 km in February, and a day in March that must not count.
    for day in range(1, 21):
        DailySummary.objects.create(
            municipality=municipality_a,
            vehicle=pickup,
            day=date(2025, 2, day),
            distance_m=60_000,
            engine_hours=2.5,
        )
    DailySummary.objects.create(
        municipality=municipality_a, vehicle=pickup, day=date(2025, 3, 1), distance_m=99_000
    )
    # Refuels without a full tank: the month's litres over the month's km (132 / 1,200).
    for day, litres in ((4, "70.00"), (18, "62.00")):
        FuelEntryFactory(
            municipality=municipality_a,
            vehicle=pickup,
            filled_at=_local(2025, 2, day, 9),
            litres=Decimal(litres),
            amount=Decimal("100.00"),
        )
    run = _generate(municipality_a, django_capture_on_commit_callbacks, language="en")
    row = run.data["tables"][0]["rows"][0]
    assert row["km_telematics"] == 1200.0 and row["hours"] == 50.0
    assert row["consumption"] == 11.0  # 132 l / 1,200 km x 100
    api = api_client_for(users_a[Role.MANAGER])
    found = api.get("/api/v1/fuel-consumption/", {"start": "2025-02-01", "end": "2025-02-28"})
    expected = found.json()["results"][0]
    assert (row["consumption"], expected["method"]) == (expected["consumption"], "period")
    trend = {r["month"]: r for r in run.data["tables"][-1]["rows"]}
    assert trend["02/2025"]["km"] == 1200.0


def _span(start: datetime, hours: float) -> dict:
    """A motion output's time fields for ``hours`` from ``start``."""
    end = start + timedelta(hours=hours)
    return {"start_time": start, "end_time": end, "emitted_at": end, "duration_s": hours * 3600}


@pytest.mark.parametrize("short_moves", [False, True])
def test_full_to_full_over_stored_trips_matches_the_api(
    short_moves, municipality_a, users_a, api_client_for, django_capture_on_commit_callbacks
):
    from telematics.models import Device

    van = VehicleFactory(municipality=municipality_a, plate="ΧΝΑ-4000", consumption_norm=None)
    device = Device.objects.create(
        municipality=municipality_a, unique_id="867000000000009", protocol="osmand"
    )
    if short_moves:
        # Moves too short to be trips, kept by stops (as the daily km count them): 10 km on
        # 12 February, between the fills; 4 km on 9 February, before the first fill; and 6 km
        # in a stop from 06:00 to 12:00 on 14 February, half of which lies before the second
        # fill (09:00): 3 km of it count.
        for start, moved in (
            (_local(2025, 2, 12, 10), [["2025-02-12", 10_000]]),
            (_local(2025, 2, 9, 10), [["2025-02-09", 4_000]]),
            (_local(2025, 2, 14, 6), [["2025-02-14", 6_000]]),
        ):
            StopFactory(
                municipality=municipality_a,
                device=device,
                vehicle=van,
                moved=moved,
                **_span(start, 6),
            )

    def trip(start, hours, km):
        TripFactory(
            municipality=municipality_a,
            device=device,
            vehicle=van,
            distance_m=km * 1000,
            gps_distance_m=km * 1000,
            moving_s=hours * 3600,
            idle_s=0,
            **_span(start, hours),
        )

    # Half of this trip is after the first full fill (09:00): 50 of its 100 km count.
    trip(_local(2025, 2, 10, 8), 2, 100)
    trip(_local(2025, 2, 11, 8), 2, 300)
    for day, litres in ((10, "40.00"), (14, "60.00")):
        FuelEntryFactory(
            municipality=municipality_a,
            vehicle=van,
            filled_at=_local(2025, 2, day, 9),
            litres=Decimal(litres),
            amount=Decimal("90.00"),
            full_tank=True,
        )
    run = _generate(municipality_a, django_capture_on_commit_callbacks, language="en")
    row = run.data["tables"][0]["rows"][0]
    # 60 l over 350 km of trips, and 10 + 3 km of short moves when the stops kept them.
    expected_consumption = 16.53 if short_moves else 17.14
    assert row["consumption"] == expected_consumption
    api = api_client_for(users_a[Role.MANAGER])
    found = api.get("/api/v1/fuel-consumption/", {"start": "2025-02-01", "end": "2025-02-28"})
    expected = found.json()["results"][0]
    assert (expected["consumption"], expected["method"]) == (expected_consumption, "full_to_full")
