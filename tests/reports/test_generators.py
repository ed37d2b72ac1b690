"""The report generators: grouping, totals and judgements over hand-made inputs (expected
figures computed by hand in the comments)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from reports.generators import fuel, maintenance, movement
from reports.generators.document import BarChart, RouteMap, Signatures, Text, TrendChart
from reports.generators.fmt import Period

ATHENS = ZoneInfo("Europe/Athens")
FEB = Period.month(2025, 2)


def _vehicle(vid, dept, **kw):
    defaults = {
        "vehicle_id": vid,
        "plate": f"ΚΗΙ-{1000 + vid}",
        "description": "Iveco Daily",
        "department": dept,
        "fuel_type": "Diesel",
        "uses_hours": False,
        "norm": None,
    }
    return fuel.FuelVehicleInput(**{**defaults, **kw})


def _fuel_input(vehicles, **kw):
    return fuel.FuelReportInput(
        municipality="Δήμος Χανίων",
        period=FEB,
        vehicles=vehicles,
        generated_at=datetime(2025, 3, 1, 6, tzinfo=UTC),
        **kw,
    )


FLEET = [
    # (20 - 18) / 18 = +11.1 %: inside the 15 % tolerance.
    _vehicle(
        1,
        "Καθαριότητας",
        norm=18.0,
        refuels=2,
        litres=Decimal("100.00"),
        amount=Decimal("165.20"),
        km_telematics=500.0,
        consumption=20.0,
        anomalies=1,
    ),
    # (25 - 20) / 20 = +25 %: above.
    _vehicle(
        2,
        "Καθαριότητας",
        norm=20.0,
        refuels=1,
        litres=Decimal("50.50"),
        amount=Decimal("83.33"),
        km_telematics=202.0,
        consumption=25.0,
        anomalies=2,
        anomalies_open=1,
    ),
    _vehicle(
        3,
        "Πρασίνου",
        uses_hours=True,
        norm=7.0,
        refuels=1,
        litres=Decimal("30.00"),
        amount=Decimal("49.50"),
        hours_meter=12.5,
    ),
    _vehicle(4, "Πρασίνου", fuel_type="Petrol", norm=6.0),
]


def test_fuel_vehicle_rows_deviation_and_status():
    doc = fuel.build(_fuel_input(FLEET))
    table = doc.table("vehicles")
    rows = {r[0]: r for r in table.data_rows()}
    keys = [c.key for c in table.columns]
    row1 = dict(zip(keys, rows["ΚΗΙ-1001"], strict=True))
    assert row1["deviation"] == 11.1 and row1["status"] == "Within norm"
    row2 = dict(zip(keys, rows["ΚΗΙ-1002"], strict=True))
    assert row2["deviation"] == 25.0 and row2["status"] == "Above norm"
    row3 = dict(zip(keys, rows["ΚΗΙ-1003"], strict=True))
    assert row3["unit"] == "l/h" and row3["hours"] == 12.5
    assert row3["status"] == "Too little to judge"
    assert dict(zip(keys, rows["ΚΗΙ-1004"], strict=True))["status"] == "No refuels"
    assert row1["department"] == "Καθαριότητας"  # exported, not drawn


def test_fuel_totals_per_department_type_and_overall():
    doc = fuel.build(_fuel_input(FLEET))
    vehicles = doc.table("vehicles")
    keys = [c.key for c in vehicles.columns]
    totals = dict(zip(keys, vehicles.totals, strict=True))
    # 100.00 + 50.50 + 30.00 = 180.50 l; 165.20 + 83.33 + 49.50 = 298.03 EUR.
    assert totals["litres"] == Decimal("180.50")
    assert totals["amount"] == Decimal("298.03")
    assert totals["refuels"] == 4
    assert totals["anomalies"] == 3 and totals["anomalies_open"] == 1
    # Two departments: one heading and one subtotal each.
    assert len(vehicles.group_rows) == 2 and len(vehicles.subtotal_rows) == 2
    assert len(vehicles.data_rows()) == 4
    departments = {r[0]: r for r in doc.table("departments").rows}
    assert departments["Καθαριότητας"][3] == Decimal("150.50")
    assert departments["Καθαριότητας"][4] == Decimal("248.53")
    assert departments["Πρασίνου"][1] == 2  # vehicles
    fuel_types = {r[0]: r for r in doc.table("fuel_types").rows}
    # Diesel: 180.50 l for 298.03 EUR -> 1.6511... EUR/l.
    assert fuel_types["Diesel"][5] == Decimal("1.651")
    assert fuel_types["Petrol"][3] == Decimal("0")
    assert doc.summary["litres"] == "180.50" and doc.summary["has_data"] is True
    assert any(isinstance(b, BarChart) for b in doc.blocks)
    signatures = [b for b in doc.blocks if isinstance(b, Signatures)]
    assert signatures[0].roles == ("The author", "The head of department")


def test_fuel_contract_spend_and_trend():
    contract = fuel.FuelContractInput(
        reference="12/2024",
        supplier="ΕΚΟ",
        starts_on=date(2024, 6, 1),
        ends_on=None,
        budget=Decimal("1000.00"),
        spent=Decimal("250.00"),
        litres=Decimal("150.0"),
    )
    trend = [fuel.MonthFigures(m, Decimal("10"), Decimal("16.5")) for m in FEB.previous_months(12)]
    doc = fuel.build(_fuel_input(FLEET, contract=contract, trend=trend))
    facts = {
        label: value
        for b in doc.blocks
        if getattr(b, "title", "") == "Fuel supply contract"
        for label, value in b.rows
    }
    assert facts["Spent to date (€)"] == "250,00 (25,0%)"
    assert facts["Remaining (€)"] == "750,00"
    charts = [b for b in doc.blocks if isinstance(b, TrendChart)]
    assert len(charts) == 1 and len(charts[0].months) == 12
    assert doc.table("trend").rows[0][0] == "03/2024"


def test_fuel_month_without_data_says_so():
    doc = fuel.build(_fuel_input([_vehicle(1, "Καθαριότητας")]))
    notices = [b for b in doc.blocks if isinstance(b, Text) and b.style == "empty"]
    assert len(notices) == 1 and "No refuels" in notices[0].text
    assert doc.summary["has_data"] is False
    assert not any(isinstance(b, BarChart) for b in doc.blocks)
    empty = fuel.build(_fuel_input([]))
    assert empty.table("vehicles").rows == () and empty.table("vehicles").totals is None


def _at(day, hour=8):
    return datetime(2025, 2, day, hour, tzinfo=ATHENS)


def test_off_road_days_are_calendar_days_without_double_counting():
    items = [
        # 30/01 10:00 -> 02/02 09:00: February's 1st and 2nd.
        maintenance.OffRoadInput(1, "Α", "", datetime(2025, 1, 30, 10, tzinfo=ATHENS), _at(2, 9)),
        # 02/02 -> 03/02 overlaps the 2nd: adds only the 3rd.
        maintenance.OffRoadInput(1, "Α", "", _at(2, 14), _at(3, 11)),
        # Still off the road: from the 27th to the end of February (now is in March).
        maintenance.OffRoadInput(2, "Β", "", _at(27), None),
    ]
    days = maintenance.off_road_days(
        items, FEB, now=datetime(2025, 3, 5, tzinfo=ATHENS), tz="Europe/Athens"
    )
    assert days == {1: 3, 2: 2}


def _order(n, vid, dept, vendor, parts, labour, other="0"):
    return maintenance.WorkOrderInput(
        number=n,
        closed_at=_at(n),
        vehicle_id=vid,
        plate=f"P{vid}",
        department=dept,
        title=f"Work {n}",
        vendor=vendor,
        parts=Decimal(parts),
        labour=Decimal(labour),
        other=Decimal(other),
    )


def test_maintenance_costs_per_vehicle_department_and_vendor():
    orders = [
        _order(1, 1, "Καθαριότητας", "", "100.00", "50.00"),
        _order(2, 1, "Καθαριότητας", "Συνεργείο Χ", "20.10", "30.00", "5.00"),
        _order(3, 2, "Πρασίνου", "Συνεργείο Χ", "0", "80.00"),
    ]
    data = maintenance.MaintenanceReportInput(
        municipality="Δήμος",
        period=FEB,
        work_orders=orders,
        off_road=[maintenance.OffRoadInput(2, "P2", "Πρασίνου", _at(10), _at(12))],
        generated_at=datetime(2025, 3, 1, tzinfo=UTC),
    )
    doc = maintenance.build(data, now=datetime(2025, 3, 1, tzinfo=UTC))
    per_vehicle = {r[0]: r for r in doc.table("vehicle_costs").rows}
    # P1: parts 120.10, labour 80.00, other 5.00 -> 205.10.
    assert per_vehicle["P1"][2:7] == (
        2,
        Decimal("120.10"),
        Decimal("80.00"),
        Decimal("5.00"),
        Decimal("205.10"),
    )
    assert per_vehicle["P2"][7] == 3  # 10th, 11th, 12th
    vendors = {r[0]: r for r in doc.table("vendor_costs").rows}
    # Συνεργείο Χ: 20.10 + 30.00 + 5.00 + 80.00 = 135.10
    assert vendors["Συνεργείο Χ"][5] == Decimal("135.10")
    assert vendors["Own workshop"][5] == Decimal("150.00")
    assert doc.table("work_orders").totals[9] == Decimal("285.10")
    assert doc.summary["total"] == "285.10" and doc.summary["off_road_days"] == 3


def test_maintenance_month_without_data_is_clear():
    data = maintenance.MaintenanceReportInput(municipality="Δήμος", period=FEB)
    doc = maintenance.build(data, now=datetime(2025, 3, 1, tzinfo=UTC))
    assert any(isinstance(b, Text) and b.style == "empty" for b in doc.blocks)
    assert doc.table("work_orders").rows == ()
    assert doc.summary["total"] == "0"


def _trip(start, minutes, km, **kw):
    return movement.TripInput(
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        start_place="Χάληδων",
        end_place="Σούδα",
        distance_m=km * 1000,
        start_lonlat=(24.018, 35.515),
        end_lonlat=(24.03, 35.51),
        track=((24.018, 35.515), (24.03, 35.51)),
        **kw,
    )


def test_movement_month_groups_trips_by_the_day_they_started():
    trips = [
        _trip(_at(3, 8), 30, 12.5, driver="Γ. Παπαδάκης", references=("Job #4",)),
        _trip(_at(3, 11), 45, 7.25),
        # Leaves at 23:40 on the 4th and arrives after midnight: still the 4th's trip.
        _trip(datetime(2025, 2, 4, 23, 40, tzinfo=ATHENS), 40, 20.0),
    ]
    data = movement.MovementSheetInput(
        municipality="Δήμος Χανίων",
        period=FEB,
        plate="ΚΗΙ-1001",
        vehicle="Iveco Daily",
        department="Καθαριότητας",
        trips=trips,
        reference="7/2025",
        generated_at=datetime(2025, 3, 1, tzinfo=UTC),
    )
    doc = movement.build(data)
    days = doc.table("days")
    assert [r[1] for r in days.rows] == [2, 1]
    assert days.rows[0][4] == 19.75  # 12.5 + 7.25 km
    assert days.rows[0][5] == "1:15"  # 30 + 45 minutes
    assert days.totals[4] == 39.75
    day3 = doc.table("trips_2025-02-03")
    assert day3.rows[0][6] == "Γ. Παπαδάκης" and day3.rows[0][7] == "Job #4"
    assert day3.totals[2] == "Day total: 2 trips"
    assert "trips_2025-02-04" in [t.key for t in doc.tables]
    assert doc.meta.reference == "No. 7/2025"
    assert doc.summary == {
        "trips": 3,
        "km": 39.8,
        "driving_s": 6900,
        "days": 2,
        "reference": "7/2025",
    }
    assert any(isinstance(b, RouteMap) for b in doc.blocks)
    assert [b for b in doc.blocks if isinstance(b, Signatures)][0].roles[0] == "The driver"


def test_movement_day_without_trips():
    data = movement.MovementSheetInput(
        municipality="Δήμος",
        period=Period.parse("2025-02-14"),
        plate="ΚΗΙ-1",
        vehicle="",
        department="",
        trips=[],
    )
    doc = movement.build(data)
    assert doc.table("trips").rows == ()
    notice = [b for b in doc.blocks if isinstance(b, Text) and b.style == "empty"]
    assert notice and "No trips were recorded for ΚΗΙ-1 in 14/02/2025" in notice[0].text
    assert not any(isinstance(b, RouteMap) for b in doc.blocks)
