"""The monthly fuel report: per vehicle, per department, per fuel type, anomalies, charts and the
fuel contract. Pure module: inputs are plain dataclasses loaded by ``reports.selectors``.

Consumption figures arrive computed (by ``fleet.anomalies.consumption``, the same function the
fuel API uses), so the report and the API cannot disagree on them; this module only groups,
sums and compares against the norm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from reports.generators import fmt
from reports.generators.document import (
    DATETIME,
    MONEY,
    NUMBER,
    PERCENT,
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
    TrendChart,
    identity,
)

ZERO = Decimal("0")


@dataclass(frozen=True)
class FuelVehicleInput:
    vehicle_id: int
    plate: str
    description: str  # "Mercedes-Benz Econic 2630"
    department: str  # "" when the vehicle has none
    fuel_type: str  # in the reader's language
    uses_hours: bool  # machinery: l/h against engine hours
    norm: float | None
    refuels: int = 0
    litres: Decimal = ZERO
    amount: Decimal = ZERO
    km_telematics: float | None = None
    km_odometer: float | None = None  # from meter readings on the refuels
    hours_telematics: float | None = None
    hours_meter: float | None = None
    consumption: float | None = None  # l/100 km or l/h
    consumption_method: str = ""
    anomalies: int = 0
    anomalies_open: int = 0


@dataclass(frozen=True)
class FuelAnomalyInput:
    occurred_at: datetime
    plate: str
    kind: str  # in the reader's language
    status: str  # in the reader's language
    is_open: bool


@dataclass(frozen=True)
class MonthFigures:
    month: date  # first day
    litres: Decimal
    amount: Decimal
    km: float | None = None


@dataclass(frozen=True)
class FuelContractInput:
    reference: str
    supplier: str
    starts_on: date
    ends_on: date | None
    budget: Decimal
    spent: Decimal  # from the start of the contract to the end of the period
    litres: Decimal
    litres_budget: Decimal | None = None
    fuel_type: str = ""


@dataclass(frozen=True)
class FuelReportInput:
    municipality: str
    period: fmt.Period
    vehicles: Sequence[FuelVehicleInput]
    anomalies: Sequence[FuelAnomalyInput] = ()
    trend: Sequence[MonthFigures] = ()
    contract: FuelContractInput | None = None
    # Deviation from the norm beyond this many per cent is flagged (fleet's anomaly threshold).
    tolerance_pct: float = 15.0
    scope: str = ""  # "Διεύθυνση Καθαριότητας", or "" for the whole municipality
    generated_at: datetime | None = None
    timezone: str = "Europe/Athens"
    language: str = "el"
    logo: bytes | None = None


@dataclass
class _Sum:
    vehicles: int = 0
    refuels: int = 0
    litres: Decimal = ZERO
    amount: Decimal = ZERO
    km_telematics: float = 0.0
    km_odometer: float | None = None  # None: no meter readings at all
    hours: float | None = None  # None: no vehicle here has engine hours
    anomalies: int = 0
    anomalies_open: int = 0
    seen: dict[str, bool] = field(default_factory=dict)

    def add(self, v: FuelVehicleInput) -> None:
        self.vehicles += 1
        self.refuels += v.refuels
        self.litres += v.litres
        self.amount += v.amount
        self.km_telematics += v.km_telematics or 0.0
        if v.km_odometer is not None:
            self.km_odometer = (self.km_odometer or 0.0) + v.km_odometer
        if _hours(v) is not None:
            self.hours = (self.hours or 0.0) + _hours(v)
        self.anomalies += v.anomalies
        self.anomalies_open += v.anomalies_open


def _hours(v: FuelVehicleInput) -> float | None:
    return v.hours_telematics if v.hours_telematics is not None else v.hours_meter


def deviation_pct(consumption: float | None, norm: float | None) -> float | None:
    """Per cent over (+) or under (-) the norm, as the fuel API reports it."""
    if not consumption or not norm:
        return None
    return round((consumption - norm) / norm * 100, 1)


def status_code(v: FuelVehicleInput, tolerance_pct: float) -> str:
    if v.consumption is None:
        return "no_data" if v.refuels else "no_refuels"
    off = deviation_pct(v.consumption, v.norm)
    if off is None:
        return "no_norm"
    if off > tolerance_pct:
        return "above"
    if off < -tolerance_pct:
        return "below"
    return "ok"


def _status_labels(_: Translate) -> dict[str, str]:
    return {
        "ok": _("Within norm"),
        "above": _("Above norm"),
        "below": _("Below norm"),
        "no_norm": _("No norm set"),
        "no_data": _("Too little to judge"),
        "no_refuels": _("No refuels"),
    }


def build(data: FuelReportInput, tr: Translate = identity) -> ReportDocument:
    _ = tr
    period_label = data.period.label(tr)
    vehicles = sorted(data.vehicles, key=lambda v: (v.department or "\uffff", v.plate))
    statuses = _status_labels(tr)
    unit_km, unit_h = _("l/100 km"), _("l/h")

    columns = (
        Column("plate", _("Plate"), width=1.15),
        Column("vehicle", _("Vehicle"), width=2.1),
        Column("refuels", _("Refuels"), NUMBER, width=0.8),
        Column("litres", _("Litres"), NUMBER, 1, width=1.0),
        Column("amount", _("Cost (€)"), MONEY, width=1.05),
        Column("km_telematics", _("km (GPS)"), NUMBER, 0, width=0.9),
        Column("km_odometer", _("Odometer km"), NUMBER, 0, width=1.0),
        Column("hours", _("Engine hours"), NUMBER, 1, width=0.9),
        Column("consumption", _("Consumption"), NUMBER, 1, in_pdf=False),
        Column("unit", _("Unit"), in_pdf=False),
        # The PDF shows consumption with its unit in one column, to leave room for the rest.
        Column("consumption_text", _("Consumption"), NUMBER, width=1.3, in_export=False),
        Column("norm", _("Consumption norm"), NUMBER, 1, width=0.8),
        Column("deviation", _("Deviation"), PERCENT, 1, width=0.9),
        Column("anomalies", _("Anomalies"), NUMBER, in_pdf=False),
        Column("anomalies_open", _("Open"), NUMBER, in_pdf=False),
        Column("anomalies_text", _("Anomalies (open)"), NUMBER, width=1.0, in_export=False),
        Column("status", _("Status"), width=1.35),
        # The PDF shows the department as a heading above its vehicles.
        Column("department", _("Department"), in_pdf=False),
    )
    rows: list[tuple] = []
    groups: set[int] = set()
    subtotals: set[int] = set()
    by_department: dict[str, _Sum] = defaultdict(_Sum)
    by_fuel: dict[str, _Sum] = defaultdict(_Sum)
    total = _Sum()
    no_department = _("No department")

    def with_unit(v: FuelVehicleInput) -> str | None:
        if v.consumption is None:
            return None
        unit = unit_h if v.uses_hours else unit_km
        return f"{fmt.number(v.consumption, 1, data.language)} {unit}"

    def both(found: int, still_open: int) -> str:
        return f"{found} ({still_open})"

    def sum_row(label: str, s: _Sum, name: str = "") -> tuple:
        vehicles = _("%(n)s vehicles") % {"n": s.vehicles}
        return (
            label,
            f"{name} · {vehicles}" if name else vehicles,
            s.refuels,
            s.litres,
            s.amount,
            s.km_telematics,
            s.km_odometer,
            s.hours,
            None,
            "",
            None,
            None,
            None,
            s.anomalies,
            s.anomalies_open,
            both(s.anomalies, s.anomalies_open),
            "",
            "",
        )

    current: str | None = None
    for v in vehicles:
        dept = v.department or no_department
        if dept != current:
            if current is not None:
                subtotals.add(len(rows))
                rows.append(sum_row(_("Total"), by_department[current], current))
            groups.add(len(rows))
            rows.append((dept,))
            current = dept
        by_department[dept].add(v)
        by_fuel[v.fuel_type].add(v)
        total.add(v)
        rows.append(
            (
                v.plate,
                v.description,
                v.refuels,
                v.litres,
                v.amount,
                v.km_telematics,
                v.km_odometer,
                _hours(v),
                v.consumption,
                unit_h if v.uses_hours else unit_km,
                with_unit(v),
                v.norm,
                deviation_pct(v.consumption, v.norm),
                v.anomalies,
                v.anomalies_open,
                both(v.anomalies, v.anomalies_open),
                statuses[status_code(v, data.tolerance_pct)],
                dept,
            )
        )
    if current is not None:
        subtotals.add(len(rows))
        rows.append(sum_row(_("Total"), by_department[current], current))

    has_data = total.refuels > 0 or total.km_telematics > 0 or bool(total.hours)
    vehicle_table = TableData(
        "vehicles",
        _("Fuel per vehicle"),
        columns,
        tuple(rows),
        totals=sum_row(_("Grand total"), total) if vehicles else None,
        group_rows=frozenset(groups),
        subtotal_rows=frozenset(subtotals),
        empty_text=_("There are no vehicles in this scope."),
    )

    department_table = TableData(
        "departments",
        _("Totals per department"),
        (
            Column("department", _("Department"), width=2.4),
            Column("vehicles", _("Vehicles"), NUMBER),
            Column("refuels", _("Refuels"), NUMBER),
            Column("litres", _("Litres"), NUMBER, 1),
            Column("amount", _("Cost (€)"), MONEY),
            Column("km_telematics", _("km (GPS)"), NUMBER),
            Column("hours", _("Engine hours"), NUMBER, 1),
            Column("anomalies", _("Anomalies"), NUMBER),
        ),
        tuple(
            (d, s.vehicles, s.refuels, s.litres, s.amount, s.km_telematics, s.hours, s.anomalies)
            for d, s in sorted(by_department.items())
        ),
        totals=(
            _("Total"),
            total.vehicles,
            total.refuels,
            total.litres,
            total.amount,
            total.km_telematics,
            total.hours,
            total.anomalies,
        ),
    )

    def avg_price(s: _Sum) -> Decimal | None:
        return (s.amount / s.litres).quantize(Decimal("0.001")) if s.litres else None

    fuel_table = TableData(
        "fuel_types",
        _("Totals per fuel type"),
        (
            Column("fuel_type", _("Fuel"), width=2.0),
            Column("vehicles", _("Vehicles"), NUMBER),
            Column("refuels", _("Refuels"), NUMBER),
            Column("litres", _("Litres"), NUMBER, 1),
            Column("amount", _("Cost (€)"), MONEY),
            Column("price", _("Average price (€/l)"), NUMBER, 3, width=1.3),
        ),
        tuple(
            (f, s.vehicles, s.refuels, s.litres, s.amount, avg_price(s))
            for f, s in sorted(by_fuel.items())
        ),
        totals=(
            _("Total"),
            total.vehicles,
            total.refuels,
            total.litres,
            total.amount,
            avg_price(total),
        ),
    )

    anomalies = sorted(data.anomalies, key=lambda a: (a.occurred_at, a.plate))
    anomaly_table = TableData(
        "anomalies",
        _("Anomalies found"),
        (
            Column("occurred_at", _("When"), DATETIME, width=1.2),
            Column("plate", _("Plate"), width=1.0),
            Column("kind", _("Anomaly"), width=3.5),
            Column("status", _("Status"), width=1.2),
        ),
        tuple((a.occurred_at, a.plate, a.kind, a.status) for a in anomalies),
        empty_text=_("No anomalies were found in this period."),
    )

    trend = sorted(data.trend, key=lambda m: m.month)
    trend_table = TableData(
        "trend",
        _("The last 12 months"),
        (
            Column("month", _("Month"), width=1.5),
            Column("litres", _("Litres"), NUMBER, 1),
            Column("amount", _("Cost (€)"), MONEY),
            Column("km", _("km (GPS)"), NUMBER),
        ),
        tuple(
            (f"{m.month:%m/%Y}", m.litres, m.amount, m.km if m.km is not None else None)
            for m in trend
        ),
    )

    blocks: list[Block] = [
        Facts(
            (
                (_("Vehicles"), fmt.number(total.vehicles, 0, data.language)),
                (_("Refuels"), fmt.number(total.refuels, 0, data.language)),
                (_("Litres"), fmt.number(total.litres, 1, data.language)),
                (_("Cost (€)"), fmt.money(total.amount, data.language)),
                (_("km (GPS)"), fmt.number(total.km_telematics, 0, data.language)),
                (
                    _("Anomalies (open)"),
                    f"{fmt.number(total.anomalies, 0, data.language)} "
                    f"({fmt.number(total.anomalies_open, 0, data.language)})",
                ),
            ),
            title=_("Summary"),
        ),
    ]
    if data.contract is not None:
        blocks.append(_contract_facts(data.contract, data.language, tr))
    if not has_data:
        blocks.append(
            Text(
                _(
                    "No refuels and no vehicle movement were recorded for %(period)s. "
                    "The figures below are zero."
                )
                % {"period": period_label},
                style="empty",
            )
        )
    blocks += [Heading(vehicle_table.title), vehicle_table]
    if has_data:
        blocks.append(
            BarChart(
                _("Litres and cost per department"),
                tuple(d for d, _s in sorted(by_department.items())),
                (
                    Series(
                        _("Litres"),
                        tuple(float(s.litres) for _d, s in sorted(by_department.items())),
                    ),
                    Series(
                        _("Cost (€)"),
                        tuple(float(s.amount) for _d, s in sorted(by_department.items())),
                    ),
                ),
            )
        )
    blocks += [Heading(department_table.title), department_table]
    blocks += [Heading(fuel_table.title), fuel_table]
    blocks += [Heading(anomaly_table.title), anomaly_table]
    if trend:
        blocks.append(
            TrendChart(
                _("Fuel over the last 12 months"),
                tuple(f"{_(fmt.MONTHS_SHORT[m.month.month - 1])} {m.month:%y}" for m in trend),
                bars=Series(_("Litres"), tuple(float(m.litres) for m in trend)),
                line=Series(_("Cost (€)"), tuple(float(m.amount) for m in trend)),
                bar_unit=_("Litres"),
                line_unit=_("Cost (€)"),
            )
        )
        blocks += [Heading(trend_table.title), trend_table]
    blocks.append(Signatures((_("The author"), _("The head of department"))))

    meta = DocMeta(
        municipality=data.municipality,
        title=_("Monthly fuel report"),
        period_label=period_label,
        generated_at=data.generated_at or datetime.now().astimezone(),
        language=data.language,
        timezone=data.timezone,
        subtitle=data.scope,
        logo=data.logo,
        landscape=True,
    )
    summary = {
        "vehicles": total.vehicles,
        "refuels": total.refuels,
        "litres": str(total.litres),
        "amount": str(total.amount),
        "km_telematics": round(total.km_telematics, 1),
        "anomalies": total.anomalies,
        "anomalies_open": total.anomalies_open,
        "has_data": has_data,
    }
    if data.contract is not None:
        summary["contract_spent"] = str(data.contract.spent)
        summary["contract_budget"] = str(data.contract.budget)
    return ReportDocument(meta, tuple(blocks), summary)


def _contract_facts(c: FuelContractInput, language: str, _: Translate) -> Facts:
    used = (c.spent / c.budget * 100) if c.budget else None
    rows = [
        (_("Contract"), c.reference + (f" ({c.fuel_type})" if c.fuel_type else "")),
        (_("Supplier"), c.supplier or fmt.DASH),
        (_("Term"), f"{fmt.day(c.starts_on)} – {fmt.day(c.ends_on)}"),
        (_("Contract amount (€)"), fmt.money(c.budget, language)),
        (
            _("Spent to date (€)"),
            f"{fmt.money(c.spent, language)}"
            + (f" ({fmt.number(used, 1, language)}%)" if used is not None else ""),
        ),
        (_("Remaining (€)"), fmt.money(c.budget - c.spent, language)),
        (_("Litres to date"), fmt.number(c.litres, 1, language)),
    ]
    if c.litres_budget:
        rows.append((_("Contract litres"), fmt.number(c.litres_budget, 1, language)))
    return Facts(tuple(rows), title=_("Fuel supply contract"))
