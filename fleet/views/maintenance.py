"""Maintenance pages: work orders (list, detail with parts and status steps, create, edit), the
driver's defect report, service plans and what is due, ΚΤΕΟ results, expenses, the compliance
calendar with its reminders, and the cost of ownership.

Each view parses the request and calls one selector or service.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, FormView, ListView, TemplateView

from fleet.compliance import Status
from fleet.forms import ScopedForm
from fleet.models import (
    Expense,
    Reminder,
    RoadworthinessTest,
    ServicePlan,
    Vehicle,
    WorkOrder,
    WorkOrderPart,
)
from fleet.models.maintenance import WorkOrderStatus
from fleet.permissions import CapabilityRequiredMixin, has_capability
from fleet.scoping import ScopedQuerysetMixin, scope_queryset
from fleet.selectors import maintenance as selectors
from fleet.services import maintenance as services
from fleet.views.fuel import (
    DriverFormMixin,
    PostOnlyObjectView,
    ServiceFormMixin,
    SimpleCreateView,
    SimpleListView,
    SimpleUpdateView,
    _date,
    _fields,
    _int,
    _period,
)


class MaintenanceFormMixin:
    capability = "maintenance.edit"
    template_name = "fleet/maintenance/form.html"


# --- Work orders ----------------------------------------------------------------------------------


class WorkOrderForm(ScopedForm):
    class Meta:
        model = WorkOrder
        fields = [
            "vehicle",
            "title",
            "description",
            "takes_off_road",
            "vendor",
            "labour_hours",
            "labour_cost",
            "other_cost",
            "odometer_km",
            "engine_hours",
            "service_plan",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class WorkOrderEditForm(WorkOrderForm):
    class Meta(WorkOrderForm.Meta):
        fields = [f for f in WorkOrderForm.Meta.fields if f != "vehicle"] + ["resolution"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "resolution": forms.Textarea(attrs={"rows": 3}),
        }


class WorkOrderCostsForm(ScopedForm):
    """A closed order still takes its invoice: costs, vendor and the work done."""

    class Meta:
        model = WorkOrder
        fields = ["vendor", "labour_hours", "labour_cost", "other_cost", "resolution"]
        widgets = {"resolution": forms.Textarea(attrs={"rows": 3})}


class WorkOrderListView(CapabilityRequiredMixin, ListView):
    capability = "maintenance.view"
    template_name = "fleet/maintenance/work_order_list.html"
    paginate_by = 50

    def get_queryset(self):
        get = self.request.GET
        status = get.get("status", "open")
        return selectors.work_order_list(
            municipality_id=self.request.user.municipality_id,
            status=status if status in WorkOrderStatus.values else "",
            open_only=status == "open",
            vehicle_id=_int(get.get("vehicle", "")),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query"] = query.urlencode()
        context["statuses"] = WorkOrderStatus.choices
        context["status"] = self.request.GET.get("status", "open")
        context["can_edit"] = has_capability(self.request.user, "maintenance.edit")
        return context


class WorkOrderCreateView(
    MaintenanceFormMixin, CapabilityRequiredMixin, ServiceFormMixin, FormView
):
    form_class = WorkOrderForm
    form_title = gettext_lazy("New work order")

    def get_initial(self):
        initial = super().get_initial()
        if _int(self.request.GET.get("vehicle", "")):
            initial["vehicle"] = self.request.GET["vehicle"]
        return initial

    def save(self, form):
        return services.work_order_report(
            municipality=self.request.user.municipality,
            reported_by=self.request.user,
            status=WorkOrderStatus.OPEN,
            **_fields(form),
        )

    def get_success_url(self):
        return reverse("fleet:work_order_detail", args=[self.object.pk])

    def cancel_url(self):
        return reverse("fleet:work_order_list")


class WorkOrderUpdateView(MaintenanceFormMixin, SimpleUpdateView):
    model = WorkOrder
    form_class = WorkOrderEditForm
    form_title = gettext_lazy("Edit work order")
    update_service = services.work_order_update
    instance_kwarg = "order"

    def get_form_class(self):
        return WorkOrderEditForm if self.object.is_open else WorkOrderCostsForm

    def get_success_url(self):
        return reverse("fleet:work_order_detail", args=[self.object.pk])

    def cancel_url(self):
        return reverse("fleet:work_order_detail", args=[self.object.pk])


class PartForm(forms.ModelForm):
    class Meta:
        model = WorkOrderPart
        fields = ["name", "part_number", "quantity", "unit_cost"]


class CloseForm(forms.Form):
    resolution = forms.CharField(
        label=gettext_lazy("Work done"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    odometer_km = forms.DecimalField(
        label=gettext_lazy("Odometer (km)"), required=False, min_value=0, decimal_places=1
    )
    engine_hours = forms.DecimalField(
        label=gettext_lazy("Hour meter (h)"), required=False, min_value=0, decimal_places=1
    )


class WorkOrderDetailView(CapabilityRequiredMixin, ScopedQuerysetMixin, DetailView):
    capability = "maintenance.view"
    model = WorkOrder
    template_name = "fleet/maintenance/work_order_detail.html"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("vehicle", "reported_by", "reported_by_driver", "service_plan")
            .prefetch_related("parts")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = self.object
        context["can_edit"] = has_capability(self.request.user, "maintenance.edit")
        context["costs"] = selectors.work_order_costs(order)
        context["part_form"] = kwargs.get("part_form") or PartForm()
        context["close_form"] = CloseForm(
            initial={"odometer_km": order.odometer_km, "engine_hours": order.engine_hours}
        )
        context["actions"] = [
            (name, label)
            for name, label, allowed in (
                ("open", _("Accept"), order.status == WorkOrderStatus.REPORTED),
                (
                    "start",
                    _("Start work"),
                    order.status in (WorkOrderStatus.REPORTED, WorkOrderStatus.OPEN),
                ),
                ("cancel", _("Cancel order"), order.is_open),
            )
            if allowed
        ]
        return context


class WorkOrderStatusView(PostOnlyObjectView):
    """One step of the flow: ``action`` is open, start, close or cancel."""

    capability = "maintenance.edit"
    model = WorkOrder

    def post(self, request, *args, **kwargs):
        order = self.get_object()
        action = request.POST.get("action", "")
        try:
            if action == "open":
                services.work_order_open(order=order)
            elif action == "start":
                services.work_order_start(order=order)
            elif action == "cancel":
                services.work_order_cancel(order=order)
            elif action == "close":
                form = CloseForm(request.POST)
                if not form.is_valid():
                    raise ValidationError([m for errors in form.errors.values() for m in errors])
                services.work_order_close(
                    order=order,
                    resolution=form.cleaned_data["resolution"] or None,
                    odometer_km=form.cleaned_data["odometer_km"],
                    engine_hours=form.cleaned_data["engine_hours"],
                )
            else:
                raise ValidationError(_("Unknown step."))
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("fleet:work_order_detail", args=[order.pk]))


class WorkOrderPartAddView(PostOnlyObjectView):
    capability = "maintenance.edit"
    model = WorkOrder

    def post(self, request, *args, **kwargs):
        order = self.get_object()
        form = PartForm(request.POST)
        if form.is_valid():
            try:
                services.work_order_part_add(order=order, **form.cleaned_data)
            except ValidationError as exc:
                for message in exc.messages:
                    messages.error(request, message)
            else:
                messages.success(request, _("Part added."))
        else:
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
        return HttpResponseRedirect(reverse("fleet:work_order_detail", args=[order.pk]))


class WorkOrderPartDeleteView(PostOnlyObjectView):
    capability = "maintenance.edit"
    model = WorkOrderPart

    def post(self, request, *args, **kwargs):
        part = self.get_object()
        order_id = part.work_order_id
        services.work_order_part_delete(part=part)
        return HttpResponseRedirect(reverse("fleet:work_order_detail", args=[order_id]))


class DefectForm(ScopedForm):
    class Meta:
        model = WorkOrder
        fields = ["vehicle", "title", "description", "takes_off_road"]
        labels = {
            "title": gettext_lazy("What is wrong"),
            "takes_off_road": gettext_lazy("The vehicle cannot be driven"),
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class DriverDefectView(DriverFormMixin, CapabilityRequiredMixin, ServiceFormMixin, FormView):
    """The driver's phone form: report a defect of a vehicle."""

    form_class = DefectForm
    form_title = gettext_lazy("Report a defect")
    template_name = "fleet/maintenance/driver_defect.html"

    def save(self, form):
        return services.work_order_report(
            municipality=self.request.user.municipality,
            reported_by=self.request.user,
            reported_by_driver=self.driver(),
            **_fields(form),
        )


# --- Service plans --------------------------------------------------------------------------------


class ServicePlanForm(ScopedForm):
    class Meta:
        model = ServicePlan
        exclude = ["municipality"]


class ServicePlanListView(CapabilityRequiredMixin, TemplateView):
    """The plans, and for every vehicle they cover, when the next service falls due."""

    capability = "maintenance.view"
    template_name = "fleet/maintenance/service_plans.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        municipality_id = self.request.user.municipality_id
        context["plans"] = scope_queryset(
            ServicePlan.objects.select_related("vehicle"), self.request.user
        )
        context["due"] = (
            selectors.service_due_list(municipality_id=municipality_id) if municipality_id else []
        )
        context["can_edit"] = has_capability(self.request.user, "maintenance.edit")
        return context


class ServicePlanCreateView(MaintenanceFormMixin, SimpleCreateView):
    form_class = ServicePlanForm
    form_title = gettext_lazy("New service plan")
    list_url_name = "fleet:service_plan_list"
    create_service = services.service_plan_create


class ServicePlanUpdateView(MaintenanceFormMixin, SimpleUpdateView):
    model = ServicePlan
    form_class = ServicePlanForm
    form_title = gettext_lazy("Edit service plan")
    list_url_name = "fleet:service_plan_list"
    update_service = services.service_plan_update
    instance_kwarg = "plan"


# --- ΚΤΕΟ and expenses ----------------------------------------------------------------------------


class RoadworthinessTestForm(ScopedForm):
    class Meta:
        model = RoadworthinessTest
        exclude = ["municipality"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}


class ExpenseForm(ScopedForm):
    class Meta:
        model = Expense
        exclude = ["municipality"]


class RoadworthinessTestListView(SimpleListView):
    capability = "maintenance.view"
    edit_capability = "maintenance.edit"
    model = RoadworthinessTest
    title = gettext_lazy("Roadworthiness tests (KTEO)")
    columns = (
        ("tested_on", gettext_lazy("Tested on")),
        ("vehicle", gettext_lazy("Vehicle")),
        ("result", gettext_lazy("Result")),
        ("centre", gettext_lazy("Test centre")),
        ("certificate_number", gettext_lazy("Certificate number")),
    )
    create_url_name = "fleet:kteo_test_create"
    edit_url_name = "fleet:kteo_test_update"

    def get_queryset(self):
        return super().get_queryset().select_related("vehicle")


class RoadworthinessTestCreateView(MaintenanceFormMixin, SimpleCreateView):
    form_class = RoadworthinessTestForm
    form_title = gettext_lazy("New KTEO test result")
    list_url_name = "fleet:kteo_test_list"
    create_service = services.roadworthiness_test_record


class RoadworthinessTestUpdateView(MaintenanceFormMixin, SimpleUpdateView):
    model = RoadworthinessTest
    form_class = RoadworthinessTestForm
    form_title = gettext_lazy("Edit KTEO test result")
    list_url_name = "fleet:kteo_test_list"
    update_service = services.roadworthiness_test_update
    instance_kwarg = "test"


class ExpenseListView(SimpleListView):
    capability = "maintenance.view"
    edit_capability = "maintenance.edit"
    model = Expense
    title = gettext_lazy("Vehicle expenses")
    columns = (
        ("incurred_on", gettext_lazy("Date")),
        ("vehicle", gettext_lazy("Vehicle")),
        ("kind", gettext_lazy("Kind")),
        ("amount", gettext_lazy("Amount (€)")),
        ("description", gettext_lazy("Description")),
    )
    create_url_name = "fleet:expense_create"
    edit_url_name = "fleet:expense_update"

    def get_queryset(self):
        return super().get_queryset().select_related("vehicle")


class ExpenseCreateView(MaintenanceFormMixin, SimpleCreateView):
    form_class = ExpenseForm
    form_title = gettext_lazy("New expense")
    list_url_name = "fleet:expense_list"
    create_service = services.expense_create


class ExpenseUpdateView(MaintenanceFormMixin, SimpleUpdateView):
    model = Expense
    form_class = ExpenseForm
    form_title = gettext_lazy("Edit expense")
    list_url_name = "fleet:expense_list"
    update_service = services.expense_update
    instance_kwarg = "expense"


# --- Calendar and costs ---------------------------------------------------------------------------


class ComplianceCalendarView(CapabilityRequiredMixin, TemplateView):
    capability = "maintenance.view"
    template_name = "fleet/maintenance/calendar.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        get = self.request.GET
        on = _date(get.get("on", "")) or timezone.localdate()
        horizon = min(_int(get.get("days", "")) or services.reminder_horizon_days(), 3660)
        subject = get.get("subject", "") if get.get("subject") in ("vehicle", "driver") else ""
        municipality = self.request.user.municipality
        rows = (
            selectors.compliance_calendar(
                municipality=municipality, on=on, horizon_days=horizon, subject=subject
            )
            if municipality is not None
            else []
        )
        context.update(
            {
                "on": on,
                "days": horizon,
                "subject": subject,
                "rows": [(row, row.days_left(on)) for row in rows],
                "overdue": sum(1 for r in rows if r.item.status == Status.OVERDUE),
                "blocking": sum(1 for r in rows if r.item.blocks_dispatch),
                "reminders": [
                    (reminder, selectors.rule_label(reminder.rule))
                    for reminder in selectors.open_reminders(municipality_id=municipality.pk)[:50]
                ]
                if municipality is not None
                else [],
                "can_edit": has_capability(self.request.user, "maintenance.edit"),
            }
        )
        return context


class ReminderDismissView(PostOnlyObjectView):
    capability = "maintenance.edit"
    model = Reminder

    def post(self, request, *args, **kwargs):
        services.reminder_dismiss(reminder=self.get_object(), user=request.user)
        return HttpResponseRedirect(reverse("fleet:compliance_calendar"))


class VehicleCostsView(CapabilityRequiredMixin, TemplateView):
    capability = "fuel.view"
    template_name = "fleet/maintenance/costs.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        get = self.request.GET
        if not get.get("start"):
            get = get.copy()
            get["start"] = (timezone.localdate() - timedelta(days=364)).isoformat()
        start, end = _period(get)
        context["start"], context["end"] = start, end
        municipality_id = self.request.user.municipality_id
        vehicle_id = _int(self.request.GET.get("vehicle", ""))
        rows = (
            selectors.vehicle_costs(
                municipality_id=municipality_id, start=start, end=end, vehicle_id=vehicle_id
            )
            if municipality_id
            else []
        )
        context["rows"] = rows
        context["totals"] = {
            name: sum((getattr(r, name) for r in rows), Decimal("0"))
            for name in ("fuel", "parts", "labour", "other", "documents", "total")
        }
        context["vehicles"] = scope_queryset(Vehicle.objects.all(), self.request.user)
        context["vehicle_id"] = vehicle_id
        return context
