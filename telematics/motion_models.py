"""What the motion pipeline stores: trips, stops, events, engine sessions, day meters, the
checkpoints that make rebuilds exact, geofences, working calendars, detector settings and
daily summaries.

Imported by ``telematics/models.py`` so Django registers these models in the telematics app.
The logic lives in ``telematics/motion/`` (pure) and ``telematics/motion_services.py``; these
are plain tables. Every output row carries ``emitted_at`` (see ``telematics/motion/pipeline.py``)
so a rebuild from a checkpoint deletes exactly what it recomputes.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class GeofenceRole(models.TextChoices):
    GENERAL = "general", _("General")
    DEPOT = "depot", _("Depot")
    LANDFILL = "landfill", _("Landfill (ΧΥΤΑ)")
    TRANSFER_STATION = "transfer_station", _("Transfer station")
    SCHOOL = "school", _("School")
    RESTRICTED = "restricted", _("Restricted zone")
    # Crossings of the municipality's boundary are their own event types.
    BOUNDARY = "boundary", _("Municipal boundary")


class GeofenceKind(models.TextChoices):
    POLYGON = "polygon", _("Polygon")
    CIRCLE = "circle", _("Circle")


class Geofence(models.Model):
    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="geofences",
        verbose_name=_("municipality"),
    )
    name = models.CharField(_("name"), max_length=200)
    role = models.CharField(
        _("role"), max_length=30, choices=GeofenceRole.choices, default=GeofenceRole.GENERAL
    )
    kind = models.CharField(_("shape"), max_length=10, choices=GeofenceKind.choices)
    # GeoJSON geometry, longitude first: Polygon/MultiPolygon, or the centre Point of a circle.
    geometry = models.JSONField(_("geometry (GeoJSON)"))
    radius_m = models.FloatField(_("radius (m)"), null=True, blank=True)
    speed_limit_kmh = models.FloatField(_("speed limit (km/h)"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("geofence")
        verbose_name_plural = _("geofences")
        ordering = ["name"]
        indexes = [models.Index(fields=["municipality", "active"], name="geofence_municipality")]

    def __str__(self) -> str:
        return self.name


class MotionSettings(models.Model):
    """Trip detector and event thresholds of a municipality; a row with a vehicle category
    overrides the municipality's row (no category) for that category. Empty fields fall back
    to the next level, then to the detector's defaults."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="motion_settings",
        verbose_name=_("municipality"),
    )
    category = models.CharField(_("vehicle category"), max_length=30, blank=True)
    min_trip_distance_m = models.FloatField(_("minimum trip distance (m)"), null=True, blank=True)
    min_trip_duration_s = models.FloatField(_("minimum trip duration (s)"), null=True, blank=True)
    min_stop_duration_s = models.FloatField(_("minimum stop duration (s)"), null=True, blank=True)
    max_gap_s = models.FloatField(_("data gap that splits trips (s)"), null=True, blank=True)
    use_ignition = models.BooleanField(_("use ignition"), null=True, blank=True)
    speed_limit_kmh = models.FloatField(_("speed limit (km/h)"), null=True, blank=True)
    overspeed_min_duration_s = models.FloatField(
        _("minimum overspeed duration (s)"), null=True, blank=True
    )
    idle_min_duration_s = models.FloatField(_("idling reported after (s)"), null=True, blank=True)
    offline_after_s = models.FloatField(_("tracker offline after (s)"), null=True, blank=True)

    class Meta:
        verbose_name = _("motion settings")
        verbose_name_plural = _("motion settings")
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "category"], name="motion_settings_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.municipality_id} {self.category or '*'}"


class WorkingCalendar(models.Model):
    """Working hours of a department (or, without one, of the whole municipality).

    ``week``: seven lists (Monday first) of ``["HH:MM", "HH:MM"]`` shifts. Greek public
    holidays are always off; ``extra_holidays`` and ``extra_working_days`` are ISO dates.
    """

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="working_calendars",
        verbose_name=_("municipality"),
    )
    department = models.OneToOneField(
        "fleet.Department",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="working_calendar",
        verbose_name=_("department"),
    )
    week = models.JSONField(_("weekly hours"), default=list)
    extra_holidays = models.JSONField(_("extra holidays"), default=list, blank=True)
    extra_working_days = models.JSONField(_("extra working days"), default=list, blank=True)

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")
        constraints = [
            models.UniqueConstraint(
                fields=["municipality"],
                condition=Q(department__isnull=True),
                name="calendar_one_default",
            )
        ]

    def __str__(self) -> str:
        return f"{self.municipality_id} {self.department_id or '*'}"

    def clean(self) -> None:
        """Refuses what the motion processing cannot read: it would log the row and work with
        the default hours instead, unseen by whoever saved it."""
        from datetime import date

        from telematics.motion_services import calendar_from_row

        errors = {}
        for field in ("extra_holidays", "extra_working_days"):
            values = getattr(self, field)
            try:
                if not isinstance(values, list):
                    raise TypeError(values)
                for value in values:
                    date.fromisoformat(value)
            except (TypeError, ValueError):
                errors[field] = _("Expected a list of dates written YYYY-MM-DD.")
        week = self.week
        try:
            # Lists all the way down: calendar_from_row would also unpack a two-key object.
            if not isinstance(week, list) or not all(
                isinstance(day, list) and all(isinstance(shift, list) for shift in day)
                for day in week
            ):
                raise TypeError(week)
            if week:  # empty: the default hours
                calendar_from_row(WorkingCalendar(week=week), "UTC")
        except (AttributeError, TypeError, ValueError):
            errors["week"] = _(
                "Expected a list of seven days, Monday first; each day a list of "
                '["HH:MM", "HH:MM"] shifts (start, end, the end after the start), and [] for a '
                'day off. Monday to Friday 07:00-15:00 is [[["07:00", "15:00"]], '
                '[["07:00", "15:00"]], [["07:00", "15:00"]], [["07:00", "15:00"]], '
                '[["07:00", "15:00"]], [], []].'
            )
        if errors:
            raise ValidationError(errors)


class _Output(models.Model):
    """Common columns of everything the pipeline emits for a device."""

    municipality = models.ForeignKey(
        "fleet.Municipality", on_delete=models.CASCADE, related_name="+"
    )
    device = models.ForeignKey(
        "telematics.Device", on_delete=models.CASCADE, related_name="+", verbose_name=_("device")
    )
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("vehicle"),
    )
    emitted_at = models.DateTimeField()
    # False: the trip or stop still open at the last fix (replaced on every update).
    closed = models.BooleanField(default=True)

    class Meta:
        abstract = True


class Trip(_Output):
    driver = models.ForeignKey(
        "fleet.Driver",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("driver"),
    )
    start_time = models.DateTimeField(_("start"))
    end_time = models.DateTimeField(_("end"))
    start_lat = models.FloatField()
    start_lon = models.FloatField()
    end_lat = models.FloatField()
    end_lon = models.FloatField()
    start_place = models.CharField(_("from"), max_length=200, blank=True)
    end_place = models.CharField(_("to"), max_length=200, blank=True)
    distance_m = models.FloatField(_("distance (m)"))
    gps_distance_m = models.FloatField(_("GPS distance (m)"))
    distance_source = models.CharField(max_length=10)
    duration_s = models.FloatField(_("duration (s)"))
    moving_s = models.FloatField(_("moving (s)"))
    idle_s = models.FloatField(_("idle (s)"))
    max_speed_kmh = models.FloatField(_("maximum speed (km/h)"))
    avg_speed_kmh = models.FloatField(_("average speed (km/h)"))
    driver_tags = models.JSONField(default=list, blank=True)
    # [[POSIX seconds, latitude, longitude], ...], simplified.
    track = models.JSONField(default=list, blank=True)
    # [{"day", "start", "end", "distance_m", "moving_s", "idle_s", "max_speed_kmh"}, ...]
    day_parts = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("trip")
        verbose_name_plural = _("trips")
        ordering = ["start_time"]
        indexes = [
            models.Index(fields=["vehicle", "start_time"], name="trip_vehicle_start"),
            models.Index(fields=["device", "emitted_at"], name="trip_device_emitted"),
            models.Index(fields=["municipality", "start_time"], name="trip_municipality_start"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.start_time:%Y-%m-%d %H:%M}"


class Stop(_Output):
    start_time = models.DateTimeField(_("start"))
    end_time = models.DateTimeField(_("end"))
    latitude = models.FloatField()
    longitude = models.FloatField()
    place = models.CharField(_("place"), max_length=200, blank=True)
    duration_s = models.FloatField(_("duration (s)"))
    day_parts = models.JSONField(default=list, blank=True)  # [["YYYY-MM-DD", seconds], ...]
    # Moves too short to be trips made during the stop: [["YYYY-MM-DD", metres], ...].
    moved = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("stop")
        verbose_name_plural = _("stops")
        ordering = ["start_time"]
        indexes = [
            models.Index(fields=["vehicle", "start_time"], name="stop_vehicle_start"),
            models.Index(fields=["device", "emitted_at"], name="stop_device_emitted"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.start_time:%Y-%m-%d %H:%M}"


class MotionEvent(_Output):
    driver = models.ForeignKey(
        "fleet.Driver",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("driver"),
    )
    type = models.CharField(_("type"), max_length=30)
    time = models.DateTimeField(_("time"))
    latitude = models.FloatField()
    longitude = models.FloatField()
    facts = models.JSONField(_("facts"), default=dict, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["time"]
        indexes = [
            models.Index(fields=["municipality", "time"], name="event_municipality_time"),
            models.Index(fields=["vehicle", "time"], name="event_vehicle_time"),
            models.Index(fields=["device", "emitted_at"], name="event_device_emitted"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.vehicle_id} {self.time:%Y-%m-%d %H:%M}"


class EngineSession(_Output):
    start_time = models.DateTimeField(_("start"))
    end_time = models.DateTimeField(_("end"))
    hours = models.FloatField(_("hours"))
    device_hours = models.FloatField(_("hours by the device's meter"), null=True, blank=True)

    class Meta:
        verbose_name = _("engine session")
        verbose_name_plural = _("engine sessions")
        indexes = [
            models.Index(fields=["vehicle", "start_time"], name="engine_vehicle_start"),
            models.Index(fields=["device", "emitted_at"], name="engine_device_emitted"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.start_time:%Y-%m-%d %H:%M}"


class DayMeter(_Output):
    day = models.DateField(_("day"))
    odometer_first = models.FloatField(null=True, blank=True)
    odometer_last = models.FloatField(null=True, blank=True)
    engine_hours_first = models.FloatField(null=True, blank=True)
    engine_hours_last = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name = _("day meter")
        verbose_name_plural = _("day meters")
        indexes = [
            models.Index(fields=["vehicle", "day"], name="daymeter_vehicle_day"),
            models.Index(fields=["device", "emitted_at"], name="daymeter_device_emitted"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.day}"


class MotionCheckpoint(models.Model):
    """The pipeline's state right after the device's fix at ``time`` (JSON)."""

    device = models.ForeignKey(
        "telematics.Device", on_delete=models.CASCADE, related_name="motion_checkpoints"
    )
    time = models.DateTimeField()
    state = models.JSONField()

    class Meta:
        verbose_name = _("motion checkpoint")
        verbose_name_plural = _("motion checkpoints")
        constraints = [
            models.UniqueConstraint(fields=["device", "time"], name="checkpoint_device_time")
        ]

    def __str__(self) -> str:
        return f"{self.device_id} {self.time:%Y-%m-%d %H:%M:%S}"


class DailySummary(models.Model):
    """One vehicle's local day: what the monthly reports read instead of raw positions."""

    municipality = models.ForeignKey(
        "fleet.Municipality", on_delete=models.CASCADE, related_name="+"
    )
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.CASCADE,
        related_name="daily_summaries",
        verbose_name=_("vehicle"),
    )
    day = models.DateField(_("day"))
    distance_m = models.FloatField(_("distance (m)"), default=0.0)
    engine_hours = models.FloatField(_("engine hours"), default=0.0)
    engine_hours_source = models.CharField(max_length=10, default="none")
    moving_s = models.FloatField(_("moving (s)"), default=0.0)
    idle_s = models.FloatField(_("idle (s)"), default=0.0)
    stopped_s = models.FloatField(_("stopped (s)"), default=0.0)
    trip_count = models.PositiveIntegerField(_("trips"), default=0)
    first_movement = models.DateTimeField(_("first movement"), null=True, blank=True)
    last_movement = models.DateTimeField(_("last movement"), null=True, blank=True)
    max_speed_kmh = models.FloatField(_("maximum speed (km/h)"), default=0.0)
    events = models.JSONField(_("events by type"), default=dict, blank=True)
    odometer_start = models.FloatField(null=True, blank=True)
    odometer_end = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("daily summary")
        verbose_name_plural = _("daily summaries")
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["vehicle", "day"], name="summary_vehicle_day")
        ]
        indexes = [models.Index(fields=["municipality", "day"], name="summary_municipality_day")]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.day}"


class MotionCatchup(models.Model):
    """The motion catch-up's note per device (``telematics.motion_catchup``): it enqueued the
    processing of the stored positions up to ``through`` at ``enqueued_at``, so it does not
    enqueue the same range again before the retry interval."""

    device = models.OneToOneField(
        "telematics.Device", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    through = models.DateTimeField()
    enqueued_at = models.DateTimeField()

    class Meta:
        verbose_name = _("motion catch-up")
        verbose_name_plural = _("motion catch-ups")

    def __str__(self) -> str:
        return f"{self.device_id} {self.through:%Y-%m-%d %H:%M:%S}"
