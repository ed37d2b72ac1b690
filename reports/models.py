"""Report runs (one stored PDF per kind, period, scope and language) and fuel supply contracts."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fleet import choices as fleet_choices
from fleet.models import Department, Municipality, Vehicle


class ReportKind(models.TextChoices):
    FUEL = "fuel", _("Monthly fuel report")
    MAINTENANCE = "maintenance", _("Monthly maintenance report")
    MOVEMENT = "movement", _("Vehicle movement sheet")


class ReportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Generating")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class ReportRun(models.Model):
    """One generated report. Unique per municipality, kind, period, scope and language: asking
    again for the same report returns this row; regenerating it is an explicit action that
    replaces the file and keeps the row (and a movement sheet's number)."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="+", verbose_name=_("municipality")
    )
    kind = models.CharField(_("report"), max_length=20, choices=ReportKind.choices)
    # "2025-02" for a month, "2025-02-14" for a day (movement sheets only).
    period = models.CharField(_("period"), max_length=10)
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("until"))
    # "all", "department:<id>" or "vehicle:<id>": NULL foreign keys never collide in a unique
    # constraint, so the scope is spelt out for it.
    scope = models.CharField(_("scope"), max_length=40, default="all")
    department = models.ForeignKey(
        Department,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    vehicle = models.ForeignKey(
        Vehicle,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("vehicle"),
    )
    language = models.CharField(_("language"), max_length=8, default="el")
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ReportStatus.choices,
        default=ReportStatus.PENDING,
        db_index=True,
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    stage = models.CharField(_("stage"), max_length=60, blank=True)
    file = models.FileField(_("PDF"), upload_to="reports/%Y/%m/", blank=True)
    # The tables and headline figures of the PDF, for the API and the CSV/XLSX exports.
    data = models.JSONField(_("figures"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    # Movement sheets: the sheet's number in its vehicle's series for the year (kept when
    # regenerated).
    sequence = models.PositiveIntegerField(_("number"), null=True, blank=True)
    sequence_year = models.PositiveSmallIntegerField(_("year of the number"), null=True, blank=True)
    generations = models.PositiveIntegerField(_("times generated"), default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("e-mailed"), null=True, blank=True)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["-period_start", "kind", "scope"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "kind", "period", "scope", "language"],
                name="reportrun_unique_report",
            ),
            models.UniqueConstraint(
                fields=["vehicle", "sequence_year", "sequence", "language"],
                condition=Q(kind="movement", sequence__isnull=False),
                name="reportrun_unique_sheet_number",
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="reportrun_progress_at_most_100"
            ),
        ]
        indexes = [models.Index(fields=["municipality", "status"], name="reportrun_muni_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period} ({self.scope})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ReportStatus.DONE, ReportStatus.FAILED)

    @property
    def reference(self) -> str:
        return f"{self.sequence}/{self.sequence_year}" if self.sequence else ""

    def filename(self, extension: str = "pdf", table: str = "") -> str:
        scope = self.scope.replace(":", "-")
        suffix = f"-{table}" if table else ""
        return f"{self.kind}-{self.period}-{scope}-{self.language}{suffix}.{extension}"


class FuelContract(models.Model):
    """A fuel supply contract (σύμβαση προμήθειας καυσίμων): the fuel report shows how much of
    it has been spent. Spend is the sum of fuel entries from the start of the contract (for its
    fuel type, if it has one)."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    reference = models.CharField(_("contract number"), max_length=60)
    supplier = models.CharField(_("supplier"), max_length=200, blank=True)
    fuel_type = models.CharField(
        _("fuel"), max_length=20, choices=fleet_choices.FuelType.choices, blank=True
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    amount = models.DecimalField(
        _("contract amount (€)"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    litres = models.DecimalField(
        _("contract litres"),
        max_digits=12,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("fuel supply contract")
        verbose_name_plural = _("fuel supply contracts")
        ordering = ["-starts_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "reference"], name="fuelcontract_unique_reference"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="fuelcontract_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.reference
