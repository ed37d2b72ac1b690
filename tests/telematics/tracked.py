"""Helpers for tests of what the workers do with stored positions: a vehicle with its tracker,
and positions stored as the gateway's commit leaves them (rows, no hand-off)."""

from __future__ import annotations

from datetime import UTC, datetime

from telematics.models import Device, DeviceAssignment, Position
from tests.factories import VehicleFactory


def tracked_vehicle(municipality, unique_id: str, **vehicle_fields):
    """A vehicle of ``municipality`` carrying a Teltonika tracker since 2024: (vehicle, device)."""
    vehicle = VehicleFactory(municipality=municipality, **vehicle_fields)
    device = Device.objects.create(
        municipality=municipality, unique_id=unique_id, protocol="teltonika"
    )
    DeviceAssignment.objects.create(
        municipality=municipality,
        device=device,
        vehicle=vehicle,
        valid_from=datetime(2024, 1, 1, tzinfo=UTC),
    )
    return vehicle, device


def store_fixes(device, vehicle, fixes, *, stored_at: datetime | None = None):
    """Store ``fixes`` as positions of ``device`` in ``vehicle``; (first, last) fix time."""
    Position.objects.bulk_create(
        Position(
            municipality_id=device.municipality_id,
            device=device,
            vehicle=vehicle,
            fix_time=f.fix_time,
            server_time=stored_at or f.fix_time,
            latitude=f.latitude,
            longitude=f.longitude,
            speed_kmh=f.speed_kmh,
            valid=f.valid,
            ignition=f.ignition,
        )
        for f in fixes
    )
    return min(f.fix_time for f in fixes), max(f.fix_time for f in fixes)
