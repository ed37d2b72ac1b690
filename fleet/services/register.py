"""Everything that writes to the fleet register goes through these functions.

Each validates the whole object (``full_clean``) inside one transaction, so invalid input raises
``ValidationError`` with a message per field and nothing is half-saved.
"""

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from fleet.models import Department, Document, Driver, DriverLicence, Municipality, Vehicle
from fleet.validators import clean_plate

VEHICLE_FIELDS = frozenset(
    f.name
    for f in Vehicle._meta.get_fields()
    if getattr(f, "concrete", False)
    and f.name not in {"id", "municipality", "created_at", "updated_at"}
)
DRIVER_FIELDS = frozenset(
    f.name
    for f in Driver._meta.get_fields()
    if getattr(f, "concrete", False)
    and f.name not in {"id", "municipality", "created_at", "updated_at"}
)
DOCUMENT_FIELDS = frozenset(
    {"vehicle", "driver", "kind", "number", "issued_on", "expires_on", "file", "notes"}
)


def _assign(instance, fields: dict, allowed: frozenset[str]) -> list[str]:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "unknown field"))
    for name, value in fields.items():
        setattr(instance, name, value)
    return list(fields)


def _check_same_municipality(municipality: Municipality, **related) -> None:
    errors = {
        name: ValidationError("belongs to another municipality", code="other_municipality")
        for name, obj in related.items()
        if obj is not None and obj.municipality_id != municipality.pk
    }
    if errors:
        raise ValidationError(errors)


def _normalise_plates(fields: dict) -> None:
    errors = {}
    for name in ("plate", "machinery_plate"):
        if name in fields:
            try:
                fields[name] = clean_plate(fields[name] or "")
            except ValidationError as exc:
                errors[name] = exc
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def vehicle_create(*, municipality: Municipality, **fields) -> Vehicle:
    _normalise_plates(fields)
    _check_same_municipality(municipality, department=fields.get("department"))
    vehicle = Vehicle(municipality=municipality)
    _assign(vehicle, fields, VEHICLE_FIELDS)
    vehicle.full_clean()
    vehicle.save()
    return vehicle


@transaction.atomic
def vehicle_update(*, vehicle: Vehicle, **fields) -> Vehicle:
    _normalise_plates(fields)
    _check_same_municipality(vehicle.municipality, department=fields.get("department"))
    changed = _assign(vehicle, fields, VEHICLE_FIELDS)
    vehicle.full_clean()
    vehicle.save(update_fields=[*changed, "updated_at"])
    return vehicle


def _set_licences(driver: Driver, licences: Iterable[dict]) -> None:
    wanted = {item["category"]: item["expires_on"] for item in licences}
    driver.licences.exclude(category__in=wanted).delete()
    for category, expires_on in wanted.items():
        licence = DriverLicence(
            municipality_id=driver.municipality_id,
            driver=driver,
            category=category,
            expires_on=expires_on,
        )
        licence.full_clean(exclude=["driver"], validate_unique=False)
        DriverLicence.objects.update_or_create(
            driver=driver,
            category=category,
            defaults={"expires_on": expires_on, "municipality_id": driver.municipality_id},
        )


@transaction.atomic
def driver_create(*, municipality: Municipality, licences: Iterable[dict] = (), **fields) -> Driver:
    _check_same_municipality(municipality, department=fields.get("department"))
    driver = Driver(municipality=municipality)
    _assign(driver, fields, DRIVER_FIELDS)
    driver.full_clean()
    driver.save()
    _set_licences(driver, licences)
    return driver


@transaction.atomic
def driver_update(*, driver: Driver, licences: Iterable[dict] | None = None, **fields) -> Driver:
    _check_same_municipality(driver.municipality, department=fields.get("department"))
    changed = _assign(driver, fields, DRIVER_FIELDS)
    driver.full_clean()
    driver.save(update_fields=[*changed, "updated_at"])
    if licences is not None:
        _set_licences(driver, licences)
    return driver


@transaction.atomic
def document_create(*, municipality: Municipality, **fields) -> Document:
    document = Document(municipality=municipality)
    _assign(document, fields, DOCUMENT_FIELDS)
    document.full_clean()
    document.save()
    return document


@transaction.atomic
def document_update(*, document: Document, **fields) -> Document:
    changed = _assign(document, fields, DOCUMENT_FIELDS)
    document.full_clean()
    document.save(update_fields=changed)
    return document


@transaction.atomic
def department_create(*, municipality: Municipality, **fields) -> Department:
    department = Department(municipality=municipality)
    _assign(department, fields, frozenset({"name", "code", "head", "depot_lat", "depot_lon"}))
    department.full_clean()
    department.save()
    return department


@transaction.atomic
def department_update(*, department: Department, **fields) -> Department:
    changed = _assign(
        department, fields, frozenset({"name", "code", "head", "depot_lat", "depot_lon"})
    )
    department.full_clean()
    department.save(update_fields=changed)
    return department


def licence_is_valid(driver: Driver, category: str, on: date) -> bool:
    return driver.licences.filter(category=category, expires_on__gte=on).exists()
