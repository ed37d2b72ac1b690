"""Reports API: ask for a report, follow its progress, read its figures, download the PDF and
the CSV/XLSX exports. Every write goes through ``reports.services``."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse
from django.utils import translation
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fleet.api_base import ScopedRelatedField, ScopedViewSetMixin
from fleet.models import Department, Vehicle
from reports import exports, services
from reports.models import ReportKind, ReportRun, ReportStatus


class HideForeignObjectsMixin:
    """Another municipality's object is a 404 whatever the method: a method this endpoint does
    not take (405) is only admitted once the object is known to be the user's own."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        lookup = getattr(self, "lookup_url_kwarg", None) or getattr(self, "lookup_field", "pk")
        if lookup in kwargs and hasattr(self, "get_object"):
            self.get_object()
        return super().http_method_not_allowed(request, *args, **kwargs)


class ReportRunSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    reference = serializers.CharField(read_only=True)
    summary = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = ReportRun
        fields = [
            "id",
            "kind",
            "kind_display",
            "period",
            "period_start",
            "period_end",
            "scope",
            "department",
            "vehicle",
            "language",
            "status",
            "status_display",
            "progress",
            "stage",
            "error",
            "reference",
            "generations",
            "created_at",
            "started_at",
            "finished_at",
            "summary",
            "pdf_url",
        ]
        read_only_fields = fields

    def get_summary(self, obj) -> dict:
        return (obj.data or {}).get("summary", {})

    def get_pdf_url(self, obj) -> str | None:
        if obj.status != ReportStatus.DONE:
            return None
        request = self.context.get("request")
        path = f"/api/v1/reports/runs/{obj.pk}/pdf/"
        return request.build_absolute_uri(path) if request else path


class ReportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReportKind.choices)
    period = serializers.CharField(help_text="YYYY-MM, or YYYY-MM-DD for a day's movement sheet")
    department = ScopedRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True
    )
    vehicle = ScopedRelatedField(queryset=Vehicle.objects.all(), required=False, allow_null=True)
    language = serializers.ChoiceField(
        choices=[("el", "Ελληνικά"), ("en", "English")], required=False
    )
    regenerate = serializers.BooleanField(required=False, default=False)


class ReportRunViewSet(
    HideForeignObjectsMixin,
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Stored reports. ``POST`` asks for one (it is generated in the background; poll the run
    for ``progress``); asking again for the same kind, period, scope and language returns the
    stored run (200) instead of generating it twice, unless ``regenerate`` is set."""

    queryset = ReportRun.objects.select_related("department", "vehicle")
    serializer_class = ReportRunSerializer
    read_capability = "reports.view"
    write_capability = "reports.generate"
    filterset_fields = ["kind", "status", "period", "language", "department", "vehicle"]
    ordering_fields = ["period_start", "created_at"]

    def get_queryset(self):
        return super().get_queryset().order_by("-period_start", "kind", "scope", "-pk")

    @extend_schema(request=ReportRequestSerializer, responses={201: ReportRunSerializer})
    def create(self, request, *args, **kwargs):
        payload = ReportRequestSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        run, queued = services.report_run_request(
            municipality=request.user.municipality,
            kind=data["kind"],
            period=data["period"],
            department=data.get("department"),
            vehicle=data.get("vehicle"),
            language=data.get("language") or translation.get_language(),
            user=request.user,
            regenerate=data["regenerate"],
        )
        code = status.HTTP_201_CREATED if queued else status.HTTP_200_OK
        return Response(self.get_serializer(run).data, status=code)

    @extend_schema(request=None, responses={202: ReportRunSerializer})
    @action(detail=True, methods=["post"])
    def regenerate(self, request, pk=None):
        run = self.get_object()
        run, _queued = services.report_run_request(
            municipality=run.municipality,
            kind=run.kind,
            period=run.period,
            department=run.department,
            vehicle=run.vehicle,
            language=run.language,
            user=request.user,
            regenerate=True,
        )
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def data(self, request, pk=None):
        """The report's tables and headline figures, exactly as drawn in its PDF."""
        run = self.get_object()
        if run.status != ReportStatus.DONE:
            return Response({"detail": "The report is not ready."}, status=status.HTTP_409_CONFLICT)
        return Response(run.data)

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        run = self.get_object()
        if run.status != ReportStatus.DONE or not run.file:
            raise Http404
        return FileResponse(
            run.file.open("rb"),
            as_attachment=True,
            filename=run.filename(),
            content_type="application/pdf",
        )

    @extend_schema(
        parameters=[OpenApiParameter("table", str, description="a table key; all by default")],
        responses={(200, "text/csv"): bytes},
    )
    @action(detail=True, methods=["get"])
    def csv(self, request, pk=None):
        return export_response(self.get_object(), "csv", request.query_params.get("table", ""))

    @extend_schema(
        parameters=[OpenApiParameter("table", str, description="a table key; all by default")],
        responses={
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): bytes
        },
    )
    @action(detail=True, methods=["get"])
    def xlsx(self, request, pk=None):
        return export_response(self.get_object(), "xlsx", request.query_params.get("table", ""))


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_response(run: ReportRun, kind: str, table: str) -> HttpResponse:
    """A run's tables as a CSV or XLSX download (shared by the API and the page)."""
    if run.status != ReportStatus.DONE:
        raise Http404
    try:
        if kind == "csv":
            body, content_type = exports.to_csv(run.data, table), "text/csv; charset=utf-8"
        else:
            body = exports.to_xlsx(
                run.data, table, title=run.get_kind_display(), tz=run.municipality.timezone
            )
            content_type = XLSX_TYPE
    except exports.UnknownTable:
        raise Http404 from None
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{run.filename(kind, table)}"'
    return response
