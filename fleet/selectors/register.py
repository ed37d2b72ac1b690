from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from fleet.choices import VehicleStatus
from fleet.models import Document, Driver, DriverLicence, Municipality, Vehicle
from fleet.plates import plate_search_key


def vehicle_list(*, municipality_id: int | None, search: str = "", **filters) -> QuerySet:
    qs = Vehicle.objects.select_related("department", "municipality").order_by(
        "-kind", "plate", "machinery_plate"
    )
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    if search:
        key = plate_search_key(search)
        qs = qs.filter(
            Q(plate__icontains=key)
            | Q(machinery_plate__icontains=key)
            | Q(make__icontains=search)
            | Q(model__icontains=search)
            | Q(vin__icontains=search)
        )
    return qs.filter(**{k: v for k, v in filters.items() if v})


def driver_for_user(user) -> Driver | None:
    """The driver record behind a login, only within the user's own municipality."""
    return Driver.objects.filter(user=user, municipality_id=user.municipality_id).first()


def driver_list(*, municipality_id: int | None, search: str = "", **filters) -> QuerySet:
    qs = Driver.objects.select_related("department").prefetch_related("licences")
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    if search:
        qs = qs.filter(
            Q(last_name__icontains=search)
            | Q(first_name__icontains=search)
            | Q(employee_number__icontains=search)
            | Q(licence_number__icontains=search)
        )
    return qs.filter(**{k: v for k, v in filters.items() if v not in ("", None)})


@dataclass(frozen=True)
class ExpiringItem:
    what: str
    owner: str
    owner_url: str
    expires_on: date
    overdue: bool


@dataclass(frozen=True)
class Dashboard:
    vehicles_by_status: list[tuple[str, str, int]]
    vehicle_total: int
    driver_total: int
    expiring: list[ExpiringItem]


def dashboard(
    *, municipality: Municipality, days: int = 30, today: date | None = None
) -> Dashboard:
    today = today or timezone.localdate()
    horizon = today + timedelta(days=days)
    counts = dict(
        Vehicle.objects.filter(municipality=municipality)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    by_status = [(value, label, counts.get(value, 0)) for value, label in VehicleStatus.choices]
    items: list[ExpiringItem] = []
    docs = (
        Document.objects.filter(municipality=municipality, expires_on__lte=horizon)
        .select_related("vehicle", "driver")
        .order_by("expires_on")[:200]
    )
    for doc in docs:
        owner = doc.vehicle or doc.driver
        items.append(
            ExpiringItem(
                what=doc.get_kind_display(),
                owner=str(owner),
                owner_url=_owner_url(doc),
                expires_on=doc.expires_on,
                overdue=doc.expires_on < today,
            )
        )
    licences = (
        DriverLicence.objects.filter(municipality=municipality, expires_on__lte=horizon)
        .select_related("driver")
        .order_by("expires_on")[:200]
    )
    for lic in licences:
        items.append(
            ExpiringItem(
                what=f"{lic._meta.verbose_name} {lic.category}",
                owner=str(lic.driver),
                owner_url=reverse("fleet:driver_detail", args=[lic.driver_id]),
                expires_on=lic.expires_on,
                overdue=lic.expires_on < today,
            )
        )
    for drv in Driver.objects.filter(municipality=municipality, pei_expiry__lte=horizon):
        items.append(
            ExpiringItem(
                what="ΠΕΙ (95)",
                owner=str(drv),
                owner_url=reverse("fleet:driver_detail", args=[drv.pk]),
                expires_on=drv.pei_expiry,
                overdue=drv.pei_expiry < today,
            )
        )
    items.sort(key=lambda item: item.expires_on)
    return Dashboard(
        vehicles_by_status=by_status,
        vehicle_total=sum(counts.values()),
        driver_total=Driver.objects.filter(municipality=municipality, active=True).count(),
        expiring=items,
    )


def _owner_url(doc: Document) -> str:
    if doc.vehicle_id:
        return reverse("fleet:vehicle_detail", args=[doc.vehicle_id])
    return reverse("fleet:driver_detail", args=[doc.driver_id])
