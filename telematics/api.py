"""REST API of the telematics app: devices, unknown devices, positions, live state."""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet.api_base import ScopedRelatedField, ScopedViewSetMixin
from fleet.models import Vehicle
from fleet.scoping import scope_queryset
from telematics import selectors, services
from telematics.models import Device, Position, Protocol, UnknownDevice

# GeoJSON and GPX are one document each (no pagination): beyond this many points, ask for a
# shorter range instead of building a response of hundreds of megabytes.
MAX_EXPORT_POINTS = 100_000


class DeviceSerializer(serializers.ModelSerializer):
    vehicle = serializers.SerializerMethodField()
    has_token = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id",
            "unique_id",
            "protocol",
            "name",
            "active",
            "last_seen_at",
            "vehicle",
            "has_token",
        ]
        read_only_fields = ["last_seen_at"]
        validators: list = []
        extra_kwargs = {"unique_id": {"validators": []}}

    def get_vehicle(self, device: Device) -> int | None:
        open_assignments = getattr(device, "open_assignments", None)
        if open_assignments is None:
            open_assignments = list(device.assignments.filter(valid_to__isnull=True))
        return open_assignments[0].vehicle_id if open_assignments else None

    def get_has_token(self, device: Device) -> bool:
        return bool(device.auth_token_hash)

    def create(self, validated_data):
        return services.device_create(
            municipality=self.context["request"].user.municipality,
            unique_id=validated_data["unique_id"],
            protocol=validated_data["protocol"],
            name=validated_data.get("name", ""),
            active=validated_data.get("active", True),
        )

    def update(self, instance, validated_data):
        return services.device_update(
            device=instance, name=validated_data.get("name"), active=validated_data.get("active")
        )


class DeviceAssignSerializer(serializers.Serializer):
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all())
    valid_from = serializers.DateTimeField(required=False)


class UnassignSerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False)


class DeviceViewSet(
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Trackers of the municipality. Devices with history are deactivated, never deleted."""

    queryset = Device.objects.all()
    serializer_class = DeviceSerializer
    read_capability = "telematics.view"
    write_capability = "devices.manage"
    search_fields = ["unique_id", "name"]
    filterset_fields = ["protocol", "active"]
    ordering_fields = ["unique_id", "last_seen_at"]

    def get_queryset(self):
        return selectors.device_list(user=self.request.user)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if "pk" in kwargs:
            # Another municipality's device does not exist, whatever the method (no 405 that
            # would tell it does).
            self.get_object()

    def perform_update(self, serializer):
        if "unique_id" in serializer.validated_data or "protocol" in serializer.validated_data:
            current = serializer.instance
            if (
                serializer.validated_data.get("unique_id", current.unique_id) != current.unique_id
                or serializer.validated_data.get("protocol", current.protocol) != current.protocol
            ):
                raise ValidationError({"unique_id": _("A device's id and protocol are fixed.")})
        serializer.save()

    @extend_schema(request=DeviceAssignSerializer, responses=DeviceSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Put the device in a vehicle from ``valid_from`` (default: now)."""
        device = self.get_object()
        payload = DeviceAssignSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        services.device_assign(
            device=device,
            vehicle=payload.validated_data["vehicle"],
            valid_from=payload.validated_data.get("valid_from"),
        )
        return Response(DeviceSerializer(self.get_object()).data)

    @extend_schema(request=UnassignSerializer, responses=DeviceSerializer)
    @action(detail=True, methods=["post"])
    def unassign(self, request, pk=None):
        device = self.get_object()
        payload = UnassignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.device_unassign(device=device, at=payload.validated_data.get("at"))
        return Response(DeviceSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={200: {"type": "object"}})
    @action(detail=True, methods=["post"])
    def token(self, request, pk=None):
        """Issue a new authentication token (shown once) for an agent or phone."""
        token = services.device_token_issue(device=self.get_object())
        return Response({"token": token})


class UnknownDeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = UnknownDevice
        fields = [
            "id",
            "unique_id",
            "protocol",
            "first_seen",
            "last_seen",
            "attempts",
            "remote_address",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # An unknown tracker may belong to any municipality: its network address is shown to
        # the platform's superusers only, never to another municipality's administrators.
        request = self.context.get("request")
        if request is None or not request.user.is_superuser:
            data.pop("remote_address", None)
        return data


class AdoptSerializer(serializers.Serializer):
    unique_id = serializers.CharField(max_length=64)
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all(), required=False, allow_null=True)


class UnknownDeviceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Trackers that reported without being registered, for an administrator to adopt.

    They belong to no municipality until adopted, so they are addressed by their unique id in
    the request body rather than by a URL of their own.
    """

    queryset = UnknownDevice.objects.all()
    serializer_class = UnknownDeviceSerializer
    read_capability = "devices.manage"
    write_capability = "devices.manage"
    search_fields = ["unique_id"]
    ordering_fields = ["last_seen", "attempts"]

    def get_queryset(self):
        return selectors.unknown_device_list()

    @extend_schema(request=AdoptSerializer, responses={201: DeviceSerializer})
    @action(detail=False, methods=["post"])
    def adopt(self, request):
        """Register the tracker in the administrator's municipality (optionally in a vehicle)."""
        payload = AdoptSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        unknown = get_object_or_404(
            self.get_queryset(), unique_id=payload.validated_data["unique_id"]
        )
        device = services.unknown_device_adopt(
            unknown=unknown,
            municipality=request.user.municipality,
            name=payload.validated_data.get("name", ""),
            vehicle=payload.validated_data.get("vehicle"),
        )
        return Response(DeviceSerializer(device).data, status=201)


class PositionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Position
        fields = [
            "id",
            "device",
            "vehicle",
            "fix_time",
            "server_time",
            "latitude",
            "longitude",
            "speed_kmh",
            "course",
            "altitude",
            "accuracy",
            "hdop",
            "satellites",
            "valid",
            "ignition",
            "odometer",
            "engine_hours",
            "fuel_level",
            "battery",
            "driver_tag",
            "attributes",
        ]


class PositionPagination(CursorPagination):
    """Cursor pagination: no COUNT over the big table, stable while positions keep arriving."""

    ordering = "fix_time"
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000


RANGE_PARAMETERS = [
    OpenApiParameter("vehicle", int, required=True),
    OpenApiParameter("from", datetime, required=True, description="ISO 8601 with zone"),
    OpenApiParameter("to", datetime, required=True, description="ISO 8601 with zone, exclusive"),
]


def _parse_time(request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if not value:
        return None
    parsed = parse_datetime(value.replace(" ", "+"))  # a '+' in a query string arrives as ' '
    if parsed is None:
        raise ValidationError({name: _("Not an ISO 8601 date and time.")})
    return parsed


class PositionRangeMixin:
    read_capability = "telematics.view"

    def positions(self, request):
        try:
            vehicle_id = int(request.query_params.get("vehicle", ""))
        except ValueError:
            raise ValidationError({"vehicle": _("Give the vehicle's id.")})
        vehicle = get_object_or_404(
            scope_queryset(Vehicle.objects.all(), request.user), pk=vehicle_id
        )
        start, end = _parse_time(request, "from"), _parse_time(request, "to")
        return (
            vehicle,
            start,
            end,
            selectors.vehicle_positions(vehicle_id=vehicle.pk, start=start, end=end),
        )

    def export_rows(self, request):
        vehicle, start, end, positions = self.positions(request)
        rows = list(
            positions.values_list(
                "fix_time", "latitude", "longitude", "altitude", "speed_kmh", "course"
            )[: MAX_EXPORT_POINTS + 1]
        )
        if len(rows) > MAX_EXPORT_POINTS:
            raise ValidationError(
                {
                    "range": _("More than %(n)d positions: ask for a shorter range.")
                    % {"n": MAX_EXPORT_POINTS}
                }
            )
        return vehicle, start, end, rows


class PositionListView(PositionRangeMixin, APIView):
    """Positions of one vehicle in [from, to), oldest first, cursor-paginated."""

    @extend_schema(parameters=RANGE_PARAMETERS, responses=PositionSerializer(many=True))
    def get(self, request):
        _vehicle, _start, _end, positions = self.positions(request)
        paginator = PositionPagination()
        page = paginator.paginate_queryset(positions, request, view=self)
        return paginator.get_paginated_response(PositionSerializer(page, many=True).data)


class PositionGeoJsonView(PositionRangeMixin, APIView):
    """The same range as one GeoJSON LineString, with each point's time in ``coordTimes``."""

    @extend_schema(parameters=RANGE_PARAMETERS, responses={200: {"type": "object"}})
    def get(self, request):
        vehicle, start, end, rows = self.export_rows(request)
        # GeoJSON (RFC 7946) orders coordinates longitude, latitude[, altitude].
        coordinates = [
            [lon, lat] if altitude is None else [lon, lat, altitude]
            for _t, lat, lon, altitude, _s, _c in rows
        ]
        feature = {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coordinates},
            "properties": {
                "vehicle": vehicle.pk,
                "label": str(vehicle),
                "from": start.isoformat(),
                "to": end.isoformat(),
                "count": len(rows),
                "coordTimes": [t.isoformat() for t, *_ in rows],
                "speeds_kmh": [s for _t, _la, _lo, _a, s, _c in rows],
            },
        }
        return Response(
            {"type": "FeatureCollection", "features": [feature]},
            content_type="application/geo+json",
        )


class PositionGpxView(PositionRangeMixin, APIView):
    """The same range as a GPX 1.1 track."""

    @extend_schema(parameters=RANGE_PARAMETERS, responses={(200, "application/gpx+xml"): str})
    def get(self, request):
        vehicle, start, end, rows = self.export_rows(request)
        name = escape(str(vehicle))
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            '<gpx version="1.1" creator="Kinisi" xmlns="http://www.topografix.com/GPX/1/1">\n',
            f"<trk><name>{name}</name><trkseg>\n",
        ]
        for fix_time, lat, lon, altitude, _speed, _course in rows:
            elevation = "" if altitude is None else f"<ele>{altitude:.1f}</ele>"
            timestamp = fix_time.strftime("%Y-%m-%dT%H:%M:%SZ")
            parts.append(
                f"<trkpt lat={quoteattr(f'{lat:.7f}')} lon={quoteattr(f'{lon:.7f}')}>"
                f"{elevation}<time>{timestamp}</time></trkpt>\n"
            )
        parts.append("</trkseg></trk>\n</gpx>\n")
        filename = f"vehicle-{vehicle.pk}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.gpx"
        response = HttpResponse("".join(parts), content_type="application/gpx+xml")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class LiveVehicleSerializer(serializers.Serializer):
    vehicle_id = serializers.IntegerField()
    label = serializers.CharField()
    status = serializers.ChoiceField(choices=["moving", "stopped", "offline", "no_data"])
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)
    speed_kmh = serializers.FloatField(allow_null=True)
    course = serializers.FloatField(allow_null=True)
    ignition = serializers.BooleanField(allow_null=True)
    fix_time = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)


class LiveStateView(APIView):
    """Every vehicle of the municipality with its live state (the live map polls this)."""

    read_capability = "telematics.view"

    @extend_schema(responses=LiveVehicleSerializer(many=True))
    def get(self, request):
        vehicles = selectors.live_vehicles(user=request.user)
        return Response(LiveVehicleSerializer(vehicles, many=True).data)


__all__ = [
    "DeviceViewSet",
    "LiveStateView",
    "PositionGeoJsonView",
    "PositionGpxView",
    "PositionListView",
    "Protocol",
    "UnknownDeviceViewSet",
]
