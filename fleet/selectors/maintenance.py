"""Reads for maintenance and compliance: the calendar, what is due for service, dispatch
eligibility, work orders and the cost of each vehicle over time.

``eligibility(vehicle, on=date)`` is what the dispatch board calls: an empty list means the
vehicle may be sent out; otherwise each :class:`Reason` says why not. For many vehicles at once
use ``vehicles_eligibility`` (a fixed number of queries, whatever the fleet size).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.db.models import DecimalField, ExpressionWrapper, F, Max, Min, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fleet import compliance as rules
from fleet.choices import MACHINERY_CATEGORIES, VehicleKind, VehicleStatus
from fleet.models import (
    Document,
    Driver,
    Expense,
    FuelEntry,
    Municipality,
    Reminder,
    RoadworthinessTest,
    ServicePlan,
    ServiceRecord,
    Vehicle,
    WorkOrder,
    WorkOrderPart,
)
from fleet.models.maintenance import OPEN_WORK_ORDER_STATUSES, WorkOrderStatus

RULE_LABELS = {
    rules.Rule.KTEO: gettext_lazy("Roadworthiness test (KTEO)"),
    rules.Rule.KTEO_RETEST: gettext_lazy("KTEO re-test"),
    rules.Rule.INSURANCE: gettext_lazy("Insurance"),
    rules.Rule.ROAD_TAX: gettext_lazy("Road tax"),
    rules.Rule.TACHOGRAPH: gettext_lazy("Tachograph calibration"),
    rules.Rule.LICENCE: gettext_lazy("Driving licence"),
    rules.Rule.PEI: gettext_lazy("PEI (code 95)"),
    rules.Rule.OPERATOR_LICENCE: gettext_lazy("Machinery operator licence"),
    rules.Rule.SERVICE: gettext_lazy("Service"),
}
STATUS_LABELS = {
    rules.Status.OK: gettext_lazy("OK"),
    rules.Status.DUE_SOON: gettext_lazy("Due soon"),
    rules.Status.IN_WINDOW: gettext_lazy("In the test window"),
    rules.Status.OVERDUE: gettext_lazy("Overdue"),
    rules.Status.MISSING: gettext_lazy("No record"),
}
_STATUS_ORDER = {
    rules.Status.OVERDUE: 0,
    rules.Status.IN_WINDOW: 1,
    rules.Status.DUE_SOON: 2,
    rules.Status.MISSING: 3,
    rules.Status.OK: 4,
}


def rule_label(rule: str) -> str:
    try:
        return str(RULE_LABELS[rules.Rule(rule)])
    except ValueError:
        return rule


def _d(day: date | None) -> str:
    return date_format(day, "SHORT_DATE_FORMAT") if day else "—"


# --- Facts ----------------------------------------------------------------------------------------


def _is_machinery(vehicle: Vehicle) -> bool:
    return vehicle.kind == VehicleKind.MACHINERY or vehicle.category in MACHINERY_CATEGORIES


def _vehicles_scope(vehicles: list) -> dict:
    """A filter for rows that belong to ``vehicles``. For a large fleet of one municipality, its
    municipality selects the same rows as hundreds of ids, in a query that is quicker to build
    and to plan (the rows of other vehicles it may return are ignored by the callers)."""
    municipalities = {getattr(v, "municipality_id", None) for v in vehicles}
    if len(vehicles) > 100 and len(municipalities) == 1 and None not in municipalities:
        return {"vehicle__municipality_id": municipalities.pop()}
    return {"vehicle_id__in": [v.pk for v in vehicles]}


def _vehicle_facts(vehicles: list) -> dict[int, rules.VehicleFacts]:
    """Compliance facts of ``vehicles`` (Vehicle instances or rows with the same attributes),
    in two queries."""
    scope = _vehicles_scope(vehicles)
    documents: dict[int, list[rules.DocumentFacts]] = defaultdict(list)
    for vehicle_id, kind, issued, expires in Document.objects.filter(**scope).values_list(
        "vehicle_id", "kind", "issued_on", "expires_on"
    ):
        documents[vehicle_id].append(rules.DocumentFacts(kind, issued, expires))
    tests: dict[int, list[rules.KteoTest]] = defaultdict(list)
    for vehicle_id, tested_on, result in RoadworthinessTest.objects.filter(**scope).values_list(
        "vehicle_id", "tested_on", "result"
    ):
        tests[vehicle_id].append(rules.KteoTest(tested_on, rules.KteoResult(result)))
    return {
        v.pk: rules.VehicleFacts(
            category=v.category,
            is_machinery=_is_machinery(v),
            gross_weight_kg=v.gross_weight_kg,
            first_registration=v.first_registration,
            has_tachograph=v.has_tachograph,
            kteo_tests=tests[v.pk],
            documents=documents[v.pk],
        )
        for v in vehicles
    }


def _driver_facts(driver: Driver) -> rules.DriverFacts:
    return rules.DriverFacts(
        licences={lic.category: lic.expires_on for lic in driver.licences.all()},
        pei_expiry=driver.pei_expiry,
        operator_licence_expiry=driver.operator_licence_expiry,
        has_operator_licence=bool(driver.operator_licence_specialty),
    )


# --- Service plans --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRow:
    plan: ServicePlan
    vehicle: Vehicle
    due: rules.ServiceDue
    last: ServiceRecord | None

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.due.status])


def _interval(plan: ServicePlan) -> rules.ServiceInterval:
    return rules.ServiceInterval(
        every_km=plan.every_km,
        every_hours=plan.every_hours,
        every_days=plan.every_days,
        warn_km=plan.warn_km,
        warn_hours=plan.warn_hours,
        warn_days=plan.warn_days,
    )


def service_due_list(
    *,
    municipality_id: int,
    on: date | None = None,
    vehicles: Iterable[Vehicle] | None = None,
) -> list[ServiceRow]:
    """Every active plan applied to every vehicle it covers, with when it is next due."""
    on = on or timezone.localdate()
    if vehicles is None:
        vehicles = Vehicle.objects.filter(municipality_id=municipality_id).exclude(
            status=VehicleStatus.RETIRED
        )
    vehicles = list(vehicles)
    plans = list(ServicePlan.objects.filter(municipality_id=municipality_id, active=True))
    by_vehicle = defaultdict(list)
    by_category = defaultdict(list)
    for plan in plans:
        (by_vehicle[plan.vehicle_id] if plan.vehicle_id else by_category[plan.category]).append(
            plan
        )
    last: dict[tuple[int, int], ServiceRecord] = {}
    for record in ServiceRecord.objects.filter(plan__in=plans, vehicle__in=vehicles).order_by(
        "performed_on", "pk"
    ):
        last[(record.plan_id, record.vehicle_id)] = record
    rows = []
    for vehicle in vehicles:
        for plan in by_vehicle.get(vehicle.pk, []) + by_category.get(vehicle.category, []):
            record = last.get((plan.pk, vehicle.pk))
            due = rules.service_due(
                _interval(plan),
                on=on,
                current_km=float(vehicle.odometer_km) if vehicle.odometer_km is not None else None,
                current_hours=float(vehicle.engine_hours)
                if vehicle.engine_hours is not None
                else None,
                last_on=record.performed_on if record else None,
                last_km=float(record.odometer_km)
                if record and record.odometer_km is not None
                else None,
                last_hours=float(record.engine_hours)
                if record and record.engine_hours is not None
                else None,
                starts_on=plan.starts_on,
            )
            rows.append(ServiceRow(plan=plan, vehicle=vehicle, due=due, last=record))
    rows.sort(key=lambda r: (_STATUS_ORDER[r.due.status], r.due.due_on or date.max))
    return rows


# --- The calendar ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarRow:
    subject: str  # "vehicle" or "driver"
    name: str
    url: str
    item: rules.DueItem
    vehicle_id: int | None = None
    driver_id: int | None = None
    note: str = ""  # a plan's name, for service rows

    @property
    def key(self) -> str:
        owner = self.vehicle_id if self.subject == "vehicle" else self.driver_id
        return f"{self.subject}:{owner}:{self.item.rule}:{self.item.detail or self.note}"

    @property
    def label(self) -> str:
        text = str(RULE_LABELS[self.item.rule])
        extra = self.note or (self.item.detail if self.item.rule == rules.Rule.LICENCE else "")
        return f"{text} {extra}".strip()

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.item.status])

    @property
    def reference(self) -> str:
        return self.item.reference

    def days_left(self, on: date) -> int | None:
        return self.item.days_left(on)


def compliance_calendar(
    *,
    municipality: Municipality,
    on: date | None = None,
    horizon_days: int = 30,
    include_ok: bool = False,
    include_services: bool = True,
    subject: str = "",
) -> list[CalendarRow]:
    """What is due and overdue across the fleet and the drivers, most urgent first."""
    on = on or timezone.localdate()
    rows: list[CalendarRow] = []
    if subject in ("", "vehicle"):
        vehicles = list(
            Vehicle.objects.filter(municipality=municipality).exclude(status=VehicleStatus.RETIRED)
        )
        facts = _vehicle_facts(vehicles)
        for vehicle in vehicles:
            url = reverse("fleet:vehicle_detail", args=[vehicle.pk])
            for item in rules.vehicle_items(facts[vehicle.pk], on=on, horizon_days=horizon_days):
                rows.append(
                    CalendarRow("vehicle", vehicle.display_plate, url, item, vehicle_id=vehicle.pk)
                )
        if include_services:
            for service in service_due_list(
                municipality_id=municipality.pk, on=on, vehicles=vehicles
            ):
                due = service.due
                item = rules.DueItem(
                    rules.Rule.SERVICE,
                    due.status,
                    due.due_on or due.estimated_on,
                    detail=",".join(due.triggered_by),
                )
                rows.append(
                    CalendarRow(
                        "vehicle",
                        service.vehicle.display_plate,
                        reverse("fleet:vehicle_detail", args=[service.vehicle.pk]),
                        item,
                        vehicle_id=service.vehicle.pk,
                        note=service.plan.name,
                    )
                )
    if subject in ("", "driver"):
        drivers = Driver.objects.filter(municipality=municipality, active=True).prefetch_related(
            "licences"
        )
        for driver in drivers:
            url = reverse("fleet:driver_detail", args=[driver.pk])
            for item in rules.driver_items(_driver_facts(driver), on=on, horizon_days=horizon_days):
                rows.append(CalendarRow("driver", str(driver), url, item, driver_id=driver.pk))
    if not include_ok:
        rows = [r for r in rows if r.item.status != rules.Status.OK]
    rows.sort(key=lambda r: (_STATUS_ORDER[r.item.status], r.item.due_on or date.max, r.name))
    return rows


# --- Dispatch eligibility -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why a vehicle or driver may not be dispatched; ``str()`` gives the translated message."""

    code: str  # a compliance rule, "status", "work_order" or "inactive"
    message: str
    due_on: date | None = None

    def __str__(self) -> str:
        return self.message


def _item_reason(item: rules.DueItem) -> Reason:
    what = RULE_LABELS[item.rule]
    if item.rule == rules.Rule.LICENCE and item.detail:
        what = f"{what} {item.detail}"
    if item.status == rules.Status.MISSING:
        message = _("%(what)s: none on record") % {"what": what}
    elif item.rule == rules.Rule.KTEO_RETEST and item.detail == rules.KteoResult.DANGEROUS:
        message = _("%(what)s: dangerous deficiencies, off the road until it passes") % {
            "what": what
        }
    else:
        message = _("%(what)s overdue since %(date)s") % {"what": what, "date": _d(item.due_on)}
    return Reason(str(item.rule), message, item.due_on)


class _VehicleRow(NamedTuple):
    """The columns of a vehicle the eligibility rules read (a plain row: building hundreds of
    model instances costs more than the queries)."""

    pk: int
    municipality_id: int
    status: str
    category: str
    kind: str
    gross_weight_kg: int | None
    first_registration: date | None
    has_tachograph: bool


def vehicles_eligibility(
    *,
    municipality_id: int,
    on: date | None = None,
    vehicle_ids: Iterable[int] | None = None,
) -> dict[int, list[Reason]]:
    """Reasons each vehicle may not be dispatched on ``on`` (an empty list: it may).

    Four queries whatever the number of vehicles: the vehicles, their documents, their ΚΤΕΟ
    tests and the open work orders that take them off the road."""
    on = on or timezone.localdate()
    vehicles = Vehicle.objects.filter(municipality_id=municipality_id)
    if vehicle_ids is not None:
        vehicles = vehicles.filter(pk__in=list(vehicle_ids))
    rows = [_VehicleRow(*r) for r in vehicles.values_list(*_VehicleRow._fields)]
    facts = _vehicle_facts(rows)
    orders = defaultdict(list)
    for vehicle_id, order_id, title in (
        WorkOrder.objects.filter(
            **_vehicles_scope(rows),
            takes_off_road=True,
            status__in=OPEN_WORK_ORDER_STATUSES,
        )
        .order_by("reported_at")
        .values_list("vehicle_id", "pk", "title")
    ):
        orders[vehicle_id].append((order_id, title))
    off_road = (VehicleStatus.IN_MAINTENANCE, VehicleStatus.OUT_OF_SERVICE, VehicleStatus.RETIRED)
    result: dict[int, list[Reason]] = {}
    for vehicle in rows:
        reasons: list[Reason] = []
        if vehicle.status in off_road:
            reasons.append(
                Reason(
                    "status",
                    _("Status: %(status)s") % {"status": VehicleStatus(vehicle.status).label},
                )
            )
        for order_id, title in orders[vehicle.pk]:
            reasons.append(
                Reason(
                    "work_order",
                    _("Off the road: work order #%(id)s “%(title)s”")
                    % {"id": order_id, "title": title},
                )
            )
        for item in rules.vehicle_items(facts[vehicle.pk], on=on):
            if item.blocks_dispatch:
                reasons.append(_item_reason(item))
        result[vehicle.pk] = reasons
    return result


def eligibility(vehicle: Vehicle, *, on: date | None = None) -> list[Reason]:
    """Why ``vehicle`` may not be dispatched on ``on`` (today by default); empty if it may."""
    return vehicles_eligibility(
        municipality_id=vehicle.municipality_id, on=on, vehicle_ids=[vehicle.pk]
    )[vehicle.pk]


def drivers_eligibility(
    *,
    municipality_id: int,
    on: date | None = None,
    driver_ids: Iterable[int] | None = None,
    vehicle: Vehicle | None = None,
) -> dict[int, list[Reason]]:
    """Reasons each driver may not be dispatched. With a vehicle, only what matters for driving
    that vehicle (the right licence category, ΠΕΙ, operator licence); without one, every
    overdue item of the driver."""
    on = on or timezone.localdate()
    drivers = Driver.objects.filter(municipality_id=municipality_id).prefetch_related("licences")
    if driver_ids is not None:
        drivers = drivers.filter(pk__in=list(driver_ids))
    result: dict[int, list[Reason]] = {}
    for driver in drivers:
        facts = _driver_facts(driver)
        reasons: list[Reason] = []
        if not driver.active:
            reasons.append(Reason("inactive", _("The driver is not active.")))
        if vehicle is None:
            items = [i for i in rules.driver_items(facts, on=on) if i.blocks_dispatch]
        else:
            items = rules.driver_vehicle_problems(
                facts,
                on=on,
                category=vehicle.category,
                is_machinery=_is_machinery(vehicle),
                gross_weight_kg=vehicle.gross_weight_kg,
                seats=vehicle.seats,
            )
        reasons += [_item_reason(i) for i in items]
        result[driver.pk] = reasons
    return result


def driver_eligibility(
    driver: Driver, *, on: date | None = None, vehicle: Vehicle | None = None
) -> list[Reason]:
    return drivers_eligibility(
        municipality_id=driver.municipality_id, on=on, driver_ids=[driver.pk], vehicle=vehicle
    )[driver.pk]


# --- Work orders and reminders --------------------------------------------------------------------


def work_order_list(
    *,
    municipality_id: int | None,
    status: str = "",
    vehicle_id: int | None = None,
    open_only: bool = False,
) -> QuerySet:
    qs = WorkOrder.objects.select_related("vehicle", "reported_by_driver").annotate(
        parts_cost=Coalesce(
            Sum(
                ExpressionWrapper(
                    F("parts__quantity") * F("parts__unit_cost"),
                    output_field=DecimalField(max_digits=14, decimal_places=4),
                )
            ),
            Decimal("0"),
            output_field=DecimalField(max_digits=14, decimal_places=4),
        )
    )
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=OPEN_WORK_ORDER_STATUSES)
    if vehicle_id:
        qs = qs.filter(vehicle_id=vehicle_id)
    return qs.order_by("-reported_at", "-pk")


def work_order_costs(order: WorkOrder) -> dict[str, Decimal]:
    parts = sum((p.total for p in order.parts.all()), Decimal("0"))
    return {
        "parts": parts,
        "labour": order.labour_cost,
        "other": order.other_cost,
        "total": parts + order.labour_cost + order.other_cost,
    }


def open_reminders(*, municipality_id: int) -> QuerySet:
    return (
        Reminder.objects.filter(municipality_id=municipality_id, dismissed_at__isnull=True)
        .select_related("vehicle", "driver")
        .order_by("due_on")
    )


def reminder_subject(reminder: Reminder) -> str:
    owner = reminder.vehicle or reminder.driver
    return str(owner) if owner is not None else "—"


# --- Cost of ownership ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CostRow:
    vehicle: Vehicle
    fuel: Decimal
    parts: Decimal
    labour: Decimal
    other: Decimal
    documents: Decimal
    km: Decimal | None

    @property
    def total(self) -> Decimal:
        return self.fuel + self.parts + self.labour + self.other + self.documents

    @property
    def per_km(self) -> Decimal | None:
        if not self.km:
            return None
        return (self.total / self.km).quantize(Decimal("0.001"))


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def vehicle_costs(
    *, municipality_id: int, start: date, end: date, vehicle_id: int | None = None
) -> list[CostRow]:
    """Fuel, parts, labour, other work and documents (insurance, road tax, ΚΤΕΟ fees) per
    vehicle over local days [start, end]; work orders count on the day they closed (or were
    reported, while open), cancelled ones not at all. A fixed number of queries."""
    from fleet.selectors.fuel import _local_midnight

    t0, t1 = _local_midnight(start), _local_midnight(end + timedelta(days=1))
    vehicles = Vehicle.objects.filter(municipality_id=municipality_id)
    if vehicle_id:
        vehicles = vehicles.filter(pk=vehicle_id)
    fuel = dict(
        FuelEntry.objects.filter(vehicle__in=vehicles, filled_at__gte=t0, filled_at__lt=t1)
        .values("vehicle_id")
        .annotate(total=Sum("amount"))
        .values_list("vehicle_id", "total")
    )
    km = {
        row["vehicle_id"]: (row["hi"] - row["lo"]) if row["hi"] is not None else None
        for row in FuelEntry.objects.filter(
            vehicle__in=vehicles, filled_at__gte=t0, filled_at__lt=t1, odometer_km__isnull=False
        )
        .values("vehicle_id")
        .annotate(lo=Min("odometer_km"), hi=Max("odometer_km"))
    }
    orders = (
        WorkOrder.objects.filter(vehicle__in=vehicles)
        .exclude(status=WorkOrderStatus.CANCELLED)
        .annotate(on=Coalesce("closed_at", "reported_at"))
        .filter(on__gte=t0, on__lt=t1)
    )
    work = {
        row["vehicle_id"]: row
        for row in orders.values("vehicle_id").annotate(
            labour=Sum("labour_cost"), other=Sum("other_cost")
        )
    }
    parts = dict(
        WorkOrderPart.objects.filter(work_order__in=orders)
        .values("work_order__vehicle_id")
        .annotate(
            total=Sum(
                ExpressionWrapper(
                    F("quantity") * F("unit_cost"),
                    output_field=DecimalField(max_digits=14, decimal_places=4),
                )
            )
        )
        .values_list("work_order__vehicle_id", "total")
    )
    documents: dict[int, Decimal] = defaultdict(Decimal)
    for vid, amount in (
        Expense.objects.filter(vehicle__in=vehicles, incurred_on__gte=start, incurred_on__lte=end)
        .values("vehicle_id")
        .annotate(total=Sum("amount"))
        .values_list("vehicle_id", "total")
    ):
        documents[vid] += amount or 0
    for vid, amount in (
        RoadworthinessTest.objects.filter(
            vehicle__in=vehicles, tested_on__gte=start, tested_on__lte=end, cost__isnull=False
        )
        .values("vehicle_id")
        .annotate(total=Sum("cost"))
        .values_list("vehicle_id", "total")
    ):
        documents[vid] += amount or 0
    rows = []
    for vehicle in vehicles.order_by("plate", "machinery_plate"):
        row = CostRow(
            vehicle=vehicle,
            fuel=_money(fuel.get(vehicle.pk)),
            parts=_money(parts.get(vehicle.pk)),
            labour=_money(work.get(vehicle.pk, {}).get("labour")),
            other=_money(work.get(vehicle.pk, {}).get("other")),
            documents=_money(documents.get(vehicle.pk)),
            km=km.get(vehicle.pk),
        )
        if row.total or vehicle_id:
            rows.append(row)
    return rows
