"""Fuel: stations and the municipality's own tanks, fuel cards and their providers' statement
layouts, import runs, fuel entries, and the anomalies found in them."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fleet.models.register import Driver, Municipality, Vehicle


class FuelSource(models.TextChoices):
    MANUAL = "manual", _("Entered by hand")
    CARD = "card", _("Fuel card")
    TANK = "tank", _("Municipal tank")


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")


class AnomalyKind(models.TextChoices):
    OVER_CAPACITY = "over_capacity", _("More litres than the tank holds")
    FAR_FROM_STATION = "far_from_station", _("Vehicle far from the station")
    MOVING = "moving", _("Vehicle moving during the refuel")
    TOO_SOON = "too_soon", _("Refuel sooner than the fuel could be burnt")
    CONSUMPTION_NORM = "consumption_norm", _("Consumption off the norm")
    CONSUMPTION_HISTORY = "consumption_history", _("Consumption off the vehicle's history")
    FUEL_DROP = "fuel_drop", _("Fuel level dropped while parked")
    ODOMETER_BACKWARDS = "odometer_backwards", _("Meter reading went backwards")
    ODOMETER_MISMATCH = "odometer_mismatch", _("Meter reading disagrees with the tracker")


class AnomalyStatus(models.TextChoices):
    OPEN = "open", _("Open")
    JUSTIFIED = "justified", _("Justified")
    CONFIRMED = "confirmed", _("Confirmed")


class DateOrder(models.TextChoices):
    DMY = "dmy", _("day/month/year")
    MDY = "mdy", _("month/day/year")
    YMD = "ymd", _("year-month-day")


class DecimalSeparator(models.TextChoices):
    AUTO = "auto", _("detect")
    COMMA = ",", _("comma (12,50)")
    POINT = ".", _("point (12.50)")


class FuelStation(models.Model):
    """A filling station the fleet uses, or one of the municipality's own tanks."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    name = models.CharField(_("name"), max_length=200)
    brand = models.CharField(_("brand"), max_length=60, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    is_municipal_tank = models.BooleanField(_("municipal tank"), default=False)
    capacity_l = models.DecimalField(
        _("tank capacity (l)"),
        max_digits=9,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("fuel station")
        verbose_name_plural = _("fuel stations")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["municipality", "name"], name="fuelstation_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class FuelCardProvider(models.Model):
    """A fuel-card company and how its statements are laid out (mapped once, then reused)."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    name = models.CharField(_("name"), max_length=100)
    # Our field -> the header text in the provider's files (see fleet.fuel_import.FIELDS).
    columns = models.JSONField(_("column mapping"), default=dict, blank=True)
    date_order = models.CharField(
        _("date order"), max_length=3, choices=DateOrder.choices, default=DateOrder.DMY
    )
    decimal_separator = models.CharField(
        _("decimal separator"),
        max_length=4,
        choices=DecimalSeparator.choices,
        default=DecimalSeparator.AUTO,
    )
    encoding = models.CharField(
        _("encoding"), max_length=20, default="auto", help_text=_("“auto” detects it.")
    )
    sheet = models.CharField(_("XLSX sheet"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("fuel card provider")
        verbose_name_plural = _("fuel card providers")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "name"], name="fuelprovider_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class FuelCard(models.Model):
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    provider = models.ForeignKey(
        FuelCardProvider,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cards",
        verbose_name=_("provider"),
    )
    # Stored without spaces or dashes (fleet.fuel_import.normalize_card), as statements vary.
    number = models.CharField(_("card number"), max_length=40)
    vehicle = models.ForeignKey(
        Vehicle,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fuel_cards",
        verbose_name=_("vehicle"),
    )
    active = models.BooleanField(_("active"), default=True)
    notes = models.CharField(_("notes"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("fuel card")
        verbose_name_plural = _("fuel cards")
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "number"], name="fuelcard_unique_number"
            )
        ]

    def __str__(self) -> str:
        return self.number


class FuelImportRun(models.Model):
    """One uploaded statement and what became of it; the per-row error report stays here."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    provider = models.ForeignKey(
        FuelCardProvider,
        on_delete=models.PROTECT,
        related_name="imports",
        verbose_name=_("provider"),
    )
    file = models.FileField(_("file"), upload_to="fuel_imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_imported = models.PositiveIntegerField(_("imported"), default=0)
    rows_duplicate = models.PositiveIntegerField(_("duplicates skipped"), default=0)
    rows_failed = models.PositiveIntegerField(_("rows with errors"), default=0)
    # [{"line": 12, "code": "unknown_plate", "field": "plate", "value": "...", "message": ...}]
    errors = models.JSONField(_("errors"), default=list, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    first_at = models.DateTimeField(null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("fuel card import")
        verbose_name_plural = _("fuel card imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.created_at:%Y-%m-%d})" if self.created_at else ""


class FuelEntry(models.Model):
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.PROTECT, related_name="fuel_entries", verbose_name=_("vehicle")
    )
    driver = models.ForeignKey(
        Driver,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fuel_entries",
        verbose_name=_("driver"),
    )
    filled_at = models.DateTimeField(_("date and time"))
    litres = models.DecimalField(
        _("litres"), max_digits=8, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    unit_price = models.DecimalField(
        _("price per litre (€)"),
        max_digits=7,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    amount = models.DecimalField(
        _("amount (€)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    station = models.ForeignKey(
        FuelStation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("station"),
    )
    station_name = models.CharField(_("station (as printed)"), max_length=200, blank=True)
    odometer_km = models.DecimalField(
        _("odometer (km)"),
        max_digits=10,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    engine_hours = models.DecimalField(
        _("hour meter (h)"),
        max_digits=9,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    full_tank = models.BooleanField(_("full tank"), default=False)
    source = models.CharField(
        _("source"), max_length=10, choices=FuelSource.choices, default=FuelSource.MANUAL
    )
    card = models.ForeignKey(
        FuelCard,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("fuel card"),
    )
    card_number = models.CharField(_("card number"), max_length=40, blank=True)
    transaction_id = models.CharField(_("transaction"), max_length=80, blank=True)
    # Identity of a card transaction (fleet.fuel_import.dedupe_key): a second import skips it.
    dedupe_key = models.CharField(max_length=40, blank=True)
    import_run = models.ForeignKey(
        FuelImportRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("import"),
    )
    import_line = models.PositiveIntegerField(_("line in file"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entered by"),
    )
    created_at = models.DateTimeField(_("entered"), auto_now_add=True)

    class Meta:
        verbose_name = _("fuel entry")
        verbose_name_plural = _("fuel entries")
        ordering = ["-filled_at"]
        indexes = [
            models.Index(fields=["vehicle", "filled_at"], name="fuelentry_vehicle_time"),
            models.Index(fields=["municipality", "filled_at"], name="fuelentry_muni_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="fuelentry_unique_transaction",
            ),
            models.CheckConstraint(condition=Q(litres__gt=0), name="fuelentry_litres_positive"),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="fuelentry_amount_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.litres} l"


class FuelAnomaly(models.Model):
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.CASCADE, related_name="fuel_anomalies", verbose_name=_("vehicle")
    )
    fuel_entry = models.ForeignKey(
        FuelEntry,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="anomalies",
        verbose_name=_("fuel entry"),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=AnomalyKind.choices)
    # Stable identity of the finding (fleet.anomalies.Finding.key): checks re-run idempotently.
    key = models.CharField(max_length=120)
    occurred_at = models.DateTimeField(_("when"))
    detected_at = models.DateTimeField(_("detected"), auto_now_add=True)
    facts = models.JSONField(_("facts"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=AnomalyStatus.choices, default=AnomalyStatus.OPEN
    )
    note = models.TextField(_("note"), blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("fuel anomaly")
        verbose_name_plural = _("fuel anomalies")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["municipality", "status"], name="fuelanomaly_muni_status")]
        constraints = [
            models.UniqueConstraint(fields=["vehicle", "key"], name="fuelanomaly_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.vehicle}"
