"""Everything that writes dispatch data.

Each service validates, writes inside one transaction, records the change in the job's audit
trail (:class:`~dispatch.models.JobEvent`) and, once committed, tells the board.

Concurrency: an assignment locks the vehicle's :class:`~dispatch.models.VehicleQueue` row and the
job row (``SELECT ... FOR UPDATE``; on SQLite the immediate transaction mode serialises writers
instead) and bumps the queue's version. A dispatcher who decided on an older version, or on a job
that someone else has assigned meanwhile, gets :class:`AssignmentConflict`, never a double
booking.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from dispatch import arrival, selectors
from dispatch import suggestions as rules
from dispatch.choices import (
    CLOSED_STATUSES,
    IN_PROGRESS_STATUSES,
    QUEUED_STATUSES,
    REASON_REQUIRED,
    TRANSITIONS,
    ActorKind,
    CompletionMode,
    JobAction,
    JobSource,
    JobStatus,
    MovementOrderStatus,
    PlanStatus,
)
from dispatch.models import (
    Counter,
    DispatchSettings,
    Job,
    JobEvent,
    MovementOrder,
    Plan,
    RecurrenceRule,
    Shift,
    UnloadSite,
    VehicleQueue,
)
from fleet.choices import Role
from fleet.models import Department, Driver, Municipality, Vehicle

log = logging.getLogger(__name__)

JOB_FIELDS = frozenset(
    {
        "kind",
        "source",
        "title",
        "description",
        "department",
        "requester_name",
        "requester_phone",
        "address",
        "latitude",
        "longitude",
        "window_start",
        "window_end",
        "service_minutes",
        "priority",
        "vehicle_category",
        "load_kg",
        "seats_needed",
        "required_licence",
    }
)
PHOTO_MAX_BYTES = 10 * 1024 * 1024
_PHOTO_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF")


class AssignmentConflict(Exception):
    """Someone else changed the job or the vehicle's queue first (HTTP 409)."""

    def __init__(self, message: str, *, code: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or {}


class AssignmentRefused(Exception):
    """The vehicle may not take the job under the rules (HTTP 400 with the reasons)."""

    def __init__(self, message: str, reasons: Sequence[rules.Reason] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.reasons = tuple(reasons)


# --- helpers -----------------------------------------------------------------------------------


def is_administrator(user) -> bool:
    return bool(user and (user.is_superuser or getattr(user, "role", "") == Role.ADMIN))


def _record(
    job: Job,
    action: str,
    *,
    actor=None,
    at: datetime | None = None,
    from_status: str = "",
    to_status: str = "",
    vehicle: Vehicle | None = None,
    vehicle_id: int | None = None,
    reason: str = "",
    data: dict | None = None,
) -> JobEvent:
    return JobEvent.objects.create(
        municipality_id=job.municipality_id,
        job=job,
        at=at or timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_kind=ActorKind.USER if getattr(actor, "pk", None) else ActorKind.SYSTEM,
        action=action,
        from_status=from_status,
        to_status=to_status,
        vehicle_id=vehicle.pk if vehicle is not None else vehicle_id,
        reason=reason,
        data=data or {},
    )


def _notify(municipality_id: int) -> None:
    def push() -> None:
        from dispatch.consumers import board_changed  # noqa: PLC0415 - channels only when needed

        board_changed(municipality_id)

    transaction.on_commit(push)


def _same_municipality(municipality_id: int, **objects) -> None:
    errors = {
        name: ValidationError(_("Belongs to another municipality."), code="other_municipality")
        for name, obj in objects.items()
        if obj is not None and obj.municipality_id != municipality_id
    }
    if errors:
        raise ValidationError(errors)


def _lock_queues(municipality_id: int, vehicle_ids: Iterable[int]) -> dict[int, VehicleQueue]:
    """Lock the queues of ``vehicle_ids`` in id order (a fixed order cannot deadlock)."""
    ids = sorted(set(vehicle_ids))
    VehicleQueue.objects.bulk_create(
        [VehicleQueue(vehicle_id=vid, municipality_id=municipality_id) for vid in ids],
        ignore_conflicts=True,
    )
    return {
        q.vehicle_id: q
        for q in VehicleQueue.objects.select_for_update().filter(vehicle_id__in=ids).order_by("pk")
    }


def _bump(queue: VehicleQueue) -> None:
    queue.version += 1
    queue.save(update_fields=["version", "updated_at"])


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    return value


# --- jobs --------------------------------------------------------------------------------------


@transaction.atomic
def job_create(*, municipality: Municipality, actor=None, **fields) -> Job:
    unknown = set(fields) - JOB_FIELDS
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("Unknown field.")))
    _same_municipality(municipality.pk, department=fields.get("department"))
    job = Job(municipality=municipality, created_by=actor if getattr(actor, "pk", None) else None)
    for name, value in fields.items():
        setattr(job, name, value)
    job.full_clean(exclude=["photo"])
    job.save()
    _record(
        job,
        JobAction.CREATED,
        actor=actor,
        to_status=job.status,
        data={k: _jsonable(v) for k, v in fields.items()},
    )
    log.info("dispatch.job_created job=%s municipality=%s", job.pk, municipality.pk)
    _notify(municipality.pk)
    return job


@transaction.atomic
def job_update(*, job: Job, actor=None, **fields) -> Job:
    unknown = set(fields) - JOB_FIELDS
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("Unknown field.")))
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status in CLOSED_STATUSES:
        raise ValidationError(_("A finished job cannot be changed."))
    _same_municipality(job.municipality_id, department=fields.get("department"))
    changes = {}
    for name, value in fields.items():
        old = getattr(job, name)
        if old != value:
            changes[name] = [_jsonable(old), _jsonable(value)]
            setattr(job, name, value)
    if not changes:
        return job
    job.full_clean(exclude=["photo"])
    job.save(update_fields=[*changes, "updated_at"])
    _record(job, JobAction.UPDATED, actor=actor, vehicle_id=job.vehicle_id, data=changes)
    _notify(job.municipality_id)
    return job


@dataclass(frozen=True)
class Assignment:
    job: Job
    candidate: rules.Candidate | None
    overridden: bool
    queue_version: int


def _conflict_details(vehicle: Vehicle) -> dict:
    last = (
        JobEvent.objects.filter(vehicle=vehicle, action=JobAction.ASSIGNED)
        .select_related("actor", "job")
        .order_by("-at", "-id")
        .first()
    )
    if last is None:
        return {}
    return {
        "job": last.job_id,
        "job_title": last.job.title,
        "by": last.actor.get_username() if last.actor else "",
        "at": last.at.isoformat(),
    }


def job_assign(
    *,
    job: Job,
    vehicle: Vehicle,
    actor=None,
    driver: Driver | None = None,
    expected_version: int | None = None,
    override_reason: str = "",
    reassign: bool = False,
    planned_start: datetime | None = None,
    queue_position: int | None = None,
    plan: Plan | None = None,
    now: datetime | None = None,
) -> Assignment:
    """Give ``job`` to ``vehicle`` (with ``driver``, or the first qualified driver on shift).

    ``expected_version`` is the vehicle's queue version the dispatcher saw; if it has moved the
    assignment is refused with :class:`AssignmentConflict`. A vehicle that breaks the rules is
    refused with :class:`AssignmentRefused` unless an administrator gives ``override_reason``.
    """
    now = now or timezone.now()
    _same_municipality(job.municipality_id, vehicle=vehicle, driver=driver)
    override_reason = (override_reason or "").strip()
    with transaction.atomic():
        current_vehicle = Job.objects.filter(pk=job.pk).values_list("vehicle_id", flat=True).first()
        queues = _lock_queues(
            job.municipality_id, [vehicle.pk] + ([current_vehicle] if current_vehicle else [])
        )
        queue = queues[vehicle.pk]
        # Read again under the lock: the rules must see the vehicle as it is now.
        vehicle = Vehicle.objects.select_related("department").get(pk=vehicle.pk)
        job = (
            Job.objects.select_for_update(of=("self",))
            .select_related("municipality")
            .get(pk=job.pk)
        )
        allowed = {JobStatus.NEW} | ({JobStatus.ASSIGNED} if reassign else set())
        if job.status not in allowed or job.vehicle_id != current_vehicle:
            holder = job.vehicle.display_plate if job.vehicle_id else ""
            raise AssignmentConflict(
                _("Job #%(job)s is already %(status)s%(holder)s.")
                % {
                    "job": job.pk,
                    "status": job.get_status_display().lower(),
                    "holder": f" ({holder})" if holder else "",
                },
                code="job_taken",
                details={"job": job.pk, "status": job.status, "vehicle": job.vehicle_id},
            )
        if job.vehicle_id == vehicle.pk:
            raise AssignmentConflict(
                _("Job #%(job)s is already with %(vehicle)s.")
                % {"job": job.pk, "vehicle": vehicle.display_plate},
                code="already_assigned",
            )
        if expected_version is not None and expected_version != queue.version:
            details = _conflict_details(vehicle)
            details.update(vehicle=vehicle.pk, version=queue.version, expected=expected_version)
            raise AssignmentConflict(
                _(
                    "%(vehicle)s was just booked by someone else%(what)s. The board has been "
                    "refreshed: check the suggestions again."
                )
                % {
                    "vehicle": vehicle.display_plate,
                    "what": (_(" (job #%(job)s by %(by)s)") % details if details.get("by") else ""),
                },
                code="vehicle_booked",
                details=details,
            )

        found = selectors.job_suggestions(job=job, now=now, vehicles=[vehicle])
        candidate = found.best()
        reasons: tuple[rules.Reason, ...] = ()
        if candidate is None:
            reasons = found.result.ineligible[0].reasons if found.result.ineligible else ()
        elif driver is not None and driver.pk != candidate.driver_id:
            reasons = _driver_check(job, vehicle, driver, found)
        overridden = False
        if reasons:
            if not override_reason:
                raise AssignmentRefused(
                    _("%(vehicle)s cannot take this job: %(reasons)s")
                    % {
                        "vehicle": vehicle.display_plate,
                        "reasons": " ".join(selectors.reason_text(r) for r in reasons),
                    },
                    reasons,
                )
            if not is_administrator(actor):
                raise AssignmentRefused(
                    _("Only an administrator may assign against the rules."), reasons
                )
            overridden = True
        if driver is None and candidate is not None:
            driver = Driver.objects.get(pk=candidate.driver_id)

        old_vehicle_id = job.vehicle_id
        old_status = job.status
        if queue_position is None:
            top = (
                Job.objects.filter(vehicle=vehicle, status__in=QUEUED_STATUSES)
                .exclude(pk=job.pk)
                .aggregate(m=Max("queue_position"))["m"]
            )
            queue_position = (top or 0) + 1
        if planned_start is None:
            if candidate is not None:
                planned_start = rules.planned_start(candidate, selectors.job_facts(job, now))
            else:
                planned_start = max(now, job.window_start or now)
        job.vehicle = vehicle
        job.driver = driver
        job.status = JobStatus.ASSIGNED
        job.assigned_at = now
        job.assigned_by = actor if getattr(actor, "pk", None) else None
        job.queue_position = queue_position
        job.planned_start = planned_start
        job.override_reason = override_reason if overridden else ""
        job.near_since = None
        job.plan = plan
        job.save(
            update_fields=[
                "vehicle",
                "driver",
                "status",
                "assigned_at",
                "assigned_by",
                "queue_position",
                "planned_start",
                "override_reason",
                "near_since",
                "plan",
                "updated_at",
            ]
        )
        _bump(queue)
        if old_vehicle_id and old_vehicle_id in queues:
            _bump(queues[old_vehicle_id])
        data = {
            "vehicle": vehicle.pk,
            "driver": driver.pk if driver else None,
            "queue_version": queue.version,
            "planned_start": planned_start.isoformat() if planned_start else None,
        }
        if candidate is not None:
            data.update(
                road_time_s=round(candidate.road_time_s, 1),
                distance_m=round(candidate.distance_m, 1),
                eta=candidate.eta.isoformat(),
                routed=found.routed,
            )
        if old_vehicle_id:
            data["from_vehicle"] = old_vehicle_id
        if plan is not None:
            data["plan"] = plan.pk
        _record(
            job,
            JobAction.ASSIGNED,
            actor=actor,
            at=now,
            from_status=old_status,
            to_status=job.status,
            vehicle=vehicle,
            data=data,
        )
        if overridden:
            _record(
                job,
                JobAction.OVERRIDE,
                actor=actor,
                at=now,
                vehicle=vehicle,
                reason=override_reason,
                data={"reasons": [r.as_dict() for r in reasons]},
            )
        _notify(job.municipality_id)
    log.info(
        "dispatch.job_assigned job=%s vehicle=%s driver=%s version=%s override=%s",
        job.pk,
        vehicle.pk,
        driver.pk if driver else None,
        queue.version,
        overridden,
    )
    return Assignment(job, candidate, overridden, queue.version)


def _driver_check(
    job: Job, vehicle: Vehicle, driver: Driver, found: selectors.JobSuggestions
) -> tuple[rules.Reason, ...]:
    """Reasons a dispatcher's own choice of driver breaks the rules."""
    now = found.computed_at
    facts = selectors.fleet_facts(
        municipality=job.municipality, job=job, now=now, vehicles=[vehicle]
    ).vehicles[0]
    on_shift = next((d for d in facts.drivers if d.id == driver.pk), None)
    if on_shift is None:
        return (rules.Reason("not_eligible", {"detail": _("%s is not on shift") % driver}),)
    settings_ = selectors.dispatch_settings(job.municipality)
    problems = rules.driver_problems(
        on_shift,
        rules.licence_needed(facts),
        selectors.job_facts(job, now).day,
        require_pei=settings_.require_pei,
        also_needed=job.required_licence,
    )
    if problems:
        return (
            rules.Reason(
                "no_qualified_driver",
                {
                    "licence": rules.licence_needed(facts),
                    "drivers": [
                        {
                            "id": driver.pk,
                            "name": str(driver),
                            "problems": [p.as_dict() for p in problems],
                        }
                    ],
                },
            ),
        )
    return ()


@transaction.atomic
def job_unassign(*, job: Job, actor=None, reason: str = "") -> Job:
    current_vehicle = Job.objects.filter(pk=job.pk).values_list("vehicle_id", flat=True).first()
    queues = _lock_queues(job.municipality_id, [current_vehicle] if current_vehicle else [])
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status != JobStatus.ASSIGNED or job.vehicle_id != current_vehicle:
        raise AssignmentConflict(
            _("Only a job that is assigned and not yet started can be taken back."),
            code="not_assigned",
        )
    vehicle_id = job.vehicle_id
    job.status = JobStatus.NEW
    job.vehicle = None
    job.driver = None
    job.planned_start = None
    job.queue_position = 0
    job.near_since = None
    job.plan = None
    job.save(
        update_fields=[
            "status",
            "vehicle",
            "driver",
            "planned_start",
            "queue_position",
            "near_since",
            "plan",
            "updated_at",
        ]
    )
    _bump(queues[vehicle_id])
    _record(
        job,
        JobAction.UNASSIGNED,
        actor=actor,
        from_status=JobStatus.ASSIGNED,
        to_status=JobStatus.NEW,
        vehicle_id=vehicle_id,
        reason=reason,
    )
    _notify(job.municipality_id)
    return job


def _check_driver_actor(job: Job, actor) -> None:
    """A driver acts only on their own jobs."""
    is_driver = getattr(actor, "role", "") == Role.DRIVER and not actor.is_superuser
    if is_driver and (job.driver is None or job.driver.user_id != actor.pk):
        raise PermissionDenied(_("This job is not yours."))


def job_transition(
    *,
    job: Job,
    to_status: str,
    actor=None,
    reason: str = "",
    at: datetime | None = None,
    data: dict | None = None,
) -> Job:
    """Move a job along its life cycle (see :data:`dispatch.choices.TRANSITIONS`)."""
    explicit_time = at is not None
    at = at or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        current_vehicle = Job.objects.filter(pk=job.pk).values_list("vehicle_id", flat=True).first()
        queues = _lock_queues(job.municipality_id, [current_vehicle] if current_vehicle else [])
        job = Job.objects.select_for_update(of=("self",)).select_related("driver").get(pk=job.pk)
        _check_driver_actor(job, actor)
        if to_status not in TRANSITIONS.get(job.status, ()):
            raise ValidationError(
                _("A job that is %(from)s cannot become %(to)s.")
                % {
                    "from": JobStatus(job.status).label.lower(),
                    "to": JobStatus(to_status).label.lower()
                    if to_status in JobStatus.values
                    else to_status,
                },
                code="bad_transition",
            )
        if to_status in REASON_REQUIRED and not reason:
            raise ValidationError({"reason": _("Give a reason.")}, code="reason_required")
        old = job.status
        job.status = to_status
        fields = ["status", "updated_at"]
        if to_status == JobStatus.EN_ROUTE:
            job.started_at = at
            fields.append("started_at")
        elif to_status == JobStatus.ON_SITE:
            job.arrived_at = at
            fields.append("arrived_at")
            if job.started_at is None:
                job.started_at = job.near_since or at
                fields.append("started_at")
        elif to_status in CLOSED_STATUSES:
            job.completed_at = at
            fields.append("completed_at")
        if reason:
            job.status_reason = reason
            fields.append("status_reason")
        try:
            with transaction.atomic():
                job.save(update_fields=fields)
        except IntegrityError:
            raise ValidationError(
                _("The vehicle already has a job under way: finish that one first."),
                code="one_in_progress",
            )
        if job.vehicle_id and job.vehicle_id in queues:
            _bump(queues[job.vehicle_id])
        # The trail is in the order things were recorded; when the change took effect earlier
        # (an arrival detected from a stop a minute ago) that time goes with it.
        details = dict(data or {})
        if explicit_time:
            details["effective_at"] = at.isoformat()
        _record(
            job,
            JobAction.STATUS,
            actor=actor,
            from_status=old,
            to_status=to_status,
            vehicle_id=job.vehicle_id,
            reason=reason,
            data=details,
        )
        _notify(job.municipality_id)
    log.info(
        "dispatch.job_status job=%s from=%s to=%s actor=%s",
        job.pk,
        old,
        to_status,
        getattr(actor, "pk", "system"),
    )
    return job


@transaction.atomic
def job_reorder(
    *, vehicle: Vehicle, job_ids: Sequence[int], actor=None, expected_version: int | None = None
) -> int:
    """Set the order of a vehicle's queue; returns the new version."""
    queue = _lock_queues(vehicle.municipality_id, [vehicle.pk])[vehicle.pk]
    if expected_version is not None and expected_version != queue.version:
        raise AssignmentConflict(
            _("The queue of %(vehicle)s changed meanwhile.") % {"vehicle": vehicle.display_plate},
            code="queue_changed",
        )
    jobs = {
        j.pk: j
        for j in Job.objects.select_for_update().filter(vehicle=vehicle, status__in=QUEUED_STATUSES)
    }
    if set(job_ids) != set(jobs):
        raise ValidationError(_("List every job in the vehicle's queue exactly once."))
    for position, jid in enumerate(job_ids, start=1):
        job = jobs[jid]
        if job.queue_position != position:
            job.queue_position = position
            job.save(update_fields=["queue_position", "updated_at"])
            _record(
                job,
                JobAction.UPDATED,
                actor=actor,
                vehicle=vehicle,
                data={"queue_position": position},
            )
    _bump(queue)
    _notify(vehicle.municipality_id)
    return queue.version


@transaction.atomic
def job_note_add(*, job: Job, actor=None, text: str) -> Job:
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write a note.")})
    job = Job.objects.select_for_update(of=("self",)).select_related("driver").get(pk=job.pk)
    _check_driver_actor(job, actor)
    job.driver_note = f"{job.driver_note}\n{text}".strip() if job.driver_note else text
    job.save(update_fields=["driver_note", "updated_at"])
    _record(job, JobAction.NOTE, actor=actor, vehicle_id=job.vehicle_id, reason=text)
    return job


def _check_photo(upload: UploadedFile) -> None:
    if upload.size and upload.size > PHOTO_MAX_BYTES:
        raise ValidationError({"photo": _("The photo is larger than 10 MB.")})
    head = upload.read(12)
    upload.seek(0)
    is_webp = head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    if not (head.startswith(_PHOTO_MAGIC[:2]) or is_webp):
        raise ValidationError({"photo": _("Send a JPEG, PNG or WebP photo.")})


@transaction.atomic
def job_photo_add(*, job: Job, actor=None, photo: UploadedFile) -> Job:
    _check_photo(photo)
    job = Job.objects.select_for_update(of=("self",)).select_related("driver").get(pk=job.pk)
    _check_driver_actor(job, actor)
    job.photo.save(photo.name or "photo.jpg", photo, save=False)
    job.save(update_fields=["photo", "updated_at"])
    _record(
        job, JobAction.PHOTO, actor=actor, vehicle_id=job.vehicle_id, data={"file": job.photo.name}
    )
    return job


# --- recurring jobs ----------------------------------------------------------------------------


def _occurs(rule: RecurrenceRule, day: date) -> bool:
    if day.weekday() not in {int(d) for d in rule.weekdays}:
        return False
    first_monday = rule.starts_on - timedelta(days=rule.starts_on.weekday())
    week = (day - first_monday).days // 7
    return week % max(1, rule.interval_weeks) == 0


def recurrence_validate(rule: RecurrenceRule) -> None:
    days = rule.weekdays
    if (
        not isinstance(days, list)
        or not days
        or any(not isinstance(d, int) or not 0 <= d <= 6 for d in days)
    ):
        raise ValidationError({"weekdays": _("Choose at least one weekday (0 Monday … 6 Sunday).")})
    if rule.window_end <= rule.window_start:
        raise ValidationError({"window_end": _("The window must close after it opens.")})


@transaction.atomic
def recurrence_create(*, municipality: Municipality, actor=None, **fields) -> RecurrenceRule:
    _same_municipality(municipality.pk, department=fields.get("department"))
    rule = RecurrenceRule(municipality=municipality, **fields)
    rule.full_clean()
    recurrence_validate(rule)
    rule.save()
    return rule


def recurrence_generate(*, rule: RecurrenceRule, until: date) -> list[Job]:
    """Create the jobs of ``rule`` up to ``until`` (inclusive) that do not exist yet.

    Idempotent: a date already generated is skipped (and the database refuses a second job for
    the same rule and date even if two workers race).
    """
    created: list[Job] = []
    with transaction.atomic():
        rule = (
            RecurrenceRule.objects.select_for_update()
            .select_related("municipality")
            .get(pk=rule.pk)
        )
        if not rule.active:
            return created
        first = rule.starts_on
        if rule.generated_until and rule.generated_until >= first:
            first = rule.generated_until + timedelta(days=1)
        last = min(until, rule.ends_on) if rule.ends_on else until
        if last < first:
            return created
        existing = set(
            Job.objects.filter(recurrence=rule, occurrence_date__range=(first, last)).values_list(
                "occurrence_date", flat=True
            )
        )
        zone = selectors.local_zone(rule.municipality)
        day = first
        while day <= last:
            if _occurs(rule, day) and day not in existing:
                job = Job(
                    municipality=rule.municipality,
                    kind=rule.kind,
                    source=JobSource.RECURRING,
                    title=rule.name,
                    description=rule.description,
                    department=rule.department,
                    address=rule.address,
                    latitude=rule.latitude,
                    longitude=rule.longitude,
                    window_start=datetime.combine(day, rule.window_start, tzinfo=zone),
                    window_end=datetime.combine(day, rule.window_end, tzinfo=zone),
                    service_minutes=rule.service_minutes,
                    priority=rule.priority,
                    vehicle_category=rule.vehicle_category,
                    load_kg=rule.load_kg,
                    recurrence=rule,
                    occurrence_date=day,
                )
                job.save()
                _record(
                    job,
                    JobAction.CREATED,
                    to_status=job.status,
                    data={"recurrence": rule.pk, "date": day.isoformat()},
                )
                created.append(job)
            day += timedelta(days=1)
        rule.generated_until = last
        rule.save(update_fields=["generated_until"])
        if created:
            _notify(rule.municipality_id)
    log.info("dispatch.recurrence_generated rule=%s jobs=%d until=%s", rule.pk, len(created), last)
    return created


def recurrences_generate_all(*, days_ahead: int = 7, today: date | None = None) -> int:
    total = 0
    for rule in RecurrenceRule.objects.filter(active=True).select_related("municipality"):
        zone = selectors.local_zone(rule.municipality)
        local_today = today or timezone.now().astimezone(zone).date()
        until = local_today + timedelta(days=days_ahead)
        total += len(recurrence_generate(rule=rule, until=until))
    return total


# --- shifts and settings -----------------------------------------------------------------------


@transaction.atomic
def shift_create(
    *,
    municipality: Municipality,
    driver: Driver,
    starts_at: datetime,
    ends_at: datetime,
    vehicle: Vehicle | None = None,
) -> Shift:
    _same_municipality(municipality.pk, driver=driver, vehicle=vehicle)
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": _("The shift must end after it starts.")})
    overlapping = Shift.objects.filter(driver=driver, starts_at__lt=ends_at, ends_at__gt=starts_at)
    if overlapping.exists():
        raise ValidationError({"starts_at": _("The driver already has a shift at that time.")})
    shift = Shift(
        municipality=municipality,
        driver=driver,
        vehicle=vehicle,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    shift.full_clean()
    shift.save()
    _notify(municipality.pk)
    return shift


@transaction.atomic
def shift_delete(*, shift: Shift) -> None:
    municipality_id = shift.municipality_id
    shift.delete()
    _notify(municipality_id)


def _vehicle_rule_facts(vehicle: Vehicle) -> rules.VehicleFacts:
    return rules.VehicleFacts(
        id=vehicle.pk,
        label=vehicle.display_plate,
        category=vehicle.category,
        kind=vehicle.kind,
        seats=vehicle.seats,
        gross_weight_kg=vehicle.gross_weight_kg,
    )


def shifts_roster_day(*, municipality: Municipality, day: date) -> list[Shift]:
    """Put every active driver on the usual shift of ``day``: the department's vehicles that are
    on the road, most demanding first, each with a driver of that department who may lawfully
    drive it that day; the drivers left over are unattached (available for any vehicle).
    Drivers who already have a shift that day are left as they are (idempotent)."""
    from fleet.choices import VehicleStatus  # noqa: PLC0415

    settings_ = selectors.dispatch_settings(municipality)
    zone = selectors.local_zone(municipality)
    starts = datetime.combine(day, settings_.shift_start, tzinfo=zone)
    ends = datetime.combine(day, settings_.shift_end, tzinfo=zone)
    if ends <= starts:
        ends += timedelta(days=1)
    midnight, day_end = selectors.local_day_bounds(municipality, day)
    created: list[Shift] = []
    with transaction.atomic():
        taken_drivers = set(
            Shift.objects.filter(
                municipality=municipality, starts_at__gte=midnight, starts_at__lt=day_end
            ).values_list("driver_id", flat=True)
        )
        taken_vehicles = set(
            Shift.objects.filter(
                municipality=municipality,
                starts_at__gte=midnight,
                starts_at__lt=day_end,
                vehicle__isnull=False,
            ).values_list("vehicle_id", flat=True)
        )
        free: dict[int | None, list[Vehicle]] = {}
        for vehicle in (
            Vehicle.objects.filter(municipality=municipality, status=VehicleStatus.AVAILABLE)
            .exclude(pk__in=taken_vehicles)
            .order_by("department_id", "plate", "machinery_plate", "pk")
        ):
            free.setdefault(vehicle.department_id, []).append(vehicle)
        drivers = (
            Driver.objects.filter(municipality=municipality, active=True)
            .exclude(pk__in=taken_drivers)
            .order_by("department_id", "last_name", "first_name", "pk")
        )
        drivers = list(drivers.prefetch_related("licences"))
        facts = {
            d.pk: rules.DriverFacts(
                id=d.pk,
                name=str(d),
                licences={lic.category: lic.expires_on for lic in d.licences.all()},
                pei_expiry=d.pei_expiry,
                operator_expiry=d.operator_licence_expiry,
            )
            for d in drivers
        }
        placed: dict[int, Vehicle] = {}
        # Per department, the most demanding vehicles first (machinery, buses, trucks), each to
        # the first driver still free who may lawfully drive it that day.
        demanding = {rules.OPERATOR: 0, "D": 1, "D1": 2, "C": 3, "C1": 4}
        for department_id, spare in free.items():
            crew = [d for d in drivers if d.department_id == department_id]
            for vehicle in sorted(
                spare,
                key=lambda v: demanding.get(rules.licence_needed(_vehicle_rule_facts(v)), 9),
            ):
                needed = rules.licence_needed(_vehicle_rule_facts(vehicle))
                for driver in crew:
                    if driver.pk in placed:
                        continue
                    if not rules.driver_problems(
                        facts[driver.pk], needed, day, require_pei=settings_.require_pei
                    ):
                        placed[driver.pk] = vehicle
                        break
        for driver in drivers:
            created.append(
                Shift(
                    municipality=municipality,
                    driver=driver,
                    vehicle=placed.get(driver.pk),
                    starts_at=starts,
                    ends_at=ends,
                )
            )
        Shift.objects.bulk_create(created)
    if created:
        _notify(municipality.pk)
    log.info(
        "dispatch.shifts_rostered municipality=%s day=%s shifts=%d",
        municipality.pk,
        day,
        len(created),
    )
    return created


@transaction.atomic
def dispatch_settings_update(*, municipality: Municipality, **fields) -> DispatchSettings:
    current = selectors.dispatch_settings(municipality)
    for name, value in fields.items():
        setattr(current, name, value)
    current.full_clean()
    current.save()
    return current


@transaction.atomic
def unload_site_create(*, municipality: Municipality, **fields) -> UnloadSite:
    site = UnloadSite(municipality=municipality, **fields)
    site.full_clean()
    site.save()
    return site


# --- movement orders ---------------------------------------------------------------------------


def _next_number(municipality_id: int, name: str, year: int) -> int:
    Counter.objects.bulk_create(
        [Counter(municipality_id=municipality_id, name=name, year=year)], ignore_conflicts=True
    )
    counter = Counter.objects.select_for_update().get(
        municipality_id=municipality_id, name=name, year=year
    )
    counter.value += 1
    counter.save(update_fields=["value"])
    return counter.value


@transaction.atomic
def movement_order_request(
    *,
    municipality: Municipality,
    actor,
    department: Department,
    vehicle: Vehicle,
    purpose: str,
    destination: str,
    starts_at: datetime,
    ends_at: datetime,
    driver: Driver | None = None,
    passengers: int = 0,
) -> MovementOrder:
    _same_municipality(municipality.pk, department=department, vehicle=vehicle, driver=driver)
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": _("The period must end after it starts.")})
    if not (purpose or "").strip():
        raise ValidationError({"purpose": _("State the purpose.")})
    year = timezone.now().astimezone(selectors.local_zone(municipality)).year
    order = MovementOrder(
        municipality=municipality,
        year=year,
        number=_next_number(municipality.pk, "movement_order", year),
        department=department,
        requested_by=actor,
        vehicle=vehicle,
        driver=driver,
        purpose=purpose.strip(),
        destination=destination,
        passengers=passengers,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    order.full_clean()
    order.save()
    log.info("dispatch.movement_order_requested order=%s number=%s", order.pk, order.reference)
    return order


@transaction.atomic
def movement_order_decide(
    *, order: MovementOrder, actor, approve: bool, note: str = ""
) -> MovementOrder:
    order = MovementOrder.objects.select_for_update().get(pk=order.pk)
    if not selectors.can_decide_movement_order(actor, order):
        raise PermissionDenied(_("Only the head of the department decides on its orders."))
    if order.status != MovementOrderStatus.REQUESTED:
        raise ValidationError(_("This order has already been decided."), code="decided")
    if approve:
        _lock_queues(order.municipality_id, [order.vehicle_id])
        clash = (
            MovementOrder.objects.filter(
                vehicle_id=order.vehicle_id,
                status=MovementOrderStatus.APPROVED,
                starts_at__lt=order.ends_at,
                ends_at__gt=order.starts_at,
            )
            .exclude(pk=order.pk)
            .first()
        )
        if clash is not None:
            raise ValidationError(
                _("The vehicle is already given to order %(order)s for part of that time.")
                % {"order": clash.reference},
                code="vehicle_reserved",
            )
    elif not (note or "").strip():
        raise ValidationError({"note": _("Give the reason for the rejection.")})
    order.status = MovementOrderStatus.APPROVED if approve else MovementOrderStatus.REJECTED
    order.decided_by = actor
    order.decided_at = timezone.now()
    order.decision_note = (note or "").strip()
    order.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    log.info("dispatch.movement_order_decided order=%s status=%s", order.pk, order.status)
    _notify(order.municipality_id)
    return order


@transaction.atomic
def movement_order_cancel(*, order: MovementOrder, actor, reason: str = "") -> MovementOrder:
    order = MovementOrder.objects.select_for_update().get(pk=order.pk)
    if order.status in (MovementOrderStatus.REJECTED, MovementOrderStatus.CANCELLED):
        raise ValidationError(_("This order is already closed."))
    if order.requested_by_id != getattr(actor, "pk", None) and not (
        is_administrator(actor) or selectors.can_decide_movement_order(actor, order)
    ):
        raise PermissionDenied(_("Only the requester or the head of department may cancel it."))
    order.status = MovementOrderStatus.CANCELLED
    order.decision_note = (reason or "").strip() or order.decision_note
    order.save(update_fields=["status", "decision_note", "updated_at"])
    _notify(order.municipality_id)
    return order


# --- arrival and completion from live state ----------------------------------------------------


def arrivals_track(*, municipality_id: int | None = None, now: datetime | None = None) -> int:
    """Move queued jobs on site / done from their vehicles' live positions. Returns changes."""
    from telematics.models import VehicleLiveState  # noqa: PLC0415

    now = now or timezone.now()
    jobs = Job.objects.filter(status__in=QUEUED_STATUSES, vehicle__isnull=False).select_related(
        "municipality"
    )
    if municipality_id is not None:
        jobs = jobs.filter(municipality_id=municipality_id)
    jobs = list(jobs.order_by("vehicle_id", "queue_position", "id"))
    if not jobs:
        return 0
    states = {
        s.vehicle_id: s
        for s in VehicleLiveState.objects.filter(vehicle_id__in={j.vehicle_id for j in jobs})
        if s.latitude is not None and s.fix_time is not None
    }
    configs: dict[int, arrival.Config] = {}
    changes = 0
    by_vehicle: dict[int, list[Job]] = {}
    for job in jobs:
        by_vehicle.setdefault(job.vehicle_id, []).append(job)
    for vehicle_id, queue in by_vehicle.items():
        state = states.get(vehicle_id)
        if state is None:
            continue
        municipality = queue[0].municipality
        config = configs.get(municipality.pk)
        if config is None:
            s = selectors.dispatch_settings(municipality)
            config = arrival.Config(
                arrival_radius_m=s.arrival_radius_m,
                arrival_dwell_s=s.arrival_dwell_s,
                departure_radius_m=s.departure_radius_m,
                complete_on_departure=s.completion_mode == CompletionMode.DEPARTURE,
            )
            configs[municipality.pk] = config
        obs = arrival.Observation(
            lat=state.latitude,
            lon=state.longitude,
            at=state.fix_time,
            moving=bool(state.moving),
            speed_kmh=state.speed_kmh,
        )
        in_progress = [j for j in queue if j.status == JobStatus.ON_SITE]
        candidates = in_progress or sorted(
            queue, key=lambda j: (j.status != JobStatus.EN_ROUTE, j.queue_position, j.id)
        )
        for job in candidates:
            decision = arrival.decide(
                arrival.Site(
                    lat=job.latitude,
                    lon=job.longitude,
                    status=job.status,
                    near_since=job.near_since,
                    arrived_at=job.arrived_at,
                    service_s=job.service_minutes * 60,
                ),
                obs,
                config,
            )
            if decision.action == arrival.Action.NONE:
                continue
            changes += _apply_decision(job, decision, obs)
            if decision.action != arrival.Action.CLEAR:
                break
    return changes


def _apply_decision(job: Job, decision: arrival.Decision, obs: arrival.Observation) -> int:
    data = {"lat": obs.lat, "lon": obs.lon, "fix_time": obs.at.isoformat(), "automatic": True}
    try:
        if decision.action == arrival.Action.NEAR:
            return Job.objects.filter(pk=job.pk, near_since__isnull=True).update(
                near_since=decision.at
            )
        if decision.action == arrival.Action.CLEAR:
            return Job.objects.filter(pk=job.pk).update(near_since=None)
        if decision.action == arrival.Action.ARRIVE:
            job_transition(job=job, to_status=JobStatus.ON_SITE, at=decision.at, data=data)
            return 1
        if decision.action == arrival.Action.COMPLETE:
            job_transition(job=job, to_status=JobStatus.DONE, at=decision.at, data=data)
            return 1
    except ValidationError as exc:
        # Another job of the vehicle is under way, or the job moved on meanwhile.
        log.info(
            "dispatch.arrival_skipped job=%s action=%s reason=%s", job.pk, decision.action, exc
        )
    return 0


# --- plans -------------------------------------------------------------------------------------


@dataclass
class PlanApplyResult:
    applied: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


@transaction.atomic
def plan_request(
    *,
    municipality: Municipality,
    actor,
    day: date,
    vehicle_ids: Sequence[int],
    job_ids: Sequence[int],
    time_limit_s: float = 5.0,
) -> Plan:
    vehicles = set(
        Vehicle.objects.filter(municipality=municipality, pk__in=vehicle_ids).values_list(
            "pk", flat=True
        )
    )
    jobs = set(
        Job.objects.filter(
            municipality=municipality, pk__in=job_ids, status=JobStatus.NEW
        ).values_list("pk", flat=True)
    )
    if not vehicles:
        raise ValidationError({"vehicles": _("Choose at least one vehicle.")})
    if not jobs:
        raise ValidationError({"jobs": _("Choose at least one new job.")})
    if not 0.5 <= time_limit_s <= 120:
        raise ValidationError({"time_limit_s": _("Between 0.5 and 120 seconds.")})
    plan = Plan.objects.create(
        municipality=municipality,
        day=day,
        created_by=actor if getattr(actor, "pk", None) else None,
        params={
            "vehicles": sorted(vehicles),
            "jobs": sorted(jobs),
            "time_limit_s": time_limit_s,
        },
    )
    from dispatch.tasks import plan_compute_task  # noqa: PLC0415

    transaction.on_commit(lambda: plan_compute_task.delay(plan.pk))
    return plan


def plan_compute(*, plan_id: int) -> Plan:
    """Optimise a requested plan (idempotent: only a pending plan is computed)."""
    from dispatch import planning  # noqa: PLC0415

    plan = Plan.objects.select_related("municipality").get(pk=plan_id)
    if plan.status != PlanStatus.PENDING:
        return plan
    try:
        result = planning.compute(plan)
    except Exception as exc:  # noqa: BLE001 - a failed plan is shown, not lost
        log.exception("dispatch.plan_failed plan=%s", plan.pk)
        Plan.objects.filter(pk=plan.pk, status=PlanStatus.PENDING).update(
            status=PlanStatus.FAILED, result={"error": str(exc)}
        )
        plan.refresh_from_db()
        return plan
    Plan.objects.filter(pk=plan.pk, status=PlanStatus.PENDING).update(
        status=PlanStatus.DRAFT, result=result
    )
    plan.refresh_from_db()
    log.info(
        "dispatch.plan_ready plan=%s routes=%d unassigned=%d",
        plan.pk,
        len(result.get("routes", [])),
        len(result.get("unassigned", [])),
    )
    _notify(plan.municipality_id)
    return plan


@transaction.atomic
def plan_adjust(*, plan: Plan, routes: dict[int, list[int]]) -> Plan:
    """Replace the plan's routes with the dispatcher's order of jobs per vehicle and re-time
    them; any rule an order breaks is listed with its route."""
    from dispatch import planning  # noqa: PLC0415

    plan = (
        Plan.objects.select_for_update(of=("self",)).select_related("municipality").get(pk=plan.pk)
    )
    if plan.status != PlanStatus.DRAFT:
        raise ValidationError(_("Only a draft plan can be adjusted."))
    plan.result = planning.retime(plan, routes)
    plan.save(update_fields=["result"])
    return plan


def plan_apply(*, plan: Plan, actor) -> PlanApplyResult:
    """Assign every planned job to its vehicle, in the plan's order and times."""
    outcome = PlanApplyResult()
    with transaction.atomic():
        plan = (
            Plan.objects.select_for_update(of=("self",))
            .select_related("municipality")
            .get(pk=plan.pk)
        )
        if plan.status != PlanStatus.DRAFT:
            raise ValidationError(_("Only a draft plan can be applied."))
        midnight, _end = selectors.local_day_bounds(plan.municipality, plan.day)
        vehicles = {
            v.pk: v
            for v in Vehicle.objects.filter(
                municipality=plan.municipality,
                pk__in=[r["vehicle"] for r in plan.result.get("routes", [])],
            )
        }
        jobs = {
            j.pk: j
            for j in Job.objects.filter(
                municipality=plan.municipality,
                pk__in=[
                    s["job"]
                    for r in plan.result.get("routes", [])
                    for s in r["stops"]
                    if s.get("job")
                ],
            )
        }
        for route in plan.result.get("routes", []):
            vehicle = vehicles.get(route["vehicle"])
            base = (
                Job.objects.filter(vehicle=vehicle, status__in=QUEUED_STATUSES).aggregate(
                    m=Max("queue_position")
                )["m"]
                or 0
            )
            position = base
            for stop in route["stops"]:
                job = jobs.get(stop.get("job"))
                if job is None or vehicle is None:
                    continue
                position += 1
                try:
                    with transaction.atomic():
                        job_assign(
                            job=job,
                            vehicle=vehicle,
                            actor=actor,
                            planned_start=midnight + timedelta(seconds=stop["start"]),
                            queue_position=position,
                            plan=plan,
                        )
                    outcome.applied.append(job.pk)
                except (AssignmentConflict, AssignmentRefused) as exc:
                    outcome.refused[job.pk] = exc.message
                    position -= 1
        plan.status = PlanStatus.APPLIED
        plan.applied_at = timezone.now()
        plan.applied_by = actor if getattr(actor, "pk", None) else None
        plan.result = {**plan.result, "applied": outcome.applied, "refused": outcome.refused}
        plan.save(update_fields=["status", "applied_at", "applied_by", "result"])
    log.info(
        "dispatch.plan_applied plan=%s applied=%d refused=%d",
        plan.pk,
        len(outcome.applied),
        len(outcome.refused),
    )
    return outcome


@transaction.atomic
def plan_discard(*, plan: Plan) -> Plan:
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    if plan.status == PlanStatus.APPLIED:
        raise ValidationError(_("An applied plan stays on record."))
    plan.status = PlanStatus.DISCARDED
    plan.save(update_fields=["status"])
    return plan


__all__ = [
    "AssignmentConflict",
    "AssignmentRefused",
    "IN_PROGRESS_STATUSES",
    "job_assign",
    "job_create",
    "job_transition",
]
