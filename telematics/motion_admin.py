"""Admin for the motion tables (imported by telematics/admin.py).

Trips, stops, events, engine sessions and daily summaries are computed by the pipeline and rebuilt
whenever late data arrives, so the admin shows them read-only: a hand edit would be overwritten.
Their change lists skip the full COUNT, which is slow on big tables.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from telematics.motion.geofence import GeofenceError, parse_geojson
from telematics.motion_models import (
    DailySummary,
    EngineSession,
    Geofence,
    MotionEvent,
    MotionSettings,
    Stop,
    Trip,
    WorkingCalendar,
)


class _ComputedAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_select_related = ["vehicle"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Trip)
class TripAdmin(_ComputedAdmin):
    list_display = [
        "vehicle",
        "start_time",
        "end_time",
        "start_place",
        "end_place",
        "distance_m",
        "max_speed_kmh",
        "driver",
        "closed",
    ]
    list_filter = ["municipality", "closed"]
    list_select_related = ["vehicle", "driver"]
    search_fields = ["vehicle__plate", "start_place", "end_place"]
    date_hierarchy = "start_time"
    exclude = ["track", "day_parts"]


@admin.register(Stop)
class StopAdmin(_ComputedAdmin):
    list_display = ["vehicle", "start_time", "end_time", "place", "duration_s", "closed"]
    list_filter = ["municipality", "closed"]
    search_fields = ["vehicle__plate", "place"]
    date_hierarchy = "start_time"
    exclude = ["day_parts"]


@admin.register(MotionEvent)
class MotionEventAdmin(_ComputedAdmin):
    list_display = ["time", "type", "vehicle", "driver", "latitude", "longitude"]
    list_filter = ["type", "municipality"]
    list_select_related = ["vehicle", "driver"]
    search_fields = ["vehicle__plate"]
    date_hierarchy = "time"


@admin.register(EngineSession)
class EngineSessionAdmin(_ComputedAdmin):
    list_display = ["vehicle", "start_time", "end_time", "hours", "device_hours"]
    list_filter = ["municipality"]
    search_fields = ["vehicle__plate"]
    date_hierarchy = "start_time"


@admin.register(DailySummary)
class DailySummaryAdmin(_ComputedAdmin):
    list_display = [
        "day",
        "vehicle",
        "distance_m",
        "engine_hours",
        "trip_count",
        "first_movement",
        "last_movement",
        "max_speed_kmh",
    ]
    list_filter = ["municipality"]
    search_fields = ["vehicle__plate"]
    date_hierarchy = "day"


class GeofenceAdminForm(forms.ModelForm):
    """Checks the geometry with the same validation as a GeoJSON upload."""

    class Meta:
        model = Geofence
        fields = [
            "municipality",
            "name",
            "role",
            "kind",
            "geometry",
            "radius_m",
            "speed_limit_kmh",
            "active",
        ]

    def clean(self):
        cleaned = super().clean()
        geometry = cleaned.get("geometry")
        if geometry is None:
            return cleaned
        properties = {"name": cleaned.get("name") or "?"}
        if cleaned.get("radius_m") is not None:
            properties["radius"] = cleaned["radius_m"]
        feature = {"type": "Feature", "geometry": geometry, "properties": properties}
        try:
            (parsed,) = parse_geojson({"type": "FeatureCollection", "features": [feature]})
        except GeofenceError as exc:
            raise forms.ValidationError(exc.render(gettext)) from None
        cleaned.update(kind=parsed.kind, geometry=parsed.geometry, radius_m=parsed.radius_m)
        return cleaned


@admin.register(Geofence)
class GeofenceAdmin(admin.ModelAdmin):
    form = GeofenceAdminForm
    list_display = ["name", "role", "kind", "municipality", "speed_limit_kmh", "active"]
    list_filter = ["role", "kind", "active", "municipality"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["municipality", "name", "role", "active", "speed_limit_kmh"]}),
        (
            _("Shape"),
            {
                "fields": ["kind", "geometry", "radius_m"],
                "description": _(
                    "GeoJSON geometry, longitude first: a Polygon or MultiPolygon, or the centre "
                    "Point of a circle with its radius. The shape is worked out from the geometry."
                ),
            },
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(MotionSettings)
class MotionSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "municipality",
        "category",
        "min_trip_distance_m",
        "min_stop_duration_s",
        "max_gap_s",
        "use_ignition",
        "speed_limit_kmh",
    ]
    list_filter = ["municipality"]


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(admin.ModelAdmin):
    list_display = ["municipality", "department"]
    list_filter = ["municipality"]
