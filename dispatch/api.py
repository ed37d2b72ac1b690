"""Routing API: ``POST /api/v1/routes/``, ``POST /api/v1/routes/matrix/``, ``GET /api/v1/streets/``.

Each view parses its input and calls one selector of :mod:`dispatch.routing.selectors`. Every
call is scoped to the requesting user's municipality: its road graph is the only one reachable.
"""

from __future__ import annotations

import logging
import math

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch.routing import selectors
from dispatch.routing.registry import RoutingUnavailable
from dispatch.routing.router import Metric
from fleet.api_base import ScopedRelatedField
from fleet.models import Municipality, Vehicle
from fleet.permissions import has_capability

logger = logging.getLogger(__name__)

MAX_ROUTE_POINTS = 50
MAX_MATRIX_POINTS = 500
# Everyone who sees a map gets its street layer: office roles and drivers alike.
MAP_CAPABILITIES = ("telematics.view", "routing.use", "dispatch.view", "driver.self")


class GraphUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The road graph of this municipality is not available.")
    default_code = "graph_unavailable"


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "number"},
        "minItems": 2,
        "maxItems": 2,
        "description": 'A point as [latitude, longitude] (or an object {"lat": .., "lon": ..}).',
        "example": [35.5128, 24.0199],
    }
)
class PointField(serializers.Field):
    """A point as ``[lat, lon]`` or ``{"lat": ..., "lon": ...}``."""

    default_error_messages = {
        "invalid": _('A point is [latitude, longitude] or an object with "lat" and "lon".'),
        "range": _("Latitude must be within ±90 and longitude within ±180."),
    }

    def to_internal_value(self, data):
        try:
            if isinstance(data, dict):
                lat, lon = float(data["lat"]), float(data["lon"])
            elif isinstance(data, list | tuple) and len(data) == 2:
                lat, lon = float(data[0]), float(data[1])
            else:
                self.fail("invalid")
        except (KeyError, TypeError, ValueError):
            self.fail("invalid")
        if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
            self.fail("range")
        return (lat, lon)

    def to_representation(self, value):
        return list(value)


class _ProfileSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=[m.value for m in Metric], default=Metric.TIME.value)
    vehicle = ScopedRelatedField(
        queryset=Vehicle.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Route as this fleet vehicle (its gross weight and height close roads)."),
    )
    weight_t = serializers.FloatField(
        min_value=0, max_value=100, required=False, help_text=_("Vehicle weight in tonnes.")
    )
    height_m = serializers.FloatField(
        min_value=0, max_value=10, required=False, help_text=_("Vehicle height in metres.")
    )

    def profile(self):
        data = self.validated_data
        return selectors.vehicle_profile(
            vehicle=data.get("vehicle"),
            weight_t=data.get("weight_t"),
            height_m=data.get("height_m"),
        )


class RouteRequestSerializer(_ProfileSerializer):
    points = serializers.ListField(child=PointField(), min_length=2, max_length=MAX_ROUTE_POINTS)


class MatrixRequestSerializer(_ProfileSerializer):
    origins = serializers.ListField(child=PointField(), min_length=1, max_length=MAX_MATRIX_POINTS)
    destinations = serializers.ListField(
        child=PointField(),
        min_length=1,
        max_length=MAX_MATRIX_POINTS,
        required=False,
        help_text=_("Defaults to the origins."),
    )


def _municipality(request) -> Municipality:
    """The municipality whose graph the request uses: the user's own. An installation
    superuser with no municipality names one with ``?municipality=<slug>``."""
    user = request.user
    if user.municipality_id is not None:
        return user.municipality
    slug = request.query_params.get("municipality")
    if user.is_superuser and slug:
        try:
            return Municipality.objects.get(slug=slug)
        except Municipality.DoesNotExist:
            raise NotFound(_("No such municipality.")) from None
    raise NotFound(_("No municipality to route in."))


def _unavailable(municipality, exc: RoutingUnavailable) -> GraphUnavailable:
    logger.warning("routing.api_unavailable municipality=%s reason=%s", municipality.slug, exc)
    return GraphUnavailable()


def _nullable(matrix) -> list[list[float | None]]:
    return [[None if math.isnan(v) else round(v, 1) for v in row] for row in matrix.tolist()]


class RouteView(APIView):
    """The best route through two or more points, as a GeoJSON Feature (LineString) whose
    properties carry ``length_m``, ``duration_s``, the legs and where each point met the road.
    No route (a point off the network, a vehicle shut out by limits) is a 422 with
    ``properties.ok = false`` and a ``reason``."""

    read_capability = "routing.use"
    write_capability = "routing.use"

    @extend_schema(
        request=RouteRequestSerializer,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="GeoJSON Feature"),
            422: OpenApiResponse(OpenApiTypes.OBJECT, description="No route; see reason"),
        },
    )
    def post(self, request):
        serializer = RouteRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        municipality = _municipality(request)
        try:
            route = selectors.route_plan(
                municipality=municipality,
                points=serializer.validated_data["points"],
                metric=serializer.validated_data["metric"],
                vehicle=serializer.profile(),
            )
        except RoutingUnavailable as exc:
            raise _unavailable(municipality, exc) from exc
        code = status.HTTP_200_OK if route.ok else status.HTTP_422_UNPROCESSABLE_ENTITY
        return Response(route.to_geojson(), status=code)


class RouteMatrixView(APIView):
    """Durations (s) and lengths (m) from every origin to every destination; ``null`` where a
    point is off the network or there is no route."""

    read_capability = "routing.use"
    write_capability = "routing.use"

    @extend_schema(request=MatrixRequestSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        serializer = MatrixRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        municipality = _municipality(request)
        data = serializer.validated_data
        try:
            matrix = selectors.route_matrix(
                municipality=municipality,
                origins=data["origins"],
                destinations=data.get("destinations"),
                metric=data["metric"],
                vehicle=serializer.profile(),
            )
        except RoutingUnavailable as exc:
            raise _unavailable(municipality, exc) from exc
        return Response(
            {
                "metric": matrix.metric.value,
                "durations_s": _nullable(matrix.durations_s),
                "lengths_m": _nullable(matrix.lengths_m),
                "origins": [s.as_dict() for s in matrix.origins],
                "destinations": [s.as_dict() for s in matrix.destinations],
            }
        )


class SeesMaps(BasePermission):
    def has_permission(self, request, view) -> bool:
        return any(has_capability(request.user, c) for c in MAP_CAPABILITIES)


class GeoJSONRenderer(JSONRenderer):
    media_type = "application/geo+json"
    format = "geojson"


class StreetsView(APIView):
    """The municipality's drivable streets as a GeoJSON FeatureCollection (``name``, ``class``,
    ``oneway`` per stretch): the base map when there is no tile server."""

    permission_classes = [SeesMaps]
    # Lets clients ask for application/geo+json (or plain JSON) without a 406.
    renderer_classes = [GeoJSONRenderer, JSONRenderer]

    @extend_schema(responses=OpenApiResponse(OpenApiTypes.OBJECT, description="GeoJSON"))
    def get(self, request):
        municipality = _municipality(request)
        try:
            layer = selectors.street_layer(municipality=municipality)
        except RoutingUnavailable as exc:
            raise _unavailable(municipality, exc) from exc
        if request.headers.get("If-None-Match") == layer.etag:
            response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
        else:
            response = HttpResponse(layer.body, content_type="application/geo+json")
        response["ETag"] = layer.etag
        response["Cache-Control"] = "private, max-age=3600"
        return response
