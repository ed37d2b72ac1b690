"""REST API of the motion layer: trips, stops, events, daily summaries, geofences (GeoJSON).

Everything is read through the municipality scope, so another municipality's row is a 404.
Geofences travel as GeoJSON both ways; an upload goes through the same all-or-nothing import as
the rest of the app (``motion_services.geofences_import``).
"""

from __future__ import annotations

import logging
from typing import Any

import django_filters
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from fleet.api_base import ScopedReadOnlyViewSet, ScopedViewSetMixin
from telematics import motion_services
from telematics.motion.geofence import GeofenceError, parse_geojson
from telematics.motion_models import (
    DailySummary,
    Geofence,
    GeofenceRole,
    MotionEvent,
    Stop,
    Trip,
)

log = logging.getLogger("kinisi.motion.api")

# Geofence uploads beyond this are refused before parsing (the parser has its own limit too).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


# ------------------------------------------------------------------------------------------------
# filters


class _TimeRangeFilterSet(django_filters.FilterSet):
    """``vehicle``, and ``since``/``until`` (ISO 8601 with offset) on the row's time field.

    A trip or stop belongs to a range when it overlaps it, so a trip over midnight shows on both
    days.
    """

    vehicle = django_filters.NumberFilter(field_name="vehicle_id")
    device = django_filters.NumberFilter(field_name="device_id")
    since = django_filters.IsoDateTimeFilter(field_name="end_time", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="start_time", lookup_expr="lt")


class TripFilterSet(_TimeRangeFilterSet):
    driver = django_filters.NumberFilter(field_name="driver_id")

    class Meta:
        model = Trip
        fields: list[str] = []


class StopFilterSet(_TimeRangeFilterSet):
    class Meta:
        model = Stop
        fields: list[str] = []


class EventFilterSet(django_filters.FilterSet):
    vehicle = django_filters.NumberFilter(field_name="vehicle_id")
    device = django_filters.NumberFilter(field_name="device_id")
    driver = django_filters.NumberFilter(field_name="driver_id")
    # ``type=overspeed&type=idling`` or ``type=overspeed,idling``
    type = django_filters.BaseInFilter(field_name="type")
    since = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="lt")

    class Meta:
        model = MotionEvent
        fields: list[str] = []


class DailySummaryFilterSet(django_filters.FilterSet):
    vehicle = django_filters.NumberFilter(field_name="vehicle_id")
    date_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = DailySummary
        fields: list[str] = []


# ------------------------------------------------------------------------------------------------
# serializers


class TripSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trip
        fields = [
            "id",
            "vehicle",
            "device",
            "driver",
            "start_time",
            "end_time",
            "start_lat",
            "start_lon",
            "end_lat",
            "end_lon",
            "start_place",
            "end_place",
            "distance_m",
            "gps_distance_m",
            "distance_source",
            "duration_s",
            "moving_s",
            "idle_s",
            "max_speed_kmh",
            "avg_speed_kmh",
            "closed",
        ]
        read_only_fields = fields


class TripDetailSerializer(TripSerializer):
    class Meta(TripSerializer.Meta):
        fields = [*TripSerializer.Meta.fields, "driver_tags", "track"]
        read_only_fields = fields


class StopSerializer(serializers.ModelSerializer):
    # Metres driven during the stop in moves too short to be trips (they count in the day's km).
    moved_m = serializers.SerializerMethodField()

    def get_moved_m(self, stop: Stop) -> float:
        return round(sum(metres for _day, metres in stop.moved), 1)

    class Meta:
        model = Stop
        fields = [
            "id",
            "vehicle",
            "device",
            "start_time",
            "end_time",
            "latitude",
            "longitude",
            "place",
            "duration_s",
            "moved_m",
            "closed",
        ]
        read_only_fields = fields


class MotionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = MotionEvent
        fields = [
            "id",
            "vehicle",
            "device",
            "driver",
            "type",
            "time",
            "latitude",
            "longitude",
            "facts",
        ]
        read_only_fields = fields


class DailySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = DailySummary
        fields = [
            "id",
            "vehicle",
            "day",
            "distance_m",
            "engine_hours",
            "engine_hours_source",
            "moving_s",
            "idle_s",
            "stopped_s",
            "trip_count",
            "first_movement",
            "last_movement",
            "max_speed_kmh",
            "events",
            "odometer_start",
            "odometer_end",
        ]
        read_only_fields = fields


def geofence_feature(fence: Geofence) -> dict[str, Any]:
    """One geofence as a GeoJSON Feature; a circle is its centre Point with a ``radius``, the
    form the import accepts, so what comes out can go back in."""
    properties: dict[str, Any] = {
        "name": fence.name,
        "role": fence.role,
        "active": fence.active,
        "speed_limit_kmh": fence.speed_limit_kmh,
    }
    if fence.radius_m is not None:
        properties["radius"] = fence.radius_m
    return {"type": "Feature", "id": fence.pk, "geometry": fence.geometry, "properties": properties}


def geofence_collection(fences) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [geofence_feature(f) for f in fences]}


class GeofenceUpdateSerializer(serializers.ModelSerializer):
    """Edits a geofence's attributes; a new shape comes as a GeoJSON ``geometry`` (and
    ``radius`` for a circle) and is checked by the same validation as an upload."""

    geometry = serializers.JSONField(required=False)
    radius = serializers.FloatField(required=False, min_value=0.0)

    class Meta:
        model = Geofence
        fields = ["name", "role", "active", "speed_limit_kmh", "geometry", "radius"]

    def validate_speed_limit_kmh(self, value):
        if value is not None and not 5 <= value <= 250:
            raise ValidationError(_("The speed limit must be between 5 and 250 km/h."))
        return value

    def validate(self, attrs):
        if "geometry" not in attrs and "radius" not in attrs:
            return attrs
        fence: Geofence = self.instance
        geometry = attrs.pop("geometry", fence.geometry)
        properties: dict[str, Any] = {"name": attrs.get("name", fence.name)}
        radius = attrs.pop("radius", fence.radius_m)
        if radius is not None:
            properties["radius"] = radius
        feature = {"type": "Feature", "geometry": geometry, "properties": properties}
        try:
            (parsed,) = parse_geojson({"type": "FeatureCollection", "features": [feature]})
        except GeofenceError as exc:
            raise ValidationError({"geometry": exc.render(_)}) from None
        attrs.update(kind=parsed.kind, geometry=parsed.geometry, radius_m=parsed.radius_m)
        return attrs

    def update(self, instance: Geofence, validated_data: dict[str, Any]) -> Geofence:
        """Raises ``Geofence.DoesNotExist`` when the geofence was deleted since it was looked
        up: ``instance.save()`` would silently insert it again. Call inside a transaction."""
        # Locked, so a delete waits for this edit instead of slipping in before the write.
        if not Geofence.objects.select_for_update().filter(pk=instance.pk).exists():
            raise Geofence.DoesNotExist(f"geofence {instance.pk} was deleted")
        validated_data["updated_at"] = timezone.now()
        if not Geofence.objects.filter(pk=instance.pk).update(**validated_data):
            raise Geofence.DoesNotExist(f"geofence {instance.pk} was deleted")
        for field, value in validated_data.items():
            setattr(instance, field, value)
        return instance


# ------------------------------------------------------------------------------------------------
# views


class _MotionReadOnlyViewSet(ScopedReadOnlyViewSet):
    """What the pipeline computes is read-only through the API."""

    read_capability = "telematics.view"
    # No write method exists here. Declaring a write capability lets a PATCH or DELETE reach the
    # object lookup, so another municipality's row answers 404 exactly like a GET (not 403, which
    # would confirm it exists); one's own row answers 405.
    write_capability = "telematics.view"

    def http_method_not_allowed(self, request, *args, **kwargs):
        if self.kwargs.get(self.lookup_url_kwarg or self.lookup_field) is not None:
            self.get_object()
        return super().http_method_not_allowed(request, *args, **kwargs)


class TripViewSet(_MotionReadOnlyViewSet):
    """Detected trips, newest first. Filters: ``vehicle``, ``device``, ``driver``, ``since``,
    ``until`` (a trip is listed when it overlaps the range)."""

    queryset = Trip.objects.all()
    filterset_class = TripFilterSet
    ordering_fields = ["start_time", "distance_m", "duration_s"]
    ordering = ["-start_time"]
    search_fields: list[str] = []

    def get_serializer_class(self):
        return TripDetailSerializer if self.action == "retrieve" else TripSerializer


class StopViewSet(_MotionReadOnlyViewSet):
    """Stops, newest first. Filters: ``vehicle``, ``device``, ``since``, ``until``."""

    queryset = Stop.objects.all()
    serializer_class = StopSerializer
    filterset_class = StopFilterSet
    ordering_fields = ["start_time", "duration_s"]
    ordering = ["-start_time"]
    search_fields: list[str] = []


class MotionEventViewSet(_MotionReadOnlyViewSet):
    """Events, newest first. Filters: ``vehicle``, ``device``, ``driver``, ``type`` (one or a
    comma-separated list), ``since``, ``until``."""

    queryset = MotionEvent.objects.all()
    serializer_class = MotionEventSerializer
    filterset_class = EventFilterSet
    ordering_fields = ["time"]
    ordering = ["-time"]
    search_fields: list[str] = []


class DailySummaryViewSet(_MotionReadOnlyViewSet):
    """One row per vehicle and day (municipality's time zone). Filters: ``vehicle``,
    ``date_from``, ``date_to`` (inclusive)."""

    queryset = DailySummary.objects.all()
    serializer_class = DailySummarySerializer
    filterset_class = DailySummaryFilterSet
    ordering_fields = ["day", "distance_m"]
    ordering = ["-day", "vehicle_id"]
    search_fields: list[str] = []


class GeofenceFilterSet(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=GeofenceRole.choices)
    active = django_filters.BooleanFilter()

    class Meta:
        model = Geofence
        fields: list[str] = []


class GeofenceViewSet(
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Geofences as GeoJSON.

    ``GET`` gives a FeatureCollection (one Feature for a single geofence). ``POST`` takes a
    FeatureCollection, a Feature or a bare Polygon and creates every geofence in it, or none when
    any feature is malformed (400 listing each problem). ``PATCH`` edits one geofence.
    """

    queryset = Geofence.objects.all()
    serializer_class = GeofenceUpdateSerializer
    read_capability = "telematics.view"
    write_capability = "geofences.edit"  # the same people as on the geofences page
    filterset_class = GeofenceFilterSet
    pagination_class = None  # a map layer wants the whole collection in one document
    ordering = ["name"]
    search_fields = ["name"]

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        description="A GeoJSON FeatureCollection.",
        operation_id="geofences_list",
    )
    def list(self, request, *args, **kwargs):
        fences = self.filter_queryset(self.get_queryset())
        return Response(geofence_collection(fences))

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, description="A GeoJSON Feature.")
    def retrieve(self, request, *args, **kwargs):
        return Response(geofence_feature(self.get_object()))

    @extend_schema(
        request={
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": OpenApiTypes.OBJECT,
        },
        responses={201: OpenApiTypes.OBJECT},
        description=(
            "A GeoJSON FeatureCollection, Feature or Polygon (JSON body, or a multipart `file`). "
            "A circle is a Point with a `radius` property in metres. `?role=` sets the role of "
            "features that do not give one. All or nothing: a 400 lists every problem."
        ),
    )
    def create(self, request, *args, **kwargs):
        municipality = request.user.municipality
        if municipality is None:
            raise ValidationError(
                {"non_field_errors": [_("Only a user of a municipality can import geofences.")]}
            )
        data: Any
        if request.content_type and request.content_type.startswith("multipart/"):
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationError({"file": [_("Attach a GeoJSON file.")]})
            data = upload.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                raise ValidationError({"file": [_("The file is too large.")]})
        else:
            data = request.body
            if len(data) > MAX_UPLOAD_BYTES:
                raise ValidationError({"non_field_errors": [_("The file is too large.")]})
        role = request.query_params.get("role", GeofenceRole.GENERAL)
        if role not in GeofenceRole.values:
            raise ValidationError({"role": [_("Unknown geofence role.")]})
        try:
            created = motion_services.geofences_import(
                municipality=municipality, data=data, role=role
            )
        except GeofenceError as exc:
            log.info(
                "motion.geofence_upload_rejected municipality=%s user=%s problems=%d",
                municipality.pk,
                request.user.pk,
                len(exc.problems),
            )
            raise ValidationError(
                {
                    "detail": _("The GeoJSON was not imported; nothing was changed."),
                    "problems": exc.render(_),  # in the language of Accept-Language
                }
            ) from None
        return Response(geofence_collection(created), status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        fence = self.get_object()
        serializer = self.get_serializer(fence, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                serializer.save()
        except Geofence.DoesNotExist:
            log.info("motion.geofence_update_gone geofence=%s user=%s", fence.pk, request.user.pk)
            return Response(
                {
                    "detail": _(
                        "This geofence was deleted by someone else meanwhile; your changes "
                        "were not saved."
                    )
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        log.info("motion.geofence_updated geofence=%s user=%s", fence.pk, request.user.pk)
        return Response(geofence_feature(fence))

    def perform_destroy(self, instance):
        log.info("motion.geofence_deleted geofence=%s user=%s", instance.pk, self.request.user.pk)
        instance.delete()
