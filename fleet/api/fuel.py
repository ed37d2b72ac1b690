"""Fuel API: entries, stations, cards, provider layouts, statement imports, anomalies and
consumption. Every write goes through ``fleet.services.fuel``."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet import fuel_import
from fleet.api_base import ScopedRelatedField, ScopedViewSetMixin
from fleet.models import (
    Driver,
    FuelAnomaly,
    FuelCard,
    FuelCardProvider,
    FuelEntry,
    FuelImportRun,
    FuelStation,
    Vehicle,
)
from fleet.models.fuel import AnomalyStatus
from fleet.selectors import fuel as selectors
from fleet.services import fuel as services


class HideForeignObjectsMixin:
    """Another municipality's object is a 404 whatever the method: a method this endpoint does
    not take (405) is only admitted once the object is known to be the user's own, so the
    answer never tells whether an id exists elsewhere."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        lookup = getattr(self, "lookup_url_kwarg", None) or getattr(self, "lookup_field", "pk")
        if lookup in kwargs and hasattr(self, "get_object"):
            self.get_object()
        return super().http_method_not_allowed(request, *args, **kwargs)


class FuelViewSetMixin(HideForeignObjectsMixin, ScopedViewSetMixin):
    read_capability = "fuel.view"
    write_capability = "fuel.edit"


def parse_period(params, *, default_days: int = 30) -> tuple[date, date]:
    """``start`` and ``end`` (ISO dates, inclusive) from the query; the last 30 days if absent."""
    today = timezone.localdate()
    try:
        end = date.fromisoformat(params["end"]) if params.get("end") else today
        start = (
            date.fromisoformat(params["start"])
            if params.get("start")
            else end - timedelta(days=default_days - 1)
        )
    except ValueError:
        raise ValidationError({"start": "Dates are YYYY-MM-DD."}) from None
    if end < start:
        raise ValidationError({"end": "The end is before the start."})
    if (end - start).days > 3660:
        raise ValidationError({"start": "At most ten years at a time."})
    return start, end


def _int_param(params, name: str) -> int | None:
    value = params.get(name, "")
    if value in ("", None):
        return None
    if not str(value).isdigit():
        raise ValidationError({name: "Expected an id."})
    return int(value)


# --- Entries --------------------------------------------------------------------------------------


class FuelEntrySerializer(serializers.ModelSerializer):
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all())
    driver = ScopedRelatedField(queryset=Driver.objects.all(), required=False, allow_null=True)
    station = ScopedRelatedField(
        queryset=FuelStation.objects.all(), required=False, allow_null=True
    )
    card = ScopedRelatedField(queryset=FuelCard.objects.all(), required=False, allow_null=True)
    vehicle_plate = serializers.CharField(source="vehicle.display_plate", read_only=True)

    class Meta:
        model = FuelEntry
        fields = [
            "id",
            "vehicle",
            "vehicle_plate",
            "driver",
            "filled_at",
            "litres",
            "unit_price",
            "amount",
            "station",
            "station_name",
            "odometer_km",
            "engine_hours",
            "full_tank",
            "source",
            "card",
            "card_number",
            "transaction_id",
            "import_run",
            "import_line",
            "notes",
            "created_at",
        ]
        read_only_fields = [
            "card_number",
            "transaction_id",
            "import_run",
            "import_line",
            "created_at",
        ]

    def create(self, validated_data):
        request = self.context["request"]
        return services.fuel_entry_record(
            municipality=request.user.municipality, created_by=request.user, **validated_data
        )

    def update(self, instance, validated_data):
        return services.fuel_entry_update(entry=instance, **validated_data)


class FuelEntryFilter(filters.FilterSet):
    filled_after = filters.IsoDateTimeFilter(field_name="filled_at", lookup_expr="gte")
    filled_before = filters.IsoDateTimeFilter(field_name="filled_at", lookup_expr="lt")

    class Meta:
        model = FuelEntry
        fields = ["vehicle", "driver", "source", "station", "import_run", "full_tank"]


class FuelEntryViewSet(FuelViewSetMixin, viewsets.ModelViewSet):
    queryset = FuelEntry.objects.select_related("vehicle").order_by("-filled_at", "-pk")
    serializer_class = FuelEntrySerializer
    filterset_class = FuelEntryFilter
    search_fields = ["station_name", "transaction_id", "card_number", "vehicle__plate"]
    ordering_fields = ["filled_at", "litres", "amount"]

    def perform_destroy(self, instance):
        services.fuel_entry_delete(entry=instance)


# --- Stations, cards, providers -------------------------------------------------------------------


class ServiceBackedSerializer(serializers.ModelSerializer):
    create_service = None
    update_service = None
    instance_kwarg = ""

    def create(self, validated_data):
        municipality = self.context["request"].user.municipality
        return type(self).create_service(municipality=municipality, **validated_data)

    def update(self, instance, validated_data):
        return type(self).update_service(**{self.instance_kwarg: instance}, **validated_data)


class FuelStationSerializer(ServiceBackedSerializer):
    create_service = services.fuel_station_create
    update_service = services.fuel_station_update
    instance_kwarg = "station"

    class Meta:
        model = FuelStation
        exclude = ["municipality"]
        validators: list = []


class FuelStationViewSet(FuelViewSetMixin, viewsets.ModelViewSet):
    queryset = FuelStation.objects.all()
    serializer_class = FuelStationSerializer
    filterset_fields = ["is_municipal_tank", "active"]
    search_fields = ["name", "brand", "address"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


class FuelCardSerializer(ServiceBackedSerializer):
    create_service = services.fuel_card_create
    update_service = services.fuel_card_update
    instance_kwarg = "card"
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all(), required=False, allow_null=True)
    provider = ScopedRelatedField(
        queryset=FuelCardProvider.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = FuelCard
        exclude = ["municipality"]
        validators: list = []


class FuelCardViewSet(FuelViewSetMixin, viewsets.ModelViewSet):
    queryset = FuelCard.objects.select_related("vehicle", "provider")
    serializer_class = FuelCardSerializer
    filterset_fields = ["vehicle", "provider", "active"]
    search_fields = ["number"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


class FuelCardProviderSerializer(ServiceBackedSerializer):
    create_service = services.fuel_provider_create
    update_service = services.fuel_provider_update
    instance_kwarg = "provider"
    fields_available = serializers.SerializerMethodField()

    class Meta:
        model = FuelCardProvider
        exclude = ["municipality"]
        validators: list = []

    def get_fields_available(self, obj) -> list[str]:
        return list(fuel_import.FIELDS)


class FuelCardProviderViewSet(FuelViewSetMixin, viewsets.ModelViewSet):
    queryset = FuelCardProvider.objects.all()
    serializer_class = FuelCardProviderSerializer
    search_fields = ["name"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


# --- Imports --------------------------------------------------------------------------------------


class FuelImportRunSerializer(serializers.ModelSerializer):
    provider = ScopedRelatedField(queryset=FuelCardProvider.objects.all())
    file = serializers.FileField(write_only=True)

    class Meta:
        model = FuelImportRun
        fields = [
            "id",
            "provider",
            "file",
            "original_name",
            "created_at",
            "status",
            "started_at",
            "finished_at",
            "rows_total",
            "rows_imported",
            "rows_duplicate",
            "rows_failed",
            "errors",
            "error_code",
            "error_message",
        ]
        read_only_fields = [f for f in fields if f not in ("provider", "file")]

    def create(self, validated_data):
        request = self.context["request"]
        return services.fuel_import_upload(
            municipality=request.user.municipality,
            provider=validated_data["provider"],
            upload=validated_data["file"],
            user=request.user,
        )


def _preview_row(row, vehicles: dict[int, str]) -> dict:
    if isinstance(row, fuel_import.RowError):
        return {"line": row.line, "ok": False, **row.as_dict()}
    return {
        "line": row.line,
        "ok": True,
        "occurred_at": row.occurred_at.isoformat(),
        "vehicle": row.vehicle_id,
        "vehicle_plate": vehicles.get(row.vehicle_id, ""),
        "matched_by": row.matched_by,
        "litres": str(row.litres),
        "unit_price": None if row.unit_price is None else str(row.unit_price),
        "amount": None if row.amount is None else str(row.amount),
        "station": row.station,
        "card_number": row.card_number,
        "transaction_id": row.transaction_id,
    }


class FuelImportViewSet(
    FuelViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Upload a statement (multipart: ``provider``, ``file``), look at its ``preview``, then
    ``execute`` it; the run's ``errors`` list each bad row with its line and reason."""

    queryset = FuelImportRun.objects.select_related("provider")
    serializer_class = FuelImportRunSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    filterset_fields = ["provider", "status"]

    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        run = self.get_object()
        preview = selectors.fuel_import_preview(run=run)
        return Response(
            {
                "headers": preview.headers,
                "mapping_fits": preview.mapping_fits,
                "error_code": preview.error_code,
                "error_message": preview.error_message,
                "rows": [_preview_row(r, preview.vehicles) for r in preview.rows],
            }
        )

    @action(detail=True, methods=["post"])
    def execute(self, request, pk=None):
        from fleet import tasks

        run = self.get_object()
        run_id = run.pk
        transaction.on_commit(lambda: tasks.fuel_import_execute.delay(run_id))
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)


# --- Anomalies ------------------------------------------------------------------------------------


class FuelAnomalySerializer(serializers.ModelSerializer):
    vehicle_plate = serializers.CharField(source="vehicle.display_plate", read_only=True)

    class Meta:
        model = FuelAnomaly
        fields = [
            "id",
            "vehicle",
            "vehicle_plate",
            "fuel_entry",
            "kind",
            "occurred_at",
            "detected_at",
            "facts",
            "status",
            "note",
            "resolved_by",
            "resolved_at",
        ]
        read_only_fields = fields


class AnomalyResolveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AnomalyStatus.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class FuelAnomalyViewSet(FuelViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = FuelAnomaly.objects.select_related("vehicle")
    serializer_class = FuelAnomalySerializer
    filterset_fields = ["status", "kind", "vehicle", "fuel_entry"]
    ordering_fields = ["occurred_at", "detected_at"]

    @extend_schema(request=AnomalyResolveSerializer, responses=FuelAnomalySerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        anomaly = self.get_object()
        payload = AnomalyResolveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        anomaly = services.fuel_anomaly_resolve(
            anomaly=anomaly, user=request.user, **payload.validated_data
        )
        return Response(self.get_serializer(anomaly).data)


# --- Consumption ----------------------------------------------------------------------------------


class ConsumptionView(APIView):
    """Consumption per vehicle over ``start``..``end`` (l/100 km, or l/h for machinery), with
    its norm and its own history."""

    read_capability = "fuel.view"

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="YYYY-MM-DD"),
            OpenApiParameter("end", str, description="YYYY-MM-DD"),
            OpenApiParameter("vehicle", int),
        ],
        responses={200: dict},
    )
    def get(self, request):
        start, end = parse_period(request.query_params)
        if request.user.municipality_id is None:
            return Response({"start": start, "end": end, "results": []})
        rows = selectors.consumption_report(
            municipality_id=request.user.municipality_id,
            start=start,
            end=end,
            vehicle_id=_int_param(request.query_params, "vehicle"),
        )
        return Response(
            {
                "start": start,
                "end": end,
                "results": [
                    {
                        "vehicle": row.vehicle.pk,
                        "vehicle_plate": row.vehicle.display_plate,
                        "litres": str(row.litres),
                        "amount": str(row.amount),
                        "refuels": row.refuels,
                        "consumption": row.result.value if row.result else None,
                        "unit": row.vehicle.norm_unit,
                        "usage": row.result.usage if row.result else None,
                        "method": row.result.method if row.result else None,
                        "norm": row.norm,
                        "off_norm_pct": row.off_norm_pct,
                        "history_median": row.history_median,
                        "off_history_pct": row.off_history_pct,
                    }
                    for row in rows
                ],
            }
        )
