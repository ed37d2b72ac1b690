"""Reads for the reports: report runs, and the inputs of each report generator.

Each ``*_input`` function loads everything one report needs in a fixed number of queries (or a
bounded number per vehicle for consumption, where it asks the same questions the fuel API asks)
and returns the plain dataclasses of ``reports.generators``. Labels are translated here, so call
them inside ``translation.override(language)``.

Motion data: trips and daily summaries are looked up by name in the telematics app and used when
they exist with the fields read here (see ``_telematics_model``). Until then, kilometres and
engine hours come from the trackers' own meters on the positions (through the fuel app's
``DbMotion``), and the movement sheet detects trips from the day's positions with the pure
motion pipeline, the same code the workers run.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.apps import apps
from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from fleet import anomalies as checks
from fleet.choices import VehicleStatus
from fleet.models import (
    Department,
    Driver,
    FuelAnomaly,
    FuelEntry,
    Municipality,
    ServiceRecord,
    Vehicle,
    WorkOrder,
)
from fleet.models.fuel import AnomalyStatus
from fleet.models.maintenance import OPEN_WORK_ORDER_STATUSES, WorkOrderStatus
from reports.generators import fmt
from reports.generators import fuel as fuel_gen
from reports.generators import maintenance as maintenance_gen
from reports.generators import movement as movement_gen
from reports.generators.fmt import Period
from reports.models import FuelContract, ReportRun

log = logging.getLogger("kinisi.reports")

Progress = Callable[[int, str], None]


def _no_progress(percent: int, stage: str) -> None:
    return None


# --- Runs -----------------------------------------------------------------------------------------


def report_run_list(
    *, municipality_id: int | None, kind: str = "", status: str = "", period: str = ""
) -> QuerySet[ReportRun]:
    qs = ReportRun.objects.select_related("department", "vehicle", "requested_by")
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if period:
        qs = qs.filter(period__startswith=period)
    return qs.order_by("-period_start", "kind", "scope", "-pk")


def report_run_find(
    *,
    municipality_id: int,
    kind: str,
    period: str,
    scope: str,
    language: str,
) -> ReportRun | None:
    return ReportRun.objects.filter(
        municipality_id=municipality_id, kind=kind, period=period, scope=scope, language=language
    ).first()


def fleet_manager_emails(*, municipality_id: int) -> list[str]:
    """Who receives the monthly reports: the municipality's active managers and
    administrators with an e-mail address."""
    from fleet.choices import Role

    User = apps.get_model(settings.AUTH_USER_MODEL)
    return sorted(
        set(
            User.objects.filter(
                municipality_id=municipality_id,
                is_active=True,
                role__in=[Role.MANAGER, Role.ADMIN],
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


# --- Shared helpers -------------------------------------------------------------------------------


def municipality_tz(municipality: Municipality) -> str:
    return municipality.timezone or settings.TIME_ZONE


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz))


def period_bounds(period: Period, tz: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC-aware datetimes for the period's local days."""
    return local_midnight(period.start, tz), local_midnight(period.end + timedelta(days=1), tz)


def municipality_logo(municipality: Municipality) -> bytes | None:
    if not municipality.logo:
        return None
    try:
        with municipality.logo.open("rb") as fh:
            return fh.read()
    except OSError as exc:
        log.warning("reports.logo_missing municipality=%s error=%s", municipality.pk, exc)
        return None


def _telematics_model(name: str, needed: set[str]):
    """A telematics model if it exists with the fields we read; None otherwise."""
    try:
        model = apps.get_model("telematics", name)
    except LookupError:
        return None
    names = {f.name for f in model._meta.get_fields()}
    return model if needed <= names else None


def _field_names(model) -> set[str]:
    return {f.name for f in model._meta.get_fields()}


def scope_vehicles(
    *, municipality: Municipality, department: Department | None = None
) -> QuerySet[Vehicle]:
    qs = Vehicle.objects.filter(municipality=municipality).select_related("department")
    if department is not None:
        qs = qs.filter(department=department)
    return qs


def _description(vehicle: Vehicle) -> str:
    return " ".join(p for p in (vehicle.make, vehicle.model) if p) or vehicle.get_category_display()


def _cents(value: Decimal | None) -> Decimal:
    # SQLite sums decimals without their scale ("10" for 10.00): keep two places everywhere.
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# --- Fuel -----------------------------------------------------------------------------------------

_REFUEL_FIELDS = (
    "pk",
    "vehicle_id",
    "filled_at",
    "litres",
    "amount",
    "full_tank",
    "odometer_km",
    "engine_hours",
    "station__latitude",
    "station__longitude",
    "station_name",
)


def _refuel(row: dict) -> checks.Refuel:
    return checks.Refuel(
        id=row["pk"],
        time=row["filled_at"],
        litres=float(row["litres"]),
        full_tank=row["full_tank"],
        odometer_km=_f(row["odometer_km"]),
        engine_hours=_f(row["engine_hours"]),
        station_lat=row["station__latitude"],
        station_lon=row["station__longitude"],
        station=row["station_name"] or "",
    )


def _db_motion_class():
    # The fuel app's reader of motion data: reusing it keeps the report's consumption figures
    # identical to the fuel API's (same sources, same order of preference).
    from fleet.selectors.fuel import DbMotion, moved_m

    class ReportMotion(DbMotion):
        """``DbMotion`` whose whole-day answers come from daily summaries, trip distances from
        trips and short moves from stops, loaded for the whole fleet's month in one query each
        instead of a few queries per vehicle."""

        def __init__(
            self,
            vehicle_id: int,
            tz: str,
            days: dict[date, tuple[float, float]] | None,
            covered: tuple[date, date],
            trips: list[tuple[float, float, float]] | None = None,
            trips_span: tuple[float, float] | None = None,
            moves: list[tuple[float, float, list]] | None = None,
        ) -> None:
            super().__init__(vehicle_id, tz)
            self._days = days
            self._covered = covered
            self._trip_rows = trips
            self._trips_span = trips_span
            self._move_rows = moves

        def _trips(self, t0: float, t1: float) -> float | None:
            # Every trip overlapping a window inside the loaded span was loaded with it.
            span = self._trips_span
            if self._trip_rows is None or span is None or t0 < span[0] or t1 > span[1]:
                return super()._trips(t0, t1)
            total, any_trip = 0.0, False
            for s, e, metres in self._trip_rows:
                if not (s < t1 and e > t0):
                    continue
                any_trip = True
                # As DbMotion: a trip cut by the window counts by its share of time inside.
                share = 1.0 if e <= s else max(0.0, min(e, t1) - max(s, t0)) / (e - s)
                total += (metres or 0.0) * share
            return total / 1000.0 if any_trip else None

        def _moved(self, t0: float, t1: float) -> float:
            # Loaded with the trips, for the same span.
            span = self._trips_span
            if self._move_rows is None or span is None or t0 < span[0] or t1 > span[1]:
                return super()._moved(t0, t1)
            return moved_m(self._move_rows, t0, t1, self.zone.key) / 1000.0

        def _daily(self, t0: float, t1: float, field_name: str) -> float | None:
            d0, d1 = self._midnight(t0), self._midnight(t1)
            if self._days is None or d0 is None or d1 is None:
                return super()._daily(t0, t1, field_name)
            if d0 < self._covered[0] or d1 > self._covered[1]:
                return super()._daily(t0, t1, field_name)
            values = [v for d, v in self._days.items() if d0 <= d < d1]
            if not values:
                return None
            index = 0 if field_name == "distance_m" else 1
            total = sum(float(v[index] or 0.0) for v in values)
            return total / 1000.0 if field_name == "distance_m" else total

    return ReportMotion


def _period_rows(
    name: str, field: str, vehicle_ids: list[int], t0: datetime, t1: datetime
) -> dict[int, list[tuple[float, float, Any]]] | None:
    """Per vehicle: (start, end, ``field``) of the stored ``name`` rows (trips, stops)
    overlapping [t0, t1); None when there is no such table."""
    model = _telematics_model(name, {"vehicle", "start_time", "end_time", field})
    if model is None:
        return None
    found: dict[int, list[tuple[float, float, Any]]] = defaultdict(list)
    rows = model.objects.filter(
        vehicle_id__in=vehicle_ids, start_time__lt=t1, end_time__gt=t0
    ).values_list("vehicle_id", "start_time", "end_time", field)
    for vid, start, end, value in rows.iterator(chunk_size=5000):
        found[vid].append((start.timestamp(), end.timestamp(), value))
    return found


def _daily_summaries(
    vehicle_ids: list[int], start: date, end: date
) -> dict[int, dict[date, tuple[float, float]]] | None:
    """Per vehicle and local day: (metres, engine hours); None when there is no such table."""
    model = _telematics_model("DailySummary", {"vehicle", "day", "distance_m", "engine_hours"})
    if model is None:
        return None
    found: dict[int, dict[date, tuple[float, float]]] = defaultdict(dict)
    rows = model.objects.filter(vehicle_id__in=vehicle_ids, day__gte=start, day__lte=end)
    for vid, day, metres, hours in rows.values_list(
        "vehicle_id", "day", "distance_m", "engine_hours"
    ).iterator(chunk_size=5000):
        found[vid][day] = (metres or 0.0, hours or 0.0)
    return found


def _meter_span(values: list[float]) -> float | None:
    return (max(values) - min(values)) if len(values) >= 2 else None


def fuel_report_input(
    *,
    municipality: Municipality,
    period: Period,
    department: Department | None = None,
    language: str = "el",
    generated_at: datetime | None = None,
    progress: Progress = _no_progress,
) -> fuel_gen.FuelReportInput:
    from fleet.selectors.fuel import anomaly_config

    tz = municipality_tz(municipality)
    t0, t1 = period_bounds(period, tz)
    vehicles = list(scope_vehicles(municipality=municipality, department=department))
    ids = [v.pk for v in vehicles]
    entries = list(
        FuelEntry.objects.filter(
            municipality=municipality, vehicle_id__in=ids, filled_at__gte=t0, filled_at__lt=t1
        )
        .order_by("filled_at", "pk")
        .values(*_REFUEL_FIELDS)
    )
    by_vehicle: dict[int, list[dict]] = defaultdict(list)
    for row in entries:
        by_vehicle[row["vehicle_id"]].append(row)
    progress(10, "refuels")
    daily = _daily_summaries(ids, period.start, period.end)
    trips = _period_rows("Trip", "distance_m", ids, t0, t1)
    # Moves too short to be trips, kept by stops: [[local day, metres], ...].
    moves = _period_rows("Stop", "moved", ids, t0, t1)
    anomalies = list(
        FuelAnomaly.objects.filter(
            municipality=municipality, vehicle_id__in=ids, occurred_at__gte=t0, occurred_at__lt=t1
        )
        .select_related("vehicle")
        .order_by("occurred_at", "pk")
    )
    anomaly_counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for a in anomalies:
        anomaly_counts[a.vehicle_id][0] += 1
        anomaly_counts[a.vehicle_id][1] += a.status == AnomalyStatus.OPEN
    progress(15, "anomalies")

    motion_class = _db_motion_class()
    covered = (period.start, period.end + timedelta(days=1))
    period_ts = (t0.timestamp(), t1.timestamp())
    rows: list[fuel_gen.FuelVehicleInput] = []
    # Retired vehicles appear only if they still did something in the month.
    active = [v for v in vehicles if v.status != VehicleStatus.RETIRED or by_vehicle.get(v.pk)]
    for n, vehicle in enumerate(active, start=1):
        refuel_rows = by_vehicle.get(vehicle.pk, [])
        refuels = [_refuel(r) for r in refuel_rows]
        motion = motion_class(
            vehicle.pk,
            tz,
            daily.get(vehicle.pk, {}) if daily is not None else None,
            covered,
            trips.get(vehicle.pk, []) if trips is not None else None,
            period_ts,
            moves.get(vehicle.pk, []) if moves is not None else None,
        )
        uses_hours = vehicle.uses_hours
        result = (
            checks.consumption(refuels, uses_hours=uses_hours, motion=motion, period=period_ts)
            if refuels
            else None
        )
        km = motion.distance_km(*period_ts)
        hours = motion.engine_hours(*period_ts)
        odometers = [r.odometer_km for r in refuels if r.odometer_km is not None]
        meters = [r.engine_hours for r in refuels if r.engine_hours is not None]
        counts = anomaly_counts.get(vehicle.pk, [0, 0])
        rows.append(
            fuel_gen.FuelVehicleInput(
                vehicle_id=vehicle.pk,
                plate=vehicle.display_plate,
                description=_description(vehicle),
                department=vehicle.department.name if vehicle.department else "",
                fuel_type=str(vehicle.get_fuel_type_display()),
                uses_hours=uses_hours,
                norm=_f(vehicle.consumption_norm) or None,
                refuels=len(refuel_rows),
                litres=sum((r["litres"] for r in refuel_rows), Decimal("0")),
                amount=sum(
                    (r["amount"] for r in refuel_rows if r["amount"] is not None), Decimal("0")
                ),
                km_telematics=km,
                km_odometer=_meter_span(odometers),
                hours_telematics=hours,
                hours_meter=_meter_span(meters),
                consumption=result.value if result else None,
                consumption_method=result.method if result else "",
                anomalies=counts[0],
                anomalies_open=counts[1],
            )
        )
        if n % 25 == 0:
            progress(15 + int(55 * n / max(len(active), 1)), "consumption")
    progress(70, "trend")
    return fuel_gen.FuelReportInput(
        municipality=municipality.name,
        period=period,
        vehicles=rows,
        anomalies=[
            fuel_gen.FuelAnomalyInput(
                occurred_at=a.occurred_at,
                plate=a.vehicle.display_plate,
                kind=str(a.get_kind_display()),
                status=str(a.get_status_display()),
                is_open=a.status == AnomalyStatus.OPEN,
            )
            for a in anomalies
        ],
        trend=_fuel_trend(municipality, period, ids, tz),
        contract=fuel_contract_input(municipality=municipality, period=period),
        tolerance_pct=anomaly_config().consumption_tolerance_pct,
        scope=department.name if department else "",
        generated_at=generated_at or timezone.now(),
        timezone=tz,
        language=language,
        logo=municipality_logo(municipality),
    )


def _month_key(value: datetime | date, tz: str) -> date:
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(tz)) if timezone.is_aware(value) else value
        return value.date().replace(day=1)
    return value.replace(day=1)


def _fuel_trend(
    municipality: Municipality, period: Period, vehicle_ids: list[int], tz: str
) -> list[fuel_gen.MonthFigures]:
    months = period.previous_months(12)
    start = local_midnight(months[0], tz)
    _, end = period_bounds(period, tz)
    found: dict[date, list] = {m: [Decimal("0"), Decimal("0"), None] for m in months}
    rows = (
        FuelEntry.objects.filter(
            municipality=municipality,
            vehicle_id__in=vehicle_ids,
            filled_at__gte=start,
            filled_at__lt=end,
        )
        .annotate(month=TruncMonth("filled_at", tzinfo=ZoneInfo(tz)))
        .values("month")
        .annotate(litres=Sum("litres"), amount=Sum("amount"))
    )
    for row in rows:
        key = _month_key(row["month"], tz)
        if key in found:
            found[key][0] = _cents(row["litres"])
            found[key][1] = _cents(row["amount"])
    daily = _telematics_model("DailySummary", {"vehicle", "day", "distance_m"})
    if daily is not None:
        for row in (
            daily.objects.filter(
                vehicle_id__in=vehicle_ids, day__gte=months[0], day__lte=period.end
            )
            .annotate(month=TruncMonth("day"))
            .values("month")
            .annotate(metres=Sum("distance_m"))
        ):
            key = _month_key(row["month"], tz)
            if key in found:
                found[key][2] = (row["metres"] or 0.0) / 1000.0
    return [fuel_gen.MonthFigures(m, v[0], v[1], v[2]) for m, v in sorted(found.items())]


def fuel_contract_input(
    *, municipality: Municipality, period: Period
) -> fuel_gen.FuelContractInput | None:
    """The contract in force during the period (the latest to start), with what has been spent
    on it from its start to the end of the period, across the whole municipality."""
    contract = (
        FuelContract.objects.filter(municipality=municipality, starts_on__lte=period.end)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=period.start))
        .order_by("-starts_on", "-pk")
        .first()
    )
    if contract is None:
        return None
    tz = municipality_tz(municipality)
    until = min(period.end, contract.ends_on) if contract.ends_on else period.end
    entries = FuelEntry.objects.filter(
        municipality=municipality,
        filled_at__gte=local_midnight(contract.starts_on, tz),
        filled_at__lt=local_midnight(until + timedelta(days=1), tz),
    )
    if contract.fuel_type:
        entries = entries.filter(vehicle__fuel_type=contract.fuel_type)
    totals = entries.aggregate(amount=Sum("amount"), litres=Sum("litres"))
    return fuel_gen.FuelContractInput(
        reference=contract.reference,
        supplier=contract.supplier,
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        budget=contract.amount,
        spent=_cents(totals["amount"]),
        litres=_cents(totals["litres"]),
        litres_budget=contract.litres,
        fuel_type=str(contract.get_fuel_type_display()) if contract.fuel_type else "",
    )


# --- Maintenance ----------------------------------------------------------------------------------

_TRIGGERS = {
    "km": gettext_noop("by km"),
    "hours": gettext_noop("by engine hours"),
    "days": gettext_noop("by date"),
}


def _due_detail(item, on: date) -> str:
    days = item.days_left(on)
    if days is None:
        return ""
    if days < 0:
        return _("%(n)s days overdue") % {"n": -days}
    if days == 0:
        return _("due today")
    return _("in %(n)s days") % {"n": days}


def _services_due(
    municipality: Municipality, period: Period, vehicles: QuerySet[Vehicle], language: str
) -> list[maintenance_gen.DueInput]:
    """Service plans overdue at the end of the period or falling due (by date, or by km or
    engine hours at the vehicle's pace) before the end of the next month."""
    from fleet.compliance import Status
    from fleet.selectors.maintenance import STATUS_LABELS, service_due_list

    horizon = period.next_month().end
    found = []
    for row in service_due_list(
        municipality_id=municipality.pk,
        on=period.end,
        vehicles=vehicles.exclude(status=VehicleStatus.RETIRED),
    ):
        due = row.due
        when = due.due_on or due.estimated_on
        if due.status == Status.OK and (when is None or when > horizon):
            continue
        if due.status == Status.MISSING:
            continue
        parts = [str(_(_TRIGGERS[t])) for t in due.triggered_by if t in _TRIGGERS]
        if due.due_km is not None:
            parts.append(_("at %(km)s km") % {"km": fmt.number(due.due_km, 0, language)})
        if due.due_hours is not None:
            parts.append(_("at %(hours)s h") % {"hours": fmt.number(due.due_hours, 0, language)})
        extra = _due_detail(_DueOn(when), period.end) if when else ""
        found.append(
            maintenance_gen.DueInput(
                subject=row.vehicle.display_plate,
                item=row.plan.name,
                due_on=when,
                status=str(STATUS_LABELS.get(due.status, due.status))
                if due.status != Status.OK
                else _("Due next month"),
                status_code=str(due.status),
                detail="; ".join(p for p in (", ".join(parts), extra) if p),
            )
        )
    return found


class _DueOn:
    """The one method of a compliance item ``_due_detail`` needs, for a bare date."""

    def __init__(self, due_on: date) -> None:
        self.due_on = due_on

    def days_left(self, on: date) -> int:
        return (self.due_on - on).days


def maintenance_report_input(
    *,
    municipality: Municipality,
    period: Period,
    department: Department | None = None,
    language: str = "el",
    generated_at: datetime | None = None,
    progress: Progress = _no_progress,
) -> maintenance_gen.MaintenanceReportInput:
    from fleet.compliance import Rule, Status
    from fleet.selectors.maintenance import compliance_calendar

    tz = municipality_tz(municipality)
    t0, t1 = period_bounds(period, tz)
    vehicles = scope_vehicles(municipality=municipality, department=department)
    ids = list(vehicles.values_list("pk", flat=True))
    done = (
        WorkOrder.objects.filter(
            municipality=municipality,
            vehicle_id__in=ids,
            status=WorkOrderStatus.DONE,
            closed_at__gte=t0,
            closed_at__lt=t1,
        )
        .select_related("vehicle__department", "service_plan")
        .prefetch_related("parts")
        .order_by("closed_at", "pk")
    )
    orders = []
    for o in done:
        # Each part's total is rounded to the cent first, as on the work order's own page.
        parts = sum((p.total for p in o.parts.all()), Decimal("0"))
        orders.append(
            maintenance_gen.WorkOrderInput(
                number=o.pk,
                closed_at=o.closed_at,
                vehicle_id=o.vehicle_id,
                plate=o.vehicle.display_plate,
                department=o.vehicle.department.name if o.vehicle.department else "",
                title=o.title,
                vendor=o.vendor.strip(),
                parts=parts,
                labour=o.labour_cost,
                other=o.other_cost,
                off_road_days=o.off_road_days,
                service=o.service_plan.name if o.service_plan else "",
            )
        )
    progress(25, "work_orders")
    open_orders = WorkOrder.objects.filter(
        municipality=municipality, vehicle_id__in=ids, status__in=OPEN_WORK_ORDER_STATUSES
    ).count()
    services = [
        maintenance_gen.ServiceDoneInput(
            performed_on=r.performed_on,
            plate=r.vehicle.display_plate,
            service=r.plan.name if r.plan else (r.notes[:80] or _("Service")),
            odometer_km=r.odometer_km,
            engine_hours=r.engine_hours,
            work_order=r.work_order_id,
        )
        for r in ServiceRecord.objects.filter(
            municipality=municipality,
            vehicle_id__in=ids,
            performed_on__gte=period.start,
            performed_on__lte=period.end,
        )
        .select_related("vehicle", "plan")
        .order_by("performed_on", "pk")
    ]
    off_road = [
        maintenance_gen.OffRoadInput(
            vehicle_id=o.vehicle_id,
            plate=o.vehicle.display_plate,
            department=o.vehicle.department.name if o.vehicle.department else "",
            start=o.off_road_from,
            end=o.off_road_until,
        )
        for o in WorkOrder.objects.filter(
            municipality=municipality,
            vehicle_id__in=ids,
            off_road_from__isnull=False,
            off_road_from__lt=t1,
        )
        .filter(Q(off_road_until__isnull=True) | Q(off_road_until__gte=t0))
        .select_related("vehicle__department")
    ]
    progress(45, "compliance")
    next_month = period.next_month()
    services_due = _services_due(municipality, period, vehicles, language)
    calendar = compliance_calendar(
        municipality=municipality,
        on=period.end,
        horizon_days=(next_month.end - period.end).days,
        include_services=False,
    )
    if department is not None:
        driver_ids = set(
            Driver.objects.filter(municipality=municipality, department=department).values_list(
                "pk", flat=True
            )
        )
        vehicle_ids = set(ids)
        calendar = [
            row
            for row in calendar
            if (row.vehicle_id in vehicle_ids) or (row.driver_id in driver_ids)
        ]
    compliance = [
        maintenance_gen.DueInput(
            subject=row.name,
            item=row.label,
            due_on=row.item.due_on,
            status=row.status_label,
            status_code=str(row.item.status),
            detail=_due_detail(row.item, period.end),
        )
        for row in calendar
        if row.item.status != Status.OK and row.item.rule != Rule.SERVICE
    ]
    progress(60, "building")
    return maintenance_gen.MaintenanceReportInput(
        municipality=municipality.name,
        period=period,
        work_orders=orders,
        services=services,
        off_road=off_road,
        services_due=services_due,
        compliance=compliance,
        open_work_orders=open_orders,
        scope=department.name if department else "",
        generated_at=generated_at or timezone.now(),
        timezone=tz,
        language=language,
        logo=municipality_logo(municipality),
    )


# --- Movement sheet -------------------------------------------------------------------------------

# Positions read before the period so a vehicle already moving at midnight is seen departing,
# and after it so a trip that starts late in the day can end.
_LEAD_IN = timedelta(hours=2)
_LEAD_OUT = timedelta(hours=8)


class _TripFacts:
    """What the sheet needs of one trip, whichever source it came from."""

    __slots__ = (
        "start_time",
        "end_time",
        "start",
        "end",
        "distance_m",
        "track",
        "start_place",
        "end_place",
        "driver_id",
        "driver_tags",
    )

    def __init__(self, start_time, end_time, start, end, distance_m, track=(), **extra) -> None:
        self.start_time = start_time
        self.end_time = end_time
        self.start = start  # (lat, lon) or None
        self.end = end
        self.distance_m = float(distance_m or 0.0)
        self.track = track  # ((lon, lat), ...)
        self.start_place = extra.get("start_place", "")
        self.end_place = extra.get("end_place", "")
        self.driver_id = extra.get("driver_id")
        self.driver_tags = tuple(extra.get("driver_tags", ()))


_FIX_FIELDS = (
    "fix_time",
    "latitude",
    "longitude",
    "valid",
    "speed_kmh",
    "ignition",
    "odometer",
    "engine_hours",
    "fuel_level",
    "driver_tag",
)


def _position_fixes(vehicle_id: int, start: datetime, end: datetime) -> Iterator:
    from telematics.models import Position
    from telematics.motion.records import MotionFix

    rows = (
        Position.objects.filter(vehicle_id=vehicle_id, fix_time__gte=start, fix_time__lt=end)
        .order_by("fix_time")
        .values_list(*_FIX_FIELDS)
    )
    for row in rows.iterator(chunk_size=5000):
        yield MotionFix(**dict(zip(_FIX_FIELDS, row, strict=True)))


def _detected_trips(vehicle_id: int, t0: datetime, t1: datetime, tz: str) -> list[_TripFacts]:
    """Trips detected from the stored positions with the motion pipeline, for when the
    telematics app does not store trips (yet)."""
    from telematics.motion.pipeline import MotionConfig, MotionProcessor
    from telematics.motion.trips import Trip, TripConfig

    processor = MotionProcessor(MotionConfig(trips=TripConfig(timezone=tz)))
    result = processor.process(_position_fixes(vehicle_id, t0 - _LEAD_IN, t1 + _LEAD_OUT))
    trips = [*result.trips, *(o for o in result.provisional if isinstance(o, Trip))]
    found = []
    for trip in trips:
        if not (t0 <= trip.start_time < t1):
            continue
        found.append(
            _TripFacts(
                trip.start_time,
                trip.end_time,
                (trip.start_lat, trip.start_lon),
                (trip.end_lat, trip.end_lon),
                trip.distance_m,
                tuple((lon, lat) for _t, lat, lon in trip.track),
                driver_tags=[t for t in trip.driver_tags if t],
            )
        )
    return found


def _stored_trips(model, vehicle_id: int, t0: datetime, t1: datetime) -> list[_TripFacts]:
    names = _field_names(model)

    def pick(obj, *candidates, default=None):
        for name in candidates:
            if name in names:
                return getattr(obj, name)
        return default

    found = []
    for trip in model.objects.filter(
        vehicle_id=vehicle_id, start_time__gte=t0, start_time__lt=t1
    ).order_by("start_time"):
        start = (pick(trip, "start_lat"), pick(trip, "start_lon"))
        end = (pick(trip, "end_lat"), pick(trip, "end_lon"))
        track = pick(trip, "track", "geometry", default=None) or ()
        if isinstance(track, dict):  # GeoJSON LineString
            track = track.get("coordinates") or ()
        points = []
        for p in track:
            # [t, lat, lon] as the detector keeps it, or [lon, lat] as GeoJSON has it.
            points.append((p[2], p[1]) if len(p) == 3 else (p[0], p[1]))
        tags = pick(trip, "driver_tags", "driver_tag", default=()) or ()
        found.append(
            _TripFacts(
                trip.start_time,
                trip.end_time,
                start if None not in start else None,
                end if None not in end else None,
                trip.distance_m,
                tuple(points),
                start_place=pick(trip, "start_address", "start_street", "start_place", default="")
                or "",
                end_place=pick(trip, "end_address", "end_street", "end_place", default="") or "",
                driver_id=trip.driver_id if "driver" in names else None,
                driver_tags=[tags] if isinstance(tags, str) else list(tags),
            )
        )
    return found


def vehicle_trips(*, vehicle: Vehicle, period: Period, tz: str) -> list[_TripFacts]:
    """The vehicle's trips that started in the period: the ones the motion pipeline stored, or,
    when it has stored none there (no such table yet, or positions not processed yet: a
    worker lagging behind, an upload replayed late), detected now from the stored positions
    with the same pure pipeline."""
    t0, t1 = period_bounds(period, tz)
    model = _telematics_model("Trip", {"vehicle", "start_time", "end_time", "distance_m"})
    if model is not None:
        stored = _stored_trips(model, vehicle.pk, t0, t1)
        if stored:
            return stored
    found = _detected_trips(vehicle.pk, t0, t1, tz)
    if found:
        log.info(
            "reports.trips_from_positions vehicle=%s period=%s trips=%s",
            vehicle.pk,
            period.key,
            len(found),
        )
    return found


_edge_boxes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_edge_boxes_lock = threading.Lock()


def _street_boxes(router) -> tuple[np.ndarray, np.ndarray]:
    """(edges drawn once per street stretch, their lon/lat bounding boxes), per loaded graph."""
    with _edge_boxes_lock:
        cached = _edge_boxes.get(router)
        if cached is None:
            net = router.net
            edges = router.drawn_edges()
            starts = net.geom_offsets[:-1]
            lon = net.geom_coords[:, 0]
            lat = net.geom_coords[:, 1]
            boxes = np.column_stack(
                [
                    np.minimum.reduceat(lon, starts),
                    np.minimum.reduceat(lat, starts),
                    np.maximum.reduceat(lon, starts),
                    np.maximum.reduceat(lat, starts),
                ]
            )[edges]
            cached = (edges, boxes)
            _edge_boxes[router] = cached
    return cached


def _streets_around(router, points: list[tuple[float, float]]) -> tuple:
    """Street polylines (lon, lat) near the route: the route's box plus a margin of a quarter
    of its size (at least ~300 m), as the map shows."""
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    margin_lon = max((max(lons) - min(lons)) * 0.6, 0.004)
    margin_lat = max((max(lats) - min(lats)) * 0.6, 0.003)
    west, east = min(lons) - margin_lon, max(lons) + margin_lon
    south, north = min(lats) - margin_lat, max(lats) + margin_lat
    edges, boxes = _street_boxes(router)
    inside = (
        (boxes[:, 2] >= west)
        & (boxes[:, 0] <= east)
        & (boxes[:, 3] >= south)
        & (boxes[:, 1] <= north)
    )
    net = router.net
    return tuple(tuple(map(tuple, net.edge_coords(int(e)).tolist())) for e in edges[inside])


def _router(municipality: Municipality):
    from dispatch.routing.registry import RoutingUnavailable, router_for

    try:
        return router_for(municipality)
    except RoutingUnavailable as exc:
        log.info("reports.no_street_graph municipality=%s reason=%s", municipality.pk, exc)
        return None


_named_trees: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# How far from a named street a trip may start or end and still be given its name.
PLACE_RADIUS_M = 150.0


class _NamedStreets:
    """The named streets of a graph in a local metric projection, for "which street is this
    point on": the nearest edge may be an unnamed service road or parking aisle, while the
    sheet should say the street the driver would name."""

    def __init__(self, router) -> None:
        import shapely

        net = router.net
        edges = router.drawn_edges()
        named = np.array([bool(net.edge_name(int(e))) for e in edges], dtype=bool)
        self.edges = edges[named]
        self.lat0 = float(np.mean(net.lat)) if len(net.lat) else 0.0
        lines = []
        for e in self.edges.tolist():
            coords = net.edge_coords(e)
            lines.append(shapely.linestrings(self._xy(coords[:, 0], coords[:, 1])))
        self.names = [net.edge_name(int(e)) for e in self.edges]
        self.tree = shapely.STRtree(lines)

    def _xy(self, lon, lat) -> np.ndarray:
        k = np.cos(np.radians(self.lat0))
        return np.column_stack([np.asarray(lon) * k * 111_320.0, np.asarray(lat) * 110_574.0])

    def names_at(self, points: list[tuple[float, float]]) -> list[str]:
        import shapely

        if not len(self.names):
            return [""] * len(points)
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        geoms = shapely.points(self._xy(lons, lats))
        (qi, ti), _dist = self.tree.query_nearest(
            geoms, max_distance=PLACE_RADIUS_M, return_distance=True, all_matches=False
        )
        found = [""] * len(points)
        for q, t in zip(qi.tolist(), ti.tolist(), strict=True):
            found[q] = self.names[t]
        return found


def _named_streets(router) -> _NamedStreets:
    with _edge_boxes_lock:
        tree = _named_trees.get(router)
        if tree is None:
            tree = _NamedStreets(router)
            _named_trees[router] = tree
    return tree


def _place_names(router, points: list[tuple[float, float] | None]) -> list[str]:
    """The named street nearest each (lat, lon) within ``PLACE_RADIUS_M``, or the coordinates
    when there is none (or no street graph)."""
    names = [""] * len(points)
    known = [(i, p) for i, p in enumerate(points) if p is not None]
    streets: list[str] = []
    if router is not None and known:
        try:
            streets = _named_streets(router).names_at([p for _i, p in known])
        except Exception:  # noqa: BLE001 - a routing fault must not cost the whole sheet
            log.exception("reports.street_lookup_failed points=%s", len(known))
            streets = []
    for k, (i, (lat, lon)) in enumerate(known):
        street = streets[k] if k < len(streets) else ""
        names[i] = street or f"{lat:.5f}, {lon:.5f}"
    return names


def _references(
    vehicle: Vehicle, t0: datetime, t1: datetime
) -> tuple[list[tuple[datetime, datetime, str, int | None]], list]:
    """Jobs and approved movement orders of the vehicle over the period, as
    (start, end, reference, driver id) intervals; plus the vehicle's shifts."""
    from dispatch.choices import MovementOrderStatus
    from dispatch.models import Job, MovementOrder, Shift

    found = []
    for job in Job.objects.filter(vehicle=vehicle, started_at__isnull=False, started_at__lt=t1):
        end = job.completed_at or job.arrived_at or t1
        if end >= t0:
            found.append((job.started_at, end, _("Job #%(id)s") % {"id": job.pk}, job.driver_id))
    for order in MovementOrder.objects.filter(
        vehicle=vehicle,
        status=MovementOrderStatus.APPROVED,
        starts_at__lt=t1,
        ends_at__gt=t0,
    ):
        found.append(
            (
                order.starts_at,
                order.ends_at,
                _("Movement order %(ref)s") % {"ref": order.reference},
                order.driver_id,
            )
        )
    shifts = list(
        Shift.objects.filter(vehicle=vehicle, starts_at__lt=t1, ends_at__gt=t0).values_list(
            "starts_at", "ends_at", "driver_id"
        )
    )
    return found, shifts


def movement_sheet_input(
    *,
    municipality: Municipality,
    vehicle: Vehicle,
    period: Period,
    reference: str = "",
    language: str = "el",
    generated_at: datetime | None = None,
    progress: Progress = _no_progress,
) -> movement_gen.MovementSheetInput:
    tz = municipality_tz(municipality)
    t0, t1 = period_bounds(period, tz)
    trips = vehicle_trips(vehicle=vehicle, period=period, tz=tz)
    progress(40, "trips")
    router = _router(municipality) if trips else None
    needs_names = [p for t in trips for p in (t.start, t.end)]
    names = _place_names(router, needs_names) if trips else []
    progress(55, "places")
    refs, shifts = _references(vehicle, t0, t1)
    tags = {t for trip in trips for t in trip.driver_tags}
    driver_ids = {d for *_x, d in refs if d} | {d for *_x, d in shifts if d}
    driver_ids |= {t.driver_id for t in trips if t.driver_id}
    drivers = Driver.objects.filter(municipality=municipality).filter(
        Q(pk__in=driver_ids) | Q(tag_id__in=tags - {""})
    )
    by_id = {d.pk: d.full_name for d in drivers}
    by_tag = {d.tag_id: d.full_name for d in drivers if d.tag_id}

    def overlapping(items, start, end):
        return [item for item in items if item[0] < end and item[1] > start]

    rows = []
    for k, trip in enumerate(trips):
        matched = overlapping(refs, trip.start_time, trip.end_time)
        driver = ""
        for tag in trip.driver_tags:
            driver = by_tag.get(tag, "")
            if driver:
                break
        if not driver and trip.driver_id:
            driver = by_id.get(trip.driver_id, "")
        if not driver:
            for *_span, driver_id in matched + overlapping(shifts, trip.start_time, trip.end_time):
                if driver_id and driver_id in by_id:
                    driver = by_id[driver_id]
                    break
        rows.append(
            movement_gen.TripInput(
                start_time=trip.start_time,
                end_time=trip.end_time,
                start_place=trip.start_place or names[2 * k],
                end_place=trip.end_place or names[2 * k + 1],
                distance_m=trip.distance_m,
                driver=driver,
                references=tuple(dict.fromkeys(ref for _s, _e, ref, _d in matched)),
                track=trip.track,
                start_lonlat=(trip.start[1], trip.start[0]) if trip.start else None,
                end_lonlat=(trip.end[1], trip.end[0]) if trip.end else None,
            )
        )
    points = [p for r in rows for p in r.track] + [
        p for r in rows for p in (r.start_lonlat, r.end_lonlat) if p
    ]
    streets: tuple = ()
    map_note = ""
    if points and router is not None:
        streets = _streets_around(router, points)
    elif points:
        map_note = _("No street map is configured for this municipality; the route is drawn alone.")
    progress(65, "map")
    category = str(vehicle.get_category_display())
    return movement_gen.MovementSheetInput(
        municipality=municipality.name,
        period=period,
        plate=vehicle.display_plate,
        vehicle=" · ".join(p for p in (_description(vehicle), category) if p),
        department=vehicle.department.name if vehicle.department_id else "",
        trips=rows,
        reference=reference,
        streets=streets,
        map_note=map_note,
        generated_at=generated_at or timezone.now(),
        timezone=tz,
        language=language,
        logo=municipality_logo(municipality),
    )
