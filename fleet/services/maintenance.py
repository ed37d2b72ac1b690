"""Everything that writes maintenance data: work orders and their parts, service plans and
records, ΚΤΕΟ results, other vehicle costs, and compliance reminders.

A work order that takes its vehicle off the road puts the vehicle "in maintenance" here, in the
service that opens it, and gives it back when the last such order closes: never in a signal or a
``save()`` override, so the rule is visible where the order changes.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fleet.choices import Role, VehicleStatus
from fleet.models import (
    Driver,
    Expense,
    Municipality,
    Reminder,
    RoadworthinessTest,
    ServicePlan,
    ServiceRecord,
    User,
    Vehicle,
    WorkOrder,
    WorkOrderPart,
)
from fleet.models.maintenance import OPEN_WORK_ORDER_STATUSES, WorkOrderStatus
from fleet.services.fuel import vehicle_meters_advance

log = logging.getLogger("kinisi.maintenance")

ORDER_EDIT_FIELDS = frozenset(
    {
        "title",
        "description",
        "takes_off_road",
        "vendor",
        "labour_hours",
        "labour_cost",
        "other_cost",
        "odometer_km",
        "engine_hours",
        "service_plan",
        "resolution",
    }
)
PLAN_FIELDS = frozenset(
    {
        "name",
        "vehicle",
        "category",
        "every_km",
        "every_hours",
        "every_days",
        "warn_km",
        "warn_hours",
        "warn_days",
        "starts_on",
        "active",
        "notes",
    }
)
RECORD_FIELDS = frozenset(
    {"vehicle", "plan", "work_order", "performed_on", "odometer_km", "engine_hours", "notes"}
)
TEST_FIELDS = frozenset(
    {"vehicle", "tested_on", "result", "centre", "certificate_number", "cost", "notes"}
)
EXPENSE_FIELDS = frozenset({"vehicle", "kind", "incurred_on", "amount", "document", "description"})
PART_FIELDS = frozenset({"name", "part_number", "quantity", "unit_cost"})
# Statuses a vehicle can be taken off the road from; "out of service" and "retired" are
# decisions of the fleet manager that a work order must not undo.
_ROAD_STATUSES = (VehicleStatus.AVAILABLE, VehicleStatus.ON_JOB)


def _assign(instance, fields: dict, allowed: frozenset[str]) -> list[str]:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("Unknown field.")))
    for name, value in fields.items():
        setattr(instance, name, value)
    return list(fields)


def _same_municipality(municipality_id: int, **related) -> None:
    errors = {
        name: ValidationError(_("Belongs to another municipality."), code="other_municipality")
        for name, obj in related.items()
        if obj is not None and obj.municipality_id != municipality_id
    }
    if errors:
        raise ValidationError(errors)


def off_road_days(start: datetime, end: datetime) -> int:
    """Calendar days (local) the vehicle was off the road, counting the first and the last:
    a morning in the workshop is a day lost to the street it did not clean."""
    first, last = timezone.localtime(start).date(), timezone.localtime(end).date()
    return max(1, (last - first).days + 1)


# --- Vehicle status -------------------------------------------------------------------------------


def _take_off_road(order: WorkOrder, at: datetime) -> None:
    vehicle = Vehicle.objects.select_for_update().get(pk=order.vehicle_id)
    if order.off_road_from is None:
        order.off_road_from = at
    order.off_road_until = None
    order.off_road_days = None
    if vehicle.status in _ROAD_STATUSES:
        vehicle.status = VehicleStatus.IN_MAINTENANCE
        vehicle.save(update_fields=["status", "updated_at"])
        log.info("maintenance.vehicle_off_road vehicle=%s order=%s", vehicle.pk, order.pk)
    order.vehicle = vehicle


def _give_back(order: WorkOrder, at: datetime) -> None:
    """The order no longer keeps the vehicle off the road; free it if no other order does."""
    if order.off_road_from is not None and order.off_road_until is None:
        order.off_road_until = at
        order.off_road_days = off_road_days(order.off_road_from, at)
    vehicle = Vehicle.objects.select_for_update().get(pk=order.vehicle_id)
    others = (
        WorkOrder.objects.filter(
            vehicle=vehicle, takes_off_road=True, status__in=OPEN_WORK_ORDER_STATUSES
        )
        .exclude(pk=order.pk)
        .exists()
    )
    if not others and vehicle.status == VehicleStatus.IN_MAINTENANCE:
        vehicle.status = VehicleStatus.AVAILABLE
        vehicle.save(update_fields=["status", "updated_at"])
        log.info("maintenance.vehicle_back_on_road vehicle=%s order=%s", vehicle.pk, order.pk)
    order.vehicle = vehicle


# --- Work orders ----------------------------------------------------------------------------------


@transaction.atomic
def work_order_report(
    *,
    municipality: Municipality,
    vehicle: Vehicle,
    title: str,
    description: str = "",
    takes_off_road: bool = False,
    reported_by: User | None = None,
    reported_by_driver: Driver | None = None,
    reported_at: datetime | None = None,
    status: str = WorkOrderStatus.REPORTED,
    **fields,
) -> WorkOrder:
    """A defect reported by a driver or the office (``status=open`` for work the office plans)."""
    _same_municipality(municipality.pk, vehicle=vehicle, reported_by_driver=reported_by_driver)
    if status not in (WorkOrderStatus.REPORTED, WorkOrderStatus.OPEN):
        raise ValidationError({"status": _("A new work order is reported or open.")})
    now = reported_at or timezone.now()
    order = WorkOrder(
        municipality=municipality,
        vehicle=vehicle,
        title=title,
        description=description,
        takes_off_road=takes_off_road,
        reported_by=reported_by,
        reported_by_driver=reported_by_driver,
        reported_at=now,
        status=status,
    )
    _assign(order, fields, ORDER_EDIT_FIELDS)
    _same_municipality(municipality.pk, service_plan=order.service_plan)
    order.full_clean()
    order.save()
    if takes_off_road:
        _take_off_road(order, now)
        order.save(update_fields=["off_road_from", "off_road_until", "off_road_days"])
    log.info(
        "maintenance.order_reported order=%s vehicle=%s off_road=%s",
        order.pk,
        vehicle.pk,
        takes_off_road,
    )
    return order


@transaction.atomic
def work_order_update(*, order: WorkOrder, **fields) -> WorkOrder:
    if order.status in (WorkOrderStatus.DONE, WorkOrderStatus.CANCELLED):
        allowed = frozenset({"vendor", "labour_hours", "labour_cost", "other_cost", "resolution"})
        if set(fields) - allowed:
            raise ValidationError(
                {"status": _("A closed work order only takes its costs and notes.")}
            )
    was_off_road = order.takes_off_road
    changed = _assign(order, fields, ORDER_EDIT_FIELDS)
    _same_municipality(order.municipality_id, service_plan=order.service_plan)
    order.full_clean()
    if order.is_open and order.takes_off_road != was_off_road:
        now = timezone.now()
        if order.takes_off_road:
            _take_off_road(order, now)
        else:
            _give_back(order, now)
        changed += ["off_road_from", "off_road_until", "off_road_days"]
    order.save(update_fields=[*sorted(set(changed)), "updated_at"])
    return order


def _transition(order: WorkOrder, allowed_from: tuple[str, ...], to: str) -> None:
    if order.status not in allowed_from:
        raise ValidationError(
            {
                "status": _("A work order that is “%(status)s” cannot become “%(to)s”.")
                % {"status": order.get_status_display(), "to": WorkOrderStatus(to).label}
            }
        )
    order.status = to


def _locked(order: WorkOrder) -> WorkOrder:
    # Two people pressing "close" at once must not both succeed.
    return WorkOrder.objects.select_for_update().get(pk=order.pk)


@transaction.atomic
def work_order_open(*, order: WorkOrder) -> WorkOrder:
    order = _locked(order)
    _transition(order, (WorkOrderStatus.REPORTED,), WorkOrderStatus.OPEN)
    order.save(update_fields=["status", "updated_at"])
    return order


@transaction.atomic
def work_order_start(*, order: WorkOrder, at: datetime | None = None) -> WorkOrder:
    order = _locked(order)
    _transition(
        order, (WorkOrderStatus.REPORTED, WorkOrderStatus.OPEN), WorkOrderStatus.IN_PROGRESS
    )
    order.started_at = at or timezone.now()
    order.save(update_fields=["status", "started_at", "updated_at"])
    log.info("maintenance.order_started order=%s vehicle=%s", order.pk, order.vehicle_id)
    return order


@transaction.atomic
def work_order_close(
    *,
    order: WorkOrder,
    at: datetime | None = None,
    resolution: str | None = None,
    odometer_km: Decimal | None = None,
    engine_hours: Decimal | None = None,
) -> WorkOrder:
    """Done: the vehicle goes back on the road (unless another order keeps it), and a service
    plan the order carried out is recorded as done."""
    order = _locked(order)
    _transition(
        order,
        (WorkOrderStatus.REPORTED, WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS),
        WorkOrderStatus.DONE,
    )
    now = at or timezone.now()
    if now < order.reported_at:
        raise ValidationError({"closed_at": _("An order cannot close before it was reported.")})
    order.closed_at = now
    if resolution is not None:
        order.resolution = resolution
    if odometer_km is not None:
        order.odometer_km = odometer_km
    if engine_hours is not None:
        order.engine_hours = engine_hours
    if order.takes_off_road:
        _give_back(order, now)
    order.save(
        update_fields=[
            "status",
            "closed_at",
            "resolution",
            "odometer_km",
            "engine_hours",
            "off_road_until",
            "off_road_days",
            "updated_at",
        ]
    )
    if order.service_plan_id:
        ServiceRecord.objects.create(
            municipality_id=order.municipality_id,
            vehicle_id=order.vehicle_id,
            plan_id=order.service_plan_id,
            work_order=order,
            performed_on=timezone.localtime(now).date(),
            odometer_km=order.odometer_km,
            engine_hours=order.engine_hours,
        )
    vehicle_meters_advance(
        vehicle=order.vehicle, odometer_km=order.odometer_km, engine_hours=order.engine_hours
    )
    log.info(
        "maintenance.order_closed order=%s vehicle=%s off_road_days=%s",
        order.pk,
        order.vehicle_id,
        order.off_road_days,
    )
    return order


@transaction.atomic
def work_order_cancel(*, order: WorkOrder, at: datetime | None = None) -> WorkOrder:
    order = _locked(order)
    _transition(order, OPEN_WORK_ORDER_STATUSES, WorkOrderStatus.CANCELLED)
    now = at or timezone.now()
    order.closed_at = now
    if order.takes_off_road:
        _give_back(order, now)
    order.save(
        update_fields=["status", "closed_at", "off_road_until", "off_road_days", "updated_at"]
    )
    log.info("maintenance.order_cancelled order=%s vehicle=%s", order.pk, order.vehicle_id)
    return order


@transaction.atomic
def work_order_part_add(*, order: WorkOrder, **fields) -> WorkOrderPart:
    if order.status == WorkOrderStatus.CANCELLED:
        raise ValidationError({"work_order": _("The work order is cancelled.")})
    part = WorkOrderPart(municipality_id=order.municipality_id, work_order=order)
    _assign(part, fields, PART_FIELDS)
    part.full_clean()
    part.save()
    return part


@transaction.atomic
def work_order_part_update(*, part: WorkOrderPart, **fields) -> WorkOrderPart:
    changed = _assign(part, fields, PART_FIELDS)
    part.full_clean()
    part.save(update_fields=changed)
    return part


@transaction.atomic
def work_order_part_delete(*, part: WorkOrderPart) -> None:
    part.delete()


# --- Service plans and records --------------------------------------------------------------------


def _check_plan(plan: ServicePlan) -> None:
    errors = {}
    if (plan.vehicle_id is None) == (not plan.category):
        errors["vehicle"] = _("A plan is for one vehicle or for a whole category, not both.")
    if not (plan.every_km or plan.every_hours or plan.every_days):
        errors["every_km"] = _("Give at least one interval: km, engine hours or days.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def service_plan_create(*, municipality: Municipality, **fields) -> ServicePlan:
    _same_municipality(municipality.pk, vehicle=fields.get("vehicle"))
    plan = ServicePlan(municipality=municipality)
    if not fields.get("starts_on"):
        fields["starts_on"] = timezone.localdate()
    fields["category"] = fields.get("category") or ""
    _assign(plan, fields, PLAN_FIELDS)
    _check_plan(plan)
    plan.full_clean()
    plan.save()
    return plan


@transaction.atomic
def service_plan_update(*, plan: ServicePlan, **fields) -> ServicePlan:
    _same_municipality(plan.municipality_id, vehicle=fields.get("vehicle"))
    if "category" in fields and fields["category"] is None:
        fields["category"] = ""
    changed = _assign(plan, fields, PLAN_FIELDS)
    _check_plan(plan)
    plan.full_clean()
    plan.save(update_fields=changed)
    return plan


@transaction.atomic
def service_record_create(*, municipality: Municipality, **fields) -> ServiceRecord:
    _same_municipality(
        municipality.pk,
        vehicle=fields.get("vehicle"),
        plan=fields.get("plan"),
        work_order=fields.get("work_order"),
    )
    record = ServiceRecord(municipality=municipality)
    _assign(record, fields, RECORD_FIELDS)
    plan = record.plan
    if plan is not None and plan.vehicle_id not in (None, record.vehicle_id):
        raise ValidationError({"plan": _("That plan is for another vehicle.")})
    if plan is not None and plan.category and plan.category != record.vehicle.category:
        raise ValidationError({"plan": _("That plan is for another category of vehicle.")})
    record.full_clean()
    record.save()
    vehicle_meters_advance(
        vehicle=record.vehicle, odometer_km=record.odometer_km, engine_hours=record.engine_hours
    )
    return record


# --- ΚΤΕΟ, costs ----------------------------------------------------------------------------------


@transaction.atomic
def roadworthiness_test_record(*, municipality: Municipality, **fields) -> RoadworthinessTest:
    _same_municipality(municipality.pk, vehicle=fields.get("vehicle"))
    test = RoadworthinessTest(municipality=municipality)
    _assign(test, fields, TEST_FIELDS)
    if test.tested_on and test.tested_on > timezone.localdate():
        raise ValidationError({"tested_on": _("The test date cannot be in the future.")})
    test.full_clean()
    test.save()
    log.info(
        "maintenance.kteo_recorded vehicle=%s result=%s on=%s",
        test.vehicle_id,
        test.result,
        test.tested_on,
    )
    return test


@transaction.atomic
def roadworthiness_test_update(*, test: RoadworthinessTest, **fields) -> RoadworthinessTest:
    _same_municipality(test.municipality_id, vehicle=fields.get("vehicle"))
    changed = _assign(test, fields, TEST_FIELDS)
    test.full_clean()
    test.save(update_fields=changed)
    return test


@transaction.atomic
def expense_create(*, municipality: Municipality, **fields) -> Expense:
    _same_municipality(
        municipality.pk, vehicle=fields.get("vehicle"), document=fields.get("document")
    )
    expense = Expense(municipality=municipality)
    _assign(expense, fields, EXPENSE_FIELDS)
    expense.full_clean()
    expense.save()
    return expense


@transaction.atomic
def expense_update(*, expense: Expense, **fields) -> Expense:
    _same_municipality(
        expense.municipality_id, vehicle=fields.get("vehicle"), document=fields.get("document")
    )
    changed = _assign(expense, fields, EXPENSE_FIELDS)
    expense.full_clean()
    expense.save(update_fields=changed)
    return expense


# --- Reminders ------------------------------------------------------------------------------------


def reminder_horizon_days() -> int:
    return int(getattr(settings, "KINISI_REMINDER_DAYS", 30))


@transaction.atomic
def reminders_generate(
    *, municipality: Municipality, on: date | None = None, horizon_days: int | None = None
) -> list[Reminder]:
    """A reminder for every compliance item due within the horizon or overdue, once per item and
    due date (a renewed document has a new due date and reminds again next time)."""
    from fleet.selectors import maintenance as selectors

    on = on or timezone.localdate()
    horizon = reminder_horizon_days() if horizon_days is None else horizon_days
    rows = selectors.compliance_calendar(
        municipality=municipality, on=on, horizon_days=horizon, include_services=True
    )
    existing = set(Reminder.objects.filter(municipality=municipality).values_list("key", "due_on"))
    fresh = []
    for row in rows:
        if row.item.due_on is None or row.item.status == "ok":
            continue
        if (row.key, row.item.due_on) in existing:
            continue
        fresh.append(
            Reminder(
                municipality=municipality,
                key=row.key,
                vehicle_id=row.vehicle_id,
                driver_id=row.driver_id,
                rule=str(row.item.rule),
                detail=row.item.detail[:120],
                due_on=row.item.due_on,
            )
        )
    Reminder.objects.bulk_create(fresh)
    log.info(
        "maintenance.reminders_generated municipality=%s new=%s horizon=%s",
        municipality.pk,
        len(fresh),
        horizon,
    )
    return fresh


def reminders_email(*, municipality: Municipality) -> int:
    """One e-mail per municipality listing the reminders not sent yet, to its managers and
    administrators. Returns the number of reminders sent."""
    from fleet.selectors import maintenance as selectors

    pending = list(
        Reminder.objects.filter(
            municipality=municipality, emailed_at__isnull=True, dismissed_at__isnull=True
        )
        .select_related("vehicle", "driver")
        .order_by("due_on")
    )
    recipients = sorted(
        set(
            User.objects.filter(
                municipality=municipality,
                is_active=True,
                role__in=[Role.ADMIN, Role.MANAGER],
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not pending or not recipients:
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        lines = [
            f"{r.due_on:%d/%m/%Y}  {selectors.reminder_subject(r)}  {selectors.rule_label(r.rule)}"
            f"{(' ' + r.detail) if r.detail else ''}"
            for r in pending
        ]
        subject = _("Kinisi: %(n)s compliance items due") % {"n": len(pending)}
        body = "\n".join([_("These items are due soon or overdue:"), "", *lines, ""])
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    Reminder.objects.filter(pk__in=[r.pk for r in pending]).update(emailed_at=timezone.now())
    log.info(
        "maintenance.reminders_emailed municipality=%s reminders=%s recipients=%s",
        municipality.pk,
        len(pending),
        len(recipients),
    )
    return len(pending)


@transaction.atomic
def reminder_dismiss(*, reminder: Reminder, user: User | None = None) -> Reminder:
    reminder.dismissed_at = timezone.now()
    reminder.dismissed_by = user
    reminder.save(update_fields=["dismissed_at", "dismissed_by"])
    return reminder
