"""Dispatch API: jobs (with suggestions, assignment, transitions and the audit trail), movement
orders, plans, shifts, recurring jobs, unload sites, vehicles' queues and the board snapshot.

Each endpoint parses its input and calls one service or selector. Every queryset is scoped to the
user's municipality (another municipality's object is a 404); drivers see only their own jobs.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch import selectors, services
from dispatch.choices import JobStatus, MovementOrderStatus, PlanStatus
from dispatch.models import (
    DispatchSettings,
    Job,
    JobEvent,
    MovementOrder,
    Plan,
    RecurrenceRule,
    Shift,
    UnloadSite,
)
from fleet.api_base import ScopedRelatedField, ScopedViewSetMixin
from fleet.choices import Role
from fleet.models import Department, Driver, Vehicle
from fleet.permissions import has_capability
from fleet.scoping import scope_queryset

log = logging.getLogger(__name__)

# What a driver may do to their own jobs; everything else needs dispatch.edit.
DRIVER_ACTIONS = frozenset({"transition", "note", "photo"})


def _any(user, *capabilities: str) -> bool:
    return any(has_capability(user, c) for c in capabilities)


class HiddenBeforeMethodMixin:
    """An object route answers 404 for an object the user cannot see, whatever the method: a
    method the route does not support must not reveal that the object exists elsewhere."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        if kwargs.get(self.lookup_url_kwarg or self.lookup_field):
            self.get_object()
        return super().http_method_not_allowed(request, *args, **kwargs)


class ConflictMixin:
    """Maps the services' assignment errors onto HTTP answers."""

    def conflict(self, exc: services.AssignmentConflict) -> Response:
        return Response(
            {"detail": exc.message, "code": exc.code, "details": exc.details},
            status=status.HTTP_409_CONFLICT,
        )

    def refused(self, exc: services.AssignmentRefused) -> Response:
        return Response(
            {
                "detail": exc.message,
                "code": "refused",
                "reasons": [
                    {"code": r.code, "message": selectors.reason_text(r)} for r in exc.reasons
                ],
            },
            status=status.HTTP_400_BAD_REQUEST,
        )


# --- jobs --------------------------------------------------------------------------------------


class JobPermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if request.method in SAFE_METHODS:
            return _any(user, "dispatch.view", "driver.self")
        if getattr(view, "action", None) in DRIVER_ACTIONS:
            return _any(user, "dispatch.edit", "driver.self")
        return has_capability(user, "dispatch.edit")


class JobEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = JobEvent
        fields = [
            "id",
            "at",
            "actor",
            "actor_kind",
            "action",
            "from_status",
            "to_status",
            "vehicle",
            "reason",
            "data",
        ]

    def get_actor(self, event) -> str:
        return event.actor.get_username() if event.actor else ""


class JobSerializer(serializers.ModelSerializer):
    department = ScopedRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True
    )
    photo = serializers.FileField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "source",
            "title",
            "description",
            "department",
            "requester_name",
            "requester_phone",
            "address",
            "latitude",
            "longitude",
            "window_start",
            "window_end",
            "service_minutes",
            "priority",
            "vehicle_category",
            "load_kg",
            "seats_needed",
            "required_licence",
            "status",
            "status_reason",
            "vehicle",
            "driver",
            "queue_position",
            "planned_start",
            "plan",
            "assigned_at",
            "override_reason",
            "started_at",
            "arrived_at",
            "completed_at",
            "driver_note",
            "photo",
            "recurrence",
            "occurrence_date",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "status_reason",
            "vehicle",
            "driver",
            "queue_position",
            "planned_start",
            "plan",
            "assigned_at",
            "override_reason",
            "started_at",
            "arrived_at",
            "completed_at",
            "driver_note",
            "recurrence",
            "occurrence_date",
            "created_at",
            "updated_at",
        ]

    def create(self, validated_data):
        request = self.context["request"]
        return services.job_create(
            municipality=request.user.municipality, actor=request.user, **validated_data
        )

    def update(self, instance, validated_data):
        return services.job_update(
            job=instance, actor=self.context["request"].user, **validated_data
        )


class JobFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=JobStatus.choices)

    class Meta:
        model = Job
        fields = ["status", "kind", "vehicle", "driver", "department", "source", "priority"]


class AssignSerializer(serializers.Serializer):
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all())
    driver = ScopedRelatedField(queryset=Driver.objects.all(), required=False, allow_null=True)
    expected_version = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    override_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    reassign = serializers.BooleanField(required=False, default=False)


class TransitionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=JobStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)


class JobViewSet(HiddenBeforeMethodMixin, ConflictMixin, ScopedViewSetMixin, viewsets.ModelViewSet):
    """Jobs. A job is never deleted (it is cancelled, with a reason, and stays in the audit
    trail); DELETE answers 405."""

    queryset = Job.objects.select_related("vehicle", "driver", "department")
    serializer_class = JobSerializer
    filterset_class = JobFilter
    search_fields = ["title", "address", "requester_name", "description"]
    ordering_fields = ["created_at", "priority", "window_start", "status"]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_permissions(self):
        return [JobPermission()]

    def get_queryset(self):
        qs = super().get_queryset()
        user = self.request.user
        if not has_capability(user, "dispatch.view") and has_capability(user, "driver.self"):
            qs = qs.filter(driver__user=user)
        return qs

    def destroy(self, request, *args, **kwargs):
        self.get_object()
        raise MethodNotAllowed("DELETE", detail=_("Jobs are cancelled, never deleted."))

    @extend_schema(
        responses={200: inline_serializer("Suggestions", {"job": serializers.IntegerField()})}
    )
    @action(detail=True, methods=["get"])
    def suggestions(self, request, pk=None):
        """Vehicles that can take the job, best first, and the others with their reasons."""
        job = self.get_object()
        found = selectors.job_suggestions(job=job)
        return Response(selectors.suggestions_payload(found))

    @extend_schema(request=AssignSerializer, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        job = self.get_object()
        data = AssignSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        try:
            result = services.job_assign(job=job, actor=request.user, **data.validated_data)
        except services.AssignmentConflict as exc:
            return self.conflict(exc)
        except services.AssignmentRefused as exc:
            return self.refused(exc)
        body = JobSerializer(result.job, context={"request": request}).data
        body["queue_version"] = result.queue_version
        body["overridden"] = result.overridden
        return Response(body)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def unassign(self, request, pk=None):
        job = self.get_object()
        try:
            job = services.job_unassign(
                job=job, actor=request.user, reason=str(request.data.get("reason", ""))
            )
        except services.AssignmentConflict as exc:
            return self.conflict(exc)
        return Response(JobSerializer(job, context={"request": request}).data)

    @extend_schema(request=TransitionSerializer, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the job along new → assigned → en route → on site → done (or cancelled/failed
        with a reason). Drivers may move their own jobs, but not cancel them."""
        job = self.get_object()
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        to = data.validated_data["status"]
        if to == JobStatus.CANCELLED and not has_capability(request.user, "dispatch.edit"):
            raise ApiPermissionDenied(_("Only the dispatch office cancels jobs."))
        try:
            job = services.job_transition(
                job=job,
                to_status=to,
                actor=request.user,
                reason=data.validated_data.get("reason", ""),
            )
        except DjangoPermissionDenied as exc:
            raise ApiPermissionDenied(str(exc))
        return Response(JobSerializer(job, context={"request": request}).data)

    @extend_schema(request=NoteSerializer, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def note(self, request, pk=None):
        job = self.get_object()
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = services.job_note_add(
                job=job, actor=request.user, text=data.validated_data["text"]
            )
        except DjangoPermissionDenied as exc:
            raise ApiPermissionDenied(str(exc))
        return Response(JobSerializer(job, context={"request": request}).data)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"photo": {"type": "string", "format": "binary"}},
            }
        },
        responses={200: JobSerializer},
    )
    @action(detail=True, methods=["post"])
    def photo(self, request, pk=None):
        job = self.get_object()
        upload = request.FILES.get("photo")
        if upload is None:
            return Response({"photo": [_("Attach a photo.")]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            job = services.job_photo_add(job=job, actor=request.user, photo=upload)
        except DjangoPermissionDenied as exc:
            raise ApiPermissionDenied(str(exc))
        return Response(JobSerializer(job, context={"request": request}).data)

    @extend_schema(responses={200: JobEventSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The job's audit trail: who changed what, and when."""
        job = self.get_object()
        return Response(JobEventSerializer(selectors.job_events(job=job), many=True).data)


# --- vehicles' queues and the board ------------------------------------------------------------


class QueueSerializer(serializers.Serializer):
    jobs = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)
    expected_version = serializers.IntegerField(required=False, allow_null=True)


class VehicleQueueView(ConflictMixin, APIView):
    """``GET`` a vehicle's queue in order; ``POST {"jobs": [...]}`` to reorder it."""

    read_capability = "dispatch.view"
    write_capability = "dispatch.edit"
    url_kwarg_models = {"vehicle_id": "fleet.Vehicle"}
    serializer_class = QueueSerializer  # for the schema; each method documents its own shapes

    def vehicle(self, vehicle_id: int) -> Vehicle:
        return get_object_or_404(
            scope_queryset(Vehicle.objects.all(), self.request.user), pk=vehicle_id
        )

    def http_method_not_allowed(self, request, *args, **kwargs):
        self.vehicle(kwargs["vehicle_id"])
        return super().http_method_not_allowed(request, *args, **kwargs)

    @extend_schema(responses={200: JobSerializer(many=True)})
    def get(self, request, vehicle_id: int):
        vehicle = self.vehicle(vehicle_id)
        jobs = selectors.queued_jobs(
            municipality_id=vehicle.municipality_id, vehicle_ids=[vehicle.pk]
        )
        version = selectors.queue_versions([vehicle.pk]).get(vehicle.pk, 0)
        return Response(
            {
                "vehicle": vehicle.pk,
                "queue_version": version,
                "jobs": JobSerializer(
                    sorted(jobs, key=selectors._queue_key), many=True, context={"request": request}
                ).data,
            }
        )

    @extend_schema(
        request=QueueSerializer,
        responses={
            200: inline_serializer(
                "QueueVersion",
                {
                    "vehicle": serializers.IntegerField(),
                    "queue_version": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request, vehicle_id: int):
        vehicle = self.vehicle(vehicle_id)
        data = QueueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = services.job_reorder(
                vehicle=vehicle,
                job_ids=data.validated_data["jobs"],
                actor=request.user,
                expected_version=data.validated_data.get("expected_version"),
            )
        except services.AssignmentConflict as exc:
            return self.conflict(exc)
        return Response({"vehicle": vehicle.pk, "queue_version": version})


class BoardSnapshotView(APIView):
    """Everything the board draws, as the WebSocket's first message sends it."""

    read_capability = "dispatch.view"

    @extend_schema(
        responses={200: inline_serializer("BoardSnapshot", {"type": serializers.CharField()})}
    )
    def get(self, request):
        municipality = request.user.municipality
        if municipality is None:
            return Response({"detail": _("No municipality.")}, status=status.HTTP_400_BAD_REQUEST)
        return Response(selectors.board_snapshot(municipality=municipality))


class GeocodeView(APIView):
    """``GET ?q=Χάληδων 20``: places by street and number from the municipality's street data."""

    read_capability = "dispatch.view"

    @extend_schema(
        responses={200: inline_serializer("Place", {"label": serializers.CharField()}, many=True)}
    )
    def get(self, request):
        query = request.query_params.get("q", "")[:200]
        municipality = request.user.municipality
        if municipality is None:
            return Response([])
        places = selectors.geocode(municipality=municipality, query=query)
        return Response(
            [{"label": p.label, "lat": p.lat, "lon": p.lon, "exact": p.exact} for p in places]
        )


class DispatchSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = DispatchSettings
        exclude = ["municipality"]


class DispatchSettingsView(APIView):
    read_capability = "dispatch.view"
    write_capability = "municipality.edit"

    @extend_schema(responses={200: DispatchSettingsSerializer})
    def get(self, request):
        current = selectors.dispatch_settings(request.user.municipality)
        return Response(DispatchSettingsSerializer(current).data)

    @extend_schema(request=DispatchSettingsSerializer, responses={200: DispatchSettingsSerializer})
    def put(self, request):
        data = DispatchSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = services.dispatch_settings_update(
            municipality=request.user.municipality, **data.validated_data
        )
        return Response(DispatchSettingsSerializer(saved).data)

    patch = put


# --- shifts, recurring jobs, unload sites ------------------------------------------------------


class ShiftSerializer(serializers.ModelSerializer):
    driver = ScopedRelatedField(queryset=Driver.objects.all())
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all(), required=False, allow_null=True)

    class Meta:
        model = Shift
        fields = ["id", "driver", "vehicle", "starts_at", "ends_at"]

    def create(self, validated_data):
        return services.shift_create(
            municipality=self.context["request"].user.municipality, **validated_data
        )


class ShiftFilter(filters.FilterSet):
    on = filters.IsoDateTimeFilter(method="filter_on", label="on duty at")

    class Meta:
        model = Shift
        fields = ["driver", "vehicle"]

    def filter_on(self, queryset, name, value):
        return queryset.filter(starts_at__lte=value, ends_at__gt=value)


class ShiftViewSet(
    HiddenBeforeMethodMixin,
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Shift.objects.select_related("driver", "vehicle")
    serializer_class = ShiftSerializer
    filterset_class = ShiftFilter
    read_capability = "dispatch.view"
    write_capability = "dispatch.edit"


class RecurrenceRuleSerializer(serializers.ModelSerializer):
    department = ScopedRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True
    )
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6))

    class Meta:
        model = RecurrenceRule
        exclude = ["municipality"]
        read_only_fields = ["generated_until", "created_at"]

    def validate(self, attrs):
        start = attrs.get("window_start", getattr(self.instance, "window_start", None))
        end = attrs.get("window_end", getattr(self.instance, "window_end", None))
        if start and end and end <= start:
            raise serializers.ValidationError(
                {"window_end": _("The window must close after it opens.")}
            )
        if "weekdays" in attrs and not attrs["weekdays"]:
            raise serializers.ValidationError({"weekdays": _("Choose at least one weekday.")})
        return attrs

    def create(self, validated_data):
        return services.recurrence_create(
            municipality=self.context["request"].user.municipality, **validated_data
        )


class RecurrenceRuleViewSet(HiddenBeforeMethodMixin, ScopedViewSetMixin, viewsets.ModelViewSet):
    queryset = RecurrenceRule.objects.select_related("department")
    serializer_class = RecurrenceRuleSerializer
    read_capability = "dispatch.view"
    write_capability = "dispatch.edit"

    @extend_schema(request=None, responses={200: JobSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def generate(self, request, pk=None):
        """Create the rule's jobs for the next ``days`` days (default 7) that do not exist yet."""
        rule = self.get_object()
        try:
            days = max(0, min(62, int(request.data.get("days", 7))))
        except (TypeError, ValueError):
            return Response({"days": [_("A number of days.")]}, status=status.HTTP_400_BAD_REQUEST)
        today = timezone.now().astimezone(selectors.local_zone(rule.municipality)).date()
        from datetime import timedelta  # noqa: PLC0415

        jobs = services.recurrence_generate(rule=rule, until=today + timedelta(days=days))
        return Response(JobSerializer(jobs, many=True, context={"request": request}).data)


class UnloadSiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = UnloadSite
        exclude = ["municipality"]

    def create(self, validated_data):
        return services.unload_site_create(
            municipality=self.context["request"].user.municipality, **validated_data
        )


class UnloadSiteViewSet(HiddenBeforeMethodMixin, ScopedViewSetMixin, viewsets.ModelViewSet):
    queryset = UnloadSite.objects.all()
    serializer_class = UnloadSiteSerializer
    read_capability = "dispatch.view"
    write_capability = "dispatch.edit"


# --- movement orders ---------------------------------------------------------------------------


class MovementOrderPermission(BasePermission):
    """Office staff read and request; auditors only read; the head of the department decides
    (checked by the service)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not has_capability(user, "register.view"):
            return False
        if request.method in SAFE_METHODS:
            return True
        return user.is_superuser or user.role != Role.AUDITOR


class MovementOrderSerializer(serializers.ModelSerializer):
    department = ScopedRelatedField(queryset=Department.objects.all())
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all())
    driver = ScopedRelatedField(queryset=Driver.objects.all(), required=False, allow_null=True)
    reference = serializers.CharField(read_only=True)

    class Meta:
        model = MovementOrder
        fields = [
            "id",
            "reference",
            "year",
            "number",
            "department",
            "requested_by",
            "vehicle",
            "driver",
            "purpose",
            "destination",
            "passengers",
            "starts_at",
            "ends_at",
            "status",
            "decided_by",
            "decided_at",
            "decision_note",
            "created_at",
        ]
        read_only_fields = [
            "year",
            "number",
            "requested_by",
            "status",
            "decided_by",
            "decided_at",
            "decision_note",
            "created_at",
        ]

    def create(self, validated_data):
        request = self.context["request"]
        return services.movement_order_request(
            municipality=request.user.municipality, actor=request.user, **validated_data
        )


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class MovementOrderViewSet(
    HiddenBeforeMethodMixin,
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Movement orders. Requested by a department, decided by its head; never deleted
    (cancelled instead)."""

    queryset = MovementOrder.objects.select_related("department", "vehicle", "driver")
    serializer_class = MovementOrderSerializer
    filterset_fields = ["status", "vehicle", "department"]

    def get_permissions(self):
        return [MovementOrderPermission()]

    def get_queryset(self):
        qs = super().get_queryset()
        user = self.request.user
        if _any(user, "dispatch.view") or user.is_superuser:
            return qs
        # Other office staff see their department's orders and their own requests.
        return qs.filter(
            Q(department_id=user.department_id) | Q(requested_by=user) | Q(department__head=user)
        )

    def _decide(self, request, approve: bool) -> Response:
        order = self.get_object()
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = services.movement_order_decide(
                order=order,
                actor=request.user,
                approve=approve,
                note=data.validated_data.get("note", ""),
            )
        except DjangoPermissionDenied as exc:
            raise ApiPermissionDenied(str(exc))
        return Response(MovementOrderSerializer(order, context={"request": request}).data)

    @extend_schema(request=DecisionSerializer, responses={200: MovementOrderSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, True)

    @extend_schema(request=DecisionSerializer, responses={200: MovementOrderSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, False)

    @extend_schema(request=DecisionSerializer, responses={200: MovementOrderSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        try:
            order = services.movement_order_cancel(
                order=order, actor=request.user, reason=str(request.data.get("note", ""))
            )
        except DjangoPermissionDenied as exc:
            raise ApiPermissionDenied(str(exc))
        return Response(MovementOrderSerializer(order, context={"request": request}).data)

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        """The order as a one-page PDF (approved orders only: only they carry authority)."""
        order = self.get_object()
        if order.status != MovementOrderStatus.APPROVED:
            return Response(
                {"detail": _("Only an approved order is printed.")}, status=status.HTTP_409_CONFLICT
            )
        from dispatch import pdf  # noqa: PLC0415

        body = pdf.render_movement_order(selectors.movement_order_document(order=order))
        response = HttpResponse(body, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'inline; filename="entoli-{order.number}-{order.year}.pdf"'
        )
        return response


# --- plans -------------------------------------------------------------------------------------


class PlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = ["id", "day", "status", "params", "result", "created_at", "applied_at"]
        read_only_fields = fields


class PlanRequestSerializer(serializers.Serializer):
    day = serializers.DateField()
    vehicles = serializers.ListField(child=serializers.IntegerField(), min_length=1)
    jobs = serializers.ListField(child=serializers.IntegerField(), min_length=1)
    time_limit_s = serializers.FloatField(required=False, default=5.0)


class PlanAdjustSerializer(serializers.Serializer):
    routes = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()))


class PlanViewSet(
    HiddenBeforeMethodMixin,
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Optimised rounds: ``POST`` a day's jobs and vehicles; the plan is computed in the
    background (status ``pending`` → ``draft``); adjust, apply or discard it."""

    queryset = Plan.objects.all()
    serializer_class = PlanSerializer
    read_capability = "dispatch.view"
    write_capability = "dispatch.edit"
    filterset_fields = ["day", "status"]

    @extend_schema(request=PlanRequestSerializer, responses={202: PlanSerializer})
    def create(self, request, *args, **kwargs):
        data = PlanRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.plan_request(
            municipality=request.user.municipality,
            actor=request.user,
            day=data.validated_data["day"],
            vehicle_ids=data.validated_data["vehicles"],
            job_ids=data.validated_data["jobs"],
            time_limit_s=data.validated_data["time_limit_s"],
        )
        plan.refresh_from_db()
        return Response(PlanSerializer(plan).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=PlanAdjustSerializer, responses={200: PlanSerializer})
    @action(detail=True, methods=["post"])
    def adjust(self, request, pk=None):
        plan = self.get_object()
        data = PlanAdjustSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            routes = {int(k): v for k, v in data.validated_data["routes"].items()}
            plan = services.plan_adjust(plan=plan, routes=routes)
        except ValueError as exc:
            return Response({"routes": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(PlanSerializer(plan).data)

    @extend_schema(request=None, responses={200: PlanSerializer})
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        plan = self.get_object()
        outcome = services.plan_apply(plan=plan, actor=request.user)
        plan.refresh_from_db()
        body = PlanSerializer(plan).data
        body["applied"] = outcome.applied
        body["refused"] = outcome.refused
        return Response(body)

    @extend_schema(request=None, responses={200: PlanSerializer})
    @action(detail=True, methods=["post"])
    def discard(self, request, pk=None):
        plan = services.plan_discard(plan=self.get_object())
        return Response(PlanSerializer(plan).data)

    @extend_schema(
        responses={
            200: inline_serializer("PlanComparison", {"job": serializers.IntegerField()}, many=True)
        }
    )
    @action(detail=True, methods=["get"])
    def comparison(self, request, pk=None):
        """Planned against actual: on time, late, skipped, out of order."""
        plan = self.get_object()
        if plan.status != PlanStatus.APPLIED:
            return Response([])
        rows = selectors.plan_comparison(plan=plan)
        return Response(
            [
                {
                    **r,
                    "planned": r["planned"].isoformat(),
                    "actual": r["actual"].isoformat() if r["actual"] else None,
                }
                for r in rows
            ]
        )
