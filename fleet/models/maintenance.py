"""Maintenance: service plans and records, work orders with their parts, ΚΤΕΟ test results,
other per-vehicle costs (insurance, road tax...) and compliance reminders."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fleet import choices
from fleet.models.register import Document, Driver, Municipality, Vehicle

_MONEY = {"max_digits": 10, "decimal_places": 2, "validators": [MinValueValidator(Decimal("0"))]}


class WorkOrderStatus(models.TextChoices):
    REPORTED = "reported", _("Defect reported")
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_WORK_ORDER_STATUSES = (
    WorkOrderStatus.REPORTED,
    WorkOrderStatus.OPEN,
    WorkOrderStatus.IN_PROGRESS,
)


class KteoResult(models.TextChoices):
    PASS = "pass", _("Passed")  # noqa: S105 - a test result, not a secret
    MINOR = "minor", _("Passed with minor deficiencies")
    SERIOUS = "serious", _("Serious deficiencies (re-test within 30 days)")
    DANGEROUS = "dangerous", _("Dangerous deficiencies (off the road)")


class ExpenseKind(models.TextChoices):
    INSURANCE = "insurance", _("Insurance")
    ROAD_TAX = "road_tax", _("Road tax")
    KTEO = "kteo", _("Roadworthiness test (KTEO)")
    TACHOGRAPH = "tachograph", _("Tachograph calibration")
    REGISTRATION = "registration", _("Registration")
    TYRES = "tyres", _("Tyres")
    OTHER = "other", _("Other")


class ServicePlan(models.Model):
    """A recurring service for one vehicle or for every vehicle of a category."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    name = models.CharField(_("name"), max_length=120)
    vehicle = models.ForeignKey(
        Vehicle,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="service_plans",
        verbose_name=_("vehicle"),
    )
    category = models.CharField(
        _("category"), max_length=30, choices=choices.VehicleCategory.choices, blank=True
    )
    every_km = models.PositiveIntegerField(_("every (km)"), null=True, blank=True)
    every_hours = models.PositiveIntegerField(_("every (engine hours)"), null=True, blank=True)
    every_days = models.PositiveIntegerField(_("every (days)"), null=True, blank=True)
    warn_km = models.PositiveIntegerField(_("warn ahead (km)"), default=1000)
    warn_hours = models.PositiveIntegerField(_("warn ahead (hours)"), default=25)
    warn_days = models.PositiveIntegerField(_("warn ahead (days)"), default=14)
    starts_on = models.DateField(_("counting from"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("service plan")
        verbose_name_plural = _("service plans")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(vehicle__isnull=False) & Q(category=""))
                | (Q(vehicle__isnull=True) & ~Q(category="")),
                name="serviceplan_vehicle_or_category",
            ),
            models.CheckConstraint(
                condition=Q(every_km__isnull=False)
                | Q(every_hours__isnull=False)
                | Q(every_days__isnull=False),
                name="serviceplan_has_interval",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkOrder(models.Model):
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.PROTECT, related_name="work_orders", verbose_name=_("vehicle")
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("defect or work"), blank=True)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=WorkOrderStatus.choices,
        default=WorkOrderStatus.REPORTED,
        db_index=True,
    )
    takes_off_road = models.BooleanField(
        _("vehicle off the road"),
        default=False,
        help_text=_("The vehicle cannot be used until this order is closed."),
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reported by"),
    )
    reported_by_driver = models.ForeignKey(
        Driver,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reported_defects",
        verbose_name=_("reporting driver"),
    )
    reported_at = models.DateTimeField(_("reported"))
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    off_road_from = models.DateTimeField(_("off the road from"), null=True, blank=True)
    off_road_until = models.DateTimeField(_("off the road until"), null=True, blank=True)
    off_road_days = models.PositiveIntegerField(_("days off the road"), null=True, blank=True)
    vendor = models.CharField(_("vendor or workshop"), max_length=200, blank=True)
    labour_hours = models.DecimalField(
        _("labour hours"),
        max_digits=7,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    labour_cost = models.DecimalField(_("labour cost (€)"), default=Decimal("0"), **_MONEY)
    other_cost = models.DecimalField(_("other cost (€)"), default=Decimal("0"), **_MONEY)
    odometer_km = models.DecimalField(
        _("odometer (km)"), max_digits=10, decimal_places=1, null=True, blank=True
    )
    engine_hours = models.DecimalField(
        _("hour meter (h)"), max_digits=9, decimal_places=1, null=True, blank=True
    )
    service_plan = models.ForeignKey(
        ServicePlan,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_orders",
        verbose_name=_("service plan carried out"),
    )
    resolution = models.TextField(_("work done"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-reported_at"]
        indexes = [models.Index(fields=["vehicle", "status"], name="workorder_vehicle_status")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_WORK_ORDER_STATUSES


class WorkOrderPart(models.Model):
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    work_order = models.ForeignKey(
        WorkOrder, on_delete=models.CASCADE, related_name="parts", verbose_name=_("work order")
    )
    name = models.CharField(_("part"), max_length=200)
    part_number = models.CharField(_("part number"), max_length=60, blank=True)
    quantity = models.DecimalField(
        _("quantity"),
        max_digits=9,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    unit_cost = models.DecimalField(_("unit cost (€)"), default=Decimal("0"), **_MONEY)

    class Meta:
        verbose_name = _("part")
        verbose_name_plural = _("parts")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def total(self) -> Decimal:
        return (self.quantity * self.unit_cost).quantize(Decimal("0.01"))


class ServiceRecord(models.Model):
    """A service carried out: resets its plan's counters."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.CASCADE, related_name="service_records", verbose_name=_("vehicle")
    )
    plan = models.ForeignKey(
        ServicePlan,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="records",
        verbose_name=_("service plan"),
    )
    work_order = models.ForeignKey(
        WorkOrder,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="service_records",
        verbose_name=_("work order"),
    )
    performed_on = models.DateField(_("performed on"))
    odometer_km = models.DecimalField(
        _("odometer (km)"), max_digits=10, decimal_places=1, null=True, blank=True
    )
    engine_hours = models.DecimalField(
        _("hour meter (h)"), max_digits=9, decimal_places=1, null=True, blank=True
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("service record")
        verbose_name_plural = _("service records")
        ordering = ["-performed_on"]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.performed_on:%Y-%m-%d}"


class RoadworthinessTest(models.Model):
    """One ΚΤΕΟ test and its result; the latest decides the vehicle's next due date."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.CASCADE, related_name="kteo_tests", verbose_name=_("vehicle")
    )
    tested_on = models.DateField(_("tested on"))
    result = models.CharField(_("result"), max_length=10, choices=KteoResult.choices)
    centre = models.CharField(_("test centre"), max_length=120, blank=True)
    certificate_number = models.CharField(_("certificate number"), max_length=60, blank=True)
    cost = models.DecimalField(_("fee (€)"), null=True, blank=True, **_MONEY)
    notes = models.TextField(_("deficiencies and notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("roadworthiness test (KTEO)")
        verbose_name_plural = _("roadworthiness tests (KTEO)")
        ordering = ["-tested_on"]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.tested_on:%Y-%m-%d} {self.get_result_display()}"


class Expense(models.Model):
    """A cost of keeping a vehicle that is neither fuel nor a work order (insurance, road tax)."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.CASCADE, related_name="expenses", verbose_name=_("vehicle")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ExpenseKind.choices)
    incurred_on = models.DateField(_("date"))
    amount = models.DecimalField(_("amount (€)"), **_MONEY)
    document = models.ForeignKey(
        Document,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="expenses",
        verbose_name=_("document"),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("expense")
        verbose_name_plural = _("expenses")
        ordering = ["-incurred_on"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} €"


class Reminder(models.Model):
    """A compliance item that came within the reminder horizon: shown in the app, e-mailed once."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    vehicle = models.ForeignKey(
        Vehicle,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("vehicle"),
    )
    driver = models.ForeignKey(
        Driver,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("driver"),
    )
    # "vehicle:12:kteo:" or "driver:7:licence:C": one reminder per item and due date.
    key = models.CharField(max_length=120)
    rule = models.CharField(_("rule"), max_length=30)
    detail = models.CharField(_("detail"), max_length=120, blank=True)
    due_on = models.DateField(_("due on"))
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(_("e-mailed"), null=True, blank=True)
    dismissed_at = models.DateTimeField(_("dismissed"), null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("dismissed by"),
    )

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["due_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "key", "due_on"], name="reminder_unique_item"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.due_on:%Y-%m-%d}"
