"""Fuel entries and the anomaly checks over the database: findings stored once, with their facts,
kept when resolved, dropped when the entry is corrected; positions read from the real table."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from fleet.models import FuelAnomaly, FuelEntry
from fleet.models.fuel import AnomalyStatus, FuelSource
from fleet.selectors import fuel as selectors
from fleet.services import fuel as services
from telematics.models import Device, Position
from tests.factories import DriverFactory, FuelStationFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db

AT = datetime(2025, 2, 3, 8, 0, tzinfo=UTC)
STATION = (35.5120, 24.0300)


@pytest.fixture
def truck(municipality_a):
    return VehicleFactory(
        municipality=municipality_a,
        plate="ΚΗΥ-1234",
        tank_capacity_l=Decimal("300"),
        consumption_norm=Decimal("55"),
    )


@pytest.fixture
def station(municipality_a):
    return FuelStationFactory(
        municipality=municipality_a, name="ΕΚΟ Σούδας", latitude=STATION[0], longitude=STATION[1]
    )


def _record(truck, **fields):
    fields.setdefault("filled_at", AT)
    fields.setdefault("litres", Decimal("100"))
    return services.fuel_entry_record(municipality=truck.municipality, vehicle=truck, **fields)


def _positions(vehicle, lat, lon, start, minutes, speed=0.0, odometer_start=None):
    device, _ = Device.objects.get_or_create(
        unique_id=f"dev-{vehicle.pk}",
        defaults={"municipality": vehicle.municipality, "protocol": "osmand"},
    )
    rows = []
    for i in range(minutes * 6):
        t = start + timedelta(seconds=10 * i)
        rows.append(
            Position(
                municipality=vehicle.municipality,
                device=device,
                vehicle=vehicle,
                fix_time=t,
                server_time=t,
                latitude=lat,
                longitude=lon,
                speed_kmh=speed,
                odometer=None if odometer_start is None else odometer_start + 10 * speed / 3.6 * i,
            )
        )
    Position.objects.bulk_create(rows)


def _detect(truck):
    return services.fuel_anomalies_detect(
        municipality_id=truck.municipality_id, start=date(2025, 2, 1), end=date(2025, 3, 1)
    )


def test_recording_a_refuel_fills_in_the_amount_and_runs_the_checks(
    truck, station, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        entry = _record(
            truck,
            litres=Decimal("320"),
            unit_price=Decimal("1.659"),
            station=station,
            full_tank=True,
            odometer_km=Decimal("120500"),
        )
    assert entry.amount == Decimal("530.88")  # 320 × 1.659 = 530.88
    assert entry.station_name == "ΕΚΟ Σούδας"
    (anomaly,) = FuelAnomaly.objects.all()
    assert (anomaly.kind, anomaly.fuel_entry, anomaly.status) == ("over_capacity", entry, "open")
    assert anomaly.facts == {"litres": 320.0, "tank_capacity_l": 300.0, "excess_l": 20.0}
    truck.refresh_from_db()
    assert truck.odometer_km == Decimal("120500")


def test_refuel_far_from_the_station_is_flagged_from_stored_positions(truck, station):
    # The tracker puts the truck 0.02° north of the station (2.2 km) all around the refuel time.
    _positions(truck, STATION[0] + 0.02, STATION[1], AT - timedelta(minutes=20), 40)
    _record(truck, station=station)
    _detect(truck)
    (anomaly,) = FuelAnomaly.objects.all()
    assert anomaly.kind == "far_from_station"
    assert anomaly.facts["distance_m"] == 2224  # 2 × 1,111.95 m
    assert anomaly.facts["station"] == "ΕΚΟ Σούδας"


def test_refuel_at_the_station_is_quiet(truck, station):
    _positions(truck, STATION[0] + 0.001, STATION[1], AT - timedelta(minutes=20), 40)
    _record(truck, station=station)
    _detect(truck)
    assert FuelAnomaly.objects.count() == 0


def test_refuel_while_moving_is_flagged(truck):
    _positions(truck, STATION[0], STATION[1], AT - timedelta(minutes=20), 40, speed=45.0)
    _record(truck)
    _detect(truck)
    assert list(FuelAnomaly.objects.values_list("kind", flat=True)) == ["moving"]


def test_too_soon_uses_the_device_odometer_on_positions(truck, station):
    # Full at 08:00; the device odometer says it drove 9 km by 10:00 (at 4.5 km/h): at most
    # 9 × 0.55 × 1.5 + 5 = 12.4 l could have gone, yet 90 l went in.
    _positions(
        truck,
        STATION[0],
        STATION[1],
        AT - timedelta(minutes=5),
        130,
        speed=4.5,
        odometer_start=5_000_000.0,
    )
    _record(truck, full_tank=True, station=station)
    second = _record(
        truck, filled_at=AT + timedelta(hours=2), litres=Decimal("90"), station=station
    )
    _detect(truck)
    (anomaly,) = FuelAnomaly.objects.all()
    assert anomaly.kind == "too_soon" and anomaly.fuel_entry == second
    assert anomaly.facts["usage_source"] == "telematics"
    assert anomaly.facts["distance_km"] == pytest.approx(9.0, abs=0.1)


def test_findings_are_stored_once_and_dropped_when_the_entry_is_corrected(truck):
    entry = _record(truck, litres=Decimal("400"))
    assert _detect(truck)["created"] == 1
    assert _detect(truck)["created"] == 0
    services.fuel_entry_update(entry=entry, litres=Decimal("40"))
    result = _detect(truck)
    assert result["removed"] == 1 and FuelAnomaly.objects.count() == 0


def test_a_resolved_finding_is_kept_as_it_was(truck):
    entry = _record(truck, litres=Decimal("400"))
    _detect(truck)
    anomaly = FuelAnomaly.objects.get()
    manager = UserFactory(municipality=truck.municipality)
    services.fuel_anomaly_resolve(
        anomaly=anomaly, status=AnomalyStatus.JUSTIFIED, note="Δύο δεξαμενές", user=manager
    )
    services.fuel_entry_update(entry=entry, litres=Decimal("40"))
    _detect(truck)
    anomaly.refresh_from_db()
    assert anomaly.status == AnomalyStatus.JUSTIFIED and anomaly.note == "Δύο δεξαμενές"
    assert anomaly.resolved_by == manager


def test_justifying_a_finding_needs_a_reason(truck):
    _record(truck, litres=Decimal("400"))
    _detect(truck)
    anomaly = FuelAnomaly.objects.get()
    with pytest.raises(ValidationError):
        services.fuel_anomaly_resolve(anomaly=anomaly, status=AnomalyStatus.JUSTIFIED, note=" ")
    confirmed = services.fuel_anomaly_resolve(anomaly=anomaly, status=AnomalyStatus.CONFIRMED)
    assert confirmed.resolved_at is not None


def test_consumption_off_the_norm_for_a_month_from_odometer_readings(truck):
    # Full to full: 70 l over 100 km = 70 l/100 km against a norm of 55 (+27.3 %).
    _record(truck, full_tank=True, odometer_km=Decimal("5000"))
    _record(
        truck,
        filled_at=AT + timedelta(days=3),
        litres=Decimal("70"),
        full_tank=True,
        odometer_km=Decimal("5100"),
    )
    _detect(truck)
    anomaly = FuelAnomaly.objects.get(kind="consumption_norm")
    assert anomaly.key == "consumption_norm:2025-02"
    assert anomaly.facts["value"] == 70.0 and anomaly.facts["off_pct"] == 27.3
    (row,) = selectors.consumption_report(
        municipality_id=truck.municipality_id, start=date(2025, 2, 1), end=date(2025, 2, 28)
    )
    assert row.result.value == 70.0 and row.off_norm_pct == 27.3
    assert row.litres == Decimal("170.00") and row.refuels == 2


def test_meter_going_backwards_is_flagged(truck):
    _record(truck, odometer_km=Decimal("120500"))
    _record(truck, filled_at=AT + timedelta(days=1), odometer_km=Decimal("120100"))
    _detect(truck)
    assert "odometer_backwards" in set(FuelAnomaly.objects.values_list("kind", flat=True))
    truck.refresh_from_db()
    assert truck.odometer_km == Decimal("120500")  # a lower reading never moves the meter back


def test_bad_manual_entries_are_refused(truck, station, municipality_b):
    for fields in (
        {"litres": Decimal("-5")},
        {"litres": Decimal("0")},
        {"amount": Decimal("-1")},
        {"filled_at": datetime.now(UTC) + timedelta(days=2)},
        {"source": FuelSource.TANK, "station": station},  # not a municipal tank
        {"driver": DriverFactory(municipality=municipality_b)},
    ):
        with pytest.raises(ValidationError):
            _record(truck, **fields)
    assert FuelEntry.objects.count() == 0


def test_municipal_tank_dispensing(truck, municipality_a):
    tank = FuelStationFactory(
        municipality=municipality_a, name="Δεξαμενή αμαξοστασίου", is_municipal_tank=True
    )
    entry = _record(truck, source=FuelSource.TANK, station=tank, litres=Decimal("120"))
    assert entry.station_name == "Δεξαμενή αμαξοστασίου" and entry.amount is None
