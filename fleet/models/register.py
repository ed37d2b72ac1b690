from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fleet import choices
from fleet.validators import validate_document_file


class Municipality(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    name_en = models.CharField(_("name in English"), max_length=200, blank=True)
    slug = models.SlugField(_("short name"), unique=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Athens")
    logo = models.ImageField(_("logo"), upload_to="logos/", blank=True)
    osm_file = models.CharField(
        _("OSM extract"),
        max_length=300,
        blank=True,
        help_text=_("Path of the OpenStreetMap extract, relative to the data/osm folder."),
    )
    # Bounding box of the street network (south, west, north, east), used to clip the graph.
    bbox_south = models.FloatField(_("south"), null=True, blank=True)
    bbox_west = models.FloatField(_("west"), null=True, blank=True)
    bbox_north = models.FloatField(_("north"), null=True, blank=True)
    bbox_east = models.FloatField(_("east"), null=True, blank=True)
    boundary = models.JSONField(_("boundary (GeoJSON)"), null=True, blank=True)
    center_lat = models.FloatField(_("centre latitude"), null=True, blank=True)
    center_lon = models.FloatField(_("centre longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("municipality")
        verbose_name_plural = _("municipalities")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        values = (self.bbox_south, self.bbox_west, self.bbox_north, self.bbox_east)
        return None if any(v is None for v in values) else values  # type: ignore[return-value]


class Department(models.Model):
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.CASCADE,
        related_name="departments",
        verbose_name=_("municipality"),
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(_("code"), max_length=20, blank=True)
    head = models.ForeignKey(
        "fleet.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("head of department"),
    )
    depot_lat = models.FloatField(_("depot latitude"), null=True, blank=True)
    depot_lon = models.FloatField(_("depot longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["municipality", "name"], name="department_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("municipality"),
    )
    role = models.CharField(
        _("role"), max_length=20, choices=choices.Role.choices, default=choices.Role.AUDITOR
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("department"),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


class Vehicle(models.Model):
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.PROTECT,
        related_name="vehicles",
        verbose_name=_("municipality"),
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="vehicles",
        verbose_name=_("department"),
    )
    kind = models.CharField(
        _("kind"),
        max_length=20,
        choices=choices.VehicleKind.choices,
        default=choices.VehicleKind.VEHICLE,
    )
    plate = models.CharField(_("plate"), max_length=16, blank=True)
    machinery_plate = models.CharField(_("machinery plate (ΜΕ)"), max_length=16, blank=True)
    vin = models.CharField(_("VIN or serial number"), max_length=40, blank=True)
    category = models.CharField(
        _("category"), max_length=30, choices=choices.VehicleCategory.choices
    )
    make = models.CharField(_("make"), max_length=60, blank=True)
    model = models.CharField(_("model"), max_length=60, blank=True)
    year = models.PositiveSmallIntegerField(
        _("year"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1950), MaxValueValidator(2100)],
    )
    fuel_type = models.CharField(
        _("fuel"),
        max_length=20,
        choices=choices.FuelType.choices,
        default=choices.FuelType.DIESEL,
    )
    tank_capacity_l = models.DecimalField(
        _("tank capacity (l)"),
        max_digits=7,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    meter = models.CharField(
        _("meter"), max_length=10, choices=choices.Meter.choices, default=choices.Meter.ODOMETER
    )
    odometer_km = models.DecimalField(
        _("odometer (km)"),
        max_digits=10,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    engine_hours = models.DecimalField(
        _("engine hours"),
        max_digits=9,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    gross_weight_kg = models.PositiveIntegerField(_("gross weight (kg)"), null=True, blank=True)
    height_m = models.DecimalField(
        _("height (m)"),
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    seats = models.PositiveSmallIntegerField(_("seats"), null=True, blank=True)
    payload_kg = models.PositiveIntegerField(_("payload (kg)"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=choices.VehicleStatus.choices,
        default=choices.VehicleStatus.AVAILABLE,
        db_index=True,
    )
    first_registration = models.DateField(_("first registration"), null=True, blank=True)
    acquisition_date = models.DateField(_("acquisition date"), null=True, blank=True)
    acquisition_cost = models.DecimalField(
        _("acquisition cost (€)"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    consumption_norm = models.DecimalField(
        _("consumption norm"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Litres per 100 km for road vehicles, litres per hour for machinery."),
    )
    has_tachograph = models.BooleanField(_("has tachograph"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        ordering = ["plate", "machinery_plate"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "plate"],
                condition=~Q(plate=""),
                name="vehicle_unique_plate",
            ),
            models.UniqueConstraint(
                fields=["municipality", "machinery_plate"],
                condition=~Q(machinery_plate=""),
                name="vehicle_unique_machinery_plate",
            ),
        ]

    def __str__(self) -> str:
        return self.display_plate or f"#{self.pk}"

    def clean(self) -> None:
        if not self.plate and not self.machinery_plate:
            raise ValidationError({"plate": _("Enter a plate or a machinery (ΜΕ) plate.")})

    @property
    def display_plate(self) -> str:
        return self.plate or self.machinery_plate

    @property
    def uses_hours(self) -> bool:
        return self.meter == choices.Meter.HOURS

    @property
    def norm_unit(self) -> str:
        return "l/h" if self.uses_hours else "l/100 km"


class Driver(models.Model):
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.PROTECT,
        related_name="drivers",
        verbose_name=_("municipality"),
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="drivers",
        verbose_name=_("department"),
    )
    user = models.OneToOneField(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="driver",
        verbose_name=_("login"),
    )
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    employee_number = models.CharField(_("employee number"), max_length=30)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    licence_number = models.CharField(_("licence number"), max_length=30, blank=True)
    pei_expiry = models.DateField(_("PEI (code 95) expiry"), null=True, blank=True)
    operator_licence_specialty = models.CharField(
        _("machinery operator specialty"), max_length=60, blank=True
    )
    operator_licence_group = models.CharField(
        _("machinery operator group"), max_length=20, blank=True
    )
    operator_licence_expiry = models.DateField(
        _("machinery operator licence expiry"), null=True, blank=True
    )
    tag_id = models.CharField(_("identification tag"), max_length=40, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("driver")
        verbose_name_plural = _("drivers")
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "employee_number"], name="driver_unique_employee_number"
            ),
            models.UniqueConstraint(
                fields=["municipality", "tag_id"],
                condition=~Q(tag_id=""),
                name="driver_unique_tag",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.last_name} {self.first_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class DriverLicence(models.Model):
    """One licence category a driver holds, with its own expiry."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="+", verbose_name=_("municipality")
    )
    driver = models.ForeignKey(
        Driver, on_delete=models.CASCADE, related_name="licences", verbose_name=_("driver")
    )
    category = models.CharField(
        _("category"), max_length=4, choices=choices.LicenceCategory.choices
    )
    expires_on = models.DateField(_("expires on"))

    class Meta:
        verbose_name = _("licence category")
        verbose_name_plural = _("licence categories")
        ordering = ["category"]
        constraints = [
            models.UniqueConstraint(fields=["driver", "category"], name="licence_unique_category")
        ]

    def __str__(self) -> str:
        return f"{self.category} ({self.expires_on:%d/%m/%Y})"


class Document(models.Model):
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.PROTECT,
        related_name="documents",
        verbose_name=_("municipality"),
    )
    vehicle = models.ForeignKey(
        Vehicle,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="documents",
        verbose_name=_("vehicle"),
    )
    driver = models.ForeignKey(
        Driver,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="documents",
        verbose_name=_("driver"),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=choices.DocumentKind.choices)
    number = models.CharField(_("number"), max_length=60, blank=True)
    issued_on = models.DateField(_("issued on"), null=True, blank=True)
    expires_on = models.DateField(_("expires on"), null=True, blank=True, db_index=True)
    file = models.FileField(
        _("file"), upload_to="documents/%Y/%m/", blank=True, validators=[validate_document_file]
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["expires_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vehicle__isnull=False, driver__isnull=True)
                | Q(vehicle__isnull=True, driver__isnull=False),
                name="document_belongs_to_vehicle_or_driver",
            ),
            models.CheckConstraint(
                condition=Q(issued_on__isnull=True)
                | Q(expires_on__isnull=True)
                | Q(expires_on__gte=models.F("issued_on")),
                name="document_expiry_after_issue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}".strip()

    def clean(self) -> None:
        errors = {}
        if (self.vehicle_id is None) == (self.driver_id is None):
            errors["vehicle"] = _("A document belongs to exactly one vehicle or one driver.")
        if self.issued_on and self.expires_on and self.expires_on < self.issued_on:
            errors["expires_on"] = _("The expiry date cannot be before the issue date.")
        owner = self.vehicle or self.driver
        if (
            owner is not None
            and self.municipality_id
            and owner.municipality_id != self.municipality_id
        ):
            errors["vehicle" if self.vehicle_id else "driver"] = _(
                "The vehicle or driver belongs to another municipality."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def owner(self) -> Vehicle | Driver | None:
        return self.vehicle or self.driver
