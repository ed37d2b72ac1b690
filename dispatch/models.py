"""Jobs, their audit trail, vehicles' queues, shifts, recurring rounds, movement orders and plans.

Every write goes through :mod:`dispatch.services`; these classes hold data and database-level
guarantees only (constraints that hold even if two processes race).
"""

from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from dispatch import choices
from fleet.choices import LicenceCategory, VehicleCategory


class DispatchSettings(models.Model):
    """How the office of one municipality works: arrival detection and completion."""

    municipality = models.OneToOneField(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="dispatch_settings",
        verbose_name=_("municipality"),
    )
    completion_mode = models.CharField(
        _("a job is done"),
        max_length=20,
        choices=choices.CompletionMode.choices,
        default=choices.CompletionMode.DRIVER,
    )
    arrival_radius_m = models.PositiveIntegerField(
        _("arrival radius (m)"),
        default=80,
        validators=[MinValueValidator(10), MaxValueValidator(2000)],
        help_text=_("A vehicle stopped this close to a job's place has arrived."),
    )
    arrival_dwell_s = models.PositiveIntegerField(
        _("stop before arrival (s)"),
        default=30,
        validators=[MaxValueValidator(3600)],
        help_text=_("How long the vehicle must stay stopped there before it counts as arrived."),
    )
    departure_radius_m = models.PositiveIntegerField(
        _("departure radius (m)"),
        default=150,
        validators=[MinValueValidator(10), MaxValueValidator(5000)],
    )
    require_pei = models.BooleanField(
        _("drivers of trucks and buses need a valid PEI (code 95)"), default=True
    )
    shift_start = models.TimeField(_("usual shift start"), default=time(7, 0))
    shift_end = models.TimeField(_("usual shift end"), default=time(15, 0))

    class Meta:
        verbose_name = _("dispatch settings")
        verbose_name_plural = _("dispatch settings")

    def __str__(self) -> str:
        return str(self.municipality)


class UnloadSite(models.Model):
    """A landfill or transfer station: collection rounds unload there when full."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="unload_sites",
        verbose_name=_("municipality"),
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"),
        max_length=20,
        choices=choices.UnloadSiteKind.choices,
        default=choices.UnloadSiteKind.TRANSFER,
    )
    latitude = models.FloatField(_("latitude"))
    longitude = models.FloatField(_("longitude"))
    service_minutes = models.PositiveIntegerField(_("time to unload (min)"), default=15)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("unload site")
        verbose_name_plural = _("unload sites")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Shift(models.Model):
    """A driver on duty, on one vehicle or (vehicle empty) available for any vehicle."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("municipality"),
    )
    driver = models.ForeignKey(
        "fleet.Driver", on_delete=models.CASCADE, related_name="shifts", verbose_name=_("driver")
    )
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="shifts",
        verbose_name=_("vehicle"),
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))

    class Meta:
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")
        ordering = ["starts_at"]
        indexes = [
            models.Index(fields=["municipality", "starts_at"], name="shift_municipality_start")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="shift_valid_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.driver} {self.starts_at:%Y-%m-%d %H:%M}"


class RecurrenceRule(models.Model):
    """A weekly round stop: generates one job on each chosen weekday."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("municipality"),
    )
    name = models.CharField(_("name"), max_length=200)
    active = models.BooleanField(_("active"), default=True)
    department = models.ForeignKey(
        "fleet.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    kind = models.CharField(
        _("kind"),
        max_length=30,
        choices=choices.JobKind.choices,
        default=choices.JobKind.ROUND_STOP,
    )
    description = models.TextField(_("description"), blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    latitude = models.FloatField(_("latitude"))
    longitude = models.FloatField(_("longitude"))
    weekdays = models.JSONField(
        _("weekdays"), default=list, help_text=_("0 is Monday, 6 is Sunday.")
    )
    interval_weeks = models.PositiveSmallIntegerField(
        _("every how many weeks"), default=1, validators=[MinValueValidator(1)]
    )
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"), null=True, blank=True)
    window_start = models.TimeField(_("window opens"))
    window_end = models.TimeField(_("window closes"))
    service_minutes = models.PositiveIntegerField(_("time on site (min)"), default=10)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=choices.Priority.choices, default=choices.Priority.NORMAL
    )
    vehicle_category = models.CharField(
        _("vehicle category"), max_length=30, choices=VehicleCategory.choices, blank=True
    )
    load_kg = models.PositiveIntegerField(_("load (kg)"), default=0)
    # Jobs are generated up to and including this date; generation resumes after it.
    generated_until = models.DateField(_("generated until"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("recurring job")
        verbose_name_plural = _("recurring jobs")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="recurrence_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.PROTECT,
        related_name="jobs",
        verbose_name=_("municipality"),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=choices.JobKind.choices)
    source = models.CharField(
        _("source"),
        max_length=20,
        choices=choices.JobSource.choices,
        default=choices.JobSource.DEPARTMENT,
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    department = models.ForeignKey(
        "fleet.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
        verbose_name=_("requesting department"),
    )
    requester_name = models.CharField(_("requested by"), max_length=200, blank=True)
    requester_phone = models.CharField(_("requester's phone"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    latitude = models.FloatField(
        _("latitude"), validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    longitude = models.FloatField(
        _("longitude"), validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )
    window_start = models.DateTimeField(_("not before"), null=True, blank=True)
    window_end = models.DateTimeField(_("not after"), null=True, blank=True)
    service_minutes = models.PositiveIntegerField(
        _("time on site (min)"), default=15, validators=[MaxValueValidator(24 * 60)]
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=choices.Priority.choices, default=choices.Priority.NORMAL
    )
    vehicle_category = models.CharField(
        _("vehicle category"), max_length=30, choices=VehicleCategory.choices, blank=True
    )
    load_kg = models.PositiveIntegerField(_("load (kg)"), default=0)
    seats_needed = models.PositiveSmallIntegerField(_("passengers"), default=0)
    required_licence = models.CharField(
        _("licence needed"), max_length=4, choices=LicenceCategory.choices, blank=True
    )

    status = models.CharField(
        _("status"),
        max_length=20,
        choices=choices.JobStatus.choices,
        default=choices.JobStatus.NEW,
        db_index=True,
    )
    status_reason = models.TextField(_("reason"), blank=True)
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="jobs",
        verbose_name=_("vehicle"),
    )
    driver = models.ForeignKey(
        "fleet.Driver",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="jobs",
        verbose_name=_("driver"),
    )
    queue_position = models.PositiveIntegerField(_("position in queue"), default=0)
    planned_start = models.DateTimeField(_("planned arrival"), null=True, blank=True)
    plan = models.ForeignKey(
        "dispatch.Plan",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
        verbose_name=_("plan"),
    )
    assigned_at = models.DateTimeField(_("assigned"), null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned by"),
    )
    override_reason = models.TextField(_("override reason"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    arrived_at = models.DateTimeField(_("arrived"), null=True, blank=True)
    completed_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Arrival detection: when the vehicle was first seen stopped at the place.
    near_since = models.DateTimeField(null=True, blank=True, editable=False)
    driver_note = models.TextField(_("driver's note"), blank=True)
    photo = models.FileField(_("photo"), upload_to="jobs/%Y/%m/", blank=True)

    recurrence = models.ForeignKey(
        RecurrenceRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
        verbose_name=_("recurring job"),
    )
    occurrence_date = models.DateField(_("date of the round"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The board follows this column to learn of changes made in other processes.
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["municipality", "status"], name="job_municipality_status"),
            models.Index(fields=["vehicle", "status", "queue_position"], name="job_vehicle_queue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_start__isnull=True)
                | Q(window_end__isnull=True)
                | Q(window_end__gte=F("window_start")),
                name="job_window_order",
            ),
            # A job in a vehicle's queue has the vehicle; a new job has none.
            models.CheckConstraint(
                condition=Q(status=choices.JobStatus.NEW, vehicle__isnull=True)
                | Q(status__in=sorted(choices.QUEUED_STATUSES), vehicle__isnull=False)
                | Q(status__in=sorted(choices.CLOSED_STATUSES)),
                name="job_vehicle_matches_status",
            ),
            # A vehicle does one job at a time: at most one in progress, even under a race.
            models.UniqueConstraint(
                fields=["vehicle"],
                condition=Q(status__in=sorted(choices.IN_PROGRESS_STATUSES)),
                name="job_one_in_progress_per_vehicle",
            ),
            models.UniqueConstraint(
                fields=["recurrence", "occurrence_date"],
                condition=Q(recurrence__isnull=False),
                name="job_one_per_occurrence",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in choices.OPEN_STATUSES


class JobEvent(models.Model):
    """The audit trail: one row per change of a job, never edited or deleted."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("municipality"),
    )
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="events", verbose_name=_("job")
    )
    at = models.DateTimeField(_("when"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    actor_kind = models.CharField(
        _("by"), max_length=10, choices=choices.ActorKind.choices, default=choices.ActorKind.USER
    )
    action = models.CharField(_("action"), max_length=20, choices=choices.JobAction.choices)
    from_status = models.CharField(
        _("from"), max_length=20, choices=choices.JobStatus.choices, blank=True
    )
    to_status = models.CharField(
        _("to"), max_length=20, choices=choices.JobStatus.choices, blank=True
    )
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("vehicle"),
    )
    reason = models.TextField(_("reason"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("job event")
        verbose_name_plural = _("job events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.job_id} {self.action} {self.at:%Y-%m-%d %H:%M:%S}"


class VehicleQueue(models.Model):
    """The lock and version of one vehicle's queue.

    Every assignment locks this row (``SELECT ... FOR UPDATE``) and bumps ``version``: two
    dispatchers assigning the same vehicle are serialised, and the one who decided on an older
    version of the queue is refused instead of double-booking the vehicle.
    """

    vehicle = models.OneToOneField(
        "fleet.Vehicle",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="dispatch_queue",
        verbose_name=_("vehicle"),
    )
    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("municipality"),
    )
    version = models.PositiveIntegerField(_("version"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("vehicle queue")
        verbose_name_plural = _("vehicle queues")

    def __str__(self) -> str:
        return f"{self.vehicle_id} v{self.version}"


class Counter(models.Model):
    """Gap-free yearly numbering (movement orders): the row is locked while a number is taken."""

    municipality = models.ForeignKey(
        "fleet.Municipality", on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=40)
    year = models.PositiveSmallIntegerField()
    value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "name", "year"], name="counter_unique_name_year"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.year}: {self.value}"


class MovementOrder(models.Model):
    """Εντολή κίνησης: a department asks to use a vehicle for a purpose and a period."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.PROTECT,
        related_name="movement_orders",
        verbose_name=_("municipality"),
    )
    year = models.PositiveSmallIntegerField(_("year"))
    number = models.PositiveIntegerField(_("number"))
    department = models.ForeignKey(
        "fleet.Department",
        on_delete=models.PROTECT,
        related_name="movement_orders",
        verbose_name=_("department"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.PROTECT,
        related_name="movement_orders",
        verbose_name=_("vehicle"),
    )
    driver = models.ForeignKey(
        "fleet.Driver",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movement_orders",
        verbose_name=_("driver"),
    )
    purpose = models.TextField(_("purpose"))
    destination = models.CharField(_("destination"), max_length=300)
    passengers = models.PositiveSmallIntegerField(_("passengers"), default=0)
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=choices.MovementOrderStatus.choices,
        default=choices.MovementOrderStatus.REQUESTED,
        db_index=True,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("movement order")
        verbose_name_plural = _("movement orders")
        ordering = ["-year", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "year", "number"], name="movement_order_unique_number"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="movement_order_valid_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}/{self.year}"

    @property
    def reference(self) -> str:
        return f"{self.number}/{self.year}"


class Plan(models.Model):
    """An optimised set of rounds for one day: a draft the dispatcher adjusts, then applies."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("municipality"),
    )
    day = models.DateField(_("day"))
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=choices.PlanStatus.choices,
        default=choices.PlanStatus.PENDING,
    )
    # Inputs as chosen (vehicle and job ids, time limit) and the result: routes with their stops
    # and times in seconds since the day's local midnight, and the jobs left out with reasons.
    params = models.JSONField(_("inputs"), default=dict)
    result = models.JSONField(_("result"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied"), null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("applied by"),
    )

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["-day", "-created_at"]

    def __str__(self) -> str:
        return f"{self.day} #{self.pk}"
