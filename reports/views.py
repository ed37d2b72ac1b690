"""Reports pages: the list of stored reports with a form to generate one, downloads, exports.
Each view parses the request and calls one selector or service."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import ListView
from django.views.generic.detail import SingleObjectMixin

from fleet.permissions import CapabilityRequiredMixin, has_capability
from fleet.scoping import ScopedQuerysetMixin
from reports import selectors, services
from reports.api import export_response
from reports.forms import ReportRequestForm
from reports.models import ReportKind, ReportRun, ReportStatus


class ReportIndexView(CapabilityRequiredMixin, ListView):
    capability = "reports.view"
    template_name = "reports/index.html"
    paginate_by = 30
    context_object_name = "runs"

    def get_queryset(self):
        get = self.request.GET
        return selectors.report_run_list(
            municipality_id=self.request.user.municipality_id,
            kind=get.get("kind", "") if get.get("kind", "") in ReportKind.values else "",
            period=get.get("period", "").strip()[:10],
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context["can_generate"] = has_capability(user, "reports.generate")
        if context["can_generate"] and "form" not in context:
            context["form"] = ReportRequestForm(
                municipality=user.municipality,
                initial={
                    "month": services.previous_month_key(),
                    "language": (translation.get_language() or "el")[:2],
                },
            )
        context["kinds"] = ReportKind.choices
        context["unfinished"] = [
            r.pk
            for r in context["runs"]
            if r.status in (ReportStatus.PENDING, ReportStatus.RUNNING)
        ]
        return context

    def post(self, request):
        """Ask for a report (the form on this page)."""
        if not has_capability(request.user, "reports.generate"):
            raise PermissionDenied
        form = ReportRequestForm(request.POST, municipality=request.user.municipality)
        if form.is_valid():
            data = form.cleaned_data
            try:
                run, queued = services.report_run_request(
                    municipality=request.user.municipality,
                    kind=data["kind"],
                    period=data["period"],
                    department=data.get("department"),
                    vehicle=data.get("vehicle"),
                    language=data["language"],
                    user=request.user,
                    regenerate=data["regenerate"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                if queued:
                    messages.success(request, _("The report is being generated."))
                else:
                    messages.info(
                        request,
                        _("This report already exists; tick “generate again” to replace it."),
                    )
                return HttpResponseRedirect(reverse("reports:index") + f"#run-{run.pk}")
        self.object_list = self.get_queryset()
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ScopedRunMixin(CapabilityRequiredMixin, ScopedQuerysetMixin, SingleObjectMixin):
    model = ReportRun
    capability = "reports.view"


class ReportPdfView(ScopedRunMixin, View):
    def get(self, request, pk):
        run = self.get_object()
        if run.status != ReportStatus.DONE or not run.file:
            raise Http404
        return FileResponse(
            run.file.open("rb"),
            as_attachment=request.GET.get("inline") != "1",
            filename=run.filename(),
            content_type="application/pdf",
        )


class ReportExportView(ScopedRunMixin, View):
    export = "csv"

    def get(self, request, pk):
        return export_response(self.get_object(), self.export, request.GET.get("table", ""))


class ReportRegenerateView(ScopedRunMixin, View):
    capability = "reports.generate"

    def get(self, request, pk):
        self.get_object()
        return HttpResponseRedirect(reverse("reports:index"))

    def post(self, request, pk):
        run = self.get_object()
        services.report_run_request(
            municipality=run.municipality,
            kind=run.kind,
            period=run.period,
            department=run.department,
            vehicle=run.vehicle,
            language=run.language,
            user=request.user,
            regenerate=True,
        )
        messages.success(request, _("The report is being generated again."))
        return HttpResponseRedirect(reverse("reports:index") + f"#run-{run.pk}")
