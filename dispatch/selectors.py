"""Reads for dispatch: job lists, vehicles' queues, suggestions, the board, driver pages, plans.

Selectors own their queries (``select_related``/``prefetch_related``, one query per kind of row
whatever the fleet size) and hand the pure modules plain facts.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db.models import Max, Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from dispatch import suggestions as rules
from dispatch.choices import (
    IN_PROGRESS_STATUSES,
    QUEUED_STATUSES,
    JobStatus,
    MovementOrderStatus,
)
from dispatch.models import (
    DispatchSettings,
    Job,
    JobEvent,
    MovementOrder,
    Plan,
    Shift,
    UnloadSite,
    VehicleQueue,
)
from fleet.choices import VehicleStatus
from fleet.models import Department, Document, Driver, DriverLicence, Municipality, Vehicle

log = logging.getLogger(__name__)

# A live position older than this no longer says where a vehicle is; its depot does.
LIVE_POSITION_MAX_AGE = timedelta(minutes=30)
# Without a road graph, road time is estimated from the straight line at this speed and a
# detour factor typical of town streets.
FALLBACK_SPEED_KMH = 25.0
FALLBACK_DETOUR = 1.35


# --- settings and small reads ----------------------------------------------------------------


def dispatch_settings(municipality: Municipality) -> DispatchSettings:
    """The municipality's dispatch settings; the defaults (unsaved) when none were saved."""
    found = DispatchSettings.objects.filter(municipality=municipality).first()
    return found or DispatchSettings(municipality=municipality)


def local_zone(municipality: Municipality) -> ZoneInfo:
    try:
        return ZoneInfo(municipality.timezone or "Europe/Athens")
    except (KeyError, ValueError):
        log.warning("dispatch.bad_timezone municipality=%s", municipality.pk)
        return ZoneInfo("Europe/Athens")


def local_day_bounds(municipality: Municipality, day: date) -> tuple[datetime, datetime]:
    zone = local_zone(municipality)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, start + timedelta(days=1)


def job_list(
    *,
    municipality_id: int | None,
    status: str | Sequence[str] = "",
    vehicle_id: int | None = None,
    search: str = "",
) -> QuerySet[Job]:
    qs = Job.objects.select_related("vehicle", "driver", "department")
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else list(status))
    if vehicle_id:
        qs = qs.filter(vehicle_id=vehicle_id)
    if search:
        qs = qs.filter(
            Q(title__icontains=search)
            | Q(address__icontains=search)
            | Q(requester_name__icontains=search)
        )
    return qs


def job_events(*, job: Job) -> QuerySet[JobEvent]:
    return job.events.select_related("actor", "vehicle").order_by("at", "id")


def queue_versions(vehicle_ids: Iterable[int]) -> dict[int, int]:
    return dict(
        VehicleQueue.objects.filter(vehicle_id__in=list(vehicle_ids)).values_list(
            "vehicle_id", "version"
        )
    )


def queued_jobs(*, municipality_id: int, vehicle_ids: Iterable[int] | None = None) -> list[Job]:
    qs = Job.objects.filter(municipality_id=municipality_id, status__in=QUEUED_STATUSES)
    if vehicle_ids is not None:
        qs = qs.filter(vehicle_id__in=list(vehicle_ids))
    return list(qs.order_by("vehicle_id", "queue_position", "id"))


def _queue_key(job: Job) -> tuple:
    # What is under way comes first, then the queue order the dispatcher set.
    return (job.status not in IN_PROGRESS_STATUSES, job.queue_position, job.id)


def queue_end(jobs: Sequence[Job], now: datetime) -> datetime:
    """When a vehicle should be done with ``jobs`` (its queue, in order)."""
    t = now
    for job in sorted(jobs, key=_queue_key):
        if job.status == JobStatus.ON_SITE and job.arrived_at:
            start = job.arrived_at
        else:
            start = max(t, job.planned_start or t)
        t = max(t, start + timedelta(minutes=job.service_minutes))
    return t


# --- facts for the rules -----------------------------------------------------------------------


def _job_instant(job: Job, now: datetime) -> datetime:
    """The moment the job is for: its window's start, or now if that has passed."""
    if job.window_start and job.window_start > now:
        return job.window_start
    return now


def job_facts(job: Job, now: datetime) -> rules.JobFacts:
    zone = local_zone(job.municipality)
    at = _job_instant(job, now)
    return rules.JobFacts(
        id=job.pk or 0,
        day=at.astimezone(zone).date(),
        earliest=job.window_start,
        latest=job.window_end,
        service_s=job.service_minutes * 60,
        category=job.vehicle_category,
        load_kg=job.load_kg,
        seats=job.seats_needed,
        required_licence=job.required_licence,
    )


@dataclass
class FleetFacts:
    vehicles: list[rules.VehicleFacts]
    origins: dict[int, tuple[float, float]]  # vehicle id -> where road time is measured from
    profiles: dict[int, object]  # vehicle id -> routing profile (router.Vehicle or None)
    # The Vehicle instances the caller passed in (empty when the whole fleet was read: it is
    # read as plain rows).
    objects: dict[int, Vehicle] = field(default_factory=dict)


class _FleetVehicle(NamedTuple):
    """The columns of a vehicle the rules and the router read."""

    pk: int
    plate: str
    machinery_plate: str
    category: str
    status: str
    kind: str
    payload_kg: int | None
    seats: int | None
    gross_weight_kg: int | None
    height_m: object
    depot_lat: float | None
    depot_lon: float | None


_FLEET_COLUMNS = (
    "pk",
    "plate",
    "machinery_plate",
    "category",
    "status",
    "kind",
    "payload_kg",
    "seats",
    "gross_weight_kg",
    "height_m",
    "department__depot_lat",
    "department__depot_lon",
)


def _fleet_rows(municipality: Municipality) -> list[_FleetVehicle]:
    rows = (
        Vehicle.objects.filter(municipality=municipality)
        .exclude(status=VehicleStatus.RETIRED)
        .order_by("pk")
        .values_list(*_FLEET_COLUMNS)
    )
    return [_FleetVehicle(*row) for row in rows]


def _fleet_row(v: Vehicle) -> _FleetVehicle:
    depot = v.department if v.department_id else None
    return _FleetVehicle(
        v.pk,
        v.plate,
        v.machinery_plate,
        v.category,
        v.status,
        v.kind,
        v.payload_kg,
        v.seats,
        v.gross_weight_kg,
        v.height_m,
        depot.depot_lat if depot else None,
        depot.depot_lon if depot else None,
    )


class _Scope(NamedTuple):
    """Which vehicles' rows to read: the whole fleet of a municipality (a short query, whatever
    its size) or a few vehicles by id."""

    municipality_id: int
    ids: list[int] | None  # None: every vehicle of the municipality

    def filter(self, field_prefix: str = "vehicle") -> dict:
        if self.ids is None:
            return {f"{field_prefix}__municipality_id": self.municipality_id}
        return {f"{field_prefix}_id__in": self.ids}


def _latest_documents(scope: _Scope) -> dict[int, dict[str, date]]:
    rows = (
        Document.objects.filter(
            **scope.filter(), kind__in=rules.BLOCKING_DOCUMENTS, expires_on__isnull=False
        )
        .values("vehicle_id", "kind")
        .annotate(latest=Max("expires_on"))
    )
    out: dict[int, dict[str, date]] = defaultdict(dict)
    for row in rows:
        out[row["vehicle_id"]][row["kind"]] = row["latest"]
    return out


class _Live(NamedTuple):
    vehicle_id: int
    latitude: float | None
    longitude: float | None
    moving: bool
    last_seen: datetime | None


def _live_states(scope: _Scope) -> dict[int, _Live]:
    from telematics.models import VehicleLiveState  # noqa: PLC0415 - keeps the app import light

    rows = VehicleLiveState.objects.filter(**scope.filter()).values_list(
        "vehicle_id", "latitude", "longitude", "moving", "last_seen"
    )
    return {row[0]: _Live(*row) for row in rows}


class _QueuedJob(NamedTuple):
    """What the suggestions read of a job in a vehicle's queue (see :func:`queue_end`)."""

    id: int
    vehicle_id: int
    status: str
    queue_position: int
    arrived_at: datetime | None
    planned_start: datetime | None
    service_minutes: int
    latitude: float
    longitude: float

    @property
    def pk(self) -> int:
        return self.id


def _queued_rows(scope: _Scope) -> list[_QueuedJob]:
    # A job's vehicle is of the job's municipality: the whole fleet needs no join.
    rows = Job.objects.filter(
        municipality_id=scope.municipality_id,
        status__in=QUEUED_STATUSES,
        **({} if scope.ids is None else {"vehicle_id__in": scope.ids}),
    ).values_list(*_QueuedJob._fields)
    return [_QueuedJob(*row) for row in rows]


def _queue_versions(scope: _Scope) -> dict[int, int]:
    if scope.ids is None:
        rows = VehicleQueue.objects.filter(municipality_id=scope.municipality_id)
    else:
        rows = VehicleQueue.objects.filter(vehicle_id__in=scope.ids)
    return dict(rows.values_list("vehicle_id", "version"))


def _crews_at(
    municipality_id: int, at: datetime, vehicle_ids: Sequence[int] | None = None
) -> tuple[dict[int, list[rules.DriverFacts]], list[rules.DriverFacts]]:
    """Drivers on shift at ``at``: per vehicle, and unattached. Plain rows, not model
    instances: for a fleet of hundreds this is the difference between milliseconds and a tenth
    of a second."""
    shifts = Shift.objects.filter(
        municipality_id=municipality_id, starts_at__lte=at, ends_at__gt=at, driver__active=True
    )
    if vehicle_ids is not None:
        shifts = shifts.filter(Q(vehicle_id__in=list(vehicle_ids)) | Q(vehicle__isnull=True))
    rows = list(
        shifts.values_list(
            "vehicle_id",
            "driver_id",
            "driver__first_name",
            "driver__last_name",
            "driver__pei_expiry",
            "driver__operator_licence_expiry",
        )
    )
    licences: dict[int, dict[str, date]] = defaultdict(dict)
    # The drivers on shift as a subquery, not hundreds of ids.
    for driver_id, category, expires_on in DriverLicence.objects.filter(
        driver_id__in=shifts.values("driver_id")
    ).values_list("driver_id", "category", "expires_on"):
        licences[driver_id][category] = expires_on
    crew: dict[int, list[rules.DriverFacts]] = defaultdict(list)
    pool: list[rules.DriverFacts] = []
    for vehicle_id, driver_id, first, last, pei, operator in rows:
        facts = rules.DriverFacts(
            id=driver_id,
            name=f"{last} {first}",
            licences=licences.get(driver_id, {}),
            pei_expiry=pei,
            operator_expiry=operator,
            on_this_vehicle=vehicle_id is not None,
        )
        (pool if vehicle_id is None else crew[vehicle_id]).append(facts)
    return crew, pool


def _movement_blocks(
    scope: _Scope, start: datetime, end: datetime
) -> dict[int, list[rules.Reason]]:
    out: dict[int, list[rules.Reason]] = defaultdict(list)
    orders = MovementOrder.objects.filter(
        municipality_id=scope.municipality_id,
        status=MovementOrderStatus.APPROVED,
        starts_at__lt=end,
        ends_at__gt=start,
        **({} if scope.ids is None else {"vehicle_id__in": scope.ids}),
    )
    for order in orders:
        out[order.vehicle_id].append(
            rules.Reason(
                "reserved",
                {"order": order.reference, "until": order.ends_at, "purpose": order.purpose},
            )
        )
    return out


# Compliance codes of the maintenance module that the rules here name themselves.
_COMPLIANCE_CODES = {"kteo": "kteo_expired", "insurance": "insurance_expired"}


def _compliance_blocks(
    municipality_id: int, scope: _Scope, day: date
) -> dict[int, list[rules.Reason]] | None:
    """What the maintenance module says stops each vehicle on ``day`` (overdue ΚΤΕΟ by the legal
    schedule, insurance, road tax, tachograph, open work orders that take it off the road), or
    None when that module is not available (the rules then read the documents themselves)."""
    try:
        from fleet.selectors.maintenance import vehicles_eligibility  # noqa: PLC0415
    except ImportError:
        return None
    try:
        found = vehicles_eligibility(municipality_id=municipality_id, on=day, vehicle_ids=scope.ids)
    except Exception:  # noqa: BLE001 - another module's failure must not stop dispatching
        log.exception(
            "dispatch.compliance_failed vehicles=%s", len(scope.ids) if scope.ids else "all"
        )
        return None
    out: dict[int, list[rules.Reason]] = {}
    for vid, reasons in found.items():
        out[vid] = [
            rules.Reason(
                _COMPLIANCE_CODES.get(r.code, r.code),
                {"message": str(r.message), "expired_on": r.due_on}
                if r.due_on
                else {"message": str(r.message)},
            )
            # The vehicle's status is one of the rules here already.
            for r in reasons
            if r.code != "status"
        ]
    return out


def fleet_facts(
    *,
    municipality: Municipality,
    job: Job,
    now: datetime,
    vehicles: Sequence[Vehicle] | None = None,
) -> FleetFacts:
    """Everything the rules need about the vehicles that might take ``job``, in a fixed number
    of queries whatever the fleet size, reading plain rows (columns the rules use), not model
    instances."""
    if vehicles is None:
        rows = _fleet_rows(municipality)
        scope = _Scope(municipality.pk, None)
        objects: dict[int, Vehicle] = {}
    else:
        rows = [_fleet_row(v) for v in vehicles]
        scope = _Scope(municipality.pk, [v.pk for v in vehicles])
        objects = {v.pk: v for v in vehicles}
    ids = [v.pk for v in rows]
    at = _job_instant(job, now)
    day = at.astimezone(local_zone(municipality)).date()
    compliance = _compliance_blocks(municipality.pk, scope, day)
    documents = _latest_documents(scope) if compliance is None else {}
    live = _live_states(scope)
    queues: dict[int, list[_QueuedJob]] = defaultdict(list)
    for queued in _queued_rows(scope):
        if queued.pk != job.pk:
            queues[queued.vehicle_id].append(queued)
    versions = _queue_versions(scope)
    crew, pool = _crews_at(municipality.pk, at, ids if len(ids) < 50 else None)
    service_end = at + timedelta(minutes=job.service_minutes)
    blocks = _movement_blocks(scope, at, service_end)
    for vid, reasons in (compliance or {}).items():
        blocks[vid].extend(reasons)

    from dispatch.routing.selectors import vehicle_profile  # noqa: PLC0415

    facts: list[rules.VehicleFacts] = []
    origins: dict[int, tuple[float, float]] = {}
    profiles: dict[int, object] = {}
    for v in rows:
        queue = sorted(queues.get(v.pk, []), key=_queue_key)
        state = live.get(v.pk)
        source = ""
        if queue:
            last = queue[-1]
            origins[v.pk] = (last.latitude, last.longitude)
            source = "queue"
        elif (
            state is not None
            and state.latitude is not None
            and state.last_seen
            and now - state.last_seen <= LIVE_POSITION_MAX_AGE
        ):
            origins[v.pk] = (state.latitude, state.longitude)
            source = "live"
        elif v.depot_lat is not None:
            origins[v.pk] = (v.depot_lat, v.depot_lon)
            source = "depot"
        elif state is not None and state.latitude is not None:
            origins[v.pk] = (state.latitude, state.longitude)
            source = "last_known"
        profiles[v.pk] = vehicle_profile(vehicle=v)
        drivers = crew.get(v.pk, []) + pool
        facts.append(
            rules.VehicleFacts(
                id=v.pk,
                label=v.plate or v.machinery_plate or f"#{v.pk}",
                category=v.category,
                status=v.status,
                kind=v.kind,
                payload_kg=v.payload_kg,
                seats=v.seats,
                gross_weight_kg=v.gross_weight_kg,
                documents=documents.get(v.pk, {}),
                blocks=tuple(blocks.get(v.pk, ())),
                drivers=tuple(drivers),
                origin_source=source,
                has_origin=v.pk in origins,
                moving=bool(state and state.moving),
                queue_length=len(queue),
                free_at=queue_end(queue, now) if queue else None,
                queue_version=versions.get(v.pk, 0),
            )
        )
    return FleetFacts(facts, origins, profiles, objects)


def _straight_line(origin: tuple[float, float], dest: tuple[float, float]) -> rules.Travel:
    lat1, lon1, lat2, lon2 = map(math.radians, (*origin, *dest))
    a = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    metres = 2 * 6_371_008.8 * math.asin(math.sqrt(a)) * FALLBACK_DETOUR
    return rules.Travel(metres / (FALLBACK_SPEED_KMH / 3.6), metres)


def travel_to(
    *, municipality: Municipality, facts: FleetFacts, destination: tuple[float, float]
) -> tuple[dict[int, rules.Travel], bool]:
    """Road time and distance from each vehicle's origin to ``destination``, and whether they
    come from the road graph (False: straight-line estimates, the graph is unavailable)."""
    from dispatch.routing.registry import RoutingUnavailable, router_for  # noqa: PLC0415

    if not facts.origins:
        return {}, True
    try:
        router = router_for(municipality)
    except RoutingUnavailable as exc:
        log.warning("dispatch.routing_unavailable municipality=%s error=%s", municipality.pk, exc)
        return {vid: _straight_line(o, destination) for vid, o in facts.origins.items()}, False

    # One matrix per routing profile (vehicles of the same weight and height share the roads
    # they may use); the router answers many-to-one from its all-pairs core table.
    groups: dict[object, list[int]] = defaultdict(list)
    for vid in facts.origins:
        groups[facts.profiles.get(vid)].append(vid)
    out: dict[int, rules.Travel] = {}
    for profile, vids in groups.items():
        result = router.matrix([facts.origins[v] for v in vids], [destination], vehicle=profile)
        for k, vid in enumerate(vids):
            out[vid] = rules.Travel(float(result.durations_s[k, 0]), float(result.lengths_m[k, 0]))
    return out, True


# --- suggestions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSuggestions:
    job: Job
    result: rules.Suggestions
    routed: bool  # False: road times are straight-line estimates
    computed_at: datetime
    vehicles: dict[int, Vehicle]

    def best(self) -> rules.Candidate | None:
        return self.result.eligible[0] if self.result.eligible else None


def job_suggestions(
    *, job: Job, now: datetime | None = None, vehicles: Sequence[Vehicle] | None = None
) -> JobSuggestions:
    now = now or timezone.now()
    municipality = job.municipality
    settings_ = dispatch_settings(municipality)
    facts = fleet_facts(municipality=municipality, job=job, now=now, vehicles=vehicles)
    travel, routed = travel_to(
        municipality=municipality, facts=facts, destination=(job.latitude, job.longitude)
    )
    result = rules.rank(
        job_facts(job, now), facts.vehicles, travel, now=now, require_pei=settings_.require_pei
    )
    if not routed:
        result = rules.Suggestions(
            result.job_id,
            tuple(
                rules.Candidate(
                    **{
                        **c.__dict__,
                        "warnings": (*c.warnings, rules.Reason("straight_line_estimate")),
                    }
                )
                for c in result.eligible
            ),
            result.ineligible,
        )
    return JobSuggestions(job, result, routed, now, facts.objects)


def _day(value: object) -> str:
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    return str(value)


def reason_text(reason: rules.Reason) -> str:
    """A sentence for a rule's reason, in the active language."""
    p = dict(reason.params)
    code = reason.code
    if code == "wrong_category":
        from fleet.choices import VehicleCategory  # noqa: PLC0415

        labels = dict(VehicleCategory.choices)
        return _("Wrong category: the job needs a %(needed)s.") % {
            "needed": labels.get(p.get("needed"), p.get("needed"))
        }
    texts = {
        "too_small": _("Too small: the job needs %(needed)s kg, the vehicle carries %(has)s kg."),
        "too_few_seats": _("Too few seats: %(needed)s needed, %(has)s available."),
        "payload_unknown": _("Payload unknown: check that it can carry %(needed)s kg."),
        "in_maintenance": _("In the workshop."),
        "out_of_service": _("Out of service."),
        "kteo_expired": _("Roadworthiness test (ΚΤΕΟ) expired on %(expired_on)s."),
        "insurance_expired": _("Insurance expired on %(expired_on)s."),
        "reserved": _("Reserved by movement order %(order)s until %(until)s."),
        "no_driver_on_shift": _("No driver on shift."),
        "licence_missing": _("no %(category)s licence"),
        "licence_expired": _("%(category)s licence expired on %(expired_on)s"),
        "pei_missing": _("no PEI (code 95)"),
        "pei_expired": _("PEI expired on %(expired_on)s"),
        "operator_licence_missing": _("no machinery operator licence"),
        "operator_licence_expired": _("machinery operator licence expired on %(expired_on)s"),
        "location_unknown": _("Location unknown: no live position and no depot."),
        "unreachable": _("No road route to the job's place."),
        "late": _("Would arrive after the window closes (%(latest)s)."),
        "straight_line_estimate": _("Road graph unavailable: times are straight-line estimates."),
        "work_order": _("Open work order: %(detail)s."),
        "not_eligible": _("Not eligible: %(detail)s."),
    }
    if code == "no_qualified_driver":
        parts = []
        for d in p.get("drivers", []):
            problems = ", ".join(
                reason_text(rules.Reason(x["code"], x.get("params", {}))) for x in d["problems"]
            )
            parts.append(f"{d['name']} ({problems})")
        licence = p.get("licence")
        needed = _("a machinery operator licence") if licence == rules.OPERATOR else licence
        return _("No qualified driver on shift for %(licence)s: %(drivers)s.") % {
            "licence": needed,
            "drivers": "; ".join(parts),
        }
    if p.get("message"):
        return str(p["message"])
    template = texts.get(code)
    if template is None:
        detail = p.get("detail")
        return f"{code}: {detail}" if detail else code
    values = {k: _day(v) if isinstance(v, date | datetime) else v for k, v in p.items()}
    try:
        return template % values
    except (KeyError, TypeError, ValueError):
        return template


def suggestions_payload(found: JobSuggestions) -> dict:
    """The suggestions as the API and the board send them."""

    def reasons(items: Iterable[rules.Reason]) -> list[dict]:
        return [{"code": r.code, "message": reason_text(r)} for r in items]

    return {
        "job": found.job.pk,
        "computed_at": found.computed_at.isoformat(),
        "routed": found.routed,
        "eligible": [
            {
                "vehicle": c.vehicle_id,
                "label": c.label,
                "driver": c.driver_id,
                "driver_name": c.driver_name,
                "road_time_s": round(c.road_time_s, 1),
                "distance_m": round(c.distance_m, 1),
                "eta": c.eta.isoformat(),
                "late": c.late,
                "load": c.queue_length,
                "free_at": c.free_at.isoformat() if c.free_at else None,
                "origin": c.origin_source,
                "queue_version": c.queue_version,
                "warnings": reasons(c.warnings),
            }
            for c in found.result.eligible
        ],
        "ineligible": [
            {
                "vehicle": r.vehicle_id,
                "label": r.label,
                "queue_version": r.queue_version,
                "reasons": reasons(r.reasons),
            }
            for r in found.result.ineligible
        ],
    }


# --- the board ---------------------------------------------------------------------------------


def vehicle_board_state(vehicle: Vehicle, queue: Sequence[Job], order: MovementOrder | None) -> str:
    """One word for a vehicle's colour on the board."""
    if vehicle.status == VehicleStatus.IN_MAINTENANCE:
        return "workshop"
    if vehicle.status in (VehicleStatus.OUT_OF_SERVICE, VehicleStatus.RETIRED):
        return "out"
    if queue or order is not None:
        return "busy"
    return "free"


def job_brief(job: Job) -> dict:
    return {
        "id": job.pk,
        "title": job.title,
        "kind": job.kind,
        "status": job.status,
        "status_label": job.get_status_display(),
        "priority": job.priority,
        "lat": job.latitude,
        "lon": job.longitude,
        "address": job.address,
        "vehicle": job.vehicle_id,
        "driver": job.driver_id,
        "queue_position": job.queue_position,
        "window_start": job.window_start.isoformat() if job.window_start else None,
        "window_end": job.window_end.isoformat() if job.window_end else None,
        "planned_start": job.planned_start.isoformat() if job.planned_start else None,
        "service_minutes": job.service_minutes,
        "category": job.vehicle_category,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
    }


def live_brief(state) -> dict:
    return {
        "lat": state.latitude,
        "lon": state.longitude,
        "speed": state.speed_kmh,
        "course": state.course,
        "moving": state.moving,
        "fix_time": state.fix_time.isoformat() if state.fix_time else None,
        "last_seen": state.last_seen.isoformat() if state.last_seen else None,
    }


def board_jobs(*, municipality_id: int, now: datetime) -> list[Job]:
    """Open jobs, and those closed in the last 12 hours (so the board shows what got done)."""
    recent = now - timedelta(hours=12)
    return list(
        Job.objects.filter(municipality_id=municipality_id)
        .filter(Q(status__in=[JobStatus.NEW, *QUEUED_STATUSES]) | Q(completed_at__gte=recent))
        .order_by("vehicle_id", "queue_position", "id")
    )


def board_vehicles(
    *, municipality: Municipality, now: datetime, vehicle_ids: Iterable[int] | None = None
) -> list[dict]:
    """Each vehicle as the board draws it: position, state, queue and queue version."""
    from telematics.models import VehicleLiveState  # noqa: PLC0415

    qs = Vehicle.objects.filter(municipality=municipality).select_related("department")
    if vehicle_ids is None:
        qs = qs.exclude(status=VehicleStatus.RETIRED)
    else:
        qs = qs.filter(pk__in=list(vehicle_ids))
    vehicles = list(qs.order_by("plate", "machinery_plate", "id"))
    ids = [v.pk for v in vehicles]
    live = {s.vehicle_id: s for s in VehicleLiveState.objects.filter(vehicle_id__in=ids)}
    queues: dict[int, list[Job]] = defaultdict(list)
    for job in queued_jobs(municipality_id=municipality.pk, vehicle_ids=ids):
        queues[job.vehicle_id].append(job)
    orders = {
        o.vehicle_id: o
        for o in MovementOrder.objects.filter(
            municipality=municipality,
            vehicle_id__in=ids,
            status=MovementOrderStatus.APPROVED,
            starts_at__lte=now,
            ends_at__gt=now,
        )
    }
    versions = queue_versions(ids)
    out = []
    for v in vehicles:
        queue = sorted(queues.get(v.pk, []), key=_queue_key)
        order = orders.get(v.pk)
        state = live.get(v.pk)
        out.append(
            {
                "id": v.pk,
                "label": v.display_plate or f"#{v.pk}",
                "category": v.category,
                "category_label": v.get_category_display(),
                "status": v.status,
                "state": vehicle_board_state(v, queue, order),
                "queue": [j.pk for j in queue],
                "queue_version": versions.get(v.pk, 0),
                "order": {"id": order.pk, "reference": order.reference, "purpose": order.purpose}
                if order
                else None,
                "depot": [v.department.depot_lat, v.department.depot_lon]
                if v.department and v.department.depot_lat is not None
                else None,
                "live": live_brief(state) if state and state.latitude is not None else None,
            }
        )
    return out


def board_snapshot(*, municipality: Municipality, now: datetime | None = None) -> dict:
    """Everything the board draws: vehicles with position, state and queue; the jobs."""
    now = now or timezone.now()
    return {
        "type": "snapshot",
        "at": now.isoformat(),
        "municipality": municipality.pk,
        "center": [municipality.center_lat, municipality.center_lon],
        "vehicles": board_vehicles(municipality=municipality, now=now),
        "jobs": [job_brief(j) for j in board_jobs(municipality_id=municipality.pk, now=now)],
    }


# --- finding a place by street and number -----------------------------------------------------

_address_indexes: dict[tuple, object] = {}


def geocode(*, municipality: Municipality, query: str, limit: int = 10) -> list:
    """Places matching "street number" in the municipality's OSM extract (empty without one)."""
    from dispatch import geocode as finder  # noqa: PLC0415
    from dispatch.routing.registry import RoutingUnavailable, source_for  # noqa: PLC0415

    try:
        path = source_for(municipality).path
        stat = path.stat()
    except (RoutingUnavailable, OSError):
        return []
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    index = _address_indexes.get(key)
    if index is None:
        index = finder.build_index(path)
        _address_indexes.clear()  # one extract per process is the usual case; keep memory flat
        _address_indexes[key] = index
        log.info(
            "dispatch.address_index_built file=%s addresses=%d streets=%d",
            path.name,
            len(index.addresses),
            len(index.streets),
        )
    return index.search(query, limit=limit)


def shifts_on(*, municipality: Municipality, day: date) -> QuerySet:
    """The shifts that start on ``day`` (local), with driver and vehicle."""
    start, end = local_day_bounds(municipality, day)
    return (
        Shift.objects.filter(municipality=municipality, starts_at__gte=start, starts_at__lt=end)
        .select_related("driver", "vehicle")
        .order_by("starts_at", "driver__last_name", "driver__first_name")
    )


# --- the driver's page -------------------------------------------------------------------------


def driver_jobs(*, driver: Driver, now: datetime | None = None) -> list[Job]:
    """The driver's jobs for today in order: what is under way, then the queue, then what got
    done today."""
    now = now or timezone.now()
    today = now.astimezone(local_zone(driver.municipality)).date()
    start, end = local_day_bounds(driver.municipality, today)
    jobs = list(
        Job.objects.filter(municipality_id=driver.municipality_id, driver=driver)
        .filter(Q(status__in=QUEUED_STATUSES) | Q(completed_at__gte=start, completed_at__lt=end))
        .select_related("vehicle")
    )
    return sorted(
        jobs,
        key=lambda j: (
            j.status not in IN_PROGRESS_STATUSES,
            j.status not in QUEUED_STATUSES,
            j.queue_position,
            j.id,
        ),
    )


# --- movement orders ---------------------------------------------------------------------------


def movement_order_list(*, municipality_id: int | None, status: str = "") -> QuerySet:
    qs = MovementOrder.objects.select_related(
        "department", "vehicle", "driver", "requested_by", "decided_by"
    )
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    if status:
        qs = qs.filter(status=status)
    return qs


def movement_order_document(*, order: MovementOrder, now: datetime | None = None):
    """The values and labels the movement order's PDF prints, in the active language."""
    from dispatch import pdf  # noqa: PLC0415

    now = now or timezone.now()
    zone = local_zone(order.municipality)

    def when(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%d/%m/%Y %H:%M") if value else "—"

    def person(user) -> str:
        return (user.get_full_name() or user.get_username()) if user else "—"

    vehicle = order.vehicle
    description = " ".join(x for x in (vehicle.make, vehicle.model) if x)
    return pdf.MovementOrderDoc(
        municipality=order.municipality.name,
        reference=order.reference,
        issued=when(order.created_at),
        department=order.department.name,
        vehicle=f"{vehicle.display_plate} {description}".strip(),
        driver=str(order.driver) if order.driver else "—",
        purpose=order.purpose,
        destination=order.destination,
        passengers=str(order.passengers),
        starts=when(order.starts_at),
        ends=when(order.ends_at),
        requested_by=person(order.requested_by),
        approved_by=person(order.decided_by),
        approved_on=when(order.decided_at),
        note=order.decision_note,
        generated_at=when(now),
        labels={
            "title": _("Movement order"),
            "number": _("No."),
            "issued": _("Issued"),
            "department": _("Department"),
            "vehicle": _("Vehicle"),
            "driver": _("Driver"),
            "purpose": _("Purpose"),
            "destination": _("Destination"),
            "passengers": _("Passengers"),
            "from": _("From"),
            "until": _("Until"),
            "requested_by": _("Requested by"),
            "approved_by": _("Approved by"),
            "approved_on": _("Approved on"),
            "note": _("Note"),
            "signature_requester": _("The requester"),
            "signature_head": _("The head of department"),
            "generated": _("Generated by Kinisi on"),
            "page": _("Page 1 of 1"),
        },
    )


def can_decide_movement_order(user, order: MovementOrder) -> bool:
    """The head of the requesting department decides (an administrator may stand in)."""
    from fleet.choices import Role  # noqa: PLC0415

    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser and user.municipality_id in (None, order.municipality_id):
        return True
    if user.municipality_id != order.municipality_id:
        return False
    if user.role == Role.ADMIN:
        return True
    return Department.objects.filter(pk=order.department_id, head=user).exists()


# --- plans -------------------------------------------------------------------------------------


def unload_sites(*, municipality_id: int) -> QuerySet:
    return UnloadSite.objects.filter(municipality_id=municipality_id, active=True)


def plan_comparison(*, plan: Plan, now: datetime | None = None, late_after_s: int = 600) -> list:
    """Planned against actual for an applied plan: per stop, on time, late, skipped or out of
    order (a later stop of the same route done before it)."""
    now = now or timezone.now()
    routes = plan.result.get("routes", [])
    job_ids = [s["job"] for r in routes for s in r.get("stops", []) if s.get("job")]
    jobs = {j.pk: j for j in Job.objects.filter(pk__in=job_ids, municipality=plan.municipality)}
    midnight, _end = local_day_bounds(plan.municipality, plan.day)
    rows = []
    for route in routes:
        stops = [s for s in route.get("stops", []) if s.get("job")]
        done_order = sorted(
            (jobs[s["job"]].arrived_at, i)
            for i, s in enumerate(stops)
            if s["job"] in jobs and jobs[s["job"]].arrived_at
        )
        actual_rank = {i: rank for rank, (_at, i) in enumerate(done_order)}
        for i, stop in enumerate(stops):
            job = jobs.get(stop["job"])
            planned = midnight + timedelta(seconds=stop["start"])
            state = "pending"
            delay = None
            if job is None:
                state = "missing"
            elif job.arrived_at:
                delay = (job.arrived_at - planned).total_seconds()
                state = "late" if delay > late_after_s else "on_time"
                earlier_done = sum(1 for k in range(i) if k in actual_rank)
                if actual_rank.get(i, 0) != earlier_done:
                    state = "out_of_order"
            elif job.status in (JobStatus.CANCELLED, JobStatus.FAILED) or any(
                k in actual_rank for k in range(i + 1, len(stops))
            ):
                state = "skipped"
            elif now > planned + timedelta(seconds=late_after_s):
                state = "late"
            rows.append(
                {
                    "vehicle": route.get("vehicle"),
                    "job": stop["job"],
                    "planned": planned,
                    "actual": job.arrived_at if job else None,
                    "delay_s": delay,
                    "state": state,
                }
            )
    return rows


def vehicle_movement_orders(*, vehicle: Vehicle) -> QuerySet:
    return movement_order_list(municipality_id=vehicle.municipality_id).filter(vehicle=vehicle)


def departments_headed_by(user) -> QuerySet:
    return Department.objects.filter(head=user, municipality_id=user.municipality_id)


__all__ = [
    "JobSuggestions",
    "board_snapshot",
    "dispatch_settings",
    "driver_jobs",
    "job_list",
    "job_suggestions",
    "reason_text",
    "suggestions_payload",
]
