"""Which vehicles can take a job, and in what order: the rules and the ranking.

Pure module (no Django): the selectors gather plain facts about the job, every vehicle, the
drivers on shift and the road times; this module decides. Reasons come back as codes with
parameters, and the caller turns them into sentences in the user's language.

The rules (an assignment that breaks one is refused unless an administrator overrides it):

- the job's vehicle category, load (kg) and passengers must fit the vehicle;
- the vehicle must not be in the workshop, out of service or retired, nor held by an approved
  movement order or an open work order over the job's time (``VehicleFacts.blocks``);
- its roadworthiness test (ΚΤΕΟ) and insurance must not have expired on the job's day;
- a driver must be on shift for it (on this vehicle, or unattached) holding a licence of the
  category the vehicle needs, valid on the job's day, and, for trucks and buses, a valid
  certificate of professional competence (ΠΕΙ, code 95; Directive (EU) 2022/2561); machinery needs
  a valid machinery operator licence instead.

The ranking: by estimated arrival, which for a free vehicle is "now + road time from where it is
(its live position, or its depot when parked)", and for a busy one "end of its queue + road time
from its last queued job". Vehicles that would arrive after the job's window go last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

# Licence categories each category entitles to drive (Directive 2006/126/EC, art. 6: C covers
# C1, D covers D1; holders of CE/DE necessarily hold C/D).
COVERS: dict[str, frozenset[str]] = {
    "AM": frozenset({"AM"}),
    "A": frozenset({"A", "AM"}),
    "B": frozenset({"B", "AM"}),
    "BE": frozenset({"BE", "B", "AM"}),
    "C1": frozenset({"C1"}),
    "C": frozenset({"C", "C1"}),
    "CE": frozenset({"CE", "C", "C1", "BE"}),
    "D1": frozenset({"D1"}),
    "D": frozenset({"D", "D1"}),
    "DE": frozenset({"DE", "D", "D1", "BE"}),
}
# Categories whose drivers need the certificate of professional competence (ΠΕΙ).
PEI_CATEGORIES = frozenset({"C1", "C", "CE", "D1", "D", "DE"})
OPERATOR = "operator"  # machinery: the operator licence, not a driving licence category

# Documents whose expiry stops a vehicle (DocumentKind values).
BLOCKING_DOCUMENTS = ("kteo", "insurance")

WORKSHOP_STATUSES = frozenset({"in_maintenance"})
OUT_STATUSES = frozenset({"out_of_service", "retired"})


@dataclass(frozen=True)
class Reason:
    """Why a vehicle cannot take a job (or a warning, for an eligible one)."""

    code: str
    params: Mapping[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "params": dict(self.params)}


@dataclass(frozen=True)
class JobFacts:
    id: int
    day: date  # the local date the job is done on: documents and licences must be valid then
    earliest: datetime | None = None
    latest: datetime | None = None
    service_s: int = 0
    category: str = ""
    load_kg: int = 0
    seats: int = 0
    required_licence: str = ""


@dataclass(frozen=True)
class DriverFacts:
    id: int
    name: str
    licences: Mapping[str, date]  # category -> expiry
    pei_expiry: date | None = None
    operator_expiry: date | None = None
    on_this_vehicle: bool = False  # their shift names this vehicle (else: unattached)


@dataclass(frozen=True)
class VehicleFacts:
    id: int
    label: str
    category: str
    status: str = "available"
    kind: str = "vehicle"
    payload_kg: int | None = None
    seats: int | None = None
    gross_weight_kg: int | None = None
    documents: Mapping[str, date] = field(default_factory=dict)  # kind -> latest expiry
    blocks: Sequence[Reason] = ()  # set by others: open work order, approved movement order
    drivers: Sequence[DriverFacts] = ()
    # Where the road time is measured from: "live", "depot" or "queue" (last queued job).
    origin_source: str = ""
    has_origin: bool = False
    moving: bool = False
    queue_length: int = 0
    free_at: datetime | None = None  # when its queue is done (None: free now)
    queue_version: int = 0


@dataclass(frozen=True)
class Travel:
    duration_s: float
    length_m: float

    @property
    def ok(self) -> bool:
        return math.isfinite(self.duration_s) and math.isfinite(self.length_m)


@dataclass(frozen=True)
class Candidate:
    vehicle_id: int
    label: str
    driver_id: int | None
    driver_name: str
    road_time_s: float
    distance_m: float
    eta: datetime
    late: bool
    queue_length: int
    free_at: datetime | None
    origin_source: str
    queue_version: int
    warnings: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class Rejected:
    vehicle_id: int
    label: str
    reasons: tuple[Reason, ...]
    queue_version: int = 0


@dataclass(frozen=True)
class Suggestions:
    job_id: int
    eligible: tuple[Candidate, ...]
    ineligible: tuple[Rejected, ...]


# --- licences ----------------------------------------------------------------------------------


def licence_needed(vehicle: VehicleFacts) -> str:
    """The licence category a driver needs for ``vehicle`` (``OPERATOR`` for machinery).

    EU categories: up to 3,500 kg gross weight B, up to 7,500 kg C1, above C; buses (``seats``
    counts passenger seats) with more than 16 seats D, more than 8 D1; a bus of unknown size D.
    """
    if vehicle.kind == "machinery":
        return OPERATOR
    if vehicle.category == "motorcycle":
        return "A"
    seats = vehicle.seats or 0
    if vehicle.category == "bus" or seats > 8:
        return "D" if seats == 0 or seats > 16 else ("D1" if seats > 8 else "B")
    weight = vehicle.gross_weight_kg or 0
    return "C" if weight > 7500 else ("C1" if weight > 3500 else "B")


def holds(licences: Mapping[str, date], needed: str, day: date) -> tuple[bool, Reason | None]:
    """Whether licences valid on ``day`` cover ``needed``; if not, the reason."""
    covering = [cat for cat, _exp in licences.items() if needed in COVERS.get(cat, {cat})]
    if not covering:
        return False, Reason("licence_missing", {"category": needed})
    valid = [cat for cat in covering if licences[cat] >= day]
    if not valid:
        latest = max(licences[cat] for cat in covering)
        return False, Reason("licence_expired", {"category": needed, "expired_on": latest})
    return True, None


def driver_problems(
    driver: DriverFacts,
    needed: str,
    day: date,
    *,
    require_pei: bool = True,
    also_needed: str = "",
) -> list[Reason]:
    """Everything that stops ``driver`` from driving a vehicle that needs ``needed`` on ``day``
    (and, when the job asks for it, holding ``also_needed`` too)."""
    problems: list[Reason] = []
    if also_needed and also_needed != needed:
        ok, why = holds(driver.licences, also_needed, day)
        if not ok and why is not None:
            problems.append(why)
    if needed == OPERATOR:
        if driver.operator_expiry is None:
            problems.append(Reason("operator_licence_missing"))
        elif driver.operator_expiry < day:
            problems.append(
                Reason("operator_licence_expired", {"expired_on": driver.operator_expiry})
            )
        return problems
    ok, why = holds(driver.licences, needed, day)
    if not ok and why is not None:
        problems.append(why)
    if require_pei and needed in PEI_CATEGORIES:
        if driver.pei_expiry is None:
            problems.append(Reason("pei_missing"))
        elif driver.pei_expiry < day:
            problems.append(Reason("pei_expired", {"expired_on": driver.pei_expiry}))
    return problems


# --- the rules ---------------------------------------------------------------------------------


def check(
    job: JobFacts, vehicle: VehicleFacts, *, require_pei: bool = True
) -> tuple[list[Reason], DriverFacts | None, list[Reason]]:
    """(reasons the vehicle cannot take the job, the driver it would go with, warnings)."""
    reasons: list[Reason] = []
    warnings: list[Reason] = []
    if job.category and vehicle.category != job.category:
        reasons.append(Reason("wrong_category", {"needed": job.category, "has": vehicle.category}))
    if job.load_kg:
        if vehicle.payload_kg is None:
            warnings.append(Reason("payload_unknown", {"needed": job.load_kg}))
        elif vehicle.payload_kg < job.load_kg:
            reasons.append(Reason("too_small", {"needed": job.load_kg, "has": vehicle.payload_kg}))
    if job.seats and (vehicle.seats or 0) < job.seats:
        reasons.append(Reason("too_few_seats", {"needed": job.seats, "has": vehicle.seats or 0}))
    if vehicle.status in WORKSHOP_STATUSES:
        reasons.append(Reason("in_maintenance"))
    elif vehicle.status in OUT_STATUSES:
        reasons.append(Reason("out_of_service", {"status": vehicle.status}))
    for kind in BLOCKING_DOCUMENTS:
        expiry = vehicle.documents.get(kind)
        if expiry is not None and expiry < job.day:
            reasons.append(Reason(f"{kind}_expired", {"expired_on": expiry}))
    reasons.extend(vehicle.blocks)

    needed = licence_needed(vehicle)
    driver: DriverFacts | None = None
    if not vehicle.drivers:
        reasons.append(Reason("no_driver_on_shift"))
    else:
        # The vehicle's own crew first, then unattached drivers; by name for a stable choice.
        ordered = sorted(vehicle.drivers, key=lambda d: (not d.on_this_vehicle, d.name, d.id))
        problems_by_driver = []
        for candidate in ordered:
            problems = driver_problems(
                candidate,
                needed,
                job.day,
                require_pei=require_pei,
                also_needed=job.required_licence,
            )
            if not problems:
                driver = candidate
                break
            problems_by_driver.append((candidate, problems))
        if driver is None:
            reasons.append(
                Reason(
                    "no_qualified_driver",
                    {
                        "licence": needed,
                        "drivers": [
                            {"id": d.id, "name": d.name, "problems": [p.as_dict() for p in ps]}
                            for d, ps in problems_by_driver
                        ],
                    },
                )
            )
    if not vehicle.has_origin:
        reasons.append(Reason("location_unknown"))
    return reasons, driver, warnings


def rank(
    job: JobFacts,
    vehicles: Iterable[VehicleFacts],
    travel: Mapping[int, Travel],
    *,
    now: datetime,
    require_pei: bool = True,
) -> Suggestions:
    """Eligible vehicles best first, and the ineligible ones with their reasons.

    ``travel`` maps a vehicle id to the road time and distance from its origin to the job; a
    vehicle missing from it, or with no finite route, cannot reach the job.
    """
    eligible: list[Candidate] = []
    ineligible: list[Rejected] = []
    for vehicle in vehicles:
        reasons, driver, warnings = check(job, vehicle, require_pei=require_pei)
        trip = travel.get(vehicle.id)
        if vehicle.has_origin and (trip is None or not trip.ok):
            reasons.append(Reason("unreachable"))
        if reasons or trip is None or driver is None:
            ineligible.append(
                Rejected(vehicle.id, vehicle.label, tuple(reasons), vehicle.queue_version)
            )
            continue
        leaves = max(now, vehicle.free_at) if vehicle.free_at else now
        eta = leaves + timedelta(seconds=trip.duration_s)
        late = job.latest is not None and eta > job.latest
        if late:
            warnings.append(Reason("late", {"latest": job.latest}))
        eligible.append(
            Candidate(
                vehicle_id=vehicle.id,
                label=vehicle.label,
                driver_id=driver.id,
                driver_name=driver.name,
                road_time_s=trip.duration_s,
                distance_m=trip.length_m,
                eta=eta,
                late=late,
                queue_length=vehicle.queue_length,
                free_at=vehicle.free_at,
                origin_source=vehicle.origin_source,
                queue_version=vehicle.queue_version,
                warnings=tuple(warnings),
            )
        )
    eligible.sort(
        key=lambda c: (c.late, c.eta, c.road_time_s, c.queue_length, c.label, c.vehicle_id)
    )
    ineligible.sort(key=lambda r: (len(r.reasons), r.label, r.vehicle_id))
    return Suggestions(job.id, tuple(eligible), tuple(ineligible))


def planned_start(candidate: Candidate, job: JobFacts) -> datetime:
    """When service would start: on arrival, or when the window opens if that is later."""
    if job.earliest is not None and job.earliest > candidate.eta:
        return job.earliest
    return candidate.eta
