"""Telematics storage: constraints, services, and the gateway's raw-SQL stores against the
tables the ORM created (the two must agree to the byte on the unique key)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from telematics import services
from telematics.gateway.django_glue import database_config
from telematics.gateway.registry import DeviceInfo
from telematics.gateway.store import POSITION_COLUMNS, open_store
from telematics.models import Device, DeviceAssignment, Position, UnknownDevice
from tests.factories import MunicipalityFactory, VehicleFactory

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 10, 8, 0, 0, tzinfo=UTC)


@pytest.fixture
def municipality():
    return MunicipalityFactory()


@pytest.fixture
def device(municipality):
    return services.device_create(
        municipality=municipality, unique_id="356307042441013", protocol="teltonika"
    )


def position(device, fix_time, vehicle=None, **values) -> Position:
    return Position.objects.create(
        municipality=device.municipality,
        device=device,
        vehicle=vehicle,
        fix_time=fix_time,
        server_time=fix_time,
        latitude=35.5,
        longitude=24.0,
        **values,
    )


def test_positions_are_unique_on_device_and_fix_time(device):
    position(device, T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        position(device, T0)
    position(device, T0 + timedelta(microseconds=1))
    assert Position.objects.count() == 2


def test_device_ids_are_unique(device, municipality):
    with pytest.raises(ValidationError):
        services.device_create(
            municipality=municipality, unique_id="356307042441013", protocol="gt06"
        )


def test_assigning_closes_the_previous_assignment_and_reattributes_later_positions(
    device, municipality
):
    first, second = (
        VehicleFactory(municipality=municipality),
        VehicleFactory(municipality=municipality),
    )
    services.device_assign(device=device, vehicle=first, valid_from=T0)
    early = position(device, T0 + timedelta(minutes=5), vehicle=first)
    # Positions stored before the office recorded the move (the gateway gave them ``first``).
    late = position(device, T0 + timedelta(hours=2), vehicle=first)
    services.device_assign(device=device, vehicle=second, valid_from=T0 + timedelta(hours=1))
    closed, current = DeviceAssignment.objects.filter(device=device).order_by("valid_from")
    assert closed.valid_to == T0 + timedelta(hours=1) and current.valid_to is None
    early.refresh_from_db()
    late.refresh_from_db()
    assert (early.vehicle_id, late.vehicle_id) == (first.pk, second.pk)


def test_a_device_has_at_most_one_open_assignment(device, municipality):
    services.device_assign(device=device, vehicle=VehicleFactory(municipality=municipality))
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceAssignment.objects.create(
            municipality=municipality,
            device=device,
            vehicle=VehicleFactory(municipality=municipality),
            valid_from=T0,
        )


def test_a_vehicle_of_another_municipality_cannot_carry_the_device(device):
    with pytest.raises(ValidationError):
        services.device_assign(device=device, vehicle=VehicleFactory())


def test_assignment_starting_before_the_current_one_is_refused(device, municipality):
    services.device_assign(
        device=device, vehicle=VehicleFactory(municipality=municipality), valid_from=T0
    )
    with pytest.raises(ValidationError):
        services.device_assign(
            device=device,
            vehicle=VehicleFactory(municipality=municipality),
            valid_from=T0 - timedelta(days=1),
        )


def test_adopting_an_unknown_device_registers_it_and_removes_it_from_the_list(municipality):
    unknown = UnknownDevice.objects.create(
        unique_id="862476051234567", protocol="gt06", first_seen=T0, last_seen=T0, attempts=4
    )
    vehicle = VehicleFactory(municipality=municipality)
    device = services.unknown_device_adopt(
        unknown=unknown, municipality=municipality, vehicle=vehicle
    )
    assert (device.unique_id, device.protocol, device.municipality_id) == (
        "862476051234567",
        "gt06",
        municipality.pk,
    )
    assert not UnknownDevice.objects.exists()
    assert device.assignments.get().vehicle_id == vehicle.pk


def test_device_token_is_stored_as_its_sha256_and_checked_by_the_gateway(device):
    token = services.device_token_issue(device=device)
    device.refresh_from_db()
    assert device.auth_token_hash == hashlib.sha256(token.encode()).hexdigest()
    info = DeviceInfo(
        device.pk, device.unique_id, "osmand", device.municipality_id, True, device.auth_token_hash
    )
    assert info.token_matches(token)
    assert not info.token_matches(token + "x") and not info.token_matches(None)


def test_assignment_changes_make_the_gateway_reload_the_device(device, municipality):
    before = Device.objects.get(pk=device.pk).updated_at
    services.device_assign(device=device, vehicle=VehicleFactory(municipality=municipality))
    assert Device.objects.get(pk=device.pk).updated_at > before


def gateway_row(device, fix_time, vehicle_id=None) -> tuple:
    values = {
        "device_id": device.pk,
        "vehicle_id": vehicle_id,
        "municipality_id": device.municipality_id,
        "fix_time": fix_time,
        "server_time": fix_time,
        "latitude": 35.51,
        "longitude": 24.02,
        "speed_kmh": 12.5,
        "course": 270.0,
        "altitude": None,
        "accuracy": None,
        "hdop": 0.8,
        "satellites": 11,
        "valid": True,
        "ignition": False,
        "odometer": 1234.0,
        "engine_hours": None,
        "fuel_level": 55.0,
        "battery": None,
        "driver_tag": "00000000AB12CD34",
        "attributes": '{"io9": 3}',
    }
    return tuple(values[c] for c in POSITION_COLUMNS)


def test_gateway_store_writes_what_the_orm_reads_and_ignores_what_it_already_holds(device):
    # One position written by the ORM, then the gateway's store writes it again plus a new one,
    # with and without microseconds: the unique key must recognise the ORM's row.
    with_micro = T0 + timedelta(microseconds=250_000)
    position(device, T0)
    position(device, with_micro)
    store = open_store(database_config())
    try:
        rows = [
            gateway_row(device, T0),
            gateway_row(device, with_micro),
            gateway_row(device, T0 + timedelta(seconds=1)),
        ]
        assert store.write_positions(rows) == 1
        assert store.write_positions(rows) == 0
    finally:
        store.close()
    new = Position.objects.get(device=device, fix_time=T0 + timedelta(seconds=1))
    assert (new.latitude, new.longitude, new.speed_kmh, new.course) == (35.51, 24.02, 12.5, 270.0)
    assert (new.satellites, new.valid, new.ignition, new.odometer) == (11, True, False, 1234.0)
    assert new.driver_tag == "00000000AB12CD34" and new.attributes == {"io9": 3}
    assert Position.objects.filter(device=device).count() == 3


def test_gateway_store_loads_devices_and_assignments(device, municipality):
    vehicle = VehicleFactory(municipality=municipality)
    services.device_assign(device=device, vehicle=vehicle, valid_from=T0)
    store = open_store(database_config())
    try:
        devices, assignments, newest = store.load_devices(None)
        found, found_assignments = store.lookup_device(device.unique_id)
        missing, _ = store.lookup_device("nope")
    finally:
        store.close()
    assert [d.unique_id for d in devices] == [device.unique_id]
    assert [(a.vehicle_id, a.valid_from, a.valid_to) for a in assignments] == [
        (vehicle.pk, T0, None)
    ]
    assert found.id == device.pk and found_assignments[0].vehicle_id == vehicle.pk
    assert missing is None
    assert newest == Device.objects.get(pk=device.pk).updated_at


def test_partitions_by_month_on_postgresql():
    names = services.position_partitions_ensure(around=datetime(2026, 1, 15, tzinfo=UTC))
    if connection.vendor != "postgresql":
        assert names == []
        return
    assert names == [
        "telematics_position_202512",
        "telematics_position_202601",
        "telematics_position_202602",
        "telematics_position_202603",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'telematics_position'"
        )
        partitions = {row[0] for row in cursor.fetchall()}
    assert set(names) <= partitions and "telematics_position_default" in partitions
