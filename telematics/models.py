"""Trackers, their assignment to vehicles, the positions they report and each vehicle's live state.

The gateway writes ``Position`` and ``VehicleLiveState`` rows with raw SQL (see
``telematics/gateway/store.py``, which names these tables and columns): keep the two in step.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Protocol(models.TextChoices):
    OSMAND = "osmand", _("OsmAnd / Traccar Client (HTTP)")
    TELTONIKA = "teltonika", _("Teltonika")
    GT06 = "gt06", _("GT06 / Concox")
    H02 = "h02", _("H02")
    AGENT = "agent", _("Kinisi agent")


class Device(models.Model):
    """A tracker: a hardware unit, a phone running Traccar Client, or a Kinisi agent."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.PROTECT,
        related_name="devices",
        verbose_name=_("municipality"),
    )
    unique_id = models.CharField(
        _("unique id"),
        max_length=64,
        unique=True,
        help_text=_("IMEI, or the device id the phone app or agent sends."),
    )
    protocol = models.CharField(_("protocol"), max_length=20, choices=Protocol.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    # SHA-256 of the token; empty when the device is identified by its id alone (hardware
    # trackers cannot send one).
    auth_token_hash = models.CharField(_("authentication token (hash)"), max_length=64, blank=True)
    active = models.BooleanField(_("active"), default=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The gateway reloads devices changed after the last time it looked; services bump this on
    # every change of the device or of its assignments.
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["unique_id"]

    def __str__(self) -> str:
        return self.name or self.unique_id


class DeviceAssignment(models.Model):
    """A device was in a vehicle from ``valid_from`` until ``valid_to`` (open: still is)."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("municipality"),
    )
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("device")
    )
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.PROTECT,
        related_name="device_assignments",
        verbose_name=_("vehicle"),
    )
    valid_from = models.DateTimeField(_("from"))
    valid_to = models.DateTimeField(_("until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("device assignment")
        verbose_name_plural = _("device assignments")
        ordering = ["device", "-valid_from"]
        indexes = [models.Index(fields=["device", "valid_from"], name="assignment_device_from")]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="assignment_valid_range",
            ),
            # At most one open assignment per device (overlaps are refused by the service).
            models.UniqueConstraint(
                fields=["device"], condition=Q(valid_to__isnull=True), name="assignment_one_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device} → {self.vehicle} ({self.valid_from:%Y-%m-%d})"


class UnknownDevice(models.Model):
    """A tracker that reported but is not registered: shown to administrators to adopt.

    It belongs to no municipality yet; adoption creates the Device in the adopter's municipality
    and deletes this row.
    """

    unique_id = models.CharField(_("unique id"), max_length=64, unique=True)
    protocol = models.CharField(_("protocol"), max_length=20, choices=Protocol.choices)
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    remote_address = models.CharField(_("remote address"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("unknown device")
        verbose_name_plural = _("unknown devices")
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.unique_id} ({self.protocol})"


class Position(models.Model):
    """One fix. The big table (about 78 million rows a month for 300 vehicles at 10 s).

    On PostgreSQL it is partitioned by month of ``fix_time`` (migration 0001 creates it; the
    gateway and ``position_partitions_ensure`` add months) and its primary key there is
    (id, fix_time), as PostgreSQL requires the partition key in every unique key.
    Foreign keys carry no database constraint: a constraint check per inserted row would cost
    ingestion speed, and positions are history that outlives a device's registration anyway
    (PROTECT still refuses to delete a device or vehicle that has positions).
    """

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.PROTECT,
        db_constraint=False,
        related_name="+",
        verbose_name=_("municipality"),
    )
    device = models.ForeignKey(
        Device,
        on_delete=models.PROTECT,
        db_constraint=False,
        related_name="positions",
        verbose_name=_("device"),
    )
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.PROTECT,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="positions",
        verbose_name=_("vehicle"),
    )
    fix_time = models.DateTimeField(_("fix time"))
    server_time = models.DateTimeField(_("received"))
    latitude = models.FloatField(_("latitude"))
    longitude = models.FloatField(_("longitude"))
    speed_kmh = models.FloatField(_("speed (km/h)"), null=True, blank=True)
    course = models.FloatField(_("course (°)"), null=True, blank=True)
    altitude = models.FloatField(_("altitude (m)"), null=True, blank=True)
    accuracy = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    hdop = models.FloatField(_("HDOP"), null=True, blank=True)
    satellites = models.PositiveSmallIntegerField(_("satellites"), null=True, blank=True)
    valid = models.BooleanField(_("valid"), default=True)
    ignition = models.BooleanField(_("ignition"), null=True, blank=True)
    odometer = models.FloatField(_("odometer (m)"), null=True, blank=True)
    engine_hours = models.FloatField(_("engine hours"), null=True, blank=True)
    fuel_level = models.FloatField(_("fuel level (%)"), null=True, blank=True)
    battery = models.FloatField(_("battery (%)"), null=True, blank=True)
    driver_tag = models.CharField(_("driver tag"), max_length=64, blank=True, default="")
    attributes = models.JSONField(_("other values"), default=dict, blank=True)

    class Meta:
        verbose_name = _("position")
        verbose_name_plural = _("positions")
        constraints = [
            models.UniqueConstraint(
                fields=["device", "fix_time"], name="position_unique_device_fix_time"
            )
        ]
        indexes = [models.Index(fields=["vehicle", "fix_time"], name="position_vehicle_fix_time")]

    def __str__(self) -> str:
        return f"{self.device_id} @ {self.fix_time:%Y-%m-%d %H:%M:%S}"


class VehicleLiveState(models.Model):
    """Where each vehicle is now: written by the gateway about once a second."""

    vehicle = models.OneToOneField(
        "fleet.Vehicle",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="live_state",
        verbose_name=_("vehicle"),
    )
    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("municipality"),
    )
    # No database constraint: the gateway upserts these rows in bulk and a device deleted in
    # between must not fail the whole batch.
    device = models.ForeignKey(
        Device,
        on_delete=models.SET_NULL,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("device"),
    )
    fix_time = models.DateTimeField(_("fix time"), null=True, blank=True)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    speed_kmh = models.FloatField(_("speed (km/h)"), null=True, blank=True)
    course = models.FloatField(_("course (°)"), null=True, blank=True)
    ignition = models.BooleanField(_("ignition"), null=True, blank=True)
    moving = models.BooleanField(_("moving"), default=False)
    last_seen = models.DateTimeField(_("last seen"))
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        verbose_name = _("live state")
        verbose_name_plural = _("live states")
        indexes = [
            models.Index(fields=["municipality", "last_seen"], name="live_municipality_seen")
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id}: {self.latitude},{self.longitude}"


# The motion pipeline's tables live in their own module; importing them here registers them
# in this app.
from telematics.motion_models import (  # noqa: E402
    DailySummary,
    DayMeter,
    EngineSession,
    Geofence,
    MotionCatchup,
    MotionCheckpoint,
    MotionEvent,
    MotionSettings,
    Stop,
    Trip,
    WorkingCalendar,
)

__all__ = [
    "DailySummary",
    "DayMeter",
    "Device",
    "DeviceAssignment",
    "EngineSession",
    "Geofence",
    "MotionCatchup",
    "MotionCheckpoint",
    "MotionEvent",
    "MotionSettings",
    "Position",
    "Stop",
    "Trip",
    "UnknownDevice",
    "VehicleLiveState",
    "WorkingCalendar",
]
