"""The compliance calendar: when each legal check of a vehicle or a driver falls due.

Pure rules over plain facts (dates, weights, results); no Django. Each rule is written once here,
with its legal reference next to it; the selectors load the facts and the pages translate the
rule codes. Service plans (due by km, engine hours or time) are computed here too, because the
calendar lists them beside the legal items, but an overdue service never bars a vehicle from
dispatch: it is not a legal requirement.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

__all__ = [
    "DocumentFacts",
    "DriverFacts",
    "DueItem",
    "KteoResult",
    "KteoTest",
    "Rule",
    "ServiceDue",
    "ServiceInterval",
    "Status",
    "VehicleFacts",
    "add_months",
    "driver_items",
    "kteo_item",
    "required_licences",
    "service_due",
    "vehicle_items",
]


class Status(StrEnum):
    OK = "ok"
    DUE_SOON = "due_soon"  # within the reminder horizon
    IN_WINDOW = "in_window"  # ΚΤΕΟ only: inside the test window around the due date
    OVERDUE = "overdue"
    MISSING = "missing"  # nothing on record to compute from


class Rule(StrEnum):
    KTEO = "kteo"
    KTEO_RETEST = "kteo_retest"
    INSURANCE = "insurance"
    ROAD_TAX = "road_tax"
    TACHOGRAPH = "tachograph"
    LICENCE = "licence"
    PEI = "pei"
    OPERATOR_LICENCE = "operator_licence"
    SERVICE = "service"


class KteoResult(StrEnum):
    PASS = "pass"  # noqa: S105 - a test result, not a secret
    MINOR = "minor"  # minor deficiencies: the certificate is issued, fix at the next service
    SERIOUS = "serious"
    DANGEROUS = "dangerous"


# Legal references, one per rule, shown on the calendar page next to each item.
REFERENCES: dict[Rule, str] = {
    Rule.KTEO: "Οδηγία 2014/45/ΕΕ άρθ. 5· Ν. 3446/2006 (ΚΤΕΟ)",
    Rule.KTEO_RETEST: "Οδηγία 2014/45/ΕΕ άρθ. 9· Ν. 3446/2006 (ΚΤΕΟ)",
    Rule.INSURANCE: "Π.Δ. 237/1986 (υποχρεωτική ασφάλιση αυτοκινήτων)",
    Rule.ROAD_TAX: "Τέλη κυκλοφορίας του έτους",
    Rule.TACHOGRAPH: "Κανονισμός (ΕΕ) 165/2014 άρθ. 23",
    Rule.LICENCE: "Οδηγία 2006/126/ΕΚ άρθ. 4, 7· Ν. 2696/1999 (ΚΟΚ)",
    Rule.PEI: "Οδηγία 2003/59/ΕΚ· Ν. 3710/2008 (ΠΕΙ)",
    Rule.OPERATOR_LICENCE: "Π.Δ. 113/2012 (άδειες χειριστών μηχανημάτων έργων)",
    Rule.SERVICE: "",
}

# --- ΚΤΕΟ (periodic roadworthiness test) ----------------------------------------------------------
# Directive 2014/45/EU art. 5(1), applied in Greece through Ν. 3446/2006 and its ministerial
# decisions: passenger cars and light goods vehicles up to 3.5 t are first tested 4 years after
# first registration, then every 2 years; buses and goods vehicles over 3.5 t are first tested
# 1 year after first registration, then every year.
LIGHT_MAX_KG = 3500
KTEO_LIGHT_FIRST_MONTHS, KTEO_LIGHT_EVERY_MONTHS = 48, 24
KTEO_HEAVY_FIRST_MONTHS, KTEO_HEAVY_EVERY_MONTHS = 12, 12
# The test window: a vehicle may be tested from 3 weeks before its due date until 1 week after
# it without being late (issue #7); after the window it is overdue and may not be driven.
KTEO_WINDOW_BEFORE = timedelta(weeks=3)
KTEO_WINDOW_AFTER = timedelta(weeks=1)
# A test with serious (major) deficiencies must be followed by a re-test within 30 days
# (Directive 2014/45/EU art. 9 leaves the period to the Member State; Greece sets 30 days).
KTEO_RETEST_DAYS = 30
# Categories that are over 3.5 t or buses whenever their gross weight is not recorded: guessing
# "light" for a refuse truck would give it twice the time it really has.
HEAVY_CATEGORIES = frozenset(
    {"refuse_truck", "sweeper", "tipper", "crane_truck", "water_tanker", "bus", "basket_truck"}
)

# --- Tachograph -----------------------------------------------------------------------------------
# Regulation (EU) No 165/2014 art. 23(1): a tachograph is inspected by an approved workshop at
# least every two years.
TACHOGRAPH_EVERY_MONTHS = 24

# --- Driving licence categories -------------------------------------------------------------------
# Directive 2006/126/EC art. 4 (Greek Road Traffic Code, Ν. 2696/1999): B up to 3,500 kg and up to
# 8 passengers besides the driver; C1 from 3,500 to 7,500 kg; C over 3,500 kg; D1 up to 16
# passengers; D more than 8 passengers. A higher category covers the lower one of its group.
_COVERS = {"C": {"C", "C1"}, "CE": {"CE"}, "D": {"D", "D1"}, "C1": {"C1"}, "D1": {"D1"}}
# Directive 2003/59/EC (Ν. 3710/2008): professional drivers of C1, C, D1 and D vehicles need a
# valid certificate of professional competence (ΠΕΙ, code 95 on the licence).
PEI_CATEGORIES = frozenset({"C1", "C", "CE", "D1", "D", "DE"})


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months; the 29th-31st fall back to the last day of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class DueItem:
    rule: Rule
    status: Status
    due_on: date | None
    detail: str = ""  # a licence category, a plan's name, a test result: never translated
    window_opens: date | None = None
    window_closes: date | None = None

    @property
    def reference(self) -> str:
        return REFERENCES[self.rule]

    @property
    def blocks_dispatch(self) -> bool:
        return self.status == Status.OVERDUE and self.rule != Rule.SERVICE

    def days_left(self, on: date) -> int | None:
        return None if self.due_on is None else (self.due_on - on).days


def _status(due_on: date, on: date, horizon_days: int) -> Status:
    if on > due_on:
        return Status.OVERDUE
    if (due_on - on).days <= horizon_days:
        return Status.DUE_SOON
    return Status.OK


@dataclass(frozen=True)
class KteoTest:
    tested_on: date
    result: KteoResult


def kteo_is_heavy(*, category: str, gross_weight_kg: int | None) -> bool:
    if category == "bus":
        return True
    if gross_weight_kg is None:
        return category in HEAVY_CATEGORIES
    return gross_weight_kg > LIGHT_MAX_KG


def kteo_item(
    *,
    on: date,
    heavy: bool,
    first_registration: date | None,
    tests: Iterable[KteoTest] = (),
    stated_due_on: date | None = None,
    horizon_days: int = 30,
) -> DueItem | None:
    """The next ΚΤΕΟ date of one road vehicle.

    ``tests`` are recorded test results (the latest decides). Without any, ``stated_due_on`` is the
    next date printed on the last certificate on file; without that, the first test counts from
    first registration. ``None`` when nothing at all is known.
    """
    first, every = (
        (KTEO_HEAVY_FIRST_MONTHS, KTEO_HEAVY_EVERY_MONTHS)
        if heavy
        else (KTEO_LIGHT_FIRST_MONTHS, KTEO_LIGHT_EVERY_MONTHS)
    )
    history = sorted(tests, key=lambda t: t.tested_on)
    last = history[-1] if history else None
    if last is not None and last.result in (KteoResult.SERIOUS, KteoResult.DANGEROUS):
        due = last.tested_on + timedelta(days=KTEO_RETEST_DAYS)
        # Dangerous deficiencies: the vehicle may not be used on the road at all until it passes
        # a re-test (Directive 2014/45/EU art. 9(1)).
        status = (
            Status.OVERDUE if last.result == KteoResult.DANGEROUS or on > due else Status.DUE_SOON
        )
        return DueItem(Rule.KTEO_RETEST, status, due, detail=str(last.result))
    if last is not None:
        # The next date counts from the day of the last passed test, as printed on its
        # certificate (ΔΤΕ).
        due = add_months(last.tested_on, every)
    elif stated_due_on is not None:
        due = stated_due_on
    elif first_registration is not None:
        due = add_months(first_registration, first)
    else:
        return None
    opens, closes = due - KTEO_WINDOW_BEFORE, due + KTEO_WINDOW_AFTER
    if on > closes:
        status = Status.OVERDUE
    elif on >= opens:
        status = Status.IN_WINDOW
    elif (due - on).days <= horizon_days:
        status = Status.DUE_SOON
    else:
        status = Status.OK
    return DueItem(Rule.KTEO, status, due, window_opens=opens, window_closes=closes)


@dataclass(frozen=True)
class DocumentFacts:
    kind: str  # fleet.choices.DocumentKind value
    issued_on: date | None
    expires_on: date | None


@dataclass(frozen=True)
class VehicleFacts:
    category: str
    is_machinery: bool = False
    gross_weight_kg: int | None = None
    first_registration: date | None = None
    has_tachograph: bool = False
    kteo_tests: Sequence[KteoTest] = ()
    documents: Sequence[DocumentFacts] = ()


def _latest(documents: Iterable[DocumentFacts], kind: str) -> DocumentFacts | None:
    """The document of a kind that covers the furthest: renewals supersede older ones."""
    candidates = [d for d in documents if d.kind == kind and (d.expires_on or d.issued_on)]
    if not candidates:
        return None
    return max(candidates, key=lambda d: (d.expires_on or date.min, d.issued_on or date.min))


def _expiry_item(rule: Rule, doc: DocumentFacts | None, on: date, horizon: int) -> DueItem:
    if doc is None or doc.expires_on is None:
        return DueItem(rule, Status.MISSING, None)
    return DueItem(rule, _status(doc.expires_on, on, horizon), doc.expires_on)


def vehicle_items(facts: VehicleFacts, *, on: date, horizon_days: int = 30) -> list[DueItem]:
    """Every legal item of one vehicle, as of ``on``."""
    items: list[DueItem] = []
    # Machinery (μηχανήματα έργων) is not tested at a ΚΤΕΟ for road vehicles.
    if not facts.is_machinery:
        stated = _latest(facts.documents, "kteo")
        kteo = kteo_item(
            on=on,
            heavy=kteo_is_heavy(category=facts.category, gross_weight_kg=facts.gross_weight_kg),
            first_registration=facts.first_registration,
            tests=facts.kteo_tests,
            stated_due_on=stated.expires_on if stated else None,
            horizon_days=horizon_days,
        )
        if kteo is not None:
            items.append(kteo)
    # Compulsory insurance: the policy's end date (Π.Δ. 237/1986). Missing is shown, not guessed.
    items.append(
        _expiry_item(Rule.INSURANCE, _latest(facts.documents, "insurance"), on, horizon_days)
    )
    # Road tax is paid per period; only a recorded notice says until when (many municipal
    # vehicles are exempt, so a missing notice is not listed).
    road_tax = _latest(facts.documents, "road_tax")
    if road_tax is not None:
        items.append(_expiry_item(Rule.ROAD_TAX, road_tax, on, horizon_days))
    if facts.has_tachograph:
        calibration = _latest(facts.documents, "tachograph")
        if calibration is None:
            items.append(DueItem(Rule.TACHOGRAPH, Status.MISSING, None))
        else:
            due = (
                add_months(calibration.issued_on, TACHOGRAPH_EVERY_MONTHS)
                if calibration.issued_on
                else calibration.expires_on
            )
            if calibration.expires_on is not None and due is not None:
                due = min(due, calibration.expires_on)
            items.append(DueItem(Rule.TACHOGRAPH, _status(due, on, horizon_days), due))
    return items


@dataclass(frozen=True)
class DriverFacts:
    licences: dict[str, date] = field(default_factory=dict)  # category -> expiry
    pei_expiry: date | None = None
    operator_licence_expiry: date | None = None
    has_operator_licence: bool = False


def driver_items(facts: DriverFacts, *, on: date, horizon_days: int = 30) -> list[DueItem]:
    items = [
        DueItem(Rule.LICENCE, _status(expiry, on, horizon_days), expiry, detail=category)
        for category, expiry in sorted(facts.licences.items())
    ]
    if facts.pei_expiry is not None:
        items.append(
            DueItem(Rule.PEI, _status(facts.pei_expiry, on, horizon_days), facts.pei_expiry)
        )
    elif facts.licences.keys() & PEI_CATEGORIES:
        items.append(DueItem(Rule.PEI, Status.MISSING, None))
    if facts.operator_licence_expiry is not None:
        expiry = facts.operator_licence_expiry
        items.append(DueItem(Rule.OPERATOR_LICENCE, _status(expiry, on, horizon_days), expiry))
    return items


def required_licences(
    *, category: str, is_machinery: bool, gross_weight_kg: int | None, seats: int | None
) -> frozenset[str]:
    """Licence categories any one of which lets a driver drive this vehicle (empty: machinery,
    which needs an operator licence instead)."""
    if is_machinery:
        return frozenset()
    if category == "motorcycle":
        return frozenset({"A"})
    passengers = (seats - 1) if seats else 0
    if category == "bus" or passengers > 8:
        return frozenset({"D"}) if passengers > 16 else frozenset({"D1", "D"})
    heavy = kteo_is_heavy(category=category, gross_weight_kg=gross_weight_kg)
    if not heavy:
        return frozenset({"B"})
    if gross_weight_kg is not None and gross_weight_kg <= 7500:
        return frozenset({"C1", "C"})
    return frozenset({"C"})


def driver_vehicle_problems(
    facts: DriverFacts,
    *,
    on: date,
    category: str,
    is_machinery: bool,
    gross_weight_kg: int | None,
    seats: int | None,
) -> list[DueItem]:
    """What stops this driver from driving this vehicle on ``on`` (empty: nothing)."""
    problems: list[DueItem] = []
    if is_machinery:
        expiry = facts.operator_licence_expiry
        if expiry is None:
            problems.append(DueItem(Rule.OPERATOR_LICENCE, Status.MISSING, None))
        elif on > expiry:
            problems.append(DueItem(Rule.OPERATOR_LICENCE, Status.OVERDUE, expiry))
        return problems
    needed = required_licences(
        category=category, is_machinery=False, gross_weight_kg=gross_weight_kg, seats=seats
    )
    held = {cat: exp for cat, exp in facts.licences.items() if on <= exp}
    covered = set().union(*(_COVERS.get(cat, {cat}) for cat in held)) if held else set()
    if not needed & covered:
        expired = sorted(c for c in needed if c in facts.licences)
        if expired:
            problems.append(
                DueItem(
                    Rule.LICENCE, Status.OVERDUE, facts.licences[expired[-1]], detail=expired[-1]
                )
            )
        else:
            problems.append(
                DueItem(Rule.LICENCE, Status.MISSING, None, detail="/".join(sorted(needed)))
            )
    if needed & PEI_CATEGORIES:
        if facts.pei_expiry is None:
            problems.append(DueItem(Rule.PEI, Status.MISSING, None))
        elif on > facts.pei_expiry:
            problems.append(DueItem(Rule.PEI, Status.OVERDUE, facts.pei_expiry))
    return problems


# --- Service plans --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceInterval:
    every_km: float | None = None
    every_hours: float | None = None
    every_days: int | None = None
    warn_km: float = 1000.0
    warn_hours: float = 25.0
    warn_days: int = 14


@dataclass(frozen=True)
class ServiceDue:
    status: Status
    due_km: float | None
    due_hours: float | None
    due_on: date | None
    triggered_by: tuple[str, ...]  # "km", "hours", "days": what made it due or overdue
    estimated_on: date | None = None  # when the km/hours point is likely reached


def _next_multiple(value: float, step: float) -> float:
    # Manufacturer schedules run at whole multiples (20,000, 40,000 km...): with no service on
    # record, the next one is the first multiple above the current reading.
    return (int(value // step) + 1) * step


def service_due(
    interval: ServiceInterval,
    *,
    on: date,
    current_km: float | None,
    current_hours: float | None,
    last_on: date | None = None,
    last_km: float | None = None,
    last_hours: float | None = None,
    starts_on: date | None = None,
    km_per_day: float | None = None,
    hours_per_day: float | None = None,
) -> ServiceDue:
    """When a service plan next falls due: by km, engine hours or time, whichever comes first."""
    due_km = due_hours = None
    due_on = None
    overdue: list[str] = []
    soon: list[str] = []
    estimates: list[date] = []
    if interval.every_km and current_km is not None:
        due_km = (
            last_km + interval.every_km
            if last_km is not None
            else _next_multiple(current_km, interval.every_km)
        )
        left = due_km - current_km
        if left <= 0:
            overdue.append("km")
        elif left <= interval.warn_km:
            soon.append("km")
        if km_per_day and left > 0:
            estimates.append(on + timedelta(days=int(left / km_per_day)))
    if interval.every_hours and current_hours is not None:
        due_hours = (
            last_hours + interval.every_hours
            if last_hours is not None
            else _next_multiple(current_hours, interval.every_hours)
        )
        left = due_hours - current_hours
        if left <= 0:
            overdue.append("hours")
        elif left <= interval.warn_hours:
            soon.append("hours")
        if hours_per_day and left > 0:
            estimates.append(on + timedelta(days=int(left / hours_per_day)))
    anchor = last_on or starts_on
    if interval.every_days and anchor is not None:
        due_on = anchor + timedelta(days=interval.every_days)
        if on >= due_on:
            overdue.append("days")
        elif (due_on - on).days <= interval.warn_days:
            soon.append("days")
    if overdue:
        status, why = Status.OVERDUE, overdue
    elif soon:
        status, why = Status.DUE_SOON, soon
    elif due_km is None and due_hours is None and due_on is None:
        status, why = Status.MISSING, []
    else:
        status, why = Status.OK, []
    candidates = [d for d in [due_on, *estimates] if d is not None]
    return ServiceDue(
        status=status,
        due_km=due_km,
        due_hours=due_hours,
        due_on=due_on,
        triggered_by=tuple(why),
        estimated_on=min(candidates) if candidates else None,
    )
