from django.db import models
from django.utils.translation import gettext_lazy as _


class JobKind(models.TextChoices):
    BULKY_WASTE = "bulky_waste", _("Bulky-waste pickup")
    REPAIR = "repair", _("Repair crew")
    TRANSPORT_PEOPLE = "transport_people", _("Transport of people")
    TRANSPORT_GOODS = "transport_goods", _("Transport of goods")
    INSPECTION = "inspection", _("Inspection")
    ROUND_STOP = "round_stop", _("Stop in a round")
    OTHER = "other", _("Other")


class JobSource(models.TextChoices):
    DEPARTMENT = "department", _("Department")
    CITIZEN = "citizen", _("Citizen request")
    RECURRING = "recurring", _("Recurring round")


class JobStatus(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    EN_ROUTE = "en_route", _("En route")
    ON_SITE = "on_site", _("On site")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Failed")


# The life cycle: which status may follow which. Assignment (new -> assigned) and unassignment
# (assigned -> new) go through their own services because they touch the vehicle's queue.
TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.NEW: frozenset({JobStatus.CANCELLED}),
    JobStatus.ASSIGNED: frozenset({JobStatus.EN_ROUTE, JobStatus.ON_SITE, JobStatus.CANCELLED}),
    JobStatus.EN_ROUTE: frozenset({JobStatus.ON_SITE, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.ON_SITE: frozenset({JobStatus.DONE, JobStatus.FAILED}),
    JobStatus.DONE: frozenset(),
    JobStatus.CANCELLED: frozenset(),
    JobStatus.FAILED: frozenset(),
}
OPEN_STATUSES = frozenset(
    {JobStatus.NEW, JobStatus.ASSIGNED, JobStatus.EN_ROUTE, JobStatus.ON_SITE}
)
# A vehicle's queue: what it still has to do.
QUEUED_STATUSES = frozenset({JobStatus.ASSIGNED, JobStatus.EN_ROUTE, JobStatus.ON_SITE})
IN_PROGRESS_STATUSES = frozenset({JobStatus.EN_ROUTE, JobStatus.ON_SITE})
CLOSED_STATUSES = frozenset({JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED})
# Statuses that need a reason.
REASON_REQUIRED = frozenset({JobStatus.CANCELLED, JobStatus.FAILED})


class Priority(models.IntegerChoices):
    # 0..9 is the optimiser's scale; the office uses four steps of it.
    LOW = 1, _("Low")
    NORMAL = 3, _("Normal")
    HIGH = 6, _("High")
    URGENT = 9, _("Urgent")


class JobAction(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    ASSIGNED = "assigned", _("Assigned")
    UNASSIGNED = "unassigned", _("Unassigned")
    STATUS = "status", _("Status changed")
    OVERRIDE = "override", _("Rules overridden")
    NOTE = "note", _("Note")
    PHOTO = "photo", _("Photo")
    PLANNED = "planned", _("Planned")
    DEFECT = "defect", _("Defect reported")


class ActorKind(models.TextChoices):
    USER = "user", _("User")
    SYSTEM = "system", _("Kinisi (automatic)")


class CompletionMode(models.TextChoices):
    DRIVER = "driver", _("When the driver confirms")
    DEPARTURE = "departure", _("When the vehicle leaves after the time on site")


class MovementOrderStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class PlanStatus(models.TextChoices):
    PENDING = "pending", _("Being computed")
    FAILED = "failed", _("Failed")
    DRAFT = "draft", _("Draft")
    APPLIED = "applied", _("Applied")
    DISCARDED = "discarded", _("Discarded")


class UnloadSiteKind(models.TextChoices):
    LANDFILL = "landfill", _("Landfill")
    TRANSFER = "transfer", _("Transfer station")
    RECYCLING = "recycling", _("Recycling centre")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")
