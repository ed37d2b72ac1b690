"""Maintenance API: service plans and records, work orders (with parts and their status flow),
ΚΤΕΟ results, expenses, the compliance calendar, dispatch eligibility, reminders and the cost of
ownership. Every write goes through ``fleet.services.maintenance``."""

from __future__ import annotations

from datetime import date

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet.api.fuel import HideForeignObjectsMixin, _int_param, parse_period
from fleet.api_base import ScopedRelatedField, ScopedViewSetMixin
from fleet.models import (
    Document,
    Driver,
    Expense,
    Reminder,
    RoadworthinessTest,
    ServicePlan,
    ServiceRecord,
    Vehicle,
    WorkOrder,
    WorkOrderPart,
)
from fleet.selectors import maintenance as selectors
from fleet.services import maintenance as services


class MaintenanceViewSetMixin(HideForeignObjectsMixin, ScopedViewSetMixin):
    read_capability = "maintenance.view"
    write_capability = "maintenance.edit"


class ServiceBackedSerializer(serializers.ModelSerializer):
    create_service = None
    update_service = None
    instance_kwarg = ""

    def create(self, validated_data):
        municipality = self.context["request"].user.municipality
        return type(self).create_service(municipality=municipality, **validated_data)

    def update(self, instance, validated_data):
        return type(self).update_service(**{self.instance_kwarg: instance}, **validated_data)


def _on(params) -> date:
    try:
        return date.fromisoformat(params["on"]) if params.get("on") else timezone.localdate()
    except ValueError:
        raise ValidationError({"on": "Dates are YYYY-MM-DD."}) from None


# --- Service plans and records --------------------------------------------------------------------


class ServicePlanSerializer(ServiceBackedSerializer):
    create_service = services.service_plan_create
    update_service = services.service_plan_update
    instance_kwarg = "plan"
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all(), required=False, allow_null=True)

    class Meta:
        model = ServicePlan
        exclude = ["municipality"]
        validators: list = []


class ServicePlanViewSet(MaintenanceViewSetMixin, viewsets.ModelViewSet):
    queryset = ServicePlan.objects.select_related("vehicle")
    serializer_class = ServicePlanSerializer
    filterset_fields = ["vehicle", "category", "active"]
    search_fields = ["name"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


class ServiceRecordSerializer(ServiceBackedSerializer):
    create_service = services.service_record_create
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all())
    plan = ScopedRelatedField(queryset=ServicePlan.objects.all(), required=False, allow_null=True)
    work_order = ScopedRelatedField(
        queryset=WorkOrder.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = ServiceRecord
        exclude = ["municipality"]
        read_only_fields = ["created_at"]


class ServiceRecordViewSet(
    MaintenanceViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = ServiceRecord.objects.select_related("vehicle", "plan")
    serializer_class = ServiceRecordSerializer
    filterset_fields = ["vehicle", "plan", "work_order"]


# --- Work orders ----------------------------------------------------------------------------------


class WorkOrderPartSerializer(serializers.ModelSerializer):
    work_order = ScopedRelatedField(queryset=WorkOrder.objects.all())
    total = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = WorkOrderPart
        exclude = ["municipality"]

    def create(self, validated_data):
        order = validated_data.pop("work_order")
        return services.work_order_part_add(order=order, **validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("work_order", None)
        return services.work_order_part_update(part=instance, **validated_data)


class WorkOrderSerializer(serializers.ModelSerializer):
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all())
    reported_by_driver = ScopedRelatedField(
        queryset=Driver.objects.all(), required=False, allow_null=True
    )
    service_plan = ScopedRelatedField(
        queryset=ServicePlan.objects.all(), required=False, allow_null=True
    )
    vehicle_plate = serializers.CharField(source="vehicle.display_plate", read_only=True)
    parts = WorkOrderPartSerializer(many=True, read_only=True)
    costs = serializers.SerializerMethodField()

    class Meta:
        model = WorkOrder
        exclude = ["municipality"]
        read_only_fields = [
            "status",
            "reported_by",
            "reported_at",
            "started_at",
            "closed_at",
            "off_road_from",
            "off_road_until",
            "off_road_days",
            "updated_at",
        ]

    def get_costs(self, obj) -> dict:
        return {k: str(v) for k, v in selectors.work_order_costs(obj).items()}

    def create(self, validated_data):
        request = self.context["request"]
        return services.work_order_report(
            municipality=request.user.municipality, reported_by=request.user, **validated_data
        )

    def update(self, instance, validated_data):
        if "vehicle" in validated_data and validated_data["vehicle"] != instance.vehicle:
            raise ValidationError({"vehicle": "A work order stays with its vehicle."})
        validated_data.pop("vehicle", None)
        validated_data.pop("reported_by_driver", None)
        return services.work_order_update(order=instance, **validated_data)


class WorkOrderCloseSerializer(serializers.Serializer):
    resolution = serializers.CharField(required=False, allow_blank=True)
    odometer_km = serializers.DecimalField(
        max_digits=10, decimal_places=1, required=False, allow_null=True, min_value=0
    )
    engine_hours = serializers.DecimalField(
        max_digits=9, decimal_places=1, required=False, allow_null=True, min_value=0
    )


class WorkOrderViewSet(MaintenanceViewSetMixin, viewsets.ModelViewSet):
    """Defects and work: ``open``, ``start``, ``close`` and ``cancel`` move an order along; an
    order that takes its vehicle off the road makes the vehicle "in maintenance" until it
    closes."""

    queryset = WorkOrder.objects.select_related("vehicle").prefetch_related("parts")
    serializer_class = WorkOrderSerializer
    filterset_fields = ["vehicle", "status", "takes_off_road", "service_plan"]
    search_fields = ["title", "description", "vendor"]
    ordering_fields = ["reported_at", "closed_at"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def _respond(self, order):
        order = self.get_queryset().get(pk=order.pk)
        return Response(self.get_serializer(order).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], url_path="open")
    def open_order(self, request, pk=None):
        return self._respond(services.work_order_open(order=self.get_object()))

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._respond(services.work_order_start(order=self.get_object()))

    @extend_schema(request=WorkOrderCloseSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        order = self.get_object()
        payload = WorkOrderCloseSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._respond(services.work_order_close(order=order, **payload.validated_data))

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._respond(services.work_order_cancel(order=self.get_object()))


class WorkOrderPartViewSet(MaintenanceViewSetMixin, viewsets.ModelViewSet):
    queryset = WorkOrderPart.objects.select_related("work_order")
    serializer_class = WorkOrderPartSerializer
    filterset_fields = ["work_order"]

    def perform_destroy(self, instance):
        services.work_order_part_delete(part=instance)


# --- ΚΤΕΟ and expenses ----------------------------------------------------------------------------


class RoadworthinessTestSerializer(ServiceBackedSerializer):
    create_service = services.roadworthiness_test_record
    update_service = services.roadworthiness_test_update
    instance_kwarg = "test"
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all())

    class Meta:
        model = RoadworthinessTest
        exclude = ["municipality"]
        read_only_fields = ["created_at"]


class RoadworthinessTestViewSet(MaintenanceViewSetMixin, viewsets.ModelViewSet):
    queryset = RoadworthinessTest.objects.select_related("vehicle")
    serializer_class = RoadworthinessTestSerializer
    filterset_fields = ["vehicle", "result"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


class ExpenseSerializer(ServiceBackedSerializer):
    create_service = services.expense_create
    update_service = services.expense_update
    instance_kwarg = "expense"
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all())
    document = ScopedRelatedField(queryset=Document.objects.all(), required=False, allow_null=True)

    class Meta:
        model = Expense
        exclude = ["municipality"]


class ExpenseViewSet(MaintenanceViewSetMixin, viewsets.ModelViewSet):
    queryset = Expense.objects.select_related("vehicle")
    serializer_class = ExpenseSerializer
    filterset_fields = ["vehicle", "kind"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


# --- Calendar, eligibility, reminders, costs ------------------------------------------------------


class ReminderSerializer(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()

    class Meta:
        model = Reminder
        exclude = ["municipality"]
        read_only_fields = [
            "key",
            "vehicle",
            "driver",
            "rule",
            "detail",
            "due_on",
            "created_at",
            "emailed_at",
            "dismissed_at",
            "dismissed_by",
        ]

    def get_subject(self, obj) -> str:
        return selectors.reminder_subject(obj)

    def get_label(self, obj) -> str:
        return selectors.rule_label(obj.rule)


class ReminderViewSet(MaintenanceViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Reminder.objects.select_related("vehicle", "driver").filter(
        dismissed_at__isnull=True
    )
    serializer_class = ReminderSerializer
    filterset_fields = ["vehicle", "driver", "rule"]

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        reminder = services.reminder_dismiss(reminder=self.get_object(), user=request.user)
        return Response(self.get_serializer(reminder).data)


def _item(row, on: date) -> dict:
    item = row.item
    return {
        "subject": row.subject,
        "vehicle": row.vehicle_id,
        "driver": row.driver_id,
        "name": row.name,
        "rule": str(item.rule),
        "label": row.label,
        "detail": item.detail,
        "status": str(item.status),
        "status_label": row.status_label,
        "due_on": item.due_on,
        "days_left": row.days_left(on),
        "window_opens": item.window_opens,
        "window_closes": item.window_closes,
        "blocks_dispatch": item.blocks_dispatch,
        "reference": item.reference,
    }


class ComplianceView(APIView):
    """What is due and overdue across the fleet and the drivers (``horizon`` days ahead)."""

    read_capability = "maintenance.view"

    @extend_schema(
        parameters=[
            OpenApiParameter("on", str, description="YYYY-MM-DD; today by default"),
            OpenApiParameter("horizon", int, description="days ahead, default 30"),
            OpenApiParameter("subject", str, enum=["vehicle", "driver"]),
            OpenApiParameter("all", bool, description="include items that are in order"),
        ],
        responses={200: dict},
    )
    def get(self, request):
        on = _on(request.query_params)
        horizon = _int_param(request.query_params, "horizon")
        subject = request.query_params.get("subject", "")
        if subject not in ("", "vehicle", "driver"):
            raise ValidationError({"subject": "vehicle or driver"})
        municipality = request.user.municipality
        if municipality is None:
            return Response({"on": on, "results": []})
        rows = selectors.compliance_calendar(
            municipality=municipality,
            on=on,
            horizon_days=30 if horizon is None else min(horizon, 3660),
            include_ok=request.query_params.get("all") in ("1", "true"),
            subject=subject,
        )
        return Response({"on": on, "results": [_item(r, on) for r in rows]})


def _ids(params, name: str) -> list[int] | None:
    values = params.getlist(name)
    if not values:
        return None
    if not all(v.isdigit() for v in values):
        raise ValidationError({name: "Expected ids."})
    return [int(v) for v in values]


class EligibilityView(APIView):
    """Whether vehicles (``vehicle=1&vehicle=2``) and drivers may be dispatched on ``on``; with
    exactly one vehicle, drivers are judged for driving that vehicle. An empty list of reasons
    means yes."""

    read_capability = "maintenance.view"

    @extend_schema(
        parameters=[
            OpenApiParameter("on", str),
            OpenApiParameter("vehicle", int, many=True),
            OpenApiParameter("driver", int, many=True),
        ],
        responses={200: dict},
    )
    def get(self, request):
        on = _on(request.query_params)
        municipality_id = request.user.municipality_id
        vehicle_ids = _ids(request.query_params, "vehicle")
        driver_ids = _ids(request.query_params, "driver")
        if municipality_id is None:
            return Response({"on": on, "vehicles": {}, "drivers": {}})

        def encode(result):
            return {
                str(pk): [{"code": r.code, "message": str(r), "due_on": r.due_on} for r in reasons]
                for pk, reasons in result.items()
            }

        vehicles = (
            selectors.vehicles_eligibility(
                municipality_id=municipality_id, on=on, vehicle_ids=vehicle_ids
            )
            if vehicle_ids or driver_ids is None
            else {}
        )
        drivers = {}
        if driver_ids:
            single = (
                Vehicle.objects.filter(municipality_id=municipality_id, pk=vehicle_ids[0]).first()
                if vehicle_ids and len(vehicle_ids) == 1
                else None
            )
            drivers = selectors.drivers_eligibility(
                municipality_id=municipality_id, on=on, driver_ids=driver_ids, vehicle=single
            )
        return Response({"on": on, "vehicles": encode(vehicles), "drivers": encode(drivers)})


class VehicleCostsView(APIView):
    """Cost of ownership per vehicle over ``start``..``end``: fuel, parts, labour, other work
    and documents, with km and cost per km where the odometer readings allow."""

    read_capability = "fuel.view"

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str),
            OpenApiParameter("end", str),
            OpenApiParameter("vehicle", int),
        ],
        responses={200: dict},
    )
    def get(self, request):
        start, end = parse_period(request.query_params, default_days=365)
        if request.user.municipality_id is None:
            return Response({"start": start, "end": end, "results": []})
        rows = selectors.vehicle_costs(
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
                        "vehicle": r.vehicle.pk,
                        "vehicle_plate": r.vehicle.display_plate,
                        # Money as strings, like every other amount in the API: exact.
                        "fuel": str(r.fuel),
                        "parts": str(r.parts),
                        "labour": str(r.labour),
                        "other": str(r.other),
                        "documents": str(r.documents),
                        "total": str(r.total),
                        "km": None if r.km is None else str(r.km),
                        "per_km": None if r.per_km is None else str(r.per_km),
                    }
                    for r in rows
                ],
            }
        )
