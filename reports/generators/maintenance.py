"""The monthly maintenance report: work orders and services done, their cost per vehicle,
department and vendor, days off the road, services due next month and compliance items overdue
or due. Pure module: inputs are plain dataclasses loaded by ``reports.selectors``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from reports.generators import fmt
from reports.generators.document import (
    DATE,
    MONEY,
    NUMBER,
    BarChart,
    Block,
    Column,
    DocMeta,
    Facts,
    Heading,
    ReportDocument,
    Series,
    Signatures,
    TableData,
    Text,
    Translate,
    identity,
)

ZERO = Decimal("0")


@dataclass(frozen=True)
class WorkOrderInput:
    number: int
    closed_at: datetime
    vehicle_id: int
    plate: str
    department: str
    title: str
    vendor: str  # "" for the municipality's own workshop
    parts: Decimal
    labour: Decimal
    other: Decimal
    off_road_days: int | None = None
    service: str = ""  # the service plan carried out, if any

    @property
    def total(self) -> Decimal:
        return self.parts + self.labour + self.other


@dataclass(frozen=True)
class ServiceDoneInput:
    performed_on: date
    plate: str
    service: str
    odometer_km: Decimal | None = None
    engine_hours: Decimal | None = None
    work_order: int | None = None


@dataclass(frozen=True)
class OffRoadInput:
    """A stretch of time a work order kept a vehicle off the road (``end`` None: still off)."""

    vehicle_id: int
    plate: str
    department: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class DueInput:
    subject: str  # a plate or a driver's name
    item: str  # "Ασφάλιση", "Σέρβις 20.000 km", in the reader's language
    due_on: date | None
    status: str  # in the reader's language
    status_code: str  # fleet.compliance.Status value
    detail: str = ""


@dataclass(frozen=True)
class MaintenanceReportInput:
    municipality: str
    period: fmt.Period
    work_orders: Sequence[WorkOrderInput] = ()
    services: Sequence[ServiceDoneInput] = ()
    off_road: Sequence[OffRoadInput] = ()
    services_due: Sequence[DueInput] = ()
    compliance: Sequence[DueInput] = ()
    open_work_orders: int = 0
    scope: str = ""
    generated_at: datetime | None = None
    timezone: str = "Europe/Athens"
    language: str = "el"
    logo: bytes | None = None


def off_road_days(
    intervals: Sequence[OffRoadInput], period: fmt.Period, *, now: datetime, tz: str
) -> dict[int, int]:
    """Local calendar days of the period on which each vehicle was off the road for any part of
    the day (the first and the last day count, as on the work orders themselves); overlapping
    orders are not counted twice."""
    days: dict[int, set[date]] = defaultdict(set)
    for item in intervals:
        first = fmt.local(item.start, tz).date()
        last = fmt.local(item.end or now, tz).date()
        first, last = max(first, period.start), min(last, period.end)
        d = first
        while d <= last:
            days[item.vehicle_id].add(d)
            d += timedelta(days=1)
    return {vehicle: len(ds) for vehicle, ds in days.items() if ds}


@dataclass
class _Cost:
    orders: int = 0
    parts: Decimal = ZERO
    labour: Decimal = ZERO
    other: Decimal = ZERO
    days: int = 0
    vehicles: set[int] = field(default_factory=set)

    def add(self, o: WorkOrderInput) -> None:
        self.orders += 1
        self.parts += o.parts
        self.labour += o.labour
        self.other += o.other
        self.vehicles.add(o.vehicle_id)

    @property
    def total(self) -> Decimal:
        return self.parts + self.labour + self.other


def build(
    data: MaintenanceReportInput, tr: Translate = identity, *, now: datetime | None = None
) -> ReportDocument:
    _ = tr
    now = now or data.generated_at or datetime.now().astimezone()
    period_label = data.period.label(tr)
    in_house = _("Own workshop")
    no_department = _("No department")
    orders = sorted(data.work_orders, key=lambda o: (o.closed_at, o.number))

    order_table = TableData(
        "work_orders",
        _("Work orders completed"),
        (
            Column("number", _("No."), NUMBER, width=0.6),
            Column("closed_at", _("Completed"), DATE, width=0.95),
            Column("plate", _("Plate"), width=1.0),
            Column("department", _("Department"), width=1.6),
            Column("title", _("Work done"), width=3.0),
            Column("vendor", _("Vendor or workshop"), width=1.7),
            Column("parts", _("Parts (€)"), MONEY, width=0.95),
            Column("labour", _("Labour (€)"), MONEY, width=0.95),
            Column("other", _("Other (€)"), MONEY, width=0.85),
            Column("total", _("Total (€)"), MONEY, width=0.95),
            Column("off_road_days", _("Days off the road"), NUMBER, width=0.85),
        ),
        tuple(
            (
                o.number,
                o.closed_at,
                o.plate,
                o.department or no_department,
                o.title + (f" ({o.service})" if o.service else ""),
                o.vendor or in_house,
                o.parts,
                o.labour,
                o.other,
                o.total,
                o.off_road_days,
            )
            for o in orders
        ),
        totals=(
            "",
            "",
            _("Total"),
            _("%(n)s work orders") % {"n": len(orders)},
            "",
            "",
            sum((o.parts for o in orders), ZERO),
            sum((o.labour for o in orders), ZERO),
            sum((o.other for o in orders), ZERO),
            sum((o.total for o in orders), ZERO),
            None,
        )
        if orders
        else None,
        empty_text=_("No work orders were completed in this period."),
    )

    services = sorted(data.services, key=lambda s: (s.performed_on, s.plate))
    service_table = TableData(
        "services",
        _("Services carried out"),
        (
            Column("performed_on", _("Date"), DATE, width=0.9),
            Column("plate", _("Plate"), width=1.0),
            Column("service", _("Service"), width=3.0),
            Column("odometer_km", _("Odometer (km)"), NUMBER, width=1.0),
            Column("engine_hours", _("Engine hours"), NUMBER, 1, width=1.0),
            Column("work_order", _("Work order"), NUMBER, width=0.9),
        ),
        tuple(
            (s.performed_on, s.plate, s.service, s.odometer_km, s.engine_hours, s.work_order)
            for s in services
        ),
        empty_text=_("No services were recorded in this period."),
    )

    days = off_road_days(data.off_road, data.period, now=now, tz=data.timezone)
    vehicles: dict[int, tuple[str, str]] = {}
    for o in orders:
        vehicles[o.vehicle_id] = (o.plate, o.department or no_department)
    for item in data.off_road:
        vehicles.setdefault(item.vehicle_id, (item.plate, item.department or no_department))
    by_vehicle: dict[int, _Cost] = defaultdict(_Cost)
    by_department: dict[str, _Cost] = defaultdict(_Cost)
    by_vendor: dict[str, _Cost] = defaultdict(_Cost)
    for o in orders:
        by_vehicle[o.vehicle_id].add(o)
        by_department[o.department or no_department].add(o)
        by_vendor[o.vendor or in_house].add(o)
    for vehicle_id, n in days.items():
        by_vehicle[vehicle_id].days = n
        dept = vehicles[vehicle_id][1]
        by_department[dept].days += n
        by_department[dept].vehicles.add(vehicle_id)
    total = _Cost()
    for o in orders:
        total.add(o)
    total.days = sum(days.values())

    vehicle_rows = sorted(
        ((vehicles[vid][1], vehicles[vid][0], vid) for vid in by_vehicle),
    )
    vehicle_table = TableData(
        "vehicle_costs",
        _("Cost and days off the road per vehicle"),
        (
            Column("plate", _("Plate"), width=1.0),
            Column("department", _("Department"), width=2.0),
            Column("orders", _("Work orders"), NUMBER, width=0.9),
            Column("parts", _("Parts (€)"), MONEY),
            Column("labour", _("Labour (€)"), MONEY),
            Column("other", _("Other (€)"), MONEY),
            Column("total", _("Total (€)"), MONEY),
            Column("off_road_days", _("Days off the road"), NUMBER, width=0.9),
        ),
        tuple(
            (
                plate,
                dept,
                by_vehicle[vid].orders,
                by_vehicle[vid].parts,
                by_vehicle[vid].labour,
                by_vehicle[vid].other,
                by_vehicle[vid].total,
                by_vehicle[vid].days,
            )
            for dept, plate, vid in vehicle_rows
        ),
        totals=(
            _("Total"),
            "",
            total.orders,
            total.parts,
            total.labour,
            total.other,
            total.total,
            total.days,
        ),
        empty_text=_("No maintenance costs and no days off the road in this period."),
    )

    department_table = TableData(
        "department_costs",
        _("Cost per department"),
        (
            Column("department", _("Department"), width=2.4),
            Column("vehicles", _("Vehicles"), NUMBER),
            Column("orders", _("Work orders"), NUMBER),
            Column("parts", _("Parts (€)"), MONEY),
            Column("labour", _("Labour (€)"), MONEY),
            Column("other", _("Other (€)"), MONEY),
            Column("total", _("Total (€)"), MONEY),
            Column("off_road_days", _("Days off the road"), NUMBER),
        ),
        tuple(
            (d, len(c.vehicles), c.orders, c.parts, c.labour, c.other, c.total, c.days)
            for d, c in sorted(by_department.items())
        ),
        totals=(
            _("Total"),
            len(vehicles),
            total.orders,
            total.parts,
            total.labour,
            total.other,
            total.total,
            total.days,
        ),
        empty_text=_("Nothing to show for this period."),
    )

    vendor_table = TableData(
        "vendor_costs",
        _("Cost per vendor"),
        (
            Column("vendor", _("Vendor or workshop"), width=2.6),
            Column("orders", _("Work orders"), NUMBER),
            Column("parts", _("Parts (€)"), MONEY),
            Column("labour", _("Labour (€)"), MONEY),
            Column("other", _("Other (€)"), MONEY),
            Column("total", _("Total (€)"), MONEY),
        ),
        tuple(
            (v, c.orders, c.parts, c.labour, c.other, c.total)
            for v, c in sorted(by_vendor.items(), key=lambda kv: (-kv[1].total, kv[0]))
        ),
        totals=(_("Total"), total.orders, total.parts, total.labour, total.other, total.total),
        empty_text=_("Nothing to show for this period."),
    )

    next_month = data.period.next_month()
    due_columns = (
        Column("subject", _("Vehicle or driver"), width=1.6),
        Column("item", _("Item"), width=2.6),
        Column("due_on", _("Due on"), DATE, width=0.9),
        Column("detail", _("Details"), width=1.6),
        Column("status", _("Status"), width=1.1),
    )
    due_table = TableData(
        "services_due",
        _("Services overdue or due by %(date)s") % {"date": fmt.day(next_month.end)},
        due_columns,
        tuple(
            (d.subject, d.item, d.due_on, d.detail, d.status)
            for d in sorted(data.services_due, key=lambda d: (d.due_on or date.max, d.subject))
        ),
        empty_text=_("No service falls due by the end of next month."),
    )
    compliance_table = TableData(
        "compliance",
        _("Compliance items overdue or due by %(date)s") % {"date": fmt.day(next_month.end)},
        due_columns,
        tuple(
            (d.subject, d.item, d.due_on, d.detail, d.status)
            for d in sorted(data.compliance, key=lambda d: (d.due_on or date.max, d.subject))
        ),
        empty_text=_(
            "Nothing is overdue or due (KTEO, insurance, road tax, tachograph, licences)."
        ),
    )

    overdue = sum(1 for d in [*data.compliance, *data.services_due] if d.status_code == "overdue")
    language = data.language
    blocks: list[Block] = [
        Facts(
            (
                (_("Work orders completed"), fmt.number(total.orders, 0, language)),
                (_("Still open"), fmt.number(data.open_work_orders, 0, language)),
                (_("Services carried out"), fmt.number(len(services), 0, language)),
                (_("Parts (€)"), fmt.money(total.parts, language)),
                (_("Labour (€)"), fmt.money(total.labour, language)),
                (_("Other (€)"), fmt.money(total.other, language)),
                (_("Total (€)"), fmt.money(total.total, language)),
                (_("Days off the road"), fmt.number(total.days, 0, language)),
                (_("Items overdue"), fmt.number(overdue, 0, language)),
            ),
            title=_("Summary"),
        )
    ]
    if not orders and not services and not days:
        blocks.append(
            Text(
                _("No work orders, services or days off the road were recorded for %(period)s.")
                % {"period": period_label},
                style="empty",
            )
        )
    blocks += [Heading(order_table.title), order_table]
    blocks += [Heading(service_table.title), service_table]
    blocks += [Heading(vehicle_table.title), vehicle_table]
    if by_department and total.total:
        depts = sorted(by_department.items())
        blocks.append(
            BarChart(
                _("Maintenance cost per department"),
                tuple(d for d, _c in depts),
                (
                    Series(_("Parts (€)"), tuple(float(c.parts) for _d, c in depts)),
                    Series(_("Labour (€)"), tuple(float(c.labour) for _d, c in depts)),
                ),
            )
        )
    blocks += [Heading(department_table.title), department_table]
    blocks += [Heading(vendor_table.title), vendor_table]
    blocks += [Heading(due_table.title), due_table]
    blocks += [Heading(compliance_table.title), compliance_table]
    blocks.append(Signatures((_("The author"), _("The head of department"))))

    meta = DocMeta(
        municipality=data.municipality,
        title=_("Monthly maintenance report"),
        period_label=period_label,
        generated_at=data.generated_at or now,
        language=language,
        timezone=data.timezone,
        subtitle=data.scope,
        logo=data.logo,
        landscape=True,
    )
    summary = {
        "work_orders": total.orders,
        "open_work_orders": data.open_work_orders,
        "services": len(services),
        "parts": str(total.parts),
        "labour": str(total.labour),
        "other": str(total.other),
        "total": str(total.total),
        "off_road_days": total.days,
        "overdue": overdue,
    }
    return ReportDocument(meta, tuple(blocks), summary)
