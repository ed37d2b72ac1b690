"""The Django side of the simulator: which vehicles drive, and a tracker in each of them.

Idempotent: a vehicle that already carries a tracker of a protocol the simulator speaks keeps it;
otherwise it gets a simulator device (a deterministic id, so a second run finds the same one)
assigned from ``valid_from`` on. Nothing here runs while the simulation does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from fleet.choices import VehicleStatus
from fleet.models import Municipality, Vehicle
from fleet.plates import plate_search_key
from telematics import services
from telematics.models import Device, DeviceAssignment, VehicleLiveState
from telematics.simulator.motion import VehicleSpec
from telematics.simulator.transport import PROTOCOLS

# Vehicles that are off the road do not drive in the simulation either.
_IDLE_STATUSES = (VehicleStatus.IN_MAINTENANCE, VehicleStatus.OUT_OF_SERVICE, VehicleStatus.RETIRED)


@dataclass(frozen=True)
class SimulatedVehicle:
    vehicle_id: int
    label: str
    protocol: str
    spec: VehicleSpec
    # The fix time of its live state, when it has one (with ``from_live_position``).
    last_fix_time: datetime | None = None


def simulator_imei(vehicle_id: int) -> str:
    """A 15-digit IMEI-shaped id (Luhn check digit included) that real trackers never use:
    reporting body 99 is the GSMA's test range."""
    body = f"99{vehicle_id:012d}"
    if len(body) != 14:
        raise ValueError("vehicle id too large for a simulator IMEI")
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def fleet_prepare(
    *,
    municipality: Municipality,
    count: int,
    protocols: Sequence[str] = PROTOCOLS,
    valid_from: datetime,
    vehicle_ids: Sequence[int] | None = None,
    from_live_position: bool = False,
) -> list[SimulatedVehicle]:
    """Pick ``count`` vehicles of ``municipality`` (among ``vehicle_ids`` if given) and make
    sure each has a tracker.

    Protocols of new simulator devices rotate through ``protocols`` in vehicle order. With
    ``from_live_position`` each vehicle starts where its live state puts it (else its depot).
    """
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"the simulator speaks {', '.join(PROTOCOLS)}, not {unknown}")
    candidates = (
        Vehicle.objects.filter(municipality=municipality)
        .exclude(status__in=_IDLE_STATUSES)
        .select_related("department")
        .order_by("pk")
    )
    if vehicle_ids is not None:
        candidates = candidates.filter(pk__in=list(vehicle_ids))
    open_assignments = {
        a.vehicle_id: a
        for a in DeviceAssignment.objects.filter(
            municipality=municipality, valid_to__isnull=True
        ).select_related("device")
    }
    # A vehicle whose tracker the simulator cannot speak for (an agent, an H02 unit) is left
    # alone rather than given a second, competing tracker.
    vehicles = [
        v
        for v in candidates
        if v.pk not in open_assignments or open_assignments[v.pk].device.protocol in protocols
    ][:count]
    centre = (municipality.center_lat, municipality.center_lon)
    live = (
        {
            s.vehicle_id: s
            for s in VehicleLiveState.objects.filter(
                vehicle__in=vehicles, latitude__isnull=False, longitude__isnull=False
            )
        }
        if from_live_position
        else {}
    )
    prepared: list[SimulatedVehicle] = []
    with transaction.atomic():
        for index, vehicle in enumerate(vehicles):
            assignment = open_assignments.get(vehicle.pk)
            if assignment is not None and assignment.device.protocol in protocols:
                device = assignment.device
            else:
                device = _simulator_device(
                    municipality, vehicle, protocols[index % len(protocols)], valid_from
                )
            department = vehicle.department
            depot = (
                (department.depot_lat, department.depot_lon)
                if department is not None and department.depot_lat is not None
                else centre
            )
            state = live.get(vehicle.pk)
            spec = VehicleSpec(
                unique_id=device.unique_id,
                category=vehicle.category,
                depot=depot,
                weight_t=(vehicle.gross_weight_kg or 0) / 1000,
                odometer_m=float(vehicle.odometer_km or 0) * 1000,
                engine_hours=float(vehicle.engine_hours or 0),
                start=(state.latitude, state.longitude) if state is not None else None,
            )
            prepared.append(
                SimulatedVehicle(
                    vehicle_id=vehicle.pk,
                    label=vehicle.display_plate or f"#{vehicle.pk}",
                    protocol=device.protocol,
                    spec=spec,
                    last_fix_time=state.fix_time if state is not None else None,
                )
            )
    return prepared


def _simulator_device(
    municipality: Municipality, vehicle: Vehicle, protocol: str, valid_from: datetime
) -> Device:
    unique_id = simulator_imei(vehicle.pk)
    device = Device.objects.filter(unique_id=unique_id).first()
    if device is None:
        device = services.device_create(
            municipality=municipality,
            unique_id=unique_id,
            protocol=protocol,
            name=f"Simulator {vehicle.display_plate or vehicle.pk}",
        )
    elif not device.active:
        device = services.device_update(device=device, active=True)
    current = DeviceAssignment.objects.filter(device=device, valid_to__isnull=True).first()
    if current is None or current.vehicle_id != vehicle.pk:
        start = valid_from
        latest = DeviceAssignment.objects.filter(device=device).order_by("-valid_from").first()
        if latest is not None:
            # The device was moved by hand since: it drives this vehicle again from now on.
            start = max(start, (latest.valid_to or latest.valid_from) + timedelta(seconds=1))
        services.device_assign(device=device, vehicle=vehicle, valid_from=start)
    return device


def vehicle_find(text: str, municipality: Municipality | None = None) -> Vehicle:
    """The vehicle named by ``text``: its id, or its plate (or machinery plate) in any of the
    spellings Greek plates are typed in. Raises ``LookupError`` with a message for the operator
    when there is none, or more than one (plates repeat across municipalities)."""
    text = (text or "").strip()
    vehicles = Vehicle.objects.all()
    if municipality is not None:
        vehicles = vehicles.filter(municipality=municipality)
    if text.isdigit():
        found = list(vehicles.filter(pk=int(text)))
    else:
        key = plate_search_key(text)
        found = [
            v
            for v in vehicles.exclude(plate="", machinery_plate="")
            if key in (plate_search_key(v.plate or "-"), plate_search_key(v.machinery_plate or "-"))
        ]
    if not found:
        raise LookupError(f"no vehicle {text!r}")
    if len(found) > 1:
        raise LookupError(f"{len(found)} vehicles match {text!r}: name the municipality")
    return found[0]
