"""What writes in the telematics app (positions themselves are written by the gateway)."""

from __future__ import annotations

import logging
import math
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telematics.gateway.registry import token_hash
from telematics.models import Device, DeviceAssignment, Position, Protocol, UnknownDevice
from telematics.motion_models import Geofence, GeofenceKind, GeofenceRole

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


# ------------------------------------------------------------------------------------------------
# geofences drawn on the map (page: telematics/geofence_views.py). A GeoJSON upload goes through
# motion_services.geofences_import.

# A circle smaller than a parking space or larger than a municipality was not meant.
GEOFENCE_MIN_RADIUS_M = 5.0
GEOFENCE_MAX_RADIUS_M = 50_000.0
GEOFENCE_MAX_VERTICES = 50_000
# Stored to 7 decimals (about 1 cm): what a click on a map can mean.
_COORD_DECIMALS = 7
# Shapes must touch the municipality's box widened by this much (depots and landfills sit just
# outside town limits); the same margin as the GeoJSON import.
_BOUNDS_MARGIN_DEG = 0.5


def _is_finite_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _geofence_position(pos) -> list[float]:
    if not isinstance(pos, list | tuple) or len(pos) < 2:
        raise ValidationError({"geometry": _("Every point must be a [longitude, latitude] pair.")})
    lon, lat = pos[0], pos[1]
    if not _is_finite_number(lon) or not _is_finite_number(lat):
        raise ValidationError({"geometry": _("The coordinates must be numbers.")})
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValidationError(
            {"geometry": _("A point lies outside longitude ±180° / latitude ±90°.")}
        )
    return [round(float(lon), _COORD_DECIMALS), round(float(lat), _COORD_DECIMALS)]


def _geofence_ring(ring) -> list[list[float]]:
    if not isinstance(ring, list):
        raise ValidationError({"geometry": _("A polygon needs a list of points.")})
    points = [_geofence_position(p) for p in ring]
    if points and points[0] != points[-1]:
        points.append(points[0])  # close it, as GeoJSON wants
    corners = {tuple(p) for p in points}
    if len(corners) < 3:
        raise ValidationError({"geometry": _("A polygon needs at least 3 corners.")})
    return points


def _geofence_polygon(geometry: dict) -> dict:
    from shapely.geometry import shape
    from shapely.validation import explain_validity

    gtype, coords = geometry.get("type"), geometry.get("coordinates")
    polygons = [coords] if gtype == "Polygon" else coords
    if not isinstance(polygons, list) or not polygons:
        raise ValidationError({"geometry": _("A polygon needs at least 3 corners.")})
    clean = []
    for rings in polygons:
        if not isinstance(rings, list) or not rings:
            raise ValidationError({"geometry": _("A polygon needs at least 3 corners.")})
        clean.append([_geofence_ring(r) for r in rings])
    if sum(len(r) for rings in clean for r in rings) > GEOFENCE_MAX_VERTICES:
        raise ValidationError(
            {
                "geometry": _("The shape has too many points (at most %(max)d).")
                % {"max": GEOFENCE_MAX_VERTICES}
            }
        )
    normalised = {"type": gtype, "coordinates": clean[0] if gtype == "Polygon" else clean}
    geom = shape(normalised)
    # All corners on one line: no area at all, even once the edges are untangled.
    if geom.buffer(0).area <= 0:
        raise ValidationError({"geometry": _("The polygon has no area.")})
    if not geom.is_valid:
        why = explain_validity(geom)
        if why.startswith(("Self-intersection", "Ring Self-intersection")):
            message = _("The polygon's edges cross each other; move the corners so they do not.")
        else:
            message = _("The polygon is not valid: %(reason)s") % {"reason": why}
        raise ValidationError({"geometry": message})
    return normalised


def geofence_shape_clean(
    *, municipality, kind: str, geometry, radius_m
) -> tuple[dict, float | None]:
    """Check a shape drawn on the map; return its GeoJSON geometry (rounded, rings closed) and
    the radius (circles only). Raises ``ValidationError`` with a message a person can act on."""
    from shapely.geometry import box, shape

    if not isinstance(geometry, dict):
        raise ValidationError({"geometry": _("Draw the geofence on the map.")})
    gtype = geometry.get("type")
    if kind == GeofenceKind.CIRCLE:
        if gtype != "Point":
            raise ValidationError({"geometry": _("A circle is given by its centre point.")})
        centre = _geofence_position(geometry.get("coordinates"))
        if not _is_finite_number(radius_m) or not (
            GEOFENCE_MIN_RADIUS_M <= radius_m <= GEOFENCE_MAX_RADIUS_M
        ):
            raise ValidationError(
                {
                    "radius": _("The radius must be between %(min)d m and %(max)d m.")
                    % {"min": GEOFENCE_MIN_RADIUS_M, "max": GEOFENCE_MAX_RADIUS_M}
                }
            )
        clean = {"type": "Point", "coordinates": centre}
        radius = round(float(radius_m), 1)
        dlat = radius / 111_320.0
        dlon = dlat / max(math.cos(math.radians(centre[1])), 0.01)
        extent = box(centre[0] - dlon, centre[1] - dlat, centre[0] + dlon, centre[1] + dlat)
    elif kind == GeofenceKind.POLYGON:
        if gtype not in ("Polygon", "MultiPolygon"):
            raise ValidationError({"geometry": _("A polygon geofence needs a polygon shape.")})
        clean = _geofence_polygon(geometry)
        radius = None
        extent = shape(clean)
    else:
        raise ValidationError({"kind": _("A geofence is a polygon or a circle.")})
    bbox = municipality.bbox if municipality is not None else None
    if bbox is not None:
        south, west, north, east = bbox
        m = _BOUNDS_MARGIN_DEG
        if not extent.intersects(box(west - m, south - m, east + m, north + m)):
            raise ValidationError(
                {"geometry": _("The shape lies far outside the municipality's area.")}
            )
    return clean, radius


def _geofence_attributes(fence: Geofence, *, name: str, role: str, speed_limit_kmh, active: bool):
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = _("Give the geofence a name.")
    elif len(name) > 200:
        errors["name"] = _("The name can be at most 200 characters.")
    if role not in GeofenceRole.values:
        errors["role"] = _("Unknown geofence role.")
    if speed_limit_kmh is not None and (
        not _is_finite_number(speed_limit_kmh) or not 5 <= speed_limit_kmh <= 250
    ):
        errors["speed_limit_kmh"] = _("The speed limit must be between 5 and 250 km/h.")
    if errors:
        raise ValidationError(errors)
    fence.name = name
    fence.role = role
    fence.speed_limit_kmh = float(speed_limit_kmh) if speed_limit_kmh is not None else None
    fence.active = bool(active)


def geofence_create(
    *,
    municipality,
    name: str,
    role: str,
    kind: str,
    geometry,
    radius_m=None,
    speed_limit_kmh=None,
    active: bool = True,
) -> Geofence:
    """A geofence drawn on the map. Everything is checked before anything is written."""
    if municipality is None:
        raise ValidationError(_("Only a user of a municipality can add geofences."))
    fence = Geofence(municipality=municipality)
    _geofence_attributes(
        fence, name=name, role=role, speed_limit_kmh=speed_limit_kmh, active=active
    )
    fence.kind = kind
    fence.geometry, fence.radius_m = geofence_shape_clean(
        municipality=municipality, kind=kind, geometry=geometry, radius_m=radius_m
    )
    fence.save()
    log.info(
        "telematics.geofence_created geofence=%s municipality=%s kind=%s",
        fence.pk,
        municipality.pk,
        kind,
    )
    return fence


def geofence_update(
    *,
    fence: Geofence,
    name: str,
    role: str,
    speed_limit_kmh=None,
    active: bool = True,
    geometry=None,
    radius_m=None,
) -> Geofence:
    """New attributes and, when ``geometry`` is given, a new shape of the same kind (vertices
    moved, circle moved or resized). Nothing is saved unless all of it is valid.

    Raises ``Geofence.DoesNotExist`` when the geofence was deleted since the caller looked it
    up (someone else deleted it meanwhile): a plain ``save()`` would insert it again.
    """
    with transaction.atomic():
        # Locked, so a delete waits for this edit instead of slipping in before the write.
        draft = Geofence.objects.select_for_update().filter(pk=fence.pk).first()
        if draft is None:
            raise Geofence.DoesNotExist(f"geofence {fence.pk} was deleted")
        _geofence_attributes(
            draft, name=name, role=role, speed_limit_kmh=speed_limit_kmh, active=active
        )
        if geometry is not None:
            draft.geometry, draft.radius_m = geofence_shape_clean(
                municipality=draft.municipality,
                kind=draft.kind,
                geometry=geometry,
                radius_m=radius_m,
            )
        draft.updated_at = timezone.now()
        fields = ["name", "role", "speed_limit_kmh", "active", "geometry", "radius_m"]
        written = Geofence.objects.filter(pk=draft.pk).update(
            updated_at=draft.updated_at, **{f: getattr(draft, f) for f in fields}
        )
        if not written:
            raise Geofence.DoesNotExist(f"geofence {fence.pk} was deleted")
    log.info("telematics.geofence_updated geofence=%s shape=%s", draft.pk, geometry is not None)
    return draft


def geofence_delete(*, fence: Geofence) -> None:
    pk = fence.pk
    fence.delete()
    log.info("telematics.geofence_deleted geofence=%s", pk)
