"""Fuel pages: entries, the driver's refuel form, statement imports (upload, column mapping,
preview, import, error report), anomalies, consumption, stations, cards and providers.

Each view parses the request and calls one selector or service.
"""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, FormView, ListView, TemplateView, View
from django.views.generic.detail import SingleObjectMixin

from config.redirects import safe_next
from fleet import fuel_import
from fleet.forms import ScopedForm
from fleet.models import (
    FuelAnomaly,
    FuelCard,
    FuelCardProvider,
    FuelEntry,
    FuelImportRun,
    FuelStation,
    Vehicle,
)
from fleet.models.fuel import AnomalyKind, AnomalyStatus, FuelSource, ImportStatus
from fleet.permissions import CapabilityRequiredMixin, has_capability
from fleet.scoping import ScopedQuerysetMixin, scope_queryset
from fleet.selectors import fuel as selectors
from fleet.selectors.register import driver_for_user
from fleet.services import fuel as services

FIELD_LABELS = {
    "transaction_id": gettext_lazy("Transaction number"),
    "date": gettext_lazy("Date (or date and time)"),
    "time": gettext_lazy("Time"),
    "plate": gettext_lazy("Plate"),
    "card_number": gettext_lazy("Card number"),
    "tracker": gettext_lazy("Tracker id"),
    "litres": gettext_lazy("Litres"),
    "unit_price": gettext_lazy("Price per litre"),
    "amount": gettext_lazy("Amount"),
    "station": gettext_lazy("Station"),
    "odometer": gettext_lazy("Odometer"),
    "product": gettext_lazy("Product"),
    "driver": gettext_lazy("Driver"),
}
# Per-row problems of a statement, by fleet.fuel_import code.
ROW_ERROR_MESSAGES = {
    "missing_value": gettext_lazy("no value"),
    "bad_number": gettext_lazy("not a number"),
    "bad_date": gettext_lazy("not a date"),
    "future_date": gettext_lazy("date in the future"),
    "negative": gettext_lazy("negative amount"),
    "zero": gettext_lazy("zero litres"),
    "too_large": gettext_lazy("more litres than any tank holds"),
    "invalid_plate": gettext_lazy("not a Greek plate"),
    "unknown_plate": gettext_lazy("no vehicle with this plate"),
    "unknown_card": gettext_lazy("card not linked to a vehicle"),
    "ambiguous_card": gettext_lazy("the masked card number fits cards of several vehicles"),
    "unknown_tracker": gettext_lazy("tracker not in any vehicle at that time"),
    "no_vehicle": gettext_lazy("no plate, card or tracker"),
    "short_row": gettext_lazy("fewer cells than the header"),
    "extra_cells": gettext_lazy("more cells than the header (a separator inside a value?)"),
}
FILE_ERROR_MESSAGES = {
    "xls_unsupported": gettext_lazy(
        "Old Excel (.xls) files cannot be read: save as .xlsx or .csv."
    ),
    "bad_xlsx": gettext_lazy("The file is not a readable XLSX file."),
    "bad_encoding": gettext_lazy("The file's text encoding could not be read."),
    "bad_csv": gettext_lazy("The file is not a readable CSV file."),
    "not_text": gettext_lazy("The file is not a text (CSV) file."),
    "missing_columns": gettext_lazy("The file has no header row with the mapped columns."),
    "mapping_incomplete": gettext_lazy(
        "Map at least the date, the litres and one of plate, card or tracker."
    ),
    "empty": gettext_lazy("The file is empty."),
    "no_sheet": gettext_lazy("The sheet was not found in the workbook."),
    "database": gettext_lazy("The database refused the import; nothing was imported."),
    "unreadable": gettext_lazy("The file could not be read."),
}


def row_error_text(error: dict) -> str:
    return str(ROW_ERROR_MESSAGES.get(error.get("code", ""), error.get("message", "")))


def _int(value: str) -> int | None:
    return int(value) if value and value.isdigit() else None


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ServiceFormMixin:
    """Create and edit pages: the form validates, one service writes; its errors go back on
    the form."""

    template_name = "fleet/fuel/form.html"
    form_title = ""

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["municipality"] = self.request.user.municipality
        return kwargs

    def save(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            self.object = self.save(form)
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
            for field, messages_ in errors.items():
                form.add_error(field if field in form.fields else None, messages_)
            return self.form_invalid(form)
        messages.success(self.request, _("Saved."))
        return HttpResponseRedirect(self.get_success_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form_title"] = self.form_title
        context["cancel_url"] = _safe_next(self.request) or self.cancel_url()
        return context

    def cancel_url(self) -> str:
        return reverse("fleet:fuel_entry_list")


def _safe_next(request) -> str | None:
    """The ``next`` parameter when it points back into this site, else None."""
    return safe_next(request, request.GET.get("next"))


class DriverFormMixin:
    """The driver's phone forms: today's vehicle (``?vehicle=<id>`` from the driver's page) is
    chosen already, and saving or cancelling goes back to the driver's page."""

    capability = "driver.self"

    def get_initial(self):
        initial = super().get_initial()
        vehicle = self.request.GET.get("vehicle", "")
        if vehicle.isdigit():
            initial["vehicle"] = int(vehicle)  # the form's scoped choices still decide
        return initial

    def driver(self):
        driver = driver_for_user(self.request.user)
        if driver is None:
            raise PermissionDenied
        return driver

    def get_success_url(self):
        return reverse("fleet:driver_home")

    def cancel_url(self):
        return reverse("fleet:driver_home")


def _fields(form, exclude=()) -> dict:
    return {k: v for k, v in form.cleaned_data.items() if k not in exclude}


class PostOnlyObjectView(CapabilityRequiredMixin, ScopedQuerysetMixin, SingleObjectMixin, View):
    """An action on one object. GET finds the object first, so another municipality's object
    is a 404 before anything says the method is wrong."""

    def get(self, request, *args, **kwargs):
        self.get_object()
        return HttpResponseNotAllowed(["POST"])


class SimpleCreateView(CapabilityRequiredMixin, ServiceFormMixin, FormView):
    capability = "fuel.edit"
    list_url_name = ""
    create_service = None

    def save(self, form):
        return type(self).create_service(
            municipality=self.request.user.municipality, **_fields(form)
        )

    def get_success_url(self):
        return reverse(self.list_url_name)

    def cancel_url(self):
        return reverse(self.list_url_name)


class SimpleUpdateView(
    CapabilityRequiredMixin, ServiceFormMixin, ScopedQuerysetMixin, SingleObjectMixin, FormView
):
    capability = "fuel.edit"
    list_url_name = ""
    update_service = None
    instance_kwarg = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and has_capability(request.user, self.capability):
            self.object = self.get_object()
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.object
        return kwargs

    def save(self, form):
        return type(self).update_service(**{self.instance_kwarg: self.object}, **_fields(form))

    def get_success_url(self):
        return reverse(self.list_url_name)

    def cancel_url(self):
        return reverse(self.list_url_name)


# --- Entries --------------------------------------------------------------------------------------


class FuelEntryForm(ScopedForm):
    class Meta:
        model = FuelEntry
        fields = [
            "vehicle",
            "driver",
            "filled_at",
            "litres",
            "unit_price",
            "amount",
            "station",
            "odometer_km",
            "engine_hours",
            "full_tank",
            "source",
            "card",
            "notes",
        ]
        widgets = {"filled_at": DateTimeInput(), "notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["filled_at"].widget = DateTimeInput()
        if not self.instance.pk:
            self.initial.setdefault("filled_at", timezone.localtime().replace(second=0))


class FuelEntryListView(CapabilityRequiredMixin, ListView):
    capability = "fuel.view"
    template_name = "fleet/fuel/entry_list.html"
    paginate_by = 50

    def get_queryset(self):
        get = self.request.GET
        return selectors.fuel_entry_list(
            municipality_id=self.request.user.municipality_id,
            vehicle_id=_int(get.get("vehicle", "")),
            source=get.get("source", "") if get.get("source") in FuelSource.values else "",
            start=_date(get.get("start", "")),
            end=_date(get.get("end", "")),
            import_run_id=_int(get.get("import", "")),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query"] = query.urlencode()
        context["sources"] = FuelSource.choices
        context["vehicles"] = scope_queryset(Vehicle.objects.all(), self.request.user)
        context["can_edit"] = has_capability(self.request.user, "fuel.edit")
        return context


class FuelEntryDetailView(CapabilityRequiredMixin, ScopedQuerysetMixin, DetailView):
    capability = "fuel.view"
    model = FuelEntry
    template_name = "fleet/fuel/entry_detail.html"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("vehicle", "driver", "station", "card", "import_run")
            .prefetch_related("anomalies")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_edit"] = has_capability(self.request.user, "fuel.edit")
        return context


class FuelEntryCreateView(CapabilityRequiredMixin, ServiceFormMixin, FormView):
    capability = "fuel.edit"
    form_class = FuelEntryForm
    form_title = gettext_lazy("New refuel")

    def get_initial(self):
        initial = super().get_initial()
        if _int(self.request.GET.get("vehicle", "")):
            initial["vehicle"] = self.request.GET["vehicle"]
        return initial

    def save(self, form):
        return services.fuel_entry_record(
            municipality=self.request.user.municipality,
            created_by=self.request.user,
            **_fields(form),
        )

    def get_success_url(self):
        return reverse("fleet:fuel_entry_detail", args=[self.object.pk])


class FuelEntryUpdateView(SimpleUpdateView):
    model = FuelEntry
    form_class = FuelEntryForm
    form_title = gettext_lazy("Edit refuel")
    update_service = services.fuel_entry_update
    instance_kwarg = "entry"

    def get_success_url(self):
        return reverse("fleet:fuel_entry_detail", args=[self.object.pk])

    def cancel_url(self):
        return reverse("fleet:fuel_entry_detail", args=[self.object.pk])


class DriverRefuelForm(ScopedForm):
    class Meta:
        model = FuelEntry
        fields = [
            "vehicle",
            "filled_at",
            "litres",
            "amount",
            "station",
            "odometer_km",
            "engine_hours",
            "full_tank",
            "notes",
        ]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["filled_at"].widget = DateTimeInput()
        self.initial.setdefault("filled_at", timezone.localtime().replace(second=0))


class DriverRefuelView(DriverFormMixin, CapabilityRequiredMixin, ServiceFormMixin, FormView):
    """The driver's phone form: which vehicle, how many litres, what the meter says."""

    form_class = DriverRefuelForm
    form_title = gettext_lazy("Log a refuel")
    template_name = "fleet/fuel/driver_refuel.html"

    def save(self, form):
        return services.fuel_entry_record(
            municipality=self.request.user.municipality,
            created_by=self.request.user,
            driver=self.driver(),
            source=FuelSource.MANUAL,
            **_fields(form),
        )


# --- Imports --------------------------------------------------------------------------------------


class FuelImportUploadForm(forms.Form):
    provider = forms.ModelChoiceField(
        label=gettext_lazy("Card provider"),
        queryset=FuelCardProvider.objects.none(),
        required=False,
    )
    new_provider = forms.CharField(
        label=gettext_lazy("or a new provider"), max_length=100, required=False
    )
    file = forms.FileField(
        label=gettext_lazy("Statement (CSV or XLSX)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )

    def __init__(self, *args, municipality=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = FuelCardProvider.objects.filter(
            municipality=municipality
        )

    def clean(self):
        data = super().clean()
        if not data.get("provider") and not (data.get("new_provider") or "").strip():
            raise forms.ValidationError(_("Choose the card provider or name a new one."))
        return data


class FuelImportListView(CapabilityRequiredMixin, ListView):
    capability = "fuel.view"
    template_name = "fleet/fuel/import_list.html"
    paginate_by = 30

    def get_queryset(self):
        return scope_queryset(
            FuelImportRun.objects.select_related("provider", "uploaded_by"), self.request.user
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_edit"] = has_capability(self.request.user, "fuel.edit")
        return context


class FuelImportCreateView(CapabilityRequiredMixin, ServiceFormMixin, FormView):
    capability = "fuel.edit"
    form_class = FuelImportUploadForm
    form_title = gettext_lazy("Import a fuel-card statement")

    @transaction.atomic
    def save(self, form):
        municipality = self.request.user.municipality
        provider = form.cleaned_data.get("provider")
        if provider is None:
            name = form.cleaned_data["new_provider"].strip()
            provider = FuelCardProvider.objects.filter(municipality=municipality, name=name).first()
            if provider is None:
                provider = services.fuel_provider_create(municipality=municipality, name=name)
        return services.fuel_import_upload(
            municipality=municipality,
            provider=provider,
            upload=form.cleaned_data["file"],
            user=self.request.user,
        )

    def get_success_url(self):
        run = self.object
        if fuel_import.ColumnMapping(run.provider.columns or {}).missing_required():
            return reverse("fleet:fuel_import_mapping", args=[run.pk])
        return reverse("fleet:fuel_import_detail", args=[run.pk])

    def cancel_url(self):
        return reverse("fleet:fuel_import_list")


class FuelImportDetailView(CapabilityRequiredMixin, ScopedQuerysetMixin, DetailView):
    """Before the import: the preview. After: the counts and every bad row with its reason."""

    capability = "fuel.view"
    model = FuelImportRun
    template_name = "fleet/fuel/import_detail.html"

    def get_queryset(self):
        return super().get_queryset().select_related("provider", "municipality", "uploaded_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = self.object
        context["can_edit"] = has_capability(self.request.user, "fuel.edit")
        if run.status == ImportStatus.UPLOADED:
            preview = selectors.fuel_import_preview(run=run)
            context["preview"] = preview
            context["preview_error"] = (
                FILE_ERROR_MESSAGES.get(preview.error_code, preview.error_message)
                if preview.error_code
                else ""
            )
            context["preview_rows"] = [
                {
                    "row": row,
                    "error": row_error_text(row.as_dict())
                    if isinstance(row, fuel_import.RowError)
                    else "",
                    "plate": ""
                    if isinstance(row, fuel_import.RowError)
                    else preview.vehicles.get(row.vehicle_id, ""),
                }
                for row in preview.rows
            ]
        context["errors"] = [
            {**error, "text": row_error_text(error)} for error in (run.errors or [])
        ]
        context["file_error"] = (
            FILE_ERROR_MESSAGES.get(run.error_code, run.error_message) if run.error_code else ""
        )
        return context


class FuelImportMappingView(
    CapabilityRequiredMixin, ScopedQuerysetMixin, SingleObjectMixin, FormView
):
    """Pair our fields with the headers of this provider's statements, once; later statements
    of the same provider are imported with the saved mapping."""

    capability = "fuel.edit"
    model = FuelImportRun
    template_name = "fleet/fuel/import_mapping.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and has_capability(request.user, self.capability):
            self.object = self.get_object()
            self.headers, self.header_error = selectors.fuel_import_headers(run=self.object)
        return super().dispatch(request, *args, **kwargs)

    def get_form_class(self):
        choices = [("", "—")] + [(h, h) for h in self.headers]
        provider = self.object.provider
        known = {fuel_import.normalize_header(h): h for h in self.headers}
        attrs = {}
        for name in fuel_import.FIELDS:
            current = (provider.columns or {}).get(name, "")
            attrs[name] = forms.ChoiceField(
                label=FIELD_LABELS[name],
                choices=choices,
                required=False,
                initial=known.get(fuel_import.normalize_header(current), ""),
            )
        attrs["date_order"] = forms.ChoiceField(
            label=FuelCardProvider._meta.get_field("date_order").verbose_name,
            choices=FuelCardProvider._meta.get_field("date_order").choices,
            initial=provider.date_order,
        )
        attrs["decimal_separator"] = forms.ChoiceField(
            label=FuelCardProvider._meta.get_field("decimal_separator").verbose_name,
            choices=FuelCardProvider._meta.get_field("decimal_separator").choices,
            initial=provider.decimal_separator,
        )
        return type("MappingForm", (forms.Form,), attrs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs.pop("municipality", None)
        return kwargs

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            services.fuel_provider_update(
                provider=self.object.provider,
                columns={name: data[name] for name in fuel_import.FIELDS if data.get(name)},
                date_order=data["date_order"],
                decimal_separator=data["decimal_separator"],
            )
        except ValidationError as exc:
            for messages_ in exc.message_dict.values():
                form.add_error(None, messages_)
            return self.form_invalid(form)
        messages.success(self.request, _("The column mapping is saved for this provider."))
        return HttpResponseRedirect(reverse("fleet:fuel_import_detail", args=[self.object.pk]))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["headers"] = self.headers
        context["header_error"] = self.header_error
        return context


class FuelImportExecuteView(PostOnlyObjectView):
    capability = "fuel.edit"
    model = FuelImportRun

    def post(self, request, *args, **kwargs):
        from fleet import tasks

        run = self.get_object()
        if run.status in (ImportStatus.UPLOADED, ImportStatus.FAILED):
            run_id = run.pk
            transaction.on_commit(lambda: tasks.fuel_import_execute.delay(run_id))
            messages.info(request, _("The import has started; this page shows its result."))
        return HttpResponseRedirect(reverse("fleet:fuel_import_detail", args=[run.pk]))


# --- Anomalies ------------------------------------------------------------------------------------


class FuelAnomalyListView(CapabilityRequiredMixin, ListView):
    capability = "fuel.view"
    template_name = "fleet/fuel/anomaly_list.html"
    paginate_by = 50

    def get_queryset(self):
        get = self.request.GET
        status = get.get("status", AnomalyStatus.OPEN)
        return selectors.fuel_anomaly_list(
            municipality_id=self.request.user.municipality_id,
            status=status if status in AnomalyStatus.values else "",
            kind=get.get("kind", "") if get.get("kind") in AnomalyKind.values else "",
            vehicle_id=_int(get.get("vehicle", "")),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query"] = query.urlencode()
        context["statuses"] = AnomalyStatus.choices
        context["kinds"] = AnomalyKind.choices
        context["status"] = self.request.GET.get("status", AnomalyStatus.OPEN)
        return context


class AnomalyResolveForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=AnomalyStatus.choices)
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class FuelAnomalyDetailView(CapabilityRequiredMixin, ScopedQuerysetMixin, DetailView):
    capability = "fuel.view"
    model = FuelAnomaly
    template_name = "fleet/fuel/anomaly_detail.html"

    def get_queryset(self):
        return super().get_queryset().select_related("vehicle", "fuel_entry", "resolved_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_edit"] = has_capability(self.request.user, "fuel.edit")
        context["form"] = kwargs.get("form") or AnomalyResolveForm(
            initial={"status": self.object.status, "note": self.object.note}
        )
        context["facts"] = sorted((self.object.facts or {}).items())
        return context

    def post(self, request, *args, **kwargs):
        if not has_capability(request.user, "fuel.edit"):
            raise PermissionDenied
        self.object = self.get_object()
        form = AnomalyResolveForm(request.POST)
        if form.is_valid():
            try:
                services.fuel_anomaly_resolve(
                    anomaly=self.object, user=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                for field, messages_ in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, messages_)
            else:
                messages.success(request, _("Saved."))
                return HttpResponseRedirect(
                    reverse("fleet:fuel_anomaly_detail", args=[self.object.pk])
                )
        return self.render_to_response(self.get_context_data(form=form))


# --- Consumption ----------------------------------------------------------------------------------


def _period(get) -> tuple[date, date]:
    today = timezone.localdate()
    end = _date(get.get("end", "")) or today
    start = _date(get.get("start", "")) or end.replace(day=1)
    if start > end:
        start, end = end, start
    if (end - start).days > 3660:
        start = end - timedelta(days=3660)
    return start, end


class ConsumptionView(CapabilityRequiredMixin, TemplateView):
    capability = "fuel.view"
    template_name = "fleet/fuel/consumption.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        start, end = _period(self.request.GET)
        context["start"], context["end"] = start, end
        municipality_id = self.request.user.municipality_id
        if municipality_id is not None:
            context["rows"] = selectors.consumption_report(
                municipality_id=municipality_id, start=start, end=end
            )
            context["summary"] = selectors.fuel_summary(
                municipality_id=municipality_id, start=start, end=end
            )
        return context


# --- Stations, cards, providers -------------------------------------------------------------------


class SimpleListView(CapabilityRequiredMixin, ListView):
    capability = "fuel.view"
    edit_capability = "fuel.edit"
    template_name = "fleet/fuel/simple_list.html"
    columns: tuple[tuple[str, str], ...] = ()
    title = ""
    create_url_name = ""
    edit_url_name = ""

    def get_queryset(self):
        return scope_queryset(self.model.objects.all(), self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = self.title
        context["columns"] = [label for _name, label in self.columns]
        context["rows"] = [
            (
                obj,
                [_display(obj, name) for name, _label in self.columns],
            )
            for obj in context["object_list"]
        ]
        context["can_edit"] = has_capability(self.request.user, self.edit_capability)
        context["create_url"] = reverse(self.create_url_name)
        context["edit_url_name"] = self.edit_url_name
        return context


def _display(obj, name: str) -> str:
    display = getattr(obj, f"get_{name}_display", None)
    value = display() if display else getattr(obj, name)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return "" if value is None else str(value)


class FuelStationForm(ScopedForm):
    class Meta:
        model = FuelStation
        exclude = ["municipality"]


class FuelCardForm(ScopedForm):
    class Meta:
        model = FuelCard
        exclude = ["municipality"]


class FuelProviderForm(ScopedForm):
    class Meta:
        model = FuelCardProvider
        fields = ["name", "date_order", "decimal_separator", "encoding", "sheet"]


class FuelStationListView(SimpleListView):
    model = FuelStation
    title = gettext_lazy("Fuel stations and municipal tanks")
    columns = (
        ("name", gettext_lazy("Name")),
        ("brand", gettext_lazy("Brand")),
        ("address", gettext_lazy("Address")),
        ("is_municipal_tank", gettext_lazy("Municipal tank")),
        ("active", gettext_lazy("Active")),
    )
    create_url_name = "fleet:fuel_station_create"
    edit_url_name = "fleet:fuel_station_update"


class FuelCardListView(SimpleListView):
    model = FuelCard
    title = gettext_lazy("Fuel cards")
    columns = (
        ("number", gettext_lazy("Card number")),
        ("provider", gettext_lazy("Provider")),
        ("vehicle", gettext_lazy("Vehicle")),
        ("active", gettext_lazy("Active")),
    )
    create_url_name = "fleet:fuel_card_create"
    edit_url_name = "fleet:fuel_card_update"

    def get_queryset(self):
        return super().get_queryset().select_related("provider", "vehicle")


class FuelProviderListView(SimpleListView):
    model = FuelCardProvider
    title = gettext_lazy("Fuel card providers")
    columns = (
        ("name", gettext_lazy("Name")),
        ("date_order", gettext_lazy("Date order")),
        ("decimal_separator", gettext_lazy("Decimal separator")),
    )
    create_url_name = "fleet:fuel_provider_create"
    edit_url_name = "fleet:fuel_provider_update"


class FuelStationCreateView(SimpleCreateView):
    form_class = FuelStationForm
    form_title = gettext_lazy("New fuel station or tank")
    list_url_name = "fleet:fuel_station_list"
    create_service = services.fuel_station_create


class FuelStationUpdateView(SimpleUpdateView):
    model = FuelStation
    form_class = FuelStationForm
    form_title = gettext_lazy("Edit fuel station")
    list_url_name = "fleet:fuel_station_list"
    update_service = services.fuel_station_update
    instance_kwarg = "station"


class FuelCardCreateView(SimpleCreateView):
    form_class = FuelCardForm
    form_title = gettext_lazy("New fuel card")
    list_url_name = "fleet:fuel_card_list"
    create_service = services.fuel_card_create


class FuelCardUpdateView(SimpleUpdateView):
    model = FuelCard
    form_class = FuelCardForm
    form_title = gettext_lazy("Edit fuel card")
    list_url_name = "fleet:fuel_card_list"
    update_service = services.fuel_card_update
    instance_kwarg = "card"


class FuelProviderCreateView(SimpleCreateView):
    form_class = FuelProviderForm
    form_title = gettext_lazy("New fuel card provider")
    list_url_name = "fleet:fuel_provider_list"
    create_service = services.fuel_provider_create


class FuelProviderUpdateView(SimpleUpdateView):
    model = FuelCardProvider
    form_class = FuelProviderForm
    form_title = gettext_lazy("Edit fuel card provider")
    list_url_name = "fleet:fuel_provider_list"
    update_service = services.fuel_provider_update
    instance_kwarg = "provider"
