"""What writes in the telematics app (positions themselves are written by the gateway)."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telematics.gateway.registry import token_hash
from telematics.models import Device, DeviceAssignment, Position, Protocol, UnknownDevice

log = logging.getLogger("telematics")


def _touch(device: Device) -> None:
    """Make the gateway reload the device (and its assignments) on its next refresh."""
    device.updated_at = timezone.now()
    Device.objects.filter(pk=device.pk).update(updated_at=device.updated_at)


def device_create(
    *,
    municipality,
    unique_id: str,
    protocol: str,
    name: str = "",
    active: bool = True,
) -> Device:
    unique_id = unique_id.strip()
    if not unique_id:
        raise ValidationError({"unique_id": _("A device needs its unique id.")})
    if protocol not in Protocol.values:
        raise ValidationError({"protocol": _("Unknown protocol.")})
    if Device.objects.filter(unique_id=unique_id).exists():
        raise ValidationError({"unique_id": _("A device with this id is already registered.")})
    device = Device(
        municipality=municipality, unique_id=unique_id, protocol=protocol, name=name, active=active
    )
    device.full_clean()
    device.save()
    log.info("telematics.device_created device=%s municipality=%s", unique_id, municipality.pk)
    return device


def device_update(*, device: Device, name: str | None = None, active: bool | None = None) -> Device:
    fields = ["updated_at"]
    if name is not None:
        device.name = name
        fields.append("name")
    if active is not None:
        device.active = active
        fields.append("active")
    device.save(update_fields=fields)
    return device


def device_token_issue(*, device: Device) -> str:
    """A new token for the device (returned once, stored hashed); the old one stops working."""
    token = secrets.token_urlsafe(32)
    device.auth_token_hash = token_hash(token)
    device.save(update_fields=["auth_token_hash", "updated_at"])
    log.info("telematics.device_token_issued device=%s", device.unique_id)
    return token


def device_token_clear(*, device: Device) -> None:
    device.auth_token_hash = ""
    device.save(update_fields=["auth_token_hash", "updated_at"])


def _reattribute(device: Device, start: datetime, end: datetime | None, vehicle_id) -> int:
    """Positions already stored for this device in [start, end) follow the assignment (an
    assignment recorded after the fact). Bounded by the (device, fix_time) index."""
    positions = Position.objects.filter(device=device, fix_time__gte=start)
    if end is not None:
        positions = positions.filter(fix_time__lt=end)
    return positions.exclude(vehicle_id=vehicle_id).update(vehicle_id=vehicle_id)


@transaction.atomic
def device_assign(
    *, device: Device, vehicle, valid_from: datetime | None = None
) -> DeviceAssignment:
    """Put the device in ``vehicle`` from ``valid_from`` (default now), closing its current
    assignment at that moment. Positions from then on belong to ``vehicle``."""
    valid_from = valid_from or timezone.now()
    if vehicle.municipality_id != device.municipality_id:
        raise ValidationError({"vehicle": _("The vehicle belongs to another municipality.")})
    device = Device.objects.select_for_update().get(pk=device.pk)
    current = device.assignments.filter(valid_to__isnull=True).first()
    if current is not None:
        if current.vehicle_id == vehicle.pk:
            return current
        if valid_from <= current.valid_from:
            raise ValidationError(
                {"valid_from": _("The device's current assignment starts after this time.")}
            )
        current.valid_to = valid_from
        current.save(update_fields=["valid_to"])
    later = device.assignments.filter(valid_from__gt=valid_from).order_by("valid_from").first()
    if later is not None:
        raise ValidationError({"valid_from": _("The device has a later assignment already.")})
    assignment = DeviceAssignment.objects.create(
        municipality_id=device.municipality_id,
        device=device,
        vehicle=vehicle,
        valid_from=valid_from,
    )
    moved = _reattribute(device, valid_from, None, vehicle.pk)
    _touch(device)
    log.info(
        "telematics.device_assigned device=%s vehicle=%s from=%s reattributed=%d",
        device.unique_id,
        vehicle.pk,
        valid_from.isoformat(),
        moved,
    )
    return assignment


@transaction.atomic
def device_unassign(*, device: Device, at: datetime | None = None) -> DeviceAssignment | None:
    at = at or timezone.now()
    current = device.assignments.select_for_update().filter(valid_to__isnull=True).first()
    if current is None:
        return None
    if at <= current.valid_from:
        raise ValidationError({"at": _("The assignment starts after this time.")})
    current.valid_to = at
    current.save(update_fields=["valid_to"])
    _reattribute(device, at, None, None)
    _touch(device)
    log.info("telematics.device_unassigned device=%s at=%s", device.unique_id, at.isoformat())
    return current


@transaction.atomic
def unknown_device_adopt(
    *, unknown: UnknownDevice, municipality, name: str = "", vehicle=None
) -> Device:
    """Register a tracker that reported while unknown, in ``municipality``; one click."""
    unknown = UnknownDevice.objects.select_for_update().get(pk=unknown.pk)
    device = device_create(
        municipality=municipality,
        unique_id=unknown.unique_id,
        protocol=unknown.protocol if unknown.protocol in Protocol.values else Protocol.OSMAND,
        name=name,
    )
    unknown.delete()
    if vehicle is not None:
        device_assign(device=device, vehicle=vehicle)
    log.info(
        "telematics.unknown_device_adopted device=%s municipality=%s",
        device.unique_id,
        municipality.pk,
    )
    return device


def position_partitions_ensure(*, around: datetime | None = None) -> list[str]:
    """PostgreSQL: create the monthly partitions of the positions table around ``around``
    (previous month to two months ahead). Nothing to do elsewhere. Returns partition names."""
    from telematics.gateway.store import month_start, partition_ddl, partition_name

    if connection.vendor != "postgresql":
        return []
    around = around or timezone.now()
    names = []
    with connection.cursor() as cursor:
        for offset in (-1, 0, 1, 2):
            start = month_start(around, offset)
            try:
                with transaction.atomic():
                    cursor.execute(partition_ddl(start))
            except Exception as exc:  # noqa: BLE001 - rows of that month already sit in DEFAULT
                log.warning(
                    "telematics.partition_skipped name=%s reason=%s", partition_name(start), exc
                )
                continue
            names.append(partition_name(start))
    return names
