"""Dispatch pages: jobs (list, new, detail with the audit trail), the driver's page, movement
orders (list, request, decide, print) and plans. Each view parses input and calls one service or
selector."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView

from config.redirects import safe_next
from dispatch import forms, planning, selectors, services
from dispatch.choices import JobStatus, MovementOrderStatus
from dispatch.models import Job, MovementOrder, Plan, Shift
from fleet.choices import Role
from fleet.permissions import CapabilityRequiredMixin, has_capability
from fleet.scoping import ScopedQuerysetMixin, scope_queryset
from fleet.selectors.register import driver_for_user

log = logging.getLogger(__name__)


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _map_config(request, **extra) -> dict:
    from django.conf import settings  # noqa: PLC0415

    municipality = request.user.municipality
    center = (
        [municipality.center_lat, municipality.center_lon]
        if municipality and municipality.center_lat is not None
        else list(settings.LEAFLET_CONFIG["DEFAULT_CENTER"])
    )
    return {
        "center": center,
        "tileUrl": settings.KINISI_TILE_URL,
        "streetsUrl": reverse("streets"),
        **extra,
    }


class AnyCapabilityMixin(CapabilityRequiredMixin):
    """Open to users holding any of ``capabilities``."""

    capabilities: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not any(has_capability(request.user, c) for c in self.capabilities):
            raise PermissionDenied
        return View.dispatch(self, request, *args, **kwargs)


# --- jobs --------------------------------------------------------------------------------------


class JobListView(CapabilityRequiredMixin, ListView):
    capability = "dispatch.view"
    template_name = "dispatch/job_list.html"
    paginate_by = 50

    def get_queryset(self):
        get = self.request.GET
        return selectors.job_list(
            municipality_id=self.request.user.municipality_id,
            status=get.get("status", ""),
            search=get.get("q", "").strip(),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["statuses"] = JobStatus.choices
        context["status"] = self.request.GET.get("status", "")
        context["search"] = self.request.GET.get("q", "")
        context["can_edit"] = has_capability(self.request.user, "dispatch.edit")
        return context


class JobCreateView(CapabilityRequiredMixin, FormView):
    capability = "dispatch.edit"
    template_name = "dispatch/job_form.html"
    form_class = forms.JobForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["municipality"] = self.request.user.municipality
        return kwargs

    def get_initial(self):
        initial = super().get_initial()
        for name in ("latitude", "longitude"):
            if name in self.request.GET:
                initial[name] = self.request.GET[name]
        return initial

    def form_valid(self, form):
        try:
            job = services.job_create(
                municipality=self.request.user.municipality,
                actor=self.request.user,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc)
            return self.form_invalid(form)
        messages.success(self.request, _("Job #%(id)s created.") % {"id": job.pk})
        if self.request.POST.get("then") == "suggest":
            return HttpResponseRedirect(reverse("dispatch:board") + f"?job={job.pk}")
        return HttpResponseRedirect(reverse("dispatch:job_detail", args=[job.pk]))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["map_config"] = _map_config(self.request, geocodeUrl=reverse("dispatch-geocode"))
        return context


class JobDetailView(CapabilityRequiredMixin, ScopedQuerysetMixin, DetailView):
    capability = "dispatch.view"
    model = Job
    template_name = "dispatch/job_detail.html"

    def get_queryset(self):
        return super().get_queryset().select_related("vehicle", "driver", "department")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = self.object
        context["events"] = selectors.job_events(job=job)
        context["can_edit"] = has_capability(self.request.user, "dispatch.edit")
        context["next_statuses"] = [
            (s, JobStatus(s).label)
            for s in (JobStatus.EN_ROUTE, JobStatus.ON_SITE, JobStatus.DONE, JobStatus.FAILED)
            if s in services.TRANSITIONS.get(job.status, ())
        ]
        context["can_cancel"] = JobStatus.CANCELLED in services.TRANSITIONS.get(job.status, ())
        context["map_config"] = _map_config(self.request, job=selectors.job_brief(job))
        return context


class JobActionView(AnyCapabilityMixin, View):
    """POST the office's and the driver's actions on a job: transitions, unassign, note, photo.

    Drivers act on their own jobs only (others are 404 to them); the office on any job of the
    municipality. The next page is the one the action came from."""

    capabilities = ("dispatch.edit", "driver.self")
    model = Job

    def get_object(self) -> Job:
        user = self.request.user
        qs = scope_queryset(Job.objects.select_related("driver"), user)
        if not has_capability(user, "dispatch.edit"):
            qs = qs.filter(driver__user=user)
        return get_object_or_404(qs, pk=self.kwargs["pk"])

    def get(self, request, *args, **kwargs):
        self.get_object()
        return HttpResponseNotAllowed(["POST"])

    def post(self, request, *args, **kwargs):
        job = self.get_object()
        form = forms.DriverActionForm(request.POST, request.FILES)
        is_office = has_capability(request.user, "dispatch.edit")
        action = request.POST.get("action", "")
        back = safe_next(
            request,
            request.POST.get("next"),
            reverse("dispatch:job_detail", args=[job.pk])
            if is_office
            else reverse("dispatch:driver_jobs"),
        )
        try:
            if action == "cancelled" and is_office:
                services.job_transition(
                    job=job,
                    to_status=JobStatus.CANCELLED,
                    actor=request.user,
                    reason=request.POST.get("reason", ""),
                )
            elif action == "unassign" and is_office:
                services.job_unassign(
                    job=job, actor=request.user, reason=request.POST.get("reason", "")
                )
            elif form.is_valid():
                data = form.cleaned_data
                if data["action"] == "note":
                    services.job_note_add(job=job, actor=request.user, text=data["text"])
                elif data["action"] == "photo":
                    if not data["photo"]:
                        raise ValidationError(_("Attach a photo."))
                    services.job_photo_add(job=job, actor=request.user, photo=data["photo"])
                else:
                    services.job_transition(
                        job=job, to_status=data["action"], actor=request.user, reason=data["reason"]
                    )
            else:
                raise ValidationError(_("Unknown action."))
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        except services.AssignmentConflict as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Saved."))
        return HttpResponseRedirect(back)


# --- the driver's page -------------------------------------------------------------------------


class DriverJobsView(CapabilityRequiredMixin, TemplateView):
    """Today's jobs of the logged-in driver, in order, with big buttons."""

    capability = "driver.self"
    template_name = "dispatch/driver_jobs.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        driver = driver_for_user(self.request.user)
        context["driver"] = driver
        context["jobs"] = selectors.driver_jobs(driver=driver) if driver else []
        context["vehicle"] = next(
            (j.vehicle for j in context["jobs"] if j.status != JobStatus.DONE and j.vehicle), None
        )
        return context


# --- movement orders ---------------------------------------------------------------------------


class MovementOrderScopeMixin:
    def get_queryset(self):
        user = self.request.user
        qs = scope_queryset(selectors.movement_order_list(municipality_id=None), user)
        if has_capability(user, "dispatch.view"):
            return qs
        return qs.filter(
            Q(department_id=user.department_id) | Q(requested_by=user) | Q(department__head=user)
        )


class MovementOrderListView(CapabilityRequiredMixin, MovementOrderScopeMixin, ListView):
    capability = "register.view"
    template_name = "dispatch/movement_order_list.html"
    paginate_by = 50

    def get_queryset(self):
        qs = super().get_queryset()
        status = self.request.GET.get("status", "")
        return qs.filter(status=status) if status else qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["statuses"] = MovementOrderStatus.choices
        context["status"] = self.request.GET.get("status", "")
        context["can_request"] = self.request.user.role != Role.AUDITOR
        return context


class MovementOrderCreateView(CapabilityRequiredMixin, FormView):
    capability = "register.view"
    template_name = "dispatch/movement_order_form.html"
    form_class = forms.MovementOrderForm

    def dispatch(self, request, *args, **kwargs):
        if getattr(request.user, "role", "") == Role.AUDITOR and not request.user.is_superuser:
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["municipality"] = self.request.user.municipality
        return kwargs

    def get_initial(self):
        return {"department": self.request.user.department_id}

    def form_valid(self, form):
        try:
            order = services.movement_order_request(
                municipality=self.request.user.municipality,
                actor=self.request.user,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        messages.success(
            self.request, _("Movement order %(ref)s requested.") % {"ref": order.reference}
        )
        return HttpResponseRedirect(reverse("dispatch:movement_order_detail", args=[order.pk]))


class MovementOrderDetailView(CapabilityRequiredMixin, MovementOrderScopeMixin, DetailView):
    capability = "register.view"
    model = MovementOrder
    template_name = "dispatch/movement_order_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = self.object
        context["can_decide"] = order.status == MovementOrderStatus.REQUESTED and (
            selectors.can_decide_movement_order(self.request.user, order)
        )
        context["decision_form"] = forms.DecisionForm()
        return context

    def post(self, request, *args, **kwargs):
        order = self.get_object()
        form = forms.DecisionForm(request.POST)
        try:
            if request.POST.get("decision") == "cancel":
                services.movement_order_cancel(
                    order=order, actor=request.user, reason=request.POST.get("note", "")
                )
            elif form.is_valid():
                services.movement_order_decide(
                    order=order,
                    actor=request.user,
                    approve=form.cleaned_data["decision"] == "approve",
                    note=form.cleaned_data["note"],
                )
            else:
                raise ValidationError(_("Choose approve or reject."))
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        else:
            messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("dispatch:movement_order_detail", args=[order.pk]))


class MovementOrderPdfView(CapabilityRequiredMixin, MovementOrderScopeMixin, DetailView):
    capability = "register.view"
    model = MovementOrder

    def get(self, request, *args, **kwargs):
        from dispatch import pdf  # noqa: PLC0415

        order = self.get_object()
        if order.status != MovementOrderStatus.APPROVED:
            messages.error(request, _("Only an approved order is printed."))
            return HttpResponseRedirect(reverse("dispatch:movement_order_detail", args=[order.pk]))
        body = pdf.render_movement_order(selectors.movement_order_document(order=order))
        response = HttpResponse(body, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'inline; filename="entoli-{order.number}-{order.year}.pdf"'
        )
        return response


# --- shifts ------------------------------------------------------------------------------------


class ShiftListView(CapabilityRequiredMixin, TemplateView):
    """Who is on duty on a day, on which vehicle; add a shift or roster the usual day."""

    capability = "dispatch.view"
    template_name = "dispatch/shift_list.html"

    def day(self):
        from datetime import date  # noqa: PLC0415

        municipality = self.request.user.municipality
        try:
            return date.fromisoformat(self.request.GET.get("day", ""))
        except ValueError:
            return timezone.now().astimezone(selectors.local_zone(municipality)).date()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        municipality = self.request.user.municipality
        day = self.day()
        context["day"] = day
        context["shifts"] = selectors.shifts_on(municipality=municipality, day=day)
        context["can_edit"] = has_capability(self.request.user, "dispatch.edit")
        context["form"] = forms.ShiftForm(municipality=municipality, day=day)
        return context

    def post(self, request, *args, **kwargs):
        if not has_capability(request.user, "dispatch.edit"):
            raise PermissionDenied
        municipality = request.user.municipality
        day = self.day()
        back = reverse("dispatch:shift_list") + f"?day={day.isoformat()}"
        if request.POST.get("action") == "roster":
            created = services.shifts_roster_day(municipality=municipality, day=day)
            messages.success(request, _("%(n)s drivers put on shift.") % {"n": len(created)})
            return HttpResponseRedirect(back)
        form = forms.ShiftForm(request.POST, municipality=municipality, day=day)
        if form.is_valid():
            try:
                services.shift_create(municipality=municipality, **form.cleaned_data)
            except ValidationError as exc:
                messages.error(request, _errors(exc))
            else:
                messages.success(request, _("Saved."))
        else:
            messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return HttpResponseRedirect(back)


class ShiftDeleteView(CapabilityRequiredMixin, View):
    capability = "dispatch.edit"
    model = Shift

    def get_object(self) -> Shift:
        return get_object_or_404(
            scope_queryset(Shift.objects.all(), self.request.user), pk=self.kwargs["pk"]
        )

    def get(self, request, *args, **kwargs):
        self.get_object()
        return HttpResponseNotAllowed(["POST"])

    def post(self, request, *args, **kwargs):
        shift = self.get_object()
        day = shift.starts_at.astimezone(selectors.local_zone(shift.municipality)).date()
        services.shift_delete(shift=shift)
        messages.success(request, _("Shift removed."))
        return HttpResponseRedirect(reverse("dispatch:shift_list") + f"?day={day.isoformat()}")


# --- plans -------------------------------------------------------------------------------------


class PlanListView(CapabilityRequiredMixin, ScopedQuerysetMixin, ListView):
    capability = "dispatch.view"
    model = Plan
    template_name = "dispatch/plan_list.html"
    paginate_by = 30

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        municipality = self.request.user.municipality
        today = timezone.now().astimezone(selectors.local_zone(municipality)).date()
        context["can_edit"] = has_capability(self.request.user, "dispatch.edit")
        context["today"] = today
        context["new_jobs"] = selectors.job_list(
            municipality_id=municipality.pk, status=JobStatus.NEW
        )[:500]
        context["vehicles"] = selectors.board_vehicles(
            municipality=municipality, now=timezone.now()
        )
        return context

    def post(self, request, *args, **kwargs):
        if not has_capability(request.user, "dispatch.edit"):
            raise PermissionDenied
        try:
            from datetime import date  # noqa: PLC0415

            plan = services.plan_request(
                municipality=request.user.municipality,
                actor=request.user,
                day=date.fromisoformat(request.POST.get("day", "")),
                vehicle_ids=[int(v) for v in request.POST.getlist("vehicles")],
                job_ids=[int(j) for j in request.POST.getlist("jobs")],
                time_limit_s=float(request.POST.get("time_limit_s", 5)),
            )
        except (ValueError, ValidationError) as exc:
            messages.error(request, _errors(exc) if isinstance(exc, ValidationError) else str(exc))
            return HttpResponseRedirect(reverse("dispatch:plan_list"))
        return HttpResponseRedirect(reverse("dispatch:plan_detail", args=[plan.pk]))


_PLAN_SERVER_ONLY = ("durations", "distances", "places", "geometry")


class PlanDetailView(CapabilityRequiredMixin, ScopedQuerysetMixin, DetailView):
    capability = "dispatch.view"
    model = Plan
    template_name = "dispatch/plan_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        plan = self.object
        context["can_edit"] = has_capability(self.request.user, "dispatch.edit")
        context["comparison"] = (
            selectors.plan_comparison(plan=plan) if plan.status == "applied" else []
        )
        result = plan.result or {}
        # The page draws the routes and lists their stops: the matrices the plan was made
        # with stay on the server (they grow with the square of the stops).
        shown = {k: v for k, v in result.items() if k not in _PLAN_SERVER_ONLY}
        context["map_config"] = _map_config(
            self.request,
            plan={"id": plan.pk, "status": plan.status, "result": shown},
            geometry=planning.plan_geometry(plan) if result.get("routes") else [],
            planUrl=reverse("plan-detail", args=[plan.pk]),
        )
        return context

    def post(self, request, *args, **kwargs):
        plan = self.get_object()
        if not has_capability(request.user, "dispatch.edit"):
            raise PermissionDenied
        try:
            if request.POST.get("action") == "apply":
                outcome = services.plan_apply(plan=plan, actor=request.user)
                messages.success(
                    request,
                    _("%(n)s jobs assigned; %(m)s refused.")
                    % {"n": len(outcome.applied), "m": len(outcome.refused)},
                )
            elif request.POST.get("action") == "discard":
                services.plan_discard(plan=plan)
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return HttpResponseRedirect(reverse("dispatch:plan_detail", args=[plan.pk]))
